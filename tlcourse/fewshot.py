"""Few-shot learning: N-way K-shot episodes, prototypes, MAML with ``torch.func`` (notebook 09).

A few-shot **episode** is a small classification task built from classes the model has never
been trained on: ``n_way`` classes, ``k_shot`` labelled examples of each (the **support**
set) and ``n_query`` more of each to classify (the **query** set). Classes are split once
into meta-train, meta-validation and meta-test sets that share no class
(:func:`split_classes`); accuracy is the mean over many test episodes with a 95% interval
(:func:`mean_ci`), as in the literature.

- :class:`EpisodeDataset` gives episodes as dicts ``{"support_x", "support_y", "query_x",
  "labels"}`` (labels: the query's, 0..n_way-1), so :func:`tlcourse.train.fit` trains
  episodically with no loop of its own: a model's ``forward(support_x, support_y, query_x)``
  returns the query's logits. :func:`collate_episodes` batches several tasks.
- :class:`PrototypicalNet` (Snell et al. 2017, https://arxiv.org/abs/1703.05175): class means
  of embedded support examples, logits the negative squared distances to them.
- Baselines with nothing meta-learned: :class:`NearestNeighbour` and :class:`LinearHead`
  (a classifier fitted to each support set, Chen et al. 2019).
- :class:`MAML` (Finn et al. 2017, https://arxiv.org/abs/1703.03400): a few gradient steps
  on the support set from shared initial weights, written with ``torch.func.functional_call``
  and ``torch.func.grad``; the outer loss of the adapted weights on the query set is
  differentiated through the inner steps (second order) or not (``first_order=True``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad
from torch.nn import functional as F
from torch.utils.data import Dataset

from tlcourse.progress import progress_bar

__all__ = ["MAML", "EpisodeDataset", "LinearHead", "NearestNeighbour", "PrototypicalNet",
           "collate_episodes", "episode_accuracies", "mean_ci", "proto_logits", "prototypes",
           "split_classes"]


def split_classes(classes: Sequence[int], sizes: Sequence[int], seed: int = 0) -> list[list[int]]:
    """Disjoint class sets of the given sizes (meta-train, meta-validation, meta-test), drawn
    at random with ``seed``; each set sorted.

    >>> split_classes(range(10), [6, 2, 2], seed=0)
    [[2, 3, 4, 5, 6, 7], [0, 9], [1, 8]]
    """
    classes = list(classes)
    if len(set(classes)) != len(classes):
        raise ValueError("classes must not repeat")
    if sum(sizes) > len(classes) or min(sizes, default=1) < 1:
        raise ValueError(f"cannot take sets of {list(sizes)} classes from {len(classes)}")
    order = np.random.default_rng(seed).permutation(len(classes))
    out, start = [], 0
    for size in sizes:
        out.append(sorted(classes[i] for i in order[start:start + size]))
        start += size
    return out


class EpisodeDataset(Dataset):
    """``episodes`` N-way K-shot tasks drawn from ``classes`` of ``(x, targets)``.

    Episode ``i`` is drawn from its own generator (``seed``, ``i``): the same ``i`` gives the
    same task every time, so an evaluation set of episodes is fixed and a training run repeats.
    Within an episode the chosen classes are shuffled and relabelled ``0..n_way-1``; support
    and query examples never overlap.

    Args:
        x: ``(N, ...)`` inputs (images or cached features); ``targets``: ``(N,)`` class ids.
        classes: the class ids episodes may use (one split of :func:`split_classes`).
    """

    def __init__(self, x: torch.Tensor, targets, classes: Sequence[int], *, n_way: int,
                 k_shot: int, n_query: int, episodes: int, seed: int = 0) -> None:
        targets = np.asarray(targets)
        if len(targets) != len(x):
            raise ValueError(f"{len(x)} inputs but {len(targets)} targets")
        if not 2 <= n_way <= len(classes):
            raise ValueError(f"n_way must be from 2 to the {len(classes)} classes given, "
                             f"got {n_way}")
        self.pools = {c: np.flatnonzero(targets == c) for c in classes}
        short = {c: len(p) for c, p in self.pools.items() if len(p) < k_shot + n_query}
        if short:
            raise ValueError(f"classes {sorted(short)} have fewer than k_shot + n_query = "
                             f"{k_shot + n_query} examples ({short}): lower n_query or k_shot")
        self.x, self.classes = x, list(classes)
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self.episodes, self.seed = episodes, seed

    def __len__(self) -> int:
        return self.episodes

    def indices(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Episode ``i`` as (its classes, support indices, query indices), class by class."""
        rng = np.random.default_rng([self.seed, i])
        chosen = rng.choice(self.classes, self.n_way, replace=False)
        picks = [rng.choice(self.pools[c], self.k_shot + self.n_query, replace=False)
                 for c in chosen]
        support = np.concatenate([p[:self.k_shot] for p in picks])
        query = np.concatenate([p[self.k_shot:] for p in picks])
        return chosen, support, query

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < self.episodes:
            raise IndexError(f"episode {i} of {self.episodes}")
        _, support, query = self.indices(i)
        way = torch.arange(self.n_way)
        return {"support_x": self.x[support], "support_y": way.repeat_interleave(self.k_shot),
                "query_x": self.x[query], "labels": way.repeat_interleave(self.n_query)}


def collate_episodes(batch: list[dict]) -> dict[str, torch.Tensor]:
    """Several episodes in one batch: supports stacked ``(tasks, n_way * k_shot, ...)``,
    queries stacked, query labels concatenated (one flat target per query logit row)."""
    out = {k: torch.stack([e[k] for e in batch]) for k in ("support_x", "support_y", "query_x")}
    out["labels"] = torch.cat([e["labels"] for e in batch])
    return out


def _tasks(support_x, support_y, query_x):
    """A single episode's tensors with a task dimension added; batched ones unchanged."""
    if support_y.ndim == 1:
        support_x, support_y, query_x = support_x[None], support_y[None], query_x[None]
    return support_x, support_y, query_x


def prototypes(embedded: torch.Tensor, labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """``(n_way, d)`` class means of ``(n, d)`` embedded support examples."""
    onehot = F.one_hot(labels, n_way).to(embedded.dtype)          # (n, n_way)
    return (onehot.T @ embedded) / onehot.sum(0)[:, None]


def proto_logits(query: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """Negative squared Euclidean distances ``(n_query, n_way)`` (Snell et al. eq. 2)."""
    return -torch.cdist(query, protos).pow(2)


class PrototypicalNet(nn.Module):
    """Embed support and query with ``encoder`` (``nn.Identity()`` for cached features), then
    classify each query by its nearest class mean. Trained episodically, the encoder learns an
    embedding where class means separate classes it has never seen.

    ``forward(support_x, support_y, query_x) -> (tasks * n_query_total, n_way)`` logits.
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, support_x, support_y, query_x) -> torch.Tensor:
        support_x, support_y, query_x = _tasks(support_x, support_y, query_x)
        tasks, n_support = support_y.shape
        n_way = int(support_y.max()) + 1
        emb = self.encoder(torch.cat([support_x.flatten(0, 1), query_x.flatten(0, 1)]))
        s_emb, q_emb = emb[:tasks * n_support], emb[tasks * n_support:]
        s_emb, q_emb = s_emb.view(tasks, n_support, -1), q_emb.view(tasks, query_x.shape[1], -1)
        return torch.cat([proto_logits(q, prototypes(s, y, n_way))
                          for s, y, q in zip(s_emb, support_y, q_emb, strict=True)])


class NearestNeighbour(nn.Module):
    """Classify each query like its nearest support example (Euclidean distance): logits are
    minus the distance to each class's nearest example. With one shot it is the prototype
    classifier; with more it keeps every example instead of their mean."""

    def forward(self, support_x, support_y, query_x) -> torch.Tensor:
        support_x, support_y, query_x = _tasks(support_x, support_y, query_x)
        n_way = int(support_y.max()) + 1
        out = []
        for s, y, q in zip(support_x, support_y, query_x, strict=True):
            dist = torch.cdist(q.flatten(1), s.flatten(1))                 # (n_query, n_support)
            out.append(-torch.stack([dist[:, y == c].min(1).values for c in range(n_way)], 1))
        return torch.cat(out)


class LinearHead(nn.Module):
    """A new linear classifier for every task, fitted to its support set: ``steps`` steps of
    full-batch gradient descent (``lr``) on the cross-entropy, from zero weights. On frozen
    features this is the "Baseline" of Chen et al. 2019 (https://arxiv.org/abs/1904.04232).
    No parameters of its own: nothing is meta-learned.

    The gradient is written out (softmax minus one-hot, times the inputs), so it runs under
    ``no_grad``; from zeros, its first step already points each class's weights at its mean
    minus the mean of all classes, the prototype rule in linear form.
    """

    def __init__(self, steps: int = 100, lr: float = 1.0, weight_decay: float = 0.0) -> None:
        super().__init__()
        if steps < 1 or not lr > 0:
            raise ValueError(f"steps must be >= 1 and lr > 0, got {steps} and {lr}")
        self.steps, self.lr, self.weight_decay = steps, lr, weight_decay

    def fit(self, support_x: torch.Tensor, support_y: torch.Tensor, n_way: int):
        """``(weight (n_way, d), bias (n_way,))`` fitted to one task's support set."""
        x = support_x.flatten(1)
        onehot = F.one_hot(support_y, n_way).to(x.dtype)
        w = x.new_zeros(n_way, x.shape[1])
        b = x.new_zeros(n_way)
        for _ in range(self.steps):
            err = (x @ w.T + b).softmax(1) - onehot                        # dLoss/dlogits * n
            w = w - self.lr * (err.T @ x / len(x) + self.weight_decay * w)
            b = b - self.lr * err.mean(0)
        return w, b

    def forward(self, support_x, support_y, query_x) -> torch.Tensor:
        support_x, support_y, query_x = _tasks(support_x, support_y, query_x)
        n_way = int(support_y.max()) + 1
        out = []
        for s, y, q in zip(support_x, support_y, query_x, strict=True):
            w, b = self.fit(s, y, n_way)
            out.append(q.flatten(1) @ w.T + b)
        return torch.cat(out)


class MAML(nn.Module):
    """Model-agnostic meta-learning around ``model`` (its parameters are the initial weights).

    ``forward(support_x, support_y, query_x)`` adapts a copy of the weights to each task with
    ``inner_steps`` steps of gradient descent (``inner_lr``) on the support loss, then returns
    the query logits of the adapted weights. Backpropagating a loss of them reaches the initial
    weights through the inner steps: the meta-gradient, second order unless ``first_order``
    (which treats the inner gradients as constants, as FOMAML does). Buffers (e.g. batch-norm
    statistics) are used, not adapted: the inner steps leave them as they are, and in training
    mode the query pass updates them.

    ``inner_steps_eval`` (``None``: the same) applies in eval mode, for testing with more steps.
    In eval mode the logits are detached; :func:`tlcourse.train.evaluate` and ``predict`` run
    it under ``no_grad`` (``needs_grad_to_predict``), which the inner loop lifts.
    """

    needs_grad_to_predict = True

    def __init__(self, model: nn.Module, inner_lr: float = 0.4, inner_steps: int = 1,
                 first_order: bool = False, inner_steps_eval: int | None = None) -> None:
        super().__init__()
        if inner_steps < 0 or not inner_lr > 0:
            raise ValueError(f"inner_steps must be >= 0 and inner_lr > 0, got {inner_steps} "
                             f"and {inner_lr}")
        self.model, self.inner_lr, self.inner_steps = model, inner_lr, inner_steps
        self.first_order, self.inner_steps_eval = first_order, inner_steps_eval

    def adapt(self, params: dict, support_x, support_y, steps: int) -> dict:
        """The weights after ``steps`` gradient steps on one task's support loss."""
        buffers = dict(self.model.named_buffers())

        def support_loss(p):
            # Copies of the buffers: a batch-norm layer in training mode updates its running
            # statistics in place, which torch.func.grad refuses on tensors it did not create.
            # The inner steps normalise with the support's own statistics and leave the
            # running ones alone.
            copies = {k: b.clone() for k, b in buffers.items()}
            return F.cross_entropy(functional_call(self.model, (p, copies), (support_x,)),
                                   support_y)

        for _ in range(steps):
            grads = grad(support_loss)(params)
            if self.first_order:
                grads = {k: g.detach() for k, g in grads.items()}
            params = {k: p - self.inner_lr * grads[k] for k, p in params.items()}
        return params

    def forward(self, support_x, support_y, query_x) -> torch.Tensor:
        support_x, support_y, query_x = _tasks(support_x, support_y, query_x)
        steps = self.inner_steps if self.training or self.inner_steps_eval is None \
            else self.inner_steps_eval
        params = dict(self.model.named_parameters())
        buffers = dict(self.model.named_buffers())
        out = []
        with torch.enable_grad():          # the inner loop needs gradients, also in evaluation
            for sx, sy, qx in zip(support_x, support_y, query_x, strict=True):
                adapted = self.adapt(params, sx, sy, steps)
                logits = functional_call(self.model, (adapted, buffers), (qx,))
                out.append(logits if self.training else logits.detach())
        return torch.cat(out)


def episode_accuracies(model: nn.Module, episodes: EpisodeDataset, device=None,
                       progress: bool = False, desc: str = "episodes") -> np.ndarray:
    """The query accuracy of ``model`` on each episode (eval mode), one number per episode;
    ``progress``: a progress bar (``desc``) over the episodes."""
    device = torch.device(device) if device is not None else next(
        (p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    accs = []
    try:
        for i in progress_bar(range(len(episodes)), desc=desc, disable=not progress, leave=False):
            e = {k: v.to(device) for k, v in episodes[i].items()}
            with torch.no_grad():            # MAML lifts it for its inner loop
                logits = model(e["support_x"], e["support_y"], e["query_x"])
            accs.append(float((logits.argmax(1) == e["labels"]).float().mean()))
    finally:
        model.train(was_training)
    return np.asarray(accs)


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation confidence interval,
    ``z * std / sqrt(n)`` (z = 1.96 for 95%), as few-shot papers report ``mean ± half``.

    >>> [round(v, 4) for v in mean_ci([0.5, 0.7, 0.6, 0.8])]   # 1.96 * 0.1291 / 2
    [0.65, 0.1265]
    """
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        raise ValueError("a confidence interval needs at least two values")
    z = math.sqrt(2) * _erfinv(confidence)
    return float(values.mean()), float(z * values.std(ddof=1) / math.sqrt(values.size))


def _erfinv(p: float) -> float:
    return float(torch.erfinv(torch.tensor(p, dtype=torch.float64)))
