"""What makes a 2-core CPU fast: intra-op threads, memory format, batch size.

Two workloads, each configuration timed in its own process (so thread pools and
allocator caches start fresh):

- a small CNN's training step (forward + backward + AdamW) on 28x28 digits, the kind of
  model notebooks 03 and 04 train;
- EfficientNet-Lite0's forward pass at 128 px (the offline profile's image size) under
  ``inference_mode``, what :func:`tlcourse.features.extract` runs.

    python -m benchmarks.bench_cpu                  # the grid, results to RESULTS.md
    python -m benchmarks.bench_cpu one cnn 1 0 64   # one configuration (used internally)

The load average is recorded with the numbers: with other processes on the machine, two
threads on two cores oversubscribe it, and the comparison changes.
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.common import in_subprocess, load_average, write_section

SECONDS = 3.0  # each configuration runs for at least this long after its warm-up


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def _rate(step, batch: int) -> float:
    """Images/s of ``step()`` over at least SECONDS, after two warm-up steps."""
    step(), step()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < SECONDS or n < 3:
        step()
        n += 1
    return n * batch / elapsed


def one(workload: str, threads: int, channels_last: bool, batch: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if workload == "cnn":
        model = small_cnn().to(memory_format=fmt)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=fmt)
        y = torch.randint(0, 10, (batch,))

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
    else:
        from tlcourse.models import load_backbone

        model = load_backbone("efficientnet_lite0", pretrained=False).eval()
        model = model.to(memory_format=fmt)
        x = torch.randn(batch, 3, 128, 128).contiguous(memory_format=fmt)

        def step():
            with torch.inference_mode():
                model(x)
    return {"images_per_s": _rate(step, batch), "load": os.getloadavg()[0]}


GRID = {  # workload -> (batch sizes, the batch at which threads and format are compared)
    "cnn": ((32, 64, 128), 64),
    "lite0": ((8, 16, 32, 64, 128), 64),
}
EXTRA = {"lite0": [(2, True, 16)]}  # two threads at the best one-thread batch
NAMES = {"cnn": "small CNN, training step, 28 px",
         "lite0": "EfficientNet-Lite0 forward, 128 px, inference_mode"}


def _ratio(rows, workload, a: tuple, b: tuple) -> float:
    """images/s of configuration ``a`` over ``b``, each ``(threads, channels_last, batch)``."""
    ips = {(t, cl, bs): r for w, t, cl, bs, r, _ in rows if w == workload}
    return ips[a] / ips[b]


def main() -> dict:
    rows, before = [], load_average()
    for workload, (batches, base) in GRID.items():
        configs = [(t, cl, base) for t in (1, 2) for cl in (False, True)]
        configs += [(1, True, b) for b in batches if b != base] + EXTRA.get(workload, [])
        for threads, cl, batch in configs:
            r = in_subprocess("bench_cpu", "one", workload, str(threads), str(int(cl)),
                              str(batch))
            rows.append((workload, threads, cl, batch, r["images_per_s"], r["load"]))
            print(rows[-1], flush=True)
    lines = [f"Each configuration in a fresh process, at least {SECONDS:.0f} s after a warm-up. "
             f"Load average (1 min) before: {before}.", "",
             "| workload | threads | channels_last | batch | images/s | load (1 min) |",
             "|---|---:|---|---:|---:|---:|"]
    lines += [f"| {NAMES[w]} | {t} | {'yes' if cl else 'no'} | {b} | {ips:.0f} | {load:.2f} |"
              for w, t, cl, b, ips, load in rows]
    one_vs_two = {w: _ratio(rows, w, (1, True, b), (2, True, b)) for w, (_, b) in GRID.items()}
    cl_gain = {w: _ratio(rows, w, (1, True, b), (1, False, b)) for w, (_, b) in GRID.items()}
    lines += ["", "At the comparison batch (64): one thread vs two, "
              + ", ".join(f"{w} {r:.2f}x" for w, r in one_vs_two.items())
              + "; channels_last vs not (one thread), "
              + ", ".join(f"{w} {r:.2f}x" for w, r in cl_gain.items()) + "."]
    write_section("CPU: threads, memory format, batch size", lines)
    print("\n".join(lines))
    result = ("1 vs 2 threads: " + ", ".join(f"{w} {r:.2f}x" for w, r in one_vs_two.items())
              + "; channels_last: " + ", ".join(f"{w} {r:.2f}x" for w, r in cl_gain.items()))
    return {"target": "CPU defaults use what measures better (threads, channels_last)",
            "result": result, "verdict": "recorded (load average in the section)"}


if __name__ == "__main__":
    if sys.argv[1:2] == ["one"]:
        w, t, cl, b = sys.argv[2:6]
        print(json.dumps(one(w, int(t), bool(int(cl)), int(b))))
    else:
        main()
