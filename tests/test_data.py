"""The dataset registry, splits, transforms, loaders and a learner's own image folder."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import tlcourse as tlc
from tlcourse.data import AssetMissingError


@pytest.fixture(scope="module")
def clipart():
    return tlc.data.load("clipart", "all")


def test_clipart_is_the_documented_labelled_set(clipart):
    assert len(clipart.classes) == 10 and clipart.classes == sorted(clipart.classes)
    assert clipart.images.shape[1:] == (3, 128, 128) and clipart.images.dtype == torch.uint8
    counts = np.bincount(clipart.targets.numpy(), minlength=10)
    assert counts.min() >= 40 and 600 <= counts.sum() <= 900


def test_embedded_splits_are_stratified_disjoint_and_fixed(clipart):
    train, test = tlc.data.load("clipart", "train"), tlc.data.load("clipart", "test")
    assert len(train) + len(test) == len(clipart)
    assert abs(len(test) / len(clipart) - 0.25) < 0.02
    again = tlc.data.load("clipart", "test")
    assert torch.equal(again.images, test.images)
    for cls in range(10):  # a black-and-white twin follows its drawing: +-1 per class
        n = int((clipart.targets == cls).sum())
        assert abs(int((test.targets == cls).sum()) - round(0.25 * n)) <= 1


def test_black_and_white_twins_never_straddle_the_split():
    from tlcourse.data.registry import _BW_TOKEN

    sources = np.load(tlc.data.data_root() / "clipart/clipart.npz")["sources"].tolist()
    groups = np.array([_BW_TOKEN.sub("", s) for s in sources])
    assert len(set(groups)) < len(groups)  # there are twins
    train, test = tlc.data.stratified_split(np.load(
        tlc.data.data_root() / "clipart/clipart.npz")["labels"], [0.75, 0.25], 0, groups)
    assert not set(groups[train]) & set(groups[test])
    assert len(tlc.data.load("clipart", "test")) == len(test)


def test_unlabelled_pool_has_no_labels():
    pool = tlc.data.load("clipart_unlabelled", "all")
    assert len(pool) >= 1000 and pool.images.shape[1:] == (3, 64, 64)
    assert set(pool.targets.tolist()) == {-1}


def test_fewshot_classes_are_new_and_large_enough_for_five_shot_episodes():
    few = tlc.data.load("clipart_fewshot", "all")
    assert few.images.shape[1:] == (3, 64, 64) and len(few.classes) == 23
    counts = np.bincount(few.targets.numpy())
    assert counts.min() >= 20 and counts.max() <= 30      # 5 shots + 15 queries fit every class
    labelled = tlc.data.load("clipart", "all")
    capstone = {p.name for p in (tlc.data.data_root() / "capstone_images").iterdir()}
    assert not set(few.classes) & (set(labelled.classes) | capstone)
    root = tlc.data.data_root() / "clipart"
    sources = set(np.load(root / "clipart_fewshot.npz")["sources"].tolist())
    assert not sources & set(np.load(root / "clipart.npz")["sources"].tolist())
    # and no drawing twice: every image is different
    assert len({img.numpy().tobytes() for img in few.images}) == len(few)


def test_digit_sets_are_the_shipped_ones():
    mnist, uci = tlc.data.load("mnist5k", "all"), tlc.data.load("uci_digits", "all")
    assert len(mnist) == 5000 and mnist.images.shape[1:] == (1, 28, 28)
    assert len(uci) == 1797 and uci.images.shape[1:] == (1, 8, 8)
    assert int(mnist.images.max()) == 255 and int(uci.images.max()) == 255
    assert np.bincount(mnist.targets.numpy()).tolist() == [500] * 10
    assert len(tlc.data.load("mnist5k", "train")) == 3750


def test_a_corrupted_embedded_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "clipart").mkdir()
    root = tlc.data.data_root()
    (tmp_path / "clipart" / "SHA256SUMS").write_text((root / "clipart/SHA256SUMS").read_text())
    (tmp_path / "clipart" / "clipart.npz").write_bytes(b"truncated")
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path))
    with pytest.raises(OSError, match="does not match its checksum"):
        tlc.data.load("clipart")


def test_unknown_dataset_and_split_name_the_valid_ones():
    with pytest.raises(ValueError, match="Did you mean 'clipart'"):
        tlc.data.load("clipars")
    with pytest.raises(ValueError, match="split of uci_digits"):
        tlc.data.load("uci_digits", "val")


def test_uncached_full_dataset_fails_fast_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    with pytest.raises(AssetMissingError, match=r"USPS.*tlcourse fetch"):
        tlc.data.load("usps", "train")


def test_transform_scales_pixels_as_the_backbone_was_trained():
    t = tlc.data.image_transform("efficientnet_lite0", 32)
    x = t(torch.tensor([0, 255], dtype=torch.uint8).repeat(16 * 32).reshape(1, 32, 32))
    # (x - 127) / 128 for x in {0, 255}, three channels from one.
    assert x.shape == (3, 32, 32)
    assert torch.unique(x).tolist() == pytest.approx([-127 / 128, 1.0])
    r = tlc.data.image_transform("resnet18", 32)(torch.full((3, 8, 8), 255, dtype=torch.uint8))
    assert r[0, 0, 0].item() == pytest.approx((1 - 0.485) / 0.229, rel=1e-5)


def test_too_small_image_size_is_refused():
    with pytest.raises(ValueError, match="at least 32 px"):
        tlc.data.image_transform("efficientnet_lite0", 16)


def test_stratified_split_and_per_class_subset_are_seeded():
    targets = np.repeat(np.arange(3), [10, 20, 30])
    a, b = tlc.data.stratified_split(targets, [0.5, 0.5], seed=1)
    assert len(np.intersect1d(a, b)) == 0 and len(a) + len(b) == 60
    assert np.bincount(targets[a]).tolist() == [5, 10, 15]
    assert np.array_equal(tlc.data.stratified_split(targets, [0.5, 0.5], seed=1)[0], a)
    sub = tlc.data.per_class_subset(targets, 4, seed=0)
    assert np.bincount(targets[sub]).tolist() == [4, 4, 4]
    assert not np.array_equal(sub, tlc.data.per_class_subset(targets, 4, seed=1))
    with pytest.raises(ValueError):
        tlc.data.stratified_split(targets, [0.5, 0.6])
    groups = np.arange(60) // 2  # pairs
    a, b = tlc.data.stratified_split(targets, [0.5, 0.5], seed=1, groups=groups)
    assert not set(groups[a]) & set(groups[b]) and len(a) + len(b) == 60


def test_loader_settings_follow_the_device(clipart):
    assert tlc.data.loader_settings(clipart, torch.device("cpu"))["num_workers"] == 0
    cuda = tlc.data.loader_settings(clipart, torch.device("cuda"))
    assert cuda["pin_memory"] and cuda["num_workers"] >= 1 and cuda["persistent_workers"]
    # For a GPU but without workers (as a learner may ask): no workers to keep alive, and
    # DataLoader refuses persistent_workers=True with num_workers=0 (seen on an H200).
    loader = tlc.data.make_loader(clipart, 8, device="cuda", num_workers=0)
    assert loader.num_workers == 0 and not loader.persistent_workers and loader.pin_memory
    with pytest.raises(ValueError, match="batch_size"):
        tlc.data.make_loader(clipart, 0)
    batches = [y.tolist() for _, y in tlc.data.make_loader(clipart, 100, shuffle=True, seed=3)]
    assert batches == [y.tolist() for _, y in tlc.data.make_loader(clipart, 100, shuffle=True,
                                                                  seed=3)]


def _save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def test_load_folder_handles_odd_images_and_reports_what_it_skipped(tmp_path):
    _save(tmp_path / "cats" / "rgba.png", Image.new("RGBA", (40, 30), (255, 0, 0, 0)))
    _save(tmp_path / "cats" / "gray.png", Image.new("L", (50, 50), 0))
    _save(tmp_path / "cats" / "deep.png", Image.new("I;16", (40, 40), 65535))
    _save(tmp_path / "dogs" / "cmyk.jpg", Image.new("CMYK", (40, 40), (0, 255, 255, 0)))
    _save(tmp_path / "dogs" / "tiny.png", Image.new("RGB", (4, 4)))
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "dogs" / "notes.txt").write_text("ignored: not an image suffix")
    (tmp_path / "empty").mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = tlc.data.load_folder(tmp_path, size=32)
    messages = " ".join(str(w.message) for w in caught)
    assert "skipped 2" in messages and "tiny.png" in messages and "broken.jpg" in messages
    assert "empty" in messages
    assert data.classes == ["cats", "dogs"] and data.targets.tolist() == [0, 0, 0, 1]
    images = data.images.permute(0, 2, 3, 1).numpy()
    assert images.shape == (4, 32, 32, 3)
    # transparent red is composited onto white; 16-bit white stays white; CMYK red is red
    assert images[2][16, 16].tolist() == [255, 255, 255]  # rgba.png (sorted: deep, gray, rgba)
    assert images[0][16, 16].tolist() == [255, 255, 255]
    assert images[1][16, 16].tolist() == [0, 0, 0]
    assert images[3][16, 16, 0] > 200 and images[3][16, 16, 1] < 60


def test_load_folder_errors_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tlc.data.load_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match="no class folders"):
        tlc.data.load_folder(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"junk")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no readable images"):
        tlc.data.load_folder(tmp_path)


def test_capstone_folder_loads_as_an_image_folder():
    data = tlc.data.load_folder(tlc.data.data_root() / "capstone_images", size=64)
    assert len(data.classes) == 4 and len(data) >= 100


def test_a_class_with_one_image_is_kept_with_a_warning_that_says_what_to_do(tmp_path):
    for k in range(3):
        _save(tmp_path / "cats" / f"{k}.png", Image.new("RGB", (40, 40), (k, 0, 0)))
    _save(tmp_path / "owl" / "only.png", Image.new("RGB", (40, 40), (0, 0, 255)))
    with pytest.warns(UserWarning, match=r"1 class\(es\) with a single image: owl") as caught:
        data = tlc.data.load_folder(tmp_path, size=32)
    message = str(caught[0].message)
    assert "2 at least" in message and "min_images=2" in message
    assert data.classes == ["cats", "owl"] and data.targets.tolist() == [0, 0, 0, 1]
    # Why it matters: a split can put the one image in one part only. It goes to the first
    # (training) part, so the class can be learnt but never tested.
    for fractions in ([0.75, 0.25], [0.5, 0.5], [0.2, 0.8], [0.6, 0.2, 0.2]):
        parts = tlc.data.stratified_split(data.targets, fractions, seed=0)
        assert (data.targets[parts[0]] == 1).sum() == 1
        assert sum((data.targets[p] == 1).sum() for p in parts) == 1


def test_min_images_leaves_out_classes_that_are_too_small(tmp_path):
    for k in range(3):
        _save(tmp_path / "cats" / f"{k}.png", Image.new("RGB", (40, 40), (k, 0, 0)))
        _save(tmp_path / "dogs" / f"{k}.png", Image.new("RGB", (40, 40), (0, k, 0)))
    _save(tmp_path / "owl" / "only.png", Image.new("RGB", (40, 40), (0, 0, 255)))
    with pytest.warns(UserWarning, match=r"fewer than 2 usable images .*left out: owl \(1\)"):
        data = tlc.data.load_folder(tmp_path, size=32, min_images=2)
    assert data.classes == ["cats", "dogs"] and data.targets.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.images[3:, 1, 16, 16].tolist() == [0, 1, 2]  # the dogs' own images
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="at least 5 usable images"):
        tlc.data.load_folder(tmp_path, size=32, min_images=5)
    with pytest.raises(ValueError, match="min_images"):
        tlc.data.load_folder(tmp_path, min_images=0)


def test_every_shipped_array_has_a_matching_checksum_and_data_stays_under_40_mb():
    import hashlib

    root = tlc.data.data_root()
    arrays = sorted(root.rglob("*.npz"))
    assert {p.parent.name for p in arrays} >= {"clipart", "text", "glove"}
    for path in arrays:
        sums = dict(reversed(line.split()) for line in
                    (path.parent / "SHA256SUMS").read_text().splitlines() if line.strip())
        assert sums.get(path.name) == hashlib.sha256(path.read_bytes()).hexdigest(), path
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert total < 40e6, f"data/ is {total / 1e6:.1f} MB"


def test_omniglot_becomes_28_px_arrays_named_by_alphabet_and_character(monkeypatch):
    # A stand-in for torchvision's Omniglot (the real one needs its download): two alphabets'
    # characters as 105 px PIL images, as torchvision yields them.
    import torchvision.datasets as tvd

    class StandIn:
        def __init__(self, root, download=False, background=True, transform=None):
            self.background = background
            self._characters = ["Greek/character01", "Greek/character02", "Latin/character01"]
            self._flat_character_images = [(f"{i}_{j}.png", i) for i in range(3) for j in range(4)]

        def __iter__(self):
            for _name, target in self._flat_character_images:
                img = np.full((105, 105), 255, np.uint8)
                img[10 * target:10 * target + 40, 20:60] = 0          # a stroke per class
                yield Image.fromarray(img).convert("L"), target

    monkeypatch.setattr(tvd, "Omniglot", StandIn)
    data = tlc.data.load("omniglot", "evaluation")
    assert data.images.shape == (12, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.classes == ["Greek/character01", "Greek/character02", "Latin/character01"]
    assert data.targets.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert data.images[0].float().mean() < data.images[0].max()        # the stroke survived
    with pytest.raises(ValueError, match="background"):
        tlc.data.load("omniglot", "train")


def test_torchvision_sets_with_tensor_targets_or_array_labels_get_their_classes(monkeypatch):
    # MNIST keeps its targets as a tensor and names its classes; SVHN has array labels and no
    # class names. Neither may be tested for truth (a tensor of many values has none).
    import torchvision.datasets as tvd

    class TensorTargets:
        def __init__(self, root, download=False, train=True, transform=None):
            self.classes, self.targets = ["zero", "one"], torch.tensor([0, 1, 1])

    class ArrayLabels:
        def __init__(self, root, download=False, split="train", transform=None):
            self.labels = np.array([0, 2, 1])

    monkeypatch.setattr(tvd, "MNIST", TensorTargets)
    monkeypatch.setattr(tvd, "SVHN", ArrayLabels)
    assert tlc.data.load("mnist", "train").classes == ["zero", "one"]
    assert tlc.data.load("svhn", "train").classes == ["0", "1", "2"]
