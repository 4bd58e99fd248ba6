"""Notebook 05 (the capstone) on a learner's own folder: only DATA_DIR changes.

The folder is made the way a learner's often is: three classes of real images, a text file
among them, a corrupt image, a greyscale and a transparent (RGBA) image, and a class with too
few images. The notebook must run to the end, leave out what it cannot use, say so, and
write a report and a model that loads back with the right classes."""

import shutil

import numpy as np
import pytest
from PIL import Image

from tlcourse.checkpoint import load_classifier
from tlcourse.data import data_root

pytestmark = [pytest.mark.notebooks, pytest.mark.outcomes]  # also under 2nd CPU kernels


def _learner_folder(root):
    source = data_root() / "capstone_images"
    for name in ("computers", "flags", "tools"):
        shutil.copytree(source / name, root / name)
    first = sorted((root / "flags").glob("*.png"))[0]
    Image.open(first).convert("L").save(root / "flags" / "grey_copy.png")
    Image.open(first).convert("RGBA").save(root / "flags" / "transparent_copy.png")
    (root / "tools" / "broken.jpg").write_bytes(b"not really a jpeg")
    (root / "tools" / "README.txt").write_text("where these came from")
    (root / "lamps").mkdir()
    for i in range(2):  # fewer than MIN_IMAGES_PER_CLASS: left out, with a warning
        Image.fromarray(np.full((64, 64, 3), 40 * i, np.uint8)).save(root / "lamps" / f"{i}.png")
    return 34 + 40 + 2 + 33  # computers, flags (+2 copies), tools (without the broken file)


def test_capstone_on_a_learners_folder(run_nb, tmp_path):
    folder, out = tmp_path / "my images", tmp_path / "out"
    expected_images = _learner_folder(folder)
    entry = run_nb("05_capstone", PROFILE="offline", SEED=1, DATA_DIR=str(folder),
                   FINETUNE_EPOCHS=3, LIVE_PLOT=False, OUTPUT_DIR=str(out))
    m = entry["metrics"]
    assert len(entry["claims"]) == 4
    assert (m["num_classes"], m["num_images"]) == (3, expected_images)
    assert m["test_acc"] > 0.6 and m["majority_test_acc"] < 0.45
    assert m["val_acc_random_weights"] < 0.6 < m["val_acc_feature_extraction"]
    assert m["chosen"] in ("feature extraction", "fine-tuning")
    # LogME shortlisted two of the profile's three backbones; validation chose among them.
    shortlist = m["shortlist"].split(", ")
    assert len(shortlist) == 2 and m["backbone"] in shortlist
    assert set(shortlist) <= {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"}
    # The chosen model is the one with the better validation accuracy (ties: the cheaper).
    better_ft = m["val_acc_finetuning"] > m["val_acc_feature_extraction"]
    assert m["chosen"] == ("fine-tuning" if better_ft else "feature extraction")
    _, info = load_classifier(out / "model.pt")
    assert info["classes"] == ["computers", "flags", "tools"] and info["image_size"] == 128
    report = (out / "report.md").read_text()
    assert "my images" in report and f"{m['test_acc']:.1%}" in report
    assert (out / "finetune_checkpoint.pt").exists()
