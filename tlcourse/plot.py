"""Pictures the lessons share: predictions on photos, image grids, learning curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["image_grid", "learning_curves", "predictions"]


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
