"""What makes training fast on the hardware at hand, and keeps it going when memory runs out.

Used by :func:`tlcourse.train.fit`, :func:`tlcourse.features.extract_features` and the
adaptation trainer: the mixed-precision dtype, channels_last memory, non-blocking copies
from pinned memory, optional ``torch.compile`` with a fallback, and on CUDA out-of-memory
a loader with half the batch size plus a snapshot to re-run the epoch from a clean start.
:func:`count_flops` measures what a computation costs in a unit that is the same on every
machine.
The measurements behind these defaults are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset
from torch.utils.flop_counter import FlopCounterMode

from tlcourse import checkpoint as ckpt_lib
from tlcourse.multitask import is_task_batch

__all__ = ["OutOfMemoryError", "amp_dtype", "count_flops", "retry_with_smaller_batches",
           "shrink_loader"]

#: What PyTorch raises when the GPU's memory runs out (``torch.cuda.OutOfMemoryError``).
OutOfMemoryError = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def amp_dtype(device: torch.device, amp: bool | str = "auto") -> torch.dtype | None:
    """The autocast dtype: bf16 (or fp16 on older GPUs) on CUDA, ``None`` (off) elsewhere.

    Mixed precision only pays off on a GPU, so ``amp=True`` on a CPU also gives ``None``.
    float16 needs a gradient scaler (``fit`` uses one); bfloat16 has float32's range.
    """
    if amp is False or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _move(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """``x`` on ``device`` (a non-blocking copy from pinned memory on CUDA, overlapping
    compute), in channels_last memory format if asked and ``x`` is a batch of images."""
    x = x.to(device, non_blocking=device.type == "cuda")
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _to(batch, device: torch.device, channels_last: bool):
    """``(inputs, targets)`` on ``device`` from an ``(inputs, targets)`` batch, or from a dict
    of tensors with the targets under ``"labels"`` (tokenized text: the inputs stay a dict,
    e.g. ``input_ids`` and ``attention_mask``, and are passed to the model as keywords), or
    from a multi-task batch ``{task: (x, y)}`` (inputs and targets then dicts by task)."""
    if is_task_batch(batch):  # multi-task: {task: (x, y)}
        return ({t: _move(x, device, channels_last) for t, (x, _) in batch.items()},
                {t: _move(y, device, False) for t, (_, y) in batch.items()})
    if isinstance(batch, Mapping):
        if "labels" not in batch:
            raise KeyError(f"a batch that is a dict needs its targets under 'labels'; it has "
                           f"{', '.join(map(str, batch))}")
        inputs = {k: _move(v, device, False) for k, v in batch.items() if k != "labels"}
        return inputs, _move(batch["labels"], device, False)
    return _move(batch[0], device, channels_last), _move(batch[1], device, False)


def _run(model, x) -> torch.Tensor:
    """The model's logits for inputs ``x``: a tensor, or a dict passed as keywords; an output
    object with ``.logits`` (e.g. a Hugging Face classifier's) gives those."""
    out = model(**x) if isinstance(x, Mapping) else model(x)
    return getattr(out, "logits", out)


def _use_channels_last(device: torch.device, channels_last: bool | str) -> bool:
    # Measured faster on CUDA (tensor cores) and on CPUs (oneDNN); MPS gains nothing.
    return device.type in ("cuda", "cpu") if channels_last == "auto" else bool(channels_last)


def _prepare(model: nn.Module, device: torch.device, use_cl: bool) -> nn.Module:
    return model.to(device, memory_format=torch.channels_last) if use_cl else model.to(device)



def shrink_loader(loader, what: str, error: str = "") -> DataLoader:
    """A copy of ``loader`` with half its batch size, after CUDA ran out of memory.

    Same dataset, sampler (and so the same shuffling generator), workers, collate
    function and pinning. Warns with the new size.

    Raises:
        OutOfMemoryError: the batch size is already 1, or ``loader`` is not a
            ``DataLoader`` with a ``batch_size`` (a custom batch sampler).
    """
    size = getattr(loader, "batch_size", None)
    if not isinstance(loader, DataLoader) or size is None:
        raise OutOfMemoryError(
            f"CUDA ran out of memory while {what}, and this {type(loader).__name__} has no "
            f"batch_size to halve. Pass a DataLoader with a smaller batch_size. ({error})")
    if size <= 1:
        raise OutOfMemoryError(
            f"CUDA ran out of memory while {what}, even with batch size 1: the model does not "
            "fit in this GPU's memory. Use a smaller backbone or image size, freeze more "
            "layers, or free GPU memory (restart the kernel). "
            f"({error})")
    new = size // 2
    warnings.warn(f"CUDA out of memory at batch size {size} while {what}; retrying with "
                  f"batch size {new}.", stacklevel=3)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    settings = {"num_workers": loader.num_workers, "collate_fn": loader.collate_fn,
                "pin_memory": loader.pin_memory, "drop_last": loader.drop_last,
                "timeout": loader.timeout, "worker_init_fn": loader.worker_init_fn,
                "multiprocessing_context": loader.multiprocessing_context,
                "generator": loader.generator, "persistent_workers": loader.persistent_workers,
                "pin_memory_device": loader.pin_memory_device}
    if loader.num_workers > 0:
        settings["prefetch_factor"] = loader.prefetch_factor
    if not isinstance(loader.dataset, IterableDataset):
        settings["sampler"] = loader.sampler
    return DataLoader(loader.dataset, batch_size=new, **settings)


def retry_with_smaller_batches(run: Callable, loader, what: str):
    """``(run(loader), loader)``; each time CUDA runs out of memory, ``run`` starts again on
    a loader with half the batch size (see :func:`shrink_loader`, which warns)."""
    while True:
        error = None
        try:
            return run(loader), loader
        except OutOfMemoryError as err:  # leaving the handler frees the batch's memory
            error = str(err)
        loader = shrink_loader(loader, what, error)


def _cpu_copy(obj, buffers: dict, key: str = ""):
    """A CPU copy of a (nested) state dict. CUDA tensors go into pinned ``buffers``, reused
    from epoch to epoch, by asynchronous copies that keep the GPU busy."""
    if torch.is_tensor(obj):
        if obj.device.type != "cuda":
            return obj.detach().to("cpu", copy=True)
        buffer = buffers.get(key)
        if buffer is None or buffer.shape != obj.shape or buffer.dtype != obj.dtype:
            buffer = buffers[key] = torch.empty_like(obj, device="cpu", pin_memory=True)
        return buffer.copy_(obj.detach(), non_blocking=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v, buffers, f"{key}/{k}") for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_cpu_copy(v, buffers, f"{key}/{i}") for i, v in enumerate(obj))
    return copy.deepcopy(obj)


def _snapshot(model: nn.Module, generator, objects: dict, buffers: dict) -> Callable[[], None]:
    """Copy (to the CPU) everything an epoch changes; return a function that puts it back.

    Taken before each epoch so that an epoch that ran out of memory halfway is run again
    from a clean start: weights, optimizer moments, scheduler, scaler, callbacks, RNGs.
    """
    weights = _cpu_copy(model.state_dict(), buffers, "model")
    requires_grad = [p.requires_grad for p in model.parameters()]
    states = {k: _cpu_copy(o.state_dict(), buffers, k) for k, o in objects.items()
              if hasattr(o, "state_dict")}
    rng = ckpt_lib.get_rng_state(generator)

    def restore() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # the asynchronous copies have landed
        model.load_state_dict(weights)
        for p, flag in zip(model.parameters(), requires_grad, strict=True):
            p.requires_grad_(flag)
        for key, state in states.items():
            objects[key].load_state_dict(state)
        ckpt_lib.set_rng_state(rng, generator)

    return restore


class _Compiled:
    """``torch.compile(model)``, falling back to ``model`` with a warning if it fails."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.compiled = model, None
        try:
            self.compiled = torch.compile(model)
        except Exception as err:  # e.g. an unsupported Python or platform
            self._fail(err)

    def _fail(self, err: Exception) -> None:
        self.compiled = None
        warnings.warn(f"torch.compile failed ({type(err).__name__}: {str(err).strip()[:300]}); "
                      "training without it (compile=False gives the same results).",
                      stacklevel=3)

    def __call__(self, x):
        if self.compiled is not None:
            try:
                return _run(self.compiled, x)
            except OutOfMemoryError:
                raise
            except Exception as err:  # compilation happens at the first call
                self._fail(err)
        return _run(self.model, x)


def _conv_flops(x_shape, w_shape, out_shape, transposed: bool) -> int:
    # 2 FLOPs (a multiply and an add) per weight per output position; the weight's shape
    # already holds the per-group input channels, so grouped and depthwise convolutions count
    # right. A transposed convolution slides its weight over the input's positions.
    positions = x_shape[2:] if transposed else out_shape[2:]
    return 2 * x_shape[0] * math.prod(w_shape) * math.prod(positions)


def _conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation,
                         transposed, _output_padding, _groups, output_mask, **_) -> int:
    # Each gradient asked for (the input's, the weight's) takes as many multiply-adds as the
    # forward convolution. (torch 2.14's own formula ignores the groups of the input's
    # gradient and counts a depthwise convolution's backward pass channels-times too high.)
    gradients = int(output_mask[0]) + int(output_mask[1])
    return _conv_flops(x_shape, w_shape, grad_out_shape, transposed) * gradients


def count_flops(fn: Callable, *args, **kwargs) -> tuple[Any, int]:
    """Run ``fn(*args, **kwargs)``; return its result and the FLOPs of its matrix products
    and convolutions, forward and backward (``torch.utils.flop_counter``).

    A FLOP count depends only on the shapes computed, so unlike seconds it is the same on
    every CPU and GPU and under any load: the unit to compare two computations' costs in.
    Element-wise operations (activations, normalisation, the optimizer's update) are not
    counted; in convolutional and transformer networks they are a small part of the work.
    Layers that need no gradient (frozen, with nothing trainable below them) cost no
    backward FLOPs, as autograd skips them.

    Example:
        >>> layer = torch.nn.Linear(3, 4)
        >>> _, flops = count_flops(layer, torch.ones(2, 3))
        >>> flops                                # 2 x batch x in x out
        48
    """
    mapping = {torch.ops.aten.convolution_backward: _conv_backward_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        result = fn(*args, **kwargs)
    return result, int(counter.get_total_flops())
