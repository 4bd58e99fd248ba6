"""Lifelong (continual) learning: tasks one after another, and how much of the old ones is kept.

The three scenarios of van de Ven & Tolias (*Three scenarios for continual learning*, 2019,
https://arxiv.org/abs/1904.07734), for a sequence of tasks that each hold some classes:

- ``"task"`` (task-incremental): the task is known at test time; the model answers among that
  task's classes only (one head per task, or the shared head's logits masked to them);
- ``"domain"`` (domain-incremental): the task is not known, and need not be: every task has
  the same label space (here each class's position within its task);
- ``"class"`` (class-incremental): the task is not known and must be inferred: one head over
  every class seen so far.

What this module provides: the task split (:func:`split_classes`, :func:`task_targets`),
the accuracy matrix and its metrics (:func:`continual_metrics`: average accuracy, backward
and forward transfer, Lopez-Paz & Ranzato 2017), the diagonal Fisher information and the EWC
penalty for :func:`tlcourse.train.fit` (Kirkpatrick et al. 2017), and a replay buffer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

__all__ = ["EWC", "SCENARIOS", "ReplayBuffer", "TaskDataset", "TaskIncremental",
           "continual_metrics", "fisher_diagonal", "split_classes", "task_targets"]

SCENARIOS = ("task", "domain", "class")


def split_classes(num_classes: int, per_task: int) -> list[list[int]]:
    """Classes ``0 .. num_classes - 1`` in consecutive tasks of ``per_task``:
    ``split_classes(10, 2) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]`` (Split MNIST)."""
    if per_task < 1 or num_classes % per_task:
        raise ValueError(f"{num_classes} classes do not split into tasks of {per_task}")
    return [list(range(k, k + per_task)) for k in range(0, num_classes, per_task)]


def task_targets(targets, tasks: Sequence[Sequence[int]], scenario: str) -> torch.Tensor:
    """The label each scenario trains on: the class itself (``"task"``, ``"class"``: the
    task-incremental model masks its logits to the task's classes), or its position within
    its task (``"domain"``: every task shares those labels)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    targets = torch.as_tensor(np.asarray(targets))
    if scenario != "domain":
        return targets.clone()
    position = {c: i for task in tasks for i, c in enumerate(task)}
    missing = sorted({int(t) for t in targets.tolist()} - set(position))
    if missing:
        raise ValueError(f"classes {missing} are in no task")
    return torch.tensor([position[int(t)] for t in targets.tolist()])


class TaskIncremental(nn.Module):
    """Task-incremental answers: ``net``'s logits over all classes, with every class outside
    the given task masked out, so the answer is one of that task's classes (the task
    identity is an input: ``model(x=images, task=task_ids)``; the batches of a
    :class:`TaskDataset` pass it). Equivalent to one head per task on a shared body."""

    def __init__(self, net: nn.Module, tasks: Sequence[Sequence[int]]) -> None:
        super().__init__()
        self.net = net
        num_classes = 1 + max(c for task in tasks for c in task)
        mask = torch.zeros(len(tasks), num_classes, dtype=torch.bool)
        for t, task in enumerate(tasks):
            mask[t, list(task)] = True
        self.register_buffer("allowed", mask, persistent=False)

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        logits = self.net(x)
        return logits.masked_fill(~self.allowed[task], float("-inf"))


class TaskDataset(torch.utils.data.Dataset):
    """``(x, y)`` with each example's task: items ``{"x", "task", "labels"}`` for
    :class:`TaskIncremental` (``fit`` passes the dict's inputs as keywords)."""

    def __init__(self, x: torch.Tensor, y, tasks: Sequence[Sequence[int]]) -> None:
        self.x, self.y = x, torch.as_tensor(np.asarray(y))
        task_of = {c: t for t, task in enumerate(tasks) for c in task}
        self.task = torch.tensor([task_of[int(c)] for c in self.y.tolist()])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"x": self.x[i], "task": self.task[i], "labels": self.y[i]}


def continual_metrics(matrix, baseline=None) -> dict[str, float]:
    """Metrics of an accuracy matrix ``R`` (``R[i, j]``: accuracy on task ``j`` after training
    on tasks ``0..i``; Lopez-Paz & Ranzato, *Gradient Episodic Memory*, NeurIPS 2017, Sec. 2):

    - ``acc``: average accuracy at the end, ``mean_j R[T-1, j]``;
    - ``bwt``: backward transfer, ``mean_{j<T-1} (R[T-1, j] - R[j, j])`` (negative: forgetting);
    - ``fwt``: forward transfer, ``mean_{j>0} (R[j-1, j] - b_j)``, with ``b_j`` the accuracy of
      the untrained model on task ``j`` (``baseline``; only when given).
    """
    r = np.asarray(matrix, dtype=float)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] < 2:
        raise ValueError(f"an accuracy matrix is T x T with T >= 2 tasks, got shape {r.shape}")
    t = r.shape[0]
    out = {"acc": float(r[-1].mean()),
           "bwt": float(np.mean([r[-1, j] - r[j, j] for j in range(t - 1)]))}
    if baseline is not None:
        b = np.asarray(baseline, dtype=float)
        if b.shape != (t,):
            raise ValueError(f"baseline needs one accuracy per task ({t}), got shape {b.shape}")
        out["fwt"] = float(np.mean([r[j - 1, j] - b[j] for j in range(1, t)]))
    return out


def fisher_diagonal(model: nn.Module, loader, *, device=None, labels: str = "model",
                    classes: Sequence[int] | None = None,
                    max_examples: int | None = None) -> dict[str, torch.Tensor]:
    """The diagonal of the Fisher information of ``model``'s parameters over ``loader``:
    ``F_i = mean_x E_y [(d log p(y | x) / d theta_i)^2]``, one gradient per example
    (``torch.func``: ``vmap`` over ``grad``), for every parameter that requires gradients.

    Args:
        labels: ``"model"``: ``y`` ranges over the classes, weighted by the model's own
            probabilities (the true Fisher, as EWC defines it); ``"true"``: ``y`` is the
            dataset's label (the "empirical" Fisher).
        classes: the output columns the task answers among (e.g. a task-incremental
            task's two digits; labels are then positions in this list); all by default.
        max_examples: stop after this many examples.
    """
    if labels not in ("model", "true"):
        raise ValueError(f"labels must be 'model' or 'true', got {labels!r}")
    device = torch.device(device or next(model.parameters()).device)
    was_training = model.training
    model.eval()  # batch norm and dropout as at test time: the Fisher of the trained model
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    columns = None if classes is None else torch.as_tensor(list(classes), device=device)

    def outputs(logits):
        return logits if columns is None else logits.index_select(1, columns)

    def log_prob(p, x, y):
        logits = outputs(functional_call(model, (p, buffers), (x.unsqueeze(0),)))
        return F.log_softmax(logits, dim=1)[0].gather(0, y.view(1)).squeeze(0)

    per_example = vmap(grad(log_prob), in_dims=(None, 0, 0))
    total = {k: torch.zeros_like(v) for k, v in params.items()}
    seen = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        if max_examples is not None:
            x, y = x[:max_examples - seen], y[:max_examples - seen]
        if labels == "true":
            weighted = [(y, torch.ones(len(y), device=device))]
        else:
            with torch.no_grad():
                probs = F.softmax(outputs(model(x)), dim=1)
            weighted = [(torch.full_like(y, k), probs[:, k]) for k in range(probs.shape[1])]
        for classes, weight in weighted:
            grads = per_example(params, x, classes)
            for k, g in grads.items():
                total[k] += (weight.view(-1, *[1] * (g.dim() - 1)) * g.pow(2)).sum(0)
        seen += len(x)
        if max_examples is not None and seen >= max_examples:
            break
    model.train(was_training)
    if seen == 0:
        raise ValueError("the loader gave no examples to compute the Fisher information on")
    return {k: v / seen for k, v in total.items()}


class EWC:
    """Elastic weight consolidation (Kirkpatrick et al., *Overcoming catastrophic forgetting
    in neural networks*, PNAS 2017, eq. 3), a ``penalty`` for :func:`tlcourse.train.fit`:
    ``lam / 2 * sum_tasks sum_i F_i (theta_i - theta*_i)^2``, with ``theta*`` the weights
    after each earlier task and ``F`` the Fisher information there (:func:`fisher_diagonal`).
    Weights that mattered for an old task are held near their old values; the others move
    freely.
    """

    def __init__(self, lam: float = 100.0) -> None:
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}")
        self.lam = lam
        self.module: nn.Module | None = None
        self.tasks: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = []

    def consolidate(self, model: nn.Module, fisher: dict[str, torch.Tensor]) -> None:
        """Remember ``model``'s current weights and their Fisher information (after a task).

        ``model`` is the network the Fisher was computed on; the penalty then watches that
        same module, also when ``fit`` trains a wrapper around it (:class:`TaskIncremental`).
        """
        if self.module is not None and model is not self.module:
            raise ValueError("EWC watches one network: consolidate the same module each time")
        self.module = model
        params = dict(model.named_parameters())
        unknown = sorted(set(fisher) - set(params))
        if unknown:
            raise KeyError(f"the Fisher information names parameters the model does not have: "
                           f"{', '.join(unknown[:3])}")
        self.tasks.append(({k: params[k].detach().clone() for k in fisher},
                           {k: v.detach().clone() for k, v in fisher.items()}))

    def __call__(self, model: nn.Module | None = None, x=None, logits=None) -> torch.Tensor:
        module = self.module if self.module is not None else model
        params = dict(module.named_parameters())
        total = torch.zeros((), device=next(module.parameters()).device)
        for anchor, fisher in self.tasks:
            for k, f in fisher.items():
                total = total + (f.to(total.device) * (params[k] - anchor[k].to(total.device))
                                 .pow(2)).sum()
        return self.lam / 2 * total


class ReplayBuffer:
    """A small memory of earlier tasks' examples, mixed into later tasks' training
    (experience replay; e.g. Chaudhry et al., *On Tiny Episodic Memories in Continual
    Learning*, 2019). ``per_class`` examples of every class seen, chosen at random (seeded)
    from each task's training set when it ends."""

    def __init__(self, per_class: int, seed: int = 0) -> None:
        if per_class < 1:
            raise ValueError(f"per_class must be a positive integer, got {per_class!r}")
        self.per_class, self.rng = per_class, np.random.default_rng(seed)
        self.x: list[torch.Tensor] = []
        self.y: list[torch.Tensor] = []

    def add(self, x: torch.Tensor, y) -> None:
        """Keep ``per_class`` random examples of each class in ``(x, y)``."""
        y = torch.as_tensor(np.asarray(y))
        if len(x) != len(y):
            raise ValueError(f"{len(x)} examples but {len(y)} labels")
        for c in torch.unique(y).tolist():
            idx = np.flatnonzero(y.numpy() == c)
            keep = self.rng.choice(idx, size=min(self.per_class, len(idx)), replace=False)
            self.x.append(x[torch.as_tensor(keep)])
            self.y.append(y[torch.as_tensor(keep)])

    def __len__(self) -> int:
        return sum(len(y) for y in self.y)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Everything in the buffer, as ``(x, y)``."""
        if not self.y:
            raise ValueError("the replay buffer is empty: add() a finished task first")
        return torch.cat(self.x), torch.cat(self.y)
