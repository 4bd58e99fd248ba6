"""load_folder read lazily: the same checks, warnings and bytes as in memory, one file at
a time; a stable identity for the feature cache."""

import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import Subset

import tlcourse as tlc
from tlcourse import features
from tlcourse.data import folder


def _save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _odd_folder(root):
    """Two classes of odd images, a tiny one, a broken and a truncated file, a text file,
    an empty class folder and a class of one image."""
    rng = np.random.default_rng(0)
    for k in range(4):
        pixels = rng.integers(0, 256, (30 + 7 * k, 41, 3), dtype=np.uint8)
        _save(root / "cats" / f"noise{k}.png", Image.fromarray(pixels))
        _save(root / "dogs" / "sub" / f"noise{k}.jpg", Image.fromarray(pixels[::-1]))
    _save(root / "cats" / "rgba.png", Image.new("RGBA", (40, 30), (255, 0, 0, 0)))
    _save(root / "cats" / "deep.png", Image.new("I;16", (40, 40), 65535))
    _save(root / "dogs" / "cmyk.jpg", Image.new("CMYK", (40, 40), (0, 255, 255, 0)))
    _save(root / "dogs" / "tiny.png", Image.new("RGB", (4, 4)))
    (root / "dogs" / "broken.jpg").write_bytes(b"not a jpeg")
    whole = (root / "cats" / "noise3.png").read_bytes()
    (root / "dogs" / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (root / "dogs" / "notes.txt").write_text("ignored: not an image suffix")
    (root / "empty").mkdir()
    _save(root / "owl" / "only.png", Image.new("L", (50, 50), 90))


def _load(root, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = tlc.data.load_folder(root, size=32, **kwargs)
    return data, [str(w.message) for w in caught]


def test_lazy_gives_the_same_images_bytes_warnings_and_targets(tmp_path):
    _odd_folder(tmp_path)
    eager, eager_warnings = _load(tmp_path, lazy=False)
    lazy, lazy_warnings = _load(tmp_path, lazy=True)
    assert isinstance(eager, tlc.data.ArrayDataset) and isinstance(lazy, folder.FolderDataset)
    assert lazy_warnings == eager_warnings
    text = " ".join(eager_warnings)
    assert "skipped 3" in text and "tiny.png" in text and "broken.jpg" in text
    assert "truncated.png" in text and "empty" in text and "single image: owl" in text
    assert lazy.classes == eager.classes == ["cats", "dogs", "owl"]
    assert torch.equal(lazy.targets, eager.targets) and len(lazy) == len(eager) == 12
    for i in range(len(eager)):
        x_eager, y_eager = eager[i]
        x_lazy, y_lazy = lazy[i]
        assert y_lazy == y_eager and torch.equal(x_lazy, x_eager)
    assert lazy.images.shape == tuple(eager.images.shape) == (12, 3, 32, 32)
    every = np.arange(len(eager))
    assert torch.equal(lazy.images[every], eager.images)
    assert torch.equal(lazy.images[torch.tensor([5, 0])], eager.images[[5, 0]])
    assert torch.equal(lazy.images[3:, 1, 16, 16], eager.images[3:, 1, 16, 16])
    assert torch.equal(lazy.images[np.int64(2)], eager.images[2])
    transform = tlc.data.image_transform("efficientnet_lite0", 40)
    assert torch.equal(lazy.with_transform(transform)[4][0], eager.with_transform(transform)[4][0])
    # Through a DataLoader with a worker process (what make_loader gives data read from disk).
    batches = tlc.data.make_loader(lazy, 5, num_workers=1, persistent_workers=False)
    assert torch.equal(torch.cat([x for x, _ in batches]), eager.images.float() / 255)
    assert "3x32x32 read from disk" in repr(lazy)


def test_lazy_keeps_the_errors_that_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tlc.data.load_folder(tmp_path / "nope", lazy=True)
    with pytest.raises(ValueError, match="no class folders"):
        tlc.data.load_folder(tmp_path, lazy=True)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="no readable images"):
        _load(tmp_path, lazy=True)
    for k in range(2):
        _save(tmp_path / "b" / f"{k}.png", Image.new("RGB", (20, 20), (k, 0, 0)))
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="at least 5 usable images"):
        tlc.data.load_folder(tmp_path, min_images=5, lazy=True)


def test_a_file_that_breaks_after_loading_is_named_with_what_to_do(tmp_path):
    for k in range(3):
        _save(tmp_path / "cats" / f"{k}.png", Image.new("RGB", (20, 20), (k, 0, 0)))
    data = tlc.data.load_folder(tmp_path, size=16, lazy=True)
    (tmp_path / "cats" / "1.png").write_bytes(b"overwritten")
    assert data[0][0].shape == (3, 16, 16)
    with pytest.raises(OSError, match=r"cats/1\.png .*Load the folder again"):
        data[1]


def test_lazy_is_chosen_when_the_decoded_images_would_not_fit(tmp_path, monkeypatch):
    for k in range(4):
        _save(tmp_path / "cats" / f"{k}.png", Image.new("RGB", (20, 20), (k, 0, 0)))
    assert isinstance(tlc.data.load_folder(tmp_path, size=16), tlc.data.ArrayDataset)
    monkeypatch.setattr(folder, "EAGER_LIMIT_BYTES", 4 * 16 * 16 * 3 - 1)
    assert isinstance(tlc.data.load_folder(tmp_path, size=16), folder.FolderDataset)
    assert isinstance(tlc.data.load_folder(tmp_path, size=16, lazy=False), tlc.data.ArrayDataset)


def test_the_feature_cache_keys_a_lazy_folder_by_its_files(tmp_path):
    root = tmp_path / "images"
    for k in range(6):
        _save(root / ("ab"[k % 2]) / f"{k}.png", Image.new("RGB", (20, 20), (40 * k, 0, 0)))
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def extract(data):
        feats, _, info = features.extract(model, data, folder=tmp_path / "cache",
                                          progress=False, return_info=True)
        return feats, info.hit

    data = tlc.data.load_folder(root, size=16, lazy=True)
    identity = features.dataset_identity(data)
    assert identity == features.dataset_identity(tlc.data.load_folder(root, size=16, lazy=True))
    assert identity != features.dataset_identity(tlc.data.load_folder(root, size=24, lazy=True))
    assert identity != features.dataset_identity(data.with_transform(
        tlc.data.image_transform("efficientnet_lite0", 32)))
    assert features.dataset_identity(Subset(data, [0, 1])) != features.dataset_identity(
        Subset(data, [0, 2]))
    first, hit = extract(data)
    assert not hit
    eager_feats, _ = extract(tlc.data.load_folder(root, size=16, lazy=False))
    assert torch.equal(first, eager_feats)  # another key (pixel hashes), the same numbers
    again, hit = extract(tlc.data.load_folder(root, size=16, lazy=True))
    assert hit and torch.equal(again, first)
    # A learner replaces a photo: another size or modification time, so no stale features.
    path = root / "a" / "2.png"
    Image.new("RGB", (20, 20), (0, 0, 255)).save(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed, hit = extract(tlc.data.load_folder(root, size=16, lazy=True))
    assert not hit and not torch.equal(changed, first)
