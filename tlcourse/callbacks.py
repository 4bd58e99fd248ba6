"""Hooks into :func:`tlcourse.train.fit`: the :class:`Callback` base, early stopping and
a live plot.

Early stopping watches a validation metric and stops when it has not improved for
``patience`` epochs, then puts back the weights of the best epoch: with few labels a
network soon starts to memorise them, and the best epoch generalises better than the last.

:class:`LivePlot` (``fit(..., live_plot=True)``) redraws the loss and accuracy curves after
every epoch, so a learner sees overfitting begin while the run is still going.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from torch import nn

from tlcourse.checks import positive_int

if TYPE_CHECKING:
    from tlcourse.train import History

__all__ = ["Callback", "EarlyStopping", "LivePlot"]


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


def _display_handle():
    """``IPython.display.display`` when running in a Jupyter kernel, else ``None``."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    shell = get_ipython()
    return display if shell is not None and hasattr(shell, "kernel") else None


class LivePlot(Callback):
    """Loss and accuracy curves (train and validation) redrawn after every epoch.

    In a Jupyter kernel the figure is shown once and updated in place through a display
    handle (one output, not one per epoch). Elsewhere (plain Python, tests) nothing is
    shown: the figure is drawn once at the end. Either way it is a standalone
    ``matplotlib.figure.Figure`` (no pyplot window opens), left in ``history.figure``.

    Only the panels with data are drawn: a loop that reports no accuracy (self-supervised
    pretraining) gets the loss panel alone.

    Args:
        interactive: ``None`` detects a kernel; ``False`` never displays.
        title: put before each panel's title (e.g. ``"SimCLR"``).

    Example:
        >>> plot = LivePlot(interactive=False)
        >>> plot.on_epoch_end(0, None, {"train_loss": 0.9, "val_loss": 1.0, "train_acc": 0.5})
        >>> plot.series
        {'train_loss': [0.9], 'val_loss': [1.0], 'train_acc': [0.5]}
    """

    KEYS = ("train_loss", "val_loss", "train_acc", "val_acc")

    def __init__(self, interactive: bool | None = None, title: str = "") -> None:
        self.interactive, self.title = interactive, title
        self._metrics: list[str] = []  # the panels, fixed when the figure is first drawn
        self.epochs: list[int] = []
        self.series: dict[str, list[float]] = {}
        self.figure = None
        self._handle = None

    def on_epoch_end(self, epoch: int, model: nn.Module, row: dict) -> None:
        self.epochs.append(epoch + 1)
        for key in self.KEYS:
            if key in row:
                self.series.setdefault(key, []).append(float(row[key]))
        display = _display_handle() if self.interactive is not False else None
        if display is not None:
            self.draw()
            self._show(display)

    def on_fit_end(self, model: nn.Module, history: History) -> None:
        self.draw()
        history.figure = self.figure

    def draw(self):
        """(Re)draw the curves of the epochs so far; return the figure."""
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        if self.figure is None:
            self._metrics = [m for m in ("loss", "acc")
                             if any(k.endswith(f"_{m}") for k in self.series)] or ["loss"]
            self.figure = Figure(figsize=(4.5 * len(self._metrics), 3.2), layout="constrained")
            axes = self.figure.subplots(1, len(self._metrics), squeeze=False)[0]
            for ax, metric in zip(axes, self._metrics, strict=True):
                name = {"loss": "loss", "acc": "accuracy"}[metric]
                ax.set(xlabel="epoch", ylabel=name,
                       title=f"{self.title}: {name}" if self.title else name)
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax, metric in zip(self.figure.axes, self._metrics, strict=True):
            for split, style in (("train", "-o"), ("val", "--o")):
                values = self.series.get(f"{split}_{metric}")
                if not values:
                    continue
                line = next((ln for ln in ax.lines if ln.get_label() == split), None)
                if line is None:
                    (line,) = ax.plot([], [], style, label=split, markersize=3)
                    ax.legend()
                line.set_data(self.epochs[-len(values):], values)
            ax.relim()
            ax.autoscale_view()
        return self.figure

    def _show(self, display) -> None:
        from IPython.display import Image

        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=80)
        image = Image(data=buffer.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)

    def state_dict(self) -> dict:
        return {"epochs": list(self.epochs), "series": {k: list(v) for k, v in
                                                         self.series.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.epochs = list(state["epochs"])
        self.series = {k: list(v) for k, v in state["series"].items()}
