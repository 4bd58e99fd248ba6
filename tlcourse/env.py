"""The machine a lesson runs on: device choice, seeds, threads, speed flags, a report.

Nothing here runs at import time; the device is chosen when :func:`get_device` or
:func:`setup` is called, so importing ``tlcourse`` never touches a GPU.
"""

from __future__ import annotations

import os
import platform
import random
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["Environment", "available_cores", "default_threads", "get_device", "is_colab",
           "seed_everything", "set_threads", "setup"]

_COLAB_GPU_HINT = ("Runtime > Change runtime type > Hardware accelerator: GPU (e.g. T4), "
                   "then re-run.")


def is_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def get_device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU.

    Args:
        prefer: ``"cuda"``, ``"mps"`` or ``"cpu"`` to force one; ``None`` or ``"auto"``
            chooses. Asking for a device that is not available raises ``RuntimeError``.
    """
    if prefer not in (None, "auto"):
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for but no CUDA GPU is available; "
                               "use device='auto' (or 'cpu').")
        if device.type == "mps" and not _mps_available():
            raise RuntimeError("device 'mps' was asked for but Apple MPS is not available; "
                               "use device='auto' (or 'cpu').")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a CPU run repeats exactly."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the global RNG learners use)
    torch.manual_seed(seed)


def available_cores() -> int:
    """How many CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_threads(cores: int | None = None) -> int:
    """Intra-op threads for training on a CPU: ``OMP_NUM_THREADS`` if set, else one per
    core but one, at least one.

    The core left free runs everything else (the notebook, the browser, a data-loader
    worker). On a 2-core machine with other work running, two torch threads were 1.5-4x
    slower than one on convolutions and 60x slower training a small linear head, because
    each thread waits for the other at every operation; on the idle machine two threads
    were up to 1.8x faster. The loss when idle is the smaller risk, and with channels_last
    and small extraction batches one thread still beat the old defaults run with two
    (benchmarks/RESULTS.md). The count does not follow the load of the moment, so a
    seeded notebook gives the same numbers run after run.
    """
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (cores or available_cores()) - 1)


def set_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op threads (``None``: :func:`default_threads`); return the count."""
    torch.set_num_threads(max(1, num_threads or default_threads()))
    return torch.get_num_threads()


def speed_flags(device: torch.device) -> None:
    """Turn on the fast paths a GPU offers: TF32 matmuls and cuDNN autotuning."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


@dataclass
class Environment:
    """What :func:`setup` found and chose."""

    device: torch.device
    profile: str
    seed: int
    colab: bool
    num_threads: int
    gpu_name: str | None = None
    gpu_memory_gb: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    #: a rehearsal of the full profile on stand-in files (see :func:`tlcourse.claims.rehearsal`)
    rehearsal: bool = False

    def report(self) -> str:
        from tlcourse.claims import REHEARSAL_NOTE

        lines = [REHEARSAL_NOTE] if self.rehearsal else []
        lines.append(f"device      : {self.device.type}")
        if self.gpu_name:
            lines.append(f"GPU         : {self.gpu_name} ({self.gpu_memory_gb:.1f} GB)")
        lines += [
            f"profile     : {self.profile}",
            f"seed        : {self.seed}",
            f"CPU threads : {self.num_threads}",
            f"Colab       : {'yes' if self.colab else 'no'}",
            "versions    : " + ", ".join(f"{k} {v}" for k, v in self.versions.items()),
        ]
        if self.device.type == "cpu":
            hint = (f"On Colab: {_COLAB_GPU_HINT}" if self.colab else
                    "The offline profile is sized for a CPU; for the full profile use a "
                    "machine with a CUDA GPU or open the notebook on Colab.")
            lines.append(f"WARNING     : no GPU found, training runs on the CPU. {hint}")
        return "\n".join(lines)


def _versions() -> dict[str, str]:
    import torchvision

    from tlcourse import __version__

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__,
            "tlcourse": __version__}


def setup(profile: str = "auto", seed: int = 0, device: str | None = None,
          quiet: bool = False) -> Environment:
    """Prepare a lesson: choose the device, resolve the profile, seed, set threads.

    Prints a short report (device, GPU name and memory, versions, profile) unless ``quiet``,
    with a plain warning when no GPU is present.

    Returns:
        An :class:`Environment`; ``env.device`` is what the lesson passes to helpers.
    """
    from tlcourse.claims import rehearsal
    from tlcourse.profiles import resolve_name

    dev = get_device(device)
    name = resolve_name(profile, dev)
    seed_everything(seed)
    threads = set_threads()
    speed_flags(dev)
    env = Environment(device=dev, profile=name, seed=seed, colab=is_colab(),
                      num_threads=threads, versions=_versions(), rehearsal=rehearsal())
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        env.gpu_name, env.gpu_memory_gb = props.name, props.total_memory / 1024**3
    if not quiet:
        from tlcourse.claims import emit

        emit({"environment": {"device": dev.type, "gpu": env.gpu_name, "profile": name,
                              "seed": seed, "versions": env.versions,
                              "rehearsal": env.rehearsal}}, env.report())
    return env
