"""The course's progress bars: ``tqdm.auto``, with long texts readable in JupyterLab.

In a terminal, a script or a headless notebook run, :func:`progress_bar` is tqdm's text bar.
In a live Jupyter kernel ``tqdm.auto`` draws a widget instead: a row of the description
(an ``HTML`` widget), the bar and the counts and postfix (another ``HTML`` widget). By
default that row squeezes both texts, so a long description wraps at a hyphen ("... + L2-" /
"SP: 100%") and the postfix is cut ("val_loss=1.7"). Here the texts keep their full width,
the bar takes the room left (down to :data:`MIN_BAR_WIDTH`), and only when even that does
not fit does the postfix move to a second line.
"""

from __future__ import annotations

from tqdm.auto import tqdm

__all__ = ["MIN_BAR_WIDTH", "fit_texts", "progress_bar"]

#: The narrowest the bar itself gets before the postfix moves to a second line.
MIN_BAR_WIDTH = "80px"


def fit_texts(container) -> None:
    """Lay out a ``tqdm.notebook`` bar's widgets so its description and postfix show whole.

    ``container`` is the bar's ``HBox`` of ``(description, bar, postfix)`` widgets
    (``bar.container``). Only ``Layout`` traits that ipywidgets 7 and 8 both have are set.
    """
    description, bar, postfix = container.children
    for text in (description, postfix):
        text.layout.flex = "0 0 auto"  # as wide as its text: never squeezed, never wrapped
    bar.layout.flex = f"1 1 {MIN_BAR_WIDTH}"  # the bar gets the room that is left
    bar.layout.min_width = MIN_BAR_WIDTH
    container.layout.flex_flow = "row wrap"  # too narrow: a second line, not a cut text


def progress_bar(iterable=None, **kwargs) -> tqdm:
    """``tqdm.auto.tqdm(iterable, **kwargs)``, laid out by :func:`fit_texts` in Jupyter.

    Example:
        >>> import io
        >>> out = io.StringIO()  # a terminal: tqdm's text bar
        >>> for _ in progress_bar(range(3), desc="fine-tune all layers + L2-SP", file=out):
        ...     pass
        >>> "fine-tune all layers + L2-SP: 100%" in out.getvalue()
        True
    """
    bar = tqdm(iterable, **kwargs)
    container = getattr(bar, "container", None)  # only the notebook widget bar has one
    if container is not None:
        fit_texts(container)
    return bar
