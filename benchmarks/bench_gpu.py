"""On a CUDA GPU: ``fit`` (AMP + channels_last + pinned memory) against a naive fp32 loop.

ResNet-50 at 224 px on synthetic data of ImageNet shape (the data pipeline is not what is
measured). Target (issue 9): at least 1.8x the naive loop's images/s; NVIDIA reports about
2.6x for AMP on an A100. Without a GPU it says so and records nothing.

    python -m benchmarks.bench_gpu
"""

from __future__ import annotations

import torch
import torchvision
from torch.nn import functional as F
from torch.utils.data import TensorDataset

import tlcourse as tlc
from benchmarks.common import timed, write_section

BATCH, STEPS = 128, 30


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH * STEPS, 3, 224, 224, generator=g)
    return TensorDataset(x, torch.randint(0, 1000, (len(x),), generator=g))


def _naive(model, data):
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for x, y in loader:
        x, y = x.cuda(), y.cuda()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def _amp_by_hand(model, data):
    # The naive loop with bf16 autocast and channels_last only: what the precision and the
    # memory layout give, without fit or worker processes.
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for x, y in loader:
        x = x.cuda().contiguous(memory_format=torch.channels_last)
        y = y.cuda()
        opt.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()


def _fit(model, data, workers):
    loader = tlc.data.make_loader(data, BATCH, device=torch.device("cuda"), num_workers=workers)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    tlc.train.fit(model, loader, num_epochs=1, optimizer=opt, device="cuda", progress=False)


def _fast(model, data):
    _fit(model, data, 4)


def _fast_in_process(model, data):
    _fit(model, data, 0)


TARGET = "GPU: AMP + channels_last >= 1.8x fp32 on ResNet-50, 224 px"


def main() -> dict:
    if not torch.cuda.is_available():
        lines = ["Not measured: no GPU on this machine. Run `make bench` on a CUDA GPU."]
        write_section("GPU: mixed precision and channels_last", lines)
        print(lines[0])
        return {"target": TARGET, "result": "not measured: no GPU on this machine",
                "verdict": "not measured"}
    tlc.setup(seed=0, quiet=True)
    data = _data()
    results = {}
    loops = (("naive fp32 loop", _naive), ("tlc.train.fit (AMP, channels_last)", _fast),
             ("tlc.train.fit, no loader workers", _fast_in_process),
             ("hand-written bf16 autocast + channels_last, no workers", _amp_by_hand))
    for name, run in loops:
        model = torchvision.models.resnet50().cuda()
        torch.cuda.reset_peak_memory_stats()
        run(model, data)  # warm-up
        seconds, _ = timed(lambda run=run, model=model: run(model, data), repeat=3)
        results[name] = (len(data) / seconds, torch.cuda.max_memory_allocated() / 2**30)
    (naive, _), (fast, _) = list(results.values())[:2]
    lines = [f"ResNet-50, 224 px, batch {BATCH}, {STEPS} steps per run, median of 3.", "",
             "| loop | images/s | peak GPU memory (GiB) |", "|---|---:|---:|"]
    lines += [f"| {k} | {v[0]:.0f} | {v[1]:.1f} |" for k, v in results.items()]
    lines += ["", "The synthetic data are float tensors in memory: fit's row uses 4 loader "
              "workers (each batch, 77 MB, crosses process boundaries); the last two rows "
              "load in the training process, to tell the loader's cost from the GPU's gain.",
              "", f"Speed-up {fast / naive:.2f}x (target >= 1.8x: "
              f"{'holds' if fast / naive >= 1.8 else 'MISSED'})."]
    write_section("GPU: mixed precision and channels_last", lines)
    print("\n".join(lines))
    return {"target": TARGET, "result": f"{fast / naive:.2f}x ({torch.cuda.get_device_name(0)})",
            "verdict": "holds" if fast / naive >= 1.8 else "MISSED"}


if __name__ == "__main__":
    main()
