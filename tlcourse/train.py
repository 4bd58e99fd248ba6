"""Training and evaluation loops: ``fit``, ``evaluate``, ``predict``.

One loop for every lesson and every device. On CUDA it uses mixed precision (bfloat16
where the GPU supports it, else float16 with a gradient scaler), channels_last memory and
non-blocking copies from pinned memory; on a CPU it runs in float32 and, seeded, repeats
exactly.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from tlcourse.env import get_device, seed_everything

__all__ = ["History", "amp_dtype", "evaluate", "fit", "predict"]


@dataclass
class History:
    """Per-epoch metrics of a :func:`fit` run; ``history["val_acc"]`` is a list."""

    epochs: list[dict[str, float]] = field(default_factory=list)

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


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def fit(model: nn.Module, train_loader, val_loader=None, *, num_epochs: int, lr: float = 1e-3,
        device: torch.device | str | None = None, optimizer: torch.optim.Optimizer | None = None,
        scheduler=None, loss_fn: nn.Module | None = None, weight_decay: float = 0.0,
        amp: bool | str = "auto", channels_last: bool | str = "auto", seed: int | None = None,
        progress: bool = True, desc: str = "fit") -> History:
    """Train ``model`` for ``num_epochs`` epochs; evaluate on ``val_loader`` after each.

    Args:
        optimizer: defaults to AdamW(lr, weight_decay) over the parameters that require
            gradients (frozen ones are left out, which also saves their optimizer state).
        scheduler: stepped once per batch (e.g. ``OneCycleLR``), if given.
        amp: ``"auto"`` uses mixed precision on CUDA only.
        channels_last: ``"auto"`` uses it on CUDA only.
        seed: re-seeds torch first so that the run repeats exactly on a CPU.

    Returns:
        A :class:`History` with ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``,
        ``lr`` and ``seconds`` per epoch.

    Raises:
        FloatingPointError: the loss became NaN or infinite (learning rate too high?).
    """
    _check_positive_int("num_epochs", num_epochs)
    if not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
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
    use_cl = _use_channels_last(device, channels_last)
    model.to(device, memory_format=torch.channels_last) if use_cl else model.to(device)
    dtype = amp_dtype(device, amp)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    history = History()
    bar = tqdm(total=num_epochs * len(train_loader), desc=desc, disable=not progress,
               unit="batch", leave=True)
    for epoch in range(num_epochs):
        start = time.perf_counter()
        model.train()
        total_loss = correct = seen = 0
        for step, batch in enumerate(train_loader):
            x, y = _to(batch, device, use_cl)
            with _autocast(device, dtype):
                logits = model(x)
                loss = loss_fn(logits, y)
            if not torch.isfinite(loss):
                bar.close()
                raise FloatingPointError(
                    f"the training loss became {loss.item()} at epoch {epoch + 1}, batch "
                    f"{step + 1}. The learning rate (lr={optimizer.param_groups[0]['lr']:g}) "
                    "is the likely cause: try one 10x smaller.")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.update()
        row = {"epoch": epoch + 1, "train_loss": total_loss / seen, "train_acc": correct / seen,
               "lr": optimizer.param_groups[0]["lr"]}
        if val_loader is not None:
            val = evaluate(model, val_loader, device=device, loss_fn=loss_fn, amp=amp,
                           channels_last=channels_last)
            row |= {"val_loss": val["loss"], "val_acc": val["acc"]}
        row["seconds"] = time.perf_counter() - start
        history.epochs.append(row)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k.endswith(("loss", "acc"))})
    bar.close()
    return history


@torch.inference_mode()
def predict(model: nn.Module, loader, *, device: torch.device | str | None = None,
            amp: bool | str = "auto", channels_last: bool | str = "auto"):
    """Logits and targets over ``loader``, as CPU float32 tensors ``(N, K)`` and ``(N,)``."""
    device = get_device(device if device is None else str(device))
    use_cl = _use_channels_last(device, channels_last)
    model.to(device).eval()
    dtype = amp_dtype(device, amp)
    outputs, targets = [], []
    for batch in loader:
        x, y = _to(batch, device, use_cl)
        with _autocast(device, dtype):
            outputs.append(model(x).float().cpu())
        targets.append(y.cpu())
    return torch.cat(outputs), torch.cat(targets)


def evaluate(model: nn.Module, loader, *, device: torch.device | str | None = None,
             loss_fn: nn.Module | None = None, amp: bool | str = "auto",
             channels_last: bool | str = "auto") -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader``: ``{"loss": ..., "acc": ...}``."""
    logits, targets = predict(model, loader, device=device, amp=amp, channels_last=channels_last)
    loss = (loss_fn or nn.CrossEntropyLoss())(logits, targets).item()
    acc = (logits.argmax(1) == targets).float().mean().item()
    return {"loss": loss if math.isfinite(loss) else float("nan"), "acc": acc}
