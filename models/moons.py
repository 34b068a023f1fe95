"""The tutorial's data: two interleaving half-moons, split into train and test sets."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split


def load_moons(
    n_samples: int = 5000, noise: float = 0.1, random_state: int | None = 42
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tutorial's data split ``(X_train, X_test, y_train, y_test)``.

    ``make_moons(n_samples, noise=noise, random_state=random_state)`` split by
    ``train_test_split(X, y, random_state=random_state)`` (75% / 25%): with the defaults,
    X_train is (3750, 2) and X_test is (1250, 2); labels are integers 0 and 1.
    """
    X, y = make_moons(n_samples, noise=noise, random_state=random_state)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=random_state)
    return X_train, X_test, y_train, y_test
