"""Tensors made from nothing but a shape or a range: al.zeros, ones, full, arange, *_like.

They are constants unless `requires_grad=True` (then leaves, like `Tensor(..., requires_grad=
True)`). The dtype defaults to float64; `zeros_like` / `ones_like` keep their argument's
dtype, and `np.zeros_like(t)` / `np.ones_like(t)` on a Tensor call them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd_lite.registry import register
from autograd_lite.tensor import Tensor, value


@register()
def zeros(
    shape: int | tuple[int, ...], dtype: Any = np.float64, requires_grad: bool = False
) -> Tensor:
    """A tensor of zeros of `shape`."""
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad)


@register()
def ones(
    shape: int | tuple[int, ...], dtype: Any = np.float64, requires_grad: bool = False
) -> Tensor:
    """A tensor of ones of `shape`."""
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad)


@register()
def full(
    shape: int | tuple[int, ...],
    fill_value: float,
    dtype: Any = np.float64,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of `shape` filled with `fill_value`."""
    return Tensor(np.full(shape, value(fill_value), dtype=dtype), requires_grad=requires_grad)


@register(numpy=np.zeros_like)
def zeros_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape (and, unless `dtype` is given, the dtype) of `x`."""
    return Tensor(np.zeros(np.shape(x), dtype or _dtype(x)), requires_grad=requires_grad)


@register(numpy=np.ones_like)
def ones_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape (and, unless `dtype` is given, the dtype) of `x`."""
    return Tensor(np.ones(np.shape(x), dtype or _dtype(x)), requires_grad=requires_grad)


def _dtype(x: Any) -> np.dtype:
    """The dtype of `x` (read from a Tensor without its values: a batched one has none)."""
    return x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype


@register()
def arange(
    start: float,
    stop: float | None = None,
    step: float = 1,
    dtype: Any = np.float64,
    requires_grad: bool = False,
) -> Tensor:
    """Evenly spaced values in [start, stop) (in [0, start) with one argument), as numpy.arange.

    float64 by default (numpy would give integers for integer arguments).
    """
    if stop is None:
        start, stop = 0, start
    return Tensor(np.arange(start, stop, step, dtype=dtype), requires_grad=requires_grad)
