"""Self-checks for notebook 04's exercises (unsupervised transfer)."""

from __future__ import annotations

import numpy as np
import torch

from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report

__all__ = ["check_knn_accuracy", "check_nt_xent", "check_purity"]


def check_nt_xent(fn, strict: bool = False) -> bool:
    """Check ``fn(z1, z2, temperature)`` against :func:`tlcourse.ssl.nt_xent`."""
    from tlcourse.ssl import nt_xent

    gen = torch.Generator().manual_seed(4)
    problems = []
    for n, d, tau in [(3, 5, 0.5), (6, 8, 0.2)]:
        z1, z2 = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
        got, error = _call(fn, z1, z2, tau)
        if error:
            return _report([error], strict, "")
        expected = float(nt_xent(z1, z2, tau))
        if not np.isclose(float(got), expected, rtol=1e-4, atol=1e-5):
            problems.append(f"for N={n} pairs of {d}-d vectors at temperature {tau} you returned "
                            f"{float(got):.4f}, expected {expected:.4f}. Hints: normalise the "
                            "vectors (cosine similarity), leave k = i out of the sum, the partner "
                            "of view i is view i + N (and back), and average over all 2N views")
            break
    return _report(problems, strict, "Right: your loops give SimCLR's NT-Xent loss.")


def check_knn_accuracy(fn, strict: bool = False) -> bool:
    """Check ``fn(f_train, y_train, f_test, y_test, k)``: cosine kNN accuracy by majority vote."""
    f_train = torch.tensor([[1.0, 0.0], [0.9, 0.2], [0.8, -0.1], [0.0, 1.0], [0.1, 0.9],
                            [-1.0, 0.1]])
    y_train = torch.tensor([0, 0, 1, 1, 1, 2])
    f_test = torch.tensor([[2.0, 0.1], [0.2, 3.0], [-0.9, 0.0], [0.7, 0.7]])
    y_test = torch.tensor([0, 1, 2, 1])
    # Computed by hand and with tlcourse.features.knn_predict (cosine, majority vote).
    cases = [(1, 0.75), (3, 0.75)]  # no ties among the votes
    problems = []
    for k, expected in cases:
        got, error = _call(fn, f_train, y_train, f_test, y_test, k)
        if error:
            return _report([error], strict, "")
        if got is None or not np.isclose(float(got), expected):
            problems.append(f"with k={k} on a 6-point toy set you returned {got}, expected "
                            f"{expected}. Hints: cosine similarity (normalise both sides), the "
                            "k MOST similar training points, the majority class among them")
    return _report(problems, strict, "Right: a kNN classifier needs no training at all.")


def check_purity(fn, strict: bool = False) -> bool:
    """Check ``fn(clusters, labels)``: the cluster purity of a grouping."""
    clusters = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 5])
    labels = np.array([3, 3, 1, 0, 0, 2, 1, 2, 2, 7])
    expected = (2 + 2 + 3 + 1) / 10
    got, error = _call(fn, clusters, labels)
    if error:
        return _report([error], strict, "")
    problems = [] if got is not None and np.isclose(float(got), expected) else [
        f"for a toy grouping you returned {got}, expected {expected}. Hint: count, per cluster, "
        "the items of its most common label; add up; divide by all items"]
    if not problems:
        got, _ = _call(fn, labels, labels)
        if got is None or not np.isclose(float(got), 1.0):
            problems.append("grouping the items by their own labels must give a purity of 1")
    return _report(problems, strict, "Right: purity is easy to read but rewards many small "
                                     "clusters, which is why NMI and ARI exist.")
