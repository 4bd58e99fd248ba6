"""A lesson's numbers and conclusions, recorded where a run report can read them.

``record`` stores named metrics. A claim states a conclusion with the number it rests on
and the threshold it must reach, so the report shows how safely it held (its *margin*),
not just that it did:

- ``at_least(text, value, threshold)`` holds when ``value >= threshold``;
  margin ``value - threshold``;
- ``at_most(text, value, threshold)`` holds when ``value <= threshold``;
  margin ``threshold - value``;
- ``check(text, held)`` for exact facts with no scale (a cache hit, identical predictions).

A claim that does not hold raises :class:`ClaimFailed`, so a notebook can never say one
thing while its outputs show another. Only a measurement of the claims themselves (the
sweep) sets ``TLCOURSE_CLAIMS=record``: then a failed claim is recorded and shown as FAILED,
and the run goes on, so that every claim's margin is measured. Every call also emits a JSON
output with the MIME type :data:`MIME`, which ``tlcourse run`` reads back from the executed
notebook.

Numbers differ between machines (CPU kernels, MPS, CUDA, torch versions): a claim is only
worth making where its margin is large against that noise. ``benchmarks/sweep.py`` runs
every notebook under several seeds and two CPU kernel sets and reports the smallest margin
of each claim (``benchmarks/CLAIMS.md``).

A **rehearsal** of the full profile (``TLCOURSE_REHEARSAL=1``, set only by
``tests/test_rehearsal.py``) runs every notebook on stand-in files with random weights, which
prove nothing: claims are then evaluated, recorded and shown (marked ``rehearsal``), never
enforced, and the download code accepts the stand-ins without checksums and downloads nothing.
:func:`rehearsal` is the one place that switch is read.

Example:
    >>> import tlcourse as tlc
    >>> tlc.claims.record(acc=0.91)
    metric acc = 0.91
    >>> tlc.claims.at_least("features beat pixels by >= 15 points", 0.91 - 0.42, 0.15)
    claim held: features beat pixels by >= 15 points (value 0.49 >= 0.15, margin 0.34)
    >>> tlc.claims.check("the cache was used", True)
    claim held: the cache was used
"""

from __future__ import annotations

import math
import numbers
import os

__all__ = ["MIME", "REHEARSAL_ENV", "ClaimFailed", "at_least", "at_most", "check", "describe",
           "emit", "record", "recorded", "rehearsal", "reset"]

MIME = "application/vnd.tlcourse+json"
#: the switch of a full-profile rehearsal on stand-in files (see :func:`rehearsal`)
REHEARSAL_ENV = "TLCOURSE_REHEARSAL"
REHEARSAL_NOTE = ("REHEARSAL: stand-in data and random weights; the numbers and claims of this "
                  "run are not results")

_metrics: dict[str, float] = {}
_claims: list[dict] = []


class ClaimFailed(AssertionError):
    """A lesson's claim did not hold in this run."""


def rehearsal() -> bool:
    """True in a rehearsal of the full profile (``TLCOURSE_REHEARSAL=1``): stand-in files,
    random weights, claims recorded but not enforced, nothing downloaded, no checksums."""
    value = os.environ.get(REHEARSAL_ENV, "")
    if value not in ("", "0", "1"):
        raise ValueError(f"{REHEARSAL_ENV}={value!r}: set it to 1 (a rehearsal on stand-in "
                         "files) or leave it unset")
    return value == "1"


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


def _real(name: str, value) -> float:
    """A finite real number for a claim's value or threshold, with a clear error otherwise."""
    number = _number(name, value)
    if isinstance(number, str) or not math.isfinite(number):
        raise ValueError(f"a claim's {name} must be a finite number, got {value!r}: compute it "
                         "from this run's results (a NaN usually means an empty selection)")
    return float(number)


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


def describe(claim: dict) -> str:
    """A recorded claim's numbers as the notebook and the run report show them:
    `` (value 0.49 >= 0.15, margin 0.34; a=1)``; a fact without numbers gives ``""``."""
    parts = []
    if claim.get("margin") is not None:
        parts.append(f"value {_fmt(claim['value'])} {claim['op']} {_fmt(claim['threshold'])}, "
                     f"margin {_fmt(claim['margin'])}")
    if claim.get("numbers"):
        parts.append(", ".join(f"{k}={_fmt(v)}" for k, v in claim["numbers"].items()))
    return f" ({'; '.join(parts)})" if parts else ""


def _state(claim: dict) -> None:
    """Record, show and enforce one claim (a rehearsal records and shows it only)."""
    if rehearsal():
        claim["rehearsal"] = True
    _claims.append(claim)
    line = f"claim {'held' if claim['held'] else 'FAILED'}: {claim['text']}{describe(claim)}"
    if rehearsal():
        line = f"[rehearsal, not enforced] {line}"
    emit({"claim": claim}, line)
    if (not claim["held"] and not rehearsal()
            and os.environ.get("TLCOURSE_CLAIMS", "enforce") != "record"):
        raise ClaimFailed(line)


def _bound(text: str, value, threshold, op: str, numbers_behind: dict) -> None:
    value, threshold = _real("value", value), _real("threshold", threshold)
    margin = value - threshold if op == ">=" else threshold - value
    _state({"text": text, "held": margin >= 0, "value": value, "op": op,
            "threshold": threshold, "margin": margin,
            "numbers": {k: _number(k, v) for k, v in numbers_behind.items()}})


def at_least(text: str, value, threshold, **numbers_behind) -> None:
    """Claim ``value >= threshold``; raise :class:`ClaimFailed` if it does not hold.

    Args:
        text: the claim as the lesson says it, e.g. "features beat pixels by >= 15 points".
        value: the measured quantity, computed from this run (e.g. ``features - pixels``).
        threshold: what it must reach (e.g. ``0.15``).
        numbers_behind: the numbers the value comes from, shown and recorded with it.
    """
    _bound(text, value, threshold, ">=", numbers_behind)


def at_most(text: str, value, threshold, **numbers_behind) -> None:
    """Claim ``value <= threshold``; raise :class:`ClaimFailed` if it does not hold."""
    _bound(text, value, threshold, "<=", numbers_behind)


def check(text: str, held, **numbers_behind) -> None:
    """State an exact fact (no scale, so no margin); raise :class:`ClaimFailed` if false.

    For a conclusion that rests on a measured quantity use :func:`at_least` or
    :func:`at_most`, so the report shows how safely it held.

    Args:
        text: the claim as the lesson says it, e.g. "the second call was a cache hit".
        held: the test of the claim, computed from this run's numbers.
        numbers_behind: the numbers the claim rests on, shown and recorded with it.
    """
    if hasattr(held, "item"):
        held = held.item()
    if not isinstance(held, bool):
        raise TypeError(f"held must be a bool computed from the run, got {type(held).__name__}")
    _state({"text": text, "held": held, "value": None, "op": None, "threshold": None,
            "margin": None, "numbers": {k: _number(k, v) for k, v in numbers_behind.items()}})


def recorded() -> dict:
    """What this process recorded so far: ``{"metrics": {...}, "claims": [...]}``."""
    return {"metrics": dict(_metrics), "claims": [dict(c) for c in _claims]}


def reset() -> None:
    """Forget what was recorded (tests use it)."""
    _metrics.clear()
    _claims.clear()
