"""Self-checks for notebook 01's exercises: k-NN by hand, cache keys, choosing a strategy."""

from __future__ import annotations

import numpy as np
import torch

from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report
from tlcourse.features import knn_predict

__all__ = ["CACHE_CHANGES", "PROJECTS", "check_cache_answers", "check_knn", "check_strategy"]

#: A change made after an ``extract`` call -> ("hit" | "miss", why).
CACHE_CHANGES = {
    "Re-run the whole notebook tomorrow with the same settings.":
        ("hit", "nothing the features depend on changed, and the cache lives on disk"),
    "Extract with batch_size=16 instead of the profile's batch size.":
        ("hit", "in eval mode each image's features do not depend on its batch-mates, so the "
                "batch size is not part of the key"),
    "Set SEED = 1 and re-run.":
        ("hit", "the frozen network is deterministic and the train/test split is fixed; the "
                "seed only changes which labelled subsets and initialisations are drawn later"),
    "Set IMAGE_SIZE = 96.":
        ("miss", "the transform (resize to 96 px) is part of the key: other pixels in, other "
                 "features out"),
    "Train the backbone for one step (fine-tuning), then extract.":
        ("miss", "the key hashes ALL the weights; changed weights give other features"),
    "Ask for layer='head' only instead of layer='all'.":
        ("miss", "the requested layers are part of the key (a smarter cache could slice the "
                 "'all' file, this one keeps it simple)"),
    "Use tlc.data.image_transform(..., train=True), with random crops and flips.":
        ("miss", "the transform's description changes the key. But beware: caching augmented "
                 "images freezes ONE random crop of each; augmentation and cached features do "
                 "not mix"),
}

#: A project -> ("feature extraction" | "fine-tuning" | "from scratch", why).
PROJECTS = {
    "A shop has 30 labelled photos of each of 12 products and only a laptop CPU.":
        ("feature extraction", "few labels, photos like ImageNet's, little compute: a frozen "
                               "backbone and a linear head are the safe, fast choice"),
    "A bird-watching app: 25 photos per species, 200 species, results needed this afternoon.":
        ("feature extraction", "a few labels per class and natural photos: the learning curve "
                               "showed frozen features win by far in this regime"),
    "A hospital has 80,000 labelled chest X-rays and a GPU.":
        ("fine-tuning", "many labels and a domain far from ImageNet: start from pretrained "
                        "weights (they still help) and adapt all layers to the new domain"),
    "A factory has 60,000 labelled photos of 20 kinds of parts on a conveyor belt, and GPUs.":
        ("fine-tuning", "enough labels to adapt the deep, ImageNet-specific layers to the task "
                        "without overfitting; pretrained weights converge faster"),
    "A lab has 50 million labelled radio spectrograms, nothing like photos, and a GPU cluster.":
        ("from scratch", "a huge labelled set in a domain unlike any pretraining data: the "
                         "pretrained features have little to offer and data is plentiful"),
}

_VALID_STRATEGIES = {"feature extraction", "fine-tuning", "from scratch"}


def _check_answers(answers: dict, expected: dict, valid: set[str]) -> list[str]:
    problems = []
    for question, (answer, why) in expected.items():
        given = answers.get(question)
        if given is None:
            problems.append(f"no answer yet for: {question!r}")
        elif str(given).strip().lower() not in valid:
            problems.append(f"{given!r} is not one of {sorted(valid)} ({question!r})")
        elif str(given).strip().lower() != answer:
            problems.append(f"{question!r}: not {given!r}. Hint: {why}.")
    return problems


def check_cache_answers(answers: dict[str, str], strict: bool = False) -> bool:
    """Check a mapping change -> "hit" | "miss" (see :data:`CACHE_CHANGES`)."""
    problems = _check_answers(answers, CACHE_CHANGES, {"hit", "miss"})
    return _report(problems, strict, "All right: the key holds exactly what the features "
                                     "depend on (weights, data, transform, layers).")


def check_strategy(choices: dict[str, str], strict: bool = False) -> bool:
    """Check a mapping project -> "feature extraction" | "fine-tuning" | "from scratch"."""
    problems = _check_answers(choices, PROJECTS, _VALID_STRATEGIES)
    return _report(problems, strict, "All right: few labels and ImageNet-like images favour "
                                     "frozen features; many labels favour adapting the network.")


def _clusters(seed: int, n: int, dim: int, num_classes: int, spread: float):
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dim, generator=gen) * 3
    y = torch.arange(n) % num_classes
    return centres[y] + spread * torch.randn(n, dim, generator=gen), y


def check_knn(fn, strict: bool = False) -> bool:
    """Check ``fn(train_x, train_y, query_x, k)`` against a reference k-NN (cosine)."""
    problems = []
    cases = [  # (description, k, points, classes, spread); k = 1 or two classes: no ties
        ("1-NN, four overlapping classes", 1, _clusters(0, 100, 8, 4, 3.0)),
        ("5-NN, two classes", 5, _clusters(1, 80, 6, 2, 2.5)),
    ]
    for description, k, (x, y) in cases:
        train_x, train_y, query_x = x[:60], y[:60], x[60:]
        expected = knn_predict(train_x, train_y, query_x, k).numpy()
        got, error = _call(fn, train_x.clone(), train_y.clone(), query_x.clone(), k)
        if error:
            return _report([error], strict, "")
        got = np.asarray(got.detach().cpu() if isinstance(got, torch.Tensor) else got).ravel()
        if got.shape != expected.shape:
            problems.append(f"{description}: expected {expected.shape[0]} predictions, got "
                            f"shape {got.shape}")
        elif (wrong := int((got != expected).sum())) > 0:
            problems.append(f"{description}: {wrong} of {len(expected)} predictions differ from "
                            "the reference. Hint: normalise both sides to unit length before "
                            "the dot product (cosine similarity), take the k LARGEST, then vote")
    return _report(problems, strict, "Right: k-NN is a similarity search plus a vote; with good "
                                     "features it needs no training at all.")
