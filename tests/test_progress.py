"""The course's progress bars: whole descriptions and postfixes in JupyterLab, plain text
in a terminal."""

import io

import pytest

from tlcourse import progress

LONG = "fine-tune all layers, kept + L2-SP"


def _check_layout(container):
    description, bar, postfix = container.children
    assert description.layout.flex == postfix.layout.flex == "0 0 auto"  # never squeezed
    assert bar.layout.flex == f"1 1 {progress.MIN_BAR_WIDTH}"
    assert bar.layout.min_width == progress.MIN_BAR_WIDTH
    assert container.layout.flex_flow == "row wrap"


def test_notebook_bars_keep_their_description_and_postfix_whole(monkeypatch, capsys):
    notebook = pytest.importorskip("tqdm.notebook")
    if notebook.IProgress is None:
        pytest.skip("tqdm.notebook found no ipywidgets")
    # What tqdm.auto picks in a Jupyter kernel; without a browser it displays as text.
    monkeypatch.setattr(progress, "tqdm", notebook.tqdm)
    with progress.progress_bar(total=3, desc=LONG, unit="batch") as bar:
        assert hasattr(bar, "container")
        _check_layout(bar.container)
        for _ in range(3):
            bar.update()
        bar.set_postfix(train_loss=0.81234, val_loss=1.73456)
    description, _, postfix = bar.container.children
    assert LONG in description.value.replace("\u2007", " ")
    assert "val_loss=1.73" in postfix.value
    capsys.readouterr()


def test_fit_texts_sets_only_layout_traits_of_the_widgets():
    widgets = pytest.importorskip("ipywidgets")
    container = widgets.HBox([widgets.HTML("a long description"), widgets.FloatProgress(),
                              widgets.HTML("3/3 [00:01<00:00, val_loss=1.73]")])
    progress.fit_texts(container)
    _check_layout(container)


def test_in_a_terminal_it_is_the_plain_text_bar():
    out = io.StringIO()
    with progress.progress_bar(range(4), desc=LONG, file=out, ncols=120) as bar:
        assert not hasattr(bar, "container")
        total = sum(bar)
    assert total == 6
    assert f"{LONG}: 100%" in out.getvalue()
    with progress.progress_bar(total=2, desc=LONG, disable=True) as disabled:
        disabled.update(2)
        assert not hasattr(disabled, "container")
