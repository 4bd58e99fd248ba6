"""Run the notebooks' worked solutions in every kernel the tests start (nbval, papermill).

A learner's Run All skips the ``%%solution`` cells; the tests run them, with strict checks,
so a wrong solution fails ``make test`` (see tlcourse/exercises/solutions.py).
"""

import os

os.environ.setdefault("TLCOURSE_RUN_SOLUTIONS", "1")
