"""Interrupted runs: a training process killed with SIGKILL resumes to the same result, and a
process killed while saving never leaves a file that is later trusted."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from tlcourse import io

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

NUM_EPOCHS = 4
PAUSE_AT = (3, 5)  # (epoch, batch), 1-based: the interrupted run stops here, mid-epoch

# A seeded run of fit() with a checkpoint, resuming when one exists. With TLC_PAUSE_AT set,
# it writes a marker file and sleeps in the forward pass of that batch: the test kills it
# there, so the kill lands mid-epoch at a known point (after earlier checkpoints were written
# and after some of this epoch's optimizer steps), whatever the machine's speed.
TRAIN_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path

    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    import tlcourse as tlc
    from tlcourse import io

    torch.set_num_threads(1)
    work = Path(sys.argv[1])
    pause = os.environ.get("TLC_PAUSE_AT")
    pause = tuple(int(v) for v in pause.split(",")) if pause else None

    g = torch.Generator().manual_seed(0)
    y = torch.arange(384) % 4
    x = torch.randn(384, 8, generator=g) + 1.5 * torch.eye(8)[y * 2]
    train = tlc.data.make_loader(TensorDataset(x, y), 16, shuffle=True, seed=5)
    val = tlc.data.make_loader(TensorDataset(x[:96] + 0.5, y[:96]), 48)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(64, 4))
    position = {"epoch": 0, "batch": 0}

    class Position(tlc.train.Callback):
        def on_epoch_start(self, epoch, model):
            position["epoch"], position["batch"] = epoch + 1, 0
            with open(work / "epochs.log", "a") as log:  # which epochs each process ran
                log.write(f"{epoch + 1} ")

    def on_batch(module, args):
        if not module.training:
            return
        position["batch"] += 1
        if pause and (position["epoch"], position["batch"]) == pause:
            (work / "paused").write_text(json.dumps(position))
            time.sleep(120)  # killed here

    model.register_forward_pre_hook(on_batch)
    history = tlc.train.fit(model, train, val, num_epochs=int(sys.argv[2]), lr=0.02,
                            scheduler="onecycle", seed=7, device="cpu", progress=False,
                            callbacks=[Position()], checkpoint=work / "run.pt", resume=True)
    rows = [{k: v for k, v in e.items() if k != "seconds"} for e in history.epochs]
    io.save({"history": json.dumps(rows), "weights": model.state_dict()}, work / "final.pt")
""")


def _start(script: Path, work: Path, pause=None) -> subprocess.Popen:
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "TLC_PAUSE_AT"}
    if pause:
        env["TLC_PAUSE_AT"] = ",".join(map(str, pause))
    return subprocess.Popen([sys.executable, str(script), str(work), str(NUM_EPOCHS)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finish(proc: subprocess.Popen, timeout: float = 60) -> None:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:]


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace")
            pytest.fail(f"the training script ended before {path.name} appeared:\n{out[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path.name} did not appear within {timeout} s")
        time.sleep(0.02)


def test_a_run_killed_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    straight = _start(script, tmp_path / "straight")  # runs alongside the interrupted one
    killed = _start(script, tmp_path / "killed", pause=PAUSE_AT)
    _wait_for(tmp_path / "killed" / "paused", killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    # The process died mid-epoch 3: the checkpoint holds epoch 2 and there is no result.
    assert io.load(tmp_path / "killed" / "run.pt")["epoch"] == PAUSE_AT[0] - 1
    assert not (tmp_path / "killed" / "final.pt").exists()

    epochs_log = tmp_path / "killed" / "epochs.log"
    assert epochs_log.read_text().split() == ["1", "2", "3"]
    _finish(_start(script, tmp_path / "killed"))  # the same command again: it resumes
    # It went on from the checkpoint (epoch 3 again, then 4) instead of starting afresh.
    assert epochs_log.read_text().split() == ["1", "2", "3", "3", "4"]
    _finish(straight)
    expected = io.load(tmp_path / "straight" / "final.pt")
    resumed = io.load(tmp_path / "killed" / "final.pt")
    expected_rows, resumed_rows = (json.loads(r["history"]) for r in (expected, resumed))
    assert [r["epoch"] for r in resumed_rows] == list(range(1, NUM_EPOCHS + 1))
    assert resumed_rows == expected_rows  # every loss, accuracy and learning rate, exactly
    assert expected["weights"].keys() == resumed["weights"].keys()
    for name, value in expected["weights"].items():
        assert torch.equal(value, resumed["weights"][name]), name


# Saves ever larger versions of one file as fast as it can; the test kills it at random.
SAVE_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path

    import torch

    from tlcourse import io

    path = Path(sys.argv[1])
    version = io.load(path)["version"] + 1 if path.exists() else 0
    while True:
        # every version has its own size and content, so a mixed-up file cannot pass
        io.save({"version": version, "data": torch.full((200_000 + version,), float(version))},
                path)
        (path.parent / "saved").touch()  # one version is complete: the test may kill now
        version += 1
""")


def _check_intact_or_refused(path: Path) -> int | None:
    """The version stored at ``path``; ``None`` when io.load refuses the file."""
    try:
        saved = io.load(path)
    except io.CorruptFileError:
        return None
    version = saved["version"]
    assert saved["data"].shape == (200_000 + version,)
    assert torch.equal(saved["data"], torch.full_like(saved["data"], float(version)))
    return version


def test_killing_a_process_while_it_saves_never_leaves_a_trusted_bad_file(tmp_path):
    script = tmp_path / "save_loop.py"
    script.write_text(SAVE_SCRIPT)
    path = tmp_path / "ckpt" / "state.pt"
    path.parent.mkdir()
    versions = []
    for delay in (0.07, 0.23):  # each run is killed at another point of its loop
        (path.parent / "saved").unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, str(script), str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        _wait_for(path.parent / "saved", proc)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        if path.exists():
            versions.append(_check_intact_or_refused(path))
        if versions and versions[-1] is None:  # refused: a user deletes it and starts afresh
            path.unlink()
    assert len(versions) == 2 and any(v is not None for v in versions), versions
