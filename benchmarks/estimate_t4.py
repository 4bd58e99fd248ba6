"""Estimated run time of each notebook's full profile on a Colab T4: an ESTIMATE, not a run.

No GPU has run the full profile yet. Until one does (``make bench`` and a full-profile
``tlcourse run`` on a T4 replace these numbers), each notebook's time is estimated from what
its full branch computes, with its default parameters, counted by hand from the notebook:

- GPU arithmetic: FLOPs per image (or sentence) of each model, counted by
  :func:`tlcourse.accel.count_flops` (matrix products and convolutions, forward and backward),
  times the images it processes, divided by the T4's fp16 tensor peak (65 TFLOPS; 8.1 TFLOPS
  fp32: NVIDIA T4 datasheet, https://www.nvidia.com/en-us/data-center/tesla-t4/) times a
  utilisation of 15%. That utilisation is what NVIDIA itself measured on a T4:
  ResNet-50 v1.5, mixed precision, batch 128, 1,190 images/s of inference
  (NVIDIA DeepLearningExamples, PyTorch/Classification/ConvNets/resnet50v1.5/README.md,
  "Inference performance: NVIDIA T4"), i.e. 1,190 x 8.2 GFLOP = 9.8 TFLOPS, 15% of 65. The
  course's fit and extract use AMP (fp16 on a T4) on CUDA.
- Small networks (LeNet, MLPs, a 4-block CNN) are bound by launching kernels and loading
  batches, not by arithmetic: :data:`STEP_SECONDS` per optimiser step (an assumption).
- JPEG decoding (Flowers-102) on Colab's 2 vCPUs: :data:`DECODE_PER_SECOND` (an
  assumption); a pass over JPEGs takes the longer of decoding and the GPU's work.
- CPU-side work (scikit-learn probes, t-SNE, LogME, episodes) and start-up: a per-notebook
  allowance in seconds, written next to each notebook below.
Downloads are not counted: ``tlcourse fetch --profile full`` runs once, beforehand.

    python -m benchmarks.estimate_t4        # writes benchmarks/T4_ESTIMATE.md and t4_estimate.json
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from tlcourse.accel import count_flops

HERE = Path(__file__).resolve().parent
JSON_PATH, MARKDOWN_PATH = HERE / "t4_estimate.json", HERE / "T4_ESTIMATE.md"

T4_FP16_TENSOR_FLOPS = 65e12   # NVIDIA T4 datasheet: 65 TFLOPS mixed precision (fp16/fp32)
T4_FP32_FLOPS = 8.1e12         # ... and 8.1 TFLOPS single precision (for the record)
UTILISATION = 0.15             # NVIDIA's own T4 ResNet-50 AMP measurement (see above)
STEP_SECONDS = 0.003           # per optimiser step of a small network: launches, batching
DECODE_PER_SECOND = 250        # JPEGs decoded and resized per second on Colab's 2 vCPUs
START_SECONDS = 30             # kernel start, imports, setup, loading weights from the cache
LIMIT_MINUTES = 20             # DESIGN.md: each notebook's full profile within 20 min on a T4


@functools.cache
def flops_per_item(model: str, size: int, train: bool) -> float:
    """FLOPs of one image (``size`` px) or one sentence (``size`` tokens) through ``model``:
    forward only, or forward and backward with every parameter trained."""
    if model == "distilbert":
        from transformers import DistilBertConfig, DistilBertModel
        net, x = DistilBertModel(DistilBertConfig()), torch.ones(1, size, dtype=torch.long)
        kwargs = {"input_ids": x}
    else:
        net = getattr(torchvision.models, model)(weights=None)
        x = torch.randn(2, 3, size, size)  # 2: BatchNorm in train mode needs more than one
        kwargs = {"x": x}
        net.train(train)

    def call():
        out = net(**kwargs)
        return getattr(out, "last_hidden_state", out).sum()

    if train:
        _, flops = count_flops(lambda: call().backward())
    else:
        with torch.no_grad():
            _, flops = count_flops(call)
    return flops / (1 if model == "distilbert" else 2)


@dataclass(frozen=True)
class Work:
    """One piece of a notebook's full branch."""

    what: str
    model: str | None = None       # torchvision name or "distilbert"; None: a small network
    size: int = 0                  # px, or tokens per sentence
    items: float = 0               # images or sentences through ``model``
    train: bool = False
    steps: float = 0               # optimiser steps (small networks: the whole cost)
    decoded: float = 0             # JPEGs decoded on the CPU for this work
    cpu_seconds: float = 0         # CPU-side work: probes, t-SNE, episodes

    def seconds(self) -> float:
        gpu = (flops_per_item(self.model, self.size, self.train) * self.items
               / (T4_FP16_TENSOR_FLOPS * UTILISATION)) if self.model else 0.0
        return max(gpu, self.decoded / DECODE_PER_SECOND) + self.steps * STEP_SECONDS \
            + self.cpu_seconds


# Counted from each notebook's full branch with its default parameters (full profile:
# ResNet-50 at 224 px, Flowers-102 1,020 train / 1,020 val / 6,149 test, MNIST 60,000, USPS,
# STL-10 105,000 unlabelled + train, SST-2 67,349 sentences, Omniglot 32,460 characters).
WORK: dict[str, list[Work]] = {
    "00_setup": [
        Work("4 photos, pretrained and random ResNet-50", "resnet50", 224, 8, cpu_seconds=10)],
    "01_feature_extraction": [
        Work("pixels of train + test at 32 px", decoded=7169),
        Work("ResNet-50 features of train + test (all depths)", "resnet50", 224, 7169,
             decoded=7169),
        Work("scratch CNN: 5 label budgets x 3 draws + all, >= 100 steps each", steps=16 * 200),
        Work("linear head on cached features, 30 epochs", steps=30 * 8),
        Work("logistic regression: 16 learning-curve fits + one per depth; t-SNE",
             cpu_seconds=120)],
    "02_fine_tuning": [
        # IMAGE_SIZE = 64 in both profiles. Each of the 13 runs: 4 epochs of 1,020 training
        # and 1,020 validation images, then the 6,149 test images: decoding bounds it.
        Work("13 fine-tuning runs of ResNet-50 at 64 px (train)", "resnet50", 64, 13 * 4 * 1020,
             train=True, decoded=13 * 8 * 1020, steps=13 * 4 * 32),
        Work("... their validation and test passes", "resnet50", 64, 13 * (4 * 1020 + 6149),
             decoded=13 * 6149),
        Work("5 labels/class runs, 10 epochs (2 runs)", "resnet50", 64, 2 * 10 * 510,
             train=True, decoded=2 * 10 * 510),
        Work("digits: 500 MNIST digits, 8 epochs at 32 px", "resnet50", 32, 8 * 500, train=True),
        Work("forgetting on the photos, tables", cpu_seconds=30)],
    "03_domain_adaptation": [
        # LeNet-BN on MNIST -> USPS at 28 px, batches of 64: 937 steps per epoch.
        Work("source-only: 3 seeds x 10 epochs", steps=3 * 10 * 937),
        Work("per seed: source-only + 5 methods (two-domain steps count 1.5) + partial "
             "target, ADAPT_EPOCHS = 5", steps=3 * (5 * 937 + 1.5 * 6 * 5 * 937)),
        Work("evaluations, AdaBN passes, t-SNE maps", cpu_seconds=60)],
    "04_unsupervised_transfer": [
        # tlcourse.ssl.DEFAULTS["full"]: ResNet-18 at 96 px, 105,000 images, 10 epochs.
        Work("SimCLR pretraining: 2 views x 105,000 x 10 epochs", "resnet18", 96,
             2 * 105_000 * 10, train=True, steps=410 * 10),
        Work("rotation pretraining: 105,000 x 10 epochs", "resnet18", 96, 105_000 * 10,
             train=True, steps=410 * 10),
        Work("fine-tuning and scratch: 4 budgets x 2 draws x 3 starts x 100 steps of 32",
             "resnet18", 96, 24 * 100 * 32, train=True, steps=24 * 100),
        Work("features of STL-10 train + test: 3 encoders", "resnet18", 96, 3 * 13_000),
        Work("... and ImageNet ResNet-50", "resnet50", 96, 13_000),
        Work("probes (4 budgets x 5 draws x 4 encoders), k-means, t-SNE", cpu_seconds=120)],
    "05_capstone": [
        # The bundled clip art (a learner's own folder takes longer); 2 backbones at 224 px.
        Work("features for LogME: ResNet-50 and ResNet-18", "resnet50", 224, 2 * 700),
        Work("fine-tuning ResNet-50, 15 epochs of ~420 images", "resnet50", 224, 15 * 420,
             train=True, steps=15 * 14),
        Work("validation and test passes", "resnet50", 224, 15 * 140 + 140),
        Work("probes over C, report, saving", cpu_seconds=40)],
    "06_text": [
        # DistilBERT; SST-2 sentences padded to ~32 tokens on average (MAX_LENGTH 64).
        Work("embedding the SST-2 pool and test set", "distilbert", 32, 68_221),
        Work("fine-tuning on the whole pool, 2 epochs, batches of 16", "distilbert", 32,
             2 * 67_349, train=True, steps=2 * 67_349 / 16),
        Work("fine-tuning at 16 and 64 labels per class", "distilbert", 32, 2 * 5 * 128,
             train=True, steps=60),
        Work("TF-IDF, word vectors, probes on the whole pool; scratch model; shift section",
             cpu_seconds=240)],
    "07_multitask": [
        Work("5 draws x ~8 settings x 300 steps (a batch per task: 1.5)",
             steps=5 * 8 * 300 * 1.5),
        Work("pretraining for the remedies, cosines, tables", steps=2000, cpu_seconds=30)],
    "08_choosing_a_model": [
        Work("features of 3 targets for 5 candidates at 64/32 px", "resnet50", 64, 5 * 6000),
        Work("fine-tuning 5 candidates on clip art, 3 epochs", "resnet50", 64, 5 * 3 * 600,
             train=True, steps=5 * 3 * 20),
        Work("digit network and SimCLR encoder (small)", steps=2 * 120 + 3 * 20),
        Work("LogME, LEEP, NCE, H-score, probes", cpu_seconds=120)],
    "09_few_shot": [
        Work("ResNet-50 features of Omniglot at 96 px", "resnet50", 96, 32_460),
        Work("prototypical CNN, linear embedding, MAML (4 tasks x 5 inner steps)",
             steps=400 + 1000 + 200 * 4 * 6),
        Work("test episodes: 600 per method and K (MAML 300, adapting)",
             steps=2 * 300 * 5, cpu_seconds=90)],
    "10_lifelong": [
        # MNIST, 5 tasks of ~12,000 images, 10 epochs each, batches of 64: 188 steps/epoch.
        Work("3 scenarios x 4 methods x 5 tasks x 10 epochs", steps=3 * 4 * 5 * 10 * 188),
        Work("... joint training (all tasks so far: 3x the data)", steps=3 * 3 * 5 * 10 * 188),
        Work("MNIST then USPS: 3 methods x 2 domains x 10 epochs", steps=3 * 2 * 10 * 600),
        Work("accuracy matrices (evaluations), Fisher", cpu_seconds=60)],
    "11_cross_modal": [
        Work("image tower: ResNet-50 features of the pairs", "resnet50", 224, 3000),
        Work("text tower: captions and prompts", "distilbert", 16, 3000 + 400),
        Work("zero-shot: Flowers-102 test images", "resnet50", 224, 6149, decoded=6149),
        Work("projections, 15 epochs on cached features; probes", steps=15 * 10,
             cpu_seconds=40)],
}


def estimate() -> dict[str, float]:
    """Seconds per notebook (start-up included), rounded to whole seconds."""
    return {name: round(START_SECONDS + sum(w.seconds() for w in work))
            for name, work in WORK.items()}


def markdown(seconds: dict[str, float]) -> str:
    lines = ["# Full profile on a Colab T4: estimated run times", "",
             "**Estimates, not measurements**: no GPU has run the full profile yet. Written by "
             "`python -m benchmarks.estimate_t4`; the method, the T4's figures and every "
             "assumption are in that file's docstring. Assumed: "
             f"{T4_FP16_TENSOR_FLOPS / 1e12:.0f} TFLOPS fp16 x {UTILISATION:.0%} utilisation, "
             f"{STEP_SECONDS * 1e3:.0f} ms per small-network step, {DECODE_PER_SECOND} JPEGs/s "
             f"decoded, {START_SECONDS} s start-up; downloads not counted.", "",
             "| notebook | estimate | largest part |", "|---|---:|---|"]
    for name, total in seconds.items():
        biggest = max(WORK[name], key=Work.seconds)
        lines.append(f"| {name} | {total / 60:.1f} min | {biggest.what} "
                     f"({biggest.seconds() / 60:.1f} min) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    seconds = estimate()
    JSON_PATH.write_text(json.dumps({"device": "Colab T4 (estimated, not measured)",
                                     "seconds": seconds}, indent=1) + "\n")
    MARKDOWN_PATH.write_text(markdown(seconds))
    print(markdown(seconds))
    over = [n for n, s in seconds.items() if s > LIMIT_MINUTES * 60]
    if over:
        raise SystemExit(f"over {LIMIT_MINUTES} min on a T4 (estimated): {', '.join(over)}")


if __name__ == "__main__":
    main()
