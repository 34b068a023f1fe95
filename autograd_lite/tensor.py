"""Tensor: an ndarray that remembers the operations that made it.

The class holds data and plain attributes only. Its operators and math methods (`+`, `@`,
`sum`, `exp`, ...) are declared with their op in `ops.py` (see `registry.register`) and
attached to the class when the package is imported, so an op is declared in one place.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from copy import deepcopy
from typing import Any

import numpy as np


def _as_data(data: Any, requires_grad: bool) -> np.ndarray:
    """Array-like -> ndarray of its own dtype: float, integer or bool (only floats take grad)."""
    if isinstance(data, Tensor):
        data = data.data
    elif type(data) in (list, tuple):
        data = _values(data)
    if getattr(data, "_traced", False):  # inside al.compile's trace: kept, so that it is
        array = data  # replayed with each call's values (np.asarray would freeze it)
    else:
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
        return array
    raise TypeError(f"Tensor: data must be numeric, got dtype {array.dtype}")


def _values(data: list | tuple) -> Any:
    """Nested lists of Tensors (`Tensor([loss1, loss2])`) -> lists of their arrays.

    numpy cannot convert a list of 0-d objects through `__array__`. Only lists whose first
    element is a Tensor or a list are walked, so a long list of numbers costs nothing.
    """
    if data and (isinstance(data[0], Tensor) or type(data[0]) in (list, tuple)):
        return [_value_of(d) for d in data]
    return data


def _value_of(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.data
    return _values(x) if type(x) in (list, tuple) else x


class Tensor:
    """An n-dimensional array that records operations for reverse-mode differentiation.

    `Tensor(data, requires_grad=False)`: `data` is array-like (also a list of Tensors, whose
    values it takes: `al.stack` keeps their graph). It keeps its dtype: float32 stays
    float32; integer and bool tensors index, compare and mix in arithmetic under numpy's
    promotion rules, but only float tensors can require grad. Operators and methods mix
    freely with ndarrays and Python scalars on either side. After `loss.backward()`, every
    leaf tensor created with `requires_grad=True` holds d(loss)/d(leaf) in `.grad`.
    """

    # _tangents: {jvp level: tangent} while al.func.jvp runs (see func.py); unset otherwise.
    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_tangents", "__weakref__")
    _batched = False  # True for func.BatchedTensor, a Tensor's view of one example in vmap

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

    # --- Python's conversions, as numpy and PyTorch (the values, without a graph) -------
    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"bool: the truth value of a tensor with {self.data.size} elements is "
                "ambiguous; use (t > 0).any() or (t > 0).all()"
            )
        return bool(self._one_element("bool"))

    def __float__(self) -> float:
        return float(self._one_element("float"))

    def __int__(self) -> int:
        return int(self._one_element("int"))

    def __index__(self) -> int:
        """A 0-d integer tensor as an index (`seq[t]`, `range(t)`), as numpy."""
        if self.data.ndim or self.data.dtype.kind not in "iu":
            raise TypeError(
                f"only 0-d integer tensors can be used as an index, got shape {self.shape} "
                f"and dtype {self.dtype}"
            )
        return int(self.data)

    def _one_element(self, what: str) -> Any:
        if self.data.size != 1:
            raise TypeError(
                f"{what}(): only one-element tensors can be converted to Python scalars, got "
                f"shape {self.shape}"
            )
        if getattr(self.data, "_traced", False):  # inside al.compile's trace: say which call
            self.data._concrete(f"{what}()")
        return self.data.item()

    def __format__(self, spec: str) -> str:
        if self.data.ndim == 0:  # f"{loss:.3f}", as numpy and PyTorch
            return format(self.data.item(), spec)
        if not spec:
            return str(self)
        raise TypeError(
            f"format: the spec {spec!r} needs a 0-d tensor, got shape {self.shape} "
            "(format t.item(), or np.array2string(t.data) for an array)"
        )

    def __iter__(self) -> Any:
        """The sub-tensors along the first axis (each on the graph, as `t[i]`)."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def tolist(self) -> Any:
        """The values as (nested lists of) Python numbers."""
        return self.data.tolist()

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Any:
        """Index of the maximum over `axis` (flattened when None): plain numpy values."""
        return self.data.argmax(axis=axis, keepdims=keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Any:
        """Index of the minimum over `axis` (flattened when None): plain numpy values."""
        return self.data.argmin(axis=axis, keepdims=keepdims)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set `requires_grad` of a leaf in place (as PyTorch); returns the tensor."""
        if self._ctx is not None:
            if requires_grad:
                return self  # a result of a recorded op already requires grad
            raise RuntimeError(
                f"requires_grad_: only leaf tensors can change requires_grad; this one was "
                f"made by {self._ctx.name} (use t.detach() for a copy without a graph)"
            )
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad_: only floating point tensors can require grad, got {self.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        return self

    @property
    def _version(self) -> int:
        """How many times this tensor's memory was changed in place (shared with its views)."""
        return versions.version(self.data)

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def detach(self) -> Tensor:
        """A tensor sharing this data, cut from the graph."""
        return _tensor(self.data)

    def __reduce_ex__(self, protocol: Any) -> Any:
        """pickle: the values, requires_grad and grad, as a leaf. A Tensor made by an op comes
        back as a leaf too: its graph is not pickled (as in PyTorch)."""
        return (_leaf, (type(self), self.data, self.requires_grad, self.grad))

    def __deepcopy__(self, memo: dict) -> Tensor:
        """copy.deepcopy: a leaf only, as in PyTorch (a copy of a graph would hold copies of
        its nodes, which the backward walk cannot order among the originals)."""
        if self._ctx is not None:
            raise RuntimeError(
                "copy.deepcopy of a Tensor made by an op: only leaf Tensors can be deep-copied, "
                "as in PyTorch. Copy t.detach() instead (the same values, without the graph)."
            )
        new = _leaf(type(self), deepcopy(self.data, memo), self.requires_grad,
                    deepcopy(self.grad, memo))  # fmt: skip
        memo[id(self)] = new
        return new

    def __copy__(self) -> Tensor:
        """copy.copy: a new Tensor object sharing the data, the gradient and the node (every
        slot of its class, a subclass's too)."""
        new = _new(type(self))
        for cls in type(self).__mro__:
            for name in getattr(cls, "__slots__", ()):
                slot = cls.__dict__[name]  # (the slot itself, under any property of that name)
                if name != "__weakref__":
                    with contextlib.suppress(AttributeError):  # (a slot never set)
                        slot.__set__(new, slot.__get__(self, cls))
        return new

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """`np.asarray(t)` / `np.array(t)`: the values, without a graph (the explicit way)."""
        if getattr(self.data, "_traced", False):  # inside al.compile's trace: see compile.py
            self.data._concrete("np.asarray()")
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

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad, adding it into `.grad`.

        Gradients ACCUMULATE (as in PyTorch): call `zero_grad()` or set `.grad = None`
        between steps. A non-scalar tensor needs `gradient`, the gradient of some scalar with
        respect to it. The graph is freed afterwards unless `retain_graph=True` (which
        defaults to `create_graph`). With `create_graph=True` the gradients stored in `.grad`
        are Tensors with a graph of their own, so they can be differentiated again. With
        `inputs` (Tensors), only they get a gradient, added into their `.grad` (a non-leaf
        input's too), and only the part of the graph that leads to them is walked.
        """
        engine.backward(self, gradient, retain_graph, create_graph, inputs)

    def register_hook(self, fn: Callable[[Any], Any]) -> hooks.RemovableHandle:
        """Call `fn(grad)` with this tensor's gradient in every backward pass.

        `fn` sees the complete gradient (an array shaped like the tensor; a Tensor with
        `create_graph=True`) and may return a replacement, which is what flows on and what
        `.grad` receives. Returns a handle: `handle.remove()` unregisters `fn`.
        """
        return hooks.register_hook(self, fn)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in `.grad` after backward (leaves always do)."""
        hooks.retain_grad(self)

    # Comparisons give plain boolean arrays: they have no gradient.
    def __lt__(self, other: Any) -> np.ndarray:
        return self.data < value(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.data <= value(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.data > value(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.data >= value(other)

    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.data == value(other)

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.data != value(other)

    # numpy's protocols: np.exp(t), np.sum(t), ndarray @ t, ... record ops like the methods.
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "__call__" and not kwargs:  # the common case first: `ndarray @ t`
            fn = _NUMPY.get(ufunc)
            if fn is not None:
                return fn(*inputs)
        return registry.numpy_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return registry.numpy_function(func, args, kwargs)


def _tensor(data: np.ndarray, ctx: Any = None) -> Tensor:
    """The library's one fast constructor: `data` is already a valid ndarray.

    With a node `ctx` the tensor is that node's output (it requires grad), and the node gets
    its number in the order of recording, if it has none yet: the backward walk runs nodes
    from the highest number down (engine.run_backward). Without a node it is a constant.
    `Tensor(...)` is for users: it checks and converts its argument.
    """
    t = _new(Tensor)
    t.data = data
    t.grad = None
    t._ctx = ctx
    if ctx is None:
        t.requires_grad = False
    else:
        t.requires_grad = True
        if not ctx._seq:
            ctx._seq = _next_seq()
    return t


_new = object.__new__


def _leaf(cls: type, data: np.ndarray, requires_grad: bool, grad: Any) -> Tensor:
    """A leaf Tensor of class `cls` as pickle and deepcopy rebuild it."""
    t = _new(cls)
    t.data, t.grad, t.requires_grad, t._ctx = data, grad, requires_grad, None
    return t


_next_seq = itertools.count(1).__next__  # (thread-safe: one call into C)


def value(x: Any) -> Any:
    """The array behind a Tensor; anything else as it is."""
    return x.data if isinstance(x, Tensor) else x


def as_tensor(x: Any) -> Tensor:
    """`x` itself if it is a Tensor, else a new constant Tensor of it."""
    return x if isinstance(x, Tensor) else Tensor(x)


# Imported last: ops and engine build on the Tensor class defined above.
from autograd_lite import engine, hooks, registry, versions  # noqa: E402

_NUMPY = registry.NUMPY
