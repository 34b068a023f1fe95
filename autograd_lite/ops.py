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

Two more rules per op serve the transforms of `al.func` (see func.py):
- `jvp(ctx, *tangents, **params)`: forward mode. Given each input's tangent (None for an
  input without one) it returns the output's tangent, the derivative in the comment again;
  `ctx.inputs` and `ctx.out` are the primal values. The engine broadcasts the result to the
  output's shape and casts it to its dtype, as it does for gradients.
- `batch(b, *inputs, **params)`: vmap. The inputs arrive with `b.nb` leading batch axes
  (`b.dims[i]`: does input i have them?); the rule computes the op for every example at
  once, usually by calling the op itself with shifted axes (`b.axes`) or inputs lined up
  for broadcasting (`b.elementwise`).
"""

from __future__ import annotations

import builtins
import functools
import math
import string
from typing import Any

import numpy as np

from autograd_lite.engine import Function
from autograd_lite.registry import register, register_binary
from autograd_lite.tensor import Tensor, as_tensor, value


def _sum(*terms: Any) -> Any:
    """The sum of the tangent terms that exist (None: that input has no tangent)."""
    total = None
    for t in terms:
        if t is not None:
            total = t if total is None else total + t
    return total


# --- arithmetic ------------------------------------------------------------------------
class Add(Function):
    """a + b (broadcasting)"""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):  # d(a+b)/da = 1, d(a+b)/db = 1
        return grad, grad

    @staticmethod
    def jvp(ctx, ta, tb):  # d(a+b) = da + db
        return _sum(ta, tb)

    @staticmethod
    def batch(b, x, y):  # elementwise: the batch axes are just more elements
        return Add.apply(*b.elementwise(x, y))


add = register_binary(Add, "add", np.add, operator="add")


class Sub(Function):
    """a - b (broadcasting)"""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):  # d(a-b)/da = 1, d(a-b)/db = -1
        return grad, -grad if ctx.needs_input_grad[1] else None

    @staticmethod
    def jvp(ctx, ta, tb):  # d(a-b) = da - db
        return _sum(ta, None if tb is None else -tb)

    @staticmethod
    def batch(b, x, y):
        return Sub.apply(*b.elementwise(x, y))


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

    @staticmethod
    def jvp(ctx, ta, tb):  # d(ab) = da b + a db
        a, b = ctx.inputs
        return _sum(None if ta is None else ta * b, None if tb is None else a * tb)

    @staticmethod
    def batch(b, x, y):
        return Mul.apply(*b.elementwise(x, y))


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

    @staticmethod
    def jvp(ctx, ta, tb):  # d(a/b) = da / b - (a/b) db / b
        _, b = ctx.inputs
        return _sum(None if ta is None else ta / b, None if tb is None else -tb * ctx.out / b)

    @staticmethod
    def batch(b, x, y):
        return Div.apply(*b.elementwise(x, y))


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

    @staticmethod
    def jvp(ctx, ta, tb):  # d(a^b) = b a^(b-1) da + a^b log(a) db, made finite at a == 0
        a, b = ctx.inputs
        zero = value(a) == 0  # the same safe base as in backward
        if ta is not None:
            fix = zero & (value(b) == 0)
            ta = ta * b * (np.where(fix, 1, a) if fix.any() else a) ** (b - 1)
        if tb is not None:
            fix = zero & (value(b) >= 0)
            tb = tb * ctx.out * np.log(np.where(fix, 1, a) if fix.any() else a)
        return _sum(ta, tb)

    @staticmethod
    def batch(b, x, y):
        return Pow.apply(*b.elementwise(x, y))


power = register_binary(Pow, "power", np.power, operator="pow")


class Neg(Function):
    """-a"""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad

    @staticmethod
    def jvp(ctx, t):  # d(-a) = -da
        return -t

    @staticmethod
    def batch(b, x):
        return Neg.apply(x)


@register(method="__neg__", numpy=np.negative)
def negative(x: Any) -> Tensor:
    """-x elementwise."""
    return Neg.apply(as_tensor(x))


class Remainder(Function):
    """a % b as numpy (and Python) define it: a - b * floor(a / b), with the sign of b."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.remainder(a, b)

    @staticmethod
    def backward(ctx, grad):  # d(a % b)/da = 1, d(a % b)/db = -floor(a / b)
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        # floor(a / b) is piecewise constant (its derivative is 0), so it enters as a
        # constant; floor_divide is the quotient that numpy's remainder itself uses.
        quotient = np.floor_divide(value(a), value(b)) if need_b else None
        return grad if need_a else None, -grad * quotient if need_b else None

    @staticmethod
    def jvp(ctx, ta, tb):  # d(a % b) = da - floor(a / b) db
        a, b = map(value, ctx.inputs)
        return _sum(ta, None if tb is None else -tb * np.floor_divide(a, b))

    @staticmethod
    def batch(b, x, y):
        return Remainder.apply(*b.elementwise(x, y))


remainder = register_binary(Remainder, "remainder", np.remainder, operator="mod")


# --- matrix products ----------------------------------------------------------------------
class MatMul(Function):
    """numpy.matmul: 1-D, 2-D and batched N-D with broadcast batch dimensions."""

    fresh_grads = True  # its gradients are new products (see Function)

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

    @staticmethod
    def jvp(ctx, ta, tb):  # d(AB) = dA B + A dB
        a, b = ctx.inputs
        return _sum(None if ta is None else ta @ b, None if tb is None else a @ tb)

    @staticmethod
    def batch(b, x, y):
        return _matmul_batch(b, x, y, *b.dims)


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


def _matmul_batch(b: Any, x: Any, y: Any, batched_x: bool, batched_y: bool) -> Any:
    """x @ y for examples with leading batch axes: they become matmul's batch dimensions.

    A 1-D operand is made a row (x) or a column (y) first, so that the batch axes are never
    taken for a matrix's rows; the examples' own batch dimensions are padded to line up.
    """
    x_1d, y_1d = b.ndim(x, batched_x) == 1, b.ndim(y, batched_y) == 1
    if x_1d:
        x = x.reshape((*np.shape(x)[:-1], 1, np.shape(x)[-1]))
    if y_1d:
        y = y.reshape((*np.shape(y), 1))
    ndim_x, ndim_y = b.ndim(x, batched_x), b.ndim(y, batched_y)
    x = b.pad(x, ndim_y) if batched_x else x  # (`max` is this module's op)
    y = b.pad(y, ndim_x) if batched_y else y
    out = MatMul.apply(x, y)
    if x_1d or y_1d:  # drop the row / column again
        shape = out.shape
        out = out.reshape(shape[:-2] + shape[-2 + x_1d : len(shape) - y_1d])
    return out


matmul = register_binary(MatMul, "matmul", np.matmul, operator="matmul")


class Linear(Function):
    """x @ W + b in one op (an affine layer), saving one intermediate array per layer."""

    fresh_grads = True  # new products and sums (a bias gradient that is `grad` itself is
    # never taken as new: see engine.run_backward)

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
        return _linear_grads(x, weight, grad, *ctx.needs_input_grad)

    @staticmethod
    def jvp(ctx, tx, tw, tb):  # d(xW + b) = dx W + x dW + db
        x, weight, _ = ctx.inputs
        return _sum(None if tx is None else tx @ weight, None if tw is None else x @ tw, tb)

    @staticmethod
    def batch(b, x, weight, bias=None):
        batched_x, batched_w, batched_b = b.dims
        if not (batched_w or batched_b):  # a batch of inputs: still one affine op
            return Linear.apply(x, weight, bias)
        out = _matmul_batch(b, x, weight, batched_x, batched_w)  # per-example weights
        if bias is None:
            return out
        return Add.apply(*b.elementwise(out, bias, dims=(batched_x or batched_w, batched_b)))


def _linear_grads(
    x: Any, weight: Any, grad: Any, need_x: bool, need_w: bool, need_b: bool
) -> tuple:
    """The gradients of x @ W + b."""
    if x.ndim == 2:  # a batch of rows, the usual case: no detour through _matmul_grads
        grad_x = grad @ weight.T if need_x else None
        grad_b = grad.sum(axis=0) if need_b else None  # (what the engine's sum_to does)
        return grad_x, x.T @ grad if need_w else None, grad_b
    return (*_matmul_grads(x, weight, grad, need_x, need_w), grad if need_b else None)


class LinearReLU(Function):
    """relu(x @ W + b) in one op: what nn.Sequential runs for a Linear followed by a ReLU.

    The same numbers as Linear then ReLU, with one large array fewer per layer: the relu is
    taken in place, in the affine output that this op has just made (nothing else holds it).
    Sequential uses it only outside al.func's transforms and al.compile's traces, which see
    the two ops; its jvp and batch rules are there for a direct call.
    """

    fresh_grads = True  # new products and sums (never `grad` itself: see engine.run_backward)

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        out = Linear.forward(ctx, x, weight, bias)  # a new array
        np.maximum(out, 0, out=out)
        ctx.save_for_backward(x, weight, out)
        return out

    @staticmethod
    def backward(ctx, grad):  # relu's mask, then Linear's rule
        x, weight, out = ctx.saved_tensors
        mask = out > 0
        # In place when nothing else holds `grad` (see ReLU.backward).
        grad = np.multiply(grad, mask, out=grad) if ctx.owns_grad else grad * mask
        return _linear_grads(x, weight, grad, *ctx.needs_input_grad)

    @staticmethod
    def jvp(ctx, tx, tw, tb):  # Linear's tangent, where relu lets it through
        t = Linear.jvp(ctx, tx, tw, tb)
        return None if t is None else t * (ctx.out > 0)

    @staticmethod
    def batch(b, x, weight, bias=None):
        return ReLU.apply(Linear.batch(b, x, weight, bias))


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


class Einsum(Function):
    """numpy.einsum with explicit subscripts ("ij,jk->ik"; see `einsum` for the other forms)."""

    @staticmethod
    def forward(ctx, *operands, subscripts, optimize=False):
        ctx.save_for_backward(*operands)
        ctx.subscripts, ctx.optimize = subscripts, optimize
        return np.einsum(subscripts, *operands, optimize=optimize)

    @staticmethod
    def backward(ctx, grad):  # d/dX_k: grad contracted with every other operand, onto X_k's labels
        operands = ctx.saved_tensors
        terms, output = ctx.subscripts.split("->")
        terms = terms.split(",")
        sizes = {}  # label -> its (broadcast) length
        for term, x in zip(terms, operands):
            for label, n in zip(term, np.shape(x)):
                if sizes.get(label, 1) == 1:  # a length of 1 broadcasts (0 does not)
                    sizes[label] = n
        grads = []
        for k, need in enumerate(ctx.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            others = [x for j, x in enumerate(operands) if j != k]
            spec, extra = _einsum_vjp_spec(terms, output, k, sizes, others, grad.dtype)
            grads.append(
                Einsum.apply(grad, *others, *extra, subscripts=spec, optimize=ctx.optimize)
            )
        return tuple(grads)

    @staticmethod
    def jvp(ctx, *tangents, subscripts, optimize=False):  # linear in each operand: sum the terms
        xs = ctx.inputs
        return _sum(
            *[
                Einsum.apply(*xs[:k], t, *xs[k + 1 :], subscripts=subscripts, optimize=optimize)
                for k, t in enumerate(tangents)
                if t is not None
            ]
        )

    @staticmethod
    def batch(b, *operands, subscripts, optimize=False):  # fresh labels for the batch axes
        unused = sorted(set(string.ascii_letters) - set(subscripts))
        if len(unused) < b.nb:
            raise ValueError(f"einsum: no letters left for {b.nb} vmap axes in {subscripts!r}")
        lead = "".join(unused[: b.nb])
        terms, output = subscripts.split("->")
        terms = [lead + t if d else t for t, d in zip(terms.split(","), b.dims)]
        spec = ",".join(terms) + "->" + lead + output
        return Einsum.apply(*operands, subscripts=spec, optimize=optimize)


def _einsum_vjp_spec(
    terms: list[str], output: str, k: int, sizes: dict[str, int], others: list, dtype: Any
) -> tuple[str, list[np.ndarray]]:
    """The einsum (and its constant extra operands) that gives the gradient of operand `k`.

    It is the forward einsum with operand k's labels and the output's swapped, plus two fixes:
    a label repeated in operand k (a diagonal, "ii") gets a fresh label tied to it by an
    identity matrix, and a label of operand k that the other operands do not give at its
    full length (summed away, "ij->i", or broadcast from length 1) gets a vector of ones,
    along which the gradient is the same.
    """
    other_terms = [t for j, t in enumerate(terms) if j != k]
    given = dict.fromkeys(output, True)  # labels the einsum has at full length: the output's,
    for term, x in zip(other_terms, others):  # and the other operands' that are not broadcast
        for label, n in zip(term, np.shape(x)):
            given[label] = given.get(label, False) or n == sizes[label]
    free = iter(sorted(set(string.ascii_letters) - set("".join(terms)) - set(output)))
    target, extra, extra_terms = [], [], []
    for label in terms[k]:
        if label in target:  # a repeated label: the gradient lives on the diagonal
            fresh = next(free)
            target.append(fresh)
            extra.append(np.eye(sizes[label], dtype=dtype))
            extra_terms.append(label + fresh)
            given[label] = True
        else:
            target.append(label)
    for label in dict.fromkeys(terms[k]):
        if not given.get(label):
            extra.append(np.ones(sizes[label], dtype=dtype))
            extra_terms.append(label)
    return ",".join([output, *other_terms, *extra_terms]) + "->" + "".join(target), extra


@register(numpy=np.einsum)
def einsum(subscripts: str, *operands: Any, optimize: bool | str = False) -> Tensor:
    """numpy.einsum: `al.einsum("ij,jk->ik", a, b)`, also implicit ("ij,jk") and with "...".

    Labels may repeat within an operand (traces, diagonals) and size-1 axes broadcast, as in
    numpy. The interleaved form einsum(a, [0, 1], b, [1, 2]) is not supported.
    """
    if not isinstance(subscripts, str):
        raise TypeError(
            "einsum: the first argument must be the subscripts string, e.g. "
            "al.einsum('ij,jk->ik', a, b) (the interleaved operand/sublist form is not supported)"
        )
    if not any(isinstance(x, Tensor) for x in operands) and operands:
        operands = (as_tensor(operands[0]), *operands[1:])
    shapes = [x.shape if isinstance(x, Tensor) else np.shape(x) for x in operands]
    spec = _explicit_subscripts(subscripts, shapes)
    return Einsum.apply(*operands, subscripts=spec, optimize=optimize)


def _explicit_subscripts(subscripts: str, shapes: list[tuple[int, ...]]) -> str:
    """`subscripts` with an explicit output ("->") and every "..." spelled out as letters."""
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(
            f"einsum: {subscripts!r} has {len(terms)} operand term(s) but {len(shapes)} "
            "operand(s) were given"
        )
    for part in (*terms, output):
        bad = set(part.replace("...", "")) - set(string.ascii_letters)
        if bad or part.count("...") > 1:
            raise ValueError(f"einsum: invalid subscripts {subscripts!r}")
    free = sorted(set(string.ascii_letters) - set(spec))
    spelled = [len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes) if "..." in t]
    width = builtins.max(spelled, default=0)  # (max is the op here)
    if width > len(free):
        raise ValueError(f"einsum: too many dimensions under '...' in {subscripts!r}")
    broadcast = "".join(free[:width])  # the letters "..." stands for, right-aligned
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        if "..." in term:
            n = len(shape) - len(term.replace("...", ""))
            if n < 0:
                raise ValueError(
                    f"einsum: operand {i} has {len(shape)} dimensions, fewer than the "
                    f"subscripts {term!r} name"
                )
            terms[i] = term.replace("...", broadcast[width - n :])
    if not arrow:  # implicit output: "..." first, then the labels used once, in order
        labels = "".join(terms)
        once = sorted(c for c in set(labels) - set(broadcast) if labels.count(c) == 1)
        output = broadcast + "".join(once)
    else:
        output = output.replace("...", broadcast)
    return ",".join(terms) + "->" + output


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

    @staticmethod
    def jvp(ctx, t, axis=None, keepdims=False):  # a sum is linear: the sum of the tangents
        return t.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def batch(b, x, axis=None, keepdims=False):  # the same logical axes, shifted
        return Sum.apply(x, axis=b.axes(axis, b.ndim(x), "sum"), keepdims=keepdims)


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


def _reduce_or_say_why(reduce: Any, a: np.ndarray, axis: Any, keepdims: bool, name: str) -> Any:
    """`reduce(axis, keepdims)` (a max or min), with a plain message for an empty group."""
    try:
        return reduce(axis=axis, keepdims=keepdims)
    except ValueError as e:
        if a.size or isinstance(e, np.exceptions.AxisError):
            raise
        raise ValueError(
            f"{name}: nothing to reduce (shape {a.shape}, axis {axis}): an empty group has no "
            f"{name}imum"
        ) from None


class Max(Function):
    """Maximum over `axis`; tied elements share the gradient equally."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        out = _reduce_or_say_why(a.max, a, axis, keepdims, "max")
        ctx.save_for_backward(a, out)
        ctx.axis, ctx.kept = axis, _kept_shape(a.shape, axis)
        return out

    @staticmethod
    def backward(ctx, grad):  # 1 at the maximum; ties share it equally
        a, out = ctx.saved_tensors
        mask = value(a) == value(out).reshape(ctx.kept)
        share = (mask / mask.sum(axis=ctx.axis, keepdims=True)).astype(grad.dtype)
        return grad.reshape(ctx.kept) * share

    @staticmethod
    def jvp(ctx, t, axis=None, keepdims=False):  # the tangent at the maximum; ties share it
        (a,) = ctx.inputs
        mask = value(a) == value(ctx.out).reshape(_kept_shape(np.shape(value(a)), axis))
        share = (mask / mask.sum(axis=axis, keepdims=True)).astype(t.dtype)
        return (t * share).sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def batch(b, x, axis=None, keepdims=False):
        return Max.apply(x, axis=b.axes(axis, b.ndim(x), "max"), keepdims=keepdims)


@register(method=True)
def max(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over `axis` (all when None); tied elements share the gradient equally."""
    return Max.apply(as_tensor(x), axis=axis, keepdims=keepdims)


class Min(Max):
    """Minimum over `axis`; tied elements share the gradient equally (Max's rule)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        out = _reduce_or_say_why(a.min, a, axis, keepdims, "min")
        ctx.save_for_backward(a, out)
        ctx.axis, ctx.kept = axis, _kept_shape(a.shape, axis)
        return out

    jvp = staticmethod(Max.jvp)  # the tangent at the extremum (out tells which); ties share it

    @staticmethod
    def batch(b, x, axis=None, keepdims=False):
        return Min.apply(x, axis=b.axes(axis, b.ndim(x), "min"), keepdims=keepdims)


@register(method=True, numpy=(np.min, np.amin))
def min(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over `axis` (all when None); tied elements share the gradient equally."""
    return Min.apply(as_tensor(x), axis=axis, keepdims=keepdims)


class Prod(Function):
    """Product over `axis` (numpy semantics)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        out = a.prod(axis=axis, keepdims=keepdims)
        ctx.save_for_backward(a, out)
        ctx.axis, ctx.kept = axis, _kept_shape(a.shape, axis)
        return out

    @staticmethod
    def backward(ctx, grad):  # d(a_1 ... a_n)/da_i = the product of the other elements
        a, out = ctx.saved_tensors
        grad = grad.reshape(ctx.kept)
        product = value(out)
        if type(a) is np.ndarray and (product != 0).all() and np.isfinite(product).all():
            return grad * (out.reshape(ctx.kept) / a)  # the others' product is prod / a_i
        # A zero (or a product that underflowed to 0 or overflowed), or a graph to build:
        # multiply the others out. (prod / a_i differentiated again is prod / (a_i a_j) -
        # prod / a_i^2 for j = i, which cancels catastrophically for a small a_i.)
        return grad * _product_of_others(a, ctx.axis)

    @staticmethod
    def jvp(ctx, t, axis=None, keepdims=False):  # sum_i (the product of the others) da_i
        (a,) = ctx.inputs
        product, kept = value(ctx.out), _kept_shape(np.shape(value(a)), axis)
        if type(a) is np.ndarray and (product != 0).all() and np.isfinite(product).all():
            others = ctx.out.reshape(kept) / a  # as in backward: prod / a_i when it is exact
        else:
            others = _product_of_others(a, axis)
        return (t * others).sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def batch(b, x, axis=None, keepdims=False):
        return Prod.apply(x, axis=b.axes(axis, b.ndim(x), "prod"), keepdims=keepdims)


def _product_of_others(a: Any, axis: Any) -> Any:
    """For each element, the product of the other elements of its group, exact with zeros.

    Each group of n elements is laid out n times with the element itself replaced by 1, and
    multiplied out: n^2 numbers per group, but built from ops, so that it can be
    differentiated again (a second derivative of a product through a zero is not zero).
    """
    ndim = a.ndim
    if axis is None or ndim == 0:
        axes = tuple(range(ndim))
    else:
        axes = tuple(ax % ndim for ax in (axis if isinstance(axis, tuple) else (axis,)))
    order = [ax for ax in range(ndim) if ax not in axes] + list(axes)
    moved = a.transpose(tuple(order))
    n = int(np.prod([a.shape[ax] for ax in axes]))
    rows = moved.reshape(moved.shape[: ndim - len(axes)] + (n,))
    others = np.where(np.eye(n, dtype=bool), 1, rows[..., None, :]).prod(axis=-1)
    return others.reshape(moved.shape).transpose(tuple(np.argsort(order)))


@register(method=True, numpy=np.prod)
def prod(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Product of the elements over `axis` (all when None); exact gradients also with zeros.

    Gradients of gradients (create_graph) multiply out the other n - 1 elements of each
    group of n for every element: n^2 numbers per group.
    """
    return Prod.apply(as_tensor(x), axis=axis, keepdims=keepdims)


class LogSumExp(Function):
    """log(sum(exp(a))) over `axis`, computed with the maximum taken out (no overflow)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        peak = a.max(axis=axis, keepdims=True, initial=-np.inf)  # (-inf for an empty group)
        peak = np.where(np.isfinite(peak), peak, 0)  # all -inf, or an inf: nothing to shift
        with np.errstate(divide="ignore"):  # log(0) = -inf for a group of -inf only
            total = np.log(np.exp(a - peak).sum(axis=axis, keepdims=keepdims))
        ctx.save_for_backward(a)
        ctx.axis, ctx.peak = axis, peak
        return total + (peak if keepdims else peak.reshape(total.shape))

    @staticmethod
    def backward(ctx, grad):  # d lse(a)/da_i = exp(a_i - lse(a)) = softmax(a)_i
        # As exp(a - peak) / sum(exp(a - peak)), not exp(a - lse): lse rounds off the small
        # terms for large |a| (1e300 + log 2 == 1e300). The constant peak cancels exactly, so
        # the expression is differentiable again as it stands.
        (a,) = ctx.saved_tensors
        shifted = np.exp(a - ctx.peak)
        return grad.reshape(ctx.peak.shape) * shifted / shifted.sum(axis=ctx.axis, keepdims=True)

    @staticmethod
    def jvp(ctx, t, axis=None, keepdims=False):  # d lse = sum_i softmax(a)_i da_i
        (a,) = ctx.inputs
        peak = value(a).max(axis=axis, keepdims=True)
        shifted = np.exp(a - np.where(np.isfinite(peak), peak, 0))  # stable, as in forward
        total = shifted.sum(axis=axis, keepdims=keepdims)
        return (t * shifted).sum(axis=axis, keepdims=keepdims) / total

    @staticmethod
    def batch(b, x, axis=None, keepdims=False):
        return LogSumExp.apply(x, axis=b.axes(axis, b.ndim(x), "logsumexp"), keepdims=keepdims)


@register(method=True)
def logsumexp(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over `axis` (all when None), stable for large |x|; gradient softmax(x)."""
    return LogSumExp.apply(as_tensor(x), axis=axis, keepdims=keepdims)


class Norm(Function):
    """The 2-norm sqrt(sum(a^2)) over `axis`, scaled so that no square under- or overflows."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        out = np.sqrt((a * a).sum(axis=axis, keepdims=keepdims))
        if not (np.all(out > 0) and np.all(np.isfinite(out))):
            # a * a underflowed to 0 or overflowed to inf (|a| below 1e-154 or above 1e154
            # in float64), or a group is all zeros: ||a|| = s ||a / s|| with s = max |a|.
            scale = np.abs(a).max(axis=axis, keepdims=True, initial=0)  # (empty groups: 0)
            scale = np.where((scale > 0) & (scale < np.inf), scale, 1)  # (inf: the norm is inf)
            scaled = a / scale
            out = np.sqrt((scaled * scaled).sum(axis=axis, keepdims=True)) * scale
            out = out if keepdims else out.reshape(np.sum(a, axis=axis).shape)
        ctx.save_for_backward(a, out)
        ctx.kept = _kept_shape(a.shape, axis)
        return out

    @staticmethod
    def backward(ctx, grad):  # d||a||/da = a / ||a||; 0 where a group is all zeros
        a, out = ctx.saved_tensors
        return grad.reshape(ctx.kept) * _unit(a, out.reshape(ctx.kept))

    @staticmethod
    def jvp(ctx, t, axis=None, keepdims=False):  # d||a|| = <a / ||a||, da>
        (a,), kept = ctx.inputs, _kept_shape(np.shape(value(ctx.inputs[0])), axis)
        return (t * _unit(a, ctx.out.reshape(kept))).sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def batch(b, x, axis=None, keepdims=False):
        return Norm.apply(x, axis=b.axes(axis, b.ndim(x), "norm"), keepdims=keepdims)


def _unit(a: Any, norm: Any) -> Any:
    """a / norm, and 0 where the norm is 0 (where a is 0 too): the smallest subgradient.

    The denominator is made safe (1) there before dividing, and the result is then set to 0
    by a constant mask, so its own derivatives are finite and 0 there too (no 0 * inf).
    """
    zero = value(norm) == 0
    if not zero.any():
        return a / norm
    return np.where(zero, 0, a / np.where(zero, 1, norm))


@register(method=True, numpy=np.linalg.norm)
def norm(
    x: Any, ord: Any = None, axis: int | tuple[int, int] | None = None, keepdims: bool = False
) -> Tensor:
    """The 2-norm sqrt(sum(x**2)) over `axis` (all elements when None), as numpy.linalg.norm.

    Only the 2-norm: `ord` None, 2 for vectors (one axis) or "fro" for matrices (two axes).
    Its gradient is x / norm. Where x is all zeros the norm has no derivative; its gradient
    there is 0, the smallest subgradient (as al.abs at 0, and as PyTorch), at every order.
    Values whose squares would underflow or overflow are scaled first (numpy would give 0
    or inf there).
    """
    x = as_tensor(x)
    vector = isinstance(axis, int | np.integer) or (axis is None and x.ndim == 1)
    matrix = (axis is None and x.ndim == 2) or (isinstance(axis, tuple) and len(axis) == 2)
    if ord is not None and not vector and not matrix:
        raise ValueError(f"norm: ord={ord!r} needs a vector or a matrix, got shape {x.shape}")
    if ord == "fro" and not matrix:
        raise ValueError(f"norm: ord='fro' is a matrix norm, got a vector of shape {x.shape}")
    if not (ord is None or (ord == 2 and vector) or (ord == "fro" and matrix)):
        raise TypeError(
            f"norm: ord={ord!r} is not supported on Tensors, only the 2-norm (ord None, 2 for "
            "vectors, 'fro' for matrices); for ord=1 write al.abs(x).sum(axis)"
        )
    return Norm.apply(x, axis=axis, keepdims=keepdims)


class Cumsum(Function):
    """Running sum along `axis` (of the flattened array when None), as numpy.cumsum."""

    @staticmethod
    def forward(ctx, a, axis=None):
        ctx.axis, ctx.shape = axis, a.shape
        return np.cumsum(a, axis=axis)

    @staticmethod
    def backward(ctx, grad):  # out_j = sum_{i<=j} a_i, so dL/da_i = sum_{j>=i} grad_j
        axis = -1 if ctx.axis is None else ctx.axis
        reverse_sum = np.flip(np.cumsum(np.flip(grad, axis), axis), axis)
        return reverse_sum.reshape(ctx.shape)

    @staticmethod
    def jvp(ctx, t, axis=None):  # linear: the running sum of the tangent
        return np.cumsum(t, axis=axis)

    @staticmethod
    def batch(b, x, axis=None):  # axis None: each example's elements, flattened
        if axis is None:
            return Cumsum.apply(x.reshape(*b.sizes, -1), axis=b.nb)
        return Cumsum.apply(x, axis=b.axis(axis, b.ndim(x), "cumsum"))


@register(method=True, numpy=np.cumsum)
def cumsum(x: Any, axis: int | None = None) -> Tensor:
    """Cumulative sum along `axis` (over the flattened tensor when None), as numpy.cumsum."""
    return Cumsum.apply(as_tensor(x), axis=axis)


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

    @staticmethod
    def jvp(ctx, t, shape):  # linear: the tangent moves like the value
        return np.broadcast_to(t, shape)

    @staticmethod
    def batch(b, x, shape):  # pad the example's axes as numpy would, then broadcast
        return BroadcastTo.apply(b.pad(x, len(shape)), shape=(*b.sizes, *shape))


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

    @staticmethod
    def jvp(ctx, t, shape):  # linear: the tangent moves like the value
        return t.reshape(shape)

    @staticmethod
    def batch(b, x, shape):
        return Reshape.apply(x, shape=(*b.sizes, *shape))


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

    @staticmethod
    def jvp(ctx, t, axes=None):  # linear: the tangent moves like the value
        return t.transpose(axes)

    @staticmethod
    def batch(b, x, axes=None):  # the batch axes stay in front
        ndim = b.ndim(x)
        axes = (
            range(ndim)[::-1]
            if axes is None
            else [b.axis(a, ndim, "transpose") - b.nb for a in axes]
        )
        return Transpose.apply(x, axes=(*range(b.nb), *(b.nb + a for a in axes)))


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

    @staticmethod
    def jvp(ctx, t, dtype):  # the tangent converted like the value
        return t.astype(dtype)

    @staticmethod
    def batch(b, x, dtype):
        return Cast.apply(x, dtype=dtype)


class Clone(Function):
    """A copy of a with memory of its own."""

    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, grad):  # the identity
        return grad

    @staticmethod
    def jvp(ctx, t):  # the identity
        return t

    @staticmethod
    def batch(b, x):
        return Clone.apply(x)


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

    @staticmethod
    def jvp(ctx, t, index):  # linear: the tangent moves like the value
        return t[index]

    @staticmethod
    def batch(b, x, index):  # index every example alike: slices over the batch axes
        index, position = b.index(index)
        return b.to_front(GetItem.apply(x, index=index), position)


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

    @staticmethod
    def jvp(ctx, t, shape, index):  # linear: the tangent scattered like the value
        return IndexAdd.apply(t, shape=shape, index=index)

    @staticmethod
    def batch(b, grad, shape, index):
        index, position = b.index(index)
        grad = b.from_front(grad, position)  # where numpy's indexing puts the batch axes
        return IndexAdd.apply(grad, shape=(*b.sizes, *shape), index=index)


@register(method="__getitem__", public=False)
def getitem(x: Tensor, index: Any) -> Tensor:
    """x[index]; Tensors used as indices give a copy of their values."""
    if isinstance(index, tuple):
        index = tuple(_constant(i) for i in index)
    return GetItem.apply(x, index=_constant(index))


def _constant(x: Any) -> Any:
    """A Tensor used as a parameter (index, condition): a copy of its values.

    The op keeps it for backward, so a later in-place change of the Tensor must not reach it.
    Tensors in a list (`x[[i, j]]`) are copied too. Inside al.compile's trace the values are
    a traced array, kept as it is: a copy would be a constant, frozen at every replay.
    """
    if isinstance(x, Tensor):
        return x.data if getattr(x.data, "_traced", False) else np.array(x.data)
    if type(x) is list and any(isinstance(i, Tensor) for i in x):
        return [_constant(i) for i in x]
    return x


class Concatenate(Function):
    """Arrays joined along an existing axis."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        out = np.concatenate(arrays, axis=axis)  # first: it checks the axis and the shapes
        ctx.axis = axis
        ctx.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return out

    @staticmethod
    def backward(ctx, grad):  # each input gets its own slice
        axis = ctx.axis % grad.ndim
        edges = [0, *ctx.bounds.tolist(), grad.shape[axis]]
        lead = (slice(None),) * axis
        return tuple(grad[lead + (slice(lo, hi),)] for lo, hi in zip(edges, edges[1:]))

    @staticmethod
    def jvp(ctx, *tangents, axis=0):  # the tangents joined (zeros where an input has none)
        parts = [
            np.zeros(np.shape(value(x)), ctx.out.dtype) if t is None else t
            for x, t in zip(ctx.inputs, tangents)
        ]
        return np.concatenate(parts, axis=axis)

    @staticmethod
    def batch(b, *xs, axis=0):  # every input needs the batch axes: concatenate never broadcasts
        xs = [b.full(x, d) for x, d in zip(xs, b.dims)]
        return Concatenate.apply(*xs, axis=b.axis(axis, np.ndim(xs[0]) - b.nb, "concatenate"))


@register(numpy=np.concatenate)
def concatenate(tensors: Any, axis: int | None = 0) -> Tensor:
    """Join tensors along an existing axis (like numpy.concatenate; axis=None: flattened)."""
    if len(tensors) == 0:
        raise ValueError("concatenate: need at least one tensor")
    tensors = [as_tensor(t) for t in tensors]
    if axis is None:
        tensors, axis = [t.reshape(-1) for t in tensors], 0
    return Concatenate.apply(*tensors, axis=axis)


class Flip(Function):
    """a with the order of elements reversed along `axis` (every axis when None)."""

    @staticmethod
    def forward(ctx, a, axis=None):
        ctx.axis = axis
        return np.flip(a, axis)

    @staticmethod
    def backward(ctx, grad):  # flipping again puts each gradient back in its place
        return np.flip(grad, ctx.axis)

    @staticmethod
    def jvp(ctx, t, axis=None):  # linear: the tangent moves like the value
        return np.flip(t, axis)

    @staticmethod
    def batch(b, x, axis=None):  # never the batch axes
        return Flip.apply(x, axis=b.axes(axis, b.ndim(x), "flip"))


@register(method=True, numpy=np.flip)
def flip(x: Any, axis: int | tuple[int, ...] | None = None) -> Tensor:
    """Reverse the order of elements along `axis` (every axis when None), as numpy.flip."""
    return Flip.apply(as_tensor(x), axis=axis)


class Pad(Function):
    """a surrounded by constant values (numpy.pad with mode="constant")."""

    @staticmethod
    def forward(ctx, a, pad_width, constant_values=0):
        out = np.pad(a, pad_width, mode="constant", constant_values=constant_values)
        before = _pad_before(pad_width, a.ndim)
        ctx.index = tuple(slice(b, b + n) for b, n in zip(before, a.shape))
        return out

    @staticmethod
    def backward(ctx, grad):  # the input's block of the output; the padding is constant
        return grad[ctx.index]

    @staticmethod
    def jvp(ctx, t, pad_width, constant_values=0):  # the padding is constant: tangent 0
        return Pad.apply(t, pad_width=pad_width, constant_values=0)

    @staticmethod
    def batch(b, x, pad_width, constant_values=0):  # no padding on the batch axes
        ndim = b.ndim(x)
        widths = [(0, 0)] * b.nb + np.broadcast_to(pad_width, (ndim, 2)).tolist()
        values = np.asarray(constant_values)
        if values.size > 1:  # per-axis constants, as numpy allows
            values = [(0, 0)] * b.nb + np.broadcast_to(values, (ndim, 2)).tolist()
        return Pad.apply(x, pad_width=widths, constant_values=values)


def _pad_before(pad_width: Any, ndim: int) -> list[int]:
    """The padding before each axis, from any form numpy.pad accepts (n, (b, a), ((b, a), ...))."""
    widths = np.asarray(pad_width)
    if widths.size == 1:
        return [int(widths.flat[0])] * ndim
    if widths.size == 2 and widths.shape != (2, 1):
        return [int(widths.flat[0])] * ndim
    return [int(b) for b in np.broadcast_to(widths, (ndim, 2))[:, 0]]


@register(numpy=np.pad)
def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Tensor:
    """Surround `x` with `constant_values` (numpy.pad; only mode="constant").

    pad_width as numpy: n, (before, after), or one (before, after) pair per axis.
    """
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got mode={mode!r}")
    if isinstance(constant_values, Tensor):
        if constant_values.requires_grad:
            raise TypeError(
                "pad: constant_values receives no gradient; pass numbers (or "
                "constant_values.detach()), or concatenate the tensor yourself"
            )
        constant_values = constant_values.data
    widths = np.asarray(pad_width)
    if widths.dtype.kind not in "iu":
        raise TypeError(f"pad: pad_width must hold integers, got {pad_width!r}")
    return Pad.apply(as_tensor(x), pad_width=pad_width, constant_values=constant_values)


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

    @staticmethod
    def jvp(ctx, t):  # d e^a = e^a da
        return t * ctx.out

    @staticmethod
    def batch(b, x):
        return Exp.apply(x)


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

    @staticmethod
    def jvp(ctx, t):  # d log a = da / a
        return t / ctx.inputs[0]

    @staticmethod
    def batch(b, x):
        return Log.apply(x)


@register(method=True, numpy=np.log)
def log(x: Any) -> Tensor:
    """Natural logarithm elementwise."""
    return Log.apply(as_tensor(x))


class ReLU(Function):
    """max(a, 0)"""

    fresh_grads = True  # a new product (`grad` itself when written in place: not new)

    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)  # relu(a) > 0 exactly where a > 0; `a` itself can go
        return out

    @staticmethod
    def backward(ctx, grad):  # 1 where a > 0, else 0 (also at a == 0)
        (out,) = ctx.saved_tensors
        if ctx.owns_grad:  # nothing else holds `grad`: the same product, without a new array
            return np.multiply(grad, out > 0, out=grad)
        return grad * (out > 0)  # a comparison gives a plain mask, for Tensors too

    @staticmethod
    def jvp(ctx, t):  # da where a > 0, else 0
        return t * (ctx.out > 0)

    @staticmethod
    def batch(b, x):
        return ReLU.apply(x)


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

    @staticmethod
    def jvp(ctx, t):  # d tanh(a) = (1 - tanh(a)^2) da
        return t * (1 - ctx.out * ctx.out)

    @staticmethod
    def batch(b, x):
        return Tanh.apply(x)


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

    @staticmethod
    def jvp(ctx, t):  # d s(a) = s(a) (1 - s(a)) da
        return t * ctx.out * (1 - ctx.out)

    @staticmethod
    def batch(b, x):
        return Sigmoid.apply(x)


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

    @staticmethod
    def jvp(ctx, t):  # d|a| = sign(a) da, 0 at 0
        return t * np.sign(value(ctx.inputs[0]))

    @staticmethod
    def batch(b, x):
        return Abs.apply(x)


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

    @staticmethod
    def jvp(ctx, t):  # d sqrt(a) = da / (2 sqrt(a))
        return t / (2 * ctx.out)

    @staticmethod
    def batch(b, x):
        return Sqrt.apply(x)


@register(method=True, numpy=np.sqrt)
def sqrt(x: Any) -> Tensor:
    """Square root elementwise."""
    return Sqrt.apply(as_tensor(x))


class Sin(Function):
    """sin(a)"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, grad):  # d sin(a)/da = cos(a)
        (a,) = ctx.saved_tensors
        return grad * np.cos(a)

    @staticmethod
    def jvp(ctx, t):  # d sin(a) = cos(a) da
        return t * np.cos(ctx.inputs[0])

    @staticmethod
    def batch(b, x):
        return Sin.apply(x)


@register(method=True, numpy=np.sin)
def sin(x: Any) -> Tensor:
    """Sine elementwise (radians)."""
    return Sin.apply(as_tensor(x))


class Cos(Function):
    """cos(a)"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, grad):  # d cos(a)/da = -sin(a)
        (a,) = ctx.saved_tensors
        return grad * -np.sin(a)

    @staticmethod
    def jvp(ctx, t):  # d cos(a) = -sin(a) da
        return t * -np.sin(ctx.inputs[0])

    @staticmethod
    def batch(b, x):
        return Cos.apply(x)


@register(method=True, numpy=np.cos)
def cos(x: Any) -> Tensor:
    """Cosine elementwise (radians)."""
    return Cos.apply(as_tensor(x))


class Log1p(Function):
    """log(1 + a), accurate for small a"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log1p(a)

    @staticmethod
    def backward(ctx, grad):  # d log(1 + a)/da = 1 / (1 + a)
        (a,) = ctx.saved_tensors
        return grad / (1 + a)

    @staticmethod
    def jvp(ctx, t):  # d log(1 + a) = da / (1 + a)
        return t / (1 + ctx.inputs[0])

    @staticmethod
    def batch(b, x):
        return Log1p.apply(x)


@register(method=True, numpy=np.log1p)
def log1p(x: Any) -> Tensor:
    """log(1 + x) elementwise, accurate for small |x|."""
    return Log1p.apply(as_tensor(x))


class Expm1(Function):
    """e^a - 1, accurate for small a"""

    @staticmethod
    def forward(ctx, a):
        out = np.expm1(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # d(e^a - 1)/da = e^a = out + 1
        (out,) = ctx.saved_tensors
        return grad * (out + 1)

    @staticmethod
    def jvp(ctx, t):  # d(e^a - 1) = e^a da
        return t * (ctx.out + 1)

    @staticmethod
    def batch(b, x):
        return Expm1.apply(x)


@register(method=True, numpy=np.expm1)
def expm1(x: Any) -> Tensor:
    """e^x - 1 elementwise, accurate for small |x|."""
    return Expm1.apply(as_tensor(x))


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

    @staticmethod
    def jvp(ctx, ta, tb):  # the tangent of the larger input; ties average the two
        a, b = map(value, ctx.inputs)
        to_a = ((a > b) + 0.5 * (a == b)).astype(ctx.out.dtype)
        return _sum(None if ta is None else ta * to_a, None if tb is None else tb * (1 - to_a))

    @staticmethod
    def batch(b, x, y):
        return Maximum.apply(*b.elementwise(x, y))


maximum = register_binary(Maximum, "maximum", np.maximum)


class Minimum(Function):
    """Elementwise minimum of a and b (broadcasting)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):  # to the smaller input; ties share it equally
        a, b = ctx.saved_tensors
        a, b = value(a), value(b)
        to_a = ((a < b) + 0.5 * (a == b)).astype(grad.dtype)
        need_a, need_b = ctx.needs_input_grad
        return grad * to_a if need_a else None, grad * (1 - to_a) if need_b else None

    @staticmethod
    def jvp(ctx, ta, tb):  # the tangent of the smaller input; ties average the two
        a, b = map(value, ctx.inputs)
        to_a = ((a < b) + 0.5 * (a == b)).astype(ctx.out.dtype)
        return _sum(None if ta is None else ta * to_a, None if tb is None else tb * (1 - to_a))

    @staticmethod
    def batch(b, x, y):
        return Minimum.apply(*b.elementwise(x, y))


minimum = register_binary(Minimum, "minimum", np.minimum)


class Clip(Function):
    """a limited to [low, high] (numpy.clip); either bound may be None."""

    @staticmethod
    def forward(ctx, a, low, high):
        ctx.save_for_backward(a, low, high)
        return np.clip(a, low, high)

    @staticmethod
    def backward(ctx, grad):
        # The output is a where low <= a <= high (bounds included, as in PyTorch), low where
        # a < low < high, and high elsewhere (a > high, or low >= high which makes it high).
        a, low, high = (value(v) for v in ctx.saved_tensors)
        to_a = True if low is None else low <= a
        if high is not None:
            to_a = to_a & (a <= high)
        to_low = False
        if low is not None:
            to_low = a < low if high is None else (a < low) & (low < high)
        need_a, need_low, need_high = ctx.needs_input_grad
        return (
            grad * to_a if need_a else None,
            grad * to_low if need_low else None,
            grad * ~(to_a | to_low) if need_high else None,
        )

    @staticmethod
    def jvp(ctx, ta, tlow, thigh):  # the tangent of the input the value comes from
        a, low, high = (value(v) for v in ctx.inputs)
        to_a = True if low is None else low <= a  # the same masks as backward
        if high is not None:
            to_a = to_a & (a <= high)
        to_low = False
        if low is not None:
            to_low = a < low if high is None else (a < low) & (low < high)
        return _sum(
            None if ta is None else ta * to_a,
            None if tlow is None else tlow * to_low,
            None if thigh is None else thigh * ~(to_a | to_low),
        )

    @staticmethod
    def batch(b, x, low, high):
        return Clip.apply(*b.elementwise(x, low, high))


@register(method=True, numpy=np.clip)
def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Tensor:
    """`x` limited to [a_min, a_max] (numpy.clip); a bound may be None, a number or a Tensor.

    The gradient goes to x where a_min <= x <= a_max (at the bounds too, as in PyTorch),
    otherwise to the bound that gave the value (when it is a Tensor): a_min where
    x < a_min < a_max, a_max elsewhere. So each element's gradient goes to exactly one
    input, also where a_min == a_max (PyTorch gives it to neither bound there).
    """
    if a_min is None and a_max is None:
        raise ValueError("clip: give a_min, a_max or both (both are None)")
    return Clip.apply(as_tensor(x), a_min, a_max)


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

    @staticmethod
    def jvp(ctx, ta, tb, condition):  # the tangent of the input chosen
        ta, tb = 0.0 if ta is None else ta, 0.0 if tb is None else tb
        return Where.apply(ta, tb, condition=condition)

    @staticmethod
    def batch(b, x, y, condition):
        dims = (*b.dims, "condition" in b.kwdims)
        x, y, condition = b.elementwise(x, y, condition, dims=dims)
        return Where.apply(x, y, condition=condition)


@register(numpy=np.where)
def where(condition: Any, x: Any, y: Any) -> Tensor:
    """`x` where `condition` is true, else `y` (broadcasting); no gradient to `condition`."""
    if not getattr(condition, "_batched", False):  # (a batched mask inside vmap stays one)
        condition = np.asarray(_constant(condition))
    if condition.dtype != bool:
        raise TypeError(f"where: condition must be boolean, got dtype {condition.dtype}")
    if not (isinstance(x, Tensor) or isinstance(y, Tensor)):
        x = x if isinstance(x, int | float) else as_tensor(x)
        y = as_tensor(y) if isinstance(x, int | float) else y
    return Where.apply(x, y, condition=condition)


class LeakyReLU(Function):
    """a where a > 0, else negative_slope * a"""

    @staticmethod
    def forward(ctx, a, negative_slope=0.01):
        ctx.save_for_backward(a)
        ctx.negative_slope = negative_slope
        return np.where(a > 0, a, a * negative_slope)

    @staticmethod
    def backward(ctx, grad):  # 1 where a > 0, else negative_slope (also at 0, as PyTorch)
        (a,) = ctx.saved_tensors
        return np.where(value(a) > 0, grad, grad * ctx.negative_slope)

    @staticmethod
    def jvp(ctx, t, negative_slope=0.01):  # da where a > 0, else negative_slope da
        return np.where(value(ctx.inputs[0]) > 0, t, t * negative_slope)

    @staticmethod
    def batch(b, x, negative_slope=0.01):
        return LeakyReLU.apply(x, negative_slope=negative_slope)


@register(method=True)
def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x; gradient 1 or negative_slope (at 0 too)."""
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, int | float | np.number):
        raise TypeError(f"leaky_relu: negative_slope must be a number, got {negative_slope!r}")
    # a Python float: a numpy float64 scalar would turn float32 inputs into float64
    return LeakyReLU.apply(as_tensor(x), negative_slope=float(negative_slope))


_GELU_K = math.sqrt(2 / math.pi)
_GELU_C = 0.044715


class GELU(Function):
    """a/2 (1 + tanh(u)) with u = k (a + c a^3), k = sqrt(2/pi), c = 0.044715 (the tanh form)"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        # a/2 (1 + tanh(u)) = a sigmoid(2u): no cancellation in 1 + tanh(u) for a << 0
        return a * Sigmoid.apply(2 * _GELU_K * (a + _GELU_C * a**3))

    @staticmethod
    def backward(ctx, grad):  # with s = sigmoid(2u): d/da = s + a s (1 - s) 2k (1 + 3c a^2)
        (a,) = ctx.saved_tensors
        s = Sigmoid.apply(2 * _GELU_K * (a + _GELU_C * a**3))  # recomputed: differentiable
        return grad * (s + a * s * (1 - s) * (2 * _GELU_K) * (1 + 3 * _GELU_C * a * a))

    @staticmethod
    def jvp(ctx, t):  # the same derivative as backward, times the tangent
        (a,) = ctx.inputs
        s = Sigmoid.apply(2 * _GELU_K * (a + _GELU_C * a**3))
        return t * (s + a * s * (1 - s) * (2 * _GELU_K) * (1 + 3 * _GELU_C * a * a))

    @staticmethod
    def batch(b, x):
        return GELU.apply(x)


@register(method=True)
def gelu(x: Any) -> Tensor:
    """GELU in its tanh form: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    The same as PyTorch's `gelu(x, approximate="tanh")` (PyTorch's default is the erf form).
    """
    return GELU.apply(as_tensor(x))


# --- softmax family --------------------------------------------------------------------
class Softmax(Function):
    """exp(a) / sum(exp(a)) along `axis`, stabilised by subtracting the maximum."""

    @staticmethod
    def forward(ctx, a, axis=-1):
        e = np.exp(a - a.max(axis=axis, keepdims=True, initial=-np.inf))  # (empty rows: -inf)
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):  # dL/da = s * (g - sum(g * s))
        (s,) = ctx.saved_tensors
        return s * (grad - (grad * s).sum(axis=ctx.axis, keepdims=True))

    @staticmethod
    def jvp(ctx, t, axis=-1):  # the Jacobian is symmetric: the same formula as backward
        s = ctx.out
        return s * (t - (t * s).sum(axis=axis, keepdims=True))

    @staticmethod
    def batch(b, x, axis=-1):  # axis is >= 0 (the public function normalises it)
        return Softmax.apply(x, axis=axis + b.nb)


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

    @staticmethod
    def jvp(ctx, t, axis=-1):  # d out = da - sum(softmax(a) da)
        return t - (np.exp(ctx.out) * t).sum(axis=axis, keepdims=True)

    @staticmethod
    def batch(b, x, axis=-1):
        return LogSoftmax.apply(x, axis=axis + b.nb)


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

    loss_i = -sum_k t_ik log softmax(z_i)_k, with t the one-hot rows of (N,) class indices, or
    (N, C) probability rows. Its gradient is simply softmax(z) - t (times the reduction's
    scale). Class indices are an input like the logits (validated here, in forward), so the
    op is one recorded step from labels to loss.
    """

    name = "softmax_cross_entropy"
    fresh_grads = True  # (probs - rows) * grad: a new array

    @staticmethod
    def forward(ctx, logits, targets, reduction="mean"):
        # With s = z - max(z), log-total l = log(sum_k e^s_k) and T = sum_k t_k (1 for
        # one-hot rows): loss = -sum_k t_k log softmax(z)_k = T l - sum_k t_k s_k
        #                     = sum_k t_k (l - s_k), one product of t with (l - s).
        rows = _target_rows(targets, logits)
        row_sums = None if rows is not targets else targets.sum(axis=1, keepdims=True)
        shifted = logits - logits.max(axis=1, keepdims=True)  # stable: largest exponent e^0
        exps = np.exp(shifted)
        total = exps.sum(axis=1, keepdims=True)
        gaps = np.log(total) - shifted  # -log softmax(z), each entry
        ctx.save_for_backward(logits, targets)
        ctx.probs, ctx.row_sums, ctx.rows, ctx.reduction = exps / total, row_sums, rows, reduction
        if reduction == "none":
            return weighted_gaps(rows, gaps, rowwise=True)
        loss = weighted_gaps(rows, gaps, rowwise=False)
        return np.array(loss / len(logits) if reduction == "mean" else loss)

    @staticmethod
    def backward(ctx, grad):  # dL/dz = T softmax(z) - t, scaled as the reduction scales
        logits, targets = ctx.saved_tensors
        # The fast path reuses the forward's softmax; a graph (create_graph) recomputes it
        # as an op so that it can be differentiated again. One-hot rows are constants.
        probs = Softmax.apply(logits, axis=1) if isinstance(logits, Tensor) else ctx.probs
        rows = targets if ctx.row_sums is not None else ctx.rows
        if ctx.row_sums is not None:
            probs = probs * ctx.row_sums
        n = probs.shape[0]
        if ctx.reduction == "none":
            return (probs - rows) * grad.reshape((n, 1)), None
        return (probs - rows) * (grad / n if ctx.reduction == "mean" else grad), None

    @staticmethod
    def jvp(ctx, tz, tt, reduction="mean"):  # dL = sum_k (T s_k - t_k) dz_k
        if tt is not None:  # (a tangent of the targets would be dropped: see _no_grad_targets)
            _no_grad_targets("softmax_cross_entropy")
        logits, targets = ctx.inputs
        probs = Softmax.apply(logits, axis=1)
        rows = _target_rows(value(targets), value(logits))
        if rows is value(targets):
            rows = targets
            probs = probs * targets.sum(axis=1, keepdims=True)
        losses = ((probs - rows) * tz).sum(axis=1)
        if reduction == "none":
            return losses
        return losses.sum() / len(value(logits)) if reduction == "mean" else losses.sum()

    @staticmethod
    def batch(b, logits, targets, reduction="mean"):  # all examples' rows as one (N, C)
        logits, targets = b.full(logits, b.dims[0]), b.full(targets, b.dims[1])
        n, c = np.shape(logits)[-2:]
        labels = np.ndim(targets) == b.nb + 1  # class indices: (..., N)
        losses = SoftmaxCrossEntropy.apply(
            logits.reshape(-1, c),
            targets.reshape(-1) if labels else targets.reshape(-1, c),
            reduction="none",
        ).reshape(*b.sizes, n)
        if reduction == "none":
            return losses
        return losses.sum(axis=-1) / n if reduction == "mean" else losses.sum(axis=-1)


def _no_grad_targets(where: str) -> None:
    raise ValueError(
        f"{where}: the targets carry a gradient (they require grad, or have a tangent), but "
        "the op differentiates the logits only, so theirs would be silently 0. Pass "
        "targets.detach(), or write the loss with ops to differentiate the targets too: "
        "-(targets * al.log_softmax(logits, axis=1)).sum(axis=1)"
    )


def weighted_gaps(rows: np.ndarray, gaps: np.ndarray, rowwise: bool) -> Any:
    """sum of t * (l - s) over each row (rowwise) or over all (vdot: one call).

    A target of 0 on a class whose logit is -inf adds nothing (the limit of t log t), but
    0 * inf is NaN: where a NaN appears, the sum is taken again over the nonzero targets.
    """
    out = (rows * gaps).sum(axis=1) if rowwise else np.vdot(rows, gaps)
    if np.isnan(out).any() if rowwise else out != out:
        with np.errstate(invalid="ignore"):
            terms = np.where(rows != 0, rows * gaps, 0.0)
        out = terms.sum(axis=1) if rowwise else terms.sum()
    return out


def _target_rows(targets: Any, logits: Any) -> Any:
    """Probability rows as they are; class indices (N,) as validated one-hot rows."""
    if targets.ndim == 2:
        return targets
    return one_hot_rows(targets, logits.shape[1], logits.dtype, "softmax_cross_entropy")


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
    if not isinstance(targets, Tensor):
        targets = np.asarray(targets)
    elif targets.requires_grad:
        _no_grad_targets("softmax_cross_entropy")
    if targets.ndim == 1:
        if targets.shape[0] != n:
            raise ValueError(
                f"softmax_cross_entropy: {targets.shape[0]} targets for {n} rows of logits"
            )
    elif targets.shape != (n, c):
        raise ValueError(
            f"softmax_cross_entropy: targets must have shape ({n},) or ({n}, {c}) "
            f"for logits of shape {logits.shape}, got {targets.shape}"
        )
    elif targets.dtype != logits.dtype:  # the loss keeps the logits' dtype
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
        return _identity(num_classes, dtype).take(labels, axis=0)  # (faster than [labels])
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
