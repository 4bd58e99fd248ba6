"""Pictures the lessons share: predictions on photos, image grids, learning curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["accuracy_by_layer", "accuracy_vs_labels", "confusion_matrix", "embedding_maps",
           "heatmap", "image_grid", "image_rows", "learning_curves", "method_scores",
           "predictions", "table", "transfer_matrix"]


def predictions(images: Mapping[str, np.ndarray],
                top: Mapping[str, Sequence[tuple[str, float]]], title: str | None = None):
    """Each photo beside a bar chart of its top-k classes and probabilities."""
    n = len(images)
    fig, axes = plt.subplots(n, 2, figsize=(9, 2.3 * n), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.4]})
    for row, (name, image) in enumerate(images.items()):
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(name, fontsize=10)
        axes[row, 0].axis("off")
        labels, probs = zip(*top[name], strict=True)
        ax = axes[row, 1]
        ax.barh(range(len(labels))[::-1], probs, color="tab:blue")
        ax.set_yticks(range(len(labels))[::-1], labels, fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_xlabel("probability" if row == n - 1 else "")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_grid(images, labels: Sequence[str] | None = None, ncols: int = 8,
               size: float = 1.3, title: str | None = None):
    """A grid of images (``(N, H, W[, C])`` uint8 or ``(N, C, H, W)`` tensors in [0, 1])."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images, strict=False)):
        ax.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 or image.ndim == 2 else None)
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def learning_curves(histories: Mapping[str, object], metric: str = "acc"):
    """Train (dashed) and validation (solid) curves of one or more :class:`History`."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for (name, history), color in zip(histories.items(), plt.cm.tab10.colors, strict=False):
        ax.plot(range(1, len(history) + 1), history[f"train_{metric}"], "--", color=color,
                label=f"{name} (train)")
        if history[f"val_{metric}"]:
            ax.plot(range(1, len(history) + 1), history[f"val_{metric}"], "-", color=color,
                    label=f"{name} (validation)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_vs_labels(curves: Mapping[str, Mapping[int, Sequence[float]]],
                       all_size: int | None = None, all_label: str = "all",
                       chance: float | None = None, highlight: int | None = None,
                       title: str | None = None, unit: str = "images"):
    """Test accuracy against labels per class: the mean over draws, with a min-max band.

    Args:
        curves: method -> {labels per class: [accuracy of each random draw]}.
        all_size: the x value that stands for "every label"; its tick reads ``all_label``.
        chance: draws a dashed line at chance level.
        highlight: an x value where an arrow marks the gap between the best and the worst
            mean, labelled in percentage points.
        unit: what is labelled, for the x axis ("images", "sentences").
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    markers = "osD^v"
    means: dict[str, dict[int, float]] = {}
    for i, ((name, points), color) in enumerate(zip(curves.items(), plt.cm.tab10.colors,
                                                    strict=False)):
        sizes = sorted(points)
        accs = [np.asarray(points[s], dtype=float) for s in sizes]
        means[name] = {s: float(a.mean()) for s, a in zip(sizes, accs, strict=True)}
        ax.fill_between(sizes, [a.min() for a in accs], [a.max() for a in accs], color=color,
                        alpha=0.18, linewidth=0)
        ax.plot(sizes, list(means[name].values()), marker=markers[i % len(markers)],
                color=color, label=name, lw=2)
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", lw=1)
        ax.annotate("chance", (ax.get_xlim()[1], chance), ha="right", va="bottom",
                    fontsize=8, color="grey")
    if highlight is not None:
        values = [m[highlight] for m in means.values() if highlight in m]
        low, high = min(values), max(values)
        ax.annotate("", (highlight, high), (highlight, low),
                    arrowprops={"arrowstyle": "<->", "color": "black", "lw": 1.2})
        ax.annotate(f"+{100 * (high - low):.0f} points", (highlight, (low + high) / 2),
                    textcoords="offset points", xytext=(6, 0), va="center", fontsize=9,
                    fontweight="bold")
    ax.set_xscale("log")
    ticks = sorted({s for points in curves.values() for s in points})
    ax.set_xticks(ticks, [all_label if s == all_size else str(s) for s in ticks])
    ax.minorticks_off()
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"labelled training {unit} per class (log scale)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    ax.set_title(title or "Accuracy vs labels per class (line: mean of draws; band: min to max)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def accuracy_by_layer(layers: Sequence[str], accs: Sequence[float],
                      dims: Sequence[int] | None = None, chance: float | None = None,
                      title: str | None = None):
    """A linear probe's test accuracy at each depth of a backbone, shallow to deep."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = np.arange(len(layers))
    ax.plot(x, accs, "o-", color="tab:green", lw=2)
    for xi, acc in zip(x, accs, strict=True):
        ax.annotate(f"{acc:.0%}", (xi, acc), textcoords="offset points", xytext=(0, 7),
                    ha="center", fontsize=8)
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", lw=1, label="chance")
        ax.legend(loc="lower right", fontsize=8)
    names = [f"{n}\n{d} ch" for n, d in zip(layers, dims, strict=True)] if dims else layers
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("layer (input side → output side), pooled to one vector per image")
    ax.set_ylabel("linear probe test accuracy")
    ax.grid(alpha=0.3)
    ax.set_title(title or "Where do transferable features live?", fontsize=10)
    fig.tight_layout()
    return fig


def embedding_maps(maps: Mapping[str, np.ndarray], labels, classes: Sequence[str],
                   title: str | None = None):
    """Side-by-side 2-D maps (PCA, t-SNE, ...) of the same points, coloured by class."""
    labels = np.asarray(labels)
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps) + 1.6, 4.3), squeeze=False)
    colors = plt.cm.tab10.colors if len(classes) <= 10 else plt.cm.tab20.colors
    for ax, (name, xy) in zip(axes[0], maps.items(), strict=True):
        for k, cls in enumerate(classes):
            pts = np.asarray(xy)[labels == k]
            ax.scatter(pts[:, 0], pts[:, 1], s=14, color=colors[k % len(colors)], label=cls,
                       alpha=0.8, linewidths=0)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, -1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8,
                       markerscale=2, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_rows(rows: Mapping[str, np.ndarray], ncols: int = 10, size: float = 0.9,
               title: str | None = None):
    """Rows of grayscale images (``(N, H, W)`` uint8 each), every row named on its left."""
    fig, axes = plt.subplots(len(rows), ncols, figsize=(size * ncols + 1.8, size * len(rows)),
                             squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(np.asarray(images[c]).squeeze(), cmap="gray", vmin=0, vmax=255)
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def method_scores(means: Mapping[str, float], stds: Mapping[str, float] | None = None,
                  baseline: str | None = None, highlight: str | None = None,
                  ylabel: str = "target accuracy", title: str | None = None):
    """Bars of a score per method with ± std error bars; ``baseline`` in gray (and as a
    dashed line), ``highlight`` (e.g. the method a rule chose) in green."""
    names = list(means)
    values = np.array([means[n] for n in names], dtype=float)
    errors = np.array([stds[n] for n in names], dtype=float) if stds else np.zeros(len(names))
    colors = ["tab:gray" if n == baseline else "tab:green" if n == highlight else "tab:blue"
              for n in names]
    fig, ax = plt.subplots(figsize=(1.0 * len(names) + 2.5, 3.6))
    ax.bar(range(len(names)), values, yerr=errors if stds else None, capsize=4, color=colors)
    for i, (v, e) in enumerate(zip(values, errors, strict=True)):
        ax.text(i, v + e + 0.005, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
    handles = []
    if baseline is not None:
        handles.append(ax.axhline(means[baseline], color="tab:gray", ls="--", lw=1,
                                  label=baseline))
    if highlight is not None:
        from matplotlib.patches import Patch

        handles.append(Patch(color="tab:green", label=f"{highlight} (chosen)"))
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="lower right")
    ax.set_xticks(range(len(names)), names, rotation=20, fontsize=9)
    ax.set_ylim(max(0.0, float((values - errors).min()) - 0.1),
                min(1.02, float((values + errors).max()) + 0.06))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def confusion_matrix(targets, predictions, classes: Sequence[str], title: str | None = None):
    """Counts of (true class, predicted class), each row shaded by its share of the class.

    Returns the figure; the counts themselves are ``fig.counts`` (rows: true classes).
    """
    targets, predictions = np.asarray(targets), np.asarray(predictions)
    k = len(classes)
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (targets, predictions), 1)
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, counts[i, j], ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.counts = counts
    return fig


def heatmap(matrix, row_labels: Sequence[str], col_labels: Sequence[str],
            title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
            label: str = "test accuracy", diagonal: bool = False):
    """A heat map of accuracies (rows x columns), each cell printed as a percentage;
    ``diagonal=True`` outlines the diagonal (in-domain cells of a transfer matrix)."""
    matrix = np.asarray(matrix, dtype=float)
    rows, cols = len(row_labels), len(col_labels)
    if matrix.shape != (rows, cols):
        raise ValueError(f"a {rows}x{cols} matrix is needed for {rows} row and {cols} column "
                         f"labels, got {matrix.shape}")
    fig, ax = plt.subplots(figsize=(1.6 + 0.9 * cols + 0.05 * max(map(len, row_labels)),
                                    1.2 + 0.75 * rows))
    image = ax.imshow(matrix, cmap="viridis", vmin=max(0.0, matrix.min() - 0.05),
                      vmax=min(1.0, matrix.max() + 0.02), aspect="auto")
    for i in range(rows):
        for j in range(cols):
            ax.text(j, i, f"{matrix[i, j]:.1%}", ha="center", va="center", fontsize=8,
                    color="black" if matrix[i, j] > matrix.mean() else "white")
        if diagonal and i < cols:
            ax.add_patch(plt.Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, lw=2, color="white"))
    ax.set_xticks(range(cols), col_labels, rotation=20, fontsize=9)
    ax.set_yticks(range(rows), row_labels, fontsize=9)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=label)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def transfer_matrix(matrix, names: Sequence[str], title: str | None = None,
                    xlabel: str = "tested on", ylabel: str = "trained on"):
    """A heat map of accuracies: row i trained on ``names[i]``, column j tested on
    ``names[j]``; the diagonal (in-domain) outlined."""
    k = len(names)
    if np.shape(matrix) != (k, k):
        raise ValueError(f"a {k}x{k} matrix is needed for {k} names, got {np.shape(matrix)}")
    return heatmap(matrix, names, names, title, xlabel, ylabel, diagonal=True)


def table(frame, digits: int = 3):
    """A results table as learners should read it: columns of whole numbers (parameter counts,
    image counts) as integers with thousands separators, other numbers to ``digits`` decimals
    with no ``-0.000``, missing values blank. Returns a pandas ``Styler`` (the frame itself is
    unchanged)."""
    import pandas as pd

    def whole(column) -> bool:
        values = pd.to_numeric(column, errors="coerce").dropna()
        return len(values) > 0 and bool(np.all(np.abs(values - np.round(values)) < 1e-9)
                                        and np.all(np.abs(values) >= 1))

    def number(value, fmt):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        if isinstance(value, (int, float, np.integer, np.floating)):
            value = float(value)
            text = fmt.format(value)
            return text[1:] if text.startswith("-") and float(text) == 0 else text
        return str(value)

    formats = {}
    for name in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_object_dtype(frame[name]):
            fmt = "{:,.0f}" if whole(frame[name]) else f"{{:.{digits}f}}"
            formats[name] = lambda v, fmt=fmt: number(v, fmt)
    return frame.style.format(formats, na_rep="")
