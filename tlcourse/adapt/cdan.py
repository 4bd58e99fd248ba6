"""CDAN: domain-adversarial training conditioned on the classifier's predictions.

Long et al., *Conditional Adversarial Domain Adaptation*, NeurIPS 2018
(https://arxiv.org/abs/1705.10667).

DANN aligns the feature distributions as a whole, so it may map target "3"s onto source
"8"s as long as the marginals match. CDAN gives the discriminator the features *and* the
predicted class probabilities ``g = softmax(logits)``, through their outer product
(the multilinear map ``h = g f^T``, flattened), so that aligning ``h`` aligns the joint
distribution of features and classes. With entropy conditioning (CDAN+E), confident
examples weigh more: ``w = 1 + exp(-H(g))``, normalised to mean 1.
"""

from __future__ import annotations

import torch
from torch import nn

from tlcourse.adapt.dann import domain_adversarial_loss
from tlcourse.adapt.grl import WarmStartGradientReverseLayer

__all__ = ["ConditionalDomainAdversarialLoss", "multilinear_map"]


def multilinear_map(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The flattened outer product of each row's ``g`` and ``f``: ``h[i] = vec(g_i f_i^T)``.

    Shape: ``f: (N, F)``, ``g: (N, C)`` -> ``(N, C * F)``.

    Example:
        >>> multilinear_map(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.5, 3.0]]))
        tensor([[0.5000, 1.0000, 3.0000, 6.0000]])
    """
    return torch.einsum("nc,nf->ncf", g, f).flatten(1)


class ConditionalDomainAdversarialLoss(nn.Module):
    """The CDAN loss: a discriminator on ``multilinear_map(f, softmax(logits))`` behind a
    gradient reversal layer.

    Args:
        discriminator: reads ``C * F`` inputs, e.g. ``DomainDiscriminator(C * F)``.
        grl: default :class:`WarmStartGradientReverseLayer` over ``max_iters`` steps.
        entropy_conditioning: weigh examples by ``1 + exp(-entropy)`` (CDAN+E).

    Shape: ``logits_s: (N_s, C)``, ``f_s: (N_s, F)``, same for the target -> scalar.
    ``domain_accuracy`` holds the discriminator's accuracy on the last batch.

    Example:
        >>> from tlcourse.adapt.dann import DomainDiscriminator
        >>> loss = ConditionalDomainAdversarialLoss(DomainDiscriminator(3 * 4, 8))
        >>> loss(torch.randn(5, 3), torch.randn(5, 4), torch.randn(5, 3), torch.randn(5, 4)).shape
        torch.Size([])
    """

    def __init__(self, discriminator: nn.Module, grl: nn.Module | None = None,
                 max_iters: int = 1000, entropy_conditioning: bool = False) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.grl = grl if grl is not None else WarmStartGradientReverseLayer(max_iters=max_iters)
        self.entropy_conditioning = entropy_conditioning
        self.domain_accuracy = float("nan")

    def forward(self, logits_s: torch.Tensor, f_s: torch.Tensor, logits_t: torch.Tensor,
                f_t: torch.Tensor) -> torch.Tensor:
        # The predictions condition the discriminator; no gradient flows back through them.
        g = torch.cat([logits_s, logits_t]).softmax(dim=1).detach()
        h = multilinear_map(torch.cat([f_s, f_t]), g)
        d = self.discriminator(self.grl(h))
        n = len(f_s)
        weight = None
        if self.entropy_conditioning:
            entropy = -(g * g.clamp(min=1e-12).log()).sum(dim=1, keepdim=True)
            weight = 1.0 + torch.exp(-entropy)
            weight = weight / weight.mean()
        with torch.no_grad():
            self.domain_accuracy = ((d[:n] > 0).sum() + (d[n:] <= 0).sum()).item() / len(d)
        return domain_adversarial_loss(d[:n], d[n:], None if weight is None else weight[:n],
                                       None if weight is None else weight[n:])
