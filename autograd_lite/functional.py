"""Ops composed of other ops: they need no gradient rule of their own.

Each is declared with `register` like a primitive (see `registry.py`), so it is an `al.`
function, a Tensor method and/or a numpy function on Tensors as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autograd_lite import ops
from autograd_lite.registry import METHODS, register
from autograd_lite.tensor import Tensor, as_tensor


@register(method=True, numpy=np.mean)
def mean(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Mean over `axis` (all when None): the sum times 1 / (number of summed elements)."""
    x = as_tensor(x)
    total = ops.sum(x, axis=axis, keepdims=keepdims)
    return total * (total.size / x.size if x.size else np.nan)


@register(method=True, numpy=np.swapaxes)
def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """`x` with two axes interchanged (a transpose)."""
    x = as_tensor(x)
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return ops.transpose(x, axes)


METHODS["T"] = property(lambda self: ops.Transpose.apply(self, axes=None), doc="x.transpose()")


@register(numpy=np.stack)
def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis (like numpy.stack)."""
    tensors = [as_tensor(t) for t in tensors]
    if len(tensors) == 0:
        raise ValueError("stack: need at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    shape = tensors[0].shape
    if not -len(shape) - 1 <= axis <= len(shape):
        raise np.exceptions.AxisError(
            f"stack: axis {axis} is out of range for {len(shape) + 1} dimensions"
        )
    axis %= len(shape) + 1
    new_shape = shape[:axis] + (1,) + shape[axis:]
    return ops.concatenate([t.reshape(new_shape) for t in tensors], axis=axis)


@register(numpy=np.dot)
def dot(a: Any, b: Any) -> Tensor:
    """numpy.dot for 0-d, 1-D and 2-D operands (a product, an inner product, or matmul)."""
    a_ndim, b_ndim = np.ndim(a), np.ndim(b)
    if a_ndim == 0 or b_ndim == 0:
        return ops.multiply(a, b)
    if a_ndim > 2 or b_ndim > 2:
        raise ValueError(
            f"dot: operands of {a_ndim} and {b_ndim} dimensions; for stacks of matrices use "
            "al.matmul (numpy's dot on N-D arrays is a different product)"
        )
    return ops.matmul(a, b)


@register()
def one_hot(labels: Any, num_classes: int) -> Tensor:
    """Integer labels of shape (N,) -> float64 rows of shape (N, num_classes)."""
    if not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive integer, got {num_classes!r}")
    return Tensor(ops.one_hot_rows(labels, int(num_classes), np.float64, "one_hot"))
