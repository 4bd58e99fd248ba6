"""The shared figures: they draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import tlcourse as tlc


def test_confusion_matrix_counts_true_against_predicted():
    targets = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 1, 0]
    fig = tlc.plot.confusion_matrix(targets, predicted, ["a", "b", "c"], title="t")
    assert fig.counts.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown[0], [2 / 3, 1 / 3, 0])   # rows: share of the true class
    np.testing.assert_allclose(shown[2], [1, 0, 0])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b", "c"]


def test_results_tables_show_counts_as_integers_blank_gaps_and_no_negative_zero():
    import pandas as pd

    frame = pd.DataFrame({"test acc": [0.5534, 0.6, np.nan],
                          "trainable params": [12810.0, 3383818.0, np.nan],
                          "ImageNet KL": [-0.00001, 0.444, 0.1], "note": ["a", "b", None]},
                         index=["probe", "everything", "digits"])
    text = tlc.plot.table(frame).to_string()
    assert "12,810" in text and "3,383,818" in text and "12810.0" not in text
    assert "nan" not in text.lower() and "None" not in text
    assert "-0.000" not in text and "0.000" in text and "0.553" in text
    assert frame.loc["probe", "ImageNet KL"] == -0.00001          # the data is unchanged


def test_heatmap_prints_every_cell_and_outlines_the_diagonal_only_when_asked():
    matrix = np.array([[0.9, 0.5, 0.25], [0.4, 0.8, 0.1]])
    fig = tlc.plot.heatmap(matrix, ["lite0", "digit net"], ["clip art", "UCI", "MNIST"])
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), matrix)
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{v:.1%}" for v in matrix.ravel())
    assert not ax.patches
    square = tlc.plot.transfer_matrix(matrix[:, :2], ["a", "b"])
    assert len(square.axes[0].patches) == 2                      # the in-domain cells
    with pytest.raises(ValueError, match="a 2x2 matrix is needed for 2 row and 2 column"):
        tlc.plot.heatmap(matrix, ["a", "b"], ["x", "y"])
    with pytest.raises(ValueError, match="a 2x2 matrix is needed for 2 names"):
        tlc.plot.transfer_matrix(matrix, ["a", "b"])
