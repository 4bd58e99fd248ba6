"""How far apart two domains are, as seen by a classifier: the proxy A-distance.

Ben-David et al., *Analysis of Representations for Domain Adaptation*, NeurIPS 2006
(https://papers.nips.cc/paper/2983-analysis-of-representations-for-domain-adaptation);
used to measure adaptation in Ganin et al., JMLR 2016, section 5.1.

Train a classifier to tell source features from target features; test it on held-out
features of both domains. With its test error ``err``,

    PAD = 2 (1 - 2 err):

0 when it can do no better than chance (the domains look alike), 2 when it never errs.
No class label of either domain is used. The classifier is an L2-regularised logistic
regression on standardised features, fitted with L-BFGS in float64 (deterministic, and
in torch, so it runs on the threads torch is given).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["domain_classifier_accuracy", "fit_logistic_regression", "proxy_a_distance"]


def _array(f) -> np.ndarray:
    f = f.detach().cpu().numpy() if hasattr(f, "detach") else f  # torch tensors too
    return np.asarray(f, dtype=np.float64)


def fit_logistic_regression(x, y, l2: float = 1e-3, max_iter: int = 200):
    """A binary logistic regression on standardised ``x``; returns ``predict_logit(x_new)``.

    Minimises ``mean BCE + l2 * ||w||^2`` (the bias is not penalised) with L-BFGS.

    Shape: ``x: (N, d)``, ``y: (N,)`` in {0, 1} -> a function ``(M, d) -> (M,)`` logits.

    Example:
        >>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
        >>> (fit_logistic_regression(x, y)(x) > 0).tolist()
        [False, False, True, True]
    """
    x = torch.as_tensor(_array(x))
    y = torch.as_tensor(np.asarray(y), dtype=torch.float64)
    mean, std = x.mean(0), x.std(0).clamp(min=1e-12)
    z = (x - mean) / std
    w = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(z @ w + b, y) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w, b = w.detach(), b.detach()
    return lambda x_new: ((torch.as_tensor(_array(x_new)) - mean) / std @ w + b).numpy()


def domain_classifier_accuracy(f_s, f_t, seed: int = 0, test_fraction: float = 0.5) -> float:
    """Held-out accuracy of a logistic regression telling ``f_s`` (source) from ``f_t``.

    Both domains are subsampled to the same size (chance is then 0.5) and split into a
    training and a test part, each with both domains in equal numbers.

    Shape: ``f_s: (N_s, d)``, ``f_t: (N_t, d)`` arrays or tensors -> float.
    """
    f_s, f_t = _array(f_s), _array(f_t)
    n = min(len(f_s), len(f_t))
    if n < 4:
        raise ValueError(f"need at least 4 examples per domain, got {len(f_s)} and {len(f_t)}")
    rng = np.random.default_rng(seed)
    parts = [f[rng.permutation(len(f))[:n]] for f in (f_s, f_t)]
    n_test = max(1, round(n * test_fraction))
    x_train = np.concatenate([p[n_test:] for p in parts])
    x_test = np.concatenate([p[:n_test] for p in parts])
    predict = fit_logistic_regression(x_train, np.repeat([1, 0], n - n_test))
    return float(((predict(x_test) > 0) == np.repeat([True, False], n_test)).mean())


def proxy_a_distance(f_s, f_t, seed: int = 0, test_fraction: float = 0.5) -> float:
    """``2 (1 - 2 err)`` of :func:`domain_classifier_accuracy`, in [0, 2].

    An error above 0.5 counts as 0.5 (a classifier worse than chance is chance).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> same = proxy_a_distance(rng.normal(size=(400, 5)), rng.normal(size=(400, 5)))
        >>> apart = proxy_a_distance(rng.normal(size=(400, 5)), rng.normal(3, 1, (400, 5)))
        >>> same < 0.3, apart > 1.9
        (True, True)
    """
    err = 1.0 - domain_classifier_accuracy(f_s, f_t, seed, test_fraction)
    return 2.0 * (1.0 - 2.0 * min(err, 0.5))
