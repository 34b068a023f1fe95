"""Transforms of functions: grad, vjp, jvp (true forward mode), jacobians, hessians, vmap.

Names and semantics follow JAX (and torch.func): each transform takes a Python function of
Tensors or arrays (or tuples, lists and dicts of them) and returns a new function::

    grad(f)(x)                      df/dx for a scalar f            (reverse mode)
    vjp(f, x) -> (f(x), vjp_fn)     vjp_fn(v) = (v^T J,)            (reverse mode)
    jvp(f, (x,), (u,))              (f(x), J u)                     (forward mode)
    jacfwd(f)(x), jacrev(f)(x)      J, shaped out.shape + x.shape
    hessian(f)(x), hvp(f, (x,), (u,))
    vmap(f)(X)                      f mapped over axis 0 of X, without a Python loop

They compose: `jvp(grad(f), ...)` is forward-over-reverse (how `hvp` and `hessian` work),
`vmap(grad(loss), in_axes=(None, 0, 0))` gives per-example gradients, `grad(grad(f))` and
`jacrev(jacfwd(f))` work too. Results are Tensors (`np.asarray(t)` gives the array).

How it works
------------
Reverse mode is the engine's: `vjp` runs `f` on fresh leaves that require grad, and its
`vjp_fn` walks the recorded graph backwards (`engine.run_backward`). The other transforms are
*levels*: entering `jvp` or `vmap` pushes a level on a per-thread stack (`_mode.levels`), and
while any level is active `Function.apply` hands every op to `_transformed` below (when none
is, apply pays one check of a global counter and nothing else).

Forward mode (jvp). A Tensor carries its tangents in a dict `{level: tangent}`. For each op,
`_transformed` computes the primal output with the ordinary `apply` (which records the
reverse graph as usual), then, for every active jvp level that some input carries, the op's
`jvp` rule, written beside its forward and backward in ops.py::

    class Exp(Function):
        @staticmethod
        def jvp(ctx, t):            # d e^a = e^a da
            return t * ctx.out      # ctx.inputs, ctx.out: the primal values

A tangent is a number like any other, so a rule is written with the same operators and ops as
a backward rule, and it runs on plain arrays when nothing else needs to see it: no backward
pass, no graph, and about one extra forward's worth of numpy work (at tiny sizes the Python
bookkeeping per op costs more than that). It runs on Tensors when it must be differentiated
itself (reverse-over-forward) or carry outer tangents. Levels keep perturbations apart, as
in JAX: the rule of level L runs with only the levels *outside* L active, so it ignores L's
own tangents (and those of the levels inside L), while the tangents of the outer levels flow
through it (that is how the tangent of a tangent, a second derivative, arises). Each level
has its own identity, so two jvps, even nested on the same value, never mix. An op without
a jvp rule raises, naming itself; a rule inherited from a class whose `forward` the op
overrides counts as missing (it is another function's).

Forward-over-reverse. Under `jvp(grad(f))` the backward pass must carry tangents too: the
gradient's rules run on Tensors (create_graph), and every value a rule reads must have its
tangent. Rules read saved values back through `ctx.saved_tensors`, which under create_graph
builds NEW Tensors (nodes do not point at their outputs), so each node also keeps its
output's tangents (`Function._out_tangents`), and `saved_tensors` puts them back on.

Batching (vmap). Inside `vmap`, a mapped value is a `BatchedTensor`: a view for one example
of a *physical* Tensor whose leading axes are the batch axes of its vmap levels (outer level
first). User code sees the logical shape; ops see the physical arrays. Each primitive has a
`batch` rule beside its other rules: it receives the physical inputs, lined up so that they
share the same leading batch axes (`Batch.nb` of them), and computes the op with ordinary ops
(`Sum` shifts its axes, `MatMul` treats the batch as matmul batch dimensions, elementwise ops
need nothing but a reshape for broadcasting, ...): JAX's design, a batching rule per
primitive. So vmap is one call per op over the whole batch, never a Python loop; only an op
without a batch rule (a user's own Function) falls back to a loop over the examples, with a
warning: correct, but slow.

Everything below a BatchedTensor is physical: the reverse graph records the physical
computation and tangents have the physical layout of their primal (a tangent batched where
its primal is not makes the primal batched too: `jacfwd`, a vmap of jvp over a basis of
tangents, computes the primal for every column in one batched pass, where JAX computes it
once). So forward mode never meets a BatchedTensor, and two consequences follow, both exact:
gradients through vmap are ordinary gradients of the physical computation; and per-example
gradients (`vmap(grad(loss))`) come from ONE backward pass: `grad` inside vmap makes each
input it differentiates batched (a broadcast view, one copy per example), and since vmap
never mixes examples, the gradient of the sum of the per-example losses with respect to
these copies is the stack of the per-example gradients. A cotangent that is batched where
the graph is not (`vmap(vjp_fn)`, as `jacrev` does) runs the backward rules themselves on
BatchedTensors.

A BatchedTensor has no single value: `.data`, `np.asarray`, `.item()` and `if t:` raise (as
JAX's tracers do), and so does using one after its vmap has returned. Comparisons give
batched boolean masks usable in `al.where`.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from autograd_lite import engine, functional, ops
from autograd_lite.engine import Function, _mode, enable_grad, is_grad_enabled, run_backward
from autograd_lite.tensor import Tensor, _tensor, value

__all__ = [
    "BatchedTensor",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jvp",
    "value_and_grad",
    "vjp",
    "vmap",
]

_JVP, _VMAP = "jvp", "vmap"


# --- levels ----------------------------------------------------------------------------------
class _Level:
    """One active transform: a jvp's perturbation, or a vmap's mapped axis (and its size)."""

    __slots__ = ("kind", "size", "number")
    _numbers = itertools.count()

    def __init__(self, kind: str, size: int | None = None) -> None:
        self.kind, self.size, self.number = kind, size, next(_Level._numbers)

    def __repr__(self) -> str:
        size = "" if self.size is None else f", size {self.size}"
        return f"<{self.kind} level {self.number}{size}>"


_count_lock = threading.Lock()


@contextlib.contextmanager
def _entered(level: _Level) -> Iterator[_Level]:
    """Make `level` the innermost active level of this thread for the `with` block."""
    previous = _mode.levels
    with _count_lock:
        engine._transforms_active += 1
    _mode.levels = (*previous, level)
    try:
        yield level
    finally:
        _mode.levels = previous
        with _count_lock:
            engine._transforms_active -= 1


def _active(levels: set | Sequence[_Level], where: str) -> tuple[_Level, ...]:
    """`levels` in nesting order; raises if one of them is no longer active."""
    ordered = tuple(lv for lv in _mode.levels if lv in levels)
    if len(ordered) != len(set(levels)):
        raise RuntimeError(
            f"{where}: a BatchedTensor was used after its vmap returned (or in another "
            "thread). Use the value vmap returns, not one saved from inside the mapped function."
        )
    return ordered


# --- Function.apply while a transform is active ----------------------------------------------
def _transformed(cls: type[Function], args: tuple, kwargs: dict) -> Any:
    """`cls.apply(*args, **kwargs)` inside jvp / vmap: batch, then differentiate forward."""
    for a in args:
        if type(a) is BatchedTensor:
            return _apply_batched(cls, args, kwargs)
    for a in kwargs.values():
        if type(a) is BatchedTensor:
            return _apply_batched(cls, args, kwargs)
    return _apply_forward(cls, args, kwargs)


def _tangent(x: Any, level: _Level) -> Any:
    tangents = getattr(x, "_tangents", None)
    return None if tangents is None else tangents.get(level)


def _apply_forward(cls: type[Function], args: tuple, kwargs: dict) -> Any:
    """The op on physical values: its primal by `apply`, then a tangent per jvp level."""
    levels = _mode.levels
    present = [
        lv for lv in levels if lv.kind is _JVP and any(_tangent(a, lv) is not None for a in args)
    ]
    _mode.levels = ()
    try:
        out = cls.apply(*args, **kwargs)
    finally:
        _mode.levels = levels
    if not present:
        return out
    tangents = out._tangents = {}
    if out._ctx is not None:  # the node keeps them for saved_tensors (forward-over-reverse)
        out._ctx._out_tangents = tangents
    for level in present:  # outer levels first: a rule may read the tangents of outer levels
        tangents[level] = _jvp_rule(cls, args, kwargs, out, level, levels)
    return out


@functools.cache
def _rule(cls: type[Function], name: str) -> Callable | None:
    """The op's `jvp` or `batch` rule, or None if it has none.

    A rule inherited from a class whose `forward` the op overrides is for another function
    (say `Min(Max)`): it counts as missing, so that it is never silently used.
    """
    for klass in cls.__mro__:
        if name in vars(klass):
            return getattr(cls, name)
        if "forward" in vars(klass):
            return None
    return None


def _jvp_rule(cls: type[Function], args: tuple, kwargs: dict, out: Tensor, level: _Level,
              levels: tuple) -> Any:  # fmt: skip
    """The tangent of `out` at `level`, by the op's jvp rule run at the levels outside it."""
    rule = _rule(cls, "jvp")
    if rule is None:
        raise RuntimeError(
            f"{cls.__name__} has no JVP rule, so forward mode (al.func.jvp, jacfwd, hessian, "
            f"hvp) cannot differentiate it. Give {cls.__name__} a staticmethod "
            "`jvp(ctx, *tangents, **params)` returning the output's tangent, or use a "
            "reverse-mode transform (grad, vjp, jacrev)."
        )
    outer = levels[: levels.index(level)]
    tangents = [_tangent(a, level) for a in args]
    ctx = cls()
    if _needs_tensors(args, tangents, outer):
        ctx.inputs, ctx.out = args, out
    else:  # nothing else needs to see this tangent: plain numpy, no graph
        ctx.inputs = tuple(a.data if isinstance(a, Tensor) else a for a in args)
        ctx.out = out.data
        tangents = [value(t) for t in tangents]
    _mode.levels = outer
    try:
        t = rule(ctx, *tangents, **kwargs)
    finally:
        _mode.levels = levels
    return _conform_tangent(cls, t, out)


def _needs_tensors(args: tuple, tangents: list, outer: tuple) -> bool:
    """Must the rule run on Tensors: to record a graph, or to carry outer tangents?"""
    grad_on = _mode.enabled
    outer_jvps = [lv for lv in outer if lv.kind is _JVP]
    for x in (*args, *tangents):
        if isinstance(x, Tensor):
            if grad_on and x.requires_grad:  # reverse-over-forward: the tangent has a gradient
                return True
            own = getattr(x, "_tangents", None)
            if own and any(lv in own for lv in outer_jvps):
                return True
    return False


def _conform_tangent(cls: type[Function], t: Any, out: Tensor) -> Any:
    """A rule's tangent with the output's shape (broadcast) and dtype, like `engine._conform`."""
    shape, dtype = out.data.shape, out.data.dtype
    if t is None:  # no input's tangent reaches the output
        return np.zeros(shape, dtype)
    if not isinstance(t, Tensor):
        t = np.asarray(t)
    if t.shape != shape:
        try:
            t = ops.BroadcastTo.apply(t, shape=shape)
        except ValueError:
            raise RuntimeError(
                f"{cls.__name__}.jvp returned a tangent of shape {t.shape} for an output of "
                f"shape {shape}"
            ) from None
    if t.dtype != dtype:
        t = t.astype(dtype)
    return t


# --- batched tensors -------------------------------------------------------------------------
_NO_VALUES = (
    "this tensor is batched by al.func.vmap: inside the mapped function it stands for every "
    "example at once, so it has no single value (.data, np.asarray, .item(), `if t:`, and "
    "indexing with it are not possible). Use al ops and Tensor methods (comparisons give "
    "batched masks for al.where), or compute values outside vmap."
)


class BatchedTensor(Tensor):
    """A Tensor inside `vmap`: the view of one example of a batch.

    It behaves as a Tensor of the logical shape (one example's); it is stored as a physical
    Tensor (`_inner`) whose leading axes are the batch axes of its vmap levels (`_levels`,
    outer first). Ops compute on the physical Tensor through each op's batch rule.
    """

    __slots__ = ("_inner", "_levels")
    _batched = True

    @property
    def data(self) -> np.ndarray:  # type: ignore[override]
        _active(self._levels, "BatchedTensor")  # raises if its vmap has returned
        raise RuntimeError(_NO_VALUES)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._inner.data.shape[len(self._levels) :]

    @property
    def ndim(self) -> int:
        return self._inner.data.ndim - len(self._levels)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def dtype(self) -> np.dtype:
        return self._inner.data.dtype

    @property
    def requires_grad(self) -> bool:  # type: ignore[override]
        return self._inner.requires_grad

    @property
    def grad(self) -> None:  # type: ignore[override]
        return None

    @property
    def _ctx(self) -> Any:  # type: ignore[override]
        raise RuntimeError(
            "al.grad / backward() on a batched tensor inside vmap: use al.func.grad or "
            "al.func.vjp (vmap(al.func.grad(loss)) gives per-example gradients)"
        )

    @property
    def is_leaf(self) -> bool:
        return self._inner._ctx is None

    @property
    def grad_fn(self) -> Any:
        return self._inner._ctx

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def item(self) -> float:
        raise RuntimeError(_NO_VALUES)

    def numpy(self) -> np.ndarray:
        raise RuntimeError(_NO_VALUES)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        raise RuntimeError(_NO_VALUES)

    def __bool__(self) -> bool:
        raise RuntimeError(_NO_VALUES)

    def backward(self, *args: Any, **kwargs: Any) -> None:
        self._ctx  # noqa: B018  (raises with the message that says what to do)

    def detach(self) -> BatchedTensor:
        return _wrap(self._inner.detach(), self._levels)

    def __repr__(self) -> str:
        levels = ", ".join(f"{lv.number} (size {lv.size})" for lv in self._levels)
        return f"BatchedTensor(shape={self.shape}, dtype={self.dtype}, vmap levels {levels})"

    __hash__ = Tensor.__hash__

    def _compare(self, other: Any, op: Callable) -> BatchedTensor:
        """A batched boolean mask (no gradient), as comparisons of Tensors give arrays."""
        levels = _union_levels((self, other), "comparison")
        b = Batch(levels, (True, type(other) is BatchedTensor))
        x, y = b.elementwise(_layout(self, levels), _layout(other, levels) if b.dims[1] else other)
        return _wrap(_tensor(np.asarray(op(value(x), value(y)))), levels)

    def __lt__(self, other: Any) -> BatchedTensor:  # type: ignore[override]
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> BatchedTensor:  # type: ignore[override]
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> BatchedTensor:  # type: ignore[override]
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> BatchedTensor:  # type: ignore[override]
        return self._compare(other, np.greater_equal)

    def __eq__(self, other: Any) -> BatchedTensor:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: Any) -> BatchedTensor:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in (np.shape, np.ndim, np.size) and len(args) == 1 and not kwargs:
            return getattr(self, func.__name__)  # the logical shape, as for a Tensor
        return super().__array_function__(func, types, args, kwargs)

    def _map_rows(self, fn: Callable[[np.ndarray], np.ndarray]) -> BatchedTensor:
        """A constant made by `fn` from the values, row by row (e.g. labels -> one-hot rows).

        `fn` maps an array of rows (axis 0) to an array with one row per row, each row on its
        own: it is applied to all the examples' rows at once.
        """
        physical = self._inner.data
        nb, logical = len(self._levels), self.shape
        rows = fn(physical.reshape((-1, *logical[1:])))
        return _wrap(_tensor(rows.reshape(physical.shape[: nb + 1] + rows.shape[1:])),
                     self._levels)  # fmt: skip


_new = object.__new__


def _wrap(x: Any, levels: tuple[_Level, ...]) -> Any:
    """The physical `x` (leading axes: `levels`) as a BatchedTensor; `x` itself if no level."""
    if not levels:
        return x
    bt = _new(BatchedTensor)
    bt._inner = x if isinstance(x, Tensor) else _tensor(np.asarray(x))
    bt._levels = levels
    return bt


def _levels_of(x: Any) -> tuple[_Level, ...]:
    return x._levels if type(x) is BatchedTensor else ()


def _union_levels(values: Sequence[Any], where: str) -> tuple[_Level, ...]:
    mine: set = set()
    for x in values:
        if type(x) is BatchedTensor:
            mine.update(x._levels)
    return _active(mine, where)


def _layout(x: Any, levels: tuple[_Level, ...]) -> Any:
    """The physical value of `x` with exactly the batch axes of `levels` in front.

    `x`'s own levels must be among `levels`; the axes it lacks are broadcast (a view).
    A Tensor stays on the graph and keeps its tangents (the reshapes are ops).
    """
    own = _levels_of(x)
    physical = x._inner if own else x
    if own == levels:
        return physical
    shape = np.shape(physical)
    logical, lead, k = shape[len(own) :], [], 0
    for lv in levels:
        if k < len(own) and own[k] is lv:
            lead.append(shape[k])
            k += 1
        else:
            lead.append(1)
    physical = ops.Reshape.apply(physical, shape=(*lead, *logical))
    return ops.BroadcastTo.apply(physical, shape=(*(lv.size for lv in levels), *logical))


def _apply_batched(cls: type[Function], args: tuple, kwargs: dict) -> BatchedTensor:
    """An op with batched inputs: its batch rule on the physical values (or a loop)."""
    levels = _union_levels((*args, *kwargs.values()), cls.__name__)
    dims = tuple(type(a) is BatchedTensor for a in args)
    physical = [_layout(a, levels) if d else a for a, d in zip(args, dims)]
    kwdims = frozenset(k for k, v in kwargs.items() if type(v) is BatchedTensor)
    if kwdims:  # parameters (where's condition) become physical arrays, without gradient
        kwargs = {k: value(_layout(v, levels)) if k in kwdims else v for k, v in kwargs.items()}
    b = Batch(levels, dims, kwdims)
    rule = _rule(cls, "batch")
    out = _loop(cls, b, physical, kwargs) if rule is None else rule(b, *physical, **kwargs)
    if not isinstance(out, Tensor) or out.shape[: b.nb] != b.sizes:
        shape = getattr(out, "shape", type(out).__name__)
        raise RuntimeError(
            f"{cls.__name__}.batch returned {shape}, not a Tensor with leading batch axes {b.sizes}"
        )
    return _wrap(out, levels)


_warned: set = set()


def _loop(cls: type[Function], b: Batch, args: list, kwargs: dict) -> Tensor:
    """An op without a batch rule: once per example, stacked (correct, slow; warns once)."""
    if cls not in _warned:
        _warned.add(cls)
        warnings.warn(
            f"vmap: {cls.__name__} has no batch rule, so it runs once per example in a Python "
            f"loop (correct but slow). Give {cls.__name__} a staticmethod "
            "`batch(b, *inputs, **params)` to compute it on the whole batch at once.",
            stacklevel=4,
        )
    outs = []
    for idx in np.ndindex(*b.sizes):
        one = [x[idx] if d else x for x, d in zip(args, b.dims)]
        params = {k: v[idx] if k in b.kwdims else v for k, v in kwargs.items()}
        outs.append(cls.apply(*one, **params))
    stacked = functional.stack(outs)
    return stacked.reshape(*b.sizes, *stacked.shape[1:])


class Batch:
    """What a batch rule is told about its inputs, with helpers to line them up.

    Each batched input arrives with `nb` leading batch axes of sizes `sizes` (the same for
    all of them); `dims[i]` says whether positional input i is batched, `kwdims` which
    parameters are. A rule returns its output with the same leading batch axes.
    """

    __slots__ = ("dims", "kwdims", "nb", "sizes")

    def __init__(self, levels: tuple[_Level, ...], dims: tuple, kwdims: frozenset = frozenset()):
        self.nb, self.sizes = len(levels), tuple(lv.size for lv in levels)
        self.dims, self.kwdims = dims, kwdims

    def ndim(self, x: Any, batched: bool = True) -> int:
        """The logical ndim of `x` (one example's)."""
        return np.ndim(x) - (self.nb if batched else 0)

    def pad(self, x: Any, ndim: int) -> Any:
        """Batched `x` with size-1 axes inserted after the batch axes up to logical `ndim`,
        so that numpy's broadcasting (which aligns trailing axes) lines examples up."""
        shape = np.shape(x)
        missing = ndim - (len(shape) - self.nb)
        if missing <= 0:
            return x
        return ops.Reshape.apply(x, shape=(*shape[: self.nb], *(1,) * missing, *shape[self.nb :]))

    def elementwise(self, *args: Any, dims: Sequence[bool] | None = None) -> tuple:
        """The inputs of an elementwise op, lined up for numpy broadcasting."""
        dims = self.dims if dims is None else dims
        ndim = max(self.ndim(a, d) for a, d in zip(args, dims))
        return tuple(self.pad(a, ndim) if d else a for a, d in zip(args, dims))

    def full(self, x: Any, batched: bool) -> Any:
        """`x` with the batch axes, broadcast if it has none (for ops that do not broadcast)."""
        if batched:
            return x
        return ops.BroadcastTo.apply(x, shape=(*self.sizes, *np.shape(x)))

    def axis(self, axis: int, ndim: int, op: str) -> int:
        """A logical axis of an ndim-d example as a physical axis."""
        if not -ndim <= axis < ndim:
            raise np.exceptions.AxisError(
                f"{op}: axis {axis} is out of bounds for array of dimension {ndim}"
            )
        return axis % ndim + self.nb

    def axes(self, axis: int | tuple | None, ndim: int, op: str) -> tuple[int, ...]:
        """Logical reduction axes (None: all) as physical axes."""
        if axis is None:
            return tuple(range(self.nb, self.nb + ndim))
        if ndim == 0:  # numpy accepts axis 0 / -1 of a 0-d array: nothing is reduced
            for ax in axis if isinstance(axis, tuple) else (axis,):
                self.axis(ax, 1, op)
            return ()
        return tuple(
            self.axis(ax, ndim, op) for ax in (axis if isinstance(axis, tuple) else (axis,))
        )

    def index(self, index: Any) -> tuple[tuple, int]:
        """A logical index as a physical one, and where numpy puts the batch axes.

        Advanced indices (arrays) separated by a slice, None or Ellipsis put their result
        axes FIRST (numpy's rule); then the batch axes follow them, at `position`.
        """
        index = index if isinstance(index, tuple) else (index,)
        physical = (slice(None),) * self.nb + index
        arrays = [k for k, i in enumerate(index) if _is_array_index(i)]
        if not arrays:
            return physical, 0
        advanced = [k for k, i in enumerate(index) if _is_array_index(i) or _is_int(i)]
        if advanced[-1] - advanced[0] + 1 == len(advanced):  # adjacent: they stay in place
            return physical, 0
        shapes = [_index_shape(index[k]) for k in advanced]
        return physical, len(np.broadcast_shapes(*shapes))

    def to_front(self, x: Any, position: int) -> Any:
        """Move the batch axes from `position` to the front."""
        if position == 0:
            return x
        nb, ndim = self.nb, np.ndim(x)
        axes = (*range(position, position + nb), *range(position), *range(position + nb, ndim))
        return ops.Transpose.apply(x, axes=axes)

    def from_front(self, x: Any, position: int) -> Any:
        """Move the batch axes from the front to `position` (undoes `to_front`)."""
        if position == 0:
            return x
        nb, ndim = self.nb, np.ndim(x)
        axes = (*range(nb, nb + position), *range(nb), *range(nb + position, ndim))
        return ops.Transpose.apply(x, axes=axes)


def _is_array_index(i: Any) -> bool:
    return isinstance(i, np.ndarray | list | bool | np.bool_)


def _is_int(i: Any) -> bool:
    return isinstance(i, int | np.integer) and not isinstance(i, bool)


def _index_shape(i: Any) -> tuple[int, ...]:
    if _is_int(i):
        return ()
    i = np.asarray(i)
    return (int(np.count_nonzero(i)),) if i.dtype == bool else i.shape


class _Identity(Function):
    """A new Tensor with the same value: the fresh input a transform attaches things to."""

    @staticmethod
    def forward(ctx, a):
        return a

    @staticmethod
    def backward(ctx, grad):
        return grad

    @staticmethod
    def jvp(ctx, t):
        return t

    @staticmethod
    def batch(b, x):
        return _Identity.apply(x)


def _fresh(x: Any, what: str) -> Tensor:
    """A new Tensor equal to `x` (an array or Tensor), on the graph and with the tangents of
    `x` (and batched like it), to which a transform attaches a tangent or makes a leaf."""
    dtype = x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype
    if dtype.kind != "f":  # (Tensor() would quietly make it float64)
        raise TypeError(f"{what} must have a floating point dtype, got {dtype}")
    return _Identity.apply(x if isinstance(x, Tensor) else Tensor(x))


# --- pytrees: tuples, lists and dicts of values ----------------------------------------------
_LEAF = "leaf"


def _flatten(tree: Any) -> tuple[list, Any]:
    """The leaves of nested tuples/lists/dicts (None is an empty subtree), and the structure."""
    leaves: list = []

    def walk(t: Any) -> Any:
        if isinstance(t, tuple | list):
            return (type(t), [walk(c) for c in t])
        if isinstance(t, dict):
            return (dict, [(k, walk(v)) for k, v in t.items()])
        if t is None:
            return (None, None)
        leaves.append(t)
        return _LEAF

    return leaves, walk(tree)


def _unflatten(spec: Any, leaves: Sequence) -> Any:
    it = iter(leaves)

    def build(s: Any) -> Any:
        if s is _LEAF:
            return next(it)
        kind, children = s
        if kind is None:
            return None
        if kind is dict:
            return {k: build(c) for k, c in children}
        items = [build(c) for c in children]
        return kind(*items) if hasattr(kind, "_fields") else kind(items)

    return build(spec)


def _argnums(argnums: int | Sequence[int], n: int, where: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or not all(isinstance(i, int) for i in nums):
        raise TypeError(f"{where}: argnums must be an int or a non-empty tuple of ints")
    for i in nums:
        if not -n <= i < n:
            raise ValueError(f"{where}: argnums {i} is out of range for {n} positional arguments")
    nums = tuple(i % n for i in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{where}: argnums {argnums} repeats an argument")
    return nums


def _shape_of(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, Tensor) else np.shape(x)


# --- reverse mode: vjp, grad -----------------------------------------------------------------
class _Pullback:
    """The vjp_fn of `vjp`: one backward pass per call through the graph `f` recorded."""

    def __init__(self, out: Any, leaves: list[Tensor], specs: list, levels: tuple, where: str):
        self.leaves, self.specs, self.levels, self.where = leaves, specs, levels, where
        self.flat_out, self.out_spec = _flatten(out)
        self._reaches_outside: bool | None = None
        self.built_graph = False

    def __call__(self, cotangent: Any, retain_graph: bool = True) -> tuple:
        _active(self.levels, self.where)  # its graph is batched: only inside its vmap
        flat, spec = _flatten(cotangent)
        if spec != self.out_spec:
            raise ValueError(
                f"{self.where}: the cotangent must have the structure of the output "
                f"({len(self.flat_out)} arrays), got {len(flat)}"
            )
        extra = tuple(  # levels of the cotangents that the recorded graph does not have
            lv for lv in _union_levels(flat, self.where) if lv not in self.levels
        )
        outputs, seeds = [], []
        for k, (o, c) in enumerate(zip(self.flat_out, flat)):
            if _shape_of(c) != _shape_of(o):
                raise ValueError(
                    f"{self.where}: cotangent {k} has shape {_shape_of(c)} but the output has "
                    f"{_shape_of(o)}"
                )
            if isinstance(o, Tensor) and o.requires_grad:
                outputs.append(_layout(o, self.levels))
                seeds.append(_seed(c, o.dtype, self.levels, extra))
        create_graph = self._create_graph(outputs, seeds, extra)
        self.built_graph = create_graph
        if create_graph:
            seeds = [s if isinstance(s, Tensor) else _tensor(s) for s in seeds]
        found = {}
        if outputs:
            found = run_backward(
                outputs, seeds, retain_graph or create_graph, create_graph, inputs=self.leaves
            )
        grads = [
            _cotangent(found.get(x if x._ctx is None else x._ctx), x, self.levels)
            for x in self.leaves
        ]
        results, start = [], 0
        for spec, n in self.specs:
            results.append(_unflatten(spec, grads[start : start + n]))
            start += n
        return tuple(results)

    def _create_graph(self, outputs: list, seeds: list, extra: tuple) -> bool:
        """Must the backward pass build a graph: for batched seeds, tangents, or an outer
        differentiation (grad of grad, or a closure over a Tensor that requires grad)?"""
        if extra or any(lv.kind is _JVP for lv in _mode.levels):
            return True
        if not is_grad_enabled():
            return False
        if any(isinstance(s, Tensor) and s.requires_grad for s in seeds):
            return True
        if self._reaches_outside is None:
            self._reaches_outside = _reaches_other_leaves(outputs, self.leaves)
        return self._reaches_outside


def _reaches_other_leaves(outputs: list[Tensor], leaves: list[Tensor]) -> bool:
    """Does the graph of `outputs` depend on a Tensor that requires grad, other than `leaves`?"""
    ours = set(leaves)
    seen: set = set()
    stack = [o._ctx for o in outputs if o._ctx is not None]
    while stack:
        node = stack.pop()
        if node in seen or node.edges is None:
            continue
        seen.add(node)
        for e in node.edges:
            if isinstance(e, Function):
                stack.append(e)
            elif e is not None and e.requires_grad and e not in ours:
                return True
    return False


def _seed(c: Any, dtype: Any, levels: tuple, extra: tuple) -> Any:
    """A cotangent as the seed of the physical graph: physical for the graph's `levels`,
    batched (a BatchedTensor) over the `extra` levels that only the cotangent has."""
    if not isinstance(c, Tensor):
        c = np.asarray(c)
    if c.dtype != dtype:
        c = c.astype(dtype)
    if not extra:
        return _layout(c, levels)
    full = tuple(lv for lv in _mode.levels if lv in levels or lv in extra)
    physical = _layout(c, full)
    front = [k for k, lv in enumerate(full) if lv in extra]
    back = [k for k, lv in enumerate(full) if lv not in extra]
    axes = (*front, *back, *range(len(full), np.ndim(physical)))
    if axes != tuple(range(len(axes))):
        physical = ops.Transpose.apply(physical, axes=axes)
    return _wrap(physical, tuple(full[k] for k in front))


def _cotangent(g: Any, leaf: Tensor, levels: tuple) -> Any:
    """The gradient the backward pass gave a leaf, as the caller's value (logical shape)."""
    if g is None:  # the output does not depend on this input
        return _wrap(_tensor(np.zeros(leaf.data.shape, leaf.data.dtype)), levels)
    if type(g) is BatchedTensor:  # batched over levels the graph does not have
        own = g._levels
        full = tuple(lv for lv in _mode.levels if lv in own or lv in levels)
        # physical axes: own levels, then the graph's levels, then the logical ones
        position = {lv: k for k, lv in enumerate(own + levels)}
        lead = tuple(position[lv] for lv in full)
        inner = g._inner
        if lead != tuple(range(len(lead))):
            inner = ops.Transpose.apply(inner, axes=(*lead, *range(len(lead), inner.ndim)))
        return _wrap(inner, full)
    if not isinstance(g, Tensor):
        g = _tensor(np.array(g, dtype=leaf.data.dtype, copy=True))
    return _wrap(g, levels)


def _vjp(f: Callable, args: tuple, nums: tuple[int, ...], has_aux: bool, where: str) -> tuple:
    """Run f with fresh leaves for the arguments `nums`: (output, pullback, aux)."""
    levels = tuple(lv for lv in _mode.levels if lv.kind is _VMAP)
    args = list(args)
    leaves, specs = [], []
    for i in nums:
        flat, spec = _flatten(args[i])
        new = []
        for x in flat:
            # A fresh Tensor per input, batched like every active vmap level: then the
            # gradient of the per-example outputs' sum is the per-example gradient.
            physical = _layout(_fresh(x, f"{where}: argument {i}"), levels)
            if physical._ctx is None:  # not on an outer graph: make it a leaf of ours
                physical.requires_grad = True
            leaves.append(physical)
            new.append(_wrap(physical, levels))
        args[i] = _unflatten(spec, new)
        specs.append((spec, len(flat)))
    with enable_grad():
        result = f(*args)
    aux = None
    if has_aux:
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"{where}: with has_aux=True, f must return a pair (output, aux)")
        result, aux = result
    return result, _Pullback(result, leaves, specs, levels, where), aux


def vjp(f: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """`(f(*primals), vjp_fn)`: vjp_fn(v) gives v^T J, one cotangent per primal (a tuple).

    As JAX's: the output and `v` may be a Tensor or tuples/lists/dicts of them. With
    `has_aux=True`, f returns `(output, aux)` and vjp returns `(output, vjp_fn, aux)`.
    """
    out, pullback, aux = _vjp(f, primals, tuple(range(len(primals))), has_aux, "vjp")
    return (out, pullback, aux) if has_aux else (out, pullback)


def value_and_grad(
    f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable:
    """A function returning `(f(*args), grad)`, or `((f(*args), aux), grad)` with has_aux.

    `f` must return a scalar (shape ()). The gradient has the structure of the argument
    `argnums` (a tuple of them when argnums is a tuple).
    """

    @functools.wraps(f)
    def value_and_grad_f(*args: Any) -> tuple:
        nums = _argnums(argnums, len(args), "grad")
        out, pullback, aux = _vjp(f, args, nums, has_aux, "grad")
        if _shape_of(out) != ():
            raise TypeError(
                f"grad: f must return a scalar (shape ()), got shape {_shape_of(out)}; "
                "use vjp or jacrev for other outputs"
            )
        grads = pullback(np.ones((), getattr(out, "dtype", np.float64)), retain_graph=False)
        if isinstance(out, Tensor) and not pullback.built_graph:
            out = out.detach()  # nothing outside needs its graph: let it go
        g = grads[0] if isinstance(argnums, int) else grads
        return ((out, aux) if has_aux else out), g

    return value_and_grad_f


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar function: `grad(f)(x)` = df/dx, shaped like x.

    `argnums` picks the argument(s) (an int, or a tuple: then a tuple of gradients). With
    `has_aux=True`, f returns `(output, aux)` and the result is `(grad, aux)`.
    """
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def grad_f(*args: Any) -> Any:
        out, g = vg(*args)
        return (g, out[1]) if has_aux else g

    return grad_f


# --- forward mode: jvp -----------------------------------------------------------------------
def jvp(f: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False) -> tuple:
    """`(f(*primals), J u)` by forward mode, u = `tangents` (one per primal, same shapes).

    No backward pass runs and no graph is recorded: every op computes its output's tangent
    beside its value. Returns `(out, tangent_out)`, or `(out, tangent_out, aux)` with
    has_aux. Tangents are cast to their primal's dtype.
    """
    if not isinstance(primals, tuple | list) or not isinstance(tangents, tuple | list):
        raise TypeError("jvp: primals and tangents must be tuples (one entry per argument)")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    with _entered(_Level(_JVP)) as level:
        args = []
        for i, (p, t) in enumerate(zip(primals, tangents)):
            flat_p, spec_p = _flatten(p)
            flat_t, spec_t = _flatten(t)
            if spec_p != spec_t:
                raise ValueError(f"jvp: tangent {i} must have the structure of primal {i}")
            args.append(_unflatten(spec_p, [_dual(x, u, level, i) for x, u in zip(flat_p, flat_t)]))
        result = f(*args)
        aux = None
        if has_aux:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError("jvp: with has_aux=True, f must return a pair (output, aux)")
            result, aux = result
        flat, spec = _flatten(result)
        tangent_out = _unflatten(spec, [_tangent_out(o, level) for o in flat])
    return (result, tangent_out, aux) if has_aux else (result, tangent_out)


def _dual(x: Any, u: Any, level: _Level, i: int) -> Any:
    """A fresh copy of primal `x` carrying tangent `u` at `level`."""
    a = _fresh(x, f"jvp: primal {i}")
    if _shape_of(u) != a.shape:
        raise ValueError(f"jvp: tangent {i} has shape {_shape_of(u)} but its primal has {a.shape}")
    levels = _union_levels((a, u), "jvp")
    if levels != _levels_of(a):  # a tangent batched where its primal is not: batch the primal
        a = _wrap(_layout(a, levels), levels)
    physical = a._inner if levels else a
    t = _layout(u if isinstance(u, Tensor) else np.asarray(u), levels)
    if t.dtype != physical.dtype:
        t = t.astype(physical.dtype)
    tangents = getattr(physical, "_tangents", None)
    if tangents is None:
        tangents = physical._tangents = {}
        if physical._ctx is not None:
            physical._ctx._out_tangents = tangents
    tangents[level] = t
    return a


def _tangent_out(o: Any, level: _Level) -> Any:
    """The tangent of output `o` at `level` (zeros if it does not depend on the primals)."""
    if not isinstance(o, Tensor):
        o = np.asarray(o)
        return _tensor(np.zeros(o.shape, o.dtype if o.dtype.kind == "f" else np.float64))
    levels = _levels_of(o)
    physical = o._inner if levels else o
    t = _tangent(physical, level)
    if t is None:
        t = np.zeros(physical.data.shape, physical.data.dtype)
    if not isinstance(t, Tensor):
        t = _tensor(np.array(t, copy=not t.flags.writeable or t.base is not None))
    return _wrap(t, levels)


def hvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple:
    """Hessian-vector products H u of a scalar f, one per primal, shaped like the primals.

    Forward-over-reverse, `jvp(grad(f, argnums=all), primals, tangents)[1]`: the Hessian
    is never formed (about the cost of two gradients).
    """
    if not isinstance(primals, tuple | list):
        raise TypeError("hvp: primals and tangents must be tuples (one entry per argument)")
    g = grad(f, argnums=tuple(range(len(primals))))
    return jvp(g, tuple(primals), tuple(tangents))[1]


# --- jacobians -------------------------------------------------------------------------------
def _with_leaf(args: tuple, i: int, j: int, leaf: Any) -> list:
    """`args` with leaf j of argument i replaced by `leaf`."""
    flat, spec = _flatten(args[i])
    flat[j] = leaf
    new = list(args)
    new[i] = _unflatten(spec, flat)
    return new


def _assemble(out_spec: Any, n_out: int, blocks: dict, args: tuple, nums: tuple,
              argnums: Any) -> Any:  # fmt: skip
    """The Jacobian from its blocks: per output leaf, structured like the argument (a tuple
    over the arguments when argnums is a tuple), as JAX's."""
    per_out = []
    for k in range(n_out):
        per_arg = []
        for i in nums:
            flat, spec = _flatten(args[i])
            per_arg.append(_unflatten(spec, [blocks[k, i, j] for j in range(len(flat))]))
        per_out.append(per_arg[0] if isinstance(argnums, int) else tuple(per_arg))
    return _unflatten(out_spec, per_out)


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian by forward mode (one jvp per input element, vmapped): shape
    out.shape + input.shape. Cheaper than jacrev when inputs are smaller than outputs."""

    @functools.wraps(f)
    def jacobian_f(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacfwd")
        args = tuple(_tree_map(_as_tensor, a) if i in nums else a for i, a in enumerate(args))
        blocks, out_spec, n_out = {}, None, 0
        for i in nums:
            for j, x in enumerate(_flatten(args[i])[0]):

                def column(u: Any, i: int = i, j: int = j, x: Any = x) -> Any:  # J u
                    return jvp(lambda leaf: f(*_with_leaf(args, i, j, leaf)), (x,), (u,))[1]

                shape = _shape_of(x)
                n = int(np.prod(shape))
                basis = np.eye(n, dtype=_float_dtype(x)).reshape((n, *shape))
                columns, out_spec = _flatten(vmap(column, out_axes=-1)(basis))
                n_out = len(columns)
                for k, c in enumerate(columns):  # out.shape + (n,) -> out.shape + x.shape
                    blocks[k, i, j] = c.reshape(*c.shape[:-1], *shape)
        return _assemble(out_spec, n_out, blocks, args, nums, argnums)

    return jacobian_f


def _float_dtype(x: Any) -> Any:
    dtype = x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype
    return dtype if dtype.kind == "f" else np.float64


def jacrev(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian by reverse mode (one forward, a vmapped backward over the output's
    elements): shape out.shape + input.shape. Cheaper than jacfwd for few outputs."""

    @functools.wraps(f)
    def jacobian_f(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacrev")
        out, pullback, _ = _vjp(f, args, nums, False, "jacrev")
        outs, out_spec = _flatten(out)
        shapes = [_shape_of(o) for o in outs]
        dtypes = [_float_dtype(o) for o in outs]
        blocks = {}
        for k, shape in enumerate(shapes):

            def row(c: Any, k: int = k) -> tuple:  # c^T J, zero cotangents for other outputs
                cts = [
                    c if q == k else np.zeros(s, d) for q, (s, d) in enumerate(zip(shapes, dtypes))
                ]
                return pullback(_unflatten(out_spec, cts))

            if shape == ():  # one row: no need to batch the backward pass
                rows = _tree_map(lambda r: r.reshape(1, *r.shape), row(np.ones((), dtypes[k])))
            else:
                m = int(np.prod(shape))
                rows = vmap(row)(np.eye(m, dtype=dtypes[k]).reshape((m, *shape)))
            for i, per_arg in zip(nums, rows):
                for j, r in enumerate(
                    _flatten(per_arg)[0]
                ):  # (m,) + x.shape -> out.shape + x.shape
                    blocks[k, i, j] = r.reshape(*shape, *r.shape[1:])
        return _assemble(out_spec, len(outs), blocks, args, nums, argnums)

    return jacobian_f


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _tree_map(fn: Callable, tree: Any) -> Any:
    leaves, spec = _flatten(tree)
    return _unflatten(spec, [fn(x) for x in leaves])


def jacobian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian by the cheaper mode: jacfwd when the inputs have fewer elements than the
    outputs, else jacrev (decided on the first evaluation)."""

    @functools.wraps(f)
    def jacobian_f(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacobian")
        n_in = sum(int(np.prod(_shape_of(x))) for i in nums for x in _flatten(args[i])[0])
        tensors = [_tree_map(_as_tensor, a) if i in nums else a for i, a in enumerate(args)]
        with engine.no_grad():  # f sees Tensors, as under the transforms
            out = f(*tensors)
        n_out = sum(int(np.prod(_shape_of(o))) for o in _flatten(out)[0])
        mode = jacfwd if n_in < n_out else jacrev
        return mode(f, argnums)(*args)

    return jacobian_f


def hessian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Hessian of a scalar function, jacfwd(jacrev(f)): shape x.shape + x.shape."""
    return jacfwd(jacrev(f, argnums), argnums)


# --- vmap ------------------------------------------------------------------------------------
def vmap(
    f: Callable, in_axes: int | None | Sequence = 0, out_axes: int | None | Sequence = 0
) -> Callable:
    """`f` mapped over an axis of its inputs, as one computation over the whole batch.

    in_axes: the mapped axis of every positional argument (an int), or one entry per
    argument (an int, or None for an argument passed whole to every example). out_axes:
    where the mapped axis goes in each output (None: the output must not depend on it).
    `vmap(f)(X)` equals stacking `f(x)` over the rows of X. Each op runs once on the batch
    through its batch rule; an op without one runs in a loop, with a warning.
    """

    @functools.wraps(f)
    def mapped(*args: Any) -> Any:
        axes = _in_axes(in_axes, len(args))
        size = None
        for i, (arg, ax) in enumerate(zip(args, axes)):
            if ax is None:
                continue
            for x in _flatten(arg)[0]:
                shape = _shape_of(x)
                if not -len(shape) <= ax < len(shape):
                    raise ValueError(
                        f"vmap: in_axes {ax} is out of range for argument {i} of shape {shape}"
                    )
                if size is None:
                    size = shape[ax]
                elif shape[ax] != size:
                    raise ValueError(
                        f"vmap: mapped axes have different sizes: {size} and {shape[ax]} "
                        f"(argument {i} of shape {shape}, in_axes {ax})"
                    )
        if size is None:
            raise ValueError("vmap: in_axes maps no argument; map at least one (an int axis)")
        with _entered(_Level(_VMAP, size)) as level:
            new = [
                arg if ax is None else _tree_map(lambda x, ax=ax: _mapped(x, ax, level), arg)
                for arg, ax in zip(args, axes)
            ]
            result = f(*new)
            flat, spec = _flatten(result)
            oaxes = _out_axes(out_axes, len(flat))
            pieces = [_unmapped(o, level, ax, k) for k, (o, ax) in enumerate(zip(flat, oaxes))]
        return _unflatten(spec, [_move_axis(p, ax) for p, ax in zip(pieces, oaxes)])

    return mapped


def _in_axes(in_axes: Any, n: int) -> list:
    if in_axes is None or isinstance(in_axes, int):
        axes = [in_axes] * n
    elif isinstance(in_axes, tuple | list):
        axes = list(in_axes)
        if len(axes) != n:
            raise ValueError(f"vmap: in_axes has {len(axes)} entries for {n} arguments")
    else:
        raise TypeError(f"vmap: in_axes must be an int, None or a tuple of them, got {in_axes!r}")
    for ax in axes:
        if not (ax is None or isinstance(ax, int)):
            raise TypeError(f"vmap: each entry of in_axes must be an int or None, got {ax!r}")
    return axes


def _out_axes(out_axes: Any, n: int) -> list:
    if out_axes is None or isinstance(out_axes, int):
        return [out_axes] * n
    axes = list(out_axes)
    if len(axes) != n:
        raise ValueError(f"vmap: out_axes has {len(axes)} entries for {n} outputs")
    return axes


def _mapped(x: Any, axis: int, level: _Level) -> BatchedTensor:
    """Argument `x` seen by one example: its `axis` becomes the batch axis of `level`."""
    t = x if isinstance(x, Tensor) else Tensor(x)
    ndim = t.ndim
    axis %= ndim
    if axis != 0:
        t = ops.Transpose.apply(t, axes=(axis, *(a for a in range(ndim) if a != axis)))
    return _wrap(t._inner if type(t) is BatchedTensor else t, (*_levels_of(t), level))


def _unmapped(o: Any, level: _Level, out_axis: int | None, k: int) -> Any:
    """Output `o` of the mapped function as a value with the mapped axis at axis 0."""
    if type(o) is BatchedTensor:
        _active(o._levels, "vmap")
        if level in o._levels:
            if out_axis is None:
                raise ValueError(
                    f"vmap: out_axes is None for output {k}, but it depends on the mapped axis"
                )
            return _wrap(o._inner, o._levels[:-1])  # `level` is the innermost: its axis leads
    if out_axis is None:
        return o
    if not isinstance(o, Tensor):
        o = Tensor(np.asarray(o))
    return ops.BroadcastTo.apply(o, shape=(level.size, *o.shape))  # the same for every example


def _move_axis(x: Any, axis: int | None) -> Any:
    if axis is None:
        return x
    ndim = x.ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"vmap: out_axes {axis} is out of range for an output of {ndim} dims")
    axis %= ndim
    if axis == 0:
        return x
    axes = list(range(1, ndim))
    axes.insert(axis, 0)
    return ops.Transpose.apply(x, axes=tuple(axes))
