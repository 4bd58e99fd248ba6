"""Stand-in files for a rehearsal of the full profile, in the exact on-disk formats the real
loaders read: torchvision's dataset layouts under ``<cache>/datasets``, torchvision's ImageNet
checkpoints under their real file names in ``<cache>/weights`` (state dicts of randomly
initialised models of the right architecture), GLUE's SST-2 archive and a Hugging Face
DistilBERT folder. A few tiny images per class: enough for every code path, nothing to learn.

The files prove that the loaders and the notebooks' full branches run; the real checksums
cannot match, which only a rehearsal (``TLCOURSE_REHEARSAL=1``) accepts.

    python -m tests.standins CACHE_DIR      # write every stand-in into CACHE_DIR
"""

from __future__ import annotations

import bz2
import gzip
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from tlcourse.data.download import STAND_INS_MARKER

#: the full profile's torchvision backbones (and the SimCLR encoder of notebook 04)
BACKBONES = ("resnet50", "resnet18")
DISTILBERT = "distilbert-base-uncased"


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)))


def _pattern(label: int, size: int, channels: int, rng) -> np.ndarray:
    """A tiny image whose brightness depends on its class (plus noise)."""
    base = (37 * label) % 200 + 20
    img = rng.integers(0, 40, size=(size, size, channels)) + base
    return img.clip(0, 255).astype(np.uint8)


def _save_jpeg(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.squeeze()).save(path, quality=90)


# --- weights ---------------------------------------------------------------------------------

def weights(cache: Path, archs=BACKBONES) -> list[Path]:
    """Random-init state dicts under torchvision's checkpoint names (e.g. resnet50-0676ba61.pth),
    where :func:`tlcourse.models.load_backbone` reads them."""
    import torch
    import torchvision.models as tvm

    from tlcourse.models import BACKBONES as SPECS

    paths = []
    for arch in archs:
        enum = {"resnet18": "ResNet18_Weights", "resnet50": "ResNet50_Weights",
                "mobilenet_v3_large": "MobileNet_V3_Large_Weights",
                "efficientnet_b0": "EfficientNet_B0_Weights"}[arch]
        assert SPECS[arch].source == "torchvision"
        url = getattr(tvm, enum).IMAGENET1K_V1.url
        path = cache / "weights" / url.rsplit("/", 1)[-1]
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(getattr(tvm, arch)(weights=None).state_dict(), path)
        paths.append(path)
    return paths


# --- image datasets --------------------------------------------------------------------------

def flowers102(root: Path, per_split=(2, 1, 6), num_classes: int = 102) -> None:
    """``flowers-102/jpg/image_NNNNN.jpg``, ``imagelabels.mat`` (1-based labels) and
    ``setid.mat`` (``trnid``, ``valid``, ``tstid``, 1-based image ids). Six test images per
    class: notebook 11's linear probe takes 5 labels per class and scores the rest."""
    from scipy.io import savemat

    base, rng = root / "flowers-102", _rng("flowers")
    labels, ids = [], {"trnid": [], "valid": [], "tstid": []}
    for label in range(num_classes):
        for key, count in zip(ids, per_split, strict=True):
            for _ in range(count):
                labels.append(label + 1)
                image_id = len(labels)
                ids[key].append(image_id)
                _save_jpeg(base / "jpg" / f"image_{image_id:05d}.jpg",
                           _pattern(label, 12, 3, rng))
    savemat(base / "imagelabels.mat", {"labels": np.array(labels, dtype=np.uint8)})
    savemat(base / "setid.mat", {k: np.array(v, dtype=np.uint16) for k, v in ids.items()})


def pets(root: Path, breeds=("Abyssinian", "beagle", "Bengal"), per_split=(3, 2)) -> None:
    """``oxford-iiit-pet/images/<Breed>_N.jpg`` and ``annotations/{trainval,test}.txt``
    (``image_id class species breed_id``)."""
    base, rng = root / "oxford-iiit-pet", _rng("pets")
    (base / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    lines = {"trainval": [], "test": []}
    n = 0
    for label, breed in enumerate(breeds):
        species = 1 if breed[0].isupper() else 2             # cats are capitalised
        for split, count in zip(lines, per_split, strict=True):
            for _ in range(count):
                n += 1
                image_id = f"{breed}_{n}"
                _save_jpeg(base / "images" / f"{image_id}.jpg", _pattern(label, 12, 3, rng))
                lines[split].append(f"{image_id} {label + 1} {species} {label + 1}")
    for split, rows in lines.items():
        (base / "annotations" / f"{split}.txt").write_text("\n".join(rows) + "\n")


def cifar10(root: Path, per_class=(3, 2)) -> None:
    """``cifar-10-batches-py/data_batch_{1..5}``, ``test_batch`` and ``batches.meta``
    (pickled dicts, images as (N, 3072) uint8 rows)."""
    base, rng = root / "cifar-10-batches-py", _rng("cifar")
    base.mkdir(parents=True, exist_ok=True)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]

    def batch(count):
        labels = [k for k in range(10) for _ in range(count)]
        data = np.stack([_pattern(k, 32, 3, rng).transpose(2, 0, 1).reshape(-1) for k in labels])
        return {"data": data, "labels": labels}

    for i in range(1, 6):
        (base / f"data_batch_{i}").write_bytes(pickle.dumps(batch(1 if i > 1 else per_class[0])))
    (base / "test_batch").write_bytes(pickle.dumps(batch(per_class[1])))
    (base / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))


def _idx(path: Path, array: np.ndarray) -> None:
    # The IDX format of LeCun's MNIST files: magic (0, 0, type 0x08, ndim), sizes, bytes.
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def mnist(root: Path, per_class=(30, 10)) -> None:
    """``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (uncompressed, as torchvision
    leaves them after its download), plus the .gz archives it downloads."""
    raw, rng = root / "MNIST" / "raw", _rng("mnist")
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, count in zip(("train", "t10k"), per_class, strict=True):
        labels = np.repeat(np.arange(10), count)
        images = np.stack([_pattern(k, 28, 1, rng)[..., 0] for k in labels])
        _idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        for kind in ("images-idx3", "labels-idx1"):
            name = raw / f"{prefix}-{kind}-ubyte"
            (raw / f"{name.name}.gz").write_bytes(gzip.compress(name.read_bytes()))


def usps(root: Path, per_class=(20, 10)) -> None:
    """``usps.bz2`` and ``usps.t.bz2``: libsvm lines ``label(1-10) 1:v ... 256:v``, v in
    [-1, 1]."""
    rng = _rng("usps")
    root.mkdir(parents=True, exist_ok=True)
    for name, count in zip(("usps.bz2", "usps.t.bz2"), per_class, strict=True):
        lines = []
        for k in np.repeat(np.arange(10), count):
            values = _pattern(int(k), 16, 1, rng).reshape(-1) / 127.5 - 1
            lines.append(f"{k + 1} " + " ".join(f"{i + 1}:{v:.6f}" for i, v in enumerate(values)))
        (root / name).write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))


def svhn(root: Path, per_class=(3, 2)) -> None:
    """``{train,test}_32x32.mat``: ``X`` (32, 32, 3, N) uint8 and ``y`` (N, 1), digit 0 as 10."""
    from scipy.io import savemat

    rng = _rng("svhn")
    root.mkdir(parents=True, exist_ok=True)
    for split, count in zip(("train", "test"), per_class, strict=True):
        labels = np.repeat(np.arange(10), count)
        x = np.stack([_pattern(k, 32, 3, rng) for k in labels], axis=-1)
        savemat(root / f"{split}_32x32.mat",
                {"X": x, "y": np.where(labels == 0, 10, labels)[:, None].astype(np.uint8)})


def stl10(root: Path, per_class=(3, 2), unlabelled: int = 240) -> None:
    """``stl10_binary/``: ``{train,test}_X.bin`` (N x 3 x 96 x 96 uint8, each channel stored
    column-major), ``{train,test}_y.bin`` (labels 1-10), ``unlabeled_X.bin``,
    ``class_names.txt`` and ``fold_indices.txt``."""
    base, rng = root / "stl10_binary", _rng("stl10")
    base.mkdir(parents=True, exist_ok=True)
    names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]

    def images(labels):
        x = np.stack([_pattern(int(k), 96, 3, rng).transpose(2, 1, 0) for k in labels])
        return x.astype(np.uint8).tobytes()

    for split, count in zip(("train", "test"), per_class, strict=True):
        labels = np.repeat(np.arange(10), count)
        (base / f"{split}_X.bin").write_bytes(images(labels))
        (base / f"{split}_y.bin").write_bytes((labels + 1).astype(np.uint8).tobytes())
    (base / "unlabeled_X.bin").write_bytes(images(rng.integers(0, 10, unlabelled)))
    (base / "class_names.txt").write_text("\n".join(names) + "\n")
    n_train = 10 * per_class[0]
    (base / "fold_indices.txt").write_text(
        "\n".join(" ".join(map(str, range(i, n_train, 10))) for i in range(10)) + "\n")


def omniglot(root: Path, characters=(110, 10), per_character: int = 20) -> None:
    """``omniglot-py/images_{background,evaluation}/<Alphabet>/characterNN/*.png`` (105 px,
    1-bit) and the zip archives torchvision checks for."""
    base = root / "omniglot-py"
    for folder, count in zip(("images_background", "images_evaluation"), characters,
                             strict=True):
        for c in range(count):
            alphabet = f"Alphabet_{c // 20:02d}"
            char_dir = base / folder / alphabet / f"character{c % 20 + 1:02d}"
            char_dir.mkdir(parents=True, exist_ok=True)
            for i in range(per_character):
                img = np.ones((105, 105), dtype=bool)
                top = (7 * c) % 60 + 5
                img[top:top + 30, 10 + i:50 + i] = False           # a stroke per character
                Image.fromarray(img).save(char_dir / f"{c:04d}_{i + 1:02d}.png")
        with zipfile.ZipFile(base / f"{folder}.zip", "w") as zf:
            zf.writestr(f"{folder}/", "")


# --- text ------------------------------------------------------------------------------------

_WORDS = {1: ["a charming", "often affecting", "wonderful", "moving", "funny and warm"],
          0: ["a dull", "labored", "bleak and tiresome", "empty", "painfully slow"]}


def _sentences(count: int, rng) -> list[tuple[str, int]]:
    rows = []
    for i in range(count):
        label = i % 2
        words = _WORDS[label]
        rows.append((f"{words[rng.integers(len(words))]} film , {words[rng.integers(len(words))]}"
                     f" and {'never' if label == 0 else 'always'} itself {i}", label))
    return rows


def sst2(cache: Path, sizes=(40, 20)) -> Path:
    """GLUE's ``SST-2.zip``: ``SST-2/{train,dev,test}.tsv``, header ``sentence<TAB>label``."""
    rng = _rng("sst2")
    path = cache / "sst2" / "SST-2.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, count in zip(("train", "dev"), sizes, strict=True):
            rows = "".join(f"{text} \t{label}\n" for text, label in _sentences(count, rng))
            zf.writestr(f"SST-2/{name}.tsv", "sentence\tlabel\n" + rows)
        zf.writestr("SST-2/test.tsv", "index\tsentence\n0\tno labels here\n")
    return path


def distilbert(cache: Path) -> Path:
    """``<cache>/encoders/distilbert-base-uncased``: config, safetensors and a fast tokenizer
    (MiniLM's BERT-uncased WordPiece vocabulary, the one DistilBERT uses). The architecture
    DistilBERT's, narrowed (2 layers of width 64 instead of 6 of 768) to keep a rehearsal
    quick; random weights."""
    import torch
    from transformers import DistilBertConfig, DistilBertModel

    from tlcourse.text.encoder import encoder_path, hub_folder

    folder = hub_folder(DISTILBERT)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = DistilBertConfig(n_layers=2, dim=64, hidden_dim=128, n_heads=2, vocab_size=30522)
    DistilBertModel(config).save_pretrained(folder, safe_serialization=True)
    shutil.copy(encoder_path() / "tokenizer.json", folder / "tokenizer.json")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "DistilBertTokenizer", "do_lower_case": True,
         "model_max_length": 512}))
    return folder


# --- everything ------------------------------------------------------------------------------

DATASET_WRITERS = {"flowers102": flowers102, "pets": pets, "cifar10": cifar10, "mnist": mnist,
                   "usps": usps, "svhn": svhn, "stl10": stl10, "omniglot": omniglot}


def write_all(cache: Path) -> Path:
    """Every stand-in the full profile's notebooks read, into ``cache`` (a TLCOURSE_CACHE),
    marked so that tlcourse refuses the folder outside a rehearsal."""
    cache = Path(cache)
    old = os.environ.get("TLCOURSE_CACHE")
    os.environ["TLCOURSE_CACHE"] = str(cache)      # hub_folder() reads it
    try:
        weights(cache)
        for write in DATASET_WRITERS.values():
            write(cache / "datasets")
        sst2(cache)
        distilbert(cache)
        # last: from here on, only a rehearsal may read this cache (tlcourse refuses it)
        (cache / STAND_INS_MARKER).write_text("stand-ins for the full-profile rehearsal: "
                                              "not real data, not pretrained weights\n")
    finally:
        if old is None:
            del os.environ["TLCOURSE_CACHE"]
        else:
            os.environ["TLCOURSE_CACHE"] = old
    return cache


if __name__ == "__main__":
    print(write_all(Path(sys.argv[1])))
