"""Hooks into :func:`tlcourse.train.fit`: the :class:`Callback` base and early stopping.

Early stopping watches a validation metric and stops when it has not improved for
``patience`` epochs, then puts back the weights of the best epoch: with few labels a
network soon starts to memorise them, and the best epoch generalises better than the last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from tlcourse.checks import positive_int

if TYPE_CHECKING:
    from tlcourse.train import History

__all__ = ["Callback", "EarlyStopping"]


class Callback:
    """Hooks :func:`tlcourse.train.fit` calls; subclass and override what you need.

    Any object with some of these methods will do. One with ``state_dict`` and
    ``load_state_dict`` is saved in checkpoints.
    """

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        """Before epoch ``epoch`` (0-based), after ``model.train()``."""

    def on_epoch_end(self, epoch: int, model: nn.Module, row: dict) -> bool | None:
        """After validation; may add metrics to ``row``. Return ``True`` to stop the run."""

    def on_fit_end(self, model: nn.Module, history: History) -> None:
        """Once, when training ends (normally, early, or stopped by a callback)."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best.

    Args:
        monitor: a key of the history rows, e.g. ``"val_loss"`` or ``"val_acc"``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracies, min otherwise).
        min_delta: the smallest change that counts as an improvement.
        restore_best: load the best epoch's weights into the model when training ends.
    """

    def __init__(self, patience: int = 3, monitor: str = "val_loss", mode: str = "auto",
                 min_delta: float = 0.0, restore_best: bool = True) -> None:
        positive_int("patience", patience)
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.patience, self.monitor, self.mode = patience, monitor, mode
        self.min_delta, self.restore_best = min_delta, restore_best
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_state: dict | None = None

    @property
    def stopped(self) -> bool:
        return self.wait >= self.patience

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, model: nn.Module, row: dict) -> bool:
        if self.monitor not in row:
            raise KeyError(f"early stopping monitors {self.monitor!r} but the history has only "
                           f"{sorted(row)}; pass a val_loader or monitor a train metric.")
        value = row[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
            if self.restore_best:
                self.best_state = {k: v.detach().cpu().clone()
                                   for k, v in model.state_dict().items()}
        else:
            self.wait += 1
        return self.stopped

    def on_fit_end(self, model: nn.Module, history: History) -> None:
        history.best_epoch = self.best_epoch
        if self.stopped:
            history.stopped_epoch = len(history)
        if self.restore_best and self.best_state is not None:
            model.load_state_dict(self.best_state)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.wait, self.best_state = state["wait"], state["best_state"]
