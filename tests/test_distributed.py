"""``fit``, ``evaluate``, ``predict`` and ``extract`` under ``torchrun``: two gloo processes
on this machine (loopback only, each launch bounded in time) against one process.

tests/distributed_worker.py is what each process runs. Two processes with batches of 32
must take the very steps of one process with batches of 64 drawn by the same sampler.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

import tlcourse as tlc
from tlcourse import distributed
from tlcourse.distributed import _interleave

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("distributed_worker.py")
LIMIT_S = 120  # one launch; a hang fails the test instead of stalling make test
EPOCHS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(out: Path, *args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    """Launch the worker on ``nproc`` local processes; the result, with ``seconds`` set."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
                        "TLCOURSE_DIST_TIMEOUT": "60", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
               "--nnodes=1", "--master_addr=127.0.0.1", f"--master_port={free_port()}",
               str(WORKER), str(out), f"--epochs={EPOCHS}", *args]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=LIMIT_S, cwd=ROOT,
                            env=env, check=False)
    result.seconds = time.perf_counter() - start
    return result


def outputs(out: Path) -> tuple[dict, dict]:
    return (json.loads((out / "result.json").read_text()),
            torch.load(out / "result.pt", weights_only=True))


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """An uninterrupted 2-process run, with a checkpoint: (folder, json, tensors)."""
    out = tmp_path_factory.mktemp("two")
    run = torchrun(out, f"--checkpoint={out / 'ckpt.pt'}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return (out, *outputs(out))


@pytest.fixture(scope="module")
def one_process():
    """The same training in this process, batches of 64 from a one-replica sampler."""
    from tests.distributed_worker import SEED, digits, network

    train, val = digits()
    model = network()
    loader = DataLoader(train, batch_size=64, sampler=DistributedSampler(
        train, num_replicas=1, rank=0, shuffle=True, seed=SEED))
    val_loader = tlc.data.make_loader(val, 100)
    history = tlc.train.fit(model, loader, val_loader, num_epochs=EPOCHS, lr=3e-3,
                            scheduler="cosine", seed=SEED, device="cpu", progress=False)
    return model, history, val


def test_every_rank_holds_the_same_weights_after_every_epoch(two_processes):
    _, result, _ = two_processes
    assert result["world_size"] == 2
    assert len(result["hashes"]) == EPOCHS
    for epoch, ranks in enumerate(result["hashes"]):
        assert len(ranks) == 2 and ranks[0] == ranks[1], f"epoch {epoch + 1}: {ranks}"
    assert len({ranks[0] for ranks in result["hashes"]}) == EPOCHS  # and they did train
    assert result["decided"] == ["rank 0", "rank 0"]  # distributed.from_main: rank 0's value


def test_batchnorm_statistics_and_a_stop_asked_by_one_rank_are_shared(tmp_path):
    # Each rank's BatchNorm statistics follow its own batches unless fit gives every rank
    # rank 0's after each epoch; a callback that stops one rank only must stop them all
    # (otherwise the others wait in the next epoch's all-reduce until the timeout).
    run = torchrun(tmp_path, "--batchnorm", "--stop-rank=1")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result, _ = outputs(tmp_path)
    assert len(result["history"]) == 1 and len(result["hashes"]) == 1  # both stopped
    ranks = result["hashes"][0]
    assert ranks[0] == ranks[1], f"weights and BatchNorm statistics differ by rank: {ranks}"


def test_two_processes_train_as_one_process_with_the_same_global_batch(two_processes,
                                                                       one_process):
    _, result, tensors = two_processes
    model, history, _ = one_process
    for key, value in model.state_dict().items():
        torch.testing.assert_close(tensors["model"][key], value, atol=1e-5, rtol=1e-4)
    for spread, single in zip(result["history"], history.epochs, strict=True):
        assert spread["val_acc"] == pytest.approx(single["val_acc"], abs=0.005)
        # the training metrics are those of both processes' batches together
        assert spread["train_loss"] == pytest.approx(single["train_loss"], rel=1e-4)
        assert spread["train_acc"] == pytest.approx(single["train_acc"], abs=0.002)
        assert spread["lr"] == pytest.approx(single["lr"])
    assert result["history"][-1]["val_acc"] > 0.7  # it learned the digits


def test_evaluate_predict_and_extract_under_torchrun_give_one_process_numbers(two_processes,
                                                                              one_process):
    out, result, tensors = two_processes
    model, _, val = one_process
    loader = tlc.data.make_loader(val, 100)
    logits, targets = tlc.train.predict(model, loader, device="cpu")
    # each process predicted every other item: gathered back in the dataset's order
    assert torch.equal(tensors["targets"], targets)
    torch.testing.assert_close(tensors["logits"], logits, atol=1e-5, rtol=1e-4)
    scores = tlc.train.evaluate(model, loader, device="cpu")
    assert result["evaluate"]["acc"] == pytest.approx(scores["acc"], abs=1e-9)
    assert result["evaluate"]["loss"] == pytest.approx(scores["loss"], rel=1e-5)
    features, feature_targets = tlc.features.extract(model, val, device="cpu", cache=False,
                                                     progress=False)
    assert torch.equal(tensors["feature_targets"], feature_targets)
    torch.testing.assert_close(tensors["features"], features, atol=1e-5, rtol=1e-4)
    cached = list((out / "cache" / "features").glob("*.pt"))
    assert len(cached) == 1  # written once, by rank 0


def test_a_crash_in_one_rank_ends_the_run_and_its_checkpoint_resumes(two_processes,
                                                                     tmp_path):
    _, result, tensors = two_processes
    ckpt = tmp_path / "ckpt.pt"
    crashed = torchrun(tmp_path, f"--checkpoint={ckpt}", "--crash-rank=1",
                       f"--crash-epoch={EPOCHS - 1}")
    log = crashed.stdout + crashed.stderr
    assert crashed.returncode != 0, log[-3000:]
    assert crashed.seconds < 60, f"the run took {crashed.seconds:.0f} s to stop"
    assert f"rank 1 fails on purpose at epoch {EPOCHS}" in log  # the cause, not just a hang
    assert "ChildFailedError" in log
    assert not (tmp_path / "result.json").exists()
    saved = tlc.io.load(ckpt)
    assert saved["epoch"] == EPOCHS - 1  # rank 0 wrote the epochs both ranks finished
    assert len(saved["callbacks"]["rank_random_states"]["states"]) == 2

    resumed = torchrun(tmp_path, f"--checkpoint={ckpt}", "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    again, again_tensors = outputs(tmp_path)
    assert len(again["hashes"]) == 1  # one epoch was left to train
    assert again["hashes"][0] == result["hashes"][-1]  # as if it had never stopped
    for key, value in tensors["model"].items():
        assert torch.equal(again_tensors["model"][key], value), key
    assert [e["val_acc"] for e in again["history"]] == [e["val_acc"] for e in result["history"]]


def test_outside_torchrun_nothing_is_distributed(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert not distributed.launched()
    assert distributed.init() is False and not distributed.is_active()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    loader = tlc.data.make_loader(torch.utils.data.TensorDataset(torch.zeros(5, 2)), 2)
    assert distributed.shard_eval_loader(loader) is None
    assert distributed.device_for_rank(torch.device("cuda")) == torch.device("cuda")
    assert distributed.from_main({"C": 1.0}) == {"C": 1.0}


def test_slices_go_back_in_the_dataset_order():
    items = torch.arange(7)
    parts = [(items[r::3], {"t": items[r::3] * 10}) for r in range(3)]
    back, by_task = _interleave(parts)
    assert torch.equal(back, items) and torch.equal(by_task["t"], items * 10)


def test_each_process_gets_its_share_and_its_own_worker_seeds(monkeypatch):
    # Same permutation, complementary shares; the generators (which seed the loader's worker
    # processes, hence their augmentations) differ by rank and are reproducible.
    data = torch.utils.data.TensorDataset(torch.arange(10))
    loader = tlc.data.make_loader(data, 2, shuffle=True, seed=7)
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    shards = {}
    for r in (0, 1):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        shards[r] = distributed.shard_train_loader(loader)
    seen = [torch.cat([x for (x,) in shards[r]]).tolist() for r in (0, 1)]
    assert sorted(seen[0] + seen[1]) == list(range(10)) and len(seen[0]) == 5
    assert [shards[r].generator.initial_seed() for r in (0, 1)] == [7, 8]


def test_under_torchrun_a_gpu_index_that_is_not_the_processs_own_is_refused(monkeypatch):
    monkeypatch.setattr(distributed, "is_active", lambda: True)
    monkeypatch.setattr(distributed, "rank", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert distributed.device_for_rank(torch.device("cuda")) == torch.device("cuda", 1)
    assert distributed.device_for_rank(torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert distributed.device_for_rank(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match=r"cuda:0 would put process 1.*Pass device='cuda'"):
        distributed.device_for_rank(torch.device("cuda", 0))


def test_a_loader_that_cannot_be_split_gets_a_clear_error():
    data = torch.utils.data.TensorDataset(torch.zeros(4, 1))
    custom = DataLoader(data, batch_sampler=[[0, 1], [2, 3]])
    with pytest.raises(TypeError, match="DistributedSampler"):
        distributed.shard_train_loader(custom)
