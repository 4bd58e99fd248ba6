"""The claims sweep's pieces: kernel-set environments and the CLAIMS.md table."""

import json

import pytest

from benchmarks import kernels, sweep


def test_kernel_sets_force_or_unforce_the_two_variables():
    base = {"PATH": "/bin", "ATEN_CPU_CAPABILITY": "avx512", "DNNL_MAX_CPU_ISA": "AVX512_CORE"}
    assert kernels.environment("native", base) == {"PATH": "/bin"}
    assert kernels.environment("portable", base) == {
        "PATH": "/bin", "ATEN_CPU_CAPABILITY": "default", "DNNL_MAX_CPU_ISA": "SSE41"}
    assert kernels.environment("avx2", base)["DNNL_MAX_CPU_ISA"] == "AVX2"
    with pytest.raises(ValueError, match="unknown kernel set 'sse'"):
        kernels.environment("sse", base)


def test_the_second_set_is_avx2_on_avx512_machines_else_portable():
    assert kernels.second_kernel_set("AVX512") == "avx2"
    assert kernels.second_kernel_set("AVX512_BF16") == "avx2"
    assert kernels.second_kernel_set("AVX2") == "portable"
    assert kernels.second_kernel_set("DEFAULT") == "portable"


def _claim(text, value, threshold, op=">="):
    margin = value - threshold if op == ">=" else threshold - value
    return {"text": text, "held": margin >= 0, "value": value, "op": op,
            "threshold": threshold, "margin": margin, "numbers": {}}


def _result(tmp_path, kernel_set, seed, claims, status="ok"):
    result = {"notebook": "01_x", "kernels": kernel_set, "capability": "AVX2", "seed": seed,
              "status": status, "error": None if status == "ok" else "ClaimFailed: ...",
              "wall_seconds": 10.0 + seed, "claims": claims, "torch": "2.x",
              "machine": "cpu", "date": "2026-12-01"}
    (tmp_path / f"01_x__{kernel_set}__seed{seed}.json").write_text(json.dumps(result))


def test_table_counts_runs_held_and_finds_the_smallest_margin(tmp_path):
    fact = {"text": "cached", "held": True, "value": None, "op": None, "threshold": None,
            "margin": None, "numbers": {}}
    _result(tmp_path, "native", 0, [_claim("gap", 0.30, 0.15), fact])
    _result(tmp_path, "native", 1, [_claim("gap", 0.20, 0.15), fact])
    _result(tmp_path, "portable", 0, [_claim("gap", 0.10, 0.15),
                                      {**fact, "held": False}])
    text = sweep.table(tmp_path)
    assert "| 01_x | 3/3 | 0/2 | 11 |" in text
    assert "| gap | 2/3 **(fails)** | >= 0.15 | -0.05 | portable/0 | 0.2 |" in text
    assert "| cached | 2/3 **(fails)** | fact | - | - | - |" in text


def test_a_claim_missing_from_a_stopped_run_does_not_count_as_held(tmp_path):
    _result(tmp_path, "native", 0, [_claim("a", 1.0, 0.5), _claim("b", 1.0, 0.5)])
    _result(tmp_path, "native", 1, [_claim("a", 1.0, 0.5)], status="failed")
    text = sweep.table(tmp_path)
    assert "| 01_x | 1/2 | 1/2 |" in text
    assert "| b | 1/2 **(fails)** |" in text
    assert "Stopped: `native/1`" in text


def test_every_lesson_was_swept_and_held_every_claim_in_every_run():
    """The rule of benchmarks/CLAIMS.md: a lesson lands only when the sweep (seeds 0-2 under
    two kernel sets) ran it to the end and every claim held in every run."""
    from tlcourse.runner import find_notebooks

    from .conftest import NOTEBOOKS

    results = [json.loads(p.read_text()) for p in sweep.RESULTS_DIR.glob("*.json")]
    for path in find_notebooks(NOTEBOOKS):
        runs = [r for r in results if r["notebook"] == path.stem]
        assert {(r["kernels"] == "native", r["seed"]) for r in runs} >= {
            (own, seed) for own in (True, False) for seed in (0, 1, 2)}, (
            f"{path.stem}: run `python -m benchmarks.sweep --notebooks {path.stem[:2]}`")
        for r in runs:
            assert r["status"] == "ok", (path.stem, r["kernels"], r["seed"], r["error"])
            failed = [c["text"] for c in r["claims"] if not c["held"]]
            assert r["claims"] and not failed, (path.stem, r["kernels"], r["seed"], failed)
