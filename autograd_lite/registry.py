"""Where an op's public names are declared: `al.<name>`, `Tensor.<method>` and numpy's names.

An op is declared once, in `ops.py` (or `functional.py` for ops composed of other ops): its
`Function` subclass (forward and backward side by side), then its public function with a
decorator that says which names it answers to::

    @register(method=True, numpy=np.exp)
    def exp(x):
        "e^x elementwise."
        return Exp.apply(as_tensor(x))

makes `al.exp(x)`, `x.exp()` and `np.exp(x)` all record `Exp`. Binary operators get theirs
from `register_binary` (`+`, its reflected `__radd__`, `al.add` and `np.add` at once).

numpy's protocols (`Tensor.__array_ufunc__` and `Tensor.__array_function__`) look the numpy
callable up in `NUMPY`. A numpy function that has no entry raises `TypeError`: a numpy call
on a Tensor never silently drops the graph. A few functions whose result has no gradient
(comparisons, `argmax`, `sign`, `shape`, ...) answer with plain numpy values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

PUBLIC: dict[str, Callable] = {}  # al.<name>
METHODS: dict[str, Any] = {}  # Tensor.<name>: functions (or properties)
NUMPY: dict[Any, Callable] = {}  # numpy function or ufunc -> what it does on Tensors


def register(
    *,
    method: bool | str | tuple[str, ...] = False,
    numpy: Any = (),
    public: bool = True,
) -> Callable[[Callable], Callable]:
    """Declare `fn` as `al.<fn.__name__>`, as a Tensor method and as numpy callables.

    method: True for `Tensor.<fn.__name__>`, or the method's name (or names). numpy: a numpy
    callable or several whose calls on Tensors run `fn` with the same arguments. public:
    False to keep it out of the `al.` namespace (a method, or a numpy adapter, only).
    """

    def decorate(fn: Callable) -> Callable:
        if public:
            PUBLIC[fn.__name__] = fn
        names = (fn.__name__,) if method is True else (method,) if method else ()
        for name in names if isinstance(method, bool | str) else method:
            METHODS[name] = fn
        for f in numpy if isinstance(numpy, Iterable) else (numpy,):
            NUMPY[f] = fn
        return fn

    return decorate


def register_binary(op: Any, name: str, ufunc: Any, operator: str | None = None) -> Callable:
    """Declare a binary op: `al.<name>(a, b)`, numpy's `ufunc`, and `a <operator> b` both ways.

    The operators call `op.apply` directly (they are the hot path); the public function
    first makes sure that at least one operand is a Tensor, so that it returns one.
    """
    from autograd_lite.tensor import as_tensor

    def public(a: Any, b: Any) -> Any:
        if not (isinstance(a, Tensor) or isinstance(b, Tensor)):
            if isinstance(a, int | float):  # a Python scalar stays weakly typed
                b = as_tensor(b)
            else:
                a = as_tensor(a)
        return op.apply(a, b)

    public.__name__ = public.__qualname__ = name
    public.__doc__ = op.__doc__
    PUBLIC[name] = public
    NUMPY[ufunc] = public
    if operator:
        METHODS[f"__{operator}__"] = lambda self, other: op.apply(self, other)
        METHODS[f"__r{operator}__"] = lambda self, other: op.apply(other, self)
    return public


# Functions whose results carry no gradient (integers, booleans, shapes, or a derivative
# that is zero wherever it exists): on Tensors they answer with plain numpy values.
VALUE_UFUNCS = {
    np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
    np.sign, np.isnan, np.isinf, np.isfinite, np.signbit,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
}  # fmt: skip
VALUE_FUNCTIONS = {
    np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.nonzero,
    np.count_nonzero, np.isclose, np.allclose, np.array_equal, np.array_equiv,
    np.result_type, np.can_cast, np.may_share_memory, np.shares_memory,
    np.empty_like,  # it reads the shape and dtype only
}  # fmt: skip


def _plain(x: Any) -> Any:
    """Tensors (also inside a list or tuple) replaced by their arrays."""
    if isinstance(x, Tensor):
        return x.data
    if type(x) in (list, tuple):
        return type(x)(_plain(i) for i in x)
    return x


def numpy_ufunc(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    """`Tensor.__array_ufunc__`: numpy ufuncs on Tensors (np.exp(t), ndarray + t, ...)."""
    if method == "__call__" and not kwargs:
        fn = NUMPY.get(ufunc)
        if fn is not None:
            return fn(*inputs)
        if ufunc in VALUE_UFUNCS:
            return ufunc(*map(_plain, inputs))
    name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if "out" in kwargs:
        raise TypeError(
            f"{name}(..., out=...) with a Tensor: autograd_lite cannot record a result written "
            "into an existing array (for `array += tensor`, write `array = array + tensor`, "
            "or use np.asarray(tensor) for the values)"
        )
    if method == "__call__" and ufunc in NUMPY or ufunc in VALUE_UFUNCS:
        raise TypeError(
            f"{name} on Tensors takes no keyword arguments, got {', '.join(sorted(kwargs))}"
        )
    raise TypeError(_unsupported(name))


def numpy_function(func: Any, args: tuple, kwargs: dict) -> Any:
    """`Tensor.__array_function__`: numpy functions on Tensors (np.sum(t), np.where, ...).

    The call is read with numpy's own signature (np.min(t, 0, None, True) means
    keepdims=True, as in numpy), then passed on by name; an argument that the Tensor version
    does not take raises TypeError unless it has numpy's default value.
    """
    fn = NUMPY.get(func)
    if fn is not None:
        call = _CALLS.get(func) or _CALLS.setdefault(func, _NumpyCall(func, fn))
        args, kwargs = call.translate(args, kwargs)
        return fn(*args, **kwargs)
    if func in VALUE_FUNCTIONS:
        return func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()})
    raise TypeError(_unsupported(numpy_name(func)))


class _NumpyCall:
    """How a call written for a numpy function maps onto its Tensor version `fn`."""

    def __init__(self, func: Any, fn: Callable) -> None:
        self.name, self.fn = numpy_name(func), fn
        ours = inspect.signature(fn).parameters
        self.ours = set(ours)
        self.takes_any = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in ours.values())
        try:
            self.numpy = inspect.signature(func)
        except (TypeError, ValueError):  # no signature to read: calls go through as written
            self.numpy = None
            return
        numpy_pos, our_pos = (
            [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            for params in (self.numpy.parameters.values(), ours.values())
        )
        # How many positional arguments mean the same in both (the first always does).
        self.same = 1
        while (
            self.same < min(len(numpy_pos), len(our_pos))
            and numpy_pos[self.same] == our_pos[self.same]
        ):
            self.same += 1

    def translate(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if self.numpy is None or self.takes_any:
            return args, kwargs
        if len(args) <= self.same and all(k in self.ours for k in kwargs):
            return args, kwargs  # the usual call: nothing to translate
        try:
            bound = self.numpy.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.name}: {e}") from None
        first, *rest = bound.arguments.items()
        out = {}
        for name, given in rest:
            if name in self.ours:
                out[name] = given
            elif given is not self.numpy.parameters[name].default and given is not None:
                raise TypeError(
                    f"{self.name}(..., {name}=...) is not supported on Tensors; the Tensor "
                    f"version takes {inspect.signature(self.fn)}"
                )
        return (first[1],), out


_CALLS: dict[Any, _NumpyCall] = {}


def numpy_name(func: Any) -> str:
    """The public name of a numpy callable: `numpy.exp`, `numpy.linalg.norm`."""
    module = getattr(func, "__module__", None) or "numpy"
    if module.startswith("numpy.") and "._" in module:  # a private module: named from numpy
        module = "numpy"
    return f"{module}.{func.__name__}"


def _unsupported(name: str) -> str:
    return (
        f"{name} is not supported on autograd_lite Tensors: it has no gradient rule, and "
        "running it on the values would silently drop the graph. Use the supported numpy "
        "functions (autograd_lite.registry.supported_numpy() lists them) or the al.* ops, or "
        "call it on np.asarray(tensor) if you want the values without a gradient."
    )


def supported_numpy() -> list[str]:
    """The numpy functions and ufuncs that work on Tensors (with a gradient, or without one)."""
    names = {numpy_name(f) for f in NUMPY} | {
        f"{numpy_name(f)} (no gradient)" for f in VALUE_UFUNCS | VALUE_FUNCTIONS
    }
    return sorted(names)


def install_methods(cls: type) -> None:
    """Attach every registered method to the Tensor class."""
    for name, fn in METHODS.items():
        setattr(cls, name, fn)


from autograd_lite.tensor import Tensor  # noqa: E402
