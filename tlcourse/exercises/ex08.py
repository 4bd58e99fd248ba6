"""Self-checks for notebook 08's exercises (choosing the model to transfer from)."""

from __future__ import annotations

import math

import numpy as np

from tlcourse.exercises.feedback import UNFINISHED
from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report
from tlcourse.transferability import h_score

__all__ = ["check_h_score", "check_kendall_tau", "check_winner"]


def _classes(n=60, d=5, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return rng.normal(size=(3, d))[y] * 2 + rng.normal(size=(n, d)), y


def check_h_score(fn, strict: bool = False) -> bool:
    """Check ``fn(features, labels) -> float``: ``tr(cov(f)^+ cov(E[f | y]))`` (Bao et al.)."""
    f, y = _classes()
    got, error = _call(fn, f.copy(), y.copy())
    if error:
        return _report([error], strict, "")
    expected = h_score(f, y)
    problems = []
    try:
        value = float(got)
    except (TypeError, ValueError):
        return _report([f"return one number, got {type(got).__name__}"], strict, "")
    if not math.isclose(value, expected, rel_tol=1e-4):
        hint = ("centre the features first (subtract their mean over all examples)"
                if value > expected else "replace each example's features by its class mean, "
                "then take that matrix's covariance (divide by n, the number of examples)")
        problems.append(f"got {value:.4f}, expected {expected:.4f}: {hint}")
    return _report(problems, strict, f"Right: {expected:.3f} of at most K - 1 = 2. The class "
                   "means explain most of the features' variance here.")


def check_kendall_tau(fn, strict: bool = False) -> bool:
    """Check ``fn(a, b) -> float``: Kendall's tau, (concordant - discordant) / pairs, no ties."""
    a, b = np.array([0.9, 0.7, 0.8, 0.3, 0.5]), np.array([2.0, 1.5, 0.5, -1.0, 0.1])
    got, error = _call(fn, a.copy(), b.copy())
    if error:
        return _report([error], strict, "")
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    signs = [np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in pairs]
    expected = float(np.mean(signs))
    try:
        value = float(got)
    except (TypeError, ValueError):
        return _report([f"return one number, got {type(got).__name__}"], strict, "")
    problems = []
    if not math.isclose(value, expected, abs_tol=1e-9):
        hint = (" Count each pair once (i < j) and divide by their number, n (n - 1) / 2."
                if math.isclose(value, 2 * expected, abs_tol=1e-9) or
                math.isclose(value, expected * len(pairs), abs_tol=1e-9)
                else " A pair is concordant when a and b order it the same way.")
        problems.append(f"got {value:g}, expected {expected:g}.{hint}")
    same = sum(s > 0 for s in signs)
    return _report(problems, strict, f"Right: tau = {expected:g} ({same} of {len(pairs)} pairs "
                   "in the same order). 1 is the same ranking, -1 the reverse, 0 no relation.")


def check_winner(answer, accuracy: dict, target: str, strict: bool = False) -> bool:
    """Check a guess of the candidate with the best probe accuracy on ``target``.

    ``accuracy``: candidate -> that target's probe accuracy, measured by the notebook.
    """
    if answer is None or answer is Ellipsis:
        return _report([UNFINISHED.replace("your function returned None", "the answer is None")],
                       strict, "")
    if answer not in accuracy:
        return _report([f"{answer!r} is not a candidate; choose one of {', '.join(accuracy)}"],
                       strict, "")
    best = max(accuracy, key=accuracy.get)
    problems = [] if answer == best else [
        f"on {target}, {answer!r} reached {accuracy[answer]:.1%}; {best!r} did best with "
        f"{accuracy[best]:.1%}. Which source saw images most like the target's?"]
    return _report(problems, strict, f"Right: {best} ({accuracy[best]:.1%}). Tiny scans of strokes "
                   "need no ImageNet classes: shallow or small features do as well or better.")
