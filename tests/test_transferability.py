"""tlcourse.transferability: LogME against a direct maximisation of its evidence, LEEP and NCE
against their definitions written out, H-score against cases with a known value."""

import numpy as np
import pytest
from scipy.optimize import minimize

from tlcourse import transferability as tr


def _data(n=120, d=6, k=3, signal=2.0, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = rng.normal(size=(k, d)) * signal
    return centres[y] + rng.normal(size=(n, d)), y


def _maximised_evidence(f, y):
    """LogME written out: the evidence maximised numerically per one-vs-rest class, averaged."""
    best = []
    for k in range(int(y.max()) + 1):
        t = (y == k).astype(float)
        result = minimize(lambda p, t=t: -tr.logme_evidence(f, t, np.exp(p[0]), np.exp(p[1])),
                          x0=[0.0, 0.0], method="Nelder-Mead",
                          options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 6000})
        best.append(-result.fun)
    return np.mean(best)


def test_logme_is_the_maximised_evidence_averaged_over_classes():
    f, y = _data()
    assert tr.logme(f, y) == pytest.approx(_maximised_evidence(f, y), abs=1e-5)


def test_logme_counts_the_zero_eigenvalues_of_wide_low_rank_features():
    # 40 examples of 90-d features of rank 8 (as when a few hundred images meet 1,280-d
    # features): F^T F has 82 zero eigenvalues, which still count in log det A. (Full-rank
    # features with d >= n fit any target exactly, and the evidence then peaks at infinite
    # noise precision: no finite optimum to compare with.)
    f, y = _data(n=40, d=8, seed=3)
    f = f @ np.random.default_rng(4).normal(size=(8, 90))
    assert tr.logme(f, y, tol=1e-8) == pytest.approx(_maximised_evidence(f, y), abs=1e-5)


def test_logme_and_h_score_prefer_features_that_separate_the_classes():
    good, y = _data(signal=3.0)
    noise = np.random.default_rng(1).normal(size=good.shape)
    assert tr.logme(good, y) > tr.logme(noise, y) + 0.1
    assert tr.h_score(good, y) > tr.h_score(noise, y) + 0.5


def _leep_loop(p, y):
    n, nz = p.shape
    k = y.max() + 1
    joint = np.zeros((k, nz))
    for i in range(n):
        joint[y[i]] += p[i] / n
    cond = joint / joint.sum(0)
    return np.mean([np.log(sum(cond[y[i], z] * p[i, z] for z in range(nz))) for i in range(n)])


def test_leep_matches_its_definition_written_out():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(50, 7))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = rng.integers(0, 4, 50)
    assert tr.leep(p, y) == pytest.approx(_leep_loop(p, y), abs=1e-12)
    # a source model whose predictions determine the target label scores near 0 (log 1)
    informative = np.eye(4)[y] * 0.96 + 0.01
    assert tr.leep(informative, y) > tr.leep(p, y)
    assert tr.leep(informative, y) > -0.1


def test_nce_is_minus_the_conditional_entropy():
    y = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    assert tr.nce(y + 5, y) == pytest.approx(0.0)               # z determines y: H(Y|Z) = 0
    z = np.zeros(8, dtype=int)                                  # z says nothing: -H(Y)
    py = np.bincount(y) / 8
    assert tr.nce(z, y) == pytest.approx(float(np.sum(py * np.log(py))))
    z = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    expected = 0.0
    for zz in (0, 1):
        ys = y[z == zz]
        pyz = np.bincount(ys, minlength=3) / len(ys)
        expected += len(ys) / 8 * sum(q * np.log(q) for q in pyz if q > 0)
    assert tr.nce(z, y) == pytest.approx(expected)


def test_h_score_of_one_hot_features_is_the_number_of_classes_minus_one():
    y = np.repeat([0, 1, 2, 3], 10)
    assert tr.h_score(np.eye(4)[y], y) == pytest.approx(3.0, abs=1e-8)


def test_bad_input_says_what_was_wrong():
    f, y = _data()
    with pytest.raises(ValueError, match="one label per example"):
        tr.logme(f, y[:-1])
    with pytest.raises(ValueError, match="NaN or infinite"):
        tr.h_score(np.full((4, 2), np.nan), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="sum to 1"):
        tr.leep(np.ones((4, 3)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="2 dimensions"):
        tr.logme(np.ones(5), [0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="class indices"):
        tr.nce([0, 1], [-1, 0])
