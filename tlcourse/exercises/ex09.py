"""Self-checks for notebook 09's exercises (few-shot learning)."""

from __future__ import annotations

import math

import numpy as np
import torch

from tlcourse.exercises.feedback import UNFINISHED
from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report
from tlcourse.fewshot import mean_ci, proto_logits, prototypes

__all__ = ["check_domain_guess", "check_interval", "check_prototype_logits"]


def check_prototype_logits(fn, strict: bool = False) -> bool:
    """Check ``fn(support, support_y, query, n_way) -> (n_query, n_way)`` logits: minus the
    squared Euclidean distance from each query to each class's mean support embedding."""
    gen = torch.Generator().manual_seed(0)
    support, query = torch.randn(6, 4, generator=gen), torch.randn(5, 4, generator=gen)
    support_y = torch.tensor([2, 0, 1, 0, 2, 1])          # not sorted: index by label
    got, error = _call(fn, support.clone(), support_y.clone(), query.clone(), 3)
    if error:
        return _report([error], strict, "")
    expected = proto_logits(query, prototypes(support, support_y, 3))
    got = torch.as_tensor(got, dtype=expected.dtype)
    if got.shape != expected.shape:
        return _report([f"return one row per query and one column per class, shape "
                        f"{tuple(expected.shape)}; got {tuple(got.shape)}"], strict, "")
    problems = []
    if not torch.allclose(got, expected, atol=1e-4):
        plain = -torch.cdist(query, prototypes(support, support_y, 3))
        if torch.allclose(got, -expected, atol=1e-4):
            hint = "larger logits must mean nearer: negate the distances"
        elif torch.allclose(got, plain, atol=1e-4):
            hint = "square the distances (Snell et al.'s squared Euclidean distance)"
        else:
            hint = ("class c's prototype is the mean of the support rows whose label is c "
                    "(support_y == c), whatever order they come in")
        problems.append(f"the logits differ from the expected ones: {hint}")
    return _report(problems, strict, "Right: each query is scored by how near it lies to each "
                   "class mean; its prediction is the nearest prototype.")


def check_interval(fn, strict: bool = False) -> bool:
    """Check ``fn(accuracies) -> (mean, half_width)``: the 95% normal interval of the mean."""
    accs = np.array([0.6, 0.8, 0.4, 1.0, 0.6, 0.8, 0.6, 0.4, 0.8, 0.6])
    got, error = _call(fn, accs.copy())
    if error:
        return _report([error], strict, "")
    mean, half = mean_ci(accs)
    try:
        got_mean, got_half = (float(v) for v in got)
    except (TypeError, ValueError):
        return _report(["return two numbers: (mean, half-width)"], strict, "")
    problems = []
    if not math.isclose(got_mean, mean, abs_tol=1e-9):
        problems.append(f"the mean should be {mean:.4f}, got {got_mean:.4f}")
    if not math.isclose(got_half, half, rel_tol=1e-3):
        sd0 = 1.96 * accs.std() / math.sqrt(len(accs))
        hint = ("use the sample standard deviation (ddof=1)" if math.isclose(got_half, sd0,
                                                                             rel_tol=1e-3)
                else "the half-width is 1.96 x standard deviation / sqrt(number of episodes)")
        problems.append(f"the half-width should be {half:.4f}, got {got_half:.4f}: {hint}")
    return _report(problems, strict, f"Right: {mean:.1%} ± {half:.1%}. With 600 episodes instead "
                   "of 10 the interval is sqrt(60), almost 8 times, narrower.")


def check_domain_guess(answer, accuracy: dict, strict: bool = False) -> bool:
    """Check a guess of the best method on the digits: one of ``accuracy``'s keys (method ->
    5-shot accuracy on the digits, measured by the notebook)."""
    if answer is None or answer is Ellipsis:
        return _report([UNFINISHED.replace("your function returned None", "the answer is None")],
                       strict, "")
    if answer not in accuracy:
        return _report([f"{answer!r} is not one of the methods; choose one of "
                        f"{', '.join(map(repr, accuracy))}"], strict, "")
    best = max(accuracy, key=accuracy.get)
    problems = [] if answer == best else [
        f"{answer!r} reached {accuracy[answer]:.1%} on the digits; {best!r} did best with "
        f"{accuracy[best]:.1%}. What did each representation learn from, and how far is it "
        "from a handwritten digit?"]
    return _report(problems, strict, f"Right: {best} ({accuracy[best]:.1%}). Far from the source "
                   "domain, what was learned there helps little, and can hurt.")
