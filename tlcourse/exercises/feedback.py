"""How every self-check answers: what is right, what is wrong, and a hint why."""

from __future__ import annotations

__all__ = ["UNFINISHED", "call", "report"]

#: What every check says of a function the learner has not written yet (it returns None, or
#: its body is still ``...``).
UNFINISHED = "your function returned None: replace the ... with your code"


def report(problems: list[str], strict: bool, ok_message: str) -> bool:
    """Print the feedback; return ``True`` when there are no problems.

    With ``strict=True`` (the solutions use it, and the tests run the solutions) a
    problem raises ``AssertionError`` instead, so a wrong solution fails the test.
    """
    if problems:
        text = "Not yet:\n" + "\n".join(f"  - {p}" for p in problems)
        if strict:
            raise AssertionError(text)
        print(text)
        return False
    print(ok_message)
    return True


def call(fn, *args):
    """``(fn(*args), None)``, or ``(None, message)`` when the learner's ``fn`` raised or is not
    written yet (it returned None or ``...``: the message is :data:`UNFINISHED`)."""
    try:
        value = fn(*args)
    except Exception as err:  # feedback for the learner, not a crash
        return None, f"your function raised {type(err).__name__}: {err}"
    if value is None or value is Ellipsis:
        return None, UNFINISHED
    return value, None
