"""How fast can an eager autograd engine in Python be? Two minimal engines, without checks.

    python -m benchmarks.floor            # table on stdout
    python -m benchmarks.floor --json     # the same figures as JSON

Neither is part of the library: they are the floor that autograd_lite's eager step is
measured against. Each records the composed step of benchmarks/step.py,
`(x @ W1 + b1).relu() @ W2 + b2` into a summed softmax cross-entropy, with the same numpy
calls as autograd_lite's ops and as the hand-derived step (so all end on the same parameters
bit for bit), and without a single check: no shapes, dtypes, labels, versions, hooks, grad
mode or numpy protocol, four ops only.

- minimal graph: what autograd_lite, micrograd and PyTorch record. Each op makes a node that
  points at its inputs' nodes, so a graph lives as long as its output and is freed by
  reference counting; backward walks the nodes from the last recorded (a heap), with the
  gradients pending in a dict.
- minimal tape: a Wengert list. Each op appends (rule, output, inputs, saved) to one global
  list and backward replays it in reverse, gradients kept on the tensors. Cheaper per op, but
  the list holds every recorded op until a backward() clears it (a forward pass without a
  backward keeps its memory), and one backward() consumes the ops of every graph at once.

Timed as every contender is (benchmarks/common.py), against the hand-derived step.
"""

from __future__ import annotations

import itertools
import sys
from heapq import heappop, heappush

import numpy as np

from benchmarks import common
from benchmarks.common import LR, Epoch, Params

NAMES = ("W1", "b1", "W2", "b2")
EYE = np.eye(2)  # one-hot rows of the two classes


def _softmax_and_loss(z: np.ndarray, labels: np.ndarray) -> tuple:
    """As ops.SoftmaxCrossEntropy.forward (reduction "sum"): the loss, softmax, one-hot rows."""
    shifted = z - z.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    total = exps.sum(axis=1, keepdims=True)
    rows = EYE.take(labels, axis=0)
    return np.array(np.vdot(rows, np.log(total) - shifted)), exps / total, rows


# --- a graph of nodes -----------------------------------------------------------------------
class GraphTensor:
    __slots__ = ("data", "grad", "node")
    __array_ufunc__ = None  # `ndarray @ tensor` calls __rmatmul__

    def __init__(self, data: np.ndarray, node: Node | None = None) -> None:
        self.data, self.grad, self.node = data, None, node

    def __matmul__(self, other):
        return _record(self.data @ other.data, _matmul_rule, (self, other), (self.data, other.data))

    def __rmatmul__(self, other):  # other: a constant ndarray
        return _record(other @ self.data, _matmul_rule, (other, self), (other, self.data))

    def __add__(self, other):
        return _record(self.data + other.data, _add_rule, (self, other), None)

    def relu(self):
        out = np.maximum(self.data, 0)
        return _record(out, _relu_rule, (self,), out)


class Node:
    __slots__ = ("seq", "rule", "edges", "saved", "shape")


_next_seq = itertools.count(1).__next__


def _record(out: np.ndarray, rule, inputs: tuple, saved) -> GraphTensor:
    node = Node()
    node.seq, node.rule, node.saved, node.shape = _next_seq(), rule, saved, out.shape
    node.edges = tuple(
        (x.node or x) if type(x) is GraphTensor else None for x in inputs
    )  # a node, a leaf, or None for a constant
    return GraphTensor(out, node)


def _matmul_rule(saved, g):
    a, b = saved
    return g @ b.T, a.T @ g


def _add_rule(saved, g):
    return g, g


def _relu_rule(out, g):
    return (g * (out > 0),)


def _cross_entropy_rule(saved, g):
    probs, rows = saved
    return ((probs - rows) * g,)


def graph_cross_entropy(z: GraphTensor, labels: np.ndarray) -> GraphTensor:
    loss, probs, rows = _softmax_and_loss(z.data, labels)
    return _record(loss, _cross_entropy_rule, (z,), (probs, rows))


def graph_backward(loss: GraphTensor) -> None:
    pending = {loss.node: np.array(1.0)}
    heap = [(-loss.node.seq, loss.node)]
    while heap:
        node = heappop(heap)[1]
        for edge, g in zip(node.edges, node.rule(node.saved, pending.pop(node))):
            if edge is None:
                continue
            shape = edge.shape if type(edge) is Node else edge.data.shape
            if g.shape != shape:  # a broadcast bias
                g = g.sum(axis=0)
            if edge in pending:
                pending[edge] = pending[edge] + g
            else:
                pending[edge] = g
                if type(edge) is Node:
                    heappush(heap, (-edge.seq, edge))
    for leaf, g in pending.items():
        leaf.grad = g if leaf.grad is None else leaf.grad + g


# --- a tape ---------------------------------------------------------------------------------
class TapeTensor:
    __slots__ = ("data", "grad")
    __array_ufunc__ = None

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.grad = data, None

    def __matmul__(self, other):
        return _append(self.data @ other.data, _tape_matmul, (self, other), (self.data, other.data))

    def __rmatmul__(self, other):
        return _append(other @ self.data, _tape_matmul, (other, self), (other, self.data))

    def __add__(self, other):
        return _append(self.data + other.data, _tape_add, (self, other), None)

    def relu(self):
        out = np.maximum(self.data, 0)
        return _append(out, _tape_relu, (self,), out)


TAPE: list = []  # (rule, output, inputs, saved) of every op recorded since the last backward


def _append(out: np.ndarray, rule, inputs: tuple, saved) -> TapeTensor:
    t = TapeTensor(out)
    TAPE.append((rule, t, inputs, saved))
    return t


def _add_grad(x, g: np.ndarray) -> None:
    if type(x) is TapeTensor:
        if g.shape != x.data.shape:  # a broadcast bias
            g = g.sum(axis=0)
        x.grad = g if x.grad is None else x.grad + g


def _tape_matmul(inputs, saved, g):
    a, b = saved
    _add_grad(inputs[0], g @ b.T)
    _add_grad(inputs[1], a.T @ g)


def _tape_add(inputs, saved, g):
    _add_grad(inputs[0], g)
    _add_grad(inputs[1], g)


def _tape_relu(inputs, out, g):
    _add_grad(inputs[0], g * (out > 0))


def _tape_cross_entropy(inputs, saved, g):
    probs, rows = saved
    _add_grad(inputs[0], (probs - rows) * g)


def tape_cross_entropy(z: TapeTensor, labels: np.ndarray) -> TapeTensor:
    loss, probs, rows = _softmax_and_loss(z.data, labels)
    return _append(loss, _tape_cross_entropy, (z,), (probs, rows))


def tape_backward(loss: TapeTensor, params: list[TapeTensor]) -> None:
    """Replay the tape in reverse: each rule adds its inputs' gradients into their `.grad`.

    An intermediate's `.grad` is dropped once its rule has used it; the params keep theirs.
    """
    loss.grad = np.array(1.0)
    for rule, out, inputs, saved in reversed(TAPE):
        if out.grad is not None:
            rule(inputs, saved, out.grad)
            out.grad = None
    TAPE.clear()


# --- the step, as users write it ------------------------------------------------------------
def _composed(tensor, cross_entropy, backward):
    def make(X: np.ndarray, y: np.ndarray, params: Params, batches: list) -> Epoch:
        tensors = [tensor(params[k].copy()) for k in NAMES]
        W1, b1, W2, b2 = tensors

        def epoch() -> Params:
            for t, k in zip(tensors, NAMES):
                t.data[...] = params[k]
            for idx in batches:
                loss = cross_entropy((X[idx] @ W1 + b1).relu() @ W2 + b2, y[idx])
                for p in tensors:
                    p.grad = None
                backward(loss, tensors)
                for p in tensors:
                    p.data -= LR * p.grad
            return {k: t.data.copy() for k, t in zip(NAMES, tensors)}

        return epoch

    return make


FORMS = {
    "minimal graph (no checks)": _composed(
        GraphTensor, graph_cross_entropy, lambda loss, params: graph_backward(loss)
    ),
    "minimal tape (no checks)": _composed(TapeTensor, tape_cross_entropy, tape_backward),
}


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.floor`; returns the exit status."""
    return common.main(argv, "benchmarks.floor", FORMS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
