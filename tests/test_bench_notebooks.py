"""benchmarks/bench_notebooks.py reads a course run's report; a rehearsal's is not one."""

import json

from benchmarks import bench_notebooks, common


def test_a_rehearsal_report_is_not_recorded_as_notebook_times(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path / "RESULTS.md")
    entry = {"name": "00_setup", "profile": "full", "device": "cpu", "wall_seconds": 9.0,
             "status": "ok"}
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"created": "x", "rehearsal": True, "notebooks": [entry]}))
    result = bench_notebooks.main(report)
    assert result["verdict"] == "not measured"
    assert "is a full-profile rehearsal" in (tmp_path / "RESULTS.md").read_text()
    report.write_text(json.dumps({"created": "x", "rehearsal": False, "notebooks": [entry]}))
    assert bench_notebooks.main(report)["verdict"] == "recorded"
    assert "| 00_setup | full | cpu | 9.0 | ok |" in (tmp_path / "RESULTS.md").read_text()
