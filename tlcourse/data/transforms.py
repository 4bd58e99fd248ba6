"""Image transforms that match a backbone's training: size, pixel scaling, augmentation."""

from __future__ import annotations

import torch
from torchvision.transforms import v2

__all__ = ["ToRGB", "image_transform"]


class ToRGB(torch.nn.Module):
    """Repeat a single channel three times (digits into an RGB backbone)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(3, *x.shape[-2:]) if x.shape[-3] == 1 else x


def image_transform(backbone: str = "efficientnet_lite0", image_size: int = 128,
                    train: bool = False) -> v2.Compose:
    """Turn a uint8 ``(C, H, W)`` image into the backbone's normalised input.

    ``train=True`` adds light augmentation (random resized crop, horizontal flip).

    Example:
        >>> t = image_transform("efficientnet_lite0", 64)
        >>> t(torch.zeros(1, 28, 28, dtype=torch.uint8)).shape
        torch.Size([3, 64, 64])
    """
    from tlcourse.models import get_spec

    spec = get_spec(backbone)
    if image_size < spec.min_size:
        raise ValueError(f"{backbone} needs images of at least {spec.min_size} px, got "
                         f"image_size={image_size}; raise IMAGE_SIZE.")
    steps: list = [v2.ToImage(), ToRGB()]
    if train:
        steps += [v2.RandomResizedCrop(image_size, scale=(0.6, 1.0), antialias=True),
                  v2.RandomHorizontalFlip()]
    else:
        steps += [v2.Resize((image_size, image_size), antialias=True)]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(spec.mean, spec.std)]
    return v2.Compose(steps)
