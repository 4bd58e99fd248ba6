"""AdaBN: adapt a network by recomputing its BatchNorm statistics on the target domain.

Li et al., *Revisiting Batch Normalization For Practical Domain Adaptation*, ICLR 2017
workshop (https://arxiv.org/abs/1603.04779).

A BatchNorm layer normalises with the mean and variance it saw during training: the
*source's*. On a shifted target those statistics are off, and every later layer receives
inputs it never saw. AdaBN keeps all the learned weights and only replaces each BatchNorm
layer's running mean and variance with the target's. No training, no hyperparameter, no
target label: just forward passes over unlabelled target images.

Exactness: a layer's statistics depend on the layers before it, so the layers are updated
one at a time in the order the forward pass meets them; each one's mean and (unbiased)
variance are computed over the WHOLE target set, not averaged over batches.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["adabn", "batchnorm_layers"]


class _Stop(Exception):
    """Raised inside a hook to end a forward pass early (the rest is not needed)."""


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``model`` that keeps running statistics, in registration order."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def _inputs(batch, device):
    x = batch[0] if isinstance(batch, list | tuple) else batch
    return x.to(device)


def _forward_order(model, loader, device, layers):
    order = []
    hooks = [m.register_forward_pre_hook(lambda mod, args: order.append(mod)) for m in layers]
    try:
        model(_inputs(next(iter(loader)), device))
    finally:
        for h in hooks:
            h.remove()
    return list(dict.fromkeys(order))  # first call of each layer, in order


@torch.no_grad()
def adabn(model: nn.Module, target_loader, device: torch.device | str | None = None) -> nn.Module:
    """Replace every BatchNorm layer's running statistics with the target domain's (in place).

    Args:
        model: a network with BatchNorm layers (its weights are left as they are).
        target_loader: batches of target inputs, ``x`` or ``(x, y)``; labels are ignored.
        device: where to run; default the device of the model's parameters.

    Returns:
        ``model``, in eval mode, with ``running_mean``/``running_var`` of each BatchNorm
        equal to the mean and unbiased variance of that layer's inputs over the target set.

    Shape: for a BatchNorm over ``C`` channels, the statistics are ``(C,)``; a layer's
    inputs ``(N, C, ...)`` are pooled over every dimension but ``C``.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
        >>> x = torch.randn(100, 2) * 3 + 1
        >>> _ = adabn(net, [x[:60], x[60:]])
        >>> torch.allclose(net[1].running_mean, net[0](x).mean(0), atol=1e-5)
        True
    """
    layers = batchnorm_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no BatchNorm layer: AdaBN has nothing "
                         "to adapt (use a network with BatchNorm, e.g. tlc.adapt.LeNetBN)")
    if device is None:
        device = next(model.parameters()).device
    model.eval()  # earlier layers normalise with their (already adapted) running statistics
    for layer in _forward_order(model, target_loader, device, layers):
        total = total_sq = None
        count = 0

        def accumulate(mod, args):
            nonlocal total, total_sq, count
            x = args[0].detach().double().transpose(0, 1).reshape(args[0].shape[1], -1)
            total = x.sum(1) if total is None else total + x.sum(1)
            total_sq = x.pow(2).sum(1) if total_sq is None else total_sq + x.pow(2).sum(1)
            count += x.shape[1]
            raise _Stop

        hook = layer.register_forward_pre_hook(accumulate)
        try:
            for batch in target_loader:
                try:
                    model(_inputs(batch, device))
                except _Stop:
                    pass
        finally:
            hook.remove()
        if count < 2:
            raise ValueError("AdaBN needs at least 2 target values per channel")
        mean = total / count
        var = (total_sq - count * mean.pow(2)) / (count - 1)
        layer.running_mean.copy_(mean.to(layer.running_mean.dtype))
        layer.running_var.copy_(var.clamp(min=0).to(layer.running_var.dtype))
    return model
