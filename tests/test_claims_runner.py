import json
import os

import nbformat
import pytest

from tlcourse import claims
from tlcourse.runner import read_outputs, run_course, run_notebook


def test_check_raises_with_the_claim_and_its_numbers():
    claims.check("a holds", True, a=1)
    with pytest.raises(claims.ClaimFailed, match=r"features beat pixels.*features=0.4.*pixels=0.5"):
        claims.check("features beat pixels", 0.4 > 0.5, features=0.4, pixels=0.5)
    assert [c["held"] for c in claims.recorded()["claims"]] == [True, False]


def test_bounds_record_value_threshold_and_margin():
    claims.at_least("gap of 15 points", 0.25, 0.15, a=0.5)
    claims.at_most("drift under 0.1", 0.02, 0.1)
    first, second = claims.recorded()["claims"]
    assert (first["value"], first["op"], first["threshold"]) == (0.25, ">=", 0.15)
    assert first["margin"] == pytest.approx(0.10) and first["numbers"] == {"a": 0.5}
    assert (second["op"], second["margin"]) == ("<=", pytest.approx(0.08))
    assert first["held"] and second["held"]
    with pytest.raises(claims.ClaimFailed, match=r"value 0\.1 >= 0\.15, margin -0\.05"):
        claims.at_least("gap of 15 points", 0.10, 0.15)
    with pytest.raises(claims.ClaimFailed, match=r"margin -0\.1"):
        claims.at_most("drift under 0.1", 0.2, 0.1)
    failed = claims.recorded()["claims"][-1]
    assert failed["held"] is False and failed["margin"] == pytest.approx(-0.1)
    claims.at_least("exactly at the threshold holds", 0.5, 0.5)   # margin 0: held


def test_a_sweep_records_failed_claims_and_goes_on(monkeypatch):
    monkeypatch.setenv("TLCOURSE_CLAIMS", "record")
    claims.at_least("gap of 15 points", 0.10, 0.15)     # recorded, not raised
    claims.check("a fact", False)
    assert [c["held"] for c in claims.recorded()["claims"]] == [False, False]
    monkeypatch.setenv("TLCOURSE_CLAIMS", "enforce")
    with pytest.raises(claims.ClaimFailed):
        claims.check("a fact", False)


def test_bounds_refuse_nan_and_non_numbers():
    with pytest.raises(ValueError, match="finite number"):
        claims.at_least("nan", float("nan"), 0.1)
    with pytest.raises(ValueError, match="finite number"):
        claims.at_most("text", 0.1, "high")
    assert claims.recorded()["claims"] == []


def test_claims_must_be_computed_booleans():
    with pytest.raises(TypeError, match="bool"):
        claims.check("truthy is not enough", 1)


def test_record_converts_numpy_and_torch_scalars():
    import numpy as np
    import torch

    claims.record(a=np.float32(0.5), b=torch.tensor(3), c="text")
    assert claims.recorded()["metrics"] == {"a": 0.5, "b": 3, "c": "text"}
    with pytest.raises(TypeError):
        claims.record(bad=[1, 2])


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    return path


def test_run_course_reports_metrics_claims_and_failures(tmp_path):
    good = _notebook(tmp_path / "01_good.ipynb", "PROFILE = 'auto'\nX = 2",
                     "import tlcourse as tlc\nenv = tlc.setup(PROFILE)",
                     "tlc.claims.record(x=X)\ntlc.claims.check('x is two', X == 2, x=X)\n"
                     "tlc.claims.at_least('x is at least 1.5', X, 1.5)")
    bad = _notebook(tmp_path / "02_bad.ipynb", "PROFILE = 'auto'",
                    "import tlcourse as tlc",
                    "tlc.claims.check('one is two', 1 == 2)", "print('never runs')")
    out_dir = run_course([good, bad], tmp_path / "runs", profile="offline")
    report = json.loads((out_dir / "report.json").read_text())
    assert (tmp_path / "runs" / "latest" / "report.json").exists()
    assert {p.name for p in out_dir.iterdir()} >= {"report.md", "report.html", "01_good.ipynb"}
    first, second = report["notebooks"]
    assert first["status"] == "ok" and first["metrics"] == {"x": 2}
    assert first["profile"] == "offline" and first["device"] == "cpu"
    assert first["claims"] == [
        {"text": "x is two", "held": True, "value": None, "op": None, "threshold": None,
         "margin": None, "numbers": {"x": 2}},
        {"text": "x is at least 1.5", "held": True, "value": 2.0, "op": ">=", "threshold": 1.5,
         "margin": 0.5, "numbers": {}}]
    assert second["status"] == "failed" and "ClaimFailed" in second["error"]
    assert second["claims"][0]["held"] is False
    assert report["ok"] is False
    assert "**FAILED**: one is two" in (out_dir / "report.md").read_text()
    assert "x is at least 1.5 (value 2 >= 1.5, margin 0.5)" in (out_dir / "report.md").read_text()
    assert read_outputs(out_dir / "01_good.ipynb")["metrics"] == {"x": 2}


def test_a_run_whose_claims_were_not_enforced_is_marked_a_rehearsal(tmp_path, monkeypatch):
    # The switch turned on inside the kernel after setup(): setup recorded no rehearsal, but
    # the claim was not enforced, so the entry and the report must still say "rehearsal".
    monkeypatch.delenv(claims.REHEARSAL_ENV, raising=False)
    nb = _notebook(tmp_path / "01_x.ipynb", "PROFILE = 'auto'",
                   "import os\nimport tlcourse as tlc\nenv = tlc.setup(PROFILE)",
                   f"os.environ[{claims.REHEARSAL_ENV!r}] = '1'\n"
                   "tlc.claims.check('one is two', 1 == 2)")
    out_dir = run_course([nb], tmp_path / "runs", profile="offline")
    report = json.loads((out_dir / "report.json").read_text())
    entry = report["notebooks"][0]
    assert entry["status"] == "ok" and entry["claims"][0]["held"] is False
    assert entry["rehearsal"] is True and report["rehearsal"] is True
    assert (out_dir / "report.md").read_text().startswith("# Rehearsal (not results)")


@pytest.mark.skipif(os.name == "nt", reason="Windows kernels keep TCP")
def test_the_runner_talks_to_kernels_over_local_sockets_without_the_tcp_warning(tmp_path,
                                                                               capfd):
    nb = _notebook(tmp_path / "01_x.ipynb", "PROFILE = 'auto'",
                   "import json, ipykernel.connect\n"
                   "print(json.load(open(ipykernel.connect.get_connection_file()))['transport'])")
    (tmp_path / "out").mkdir()
    entry = run_notebook(nb, tmp_path / "out", {})
    assert entry["status"] == "ok", entry["error"]
    cells = json.loads((tmp_path / "out" / "01_x.ipynb").read_text())["cells"]
    assert "".join(cells[-1]["outputs"][0]["text"]).strip() == "ipc"
    assert "without encryption" not in capfd.readouterr().err


@pytest.mark.skipif(os.name == "nt", reason="Windows kernels keep TCP")
def test_two_runs_started_at_once_in_one_folder_get_their_own_sockets(tmp_path):
    """jupyter_client's default socket names (kernel-ipc-1, -2, ... in the working folder)
    collide when two runs start together there; each run must have a private folder."""
    import subprocess
    import sys

    nb = _notebook(tmp_path / "01_x.ipynb", "PROFILE = 'auto'",
                   "import json, ipykernel.connect\n"
                   "print(json.load(open(ipykernel.connect.get_connection_file()))['ip'])")
    script = ("import sys; from pathlib import Path; from tlcourse.runner import run_notebook\n"
              "e = run_notebook(Path(sys.argv[1]), Path(sys.argv[2]), {})\n"
              "assert e['status'] == 'ok', e['error']")
    procs = []
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        procs.append(subprocess.Popen([sys.executable, "-c", script, str(nb), str(tmp_path / name)],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    for proc in procs:
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, log.decode(errors="replace")[-2000:]
    ips = [json.loads((tmp_path / n / "01_x.ipynb").read_text())["cells"][-1]["outputs"][0]["text"]
           for n in ("a", "b", "c")]
    ips = ["".join(ip).strip() for ip in ips]
    assert len(set(ips)) == 3, ips
    assert all(not ip.startswith(str(tmp_path)) and os.path.isabs(ip) for ip in ips), ips
    assert not list(tmp_path.glob("kernel*")), "socket files left in the notebook's folder"
    assert not any(os.path.exists(os.path.dirname(ip)) for ip in ips), "socket folders kept"
