"""Notebook 09 under a second configuration: another seed (another class split, other test
episodes and training runs), 10 queries per class, half the test episodes, shorter training
of the prototypical CNN; its claims must still hold, and its numbers must be what they say."""

import pytest

pytestmark = pytest.mark.notebooks


def test_few_shot_with_another_seed_and_fewer_episodes(run_nb):
    entry = run_nb("09_few_shot", PROFILE="offline", SEED=3, N_QUERY=10, TEST_EPISODES=300,
                   MAML_TEST_EPISODES=200, PROTONET_EPISODES=300)
    m = entry["metrics"]
    assert entry["profile"] == "offline" and len(entry["claims"]) == 9
    acc = {key.split(" | ")[0]: {} for key in m if " | " in key}
    for key, value in m.items():
        if " | " in key:
            method, shots = key.split(" | ")
            acc[method][int(shots.split("-")[0])] = value
    assert all(0.0 <= v <= 1.0 for shots in acc.values() for v in shots.values())
    assert all(set(shots) == {1, 5} for shots in acc.values())
    # With one example per class the nearest neighbour *is* the prototype rule, episode for
    # episode (the same test episodes for every method): equal accuracies, on both inputs.
    assert acc["features: nearest neighbour"][1] == acc["features: prototypes"][1]
    assert acc["pixels: nearest neighbour"][1] == acc["pixels: prototypes"][1]
    # More shots help every rule; normalising the features helps the prototypes.
    for method in ("pixels: prototypes", "features: prototypes", "features: nearest neighbour"):
        assert acc[method][5] > acc[method][1]
    assert acc["features: prototypes"][1] > acc["features (not normalised): prototypes"][1]
    # Everything is above chance (5-way: 20%), on clip art and on digits.
    assert min(v for method, shots in acc.items() if "random init" not in method
               for v in shots.values()) > 0.3
    # The summaries are what they say they are.
    assert m["proto_5shot"] == acc["features: prototypes"][5]
    pixels = ("pixels: nearest neighbour", "pixels: prototypes",
              "pixels: prototypical CNN (meta-trained)")
    assert m["lead_1shot"] == pytest.approx(
        acc["features: prototypes"][1] - max(acc[p][1] for p in pixels))
    assert m["head_gap"] == pytest.approx(max(
        abs(acc["features: linear head on the support set"][k] - acc["features: prototypes"][k])
        for k in (1, 5)))
    assert m["best_inner_lr"] in (0.5, 1.0, 2.0, 4.0)
