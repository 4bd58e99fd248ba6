"""Learning-rate schedules stepped once per batch: warm-up + cosine, and one-cycle.

Fine-tuning starts from weights that already work, so the first steps matter: a short
linear **warm-up** keeps the large, noisy early gradients of a fresh head from wrecking
the pretrained features, and a **cosine** decay lets training settle at the end
(Loshchilov & Hutter, *SGDR*, https://arxiv.org/abs/1608.03983; Goyal et al., *Accurate,
Large Minibatch SGD*, https://arxiv.org/abs/1706.02677). **One-cycle** (Smith & Topin,
https://arxiv.org/abs/1708.07120) warms up to a peak and anneals far below the start.

Every schedule scales each parameter group's own learning rate, so discriminative rates
(:func:`tlcourse.models.param_groups`) keep their ratios throughout.

Example:
    >>> import torch
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = warmup_cosine(opt, total_steps=10, warmup_steps=2)
    >>> lrs = []
    >>> for _ in range(10):
    ...     lrs.append(round(opt.param_groups[0]["lr"], 4))
    ...     opt.step(); sched.step()
    >>> lrs
    [0.0, 0.5, 1.0, 0.9619, 0.8536, 0.6913, 0.5, 0.3087, 0.1464, 0.0381]
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

__all__ = ["SCHEDULES", "cosine_factor", "make_scheduler", "one_cycle", "warmup_cosine"]


def cosine_factor(step: int, total_steps: int, warmup_steps: int = 0,
                  final_ratio: float = 0.0) -> float:
    """The multiplier of the base learning rate at ``step`` (0-based) of warm-up + cosine.

    Linear from 0 to 1 over ``warmup_steps``, then a half cosine from 1 down to
    ``final_ratio`` at ``total_steps``.

    Example:
        >>> [cosine_factor(s, 4) for s in range(5)]
        [1.0, 0.8535533905932737, 0.5, 0.14644660940672627, 0.0]
    """
    if step < warmup_steps:
        return step / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _check_steps(total_steps: int, warmup_steps: int) -> None:
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}), "
                         f"got {warmup_steps!r}")


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0,
                  final_ratio: float = 0.0) -> LambdaLR:
    """Linear warm-up then cosine decay, per batch, for every parameter group."""
    _check_steps(total_steps, warmup_steps)
    return LambdaLR(optimizer, lambda step: cosine_factor(step, total_steps, warmup_steps,
                                                          final_ratio))


def one_cycle(optimizer: torch.optim.Optimizer, total_steps: int, pct_start: float = 0.3,
              div_factor: float = 25.0, final_div_factor: float = 1e4) -> OneCycleLR:
    """One-cycle policy peaking at each group's current learning rate (its ``max_lr``)."""
    _check_steps(total_steps, 0)
    max_lr = [group["lr"] for group in optimizer.param_groups]
    return OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
                      div_factor=div_factor, final_div_factor=final_div_factor,
                      cycle_momentum=False)


def _constant(optimizer, total_steps, warmup_steps=0):
    return warmup_cosine(optimizer, total_steps, warmup_steps, final_ratio=1.0)


#: Names :func:`make_scheduler` (and ``fit(scheduler="cosine")``) understands.
SCHEDULES: dict[str, Callable] = {"cosine": warmup_cosine, "onecycle": one_cycle,
                                  "constant": _constant}


def make_scheduler(name: str, optimizer: torch.optim.Optimizer, total_steps: int,
                   warmup: float = 0.1) -> LRScheduler:
    """A per-batch scheduler by name: ``"cosine"`` (warm-up + cosine), ``"onecycle"``,
    ``"constant"`` (warm-up, then flat).

    Args:
        total_steps: batches in the whole run (``num_epochs * len(train_loader)``).
        warmup: fraction of the steps spent warming up (``"onecycle"``: rising to the peak).
    """
    from tlcourse.profiles import unknown_name_error

    if name not in SCHEDULES:
        raise unknown_name_error("schedule", name, SCHEDULES)
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup must be a fraction in [0, 1), got {warmup!r}")
    if name == "onecycle":
        return one_cycle(optimizer, total_steps, pct_start=max(warmup, 1 / total_steps))
    return SCHEDULES[name](optimizer, total_steps, int(warmup * total_steps))
