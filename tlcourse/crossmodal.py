"""Cross-modal transfer (notebook 11): images and texts in one space, from two frozen encoders.

LiT (Zhai et al. 2022, "LiT: Zero-shot transfer with locked-image text tuning",
https://arxiv.org/abs/2111.07991) keeps a pretrained image tower locked; here both towers are
locked (an ImageNet backbone and a sentence encoder, their outputs cached once) and only two
linear projections and a temperature learn, with CLIP's symmetric contrastive loss (Radford et
al. 2021, "Learning transferable visual models from natural language supervision",
https://arxiv.org/abs/2103.00020). Training batches are dicts, so :func:`tlcourse.train.fit`
trains the towers like any classifier: the logits are the batch's image-text similarities and
the label of image ``i`` is text ``i``.

Example:
    >>> import torch
    >>> towers = TwoTowers(image_dim=8, text_dim=4, dim=3)
    >>> towers(image=torch.randn(5, 8), text=torch.randn(5, 4)).shape  # similarity x scale
    torch.Size([5, 5])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

__all__ = ["PairDataset", "TwoTowers", "clip_loss", "pair_loader", "recall_at_k",
           "retrieval_ranks", "zero_shot_weights"]


def clip_loss(logits: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """CLIP's symmetric contrastive loss over an ``(N, N)`` image-text logit matrix.

    Row ``i`` (image ``i``) must pick text ``labels[i]`` (default ``i``) among the batch's
    texts, and column ``i`` (text ``i``) must pick image ``i``: the mean of the two
    cross-entropies (Radford et al. 2021, Figure 3's pseudocode). It is notebook 04's NT-Xent
    with only the cross-modal pairs as candidates: ``clip_loss(z_i @ z_t.T / t)`` equals
    ``tlc.ssl.nt_xent(z_i, z_t, t, cross_only=True)`` for unit vectors (tested).

    Shape: ``logits: (N, N)``, ``labels: (N,)`` -> scalar.
    """
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"logits must be a square (N, N) matrix of image-text scores, got "
                         f"{tuple(logits.shape)}")
    if labels is None:
        labels = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


class TwoTowers(nn.Module):
    """Two linear projections of frozen features into one ``dim``-dimensional space.

    ``forward(image=(N, image_dim), text=(N, text_dim))`` (a batch dict's inputs, as ``fit``
    passes them) returns the ``(N, N)``
    cosine similarities of the projected images and texts times ``exp(logit_scale)``; CLIP's
    learnable temperature starts at 0.07 and its scale is capped at 100 (Radford et al.
    2021, section 2.5). :meth:`encode_image` and :meth:`encode_text` give unit vectors.
    """

    def __init__(self, image_dim: int, text_dim: int, dim: int = 128,
                 temperature: float = 0.07) -> None:
        super().__init__()
        self.image_proj = nn.Linear(image_dim, dim)
        self.text_proj = nn.Linear(text_dim, dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / temperature)))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_proj(x), dim=-1)

    def encode_text(self, t: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(t), dim=-1)

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=math.log(100)).exp()

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.scale() * self.encode_image(image) @ self.encode_text(text).T


class PairDataset(Dataset):
    """Cached image and text features of the same ``N`` pairs, as dict items for ``fit``."""

    def __init__(self, image_features: torch.Tensor, text_features: torch.Tensor) -> None:
        if len(image_features) != len(text_features):
            raise ValueError(f"{len(image_features)} image features but {len(text_features)} "
                             "text features: each image needs its own caption")
        self.image, self.text = image_features.float(), text_features.float()

    def __len__(self) -> int:
        return len(self.image)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.image[i], "text": self.text[i]}


def _collate(items: list[dict]) -> dict:
    return {"image": torch.stack([it["image"] for it in items]),
            "text": torch.stack([it["text"] for it in items]),
            "labels": torch.arange(len(items))}  # image i belongs with text i


def pair_loader(image_features: torch.Tensor, text_features: torch.Tensor, *,
                batch_size: int = 256, shuffle: bool = True, seed: int = 0) -> DataLoader:
    """Batches ``{"image", "text", "labels"}`` of pairs for :func:`tlcourse.train.fit` with
    ``loss_fn=clip_loss``. Training drops the last incomplete batch: a batch's other pairs
    are its negatives, and a batch of two is a far easier task than one of ``batch_size``."""
    if len(image_features) < batch_size and shuffle:
        raise ValueError(f"batch_size={batch_size} is larger than the {len(image_features)} "
                         "training pairs: use a smaller batch")
    return DataLoader(PairDataset(image_features, text_features), batch_size=batch_size,
                      shuffle=shuffle, drop_last=shuffle, collate_fn=_collate,
                      generator=torch.Generator().manual_seed(seed))


def retrieval_ranks(queries: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """Rank (0 = first) of each query's own item ``gallery[i]`` among all of ``gallery`` by
    cosine similarity; ties count against the query. Shape: ``(N, D), (N, D) -> (N,)``."""
    if queries.shape != gallery.shape:
        raise ValueError(f"queries and gallery must pair up row by row, got "
                         f"{tuple(queries.shape)} and {tuple(gallery.shape)}")
    sims = F.normalize(queries.float(), dim=1) @ F.normalize(gallery.float(), dim=1).T
    return (sims > sims.diagonal()[:, None]).sum(1) + (sims == sims.diagonal()[:, None]).sum(1) - 1


def recall_at_k(ranks: torch.Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """Recall@k: the share of queries whose own item is among the first ``k``."""
    return {k: float((ranks < k).float().mean()) for k in ks}


def zero_shot_weights(towers: TwoTowers, prompt_features: torch.Tensor) -> torch.Tensor:
    """One unit vector per class from its prompts' text features ``(C, P, D)`` (or ``(C, D)``
    for one prompt each): each prompt projected, then averaged and renormalised (CLIP's prompt
    ensembling, Radford et al. 2021, section 3.1.4). A zero-shot classifier's logits are
    ``towers.encode_image(x) @ weights.T``."""
    with torch.no_grad():
        z = towers.encode_text(prompt_features.float())
        return F.normalize(z.mean(1) if z.ndim == 3 else z, dim=-1)

