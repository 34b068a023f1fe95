"""The tutorial's two-layer network with hand-derived gradients: the numpy reference.

    A1 = X W1 + b1       Z1 = max(0, A1)        (ReLU)
    A2 = Z1 W2 + b2      Z2 = softmax(A2)       (row by row)
    L  = -sum_i log Z2[i, y_i]                  (cross-entropy, SUMMED over the batch)

A model is a dict {"W1", "b1", "W2", "b2"} of arrays; labels ``y`` are integers 0..n_class-1.
Everything is vectorised over the rows of ``X``, and no function changes its arguments:
``sgd`` and ``fit`` return new dicts. ``backward`` and ``sgd`` check their arguments unless
called with ``check=False``, for hot loops whose caller has checked once (``fit``, the
benchmarks).
"""

from __future__ import annotations

import numpy as np

from autograd_lite import validate
from models import tutorial

Model = dict[str, np.ndarray]
RNG = np.random.Generator | np.random.SeedSequence | int | None
PARAMS = ("W1", "b1", "W2", "b2")


# ---------------------------------------------------------------- checks of user input
def check_model(model: Model) -> tuple[int, int]:
    """Check the parameter shapes fit together; return (n_features, n_class)."""
    missing = [name for name in PARAMS if name not in model]
    if missing:
        raise ValueError(f"model is missing {missing}; expected the keys {list(PARAMS)}")
    W1, b1, W2, b2 = (np.shape(model[name]) for name in PARAMS)
    if len(W1) != 2 or len(W2) != 2 or b1 != W1[1:] or W2[:1] != W1[1:] or b2 != W2[1:]:
        raise ValueError(
            f"model shapes do not fit together: W1 {W1}, b1 {b1}, W2 {W2}, b2 {b2}; "
            "expected (n_features, hidden), (hidden,), (hidden, n_class), (n_class,)"
        )
    return W1[0], W2[1]


def check_X(X: np.ndarray, n_features: int) -> np.ndarray:
    """X as a float64 array (n_samples, n_features), or ValueError naming its shape."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X must have shape (n_samples, {n_features}), got {X.shape}")
    return X


def check_y(y: np.ndarray, n_class: int, n_samples: int | None = None) -> np.ndarray:
    """y as integer labels (n_samples,) in [0, n_class), or ValueError saying what is wrong."""
    y = np.asarray(y)
    if y.ndim != 1 or (n_samples is not None and len(y) != n_samples):
        expected = "n_samples" if n_samples is None else n_samples
        raise ValueError(f"y must have shape ({expected},), got {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_class):
        raise ValueError(
            f"labels must lie in [0, {n_class}), got values from {y.min()} to {y.max()}"
        )
    return y


def check_batch(model: Model, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check a model and a batch fit together; return X as float64 and y."""
    n_features, n_class = check_model(model)
    X = check_X(X, n_features)
    return X, check_y(y, n_class, len(X))


# ---------------------------------------------------------------- the network
def init_network(
    n_features: int = 2, n_class: int = 2, hidden: int = tutorial.HIDDEN, rng: RNG = None
) -> Model:
    """A new model, every weight and bias drawn from the standard normal (no scaling).

    The draws are made in this fixed order, which other modules rely on to rebuild the same
    network: ``rng.standard_normal`` of W1 (n_features, hidden), b1 (hidden,),
    W2 (hidden, n_class), b2 (n_class,). ``rng`` is a Generator (used as is), a
    SeedSequence, an int seed, or None.
    """
    validate.positive_int(n_features, "n_features")
    validate.positive_int(n_class, "n_class")
    validate.positive_int(hidden, "hidden")
    rng = validate.as_generator(rng)
    shapes = {
        "W1": (n_features, hidden),
        "b1": (hidden,),
        "W2": (hidden, n_class),
        "b2": (n_class,),
    }
    return {name: rng.standard_normal(shape) for name, shape in shapes.items()}


def _softmax(A: np.ndarray) -> np.ndarray:
    # Subtracting the row max leaves softmax unchanged and keeps exp from overflowing.
    E = np.exp(A - A.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _layers(model: Model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    Z1 = np.maximum(X @ model["W1"] + model["b1"], 0.0)
    return Z1, Z1 @ model["W2"] + model["b2"]


def forward(model: Model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward pass: ``(Z1, Z2)``, hidden activations (n, hidden) and probabilities (n, n_class).

    Z1 = max(0, X W1 + b1);  Z2[i, k] = exp(A2[i, k] - m_i) / sum_j exp(A2[i, j] - m_i),
    with A2 = Z1 W2 + b2 and m_i the largest entry of row i (for numerical stability).
    """
    n_features, _ = check_model(model)
    Z1, A2 = _layers(model, check_X(X, n_features))
    return Z1, _softmax(A2)


def one_hot(y: np.ndarray, n_class: int) -> np.ndarray:
    """Labels (n,) as rows of the identity (n, n_class): class 0 -> [1, 0], 1 -> [0, 1]."""
    validate.positive_int(n_class, "n_class")
    return np.eye(n_class)[check_y(y, n_class)]


def loss(model: Model, X: np.ndarray, y: np.ndarray) -> float:
    """Summed cross-entropy ``L = -sum_i log Z2[i, y_i]``, computed stably via log-softmax.

    log Z2[i, k] = (A2[i, k] - m_i) - log sum_j exp(A2[i, j] - m_i), never log of a 0.
    """
    X, y = check_batch(model, X, y)
    _, A2 = _layers(model, X)
    shifted = A2 - A2.max(axis=1, keepdims=True)
    log_Z2 = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_Z2[np.arange(len(y)), y].sum())


def backward(model: Model, X: np.ndarray, y: np.ndarray, *, check: bool = True) -> Model:
    """Gradients dL/dparam of the summed cross-entropy, by the tutorial's derivation.

    dA2 = Z2 - Y                    (Y = one_hot(y))
    dW2 = Z1^T dA2                  db2 = column sums of dA2
    dA1 = (dA2 W2^T) * [Z1 > 0]     (ReLU passes the gradient only where it was active)
    dW1 = X^T dA1                   db1 = column sums of dA1
    """
    if check:
        X, y = check_batch(model, X, y)
    Z1, A2 = _layers(model, X)
    dA2 = _softmax(A2) - np.eye(A2.shape[1])[y]
    dA1 = (dA2 @ model["W2"].T) * (Z1 > 0)
    return {"W1": X.T @ dA1, "b1": dA1.sum(axis=0), "W2": Z1.T @ dA2, "b2": dA2.sum(axis=0)}


# ---------------------------------------------------------------- training
def sgd(model: Model, grads: Model, lr: float, *, check: bool = True) -> Model:
    """One gradient-descent step: a new model with ``param - lr * grad`` for every parameter."""
    if check:
        check_model(model)
        validate.learning_rate(lr)
        for name in PARAMS:
            if name not in grads or np.shape(grads[name]) != np.shape(model[name]):
                shape = np.shape(grads[name]) if name in grads else "missing"
                expected = np.shape(model[name])
                raise ValueError(f"sgd: grads[{name!r}] is {shape}, expected {expected}")
    return {name: model[name] - lr * grads[name] for name in PARAMS}


def fit(
    model: Model,
    X: np.ndarray,
    y: np.ndarray,
    lr: float = tutorial.LR,
    batch_size: int = tutorial.BATCH_SIZE,
    epochs: int = tutorial.EPOCHS,
    rng: RNG = None,
) -> Model:
    """Minibatch SGD on the summed loss; returns the trained model (the arguments are unchanged).

    Each epoch draws ``rng.permutation(len(X))`` and walks it in consecutive minibatches of
    ``batch_size`` rows (the last one may be shorter), one ``sgd`` step per minibatch.
    """
    X, y = check_batch(model, X, y)
    validate.learning_rate(lr)
    validate.positive_int(batch_size, "batch_size")
    validate.positive_int(epochs, "epochs")
    if len(X) == 0:
        raise ValueError("fit: X has no samples")
    rng = validate.as_generator(rng)
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            batch = order[start : start + batch_size]
            grads = backward(model, X[batch], y[batch], check=False)
            model = sgd(model, grads, lr, check=False)
    return model


def predict(model: Model, X: np.ndarray) -> np.ndarray:
    """The most probable class of each row: ``argmax_k Z2[i, k]``."""
    return forward(model, X)[1].argmax(axis=1)


def accuracy(model: Model, X: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows whose predicted class equals the label."""
    X, y = check_batch(model, X, y)
    if len(y) == 0:
        raise ValueError("accuracy: X has no samples")
    return float(np.mean(predict(model, X) == y))


class NeuralNet:
    """The tutorial's class-based model, built on the functions above.

    ``NeuralNet(hidden=99, batch_size=20).fit(X_train, y_train).score(X_test, y_test)``.
    ``fit`` draws a fresh network (``init_network``) and trains it (``fit``), both from one
    Generator made from ``random_state``: the initial weights first, then the shuffles.
    The trained parameters are kept in ``model_``.
    """

    def __init__(
        self,
        hidden: int = tutorial.HIDDEN,
        n_class: int = 2,
        lr: float = tutorial.LR,
        batch_size: int = tutorial.BATCH_SIZE,
        epochs: int = tutorial.EPOCHS,
        random_state: RNG = None,
    ) -> None:
        validate.positive_int(hidden, "hidden")
        validate.positive_int(n_class, "n_class")
        validate.positive_int(batch_size, "batch_size")
        validate.positive_int(epochs, "epochs")
        validate.learning_rate(lr)
        self.hidden, self.n_class, self.lr = hidden, n_class, lr
        self.batch_size, self.epochs, self.random_state = batch_size, epochs, random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> NeuralNet:
        """Train a new network on ``X`` (n, n_features) and labels ``y`` (n,); returns self."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must have shape (n_samples, n_features), got {X.shape}")
        rng = validate.as_generator(self.random_state, "random_state")
        model = init_network(X.shape[1], self.n_class, self.hidden, rng)
        self.model_ = fit(model, X, y, self.lr, self.batch_size, self.epochs, rng)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most probable class of each row of ``X``."""
        if not hasattr(self, "model_"):
            raise RuntimeError("NeuralNet is not fitted yet: call fit(X, y) first")
        return predict(self.model_, X)

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy on ``X`` and labels ``y``."""
        if not hasattr(self, "model_"):
            raise RuntimeError("NeuralNet is not fitted yet: call fit(X, y) first")
        return accuracy(self.model_, X, y)
