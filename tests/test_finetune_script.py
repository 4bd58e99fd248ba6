"""``python -m tlcourse.finetune``: notebook 05 as a script, on 2 CPU processes under torchrun
(loopback only, bounded in time) and in one process, on the bundled capstone folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import tlcourse as tlc
from tests.test_distributed import LIMIT_S, ROOT, free_port
from tlcourse import finetune

# Small and fast: one backbone at 96 px, two epochs.
ARGS = ["--backbones", "efficientnet_lite0", "--shortlist", "1", "--image-size", "96",
        "--epochs", "2", "--profile", "offline", "--device", "cpu"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The script on 2 processes, then in this process, sharing a fresh feature cache."""
    root = tmp_path_factory.mktemp("finetune")
    env = os.environ | {"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT),
                        "TLCOURSE_CACHE": str(root / "cache"), "TLCOURSE_DIST_TIMEOUT": "60"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--nnodes=1", "--master_addr=127.0.0.1", f"--master_port={free_port()}",
               "-m", "tlcourse.finetune", "--output", str(root / "two"), *ARGS]
    done = subprocess.run(command, capture_output=True, text=True, timeout=LIMIT_S, cwd=ROOT,
                          env=env, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    before = os.environ.get("TLCOURSE_CACHE")
    os.environ["TLCOURSE_CACHE"] = str(root / "cache")
    try:
        one = finetune.run(finetune.parse_args(["--output", str(root / "one"), *ARGS]))
    finally:
        if before is None:
            os.environ.pop("TLCOURSE_CACHE")
        else:
            os.environ["TLCOURSE_CACHE"] = before
    return root, done.stdout, one


def test_two_processes_write_the_notebooks_report_and_model(runs):
    root, stdout, _ = runs
    out = root / "two"
    report = (out / "report.md").read_text()
    assert report.startswith("# Transfer learning report: capstone_images\n")
    assert "(2 processes, global batch 32)" in report
    assert "| feature extraction |" in report and "| fine-tuning |" in report
    assert stdout.count("# Transfer learning report") == 1  # printed by rank 0 only
    results = json.loads((out / "results.json").read_text())
    assert results["processes"] == 2 and results["backbone"] == "efficientnet_lite0"
    acc = results["accuracy"]
    chosen = acc[results["chosen"]]
    # notebook 05's first claim: far better than always answering the most common class
    assert chosen["test acc"] - acc["always the most common class"]["test acc"] >= 0.25
    model, info = tlc.checkpoint.load_classifier(out / "model.pt")
    assert info["classes"] == results["classes"] and info["image_size"] == 96
    # the saved model is the chosen one: its test accuracy is the reported one
    images = tlc.data.load_folder(results["data"], size=96, min_images=5)
    targets = tlc.data.targets_of(images)
    _, _, test_idx = tlc.data.stratified_split(targets, [0.55, 0.2, 0.25], seed=0)
    data = images.with_transform(tlc.data.image_transform("efficientnet_lite0", 96))
    loader = tlc.data.make_loader(torch.utils.data.Subset(data, test_idx), 64)
    assert tlc.train.evaluate(model, loader, device="cpu")["acc"] == pytest.approx(
        chosen["test acc"], abs=1e-6)
    saved = tlc.io.load(out / "finetune_checkpoint.pt")
    assert saved["epoch"] == results["epochs"]


def test_two_processes_decide_as_one_process(runs):
    root, _, one = runs
    two = json.loads((root / "two" / "results.json").read_text())
    assert one["processes"] == 1
    for key in ("backbone", "C", "shortlist", "classes"):
        assert two[key] == one[key], key
    # no training in feature extraction: the same numbers
    assert two["accuracy"]["feature extraction"] == pytest.approx(
        one["accuracy"]["feature extraction"], abs=1e-9)
    # fine-tuning: the same global batches; BatchNorm statistics per process and other
    # random crops on rank 1 leave room for a few images
    for split in ("validation acc", "test acc"):
        assert two["accuracy"]["fine-tuning"][split] == pytest.approx(
            one["accuracy"]["fine-tuning"][split], abs=0.1)


def test_the_global_batch_must_split_evenly():
    assert finetune._global_batch(32, 4) == 8
    with pytest.raises(ValueError, match="multiple of 3"):
        finetune._global_batch(32, 3)


def test_the_tlcourse_command_runs_the_script(capsys):
    from tlcourse import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(["finetune", "--help"])
    assert exit_.value.code == 0
    assert "--batch-size" in capsys.readouterr().out  # the script's own options
