"""Notebook 01 under a second configuration: other seed, sizes and draws, a cold cache."""

import pytest

pytestmark = pytest.mark.notebooks


def test_feature_extraction_notebook_at_96px_with_a_cold_cache(run_nb, tmp_path, monkeypatch):
    # An empty cache: the first extraction must be a miss, the second a hit.
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    entry = run_nb("01_feature_extraction", PROFILE="offline", SEED=1, IMAGE_SIZE=96,
                   PIXEL_SIZE=24, LABELS_PER_CLASS=[1, 3, 10], NUM_DRAWS=2, CNN_EPOCHS=10,
                   MAP_POINTS=300, QUERY=3)
    m = entry["metrics"]
    assert entry["profile"] == "offline"
    assert len(entry["claims"]) == 9  # no published reference for the clip-art set
    assert (m["first_call_hit"], m["second_call_hit"]) == (0, 1)
    assert m["extract_seconds"] > 10 * m["reuse_seconds"]
    assert list((tmp_path / "cache" / "features").glob("*.pt"))
    # Frozen features vs the baselines, with all labels and with 3 per class.
    assert m["feature_acc"] > 0.70 and m["pixel_acc"] < 0.55 and m["cnn_acc"] < 0.65
    assert m["few_labels_per_class"] == 3
    assert m["feature_acc_few"] - max(m["pixel_acc_few"], m["cnn_acc_few"]) > 0.15
    assert m["feature_acc_1"] < m["feature_acc_few"] < m["feature_acc_mid"]
    assert m["feature_acc_mid"] < m["feature_acc"] + 0.02
    assert m["head_acc"] == pytest.approx(m["feature_acc"], abs=0.05)
    assert m["deep_probe_acc"] > m["shallow_probe_acc"] + 0.25
    assert m["best_layer"] in {"stage6", "stage7", "head"}
    assert m["map_agreement_features"] > m["map_agreement_pixels"] + 0.2
