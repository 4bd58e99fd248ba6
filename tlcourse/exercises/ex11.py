"""Self-checks for notebook 11's exercises (cross-modal transfer)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tlcourse.crossmodal import clip_loss, recall_at_k, retrieval_ranks
from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report

__all__ = ["check_clip_loss", "check_recall_at_k"]


def check_clip_loss(fn, strict: bool = False) -> bool:
    """Check ``fn(image_emb, text_emb, temperature) -> scalar``: CLIP's symmetric loss on
    L2-normalised embeddings (image i belongs with text i)."""
    gen = torch.Generator().manual_seed(0)
    image, text = torch.randn(6, 5, generator=gen), torch.randn(6, 5, generator=gen)
    got, error = _call(fn, image.clone(), text.clone(), 0.1)
    if error:
        return _report([error], strict, "")
    zi, zt = F.normalize(image, dim=1), F.normalize(text, dim=1)
    logits = zi @ zt.T / 0.1
    expected = clip_loss(logits)
    try:
        value = float(got)
    except (TypeError, ValueError, RuntimeError):
        return _report(["return one number (a scalar tensor): the mean of the two losses"],
                       strict, "")
    problems = []
    if abs(value - float(expected)) > 1e-4:
        labels = torch.arange(6)
        one_way = float(F.cross_entropy(logits, labels))
        raw = float(clip_loss(image @ text.T / 0.1))
        if abs(value - one_way) < 1e-4:
            hint = "that is only images -> texts: average it with texts -> images (logits.T)"
        elif abs(value - raw) < 1e-4:
            hint = "normalise both embeddings to unit length first (cosine similarity)"
        elif abs(value - float(clip_loss(zi @ zt.T))) < 1e-4:
            hint = "divide the similarities by the temperature"
        else:
            hint = ("the logits are cosine similarities / temperature; the targets are "
                    "arange(N) in both directions")
        problems.append(f"expected {float(expected):.4f}, got {value:.4f}: {hint}")
    return _report(problems, strict, "Right: each image picks its caption among the batch's "
                   "captions, and each caption its image; the loss averages both directions.")


def check_recall_at_k(fn, strict: bool = False) -> bool:
    """Check ``fn(text_emb, image_emb, k) -> float``: the share of texts whose own image
    (same row) is among the ``k`` most similar images (cosine similarity)."""
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(20, 8, generator=gen)
    texts = images + 1.2 * torch.randn(20, 8, generator=gen)  # noisy: some hits, some misses
    problems = []
    for k in (1, 5):
        got, error = _call(fn, texts.clone(), images.clone(), k)
        if error:
            return _report([error], strict, "")
        expected = recall_at_k(retrieval_ranks(texts, images), [k])[k]
        try:
            value = float(got)
        except (TypeError, ValueError):
            return _report(["return one number between 0 and 1"], strict, "")
        if abs(value - expected) > 1e-6:
            hint = ("rank each text's own image among all images, by cosine similarity; "
                    "count it as found when fewer than k images score higher")
            problems.append(f"recall@{k} should be {expected:.2f}, got {value:.2f}: {hint}")
    return _report(problems, strict, "Right: recall@k counts the queries whose own item is "
                   "among the first k results.")
