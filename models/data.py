"""The tutorial's data (scikit-learn's two moons) and points read from a CSV file."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import TextIO

import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

from models import tutorial

Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load_moons(
    n_samples: int = tutorial.N_SAMPLES,
    noise: float = tutorial.NOISE,
    seed: int | None = tutorial.DATA_SEED,
) -> Data:
    """The tutorial's data split ``(X_train, X_test, y_train, y_test)``.

    ``make_moons(n_samples, noise=noise, random_state=seed)`` split by
    ``train_test_split(X, y, test_size=0.25, random_state=seed)``: with the defaults,
    X_train is (3750, 2) and X_test is (1250, 2); labels are integers 0 and 1.
    """
    X, y = make_moons(n_samples, noise=noise, random_state=seed)
    return tuple(train_test_split(X, y, test_size=tutorial.TEST_FRACTION, random_state=seed))


def read_points(source: str | os.PathLike[str] | TextIO, n_features: int = 2) -> np.ndarray:
    """Points from a CSV file (a path or an open text file): an array (n_points, n_features).

    One point per line, its ``n_features`` coordinates separated by commas. Blank lines and
    lines starting with ``#`` are skipped, and so is a first line with letters that is not
    all numbers (a header such as ``x1,x2``). Raises ValueError naming the line of anything
    else. A byte order mark at the start is dropped.
    """
    if isinstance(source, str | os.PathLike):
        with open(source, encoding="utf-8-sig") as f:  # (-sig: a byte order mark is dropped)
            return _parse_points(f, os.fspath(source), n_features)
    return _parse_points(source, getattr(source, "name", "input"), n_features)


def _parse_points(lines: Iterable[str], name: str, n_features: int) -> np.ndarray:
    rows: list[list[float]] = []
    header, first = "", True
    for number, line in enumerate(lines, start=1):
        text = line.strip().lstrip("\ufeff")  # (a byte order mark, from standard input)
        if not text or text.startswith("#"):
            continue
        row = _numbers(text)
        if row is None and first and any(c.isalpha() for c in text):  # a header: x1,x2
            header, first = text, False
            continue
        first = False
        if row is None or len(row) != n_features or not all(map(math.isfinite, row)):
            raise ValueError(
                f"{name}, line {number}: expected {n_features} finite numbers separated by "
                f"commas, got {text[:60]!r}"
            )
        rows.append(row)
    if not rows:
        skipped = f"; its first line, {header[:60]!r}, was taken for a header" if header else ""
        raise ValueError(f"{name}: no points (expected lines of {n_features} numbers{skipped})")
    return np.array(rows, dtype=np.float64)


def _numbers(text: str) -> list[float] | None:
    """The comma-separated numbers of a line, or None if a field is not a number."""
    try:
        return [float(field) for field in text.split(",")]
    except ValueError:
        return None
