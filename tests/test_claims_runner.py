import json

import nbformat
import pytest

from tlcourse import claims
from tlcourse.runner import read_outputs, run_course


def test_check_raises_with_the_claim_and_its_numbers():
    claims.check("a holds", True, a=1)
    with pytest.raises(claims.ClaimFailed, match=r"features beat pixels.*features=0.4.*pixels=0.5"):
        claims.check("features beat pixels", 0.4 > 0.5, features=0.4, pixels=0.5)
    assert [c["held"] for c in claims.recorded()["claims"]] == [True, False]


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
                     "tlc.claims.record(x=X)\ntlc.claims.check('x is two', X == 2, x=X)")
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
    assert first["claims"] == [{"text": "x is two", "held": True, "numbers": {"x": 2}}]
    assert second["status"] == "failed" and "ClaimFailed" in second["error"]
    assert second["claims"][0]["held"] is False
    assert report["ok"] is False
    assert "**FAILED**: one is two" in (out_dir / "report.md").read_text()
    assert read_outputs(out_dir / "01_good.ipynb")["metrics"] == {"x": 2}
