"""Functions on Tensors (or array-likes): activations, softmax, the fused loss, one_hot.

Each returns a Tensor. The gradient rules are in `ops.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from autograd_lite import ops
from autograd_lite.tensor import Tensor


def as_tensor(x: Any) -> Tensor:
    """`x` itself if it is a Tensor, else a new constant Tensor of it."""
    return x if isinstance(x, Tensor) else Tensor(x)


def relu(x: Any) -> Tensor:
    """max(x, 0) elementwise; gradient 1 where x > 0, else 0 (also at 0)."""
    return ops.ReLU.apply(as_tensor(x))


def exp(x: Any) -> Tensor:
    return ops.Exp.apply(as_tensor(x))


def log(x: Any) -> Tensor:
    return ops.Log.apply(as_tensor(x))


def tanh(x: Any) -> Tensor:
    return ops.Tanh.apply(as_tensor(x))


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + e^-x), computed without overflow for large |x|."""
    return ops.Sigmoid.apply(as_tensor(x))


def _operands(a: Any, b: Any) -> tuple[Any, Any]:
    """Two operands for a binary op: Python scalars stay scalars (so float32 stays float32,
    as in numpy), at least one becomes a Tensor so that the op returns a Tensor."""
    a = a if isinstance(a, Tensor | int | float) else as_tensor(a)
    b = b if isinstance(b, Tensor | int | float) else as_tensor(b)
    return (a, b) if isinstance(a, Tensor) or isinstance(b, Tensor) else (as_tensor(a), b)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum with broadcasting; where a == b the gradient is shared equally."""
    return ops.Maximum.apply(*_operands(a, b))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """`a` where `condition` is true, else `b` (broadcasting); no gradient to `condition`."""
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition)
    if condition.dtype != bool:
        raise TypeError(f"where: condition must be boolean, got dtype {condition.dtype}")
    return ops.Where.apply(*_operands(a, b), condition=condition)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (like numpy.concatenate)."""
    if len(tensors) == 0:
        raise ValueError("concatenate: need at least one tensor")
    return ops.Concatenate.apply(*[as_tensor(t) for t in tensors], axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis (like numpy.stack)."""
    tensors = [as_tensor(t) for t in tensors]
    if len(tensors) == 0:
        raise ValueError("stack: need at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    shape = tensors[0].shape
    axis = _normalize_axis(axis, len(shape) + 1, "stack")
    new_shape = shape[:axis] + (1,) + shape[axis:]
    return concatenate([t.reshape(new_shape) for t in tensors], axis=axis)


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x @ weight + bias as one op (an affine layer); weight is (in_features, out_features)."""
    weight = as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (in, out), got shape {weight.shape}")
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != weight.shape[1:]:
            raise ValueError(
                f"linear: bias must have shape ({weight.shape[1]},) for weight of shape "
                f"{weight.shape}, got {bias.shape}"
            )
    return ops.Linear.apply(x, weight, bias)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis`, stabilised by subtracting the maximum."""
    x = as_tensor(x)
    return ops.Softmax.apply(x, axis=_normalize_axis(axis, x.ndim, "softmax"))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - log(sum(exp(x))) along `axis`, finite even for huge logits."""
    x = as_tensor(x)
    return ops.LogSoftmax.apply(x, axis=_normalize_axis(axis, x.ndim, "log_softmax"))


def one_hot(labels: Any, num_classes: int) -> Tensor:
    """Integer labels of shape (N,) -> float64 rows of shape (N, num_classes)."""
    if not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive integer, got {num_classes!r}")
    return Tensor(_one_hot_rows(labels, int(num_classes), np.float64, "one_hot"))


def softmax_cross_entropy(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """Cross-entropy of softmax(logits) against targets, as one fused, stable op.

    logits: (N, C). targets: class indices of shape (N,), or probability rows of shape (N, C).
    reduction: "mean" (over N), "sum", or "none" (a loss per row).
    Gradient with respect to the logits: softmax(logits) - one_hot(targets), scaled by the
    reduction. Targets get no gradient.
    """
    logits = as_tensor(logits)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"softmax_cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )
    if logits.ndim != 2:
        raise ValueError(
            f"softmax_cross_entropy: logits must have shape (N, C), got {logits.shape}"
        )
    n, c = logits.shape
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if targets.ndim == 1:
        if targets.shape[0] != n:
            raise ValueError(
                f"softmax_cross_entropy: {targets.shape[0]} targets for {n} rows of logits"
            )
        rows = _one_hot_rows(targets, c, logits.dtype, "softmax_cross_entropy")
        return ops.SoftmaxCrossEntropy.apply(logits, rows, reduction=reduction, one_hot=True)
    if targets.shape != (n, c):
        raise ValueError(
            f"softmax_cross_entropy: targets must have shape ({n},) or ({n}, {c}) "
            f"for logits of shape {logits.shape}, got {targets.shape}"
        )
    if targets.dtype != logits.dtype:  # the loss keeps the logits' dtype
        targets = targets.astype(logits.dtype)
    return ops.SoftmaxCrossEntropy.apply(logits, targets, reduction=reduction)


def _one_hot_rows(labels: Any, num_classes: int, dtype: Any, where: str) -> np.ndarray:
    """Validated class labels (N,) -> one-hot rows (N, num_classes) of `dtype`."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{where}: class labels must have shape (N,), got {labels.shape}")
    kind = labels.dtype.kind
    if kind == "f":
        if not np.all(labels == np.round(labels)):
            raise ValueError(f"{where}: class labels must be whole numbers")
        labels = labels.astype(np.intp)
    elif kind not in "iu":
        raise ValueError(f"{where}: class labels must be integers, got dtype {labels.dtype}")
    # Indexing the identity rejects labels from num_classes up; negative ones need a check,
    # as numpy would count them from the end.
    try:
        if kind != "u" and labels.size and labels.min() < 0:
            raise IndexError
        return _identity(num_classes, dtype)[labels]
    except IndexError:
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(
            f"{where}: class label {bad} is out of range for {num_classes} classes"
        ) from None


@functools.lru_cache(maxsize=64)
def _identity(n: int, dtype: Any) -> np.ndarray:
    """np.eye(n), cached and read-only: its rows are the one-hot vectors."""
    eye = np.eye(n, dtype=dtype)
    eye.flags.writeable = False
    return eye


def _normalize_axis(axis: int, ndim: int, where: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{where}: axis {axis} is out of range for {ndim} dimensions")
    return axis % ndim
