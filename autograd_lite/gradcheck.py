"""Check analytic gradients against central finite differences.

Use it on your own `Function`s::

    x = al.Tensor(np.random.default_rng(0).standard_normal(3), requires_grad=True)
    al.gradcheck(lambda x: Cube.apply(x), [x])
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd_lite.engine import grad as autograd_grad
from autograd_lite.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by `gradcheck` when an analytic gradient disagrees with finite differences."""


def _output(fn: Callable, inputs: Sequence[Any]) -> Tensor:
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    return out


def numerical_jacobian(fn: Callable, inputs: Sequence[Any], index: int, eps: float) -> np.ndarray:
    """d fn(*inputs) / d inputs[index] by central differences: shape (out.size, input.size)."""
    tensor = inputs[index]
    original = tensor.data
    # Perturb a contiguous, writable copy (the input may be a read-only or strided array),
    # and put the caller's array back afterwards.
    work = np.array(original, copy=True, order="C")
    flat = work.reshape(-1)  # a view of `work`
    tensor.data = work
    columns = []
    try:  # not under no_grad: fn may itself call al.grad (gradients of gradients)
        for i in range(flat.size):
            value = flat[i]
            flat[i] = value + eps
            plus = _output(fn, inputs).data.astype(np.float64).ravel()
            flat[i] = value - eps
            minus = _output(fn, inputs).data.astype(np.float64).ravel()
            flat[i] = value
            columns.append((plus - minus) / (2 * eps))
    finally:
        tensor.data = original
    if columns:
        return np.stack(columns, axis=1)
    return np.zeros((_output(fn, inputs).size, 0))


def analytic_jacobian(fn: Callable, inputs: Sequence[Any], index: int) -> np.ndarray:
    """d fn(*inputs) / d inputs[index] by reverse mode, one backward per output element."""
    out = _output(fn, inputs)
    x = inputs[index]
    rows = []
    for k in range(out.size):
        seed = np.zeros(out.size, dtype=out.dtype)
        seed[k] = 1
        (g,) = autograd_grad(out, x, seed.reshape(out.shape), retain_graph=True)
        rows.append(np.asarray(g, dtype=np.float64).ravel())
    return np.stack(rows) if rows else np.zeros((0, x.size))


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare autograd's gradients of `fn(*inputs)` with central finite differences.

    Every input that is a Tensor with `requires_grad=True` is checked, element by element,
    over the full Jacobian: |analytic - numeric| <= atol + rtol * |numeric|. Use float64
    inputs (float32 is too coarse for eps=1e-6). Returns True when all agree; otherwise
    raises `GradcheckError` naming the input, the worst element and both values (or returns
    False when `raise_exception=False`). The inputs are left as they were.
    """
    inputs = list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input is a Tensor with requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            warnings.warn(
                f"gradcheck: input {i} is {inputs[i].dtype}, not float64; "
                "finite differences will be inaccurate",
                stacklevel=2,
            )
    out = _output(fn, inputs)
    if not out.requires_grad:
        raise ValueError("gradcheck: the output does not depend on any input that requires grad")
    for i in checked:
        analytic = analytic_jacobian(fn, inputs, i)
        numeric = numerical_jacobian(fn, inputs, i, eps)
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        bad = ~(excess <= 0)  # also catches NaN
        if bad.any():
            if not raise_exception:
                return False
            o, e = np.unravel_index(
                np.argmax(np.where(bad, np.nan_to_num(excess, nan=np.inf), -np.inf)), excess.shape
            )
            element = np.unravel_index(e, inputs[i].shape) if inputs[i].ndim else ()
            out_element = np.unravel_index(o, out.shape) if out.ndim else ()
            raise GradcheckError(
                f"gradcheck: gradient of input {i} (shape {inputs[i].shape}) disagrees at "
                f"element {tuple(map(int, element))}, output element "
                f"{tuple(map(int, out_element))}: analytic {analytic[o, e]!r}, "
                f"numeric {numeric[o, e]!r} (atol={atol}, rtol={rtol}; "
                f"{int(bad.sum())} of {bad.size} Jacobian entries disagree)"
            )
    return True
