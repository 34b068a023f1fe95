"""Tensor: an ndarray that remembers the operations that made it.

Every operator and method here calls an op from `ops.py`; the gradient rules live there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Scalar = int | float


def _as_data(data: Any, requires_grad: bool) -> np.ndarray:
    """Array-like -> ndarray: float arrays keep their dtype, other numbers become float64."""
    if isinstance(data, Tensor):
        data = data.data
    try:
        array = np.asarray(data)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"Tensor: data must be a rectangular array of numbers ({e})") from e
    kind = array.dtype.kind
    if kind == "f":
        return array
    if kind in "biu":
        if requires_grad:
            raise TypeError(
                f"Tensor: only floating point data can require grad, got {array.dtype} "
                "(pass floats, e.g. np.asarray(data, dtype=float))"
            )
        return array.astype(np.float64)
    raise TypeError(f"Tensor: data must be numeric, got dtype {array.dtype}")


class Tensor:
    """An n-dimensional array that records operations for reverse-mode differentiation.

    `Tensor(data, requires_grad=False)`: `data` is array-like. Float data keeps its dtype
    (float32 stays float32), other numbers become float64. Operators and methods mix freely
    with ndarrays and Python scalars on either side. After `loss.backward()`, every leaf
    tensor created with `requires_grad=True` holds d(loss)/d(leaf) in `.grad`.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "__weakref__")
    # Make numpy defer to Tensor: `ndarray + Tensor` and `ndarray @ Tensor` call our
    # reflected operators instead of treating the Tensor as an object array.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        self.data: np.ndarray = _as_data(data, requires_grad)
        self.grad: np.ndarray | None = None
        self.requires_grad: bool = bool(requires_grad)
        self._ctx = None  # the Function node that made this tensor; None for a leaf

    # --- plain attributes -----------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an op."""
        return self._ctx is None

    @property
    def grad_fn(self) -> Any:
        """The op node that made this tensor (None for a leaf)."""
        return self._ctx

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: tensor has {self.data.size} elements, not 1")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def detach(self) -> Tensor:
        """A tensor sharing this data, cut from the graph."""
        return _make(self.data, False)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.array(self.data, dtype=dtype, copy=copy)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extra = ""
        if self.data.dtype != np.float64:
            extra += f", dtype={self.data.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn={self._ctx!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    __hash__ = object.__hash__  # comparisons return arrays, so hash by identity

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad, adding it into `.grad`.

        Gradients ACCUMULATE (as in PyTorch): call `zero_grad()` or set `.grad = None`
        between steps. A non-scalar tensor needs `grad`, the gradient of some scalar with
        respect to it. The graph is freed afterwards unless `retain_graph=True`.
        """
        engine.backward(self, grad, retain_graph)

    # --- arithmetic -----------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return ops.Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.Add.apply(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.Pow.apply(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return ops.Pow.apply(other, self)

    def __neg__(self) -> Tensor:
        return ops.Neg.apply(self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(other, self)

    # Comparisons give plain boolean arrays: they have no gradient.
    def __lt__(self, other: Any) -> np.ndarray:
        return self.data < _data(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.data <= _data(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.data > _data(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.data >= _data(other)

    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.data == _data(other)

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.data != _data(other)

    # --- reductions and shapes ------------------------------------------------------
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        total = self.sum(axis=axis, keepdims=keepdims)
        return total * (total.size / self.size if self.size else np.nan)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Maximum; tied elements share the gradient equally."""
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return ops.Reshape.apply(self, shape=shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return ops.Transpose.apply(self, axes=axes or None)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        axes = list(range(self.ndim))
        axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
        return ops.Transpose.apply(self, axes=tuple(axes))

    @property
    def T(self) -> Tensor:  # noqa: N802  (numpy's name)
        return ops.Transpose.apply(self, axes=None)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItem.apply(self, index=_data_index(index))

    # --- elementwise functions ------------------------------------------------------
    def exp(self) -> Tensor:
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        return ops.Log.apply(self)

    def relu(self) -> Tensor:
        """max(x, 0), with gradient 0 at 0."""
        return ops.ReLU.apply(self)

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(self)

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid.apply(self)

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(self)


def _make(data: np.ndarray, requires_grad: bool) -> Tensor:
    """The ops' fast constructor: `data` is already a valid ndarray."""
    t = _new(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t._ctx = None
    return t


_new = object.__new__


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _data_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_data(i) for i in index)
    return _data(index)


# Imported last: ops and engine build on the Tensor class defined above.
from autograd_lite import engine, ops  # noqa: E402
