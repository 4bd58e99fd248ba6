"""Notebook 07 under a second configuration: other seeds (other labelled digits, other noise
labels) and two draws instead of three."""

import pytest

pytestmark = pytest.mark.notebooks


def test_multitask_notebook_with_another_seed(run_nb):
    entry = run_nb("07_multitask", PROFILE="offline", SEED=5, NUM_DRAWS=2)
    m = entry["metrics"]
    assert entry["profile"] == "offline" and m["draws"] == 2
    assert len(entry["claims"]) == 6
    for key in ("alone_acc", "related_acc", "unrelated_acc", "sequential_acc", "share_less_acc",
                "uncertainty_acc", "pcgrad_acc"):
        assert 0.1 <= m[key] <= 1.0, key
    # 50 labelled digits alone: well above chance, far from solved
    assert 0.4 <= m["alone_acc"] <= 0.85
    assert m["related_gain"] == pytest.approx(m["related_acc"] - m["alone_acc"])
    assert m["negative_transfer"] == pytest.approx(m["alone_acc"] - m["unrelated_acc"])
    # every remedy's recovery is measured against the same drop
    assert m["best_remedy"] in ("share less (first block)", "uncertainty weighting", "PCGrad")
    # uncertainty weighting: the noise task near 1 / (2 ln 10) = 0.22, the main task above 1
    assert 0.1 <= m["noise_weight"] <= 0.4 and m["digit_weight"] > 1
    assert m["cos_digit_noise"] < min(m["cos_digit_parity"], m["cos_digit_high"])
