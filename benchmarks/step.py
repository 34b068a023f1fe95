"""The tutorial's training step in autograd_lite, written four ways, against hand-derived numpy.

    python -m benchmarks.step            # table on stdout
    python -m benchmarks.step --json     # the same figures as JSON

The four ways (each timed in a process of its own against the hand-derived step, see
benchmarks/common.py for the protocol):
- nn: `nn.Sequential(nn.Linear, nn.ReLU, nn.Linear)` and `optim.SGD`, the library's own path;
- composed: `(x @ W1 + b1).relu() @ W2 + b2` into `al.softmax_cross_entropy`, then
  `p.data -= lr * p.grad`, as users write the step by hand;
- compiled loss: the composed loss in `al.compile`, `backward()` and the update outside;
- compiled step: the whole step (loss, backward, the update in place) in `al.compile`.
"""

from __future__ import annotations

import sys

import numpy as np

import autograd_lite as al
from autograd_lite import nn, optim
from benchmarks import common
from benchmarks.common import LR, Epoch, Params

NAMES = ("W1", "b1", "W2", "b2")


def _tensors(params: Params) -> list[al.Tensor]:
    return [al.Tensor(params[k].copy(), requires_grad=True) for k in NAMES]


def _reset(tensors: list[al.Tensor], params: Params) -> None:
    with al.no_grad():
        for t, k in zip(tensors, NAMES):
            t[...] = params[k]  # in place: a compiled step keeps reading the same arrays
            t.grad = None


def _result(tensors: list[al.Tensor]) -> Params:
    return {k: t.data.copy() for k, t in zip(NAMES, tensors)}


def nn_sgd(X: np.ndarray, y: np.ndarray, params: Params, batches: list) -> Epoch:
    hidden = params["W1"].shape[1]
    net = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def epoch() -> Params:
        net.load_state_dict(dict(zip(net.state_dict(), (params[k] for k in NAMES))))
        opt = optim.SGD(net.parameters(), lr=LR)
        for idx in batches:
            loss = al.softmax_cross_entropy(net(X[idx]), y[idx], reduction="sum")
            opt.zero_grad()
            loss.backward()
            opt.step()
        return _result(list(net.parameters()))

    return epoch


def composed(X: np.ndarray, y: np.ndarray, params: Params, batches: list) -> Epoch:
    tensors = _tensors(params)
    W1, b1, W2, b2 = tensors

    def epoch() -> Params:
        _reset(tensors, params)
        for idx in batches:
            loss = al.softmax_cross_entropy((X[idx] @ W1 + b1).relu() @ W2 + b2, y[idx],
                                            reduction="sum")  # fmt: skip
            for p in tensors:
                p.grad = None
            loss.backward()
            for p in tensors:
                p.data -= LR * p.grad
        return _result(tensors)

    return epoch


def compiled_loss(X: np.ndarray, y: np.ndarray, params: Params, batches: list) -> Epoch:
    tensors = _tensors(params)
    W1, b1, W2, b2 = tensors

    @al.compile
    def loss_of(x: np.ndarray, labels: np.ndarray) -> al.Tensor:
        return al.softmax_cross_entropy((x @ W1 + b1).relu() @ W2 + b2, labels, reduction="sum")

    def epoch() -> Params:
        _reset(tensors, params)
        for idx in batches:
            loss = loss_of(X[idx], y[idx])
            for p in tensors:
                p.grad = None
            loss.backward()
            for p in tensors:
                p.data -= LR * p.grad
        return _result(tensors)

    return epoch


def compiled_step(X: np.ndarray, y: np.ndarray, params: Params, batches: list) -> Epoch:
    tensors = _tensors(params)
    W1, b1, W2, b2 = tensors

    @al.compile
    def train_step(x: np.ndarray, labels: np.ndarray) -> al.Tensor:
        loss = al.softmax_cross_entropy((x @ W1 + b1).relu() @ W2 + b2, labels, reduction="sum")
        for p in tensors:
            p.grad = None
        loss.backward()
        with al.no_grad():
            for p in tensors:
                p -= LR * p.grad
        return loss

    def epoch() -> Params:
        _reset(tensors, params)
        for idx in batches:
            train_step(X[idx], y[idx])
        return _result(tensors)

    return epoch


FORMS = {
    "autograd_lite nn": nn_sgd,
    "autograd_lite composed": composed,
    "autograd_lite compiled loss": compiled_loss,
    "autograd_lite compiled step": compiled_step,
}


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.step`; returns the exit status."""
    return common.main(argv, "benchmarks.step", FORMS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
