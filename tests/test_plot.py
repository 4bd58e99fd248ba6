"""The shared figures: they draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import numpy as np

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
