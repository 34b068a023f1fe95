"""The figures: the data, a decision boundary, relu, the training loss and the width sweep.

Each ``*_figure`` function returns a matplotlib ``Figure`` on the Agg canvas (no pyplot, no
global backend state). `save_figures` renders them all to bytes first, then writes each
file atomically, so an interruption leaves no half-written picture. The same inputs give
byte-identical PNG, SVG and PDF files (no dates; SVG ids from a fixed salt).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from autograd_lite.io import write_atomically
from models import tutorial
from models.data import Data, load_moons
from models.network import MoonNet, predict_proba

SUFFIXES = (".png", ".svg", ".pdf")
DPI = 120
# What makes a file depend only on its figure: no creation date, SVG ids from a fixed salt.
_METADATA = {".png": {}, ".svg": {"Date": None}, ".pdf": {"CreationDate": None}}
_RC = {"svg.hashsalt": "autograd_lite"}


def figure(width: float = 6.4, height: float = 4.8) -> tuple[Figure, Any]:
    """A Figure on the Agg canvas and its one Axes."""
    fig = Figure(figsize=(width, height), layout="tight")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def render(fig: Figure, suffix: str) -> bytes:
    """The figure as the bytes of a ``.png``, ``.svg`` or ``.pdf`` file (deterministic)."""
    if suffix not in SUFFIXES:
        raise ValueError(f"render: the format must be one of {', '.join(SUFFIXES)}, got {suffix!r}")
    buffer = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buffer, format=suffix[1:], dpi=DPI, metadata=_METADATA[suffix])
    return buffer.getvalue()


def save_figures(figures: Mapping[str, Figure]) -> None:
    """Write each figure to its path (the format from its suffix); folders must exist.

    Everything is rendered before the first file is written, and each file is written
    atomically (as al.save writes: a temporary file renamed into place, through a symlink,
    an existing file keeping its mode), so no file is ever left half-written.
    """
    rendered = {
        path: render(fig, os.path.splitext(path)[1].lower()) for path, fig in figures.items()
    }
    for path, content in rendered.items():
        write_atomically(path, lambda f, content=content: f.write(content), "figure")


# ------------------------------------------------------------------------------ the figures
def sweep_figure(result: Any) -> Figure:
    """Test accuracy against hidden width: every training, and the mean of each width."""
    fig, ax = figure()
    trials = result.accuracies.shape[1]
    for t in range(trials):
        label = "single training" if t == 0 else None
        ax.plot(result.widths, result.accuracies[:, t], "o", color="tab:blue", alpha=0.25,
                markersize=3, label=label)  # fmt: skip
    ax.plot(result.widths, result.mean_accuracy, "-o", color="tab:blue", markersize=4,
            label=f"mean of {trials}")  # fmt: skip
    s = result.settings
    ax.set(
        xlabel="hidden units",
        ylabel="test accuracy",
        title=f"Test accuracy against width (batch {s['batch_size']}, epochs {s['epochs']})",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def data_figure(data: Data | None = None) -> Figure:
    """The moons, both splits, coloured by class (as the tutorial drew them)."""
    X_train, X_test, y_train, y_test = data if data is not None else load_moons()
    X, y = np.vstack([X_train, X_test]), np.concatenate([y_train, y_test])
    fig, ax = figure()
    ax.scatter(X[:, 0], X[:, 1], c=y, s=4, cmap="coolwarm")
    ax.set(
        xlabel="$x_1$",
        ylabel="$x_2$",
        title=f"make_moons(n_samples={len(X)}, noise={tutorial.NOISE}), training and test",
    )
    return fig


def decision_boundary_figure(net: MoonNet, data: Data, test_accuracy: float) -> Figure:
    """P(class 1) over the plane, the 0.5 contour, and the test points."""
    X_train, X_test, _, y_test = data
    X_all = np.vstack([X_train, X_test])
    (x0, y0), (x1, y1) = X_all.min(axis=0) - 0.3, X_all.max(axis=0) + 0.3
    gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    probs = predict_proba(net, np.column_stack([gx.ravel(), gy.ravel()]))[:, 1]
    fig, ax = figure()
    filled = ax.contourf(gx, gy, probs.reshape(gx.shape), levels=20, cmap="coolwarm", alpha=0.6)
    ax.contour(gx, gy, probs.reshape(gx.shape), levels=[0.5], colors="k", linewidths=1)
    ax.scatter(X_test[:, 0], X_test[:, 1], c=y_test, s=5, cmap="coolwarm", edgecolors="none")
    fig.colorbar(filled, ax=ax, label="P(class 1)")
    ax.set(
        xlabel="$x_1$",
        ylabel="$x_2$",
        title=f"Decision boundary (test points; accuracy {test_accuracy:.4f})",
    )
    return fig


def relu_figure() -> Figure:
    """relu(x) = max(0, x) on [-5, 5]."""
    x = np.linspace(-5, 5, 201)
    fig, ax = figure()
    ax.plot(x, np.maximum(x, 0))
    ax.axhline(0, color="gray", linewidth=0.5)
    ax.axvline(0, color="gray", linewidth=0.5)
    ax.set(xlabel="x", ylabel="relu(x)", title="ReLU: max(0, x)")
    ax.grid(alpha=0.3)
    return fig


def loss_figure(history: np.ndarray, settings: Mapping[str, Any]) -> Figure:
    """The training loss per epoch (``settings``: hidden, batch_size, lr, optimizer)."""
    fig, ax = figure()
    ax.plot(np.arange(1, len(history) + 1), history, "-o", markersize=4)
    ax.set(
        xlabel="epoch",
        ylabel="cross-entropy per training sample",
        title=f"Training loss (hidden {settings['hidden']}, batch {settings['batch_size']}, "
        f"lr {settings['lr']:g}, {settings['optimizer']})",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    return fig
