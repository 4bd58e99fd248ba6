"""Schedules, early stopping, checkpoints and resume: exact values, exact repeats."""

import itertools
import math
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import tlcourse as tlc
from tlcourse import checkpoint, io, schedules
from tlcourse.train import Callback, EarlyStopping, fit


def _opt(lr=1.0, groups=1):
    params = [[torch.zeros(1, requires_grad=True)] for _ in range(groups)]
    return torch.optim.SGD([{"params": p, "lr": lr * (k + 1)} for k, p in enumerate(params)],
                           lr=lr)


def _lrs(opt, sched, steps, group=0):
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[group]["lr"])
        opt.step()
        sched.step()
    return out


# --- schedules -----------------------------------------------------------------------

def test_warmup_cosine_values_at_known_steps():
    opt = _opt(lr=0.5)
    lrs = _lrs(opt, schedules.warmup_cosine(opt, total_steps=10, warmup_steps=4), 10)
    assert lrs[:4] == pytest.approx([0.0, 0.125, 0.25, 0.375])  # linear warm-up
    assert lrs[4] == pytest.approx(0.5)  # the peak, right after warm-up
    for step in range(4, 10):  # half a cosine over the 6 remaining steps
        expected = 0.5 * 0.5 * (1 + math.cos(math.pi * (step - 4) / 6))
        assert lrs[step] == pytest.approx(expected, abs=1e-12)
    assert lrs[7] == pytest.approx(0.25)  # halfway down


def test_cosine_floor_and_groups_keep_their_ratio():
    opt = _opt(lr=1.0, groups=2)
    sched = schedules.warmup_cosine(opt, total_steps=4, final_ratio=0.1)
    head, backbone = [], []
    for _ in range(5):
        head.append(opt.param_groups[0]["lr"])
        backbone.append(opt.param_groups[1]["lr"])
        opt.step()
        sched.step()
    assert head[0] == 1.0 and head[4] == pytest.approx(0.1)
    assert backbone == pytest.approx([2 * h for h in head])


def test_one_cycle_peaks_at_the_base_lr_and_ends_far_below():
    opt = _opt(lr=0.4)
    lrs = _lrs(opt, schedules.one_cycle(opt, total_steps=10, pct_start=0.3), 10)
    assert lrs[0] == pytest.approx(0.4 / 25)  # starts at max_lr / div_factor
    assert max(lrs) == pytest.approx(0.4) and lrs.index(max(lrs)) == 2
    assert lrs[-1] < 0.4 / 25 and all(a >= b for a, b in itertools.pairwise(lrs[2:]))


def test_make_scheduler_by_name_and_clear_errors():
    opt = _opt(lr=1.0)
    sched = schedules.make_scheduler("constant", opt, total_steps=10, warmup=0.2)
    assert _lrs(opt, sched, 10) == pytest.approx([0.0, 0.5] + [1.0] * 8)
    with pytest.raises(ValueError, match="Did you mean 'cosine'"):
        schedules.make_scheduler("cosin", _opt(), 10)
    with pytest.raises(ValueError, match="warmup_steps"):
        schedules.warmup_cosine(_opt(), total_steps=5, warmup_steps=5)


# --- fit with schedules, early stopping, checkpoints ----------------------------------

def _blobs(n=96, seed=0, noise=1.0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = noise * torch.randn(n, 6, generator=g) + torch.eye(6)[y * 2] * 2.0
    return TensorDataset(x, y)


def _setup(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(32, 3))
    train = tlc.data.make_loader(_blobs(seed=seed), 16, shuffle=True, seed=seed)
    val = tlc.data.make_loader(_blobs(48, seed=seed + 1), 48)
    return model, train, val


def test_fit_steps_a_named_schedule_per_batch():
    model, train, val = _setup()
    history = fit(model, train, val, num_epochs=3, lr=0.1, scheduler="cosine", warmup=0.0,
                  device="cpu", progress=False)
    steps = 3 * len(train)
    expected = [0.1 * schedules.cosine_factor(e * len(train), steps) for e in (1, 2, 3)]
    assert history["lr"] == pytest.approx(expected)


class _Scripted(Callback):
    """Replaces the validation loss by a scripted sequence (to test early stopping)."""

    def __init__(self, losses):
        self.losses = losses

    def on_epoch_end(self, epoch, model, row):
        row["val_loss"] = self.losses[epoch]


class _Snapshot(Callback):
    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, model, row):
        self.weights.append(model[0].weight.detach().clone())


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    model, train, val = _setup()
    snap = _Snapshot()
    stopper = EarlyStopping(patience=2, monitor="val_loss")
    history = fit(model, train, val, num_epochs=10, lr=0.05, device="cpu", progress=False,
                  callbacks=[_Scripted([1.0, 0.5, 0.7, 0.4, 0.6, 0.45, 0.3]), snap],
                  early_stopping=stopper)
    # best at epoch 4 (0.4), then 0.6 and 0.45 are worse: stop after epoch 6
    assert len(history) == 6 and history.stopped_epoch == 6 and history.best_epoch == 4
    assert torch.equal(model[0].weight, snap.weights[3])
    assert not torch.equal(model[0].weight, snap.weights[-1])


def test_early_stopping_on_accuracy_maximises():
    stopper = EarlyStopping(patience=1, monitor="val_acc")
    assert stopper.mode == "max"
    model = nn.Linear(1, 1)
    assert stopper.on_epoch_end(0, model, {"val_acc": 0.5}) is False
    assert stopper.on_epoch_end(1, model, {"val_acc": 0.7}) is False
    assert stopper.on_epoch_end(2, model, {"val_acc": 0.7}) is True
    assert stopper.best == 0.7 and stopper.best_epoch == 2


def test_early_stopping_names_a_missing_metric():
    model, train, _ = _setup()
    with pytest.raises(KeyError, match="val_loss"):
        fit(model, train, num_epochs=2, device="cpu", progress=False,
            early_stopping=EarlyStopping())


class _StopAfter(Callback):
    """Stops the run after ``n`` epochs: an interruption, as if the kernel died."""

    def __init__(self, n):
        self.n = n

    def on_epoch_end(self, epoch, model, row):
        return epoch + 1 >= self.n


def _run(tmp_path, *, stop_after=None, resume=False, num_epochs=5, fresh_loader=True,
         device="cpu"):
    model, train, val = _setup(seed=3)
    optimizer = torch.optim.AdamW(tlc.models.param_groups(model, 0.02, 0.5))
    callbacks = [_StopAfter(stop_after)] if stop_after else []
    history = fit(model, train, val, num_epochs=num_epochs, optimizer=optimizer,
                  scheduler="onecycle", seed=11, device=device, progress=False,
                  early_stopping=EarlyStopping(patience=10, monitor="val_acc"),
                  callbacks=callbacks, checkpoint=tmp_path / "run.pt", resume=resume)
    rows = [{k: v for k, v in e.items() if k != "seconds"} for e in history.epochs]
    return rows, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, history


def test_resumed_run_ends_exactly_like_an_uninterrupted_one(tmp_path):
    straight_rows, straight_weights, _ = _run(tmp_path / "a")
    part_rows, _, _ = _run(tmp_path / "b", stop_after=2)
    assert len(part_rows) == 2 and part_rows == straight_rows[:2]
    # Scramble every random generator: resume must restore them from the checkpoint.
    random.seed(99)
    np.random.seed(99)  # noqa: NPY002
    torch.manual_seed(99)
    resumed_rows, resumed_weights, history = _run(tmp_path / "b", resume=True)
    assert resumed_rows == straight_rows
    assert straight_weights.keys() == resumed_weights.keys()
    assert all(torch.equal(straight_weights[k], resumed_weights[k]) for k in straight_weights)
    assert history.best_epoch is not None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_run_on_the_gpu_resumes_like_an_uninterrupted_one(tmp_path):
    # fit loads the checkpoint onto the GPU (map_location=device): the random states in it
    # must go back to the CPU before they are restored (torch refuses CUDA byte tensors).
    straight_rows, straight_weights, _ = _run(tmp_path / "a", device="cuda")
    _run(tmp_path / "b", stop_after=2, device="cuda")
    torch.manual_seed(99)
    torch.cuda.manual_seed_all(99)
    resumed_rows, resumed_weights, _ = _run(tmp_path / "b", resume=True, device="cuda")
    assert [r["epoch"] for r in resumed_rows] == [r["epoch"] for r in straight_rows]
    for got, want in zip(resumed_rows, straight_rows, strict=True):
        assert got["val_acc"] == pytest.approx(want["val_acc"], abs=1e-6)
    for k, v in straight_weights.items():
        torch.testing.assert_close(resumed_weights[k], v, rtol=1e-5, atol=1e-6)


def test_resume_without_a_checkpoint_starts_afresh_and_needs_a_path(tmp_path):
    rows, _, _ = _run(tmp_path / "new", resume=True, num_epochs=2)
    assert [r["epoch"] for r in rows] == [1, 2]
    model, train, _ = _setup()
    with pytest.raises(ValueError, match="checkpoint"):
        fit(model, train, num_epochs=1, resume=True, device="cpu", progress=False)


def test_checkpoint_is_written_atomically_with_a_checksum_each_epoch(tmp_path):
    seen = []

    class Peek(Callback):
        def on_epoch_start(self, epoch, model):
            path = tmp_path / "ck.pt"
            seen.append(checkpoint.io.load(path)["epoch"] if path.exists() else None)

    model, train, val = _setup()
    fit(model, train, val, num_epochs=3, device="cpu", progress=False,
        callbacks=[Peek()], checkpoint=tmp_path / "ck.pt")
    assert seen == [None, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt", "ck.pt.sha256"]  # no temp


def test_a_corrupt_checkpoint_is_detected_not_trusted(tmp_path):
    model, train, val = _setup()
    path = tmp_path / "ck.pt"
    fit(model, train, val, num_epochs=1, device="cpu", progress=False, checkpoint=path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))
    with pytest.raises(io.CorruptFileError, match="checksum"):
        fit(model, train, val, num_epochs=2, device="cpu", progress=False, checkpoint=path,
            resume=True)


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    gen = torch.Generator().manual_seed(5)
    random.seed(1)
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(3)
    io.save({"rng": checkpoint.get_rng_state(gen)}, tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item(),  # noqa: NPY002
                torch.rand(1, generator=gen).item())
    random.seed(7)
    np.random.seed(7)  # noqa: NPY002
    torch.manual_seed(7)
    gen.manual_seed(7)
    checkpoint.set_rng_state(io.load(tmp_path / "rng.pt")["rng"], gen)
    got = (random.random(), np.random.rand(), torch.rand(1).item(),  # noqa: NPY002
           torch.rand(1, generator=gen).item())
    assert got == expected
