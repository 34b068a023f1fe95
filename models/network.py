"""The tutorial's network built from autograd_lite, and its training loop.

    A1 = X W1 + b1     Z1 = relu(A1)     A2 = Z1 W2 + b2     L = sum_i CE(softmax(A2_i), y_i)

`MoonNet` is that network as an `autograd_lite.nn.Module` (``fc1`` holds W1, b1 and ``fc2``
holds W2, b2). With the same Generator it draws exactly the numbers `manual.init_network`
draws, in the same order, so a seed gives both networks the same starting point. `train` is
the tutorial's minibatch loop on it (summed loss, lr 1e-4, batch 10, 10 epochs).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

import autograd_lite as al
from autograd_lite import nn, optim, validate
from models import manual, tutorial

RNG = manual.RNG
OPTIMIZERS = ("sgd", "adam")
INITS = nn.INITS
REDUCTIONS = ("sum", "mean")
DTYPES = ("float64", "float32")  # float64 the default: the tutorial's numbers
# The manual network's names for the parameters of MoonNet, in the order both draw them.
MANUAL_NAMES = {"W1": "fc1.weight", "b1": "fc1.bias", "W2": "fc2.weight", "b2": "fc2.bias"}
# Prediction works on chunks of about this many hidden activations, so that a large input
# (a plot's grid of 90,000 points, a wide network) does not need gigabytes at once.
_PREDICT_CHUNK = 1 << 24


class MoonNet(nn.Module):
    """The tutorial's two affine layers with a ReLU between: ``forward(X)`` gives the logits A2.

    ``fc1 = Linear(n_features, hidden)`` then ``fc2 = Linear(hidden, n_class)``, drawn from
    one Generator made from ``rng``: W1, b1, W2, b2 in that order, as `manual.init_network`.
    The draws are made in float64 and the parameters stored as ``dtype`` (float64 or float32).
    """

    def __init__(
        self,
        n_features: int = 2,
        n_class: int = 2,
        hidden: int = tutorial.HIDDEN,
        init: str = "normal",
        rng: RNG = None,
        dtype: Any = "float64",
    ) -> None:
        super().__init__()
        dtype = check_dtype(dtype)
        gen = validate.as_generator(rng)  # a Generator is used as is, so its state advances
        self.fc1 = nn.Linear(n_features, hidden, init=init, rng=gen, dtype=dtype)
        self.fc2 = nn.Linear(hidden, n_class, init=init, rng=gen, dtype=dtype)

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype (the inputs are cast to it)."""
        return self.fc1.weight.data.dtype

    def forward(self, x: Any) -> al.Tensor:
        return self.fc2(self.fc1(x).relu())

    def to_manual(self) -> manual.Model:
        """A copy of the parameters as the manual network's dict {"W1", "b1", "W2", "b2"}."""
        state = self.state_dict()
        return {name: state[key] for name, key in MANUAL_NAMES.items()}

    @classmethod
    def from_manual(cls, model: Mapping[str, np.ndarray], dtype: Any = "float64") -> MoonNet:
        """A MoonNet holding a copy of a manual model's parameters (as ``dtype``)."""
        n_features, n_class = manual.check_model(dict(model))
        net = cls(n_features, n_class, np.shape(model["W1"])[1], rng=0, dtype=dtype)
        net.load_state_dict(
            {key: np.asarray(model[name], dtype=net.dtype) for name, key in MANUAL_NAMES.items()}
        )
        return net

    @classmethod
    def from_state_dict(cls, state: Mapping[str, np.ndarray]) -> MoonNet:
        """A MoonNet of the right sizes and dtype holding a copy of ``state`` (its
        ``state_dict()``; float32 weights stay float32, any other kind becomes float64)."""
        missing = [key for key in MANUAL_NAMES.values() if key not in state]
        if missing:
            raise ValueError(f"MoonNet.from_state_dict: missing keys {missing}")
        model = {name: state[key] for name, key in MANUAL_NAMES.items()}
        dtype = "float32" if np.asarray(model["W1"]).dtype == np.float32 else "float64"
        return cls.from_manual(model, dtype)


def check_dtype(dtype: Any) -> np.dtype:
    """``dtype`` ("float64", "float32" or their numpy types) as a numpy dtype, else an error."""
    try:
        name = None if dtype is None else np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return np.dtype(name)


def make_optimizer(
    params: list[nn.Parameter], optimizer: str = "sgd", lr: float = tutorial.LR
) -> optim.Optimizer:
    """``optim.SGD(params, lr)`` (the tutorial's: no momentum) or ``optim.Adam(params, lr)``."""
    validate.one_of(optimizer, "optimizer", OPTIMIZERS)
    return optim.SGD(params, lr=lr) if optimizer == "sgd" else optim.Adam(params, lr=lr)


def train(
    net: MoonNet,
    X: np.ndarray,
    y: np.ndarray,
    lr: float = tutorial.LR,
    batch_size: int = tutorial.BATCH_SIZE,
    epochs: int = tutorial.EPOCHS,
    rng: RNG = None,
    optimizer: str = "sgd",
    reduction: str = "sum",
    callback: Callable[[int, float], None] | None = None,
) -> np.ndarray:
    """Train ``net`` in place by minibatch descent; returns the training loss of each epoch.

    Each epoch draws ``rng.permutation(len(X))`` and walks it in consecutive minibatches of
    ``batch_size`` rows (the last may be shorter), one optimizer step per minibatch on the
    cross-entropy SUMMED over the minibatch (``reduction="sum"``, the tutorial's) or averaged
    (``"mean"``). These are the minibatches `manual.fit` walks for the same ``rng``.
    ``y`` holds integer labels in ``[0, n_class)``. The loss of an epoch is the mean
    per-sample cross-entropy of its minibatches, each measured before its step;
    ``callback(epoch, loss)`` is called after every epoch.

    If an epoch's loss is not finite (the learning rate is too large and the weights blew
    up), training stops there with a ``ConvergenceWarning`` naming the epoch, and the
    history ends with that loss: see `diverged_epoch`.
    """
    X, y = manual.check_batch(net.to_manual(), X, y)
    X = X.astype(net.dtype, copy=False)  # the network's dtype (float32 halves the memory)
    validate.learning_rate(lr)
    validate.positive_int(batch_size, "batch_size")
    validate.positive_int(epochs, "epochs")
    validate.one_of(reduction, "reduction", REDUCTIONS)
    if len(X) == 0:
        raise ValueError("train: X has no samples")
    rng = validate.as_generator(rng)
    opt = make_optimizer(list(net.parameters()), optimizer, lr)
    # One-hot rows, as the tutorial did: the labels are checked once here, not every step.
    Y = np.eye(net.fc2.out_features, dtype=net.dtype)[y]
    # A diverging run overflows on the way; it is reported once, below, not by numpy.
    with np.errstate(over="ignore", invalid="ignore"):
        history = _train_loop(net, opt, X, Y, batch_size, epochs, rng, reduction, callback)
    if not math.isfinite(history[-1]):
        warnings.warn(
            f"training diverged at epoch {len(history)} of {epochs} (loss {history[-1]}): "
            f"lr={lr:g} is too large; training stopped there",
            ConvergenceWarning,
            stacklevel=2,
        )
    return history


def _train_loop(
    net: MoonNet,
    opt: optim.Optimizer,
    X: np.ndarray,
    Y: np.ndarray,
    batch_size: int,
    epochs: int,
    rng: np.random.Generator,
    reduction: str,
    callback: Callable[[int, float], None] | None,
) -> np.ndarray:
    # The hot loop: only the ops, one backward and one optimizer step per minibatch.
    n = len(X)
    loss_fn, step, zero_grad = al.softmax_cross_entropy, opt.step, opt.zero_grad
    history = np.empty(epochs)
    for epoch in range(epochs):
        order = rng.permutation(n)
        Xe, Ye = X[order], Y[order]  # one gather per epoch; the minibatches are then views
        total = 0.0
        for start in range(0, n, batch_size):
            stop = start + batch_size
            loss = loss_fn(net(Xe[start:stop]), Ye[start:stop], reduction=reduction)
            zero_grad()
            loss.backward()
            step()
            total += loss.data
        if reduction == "mean":  # back to a sum over samples; the last batch may be short
            total = total * batch_size + loss.data * ((n - 1) % batch_size + 1 - batch_size)
        history[epoch] = total / n
        if callback is not None:
            callback(epoch, float(history[epoch]))
        if not math.isfinite(history[epoch]):  # diverged: no later epoch can recover
            return history[: epoch + 1]
    return history


def diverged_epoch(history: np.ndarray) -> int | None:
    """The first epoch (counting from 1) whose loss is not finite, or None."""
    bad = np.flatnonzero(~np.isfinite(np.asarray(history, dtype=np.float64)))
    return int(bad[0]) + 1 if bad.size else None


def predict_log_proba(net: MoonNet, X: np.ndarray) -> np.ndarray:
    """log_softmax of the logits, row by row: (n, n_class) log-probabilities (no graph built)."""
    return _predict(al.log_softmax, net, X)


def predict_proba(net: MoonNet, X: np.ndarray) -> np.ndarray:
    """softmax of the logits, row by row: (n, n_class) class probabilities (no graph built)."""
    return _predict(al.softmax, net, X)


def _predict(fn: Callable[..., al.Tensor], net: MoonNet, X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=net.dtype)
    rows = max(1, _PREDICT_CHUNK // net.fc1.out_features)
    with al.no_grad():
        if len(X) <= rows:
            return fn(net(X), axis=1).data
        return np.concatenate(
            [fn(net(X[i : i + rows]), axis=1).data for i in range(0, len(X), rows)]
        )


def predict(net: MoonNet, X: np.ndarray) -> np.ndarray:
    """The most probable class index of each row (argmax of the probabilities, as the tutorial)."""
    return predict_proba(net, X).argmax(axis=1)


def accuracy(net: MoonNet, X: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows whose predicted class index equals the label."""
    return float(np.mean(predict(net, X) == np.asarray(y)))
