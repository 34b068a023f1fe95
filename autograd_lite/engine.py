"""The engine: grad mode, the Function node that records the graph, and the backward walk.

A recorded graph is made of `Function` instances (the nodes). Each non-leaf Tensor points at
the node that made it (`tensor._ctx`). A node holds one edge per positional input: the node
that made that input, the input Tensor itself when it is a leaf, or None for a constant. A
node holds no intermediate Tensor and nothing points back from a node to its output, so an
intermediate array lives only as long as a user variable or a rule's `save_for_backward`
needs it, and a graph is freed by reference counting alone.

The backward walk (`run_backward`) is one loop and a last step:
1. take the pending node recorded last (its gradient is then complete: every node that used
   its output was recorded after it), call its rule, and send each input's gradient along
   its edge (summed to the input's shape and dtype by `_conform`, and added to what that
   input has received so far);
2. leaf gradients go into `.grad` (`backward`) or are returned (`grad`).

Backward rules receive numpy arrays on the fast path. With `create_graph=True` they receive
Tensors instead, and the very same rule then records a graph of its own (higher-order
gradients): rules use operators, methods and numpy functions that ndarrays and Tensors share.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from heapq import heapify, heappop, heappush
from typing import Any

import numpy as np

from autograd_lite import versions as _versions


# --- grad mode ----------------------------------------------------------------------------
class _Mode(threading.local):
    enabled = True  # each thread starts with grad mode on
    levels: tuple = ()  # the al.func transforms (jvp, vmap) active in this thread, outer first
    anomaly = False  # detect_anomaly() (anomaly.py)
    recorder = None  # the al.compile trace being recorded in this thread (compile.py)


_mode = _Mode()
# How many detect_anomaly() blocks are open in all threads: the hot path reads this global
# first (one cheap check when anomaly mode is off everywhere), then the thread's own flag.
_anomaly_users = 0
# How many al.func transform levels and al.compile traces are active in all threads (func.py
# and compile.py count them): the same pattern, so that Function.apply pays one read of this
# global while there are none.
_transforms_active = 0


class TracingError(RuntimeError):
    """A compiled function (al.compile) did something with values that a replay could not
    repeat (see compile.py)."""


def refuse_while_tracing(what: str, instead: str) -> None:
    """Raise TracingError if called inside al.compile's trace (one global read otherwise)."""
    if _transforms_active and _mode.recorder is not None:
        raise TracingError(f"al.compile: {what} cannot be recorded; {instead}")


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()` (per thread)."""
    return _mode.enabled


class _GradMode:
    """Sets grad mode for a `with` block or a decorated function, restoring it afterwards."""

    enabled: bool

    def __new__(cls, fn: Callable | None = None) -> Any:
        self = super().__new__(cls)
        self._previous = []  # a stack, so one instance can be entered twice
        return self if fn is None else self(fn)  # `@no_grad` without parentheses

    def __enter__(self) -> None:
        self._previous.append(_mode.enabled)
        _mode.enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self._previous.pop()

    def __call__(self, fn: Callable) -> Callable:
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}: can only decorate a function, got {fn!r}")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801  (named like torch.no_grad)
    """Record nothing inside: `with al.no_grad(): ...`, `@al.no_grad()` or `@al.no_grad`."""

    enabled = False


class enable_grad(_GradMode):  # noqa: N801
    """Record again inside a `no_grad` block."""

    enabled = True


# --- the node ------------------------------------------------------------------------------
_INPUT, _OUTPUT, _OTHER = "input", "output", "other"


class Function:
    """A differentiable operation, PyTorch style.

    Subclass it with two static methods and call it as `MyOp.apply(*inputs, **params)`::

        class Cube(al.Function):
            @staticmethod
            def forward(ctx, x):            # x is an ndarray
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            def backward(ctx, grad):        # d(x^3)/dx = 3 x^2
                (x,) = ctx.saved_tensors
                return grad * 3 * x ** 2    # one gradient per positional input (or None)

    Positional inputs may be Tensors, arrays or scalars; only Tensors receive gradients.
    Keyword arguments are passed to `forward` as plain parameters. `backward` may return a
    gradient with the broadcast shape of its output: the engine sums it to the input's shape
    and casts it to the input's dtype. Called with no Tensor at all, `apply` just returns
    `forward`'s array. `ctx.needs_input_grad[i]` says whether input i needs a gradient.

    Saved values and higher-order gradients: `ctx.save_for_backward(...)` accepts the arrays
    `forward` received and the array it returns. Which input (or the output) each saved
    value is, is settled when it is recorded. With `al.grad(..., create_graph=True)` the
    engine calls `backward` with Tensors and `ctx.saved_tensors` gives the input and output
    Tensors themselves, so a rule written with operators, ops and numpy functions records a
    graph of its own. A saved value that is neither an input nor the output (an
    intermediate, such as `x * x`) is fine for first-order gradients, but a second-order
    pass through it raises `RuntimeError`: save inputs/outputs and recompute the value in
    `backward`, or mark `backward` with `@al.once_differentiable`. Non-differentiable
    constants (masks, shapes, axes) go on `ctx` as plain attributes.

    Two optional speed-ups, for rules that make large arrays: a rule may write into `grad`
    in place when `ctx.owns_grad` is True (the engine made sure that nothing else holds that
    array); and a class whose `backward` returns, on arrays, only new arrays that it keeps
    nowhere else (never one array twice, never a saved value) may say so with
    `fresh_grads = True`, so that the rule that receives one may own it.
    """

    edges: list | None  # per positional input: its node, the leaf Tensor itself, or None
    needs_input_grad: tuple[bool, ...]  # per positional input: does it need a gradient?
    _saved: tuple | None = ()
    _saved_ids: tuple[int, ...] = ()  # id() of each input array and of the output
    _as_tensors = False  # True while backward runs on Tensors (create_graph)
    _shape: tuple[int, ...] = ()  # the output's shape and dtype: what its gradient must be
    _dtype: Any = None
    _hooks: list | None = None  # the output Tensor's gradient hooks (hooks.py)
    _retained: Any = None  # weak reference to the output Tensor, after its retain_grad()
    _trace: Any = None  # where the op was created, recorded under detect_anomaly()
    _stamp = 0  # versions.count when the node was recorded (see versions.py)
    _seq = 0  # the order of recording, set when the node's output is made (tensor._tensor)
    # Gradient ownership, which lets a rule write into its `grad` instead of allocating a new
    # array (at batch 1000 every fresh 4 MB array costs page faults): see run_backward.
    owns_grad = False  # set by the engine before each rule: may the rule overwrite `grad`?
    fresh_grads = False  # class flag: backward returns new arrays that nothing else holds

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # `fresh_grads` promises something about a backward rule: a subclass that writes its
        # own rule does not inherit the promise unless it makes it again.
        if "backward" in cls.__dict__ and "fresh_grads" not in cls.__dict__:
            cls.fresh_grads = False

    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError("subclasses of Function define forward(ctx, *arrays)")

    @staticmethod
    def backward(ctx: Function, grad: Any) -> Any:
        raise NotImplementedError("subclasses of Function define backward(ctx, grad)")

    # The rules of al.func's transforms (see func.py); None: the op has none. `jvp(ctx,
    # *tangents, **params)` gives the output's tangent (forward mode); `batch(b, *inputs,
    # **params)` computes the op on inputs with `b.nb` leading batch axes (vmap).
    jvp: Callable | None = None
    batch: Callable | None = None
    _out_tangents: dict | None = None  # the output's tangents under jvp, for saved_tensors

    def save_for_backward(self, *values: Any) -> None:
        """Keep inputs and/or the output for `backward` (read back from `ctx.saved_tensors`)."""
        self._saved = values

    @property
    def saved_tensors(self) -> tuple:
        """What `save_for_backward` kept: arrays, or Tensors when building a graph."""
        if self._saved is None:
            raise RuntimeError(_FREED_MESSAGE)
        if self._stamp != _versions.count:  # something was changed in place since recording
            self._check_versions()
        if not self._as_tensors:
            return self._saved
        return tuple(self._saved_as_tensor(i, v) for i, v in enumerate(self._saved))

    def _check_versions(self) -> None:
        """Raise if memory this node saved was changed in place after it was recorded."""
        now = _versions.count
        i = _versions.changed_since(self._saved, self._stamp)
        if i is None:
            self._stamp = now  # unchanged up to now: later checks look at later changes only
            return
        vid = id(self._saved[i])
        position = self._saved_ids.index(vid) if vid in self._saved_ids else None
        what = (
            f"saved value {i}"
            if position is None
            else "its output"
            if position == len(self.edges)
            else f"its input {position}"
        )
        raise RuntimeError(
            f"{self.name}: {what}, saved for backward, was changed in place after the op was "
            "recorded (by +=, -=, *=, /=, t[index] = v, zero_(), an optimizer step or "
            "load_state_dict), so its gradient would be wrong. Change it after backward(), "
            "or compute a new tensor instead (t = t + x)."
        )

    def _saved_as_tensor(self, index: int, saved: Any) -> Any:
        """Saved value `index` as a Tensor in the graph (create_graph=True)."""
        vid = id(saved)
        if vid in self._saved_ids:
            position = self._saved_ids.index(vid)
            if position == len(self.edges):  # the output: this node made it
                return _rebuilt(saved, self)
            edge = self.edges[position]
            if edge is None:  # a constant input
                return saved
            if isinstance(edge, Function):  # a recorded tensor: its node made it
                return _rebuilt(saved, edge)
            return edge  # a leaf
        raise RuntimeError(
            f"{self.name}: saved value {index} is neither an input nor the output of the op, "
            "so a gradient of its gradient would treat it as a constant and be wrong. Save "
            "only inputs and the output with ctx.save_for_backward and recompute the value "
            "in backward, or decorate backward with @al.once_differentiable if the rule is "
            "first-order only."
        )

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run `forward` on the inputs' arrays and record the node if a gradient is needed."""
        if _transforms_active and (_mode.levels or _mode.recorder is not None):
            if _mode.recorder is not None:  # tracing for al.compile: see compile.py
                return _mode.recorder.op(cls, args, kwargs)
            return _transformed(cls, args, kwargs)  # inside al.func.jvp / vmap: see func.py
        arrays, edges, needs = [], [], []
        any_tensor = False
        for a in args:
            if isinstance(a, Tensor):
                any_tensor = True
                arrays.append(a.data)
                edges.append(a if a._ctx is None else a._ctx)
                needs.append(a.requires_grad)  # always True for a non-leaf
            else:
                arrays.append(np.asarray(a) if type(a) in (list, tuple) else a)
                edges.append(None)
                needs.append(False)
        if len(arrays) > 1:  # one ndarray at two positions: give each its own object
            if len(arrays) == 2:
                if arrays[0] is arrays[1] and type(arrays[1]) is np.ndarray:
                    arrays[1] = arrays[1].view()
            else:
                _distinct(arrays)
        ctx = cls()
        ctx.needs_input_grad = tuple(needs)  # set before forward, which may read it
        try:
            out = cls.forward(ctx, *arrays, **kwargs)
        except ValueError as e:
            raise _named_error(ctx.name, e, arrays) from e
        if not any_tensor:
            return out
        if type(out) is not np.ndarray:  # numpy returns scalars for 0-d results
            array = np.asarray(out)
            if ctx._saved and id(out) in map(id, ctx._saved):
                ctx._saved = tuple(array if s is out else s for s in ctx._saved)
            out = array
        if _anomaly_users and _mode.anomaly:  # detect_anomaly() (off: one global read)
            anomaly.check_forward(ctx, arrays, out)
        if True in needs and _mode.enabled:
            ctx.edges = edges
            ctx._shape, ctx._dtype = out.shape, out.dtype
            if ctx._saved:
                # Which input (or the output) each saved value is, recognised by id(): exact,
                # as the input arrays are distinct objects, all alive now with the saved ones.
                ctx._saved_ids = (*map(id, arrays), id(out))
                ctx._stamp = _versions.count  # for the version check in saved_tensors
            return _tensor(out, ctx)
        return _tensor(out)

    @property
    def name(self) -> str:
        """The op's name in messages: the class name in lower case."""
        return type(self).__name__.lower()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _rebuilt(saved: np.ndarray, node: Function) -> Tensor:
    """The output of `node` as a new Tensor, with the tangents it had under al.func.jvp.

    Forward-over-reverse (jvp of a gradient) needs them: a rule that runs on Tensors must
    see the tangent of every value it reads, and this Tensor is not the one the user held.
    """
    t = _tensor(saved, node)
    if node._out_tangents is not None:
        t._tangents = node._out_tangents
    return t


def _distinct(arrays: list) -> None:
    """Replace repeated ndarray objects by views, so that each position has its own object."""
    if len(arrays) == 3:  # x @ W + b in one op: the common case, without building a set
        a, b, c = arrays
        if a is not b and a is not c and b is not c:
            return
    seen: set[int] = set()
    for i, a in enumerate(arrays):
        if type(a) is np.ndarray:
            if id(a) in seen:
                arrays[i] = a.view()
            seen.add(id(a))


def _named_error(name: str, e: ValueError, arrays: list) -> ValueError:
    """A forward's ValueError with the op's name in front (numpy's AxisError stays one)."""
    message = str(e)
    if message.startswith(f"{name}:"):
        return e
    if "shapes" not in message:  # numpy names the shapes for a mismatch, not always else
        shapes = ", ".join(str(np.shape(a)) for a in arrays)
        message = f"{message} (input shapes {shapes})"
    if isinstance(e, np.exceptions.AxisError):  # a ValueError and an IndexError
        return np.exceptions.AxisError(f"{name}: {message}")
    return ValueError(f"{name}: {message}")


def once_differentiable(backward: Callable) -> Callable:
    """Mark a `Function.backward` as first-order only (like PyTorch's decorator).

    The rule then always runs on arrays. Its gradients can be used as usual, but
    differentiating through them (a second-order gradient with `create_graph=True`) raises
    `RuntimeError` instead of giving a wrong number.
    """

    @functools.wraps(backward)
    def wrapper(ctx: Function, grad: Any) -> Any:
        if not isinstance(grad, Tensor):
            return backward(ctx, grad)
        if _mode.levels:  # its gradient would carry no tangent (jvp) or batch (vmap)
            raise RuntimeError(
                f"{type(ctx).__name__}.backward is marked @once_differentiable, so its "
                "gradient cannot be differentiated or batched inside al.func.jvp/vmap/hessian"
            )
        ctx._as_tensors = False
        try:
            grads = backward(ctx, grad.data)
        finally:
            ctx._as_tensors = True
        if isinstance(grads, tuple | list):
            return tuple(_refusing(g, ctx, grad) for g in grads)
        return _refusing(grads, ctx, grad)

    return wrapper


def _refusing(g: Any, ctx: Function, grad: Tensor) -> Any:
    """`g` as a Tensor whose node depends on the op's inputs and `grad`, and refuses backward."""
    if g is None:
        return None
    g = np.asarray(g)
    node = _OnceDifferentiable()
    node.op = type(ctx).__name__
    node.edges = [grad if grad._ctx is None else grad._ctx, *ctx.edges]
    node.needs_input_grad = (True,) * len(node.edges)
    node._shape, node._dtype = g.shape, g.dtype
    return _tensor(g, node)


class _OnceDifferentiable(Function):
    """A gradient computed by a once_differentiable rule: differentiating it raises."""

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(
            f"{ctx.op}.backward is marked @once_differentiable: its gradient cannot be "
            "differentiated again (a second-order gradient through it would be wrong)"
        )


_FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or to read saved values after "
    "they were freed). Pass retain_graph=True to the first backward() if you need to "
    "backward through the graph again."
)


# --- the backward walk -----------------------------------------------------------------------
def sum_to(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum a broadcast gradient down to `shape` (undoing numpy broadcasting).

    The engine calls this after every backward rule, so ops never deal with broadcasting.
    Works on ndarrays and Tensors alike; the caller checks the result's shape.
    """
    lead = grad.ndim - len(shape)
    if lead > 0:  # axes that broadcasting added in front
        grad = grad.sum(axis=0 if lead == 1 else tuple(range(lead)))
        if grad.shape == shape:
            return grad
    if lead >= 0:  # axes where the input had size 1
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if axes:
            grad = grad.sum(axis=axes, keepdims=True)
    return grad


def _conform(node: Function, g: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """The gradient `node`'s rule gave an input, with the input's shape and dtype."""
    if g.shape != shape:
        g = sum_to(g, shape)
        if g.shape != shape:
            raise RuntimeError(
                f"{type(node).__name__}.backward returned a gradient of shape {g.shape} "
                f"for an input of shape {shape}"
            )
    if g.dtype != dtype:
        g = g.astype(dtype)  # e.g. a float64 constant met a float32 input
    return g


def _rules_to_run(roots: Sequence[Function], targets: set) -> set[Function]:
    """The nodes reachable from `roots` whose rule must run: a target lies beyond them.

    That is, one of their edges leads (directly or further on) to a target. A target node
    with no other target beyond it only collects its gradient: its rule is not needed.
    """
    beyond: dict[Function, bool] = {}
    stack = [(node, False) for node in roots]
    while stack:  # iterative depth-first search, a node settled after all its inputs' nodes
        node, inputs_settled = stack.pop()
        if inputs_settled:
            beyond[node] = any(
                e in targets or beyond.get(e, False) for e in node.edges if e is not None
            )
        elif node not in beyond:
            if node.edges is None:
                raise RuntimeError(_FREED_MESSAGE)
            beyond[node] = False  # being visited (a graph has no cycles)
            stack.append((node, True))
            stack.extend((e, False) for e in node.edges if isinstance(e, Function))
    return {node for node, yes in beyond.items() if yes}


def run_backward(
    outputs: Sequence[Tensor],
    seeds: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
) -> dict[Any, Any]:
    """Propagate `seeds` from `outputs` back through the graph, each node once.

    Without `inputs`, every leaf that requires grad gets its gradient added into `.grad`.
    With `inputs`, nothing is written: only the nodes on a path to an input run their rule,
    and the gradient of each input is returned, keyed by the leaf Tensor or by the node that
    made it. Gradients are dropped as soon as they have been passed on.

    Order: every node is numbered when it is recorded (`_seq`, see `tensor._tensor`), after
    the nodes that made its inputs. So when the walk always takes the pending node with the
    highest number (a heap), every consumer of that node has already sent its gradient: the
    gradient is complete, and no count of dependencies is needed beforehand.

    Ownership (arrays only, not with create_graph or detect_anomaly): a gradient array in
    `pending` is *owned* when nothing outside this walk holds it: the engine made it (a sum
    of two gradients), or a rule of a `fresh_grads` class returned it as a new array. The
    node that receives an owned gradient may write into it (`ctx.owns_grad`), unless a hook
    or `retain_grad` sees it first or it is a gradient returned to the caller (a target):
    ReLU's rule then multiplies in place, without a new array (the same numbers).
    """
    pending: dict[Any, Any] = {}  # node or leaf -> gradient summed so far
    owned: set = set()  # the keys of `pending` whose gradient array nothing else holds
    heap: list = []  # (-node._seq, node) of every node in `pending`: the latest first
    for out, g in zip(outputs, seeds, strict=True):
        key = out if out._ctx is None else out._ctx
        if key in pending:
            pending[key] = pending[key] + g
        else:
            pending[key] = g
            if key is out._ctx:
                heappush(heap, (-key._seq, key))
    targets = needed = None
    if inputs is not None:
        targets = {x if x._ctx is None else x._ctx for x in inputs}
        needed = _rules_to_run([node for _, node in heap], targets)
        heap = [item for item in heap if item[1] in needed or item[1] in targets]
        heapify(heap)
    found = {}  # target node -> its gradient, kept once complete
    checked = _anomaly_users and _mode.anomaly  # detect_anomaly(): check what each rule returns
    slow = create_graph or checked
    previous_mode, _mode.enabled = _mode.enabled, create_graph
    try:
        while heap:
            node = heappop(heap)[1]
            grad = pending.pop(node)
            edges = node.edges
            if edges is None:
                raise RuntimeError(_FREED_MESSAGE)
            owns = node in owned and type(grad) is np.ndarray
            if node._hooks is not None:  # hooks on the node's output Tensor (hooks.py)
                grad = hooks.run_node_hooks(node, grad)
                owns = False  # a hook (or retain_grad) may keep it
            if targets is not None and node in targets:
                found[node] = grad
                owns = False  # returned to the caller
                if node not in needed:  # no other target beyond it: its rule is not needed
                    continue
            node.owns_grad = owns
            if slow:
                input_grads = _call_rule(node, grad, create_graph, checked)
            else:
                input_grads = node.backward(node, grad)
            if type(input_grads) is not tuple:  # a rule may return one gradient bare
                input_grads = _as_tuple(input_grads)
            if len(input_grads) != len(edges):
                raise _wrong_count(node, input_grads, edges)
            fresh = node.fresh_grads and not slow
            for edge, g in zip(edges, input_grads):
                if g is None or edge is None:  # no gradient, or a constant
                    continue
                made = isinstance(edge, Function)  # by a node (not a leaf)
                if made:
                    if needed is not None and edge not in needed and edge not in targets:
                        continue  # a part of the graph that leads to no input
                    if edge._seq >= node._seq:
                        raise _out_of_order(node, edge)
                    shape, dtype = edge._shape, edge._dtype
                elif edge in targets if targets is not None else edge.requires_grad:  # a leaf
                    data = edge.data
                    shape, dtype = data.shape, data.dtype
                else:  # a constant leaf
                    continue
                if g.shape != shape or g.dtype is not dtype:
                    g = _conform(node, g, shape, dtype)
                # (the innermost loop of backward: add g into what the edge has received)
                if edge in pending:
                    pending[edge] = pending[edge] + g
                    if not slow:  # a sum: an array the engine made
                        owned.add(edge)
                    continue
                pending[edge] = g
                if fresh and g is not grad and g.base is None:  # a view is never taken
                    owned.add(edge)
                if made:
                    heappush(heap, (-edge._seq, edge))
            if not retain_graph:
                node.edges = node._saved = None
        if hooks.LEAF_HOOKS:  # hooks on leaf Tensors (off: one check of an empty dict)
            hooks.run_leaf_hooks(pending)
    finally:
        _mode.enabled = previous_mode
    if targets is None:
        _accumulate(pending)
        return {}
    found.update((k, g) for k, g in pending.items() if k in targets)  # the leaves
    return found


def _call_rule(node: Function, grad: Any, create_graph: bool, checked: bool) -> Any:
    """Run a node's rule on Tensors (create_graph) and/or under detect_anomaly's checks."""
    try:
        grads = _call_rule_on_tensors(node, grad) if create_graph else node.backward(node, grad)
    except Exception as e:
        if checked:
            anomaly.note_origin(e, node)
        raise
    if checked:
        anomaly.check_backward(node, grad, grads)
    return grads


def _call_rule_on_tensors(node: Function, grad: Tensor) -> Any:
    """Run a rule with Tensors (create_graph=True), so that it records a graph of its own."""
    node._as_tensors = True
    try:
        return node.backward(node, grad)
    except TypeError as e:  # typically a numpy function the Tensor does not support
        raise TypeError(f"{type(node).__name__}.backward with create_graph=True: {e}") from e
    finally:
        node._as_tensors = False


def _out_of_order(node: Function, edge: Function) -> RuntimeError:
    return RuntimeError(
        f"backward: {node.name} (recorded as number {node._seq}) has an input made by "
        f"{edge.name} (number {edge._seq}), which was not recorded before it: a node was "
        "given edges by hand. Nodes get their number when their output Tensor is made "
        "(tensor._tensor), after the nodes of their inputs."
    )


def _as_tuple(grads: Any) -> tuple:
    return tuple(grads) if isinstance(grads, list) else (grads,)


def _wrong_count(node: Function, grads: tuple, edges: list) -> RuntimeError:
    return RuntimeError(
        f"{type(node).__name__}.backward returned {len(grads)} gradients for {len(edges)} inputs"
    )


def _accumulate(grads: dict[Any, Any]) -> None:
    """Add gradients into `.grad` (PyTorch convention: they accumulate across backwards).

    A rule may hand the same array (or a view of it) to several inputs; each `.grad` gets an
    array of its own so that a user changing one in place cannot change another.
    """
    handed_out: set[int] = set()
    for x, g in grads.items():
        if type(g) is not np.ndarray:
            if isinstance(g, Tensor):  # create_graph=True: .grad keeps its graph, as in PyTorch
                x.grad = g if x.grad is None else x.grad + g
                continue
            g = np.asarray(g, dtype=x.data.dtype)  # a 0-d result may be a numpy scalar
        if x.grad is not None:
            x.grad = x.grad + g
            continue
        if g.base is not None or id(g) in handed_out:
            g = g.copy()
        handed_out.add(id(g))
        x.grad = g


def _as_grad_array(grad: Any, out: Tensor, what: str) -> np.ndarray:
    if isinstance(grad, Tensor):
        grad = grad.data
    grad = np.array(grad, dtype=out.dtype)  # a copy: the caller's array is never aliased
    if grad.shape != out.shape:
        raise ValueError(f"{what}: grad has shape {grad.shape} but the output has {out.shape}")
    return grad


def backward(
    tensor: Tensor,
    gradient: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Tensor | Sequence[Tensor] | None = None,
) -> None:
    """Implementation of `Tensor.backward` (see there)."""
    if _transforms_active and _mode.recorder is not None:  # inside al.compile's trace
        return _mode.recorder.backward(tensor, gradient, retain_graph, create_graph, inputs)
    if not tensor.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no graph "
            "(did you create its inputs with requires_grad=True, outside no_grad()?)"
        )
    if gradient is None:
        data = tensor.data
        if data.size != 1:
            raise ValueError(
                f"backward: gradient must be given for a non-scalar output of shape {data.shape} "
                "(for example out.backward(np.ones_like(out.data)), or reduce it with .sum())"
            )
        gradient = np.array(1.0, dtype=data.dtype)
        if data.ndim:
            gradient = gradient.reshape(data.shape)  # (1, 1, ...)
    elif not (create_graph and isinstance(gradient, Tensor)):
        gradient = _as_grad_array(gradient, tensor, "backward")
    if create_graph and not isinstance(gradient, Tensor):
        gradient = _tensor(gradient)
    retain = create_graph if retain_graph is None else retain_graph
    if inputs is None:
        run_backward([tensor], [gradient], retain, create_graph)
        return
    inputs = _backward_inputs(inputs)
    found = run_backward([tensor], [gradient], retain, create_graph, inputs=inputs)
    # Only the inputs get a gradient, a non-leaf one too (PyTorch retains it for them).
    grads = {x: found.get(x if x._ctx is None else x._ctx) for x in inputs}
    _accumulate({x: g for x, g in grads.items() if g is not None})


def _backward_inputs(inputs: Any) -> list[Tensor]:
    """`backward(inputs=...)` checked: Tensors that require grad, each once."""
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not inputs:
        raise ValueError("backward: inputs must not be empty (pass None for every leaf)")
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"backward: inputs[{i}] is a {type(x).__name__}, not a Tensor")
        if not x.requires_grad:
            raise ValueError(f"backward: inputs[{i}] (shape {x.shape}) does not require grad")
    return list(dict.fromkeys(inputs))


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> tuple:
    """Gradients of `outputs` with respect to `inputs`, returned, not stored in `.grad`.

    Like `torch.autograd.grad`. `grad_outputs` gives d(loss)/d(output) for each output (needed
    for non-scalar outputs). With `create_graph=True` the gradients are Tensors with a graph of
    their own, so they can be differentiated again (Hessian-vector products, gradient
    penalties). `retain_graph` defaults to `create_graph`. An input that the outputs do not
    depend on gets a zero gradient (as in JAX; PyTorch raises unless `allow_unused`). Only
    the part of the graph between the outputs and the inputs is walked.
    """
    refuse_while_tracing(
        "al.grad inside a compiled function", "call loss.backward() there, or al.grad outside"
    )
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for i, t in enumerate(outputs + inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: expected Tensors, got {type(t).__name__} at position {i}")
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise ValueError(f"grad: input {i} does not require grad")
    if not create_graph and _transforms_active and any(lv.kind == "jvp" for lv in _mode.levels):
        raise RuntimeError(  # plain arrays would drop the gradient's tangent
            "grad inside al.func.jvp/hvp/hessian needs create_graph=True, so that the gradient "
            "carries its tangent (or use al.func.grad)"
        )
    seeds = _seeds(outputs, grad_outputs, create_graph)
    retain = create_graph if retain_graph is None else retain_graph
    found = run_backward(outputs, seeds, retain, create_graph, inputs=inputs)
    result = []
    for x in inputs:
        g = found.get(x if x._ctx is None else x._ctx)
        if g is None:
            g = np.zeros(x.shape, dtype=x.dtype)
            g = _tensor(g) if create_graph else g
        elif not create_graph:
            g = np.array(g, dtype=x.dtype, copy=g.base is not None or type(g) is not np.ndarray)
        result.append(g)
    return tuple(result)


def _seeds(outputs: list[Tensor], grad_outputs: Any, create_graph: bool) -> list[Any]:
    """One starting gradient per output (ones for a one-element output when none is given)."""
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor | np.ndarray) and len(outputs) == 1:
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError("grad: give one grad_output per output (or None for a scalar output)")
    seeds = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise ValueError(f"grad: output {i} does not require grad and has no graph")
        if g is None:
            if out.size != 1:
                raise ValueError(
                    f"grad: grad_outputs[{i}] must be given for an output of shape {out.shape}"
                )
            g = np.ones(out.shape, dtype=out.dtype)
        elif not (create_graph and isinstance(g, Tensor)):
            g = _as_grad_array(g, out, f"grad: grad_outputs[{i}]")
        if create_graph and not isinstance(g, Tensor):
            g = _tensor(g)
        seeds.append(g)
    return seeds


# Imported last because they import this module (Tensor.backward calls backward; the hooks,
# anomaly and func modules build on Function).
from autograd_lite import anomaly, hooks  # noqa: E402
from autograd_lite.func import _transformed  # noqa: E402
from autograd_lite.tensor import Tensor, _tensor  # noqa: E402
