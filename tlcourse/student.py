"""Learner copies of the notebooks: the same lessons with the worked solutions removed."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["strip_solutions", "write_student_copies"]


def strip_solutions(notebook: dict) -> tuple[dict, int]:
    """The notebook without its ``solution``-tagged cells (and without outputs)."""
    cells, removed = [], 0
    for cell in notebook["cells"]:
        if "solution" in cell.get("metadata", {}).get("tags", []):
            removed += 1
            continue
        if cell["cell_type"] == "code":
            cell = {**cell, "outputs": [], "execution_count": None}
        cells.append(cell)
    return {**notebook, "cells": cells}, removed


def write_student_copies(out_dir: str | Path, folder: str | Path = "notebooks") -> dict[str, int]:
    """Write every lesson notebook to ``out_dir`` without solutions; companion
    ``*_solutions.ipynb`` notebooks are left out. Returns removed cells per notebook."""
    out_dir, folder = Path(out_dir), Path(folder)
    if out_dir.resolve() == folder.resolve():
        raise ValueError("the student copies must go to another folder than the notebooks")
    out_dir.mkdir(parents=True, exist_ok=True)
    removed = {}
    for path in sorted(folder.glob("*.ipynb")):
        if path.stem.endswith("_solutions"):
            continue
        nb, count = strip_solutions(json.loads(path.read_text()))
        (out_dir / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        removed[path.name] = count
    return removed
