"""Notebook 00 under a second configuration: other size, seed and head; exact counts."""

import pytest

pytestmark = [pytest.mark.notebooks, pytest.mark.outcomes]  # also under 2nd CPU kernels


def test_setup_notebook_with_a_37_class_head_at_160px(run_nb):
    entry = run_nb("00_setup", PROFILE="offline", SEED=1, IMAGE_SIZE=160,
                   NUM_NEW_CLASSES=37, PHOTOS=["chelsea", "coffee", "rocket"])
    m = entry["metrics"]
    assert entry["profile"] == "offline"
    assert m["head_parameters"] == 1280 * 37 + 37
    assert m["total_parameters"] == 4_652_008 - (1280 * 1000 + 1000) + m["head_parameters"]
    assert m["pretrained_top1_confidence"] > 0.3
    assert m["random_top1_confidence"] == pytest.approx(1 / 1000, rel=0.2)
    assert len(entry["claims"]) == 5
