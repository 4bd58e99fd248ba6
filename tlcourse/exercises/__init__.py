"""Self-checks for the exercises, one module per notebook: ``tlc.exercises.ex00``.

Each check prints feedback (what is right, what is wrong, a hint why) and returns ``True``
when everything is right; with ``strict=True`` (used by the solutions, which the tests run)
a wrong answer raises. The solutions start with the ``%%solution`` cell magic
(:mod:`tlcourse.exercises.solutions`): Run All skips them, the tests run them.
"""

import importlib

__all__ = ["feedback", "solutions"]


def __getattr__(name: str):
    # ex00, ex01, ... load on first use, so each lesson's module stays independent.
    if name.startswith("ex") or name in ("feedback", "solutions"):
        return importlib.import_module(f"tlcourse.exercises.{name}")
    raise AttributeError(f"module 'tlcourse.exercises' has no attribute {name!r}")
