"""Training checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint holds the model, the optimizer, the scheduler, the gradient scaler, the
epoch, the history so far, the state of callbacks such as early stopping, and every random
number generator a run draws from (Python, NumPy, torch on the CPU and the GPUs, and the
data loader's shuffling). It is written with :func:`tlcourse.io.save`: atomically (a
temporary file renamed into place) and with a checksum, so a run killed mid-write leaves
the previous checkpoint intact, and a damaged file raises
:class:`tlcourse.io.CorruptFileError` instead of being trusted. It loads with
``weights_only=True`` (no code runs), which is why NumPy's state is stored as tensors.

:func:`tlcourse.train.fit` writes one each epoch with ``checkpoint=path`` and continues
from it with ``resume=True``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tlcourse import io

__all__ = ["get_rng_state", "load_checkpoint", "load_classifier", "save_checkpoint",
           "save_classifier", "set_rng_state"]

FORMAT = 1
CLASSIFIER_FORMAT = "tlcourse-classifier-1"


def get_rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """The state of every random number generator a training run uses.

    Args:
        generator: a data loader's own generator (its shuffling), if it has one.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "cached_gaussian": cached},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if generator is not None:
        state["loader"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Restore what :func:`get_rng_state` captured.

    The states are byte tensors that torch wants on the CPU; a checkpoint loaded with
    ``map_location="cuda"`` brings them onto the GPU, so they are moved back first."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].cpu().numpy().astype(np.uint32),  # noqa: NPY002
                         n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    if generator is not None and "loader" in state:
        generator.set_state(state["loader"].cpu())


def _state(obj) -> dict | None:
    return obj.state_dict() if obj is not None and hasattr(obj, "state_dict") else None


def save_checkpoint(path: str | os.PathLike, *, model: torch.nn.Module, epoch: int,
                    optimizer=None, scheduler=None, scaler=None, history: list | None = None,
                    callbacks: dict[str, Any] | None = None,
                    generator: torch.Generator | None = None) -> Path:
    """Write a checkpoint of epoch ``epoch`` (1-based: epochs done) atomically.

    ``callbacks`` maps a name to an object with ``state_dict()`` (e.g. early stopping).
    """
    return io.save({
        "format": FORMAT,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": _state(optimizer),
        "scheduler": _state(scheduler),
        "scaler": _state(scaler),
        "history": list(history or []),
        "callbacks": {name: _state(cb) for name, cb in (callbacks or {}).items()},
        "rng": get_rng_state(generator),
        "requires_grad": [p.requires_grad for p in model.parameters()],
    }, path)


def load_checkpoint(path: str | os.PathLike, *, model: torch.nn.Module, optimizer=None,
                    scheduler=None, scaler=None, callbacks: dict[str, Any] | None = None,
                    generator: torch.Generator | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Restore a checkpoint into the given objects; return it (``epoch``, ``history``...).

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        tlcourse.io.CorruptFileError: the file is truncated or was changed.
    """
    ckpt = io.load(path, map_location=map_location)
    if ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a tlcourse training checkpoint (format "
                         f"{ckpt.get('format')!r}); delete it to start afresh.")
    model.load_state_dict(ckpt["model"])
    for p, flag in zip(model.parameters(), ckpt["requires_grad"], strict=True):
        p.requires_grad_(flag)  # gradual unfreezing may have changed what trains
    for obj, key in ((optimizer, "optimizer"), (scheduler, "scheduler"), (scaler, "scaler")):
        if obj is not None and ckpt[key] is not None:
            obj.load_state_dict(ckpt[key])
    for name, cb in (callbacks or {}).items():
        if ckpt["callbacks"].get(name) is not None:
            cb.load_state_dict(ckpt["callbacks"][name])
    set_rng_state(ckpt["rng"], generator)
    return ckpt


def save_classifier(path: str | os.PathLike, model: torch.nn.Module, *, backbone: str,
                    classes: list[str], image_size: int) -> Path:
    """Save a trained classifier with what it takes to use it again: the backbone's name, the
    class names and the input size (atomically, with a checksum). ``model`` is a backbone
    from :func:`tlcourse.models.load_backbone` with its head replaced for ``classes``."""
    return io.save({"format": CLASSIFIER_FORMAT, "backbone": backbone,
                    "classes": list(classes), "image_size": int(image_size),
                    "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}}, path)


def load_classifier(path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A classifier saved by :func:`save_classifier`, in eval mode on the CPU, and its
    ``{"backbone", "classes", "image_size"}``. No weights are downloaded: the architecture is
    built empty and filled from the file.

    Raises:
        FileNotFoundError: no file at ``path``.
        tlcourse.io.CorruptFileError: the file is truncated or was changed.
        ValueError: the file is not a saved classifier.
    """
    from tlcourse.models import load_backbone, replace_head

    saved = io.load(path)
    if not isinstance(saved, dict) or saved.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(f"{path} is not a classifier saved by tlcourse.checkpoint."
                         "save_classifier; was it a training checkpoint (load_checkpoint)?")
    model = replace_head(load_backbone(saved["backbone"], pretrained=False), len(saved["classes"]))
    model.load_state_dict(saved["model"])
    info = {k: saved[k] for k in ("backbone", "classes", "image_size")}
    return model.eval(), info
