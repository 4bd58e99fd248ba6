"""Shared pieces of the benchmarks: timing, peak memory, the workload, the results file."""

from __future__ import annotations

import datetime as dt
import json
import os
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
    from tlcourse.env import available_cores, default_threads

    threads = default_threads()
    return (f"CPU ({platform.processor() or platform.machine()}, {available_cores()} cores; "
            f"tlcourse's default {threads} thread{'s' if threads > 1 else ''})")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews timings."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


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


def alternate(minimal, fit, rounds: int, sync=lambda: None) -> tuple[dict, float]:
    """Time one call of each loop per round, alternating A B, B A, ... so that load from other
    processes falls on both alike: ``({"minimal": [s, ...], "fit": [...]}, median ratio of
    minimal to fit time)``; a ratio of 1 means ``fit`` is as fast."""
    times = {"minimal": [], "fit": []}
    for i in range(rounds):
        for name, run in ((("minimal", minimal), ("fit", fit)) if i % 2 == 0
                          else (("fit", fit), ("minimal", minimal))):
            start = time.perf_counter()
            run()
            sync()
            times[name].append(time.perf_counter() - start)
    ratios = [m / f for m, f in zip(times["minimal"], times["fit"], strict=True)]
    return times, statistics.median(ratios)


def in_subprocess(module: str, *args: str) -> dict:
    """Run ``python -m benchmarks.<module> args`` and parse its last line as JSON.

    Each variant runs in its own process so that its peak memory is its own.
    """
    out = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def write_section(title: str, lines: list[str], first: bool = False) -> None:
    """Replace (or add, at the end or ``first``) the section ``## title`` in RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    head = f"## {title}"
    body = "\n".join([head, "", f"_{dt.datetime.now():%Y-%m-%d %H:%M}, {device_name()}, "
                      f"torch {torch.__version__}, load average {load_average()}_",
                      "", *lines]).rstrip("\n")
    parts = text.split("\n## ")
    sections = [f"## {p}".rstrip("\n") for p in parts[1:]]
    index = next((i for i, p in enumerate(sections) if p.split("\n")[0] == head), None)
    if index is not None:
        sections[index] = body
    elif first:
        sections.insert(0, body)
    else:
        sections.append(body)
    RESULTS.write_text("\n\n".join([parts[0].rstrip("\n"), *sections]) + "\n")
