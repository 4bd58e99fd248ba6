"""Interactive explorers for the notebooks (ipywidgets), that still work without a browser.

Every explorer first draws its default view as an ordinary matplotlib figure, so a notebook
run headless (papermill, nbval, ``make course``) keeps a static picture and raises nothing.
In a live Jupyter session it adds controls that redraw that same figure in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from tlcourse.features import nearest_neighbours

__all__ = ["finetune_explorer", "neighbour_explorer", "plot_neighbours", "search_explorer"]


def _image(item) -> np.ndarray:
    """An ``(H, W, C)`` array for imshow from an image, a tensor or a dataset's ``(x, y)``."""
    if isinstance(item, tuple | list):
        item = item[0]
    array = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else np.asarray(item)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)
    if array.dtype != np.uint8:
        array = np.clip(array, 0.0, 1.0)
    return array.squeeze()


def _name(labels, classes, i: int) -> str:
    if labels is None:
        return ""
    label = int(labels[i])
    return str(classes[label]) if classes is not None else str(label)


def plot_neighbours(query_features, gallery_features, query_images, gallery_images, *,
                    query: int = 0, k: int = 5, query_labels=None, gallery_labels=None,
                    classes: Sequence[str] | None = None, title: str | None = None):
    """The query image beside its ``k`` nearest gallery images (cosine similarity).

    Images may be any indexable collection of images, tensors or ``(image, label)`` pairs
    (a dataset loaded with a display transform works). A neighbour's title is green when
    its class matches the query's, red when it does not.
    """
    indices, sims = nearest_neighbours(torch.as_tensor(query_features[query:query + 1]),
                                       torch.as_tensor(gallery_features), k)
    fig, axes = plt.subplots(1, k + 1, figsize=(1.75 * (k + 1), 2.4))
    axes[0].imshow(_image(query_images[query]), cmap="gray")
    axes[0].set_title(f"query #{query}\n{_name(query_labels, classes, query)}", fontsize=9,
                      fontweight="bold")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for spine in axes[0].spines.values():
        spine.set(color="black", linewidth=3)
    for rank, (ax, i, s) in enumerate(zip(axes[1:], indices[0].tolist(), sims[0].tolist(),
                                          strict=True)):
        ax.imshow(_image(gallery_images[i]), cmap="gray")
        same = (query_labels is not None and gallery_labels is not None
                and int(gallery_labels[i]) == int(query_labels[query]))
        color = "black" if query_labels is None else ("tab:green" if same else "tab:red")
        ax.set_title(f"#{rank + 1} sim {s:.2f}\n{_name(gallery_labels, classes, i)}",
                     fontsize=9, color=color)
    fig.suptitle(title or "Nearest neighbours in feature space", fontsize=10)
    fig.tight_layout()
    return fig


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _live_widgets(interactive: bool | None):
    """``(ipywidgets, display)`` when an explorer should add controls, else ``None``: not
    in a live kernel (``interactive=None`` detects it), or no ipywidgets installed (then the
    static figure is all there is)."""
    if not (_in_kernel() if interactive is None else interactive):
        return None
    try:
        import ipywidgets
        from IPython.display import display
    except ImportError:
        return None
    return ipywidgets, display


def neighbour_explorer(query_features, gallery_features, query_images, gallery_images, *,
                       query: int = 0, k: int = 5, query_labels=None, gallery_labels=None,
                       classes: Sequence[str] | None = None, max_k: int = 10,
                       interactive: bool | None = None):
    """Pick a query image and see its nearest neighbours in feature space.

    Draws :func:`plot_neighbours` for ``query``. In a live Jupyter kernel with ipywidgets
    (``interactive=None`` detects it) a dropdown chooses the query and a slider ``k``; the
    figure is redrawn in place. Headless, it is just the static figure.

    Returns:
        The figure of the default query (already displayed in a notebook).
    """
    def draw(q: int, n: int):
        return plot_neighbours(query_features, gallery_features, query_images,
                               gallery_images, query=q, k=n, query_labels=query_labels,
                               gallery_labels=gallery_labels, classes=classes)

    fig = draw(query, k)
    if (live := _live_widgets(interactive)) is None:
        return fig
    widgets, display = live
    options = [(f"#{i} {_name(query_labels, classes, i)}".strip(), i)
               for i in range(len(query_features))]
    pick = widgets.Dropdown(options=options, value=query, description="query")
    size = widgets.IntSlider(value=k, min=1, max=max_k, description="neighbours")
    display(widgets.HBox([pick, size]))
    handle = display(fig, display_id=True)
    plt.close(fig)  # shown once, through the handle

    def redraw(_change=None):
        new = draw(pick.value, size.value)
        handle.update(new)
        plt.close(new)

    pick.observe(redraw, names="value")
    size.observe(redraw, names="value")
    return fig


def finetune_explorer(build_model, train_loader, val_loader, *, num_blocks: int = 2,
                      lr: float = 3e-4, num_epochs: int = 2, max_blocks: int = 9,
                      lrs: Sequence[float] = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
                      interactive: bool | None = None, **fit_options):
    """Choose how many blocks to unfreeze and the learning rate, train briefly, compare.

    ``build_model(n_blocks)`` returns a fresh model with its last ``n_blocks`` blocks and
    head trainable (see :func:`tlcourse.models.unfreeze_last`). The default setting is
    trained once and its curves drawn (:func:`tlcourse.plot.learning_curves`), so a
    headless run keeps a static figure. In a live Jupyter kernel a slider for the blocks,
    one for the learning rate and a button train more settings; every run so far is
    drawn, train dashed and validation solid; each run's progress bar (and error, if it
    fails) shows under the controls. ``fit_options`` go to
    :func:`tlcourse.train.fit` (``device``, ``seed``, ``scheduler``...).

    Returns:
        ``(history, figure)`` of the default setting.
    """
    from tlcourse.plot import learning_curves
    from tlcourse.train import fit

    runs: dict[str, object] = {}

    def train(n: int, rate: float):
        history = fit(build_model(n), train_loader, val_loader, num_epochs=num_epochs,
                      lr=rate, desc=f"{n} blocks, lr {rate:g}", **fit_options)
        runs[f"{n} blocks, lr {rate:g}"] = history
        fig = learning_curves(runs)
        ax = fig.axes[0]
        ax.set(ylim=(0, 1), ylabel="accuracy", xticks=range(1, num_epochs + 1))
        ax.set_title(f"head + last n blocks fine-tuned for {num_epochs} epochs", fontsize=10)
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
        fig.set_size_inches(9, 3.4)
        fig.tight_layout()
        return history, fig

    history, fig = train(num_blocks, lr)
    if (live := _live_widgets(interactive)) is None:
        return history, fig
    widgets, display = live
    blocks = widgets.IntSlider(value=num_blocks, min=0, max=max_blocks, description="blocks")
    options = sorted({*lrs, lr})
    rate = widgets.SelectionSlider(options=[(f"{v:g}", v) for v in options], value=lr,
                                   description="lr")
    button = widgets.Button(description="train", icon="play")
    # What a button callback prints or displays goes to JupyterLab's log console, not to
    # the cell; inside this Output widget (under the controls) the progress bar, and any
    # error, show in the cell.
    out = widgets.Output()
    display(widgets.VBox([widgets.HBox([blocks, rate, button]), out]))
    handle = display(fig, display_id=True)
    plt.close(fig)  # shown once, through the handle

    def on_click(_button=None):
        button.disabled = True
        try:
            trained = None
            with out:  # in a kernel it shows an error and carries on
                out.clear_output(wait=True)  # the last run's bar stays until the next one
                trained = train(blocks.value, rate.value)
            if trained is not None:  # the figure's update, outside: it is not the Output's
                handle.update(trained[1])
                plt.close(trained[1])
        finally:
            button.disabled = False

    button.on_click(on_click)
    return history, fig


def search_explorer(draw, query: str, *, interactive: bool | None = None):
    """Type a text query and see what it finds (notebook 11's image search).

    ``draw(query) -> figure`` draws the results of one query. The figure of ``query`` is
    drawn first, so a headless run keeps it. In a live Jupyter kernel a text box follows;
    pressing Enter redraws the figure in place for the new query (an error, e.g. an empty
    query, shows under the box).

    Returns:
        The figure of ``query``.
    """
    fig = draw(query)
    if (live := _live_widgets(interactive)) is None:
        return fig
    widgets, display = live
    box = widgets.Text(value=query, description="query", continuous_update=False,
                       placeholder="a few words, then Enter")
    out = widgets.Output()
    display(widgets.VBox([box, out]))
    handle = display(fig, display_id=True)
    plt.close(fig)

    def redraw(_change=None):
        new = None
        with out:
            out.clear_output()
            new = draw(box.value)
        if new is not None:
            handle.update(new)
            plt.close(new)

    box.observe(redraw, names="value")
    return fig
