"""Choosing a model without target labels: importance-weighted validation and DEV.

You et al., *Towards Accurate Model Selection in Deep Unsupervised Domain Adaptation*
(Deep Embedded Validation, DEV), ICML 2019 (http://proceedings.mlr.press/v97/you19a.html);
importance-weighted cross-validation: Sugiyama et al., JMLR 2007.

The target risk is an expectation over target inputs, but only source examples have
labels. If ``w(x) = p_target(x) / p_source(x)``, the target risk equals the source risk
re-weighted by ``w``. DEV estimates ``w`` with a domain classifier on the model's
features (trained on source-train vs target features, applied to held-out labelled source
features), then reduces the variance of the weighted mean with a control variate:

    L_i = w_i * loss_i,   eta = -Cov(L, w) / Var(w),
    DEV = mean(L) + eta * mean(w) - eta.

Lower is better. Among candidate models (methods, hyperparameters, epochs) pick the lowest.
"""

from __future__ import annotations

import numpy as np
import torch

from tlcourse.adapt.a_distance import _array, fit_logistic_regression

__all__ = ["density_ratio", "dev_risk"]


def density_ratio(f_train_s, f_t, f_val_s) -> np.ndarray:
    """``w(x) = p_t(x) / p_s(x)`` on ``f_val_s``, from a logistic-regression domain classifier.

    With ``d(x) = P(target | x)`` learned on source-train vs target features,
    ``w = (n_s / n_t) * d / (1 - d) = (n_s / n_t) * exp(logit)``. Source and target are not
    subsampled here: the ``n_s / n_t`` factor corrects for their sizes.

    Shape: ``(N_s, F), (N_t, F), (N_v, F) -> (N_v,)``.
    """
    f_train_s, f_t = _array(f_train_s), _array(f_t)
    predict = fit_logistic_regression(np.concatenate([f_train_s, f_t]),
                                      np.r_[np.zeros(len(f_train_s)), np.ones(len(f_t))])
    logits = np.clip(predict(f_val_s), -13.8, 13.8)  # d in [1e-6, 1 - 1e-6]
    return len(f_train_s) / len(f_t) * np.exp(logits)


def dev_risk(losses, weights) -> float:
    """The DEV estimate of the target risk from per-example source validation losses and
    their density ratios (see the module docstring).

    Shape: ``losses: (N,)``, ``weights: (N,)`` -> float.

    Example:
        >>> round(dev_risk([0.2, 0.4, 0.6], [1.0, 1.0, 1.0]), 6)  # equal weights: the plain mean
        0.4
    """
    losses, weights = _array(losses).ravel(), _array(weights).ravel()
    if losses.shape != weights.shape or len(losses) < 2:
        raise ValueError(f"need >= 2 losses and as many weights, got {losses.shape} and "
                         f"{weights.shape}")
    weighted = weights * losses
    var_w = weights.var(ddof=1)
    eta = 0.0 if var_w == 0 else -np.cov(weighted, weights)[0, 1] / var_w
    return float(weighted.mean() + eta * weights.mean() - eta)


def mean_entropy(logits: torch.Tensor) -> float:
    """Mean entropy (nats) of the softmax predictions: a label-free sign of confidence (and a
    weak selection criterion: self-training lowers it whether its labels are right or not).

    Shape: ``(N, K) -> float``.
    """
    log_p = logits.float().log_softmax(dim=1)
    return float(-(log_p.exp() * log_p).sum(dim=1).mean())
