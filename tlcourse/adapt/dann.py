"""DANN: a domain discriminator and the domain-adversarial loss.

Ganin et al., *Domain-Adversarial Training of Neural Networks*, JMLR 2016
(https://jmlr.org/papers/v17/15-239.html).

A small network ``D`` learns to tell source features (label 1) from target features
(label 0). Its loss reaches the feature extractor through a gradient reversal layer, so the
same backward pass trains ``D`` to separate the domains and the features to confuse it:

    L_adv = 1/2 [ BCE(D(GRL(f_s)), 1) + BCE(D(GRL(f_t)), 0) ]    (each averaged over its batch)

The total loss is ``L_cls(source) + trade_off * L_adv`` (the paper: trade-off 1, with the
gradient-reversal coefficient ramped from 0 to 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tlcourse.adapt.grl import WarmStartGradientReverseLayer

__all__ = ["DomainAdversarialLoss", "DomainDiscriminator", "domain_adversarial_loss"]


class DomainDiscriminator(nn.Sequential):
    """Features -> one logit, "this came from the source" (TLlib's layout: 2 hidden layers).

    Args:
        in_features: size of the features it reads.
        hidden_size: width of its two hidden layers.

    Shape: ``(N, in_features) -> (N, 1)`` logits (no sigmoid: the loss applies it).

    Example:
        >>> DomainDiscriminator(64, hidden_size=32)(torch.randn(5, 64)).shape
        torch.Size([5, 1])
    """

    def __init__(self, in_features: int, hidden_size: int = 1024) -> None:
        super().__init__(
            nn.Linear(in_features, hidden_size), nn.BatchNorm1d(hidden_size), nn.ReLU(),
            nn.Linear(hidden_size, hidden_size), nn.BatchNorm1d(hidden_size), nn.ReLU(),
            nn.Linear(hidden_size, 1),
        )


def domain_adversarial_loss(logits_s: torch.Tensor, logits_t: torch.Tensor,
                            weight_s: torch.Tensor | None = None,
                            weight_t: torch.Tensor | None = None) -> torch.Tensor:
    """``(BCE(logits_s, 1) + BCE(logits_t, 0)) / 2``, each averaged over its own domain.

    Args:
        weight_s, weight_t: optional per-example weights (CDAN's entropy conditioning).

    Shape: ``logits_s: (N_s, 1)``, ``logits_t: (N_t, 1)``, weights like the logits -> scalar.
    """
    loss_s = F.binary_cross_entropy_with_logits(logits_s, torch.ones_like(logits_s), weight_s)
    loss_t = F.binary_cross_entropy_with_logits(logits_t, torch.zeros_like(logits_t), weight_t)
    return 0.5 * (loss_s + loss_t)


class DomainAdversarialLoss(nn.Module):
    """The DANN loss: discriminator behind a gradient reversal layer.

    Args:
        discriminator: e.g. :class:`DomainDiscriminator`; trained by the same optimizer as
            the model (its parameters are this module's parameters).
        grl: the reversal layer; default a :class:`WarmStartGradientReverseLayer` with the
            paper's schedule over ``max_iters`` steps.
        max_iters: the length of training, for the default schedule.

    Shape: ``f_s: (N_s, F)``, ``f_t: (N_t, F)`` -> scalar. After each call
    ``domain_accuracy`` holds the discriminator's accuracy on that batch (0.5: confused).

    Example:
        >>> loss = DomainAdversarialLoss(DomainDiscriminator(8, 16), max_iters=10)
        >>> value = loss(torch.randn(4, 8), torch.randn(6, 8))
        >>> value.shape, 0.0 <= loss.domain_accuracy <= 1.0
        (torch.Size([]), True)
    """

    def __init__(self, discriminator: nn.Module, grl: nn.Module | None = None,
                 max_iters: int = 1000) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.grl = grl if grl is not None else WarmStartGradientReverseLayer(max_iters=max_iters)
        self.domain_accuracy = float("nan")

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
        # One pass over both domains, so the discriminator's BatchNorm sees a mixed batch.
        d = self.discriminator(self.grl(torch.cat([f_s, f_t])))
        d_s, d_t = d[: len(f_s)], d[len(f_s):]
        with torch.no_grad():
            correct = (d_s > 0).sum() + (d_t <= 0).sum()
            self.domain_accuracy = correct.item() / len(d)
        return domain_adversarial_loss(d_s, d_t)
