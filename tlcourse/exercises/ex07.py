"""Self-checks for notebook 07's exercises (multi-task learning)."""

from __future__ import annotations

import math

import torch

from tlcourse.exercises.feedback import UNFINISHED
from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report
from tlcourse.multitask import UncertaintyWeighting, pcgrad_project

__all__ = ["check_project", "check_uw_objective", "check_uw_weight"]


def check_project(fn, strict: bool = False) -> bool:
    """Check ``fn(g1, g2) -> (g1', g2')``: PCGrad's two-task projection (Yu et al. 2020)."""
    conflicting = (torch.tensor([1.0, 2.0, -1.0]), torch.tensor([-2.0, 0.5, 1.0]))
    agreeing = (torch.tensor([1.0, 0.0, 2.0]), torch.tensor([1.0, 1.0, 0.0]))
    problems = []
    for name, (g1, g2) in (("conflicting", conflicting), ("agreeing", agreeing)):
        got, error = _call(fn, g1.clone(), g2.clone())
        if error:
            return _report([error], strict, "")
        if not (isinstance(got, (tuple, list)) and len(got) == 2
                and all(isinstance(g, torch.Tensor) and g.shape == g1.shape for g in got)):
            problems.append("return a pair of tensors (g1', g2'), each shaped like g1")
            break
        expected = pcgrad_project([g1, g2])
        if not all(torch.allclose(a, b, atol=1e-5) for a, b in zip(got, expected, strict=True)):
            hint = ("with g1 . g2 >= 0 nothing conflicts: return both unchanged" if name ==
                    "agreeing" else "remove from g1 its component along the original g2, "
                    "(g1 . g2) / |g2|^2 * g2, and from g2 its component along the original g1")
            problems.append(f"the {name} pair came out wrong: {hint}")
    return _report(problems, strict, "Right: conflicting gradients lose the part that fights "
                   "the other task; agreeing ones pass unchanged.")


def check_uw_objective(fn, strict: bool = False) -> bool:
    """Check ``fn(losses, log_vars) -> scalar``: ``sum(exp(-s) * L + s / 2)``."""
    losses, log_vars = torch.tensor([2.3, 0.4, 0.05]), torch.tensor([0.8, -0.5, 0.0])
    got, error = _call(fn, losses.clone(), log_vars.clone())
    if error:
        return _report([error], strict, "")
    uw = UncertaintyWeighting(["a", "b", "c"])
    with torch.no_grad():
        uw.log_vars.copy_(log_vars)
    with torch.no_grad():
        expected = float(sum(uw(dict(zip("abc", losses, strict=True))).values()))
    problems = []
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        problems.append("return one number (a scalar tensor): the sum over the tasks")
    elif not math.isclose(float(got), expected, rel_tol=1e-4):
        plain = float((torch.exp(-log_vars) * losses + log_vars).sum())
        hint = (" The regulariser is s / 2 (that is log sigma), not s." if math.isclose(
            float(got), plain, rel_tol=1e-4) else " Each task: exp(-s) * L + s / 2, then sum.")
        problems.append(f"got {float(got):.4f}, expected {expected:.4f}.{hint}")
    return _report(problems, strict, "Right: a task with a large s counts less, and pays s / 2 "
                   "for it.")


def check_uw_weight(value, loss: float, strict: bool = False) -> bool:
    """Check the weight ``exp(-s)`` that minimises ``exp(-s) * loss + s / 2``: ``1 / (2 loss)``."""
    if value is None or value is Ellipsis:
        return _report([UNFINISHED.replace("your function returned None", "the answer is None")],
                       strict, "")
    expected = 1 / (2 * loss)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _report([f"give a number, got {type(value).__name__}"], strict, "")
    problems = []
    if not math.isclose(number, expected, rel_tol=1e-3):
        problems.append(f"{number:g} is not it: the derivative -exp(-s) * L + 1/2 is zero where "
                        "exp(-s) = 1 / (2 L)")
    return _report(problems, strict, f"Right: 1 / (2 * {loss:g}) = {expected:g}. For the noise "
                   f"task, L = ln 10 = 2.30 gives {1 / (2 * math.log(10)):.2f}.")
