"""Ops for ensembles: E independent models of one shape computed as one graph.

Every parameter of an ensemble has a leading member axis of size E (member k's weight is
``weight[k]``), and every op here computes member k's output from member k's inputs only.
So the gradient of the summed loss ``sum_k L_k`` with respect to member k's parameters is the
gradient of ``L_k`` alone: one ``backward()`` and one optimizer step train E networks, each
exactly as it would be trained on its own (only the order of floating-point sums can differ,
in the last bits). ::

    from autograd_lite import ensemble
    h = ensemble.affine(x, A1, relu=True)    # x (E, N, 2), A1 (E, 2 + 1, H): weights, bias
    losses = ensemble.cross_entropy(ensemble.affine(h, A2), targets)   # (E,)
    losses.sum().backward()                   # each member gets its own gradient

`affine` is a stack of affine layers (batched matmuls), each member's weight holding its
bias as its last row (``x W + b = [x 1] [W; b]``: one parameter per layer, and for a first
layer one product), optionally followed by a ReLU in the same op; `cross_entropy` is the
fused softmax cross-entropy of each member, summed over its rows. Both are written for speed
at small sizes (a tutorial's 10-row minibatches for a hundred members): sums over the rows
are matrix products with a row of ones, and reductions over a few classes are column by
column, as numpy's reductions along a short middle or last axis are slow.
Their backward rules are first-order only (`once_differentiable`): a second-order gradient
through them raises instead of being wrong.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from autograd_lite.engine import Function, once_differentiable
from autograd_lite.ops import _no_grad_targets, one_hot_rows
from autograd_lite.tensor import Tensor, as_tensor

__all__ = ["affine", "cross_entropy"]


@functools.lru_cache(maxsize=64)
def _ones(members: int, rows: int, dtype: Any) -> np.ndarray:
    """A read-only (members, 1, rows) array of ones: ``ones @ g`` sums g over its rows."""
    ones = np.ones((members, 1, rows), dtype=dtype)
    ones.flags.writeable = False
    return ones


class StackedAffine(Function):
    """out[k] = [x[k] 1] @ weight[k]: E affine layers at once, each weight holding its bias
    as its last row (x may be shared); then a ReLU when ``relu=True`` (fused)."""

    name = "ensemble.affine"

    @staticmethod
    def forward(ctx, x, weight, relu=False):
        n_in = weight.shape[1] - 1
        ctx.folded = n_in < weight.shape[2]
        if ctx.folded:  # few inputs (a first layer): one product with [x 1]
            xa = np.empty((*x.shape[:-1], n_in + 1), np.result_type(x, weight))
            xa[..., :n_in], xa[..., n_in] = x, 1
            out = np.matmul(xa, weight)
            ctx.save_for_backward(xa, weight)  # a copy of x, as forward saw it
        else:  # many inputs: adding the bias costs less than copying x into [x 1]
            out = np.matmul(x, weight[:, :n_in])  # one small BLAS product per member
            out += weight[:, n_in, None, :]  # in place: `out` is a fresh array
            ctx.save_for_backward(x, weight)
        ctx.mask = None
        if relu:  # relu(a) = a [a > 0]; with a float mask both passes are plain products
            ctx.mask = (out > 0).astype(out.dtype)
            out *= ctx.mask
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # with xa = [x 1]: dx = g W^T (bias row left out), dW = xa^T g
        x, weight = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad
        if ctx.mask is not None:  # through the ReLU first: 1 where a > 0, else 0 (also at 0)
            grad = grad * ctx.mask
        n_in = weight.shape[1] - 1
        # A contiguous copy of W^T is cheaper than numpy's product with a transposed view.
        grad_x = grad @ np.ascontiguousarray(weight[:, :n_in].swapaxes(1, 2)) if need_x else None
        if not need_w:
            return grad_x, None
        if ctx.folded:  # x is already [x 1]
            return grad_x, x.swapaxes(-1, -2) @ grad
        grad_w = np.empty(weight.shape, grad.dtype)  # x^T g, then the bias row: g's row sums
        np.matmul(x.swapaxes(-1, -2), grad, out=grad_w[:, :n_in])
        np.matmul(_ones(grad.shape[0], grad.shape[1], grad.dtype), grad, out=grad_w[:, n_in:])
        return grad_x, grad_w


def affine(x: Any, weight: Any, relu: bool = False) -> Tensor:
    """E affine layers whose weights hold their bias as last row: x (E, N, in), or (N, in)
    shared by all, and weight (E, in + 1, out) give (E, N, out) with
    ``out[k] = x[k] @ weight[k, :in] + weight[k, in]`` (that is, ``[x[k] 1] @ weight[k]``).

    ``relu=True`` applies ``max(out, 0)`` in the same op (gradient 0 at 0, as `al.relu`).
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 3 or weight.shape[1] < 2:
        raise ValueError(
            f"ensemble.affine: weight must be (E, in + 1, out), the bias as its last row, got "
            f"shape {weight.shape}"
        )
    e, n_in = weight.shape[0], weight.shape[1] - 1
    if x.ndim not in (2, 3) or x.shape[-1] != n_in or (x.ndim == 3 and x.shape[0] != e):
        raise ValueError(
            f"ensemble.affine: x must be ({e}, N, {n_in}) or (N, {n_in}) for weight of shape "
            f"{weight.shape} (in + 1 = {n_in + 1} rows: the weights, then the bias), got "
            f"{x.shape}"
        )
    return StackedAffine.apply(x, weight, relu=bool(relu))


class StackedCrossEntropy(Function):
    """Each member's softmax cross-entropy summed over its rows: (E, N, C) logits -> (E,)."""

    name = "ensemble.cross_entropy"

    @staticmethod
    def forward(ctx, logits, targets, mean=False):
        # loss_k = sum_i [log sum_c e^(s_ic) - sum_c t_ic s_ic], s = z - max_c z (stable);
        # targets are one-hot or probability rows (summing to 1).
        columns = [logits[..., c] for c in range(logits.shape[2])]
        top = functools.reduce(np.maximum, columns)  # (E, N): a few columns, not a reduction
        shifted = logits - top[..., None]
        exps = np.exp(shifted)
        total = functools.reduce(np.add, [exps[..., c] for c in range(exps.shape[2])])
        e, n = total.shape
        shifted *= targets  # sums over each member's rows as products with ones (fast)
        losses = np.log(total) @ _ones(1, n, logits.dtype)[0, 0]
        picked = shifted.reshape(e, -1) @ _ones(1, shifted[0].size, logits.dtype)[0, 0]
        if np.isnan(picked).any():  # 0 * -inf: a logit of -inf where the target is 0 adds 0
            np.copyto(shifted, 0.0, where=targets == 0)  # (as ops.weighted_gaps)
            picked = shifted.reshape(e, -1) @ _ones(1, shifted[0].size, logits.dtype)[0, 0]
        losses -= picked
        exps /= total[..., None]
        ctx.probs, ctx.targets, ctx.scale = exps, targets, 1.0 / n if mean else 1.0
        return losses * ctx.scale if mean else losses

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # dL_k/dz_k = (softmax(z_k) - t_k) * g_k
        g = grad * ctx.scale if ctx.scale != 1.0 else grad
        out = ctx.probs - ctx.targets
        out *= g[:, None, None]
        return out, None


def cross_entropy(logits: Any, targets: Any, reduction: str = "sum") -> Tensor:
    """Each member's cross-entropy of softmax(logits) against targets: a (E,) Tensor.

    logits (E, N, C); targets: class indices (E, N) or probability rows (E, N, C) (no
    gradient). reduction "sum" (over each member's N rows, the tutorial's) or "mean".
    Sum the result (``losses.sum()``) to train all members with one backward.
    """
    logits = as_tensor(logits)
    if reduction not in ("sum", "mean"):
        raise ValueError(
            f"ensemble.cross_entropy: reduction must be 'sum' or 'mean', got {reduction!r}"
        )
    if logits.ndim != 3:
        raise ValueError(f"ensemble.cross_entropy: logits must be (E, N, C), got {logits.shape}")
    e, n, c = logits.shape
    if isinstance(targets, Tensor) and targets.requires_grad:
        _no_grad_targets("ensemble.cross_entropy")
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if targets.shape == (e, n):
        rows = one_hot_rows(targets.reshape(-1), c, logits.dtype, "ensemble.cross_entropy")
        targets = rows.reshape(e, n, c)
    elif targets.shape != (e, n, c):
        raise ValueError(
            f"ensemble.cross_entropy: targets must be ({e}, {n}) class indices or ({e}, {n}, "
            f"{c}) rows for logits of shape {logits.shape}, got {targets.shape}"
        )
    else:  # a copy: backward reads them, and a later change of the caller's must not reach it
        targets = np.array(targets, dtype=logits.dtype)
    return StackedCrossEntropy.apply(logits, targets, mean=reduction == "mean")
