"""``make bench``: every benchmark, each writing its section of benchmarks/RESULTS.md."""

from benchmarks import bench_fit, bench_gpu

if __name__ == "__main__":
    for bench in (bench_fit, bench_gpu):
        print(f"== {bench.__name__}", flush=True)
        bench.main()
