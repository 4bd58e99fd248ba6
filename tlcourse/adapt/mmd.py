"""Multi-kernel maximum mean discrepancy (MK-MMD), the alignment loss of DAN.

Long et al., *Learning Transferable Features with Deep Adaptation Networks*, ICML 2015
(https://arxiv.org/abs/1502.02791); the MMD itself: Gretton et al., *A Kernel Two-Sample
Test*, JMLR 2012.

MMD compares two samples through a kernel ``k``: zero when the distributions are equal
(for a characteristic kernel such as the Gaussian), large when they differ. The unbiased
estimate on a source batch ``s`` (``m`` rows) and a target batch ``t`` (``n`` rows) is

    MMD^2 = 1/(m(m-1)) sum_{i != j} k(s_i, s_j) + 1/(n(n-1)) sum_{i != j} k(t_i, t_j)
            - 2/(mn) sum_{i,j} k(s_i, t_j).

DAN sums several Gaussian kernels ``k(x, y) = exp(-||x - y||^2 / (2 sigma^2))`` so that no
single bandwidth has to be right. As in the Transfer-Learning-Library's DAN, the bandwidths
are ``sigma^2 = alpha * (mean squared distance in the joint batch)`` for
``alpha in 2^-3 ... 2^1``, the kernels weigh equally (DAN learns the weights), and the
estimate is the quadratic-time one above (DAN's paper uses a linear-time version).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["DAN_ALPHAS", "MultipleKernelMMD", "gaussian_kernels", "mk_mmd"]

#: Bandwidth multipliers of the five Gaussian kernels (TLlib's DAN default).
DAN_ALPHAS = (0.125, 0.25, 0.5, 1.0, 2.0)


def gaussian_kernels(x: torch.Tensor, alphas: Sequence[float] = DAN_ALPHAS) -> torch.Tensor:
    """The sum of Gaussian kernel matrices over the rows of ``x``, one per ``alpha``.

    Each bandwidth is ``alpha * mean squared distance`` between the rows of ``x`` (the
    mean taken over all pairs, detached: the bandwidth adapts to the data, it is not
    trained).

    Shape: ``(N, d) -> (N, N)``.
    """
    sq_dist = torch.cdist(x, x).pow(2)
    scale = sq_dist.detach().mean().clamp(min=1e-12)
    return sum(torch.exp(-sq_dist / (2 * alpha * scale)) for alpha in alphas)


def mk_mmd(f_s: torch.Tensor, f_t: torch.Tensor,
           alphas: Sequence[float] = DAN_ALPHAS) -> torch.Tensor:
    """Unbiased multi-kernel MMD^2 between two batches (may be slightly negative).

    Shape: ``f_s: (m, d)``, ``f_t: (n, d)`` with ``m, n >= 2`` -> scalar.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> a, b = torch.randn(64, 2), torch.randn(64, 2)
        >>> abs(mk_mmd(a, b).item()) < 0.1, mk_mmd(a, b + 3).item() > 1
        (True, True)
    """
    m, n = len(f_s), len(f_t)
    if m < 2 or n < 2:
        raise ValueError(f"MMD needs at least 2 rows per domain, got {m} and {n}")
    k = gaussian_kernels(torch.cat([f_s, f_t]), alphas)
    k_ss, k_tt, k_st = k[:m, :m], k[m:, m:], k[:m, m:]
    # Leave out the diagonal (k(x, x)): that is what makes the estimate unbiased.
    ss = (k_ss.sum() - k_ss.diagonal().sum()) / (m * (m - 1))
    tt = (k_tt.sum() - k_tt.diagonal().sum()) / (n * (n - 1))
    return ss + tt - 2 * k_st.mean()


class MultipleKernelMMD(nn.Module):
    """:func:`mk_mmd` as a module (no parameters).

    Shape: ``f_s: (m, d)``, ``f_t: (n, d)`` -> scalar.
    """

    def __init__(self, alphas: Sequence[float] = DAN_ALPHAS) -> None:
        super().__init__()
        self.alphas = tuple(alphas)

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
        return mk_mmd(f_s, f_t, self.alphas)
