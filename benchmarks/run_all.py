"""``make bench``: every benchmark, each writing its section of benchmarks/RESULTS.md,
then a table of the targets at the top. About 6 minutes on a 2-core CPU, and 4-5 more for
bench_folder (it writes and reads 20,000 generated images) and 1-2 for
bench_distributed (1 vs 2 torchrun processes)."""

import time

from benchmarks import (
    bench_cached,
    bench_cpu,
    bench_distributed,
    bench_fit,
    bench_folder,
    bench_gpu,
    bench_notebooks,
    bench_text,
)
from benchmarks.common import write_section

if __name__ == "__main__":
    start, summary = time.perf_counter(), []
    for bench in (bench_cpu, bench_fit, bench_text, bench_cached, bench_folder, bench_notebooks,
                  bench_gpu, bench_distributed):
        print(f"== {bench.__name__}", flush=True)
        summary.append(bench.main())
    lines = ["| target | result | verdict |", "|---|---|---|"]
    lines += [f"| {r['target']} | {r['result']} | {r['verdict']} |" for r in summary]
    lines += ["", f"`make bench` took {(time.perf_counter() - start) / 60:.1f} min."]
    write_section("Targets", lines, first=True)
    print("\n".join(lines))
