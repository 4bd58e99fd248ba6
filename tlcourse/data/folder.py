"""Bring your own images: a folder in the ImageFolder layout (``root/<class>/<image>``).

:func:`load_folder` checks every file and returns the usable images, in memory
(:class:`~tlcourse.data.ArrayDataset`) or, for a folder too big for that, as a
:class:`FolderDataset` that decodes each image from its file when it is used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from tlcourse.checks import positive_int
from tlcourse.data.arrays import ArrayDataset

__all__ = ["EAGER_LIMIT_BYTES", "IMAGE_SUFFIXES", "FolderDataset", "load_folder",
           "to_rgb_array"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}

#: ``load_folder(lazy=None)`` keeps the images in memory up to this many bytes of decoded
#: pixels (N x size x size x 3), and reads them from disk above it: 1 GiB is about 21,000
#: images at 128 px or 7,000 at 224 px. Loading them holds about three copies at its peak
#: (2.8 GB for 0.94 GB of pixels, benchmarks/bench_folder.py), well inside Colab's 12 GB.
EAGER_LIMIT_BYTES = 1 << 30
_READ_ERRORS = (UnidentifiedImageError, OSError, ValueError)


def to_rgb_array(image: Image.Image, size: int) -> np.ndarray:
    """Any PIL image (L, LA, P, RGBA, CMYK, 16-bit) as ``size x size`` RGB uint8.

    Transparency is composited onto white; the image is scaled to fit and centred on a
    white square, keeping its aspect ratio.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image, dtype=np.float64)
        peak = arr.max() or 1.0
        image = Image.fromarray(np.uint8(np.clip(arr / peak * 255, 0, 255)))
    image = image.convert("RGBA")
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    image = Image.alpha_composite(background, image).convert("RGB")
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return np.asarray(canvas)


def _decode(path: Path, size: int) -> np.ndarray:
    """One image file as ``size x size`` RGB uint8, the same bytes eager or lazy."""
    with Image.open(path) as im:
        im.load()
        return to_rgb_array(im, size)


def _check(path: Path, size: int, min_size: int, skipped: list, keep: bool):
    """The decoded image (``keep``) or ``path``, if the file is a usable image; else
    ``None``, with the reason added to ``skipped``."""
    try:
        with Image.open(path) as im:
            im.load()  # the whole file: a truncated one fails here, not in the middle of training
            if min(im.size) < min_size:
                skipped.append(f"{path} (only {im.width}x{im.height} px)")
                return None
            return to_rgb_array(im, size) if keep else path
    except _READ_ERRORS as err:
        skipped.append(f"{path} ({type(err).__name__})")
        return None


class FolderImages:
    """The images of a :class:`FolderDataset`, decoded when indexed: ``images[i]`` is one
    ``(3, size, size)`` uint8 tensor, ``images[indices]`` (a slice, list or array) a stack
    of them. Index it; it holds no array to compute with as a whole."""

    def __init__(self, files: Sequence[Path], size: int) -> None:
        self.files, self.size = files, size

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), 3, self.size, self.size)

    def _one(self, i: int) -> torch.Tensor:
        path = self.files[i]
        try:
            pixels = _decode(path, self.size)
        except _READ_ERRORS as err:
            raise OSError(f"could not read {path} ({type(err).__name__}: {err}); it was a "
                          "readable image when the folder was loaded: was it changed or "
                          "removed since? Load the folder again.") from err
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, tuple):  # e.g. images[3:, 1, 16, 16]
            first, rest = index[0], index[1:]
            picked = self[first]
            return picked[rest] if picked.ndim == 3 else picked[(slice(None), *rest)]
        if isinstance(index, int | np.integer) or (
                isinstance(index, torch.Tensor | np.ndarray) and index.ndim == 0):
            return self._one(int(index))
        positions = np.arange(len(self.files))[
            index.cpu().numpy() if isinstance(index, torch.Tensor) else index]
        if len(positions) == 0:
            return torch.empty((0, 3, self.size, self.size), dtype=torch.uint8)
        return torch.stack([self._one(int(i)) for i in positions])


class FolderDataset(Dataset):
    """A checked image folder read from disk: each item is decoded from its file on access.

    What ``load_folder(..., lazy=True)`` returns, for folders too big to hold in memory. It
    behaves like the :class:`~tlcourse.data.ArrayDataset` of the same folder (the same
    ``dataset[i]``, byte for byte; ``targets``, ``classes``, ``with_transform``; ``images``
    indexed by position) but keeps only the file paths. Each epoch decodes the files again,
    so a :class:`~torch.utils.data.DataLoader` with worker processes helps
    (:func:`tlcourse.data.make_loader` gives it one per spare CPU core, up to two, and more
    when it feeds a GPU).

    Shape: ``dataset[i] -> (x: (3, H', W') float tensor, y: int)``.
    """

    def __init__(self, files: Sequence[str | Path], targets, classes: Sequence[str],
                 size: int, transform: Callable | None = None, name: str = "folder",
                 root: str | Path | None = None) -> None:
        self.files = [Path(f) for f in files]
        self.targets = torch.as_tensor(np.asarray(targets), dtype=torch.long)
        if len(self.targets) != len(self.files):
            raise ValueError(f"{len(self.files)} files but {len(self.targets)} targets")
        self.classes = list(classes)
        self.size, self.transform, self.name = size, transform, name
        self.root = Path(root) if root is not None else None
        self.images = FolderImages(self.files, size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        x = self.images[int(index)]
        x = self.transform(x) if self.transform is not None else x.float() / 255.0
        return x, int(self.targets[index])

    def with_transform(self, transform: Callable | None) -> FolderDataset:
        """The same files seen through another transform (nothing is read again)."""
        return FolderDataset(self.files, self.targets, self.classes, self.size, transform,
                             self.name, self.root)

    def file_identity(self) -> list[tuple[str, int, int]]:
        """``(path, bytes, mtime_ns)`` of every file, now: what the feature cache keys on
        (paths relative to ``root``, so a moved folder keeps its cache)."""
        rows = []
        for path in self.files:
            stat = path.stat()
            name = path.relative_to(self.root) if self.root is not None else path
            rows.append((name.as_posix(), stat.st_size, stat.st_mtime_ns))
        return rows

    def __repr__(self) -> str:
        return (f"FolderDataset({self.name!r}, {len(self)} images 3x{self.size}x{self.size} "
                f"read from disk, {len(self.classes)} classes)")


def load_folder(root: str | Path, size: int = 128, min_size: int = 16,
                min_images: int = 1, lazy: bool | None = None) -> ArrayDataset | FolderDataset:
    """Load ``root/<class>/<image>`` as an :class:`ArrayDataset` (or a :class:`FolderDataset`).

    Files that are not images (by suffix) are ignored; files that cannot be decoded and
    images smaller than ``min_size`` pixels on a side are skipped with one warning that
    counts them. Class folders are sorted by name; those left with no usable image, or with
    fewer than ``min_images``, are left out with a warning that names them.

    A class with a single image is kept (with the default ``min_images=1``) but warned
    about: a train/test split such as :func:`tlcourse.data.stratified_split` puts its one
    image in the training part, so the class is learnt from one example and never tested. Give each
    class at least 2 images (10 or more to learn it), or pass ``min_images=2`` to leave such
    classes out.

    Every file is decoded once here, to check it. ``lazy=False`` keeps the decoded images in
    memory (an :class:`ArrayDataset`); ``lazy=True`` keeps only the paths of the usable
    files (a :class:`FolderDataset`) and decodes an image again each time it is used, to the
    same bytes. ``lazy=None`` (the default) keeps the images in memory unless they would
    take more than :data:`EAGER_LIMIT_BYTES` (e.g. 20,000-50,000 photos at 224 px).

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: no class folders, no readable images at all, or a bad ``min_images``.
    """
    positive_int("min_images", min_images)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist; expected the layout "
                                "root/<class name>/<image files>")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"{root} has no class folders; put each class's images in its own "
                         "sub-folder, e.g. root/cats/1.jpg and root/dogs/2.jpg")
    files = {d: sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
             for d in class_dirs}
    if lazy is None:
        lazy = sum(map(len, files.values())) * size * size * 3 > EAGER_LIMIT_BYTES
    images, targets, classes, skipped, empty, too_few = [], [], [], [], [], []
    for class_dir in class_dirs:
        loaded = [item for path in files[class_dir]
                  if (item := _check(path, size, min_size, skipped, keep=not lazy)) is not None]
        if not loaded:
            empty.append(class_dir.name)
        elif len(loaded) < min_images:
            too_few.append(f"{class_dir.name} ({len(loaded)})")
        else:
            images += loaded
            targets += [len(classes)] * len(loaded)
            classes.append(class_dir.name)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable or too small image(s) in {root}: "
                      + "; ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""),
                      stacklevel=2)
    if empty:
        warnings.warn(f"class folder(s) with no usable image, left out: {', '.join(empty)}",
                      stacklevel=2)
    if too_few:
        warnings.warn(f"{len(too_few)} class folder(s) with fewer than {min_images} usable "
                      f"images (min_images), left out: {', '.join(too_few)}", stacklevel=2)
    single = [name for k, name in enumerate(classes) if targets.count(k) == 1]
    if single:
        warnings.warn(f"{len(single)} class(es) with a single image: {', '.join(single)}. "
                      "They are kept, but a train/test split puts that image in the training "
                      "part only, so each such class is learnt from one example and never "
                      "tested. "
                      "Add images (2 at least, 10 or more to learn a class) or pass "
                      "min_images=2 to leave such classes out.", stacklevel=2)
    if not images and too_few:
        raise ValueError(f"no class under {root} has at least {min_images} usable images "
                         f"(min_images): {', '.join(too_few)}")
    if not images:
        raise ValueError(f"no readable images under {root} (suffixes: "
                         f"{', '.join(sorted(IMAGE_SUFFIXES))})")
    if lazy:
        return FolderDataset(images, targets, classes, size, name=root.name, root=root)
    return ArrayDataset(np.stack(images), targets, classes, name=root.name)
