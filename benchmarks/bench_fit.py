"""``tlcourse.train.fit`` against a minimal hand-written loop: same model, data, batch.

    python -m benchmarks.bench_fit            # both variants, each in its own process
    python -m benchmarks.bench_fit one fit    # one variant (used internally)

Target (issue 9): on a CPU, ``fit`` within 5% of the minimal loop's throughput.
"""

from __future__ import annotations

import json
import sys

import torch
from torch.nn import functional as F

import tlcourse as tlc
from benchmarks.common import in_subprocess, peak_rss_mb, timed, write_section

IMAGE_SIZE, BATCH, EPOCHS = 64, 32, 1


def _setup():
    tlc.setup(seed=0, quiet=True)
    device = tlc.get_device()
    data = tlc.data.load("clipart", "train",
                         transform=tlc.data.image_transform("efficientnet_lite0", IMAGE_SIZE))
    loader = tlc.data.make_loader(data, BATCH, shuffle=True, device=device)
    model = tlc.models.replace_head(tlc.models.load_backbone("efficientnet_lite0"), 10)
    return model.to(device), loader, device, len(data)


def _minimal(model, loader, device):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    for _ in range(EPOCHS):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()


def _fit(model, loader, device):
    tlc.train.fit(model, loader, num_epochs=EPOCHS, lr=1e-4, device=device, progress=True)


def one(variant: str) -> dict:
    model, loader, device, n = _setup()
    run = {"minimal": _minimal, "fit": _fit}[variant]
    run(model, loader, device)  # warm-up: allocator, cuDNN autotuning
    seconds, runs = timed(lambda: run(model, loader, device), repeat=3)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else peak_rss_mb())
    return {"variant": variant, "images_per_s": EPOCHS * n / seconds, "runs": runs,
            "peak_mb": peak, "device": device.type}


def main() -> None:
    results = {v: in_subprocess("bench_fit", "one", v) for v in ("minimal", "fit")}
    ratio = results["fit"]["images_per_s"] / results["minimal"]["images_per_s"]
    memory = "GPU memory allocated" if results["fit"]["device"] == "cuda" else "process RSS"
    lines = [f"EfficientNet-Lite0 fine-tuned on clip art, {IMAGE_SIZE} px, batch {BATCH}, "
             f"median of 3 epochs after a warm-up.", "",
             f"| loop | images/s | peak {memory} (MB) |", "|---|---:|---:|"]
    lines += [f"| {v} | {r['images_per_s']:.1f} | {r['peak_mb']:.0f} |" for v, r in results.items()]
    verdict = "holds" if ratio >= 0.95 else "MISSED"
    lines += ["", f"`fit` runs at {ratio:.1%} of the minimal loop's throughput "
              f"(target >= 95%: {verdict})."]
    write_section("fit vs a minimal loop", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:2] == ["one"]:
        print(json.dumps(one(sys.argv[2])))
    else:
        main()
