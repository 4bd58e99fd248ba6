"""Shared fixtures: run a notebook with papermill and read what it recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlcourse import claims
from tlcourse.runner import run_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(autouse=True)
def _fresh_claims():
    claims.reset()
    yield
    claims.reset()


@pytest.fixture
def run_nb(tmp_path):
    """``run_nb("01_feature_extraction", SEED=1)`` -> the report entry of that run.

    Fails the test (with the notebook's error) unless the notebook ran to the end.
    """
    def run(name: str, **parameters) -> dict:
        entry = run_notebook(NOTEBOOKS / f"{name}.ipynb", tmp_path, parameters)
        assert entry["status"] == "ok", f"{name} failed: {entry['error']}"
        assert entry["claims"], f"{name} checked no claims"
        assert all(c["held"] for c in entry["claims"]), entry["claims"]
        return entry
    return run
