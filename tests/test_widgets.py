"""The fine-tuning explorer's train button: its progress bar shows in the cell.

A button callback runs outside any cell, so what it prints or displays goes to JupyterLab's
log console unless an ``Output`` widget captures it. The kernel test clicks the button in a
real kernel (nbclient keeps the Output widgets' contents, as a browser would show them) and
looks for the progress bar there, and not among the cell's own outputs."""

import json
import tempfile

import matplotlib
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import tlcourse as tlc
from tlcourse.models import unfreeze_last

matplotlib.use("Agg")

SETUP = """
import matplotlib
matplotlib.use("Agg")
import IPython.display
import ipywidgets
import torch
from torch import nn
from torch.utils.data import TensorDataset

import tlcourse as tlc
from tlcourse.models import unfreeze_last

shown = []  # what the explorer displays, so this test can find its button
_display = IPython.display.display
def recording(*objs, **kwargs):
    shown.extend(objs)
    return _display(*objs, **kwargs)
IPython.display.display = recording

loader = tlc.data.make_loader(TensorDataset(torch.randn(16, 4), torch.arange(16) % 2), 8)

def build(n_blocks):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    model.stages = lambda: [model[0]]
    return unfreeze_last(model, n_blocks)

history, fig = tlc.widgets.finetune_explorer(build, loader, loader, num_blocks=1, lr=0.01,
                                             num_epochs=2, max_blocks=1, interactive=True,
                                             device="cpu")
"""

CLICK = """
panel = next(w for w in shown if isinstance(w, ipywidgets.VBox))
controls, out = panel.children
blocks, rate, button = controls.children
blocks.value, rate.value = 0, 0.001
button.click()
print("clicked")
"""


def _texts(outputs) -> str:
    """Every text of a list of nbformat outputs (streams, text/plain of display data)."""
    parts = []
    for output in outputs:
        parts.append(output.get("text", ""))
        parts.append(str(output.get("data", {}).get("text/plain", "")))
    return "".join(parts)


def test_clicking_train_shows_the_progress_bar_in_the_cell_not_the_log_console():
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipywidgets")
    from tlcourse.runner import _kernel_manager_class

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(CLICK)]
    with tempfile.TemporaryDirectory(prefix="tlc-kernel-") as socket_dir:
        client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                         kernel_manager_class=_kernel_manager_class(socket_dir))
        client.execute()
    setup_cell, click_cell = nb.cells
    # The default run, trained while the cell runs, has its bar in the cell as usual.
    assert "1 blocks, lr 0.01" in _texts(setup_cell.outputs)
    # The click's run: only the cell's own print reaches the cell ...
    assert "clicked" in _texts(click_cell.outputs)
    assert "0 blocks, lr 0.001" not in _texts(click_cell.outputs)
    # ... and the bar is in the Output widget under the controls.
    states = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    captured = [s["state"].get("outputs", []) for s in states.values()
                if s["model_name"] == "OutputModel"]
    assert len(captured) == 1 and captured[0], json.dumps(captured)
    assert "0 blocks, lr 0.001" in _texts(captured[0])
    bar_widgets = [s["state"] for s in states.values() if s["model_name"] == "HTMLModel"]
    assert any("0 blocks, lr 0.001" in s.get("value", "").replace("\u2007", " ")
               for s in bar_widgets)


def test_clicking_train_headless_adds_the_run_to_the_figure(monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display",
                        lambda *objs, **kwargs: shown.extend(objs) or _Handle(shown))
    data = TensorDataset(torch.randn(16, 4), torch.arange(16) % 2)
    loader = tlc.data.make_loader(data, 8)

    def build(n_blocks):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        model.stages = lambda: [model[0]]
        return unfreeze_last(model, n_blocks)

    tlc.widgets.finetune_explorer(build, loader, loader, num_blocks=1, lr=0.01, num_epochs=2,
                                  max_blocks=1, interactive=True, device="cpu", progress=False)
    panel = next(w for w in shown if isinstance(w, widgets.VBox))
    (blocks, rate, button), out = panel.children[0].children, panel.children[1]
    assert isinstance(out, widgets.Output)
    blocks.value, rate.value = 0, 0.001
    button.click()
    assert not button.disabled
    new = shown[-1]  # the handle's update: both runs drawn
    labels = new.axes[0].get_legend_handles_labels()[1]
    assert [label for label in labels if "(train)" in label] == [
        "1 blocks, lr 0.01 (train)", "0 blocks, lr 0.001 (train)"]


class _Handle:
    """Stands in for IPython's DisplayHandle: an update shows the new object."""

    def __init__(self, shown):
        self.shown = shown

    def update(self, obj):
        self.shown.append(obj)


def test_search_explorer_redraws_for_a_typed_query_and_shows_errors_under_the_box(monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    import IPython.display
    import ipywidgets.widgets.widget_output as widget_output
    import matplotlib.pyplot as plt

    # Outside a kernel, whatever shell another test may have left in this process.
    monkeypatch.setattr(widget_output, "get_ipython", lambda: None)

    def draw(query):
        if not query.strip():
            raise ValueError("type a few words to search for")
        fig, ax = plt.subplots()
        ax.set_title(query)
        return fig

    headless = tlc.widgets.search_explorer(draw, "a guitar", interactive=False)
    assert headless.axes[0].get_title() == "a guitar"
    shown = []
    monkeypatch.setattr(IPython.display, "display",
                        lambda *objs, **kwargs: shown.extend(objs) or _Handle(shown))
    tlc.widgets.search_explorer(draw, "a guitar", interactive=True)
    panel = next(w for w in shown if isinstance(w, widgets.VBox))
    box, out = panel.children
    assert isinstance(box, widgets.Text) and isinstance(out, widgets.Output)
    box.value = "a red car"
    assert shown[-1].axes[0].get_title() == "a red car"  # the handle's update
    count = len(shown)
    with pytest.raises(ValueError, match="type a few words"):  # outside a kernel it raises;
        box.value = " "                                       # in one, the Output shows it
    assert len(shown) == count  # no figure update for a failed query
