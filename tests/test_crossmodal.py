"""tlc.crossmodal: the symmetric contrastive loss against a direct reference and notebook 04's
NT-Xent, the two towers trained by fit, retrieval ranks and recall, zero-shot class vectors,
the image-text pairs shipped in data/, and notebook 11's exercise checks."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tlcourse import crossmodal as cm
from tlcourse.exercises import ex11
from tlcourse.ssl import nt_xent
from tlcourse.train import evaluate, fit


def _reference_clip_loss(zi, zt, scale):
    # open_clip's ClipLoss, written out: both directions' mean cross-entropy, by loops.
    n, total = len(zi), 0.0
    for i in range(n):
        row = [scale * float(zi[i] @ zt[j]) for j in range(n)]
        col = [scale * float(zi[j] @ zt[i]) for j in range(n)]
        total += -row[i] + math.log(sum(math.exp(v) for v in row))
        total += -col[i] + math.log(sum(math.exp(v) for v in col))
    return total / (2 * n)


def test_clip_loss_matches_a_written_out_reference_and_nt_xent_across_views():
    gen = torch.Generator().manual_seed(0)
    zi = F.normalize(torch.randn(7, 5, generator=gen), dim=1)
    zt = F.normalize(torch.randn(7, 5, generator=gen), dim=1)
    loss = cm.clip_loss(zi @ zt.T / 0.2)
    assert float(loss) == pytest.approx(_reference_clip_loss(zi, zt, 5.0), rel=1e-5)
    assert float(loss) == pytest.approx(float(nt_xent(zi, zt, 0.2, cross_only=True)), rel=1e-5)
    # Without cross_only NT-Xent also ranks a view against its own view: a larger loss.
    assert float(nt_xent(zi, zt, 0.2)) > float(loss)


def test_clip_loss_is_low_for_matching_pairs_and_checks_its_input():
    z = F.normalize(torch.eye(6), dim=1)
    assert float(cm.clip_loss(z @ z.T / 0.05)) < 1e-6  # each item its own best match
    assert float(cm.clip_loss(torch.zeros(6, 6))) == pytest.approx(math.log(6))
    with pytest.raises(ValueError, match="square"):
        cm.clip_loss(torch.zeros(3, 4))


def test_two_towers_scores_are_scaled_cosines_and_the_scale_is_capped():
    towers = cm.TwoTowers(image_dim=6, text_dim=4, dim=3, temperature=0.07)
    batch = {"image": torch.randn(5, 6), "text": torch.randn(5, 4)}
    logits = towers(**batch)
    cosines = towers.encode_image(batch["image"]) @ towers.encode_text(batch["text"]).T
    assert torch.allclose(logits, cosines / 0.07, atol=1e-5)
    assert cosines.abs().max() <= 1 + 1e-6
    with torch.no_grad():
        towers.logit_scale.fill_(10.0)
    assert float(towers.scale().detach()) == pytest.approx(100.0)


def _toy_pairs(n=240, seed=0):
    # Captions are a hidden linear function of the images plus noise: learnable pairs.
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 12, generator=gen)
    texts = images[:, :8] @ torch.randn(8, 6, generator=gen) + 0.1 * torch.randn(n, 6,
                                                                                  generator=gen)
    return images, texts


def test_fit_trains_the_towers_to_retrieve_held_out_pairs():
    images, texts = _toy_pairs()
    train, test = slice(0, 200), slice(200, 240)
    towers = cm.TwoTowers(12, 6, dim=8)
    before = cm.recall_at_k(cm.retrieval_ranks(towers.encode_text(texts[test]).detach(),
                                               towers.encode_image(images[test]).detach()))
    loader = cm.pair_loader(images[train], texts[train], batch_size=50, seed=0)
    history = fit(towers, loader, num_epochs=30, lr=1e-2, loss_fn=cm.clip_loss, seed=0,
                  progress=False)
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    with torch.no_grad():
        ranks = cm.retrieval_ranks(towers.encode_text(texts[test]),
                                   towers.encode_image(images[test]))
    after = cm.recall_at_k(ranks)
    assert after[1] >= 0.5 > before[1] + 0.2  # 40 candidates: chance is 2.5%
    # evaluate on a held-out loader reports in-batch image -> text accuracy.
    held_out = cm.pair_loader(images[test], texts[test], batch_size=40, shuffle=False)
    assert evaluate(towers, held_out, loss_fn=cm.clip_loss)["acc"] >= 0.5


def test_pair_loader_batches_and_errors():
    images, texts = _toy_pairs(20)
    batch = next(iter(cm.pair_loader(images, texts, batch_size=8)))
    assert batch["image"].shape == (8, 12) and batch["text"].shape == (8, 6)
    assert torch.equal(batch["labels"], torch.arange(8))
    assert len(cm.pair_loader(images, texts, batch_size=8)) == 2  # the last 4 dropped
    assert len(cm.pair_loader(images, texts, batch_size=8, shuffle=False)) == 3
    with pytest.raises(ValueError, match="larger than the 20 training pairs"):
        cm.pair_loader(images, texts, batch_size=32)
    with pytest.raises(ValueError, match="each image needs its own caption"):
        cm.PairDataset(images, texts[:5])


def test_retrieval_ranks_and_recall_by_hand():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    queries = torch.tensor([[1.0, 0.1], [1.0, 0.0], [1.0, 1.0]])
    # query 0 -> item 0 best; query 1 -> item 1 is last of 3; query 2 -> item 2 best.
    assert cm.retrieval_ranks(queries, gallery).tolist() == [0, 2, 0]
    assert cm.recall_at_k(torch.tensor([0, 2, 0]), [1, 2, 3]) == {
        1: pytest.approx(2 / 3), 2: pytest.approx(2 / 3), 3: 1.0}
    # A tie counts against the query: two identical items, neither is ranked first.
    assert cm.retrieval_ranks(torch.ones(2, 2), torch.ones(2, 2)).tolist() == [1, 1]
    with pytest.raises(ValueError, match="pair up row by row"):
        cm.retrieval_ranks(torch.ones(2, 2), torch.ones(3, 2))


def test_zero_shot_weights_average_the_projected_prompts():
    towers = cm.TwoTowers(4, 3, dim=5)
    prompts = torch.randn(2, 3, 3)  # 2 classes, 3 prompts each
    weights = cm.zero_shot_weights(towers, prompts)
    expected = F.normalize(towers.encode_text(prompts).mean(1), dim=-1)
    assert torch.allclose(weights, expected.detach(), atol=1e-6)
    assert torch.allclose(weights.norm(dim=1), torch.ones(2))
    one = cm.zero_shot_weights(towers, prompts[:, 0])
    assert torch.allclose(one, towers.encode_text(prompts[:, 0]).detach(), atol=1e-6)


def test_the_shipped_pairs_keep_the_labelled_classes_and_folder_names_out():
    from tlcourse.data import load

    pairs = load("clipart_pairs", "all")
    labelled = load("clipart", "all")
    assert len(pairs) == len(pairs.captions) == len(pairs.sources) > 1500
    assert pairs.images.shape[1:] == (3, 64, 64)
    assert len(set(pairs.captions)) == len(pairs.captions)  # one drawing per caption
    assert all(c.strip() for c in pairs.captions)
    # No drawing of a labelled (zero-shot) class: their folders are not among the sources.
    assert not any(s.startswith(("animals/birds/", "animals/mammals/", "food/fruit/",
                                 "food/desserts/", "plants/")) for s in pairs.sources)
    assert not set(pairs.sources) & set(np.load(
        "data/clipart/clipart.npz")["sources"].tolist())
    assert len(labelled.classes) == 10
    # A caption never repeats its own folder names ("flags/africa/x.png": no "flag", "africa").
    for source, caption in zip(pairs.sources, pairs.captions, strict=True):
        words = {w.strip(",") for w in caption.split()}
        folders = {part.rstrip("s") for part in source.split("/")[:-1] for part in
                   part.replace("-", "_").split("_")}
        assert not {w.rstrip("s") for w in words} & folders, (source, caption)


def test_exercise_checks_accept_the_right_answers_and_explain_wrong_ones(capsys):
    def right_loss(image, text, temperature):
        logits = F.normalize(image, dim=1) @ F.normalize(text, dim=1).T / temperature
        labels = torch.arange(len(logits))
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2

    def one_way(image, text, temperature):
        logits = F.normalize(image, dim=1) @ F.normalize(text, dim=1).T / temperature
        return F.cross_entropy(logits, torch.arange(len(logits)))

    assert ex11.check_clip_loss(right_loss, strict=True)
    assert not ex11.check_clip_loss(one_way)
    assert "texts -> images" in capsys.readouterr().out

    def right_recall(texts, images, k):
        sims = F.normalize(texts, dim=1) @ F.normalize(images, dim=1).T
        return float(((sims > sims.diagonal()[:, None]).sum(1) < k).float().mean())

    assert ex11.check_recall_at_k(right_recall, strict=True)
    assert not ex11.check_recall_at_k(lambda t, i, k: 1.0)
    with pytest.raises(AssertionError):
        ex11.check_recall_at_k(lambda t, i, k: 0.0, strict=True)
