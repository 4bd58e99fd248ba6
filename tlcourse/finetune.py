"""The capstone (notebook 05) as a script: your image folder in, a report and a model out.

On one GPU, on all of a machine's GPUs, or on several machines, with PyTorch's launcher::

    python -m tlcourse.finetune --data my_images                    # one process
    torchrun --nproc_per_node=4 -m tlcourse.finetune --data my_images  # 4 GPUs (or CPUs)
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=4 \\
        --master_addr=HOST0 --master_port=29500 -m tlcourse.finetune --data my_images

It takes the notebook's steps with the same ``tlc`` calls: load the folder, split it by
class, shortlist backbones by LogME, pick one and a logistic regression's ``C`` on
validation, turn the regression into the backbone's head, fine-tune the last blocks with
:func:`tlcourse.train.fit`, choose between the two models on validation, report on test.
It writes ``report.md`` (the notebook's report), ``model.pt``
(:func:`tlcourse.checkpoint.save_classifier`), ``results.json`` and the fine-tuning's
checkpoint into ``--output``; ``--resume`` continues an interrupted fine-tuning from it.

``--batch-size`` is the global batch: each of N processes loads ``batch_size / N`` images
per step, so one GPU and N GPUs take the same steps (on N GPUs, N times faster at best) and
the learning rate needs no change. Feature extraction, validation and testing are split
across the processes too; files and printed output are rank 0's.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io as _io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

__all__ = ["main", "parse_args", "run"]

#: The notebook's defaults (its ``parameters`` cell).
DEFAULTS = {"seed": 0, "min_images": 5, "shortlist": 2, "test_fraction": 0.25,
            "val_fraction": 0.2, "c_values": (0.01, 0.1, 1.0), "blocks": 2, "lr": 3e-4,
            "batch_size": 32, "patience": 3}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tlcourse.finetune",
        description="Transfer learning on your own image folder (root/<class>/<images>), as "
                    "in notebook 05; runs unchanged under torchrun on several GPUs.")
    parser.add_argument("--data", type=Path, default=None,
                        help="the image folder (default: the bundled clip-art folder)")
    parser.add_argument("--output", type=Path, default=Path("capstone_output"),
                        help="where report.md, model.pt and the checkpoint go")
    parser.add_argument("--profile", default="auto", help="offline, full or auto")
    parser.add_argument("--backbones", nargs="+", default=None,
                        help="candidate backbones (default: the profile's)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="px the backbone sees (default: the profile's)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="fine-tuning epochs (default: offline 8, full 15)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"],
                        help="global batch size, split across the processes")
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--blocks", type=int, default=DEFAULTS["blocks"],
                        help="last blocks fine-tuned with the head")
    parser.add_argument("--shortlist", type=int, default=DEFAULTS["shortlist"])
    parser.add_argument("--patience", type=int, default=DEFAULTS["patience"])
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    parser.add_argument("--min-images", type=int, default=DEFAULTS["min_images"])
    parser.add_argument("--resume", action="store_true",
                        help="continue the fine-tuning from the checkpoint in --output")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best)")
    return parser.parse_args(argv)


def _global_batch(batch_size: int, world: int) -> int:
    """Each process's batch size for a global ``batch_size`` over ``world`` processes."""
    if batch_size < world or batch_size % world:
        raise ValueError(f"--batch-size {batch_size} cannot be split evenly over {world} "
                         f"processes: use a multiple of {world}.")
    return batch_size // world


def run(args: argparse.Namespace) -> dict:
    """The capstone's steps; returns what ``results.json`` holds (on every process)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import tlcourse as tlc
    from tlcourse import distributed

    spread = distributed.init(args.device)
    world = distributed.world_size()
    per_process = _global_batch(args.batch_size, world)
    env = tlc.setup(profile=args.profile, seed=args.seed, device=args.device)
    device = distributed.device_for_rank(env.device)
    profile = tlc.get_profile(env.profile)
    data_dir = Path(args.data).expanduser() if args.data else \
        tlc.data.data_root() / "capstone_images"
    image_size = args.image_size or profile.image_size
    images = tlc.data.load_folder(data_dir, size=image_size, min_images=args.min_images)
    classes, targets = images.classes, tlc.data.targets_of(images)
    print(f"{data_dir}: {len(images)} images in {len(classes)} classes, at {image_size} px; "
          f"{world} process{'es' if world > 1 else ''} on {device.type}")

    # Split once, by class; every choice on validation.
    train_idx, val_idx, test_idx = tlc.data.stratified_split(
        targets, [1 - DEFAULTS["val_fraction"] - DEFAULTS["test_fraction"],
                  DEFAULTS["val_fraction"], DEFAULTS["test_fraction"]], seed=args.seed)
    splits = {"train": train_idx, "validation": val_idx, "test": test_idx}

    # Shortlist backbones by LogME, then a linear probe's validation accuracy decides.
    candidates = list(args.backbones or profile.backbones)
    ranked = tlc.transferability.rank_backbones(images, candidates, image_size=image_size,
                                                indices=train_idx, device=device,
                                                progress=False)
    shortlist = [r.name for r in ranked[:args.shortlist or len(ranked)]]
    features = {}
    for name in shortlist:
        extractor = tlc.models.feature_extractor(tlc.models.load_backbone(name))
        data = images.with_transform(tlc.data.image_transform(name, image_size))
        features[name] = tlc.features.extract(extractor, data, device=device,
                                              progress=False)[0].numpy()
    scores = {(name, C): float(LogisticRegression(C=C, max_iter=3000)
                               .fit(f[train_idx], targets[train_idx])
                               .score(f[val_idx], targets[val_idx]))
              for name, f in features.items() for C in DEFAULTS["c_values"]}
    backbone, best_C = max(scores, key=scores.get)
    clf = LogisticRegression(C=best_C, max_iter=3000).fit(features[backbone][train_idx],
                                                          targets[train_idx])
    # Every process computed the same; on several machines, other CPU kernels could break a
    # tie otherwise, and processes with different backbones cannot train together.
    backbone, best_C, coef, intercept = distributed.from_main(
        (backbone, best_C, clf.coef_, clf.intercept_))

    # Feature extraction: the regression becomes the backbone's head.
    extractor = tlc.models.replace_head(tlc.models.load_backbone(backbone), len(classes))
    weight, bias = torch.tensor(coef).float(), torch.tensor(intercept).float()
    if len(classes) == 2:  # scikit-learn keeps one row for two classes: split it
        weight, bias = torch.cat([-weight / 2, weight / 2]), torch.cat([-bias / 2, bias / 2])
    head = tlc.models.get_head(extractor)
    head.weight.data.copy_(weight)
    head.bias.data.copy_(bias)
    extractor = tlc.models.unfreeze_last(extractor, 0)
    eval_data = images.with_transform(tlc.data.image_transform(backbone, image_size))
    loaders = {name: tlc.data.make_loader(torch.utils.data.Subset(eval_data, idx), 64,
                                          device=device) for name, idx in splits.items()}

    # Fine-tuning: the last blocks and the head, with fit (under torchrun: DDP).
    output = Path(args.output)
    if distributed.is_main():
        output.mkdir(parents=True, exist_ok=True)
    distributed.barrier()
    epochs = args.epochs or {"offline": 8, "full": 15}.get(profile.name, 8)
    train_data = images.with_transform(tlc.data.image_transform(backbone, image_size,
                                                                train=True))
    train_loader = tlc.data.make_loader(torch.utils.data.Subset(train_data, train_idx),
                                        per_process, shuffle=True, seed=args.seed,
                                        device=device)
    finetuned = tlc.models.unfreeze_last(copy.deepcopy(extractor), args.blocks)
    start = time.perf_counter()
    history = tlc.train.fit(finetuned, train_loader, loaders["validation"], num_epochs=epochs,
                            lr=args.lr, scheduler="cosine", seed=args.seed, device=device,
                            batchnorm="eval_frozen",
                            early_stopping=tlc.callbacks.EarlyStopping(
                                patience=args.patience, monitor="val_acc"),
                            checkpoint=output / "finetune_checkpoint.pt", resume=args.resume,
                            desc="fine-tune")
    finetune_seconds = time.perf_counter() - start

    # Decide on validation, then report on test.
    majority = int(np.bincount(targets[train_idx]).argmax())
    models = {"feature extraction": extractor, "fine-tuning": finetuned}
    results = pd.DataFrame({
        split_name: {"always the most common class":
                     float(np.mean(targets[splits[split]] == majority)),
                     **{name: tlc.train.evaluate(m, loaders[split], device=device)["acc"]
                        for name, m in models.items()}}
        for split_name, split in (("validation acc", "validation"), ("test acc", "test"))})
    chosen = max(models, key=lambda name: (results.loc[name, "validation acc"],
                                           name == "feature extraction"))
    summary = {
        "data": str(data_dir), "num_images": len(images), "classes": list(classes),
        "image_size": image_size, "processes": world, "device": device.type,
        "global_batch_size": args.batch_size, "backbone": backbone, "C": best_C,
        "shortlist": shortlist, "candidates": candidates, "epochs": len(history),
        "finetune_seconds": finetune_seconds, "chosen": chosen,
        "accuracy": {name: dict(row) for name, row in results.iterrows()},
        "history": history.epochs}
    if distributed.is_main():
        tlc.checkpoint.save_classifier(output / "model.pt", models[chosen], backbone=backbone,
                                       classes=classes, image_size=image_size)
        report = _report(summary, data_dir, args, train_idx, val_idx, test_idx, results)
        tlc.io.atomic_write_bytes(output / "report.md", report.encode())
        tlc.io.atomic_write_bytes(output / "results.json",
                                  json.dumps(summary, indent=1).encode())
        print(report)
        print(f"\nwrote {output / 'report.md'}, {output / 'model.pt'}")
    distributed.barrier()
    if spread:
        import torch.distributed as dist

        dist.destroy_process_group()
    return summary


def _report(summary: dict, data_dir: Path, args, train_idx, val_idx, test_idx,
            results) -> str:
    """Notebook 05's Markdown report, plus how many processes trained."""
    chosen = summary["chosen"]
    return "\n".join([
        f"# Transfer learning report: {data_dir.name}",
        "",
        f"- data: {summary['num_images']} images, {len(summary['classes'])} classes "
        f"({', '.join(summary['classes'])}), {summary['image_size']} px",
        f"- split (seed {args.seed}): {len(train_idx)} train, {len(val_idx)} validation, "
        f"{len(test_idx)} test",
        f"- backbone: {summary['backbone']} (LogME shortlisted {', '.join(summary['shortlist'])}"
        f" of {', '.join(summary['candidates'])}; chosen on validation), C = {summary['C']}",
        f"- fine-tuning: last {args.blocks} blocks, {summary['epochs']} epochs, lr {args.lr}, "
        f"{summary['finetune_seconds']:.0f} s on {summary['device']} "
        f"({summary['processes']} process{'es' if summary['processes'] > 1 else ''}, "
        f"global batch {args.batch_size})",
        f"- chosen model: **{chosen}**, test accuracy "
        f"**{results.loc[chosen, 'test acc']:.1%}**",
        "",
        "| | validation acc | test acc |",
        "|---|---|---|",
        *[f"| {name} | {row['validation acc']:.1%} | {row['test acc']:.1%} |"
          for name, row in results.iterrows()],
    ])


def main(argv=None) -> int:
    args = parse_args(argv)
    from tlcourse import distributed

    quiet = distributed.launched() and os.environ.get("RANK", "0") != "0"
    # Other ranks print nothing (their errors still reach stderr).
    with contextlib.redirect_stdout(_io.StringIO()) if quiet else contextlib.nullcontext():
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
