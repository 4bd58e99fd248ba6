"""A lesson's numbers and conclusions, recorded where a run report can read them.

``record`` stores named metrics; ``check`` states a conclusion and the numbers behind it,
and raises :class:`ClaimFailed` when the run does not support it, so a notebook can never
say one thing while its outputs show another. Both also emit a JSON output with the MIME
type :data:`MIME`, which ``tlcourse run`` reads back from the executed notebook.

Example:
    >>> import tlcourse as tlc
    >>> tlc.claims.record(acc=0.91)
    metric acc = 0.91
    >>> tlc.claims.check("accuracy above chance", 0.91 > 0.1, acc=0.91, chance=0.1)
    claim held: accuracy above chance (acc=0.91, chance=0.1)
"""

from __future__ import annotations

import math
import numbers

__all__ = ["MIME", "ClaimFailed", "check", "emit", "record", "recorded", "reset"]

MIME = "application/vnd.tlcourse+json"

_metrics: dict[str, float] = {}
_claims: list[dict] = []


class ClaimFailed(AssertionError):
    """A lesson's claim did not hold in this run."""


def _number(name: str, value) -> float | int | str:
    if hasattr(value, "item"):  # NumPy and torch scalars
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, str):
            return value
        raise TypeError(f"{name} must be a number or a string, got {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def emit(payload: dict, text: str) -> None:
    """Show ``payload`` as a :data:`MIME` output in a notebook (plain text elsewhere)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display({MIME: payload, "text/plain": text}, raw=True)
    else:
        print(text)


def record(**metrics) -> None:
    """Record named metrics of this run, e.g. ``record(probe_acc=0.81, pixels_acc=0.42)``."""
    clean = {name: _number(name, value) for name, value in metrics.items()}
    _metrics.update(clean)
    emit({"metrics": clean}, "\n".join(f"metric {k} = {_fmt(v)}" for k, v in clean.items()))


def check(text: str, held, **numbers_behind) -> None:
    """State a conclusion; raise :class:`ClaimFailed` if ``held`` is false.

    Args:
        text: the claim as the lesson says it, e.g. "features beat pixels by >= 15 points".
        held: the test of the claim, computed from this run's numbers.
        numbers_behind: the numbers the claim rests on, shown and recorded with it.
    """
    if hasattr(held, "item"):
        held = held.item()
    if not isinstance(held, bool):
        raise TypeError(f"held must be a bool computed from the run, got {type(held).__name__}")
    nums = {name: _number(name, value) for name, value in numbers_behind.items()}
    claim = {"text": text, "held": held, "numbers": nums}
    _claims.append(claim)
    detail = ", ".join(f"{k}={_fmt(v)}" for k, v in nums.items())
    line = f"claim {'held' if held else 'FAILED'}: {text}" + (f" ({detail})" if detail else "")
    emit({"claim": claim}, line)
    if not held:
        raise ClaimFailed(line)


def recorded() -> dict:
    """What this process recorded so far: ``{"metrics": {...}, "claims": [...]}``."""
    return {"metrics": dict(_metrics), "claims": [dict(c) for c in _claims]}


def reset() -> None:
    """Forget what was recorded (tests use it)."""
    _metrics.clear()
    _claims.clear()
