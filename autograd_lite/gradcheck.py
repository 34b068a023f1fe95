"""Check analytic gradients (first and second order) against central finite differences.

Use it on your own `Function`s::

    x = al.Tensor(np.random.default_rng(0).standard_normal(3), requires_grad=True)
    al.gradcheck(Cube.apply, x)          # d Cube / dx
    al.gradgradcheck(Cube.apply, x)      # the derivatives of that gradient
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


def _perturbed(fn: Callable, inputs: list, index: int, steps: Any, eps: float) -> Any:
    """Central differences (f(x + eps d) - f(x - eps d)) / 2 eps of the output, as float64,
    for each direction d in `steps` (a generator of writes into the input's flat copy)."""
    tensor = inputs[index]
    original = tensor.data
    # Perturb a contiguous, writable copy (the input may be a read-only or strided array),
    # and put the caller's array back afterwards.
    work = np.array(original, copy=True, order="C")
    tensor.data = work
    try:  # not under no_grad: fn may itself call al.grad (gradients of gradients)
        for shift in steps(work.reshape(-1)):
            shift(+eps)
            plus = _output(fn, inputs).data.astype(np.float64).ravel()
            shift(-eps)
            minus = _output(fn, inputs).data.astype(np.float64).ravel()
            shift(0.0)
            yield (plus - minus) / (2 * eps)
    finally:
        tensor.data = original


def numerical_jacobian(fn: Callable, inputs: Sequence[Any], index: int, eps: float) -> np.ndarray:
    """d fn(*inputs) / d inputs[index] by central differences: shape (out.size, input.size)."""

    def one_element_at_a_time(flat: np.ndarray) -> Any:
        for i in range(flat.size):
            start = flat[i]

            def shift(delta: float, i: int = i, start: Any = start) -> None:
                flat[i] = start + delta

            yield shift

    columns = list(_perturbed(fn, list(inputs), index, one_element_at_a_time, eps))
    if columns:
        return np.stack(columns, axis=1)
    return np.zeros((_output(fn, inputs).size, 0))


def analytic_jacobian(fn: Callable, inputs: Sequence[Any], index: int) -> np.ndarray:
    """d fn(*inputs) / d inputs[index] by reverse mode, one backward per output element."""
    out = _output(fn, inputs)
    x = inputs[index]
    if not out.requires_grad:  # the output does not depend on any input: all zeros
        return np.zeros((out.size, x.size))
    rows = []
    for k in range(out.size):
        seed = np.zeros(out.size, dtype=out.dtype)
        seed[k] = 1
        (g,) = autograd_grad(out, x, seed.reshape(out.shape), retain_graph=True)
        rows.append(np.asarray(g, dtype=np.float64).ravel())
    return np.stack(rows) if rows else np.zeros((0, x.size))


def _checked_inputs(inputs: Any, where: str) -> tuple[list, list[int]]:
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(f"{where}: no input is a Tensor with requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            warnings.warn(
                f"{where}: input {i} is {inputs[i].dtype}, not float64; "
                "finite differences will be inaccurate",
                stacklevel=3,
            )
    return inputs, checked


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Tensor | Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    fast_mode: bool = False,
    seed: int = 0,
) -> bool:
    """Compare autograd's gradients of `fn(*inputs)` with central finite differences.

    Every input that is a Tensor with `requires_grad=True` is checked: by default element
    by element over the full Jacobian, |analytic - numeric| <= atol + rtol * |numeric|.
    With `fast_mode=True`, only one random projection v^T J u per input is compared (u, v
    drawn from `seed`): one backward and two forward passes per input instead of one per
    element, for large inputs. Use float64 inputs (float32 is too coarse for eps=1e-6).
    Returns True when all agree; otherwise raises `GradcheckError` naming the input, the
    worst element and both values (or returns False when `raise_exception=False`). The
    inputs are left as they were.
    """
    inputs, checked = _checked_inputs(inputs, "gradcheck")
    out = _output(fn, inputs)
    if not out.requires_grad:
        raise ValueError("gradcheck: the output does not depend on any input that requires grad")
    compare = _compare_projection if fast_mode else _compare_jacobian
    for i in checked:
        message = compare(fn, inputs, i, out, eps, atol, rtol, seed)
        if message is not None:
            if not raise_exception:
                return False
            raise GradcheckError(message)
    return True


def _compare_jacobian(
    fn: Callable, inputs: list, i: int, out: Tensor, eps: float, atol: float, rtol: float, _: int
) -> str | None:
    analytic = analytic_jacobian(fn, inputs, i)
    numeric = numerical_jacobian(fn, inputs, i, eps)
    excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    bad = ~(excess <= 0)  # also catches NaN
    if not bad.any():
        return None
    o, e = np.unravel_index(
        np.argmax(np.where(bad, np.nan_to_num(excess, nan=np.inf), -np.inf)), excess.shape
    )
    element = np.unravel_index(e, inputs[i].shape) if inputs[i].ndim else ()
    out_element = np.unravel_index(o, out.shape) if out.ndim else ()
    return (
        f"gradcheck: gradient of input {i} (shape {inputs[i].shape}) disagrees at "
        f"element {tuple(map(int, element))}, output element "
        f"{tuple(map(int, out_element))}: analytic {analytic[o, e]!r}, "
        f"numeric {numeric[o, e]!r} (atol={atol}, rtol={rtol}; "
        f"{int(bad.sum())} of {bad.size} Jacobian entries disagree)"
    )


def _compare_projection(
    fn: Callable, inputs: list, i: int, out: Tensor, eps: float, atol: float, rtol: float, seed: int
) -> str | None:
    x = inputs[i]
    rng = np.random.default_rng([seed, i])
    u = rng.standard_normal(x.shape)
    v = rng.standard_normal(out.shape)
    (g,) = autograd_grad(out, x, v.astype(out.dtype), retain_graph=True)
    analytic = float(np.vdot(np.asarray(g, dtype=np.float64), u))

    def along_u(flat: np.ndarray) -> Any:
        start = flat.copy()
        yield lambda delta: np.copyto(flat, start + delta * u.reshape(-1))

    (column,) = _perturbed(fn, inputs, i, along_u, eps)
    numeric = float(np.vdot(v.reshape(-1), column))
    if abs(analytic - numeric) <= atol + rtol * abs(numeric):
        return None
    return (
        f"gradcheck (fast_mode): gradient of input {i} (shape {x.shape}) disagrees along a "
        f"random projection v^T J u (seed {seed}): analytic {analytic!r}, numeric {numeric!r} "
        f"(atol={atol}, rtol={rtol}); run with fast_mode=False to find the element"
    )


def gradgradcheck(
    fn: Callable[..., Tensor],
    inputs: Tensor | Sequence[Any],
    grad_outputs: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    fast_mode: bool = False,
    seed: int = 0,
) -> bool:
    """Check second-order gradients of `fn(*inputs)` against finite differences.

    As PyTorch's gradgradcheck: the first-order gradients J^T v (by `al.grad` with
    `create_graph=True`, v = `grad_outputs`, random from `seed` when None) are themselves
    checked with `gradcheck`, as a function of the inputs AND of v, so every second
    derivative the rules produce (also the mixed ones of linear ops) is compared.
    """
    inputs, checked = _checked_inputs(inputs, "gradgradcheck")
    out = _output(fn, inputs)
    if grad_outputs is None:
        v = np.random.default_rng([seed, 1]).standard_normal(out.shape).astype(out.dtype)
    else:
        v = np.array(grad_outputs.data if isinstance(grad_outputs, Tensor) else grad_outputs)
    cotangent = Tensor(v, requires_grad=True)

    def first_order(*args: Any) -> Tensor:
        *xs, w = args
        diff = [xs[i] for i in checked]
        grads = autograd_grad(fn(*xs), diff, w, create_graph=True)
        flat = [g.reshape(-1) for g in grads]
        return flat[0] if len(flat) == 1 else _concatenate(flat)

    return gradcheck(
        first_order,
        [*inputs, cotangent],
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        fast_mode=fast_mode,
        seed=seed,
    )


def _concatenate(tensors: list) -> Tensor:
    from autograd_lite.ops import concatenate

    return concatenate(tensors)
