"""A DataLoader factory whose settings follow the device."""

from __future__ import annotations

import os

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from tlcourse.checks import positive_int
from tlcourse.data.arrays import ArrayDataset

__all__ = ["loader_settings", "make_loader"]


def _in_memory(dataset: Dataset) -> bool:
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return isinstance(dataset, ArrayDataset | torch.utils.data.TensorDataset)


def loader_settings(dataset: Dataset, device: torch.device) -> dict:
    """Workers, pinned memory and persistence for ``dataset`` on ``device``.

    In-memory data on a CPU: no worker processes (they would compete with training for
    the same cores). Data read from disk, or any data feeding a GPU: worker processes,
    kept alive between epochs; pinned memory for fast, non-blocking copies to CUDA.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if device.type == "cuda":
        workers = min(8, cpus or 1)
    elif _in_memory(dataset):
        workers = 0
    else:
        workers = min(2, max((cpus or 1) - 1, 0))
    return {"num_workers": workers, "pin_memory": device.type == "cuda",
            "persistent_workers": workers > 0}


def make_loader(dataset: Dataset, batch_size: int, *, shuffle: bool = False,
                device: torch.device | str | None = None, seed: int = 0,
                drop_last: bool = False, **overrides) -> DataLoader:
    """A ``DataLoader`` with device-aware settings and a seeded shuffle.

    Args:
        batch_size: a positive int.
        device: where the batches will go (``None``: the CPU).
        seed: seeds the shuffle order, so the same seed gives the same batches.
        overrides: any ``DataLoader`` argument, e.g. ``num_workers=0``.
    """
    positive_int("batch_size", batch_size)
    device = torch.device(device or "cpu")
    settings = loader_settings(dataset, device) | overrides
    if settings.get("num_workers", 0) == 0 and "persistent_workers" not in overrides:
        settings["persistent_workers"] = False  # num_workers=0 on a GPU: nothing to keep alive
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      generator=generator, **settings)
