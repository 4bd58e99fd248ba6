"""The tlcourse command: doctor, fetch, run's argument checks."""

import pytest

from tlcourse.cli import main


def test_doctor_checks_the_offline_assets_and_weights(capsys):
    assert main(["doctor", "--profile", "offline"]) == 0
    out = capsys.readouterr().out
    assert "[ ok ] embedded datasets" in out and "cat photo -> " in out
    assert all(f"{v} Egyptian cat" in out or f"{v} tabby" in out or f"{v} tiger cat" in out
               for v in ("lite0", "lite1", "lite2"))
    assert "[FAIL]" not in out


def test_doctor_passes_without_papermill_as_on_colab(capsys, monkeypatch):
    """Colab's install leaves out the `course` extra: no papermill, and doctor still passes."""
    import builtins

    real_import = builtins.__import__

    def no_papermill(name, *args, **kwargs):
        if name == "papermill":
            raise ImportError("No module named 'papermill'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_papermill)
    assert main(["doctor", "--profile", "offline"]) == 0
    out = capsys.readouterr().out
    assert "papermill is not installed; only `tlcourse run` needs it" in out
    assert "tlcourse[course]" in out and "[FAIL]" not in out


def test_fetch_offline_profile_needs_no_network(capsys, monkeypatch):
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    assert main(["fetch", "--profile", "offline"]) == 0
    out = capsys.readouterr().out
    assert "to download: 0 asset(s)" in out
    assert "[ ok ] weights efficientnet_lite0: present" in out
    assert "[ ok ] embedded clipart: checksums match" in out        # data/SHA256SUMS
    assert "[ ok ] embedded vader: checksums match" in out          # the tweets
    assert "[ ok ] encoder all-MiniLM-L6-v2: present" in out and "[FAIL]" not in out


def test_fetch_full_profile_without_network_says_what_to_do(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    assert main(["fetch", "--profile", "full"]) == 2
    assert "tlcourse fetch --profile full" in capsys.readouterr().err


def test_run_rejects_an_unknown_profile_before_running_anything(capsys, tmp_path):
    assert main(["run", "--profile", "fulll", "--runs", str(tmp_path)]) == 2
    assert "Did you mean 'full'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_subcommand_is_required():
    with pytest.raises(SystemExit):
        main([])


def test_student_copies_have_no_solutions_but_keep_the_exercises(tmp_path, capsys):
    import json

    from .conftest import NOTEBOOKS

    assert main(["student", str(tmp_path), "--folder", str(NOTEBOOKS)]) == 0
    source = json.loads((NOTEBOOKS / "00_setup.ipynb").read_text())
    copy = json.loads((tmp_path / "00_setup.ipynb").read_text())
    solutions = [c for c in source["cells"] if "solution" in c["metadata"].get("tags", [])]
    assert solutions
    assert len(copy["cells"]) == len(source["cells"]) - len(solutions)
    assert not any("solution" in c["metadata"].get("tags", []) for c in copy["cells"])
    assert any("check_transfer_kinds(answers)" in "".join(c["source"]) for c in copy["cells"])
    assert "00_setup.ipynb: 2 solution cell(s) removed" in capsys.readouterr().out
    assert main(["student", str(NOTEBOOKS), "--folder", str(NOTEBOOKS)]) == 2
    assert "another folder" in capsys.readouterr().err
