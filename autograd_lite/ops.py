"""Every primitive op: its forward (on ndarrays) and its backward rule, side by side.

How to read a rule: `backward(ctx, grad)` gets `grad` = dL/d(output) and returns dL/d(input),
one per positional input, as the chain rule says; the derivative is in the comment.

Three things the engine does for every rule, so no rule has to:
- broadcasting: a rule may return a gradient of the output's (broadcast) shape; the engine
  sums it down to the input's shape (`engine.sum_to`);
- inputs that are constants (arrays, scalars) or need no gradient are skipped;
- higher-order gradients: with `create_graph=True`, `grad` and the saved values are Tensors.
  Rules therefore use only operators and methods that ndarrays and Tensors share, plus the
  ops of this file (an op applied to plain arrays just runs its forward), so one rule serves
  both the fast numpy path and the differentiable one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd_lite.engine import Function
from autograd_lite.tensor import Tensor


def _value(x: Any) -> Any:
    """The array behind a Tensor (for masks and other constants of a rule)."""
    return x.data if isinstance(x, Tensor) else x


# --- arithmetic ------------------------------------------------------------------------
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):  # d(a+b)/da = 1, d(a+b)/db = 1
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):  # d(a-b)/da = 1, d(a-b)/db = -1
        return grad, -grad


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):  # d(ab)/da = b, d(ab)/db = a
        a, b = ctx.saved_tensors
        return grad * b, grad * a


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        a, b = ctx.saved_tensors
        grad_a = grad / b
        return grad_a, -grad_a * a / b


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log(a)
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore"):  # a == 0 is mended below
            grad_a = grad * b * a ** (b - 1) if need_a else None
            grad_b = grad * out * log(a) if need_b else None
        # At a == 0 those products are 0 * inf = nan where the true derivative is 0:
        # d(a^0)/da = 0, and d(0^b)/db = 0 for b >= 0 (PyTorch's convention too).
        a_val, b_val = _value(a), _value(b)
        if need_a and np.any((a_val == 0) & (b_val == 0)):
            keep = (a_val != 0) | (b_val != 0)
            grad_a = Where.apply(grad_a, 0.0, condition=np.broadcast_to(keep, grad.shape))
        if need_b and np.any(a_val == 0):
            keep = (a_val != 0) | (b_val < 0)
            grad_b = Where.apply(grad_b, 0.0, condition=np.broadcast_to(keep, grad.shape))
        return grad_a, grad_b


class MatMul(Function):
    """numpy.matmul: 1-D, 2-D and batched N-D with broadcast batch dimensions."""

    @staticmethod
    def forward(ctx, a, b):
        a = a if type(a) is np.ndarray else np.asarray(a)
        b = b if type(b) is np.ndarray else np.asarray(b)
        try:
            out = a @ b
        except ValueError:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align") from None
        ctx.save_for_backward(a, b)
        return out

    @staticmethod
    def backward(ctx, grad):
        # C = A B  =>  dA = dC B^T,  dB = A^T dC  (on the last two axes; the engine sums
        # broadcast batch axes). A 1-D operand is a row (A) or a column (B) that numpy drops.
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]  # (Linear adds a third input, its bias)
        if a.ndim == 2 and b.ndim == 2:  # skip the gradient of a constant, e.g. of X in X @ W
            return grad @ b.T if need_a else None, a.T @ grad if need_b else None
        if a.ndim > 1 and b.ndim > 1:
            return grad @ _mT(b) if need_a else None, _mT(a) @ grad if need_b else None
        if a.ndim == 1 and b.ndim == 1:
            return grad * b, grad * a
        if a.ndim == 1:  # (k,) @ (..., k, m) -> (..., m)
            grad = grad.reshape(grad.shape[:-1] + (1,) + grad.shape[-1:])
            return (grad @ _mT(b)).reshape(grad.shape[:-2] + a.shape), _outer(a, grad)
        # (..., n, k) @ (k,) -> (..., n)
        grad = grad.reshape(grad.shape + (1,))
        return grad * b, (_mT(a) @ grad).reshape(grad.shape[:-2] + b.shape)


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
        if x.ndim != 2:
            return (*MatMul.backward(ctx, grad), grad)
        need_x, need_w, _ = ctx.needs_input_grad  # rows of data x need no gradient
        return grad @ weight.T if need_x else None, x.T @ grad if need_w else None, grad


def _mT(x: Any) -> Any:  # noqa: N802
    """Swap the last two axes (the matrix transpose of a stack of matrices)."""
    return x.swapaxes(-1, -2)


def _outer(a: Any, grad_row: Any) -> Any:
    """a (k,) times grad (..., 1, m) -> (..., k, m)."""
    return a.reshape(a.shape + (1,)) * grad_row


# --- reductions ----------------------------------------------------------------------
def _kept_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """`shape` after a reduction over `axis` with keepdims=True."""
    if axis is None or not shape:  # numpy accepts axis 0 / -1 on a 0-d array
        return (1,) * len(shape)
    axes = {ax % len(shape) for ax in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.kept = a.shape, _kept_shape(a.shape, axis)
        return a.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):  # every summed element gets the gradient of the sum
        return broadcast_to(grad.reshape(ctx.kept), ctx.shape)


class Max(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        if a.size == 0:
            raise ValueError("max: the tensor is empty")
        out = a.max(axis=axis, keepdims=True)
        ctx.save_for_backward(a, out)
        ctx.axis, ctx.kept = axis, out.shape
        return out if keepdims or a.ndim == 0 else np.squeeze(out, axis=axis)

    @staticmethod
    def backward(ctx, grad):  # 1 at the maximum; ties share it equally
        a, out = ctx.saved_tensors
        mask = _value(a) == _value(out)
        return grad.reshape(ctx.kept) * (mask / mask.sum(axis=ctx.axis, keepdims=True))


class BroadcastTo(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = np.shape(a)
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):  # the engine sums the gradient back to the input's shape
        return grad


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    """Broadcast an array or Tensor to `shape` (differentiable)."""
    return BroadcastTo.apply(x, shape=shape)


# --- shapes and indexing ---------------------------------------------------------------
class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Transpose(Function):
    @staticmethod
    def forward(ctx, a, axes=None):
        ctx.axes = None if axes is None else tuple(ax % a.ndim for ax in axes)
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, grad):  # undo the permutation
        return grad.T if ctx.axes is None else grad.transpose(tuple(np.argsort(ctx.axes)))


class GetItem(Function):
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


class Concatenate(Function):
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


# --- elementwise -------------------------------------------------------------------------
class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d(e^a)/da = e^a
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):  # d(log a)/da = 1/a
        (a,) = ctx.saved_tensors
        return grad / a


class ReLU(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)  # relu(a) > 0 exactly where a > 0; `a` itself can go
        return out

    @staticmethod
    def backward(ctx, grad):  # 1 where a > 0, else 0 (also at a == 0)
        (out,) = ctx.saved_tensors
        return grad * (_value(out) > 0)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d tanh(a)/da = 1 - tanh(a)^2
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


class Sigmoid(Function):
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


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):  # sign(a), 0 at 0
        (a,) = ctx.saved_tensors
        return grad * np.sign(_value(a))


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d sqrt(a)/da = 1 / (2 sqrt(a))
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):  # to the larger input; ties share it equally
        a, b = ctx.saved_tensors
        a, b = _value(a), _value(b)
        to_a = (a > b) + 0.5 * (a == b)
        return grad * to_a, grad * (1 - to_a)


class Where(Function):
    @staticmethod
    def forward(ctx, a, b, condition):
        ctx.condition = condition
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.condition, grad * ~ctx.condition


def exp(x: Any) -> Any:
    return Exp.apply(x)


def log(x: Any) -> Any:
    return Log.apply(x)


# --- softmax family --------------------------------------------------------------------
def _log_softmax(a: np.ndarray, axis: int) -> np.ndarray:
    shifted = a - a.max(axis=axis, keepdims=True)  # stable: the largest exponent is e^0
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
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


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, axis=-1):
        out = _log_softmax(a, axis)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):  # dL/da = g - softmax(a) * sum(g)
        (out,) = ctx.saved_tensors
        return grad - exp(out) * grad.sum(axis=ctx.axis, keepdims=True)


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
        # as ops so that it can be differentiated again.
        probs = softmax(logits) if isinstance(logits, Tensor) else ctx.probs
        if ctx.row_sums is not None:
            probs = probs * ctx.row_sums
        n = probs.shape[0]
        if ctx.reduction == "none":
            return (probs - targets) * grad.reshape((n, 1)), None
        return (probs - targets) * (grad / n if ctx.reduction == "mean" else grad), None


def softmax(x: Any, axis: int = -1) -> Any:
    return Softmax.apply(x, axis=axis)
