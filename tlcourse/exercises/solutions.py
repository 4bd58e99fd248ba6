"""The ``%%solution`` cell magic: worked solutions that Run All does not run.

Each exercise is followed by a collapsed solution cell that starts with ``%%solution``. A
learner who presses Run All sees the exercise's own feedback ("Not yet ...") and, under the
solution, one line saying it was not run, so the answer is neither spoiled nor contradicted.
To run a solution, change its first line to ``%%solution run``.

The tests run every solution (with ``strict=True`` checks, so a wrong solution fails them):
they set the environment variable ``TLCOURSE_RUN_SOLUTIONS=1`` for the kernels they start
(the root ``conftest.py`` does it for nbval and papermill).
"""

from __future__ import annotations

import os

__all__ = ["ENV_VAR", "register", "run_solutions", "solution"]

ENV_VAR = "TLCOURSE_RUN_SOLUTIONS"

SKIPPED = ("Worked solution, not run: Run All skips solutions so that your own attempt "
           "above keeps its feedback. Expand the cell to read it; to run it, change its "
           "first line to %%solution run")


def run_solutions() -> bool:
    """True where solutions run by themselves (the tests set ``TLCOURSE_RUN_SOLUTIONS=1``)."""
    return os.environ.get(ENV_VAR, "").strip().lower() in {"1", "true", "yes", "run"}


def solution(line: str, cell: str) -> None:
    """Cell magic body: run ``cell`` when asked (``%%solution run``) or under the tests."""
    words = line.split()
    unknown = [w for w in words if w != "run"]
    if unknown:
        raise ValueError(f"%%solution takes no option but 'run' (got {' '.join(unknown)!r}); "
                         "write '%%solution run' to run this solution")
    if not (words or run_solutions()):
        print(SKIPPED)
        return
    from IPython import get_ipython

    result = get_ipython().run_cell(cell, store_history=False)
    result.raise_error()  # a failing solution fails its cell, so the tests see it


def register(shell=None) -> bool:
    """Register ``%%solution`` in the running IPython shell; False outside IPython."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    shell.register_magic_function(solution, magic_kind="cell", magic_name="solution")
    return True
