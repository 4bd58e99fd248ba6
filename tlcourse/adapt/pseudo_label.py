"""Self-training with confidence-thresholded pseudo-labels.

Lee, *Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method for Deep
Neural Networks*, ICML 2013 workshop (http://deeplearning.net/wp-content/uploads/2013/03/pseudo_label_final.pdf);
the confidence threshold as in Sohn et al., *FixMatch*, NeurIPS 2020
(https://arxiv.org/abs/2001.07685), whose default is 0.95.

The model labels the unlabelled target batch itself: where its top softmax probability is
at least ``threshold``, the predicted class becomes a training label,

    L_pl = 1/N sum_i [max_k p_ik >= threshold] * CE(logits_i, argmax_k p_ik),

(averaged over the whole batch, so few confident images give a small loss). The
pseudo-labels are computed without gradient: the model learns to repeat its confident
answers, which pulls the decision boundary away from dense target regions. It helps when
confident answers are mostly right; with a low threshold it learns its own mistakes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PseudoLabelLoss", "pseudo_label_loss", "pseudo_labels"]


def pseudo_labels(logits: torch.Tensor, threshold: float = 0.95):
    """``(labels, mask)``: the argmax class and whether its probability is >= ``threshold``.

    Shape: ``(N, K) -> (N,) long, (N,) bool``.

    Example:
        >>> pseudo_labels(torch.tensor([[4.0, 0.0], [0.1, 0.0]]), threshold=0.9)
        (tensor([0, 0]), tensor([ True, False]))
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    confidence, labels = logits.detach().softmax(dim=1).max(dim=1)
    return labels, confidence >= threshold


def pseudo_label_loss(logits_t: torch.Tensor, threshold: float = 0.95) -> torch.Tensor:
    """Cross-entropy to the confident pseudo-labels, averaged over the whole batch.

    Shape: ``(N, K) -> scalar``.
    """
    return PseudoLabelLoss(threshold)(logits_t)


class PseudoLabelLoss(nn.Module):
    """:func:`pseudo_label_loss` as a module; ``mask_ratio`` holds the share of the last
    batch that passed the threshold (how much target data is actually used).

    Shape: ``logits_t: (N, K)`` -> scalar.

    Example:
        >>> loss = PseudoLabelLoss(threshold=0.9)
        >>> round(loss(torch.tensor([[4.0, 0.0], [0.1, 0.0]])).item(), 4), loss.mask_ratio
        (0.0091, 0.5)
    """

    def __init__(self, threshold: float = 0.95) -> None:
        super().__init__()
        self.threshold = threshold
        self.mask_ratio = float("nan")

    def forward(self, logits_t: torch.Tensor) -> torch.Tensor:
        labels, mask = pseudo_labels(logits_t, self.threshold)
        self.mask_ratio = mask.float().mean().item()
        return (F.cross_entropy(logits_t, labels, reduction="none") * mask).mean()
