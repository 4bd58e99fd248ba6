"""Which pretrained model to transfer from: scores computed before any fine-tuning.

Each score looks at one candidate model's outputs on the *target* data (its features, or its
predictions over its own source classes) and the target labels, and estimates how well the
model would transfer. Ranking candidates by a score costs one forward pass each instead of
one fine-tuning run each.

- :func:`logme` (You et al., *LogME: Practical Assessment of Pre-trained Models for Transfer
  Learning*, ICML 2021): the evidence of a Bayesian linear model on the features;
- :func:`leep` (Nguyen et al., *LEEP*, ICML 2020): the log-likelihood of a classifier that
  maps the source model's predicted source labels to target labels;
- :func:`nce` (Tran et al., *Transferability and Hardness of Supervised Classification
  Tasks*, ICCV 2019): the negative conditional entropy of target labels given the source
  model's hard predictions;
- :func:`h_score` (Bao et al., *An Information-Theoretic Approach to Transferability in Task
  Transfer Learning*, ICIP 2019): how much of the features' variance the class means explain.

All take NumPy arrays or tensors and return a float; larger means "expected to transfer
better".
"""

from __future__ import annotations

import numpy as np

__all__ = ["h_score", "leep", "logme", "logme_evidence", "nce"]


def _labels(y, n: int) -> np.ndarray:
    y = np.asarray(y).astype(np.int64).ravel()
    if y.shape != (n,):
        raise ValueError(f"need one label per example ({n}), got {y.shape[0]}")
    if y.min(initial=0) < 0:
        raise ValueError("labels must be class indices 0..K-1")
    return y


def _array(x, name: str, ndim: int = 2) -> np.ndarray:
    x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def logme_evidence(features, target, alpha: float, beta: float) -> float:
    """The log evidence ``log p(target | features, alpha, beta) / n`` of Bayesian linear
    regression with prior ``w ~ N(0, I / alpha)`` and noise precision ``beta`` (LogME's
    eq. 2), computed directly: ``A = alpha I + beta F^T F``, ``m = beta A^-1 F^T y``."""
    f = _array(features, "features")
    y = np.asarray(target, dtype=np.float64).ravel()
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    _, logdet = np.linalg.slogdet(a)
    evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi)
                - beta / 2 * np.sum((f @ m - y) ** 2) - alpha / 2 * np.sum(m ** 2)
                - logdet / 2)
    return float(evidence / n)


def logme(features, labels, max_iter: int = 100, tol: float = 1e-4) -> float:
    """LogME: the mean over classes of the maximised log evidence per example (You et al.
    2021, Algorithm 1), for one-vs-rest targets; one eigendecomposition of ``F^T F``, then a
    fixed-point iteration on ``(alpha, beta)`` for each class (their eqs. 5-6).

    Args:
        features: ``(n, d)`` features of the target images from one candidate model.
        labels: ``(n,)`` target class indices.
    """
    f = _array(features, "features")
    n, d = f.shape
    y = _labels(labels, n)
    sigma, v = np.linalg.eigh(f.T @ f)          # F^T F = V diag(sigma) V^T
    sigma = np.clip(sigma, 0.0, None)
    scores = []
    for k in range(int(y.max()) + 1):
        t = (y == k).astype(np.float64)
        proj = v.T @ (f.T @ t)                     # V^T F^T y
        alpha, beta = 1.0, 1.0
        for _ in range(max_iter):
            m_coef = beta * proj / (alpha + beta * sigma)   # m in the eigenbasis
            gamma = float(np.sum(beta * sigma / (alpha + beta * sigma)))
            m_norm2 = float(np.sum(m_coef ** 2))
            residual = float(np.sum((f @ (v @ m_coef) - t) ** 2))
            new_alpha = gamma / max(m_norm2, 1e-12)
            new_beta = (n - gamma) / max(residual, 1e-12)
            done = (abs(new_alpha - alpha) / alpha < tol and abs(new_beta - beta) / beta < tol)
            alpha, beta = new_alpha, new_beta
            if done:
                break
        m_coef = beta * proj / (alpha + beta * sigma)
        residual = float(np.sum((f @ (v @ m_coef) - t) ** 2))
        evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi)
                    - beta / 2 * residual - alpha / 2 * float(np.sum(m_coef ** 2))
                    - float(np.sum(np.log(alpha + beta * sigma))) / 2)
        scores.append(evidence / n)
    return float(np.mean(scores))


def _source_probs(probs) -> np.ndarray:
    p = _array(probs, "source probabilities")
    if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise ValueError("source probabilities must be non-negative rows that sum to 1 "
                         "(softmax of the source model's logits)")
    return p


def leep(source_probs, labels) -> float:
    """LEEP: ``1/n sum_i log sum_z P(y_i | z) theta(x_i)_z``, with ``theta(x)`` the source
    model's distribution over its source classes ``z`` and ``P(y | z)`` the empirical
    conditional from ``P(y, z) = 1/n sum_i theta(x_i)_z [y_i = y]`` (Nguyen et al. 2020,
    eqs. 1-2)."""
    p = _source_probs(source_probs)
    n = p.shape[0]
    y = _labels(labels, n)
    onehot = np.eye(int(y.max()) + 1)[y]                     # (n, K)
    joint = onehot.T @ p / n                                  # P(y, z): (K, Z)
    conditional = joint / np.clip(joint.sum(0, keepdims=True), 1e-12, None)   # P(y | z)
    eep = np.einsum("nz,nz->n", p, conditional[y])           # sum_z P(y_i|z) theta_z
    return float(np.mean(np.log(np.clip(eep, 1e-12, None))))


def nce(source_labels, labels) -> float:
    """NCE: ``-H(Y | Z) = sum_{y,z} P(y, z) log P(y | z)`` over the empirical joint of the
    target labels ``y`` and the source model's hard predictions ``z`` (Tran et al. 2019)."""
    z = np.asarray(source_labels).astype(np.int64).ravel()
    y = _labels(labels, len(z))
    joint = np.zeros((int(y.max()) + 1, int(z.max()) + 1))
    np.add.at(joint, (y, z), 1.0)
    joint /= len(z)
    pz = joint.sum(0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log(joint / pz), 0.0)
    return float(terms.sum())


def h_score(features, labels) -> float:
    """H-score: ``tr(cov(f)^+ cov(E[f | y]))`` (Bao et al. 2019, eq. 3), with the pseudo-inverse
    of the features' covariance; at most the number of classes minus one."""
    f = _array(features, "features")
    y = _labels(labels, f.shape[0])
    f = f - f.mean(0, keepdims=True)
    cov = f.T @ f / len(f)
    means = np.zeros_like(f)
    for k in np.unique(y):
        means[y == k] = f[y == k].mean(0)
    cov_means = means.T @ means / len(f)
    return float(np.trace(np.linalg.pinv(cov, rcond=1e-10, hermitian=True) @ cov_means))
