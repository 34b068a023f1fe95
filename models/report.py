"""The text that the commands of ``python -m models`` print (their JSON is the dicts)."""

from __future__ import annotations

from typing import Any

import numpy as np

from models import tutorial


def reproduce_table(result: Any, class_based: dict[str, Any]) -> str:
    """The tutorial's results table: ``result`` is a RepeatResult, ``class_based`` a dict."""
    s, c, paper = result.settings, class_based, tutorial.RESULTS
    rows = [
        ("", "", "autograd_lite", "tutorial"),
        (f"{s['runs']} runs", "mean test accuracy", f"{result.mean:.5f}", f"{paper['mean']}"),
        ("", "standard deviation", f"{result.std:.6f}", f"{paper['std']}"),
        ("class-based run", "test accuracy", f"{c['accuracy']:.4f}", f"{paper['class_based']}"),
    ]
    text = [
        "The tutorial's results, reproduced with autograd_lite",
        f"  {s['runs']} runs: hidden {s['hidden']}, batch {s['batch_size']}, "
        f"epochs {s['epochs']}, lr {s['lr']:g}, seed {s['seed']}",
        f"  class-based run: hidden {c['class_hidden']}, batch {c['class_batch_size']}, "
        f"epochs {c['epochs']}, lr {c['lr']:g}, seed {c['seed']}",
        "",
    ]
    text += [f"{a:<16} {b:<20} {v:>14} {w:>10}" for a, b, v, w in rows]
    text += [
        "",
        f"(standard deviation over runs with ddof=0; min {result.accuracies.min():.4f}, "
        f"max {result.accuracies.max():.4f})",
    ]
    return "\n".join(text)


def sweep_table(result: Any, figure: str) -> str:
    """The mean and every accuracy of each width of a SweepResult, and where its figure went."""
    s = result.settings
    text = [
        f"Test accuracy against hidden width: {s['trials']} trainings per width, batch "
        f"{s['batch_size']}, epochs {s['epochs']}, lr {s['lr']:g}, seed {s['seed']}",
        "",
        f"{'width':>5}  {'mean':>7}   trials",
    ]
    for width, mean, accs in zip(result.widths, result.mean_accuracy, result.accuracies):
        text.append(f"{width:>5}  {mean:>7.4f}   " + " ".join(f"{a:.4f}" for a in accs))
    return "\n".join([*text, "", f"figure written to {figure}"])


def train_text(out: dict[str, Any]) -> str:
    """One training's accuracies, loss and settings (``out`` is the train command's dict)."""
    keys = ("hidden", "batch_size", "epochs", "lr", "optimizer", "init", "dtype", "seed")
    loss = out["loss_per_epoch"][-1]
    text = [
        f"test accuracy {out['test_accuracy']:.4f} (training accuracy "
        f"{out['train_accuracy']:.4f}, final epoch loss {loss:.4f} per sample)",
        "settings: " + ", ".join(f"{key} {out[key]}" for key in keys),
    ]
    if out["diverged"]:
        text.append(f"the training diverged at epoch {out['diverged_at_epoch']}: lower --lr")
    if out["saved"] is not None:
        text.append(f"model saved to {out['saved']} (use it: evaluate/predict --load FILE)")
    return "\n".join(text)


def predictions_csv(X: np.ndarray, labels: np.ndarray, proba: np.ndarray, classes: Any) -> str:
    """CSV: a header, then per point its coordinates, its label and each class probability."""
    head = [f"x{j + 1}" for j in range(X.shape[1])] + ["label"] + [f"p_{c}" for c in classes]
    lines = [",".join(head)]
    for x, label, p in zip(X.tolist(), labels.tolist(), proba.tolist()):
        lines.append(",".join([*map(repr, x), str(label), *(f"{v:.6g}" for v in p)]))
    return "\n".join(lines)
