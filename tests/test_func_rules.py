"""Every op's JVP and batch rule (al.func), over hypothesis-drawn shapes, in float64.

`OPS` has one case per primitive of ops.py: a strategy drawing a function of Tensors and its
arguments (0-d, size-1 and broadcast axes, values away from kinks and poles). For each:
- forward mode: <v, J u> by jvp equals <J^T v, u> by vjp, and J u equals central finite
  differences along u;
- forward-over-reverse: the Hessian-vector product (jvp of grad) equals finite differences
  of the gradient, through every rule's saved values;
- vmap equals stacking the op over the examples (mapped and unmapped arguments, any axis),
  and vmap(grad) equals a loop of grads (per-example gradients).
A primitive without a case (or without a jvp / batch rule) fails `test_every_primitive...`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_lite as al
from autograd_lite import Function, Tensor, ops
from autograd_lite import func as F
from tests.strategies import (
    array_and_axis,
    arrays,
    broadcast_pair,
    broadcastable_shapes,
    distinct_arrays,
    gapped_arrays,
    logits_and_targets,
    matmul_pair,
    nonzero_arrays,
    positive_arrays,
    reshape_targets,
    shapes,
)
from tests.test_op_catalogue import CASES as CATALOGUE
from tests.test_op_catalogue import split_args_


# --- one case per primitive: a strategy of (function of Tensors, float64 arguments) ---------
def unary(fn, values=arrays, **kw):
    return shapes(**kw).flatmap(values).map(lambda x: (fn, [x]))


def binary(fn, first=arrays, second=arrays):
    return broadcast_pair(first, second).map(lambda p: (fn, list(p)))


@st.composite
def power_scalar(draw):
    e = draw(st.sampled_from([2, 3, 0.5, -1, 1.5, -0.5]))
    return (lambda x: x**e), [draw(shapes().flatmap(positive_arrays))]


@st.composite
def linear_case(draw):
    k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    lead = draw(st.sampled_from([(), (2,), (3, 2)]))
    args = [draw(arrays((*lead, k))), draw(arrays((k, m)))]
    if draw(st.booleans()):
        return (lambda x, w, b: al.linear(x, w, b)), [*args, draw(arrays((m,)))]
    return (lambda x, w: al.linear(x, w)), args


@st.composite
def linear_relu_case(draw):
    """nn.Sequential's Linear + ReLU op, its pre-activation at least 0.16 away from relu's kink
    (a gapped bias, plus at most 0.09 from x @ W)."""
    k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    lead = draw(st.sampled_from([(), (2,), (3, 2)]))
    args = [draw(arrays((*lead, k), -1, 1)), draw(arrays((k, m), -0.03, 0.03))]
    return (lambda x, w, b: ops.LinearReLU.apply(x, w, b)), [*args, draw(gapped_arrays((m,)))]


@st.composite
def reduction(draw, name, elements=arrays):
    x, axis, keepdims = draw(array_and_axis(elements=elements))
    return (lambda t: getattr(t, name)(axis=axis, keepdims=keepdims)), [x]


@st.composite
def broadcast_case(draw):
    (shape, target), _ = draw(broadcastable_shapes(num_shapes=2))
    target = np.broadcast_shapes(shape, target)
    return (lambda t: al.broadcast_to(t, target)), [draw(arrays(shape))]


@st.composite
def reshape_case(draw):
    shape = draw(shapes())
    target = draw(reshape_targets(shape))
    return (lambda t: t.reshape(target)), [draw(arrays(shape))]


@st.composite
def transpose_case(draw):
    shape = draw(shapes())
    axes = draw(st.none() | st.permutations(range(len(shape))).map(tuple))
    return (lambda t: t.transpose(axes)), [draw(arrays(shape))]


@st.composite
def getitem_case(draw):
    shape = draw(shapes(min_dims=1))
    if draw(st.booleans()):
        index = draw(hnp.basic_indices(shape, allow_newaxis=True))
    else:
        index = draw(hnp.integer_array_indices(shape, result_shape=shapes(1, 2, max_side=3)))
    return (lambda t: t[index]), [draw(arrays(shape))]


@st.composite
def index_add_case(draw):
    shape = draw(shapes(min_dims=1))
    index = draw(hnp.integer_array_indices(shape, result_shape=shapes(1, 2, max_side=3)))
    grad = draw(arrays(np.empty(shape)[index].shape))
    return (lambda g: ops.IndexAdd.apply(g, shape=shape, index=index)), [grad]


@st.composite
def concatenate_case(draw):
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=3))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    parts = [draw(arrays(shape[: axis % len(shape)] + (n,) + shape[axis % len(shape) + 1 :]))
             for n in sizes]  # fmt: skip
    return (lambda *ts: al.concatenate(list(ts), axis=axis)), parts


@st.composite
def where_case(draw):
    (sa, sb, sc), _ = draw(broadcastable_shapes(num_shapes=3))
    cond = draw(hnp.arrays(bool, sc))
    return (lambda a, b: al.where(cond, a, b)), [draw(arrays(sa)), draw(arrays(sb))]


@st.composite
def softmax_case(draw, fn):
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return (lambda t: fn(t, axis=axis)), [draw(arrays(shape))]


@st.composite
def cross_entropy_case(draw):
    logits, targets = draw(logits_and_targets())
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return (lambda z: al.softmax_cross_entropy(z, targets, reduction=reduction)), [logits]


# name -> (the primitive it exercises, its strategy)
OPS = {
    "add": (ops.Add, binary(lambda a, b: a + b)),
    "subtract": (ops.Sub, binary(lambda a, b: a - b)),
    "multiply": (ops.Mul, binary(lambda a, b: a * b)),
    "divide": (ops.Div, binary(lambda a, b: a / b, second=nonzero_arrays)),
    "power": (ops.Pow, binary(lambda a, b: a**b, positive_arrays, lambda s: arrays(s, -2, 2))),
    "power scalar": (ops.Pow, power_scalar()),
    "negative": (ops.Neg, unary(lambda t: -t)),
    "matmul": (ops.MatMul, matmul_pair().map(lambda p: ((lambda a, b: a @ b), list(p)))),
    "linear": (ops.Linear, linear_case()),
    "linear relu": (ops.LinearReLU, linear_relu_case()),
    "sum": (ops.Sum, reduction("sum")),
    "max": (ops.Max, reduction("max", distinct_arrays)),
    "norm": (ops.Norm, reduction("norm", gapped_arrays)),  # (a kink at 0, as abs)
    "norm at zero": (ops.Norm, st.just(((lambda t: al.norm(t * 0.0, axis=0)), [np.ones((2, 3))]))),
    "clone": (ops.Clone, unary(lambda t: al.clone(t) * t)),
    "broadcast_to": (ops.BroadcastTo, broadcast_case()),
    "reshape": (ops.Reshape, reshape_case()),
    "transpose": (ops.Transpose, transpose_case()),
    "astype": (ops.Cast, unary(lambda t: t.astype(np.float32) * 3)),
    "getitem": (ops.GetItem, getitem_case()),
    "index_add": (ops.IndexAdd, index_add_case()),
    "concatenate": (ops.Concatenate, concatenate_case()),
    "exp": (ops.Exp, unary(al.exp)),
    "log": (ops.Log, unary(al.log, positive_arrays)),
    "relu": (ops.ReLU, unary(al.relu, gapped_arrays)),
    "tanh": (ops.Tanh, unary(al.tanh)),
    "sigmoid": (ops.Sigmoid, unary(al.sigmoid)),
    "abs": (ops.Abs, unary(al.abs, gapped_arrays)),
    "sqrt": (ops.Sqrt, unary(al.sqrt, positive_arrays)),
    "maximum": (ops.Maximum, binary(al.maximum, gapped_arrays, lambda s: gapped_arrays(s, 0))),
    "where": (ops.Where, where_case()),
    "softmax": (ops.Softmax, softmax_case(al.softmax)),
    "log_softmax": (ops.LogSoftmax, softmax_case(al.log_softmax)),
    "softmax_cross_entropy": (ops.SoftmaxCrossEntropy, cross_entropy_case()),
}


def catalogue(name):
    """A case of tests/test_op_catalogue.py, as (function of Tensors, its arrays)."""

    def make(drawn):
        xs, bind = split_args_(drawn)
        return bind(CATALOGUE[name].ours), list(xs)

    return CATALOGUE[name].args.map(make)


# The ops of the catalogue, primitives and composed ones (None: made of other ops).
CATALOGUE_PRIMITIVES = {
    "sin": ops.Sin, "cos": ops.Cos, "log1p": ops.Log1p, "expm1": ops.Expm1,
    "minimum": ops.Minimum, "clip": ops.Clip, "remainder": ops.Remainder,
    "leaky_relu": ops.LeakyReLU, "gelu": ops.GELU, "min": ops.Min, "prod": ops.Prod,
    "logsumexp": ops.LogSumExp, "cumsum": ops.Cumsum, "flip": ops.Flip, "pad": ops.Pad,
    "einsum": ops.Einsum,
}  # fmt: skip
for _name in CATALOGUE:
    OPS[_name if _name not in OPS else f"{_name} (catalogue)"] = (
        CATALOGUE_PRIMITIVES.get(_name),
        catalogue(_name),
    )

# The float32 cast rounds: compare its derivatives to float32 precision, and difference it
# with a step of 1 (it is linear, so the step adds no error, while rounding shrinks).
RTOL = {"astype": 1e-5}
EPS = {"astype": 1.0}


def test_every_primitive_has_rules_and_a_case():
    primitives = {c for c in vars(ops).values() if isinstance(c, type) and issubclass(c, Function)}
    primitives.discard(Function)
    missing = sorted(
        c.__name__ for c in primitives if F._rule(c, "jvp") is None or F._rule(c, "batch") is None
    )
    assert not missing, f"give these ops a jvp and a batch rule in ops.py: {missing}"
    untested = sorted(c.__name__ for c in primitives - {op for op, _ in OPS.values() if op})
    assert not untested, f"add these ops to OPS in tests/test_func_rules.py: {untested}"


def draw_case(data, name):
    fn, arrays_ = data.draw(OPS[name][1])
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    return fn, [np.asarray(a, dtype=np.float64) for a in arrays_], rng


def directional_difference(fn, xs, us, eps=1e-6):
    """(f(x + eps u) - f(x - eps u)) / 2 eps: the derivative along u, numerically."""
    plus = fn(*[Tensor(x + eps * u) for x, u in zip(xs, us)]).data
    minus = fn(*[Tensor(x - eps * u) for x, u in zip(xs, us)]).data
    return (plus.astype(np.float64) - minus) / (2 * eps)


@pytest.mark.parametrize("name", list(OPS))
@given(data=st.data())
def test_jvp_equals_vjp_and_finite_differences(name, data):
    fn, xs, rng = draw_case(data, name)
    us = [rng.standard_normal(x.shape) for x in xs]
    out, t = F.jvp(fn, tuple(xs), tuple(us))
    assert t.shape == out.shape and t.dtype == out.dtype
    assert t.grad_fn is None and out.grad_fn is None  # forward mode records no graph
    v = rng.standard_normal(out.shape)
    _, vjp_fn = F.vjp(fn, *xs)
    cotangents = vjp_fn(v.astype(out.dtype))
    rtol = RTOL.get(name, 1e-10)
    jvp_side = np.vdot(v, t.data)
    vjp_side = sum(np.vdot(c.data, u) for c, u in zip(cotangents, us))
    np.testing.assert_allclose(jvp_side, vjp_side, rtol=rtol, atol=rtol)
    expected = directional_difference(fn, xs, us, EPS.get(name, 1e-6))
    np.testing.assert_allclose(t.data, expected, rtol=max(rtol, 1e-5), atol=1e-6)


def scalarized(fn, w):
    """A scalar function of the op with curvature: sum((w * fn(...))^2) / 2."""
    return lambda *ts: ((fn(*ts) * w) ** 2).sum() / 2


@pytest.mark.parametrize("name", list(OPS))
@given(data=st.data())
def test_hvp_equals_finite_differences_of_the_gradient(name, data):
    fn, xs, rng = draw_case(data, name)
    w = rng.standard_normal(fn(*map(Tensor, xs)).shape)
    loss = scalarized(fn, w)
    us = [rng.standard_normal(x.shape) for x in xs]
    products = F.hvp(loss, tuple(xs), tuple(us))
    every = tuple(range(len(xs)))
    for k, x in enumerate(xs):
        assert products[k].shape == x.shape and products[k].dtype == x.dtype

        def gradient_k(*ts, k=k):  # one argument's gradient, a function of all of them
            return F.grad(loss, argnums=every)(*ts)[k]

        expected = directional_difference(gradient_k, xs, us, EPS.get(name, 1e-6))
        rtol = max(RTOL.get(name, 0), 1e-5)
        # astype computes in float32, and prod's entries span many magnitudes (a product of
        # 15 twos next to a zero): their errors are relative to the largest entry
        scaled = name in ("astype", "prod")
        atol = 1e-6 * (np.abs(expected).max(initial=1) if scaled else 1)
        np.testing.assert_allclose(products[k].data, expected, rtol=rtol, atol=atol)


@st.composite
def mapped_arguments(draw, arrays_):
    """in_axes and the batch: each argument mapped (along a drawn axis) or shared.

    The examples of a mapped argument are the argument scaled by 1, 1.25, 0.75: values keep
    their sign, so they stay in the op's domain.
    """
    size = draw(st.integers(1, 3))
    mapped = draw(st.lists(st.booleans(), min_size=len(arrays_), max_size=len(arrays_)))
    if not any(mapped):
        mapped[draw(st.integers(0, len(arrays_) - 1))] = True
    in_axes, batch, examples = [], [], [[] for _ in range(size)]
    for a, m in zip(arrays_, mapped):
        variants = [a * s for s in (1.0, 1.25, 0.75)[:size]] if m else [a] * size
        for example, variant in zip(examples, variants):
            example.append(variant)
        if not m:
            in_axes.append(None)
            batch.append(a)
            continue
        axis = draw(st.integers(0, a.ndim))
        batch.append(np.stack(variants, axis=axis))
        in_axes.append(axis - a.ndim - 1 if draw(st.booleans()) else axis)  # negative too
    return tuple(in_axes), batch, examples


@pytest.mark.parametrize("name", list(OPS))
@given(data=st.data())
def test_vmap_equals_stacking_and_gives_per_example_gradients(name, data):
    fn, xs, rng = draw_case(data, name)
    in_axes, batch, examples = data.draw(mapped_arguments(xs))
    out = F.vmap(fn, in_axes=in_axes)(*batch)
    expected = np.stack([fn(*map(Tensor, example)).data for example in examples])
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-13, atol=1e-13)

    loss = scalarized(fn, rng.standard_normal(expected.shape[1:]))
    every = tuple(range(len(xs)))
    per_example = F.vmap(F.grad(loss, argnums=every), in_axes=in_axes)(*batch)
    for k in every:
        loop = np.stack([F.grad(loss, argnums=every)(*example)[k].data for example in examples])
        np.testing.assert_allclose(per_example[k].data, loop, rtol=1e-10, atol=1e-12)


# --- indexing: the cases where numpy moves the batch axes ---------------------------------
@pytest.mark.parametrize(
    "index",
    [
        ([0, 2], slice(None), [1, 0]),  # advanced indices apart: numpy puts them first
        ([0, 2], None, [1, 0]),
        (1, slice(None), [1, 0, 1]),  # an int counts as advanced next to an array
        (Ellipsis, [1, 1]),
        ([[0, 1], [1, 2]], [0, 3]),
        (np.array([True, False, True]), slice(1, None), 0),
        (slice(None), np.array([[1, 0], [3, 3]])),
        (None, 1, slice(None), [0, 1]),
    ],
)
def test_vmap_of_indexing_where_numpy_moves_the_advanced_axes(index):
    x = np.arange(24.0).reshape(3, 4, 2) / 7
    batch = np.stack([x, 2 * x, -x], axis=1)  # mapped along axis 1
    out = F.vmap(lambda t: t[index], in_axes=1)(batch)
    np.testing.assert_array_equal(out.data, np.stack([x[index], (2 * x)[index], (-x)[index]]))
    # the scatter of the gradient (IndexAdd) is batched the same way
    g = F.vmap(F.grad(lambda t: (t[index] ** 2).sum()), in_axes=1)(batch)
    expected = np.stack([F.grad(lambda t: (t[index] ** 2).sum())(e).data for e in (x, 2 * x, -x)])
    np.testing.assert_allclose(g.data, expected, rtol=1e-14)
