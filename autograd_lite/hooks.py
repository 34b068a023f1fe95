"""Gradient hooks: `Tensor.register_hook(fn)`, `Tensor.retain_grad()` and their handles.

Where a hook lives. Nodes do not point back to the Tensors they make (see engine.py), and
the backward walk only sees nodes and leaves. So a non-leaf Tensor's hooks live on the node
that made it (`node._hooks`, with `node._retained` for `retain_grad`), and a leaf's live in
`LEAF_HOOKS`, keyed by the leaf's id() and dropped when the leaf dies (a weak reference), so
the Tensor class needs no extra slot.

When they run. The walk calls a node's hooks when the node's gradient is complete, just
before its rule runs; a leaf's after the walk, once every gradient has reached it. So each
hook runs once per backward pass, with the complete gradient, and what it returns is what
flows on: into the rule, into `.grad`, or out of `al.grad`. A hook gets a read-only array,
because the engine may hand one array to several inputs: changing it in place would change
their gradients too, silently; it returns a new array instead.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from autograd_lite.engine import Function
from autograd_lite.tensor import Tensor, _tensor

Hook = Callable[[Any], Any]

# id(leaf) -> (weak reference to the leaf, its handles in registration order)
LEAF_HOOKS: dict[int, tuple[weakref.ref, list[RemovableHandle]]] = {}


class RemovableHandle:
    """What `register_hook` returns: `handle.remove()` unregisters the hook (once is enough)."""

    __slots__ = ("fn", "_owner", "__weakref__")

    def __init__(self, fn: Hook, owner: Function | Tensor) -> None:
        self.fn = fn
        self._owner = weakref.ref(owner)  # a handle does not keep a graph alive

    def remove(self) -> None:
        """Stop calling the hook. Removing twice, or after the tensor died, does nothing."""
        owner = self._owner()
        if owner is None:
            return
        if isinstance(owner, Function):
            handles = owner._hooks or []
        else:
            handles = LEAF_HOOKS.get(id(owner), (None, []))[1]
        if self in handles:
            handles.remove(self)
        if isinstance(owner, Function):
            if not handles and owner._retained is None:
                owner._hooks = None  # back to the engine's fast path
        elif not handles:
            LEAF_HOOKS.pop(id(owner), None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<RemovableHandle of {getattr(self.fn, '__qualname__', self.fn)!r}>"


def register_hook(tensor: Tensor, fn: Hook) -> RemovableHandle:
    """Implementation of `Tensor.register_hook` (see there)."""
    if not callable(fn):
        raise TypeError(f"register_hook: expected a function fn(grad), got {fn!r}")
    _not_batched(tensor, "register_hook")
    if not tensor.requires_grad:
        raise RuntimeError(
            f"register_hook: this tensor (shape {tensor.shape}) does not require grad, so no "
            "gradient will ever reach it (create it with requires_grad=True, or compute it "
            "from one outside no_grad())"
        )
    node = tensor._ctx
    if node is not None:
        handle = RemovableHandle(fn, node)
        if node._hooks is None:
            node._hooks = []
        node._hooks.append(handle)
        return handle
    handle = RemovableHandle(fn, tensor)
    key = id(tensor)
    if key not in LEAF_HOOKS:
        LEAF_HOOKS[key] = (weakref.ref(tensor, lambda _: LEAF_HOOKS.pop(key, None)), [])
    LEAF_HOOKS[key][1].append(handle)
    return handle


def _not_batched(tensor: Tensor, what: str) -> None:
    if tensor._batched:
        raise RuntimeError(
            f"{what} inside al.func.vmap: a tensor there stands for every example at once "
            "and gets no gradient of its own. Call it on tensors outside vmap (in eager code "
            "or under al.func.grad)."
        )


def retain_grad(tensor: Tensor) -> None:
    """Implementation of `Tensor.retain_grad` (see there)."""
    _not_batched(tensor, "retain_grad")
    if not tensor.requires_grad:
        raise RuntimeError(
            f"retain_grad: this tensor (shape {tensor.shape}) does not require grad, so it "
            "never gets a gradient"
        )
    node = tensor._ctx
    if node is None:  # a leaf keeps its gradient anyway
        return
    node._retained = weakref.ref(tensor)  # the Tensor -> node -> Tensor cycle stays weak
    if node._hooks is None:
        node._hooks = []


def run_node_hooks(node: Function, grad: Any) -> Any:
    """The gradient of `node`'s output after its hooks; stored in `.grad` if retained."""
    grad = _call(node._hooks, grad, node._shape, node._dtype)
    if node._retained is not None:
        tensor = node._retained()
        if tensor is not None:
            _keep(tensor, grad)
    return grad


def run_leaf_hooks(grads: dict) -> None:
    """Replace the gradient of each leaf in `grads` that has hooks by what they return."""
    for key, g in grads.items():
        entry = LEAF_HOOKS.get(id(key))
        if entry is not None and entry[0]() is key:
            data = key.data
            grads[key] = _call(entry[1], g, data.shape, data.dtype)


def _call(handles: list[RemovableHandle], grad: Any, shape: tuple, dtype: Any) -> Any:
    """Call each hook in registration order on the result of the previous one."""
    for handle in list(handles):  # a hook may remove itself
        fn = handle.fn
        arg = grad if isinstance(grad, Tensor) else _read_only(grad)
        try:
            new = fn(arg)
        except ValueError as e:
            if "read-only" not in str(e):
                raise
            raise RuntimeError(
                f"hook {_name(fn)}: it changed the gradient in place, which could change "
                "other tensors' gradients too. Return a new value instead "
                "(e.g. `return grad * 2` rather than `grad *= 2`)."
            ) from e
        if new is not None:
            grad = _replacement(fn, new, shape, dtype, isinstance(grad, Tensor))
    return grad


def _read_only(grad: Any) -> np.ndarray:
    view = np.asarray(grad).view()
    view.flags.writeable = False
    return view


def _replacement(fn: Hook, new: Any, shape: tuple, dtype: Any, as_tensor: bool) -> Any:
    """A hook's return value as a gradient: the tensor's shape, cast to its dtype."""
    if as_tensor:  # create_graph=True: keep a Tensor (and its graph)
        new = new if isinstance(new, Tensor) else _tensor(np.asarray(new))
    else:
        new = np.asarray(new.data if isinstance(new, Tensor) else new)
    if new.shape != shape:
        raise RuntimeError(
            f"hook {_name(fn)} returned a gradient of shape {new.shape} for a tensor of shape "
            f"{shape}: return None or a value of the same shape"
        )
    if new.dtype != dtype:
        new = new.astype(dtype)  # as the engine casts the gradients rules return
    return new


def _keep(tensor: Tensor, grad: Any) -> None:
    """Add `grad` into a retained non-leaf's `.grad` (an array of its own, or a Tensor)."""
    if not isinstance(grad, Tensor):
        grad = np.array(grad, dtype=tensor.dtype)  # a copy: the walk passes `grad` on
    tensor.grad = grad if tensor.grad is None else tensor.grad + grad


def _name(fn: Hook) -> str:
    return repr(getattr(fn, "__qualname__", fn))
