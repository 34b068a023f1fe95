"""Every primitive op: its forward, its backward rule and its public names, side by side.

How to read an op: `forward(ctx, *arrays, **params)` computes the result with numpy;
`backward(ctx, grad)` gets `grad` = dL/d(output) and returns dL/d(input), one per positional
input (None for an input that needs none), as the chain rule says; the derivative is in the
comment. Below the class, the public function with `@register` gives the op its names:
`al.<name>`, the Tensor method, and the numpy functions that record it on Tensors.

Three things the engine does for every rule, so no rule has to:
- broadcasting: a rule may return a gradient of the output's (broadcast) shape; the engine
  sums it down to the input's shape (`engine.sum_to`) and casts it to the input's dtype;
- inputs that are constants (arrays, scalars) are skipped; `ctx.needs_input_grad` tells a
  rule which gradients are wanted, so it can skip computing the others;
- higher-order gradients: with `create_graph=True`, `grad` and the saved values are Tensors.
  Rules therefore use only operators, methods and numpy functions that ndarrays and Tensors
  share (numpy dispatches `np.exp(tensor)` to the op), plus the `.apply` of the ops of this
  file (an op applied to plain arrays just runs its forward), so one rule serves both the
  fast numpy path and the differentiable one.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from autograd_lite.engine import Function
from autograd_lite.registry import register, register_binary
from autograd_lite.tensor import Tensor, as_tensor, value


# --- arithmetic ------------------------------------------------------------------------
class Add(Function):
    """a + b (broadcasting)"""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):  # d(a+b)/da = 1, d(a+b)/db = 1
        return grad, grad


add = register_binary(Add, "add", np.add, operator="add")


class Sub(Function):
    """a - b (broadcasting)"""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):  # d(a-b)/da = 1, d(a-b)/db = -1
        return grad, -grad if ctx.needs_input_grad[1] else None


subtract = register_binary(Sub, "subtract", np.subtract, operator="sub")


class Mul(Function):
    """a * b (broadcasting)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):  # d(ab)/da = b, d(ab)/db = a
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return grad * b if need_a else None, grad * a if need_b else None


multiply = register_binary(Mul, "multiply", np.multiply, operator="mul")


class Div(Function):
    """a / b (broadcasting)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad / b
        return grad_a if need_a else None, -grad_a * a / b if need_b else None


divide = register_binary(Div, "divide", np.divide, operator="truediv")


class Pow(Function):
    """a ** b (broadcasting)"""

    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log(a)
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        # Where a == 0 both formulas are 0 * inf = nan, while the true derivatives are 0:
        # d(a^0)/da = 0, and d(0^b)/db = 0 for b >= 0. The base is made safe (1) there
        # before computing, so the gradient and its own derivatives stay finite and right.
        zero = value(a) == 0
        grad_a = grad_b = None
        if need_a:
            fix = zero & (value(b) == 0)
            grad_a = grad * b * (np.where(fix, 1, a) if fix.any() else a) ** (b - 1)
        if need_b:
            fix = zero & (value(b) >= 0)
            grad_b = grad * out * np.log(np.where(fix, 1, a) if fix.any() else a)
        return grad_a, grad_b


power = register_binary(Pow, "power", np.power, operator="pow")


class Neg(Function):
    """-a"""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


@register(method="__neg__", numpy=np.negative)
def negative(x: Any) -> Tensor:
    """-x elementwise."""
    return Neg.apply(as_tensor(x))


# --- matrix products ----------------------------------------------------------------------
class MatMul(Function):
    """numpy.matmul: 1-D, 2-D and batched N-D with broadcast batch dimensions."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = a @ b
        except ValueError:
            shapes = f"{np.shape(a)} and {np.shape(b)}"
            raise ValueError(f"matmul: shapes {shapes} do not align") from None
        ctx.save_for_backward(a, b)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _matmul_grads(a, b, grad, *ctx.needs_input_grad)


def _matmul_grads(a: Any, b: Any, grad: Any, need_a: bool, need_b: bool) -> tuple:
    """The gradients of C = A @ B: dA = dC B^T, dB = A^T dC (on the last two axes).

    The engine sums broadcast batch axes. A 1-D operand is a row (A) or a column (B) that
    numpy drops from the result, so it is put back to compute, then dropped again.
    """
    if a.ndim == 2 and b.ndim == 2:  # the common case, kept to one product per gradient
        return grad @ b.T if need_a else None, a.T @ grad if need_b else None
    if a.ndim == 1 and b.ndim == 1:  # a dot product: grad is 0-d
        return grad * b if need_a else None, grad * a if need_b else None
    if a.ndim == 1:  # (k,) @ (..., k, m) -> (..., m): a is a row (1, k)
        grad = grad.reshape(grad.shape[:-1] + (1,) + grad.shape[-1:])
        a = a.reshape((1,) + a.shape)
        grad_a = (grad @ _mT(b)).reshape(grad.shape[:-2] + a.shape[-1:]) if need_a else None
        return grad_a, _mT(a) @ grad if need_b else None
    if b.ndim == 1:  # (..., n, k) @ (k,) -> (..., n): b is a column (k, 1)
        grad = grad.reshape(grad.shape + (1,))
        b = b.reshape(b.shape + (1,))
        grad_b = (_mT(a) @ grad).reshape(grad.shape[:-2] + b.shape[:1]) if need_b else None
        return grad @ _mT(b) if need_a else None, grad_b
    return grad @ _mT(b) if need_a else None, _mT(a) @ grad if need_b else None


def _mT(x: Any) -> Any:  # noqa: N802
    """Swap the last two axes (the matrix transpose of a stack of matrices)."""
    return x.swapaxes(-1, -2)


matmul = register_binary(MatMul, "matmul", np.matmul, operator="matmul")


class Linear(Function):
    """x @ W + b in one op (an affine layer), saving one intermediate array per layer."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        out = MatMul.forward(ctx, x, weight)
        if bias is None:
            return out
        if out.dtype == bias.dtype:
            out += bias  # in place: `out` is a fresh array
            return out
        return out + bias

    @staticmethod
    def backward(ctx, grad):  # as MatMul for x and W; d(x W + b)/db = 1
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        if x.ndim == 2:  # a batch of rows, the usual case: no detour through _matmul_grads
            grad_x = grad @ weight.T if need_x else None
            return grad_x, x.T @ grad if need_w else None, grad if need_b else None
        return (*_matmul_grads(x, weight, grad, need_x, need_w), grad if need_b else None)


@register()
def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x @ weight + bias as one op (an affine layer); weight is (in_features, out_features)."""
    weight = as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (in, out), got shape {weight.shape}")
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != weight.shape[1:]:
            raise ValueError(
                f"linear: bias must have shape ({weight.shape[1]},) for weight of shape "
                f"{weight.shape}, got {bias.shape}"
            )
    return Linear.apply(x, weight, bias)


# --- reductions ----------------------------------------------------------------------
def _kept_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """`shape` after a reduction over `axis` with keepdims=True."""
    if axis is None or not shape:  # numpy accepts axis 0 / -1 on a 0-d array
        return (1,) * len(shape)
    axes = {ax % len(shape) for ax in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """Sum over `axis` (numpy semantics)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        out = a.sum(axis=axis, keepdims=keepdims)
        ctx.shape, ctx.kept = a.shape, _kept_shape(a.shape, axis)
        return out

    @staticmethod
    def backward(ctx, grad):  # every summed element gets the gradient of the sum
        return np.broadcast_to(grad.reshape(ctx.kept), ctx.shape)


@register(method=True)
def sum(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum of the elements over `axis` (all when None), as numpy.sum."""
    return Sum.apply(as_tensor(x), axis=axis, keepdims=keepdims)


# numpy's reductions on Tensors take numpy's positional order (np.sum(t, 0, None, None, True)
# is keepdims=True), so they get adapters with numpy's signatures.
@register(numpy=np.sum, public=False)
def _np_sum(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Tensor:
    numpy_reduction_check("sum", out, where)
    total = sum(a if dtype is None else as_tensor(a).astype(dtype), axis, keepdims)
    return total if initial is None else total + initial


def numpy_reduction_check(name: str, out: Any, where: Any, **unsupported: Any) -> None:
    """Refuse the arguments of numpy's reductions that have no meaning on Tensors."""
    if out is not None:
        raise TypeError(
            f"numpy.{name}(..., out=...) with a Tensor: autograd_lite cannot record a result "
            "written into an existing array; use the Tensor it returns"
        )
    if where is not None and where is not True:
        raise TypeError(
            f"numpy.{name}(..., where=...) is not supported on Tensors: select the elements "
            "first (al.where, indexing)"
        )
    for key, given in unsupported.items():
        if given is not None:
            raise TypeError(f"numpy.{name}(..., {key}=...) is not supported on Tensors")


class Max(Function):
    """Maximum over `axis`; tied elements share the gradient equally."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        if a.size == 0:
            raise ValueError("max: the tensor is empty")
        out = a.max(axis=axis, keepdims=keepdims)
        ctx.save_for_backward(a, out)
        ctx.axis, ctx.kept = axis, _kept_shape(a.shape, axis)
        return out

    @staticmethod
    def backward(ctx, grad):  # 1 at the maximum; ties share it equally
        a, out = ctx.saved_tensors
        mask = value(a) == value(out).reshape(ctx.kept)
        share = (mask / mask.sum(axis=ctx.axis, keepdims=True)).astype(grad.dtype)
        return grad.reshape(ctx.kept) * share


@register(method=True)
def max(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over `axis` (all when None); tied elements share the gradient equally."""
    return Max.apply(as_tensor(x), axis=axis, keepdims=keepdims)


@register(numpy=(np.max, np.amax), public=False)
def _np_max(
    a: Any,
    axis: Any = None,
    out: Any = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = None,
) -> Tensor:
    numpy_reduction_check("max", out, where, initial=initial)
    return max(a, axis, keepdims)


# --- shapes and indexing ---------------------------------------------------------------
class BroadcastTo(Function):
    """a broadcast to `shape` (a read-only view)."""

    @staticmethod
    def forward(ctx, a, shape):
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):  # the engine sums the gradient back to the input's shape
        return grad


@register(numpy=np.broadcast_to)
def broadcast_to(x: Any, shape: tuple[int, ...]) -> Tensor:
    """`x` broadcast to `shape`, as numpy.broadcast_to."""
    return BroadcastTo.apply(as_tensor(x), shape=shape)


class Reshape(Function):
    """a with a new shape (same elements, C order)."""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


@register(method=True)
def reshape(x: Any, *shape: Any) -> Tensor:
    """`x` with shape `shape`: `t.reshape(2, 3)`, `t.reshape((2, 3))` or `al.reshape(t, (2, 3))`."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    return Reshape.apply(as_tensor(x), shape=shape)


@register(numpy=np.reshape, public=False)
def _np_reshape(a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None) -> Tensor:
    if order != "C" or (shape is None) == (newshape is None):
        raise TypeError("numpy.reshape on Tensors takes one shape and only order='C'")
    return reshape(a, shape if newshape is None else newshape)


class Transpose(Function):
    """a with its axes permuted (reversed when `axes` is None)."""

    @staticmethod
    def forward(ctx, a, axes=None):
        ctx.axes = None if axes is None else tuple(ax % a.ndim for ax in axes)
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, grad):  # undo the permutation
        return grad.transpose(None if ctx.axes is None else tuple(np.argsort(ctx.axes)))


@register(method=True)
def transpose(x: Any, *axes: Any) -> Tensor:
    """Permute the axes: `t.transpose()` reverses them, `t.transpose(1, 0, 2)` or a tuple."""
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], tuple | list)):
        axes = axes[0]
    return Transpose.apply(as_tensor(x), axes=tuple(axes) if axes else None)


@register(numpy=np.transpose, public=False)
def _np_transpose(a: Any, axes: Any = None) -> Tensor:
    return transpose(a, axes)


class Cast(Function):
    """a converted to another float dtype; its gradient is converted back."""

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype)


class Clone(Function):
    """A copy of a with memory of its own."""

    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, grad):  # the identity
        return grad


@register(method=True, numpy=np.copy)
def clone(x: Any) -> Tensor:
    """A copy with memory of its own, on the graph (as PyTorch's clone, numpy.copy)."""
    return Clone.apply(as_tensor(x))


@register(method=True, public=False)
def astype(x: Tensor, dtype: Any) -> Tensor:
    """A copy converted to `dtype`; to a float dtype it stays on the graph, else a constant."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return Tensor(x.data.astype(dtype))
    return Cast.apply(x, dtype=dtype)


class GetItem(Function):
    """a[index]: basic and advanced numpy indexing."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx, grad):  # scatter back; repeated indices add up
        return IndexAdd.apply(grad, shape=ctx.shape, index=ctx.index)


class IndexAdd(Function):
    """zeros(shape) with `grad` added at `index` (the transpose of indexing)."""

    @staticmethod
    def forward(ctx, grad, shape, index):
        ctx.index = index
        out = np.zeros(shape, dtype=grad.dtype)
        np.add.at(out, index, grad)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.index]


@register(method="__getitem__", public=False)
def getitem(x: Tensor, index: Any) -> Tensor:
    """x[index]; Tensors used as indices give a copy of their values."""
    if isinstance(index, tuple):
        index = tuple(_constant(i) for i in index)
    return GetItem.apply(x, index=_constant(index))


def _constant(x: Any) -> Any:
    """A Tensor used as a parameter (index, condition): a copy of its values.

    The op keeps it for backward, so a later in-place change of the Tensor must not reach it.
    """
    return np.array(x.data) if isinstance(x, Tensor) else x


class Concatenate(Function):
    """Arrays joined along an existing axis."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):  # each input gets its own slice
        axis = ctx.axis % grad.ndim
        edges = [0, *ctx.bounds.tolist(), grad.shape[axis]]
        lead = (slice(None),) * axis
        return tuple(grad[lead + (slice(lo, hi),)] for lo, hi in zip(edges, edges[1:]))


@register(numpy=np.concatenate)
def concatenate(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (like numpy.concatenate)."""
    if len(tensors) == 0:
        raise ValueError("concatenate: need at least one tensor")
    return Concatenate.apply(*[as_tensor(t) for t in tensors], axis=axis)


# --- elementwise -------------------------------------------------------------------------
class Exp(Function):
    """e^a"""

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d(e^a)/da = e^a
        (out,) = ctx.saved_tensors
        return grad * out


@register(method=True, numpy=np.exp)
def exp(x: Any) -> Tensor:
    """e^x elementwise."""
    return Exp.apply(as_tensor(x))


class Log(Function):
    """natural logarithm of a"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):  # d(log a)/da = 1/a
        (a,) = ctx.saved_tensors
        return grad / a


@register(method=True, numpy=np.log)
def log(x: Any) -> Tensor:
    """Natural logarithm elementwise."""
    return Log.apply(as_tensor(x))


class ReLU(Function):
    """max(a, 0)"""

    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)  # relu(a) > 0 exactly where a > 0; `a` itself can go
        return out

    @staticmethod
    def backward(ctx, grad):  # 1 where a > 0, else 0 (also at a == 0)
        (out,) = ctx.saved_tensors
        return grad * (out > 0)  # a comparison gives a plain mask, for Tensors too


@register(method=True)
def relu(x: Any) -> Tensor:
    """max(x, 0) elementwise; gradient 1 where x > 0, else 0 (also at 0)."""
    return ReLU.apply(as_tensor(x))


class Tanh(Function):
    """tanh(a)"""

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d tanh(a)/da = 1 - tanh(a)^2
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


@register(method=True, numpy=np.tanh)
def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent elementwise."""
    return Tanh.apply(as_tensor(x))


class Sigmoid(Function):
    """1 / (1 + e^-a)"""

    @staticmethod
    def forward(ctx, a):
        # exp of a non-positive number only: no overflow for large |a|
        e = np.exp(-np.abs(a))
        out = np.where(a >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d s(a)/da = s(a) (1 - s(a))
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


@register(method=True)
def sigmoid(x: Any) -> Tensor:
    """1 / (1 + e^-x) elementwise, computed without overflow for large |x|."""
    return Sigmoid.apply(as_tensor(x))


class Abs(Function):
    """|a|"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):  # sign(a), 0 at 0
        (a,) = ctx.saved_tensors
        return grad * np.sign(value(a))


@register(method=("abs", "__abs__"), numpy=(np.abs, np.absolute))
def abs(x: Any) -> Tensor:  # noqa: A001
    """|x| elementwise; gradient sign(x), 0 at 0."""
    return Abs.apply(as_tensor(x))


class Sqrt(Function):
    """square root of a"""

    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d sqrt(a)/da = 1 / (2 sqrt(a))
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


@register(method=True, numpy=np.sqrt)
def sqrt(x: Any) -> Tensor:
    """Square root elementwise."""
    return Sqrt.apply(as_tensor(x))


class Maximum(Function):
    """Elementwise maximum of a and b (broadcasting)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):  # to the larger input; ties share it equally
        a, b = ctx.saved_tensors
        a, b = value(a), value(b)
        to_a = ((a > b) + 0.5 * (a == b)).astype(grad.dtype)
        need_a, need_b = ctx.needs_input_grad
        return grad * to_a if need_a else None, grad * (1 - to_a) if need_b else None


maximum = register_binary(Maximum, "maximum", np.maximum)


class Where(Function):
    """a where `condition`, else b (broadcasting); no gradient to the condition."""

    @staticmethod
    def forward(ctx, a, b, condition):
        ctx.condition = condition
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        need_a, need_b = ctx.needs_input_grad
        cond = ctx.condition
        return grad * cond if need_a else None, grad * ~cond if need_b else None


@register(numpy=np.where)
def where(condition: Any, a: Any, b: Any) -> Tensor:
    """`a` where `condition` is true, else `b` (broadcasting); no gradient to `condition`."""
    condition = np.asarray(_constant(condition))
    if condition.dtype != bool:
        raise TypeError(f"where: condition must be boolean, got dtype {condition.dtype}")
    if not (isinstance(a, Tensor) or isinstance(b, Tensor)):
        a = a if isinstance(a, int | float) else as_tensor(a)
        b = as_tensor(b) if isinstance(a, int | float) else b
    return Where.apply(a, b, condition=condition)


# --- softmax family --------------------------------------------------------------------
class Softmax(Function):
    """exp(a) / sum(exp(a)) along `axis`, stabilised by subtracting the maximum."""

    @staticmethod
    def forward(ctx, a, axis=-1):
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):  # dL/da = s * (g - sum(g * s))
        (s,) = ctx.saved_tensors
        return s * (grad - (grad * s).sum(axis=ctx.axis, keepdims=True))


@register()
def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis`, stabilised by subtracting the maximum."""
    x = as_tensor(x)
    return Softmax.apply(x, axis=_normalize_axis(axis, x.ndim, "softmax"))


class LogSoftmax(Function):
    """a - log(sum(exp(a))) along `axis`, finite even for huge logits."""

    @staticmethod
    def forward(ctx, a, axis=-1):
        shifted = a - a.max(axis=axis, keepdims=True)  # stable: the largest exponent is e^0
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):  # dL/da = g - softmax(a) * sum(g)
        (out,) = ctx.saved_tensors
        return grad - np.exp(out) * grad.sum(axis=ctx.axis, keepdims=True)


@register()
def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - log(sum(exp(x))) along `axis`, finite even for huge logits."""
    x = as_tensor(x)
    return LogSoftmax.apply(x, axis=_normalize_axis(axis, x.ndim, "log_softmax"))


def _normalize_axis(axis: int, ndim: int, where: str) -> int:
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(f"{where}: axis {axis} is out of range for {ndim} dimensions")
    return axis % ndim


class SoftmaxCrossEntropy(Function):
    """Fused, stable softmax + cross-entropy over the rows of (N, C) logits.

    loss_i = -sum_k t_ik log softmax(z_i)_k, with t one-hot rows (class indices) or
    probability rows. Its gradient is simply softmax(z) - t (times the reduction's scale).
    """

    name = "softmax_cross_entropy"

    @staticmethod
    def forward(ctx, logits, targets, reduction="mean", one_hot=False):
        # With s = z - max(z) and T = sum_k t_k (1 for one-hot rows):
        # loss = -sum_k t_k log softmax(z)_k = T log(sum_k e^s_k) - sum_k t_k s_k
        row_sums = None if one_hot else targets.sum(axis=1, keepdims=True)
        shifted = logits - logits.max(axis=1, keepdims=True)  # stable: largest exponent e^0
        exps = np.exp(shifted)
        total = exps.sum(axis=1, keepdims=True)
        log_total = np.log(total) if row_sums is None else np.log(total) * row_sums
        ctx.save_for_backward(logits, targets)
        ctx.probs, ctx.row_sums, ctx.reduction = exps / total, row_sums, reduction
        if reduction == "none":
            return log_total.reshape(-1) - (targets * shifted).sum(axis=1)
        loss = log_total.sum() - np.vdot(targets, shifted)  # vdot: sum of t * s in one call
        return np.array(loss / len(logits) if reduction == "mean" else loss)

    @staticmethod
    def backward(ctx, grad):  # dL/dz = T softmax(z) - t, scaled as the reduction scales
        logits, targets = ctx.saved_tensors
        # The fast path reuses the forward's softmax; a graph (create_graph) recomputes it
        # as an op so that it can be differentiated again.
        probs = Softmax.apply(logits, axis=1) if isinstance(logits, Tensor) else ctx.probs
        if ctx.row_sums is not None:
            probs = probs * ctx.row_sums
        n = probs.shape[0]
        if ctx.reduction == "none":
            return (probs - targets) * grad.reshape((n, 1)), None
        return (probs - targets) * (grad / n if ctx.reduction == "mean" else grad), None


@register()
def softmax_cross_entropy(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """Cross-entropy of softmax(logits) against targets, as one fused, stable op.

    logits: (N, C). targets: class indices of shape (N,), or probability rows of shape (N, C).
    reduction: "mean" (over N), "sum", or "none" (a loss per row).
    Gradient with respect to the logits: softmax(logits) - one_hot(targets), scaled by the
    reduction. Targets get no gradient.
    """
    logits = as_tensor(logits)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"softmax_cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )
    if logits.ndim != 2:
        raise ValueError(
            f"softmax_cross_entropy: logits must have shape (N, C), got {logits.shape}"
        )
    n, c = logits.shape
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if targets.ndim == 1:
        if targets.shape[0] != n:
            raise ValueError(
                f"softmax_cross_entropy: {targets.shape[0]} targets for {n} rows of logits"
            )
        rows = one_hot_rows(targets, c, logits.dtype, "softmax_cross_entropy")
        return SoftmaxCrossEntropy.apply(logits, rows, reduction=reduction, one_hot=True)
    if targets.shape != (n, c):
        raise ValueError(
            f"softmax_cross_entropy: targets must have shape ({n},) or ({n}, {c}) "
            f"for logits of shape {logits.shape}, got {targets.shape}"
        )
    if targets.dtype != logits.dtype:  # the loss keeps the logits' dtype
        targets = targets.astype(logits.dtype)
    return SoftmaxCrossEntropy.apply(logits, targets, reduction=reduction)


def one_hot_rows(labels: Any, num_classes: int, dtype: Any, where: str) -> np.ndarray:
    """Validated class labels (N,) -> one-hot rows (N, num_classes) of `dtype`."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{where}: class labels must have shape (N,), got {labels.shape}")
    kind = labels.dtype.kind
    if kind == "f":
        if not np.all(labels == np.round(labels)):
            raise ValueError(f"{where}: class labels must be whole numbers")
        labels = labels.astype(np.intp)
    elif kind not in "iu":
        raise ValueError(f"{where}: class labels must be integers, got dtype {labels.dtype}")
    # Indexing the identity rejects labels from num_classes up; negative ones need a check,
    # as numpy would count them from the end.
    try:
        if kind != "u" and labels.size and labels.min() < 0:
            raise IndexError
        return _identity(num_classes, dtype)[labels]
    except IndexError:
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(
            f"{where}: class label {bad} is out of range for {num_classes} classes"
        ) from None


@functools.lru_cache(maxsize=64)
def _identity(n: int, dtype: Any) -> np.ndarray:
    """np.eye(n), cached and read-only: its rows are the one-hot vectors."""
    eye = np.eye(n, dtype=dtype)
    eye.flags.writeable = False
    return eye
