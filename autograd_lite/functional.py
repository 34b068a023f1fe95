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


# --- composites added with the op catalogue: each is a few existing ops, so it needs no rule
@register(method=True, numpy=np.square)
def square(x: Any) -> Tensor:
    """x * x elementwise (one multiplication: exact, and its gradient 2 x g is too)."""
    x = as_tensor(x)
    return ops.multiply(x, x)


def _reduced_axes(axis: Any, ndim: int, where: str) -> tuple[int, ...]:
    """`axis` of a reduction (None, an int or a tuple) as a tuple of axes in [0, ndim)."""
    if axis is None or ndim == 0:  # numpy accepts axis 0 / -1 on a 0-d array
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    for ax in axes:
        if isinstance(ax, bool) or not isinstance(ax, int | np.integer):
            raise TypeError(f"{where}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= ax < ndim:
            raise np.exceptions.AxisError(
                f"{where}: axis {ax} is out of range for {ndim} dimensions"
            )
    normalized = tuple(int(ax) % ndim for ax in axes)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{where}: repeated axis in {axis!r}")
    return normalized


@register(method=True, numpy=np.var)
def var(
    x: Any, axis: int | tuple[int, ...] | None = None, *, ddof: int = 0, keepdims: bool = False
) -> Tensor:
    """Variance over `axis`: sum((x - mean)^2) / (n - ddof), n elements per group (numpy.var).

    ddof=1 gives the unbiased estimate (PyTorch's default). Raises ValueError when
    n - ddof <= 0 (numpy would return nan or inf with a warning).
    """
    x = as_tensor(x)
    axes = _reduced_axes(axis, x.ndim, "var")
    n = int(np.prod([x.shape[ax] for ax in axes]))
    if n - ddof <= 0:
        raise ValueError(
            f"var: ddof={ddof} leaves {n - ddof} degrees of freedom for groups of {n} "
            f"element(s) (shape {x.shape}, axis {axis!r})"
        )
    deviation = x - mean(x, axis=axes, keepdims=True)
    return ops.sum(deviation * deviation, axis=axes, keepdims=keepdims) / (n - ddof)


@register(method=True, numpy=np.std)
def std(
    x: Any, axis: int | tuple[int, ...] | None = None, *, ddof: int = 0, keepdims: bool = False
) -> Tensor:
    """Standard deviation over `axis`: sqrt(var(x, axis, ddof=ddof)) (numpy.std).

    Where the variance is exactly 0 (all elements of a group equal) std has no derivative
    (it is |t| times a constant along any line through that point); the gradient there is 0,
    the subgradient PyTorch also returns, at first and second order.
    """
    v = var(x, axis, ddof=ddof, keepdims=keepdims)
    zero = v == 0  # (inside vmap, a batched mask)
    if not (v._batched or zero.any()):
        return ops.sqrt(v)
    # sqrt'(0) is infinite: take the root of 1 there and put 0 in its place instead, so that
    # no inf * 0 = nan reaches the gradient (the unselected branch still gets a gradient).
    return ops.where(zero, 0.0, ops.sqrt(ops.where(zero, 1.0, v)))


@register(method=True, numpy=np.squeeze)
def squeeze(x: Any, axis: int | tuple[int, ...] | None = None) -> Tensor:
    """`x` without its size-1 axes (only those in `axis` when given), as numpy.squeeze."""
    x = as_tensor(x)
    try:
        shape = np.squeeze(np.broadcast_to(False, x.shape), axis).shape  # (no values needed)
    except ValueError as e:  # numpy's AxisError is a ValueError too
        raise type(e)(f"squeeze: {e} (shape {x.shape}, axis {axis!r})") from None
    return ops.reshape(x, shape)


@register(numpy=np.expand_dims)
def expand_dims(x: Any, axis: int | tuple[int, ...]) -> Tensor:
    """`x` with new size-1 axes at the positions `axis` of the result, as numpy.expand_dims."""
    x = as_tensor(x)
    try:
        shape = np.expand_dims(np.broadcast_to(False, x.shape), axis).shape
    except ValueError as e:
        raise type(e)(f"expand_dims: {e} (shape {x.shape}, axis {axis!r})") from None
    return ops.reshape(x, shape)


def _split(x: Any, sections: Any, axis: int, where: str, equal: bool) -> list[Tensor]:
    x = as_tensor(x)
    (axis,) = _reduced_axes(axis, x.ndim, where) if x.ndim else (None,)
    if axis is None:
        raise ValueError(f"{where}: cannot split a 0-d tensor")
    n = x.shape[axis]
    if isinstance(sections, int | np.integer) and not isinstance(sections, bool):
        if sections <= 0:
            raise ValueError(f"{where}: the number of sections must be positive, got {sections}")
        if equal and n % sections:
            raise ValueError(
                f"{where}: {n} elements along axis {axis} do not split into {sections} equal "
                "sections (give split points, or use al.array_split)"
            )
        size, extra = divmod(n, int(sections))  # array_split: the first `extra` get one more
        bounds = [i * size + min(i, extra) for i in range(int(sections) + 1)]
    else:
        points = [int(i) for i in np.asarray(sections).reshape(-1)]
        bounds = [0, *points, n]
    lead = (slice(None),) * axis
    return [x[lead + (slice(lo, hi),)] for lo, hi in zip(bounds, bounds[1:])]


@register(numpy=np.split)
def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Tensors cut from `x` along `axis`, as numpy.split (a list; each piece is differentiable).

    An int N makes N equal pieces (an error if they cannot be equal); a list of indices gives
    the points where the pieces start.
    """
    return _split(x, indices_or_sections, axis, "split", equal=True)


@register(numpy=np.array_split)
def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """As `split`, but N pieces need not be equal (the first ones get one element more)."""
    return _split(x, indices_or_sections, axis, "array_split", equal=False)


def _counts(value: Any, what: str, where: str) -> Any:
    counts = np.asarray(value)
    if counts.size and (counts.dtype.kind not in "iu" or counts.min() < 0):
        raise ValueError(f"{where}: {what} must be non-negative integers, got {value!r}")
    return counts


@register(numpy=np.tile)
def tile(x: Any, reps: int | Sequence[int]) -> Tensor:
    """`x` repeated `reps` times along each axis, as numpy.tile (a broadcast and a reshape)."""
    x = as_tensor(x)
    reps = tuple(int(r) for r in _counts(reps, "reps", "tile").reshape(-1))  # () is allowed
    ndim = max(len(reps), x.ndim)
    shape = (1,) * (ndim - x.ndim) + x.shape
    reps = (1,) * (ndim - len(reps)) + reps
    # (s0, s1) -> (1, s0, 1, s1) -> (r0, s0, r1, s1) -> (r0 s0, r1 s1): the engine sums the
    # gradient of every copy back onto x when it undoes the broadcast.
    spread = ops.reshape(x, tuple(n for s in shape for n in (1, s)))
    copies = ops.broadcast_to(spread, tuple(n for pair in zip(reps, shape) for n in pair))
    return ops.reshape(copies, tuple(r * s for r, s in zip(reps, shape)))


@register(method=True, numpy=np.repeat)
def repeat(x: Any, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """Each element repeated `repeats` times along `axis` (flattened when None): numpy.repeat.

    `repeats` is one count for all, or one count per element along the axis.
    """
    x = as_tensor(x)
    if axis is None:
        x, axis = ops.reshape(x, (-1,)), 0
    (axis,) = _reduced_axes(axis, x.ndim, "repeat") if x.ndim else (0,)
    counts = _counts(repeats, "repeats", "repeat")
    n = x.shape[axis] if x.ndim else 1
    if counts.size == 1:  # one count: a broadcast along a new axis, then a reshape
        r = int(counts.reshape(-1)[0])
        x = ops.reshape(x, x.shape[: axis + 1] + (1,) + x.shape[axis + 1 :])
        spread = ops.broadcast_to(x, x.shape[: axis + 1] + (r,) + x.shape[axis + 2 :])
        return ops.reshape(spread, spread.shape[:axis] + (n * r,) + spread.shape[axis + 2 :])
    if counts.shape != (n,):
        raise ValueError(
            f"repeat: {counts.size} repeat counts for {n} elements along axis {axis} "
            f"(shape {x.shape})"
        )
    return x[(slice(None),) * axis + (np.repeat(np.arange(n), counts),)]


@register(numpy=np.tensordot)
def tensordot(a: Any, b: Any, axes: int | Sequence[Any] = 2) -> Tensor:
    """numpy.tensordot: sum of products over `axes` of a and b (the last N of a with the first
    N of b for an int N, or two lists of axes); written as an einsum."""
    shape_a, shape_b = (x.shape if isinstance(x, Tensor) else np.shape(x) for x in (a, b))
    if isinstance(axes, int | np.integer):
        if not 0 <= axes <= min(len(shape_a), len(shape_b)):
            raise ValueError(f"tensordot: axes={axes} for shapes {shape_a} and {shape_b}")
        axes_a, axes_b = list(range(len(shape_a) - axes, len(shape_a))), list(range(axes))
    else:
        axes_a, axes_b = ([ax] if isinstance(ax, int | np.integer) else list(ax) for ax in axes)
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: {len(axes_a)} axes of a but {len(axes_b)} of b")
    axes_a = [int(ax) % max(len(shape_a), 1) for ax in axes_a]
    axes_b = [int(ax) % max(len(shape_b), 1) for ax in axes_b]
    for i, j in zip(axes_a, axes_b):
        if shape_a[i] != shape_b[j]:
            raise ValueError(
                f"tensordot: axis {i} of a (shape {shape_a}) and axis {j} of b (shape "
                f"{shape_b}) have different lengths"
            )
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    labels_a = [next(letters) for _ in shape_a]
    labels_b = [
        labels_a[axes_a[axes_b.index(j)]] if j in axes_b else next(letters)
        for j in range(len(shape_b))
    ]
    out = [c for i, c in enumerate(labels_a) if i not in axes_a]
    out += [c for j, c in enumerate(labels_b) if j not in axes_b]
    spec = f"{''.join(labels_a)},{''.join(labels_b)}->{''.join(out)}"
    return ops.einsum(spec, a, b)


@register(numpy=np.outer)
def outer(a: Any, b: Any) -> Tensor:
    """numpy.outer: out[i, j] = a[i] * b[j] for the flattened a and b."""
    a, b = (x if isinstance(x, Tensor) else Tensor(x) for x in (a, b))
    return ops.multiply(ops.reshape(a, (-1, 1)), ops.reshape(b, (1, -1)))
