"""A small LeNet-style CNN with BatchNorm, for digits trained from scratch.

LeCun et al., *Gradient-Based Learning Applied to Document Recognition*, Proc. IEEE 1998
(the layout: two 5x5 convolutions with pooling, then fully connected layers); BatchNorm
after each layer (Ioffe & Szegedy, ICML 2015) so that AdaBN has statistics to adapt.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LeNetBN"]


class LeNetBN(nn.Module):
    """conv5-BN-ReLU-pool, conv5-BN-ReLU-pool, fc-BN-ReLU (the features), fc (the head).

    Args:
        num_classes: outputs of the head.
        in_channels: 1 for grayscale digits.
        image_size: side of the square input; a multiple of 4.
        widths: channels of the two convolutions.
        feature_dim: size of the feature vector the adaptation losses align.

    Shape: ``(N, in_channels, image_size, image_size) -> (N, num_classes)`` logits;
    :meth:`features` gives ``(N, feature_dim)``.

    Example:
        >>> model = LeNetBN(image_size=16)
        >>> model(torch.zeros(2, 1, 16, 16)).shape, model.features(torch.zeros(2, 1, 16, 16)).shape
        (torch.Size([2, 10]), torch.Size([2, 64]))
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 16,
                 widths: tuple[int, int] = (16, 32), feature_dim: int = 64) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two 2x2 poolings), "
                             f"got {image_size}")
        c1, c2 = widths
        self.feature_dim = feature_dim
        self.backbone = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=2), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * (image_size // 4) ** 2, feature_dim), nn.BatchNorm1d(feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The ``feature_dim`` vector before the head: what adaptation aligns."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))
