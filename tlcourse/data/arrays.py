"""In-memory image datasets and seeded, stratified splits."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

__all__ = ["ArrayDataset", "per_class_subset", "stratified_split", "strings_from_utf8", "targets_of"]


class ArrayDataset(Dataset):
    """Images held as one uint8 tensor, with integer targets and class names.

    Args:
        images: ``(N, H, W)``, ``(N, H, W, C)`` (NumPy layout) or ``(N, C, H, W)`` uint8.
        targets: ``(N,)`` class indices (``-1`` for unlabelled).
        classes: class names, ``classes[k]`` for target ``k``.
        transform: applied to each ``(C, H, W)`` uint8 tensor, e.g. from
            :func:`tlcourse.data.image_transform`. ``None`` returns floats in [0, 1].

    Shape: ``dataset[i] -> (x: (C, H', W') float tensor, y: int)``.
    """

    def __init__(self, images, targets, classes: Sequence[str],
                 transform: Callable | None = None, name: str = "arrays") -> None:
        images = torch.as_tensor(np.asarray(images))
        if images.dtype != torch.uint8:
            raise TypeError(f"images must be uint8 (0-255), got {images.dtype}")
        if images.ndim == 3:
            images = images[:, None]
        elif images.ndim == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
            images = images.permute(0, 3, 1, 2)
        if images.ndim != 4:
            raise ValueError(f"images must have 3 or 4 dimensions, got shape {tuple(images.shape)}")
        self.images = images.contiguous()
        self.targets = torch.as_tensor(np.asarray(targets), dtype=torch.long)
        if len(self.targets) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.targets)} targets")
        self.classes = list(classes)
        self.transform = transform
        self.name = name

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        x = self.images[index]
        x = self.transform(x) if self.transform is not None else x.float() / 255.0
        return x, int(self.targets[index])

    def with_transform(self, transform: Callable | None) -> ArrayDataset:
        """The same images (shared, not copied) seen through another transform."""
        return ArrayDataset(self.images, self.targets, self.classes, transform, self.name)

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return (f"ArrayDataset({self.name!r}, {len(self)} images {c}x{h}x{w}, "
                f"{len(self.classes)} classes)")


def targets_of(dataset) -> np.ndarray:
    """The integer targets of a dataset (or a ``Subset`` of one) as a NumPy array."""
    if isinstance(dataset, Subset):
        return targets_of(dataset.dataset)[np.asarray(dataset.indices)]
    for attr in ("targets", "labels", "_labels"):
        if hasattr(dataset, attr):
            return np.asarray(getattr(dataset, attr))
    return np.asarray([y for _, y in dataset])


def stratified_split(targets, fractions: Sequence[float], seed: int = 0,
                     groups=None) -> list[np.ndarray]:
    """Split indices into parts with the given fractions, keeping class proportions.

    Every class contributes ``round(fraction * count)`` items to each part but the last,
    which takes the rest; a class too small for that still gives the first part (the
    training part, by convention) one item, so no class is missing from training. The same seed always gives the same split. With ``groups``
    (one key per item, e.g. near-duplicate images sharing a key), a group is never split
    across parts; a part then stops at the first group that reaches its share.

    Example:
        >>> train, test = stratified_split([0, 0, 0, 0, 1, 1, 1, 1], [0.5, 0.5], seed=0)
        >>> sorted(train.tolist() + test.tolist())
        [0, 1, 2, 3, 4, 5, 6, 7]
    """
    targets = np.asarray(targets)
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {list(fractions)}")
    rng = np.random.default_rng(seed)
    groups = np.arange(len(targets)) if groups is None else np.asarray(groups)
    parts: list[list[int]] = [[] for _ in fractions]
    for cls in np.unique(targets):
        idx = np.flatnonzero(targets == cls)
        keys = list(dict.fromkeys(groups[idx].tolist()))  # unique, in order
        members = [idx[groups[idx] == keys[i]] for i in rng.permutation(len(keys))]
        shares = [round(f * len(idx)) for f in fractions]
        if fractions[0] > 0:
            shares[0] = max(shares[0], 1)
        k, taken = 0, 0
        for group in members:
            while k < len(fractions) - 1 and taken >= shares[k]:
                k, taken = k + 1, 0
            parts[k].extend(group.tolist())
            taken += len(group)
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def per_class_subset(targets, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` random items from every class (all of a smaller class)."""
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    targets = np.asarray(targets)
    rng = np.random.default_rng(seed)
    picks = [rng.permutation(np.flatnonzero(targets == c))[:per_class] for c in np.unique(targets)]
    return np.sort(np.concatenate(picks))


def strings_from_utf8(blob: np.ndarray, offsets: np.ndarray) -> list[str]:
    """The strings stored as one UTF-8 byte array plus ``n + 1`` offsets (string i is
    ``blob[offsets[i]:offsets[i + 1]]``), how the shipped ``.npz`` files keep text without
    pickled objects (the build scripts write them with ``scripts/_sums.py``'s
    ``utf8_arrays``)."""
    data = np.asarray(blob, dtype=np.uint8).tobytes()
    bounds = np.asarray(offsets).tolist()
    return [data[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
