"""Random problems for the models/ tests: parameters, inputs and labels of the moon network."""

import numpy as np

from models import manual

PARAMS = manual.PARAMS


def random_problem(seed, n=13, n_features=3, hidden=7, n_class=4):
    """Random float64 parameters (not just the standard-normal init), inputs and labels."""
    rng = np.random.default_rng(seed)
    model = {
        "W1": rng.normal(0, 2, (n_features, hidden)),
        "b1": rng.normal(0, 1, hidden),
        "W2": rng.normal(0, 2, (hidden, n_class)),
        "b2": rng.normal(0, 1, n_class),
    }
    X = rng.normal(0, 3, (n, n_features))
    y = rng.integers(0, n_class, n)
    return model, X, y


def assert_models_close(a, b, rtol):
    for name in PARAMS:
        scale = np.abs(b[name]).max()
        np.testing.assert_allclose(a[name], b[name], rtol=rtol, atol=rtol * scale, err_msg=name)
