"""What each process of tests/test_distributed.py runs under ``torchrun``.

It trains a small network on scikit-learn's digits with :func:`tlcourse.train.fit` exactly
as a notebook would, and records for the test: the history, a hash of every rank's
parameters after each epoch, the final weights, and what ``evaluate``, ``predict`` and
``features.extract`` give under torchrun. Only rank 0 writes files. ``--crash-rank R
--crash-epoch E`` makes rank R fail at the start of epoch E (0-based).

    python -m torch.distributed.run --nproc_per_node=2 tests/distributed_worker.py OUT
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

SEED = 0


def digits() -> tuple[TensorDataset, TensorDataset]:
    """1,797 real 8x8 digits: the first 1,200 to train on, the rest to validate."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32) / 16
    y = torch.tensor(y)
    return TensorDataset(x[:1200], y[:1200]), TensorDataset(x[1200:], y[1200:])


def network(batchnorm: bool = False) -> nn.Module:
    # No BatchNorm by default: its statistics are per process, so only without it do N
    # processes and one process with the same global batch compute the same steps.
    torch.manual_seed(SEED)
    norm = [nn.BatchNorm1d(32)] if batchnorm else []
    return nn.Sequential(nn.Linear(64, 32), *norm, nn.ReLU(), nn.Linear(32, 10))


def weights_hash(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class RankHashes:
    """After each epoch, every rank's weights hash, gathered (a collective: all ranks)."""

    def __init__(self) -> None:
        self.hashes: list[list[str]] = []

    def on_epoch_end(self, epoch, model, row) -> None:
        import torch.distributed as dist

        parts = [None] * dist.get_world_size()
        dist.all_gather_object(parts, weights_hash(model))
        self.hashes.append(parts)


class Crash:
    def __init__(self, rank: int, epoch: int) -> None:
        self.rank, self.epoch = rank, epoch

    def on_epoch_start(self, epoch, model) -> None:
        from tlcourse import distributed

        if distributed.rank() == self.rank and epoch == self.epoch:
            raise RuntimeError(f"rank {self.rank} fails on purpose at epoch {epoch + 1}")


class StopOn:
    """Asks to stop after the first epoch, on one rank only."""

    def __init__(self, rank: int) -> None:
        self.rank = rank

    def on_epoch_end(self, epoch, model, row) -> bool:
        from tlcourse import distributed

        return distributed.rank() == self.rank


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--crash-rank", type=int)
    parser.add_argument("--crash-epoch", type=int, default=0)
    parser.add_argument("--batchnorm", action="store_true", help="a BatchNorm layer too")
    parser.add_argument("--stop-rank", type=int, help="this rank's callback asks to stop "
                        "after epoch 1 (the others do not)")
    args = parser.parse_args()

    import tlcourse as tlc
    from tlcourse import distributed

    train, val = digits()
    model = network(args.batchnorm)
    train_loader = tlc.data.make_loader(train, args.batch_size, shuffle=True, seed=SEED)
    val_loader = tlc.data.make_loader(val, 100)
    hashes = RankHashes()
    callbacks = [hashes] + ([Crash(args.crash_rank, args.crash_epoch)]
                            if args.crash_rank is not None else [])
    if args.stop_rank is not None:
        callbacks.append(StopOn(args.stop_rank))
    history = tlc.train.fit(model, train_loader, val_loader, num_epochs=args.epochs, lr=args.lr,
                            scheduler="cosine", seed=SEED, device="cpu", progress=False,
                            callbacks=callbacks, checkpoint=args.checkpoint, resume=args.resume)
    scores = tlc.train.evaluate(model, val_loader, device="cpu")
    import torch.distributed as dist

    decided = [None] * distributed.world_size()  # each rank's copy of rank 0's decision
    dist.all_gather_object(decided, distributed.from_main(f"rank {distributed.rank()}"))
    logits, targets = tlc.train.predict(model, val_loader, device="cpu")
    features, feature_targets = tlc.features.extract(model, val, device="cpu", batch_size=50,
                                                     folder=args.out / "cache", progress=False)
    if distributed.is_main():
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save({"model": model.state_dict(), "logits": logits, "targets": targets,
                    "features": features, "feature_targets": feature_targets},
                   args.out / "result.pt")
        (args.out / "result.json").write_text(json.dumps({
            "world_size": distributed.world_size(), "history": history.epochs,
            "hashes": hashes.hashes, "evaluate": scores, "decided": decided}))


if __name__ == "__main__":
    main()
