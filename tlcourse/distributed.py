"""Training on several processes (GPUs, machines) with ``torch.distributed``.

:func:`tlcourse.train.fit`, ``evaluate``, ``predict`` and
:func:`tlcourse.features.extract` run unchanged under PyTorch's own launcher::

    torchrun --nproc_per_node=4 my_training.py        # 4 GPUs (or 4 CPU processes)

Under ``torchrun`` (its ``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` variables are set) the
first call joins the process group from the environment (NCCL on CUDA, gloo on CPUs); each
process uses the GPU of its ``LOCAL_RANK``. Then ``fit`` wraps the model in
``DistributedDataParallel`` (gradients averaged across processes at every step), trains each
process on its own share of every epoch (a ``DistributedSampler`` whose shuffle is seeded by
the loader's and set per epoch), adds up the training metrics of all processes, and
evaluates each process on a slice of the validation set, gathering the predictions so every
process sees the same numbers and takes the same decisions (early stopping). Progress bars,
live plots and checkpoints are rank 0's; a checkpoint holds every process's random state,
so all of them resume together. Outside ``torchrun`` (and with no process group
initialised by hand) nothing here does anything.

Each process loads batches of the loader's ``batch_size``: the global batch is
``world_size`` times larger, which is why a learning rate tuned on one GPU is often scaled up
(see the README's section on several GPUs). Nothing home-made: this is PyTorch's DDP
(https://pytorch.org/docs/stable/notes/ddp.html).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, RandomSampler, SequentialSampler, Subset
from torch.utils.data.distributed import DistributedSampler

from tlcourse import checkpoint as ckpt_lib
from tlcourse import io

__all__ = ["RankRandomState", "all_true", "barrier", "cached", "device_for_rank",
           "gather_shards", "init", "is_active", "is_main", "launched", "local_rank", "rank",
           "shard_eval_loader", "shard_train_loader", "sum_across", "world_size", "wrap"]

#: How long a collective operation waits for the other processes before it fails: a rank
#: that died without torchrun noticing must not hang the others for torch's default 10 min.
TIMEOUT_S = float(os.environ.get("TLCOURSE_DIST_TIMEOUT", "300"))


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (or another launcher that sets the
    ``env://`` variables ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def init(device: torch.device | str | None = None) -> bool:
    """Join the process group from the environment if launched by ``torchrun``; return
    whether this run is distributed (a group is initialised).

    The backend is NCCL when ``device`` (default: CUDA if there is one) is a GPU, else gloo.
    Called by ``fit``, ``predict``, ``evaluate`` and ``extract``; a second call does nothing.
    """
    if not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    if not launched():
        return False
    kind = torch.device(device).type if device is not None else (
        "cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend="nccl" if kind == "cuda" else "gloo",
                            timeout=dt.timedelta(seconds=TIMEOUT_S))
    return True


def is_active() -> bool:
    """Whether a process group is initialised (by :func:`init` or by hand)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 outside a distributed run)."""
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    """The number of processes (1 outside a distributed run)."""
    return dist.get_world_size() if is_active() else 1


def local_rank() -> int:
    """This process's rank on its machine (``LOCAL_RANK``), which picks its GPU."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """True on rank 0, the process that writes files and draws progress bars; also True
    outside a distributed run."""
    return rank() == 0


def barrier() -> None:
    """Wait until every process gets here (nothing outside a distributed run)."""
    if is_active():
        dist.barrier()


def device_for_rank(device: torch.device) -> torch.device:
    """``cuda`` without an index becomes this process's GPU (``cuda:LOCAL_RANK``).

    Raises:
        ValueError: a GPU named by its index (``cuda:0``) while several processes run on
            this machine: they would all share that one GPU (NCCL refuses it).
    """
    if not is_active() or device.type != "cuda":
        return device
    if device.index is None:
        return torch.device("cuda", local_rank())
    if int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1 and device.index != local_rank():
        raise ValueError(
            f"under torchrun, {device} would put process {rank()} on the GPU of local rank "
            f"{device.index}; each process needs its own GPU. Pass device='cuda' (no index): "
            "each process then takes cuda:LOCAL_RANK.")
    return device


def sum_across(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over all processes (returned as is outside a distributed run)."""
    if not is_active():
        return values
    # NCCL reduces GPU tensors only; gloo CPU ones. The backend's device is the group's.
    on = torch.device("cuda", torch.cuda.current_device()) \
        if dist.get_backend() == "nccl" else torch.device("cpu")
    total = values.detach().to(on, torch.float64).clone()
    dist.all_reduce(total)
    return total.to(values.device)


def all_true(flag: bool) -> bool:
    """Whether ``flag`` is true on every process."""
    return bool(sum_across(torch.tensor([float(not flag)])).item() == 0)


def sync_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (BatchNorm's running statistics) on every process.

    DDP sends rank 0's buffers to the others before each training forward pass, but that
    pass then updates each process's copy from its own batch; ``fit`` calls this after each
    training epoch so that every process validates, stops early and saves the same model."""
    if not is_active():
        return
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def from_main(obj):
    """Rank 0's ``obj`` on every process (``obj`` itself outside a distributed run): for a
    decision each process could otherwise take differently (a tie broken by other CPU
    kernels on another machine), so that all go on with rank 0's."""
    if not is_active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _gather(obj) -> list:
    parts: list = [None] * world_size()
    dist.all_gather_object(parts, obj)
    return parts


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` inside ``DistributedDataParallel`` (its gradients averaged across processes
    in the backward pass). Parameters that do not train (frozen) are left out by DDP."""
    from torch.nn.parallel import DistributedDataParallel

    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("every parameter of the model is frozen: nothing to train.")
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _loader_settings(loader: DataLoader) -> dict:
    settings = {"num_workers": loader.num_workers, "collate_fn": loader.collate_fn,
                "pin_memory": loader.pin_memory, "timeout": loader.timeout,
                "worker_init_fn": loader.worker_init_fn,
                "multiprocessing_context": loader.multiprocessing_context,
                "persistent_workers": loader.persistent_workers,
                "pin_memory_device": loader.pin_memory_device}
    if loader.num_workers > 0:
        settings["prefetch_factor"] = loader.prefetch_factor
    return settings


def shard_train_loader(loader):
    """A copy of the training ``loader`` that gives this process its share of each epoch.

    A ``DistributedSampler`` (shuffling if ``loader`` shuffled, seeded by the loader's
    generator, so every process draws the same permutation and takes every
    ``world_size``-th item of it); same batch size (per process), workers and collate
    function; a generator of its own per process (seed + rank), which seeds the workers.
    A loader that already has a ``DistributedSampler`` is returned as it is.

    Raises:
        TypeError: ``loader`` is not a ``DataLoader`` over a map-style dataset with a batch
            size, so it cannot be split (give each process a ``DistributedSampler`` yourself).
    """
    if isinstance(getattr(loader, "sampler", None), DistributedSampler):
        return loader
    if (not isinstance(loader, DataLoader) or isinstance(loader.dataset, IterableDataset)
            or loader.batch_size is None
            or not isinstance(loader.sampler, RandomSampler | SequentialSampler)):
        raise TypeError(
            f"under torchrun, fit splits the training data with a DistributedSampler, but this "
            f"{type(loader).__name__} cannot be split that way (it needs a DataLoader over a "
            "map-style dataset with a batch_size and no custom sampler). Build the loader with "
            "sampler=torch.utils.data.distributed.DistributedSampler(dataset) instead.")
    seed = loader.generator.initial_seed() if loader.generator is not None else 0
    sampler = DistributedSampler(loader.dataset, num_replicas=world_size(), rank=rank(),
                                 shuffle=isinstance(loader.sampler, RandomSampler), seed=seed,
                                 drop_last=loader.drop_last)
    # The loader's own generator seeds its worker processes (their random augmentations):
    # one per process, or every process would crop and flip its images alike.
    generator = torch.Generator().manual_seed(seed + rank())
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler,
                      drop_last=loader.drop_last, generator=generator, **_loader_settings(loader))


def set_epoch(loader, epoch: int) -> None:
    """Tell a ``DistributedSampler`` the epoch, so each epoch has its own shuffle (the same
    on every process)."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def shard_eval_loader(loader):
    """This process's slice of an evaluation ``loader`` (items ``rank``, ``rank + world``,
    ...), or ``None`` when the run is not distributed or the loader cannot be sliced (then
    every process goes through all of it: slower, same numbers)."""
    if not is_active() or world_size() == 1 or not isinstance(loader, DataLoader):
        return None
    if (isinstance(loader.dataset, IterableDataset) or loader.batch_size is None
            or not isinstance(loader.sampler, SequentialSampler)
            or len(loader.dataset) < world_size()):
        return None
    part = Subset(loader.dataset, range(rank(), len(loader.dataset), world_size()))
    return DataLoader(part, batch_size=loader.batch_size, shuffle=False,
                      **_loader_settings(loader))


def _interleave(parts: list):
    """Put slices back in order: ``parts[r]`` holds items ``r, r + W, r + 2W, ...``."""
    first = parts[0]
    if isinstance(first, Mapping):
        return {k: _interleave([p[k] for p in parts]) for k in first}
    if isinstance(first, tuple | list):
        return type(first)(_interleave([p[i] for p in parts]) for i in range(len(first)))
    out = first.new_empty((sum(len(p) for p in parts), *first.shape[1:]))
    for r, p in enumerate(parts):
        out[r::len(parts)] = p
    return out


def gather_shards(value):
    """Every process's result on its :func:`shard_eval_loader` slice (tensors, or tuples
    and dicts of them, on the CPU), put back in the dataset's order, on every process."""
    return _interleave(_gather(value))


class RankRandomState:
    """Every process's random number generators, kept in a ``fit`` checkpoint.

    Each process augments different images, so their generators drift apart; putting back
    only rank 0's state would give the other ranks other random draws than an
    uninterrupted run. ``fit`` keeps this object with its callbacks: :meth:`gather` (on all
    processes) before rank 0 saves, :meth:`restore` after loading.
    """

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self.generator = generator
        self.states: list | None = None

    def gather(self) -> None:
        self.states = _gather(ckpt_lib.get_rng_state(self.generator))

    def state_dict(self) -> dict:
        return {"states": self.states}

    def load_state_dict(self, state: dict) -> None:
        self.states = state["states"]

    def restore(self) -> None:
        """Set this process's generators as they were when the checkpoint was written (only
        if it was written by as many processes; else rank 0's state, as loaded, stays)."""
        if self.states is not None and len(self.states) == world_size():
            ckpt_lib.set_rng_state(self.states[rank()], self.generator)


def cached(kind: str, key: str, build: Callable[[], Any], folder=None) -> tuple[Any, bool]:
    """:func:`tlcourse.io.cached` for a ``build`` that every process takes part in.

    If every process finds the file, each loads it. Otherwise all of them build, and rank 0
    alone writes the file (the others wait for it).
    """
    from tlcourse.data.download import cache_dir

    path = Path(folder or cache_dir()) / kind / f"{key}.pt"
    if all_true(path.exists()):
        return io.cached(kind, key, build, folder)
    value = build()
    if is_main():
        io.save(value, path)
    barrier()
    return value, False
