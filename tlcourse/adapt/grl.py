"""Gradient reversal: identity on the way forward, ``-coeff x gradient`` on the way back.

Ganin & Lempitsky, *Unsupervised Domain Adaptation by Backpropagation*, ICML 2015
(https://arxiv.org/abs/1409.7495); Ganin et al., *Domain-Adversarial Training of Neural
Networks*, JMLR 2016 (https://jmlr.org/papers/v17/15-239.html).

Put between a feature extractor and a domain discriminator, the layer lets one backward pass
train the discriminator to tell the domains apart while pushing the features to make that
impossible. The papers ramp the coefficient up from 0 to 1 over training,
``coeff(p) = 2 / (1 + exp(-10 p)) - 1`` with ``p`` the fraction of training done, so the
still-random discriminator cannot disturb the features early on.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["GradientReverseFunction", "GradientReverseLayer", "WarmStartGradientReverseLayer",
           "grl_coefficient"]


class GradientReverseFunction(torch.autograd.Function):
    """``forward(x, coeff) = x``; ``backward(g) = -coeff * g`` (nothing flows to ``coeff``).

    Example:
        >>> x = torch.ones(3, requires_grad=True)
        >>> GradientReverseFunction.apply(x, 0.5).sum().backward()
        >>> x.grad
        tensor([-0.5000, -0.5000, -0.5000])
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
        ctx.coeff = float(coeff)
        return x.view_as(x)  # a new tensor, so autograd records this node

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return -ctx.coeff * grad_output, None


def grl_coefficient(progress: float, alpha: float = 10.0, lo: float = 0.0,
                    hi: float = 1.0) -> float:
    """The papers' schedule: ``lo + (hi - lo) * (2 / (1 + exp(-alpha * p)) - 1)``.

    Example:
        >>> grl_coefficient(0.0), round(grl_coefficient(1.0), 4)
        (0.0, 0.9999)
    """
    return lo + (hi - lo) * (2.0 / (1.0 + math.exp(-alpha * progress)) - 1.0)


class GradientReverseLayer(nn.Module):
    """A module around :class:`GradientReverseFunction` with a fixed ``coeff``.

    Shape: any tensor; the output has the input's shape.
    """

    def __init__(self, coeff: float = 1.0) -> None:
        super().__init__()
        self.coeff = coeff

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return GradientReverseFunction.apply(x, self.coeff)


class WarmStartGradientReverseLayer(nn.Module):
    """Gradient reversal whose coefficient follows :func:`grl_coefficient` over ``max_iters``.

    Args:
        alpha, lo, hi: the schedule (the papers: 10, 0, 1).
        max_iters: training steps after which the coefficient is (almost) ``hi``.
        auto_step: advance one step per forward call in training mode; else call
            :meth:`step` yourself.

    Shape: any tensor; the output has the input's shape.

    Example:
        >>> grl = WarmStartGradientReverseLayer(max_iters=100)
        >>> grl.coeff  # at the start: no reversal yet
        0.0
        >>> _ = grl(torch.zeros(2))  # a training step advances the schedule
        >>> round(grl.coeff, 3), round(grl.step(99), 3)  # after 1 and 100 steps
        (0.05, 1.0)
    """

    def __init__(self, alpha: float = 10.0, lo: float = 0.0, hi: float = 1.0,
                 max_iters: int = 1000, auto_step: bool = True) -> None:
        super().__init__()
        if max_iters < 1:
            raise ValueError(f"max_iters must be >= 1, got {max_iters}")
        self.alpha, self.lo, self.hi = alpha, lo, hi
        self.max_iters, self.auto_step = max_iters, auto_step
        self.iter_num = 0

    @property
    def coeff(self) -> float:
        """The coefficient at the current step."""
        progress = min(self.iter_num / self.max_iters, 1.0)
        return grl_coefficient(progress, self.alpha, self.lo, self.hi)

    def step(self, n: int = 1) -> float:
        """Advance ``n`` steps; returns the new coefficient."""
        self.iter_num += n
        return self.coeff

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coeff = self.coeff
        if self.auto_step and self.training:
            self.iter_num += 1
        return GradientReverseFunction.apply(x, coeff)
