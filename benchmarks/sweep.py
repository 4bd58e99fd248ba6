"""``make sweep``: do the lessons' claims hold on other machines? (a measurement, not a test)

The same seed gives other numbers on another CPU (its math kernels), another torch version,
MPS or CUDA, and a learner changes ``SEED``. So every notebook runs in the offline profile
for several seeds, each under this machine's own CPU kernels and under its second kernel set
(AVX2 on an AVX-512 machine, else the portable SSE4.1 set: ``benchmarks/kernels.py``).

Each run starts from an empty cache (``TLCOURSE_CACHE``) of its own, so no run reuses
features or a pretrained encoder that another computed. Each run's claims (value, threshold,
margin) go to ``benchmarks/sweep/<run>.json``; the table
``benchmarks/CLAIMS.md`` says per claim in how many runs it held and its smallest margin,
read from every result file present (so one notebook can be swept again on its own). Every
claim must hold in every run; one that does not marks a lesson to redesign.

    python -m benchmarks.sweep                         # every notebook, seeds 0 1 2, 2 jobs
    python -m benchmarks.sweep --notebooks 02 04 --jobs 1
    python -m benchmarks.sweep --table-only            # rewrite CLAIMS.md from the results
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.kernels import KERNEL_SETS, environment, own_capability, second_kernel_set

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).with_name("sweep")
TABLE = Path(__file__).with_name("CLAIMS.md")


def run_one(kernels: str, seed: int, notebooks: list[str], timeout: int) -> None:
    """Run ``notebooks`` under one kernel set and seed in a fresh process (see ``worker``)."""
    # Each run starts from an empty cache of its own: a feature or pretrained-encoder cache
    # written under one kernel set would otherwise be read by the next run, and the runs would
    # not be independent measurements.
    cache = ROOT / "runs" / "sweep" / "cache" / f"{kernels}-seed{seed}"
    shutil.rmtree(cache, ignore_errors=True)
    env = environment(kernels) | {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
                                 "PYTHONUNBUFFERED": "1", "TLCOURSE_CACHE": str(cache),
                                 "TLCOURSE_CLAIMS": "record"}  # measure every claim
    cmd = [sys.executable, "-m", "benchmarks.sweep", "--worker", kernels, str(seed),
           "--timeout", str(timeout), "--notebooks", *notebooks]
    subprocess.run(cmd, env=env, cwd=ROOT, check=True)


def worker(kernels: str, seed: int, notebooks: list[str], timeout: int) -> None:
    """In the child process (kernel variables already set): run each notebook, save claims."""
    import torch

    from tlcourse.runner import find_notebooks, run_notebook

    capability = torch.backends.cpu.get_cpu_capability()
    out_dir = ROOT / "runs" / "sweep" / f"{kernels}-seed{seed}"
    out_dir.mkdir(parents=True, exist_ok=True)
    RESULTS_DIR.mkdir(exist_ok=True)
    for path in find_notebooks(ROOT / "notebooks"):
        if not any(path.stem.startswith(n) for n in notebooks):
            continue
        entry = run_notebook(path, out_dir, {"PROFILE": "offline", "SEED": seed},
                             timeout=timeout)
        result = {"notebook": path.stem, "kernels": kernels, "capability": capability,
                  "seed": seed, "status": entry["status"], "error": entry["error"],
                  "wall_seconds": entry["wall_seconds"], "claims": entry["claims"],
                  "torch": torch.__version__, "machine": platform.processor() or
                  platform.machine(), "date": dt.date.today().isoformat()}
        name = f"{path.stem}__{kernels}__seed{seed}.json"
        tmp = RESULTS_DIR / f".{name}.tmp"
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(tmp, RESULTS_DIR / name)
        held = sum(c["held"] for c in entry["claims"])
        print(f"[{kernels} seed {seed}] {path.stem}: {entry['status']} in "
              f"{entry['wall_seconds']} s, claims held {held}/{len(entry['claims'])}"
              + (f" - {entry['error']}" if entry["error"] else ""), flush=True)


def table(results_dir: Path = RESULTS_DIR) -> str:
    """CLAIMS.md from every result file: per claim, runs held and the smallest margin."""
    results = [json.loads(p.read_text()) for p in sorted(results_dir.glob("*.json"))]
    lines = ["# The claims sweep", "",
             "Written by `make sweep` (`benchmarks/sweep.py`): every notebook in the offline "
             "profile for several seeds, under this machine's own CPU kernels and a second "
             "kernel set. A claim must hold in every run. *Margin* is how far the measured "
             "value cleared its threshold, in the claim's own units (points are fractions: "
             "0.05 = 5 points); facts (exact checks) have none. Each margin's run is named "
             "`kernels/seed`.", ""]
    if not results:
        return "\n".join([*lines, "No results yet.", ""])
    runs = sorted({(r["kernels"], r["capability"], r["seed"], r["torch"], r["machine"],
                    r["date"]) for r in results})
    lines += ["Runs: " + "; ".join(f"`{k}/{s}` ({cap}, torch {t}, {m}, {d})"
                                   for k, cap, s, t, m, d in runs), ""]
    lines += ["| notebook | runs ok | claims held in every run | slowest run (s) |",
              "|---|---:|---:|---:|"]
    by_nb: dict[str, list[dict]] = {}
    for r in results:
        by_nb.setdefault(r["notebook"], []).append(r)
    detail = []
    for nb, rs in sorted(by_nb.items()):
        claims: dict[str, list[tuple[dict, dict]]] = {}
        for r in rs:
            for c in r["claims"]:
                claims.setdefault(c["text"], []).append((r, c))
        every = sum(len(v) == len(rs) and all(c["held"] for _, c in v) for v in claims.values())
        ok = sum(r["status"] == "ok" for r in rs)
        lines.append(f"| {nb} | {ok}/{len(rs)} | {every}/{len(claims)} | "
                     f"{max(r['wall_seconds'] for r in rs):.0f} |")
        detail += ["", f"## {nb}", "", "| claim | held | threshold | smallest margin | "
                   "(in run) | median value |", "|---|---:|---:|---:|---|---:|"]
        for text, pairs in claims.items():
            held = sum(c["held"] for _, c in pairs)
            bounds = [(r, c) for r, c in pairs if c.get("margin") is not None]
            if bounds:
                r_min, c_min = min(bounds, key=lambda rc: rc[1]["margin"])
                values = sorted(c["value"] for _, c in bounds)
                median = values[len(values) // 2]
                cells = (f"{c_min['op']} {c_min['threshold']:.4g} | {c_min['margin']:.3g} | "
                         f"{r_min['kernels']}/{r_min['seed']} | {median:.3g}")
            else:
                cells = "fact | - | - | -"
            mark = "" if held == len(rs) else " **(fails)**"
            detail.append(f"| {text} | {held}/{len(rs)}{mark} | {cells} |")
        failed = [r for r in rs if r["status"] != "ok"]
        detail += [f"\nStopped: `{r['kernels']}/{r['seed']}`: {r['error']}" for r in failed]
    return "\n".join([*lines, *detail, ""])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="+", default=[""],
                        help="notebook name prefixes (default: all), e.g. 02 04")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--kernels", nargs="+", default=None,
                        help="kernel sets (default: native and the second set for this CPU)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (one core each)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--worker", nargs=2, metavar=("KERNELS", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.notebooks, args.timeout)
        return
    if not args.table_only:
        capability = own_capability()
        kernels = args.kernels or ["native", second_kernel_set(capability)]
        unknown = set(kernels) - set(KERNEL_SETS)
        if unknown:
            parser.error(f"unknown kernel set(s) {sorted(unknown)}; choose from "
                         f"{sorted(KERNEL_SETS)}")
        combos = [(k, s) for k in kernels for s in args.seeds]
        # the slow (portable) runs first, so the two jobs finish close together
        combos.sort(key=lambda ks: ks[0] == "native")
        print(f"own kernels: {capability}; {len(combos)} runs, {args.jobs} at a time", flush=True)
        start = time.perf_counter()
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda ks: run_one(*ks, args.notebooks, args.timeout), combos))
        print(f"sweep took {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    TABLE.write_text(table())
    print(f"wrote {TABLE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
