"""Bring your own images: a folder in the ImageFolder layout (``root/<class>/<image>``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tlcourse.checks import positive_int
from tlcourse.data.arrays import ArrayDataset

__all__ = ["IMAGE_SUFFIXES", "load_folder", "to_rgb_array"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


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


def load_folder(root: str | Path, size: int = 128, min_size: int = 16,
                min_images: int = 1) -> ArrayDataset:
    """Load ``root/<class>/<image>`` into memory as an :class:`ArrayDataset`.

    Files that are not images (by suffix) are ignored; files that cannot be decoded and
    images smaller than ``min_size`` pixels on a side are skipped with one warning that
    counts them. Class folders are sorted by name; those left with no usable image, or with
    fewer than ``min_images``, are left out with a warning that names them.

    A class with a single image is kept (with the default ``min_images=1``) but warned
    about: a train/test split such as :func:`tlcourse.data.stratified_split` puts its one
    image in the training part, so the class is learnt from one example and never tested. Give each
    class at least 2 images (10 or more to learn it), or pass ``min_images=2`` to leave such
    classes out.

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
    images, targets, classes, skipped, empty, too_few = [], [], [], [], [], []
    for class_dir in class_dirs:
        files = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        loaded = []
        for path in files:
            try:
                with Image.open(path) as im:
                    im.load()
                    if min(im.size) < min_size:
                        skipped.append(f"{path} (only {im.width}x{im.height} px)")
                        continue
                    loaded.append(to_rgb_array(im, size))
            except (UnidentifiedImageError, OSError, ValueError) as err:
                skipped.append(f"{path} ({type(err).__name__})")
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
    return ArrayDataset(np.stack(images), targets, classes, name=root.name)
