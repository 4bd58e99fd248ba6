"""Training and evaluation loops: ``fit``, ``evaluate``, ``predict``.

One loop for every lesson and every device. On CUDA it uses mixed precision (bfloat16
where the GPU supports it, else float16 with a gradient scaler), channels_last memory and
non-blocking copies from pinned memory; on a CPU it runs in float32 and, seeded, repeats
exactly.

``fit`` also takes what fine-tuning needs: per-batch learning-rate schedules
(:mod:`tlcourse.schedules`), :class:`EarlyStopping` with the best weights restored, a
penalty added to the loss (e.g. :class:`tlcourse.regularize.L2SP`), callbacks, and
checkpoints written atomically each epoch that a later call resumes exactly
(:mod:`tlcourse.checkpoint`).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from tlcourse import checkpoint as ckpt_lib
from tlcourse import schedules
from tlcourse.callbacks import Callback, EarlyStopping
from tlcourse.checks import positive_int
from tlcourse.env import get_device, seed_everything

__all__ = ["Callback", "EarlyStopping", "History", "amp_dtype", "evaluate", "fit", "predict"]


@dataclass
class History:
    """Per-epoch metrics of a :func:`fit` run; ``history["val_acc"]`` is a list.

    ``best_epoch`` (1-based) is the epoch whose weights early stopping restored, and
    ``stopped_epoch`` the epoch after which it stopped the run (``None`` if it did not).
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_epoch: int | None = None

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


def amp_dtype(device: torch.device, amp: bool | str = "auto") -> torch.dtype | None:
    """The autocast dtype: bf16 (or fp16 on older GPUs) on CUDA, ``None`` (off) elsewhere.

    Mixed precision only pays off on a GPU, so ``amp=True`` on a CPU also gives ``None``.
    """
    if amp is False or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _to(batch, device: torch.device, channels_last: bool):
    x, y = batch[0], batch[1]
    non_blocking = device.type == "cuda"
    x = x.to(device, non_blocking=non_blocking)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=non_blocking)


def _use_channels_last(device: torch.device, channels_last: bool | str) -> bool:
    return device.type == "cuda" if channels_last == "auto" else bool(channels_last)


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
        checkpoint: str | os.PathLike | None = None, resume: bool = False) -> History:
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
        channels_last: ``"auto"`` uses it on CUDA only.
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

    Returns:
        A :class:`History` with ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``,
        ``lr`` (the largest group's) and ``seconds`` per epoch, plus what callbacks add.

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
    if seed is not None:
        seed_everything(seed)
    device = get_device(device if device is None else str(device))
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer is None:
        if not params:
            raise ValueError("every parameter of the model is frozen: nothing to train. "
                             "Unfreeze the head (tlc.models.unfreeze) first.")
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = _make_scheduler(scheduler, optimizer, num_epochs * len(train_loader), warmup)
    use_cl = _use_channels_last(device, channels_last)
    model.to(device, memory_format=torch.channels_last) if use_cl else model.to(device)
    dtype = amp_dtype(device, amp)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    callbacks = [*callbacks, *([early_stopping] if early_stopping is not None else [])]
    named = {f"{i}_{type(cb).__name__}": cb for i, cb in enumerate(callbacks)}
    generator = getattr(train_loader, "generator", None)
    history, start_epoch = History(), 0
    if resume and Path(checkpoint).exists():
        state = ckpt_lib.load_checkpoint(checkpoint, model=model, optimizer=optimizer,
                                         scheduler=scheduler, scaler=scaler, callbacks=named,
                                         generator=generator, map_location=device)
        history.epochs, start_epoch = list(state["history"]), state["epoch"]
    bar = tqdm(total=(num_epochs - start_epoch) * len(train_loader), desc=desc,
               disable=not progress, unit="batch", leave=True)
    stop = early_stopping is not None and early_stopping.stopped
    for epoch in range(start_epoch, num_epochs):
        if stop:
            break
        start = time.perf_counter()
        model.train()
        if batchnorm != "train":
            from tlcourse.models import set_bn_eval

            set_bn_eval(model, frozen_only=batchnorm == "eval_frozen")
        _call(callbacks, "on_epoch_start", epoch, model)
        total_loss = total_penalty = correct = seen = 0
        for step, batch in enumerate(train_loader):
            x, y = _to(batch, device, use_cl)
            with _autocast(device, dtype):
                logits = model(x)
                loss = loss_fn(logits, y)
                extra = penalty(model, x, logits) if penalty is not None else 0.0
            if not torch.isfinite(loss + extra):
                bar.close()
                raise FloatingPointError(
                    f"the training loss became {(loss + extra).item()} at epoch {epoch + 1}, "
                    f"batch {step + 1}. The learning rate "
                    f"(lr={optimizer.param_groups[0]['lr']:g}) is the likely cause: try one "
                    "10x smaller.")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss + extra).backward()
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.item() * len(y)
            total_penalty += float(extra.detach() if torch.is_tensor(extra) else extra) * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.update()
        row = {"epoch": epoch + 1, "train_loss": total_loss / seen, "train_acc": correct / seen,
               "lr": max(g["lr"] for g in optimizer.param_groups)}
        if penalty is not None:
            row["penalty"] = total_penalty / seen
        if val_loader is not None:
            val = evaluate(model, val_loader, device=device, loss_fn=loss_fn, amp=amp,
                           channels_last=channels_last)
            row |= {"val_loss": val["loss"], "val_acc": val["acc"]}
        stop = any(_call(callbacks, "on_epoch_end", epoch, model, row)) or stop
        row["seconds"] = time.perf_counter() - start
        history.epochs.append(row)
        if checkpoint is not None:
            ckpt_lib.save_checkpoint(checkpoint, model=model, epoch=epoch + 1,
                                     optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                                     history=history.epochs, callbacks=named,
                                     generator=generator)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k.endswith(("loss", "acc"))})
    bar.close()
    _call(callbacks, "on_fit_end", model, history)
    return history
def predict(model: nn.Module, loader, *, device: torch.device | str | None = None,
            amp: bool | str = "auto", channels_last: bool | str = "auto"):
    """Logits and targets over ``loader``, as CPU float32 tensors ``(N, K)`` and ``(N,)``.

    They are ordinary tensors (not inference-mode ones), so they can feed a training step,
    e.g. a linear head fitted on extracted features.
    """
    device = get_device(device if device is None else str(device))
    use_cl = _use_channels_last(device, channels_last)
    model.to(device).eval()
    dtype = amp_dtype(device, amp)
    outputs, targets = [], []
    with torch.inference_mode():
        for batch in loader:
            x, y = _to(batch, device, use_cl)
            with _autocast(device, dtype):
                outputs.append(model(x).float().cpu())
            targets.append(y.cpu())
    # Concatenated outside inference mode: the results are normal tensors.
    return torch.cat(outputs), torch.cat(targets)


def evaluate(model: nn.Module, loader, *, device: torch.device | str | None = None,
             loss_fn: nn.Module | None = None, amp: bool | str = "auto",
             channels_last: bool | str = "auto") -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader``: ``{"loss": ..., "acc": ...}``."""
    logits, targets = predict(model, loader, device=device, amp=amp, channels_last=channels_last)
    loss = (loss_fn or nn.CrossEntropyLoss())(logits, targets).item()
    acc = (logits.argmax(1) == targets).float().mean().item()
    return {"loss": loss if math.isfinite(loss) else float("nan"), "acc": acc}
