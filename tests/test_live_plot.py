"""The live loss/accuracy plot of fit(live_plot=True): what it draws, and where."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import tlcourse as tlc
from tlcourse import callbacks
from tlcourse.callbacks import LivePlot
from tlcourse.train import fit

matplotlib.use("agg")


def _loaders():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(120) % 2
    x = torch.randn(120, 4, generator=g) + 2.0 * y[:, None].float()
    train = tlc.data.make_loader(TensorDataset(x[:80], y[:80]), 16, shuffle=True)
    return train, tlc.data.make_loader(TensorDataset(x[80:], y[80:]), 40)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def _line(fig, ax_index, label):
    (line,) = [ln for ln in fig.axes[ax_index].lines if ln.get_label() == label]
    return line


def test_the_figure_holds_the_history_it_plotted():
    figures_before = plt.get_fignums()
    train, val = _loaders()
    history = fit(_model(), train, val, num_epochs=4, lr=0.05, device="cpu", progress=False,
                  live_plot=True)
    fig = history.figure
    assert isinstance(fig, matplotlib.figure.Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    for ax_index, metric in ((0, "loss"), (1, "acc")):
        for split in ("train", "val"):
            line = _line(fig, ax_index, split)
            np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
            np.testing.assert_array_equal(line.get_ydata(), history[f"{split}_{metric}"])
    # The axes were rescaled to the data, and no pyplot window was opened.
    low, high = fig.axes[0].get_ylim()
    assert low <= min(history["train_loss"]) and high >= max(history["val_loss"])
    assert plt.get_fignums() == figures_before


def test_without_validation_only_training_curves_are_drawn():
    train, _ = _loaders()
    history = fit(_model(), train, num_epochs=2, lr=0.05, device="cpu", progress=False,
                  live_plot=True)
    assert [ln.get_label() for ln in history.figure.axes[0].lines] == ["train"]
    np.testing.assert_array_equal(_line(history.figure, 1, "train").get_ydata(),
                                  history["train_acc"])


class _FakeDisplay:
    """Records what a Jupyter kernel would be sent."""

    def __init__(self):
        self.shown, self.updates = [], []

    def __call__(self, obj, display_id=False):
        assert display_id is True
        self.shown.append(obj)
        return self

    def update(self, obj):
        self.updates.append(obj)


def test_in_a_kernel_one_output_is_updated_in_place_each_epoch(monkeypatch):
    fake = _FakeDisplay()
    monkeypatch.setattr(callbacks, "_display_handle", lambda: fake)
    train, val = _loaders()
    fit(_model(), train, val, num_epochs=3, lr=0.05, device="cpu", progress=False,
        live_plot=True)
    assert len(fake.shown) == 1 and len(fake.updates) == 2  # epochs 1, 2, 3
    for image in fake.shown + fake.updates:
        assert image.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_headless_nothing_is_displayed(monkeypatch):
    assert callbacks._display_handle() is None  # pytest is not a Jupyter kernel
    fake = _FakeDisplay()
    monkeypatch.setattr(callbacks, "_display_handle", lambda: fake)
    plot = LivePlot(interactive=False)
    train, val = _loaders()
    fit(_model(), train, val, num_epochs=2, lr=0.05, device="cpu", progress=False,
        callbacks=[plot])
    assert fake.shown == [] and plot.figure is not None


def test_a_resumed_run_plots_every_epoch(tmp_path):
    train, val = _loaders()
    path = tmp_path / "run.ckpt"
    model = _model()
    fit(model, train, val, num_epochs=2, lr=0.05, device="cpu", progress=False,
        live_plot=True, checkpoint=path)
    history = fit(model, train, val, num_epochs=4, lr=0.05, device="cpu", progress=False,
                  live_plot=True, checkpoint=path, resume=True)
    line = _line(history.figure, 0, "val")
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
    assert list(line.get_ydata()) == pytest.approx(history["val_loss"])


def test_a_loss_only_loop_gets_one_panel_and_its_title():
    plot = LivePlot(interactive=False, title="SimCLR")
    for epoch, loss in enumerate([4.0, 3.1, 2.7]):
        plot.on_epoch_end(epoch, None, {"train_loss": loss})
    fig = plot.draw()
    assert [ax.get_title() for ax in fig.axes] == ["SimCLR: loss"]
    np.testing.assert_array_equal(_line(fig, 0, "train").get_ydata(), [4.0, 3.1, 2.7])


def test_ssl_pretraining_redraws_its_loss_in_a_kernel_and_caches_the_same_weights(
        monkeypatch, tmp_path):
    fake = _FakeDisplay()
    monkeypatch.setattr(callbacks, "_display_handle", lambda: fake)
    images = torch.rand(64, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    settings = dict(data="noise", image_size=16, num_epochs=3, batch_size=32, device="cpu",
                    progress=False)
    shown = tlc.ssl.pretrained_encoder("rotation", images, folder=tmp_path / "a",
                                       live_plot=True, **settings)
    assert len(fake.shown) == 1 and len(fake.updates) == 2  # one output, three epochs
    quiet = tlc.ssl.pretrained_encoder("rotation", images, folder=tmp_path / "b", **settings)
    assert quiet.key == shown.key and quiet.losses == shown.losses  # the plot changes nothing
    assert len(fake.shown) == 1
