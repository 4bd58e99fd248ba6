"""Training and evaluation loops: ``fit``, ``evaluate``, ``predict``.

One loop for every lesson and every device. On CUDA it uses mixed precision (bfloat16
where the GPU supports it, else float16 with a gradient scaler), channels_last memory and
non-blocking copies from pinned memory, and optionally ``torch.compile``; when the GPU runs
out of memory it halves the batch size, says so, and carries on. On a CPU it runs in
float32 with channels_last convolutions (1.2-1.8x faster on a 2-core CPU, see
benchmarks/RESULTS.md) and, seeded, repeats exactly.

``fit`` also takes what fine-tuning needs: per-batch learning-rate schedules
(:mod:`tlcourse.schedules`), :class:`EarlyStopping` with the best weights restored, a
penalty added to the loss (e.g. :class:`tlcourse.regularize.L2SP`), callbacks, and
checkpoints written atomically each epoch that a later call resumes exactly
(:mod:`tlcourse.checkpoint`).

Under ``torchrun`` the same calls train on several processes (GPUs or machines) with
``DistributedDataParallel``, with rank 0 alone drawing progress and writing checkpoints;
see :mod:`tlcourse.distributed`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from tlcourse import checkpoint as ckpt_lib
from tlcourse import distributed, schedules
from tlcourse.accel import (
    OutOfMemoryError,
    _autocast,
    _Compiled,
    _prepare,
    _run,
    _snapshot,
    _to,
    _use_channels_last,
    amp_dtype,
    retry_with_smaller_batches,
    shrink_loader,
)
from tlcourse.callbacks import Callback, EarlyStopping, LivePlot
from tlcourse.checks import positive_int
from tlcourse.env import get_device, seed_everything
from tlcourse.multitask import weigh
from tlcourse.progress import progress_bar

__all__ = ["Callback", "EarlyStopping", "History", "LivePlot", "OutOfMemoryError", "amp_dtype",
           "evaluate", "fit", "predict", "shrink_loader"]


@dataclass
class History:
    """Per-epoch metrics of a :func:`fit` run; ``history["val_acc"]`` is a list.

    ``best_epoch`` (1-based) is the epoch whose weights early stopping restored, and
    ``stopped_epoch`` the epoch after which it stopped the run (``None`` if it did not).
    ``batch_size`` is the training batch size at the end (smaller than the loader's if
    the GPU ran out of memory), and ``figure`` the live plot's figure (``live_plot=True``).
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_epoch: int | None = None
    batch_size: int | None = None
    figure: object | None = None

    def __getitem__(self, key: str) -> list[float]:
        return [e[key] for e in self.epochs if key in e]

    def last(self, key: str) -> float:
        return self[key][-1]

    def best(self, key: str = "val_acc", mode: str = "max") -> tuple[int, float]:
        """``(epoch index, value)`` of the best epoch by ``key``."""
        values = self[key]
        best = max(values) if mode == "max" else min(values)
        return values.index(best), best

    def __len__(self) -> int:
        return len(self.epochs)


def _call(callbacks, hook: str, *args) -> list:
    # Callbacks may implement only some hooks (any object with the method will do).
    return [getattr(cb, hook)(*args) for cb in callbacks if hasattr(cb, hook)]


def _make_scheduler(scheduler, optimizer, total_steps: int, warmup: float):
    if scheduler is None or isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler):
        return scheduler
    if isinstance(scheduler, str):
        return schedules.make_scheduler(scheduler, optimizer, total_steps, warmup)
    if callable(scheduler):  # a factory: (optimizer, total_steps) -> scheduler
        return scheduler(optimizer, total_steps)
    return scheduler  # any object with .step()


def fit(model: nn.Module, train_loader, val_loader=None, *, num_epochs: int, lr: float = 1e-3,
        device: torch.device | str | None = None, optimizer: torch.optim.Optimizer | None = None,
        scheduler=None, loss_fn: nn.Module | None = None, weight_decay: float = 0.0,
        amp: bool | str = "auto", channels_last: bool | str = "auto", seed: int | None = None,
        progress: bool = True, desc: str = "fit", warmup: float = 0.1,
        penalty: Callable | None = None, early_stopping: EarlyStopping | None = None,
        callbacks: Sequence[Callback] = (), batchnorm: str = "train",
        checkpoint: str | os.PathLike | None = None, resume: bool = False,
        live_plot: bool = False, compile: bool = False,
        oom_retry: bool | str = "auto", task_weights=None, task_gradients=None) -> History:
    """Train ``model`` for ``num_epochs`` epochs; evaluate on ``val_loader`` after each.

    Args:
        optimizer: defaults to AdamW(lr, weight_decay) over the parameters that require
            gradients (frozen ones are left out, which also saves their optimizer state).
            Pass one over all parameters (e.g. :func:`tlcourse.models.param_groups`) when
            a callback unfreezes layers during training.
        scheduler: stepped once per batch. A scheduler object (e.g. ``OneCycleLR``), a
            name for :func:`tlcourse.schedules.make_scheduler` (``"cosine"``,
            ``"onecycle"``, ``"constant"``, with ``warmup`` the warm-up fraction), or a
            factory ``(optimizer, total_steps) -> scheduler``.
        amp: ``"auto"`` uses mixed precision on CUDA only.
        channels_last: ``"auto"`` uses it on CUDA and CPUs (not on Apple MPS).
        seed: re-seeds torch first so that the run repeats exactly on a CPU.
        penalty: ``penalty(model, x, logits) -> scalar`` added to the loss (e.g. L2-SP);
            its mean is logged as ``"penalty"``.
        early_stopping: an :class:`EarlyStopping`; the model ends with its best weights.
        callbacks: :class:`Callback` objects (e.g. gradual unfreezing, drift monitors).
        batchnorm: ``"train"``: every BatchNorm layer normalises with each batch's
            statistics and updates its running ones; ``"eval_frozen"``: layers whose
            parameters are frozen keep their pretrained statistics; ``"eval"``: all do
            (their scale and shift still train). See :func:`tlcourse.models.set_bn_eval`.
        checkpoint: a file written atomically after every epoch (model, optimizer,
            scheduler, scaler, history, callbacks, random states).
        resume: continue from ``checkpoint`` if it exists; the run then ends exactly as an
            uninterrupted one would (on a CPU).
        live_plot: add a :class:`LivePlot`: loss and accuracy curves redrawn after every
            epoch in Jupyter; the figure ends up in ``history.figure``.
        compile: run the training forward pass through ``torch.compile`` (worth it on a
            GPU for runs of many epochs; the first epoch pays the compilation). If it
            fails, training goes on without it, with a warning.
        oom_retry: when the GPU runs out of memory, undo the epoch and run it again with
            half the batch size (with a warning naming it; the scheduler still takes its
            planned steps per epoch; at batch size 1 it stops with an error saying what to
            try). That needs a copy of the weights and optimizer state before each epoch.
            ``"auto"``: on CUDA and MPS; not on a CPU, where running out of memory is not a
            ``torch.OutOfMemoryError`` (the copy cost 3% of a MiniLM fine-tuning epoch
            there, benchmarks/RESULTS.md).
        task_weights: multi-task batches only (``{task: (x, y)}``, see
            :mod:`tlcourse.multitask`): how much each task's loss counts. ``None``: the sum;
            a dict of fixed weights; or a module such as
            :class:`tlcourse.multitask.UncertaintyWeighting`, trained with the model.
        task_gradients: multi-task batches only: ``task_gradients(terms, scale)`` makes the
            gradients from the weighted per-task terms instead of one backward pass of their
            sum, e.g. :class:`tlcourse.multitask.PCGrad`. Not combined with ``penalty``.

    Under ``torchrun`` (:mod:`tlcourse.distributed`) each process trains on its share of
    every epoch (batches of ``train_loader``'s batch size each: the global batch is
    ``world_size`` times larger) through ``DistributedDataParallel``; the history's
    metrics are those of all processes together, and the same on every process. Progress,
    the live plot and the checkpoint are rank 0's; every process resumes from the same file.
    Out-of-memory retries are off (one process cannot halve its batches alone), and the set
    of trainable parameters must not change during training (DDP fixes it at the start).

    Returns:
        A :class:`History` with ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``,
        ``lr`` (the largest group's) and ``seconds`` per epoch, plus what callbacks add.
        With several tasks, also ``train_acc/<task>`` and ``val_acc/<task>``; ``train_acc``
        and ``val_acc`` are then the tasks' mean, the losses their (unweighted) sum.

    Raises:
        FloatingPointError: the loss became NaN or infinite (learning rate too high?).
    """
    positive_int("num_epochs", num_epochs)
    if not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if batchnorm not in ("train", "eval_frozen", "eval"):
        raise ValueError(f"batchnorm must be 'train', 'eval_frozen' or 'eval', got {batchnorm!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path> to resume from")
    if task_gradients is not None and penalty is not None:
        raise ValueError("task_gradients and penalty do not combine: add the penalty to a "
                         "task's loss instead")
    if seed is not None:
        seed_everything(seed)
    device = get_device(device if device is None else str(device))
    spread = distributed.init(device)  # under torchrun: join the process group
    main = distributed.is_main()
    if spread:
        device = distributed.device_for_rank(device)
        train_loader = distributed.shard_train_loader(train_loader)
        if seed is not None and not main:  # other augmentations than rank 0's, repeatably
            seed_everything(seed + distributed.rank())
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    params = [p for p in model.parameters() if p.requires_grad]
    if isinstance(task_weights, nn.Module):  # learned weights train with the model
        params += [p for p in task_weights.parameters() if p.requires_grad]
    if optimizer is None:
        if not params:
            raise ValueError("every parameter of the model is frozen: nothing to train. "
                             "Unfreeze the head (tlc.models.unfreeze) first.")
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps_per_epoch = len(train_loader)
    scheduler = _make_scheduler(scheduler, optimizer, num_epochs * steps_per_epoch, warmup)
    use_cl = _use_channels_last(device, channels_last)
    _prepare(model, device, use_cl)
    forward = _Compiled(model) if compile else (lambda inputs: _run(model, inputs))
    dtype = amp_dtype(device, amp)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    # The live plot goes last so the other callbacks' checkpoint names do not move.
    callbacks = [*callbacks, *([early_stopping] if early_stopping is not None else []),
                 *([LivePlot()] if live_plot and main else [])]
    named = {f"{i}_{type(cb).__name__}": cb for i, cb in enumerate(callbacks)}
    named |= {k: v for k, v in (("task_weights", task_weights),
                                ("task_gradients", task_gradients)) if hasattr(v, "state_dict")}
    generator = getattr(train_loader, "generator", None)
    rank_states = distributed.RankRandomState(generator) if spread else None
    if rank_states is not None:
        named["rank_random_states"] = rank_states
    history, start_epoch = History(), 0
    if resume and _checkpoint_found(Path(checkpoint), spread):
        state = ckpt_lib.load_checkpoint(checkpoint, model=model, optimizer=optimizer,
                                         scheduler=scheduler, scaler=scaler, callbacks=named,
                                         generator=generator, map_location=device)
        if rank_states is not None:
            rank_states.restore()
        history.epochs, start_epoch = list(state["history"]), state["epoch"]
    if spread:  # after resuming: DDP starts every process from rank 0's weights
        trained = distributed.wrap(model, device)
        forward = _Compiled(trained) if compile else (lambda inputs: _run(trained, inputs))
    bar = progress_bar(total=(num_epochs - start_epoch) * steps_per_epoch, desc=desc,
                       disable=not (progress and main), unit="batch", leave=True)

    def train_epoch(epoch: int, loader) -> dict:
        model.train()
        if batchnorm != "train":
            from tlcourse.models import set_bn_eval

            set_bn_eval(model, frozen_only=batchnorm == "eval_frozen")
        _call(callbacks, "on_epoch_start", epoch, model)
        # Sums stay on the device: one synchronisation per batch (the finiteness check).
        total_loss, total_penalty = (torch.zeros((), device=device) for _ in "ab")
        tally: dict = {}
        seen = scheduled = 0
        num_batches = len(loader)
        for step, batch in enumerate(loader):
            x, y = _to(batch, device, use_cl)
            with _autocast(device, dtype):
                logits = forward(x)
                if isinstance(logits, Mapping):  # several tasks: one loss each
                    losses = {t: loss_fn(logits[t], y[t]) for t in logits}
                    terms = weigh(task_weights, losses)
                    loss = sum(losses.values())
                else:
                    loss, terms = loss_fn(logits, y), None
                extra = penalty(model, x, logits) if penalty is not None else 0.0
            objective = (loss if terms is None else sum(terms.values())) + extra
            if not torch.isfinite(objective):
                raise FloatingPointError(
                    f"the training loss became {objective.item()} at epoch {epoch + 1}, "
                    f"batch {step + 1}. The learning rate "
                    f"(lr={optimizer.param_groups[0]['lr']:g}) is the likely cause: try one "
                    "10x smaller.")
            optimizer.zero_grad(set_to_none=True)
            if task_gradients is not None and terms is not None:
                task_gradients(terms, scaler.scale)
            else:
                scaler.scale(objective).backward()
            scaler.step(optimizer)
            scaler.update()
            # The planned steps per epoch, even after the batches were made smaller.
            due = (step + 1) * steps_per_epoch // num_batches
            while scheduler is not None and scheduled < due:
                scheduler.step()
                scheduled += 1
            n = _tally(tally, logits, y)
            total_loss += loss.detach().float() * n
            total_penalty += torch.as_tensor(extra).detach().float() * n
            seen += n
            bar.update()
        sums = [total_loss.item(), total_penalty.item(), seen]
        if spread:  # the metrics of all processes' batches together
            sums, tally = _sum_over_ranks(sums, tally)
        row = {"epoch": epoch + 1, "train_loss": sums[0] / sums[2],
               **_accuracies(tally, "train_acc"),
               "lr": max(g["lr"] for g in optimizer.param_groups)}
        if penalty is not None:
            row["penalty"] = sums[1] / sums[2]
        return row

    stop = early_stopping is not None and early_stopping.stopped
    buffers: dict[str, torch.Tensor] = {}  # pinned copies of the state, for OOM retries
    retry = device.type != "cpu" if oom_retry == "auto" else bool(oom_retry)
    retry = retry and not spread
    try:
        for epoch in range(start_epoch, num_epochs):
            if stop:
                break
            start = time.perf_counter()
            restore = _snapshot(model, generator, {"optimizer": optimizer, "scheduler": scheduler,
                                                   "scaler": scaler, **named},
                                buffers) if retry else None
            while True:
                error = None
                distributed.set_epoch(train_loader, epoch)  # each epoch its own shuffle
                try:
                    row = train_epoch(epoch, train_loader)
                except OutOfMemoryError as err:  # leaving the handler frees the batch
                    if restore is None:
                        raise
                    error = str(err)
                if error is None:
                    break
                optimizer.zero_grad(set_to_none=True)
                restore()
                train_loader = shrink_loader(train_loader, f"training epoch {epoch + 1}", error)
                bar.reset(total=(num_epochs - epoch) * len(train_loader))
            if spread:  # one model on every process: rank 0's BatchNorm statistics
                distributed.sync_buffers(model)
            if val_loader is not None:
                logits, targets, val_loader = _predict(model, val_loader, device, dtype, use_cl)
                val = _scores(logits, targets, loss_fn)
                row |= {f"val_{k}": v for k, v in val.items()}
            stop = any(_call(callbacks, "on_epoch_end", epoch, model, row)) or stop
            if spread:  # a callback that stops one process stops them all (else: a hang)
                stop = not distributed.all_true(not stop)
            row["seconds"] = time.perf_counter() - start
            history.epochs.append(row)
            if checkpoint is not None:
                if rank_states is not None:
                    rank_states.gather()
                if main:
                    ckpt_lib.save_checkpoint(checkpoint, model=model, epoch=epoch + 1,
                                             optimizer=optimizer, scheduler=scheduler,
                                             scaler=scaler, history=history.epochs,
                                             callbacks=named, generator=generator)
                distributed.barrier()  # no process runs ahead of the file it would resume
            bar.set_postfix({k: f"{v:.3f}" for k, v in row.items()
                             if k.endswith(("loss", "acc"))})
    finally:
        bar.close()
    history.batch_size = getattr(train_loader, "batch_size", None)
    _call(callbacks, "on_fit_end", model, history)
    return history


def _checkpoint_found(path: Path, spread: bool) -> bool:
    """Whether to resume from ``path``; under torchrun every process must see it."""
    found = path.exists()
    seen_by = int(distributed.sum_across(torch.tensor([float(found)])).item()) if spread else 0
    if spread and 0 < seen_by < distributed.world_size():
        raise FileNotFoundError(
            f"the checkpoint {path} exists for some processes and not for others (rank "
            f"{distributed.rank()}: {'found' if found else 'missing'}). On several machines "
            "put it on a file system they share, or copy it to each.")
    return found


def _sum_over_ranks(sums: list, tally: dict) -> tuple[list, dict]:
    """``sums`` and the per-task ``tally`` of correct predictions, added over processes."""
    tasks = sorted(tally)
    flat = [*sums, *(float(v) for t in tasks for v in tally[t])]
    total = distributed.sum_across(torch.tensor(flat, dtype=torch.float64)).tolist()
    pairs = total[len(sums):]
    return total[:len(sums)], {t: (int(pairs[2 * i]), int(pairs[2 * i + 1]))
                               for i, t in enumerate(tasks)}


def _predict_once(model, loader, device, dtype, use_cl):
    outputs, targets = [], []
    by_task: dict[str, tuple[list, list]] = {}  # several tasks: each task's kept apart
    # A model that takes gradient steps to predict (MAML's inner loop) sets
    # needs_grad_to_predict: it runs under no_grad, which it can lift, not inference mode.
    needs_grad = getattr(model, "needs_grad_to_predict", False)
    with torch.no_grad() if needs_grad else torch.inference_mode():
        for batch in loader:
            x, y = _to(batch, device, use_cl)
            with _autocast(device, dtype):
                out = _run(model, x)
            if isinstance(out, Mapping):
                for task, o in out.items():
                    outs, ys = by_task.setdefault(task, ([], []))
                    outs.append(o.float().cpu())
                    ys.append(y[task].cpu())
            else:
                outputs.append(out.float().cpu())
                targets.append(y.cpu())
    # Concatenated outside inference mode: the results are normal tensors.
    if by_task:
        return ({t: torch.cat(o) for t, (o, _) in by_task.items()},
                {t: torch.cat(y) for t, (_, y) in by_task.items()})
    return torch.cat(outputs), torch.cat(targets)


def _with_tasks(key: str, per_task: dict[str, float]) -> dict[str, float]:
    """``{key: mean over the tasks, key/task: each}``; one task under ``""``: ``{key: it}``."""
    if list(per_task) == [""]:
        return {key: per_task[""]}
    return {key: sum(per_task.values()) / len(per_task),
            **{f"{key}/{t}": v for t, v in per_task.items()}}


def _tally(tally: dict, logits, y) -> int:
    """Add a batch's correct predictions per task (``""`` for one task) to ``tally``; return
    the batch's number of examples (all tasks')."""
    pairs = logits.items() if isinstance(logits, Mapping) else [("", logits)]
    n = 0
    for task, out in pairs:
        target = y[task] if task else y
        correct, count = tally.get(task, (0, 0))
        tally[task] = (correct + (out.argmax(1) == target).sum(), count + len(target))
        n += len(target)
    return n


def _accuracies(tally: dict, key: str) -> dict[str, float]:
    return _with_tasks(key, {task: int(correct) / count
                             for task, (correct, count) in tally.items()})


def _predict(model, loader, device, dtype, use_cl):
    """Logits, targets and the loader used (smaller batches if CUDA ran out of memory)."""
    _prepare(model, device, use_cl).eval()
    shard = distributed.shard_eval_loader(loader)
    if shard is not None:  # under torchrun: each process its slice, then all of them
        (logits, targets), _ = retry_with_smaller_batches(
            lambda batches: _predict_once(model, batches, device, dtype, use_cl), shard,
            "predicting")
        logits, targets = distributed.gather_shards((logits, targets))
        return logits, targets, loader
    (logits, targets), loader = retry_with_smaller_batches(
        lambda batches: _predict_once(model, batches, device, dtype, use_cl), loader,
        "predicting")
    return logits, targets, loader


def _scores(logits, targets, loss_fn=None) -> dict[str, float]:
    if isinstance(logits, Mapping):  # several tasks: summed loss, mean and per-task accuracy
        each = {t: _scores(logits[t], targets[t], loss_fn) for t in logits}
        return {"loss": sum(s["loss"] for s in each.values()),
                **_with_tasks("acc", {t: s["acc"] for t, s in each.items()})}
    loss = (loss_fn or nn.CrossEntropyLoss())(logits, targets).item()
    acc = (logits.argmax(1) == targets).float().mean().item()
    return {"loss": loss if math.isfinite(loss) else float("nan"), "acc": acc}


def predict(model: nn.Module, loader, *, device: torch.device | str | None = None,
            amp: bool | str = "auto", channels_last: bool | str = "auto"):
    """Logits and targets over ``loader``, as CPU float32 tensors ``(N, K)`` and ``(N,)``
    (over multi-task batches: dicts of them by task).

    They are ordinary tensors (not inference-mode ones), so they can feed a training step,
    e.g. a linear head fitted on extracted features. If CUDA runs out of memory the batch
    size is halved (with a warning) and the pass starts again. Under ``torchrun`` each
    process predicts a slice of the data and every process gets all of the results: call it
    on every process (not under ``if is_main():``, where the others would never answer).
    """
    device = get_device(device if device is None else str(device))
    if distributed.init(device):
        device = distributed.device_for_rank(device)
    logits, targets, _ = _predict(model, loader, device, amp_dtype(device, amp),
                                  _use_channels_last(device, channels_last))
    return logits, targets


def evaluate(model: nn.Module, loader, *, device: torch.device | str | None = None,
             loss_fn: nn.Module | None = None, amp: bool | str = "auto",
             channels_last: bool | str = "auto") -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader``: ``{"loss": ..., "acc": ...}``.

    Over multi-task batches (e.g. a :class:`tlcourse.multitask.TaskLoader` in ``"each"``
    mode) also ``"acc/<task>"``; ``"acc"`` is then the tasks' mean, ``"loss"`` their sum.
    Under ``torchrun``, as :func:`predict`: on every process."""
    logits, targets = predict(model, loader, device=device, amp=amp, channels_last=channels_last)
    return _scores(logits, targets, loss_fn)
