"""Forgetting, measured and reduced: how far fine-tuning moves a network from its source task.

Fine-tuning on a new task changes the pretrained weights, and with them the network's
answers on the task it was trained for ("catastrophic forgetting"). Keep a copy of the
original classifier head (``old_head``): the fine-tuned backbone followed by that head
still answers the source task, and :func:`drift` compares those answers with the
original model's.

Two remedies, each a ``penalty`` for :func:`tlcourse.train.fit`:

* :class:`L2SP` pulls the weights towards their pretrained values (Li, Grandvalet &
  Davoine, *Explicit Inductive Bias for Transfer Learning with Convolutional Networks*,
  ICML 2018, https://arxiv.org/abs/1802.01483).
* :class:`LwF` distils the original model's source-task answers on the new task's images
  (Li & Hoiem, *Learning without Forgetting*, ECCV 2016, https://arxiv.org/abs/1606.09282).
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn
from torch.nn import functional as F

from tlcourse.models import get_head

__all__ = ["L2SP", "DriftMonitor", "LwF", "drift", "head_inputs", "l2_sp", "old_task_logits"]


@contextlib.contextmanager
def head_inputs(model: nn.Module):
    """Record what ``model``'s classifier head receives (its features), while inside.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
        >>> with head_inputs(net) as seen:
        ...     _ = net(torch.ones(4, 3))
        >>> seen[-1].shape
        torch.Size([4, 5])
    """
    seen: list[torch.Tensor] = []
    handle = get_head(model).register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        yield seen
    finally:
        handle.remove()


def old_task_logits(model: nn.Module, old_head: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The source-task logits of a fine-tuned ``model``: its features through ``old_head``.

    ``model`` runs as it is (call ``model.eval()`` first for test-time answers).
    """
    with head_inputs(model) as seen:
        model(x)
    return old_head(seen[-1])


def _kl(reference_logits: torch.Tensor, logits: torch.Tensor, temperature: float = 1.0):
    """Mean KL(reference || current) between the softmax distributions, per sample."""
    target = F.log_softmax(reference_logits / temperature, dim=1)
    current = F.log_softmax(logits / temperature, dim=1)
    return F.kl_div(current, target, log_target=True, reduction="batchmean")


@torch.no_grad()
def drift(model: nn.Module, old_head: nn.Module, x: torch.Tensor,
          reference_logits: torch.Tensor) -> dict[str, float]:
    """How far ``model``'s source-task answers on ``x`` moved from ``reference_logits``.

    Returns:
        ``{"agreement": ..., "kl": ...}``: the fraction of inputs whose top-1 class is
        unchanged, and the mean KL divergence from the original to the current answers
        (0 for an unchanged network, in nats).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    logits = old_task_logits(model, old_head.to(device), x.to(device)).float().cpu()
    model.train(was_training)
    agreement = (logits.argmax(1) == reference_logits.argmax(1)).float().mean().item()
    return {"agreement": agreement, "kl": _kl(reference_logits, logits).item()}


class DriftMonitor:
    """A :func:`tlcourse.train.fit` callback that logs :func:`drift` after each epoch.

    Adds ``f"{prefix}_agreement"`` and ``f"{prefix}_kl"`` to the history.
    """

    def __init__(self, old_head: nn.Module, x: torch.Tensor, reference_logits: torch.Tensor,
                 prefix: str = "source") -> None:
        self.old_head, self.x, self.reference = old_head, x, reference_logits
        self.prefix = prefix

    def on_epoch_end(self, epoch: int, model: nn.Module, row: dict) -> None:
        for key, value in drift(model, self.old_head, self.x, self.reference).items():
            row[f"{self.prefix}_{key}"] = value


def _backbone_named_parameters(model: nn.Module):
    head_ids = {id(p) for p in get_head(model).parameters()}
    return [(n, p) for n, p in model.named_parameters() if id(p) not in head_ids]


def l2_sp(model: nn.Module, reference: dict[str, torch.Tensor], alpha: float = 0.01,
          beta: float = 0.01) -> torch.Tensor:
    """The L2-SP penalty: ``alpha/2 * ||w - w0||^2`` over the pretrained (backbone)
    weights plus ``beta/2 * ||w_head||^2`` over the new head (Li et al. 2018, eq. 4).

    Args:
        reference: the starting point ``w0`` by parameter name (the pretrained weights).
    """
    device = next(model.parameters()).device
    shared = torch.zeros((), device=device)
    for name, p in _backbone_named_parameters(model):
        if p.requires_grad:  # a frozen weight sits at w0 anyway
            shared = shared + (p - reference[name]).pow(2).sum()
    head = sum(p.pow(2).sum() for p in get_head(model).parameters())
    return alpha / 2 * shared + beta / 2 * head


class L2SP:
    """L2-SP as a ``fit`` penalty: remembers the pretrained weights when created.

    Create it after the head is replaced and before training. The paper's default
    strengths (``alpha=0.1, beta=0.01``, for SGD) are a starting point; with Adam and few
    steps, larger ``alpha`` holds the weights closer.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
        >>> penalty = L2SP(net, alpha=1.0, beta=0.0)
        >>> penalty(net).item()
        0.0
    """

    def __init__(self, model: nn.Module, alpha: float = 0.1, beta: float = 0.01) -> None:
        self.alpha, self.beta = alpha, beta
        self.reference = {n: p.detach().clone() for n, p in _backbone_named_parameters(model)}

    def __call__(self, model: nn.Module, x=None, logits=None) -> torch.Tensor:
        reference = self.reference
        device = next(model.parameters()).device
        if next(iter(reference.values())).device != device:
            self.reference = reference = {n: w.to(device) for n, w in reference.items()}
        return l2_sp(model, reference, self.alpha, self.beta)


class LwF:
    """Learning without Forgetting as a ``fit`` penalty: keep the source-task answers.

    On each training batch the frozen original model (``teacher``, with its source head)
    answers the source task; the fine-tuned network, through ``old_head``, is trained to
    give the same answers: ``weight * T^2 * KL(teacher || student)`` at temperature ``T``.
    No source data is needed, only the new task's images.

    Args:
        teacher: the original network with its source-task head (a copy is kept, frozen).
        old_head: the source-task head, applied to the fine-tuned network's features
            (kept fixed here; the paper also fine-tunes it). ``None``: the network keeps one
            head for old and new classes (continual learning, :mod:`tlcourse.continual`), and
            its own logits are distilled.
        classes: with ``old_head=None``, the logits distilled: the old tasks' classes (all by
            default). Inputs may be a dict (passed to both networks as keywords).
    """

    def __init__(self, teacher: nn.Module, old_head: nn.Module | None, weight: float = 1.0,
                 temperature: float = 2.0, classes=None) -> None:
        self.teacher = copy.deepcopy(teacher).eval().requires_grad_(False)
        self.old_head = (copy.deepcopy(old_head).requires_grad_(False)
                         if old_head is not None else None)
        self.classes = None if classes is None else list(classes)
        self.weight, self.temperature = weight, temperature

    def __call__(self, model: nn.Module, x, logits=None) -> torch.Tensor:
        keywords = isinstance(x, dict)
        device = next(iter(x.values())).device if keywords else x.device
        self.teacher.to(device)
        with torch.no_grad():
            target = self.teacher(**x) if keywords else self.teacher(x)
        if self.old_head is None:
            student = logits if logits is not None else (model(**x) if keywords else model(x))
            if self.classes is not None:
                target, student = target[:, self.classes], student[:, self.classes]
        else:
            self.old_head.to(device)
            student = old_task_logits(model, self.old_head, x)
        t = self.temperature
        return self.weight * t * t * _kl(target, student, t)
