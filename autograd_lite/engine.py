"""The engine: grad mode, the Function node that records the graph, and the backward walk.

A recorded graph is made of `Function` instances (the nodes). Each non-leaf Tensor points at
the node that made it (`tensor._ctx`). A node holds one edge per input: the node that made
that input, or the input Tensor itself when it is a leaf (or a constant Tensor). A node holds
no intermediate Tensor, so an intermediate array lives only as long as a user variable or a
rule's `save_for_backward` needs it, and nothing points back from a node to its output, so a
graph is freed by reference counting alone.

Backward rules receive numpy arrays on the fast path. With `create_graph=True` they receive
Tensors instead, and the very same rule then records a graph of its own (higher-order
gradients). That is why rules only use operations that ndarrays and Tensors share, and why
`Function.apply` on plain arrays simply runs `forward`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class _Mode(threading.local):
    enabled = True  # each thread starts with grad mode on


_mode = _Mode()


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()` (per thread)."""
    return _mode.enabled


class _GradMode:
    """Sets grad mode for a `with` block or a decorated function, restoring it afterwards."""

    enabled: bool

    def __init__(self) -> None:
        self._previous: list[bool] = []  # a stack, so one instance can be entered twice

    def __enter__(self) -> None:
        self._previous.append(_mode.enabled)
        _mode.enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self._previous.pop()

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801  (named like torch.no_grad)
    """Record nothing inside: `with al.no_grad(): ...` or `@al.no_grad()`."""

    enabled = False


class enable_grad(_GradMode):  # noqa: N801
    """Record again inside a `no_grad` block."""

    enabled = True


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
                return grad * 3 * x ** 2    # one gradient per positional input

    Positional inputs may be Tensors, arrays or scalars; only Tensors receive gradients.
    Keyword arguments are passed to `forward` as plain parameters. `backward` may return a
    gradient with the broadcast shape of its output: the engine reduces it to the input's
    shape. Called with no Tensor at all, `apply` just returns `forward`'s array.

    With `al.grad(..., create_graph=True)` the engine calls `backward` with Tensors, and
    `ctx.saved_tensors` returns the input or output Tensors the saved arrays came from, so a
    rule written with operators and ops works for higher-order gradients too.
    """

    edges: list | None  # per positional input: its node, the Tensor itself, or None
    needs_input_grad: tuple[bool, ...]  # per positional input: does it need a gradient?
    _saved: tuple | None = ()
    _as_tensors = False
    _out_id = -1  # id() of the output array, to recognise it among saved arrays
    _shape: tuple[int, ...] = ()  # the output's shape, to check the gradients it receives

    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError("subclasses of Function define forward(ctx, *arrays)")

    @staticmethod
    def backward(ctx: Function, grad: Any) -> Any:
        raise NotImplementedError("subclasses of Function define backward(ctx, grad)")

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays for `backward` (read them back from `ctx.saved_tensors`)."""
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        """What `save_for_backward` kept: arrays, or Tensors when building a graph."""
        if self._saved is None:
            raise RuntimeError(_FREED_MESSAGE)
        if not self._as_tensors:
            return self._saved
        return self._saved_as_tensors()

    def _saved_as_tensors(self) -> tuple:
        # Map each saved array back to the graph it came from: an input, or the output (as a
        # new Tensor around the output array whose creator is this node); else a constant.
        # Two inputs may share one ndarray (x and x.detach()): the k-th time such an array
        # was saved maps to the k-th of those inputs, as rules save inputs in order.
        # (Ids are safe here: a saved array is alive, and so was the array it is compared
        # with when this node was recorded.)
        result, taken = [], set()
        for array in self._saved:
            matches = [i for i, e in enumerate(self.edges) if _edge_holds(e, array)]
            if matches:
                i = next((i for i in matches if i not in taken), matches[0])
                taken.add(i)
                result.append(_edge_tensor(self.edges[i], array))
            else:
                result.append(_edge_tensor(self, array) if id(array) == self._out_id else array)
        return tuple(result)

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run `forward` on the inputs' arrays and record the node if a gradient is needed."""
        arrays, edges, needs = [], [], []
        any_tensor = False
        for a in args:
            if isinstance(a, Tensor):
                any_tensor = True
                arrays.append(a.data)
                edges.append(a if a._ctx is None else a._ctx)
                needs.append(a.requires_grad)  # always True for a non-leaf
            else:
                arrays.append(a)
                edges.append(None)
                needs.append(False)
        needs_grad = True in needs
        ctx = cls()
        ctx.edges = edges
        ctx.needs_input_grad = tuple(needs)  # set before forward, which may read it
        try:
            out = cls.forward(ctx, *arrays, **kwargs)
        except ValueError as e:
            if str(e).startswith(f"{ctx.name}:"):
                raise
            if "shapes" in str(e):  # numpy's message already names the shapes
                raise ValueError(f"{ctx.name}: {e}") from e
            shapes = ", ".join(str(np.shape(a)) for a in arrays)
            raise ValueError(f"{ctx.name}: {e} (input shapes {shapes})") from e
        if not any_tensor:
            return out
        if type(out) is not np.ndarray:  # numpy returns scalars for 0-d results
            array = np.asarray(out)
            if ctx._saved and id(out) in map(id, ctx._saved):
                ctx._saved = tuple(array if s is out else s for s in ctx._saved)
            out = array
        result = _new(Tensor)  # what Tensor(out) would make, without re-checking `out`
        result.data, result.grad = out, None
        if needs_grad and _mode.enabled:
            ctx._out_id, ctx._shape = id(out), out.shape
            result.requires_grad, result._ctx = True, ctx
        else:
            result.requires_grad, result._ctx = False, None
        return result

    @property
    def name(self) -> str:
        """The op's name in messages: the class name in lower case."""
        return type(self).__name__.lower()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _edge_holds(edge: Any, array: Any) -> bool:
    """Was `array` the data of the input at the other end of this edge?"""
    if isinstance(edge, Tensor):
        return edge.data is array
    return edge is not None and edge._out_id == id(array)


def _edge_tensor(edge: Any, array: np.ndarray) -> Tensor:
    """The input behind an edge as a Tensor in the graph (a new one around a node's output)."""
    if isinstance(edge, Tensor):
        return edge
    tensor = _make(array, True)
    tensor._ctx = edge
    return tensor


_FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or to read saved values after "
    "they were freed). Pass retain_graph=True to the first backward() if you need to "
    "backward through the graph again."
)


def sum_to(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum a broadcast gradient down to `shape` (undoing numpy broadcasting).

    The engine calls this after every backward rule, so ops never deal with broadcasting.
    Works on ndarrays and Tensors alike.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead > 0:  # axes that broadcasting added in front
        grad = grad.sum(axis=0 if lead == 1 else tuple(range(lead)))
        if grad.shape == shape:
            return grad
    if lead >= 0:  # axes where the input had size 1
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if axes:
            grad = grad.sum(axis=axes, keepdims=True)
    return grad  # if it still has the wrong shape, the caller reports it


def _check_shape(node: Function, grad: Any, shape: tuple[int, ...]) -> Any:
    grad = sum_to(grad, shape)
    if grad.shape != shape:
        raise RuntimeError(
            f"{type(node).__name__}.backward returned a gradient of shape {grad.shape} "
            f"for an input of shape {shape}"
        )
    return grad


def _topological_counts(roots: Sequence[Function]) -> dict[Function, int]:
    """For every node reachable from `roots`, how many edges lead into it (iteratively)."""
    counts = dict.fromkeys(roots, 0)  # a node is listed once it has been visited
    stack = list(roots)
    while stack:
        edges = stack.pop().edges
        if edges is None:
            raise RuntimeError(_FREED_MESSAGE)
        for parent in edges:
            if isinstance(parent, Function):
                if parent in counts:
                    counts[parent] += 1
                else:
                    counts[parent] = 1
                    stack.append(parent)
    return counts


def run_backward(
    outputs: Sequence[Tensor],
    grads: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    accumulate: bool = True,
) -> dict[Any, Any]:
    """Propagate `grads` from `outputs` to the leaves, each node once, in topological order.

    With `accumulate=True`, leaf gradients are added into `.grad`. Otherwise nothing is
    written and every gradient is returned: keyed by the Tensor for leaves and by the node
    that made it for intermediate Tensors.
    """
    pending: dict[Any, Any] = {}  # node or leaf -> gradient summed so far
    for out, g in zip(outputs, grads, strict=True):
        key = out if out._ctx is None else out._ctx
        pending[key] = pending[key] + g if key in pending else g
    roots = [key for key in pending if isinstance(key, Function)]
    counts = _topological_counts(roots)
    ready = [node for node in roots if counts[node] == 0]
    previous_mode, _mode.enabled = _mode.enabled, create_graph
    try:
        while ready:
            node = ready.pop()
            edges = node.edges
            grad = pending.pop(node, None) if accumulate else pending.get(node)
            if grad is None:  # no gradient reached this node: nothing flows on
                input_grads = (None,) * len(edges)
            else:
                if create_graph:
                    input_grads = _backward_as_graph(node, grad)
                else:
                    input_grads = node.backward(node, grad)
                if type(input_grads) is not tuple:
                    input_grads = (
                        tuple(input_grads) if isinstance(input_grads, list) else (input_grads,)
                    )
                if len(input_grads) != len(edges):
                    raise RuntimeError(
                        f"{type(node).__name__}.backward returned {len(input_grads)} "
                        f"gradients for {len(edges)} inputs"
                    )
            for target, g in zip(edges, input_grads):
                if target is None:
                    continue
                if isinstance(target, Tensor):  # a leaf
                    if g is not None and target.requires_grad:
                        if g.shape != target.data.shape:
                            g = _check_shape(node, g, target.data.shape)
                        pending[target] = pending[target] + g if target in pending else g
                    continue
                if g is not None:
                    if g.shape != target._shape:
                        g = _check_shape(node, g, target._shape)
                    pending[target] = pending[target] + g if target in pending else g
                counts[target] -= 1
                if counts[target] == 0:
                    ready.append(target)
            if not retain_graph:
                node.edges = None
                node._saved = None
    finally:
        _mode.enabled = previous_mode
    if accumulate:
        _accumulate(pending)
    return pending


def _backward_as_graph(node: Function, grad: Tensor) -> Any:
    """Run a rule on Tensors (create_graph=True): its saved arrays come back as Tensors."""
    node._as_tensors = True
    try:
        return node.backward(node, grad)
    finally:
        node._as_tensors = False


def _accumulate(grads: dict[Tensor, Any]) -> None:
    """Add gradients into `.grad` (PyTorch convention: they accumulate across backwards).

    A rule may hand the same array (or a view of it) to several inputs; each `.grad` gets an
    array of its own so that a user changing one in place cannot change another.
    """
    handed_out: set[int] = set()
    for x, g in grads.items():
        dtype = x.data.dtype
        if type(g) is not np.ndarray or (g.dtype is not dtype and g.dtype != dtype):
            g = np.asarray(g, dtype=dtype)
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


def backward(tensor: Tensor, grad: Any = None, retain_graph: bool = False) -> None:
    """Implementation of `Tensor.backward` (see there)."""
    if not tensor.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no graph "
            "(did you create its inputs with requires_grad=True, outside no_grad()?)"
        )
    if grad is None:
        data = tensor.data
        if data.size != 1:
            raise ValueError(
                f"backward: grad must be given for a non-scalar output of shape {data.shape} "
                "(for example out.backward(np.ones_like(out.data)), or reduce it with .sum())"
            )
        grad = np.array(1.0, dtype=data.dtype)
        if data.ndim:
            grad = grad.reshape(data.shape)  # (1, 1, ...)
    else:
        grad = _as_grad_array(grad, tensor, "backward")
    run_backward([tensor], [grad], retain_graph, create_graph=False)


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
    depend on gets a zero gradient.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for i, t in enumerate(outputs + inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: expected Tensors, got {type(t).__name__} at position {i}")
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise ValueError(f"grad: input {i} does not require grad")
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
            g = Tensor(g)
        seeds.append(g)
    retain = create_graph if retain_graph is None else retain_graph
    found = run_backward(outputs, seeds, retain, create_graph, accumulate=False)
    result = []
    for x in inputs:
        g = found.get(x if x._ctx is None else x._ctx)
        if g is None:
            g = np.zeros(x.shape, dtype=x.dtype)
            g = Tensor(g) if create_graph else g
        elif not create_graph:
            g = np.asarray(g).astype(x.dtype, copy=g.base is not None)
        result.append(g)
    return tuple(result)


# Imported last because tensor.py imports this module (Tensor.backward calls backward).
from autograd_lite.tensor import Tensor, _make, _new  # noqa: E402
