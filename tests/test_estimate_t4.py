"""The T4 estimates of the full profile (benchmarks/estimate_t4.py): every notebook has one,
each within the 20 minutes DESIGN.md allows, and the committed table is what the script
computes from the FLOP counts (so it cannot drift from the settings it describes)."""

import json

import pytest

from benchmarks import estimate_t4

from .conftest import NOTEBOOKS


def test_every_notebook_has_an_estimate_within_20_minutes():
    seconds = json.loads(estimate_t4.JSON_PATH.read_text())["seconds"]
    assert set(seconds) == {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    over = {n: round(s / 60, 1) for n, s in seconds.items() if s > 20 * 60}
    assert not over, f"over 20 min on a T4 (estimated): {over}"


def test_the_committed_estimate_is_what_the_script_computes():
    committed = json.loads(estimate_t4.JSON_PATH.read_text())["seconds"]
    assert committed == estimate_t4.estimate(), (
        "benchmarks/t4_estimate.json is stale: run `python -m benchmarks.estimate_t4`")


def test_flops_match_the_published_counts():
    # torchvision's ResNet-50: 4.09 GMACs (8.2 GFLOPs) per 224 px image; training adds the
    # backward pass, about twice the forward.
    forward = estimate_t4.flops_per_item("resnet50", 224, False)
    assert forward == pytest.approx(8.18e9, rel=0.01)
    assert estimate_t4.flops_per_item("resnet50", 224, True) == pytest.approx(
        3 * forward, rel=0.05)


def test_a_pass_over_jpegs_waits_for_the_slower_of_decoding_and_the_gpu():
    decode_bound = estimate_t4.Work("x", "resnet50", 64, 1000, decoded=1000)
    assert decode_bound.seconds() == pytest.approx(1000 / estimate_t4.DECODE_PER_SECOND)
    small = estimate_t4.Work("y", steps=1000, cpu_seconds=5)
    assert small.seconds() == pytest.approx(1000 * estimate_t4.STEP_SECONDS + 5)
