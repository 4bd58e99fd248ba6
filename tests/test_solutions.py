"""The %%solution cell magic: Run All skips the worked solutions, the tests run them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from tlcourse.exercises import solutions

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def shell(monkeypatch):
    monkeypatch.delenv(solutions.ENV_VAR, raising=False)
    ip = InteractiveShell.instance()
    assert solutions.register(ip)
    ip.user_ns.pop("answer", None)
    yield ip
    ip.user_ns.pop("answer", None)
    # Leave no shell behind: code run later in this process (ipywidgets' Output, for
    # one) behaves as inside a kernel whenever an IPython shell instance exists.
    InteractiveShell.clear_instance()


def _run(shell, source):
    return shell.run_cell(source, store_history=False)


@pytest.mark.parametrize("value, runs", [("", False), ("0", False), ("no", False),
                                         ("1", True), ("true", True), ("run", True)])
def test_the_environment_variable_decides(monkeypatch, value, runs):
    monkeypatch.setenv(solutions.ENV_VAR, value)
    assert solutions.run_solutions() is runs


def test_run_all_does_not_run_a_solution_and_says_so(shell, capsys):
    result = _run(shell, "%%solution\nanswer = 42\nprint('All right')")
    assert result.success
    assert "answer" not in shell.user_ns
    out = capsys.readouterr().out
    assert "not run" in out and "%%solution run" in out and "All right" not in out


def test_run_option_and_the_tests_variable_run_it(shell, monkeypatch, capsys):
    assert _run(shell, "%%solution run\nanswer = 42").success
    assert shell.user_ns["answer"] == 42
    del shell.user_ns["answer"]
    monkeypatch.setenv(solutions.ENV_VAR, "1")
    assert _run(shell, "%%solution\nanswer = 6 * 7\nprint('All right')").success
    assert shell.user_ns["answer"] == 42
    assert "All right" in capsys.readouterr().out


def test_a_failing_solution_fails_its_cell(shell, monkeypatch):
    monkeypatch.setenv(solutions.ENV_VAR, "1")
    result = _run(shell, "%%solution\nraise ValueError('wrong solution')")
    assert not result.success
    assert isinstance(result.error_in_exec, ValueError)
    assert "wrong solution" in str(result.error_in_exec)


def test_an_unknown_option_is_an_error_that_says_what_to_write(shell):
    result = _run(shell, "%%solution now\nanswer = 1")
    assert not result.success and "answer" not in shell.user_ns
    assert "%%solution run" in str(result.error_in_exec)


def test_register_outside_ipython_is_a_no_op():
    assert solutions.register(None) in (True, False)  # False in plain Python, True in a shell


@pytest.mark.notebooks
def test_notebook_00_run_all_as_a_learner_shows_feedback_not_solutions(tmp_path):
    """Notebook 00 as a learner runs it (no TLCOURSE_RUN_SOLUTIONS): every solution cell says
    only that it was not run, and every exercise keeps its 'Not yet'."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(ROOT / "notebooks" / "00_setup.ipynb", as_version=4)
    env = {k: v for k, v in os.environ.items() if k != solutions.ENV_VAR}
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)

    def text(cell):
        return "".join(o.get("text", "") for o in cell.outputs if o["output_type"] == "stream")

    code = [c for c in nb.cells if c.cell_type == "code"]
    sols = [c for c in code if "solution" in c.metadata.get("tags", [])]
    assert len(sols) == 2
    assert all(text(c).strip() == solutions.SKIPPED for c in sols), [text(c) for c in sols]
    exercises = [code[code.index(s) - 1] for s in sols]
    assert all("Not yet" in text(c) for c in exercises), [text(c) for c in exercises]
    assert json.dumps(nb)  # the executed notebook is still a valid document
