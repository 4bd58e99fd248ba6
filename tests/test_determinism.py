"""The same seed, the same numbers: a whole notebook run twice on a CPU records identical
metrics. (GPU runs may differ: see tests/README.md.)"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import NOTEBOOKS

pytestmark = pytest.mark.notebooks

# Small but complete: every section runs and every claim is checked. Training (the scratch
# CNN, the torch linear head), seeded label draws, probes and t-SNE all feed the metrics.
PARAMETERS = {"PROFILE": "offline", "SEED": 2, "IMAGE_SIZE": 96, "PIXEL_SIZE": 16,
              "LABELS_PER_CLASS": [1, 3], "NUM_DRAWS": 1, "CNN_EPOCHS": 3,
              "CNN_MIN_STEPS": 10, "MAP_POINTS": 300, "QUERY": 3}

RUN = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from tlcourse.runner import run_notebook

    entry = run_notebook(Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]))
    Path(sys.argv[2], "entry.json").write_text(json.dumps(entry))
""")


def _untimed(numbers: dict) -> dict:
    # Wall-clock times are measurements, not results of the seeded computation.
    return {k: v for k, v in numbers.items() if "seconds" not in k}


def test_the_same_seed_gives_identical_notebook_metrics(tmp_path):
    notebook = NOTEBOOKS / "01_feature_extraction.ipynb"
    runs = []
    for name in ("first", "second"):  # in parallel, each with its own empty cache
        out = tmp_path / name
        out.mkdir()
        env = os.environ | {"TLCOURSE_CACHE": str(out / "cache")}
        runs.append((out, subprocess.Popen(
            [sys.executable, "-c", RUN, str(notebook), str(out), json.dumps(PARAMETERS)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
    entries = []
    for out, proc in runs:
        log, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, log.decode(errors="replace")[-3000:]
        entry = json.loads((out / "entry.json").read_text())
        assert entry["status"] == "ok", entry["error"]
        assert entry["claims"] and all(c["held"] for c in entry["claims"]), entry["claims"]
        assert entry["device"] == "cpu" and entry["metrics"]["first_call_hit"] == 0
        entries.append(entry)
    first, second = entries
    assert len(_untimed(first["metrics"])) >= 15
    assert _untimed(first["metrics"]) == _untimed(second["metrics"])
    assert ([(c["text"], _untimed(c["numbers"])) for c in first["claims"]]
            == [(c["text"], _untimed(c["numbers"])) for c in second["claims"]])
