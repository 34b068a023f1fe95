"""In-place updates: `+= -= *= /= **= @=`, `t[index] = value` and `t.zero_()`.

They write into the tensor's array (other tensors and views sharing it see the change, as in
numpy and PyTorch) and bump the version counter (`versions.py`), so a backward rule whose
saved values were changed since raises instead of giving a wrong gradient.

When gradients are recorded (outside `no_grad()`), autograd_lite does not record in-place
changes, so it refuses the ones that would need recording:
- on a leaf that requires grad (PyTorch raises too): update parameters inside `no_grad()`,
  `with al.no_grad(): p -= lr * p.grad`;
- on the result of a recorded op (PyTorch would record the change; here it raises): write
  `t = t + x`, a new tensor;
- on a tensor that does not require grad, with a value that does (its gradient would be
  lost): write `t = t + x`, or build the tensor with `al.stack` / `al.concatenate` / `al.where`.
Inside `no_grad()` every tensor can be changed in place, values only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd_lite.engine import _mode
from autograd_lite.registry import register
from autograd_lite.tensor import Tensor, value
from autograd_lite.versions import mark_changed


def _check_allowed(t: Tensor, op: str, other: Any = None) -> None:
    """Raise RuntimeError if changing `t` in place would need recording (see the module doc)."""
    if not _mode.enabled:  # inside no_grad(): values only, always allowed
        return
    if t.requires_grad:
        if t._ctx is None:
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad cannot be changed in place while "
                "gradients are recorded (its gradient would be wrong). Update it inside "
                "no_grad(), e.g. `with al.no_grad(): p -= lr * p.grad`."
            )
        raise RuntimeError(
            f"{op}: this tensor is the result of a recorded op ({t._ctx.name}), and "
            "autograd_lite does not record in-place changes. Write `t = t + x` (a new "
            "tensor), or change it inside `with al.no_grad():` if you need no gradient "
            "through it."
        )
    if isinstance(other, Tensor) and other.requires_grad:
        raise RuntimeError(
            f"{op}: the value written requires grad but this tensor does not, and "
            "autograd_lite does not record in-place changes, so its gradient would be lost. "
            "Write `t = t + x` (a new tensor), or build it with al.stack, al.concatenate "
            "or al.where."
        )


def _seen_by_a_trace(*values: Any) -> None:
    """Inside al.compile's trace: the Tensors an in-place change reads or writes are recorded.

    A Tensor from outside the function that no op has read yet still has plain data; it gets
    its traced data now, so that the change is recorded and replayed, not made once.
    """
    recorder = _mode.recorder
    if recorder is not None:
        for v in values:
            if isinstance(v, Tensor):
                recorder.tensor_ref(v)


def _describe(x: Any) -> str:
    dtype = x.dtype if isinstance(x, np.ndarray) else np.asarray(x).dtype
    return f"shape {np.shape(x)} and dtype {dtype}"


def _inplace(ufunc: np.ufunc, op: str) -> Any:
    """The method for `t <op> other`: `ufunc(t.data, other, out=t.data)`, checked, counted."""

    def method(self: Tensor, other: Any) -> Tensor:
        _check_allowed(self, op, other)
        _seen_by_a_trace(self, other)
        data, other_data = self.data, value(other)
        try:  # numpy checks the result's shape and dtype before writing anything
            ufunc(data, other_data, out=data)
        except (TypeError, ValueError) as e:
            error = TypeError if isinstance(e, TypeError) else ValueError
            raise error(
                f"{op}: cannot update a tensor of {_describe(data)} in place with a value of "
                f"{_describe(other_data)}: {e}"
            ) from None
        mark_changed(data)
        return self

    method.__name__ = method.__qualname__ = f"__i{ufunc.__name__}__"
    method.__doc__ = f"`t {op} other` in place (see autograd_lite.inplace)."
    return method


for _name, _ufunc, _op in [
    ("__iadd__", np.add, "+="),
    ("__isub__", np.subtract, "-="),
    ("__imul__", np.multiply, "*="),
    ("__itruediv__", np.divide, "/="),
    ("__ipow__", np.power, "**="),
    ("__imatmul__", np.matmul, "@="),
]:
    register(method=_name, public=False)(_inplace(_ufunc, _op))


@register(method="__setitem__", public=False)
def setitem(self: Tensor, index: Any, new: Any) -> None:
    """`t[index] = value` in place; Tensors used as indices give their values."""
    _check_allowed(self, "t[index] = value", new)
    _seen_by_a_trace(self, new)
    index = tuple(map(value, index)) if isinstance(index, tuple) else value(index)
    data = self.data
    try:
        data[index] = value(new)
    except (TypeError, ValueError) as e:
        error = TypeError if isinstance(e, TypeError) else ValueError
        raise error(
            f"t[index] = value: cannot write a value of {_describe(value(new))} into a tensor "
            f"of {_describe(data)}: {e}"
        ) from None
    mark_changed(data)


@register(method=True, public=False)
def zero_(self: Tensor) -> Tensor:
    """Set every element to 0, in place (as PyTorch's `zero_`); returns the tensor."""
    _check_allowed(self, "zero_")
    _seen_by_a_trace(self)
    try:
        self.data[...] = 0
    except ValueError as e:  # a read-only array
        raise ValueError(f"zero_: {e}") from None
    mark_changed(self.data)
    return self
