"""Every notebook follows the course skeleton and is committed without outputs."""

import ast
import json

import pytest

from tlcourse.runner import find_notebooks
from tlcourse.skeleton import setup_cell, sync

from .conftest import NOTEBOOKS

ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
LESSONS = find_notebooks(NOTEBOOKS)


def _cells(path):
    cells = json.loads(path.read_text())["cells"]
    return [(c["cell_type"], "".join(c["source"]), c) for c in cells]


def _source(cell) -> str:
    return "".join(cell["source"])


_CLAIM_CALLS = {"check", "at_least", "at_most"}


def _claim_nodes(source):
    """``tlc.claims.<name>(...)`` calls in a code cell (cells with IPython magics: none)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr in _CLAIM_CALLS
            and ast.unparse(node.func.value) == "tlc.claims"]


def test_there_are_lessons():
    assert LESSONS and LESSONS[0].name == "00_setup.ipynb"


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_committed_without_outputs(path):
    for kind, _, cell in _cells(path):
        if kind == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_skeleton_order(path):
    cells = _cells(path)

    def first(pred):
        hits = [i for i, (kind, src, cell) in enumerate(cells) if pred(kind, src, cell)]
        assert hits, f"{path.name}: missing part of the skeleton"
        return hits[0]

    title = first(lambda k, s, c: k == "markdown" and s.startswith("# "))
    badge = first(lambda k, s, c: k == "markdown" and "colab-badge.svg" in s)
    setup = first(lambda k, s, c: k == "code" and s == setup_cell())
    params = first(lambda k, s, c: "parameters" in c["metadata"].get("tags", []))
    claims = first(lambda k, s, c: k == "code" and bool(_claim_nodes(s)))
    summary = first(lambda k, s, c: k == "markdown" and "## Summary" in s)
    exercises = first(lambda k, s, c: k == "markdown" and "## Exercises" in s)
    assert title == 0
    assert badge <= setup < params < claims < summary <= exercises, path.name
    assert any("tlc.setup(" in src for kind, src, _ in cells[params + 1:params + 3])


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_parameters_cell_holds_upper_case_settings_with_profile_auto(path):
    source = next(src for _, src, c in _cells(path)
                  if "parameters" in c["metadata"].get("tags", []))
    names = [t.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
             for t in node.targets]
    assert "PROFILE" in names and 'PROFILE = "auto"' in source
    assert all(n.isupper() for n in names), names


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_solutions_are_tagged_and_collapsed(path):
    solutions = [c for _, _, c in _cells(path) if "solution" in c["metadata"].get("tags", [])]
    assert solutions, f"{path.name} has no solution cells"
    assert all(c["metadata"].get("jupyter", {}).get("source_hidden") for c in solutions)
    # Run All skips them (the %%solution magic); the tests run them.
    first_lines = {_source(c).split("\n", 1)[0] for c in solutions}
    assert first_lines == {"%%solution"}, f"{path.name}: solution cells start {first_lines}"
    others = [c for _, _, c in _cells(path) if c["cell_type"] == "code"
              and "solution" not in c["metadata"].get("tags", [])
              and "%%solution" in _source(c)]
    assert not others, f"{path.name}: a %%solution cell is not tagged 'solution'"


def test_badges_and_setup_cells_agree_with_the_skeleton():
    assert sync(NOTEBOOKS, write=False) == []


_ORDERING = (ast.Gt, ast.GtE, ast.Lt, ast.LtE)


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_claims_about_measured_numbers_carry_their_margin(path):
    """A comparison of measured numbers is a bound (at_least/at_most), never a bare bool:
    the report must show how safely it held (``check`` is for exact facts)."""
    calls = [n for kind, src, _ in _cells(path) if kind == "code" for n in _claim_nodes(src)]
    assert calls, path.name
    for call in calls:
        if call.func.attr != "check":
            continue
        held = call.args[1] if len(call.args) > 1 else None
        compares = [n for n in ast.walk(held) if isinstance(n, ast.Compare)] if held else []
        assert not any(isinstance(op, _ORDERING) for c in compares for op in c.ops), (
            f"{path.name}: {ast.unparse(call.args[0])} compares numbers: use "
            "tlc.claims.at_least or at_most")
