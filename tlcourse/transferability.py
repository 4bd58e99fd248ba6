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
better". :func:`rank_backbones` runs one of them over named backbones of the registry
(:mod:`tlcourse.models`) on a labelled dataset: a shortlist in seconds (notebooks 05, 08).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

__all__ = ["SCORES", "Ranked", "h_score", "leep", "logme", "logme_evidence", "nce",
           "rank_backbones"]


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
    2021, Algorithm 1), for one-vs-rest targets; one SVD of the features, then a fixed-point
    iteration on ``(alpha, beta)`` for each class (their eqs. 5-6).

    With ``F = U diag(s) V^T`` (economy SVD, ``k = min(n, d)`` singular values) every quantity
    of the iteration is a sum over the ``k`` projections ``U^T y``, so a class costs ``O(k)``
    per step and the whole score one SVD: with more dimensions than examples (1,280-d
    features, a few hundred labelled images) that is far cheaper than ``F^T F``'s ``d x d``
    eigendecomposition. The ``d - k`` zero eigenvalues of ``F^T F`` still count in the
    evidence (through ``log det A``), as in :func:`logme_evidence`.

    Args:
        features: ``(n, d)`` features of the target images from one candidate model.
        labels: ``(n,)`` target class indices.
    """
    f = _array(features, "features")
    n, d = f.shape
    y = _labels(labels, n)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    sigma = s ** 2                                  # the nonzero eigenvalues of F^T F
    scores = []
    for k in range(int(y.max()) + 1):
        t = (y == k).astype(np.float64)
        x2 = (u.T @ t) ** 2                          # squared projections on U
        outside = max(float(t @ t - x2.sum()), 0.0)  # the part of t no feature can fit
        alpha, beta = 1.0, 1.0
        for _ in range(max_iter + 1):
            shrink = alpha / (alpha + beta * sigma)  # 1 - the fit's gain per direction
            gamma = float(np.sum(1.0 - shrink))
            m_norm2 = float(np.sum(beta ** 2 * sigma * x2 / (alpha + beta * sigma) ** 2))
            residual = float(np.sum(shrink ** 2 * x2)) + outside
            new_alpha = gamma / max(m_norm2, 1e-12)
            new_beta = (n - gamma) / max(residual, 1e-12)
            if abs(new_alpha - alpha) / alpha < tol and abs(new_beta - beta) / beta < tol:
                break
            alpha, beta = new_alpha, new_beta
        shrink = alpha / (alpha + beta * sigma)      # the evidence at the final (alpha, beta)
        m_norm2 = float(np.sum(beta ** 2 * sigma * x2 / (alpha + beta * sigma) ** 2))
        residual = float(np.sum(shrink ** 2 * x2)) + outside
        logdet = float(np.sum(np.log(alpha + beta * sigma))) + (d - len(sigma)) * np.log(alpha)
        evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi)
                    - beta / 2 * residual - alpha / 2 * m_norm2 - logdet / 2)
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


#: The scores by name, and what each reads: the backbone's features or its source head's
#: class probabilities.
SCORES = {"logme": ("features", logme), "h_score": ("features", h_score),
          "leep": ("probs", leep), "nce": ("probs", lambda p, y: nce(np.argmax(p, 1), y))}


@dataclass(frozen=True)
class Ranked:
    """One candidate of :func:`rank_backbones`: its score, and the seconds it cost (the
    forward pass, or the cache load, plus the score), ``cache_hit`` if features were cached."""

    name: str
    score: float
    seconds: float
    cache_hit: bool


def rank_backbones(dataset, candidates, *, image_size: int, score: str = "logme",
                   indices=None, device=None, folder=None, progress: bool = True
                   ) -> list[Ranked]:
    """Candidate backbones ranked by a transferability score on ``dataset``, best first.

    Each backbone of :data:`tlcourse.models.BACKBONES` sees the images once (through its
    own :func:`tlcourse.data.image_transform` at ``image_size``), frozen, with its ImageNet
    weights; its pooled features (``"logme"``, ``"h_score"``) or its ImageNet class
    probabilities (``"leep"``, ``"nce"``: the same features through the ImageNet head) are
    scored against the labels. Features are cached
    like :func:`tlcourse.features.extract`'s, so the probes that validate the shortlist
    afterwards load them instead of running the backbone again.

    Args:
        dataset: a labelled :class:`~tlcourse.data.ArrayDataset` (it needs ``with_transform``).
        candidates: backbone names, e.g. ``tlc.get_profile().backbones``.
        indices: score only these examples (the training split: keep the validation and
            test images out of every choice). ``None``: all.

    Example:
        >>> import torch, tlcourse as tlc
        >>> data = tlc.data.ArrayDataset(torch.zeros(4, 3, 32, 32, dtype=torch.uint8),
        ...                              [0, 1, 0, 1], ["a", "b"])
        >>> rank_backbones(data, ["nope"], image_size=32)
        Traceback (most recent call last):
        ...
        ValueError: unknown backbone 'nope'. Valid: ...
    """
    import torch
    from torch.utils.data import Subset

    from tlcourse import models
    from tlcourse.data.arrays import targets_of
    from tlcourse.data.transforms import image_transform
    from tlcourse.features import extract

    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; valid: {', '.join(SCORES)}")
    candidates = list(candidates)
    for name in candidates:
        models.get_spec(name)                      # unknown names fail before any work
    if not candidates:
        raise ValueError("rank_backbones needs at least one candidate backbone name")
    if not hasattr(dataset, "with_transform"):
        raise TypeError(f"rank_backbones needs an ArrayDataset (with_transform), got "
                        f"{type(dataset).__name__}: load it with tlc.data.load or load_folder")
    needs, fn = SCORES[score]
    labels = targets_of(dataset) if indices is None else targets_of(dataset)[np.asarray(indices)]
    ranked = []
    for name in candidates:
        start = time.perf_counter()
        model = models.load_backbone(name)
        head = models.get_head(model)              # the ImageNet classifier's last layer
        data = dataset.with_transform(image_transform(name, image_size))
        data = data if indices is None else Subset(data, np.asarray(indices))
        out, _, info = extract(models.feature_extractor(model), data, device=device,
                               folder=folder, progress=progress, return_info=True)
        if needs == "probs":                       # the same cached features, then the head
            with torch.no_grad():
                out = head(out.float()).softmax(1)
        value = fn(out.numpy().astype(np.float64), labels)
        ranked.append(Ranked(name, float(value), time.perf_counter() - start, info.hit))
    return sorted(ranked, key=lambda r: -r.score)
