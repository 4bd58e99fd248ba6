"""Notebook 08 under a second configuration: another seed (other labelled digits, other
encoders of the course's own), half the labels per class, shorter training of those encoders,
and two targets (clip art and MNIST) instead of three."""

import pytest

pytestmark = pytest.mark.notebooks

TARGETS = ("clip art", "MNIST")
CANDIDATES = ("lite0", "lite0 middle", "lite1", "lite1 middle", "lite2", "lite2 middle",
              "random lite0", "digit net", "SimCLR", "random CNN")


def test_choosing_a_model_with_another_seed_and_fewer_labels(run_nb):
    entry = run_nb("08_choosing_a_model", PROFILE="offline", SEED=4, LABELS_PER_CLASS=10,
                   SIMCLR_EPOCHS=2, DIGIT_NET_EPOCHS=1, TARGETS=list(TARGETS))
    m = entry["metrics"]
    assert entry["profile"] == "offline" and len(entry["claims"]) == 7
    probe = {(t, c): m[f"probe_{t}_{c}"] for t in TARGETS for c in CANDIDATES}
    assert all(0.0 <= v <= 1.0 for v in probe.values())
    # ImageNet features on clip art: far above the random floors (10 classes: chance 10%)
    assert min(probe["clip art", c] for c in ("lite0", "lite1", "lite2")) > max(
        probe["clip art", c] for c in ("random lite0", "random CNN")) + 0.15
    # the digit network trained on other MNIST digits is the best candidate on MNIST
    assert max(CANDIDATES, key=lambda c: probe["MNIST", c]) == "digit net"
    # the summaries are what they say they are
    taus = [m[f"tau_logme_{t}"] for t in TARGETS]
    assert m["mean_tau_LogME"] == pytest.approx(sum(taus) / len(taus))
    assert "tau_logme_UCI digits" not in m
    assert m["seconds_ratio"] == pytest.approx(m["score_cost_s"] / m["finetune_cost_s"])
    assert m["flop_ratio"] == pytest.approx(m["forward_gflop"] / m["finetune_gflop"])
    # Fine-tuning (FINETUNE_EPOCHS = 3) pays one forward pass per epoch plus a backward pass
    # that costs at most twice the forward: its FLOPs lie between 3 and 9 scoring passes.
    assert 1 / 9 < m["flop_ratio"] <= 1 / 3
    assert m["min_middle_gain"] == pytest.approx(min(
        probe["MNIST", f"{n} middle"] - probe["MNIST", n] for n in ("lite0", "lite1", "lite2")))
    # rank_backbones ranked the profile's three ImageNet backbones
    assert sorted(m["shortlist"].split(", ")) == [
        "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
