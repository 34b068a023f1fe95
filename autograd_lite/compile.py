"""`al.compile`: record a function's ops once, then replay them as a flat list of numpy calls.

    step = al.compile(lambda x, y: al.softmax_cross_entropy(net(x), y, reduction="sum"))
    loss = step(X_batch, y_batch)     # a Tensor, as the function returns
    loss.backward()                   # fills .grad as usual

How it works:
1. Tracing. The first call for given argument shapes and dtypes (and grad mode) runs the
   function eagerly, as usual, while a recorder notes every op it runs (`Function.apply`):
   the op's class, where each input comes from (an argument, a Tensor the function reads
   from outside such as a module's weights, an earlier op, or a constant), and its
   parameters. The eager result is returned: the first call is an ordinary call.
2. Replay. Later calls with the same shapes run the recorded program, generated once as
   straight-line Python (print `plan.source`), in the recorded order, with the arguments'
   and the outside Tensors' current values (so an optimizer may change the weights between
   calls). For the ops of a typical network (matmul, linear, add, relu, cross-entropy) the
   numpy calls of the op's rules are written out, into arrays allocated once (`out=`); any
   other op runs its own `forward` on arrays. No Tensor or node is made per op and no
   graph is walked: `backward` runs the recorded ops' backward rules in reverse order,
   summing gradients where they meet. The returned Tensor has a single node whose
   inputs are the Tensors that require grad, so `loss.backward()` fills their `.grad` as
   usual (and hooks, `al.grad`, accumulation work as for any op). The same numpy operations
   run on the same values as in the eager call, so the numbers are identical.
3. A whole training step. The function may call `loss.backward()` itself and update the
   parameters in place under `al.no_grad()` (`p -= lr * p.grad`): both are recorded, and a
   replay leaves every `.grad` and `.data` as the eager call would. An optimizer's `step()`
   and `al.grad` inside a compiled function raise `TracingError` (call them after the
   compiled call, or write the update in place as above).

What cannot be replayed raises instead of giving a stale result. While tracing, the values
of the arguments and of every op's result are "traced arrays" (a numpy subclass):
- converting one to a Python bool, int or float (`if loss > 0:`, `float(t)`, `t.item()`,
  `range(n)` with a traced n) raises: Python control flow on values cannot be replayed (the
  same rule as JAX's `jit`). Compute on Tensors instead (`al.where`), or call the function
  without compiling it;
- numpy code on a traced array outside any op (`t.data * 2`, `x > 0`, `labels[idx]`) is
  recorded and replayed like an op, without a gradient (as comparisons have none);
- one thing it cannot see is `np.asarray(t.data)` or `np.array(t.data)`: numpy gives a plain
  array without asking, and values computed from that would be frozen at the first call.
Op outputs whose shape depends on values (boolean masks as indices) are checked at every
replay: a different shape traces again. New argument shapes, dtypes, Python scalar values
(-0.0 is not 0.0), an argument passed twice (or no longer twice) or grad mode trace again
too (a cache of the last `cache_size` traces per function), and so does a Tensor read from
outside whose shape, dtype or requires_grad changed since the trace, or a name the
function reads that was rebound since (`_Bindings`: its closure variables and globals, and
the attributes of the modules among them, `train()`/`eval()` included). Random draws from
numpy.random or from a Generator the function names raise (a replay would reuse them), and
so does a numpy call on a traced value that returns several arrays (`np.nonzero`).

A replayed result supports `backward()` (and `al.grad`) but not `create_graph=True`: call
the function without compiling it for gradients of gradients.
"""

from __future__ import annotations

import builtins
import dis
import functools
import operator
import threading
import types
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from autograd_lite import engine
from autograd_lite.engine import Function, TracingError, _mode
from autograd_lite.ops import weighted_gaps
from autograd_lite.tensor import Tensor, _tensor

__all__ = ["compile", "Compiled", "TracingError"]


_count_lock = threading.Lock()  # for engine._transforms_active, shared by all threads


# --- traced arrays ----------------------------------------------------------------------------
class _Traced(np.ndarray):
    """An array whose values depend on the inputs of the function being traced.

    numpy calls on it outside an op are recorded (and replayed); conversions to Python
    values raise, since Python control flow on them could not be replayed.
    """

    _traced = True

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if any(isinstance(x, Tensor) for x in inputs):
            return NotImplemented  # `traced @ tensor`: the Tensor's op records it
        return _record_value(
            getattr(ufunc, method), inputs, kwargs, f"numpy.{ufunc.__name__}", fixed_shape=True
        )

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if any(issubclass(t, Tensor) for t in types):
            return NotImplemented  # np.concatenate([traced, tensor]): the Tensor's op
        return _record_value(func, args, kwargs, f"numpy.{func.__name__}")

    def __getitem__(self, index: Any) -> Any:
        return _record_value(operator.getitem, (self, index), {}, "indexing")

    def copy(self, order: str = "C") -> Any:  # noqa: D102
        return _record_value(np.copy, (self,), {"order": order}, "copy")

    def astype(self, dtype: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        return _record_value(_astype, (self, dtype, *args), kwargs, "astype")

    def argmax(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        return _record_value(np.argmax, (self, *args), kwargs, "argmax")

    # Methods that numpy runs without asking the subclass: recorded like the functions.
    def reshape(self, *shape: Any, **kwargs: Any) -> Any:  # noqa: D102
        shape = shape[0] if len(shape) == 1 else shape
        return _record_value(np.reshape, (self, shape), kwargs, "reshape")

    def transpose(self, *axes: Any) -> Any:  # noqa: D102
        axes = axes[0] if len(axes) == 1 else (axes or None)
        return _record_value(np.transpose, (self, axes), {}, "transpose")

    @property
    def T(self) -> Any:  # noqa: N802, D102
        return _record_value(np.transpose, (self,), {}, ".T")

    def swapaxes(self, axis1: int, axis2: int) -> Any:  # noqa: D102
        return _record_value(np.swapaxes, (self, axis1, axis2), {}, "swapaxes")

    def ravel(self, order: str = "C") -> Any:  # noqa: D102
        return _record_value(np.ravel, (self, order), {}, "ravel")

    def flatten(self, order: str = "C") -> Any:  # noqa: D102
        return _record_value(np.ravel, (self.copy(order), order), {}, "flatten")

    def squeeze(self, axis: Any = None) -> Any:  # noqa: D102
        return _record_value(np.squeeze, (self, axis), {}, "squeeze")

    def dot(self, other: Any) -> Any:  # noqa: D102
        return _record_value(np.dot, (self, other), {}, "dot")

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TracingError(
            "al.compile: writing into a traced array (t[i] = v, t.data[i] = v, zero_()) "
            "cannot be recorded; "
            "compute a new value with ops (al.where) instead"
        )

    def fill(self, value: Any) -> None:  # noqa: D102
        self[...] = value

    def argmin(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        return _record_value(np.argmin, (self, *args), kwargs, "argmin")

    def _concrete(self, what: str) -> Any:
        raise TracingError(
            f"al.compile: {what} of a traced value. Python code that branches on (or converts) "
            "the values of a compiled function's tensors cannot be replayed: the branch taken "
            "at the first call would be taken for every later call. Compute with ops instead "
            "(al.where, comparisons give traced masks), or call the function uncompiled."
        )

    def __bool__(self) -> bool:
        return self._concrete("bool()")

    def __float__(self) -> float:
        return self._concrete("float()")

    def __int__(self) -> int:
        return self._concrete("int()")

    def __index__(self) -> int:
        return self._concrete("use as an index or an int")

    def __complex__(self) -> complex:
        return self._concrete("complex()")

    def item(self, *args: Any) -> Any:  # noqa: D102
        return self._concrete("item()")

    def tolist(self) -> Any:  # noqa: D102
        return self._concrete("tolist()")

    def __repr__(self) -> str:
        return f"<traced array shape={self.shape} dtype={self.dtype}>"

    __str__ = __repr__


def _owner(a: np.ndarray) -> Any:
    """The array that owns `a`'s memory (numpy points a view's `.base` at it)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _traced_base(a: np.ndarray) -> Any:
    """The first traced array among `a`'s bases (a plain view of one), or None."""
    base = a.base
    while isinstance(base, np.ndarray):
        if isinstance(base, _Traced):
            return base
        base = base.base
    return None


def _where(a: np.ndarray) -> tuple:
    """Which values `a` shows: its memory address, shape, strides and dtype."""
    return (a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)


def _astype(a: np.ndarray, dtype: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    return a.astype(dtype, *args, **kwargs)


def _plain(a: np.ndarray) -> np.ndarray:
    return a.view(np.ndarray)


def _record_value(
    fn: Callable, args: tuple, kwargs: dict, name: str, fixed_shape: bool = False
) -> Any:
    """A numpy call on traced arrays outside any op: recorded, or computed if not tracing."""
    recorder = _mode.recorder
    if recorder is None:  # a traced array kept after its trace: plain numpy
        args, kwargs = _unwrap(args), _unwrap(kwargs)
        return fn(*args, **kwargs)
    return recorder.value(fn, args, kwargs, name, fixed_shape)


def _unwrap(x: Any) -> Any:
    """`x` with every traced array (also inside tuples, lists and dicts) as a plain one."""
    if isinstance(x, _Traced):
        return _plain(x)
    if type(x) in (tuple, list):
        return type(x)(_unwrap(i) for i in x)
    if type(x) is dict:
        return {k: _unwrap(v) for k, v in x.items()}
    return x


# --- the recorded program -------------------------------------------------------------------
class _Ref:
    """A reference to value slot `slot` inside an instruction's arguments."""

    __slots__ = ("slot",)

    def __init__(self, slot: int) -> None:
        self.slot = slot


def _refs(x: Any) -> list[int]:
    """The slots referred to inside an instruction's arguments."""
    if type(x) is _Ref:
        return [x.slot]
    if type(x) in (tuple, list):
        return [s for i in x for s in _refs(i)]
    if type(x) is dict:
        return [s for v in x.values() for s in _refs(v)]
    return []


def _has_ref(x: Any) -> bool:
    if type(x) is _Ref:
        return True
    if type(x) in (tuple, list):
        return any(_has_ref(i) for i in x)
    if type(x) is dict:
        return any(_has_ref(v) for v in x.values())
    return False


class _Op:
    """One recorded op: `cls.forward` on its inputs, its output in slot `out`."""

    __slots__ = ("cls", "args", "kwargs", "dynamic", "needs", "out", "shape")

    def __init__(self, cls, args, kwargs, needs, out, shape) -> None:  # noqa: ANN001
        self.cls, self.args, self.kwargs, self.needs, self.out, self.shape = (
            cls,
            args,
            kwargs,
            needs,
            out,
            shape,
        )
        self.dynamic = _has_ref(kwargs)  # a parameter that is a traced value (an index)


class _Value:
    """One recorded numpy call outside any op (no gradient flows through it)."""

    __slots__ = ("fn", "args", "kwargs", "out", "shape", "fixed_shape")

    def __init__(self, fn, args, kwargs, out, shape, fixed_shape) -> None:  # noqa: ANN001
        self.fn, self.args, self.kwargs, self.out, self.shape = fn, args, kwargs, out, shape
        self.fixed_shape = fixed_shape  # a ufunc: no shape to check at replay


class _Backward:
    """`loss.backward()` called inside the function: the recorded ops' rules, in reverse."""

    __slots__ = ("out", "seed", "grads")

    def __init__(self, out: int, seed: Any, grads: list[tuple[int, int]]) -> None:
        self.out, self.seed = out, seed  # the loss's slot; its gradient (None: ones)
        self.grads = grads  # (slot of a leaf's data, slot that receives its gradient)


class _Recorder:
    """Notes the ops and numpy calls of one traced call, and which values they use."""

    def __init__(self) -> None:
        self.program: list[_Op | _Value] = []
        self.slots: dict[int, int] = {}  # id(traced array) -> its slot
        self.views: dict[tuple, int] = {}  # where a traced array's values lie -> its slot
        self.owners: set[int] = set()  # id() of the arrays that own traced memory
        self.keep: list[Any] = []  # the traced arrays (so that their ids stay theirs)
        self.kinds: list[tuple] = []  # per slot: ("arg", i) | ("outside", Tensor) | ("op", k)
        self.shapes: list[tuple] = []  # per slot: (shape, dtype)
        self.tensors: dict[int, int] = {}  # id(Tensor) -> slot, for Tensors seen as op inputs
        self.outside: list[tuple[Tensor, np.ndarray]] = []  # outside Tensors and their data
        self.args: list[tuple[Tensor, np.ndarray]] = []  # argument Tensors and their data

    def new_slot(self, kind: tuple, array: np.ndarray) -> tuple[int, _Traced]:
        slot = len(self.kinds)
        traced = array.view(_Traced)
        self.kinds.append(kind)
        self.shapes.append((array.shape, array.dtype))
        self.slots[id(traced)] = slot
        self.views.setdefault(_where(traced), slot)
        self.owners.add(id(_owner(traced)))
        self.keep.append(traced)
        return slot, traced

    def ref(self, x: Any, where: str) -> Any:
        """`x` in an instruction: a _Ref for a traced value, else the constant itself."""
        if isinstance(x, _Traced):
            slot = self.slots.get(id(x))
            if slot is None:
                raise TracingError(
                    f"al.compile: {where} got a traced array that no recorded call produced "
                    "(a view or copy made without numpy's knowledge): compute it with ops"
                )
            return _Ref(slot)
        if isinstance(x, np.ndarray) and _traced_base(x) is not None:
            raise TracingError(
                f"al.compile: {where} got a plain array made from a traced value that no "
                "recorded call produced: its values would be frozen at the first call"
            )
        if isinstance(x, np.ndarray) and x.base is not None and id(_owner(x)) in self.owners:
            slot = self.views.get(_where(x))  # np.asarray(traced): a plain view of it
            if slot is not None:
                return _Ref(slot)
            raise TracingError(
                f"al.compile: {where} got a plain array made from a traced one (a slice or "
                "view of np.asarray(t.data)?): its values would be frozen at the first call; "
                "compute it with ops or with numpy on the traced value itself"
            )
        if type(x) in (tuple, list):
            return type(x)(self.ref(i, where) for i in x)
        if type(x) is dict:
            return {k: self.ref(v, where) for k, v in x.items()}
        return x

    def tensor_ref(self, t: Tensor) -> Any:
        """A Tensor input of an op: its slot (an outside Tensor gets one the first time)."""
        data = t.data
        if isinstance(data, _Traced):
            return self.ref(data, "an op")
        slot = self.tensors.get(id(t))
        if slot is None:  # read from outside the function (a weight): its data, read afresh
            slot, traced = self.new_slot(("outside", t), data)
            self.tensors[id(t)] = slot
            self.outside.append((t, data))
            t.data = traced  # traced while the trace runs; put back afterwards
        return _Ref(slot)

    def op(self, cls: type[Function], args: tuple, kwargs: dict) -> Any:
        """`cls.apply(*args, **kwargs)`, recorded."""
        if _mode.levels:
            raise TracingError(
                "al.compile: al.func transforms (vmap, jvp, ...) inside a compiled function "
                "cannot be recorded; compile a function that calls the transformed one, or "
                "call it uncompiled"
            )
        refs = [self.tensor_ref(a) if isinstance(a, Tensor) else self.ref(a, cls.__name__)
                for a in args]  # fmt: skip
        kw = self.ref(kwargs, cls.__name__)
        # Run the op itself on plain arrays: the inputs' traced data are swapped for plain
        # views for the call (so forward's numpy is not recorded), then put back.
        tensors = [a for a in args if isinstance(a, Tensor)]
        saved = [t.data for t in tensors]
        for t in tensors:
            t.data = _plain(t.data)
        plain_args = tuple(_unwrap(a) if not isinstance(a, Tensor) else a for a in args)
        _mode.recorder = None
        try:
            out = cls.apply(*plain_args, **_unwrap(kwargs))
        finally:
            _mode.recorder = self
            for t, d in zip(tensors, saved):
                t.data = d
        if not isinstance(out, Tensor):  # an op applied to constants only: a constant
            return out
        k = len(self.program)
        slot, traced = self.new_slot(("op", k), out.data)
        out.data = traced
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        self.program.append(_Op(cls, refs, kw, needs, slot, out.data.shape))
        return out

    def backward(self, tensor: Tensor, gradient: Any, retain_graph: Any, create_graph: bool,
                 inputs: Any) -> None:  # fmt: skip
        """`tensor.backward()` inside the function: run it, and record it for the replays."""
        if create_graph or inputs is not None:
            raise TracingError(
                "al.compile: backward(create_graph=..., inputs=...) inside a compiled function "
                "cannot be recorded; call the function uncompiled"
            )
        out = self.slots.get(id(tensor.data)) if isinstance(tensor.data, _Traced) else None
        if out is None or self.kinds[out][0] != "op":
            raise TracingError("al.compile: backward() of a Tensor the function did not compute")
        leaves = [t for t, _ in self.args + self.outside if t.requires_grad]
        for t in leaves:
            if t._ctx is not None:
                raise TracingError(
                    "al.compile: backward() inside a compiled function whose inputs carry a "
                    "graph of their own (a Tensor computed outside it) cannot be recorded"
                )
            if t.grad is not None:
                raise TracingError(
                    "al.compile: inside a compiled function, backward() needs the gradients "
                    "it fills to be None first (call zero_grad(), or set p.grad = None, inside "
                    "the function): a gradient kept from an earlier call would be frozen"
                )
        seed = None if gradient is None else self.ref(gradient, "backward()")
        tensor.data = _plain(tensor.data)
        _mode.recorder = None
        try:  # this call's own backward, eagerly (the replays run the recorded one)
            engine.backward(tensor, _unwrap(gradient), retain_graph, False, None)
        finally:
            _mode.recorder = self
            tensor.data = self.keep[out]
        grads = []
        for t in leaves:
            if t.grad is not None:
                slot, traced = self.new_slot(("grad", len(self.program)), t.grad)
                t.grad = traced
                grads.append((self.tensors[id(t)], slot))
        self.program.append(_Backward(out, seed, grads))

    def value(self, fn: Callable, args: tuple, kwargs: dict, name: str, fixed_shape: bool) -> Any:
        refs, kw = self.ref(args, name), self.ref(kwargs, name)
        _mode.recorder = None
        try:
            result = fn(*_unwrap(args), **_unwrap(kwargs))
        finally:
            _mode.recorder = self
        if isinstance(result, Tensor):
            raise TracingError(f"al.compile: {name} mixed a traced array with a Tensor")
        if type(result) in (tuple, list) and any(
            isinstance(r, np.ndarray | np.generic) for r in result
        ):  # (each array would be a constant of the trace, frozen at every replay)
            raise TracingError(
                f"al.compile: {name} of a traced value returns several arrays, which a trace "
                "cannot record; compute with ops instead (al.where with a mask, indexing), or "
                "call the function uncompiled"
            )
        if not isinstance(result, np.ndarray | np.generic):
            return result  # e.g. a shape: no values involved
        result = np.asarray(result)
        slot, traced = self.new_slot(("value", len(self.program)), result)
        self.program.append(_Value(fn, refs, kw, slot, result.shape, fixed_shape))
        return traced


class _Retrace(Exception):
    """A replayed op gave another shape than when traced: trace this call again."""


class _Rule:
    """One recorded op in a replay: its own `forward` and `backward` rules on arrays."""

    keeps_output = keeps_inputs = True  # (its saved values may be either)
    writes_over = ()  # which inputs' arrays it may write its output into (see _Plan)
    exact = False  # its gradients may need summing to their inputs' shapes (engine._conform)

    def __init__(self, ins: _Op, shapes: list) -> None:
        self.cls, self.needs, self.kwargs, self.shape = ins.cls, ins.needs, ins.kwargs, ins.shape
        self.ctx: Any = None
        self.release = True  # free its saved values after its backward (_Plan: unless a
        # second backward() inside the function runs it again)

    def forward(self, *arrays: Any, **kwargs: Any) -> np.ndarray:
        ctx = self.ctx = self.cls()
        ctx.needs_input_grad = self.needs
        out = self.cls.forward(ctx, *arrays, **(kwargs or self.kwargs))
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if out.shape != self.shape:  # a shape that depends on values (a boolean index)
            raise _Retrace
        return out

    def backward(self, grad: np.ndarray) -> tuple:
        grads = self.cls.backward(self.ctx, grad)
        if self.release:
            self.ctx = None  # its saved arrays can go
        if type(grads) is not tuple:
            grads = tuple(grads) if isinstance(grads, list) else (grads,)
        return grads


# --- kernels: the same numpy calls as an op's rules, written into the generated code --------
# A replay runs each op's own `forward` and `backward` (`_Rule`). For the ops of a typical
# network there is a faster way that computes exactly the same numbers: a kernel writes the
# op's numpy calls straight into the generated code (no Python call per op), each writing
# into an array allocated once per compiled shape (numpy's `out=`), so a replay allocates
# (and page-faults) almost nothing. A kernel is an optimisation only: an op without one, or
# a case a kernel does not take (`make` returns None), replays through its rules.
# tests/test_compile.py checks every kernel against the op's rules bit for bit.
_KERNELS: dict | None = None


def _kernel(ins: _Op, shapes: list) -> Any:
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = _kernels()
    make = _KERNELS.get(ins.cls)
    if make is not None and not ins.dynamic and all(type(a) is _Ref for a in ins.args):
        in_shapes = [shapes[a.slot] if type(a) is _Ref else None for a in ins.args]
        kernel = make(ins, in_shapes)
        if kernel is not None:
            return kernel
    return _Rule(ins, shapes)


def _arrays_of(in_shapes: list, ndims: tuple) -> bool:
    """Are the inputs traced arrays of these ndims and all of one float dtype?"""
    if len(in_shapes) != len(ndims) or any(s is None for s in in_shapes):
        return False
    dtypes = {dtype for _, dtype in in_shapes}
    return (
        len(dtypes) == 1
        and next(iter(dtypes)).kind == "f"
        and all(len(shape) == n for (shape, _), n in zip(in_shapes, ndims))
    )


class _Kernel:
    """What the kernels share: the arrays they write into, named in the generated code.

    `forward_code(out, ins)` gives the lines computing the op's output into variable `out`
    from the variables `ins`; `backward_code(g, targets, fresh, g_owned, g_ones)` the lines
    computing the gradient of each input into variable `targets[i]` (None: not needed) from
    `g`: a new array where `fresh[i]` (it becomes a `.grad`), else perhaps one of the
    kernel's own. `g_owned`: nothing but this op reads `g`, so the kernel may write over it;
    `g_ones`: `g` is the ones that backward() starts from. It returns the lines and, per
    target, whether its array is private (no other variable holds it).
    An array the kernel writes into is allocated when the code is generated and is named
    `op<k>_<what>` (print `plan.source`); `op<k>` is the kernel itself.
    """

    keeps_output = keeps_inputs = True  # does its backward read its output / its inputs?
    writes_over: tuple = ()  # which inputs' arrays it may write its output into (see _Plan)
    exact = True  # its gradients have their inputs' shapes and dtypes: no check needed
    fresh_output = False  # is its output a new array at every call?
    saved: tuple = ()  # the forward's variables that its backward reads (set by forward_code)

    def __init__(self, ins: _Op, in_shapes: list) -> None:
        self.ins, self.in_shapes, self.dtype = ins, in_shapes, in_shapes[0][1]
        self.prefix = self.out_name = ""  # "op<k>", and the array its output goes to (_Plan)
        self.env: dict[str, Any] = {}  # the generated code's namespace (_Plan)

    def buffer(self, what: str, shape: tuple, dtype: Any = None) -> str:
        """The name of this kernel's array `what`, allocated the first time it is asked for."""
        name = f"{self.prefix}_{what}"
        if name not in self.env:
            self.env[name] = np.empty(shape, self.dtype if dtype is None else dtype)
        return name

    def output(self) -> str:
        """The name of the array the output goes to (perhaps an input's, see _Plan)."""
        if self.out_name not in self.env:
            self.env[self.out_name] = np.empty(self.ins.shape, self.dtype)
        return self.out_name


class _LinearKernel(_Kernel):
    """ops.Linear for a batch of rows: x (N, I) @ W (I, O) + b (O,)."""

    keeps_output, keeps_inputs = False, True

    @classmethod
    def make(cls, ins: _Op, in_shapes: list) -> Any:
        bias = len(ins.args) == 3 and in_shapes[2] is not None
        if not _arrays_of(in_shapes[: 3 if bias else 2], (2, 2, 1)[: 3 if bias else 2]):
            return None
        if len(ins.args) == 3 and not bias:
            return None  # a bias that is a constant, not a traced array
        return cls(ins, in_shapes, bias)

    def __init__(self, ins: _Op, in_shapes: list, bias: bool) -> None:
        super().__init__(ins, in_shapes)
        self.bias = bias
        self.x = self.w = ""

    def forward_code(self, out: str, ins: list[str]) -> list[str]:
        """As Linear.forward: x @ W, then += b in place."""
        self.x, self.w = ins[:2]
        self.saved = (self.x, self.w)
        lines = [f"{out} = matmul({self.x}, {self.w}, out={self.output()})"]
        if self.bias:
            lines.append(f"add({out}, {ins[2]}, out={out})")
        return lines

    def backward_code(
        self, g: str, targets: list, fresh: list, g_owned: bool, g_ones: bool, spare: Any
    ) -> tuple:
        """As Linear.backward: g @ W^T, x^T @ g, and g summed over rows for the bias.

        The gradient of x comes last: it may go into `spare`, x's own array (x^T @ g has
        read it by then), when nothing else needs x any more.
        """
        calls = [  # per input: the name of its gradient's array, and the call (without out=)
            ("gx", f"matmul({g}, {self.w}.T"),
            ("gw", f"matmul({self.x}.T, {g}"),
            ("gb", f"add.reduce({g}, axis=0"),
        ]
        lines = []
        for i in (1, 2, 0) if len(targets) == 3 else (1, 0):
            (what, call), t, (shape, _) = calls[i], targets[i], self.in_shapes[i]
            if t is None:
                continue
            if fresh[i]:  # a .grad: a new array
                into = ""
            elif i == 0 and spare is not None:
                into = f", out={spare}"
            else:
                into = f", out={self.buffer(what, shape)}"
            lines.append(f"{t} = {call}{into})")
        return lines, [t is not None for t in targets]


class _MatMulKernel(_LinearKernel):
    """ops.MatMul of two matrices: a (N, K) @ b (K, M)."""

    @classmethod
    def make(cls, ins: _Op, in_shapes: list) -> Any:
        return cls(ins, in_shapes, False) if _arrays_of(in_shapes, (2, 2)) else None


class _ReLUKernel(_Kernel):
    """ops.ReLU: max(a, 0); its gradient where the output is positive."""

    keeps_output, keeps_inputs, writes_over = False, False, (0,)

    @classmethod
    def make(cls, ins: _Op, in_shapes: list) -> Any:
        return cls(ins, in_shapes) if _arrays_of(in_shapes, (len(ins.shape),)) else None

    def forward_code(self, out: str, ins: list[str]) -> list[str]:
        """As ReLU.forward: np.maximum(a, 0). Where the output is positive (what its backward
        needs) is noted at once, while the output is at hand: the backward needs no more of
        the output, whose array the next ops may then write over."""
        lines = [f"{out} = maximum({ins[0]}, 0, out={self.output()})"]
        if self.ins.needs[0]:
            lines.append(f"greater({out}, 0, out={self.buffer('mask', self.ins.shape, bool)})")
        return lines

    def backward_code(
        self, g: str, targets: list, fresh: list, g_owned: bool, g_ones: bool, spare: Any
    ) -> tuple:
        """As ReLU.backward: g * (out > 0), over g itself when nothing else reads g."""
        (t,), (new,) = targets, fresh
        if t is None:
            return [], [False]
        if new:  # a .grad: a new array
            into = ""
        elif g_owned:  # over g itself: one array less to go through
            into = f", out={g}"
        else:
            into = f", out={self.buffer('grad', self.ins.shape)}"
        return [f"{t} = multiply({g}, {self.prefix}_mask{into})"], [True]


class _AddKernel(_Kernel):
    """ops.Add of two traced arrays of one dtype (broadcasting; the replay sums back)."""

    keeps_output, keeps_inputs, writes_over = False, False, (0, 1)

    @classmethod
    def make(cls, ins: _Op, in_shapes: list) -> Any:
        if None in in_shapes or not _arrays_of(in_shapes, tuple(len(s) for s, _ in in_shapes)):
            return None
        return cls(ins, in_shapes)

    def forward_code(self, out: str, ins: list[str]) -> list[str]:
        """As Add.forward: a + b."""
        return [f"{out} = add({ins[0]}, {ins[1]}, out={self.output()})"]

    def backward_code(
        self, g: str, targets: list, fresh: list, g_owned: bool, g_ones: bool, spare: Any
    ) -> tuple:
        """As Add.backward: g to both, each summed to its input's shape as engine.sum_to does
        (leading axes first, then the size-1 ones, kept)."""
        lines, private = [], []
        out_shape = self.ins.shape
        passed = sum(t is not None and s == out_shape for t, (s, _) in zip(targets, self.in_shapes))
        for t, new, (shape, _) in zip(targets, fresh, self.in_shapes):
            plan = _sum_plan(out_shape, shape)
            if t is None:
                private.append(False)
            elif not plan:  # the same shape: g itself (private if it goes nowhere else)
                lines.append(f"{t} = {g}.copy()" if new else f"{t} = {g}")
                private.append(new or (g_owned and passed == 1))
            else:
                lead, axes = plan
                expr = g
                if lead:
                    expr = f"add.reduce({expr}, axis={0 if lead == 1 else tuple(range(lead))})"
                if axes:
                    expr = f"add.reduce({expr}, axis={axes}, keepdims=True)"
                lines.append(f"{t} = {expr}")
                private.append(True)
        return lines, private


def _sum_plan(out_shape: tuple, shape: tuple) -> tuple:
    """How engine.sum_to takes a gradient of `out_shape` to `shape`: (lead, axes), or ()."""
    if out_shape == shape:
        return ()
    lead = len(out_shape) - len(shape)
    rest = out_shape[lead:]
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and rest[i] != 1)
    return (lead, axes)


class _CrossEntropyKernel(_Kernel):
    """ops.SoftmaxCrossEntropy: (N, C) logits, labels or probability rows."""

    keeps_output, keeps_inputs = False, True
    fresh_output = True  # the loss: np.array(...), or a sum of rows

    @classmethod
    def make(cls, ins: _Op, in_shapes: list) -> Any:
        if in_shapes[0] is None or len(in_shapes[0][0]) != 2 or in_shapes[0][1].kind != "f":
            return None
        return cls(ins, in_shapes)

    def __init__(self, ins: _Op, in_shapes: list) -> None:
        super().__init__(ins, in_shapes)
        self.reduction = ins.kwargs.get("reduction", "mean")
        self.eye = np.eye(in_shapes[0][0][1], dtype=self.dtype)
        # Class labels (N,), the usual targets: one-hot rows made in the generated code. (Their
        # shape and dtype are the traced call's: an argument's are in the signature.)
        shape, dtype = in_shapes[1]
        self.labels = len(shape) == 1 and dtype.kind in "iu" and shape[0] > 0

    def rows(self, targets: np.ndarray, logits: np.ndarray) -> tuple:
        """The targets as rows (one-hot rows of labels, as ops._target_rows makes them, or its
        error), and for probability rows their sums (else None). For targets that are not
        labels, and for the error of a label out of range."""
        dtype = targets.dtype
        labels = targets.ndim == 1 and dtype.kind in "iu" and targets.size
        # (take(), like indexing, would count a negative label from the end: checked first)
        if labels and (dtype.kind == "u" or np.minimum.reduce(targets) >= 0):
            try:
                return self.eye.take(targets, axis=0), None  # (the rows of eye[targets])
            except IndexError:
                pass  # a label too large: _target_rows says which
        from autograd_lite.ops import _target_rows

        rows = _target_rows(targets, logits)
        return rows, None if rows is not targets else targets.sum(axis=1, keepdims=True)

    def forward_code(self, out: str, ins: list[str]) -> list[str]:
        """As SoftmaxCrossEntropy.forward, step by step."""
        logits, targets = ins
        (n, c), p = self.in_shapes[0][0], self.prefix
        rows, sums = self.saved = (f"{p}_rows", f"{p}_sums")
        top, total, log_total = (self.buffer(w, (n, 1)) for w in ("top", "total", "log_total"))
        shifted, exps, gaps, probs = (self.buffer(w, (n, c)) for w in ("shifted", "exps", "gaps",
                                                                         "probs"))  # fmt: skip
        if self.labels:  # as ops.one_hot_rows: the rows of eye[labels], labels checked
            self.saved = (rows,)
            self.env[f"{p}_eye"] = self.eye
            lines = ["try:"]
            if self.in_shapes[1][1].kind == "i":  # (take() would count -1 from the end)
                lines.append(f"    if minimum.reduce({targets}) < 0: raise IndexError")
            lines += [
                f"    {rows} = {p}_eye.take({targets}, axis=0)",
                "except IndexError:",
                f"    {rows}, _ = {p}.rows({targets}, {logits})  # raises as an eager call does",
            ]
        else:
            lines = [f"{rows}, {sums} = {p}.rows({targets}, {logits})"]
        lines += [
            f"maximum.reduce({logits}, axis=1, keepdims=True, out={top})",
            f"subtract({logits}, {top}, out={shifted})",
            f"exp({shifted}, out={exps})",
            f"add.reduce({exps}, axis=1, keepdims=True, out={total})",
            f"subtract(log({total}, out={log_total}), {shifted}, out={gaps})",
            f"divide({exps}, {total}, out={probs})",
        ]
        self.env["weighted_gaps"] = weighted_gaps
        if self.reduction == "none":
            lines.append(f"{out} = weighted_gaps({rows}, {gaps}, True)")
            return lines
        scale = f" / {n}" if self.reduction == "mean" else ""
        return lines + [  # (the scalar check is ops.weighted_gaps's, written out)
            f"{out} = vdot({rows}, {gaps})",
            f"if {out} != {out}: {out} = weighted_gaps({rows}, {gaps}, False)  # NaN: 0 * inf?",
            f"{out} = array({out}{scale})",
        ]

    def backward_code(
        self, g: str, targets: list, fresh: list, g_owned: bool, g_ones: bool, spare: Any
    ) -> tuple:
        """As SoftmaxCrossEntropy.backward: (probs - rows), times g as the reduction scales."""
        t, new = targets[0], fresh[0]
        if t is None:
            return [], [False, False]
        (n, c), probs = self.in_shapes[0][0], f"{self.prefix}_probs"
        into = "" if new else f", out={self.buffer('grad', (n, c))}"
        if self.labels:
            (rows,) = self.saved
        else:  # probability rows: the softmax times their sums
            rows, sums = self.saved
            probs = f"{probs} if {sums} is None else {probs} * {sums}"
        lines = [f"{t} = subtract({probs}, {rows}{into})"]
        if g_ones and self.reduction != "mean":
            lines[0] += "  # (times the ones backward() starts from: x * 1 is x exactly)"
        else:
            scale = {"none": f"{g}.reshape(({n}, 1))", "mean": f"{g} / {n}", "sum": g}
            lines.append(f"multiply({t}, {scale[self.reduction]}, out={t})")
        return lines, [True, False]


# numpy's functions that the generated code calls by their own names (`matmul` is np.matmul):
# shorter to read, and one lookup instead of two per call.
_NUMPY_NAMES = ("add", "subtract", "multiply", "divide", "maximum", "minimum", "greater", "exp",
                "log", "matmul", "vdot", "array")  # fmt: skip


class _Plan:
    """The recorded program of one traced call, as generated straight-line Python.

    `forward(args, outside)` computes the program's values in the recorded order (ops, numpy
    calls, and `backward()` if the function called it), sets on the input Tensors what the
    traced call set (the epilogue), and returns the output and the values its backward reads;
    `backward_for(wanted)(grad, saved)` runs the ops' backward rules in reverse order and
    returns the gradients of the slots in `wanted`, each a new array. Print `plan.source` to
    read them: no loop over instructions and no graph, one line per numpy call.
    """

    def __init__(
        self,
        recorder: _Recorder,
        out: Tensor,
        args: tuple,
        arg_slots: list,
        epilogue: list,
        grad_mode: bool,
        bindings: _Bindings,
    ) -> None:
        self.kinds, self.shapes = recorder.kinds, recorder.shapes
        # The arguments that are Tensors (the signature fixes which), with their slots.
        self.tensor_args = [(i, slot) for i, slot in enumerate(arg_slots)
                            if isinstance(args[i], Tensor)]  # fmt: skip
        self.out_slot = recorder.slots[id(out.data)]
        self.outside = [(slot, kind[1]) for slot, kind in enumerate(self.kinds)
                        if kind[0] == "outside"]  # fmt: skip
        self.outside_tensors = [t for _, t in self.outside]
        self.consumed = any(type(ins) is _Backward for ins in recorder.program)
        # No graph for the result: backward() ran inside, or grad mode was off (as it is at
        # every replay of this plan: grad mode is part of the signature).
        self.no_graph = self.consumed or not grad_mode
        self.generation = 0  # replays so far: a result's backward needs its own replay's values
        self.saved: tuple = ()  # the last replay's values that its backward reads
        self.env: dict[str, Any] = {
            "np": np,
            "_conform": engine._conform,
            "_Retrace": _Retrace,
            **{name: getattr(np, name) for name in _NUMPY_NAMES},
        }
        self.ops: list[tuple[_Op, int]] = []  # the ops so far, with their index in the program
        self.fresh: set[int] = set()  # slots whose value is a new array at every replay
        self._backwards: dict[tuple, Callable] = {}
        self.backward_sources: list[str] = []
        self.steps = {k: _kernel(ins, self.shapes) for k, ins in enumerate(recorder.program)
                      if type(ins) is _Op}  # fmt: skip
        several = sum(type(ins) is _Backward for ins in recorder.program) > 1
        for k, step in self.steps.items():
            if isinstance(step, _Kernel):
                step.prefix, step.out_name, step.env = f"op{k}", f"op{k}_out", self.env
                self.env[f"op{k}"] = step
            else:
                step.release = not several  # (backward(retain_graph=True), then another)
        results = {self.out_slot} | {slot for _, _, slot in epilogue if slot is not None}
        self.program, self.results = recorder.program, results
        self.readers: dict[int, list[int]] = {}  # slot -> the instructions that read it
        for k, ins in enumerate(recorder.program):
            refs = _refs(getattr(ins, "args", ())) + _refs(getattr(ins, "kwargs", {}))
            if type(ins) is _Backward and type(ins.seed) is _Ref:
                refs.append(ins.seed.slot)
            for slot in refs:
                self.readers.setdefault(slot, []).append(k)
        self._share_buffers(recorder.program, results)
        self.buffer_of = {  # slot -> the name of the kernel's array that holds it
            ins.out: self.steps[k].out_name
            for k, ins in enumerate(recorder.program)
            if isinstance(self.steps.get(k), _Kernel)
        }
        lines = ["def forward(args, outside):", *bindings.guard(self.env, args)]
        for i, slot in enumerate(arg_slots):
            if slot is not None:
                data = ".data" if isinstance(args[i], Tensor) else ""
                lines.append(f"    v{slot} = args[{i}]{data}")
        for n, (slot, t) in enumerate(self.outside):  # read afresh: an optimizer changes them
            self.env[f"s{slot}"], self.env[f"d{slot}"] = self.shapes[slot]
            self.env[f"r{slot}"] = t.requires_grad  # (which gradients the program computes)
            lines += [
                f"    v{slot} = outside[{n}].data",
                f"    if (v{slot}.shape != s{slot} or v{slot}.dtype != d{slot}"
                f" or outside[{n}].requires_grad is not r{slot}):",
                "        raise _Retrace  # the trace saw another shape, dtype or requires_grad",
            ]
        for k, ins in enumerate(recorder.program):
            lines += ["    " + line for line in self._instruction_lines(k, ins, results)]
        lines += self._epilogue_lines(epilogue, args)
        self.saved_names = [] if self.consumed else list(dict.fromkeys(
            name for _, k in self.ops for name in getattr(self.steps[k], "saved", ())))  # fmt: skip
        result = f"v{self.out_slot}"
        if self.out_slot not in self.fresh or self.out_slot in results - {self.out_slot}:
            result += ".copy()"  # the replay's arrays are reused; the result is the caller's
        saved = "".join(f"{name}, " for name in self.saved_names)
        lines.append(f"    return {result}, ({saved})")
        self.forward_source = "\n".join(lines)
        self.forward_code = self._define(self.forward_source, "forward")

    def _share_buffers(self, program: list, results: set) -> None:
        """Let a kernel write its output over an input's array when nothing else needs it.

        In `x @ W + b` then relu, the sum and the relu can both land in the product's array:
        one array instead of three, and at large batch far fewer trips through memory. An
        input's array may be written over when a kernel made it, it has this one reader,
        neither its maker's nor this op's backward keeps it, and it is not a result.
        """
        readers = {slot: len(ks) for slot, ks in self.readers.items()}  # how many read it
        maker: dict[int, int] = {}  # slot -> the op (index) whose kernel output it is
        for k, ins in enumerate(program):
            if type(ins) is _Op and isinstance(self.steps[k], _Kernel):
                maker[ins.out] = k
        for k, ins in enumerate(program):
            step = self.steps.get(k)
            if step is None or not step.writes_over:
                continue
            for i in step.writes_over:
                ref = ins.args[i]
                made_by = maker.get(ref.slot) if type(ref) is _Ref else None
                if (
                    made_by is None
                    or readers.get(ref.slot) != 1
                    or ref.slot in results
                    or self.steps[made_by].keeps_output
                    or self.shapes[ref.slot] != (ins.shape, self.shapes[ins.out][1])
                ):
                    continue
                step.out_name = self.steps[made_by].out_name  # this op's result goes there
                break

    def _instruction_lines(self, k: int, ins: Any, results: set) -> list[str]:
        """The lines of instruction `k` of the program in the generated forward."""
        env = self.env
        if type(ins) is _Backward:  # the function's own loss.backward(), inline
            seed = f"ones{ins.out}" if ins.seed is None else _code(ins.seed, env, f"seed{k}")
            env[f"ones{ins.out}"] = np.ones(*self.shapes[ins.out])
            wanted = tuple(data for data, _ in ins.grads)
            body, grads = self._backward_lines(wanted, ins.out, k, seed_ones=ins.seed is None)
            self.fresh.update(slot for _, slot in ins.grads)  # (the backward's are new arrays)
            return [
                f"# backward() from v{ins.out}",
                f"g{ins.out} = {seed}",
                *body,
                *(f"v{slot} = {grad}" for (_, slot), grad in zip(ins.grads, grads)),
            ]
        if type(ins) is _Op:
            step = self.steps[k]
            self.ops.append((ins, k))
            if isinstance(step, _Kernel):
                if step.fresh_output:
                    self.fresh.add(ins.out)
                code = step.forward_code(f"v{ins.out}", [f"v{a.slot}" for a in ins.args])
                return [f"# {ins.cls.__name__}", *code]
            env[f"f{k}"], env[f"b{k}"] = step.forward, step.backward
            kwargs = ins.kwargs if ins.dynamic else {}  # (the rule keeps the constant ones)
            return [f"v{ins.out} = f{k}({_call_code(ins.args, kwargs, env, f'k{k}')})"]
        fn, kwargs = ins.fn, ins.kwargs
        if isinstance(getattr(fn, "__self__", None), np.ufunc) and fn.__name__ == "__call__":
            fn = fn.__self__  # `ufunc.__call__`: the ufunc itself
            if (  # one new array: into an array of its own, allocated once
                fn.nout == 1
                and len(ins.args) == fn.nin
                and not kwargs
                and ins.shape
                and ins.out not in results  # (a result must be a new array)
            ):
                kwargs = {"out": np.empty(*self.shapes[ins.out])}
        if isinstance(fn, np.ufunc) and getattr(np, fn.__name__, None) is fn:
            name = fn.__name__  # a numpy ufunc: called by its name
            env[name] = fn
        else:
            name = f"f{k}"
            env[name] = fn
        call = f"{name}({_call_code(ins.args, kwargs, env, f'k{k}')})"
        if ins.fixed_shape:  # a ufunc: its result's shape follows from its inputs' shapes
            return [f"v{ins.out} = {call}" if ins.shape else f"v{ins.out} = np.asarray({call})"]
        return [
            f"v{ins.out} = np.asarray({call})",
            f"if v{ins.out}.shape != {ins.shape!r}: raise _Retrace",
        ]

    def _epilogue_lines(self, epilogue: list, args: tuple) -> list[str]:
        """Set on the input Tensors what the traced call set (see `_epilogue`)."""
        lines, handed_out = [], set()
        for what, t, slot in epilogue:
            i = next((i for i, a in enumerate(args) if a is t), None)  # an argument?
            if i is None:  # a Tensor read from outside
                n = next(n for n, u in enumerate(self.outside_tensors) if u is t)
            where = f"args[{i}]" if i is not None else f"outside[{n}]"
            if slot is None:
                value = "None"
            elif slot in self.fresh and slot not in handed_out and slot != self.out_slot:
                value = f"v{slot}"  # a new array already: it is the caller's
            else:
                value = f"np.array(v{slot})"  # the replay's own: a copy for the caller
            handed_out.add(slot)
            lines.append(f"    {where}.{what} = {value}")
        return lines

    def _define(self, source: str, name: str) -> Callable:
        exec(builtins.compile(source, f"<al.compile {name}>", "exec"), self.env)  # noqa: S102
        return self.env[name]

    def backward_for(self, wanted: tuple[int, ...]) -> Callable:
        """The generated backward from the output to the slots in `wanted`."""
        fn = self._backwards.get(wanted)
        if fn is None:
            out = self.out_slot
            name = f"backward{len(self.backward_sources)}"
            body, grads = self._backward_lines(wanted, out, len(self.program))
            lines = [f"def {name}(g{out}, saved):"]
            if self.saved_names:
                lines.append(f"    {', '.join(self.saved_names)}, = saved  # the forward's values")
            lines += ["    " + line for line in body]
            lines.append(f"    return ({''.join(f'{g}, ' for g in grads)})")
            source = "\n".join(lines)
            self.backward_sources.append(source)
            fn = self._backwards[wanted] = self._define(source, name)
        return fn

    def _spares(self, at: int) -> tuple[set[str], dict[str, int]]:
        """The kernels' forward arrays that a backward run at instruction `at` may write
        gradients into, and for each array the first op whose backward reads it.

        An array may be written over once no backward still to run reads it, when no value
        it holds is a result, and when only kernels read its values (a rule's saved
        values, or numpy calls, could hold views of it), none after the backward (and no
        other backward() follows, which would read them again).
        """
        usable: set[str] = set()
        if any(type(ins) is _Backward for ins in self.program[at + 1 :]):
            return usable, {}  # a later backward() reads the forward's values again
        slots_in: dict[str, list[int]] = {}
        for slot, name in self.buffer_of.items():
            slots_in.setdefault(name, []).append(slot)
        for name, slots in slots_in.items():
            readers = [k for slot in slots for k in self.readers.get(slot, ())]
            if not any(slot in self.results for slot in slots) and all(
                k < at and isinstance(self.steps.get(k), _Kernel) for k in readers
            ):
                usable.add(name)
        first_reader: dict[str, int] = {}
        for k, step in self.steps.items():
            if isinstance(step, _Kernel):
                read = [a.slot for a in step.ins.args] if step.keeps_inputs else []
                read += [step.ins.out] if step.keeps_output else []
                for name in {self.buffer_of[slot] for slot in read if slot in self.buffer_of}:
                    first_reader[name] = min(first_reader.get(name, k), k)
        return usable, first_reader

    def _backward_lines(
        self, wanted: tuple[int, ...], out: int, at: int, seed_ones: bool = False
    ) -> tuple[list[str], list[str]]:
        """Lines for the gradients of `wanted` from `g<out>` (`seed_ones`: it is all ones),
        through the ops recorded so far (for a backward at instruction `at`), and per wanted
        slot the expression of its gradient (a new array, or None).

        While generating, it follows what each gradient variable `g<slot>` holds: nothing
        yet (no line needed), an array, or "maybe" one (an op's rule may give None). So a
        kernel's lines need no `is None` test, a first gradient goes straight into its
        variable, and sums are written out only where gradients meet. It also follows which
        gradients are new arrays (`fresh`: one can become a `.grad` without a copy) and which
        no other variable holds (`private`: the next kernel may write over them). A product's
        gradient may go into a forward array that no backward reads any more (`_spares`).
        """
        ops = self.ops
        usable, first_reader = self._spares(at)
        taken: set[str] = set()  # spare arrays that now hold a gradient
        # The slots that lead to a wanted one: only their rules need to run. An op's output
        # leads to one if one of its inputs does (inputs come first in program order).
        needed = set(wanted)
        for ins, _ in ops:
            if any(type(a) is _Ref and a.slot in needed for a in ins.args):
                needed.add(ins.out)
        state: dict[int, str] = {out: "array"}  # slot -> "array" | "maybe" (absent: None)
        fresh: set[int] = set()
        private: set[int] = set()
        undefined: set[int] = set()  # "maybe" gradients that need a `g<slot> = None` first
        lines: list[str] = []
        for ins, k in reversed(ops):
            holds = state.pop(ins.out, None)
            if ins.out not in needed or holds is None:
                continue
            g, step = f"g{ins.out}", self.steps[k]
            targets = [a.slot if type(a) is _Ref and a.slot in needed else None for a in ins.args]
            kernel = isinstance(step, _Kernel)
            if kernel:
                targets = [s if need else None for s, need in zip(targets, ins.needs)]
            # Each gradient into a variable t<n>, or straight into g<slot> if it is the first.
            names: list[str | None] = []
            for n, slot in enumerate(targets):
                first = (
                    kernel and holds == "array" and slot not in state and slot not in targets[:n]
                )
                names.append(None if slot is None else f"g{slot}" if first else f"t{n}")
            if kernel:
                spare = None
                if isinstance(step, _LinearKernel) and targets[0] is not None:
                    name = self.buffer_of.get(targets[0])
                    others = {self.buffer_of.get(a.slot) for a in ins.args[1:]}
                    if (
                        name in usable
                        and name not in taken
                        and name not in others
                        and first_reader.get(name, k) >= k  # no backward still to run reads it
                    ):
                        spare = name
                        taken.add(name)
                body, own = step.backward_code(
                    g, names, [s in wanted for s in targets], ins.out in private,
                    seed_ones and ins.out == out, spare,
                )  # fmt: skip
            else:
                body = [f"{', '.join(n or '_' for n in names)}, = b{k}({g})",
                        f"{g} = None  # passed on"]  # fmt: skip
                own = [False] * len(targets)
            for n, slot in enumerate(targets):
                if slot is None:
                    continue
                is_new = kernel and slot in wanted  # (the kernel was asked for a new array)
                if names[n] == f"g{slot}":  # the first gradient, already in its variable
                    state[slot] = "array"
                    fresh.discard(slot), private.discard(slot)
                    if is_new:
                        fresh.add(slot)
                    if own[n]:
                        private.add(slot)
                    continue
                t, before = names[n], state.get(slot)
                if before is None:
                    add = f"g{slot} = {t}"
                elif before == "array":
                    add = f"g{slot} = g{slot} + {t}"
                else:
                    add = f"g{slot} = {t} if g{slot} is None else g{slot} + {t}"
                new, mine = before == "array" or is_new, before == "array" or own[n]
                if kernel:
                    body.append(add)
                else:  # a rule's gradient: perhaps None, perhaps to be summed to the shape
                    self.env[f"s{slot}"], self.env[f"d{slot}"] = self.shapes[slot]
                    body += [f"if {t} is not None:",
                             f"    if {t}.shape != s{slot} or {t}.dtype != d{slot}:",
                             f"        {t} = _conform(None, {t}, s{slot}, d{slot})",
                             f"    {add}"]  # fmt: skip
                if not kernel or holds == "maybe":  # the sum may not happen
                    if before is None:
                        undefined.add(slot)
                    state[slot] = "array" if before == "array" else "maybe"
                    new = new and (before is None or slot in fresh)
                    mine = mine and (before is None or slot in private)
                else:
                    state[slot] = "array"
                fresh.discard(slot), private.discard(slot)
                if new:
                    fresh.add(slot)
                if mine:
                    private.add(slot)
            if holds == "maybe":
                lines += [f"if {g} is not None:", *("    " + x for x in body)]
            else:
                lines += body
        lines = [f"g{slot} = None" for slot in sorted(undefined)] + lines
        grads = []
        for slot in wanted:
            holds, g = state.get(slot), f"g{slot}"
            if holds is None:
                grads.append("None")
            elif slot in fresh:
                grads.append(g)
            elif holds == "array":  # the replay's own array (or a rule's): a copy for the caller
                grads.append(f"np.array({g})")
            else:
                grads.append(f"(None if {g} is None else np.array({g}))")
        return lines, grads

    @property
    def source(self) -> str:
        """The generated code, for reading."""
        return "\n\n".join([self.forward_source, *self.backward_sources])


def _code(a: Any, env: dict, name: str) -> str:
    """How generated code writes an instruction's argument `a`: a slot's variable `v<slot>`,
    a tuple or list of them, or the name of a constant kept in `env`."""
    if type(a) is _Ref:
        return f"v{a.slot}"
    if type(a) in (tuple, list) and _has_ref(a):
        items = "".join(f"{_code(x, env, f'{name}_{i}')}, " for i, x in enumerate(a))
        return f"({items})" if type(a) is tuple else f"[{items}]"
    if type(a) is dict and _has_ref(a):
        items = "".join(
            f"{k!r}: {_code(v, env, f'{name}_{i}')}, " for i, (k, v) in enumerate(a.items())
        )
        return f"{{{items}}}"
    env[name] = a  # a constant
    return name


def _call_code(args: Any, kwargs: dict, env: dict, name: str) -> str:
    """The argument list of a generated call."""
    parts = [_code(a, env, f"{name}_{i}") for i, a in enumerate(args)]
    parts += [f"{key}={_code(v, env, f'{name}_{key}')}" for key, v in kwargs.items()]
    return ", ".join(parts)


class _Replayed(Function):
    """The node of a replayed call: its inputs are the Tensors that require grad."""

    @staticmethod
    def backward(ctx, grad):
        if isinstance(grad, Tensor):
            raise RuntimeError(
                "al.compile: a replayed result cannot be differentiated with "
                "create_graph=True; call the function without compiling it for gradients "
                "of gradients"
            )
        plan = ctx.plan
        if ctx.generation != plan.generation:
            raise RuntimeError(
                "al.compile: the compiled function was called again before this result's "
                "backward(): a replay keeps the values its backward needs only until the next "
                "call. Call backward() on each result before the next call (or sum the losses "
                "inside one compiled function)."
            )
        grads = plan.backward_for(ctx.wanted)(grad, plan.saved)  # each a new array
        plan.generation += 1  # its values are used: a second backward would be wrong
        return grads


def _kernels() -> dict:
    from autograd_lite import ops

    return {
        ops.Linear: _LinearKernel.make,
        ops.MatMul: _MatMulKernel.make,
        ops.ReLU: _ReLUKernel.make,
        ops.Add: _AddKernel.make,
        ops.SoftmaxCrossEntropy: _CrossEntropyKernel.make,
    }


class Compiled:
    """A function recorded once per argument signature and replayed (see `al.compile`)."""

    def __init__(self, fn: Callable[..., Tensor], cache_size: int = 8) -> None:
        if not callable(fn):
            raise TypeError(f"al.compile: expected a function, got {type(fn).__name__}")
        if not isinstance(cache_size, int) or isinstance(cache_size, bool) or cache_size < 1:
            raise ValueError(f"al.compile: cache_size must be a positive int, got {cache_size!r}")
        self.fn, self.cache_size = fn, cache_size
        self.plans: OrderedDict[tuple, _Plan] = OrderedDict()
        self.traces = 0  # how many times the function was traced (a new signature)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any) -> Tensor:
        if engine._transforms_active and (_mode.levels or _mode.recorder is not None):
            return self.fn(*args)  # inside al.func transforms or another trace: as written
        key = _signature(args)
        plan = self.plans.get(key)
        if plan is not None:
            if len(self.plans) > 1:
                self.plans.move_to_end(key)  # the most recently used: kept the longest
            try:
                return self._replay(plan, args)
            except _Retrace:
                pass
        return self._trace(key, args)

    def _trace(self, key: tuple, args: tuple) -> Tensor:
        bindings = _Bindings(self.fn)  # (before the call: names it rebinds trace it again)
        draws = bindings.random_states()
        recorder = _Recorder()
        wrapped, arg_slots = [], []
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                slot, traced = recorder.new_slot(("arg", i), a.data)
                recorder.tensors[id(a)] = slot
                recorder.args.append((a, a.data))
                a.data = traced
                wrapped.append(a)
            elif isinstance(a, np.ndarray):
                slot, traced = recorder.new_slot(("arg", i), a)
                wrapped.append(traced)
            else:
                slot = None
                wrapped.append(a)
            arg_slots.append(slot)
        _mode.recorder = recorder
        with _count_lock:
            engine._transforms_active += 1
        try:
            out = self.fn(*wrapped)
            epilogue = _epilogue(recorder)
        finally:
            _mode.recorder = None
            with _count_lock:
                engine._transforms_active -= 1
            _untrace(recorder)
        if not isinstance(out, Tensor) or not isinstance(out.data, _Traced):
            _restore(out)
            got = (
                "a Tensor that no op computed (an argument or a constant returned as it is)"
                if isinstance(out, Tensor)
                else f"a {type(out).__name__}"
            )
            raise TypeError(
                f"al.compile: the function must return a Tensor computed by ops, got {got}"
            )
        if not _same_state(bindings.random_states(), draws):
            _restore(out)
            raise TracingError(
                "al.compile: the function draws random numbers with numpy (a Generator it "
                "names, or numpy.random), which a trace cannot record: every replay would "
                "reuse this call's draws. Draw them outside and pass them as an argument. "
                "(If another thread drew from numpy.random during the trace, call again.)"
            )
        plan = _Plan(recorder, out, args, arg_slots, epilogue, key[0], bindings)
        out.data = _plain(out.data)
        self.plans[key] = plan
        self.traces += 1
        while len(self.plans) > self.cache_size:
            self.plans.popitem(last=False)
        return out

    def _replay(self, plan: _Plan, args: tuple) -> Tensor:
        plan.generation += 1
        out, plan.saved = plan.forward_code(args, plan.outside_tensors)
        if plan.no_graph:
            return _tensor(out)
        # The node's inputs: the arguments and outside Tensors that require grad (now).
        edges, wanted = [], []
        for i, slot in plan.tensor_args:
            a = args[i]
            if a.requires_grad:
                edges.append(a if a._ctx is None else a._ctx)
                wanted.append(slot)
        for slot, t in plan.outside:
            if t.requires_grad:
                edges.append(t if t._ctx is None else t._ctx)
                wanted.append(slot)
        if not edges:
            return _tensor(out)
        node = _Replayed()
        node.plan, node.generation, node.wanted = plan, plan.generation, tuple(wanted)
        node.needs_input_grad = (True,) * len(edges)
        node.edges, node._shape, node._dtype = edges, out.shape, out.dtype
        return _tensor(out, node)


class _Bindings:
    """The names through which a traced call reached its values, as they were bound then.

    A replay reads the Tensor objects its trace saw (their current values: an optimizer may
    update them in place) and replays the Python values the trace used (a `scale` closed
    over, the branch `if self.training` took). If a name now points at another object, the
    replay would be stale, so the function is traced again. Seen: the function's own closure
    variables and the globals it reads (also in functions nested in it), the modules among
    them (or the function itself, or the object of a bound method) with every submodule: a
    rebound attribute (a new Parameter or submodule, `train()`/`eval()`) bumps the module's
    `_rebinds`; and an argument that was one of those values at the trace. Not seen: an item
    of a list or dict replaced, an attribute of another kind of object, or a name read by
    another function that the function calls.
    """

    def __init__(self, fn: Callable) -> None:
        from autograd_lite.nn import Module

        owner = getattr(fn, "__self__", None)  # a bound method's object
        fn = getattr(fn, "__func__", fn)
        self.cells = []
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                self.cells.append((cell, cell.cell_contents))
            except ValueError:  # a cell not yet filled
                continue
        self.globals = getattr(fn, "__globals__", {})
        code = getattr(fn, "__code__", None)
        self.names = [  # (an imported module rebound is not worth a check at every call)
            (name, self.globals[name])
            for name in sorted(_globals_read(code) if code is not None else ())
            if name in self.globals and not isinstance(self.globals[name], types.ModuleType)
        ]
        self.values = [v for _, v in self.cells + self.names]
        self.modules: dict[int, tuple[Module, int]] = {}
        for value in (*self.values, fn, owner):
            if isinstance(value, Module):
                for m in value.modules():
                    self.modules.setdefault(id(m), (m, m._rebinds))

    def guard(self, env: dict, args: tuple) -> list[str]:
        """The first lines of a replay: trace again if a name now points at another object."""
        env.update(b_globals=self.globals, b_missing=object())
        tests = []
        for i, (cell, value) in enumerate(self.cells):
            env[f"b_cell{i}"], env[f"b_value{i}"] = cell, value
            tests.append(f"b_cell{i}.cell_contents is not b_value{i}")
        for i, (name, value) in enumerate(self.names):
            env[f"b_global{i}"] = value
            tests.append(f"b_globals.get({name!r}, b_missing) is not b_global{i}")
        for i, (module, count) in enumerate(self.modules.values()):
            env[f"b_module{i}"] = module
            tests.append(f"b_module{i}._rebinds != {count}")
        for i, a in enumerate(args):  # traced as one slot with the function's own reference
            if isinstance(a, Tensor) and any(a is v for v in self.values):
                env[f"b_arg{i}"] = a
                tests.append(f"args[{i}] is not b_arg{i}")
        if not tests:
            return []
        return [
            "    # a name the function read (a closure variable, a global, a module's attribute)",
            "    # rebound since the trace: see _Bindings",
            "    if (" + "\n            or ".join(tests) + "):",
            "        raise _Retrace",
        ]

    def random_states(self) -> list:
        """The states of numpy's global generator and of the generators the function names:
        if a traced call draws from one, a replay would reuse its draws."""
        states = [np.random.get_state(legacy=False)]
        for value in self.values:
            if isinstance(value, np.random.Generator):
                states.append(value.bit_generator.state)
            elif isinstance(value, np.random.RandomState):
                states.append(value.get_state(legacy=False))
        return states


def _same_state(a: Any, b: Any) -> bool:
    """Equality of generator states (nested dicts, lists and tuples of numbers and arrays)."""
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def _globals_read(code: Any) -> set[str]:
    """The global names a code object and the code nested in it load (not attribute names)."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"}
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _globals_read(const)
    return names


def _epilogue(recorder: _Recorder) -> list[tuple[str, Tensor, int | None]]:
    """What a replay must set on the input Tensors afterwards, as the traced call left them.

    ("data", t, slot): the function rebound `t.data` to a value it computed; ("grad", t,
    slot or None): a backward() inside it filled `t.grad` (or the function reset it).
    Updates made in place (`p -= lr * p.grad`) need nothing: the replay writes into t.data.
    """
    steps = []
    managed = any(type(ins) is _Backward for ins in recorder.program)
    for t, _ in recorder.args + recorder.outside:
        current, traced = t.data, recorder.keep[recorder.tensors[id(t)]]
        if current is not traced and not (
            isinstance(current, np.ndarray) and _where(current) == _where(traced)
        ):  # (`t.data -= x` gives back its own array: updated in place, nothing to set)
            if not isinstance(current, _Traced) or id(current) not in recorder.slots:
                raise TracingError(
                    "al.compile: the function set a Tensor's .data to an array it did not "
                    "compute from traced values; update it in place instead"
                )
            steps.append(("data", t, recorder.slots[id(current)]))
        g = t.grad
        if isinstance(g, _Traced):
            steps.append(("grad", t, recorder.slots[id(g)]))
        elif managed and g is None and t.requires_grad:
            steps.append(("grad", t, None))
    return steps


def _untrace(recorder: _Recorder) -> None:
    """Put plain arrays back where the trace left traced ones (data, .grad)."""
    for t, data in recorder.args + recorder.outside:
        traced = recorder.keep[recorder.tensors[id(t)]]
        current = t.data
        if current is traced or (
            isinstance(current, np.ndarray) and _where(current) == _where(traced)
        ):
            t.data = data  # the Tensor's own array (perhaps updated in place)
        else:
            t.data = _plain(current)
        if isinstance(t.grad, _Traced):
            t.grad = np.array(t.grad)


def _restore(x: Any) -> None:
    if isinstance(x, Tensor) and isinstance(x.data, _Traced):
        x.data = _plain(x.data)


def _signature(args: tuple) -> tuple:
    """What a trace depends on: each argument's kind, shape and dtype (or Python value), and
    which arguments are the same object (a trace of f(x, x) reads one slot for both)."""
    key: list[Any] = [_mode.enabled]
    for i, a in enumerate(args):
        if type(a) is np.ndarray:
            key.append((a.shape, a.dtype))
        elif isinstance(a, Tensor):
            key.append((a.data.shape, a.data.dtype, a.requires_grad))
        elif isinstance(a, np.ndarray):
            key.append((type(a), a.shape, a.dtype))
        elif isinstance(a, float):  # by its bits: -0.0 == 0.0, but 1 / -0.0 is not 1 / 0.0
            key.append(("V", type(a), a.hex()))
        elif a is None or isinstance(a, bool | int | float | str):
            key.append(("V", type(a), a))
        else:
            raise TypeError(
                f"al.compile: argument {i} is a {type(a).__name__}; a compiled function takes "
                "Tensors, numpy arrays and Python scalars (close over anything else)"
            )
    n = len(args)
    if n > 1 and (args[0] is args[1] if n == 2 else len(set(map(id, args))) < n):  # twice
        ids = [id(a) for a in args]
        key.append(tuple(ids.index(i) for i in ids))  # where each first appears
    return tuple(key)


def compile(fn: Callable[..., Tensor] | None = None, *, cache_size: int = 8) -> Any:  # noqa: A001
    """Record `fn`'s ops at its first call and replay them at later calls (see the module).

    `fn` takes Tensors, numpy arrays and Python scalars and returns a Tensor. Works as a
    decorator with or without arguments: `@al.compile` or `@al.compile(cache_size=4)`.
    """
    if fn is None:
        return functools.partial(Compiled, cache_size=cache_size)
    return Compiled(fn, cache_size)
