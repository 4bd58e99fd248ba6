"""``load_folder`` in memory against read from disk (``lazy=True``): time and peak memory.

A learner's capstone folder can hold 20,000-50,000 photos; decoded into memory at the
capstone's size they may not fit Colab's 12 GB. This loads generated folders of 1k, 5k and
20k small PNGs (160x120, ten classes, in a temporary folder) at 128 px both ways, then
iterates over each once (``tlc.data.make_loader``, batches of 64, decoding in the process
itself: ``num_workers=0``, so that all the memory is counted in one place; in the course
``make_loader`` gives data read from disk a worker process, which decodes while the model
trains). Each run is its own process, with tlcourse's default threads, so its peak resident
memory (``ru_maxrss``) is its own; the table gives its growth over the process's size before
loading.

    python -m benchmarks.bench_folder

Target (issue 23): read lazily, 20k images need less than a quarter of the memory that
holding them does.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import in_subprocess, load_average, write_section

SIZES = (1_000, 5_000, 20_000)
IMAGE_SIZE, BATCH, CLASSES = 128, 64, 10


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def make_folder(root: Path, start: int, stop: int) -> None:
    """Images ``start`` to ``stop - 1`` of the folder: 160x120 PNGs, a colour per class, a
    gradient and a little noise (about 30 KB each)."""
    from PIL import Image

    rng = np.random.default_rng(start)
    ramp = np.linspace(0, 1, 160)[None, :, None]
    for k in range(CLASSES):
        (root / f"class{k}").mkdir(parents=True, exist_ok=True)
    for i in range(start, stop):
        k = i % CLASSES
        colour = np.array([25 * k, 255 - 25 * k, 120])
        base = colour * (0.5 + 0.5 * ramp) + rng.integers(0, 8, (120, 160, 3))
        Image.fromarray(np.uint8(np.clip(base, 0, 255))).save(
            root / f"class{k}" / f"{i}.png", compress_level=1)  # quick to write


def one(folder: str, lazy: bool) -> dict:
    """Load ``folder`` and iterate over it once, in this process: seconds and memory."""
    import tlcourse as tlc  # imported before the baseline, as in a notebook

    tlc.env.set_threads()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    data = tlc.data.load_folder(folder, size=IMAGE_SIZE, lazy=lazy)
    loaded = time.perf_counter()
    loader = tlc.data.make_loader(data, BATCH, num_workers=0, persistent_workers=False)
    pixels = sum(float(x.sum()) for x, _ in loader)  # touch every pixel, as training would
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": len(data), "type": type(data).__name__, "load_s": loaded - start,
            "iterate_s": done - loaded, "before_mb": before, "peak_mb": peak,
            "checksum": pixels}


def main() -> dict:
    rows, load_before, made = [], load_average(), 0
    with tempfile.TemporaryDirectory(prefix="tlc-bench-folder-") as tmp:
        for n in SIZES:  # one folder, grown from one size to the next
            make_folder(Path(tmp), made, n)
            made = n
            disk = sum(p.stat().st_size for p in Path(tmp).rglob("*.png")) / 2**20
            for lazy in (False, True):
                r = in_subprocess("bench_folder", "one", tmp, str(int(lazy)))
                rows.append({**r, "lazy": lazy, "disk_mb": disk})
                print(rows[-1], flush=True)
            eager, lazy_row = rows[-2], rows[-1]
            assert eager["n"] == lazy_row["n"] == n and eager["checksum"] == lazy_row["checksum"]
    lines = [f"Generated folders of 160x120 PNGs (ten classes) loaded at {IMAGE_SIZE} px and "
             f"iterated once (batches of {BATCH}), each run in its own process; "
             f"{cpu_model()}, {len(os.sched_getaffinity(0))} cores. "
             f"Load average (1 min) before: {load_before}. Memory: peak resident size minus "
             "the process's size before loading (torch and tlcourse imported), decoding in "
             "the process itself (no loader workers).", "",
             "| images | on disk | dataset | load s | iterate s | total s | peak memory growth |",
             "|---:|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        kind = "lazy (FolderDataset)" if r["lazy"] else "in memory (ArrayDataset)"
        lines.append(f"| {r['n']:,} | {r['disk_mb']:.0f} MB | {kind} | {r['load_s']:.1f} | "
                     f"{r['iterate_s']:.1f} | {r['load_s'] + r['iterate_s']:.1f} | "
                     f"{r['peak_mb'] - r['before_mb']:.0f} MB |")
    eager, lazy_row = rows[-2], rows[-1]
    grow_eager = eager["peak_mb"] - eager["before_mb"]
    grow_lazy = lazy_row["peak_mb"] - lazy_row["before_mb"]
    ratio = grow_lazy / grow_eager
    verdict = "holds" if ratio < 0.25 else "MISSED"
    decoded = SIZES[-1] * IMAGE_SIZE * IMAGE_SIZE * 3 / 2**20
    lines += ["", f"At {SIZES[-1]:,} images the decoded pixels alone are {decoded:.0f} MB. "
              f"Lazy, the process grew by {grow_lazy:.0f} MB against "
              f"{grow_eager:.0f} MB in memory ({ratio:.0%}; target < 25%: {verdict}), and took "
              f"{lazy_row['load_s'] + lazy_row['iterate_s']:.0f} s against "
              f"{eager['load_s'] + eager['iterate_s']:.0f} s: it decodes each file twice (once "
              "to check it, once to use it) and again on every later pass."]
    write_section("Image folders: in memory vs read from disk", lines)
    print("\n".join(lines))
    return {"target": "lazy load_folder: 20k images in < 25% of the in-memory peak",
            "result": f"{grow_lazy:.0f} MB vs {grow_eager:.0f} MB ({ratio:.0%})",
            "verdict": verdict}


if __name__ == "__main__":
    if sys.argv[1:2] == ["one"]:
        print(json.dumps(one(sys.argv[2], bool(int(sys.argv[3])))))
    else:
        main()
