"""Deep CORAL: match the second-order statistics (covariances) of the two domains.

Sun & Saenko, *Deep CORAL: Correlation Alignment for Deep Domain Adaptation*, ECCV 2016
workshops (https://arxiv.org/abs/1607.01719).

With ``d``-dimensional features and the covariance of each domain's batch

    C = (X^T X - (1^T X)^T (1^T X) / n) / (n - 1),

the loss is the squared Frobenius distance, scaled by the paper's ``1 / (4 d^2)``:

    L_CORAL = || C_s - C_t ||_F^2 / (4 d^2).

It has no parameters and no discriminator: cheap and stable, and blind to everything the
covariance does not capture (the means, for one: the paper relies on the classifier to
keep them in place).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CorrelationAlignmentLoss", "coral_loss", "covariance"]


def covariance(x: torch.Tensor) -> torch.Tensor:
    """The unbiased covariance matrix of the rows of ``x``.

    Shape: ``(N, d) -> (d, d)``; needs ``N >= 2``.
    """
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"covariance needs a (N >= 2, d) batch, got shape {tuple(x.shape)}")
    centred = x - x.mean(dim=0, keepdim=True)
    return centred.T @ centred / (len(x) - 1)


def coral_loss(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """``||cov(f_s) - cov(f_t)||_F^2 / (4 d^2)``, the Deep CORAL loss.

    Shape: ``f_s: (N_s, d)``, ``f_t: (N_t, d)`` -> scalar.

    Example:
        >>> x = torch.randn(50, 3)
        >>> round(coral_loss(x, x + 5.0).item(), 6)  # a shift leaves the covariance as it was
        0.0
        >>> coral_loss(x, 2 * x).item() > 0
        True
    """
    if f_s.shape[1] != f_t.shape[1]:
        raise ValueError(f"features differ in size: {f_s.shape[1]} vs {f_t.shape[1]}")
    d = f_s.shape[1]
    return (covariance(f_s) - covariance(f_t)).pow(2).sum() / (4 * d * d)


class CorrelationAlignmentLoss(nn.Module):
    """:func:`coral_loss` as a module (no parameters).

    Shape: ``f_s: (N_s, d)``, ``f_t: (N_t, d)`` -> scalar.
    """

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
        return coral_loss(f_s, f_t)
