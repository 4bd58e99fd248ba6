"""Self-checks for notebook 10's exercises (lifelong learning)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from tlcourse.continual import EWC, continual_metrics
from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report

__all__ = ["check_backward_transfer", "check_ewc_penalty", "check_pick"]


def check_ewc_penalty(fn, strict: bool = False) -> bool:
    """Check ``fn(model, anchor, fisher, lam) -> scalar``: EWC's penalty."""
    torch.manual_seed(10)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fisher = {k: torch.rand_like(p) for k, p in model.named_parameters()}
    ewc = EWC(lam=7.0)
    ewc.consolidate(model, fisher)
    anchor = {k: v.clone() for k, v in ewc.tasks[0][0].items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    expected = float(ewc(model).detach())
    got, error = _call(fn, model, anchor, fisher, 7.0)
    if error:
        return _report([error], strict, "")
    problems = []
    try:
        value = float(got.detach() if isinstance(got, torch.Tensor) else got)
    except (TypeError, ValueError):
        return _report([f"return one number (a scalar tensor), got {type(got).__name__}"],
                       strict, "")
    if not math.isclose(value, expected, rel_tol=1e-4):
        hint = (" Did you forget the 1/2?" if math.isclose(value, 2 * expected, rel_tol=1e-4)
                else " Weight each squared difference by its Fisher value, sum, then times "
                "lam / 2.")
        problems.append(f"got {value:.4f}, expected {expected:.4f}.{hint}")
    elif isinstance(got, torch.Tensor) and not got.requires_grad:
        problems.append("the value is right, but it carries no gradient: compute it from the "
                        "model's parameters, not from detached copies")
    return _report(problems, strict, "Right: weights that mattered (large Fisher) are pulled "
                   "back hardest.")


def check_backward_transfer(fn, strict: bool = False) -> bool:
    """Check ``fn(matrix) -> float``: the mean of ``R[T-1, j] - R[j, j]`` over ``j < T-1``."""
    matrix = np.array([[0.9, 0.1, 0.0], [0.7, 0.95, 0.2], [0.4, 0.8, 0.97]])
    got, error = _call(fn, matrix.copy())
    if error:
        return _report([error], strict, "")
    expected = continual_metrics(matrix)["bwt"]
    problems = []
    try:
        value = float(got)
    except (TypeError, ValueError):
        return _report([f"return one number, got {type(got).__name__}"], strict, "")
    if not math.isclose(value, expected, rel_tol=1e-6):
        with_last = float(np.mean([matrix[-1, j] - matrix[j, j] for j in range(3)]))
        hint = (" Leave out the last task: it was never followed by another."
                if math.isclose(value, with_last, rel_tol=1e-6) else
                " For each earlier task j: last row's R[-1, j] minus the diagonal R[j, j].")
        problems.append(f"got {value:.4f}, expected {expected:.4f}.{hint}")
    return _report(problems, strict, f"Right: {expected:.3f}, negative: the first two tasks "
                   "were partly forgotten.")


def check_pick(fn, strict: bool = False) -> bool:
    """Check ``fn(labels, per_class, seed) -> indices``: a class-balanced random selection."""
    labels = np.array([0] * 10 + [1] * 2 + [2] * 7)
    got, error = _call(fn, labels.copy(), 3, 0)
    if error:
        return _report([error], strict, "")
    idx = np.asarray(got).ravel()
    problems = []
    if idx.dtype.kind not in "iu":
        problems.append(f"return integer indices, got {idx.dtype}")
    elif len(set(idx.tolist())) != len(idx):
        problems.append("an index appears twice: choose without replacement")
    elif idx.min(initial=0) < 0 or idx.max(initial=0) >= len(labels):
        problems.append("an index is outside the labels")
    else:
        counts = {c: int((labels[idx] == c).sum()) for c in (0, 1, 2)}
        if counts != {0: 3, 1: 2, 2: 3}:
            problems.append(f"per class you picked {counts}; expected 3, 2 (all it has) and 3")
        again, _ = _call(fn, labels.copy(), 3, 0)
        if again is not None and sorted(np.asarray(again).ravel().tolist()) != sorted(idx.tolist()):
            problems.append("the same seed gave another selection: use np.random.default_rng(seed)")
    return _report(problems, strict, "Right: every class keeps a few examples, chosen at random.")
