"""Shared pieces of the benchmarks: timing, peak memory, the workload, the results file."""

from __future__ import annotations

import datetime as dt
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat: int = 3) -> tuple[float, list[float]]:
    """Median wall seconds of ``fn()`` over ``repeat`` runs, and all the runs."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), runs


def in_subprocess(module: str, *args: str) -> dict:
    """Run ``python -m benchmarks.<module> args`` and parse its last line as JSON.

    Each variant runs in its own process so that its peak memory is its own.
    """
    out = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def write_section(title: str, lines: list[str]) -> None:
    """Replace (or add) the section ``## title`` in RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    head = f"## {title}"
    body = "\n".join([head, "", f"_{dt.date.today()}, {device_name()}, torch {torch.__version__}_",
                      "", *lines, ""])
    parts = text.split("\n## ")
    kept = [parts[0].rstrip("\n")] + [f"## {p}".rstrip("\n") for p in parts[1:]
                                      if not p.startswith(title)]
    RESULTS.write_text("\n\n".join([*kept, body]).rstrip("\n") + "\n")
