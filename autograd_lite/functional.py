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


@register(method=True)
def mean(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Mean over `axis` (all when None): the sum times 1 / (number of summed elements)."""
    x = as_tensor(x)
    total = ops.sum(x, axis=axis, keepdims=keepdims)
    return total * (total.size / x.size if x.size else np.nan)


@register(numpy=np.mean, public=False)
def _np_mean(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: bool = False,
    *,
    where: Any = None,
) -> Tensor:
    ops.numpy_reduction_check("mean", out, where)
    return mean(a if dtype is None else as_tensor(a).astype(dtype), axis, keepdims)


@register(numpy=np.linalg.norm)
def norm(
    x: Any, ord: Any = None, axis: int | tuple[int, int] | None = None, keepdims: bool = False
) -> Tensor:
    """The 2-norm sqrt(sum(x**2)) over `axis` (all elements when None), as numpy.linalg.norm.

    Only the 2-norm: `ord` None, 2 for vectors (one axis) or "fro" for matrices (two axes).
    Its gradient is x / norm. Where x is all zeros the norm has no derivative; its gradient
    there is 0, the smallest subgradient (as al.abs at 0, and as PyTorch), at every order.
    Values whose squares would underflow or overflow are scaled first (numpy would give 0
    or inf there).
    """
    x = as_tensor(x)
    vector = isinstance(axis, int | np.integer) or (axis is None and x.ndim == 1)
    matrix = (axis is None and x.ndim == 2) or (isinstance(axis, tuple) and len(axis) == 2)
    if ord is not None and not vector and not matrix:
        raise ValueError(f"norm: ord={ord!r} needs a vector or a matrix, got shape {x.shape}")
    if ord == "fro" and not matrix:
        raise ValueError(f"norm: ord='fro' is a matrix norm, got a vector of shape {x.shape}")
    if not (ord is None or (ord == 2 and vector) or (ord == "fro" and matrix)):
        raise TypeError(
            f"norm: ord={ord!r} is not supported on Tensors, only the 2-norm (ord None, 2 for "
            "vectors, 'fro' for matrices); for ord=1 write al.abs(x).sum(axis)"
        )
    with np.errstate(over="ignore"):  # an overflow is caught below
        squares = ops.sum(x * x, axis=axis, keepdims=keepdims)
    if np.all((squares.data > 0) & (squares.data < np.inf)):  # the usual case
        return ops.sqrt(squares)
    # x * x underflowed to 0 or overflowed to inf (|x| beyond 1e154 or below 1e-154 in
    # float64), or x is all zeros. ||x|| = s ||x / s|| for any constant s > 0: with s the
    # largest |x|, the squares are in range, and the gradient stays x / ||x||.
    scale = np.max(np.abs(x.data), axis=axis, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    scaled = x / scale
    squares = ops.sum(scaled * scaled, axis=axis, keepdims=keepdims)
    zero = squares.data == 0
    # sqrt has an infinite slope at 0, and 0 * inf would send nan back: take the root of 1
    # there instead, and put 0 in its place, so that the gradient there is 0.
    root = ops.where(zero, 0.0, ops.sqrt(ops.where(zero, 1.0, squares)))
    return root * scale.reshape(root.shape)


@register(method=True, numpy=np.swapaxes)
def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """`x` with two axes interchanged (a transpose)."""
    x = as_tensor(x)
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return ops.transpose(x, axes)


@register(method=True, numpy=np.ravel)
def ravel(x: Any) -> Tensor:
    """The elements as a 1-D tensor (C order), as numpy.ravel."""
    return ops.reshape(x, -1)


@register(method=True)
def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Axes `start_dim` to `end_dim` merged into one (all of them by default), as PyTorch."""
    x = as_tensor(x)
    if x.ndim == 0:
        return ops.reshape(x, 1)
    start = _axis(start_dim, x.ndim, "flatten")
    end = _axis(end_dim, x.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = int(np.prod(x.shape[start : end + 1]))
    return ops.reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1 :])


@register(method=True)
def unsqueeze(x: Any, dim: int) -> Tensor:
    """`x` with a new axis of size 1 at position `dim` (as PyTorch, or numpy.expand_dims)."""
    x = as_tensor(x)
    dim = _axis(dim, x.ndim + 1, "unsqueeze")
    return ops.reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def _axis(axis: Any, ndim: int, where: str) -> int:
    """`axis` checked against `ndim` dimensions and made non-negative."""
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise TypeError(f"{where}: an axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(f"{where}: axis {axis} is out of range for {ndim} dimensions")
    return int(axis) % ndim


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
