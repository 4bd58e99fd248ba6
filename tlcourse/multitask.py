"""Multi-task learning: one shared encoder, one head per task, trained by ``fit``.

A multi-task batch is a dict ``{task: (x, y)}``; a :class:`MultiTaskModel` maps
``model(**{task: x})`` to ``{task: logits}``, and ``fit`` turns the per-task losses into one
update. What it does with them is what this module provides:

- how much each task counts (``fit(task_weights=...)``): fixed weights, or
  :class:`UncertaintyWeighting` (Kendall et al. 2018), which learns them;
- how their gradients on the shared layers combine (``fit(task_gradients=...)``): summed
  (the default), :class:`PCGrad` (Yu et al. 2020), or summed while
  :class:`GradientCosine` records how well the tasks agree.

Example::

    model = tlc.multitask.MultiTaskModel(encoder, {"digits": nn.Linear(64, 10),
                                                   "parity": nn.Linear(64, 2)})
    loader = tlc.multitask.TaskLoader({"digits": digit_loader, "parity": parity_loader})
    tlc.train.fit(model, loader, num_epochs=5, task_gradients=tlc.multitask.PCGrad(encoder))
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import nn

__all__ = ["GradientCosine", "MultiTaskModel", "PCGrad", "TaskLoader", "UncertaintyWeighting",
           "is_task_batch", "pcgrad_project", "task_gradients", "weigh"]


class MultiTaskModel(nn.Module):
    """Hard parameter sharing: ``encoder`` shared by every task, ``heads[task]`` its own.

    ``model(digits=x1, parity=x2)`` returns ``{"digits": logits1, "parity": logits2}``;
    only the tasks passed are computed (an evaluation batch holds one task).
    Share less by giving the heads more layers and the encoder fewer.
    """

    def __init__(self, encoder: nn.Module, heads: Mapping[str, nn.Module]) -> None:
        super().__init__()
        if not heads:
            raise ValueError("a MultiTaskModel needs at least one head: {task name: module}")
        self.encoder, self.heads = encoder, nn.ModuleDict(dict(heads))

    @property
    def tasks(self) -> list[str]:
        return list(self.heads)

    def forward(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        unknown = sorted(set(inputs) - set(self.heads))
        if unknown:
            raise KeyError(f"no head for task(s) {', '.join(unknown)}; the model has heads "
                           f"for {', '.join(self.heads)}")
        return {task: self.heads[task](self.encoder(x)) for task, x in inputs.items()}


def is_task_batch(batch) -> bool:
    """True for a multi-task batch ``{task: (x, y)}`` (not a tokenized ``{..., "labels"}``)."""
    return (isinstance(batch, Mapping) and "labels" not in batch and len(batch) > 0
            and all(isinstance(v, (tuple, list)) and len(v) == 2 for v in batch.values()))


class TaskLoader:
    """Batches ``{task: (x, y)}`` from one loader per task.

    Args:
        loaders: ``{task: DataLoader}``.
        mode: ``"together"`` (training): each step holds one batch of every task; an epoch
            is as long as the longest loader (or ``steps``), and shorter loaders start again
            (reshuffled) when they run out. ``"each"`` (evaluation): every batch of every
            task once, one task per batch.
        steps: batches per epoch in ``"together"`` mode.
    """

    def __init__(self, loaders: Mapping[str, Iterable], mode: str = "together",
                 steps: int | None = None) -> None:
        if mode not in ("together", "each"):
            raise ValueError(f"mode must be 'together' or 'each', got {mode!r}")
        if not loaders:
            raise ValueError("a TaskLoader needs at least one loader: {task name: loader}")
        empty = [t for t, loader in loaders.items() if len(loader) == 0]
        if empty:
            raise ValueError(f"the loader of task(s) {', '.join(empty)} has no batches")
        if steps is not None and steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        self.loaders, self.mode, self.steps = dict(loaders), mode, steps
        self.batch_size = max(getattr(lo, "batch_size", 0) or 0 for lo in self.loaders.values())

    def __len__(self) -> int:
        if self.mode == "each":
            return sum(len(loader) for loader in self.loaders.values())
        return self.steps or max(len(loader) for loader in self.loaders.values())

    def __iter__(self) -> Iterator[dict]:
        if self.mode == "each":
            for task, loader in self.loaders.items():
                for batch in loader:
                    yield {task: tuple(batch)}
            return
        streams = {task: _forever(loader) for task, loader in self.loaders.items()}
        for _ in range(len(self)):
            yield {task: tuple(next(stream)) for task, stream in streams.items()}


def _forever(loader: Iterable) -> Iterator:
    # A new pass (and so a new shuffle) each time the loader runs out.
    return itertools.chain.from_iterable(iter(loader) for _ in itertools.count())


class UncertaintyWeighting(nn.Module):
    """Task weights learned as homoscedastic uncertainties (Kendall, Gal & Cipolla, CVPR 2018).

    Each task ``t`` has a learnable ``s_t = log sigma_t^2``; a classification loss ``L_t``
    becomes ``exp(-s_t) * L_t + s_t / 2`` (the paper's eq. 10: ``L / sigma^2 + log sigma``).
    A task whose loss stays high (noisy, or unrelated to what the others learn) gets a large
    ``sigma`` and so a small weight ``exp(-s_t)``; the ``s_t / 2`` term stops every weight
    from shrinking to zero. Pass it to ``fit(task_weights=...)``: its parameters are trained
    with the model's and saved in its checkpoints.
    """

    def __init__(self, tasks: Iterable[str]) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.log_vars = nn.Parameter(torch.zeros(len(self.tasks)))

    def forward(self, losses: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for task, loss in losses.items():
            s = self.log_vars[self.tasks.index(task)]
            out[task] = torch.exp(-s) * loss + s / 2
        return out

    def weights(self) -> dict[str, float]:
        """The current weight ``exp(-s_t) = 1 / sigma_t^2`` of each task."""
        return dict(zip(self.tasks, torch.exp(-self.log_vars.detach()).tolist(), strict=True))


def weigh(task_weights, losses: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The per-task terms of the objective: ``losses`` as they are (``task_weights=None``),
    times fixed weights (a dict; tasks not named count 1), or through a module such as
    :class:`UncertaintyWeighting`."""
    if task_weights is None:
        return dict(losses)
    if isinstance(task_weights, Mapping):
        unknown = sorted(set(task_weights) - set(losses))
        if unknown:
            raise KeyError(f"task_weights names task(s) {', '.join(unknown)} that the batch "
                           f"does not hold ({', '.join(losses)})")
        return {t: float(task_weights.get(t, 1.0)) * loss for t, loss in losses.items()}
    return dict(task_weights(losses))


def _flat(grads, params: list[nn.Parameter]) -> torch.Tensor:
    # One vector from per-parameter gradients, zeros where a gradient is None.
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                      for g, p in zip(grads, params, strict=True)])


def task_gradients(terms: Mapping[str, torch.Tensor], params: list[nn.Parameter]
                   ) -> list[torch.Tensor]:
    """One flat gradient vector over ``params`` per term (zeros where a term does not reach a
    parameter); the graph is kept for a later backward pass."""
    return [_flat(torch.autograd.grad(term, params, retain_graph=True, allow_unused=True), params)
            for term in terms.values()]


def pcgrad_project(grads: list[torch.Tensor], generator: torch.Generator | None = None
                   ) -> list[torch.Tensor]:
    """PCGrad's projections (Yu et al., *Gradient Surgery for Multi-Task Learning*, NeurIPS
    2020, Algorithm 1): for each task ``i`` and, in random order, each other task ``j``, if
    ``g_i . g_j < 0`` then ``g_i <- g_i - (g_i . g_j) / |g_j|^2 g_j``, where ``g_j`` is the
    *original* gradient of task ``j``. Returns the projected gradients (sum them)."""
    out = []
    for i, g_i in enumerate(grads):
        g = g_i.clone()
        others = [j for j in torch.randperm(len(grads), generator=generator).tolist() if j != i]
        for j in others:
            dot = torch.dot(g, grads[j])
            norm2 = torch.dot(grads[j], grads[j])
            if dot < 0 and norm2 > 0:
                g = g - dot / norm2 * grads[j]
        out.append(g)
    return out


def _shared(params) -> list[nn.Parameter]:
    params = params.parameters() if isinstance(params, nn.Module) else params
    return [p for p in params if p.requires_grad]


def _write_grads(params: list[nn.Parameter], flat: torch.Tensor) -> None:
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).to(p.dtype).clone()
        offset += n


class PCGrad:
    """``fit(task_gradients=PCGrad(model.encoder))``: on the shared parameters, each task's
    gradient loses its component along any other task's gradient that it conflicts with
    (:func:`pcgrad_project`); every other parameter gets the plain sum of the gradients.

    Costs one backward pass per task (instead of one in all).
    """

    def __init__(self, shared, seed: int = 0) -> None:
        self.shared = shared
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, terms: Mapping[str, torch.Tensor], scale=None) -> None:
        shared = _shared(self.shared)
        grads = []
        for i, term in enumerate(terms.values()):
            # Every parameter accumulates this task's gradient; the shared ones are read
            # off and cleared, so each task's is kept apart.
            term = scale(term) if scale is not None else term
            term.backward(retain_graph=i < len(terms) - 1)
            grads.append(_flat([p.grad for p in shared], shared))
            for p in shared:
                p.grad = None
        _write_grads(shared, torch.stack(pcgrad_project(grads, self.generator)).sum(0))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class GradientCosine:
    """``fit(task_gradients=GradientCosine(model.encoder))``: the plain summed update, and
    every ``every`` steps the cosine between each pair of tasks' gradients on the shared
    parameters, in ``records`` (``{"step": n, "a/b": cosine, ...}``). Positive: the tasks
    pull the shared layers the same way; near zero: unrelated; negative: in conflict."""

    def __init__(self, shared, every: int = 10) -> None:
        self.shared, self.every, self.step, self.records = shared, every, 0, []

    def __call__(self, terms: Mapping[str, torch.Tensor], scale=None) -> None:
        if self.step % self.every == 0 and len(terms) > 1:
            grads = dict(zip(terms, task_gradients(terms, _shared(self.shared)), strict=True))
            row = {"step": self.step}
            for a, b in itertools.combinations(grads, 2):
                row[f"{a}/{b}"] = torch.nn.functional.cosine_similarity(
                    grads[a], grads[b], dim=0).item()
            self.records.append(row)
        self.step += 1
        total = sum(terms.values())
        (scale(total) if scale is not None else total).backward()

    def state_dict(self) -> dict:
        return {"step": self.step, "records": list(self.records)}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.records = state["step"], list(state["records"])
