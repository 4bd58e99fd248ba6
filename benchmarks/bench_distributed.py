"""Training images/s of ``fit`` on one process against several under ``torchrun``.

The workload is the capstone's fine-tuning: EfficientNet-Lite0 with its last 2 blocks and
head training (frozen layers' BatchNorm kept), the bundled capstone folder (143 images) at
128 px with the training augmentation, global batch 32 (each of N processes loads 32 / N).
Each variant is its own launch; images/s is the images of an epoch over the median time of
epochs 2 and 3 (the first warms up). On a CPU: one process without torchrun on 1 thread
(tlcourse's default on 2 cores) and on 2 threads, then torchrun with 1 and 2 processes of
1 thread each (gloo). On a CUDA machine: torchrun on 1 GPU and on all of them (NCCL).

    python -m benchmarks.bench_distributed

Target (issue 22): none on a 2-core CPU (two processes share the cores one process
already has, and add the gradient all-reduce); recorded honestly. On a machine with N GPUs,
N processes should approach N times one GPU's images/s.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import load_average, write_section

ROOT = Path(__file__).resolve().parents[1]
GLOBAL_BATCH, EPOCHS, IMAGE_SIZE = 32, 3, 128


def worker(out: Path) -> None:
    """One variant's training (every process runs this); rank 0 writes ``out``."""
    import tlcourse as tlc
    from tlcourse import distributed

    distributed.init()
    device = distributed.device_for_rank(tlc.get_device())
    images = tlc.data.load_folder(tlc.data.data_root() / "capstone_images", size=IMAGE_SIZE,
                                  min_images=5)
    data = images.with_transform(tlc.data.image_transform("efficientnet_lite0", IMAGE_SIZE,
                                                          train=True))
    model = tlc.models.replace_head(tlc.models.load_backbone("efficientnet_lite0"),
                                    len(images.classes))
    model = tlc.models.unfreeze_last(model, 2)
    loader = tlc.data.make_loader(data, GLOBAL_BATCH // distributed.world_size(), shuffle=True,
                                  device=device)
    history = tlc.train.fit(model, loader, num_epochs=EPOCHS, lr=3e-4, seed=0, device=device,
                            batchnorm="eval_frozen", progress=False)
    seconds = statistics.median(history["seconds"][1:])
    if distributed.is_main():
        out.write_text(json.dumps({"images_per_s": len(data) / seconds,
                                   "epoch_seconds": history["seconds"],
                                   "processes": distributed.world_size(),
                                   "threads": torch.get_num_threads(), "device": device.type}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(processes: int | None, threads: int) -> dict:
    """One variant in fresh processes: ``processes=None`` without torchrun."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = os.environ | {"OMP_NUM_THREADS": str(threads), "MPLBACKEND": "Agg"}
        if processes is None:
            command = [sys.executable, "-m", "benchmarks.bench_distributed", "--worker", str(out)]
        else:
            command = [sys.executable, "-m", "torch.distributed.run",
                       f"--nproc_per_node={processes}", "--master_addr=127.0.0.1",
                       f"--master_port={free_port()}", "-m", "benchmarks.bench_distributed",
                       "--worker", str(out)]
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, env=env, capture_output=True, timeout=900)
        result = json.loads(out.read_text())
        result["wall_s"] = time.perf_counter() - start
        return result


def main() -> dict:
    gpus = torch.cuda.device_count()
    if gpus:
        variants = [("torchrun, 1 GPU", 1, 1)]
        variants += [(f"torchrun, {gpus} GPUs", gpus, 1)] if gpus > 1 else []
    else:
        variants = [("1 process, 1 thread (no torchrun)", None, 1),
                    ("1 process, 2 threads (no torchrun)", None, 2),
                    ("torchrun, 1 process x 1 thread", 1, 1),
                    ("torchrun, 2 processes x 1 thread", 2, 1)]
    load_before = load_average()
    rows = []
    for name, processes, threads in variants:
        print(f"  {name} ...", flush=True)
        rows.append((name, launch(processes, threads)))
    base = rows[0][1]["images_per_s"]
    lines = [f"Fine-tuning EfficientNet-Lite0's last 2 blocks on the capstone folder "
             f"(143 images, {IMAGE_SIZE} px, global batch {GLOBAL_BATCH}); images/s over the "
             f"median of epochs 2-{EPOCHS}; each variant its own launch. Load average before: "
             f"{load_before}.", "",
             "| variant | images/s | vs first row | epoch seconds | launch to exit s |",
             "|---|---:|---:|---|---:|"]
    for name, r in rows:
        lines.append(f"| {name} | {r['images_per_s']:.1f} | {r['images_per_s'] / base:.2f}x | "
                     f"{', '.join(f'{s:.1f}' for s in r['epoch_seconds'])} | "
                     f"{r['wall_s']:.0f} |")
    last = rows[-1]
    result = f"{last[0]}: {last[1]['images_per_s'] / base:.2f}x {rows[0][0]}"
    if not gpus:
        lines += ["", "No GPU on this machine: 1 GPU vs all GPUs not measured."]
    elif gpus == 1:
        lines += ["", "One GPU on this machine: only the 1-GPU launch (NCCL) was measured."]
    write_section("Several processes: torchrun and DistributedDataParallel", lines)
    print("\n".join(lines))
    return {"target": "torchrun scale-out (recorded; no target on a 2-core CPU)",
            "result": result, "verdict": "recorded"}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]))
    else:
        main()
