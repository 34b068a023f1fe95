"""The op catalogue: every op added for the peer suites, each put through the same checks.

For each op in `CASES`, over hypothesis-drawn shapes (0-d, size-1 and broadcast axes):
- its value equals numpy's, also when called by its numpy name (np.sin(t), np.einsum(...))
  and as a Tensor method where it has one;
- gradcheck and gradgradcheck in float64 (first and second order against finite differences);
- float32 stays float32 in the output, the gradient and the gradient of the gradient;
- values and vector-Jacobian products equal PyTorch's in float64 (where PyTorch has the op).
Values are drawn away from each op's kinks and jumps; the edge values themselves (ties, the
clip bounds, zeros in prod, zero variance, ...) have their own tests in tests/test_ops_edges.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_lite as al
from tests.strategies import (
    array_and_axis,
    arrays,
    broadcast_pair,
    distinct_arrays,
    gapped_arrays,
    leaves,
    shapes,
)


@dataclass
class Case:
    ours: Callable  # the al.<name> form, on Tensors
    reference: Callable  # numpy, on arrays
    args: st.SearchStrategy  # a tuple: float64 arrays (differentiated) and Params
    numpy: Callable | None = None  # the numpy-name form, called with Tensors
    method: Callable | None = None  # the Tensor-method form
    torch: Callable | None = None  # PyTorch, on torch tensors (None: PyTorch lacks it)


@dataclass
class Param:
    """A drawn argument that is not differentiated (an axis, a shape, the subscripts...)."""

    value: object


def params(strategy: st.SearchStrategy, n_arrays: int = 1) -> st.SearchStrategy:
    """Mark all but the first `n_arrays` drawn values as `Param`s."""
    return strategy.map(lambda t: (*t[:n_arrays], *(Param(p) for p in t[n_arrays:])))


def one(values: Callable = arrays, **shape_kwargs) -> st.SearchStrategy:
    return shapes(**shape_kwargs).flatmap(values).map(lambda a: (a,))


def divisors() -> st.SearchStrategy:
    """Divisors for %: a / b is never near an integer when a is drawn by gapped_arrays."""
    return st.sampled_from([-1.7, -1.1, -0.6, 0.6, 1.1, 1.7])


@st.composite
def mod_pair(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    (shape_a, shape_b), _ = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_side=3))
    return draw(gapped_arrays(shape_a)), draw(hnp.arrays(np.float64, shape_b, elements=divisors()))


@st.composite
def clip_args(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """x and two bounds, broadcasting, on grids that keep every pair at least 0.1 apart."""
    (sx, slo, shi), _ = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_side=3))
    return (
        draw(gapped_arrays(sx)),
        draw(gapped_arrays(slo, offset=0.0)),
        draw(gapped_arrays(shi, offset=0.1)),
    )


# --- einsum: subscripts with the sizes of their labels drawn -----------------------------------
EINSUM_SPECS = [
    "ij,jk->ik",  # matmul
    "i,i->",  # inner product to 0-d
    "i,j->ij",  # outer product
    "bij,bjk->bik",  # batched matmul
    "ij->ji",  # transpose
    "ij->",  # sum everything
    "ij->i",  # a label that only one operand has
    "ii->i",  # diagonal
    "ii",  # trace (implicit output: nothing)
    "iij,j->i",  # diagonal of a 3-d operand
    "ij,jk",  # implicit output: "ik"
    "ji,jk",  # implicit output sorted: "ik"
    "ijk,kj->i",
    "i,->i",  # a 0-d operand
    "ij,ij,ij->ij",  # three operands
    "...ij,...jk->...ik",  # ellipsis with broadcast batch dimensions
    "...i,i",  # implicit with ellipsis
]


@st.composite
def einsum_args(draw: st.DrawFn) -> tuple:
    spec = draw(st.sampled_from(EINSUM_SPECS))
    terms = spec.split("->")[0].split(",")
    sizes = {c: draw(st.integers(1, 3)) for c in set("".join(terms)) - set(".")}
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=len(terms), max_dims=2, max_side=2))
    operands = []
    for term, lead in zip(terms, batch.input_shapes):
        shape = tuple(sizes[c] for c in term.replace("...", ""))
        if "..." in term:
            shape = lead + shape
        elif shape and draw(st.booleans()) and len(terms) > 1 and len(set(term)) == len(term):
            # a size-1 axis where the other operands have the full size (numpy broadcasts)
            i = draw(st.integers(0, len(shape) - 1))
            shared = sum(term[i] in t for t in terms) > 1
            shape = shape[:i] + (1,) + shape[i + 1 :] if shared else shape
        operands.append(draw(arrays(shape)))
    return (spec, *operands)


@st.composite
def tensordot_args(draw: st.DrawFn) -> tuple:
    shape_a = draw(shapes(max_dims=3, max_side=3))
    n = draw(st.integers(0, len(shape_a)))
    shape_b = shape_a[len(shape_a) - n :] + draw(shapes(max_dims=2, max_side=3))
    if draw(st.booleans()) or n == 0:
        return draw(arrays(shape_a)), draw(arrays(shape_b)), n
    axes_a = list(range(len(shape_a) - n, len(shape_a)))
    order = draw(st.permutations(range(n)))
    axes = ([axes_a[i] for i in order], list(order))
    return draw(arrays(shape_a)), draw(arrays(shape_b)), axes


# --- shape helpers: their parameters drawn with the shape ---------------------------------------
@st.composite
def pad_args(draw: st.DrawFn) -> tuple:
    x = draw(shapes(max_dims=3, max_side=3).flatmap(arrays))
    form = draw(st.sampled_from(["int", "pair", "per-axis"] if x.ndim else ["int", "pair"]))
    width = st.integers(0, 2)
    if form == "int":
        pad_width = draw(width)
    elif form == "pair":
        pad_width = (draw(width), draw(width))
    else:
        pad_width = tuple((draw(width), draw(width)) for _ in range(x.ndim))
    return x, pad_width, draw(st.sampled_from([0.0, -1.5, 2.0]))


@st.composite
def split_args(draw: st.DrawFn) -> tuple:
    shape = draw(shapes(min_dims=1, max_side=4))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    if draw(st.booleans()):
        sections = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    else:
        sections = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    return draw(arrays(shape)), sections, axis


@st.composite
def squeeze_args(draw: st.DrawFn) -> tuple:
    shape = draw(shapes(max_side=2))
    ones = [i for i, n in enumerate(shape) if n == 1]
    if not ones:
        return draw(arrays(shape)), None
    axis = draw(st.one_of(st.none(), st.lists(st.sampled_from(ones), unique=True).map(tuple)))
    return draw(arrays(shape)), (axis if axis != () else None)


@st.composite
def expand_dims_args(draw: st.DrawFn) -> tuple:
    x = draw(shapes().flatmap(arrays))
    return x, draw(st.integers(-x.ndim - 1, x.ndim))


@st.composite
def broadcast_to_args(draw: st.DrawFn) -> tuple:
    (shape, _), target = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_side=3))
    return draw(arrays(shape)), target


@st.composite
def flip_args(draw: st.DrawFn) -> tuple:
    x = draw(shapes().flatmap(arrays))
    if x.ndim == 0:
        return x, None
    return x, draw(st.one_of(st.none(), hnp.valid_tuple_axes(x.ndim, min_size=1)))


@st.composite
def tile_args(draw: st.DrawFn) -> tuple:
    x = draw(shapes(max_side=3).flatmap(arrays))
    reps = draw(st.one_of(st.integers(1, 2), st.lists(st.integers(1, 2), max_size=3).map(tuple)))
    return x, reps


@st.composite
def repeat_args(draw: st.DrawFn) -> tuple:
    x = draw(shapes(max_side=3).flatmap(arrays))
    axis = draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1))) if x.ndim else None
    n = x.size if axis is None else x.shape[axis]
    repeats = draw(
        st.one_of(st.integers(0, 2), st.lists(st.integers(0, 2), min_size=n, max_size=n))
    )
    return x, repeats, axis


@st.composite
def cumsum_args(draw: st.DrawFn) -> tuple:
    x = draw(shapes().flatmap(arrays))
    axis = draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1))) if x.ndim else None
    return x, axis


@st.composite
def moments_args(draw: st.DrawFn) -> tuple:
    x, axis, keepdims = draw(array_and_axis(elements=distinct_arrays))
    n = (
        x.size
        if axis is None or x.ndim == 0
        else int(np.prod(np.array(x.shape)[list(np.atleast_1d(axis))]))
    )
    return x, axis, keepdims, draw(st.integers(0, 1 if n > 1 else 0))


def torch_dims(axis, ndim: int):
    return tuple(range(ndim)) if axis is None else axis


def _t():
    import torch

    return torch


def torch_prod(t, axis, keepdims):
    """torch.prod reduces one dim at a time: reduce each of numpy's axes in turn."""
    axes = sorted({a % t.ndim for a in np.atleast_1d(torch_dims(axis, t.ndim))}) if t.ndim else []
    for a in axes:
        t = t.prod(dim=a, keepdim=True)
    return t if keepdims or not axes else t.squeeze(tuple(axes))


# name -> Case. A case's strategy draws a tuple of float64 arrays (the inputs to differentiate)
# and `Param`s (axes, shapes, subscripts...), which every form receives in the same places.
CASES: dict[str, Case] = {}


def case(name: str, **kwargs) -> None:
    CASES[name] = Case(**kwargs)


case(
    "sin",
    ours=al.sin,
    reference=np.sin,
    args=one(),
    numpy=np.sin,
    method=lambda t: t.sin(),
    torch=lambda t: _t().sin(t),
)
case(
    "cos",
    ours=al.cos,
    reference=np.cos,
    args=one(),
    numpy=np.cos,
    method=lambda t: t.cos(),
    torch=lambda t: _t().cos(t),
)
case(
    "log1p",
    ours=al.log1p,
    reference=np.log1p,
    args=one(lambda s: arrays(s, -0.7, 3.0)),
    numpy=np.log1p,
    method=lambda t: t.log1p(),
    torch=lambda t: _t().log1p(t),
)
case(
    "expm1",
    ours=al.expm1,
    reference=np.expm1,
    args=one(),
    numpy=np.expm1,
    method=lambda t: t.expm1(),
    torch=lambda t: _t().expm1(t),
)
case(
    "square",
    ours=al.square,
    reference=np.square,
    args=one(),
    numpy=np.square,
    method=lambda t: t.square(),
    torch=lambda t: _t().square(t),
)
case(
    "minimum",
    ours=al.minimum,
    reference=np.minimum,
    args=broadcast_pair(first=gapped_arrays, second=lambda s: gapped_arrays(s, offset=0.0)),
    numpy=np.minimum,
    torch=lambda a, b: _t().minimum(a, b),
)
case(
    "clip",
    ours=al.clip,
    reference=np.clip,
    args=clip_args(),
    numpy=np.clip,
    method=lambda t, lo, hi: t.clip(lo, hi),
    torch=lambda t, lo, hi: _t().clamp(*_t().broadcast_tensors(t, lo, hi)),  # numpy broadcasts x
)
case(
    "remainder",
    ours=al.remainder,
    reference=np.remainder,
    args=mod_pair(),
    numpy=np.remainder,
    method=lambda a, b: a % b,
    torch=lambda a, b: _t().remainder(a, b),
)
case(
    "leaky_relu",
    ours=lambda t: al.leaky_relu(t, 0.2),
    reference=lambda x: np.where(x > 0, x, 0.2 * x),
    args=one(gapped_arrays),
    method=lambda t: t.leaky_relu(0.2),
    torch=lambda t: _t().nn.functional.leaky_relu(t, 0.2),
)
case(
    "gelu",
    ours=al.gelu,
    reference=lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
    args=one(),
    method=lambda t: t.gelu(),
    torch=lambda t: _t().nn.functional.gelu(t, approximate="tanh"),
)


def reduction(values: Callable = arrays) -> st.SearchStrategy:
    return params(array_and_axis(elements=values))


case(
    "min",
    ours=lambda t, axis, keep: al.min(t, axis=axis, keepdims=keep),
    reference=lambda x, axis, keep: np.min(x, axis=axis, keepdims=keep),
    args=reduction(distinct_arrays),
    numpy=lambda t, axis, keep: np.min(t, axis=axis, keepdims=keep),
    method=lambda t, axis, keep: t.min(axis, keep),
    torch=lambda t, axis, keep: _t().amin(t, dim=torch_dims(axis, t.ndim), keepdim=keep),
)
case(
    "prod",
    ours=lambda t, axis, keep: al.prod(t, axis=axis, keepdims=keep),
    reference=lambda x, axis, keep: np.prod(x, axis=axis, keepdims=keep),
    args=reduction(lambda s: arrays(s, -2.0, 2.0)),
    numpy=lambda t, axis, keep: np.prod(t, axis=axis, keepdims=keep),
    method=lambda t, axis, keep: t.prod(axis, keep),
    torch=lambda t, axis, keep: torch_prod(t, axis, keep),
)
case(
    "logsumexp",
    ours=lambda t, axis, keep: al.logsumexp(t, axis=axis, keepdims=keep),
    reference=lambda x, axis, keep: np.log(np.sum(np.exp(x), axis=axis, keepdims=keep)),
    args=reduction(),
    method=lambda t, axis, keep: t.logsumexp(axis, keep),
    torch=lambda t, axis, keep: _t().logsumexp(t, dim=torch_dims(axis, t.ndim), keepdim=keep),
)
case(
    "var",
    ours=lambda t, axis, keep, ddof: al.var(t, axis, ddof=ddof, keepdims=keep),
    reference=lambda x, axis, keep, ddof: np.var(x, axis=axis, ddof=ddof, keepdims=keep),
    args=params(moments_args()),
    numpy=lambda t, axis, keep, ddof: np.var(t, axis=axis, ddof=ddof, keepdims=keep),
    method=lambda t, axis, keep, ddof: t.var(axis, ddof=ddof, keepdims=keep),
    torch=lambda t, axis, keep, ddof: _t().var(
        t, dim=torch_dims(axis, t.ndim), correction=ddof, keepdim=keep
    ),
)
case(
    "std",
    ours=lambda t, axis, keep, ddof: al.std(t, axis, ddof=ddof, keepdims=keep),
    reference=lambda x, axis, keep, ddof: np.std(x, axis=axis, ddof=ddof, keepdims=keep),
    args=params(moments_args()),
    numpy=lambda t, axis, keep, ddof: np.std(t, axis=axis, ddof=ddof, keepdims=keep),
    method=lambda t, axis, keep, ddof: t.std(axis, ddof=ddof, keepdims=keep),
    torch=lambda t, axis, keep, ddof: _t().std(
        t, dim=torch_dims(axis, t.ndim), correction=ddof, keepdim=keep
    ),
)
case(
    "cumsum",
    ours=lambda t, axis: al.cumsum(t, axis),
    reference=lambda x, axis: np.cumsum(x, axis),
    args=params(cumsum_args()),
    numpy=lambda t, axis: np.cumsum(t, axis),
    method=lambda t, axis: t.cumsum(axis),
    torch=lambda t, axis: _t().cumsum(
        t.reshape(-1) if axis is None else t, 0 if axis is None else axis
    ),
)
case(
    "squeeze",
    ours=lambda t, axis: al.squeeze(t, axis),
    reference=lambda x, axis: np.squeeze(x, axis),
    args=params(squeeze_args()),
    numpy=lambda t, axis: np.squeeze(t, axis),
    method=lambda t, axis: t.squeeze(axis),
    torch=lambda t, axis: t.squeeze() if axis is None else t.squeeze(axis),
)
case(
    "expand_dims",
    ours=lambda t, axis: al.expand_dims(t, axis),
    reference=lambda x, axis: np.expand_dims(x, axis),
    args=params(expand_dims_args()),
    numpy=lambda t, axis: np.expand_dims(t, axis),
    torch=lambda t, axis: t.unsqueeze(axis),
)
case(
    "broadcast_to",
    ours=lambda t, shape: al.broadcast_to(t, shape),
    reference=lambda x, shape: np.broadcast_to(x, shape),
    args=params(broadcast_to_args()),
    numpy=lambda t, shape: np.broadcast_to(t, shape),
    torch=lambda t, shape: t.broadcast_to(shape),
)
case(
    "flip",
    ours=lambda t, axis: al.flip(t, axis),
    reference=lambda x, axis: np.flip(x, axis),
    args=params(flip_args()),
    numpy=lambda t, axis: np.flip(t, axis),
    method=lambda t, axis: t.flip(axis),
    torch=lambda t, axis: t.flip(torch_dims(axis, t.ndim)),
)
case(
    "pad",
    ours=lambda t, width, c: al.pad(t, width, constant_values=c),
    reference=lambda x, width, c: np.pad(x, width, constant_values=c),
    args=params(pad_args()),
    numpy=lambda t, width, c: np.pad(t, width, constant_values=c),
)
case(
    "split",
    ours=lambda t, sections, axis: al.concatenate(
        [p * (i + 1) for i, p in enumerate(al.split(t, sections, axis))], axis
    ),
    reference=lambda x, sections, axis: np.concatenate(
        [p * (i + 1) for i, p in enumerate(np.split(x, sections, axis))], axis
    ),
    args=params(split_args()),
    numpy=lambda t, sections, axis: al.concatenate(
        [p * (i + 1) for i, p in enumerate(np.split(t, sections, axis))], axis
    ),
)
case(
    "tile",
    ours=lambda t, reps: al.tile(t, reps),
    reference=lambda x, reps: np.tile(x, reps),
    args=params(tile_args()),
    numpy=lambda t, reps: np.tile(t, reps),
    torch=lambda t, reps: t.tile((reps,) if isinstance(reps, int) else reps),
)
case(
    "repeat",
    ours=lambda t, repeats, axis: al.repeat(t, repeats, axis),
    reference=lambda x, repeats, axis: np.repeat(x, repeats, axis),
    args=params(repeat_args()),
    numpy=lambda t, repeats, axis: np.repeat(t, repeats, axis),
    method=lambda t, repeats, axis: t.repeat(repeats, axis),
    torch=lambda t, repeats, axis: _t().repeat_interleave(t, _t().as_tensor(repeats), dim=axis),
)
case(
    "einsum",
    ours=lambda spec, *ts: al.einsum(spec, *ts),
    reference=lambda spec, *xs: np.einsum(spec, *xs),
    args=einsum_args().map(lambda t: (Param(t[0]), *t[1:])),
    numpy=lambda spec, *ts: np.einsum(spec, *ts),
    torch=lambda spec, *ts: _t().einsum(spec, *ts),
)
case(
    "tensordot",
    ours=lambda a, b, axes: al.tensordot(a, b, axes),
    reference=lambda a, b, axes: np.tensordot(a, b, axes),
    args=params(tensordot_args(), n_arrays=2),
    numpy=lambda a, b, axes: np.tensordot(a, b, axes),
    torch=lambda a, b, axes: _t().tensordot(a, b, dims=axes),
)
case(
    "outer",
    ours=al.outer,
    reference=np.outer,
    args=st.tuples(shapes(max_side=3).flatmap(arrays), shapes(max_side=3).flatmap(arrays)),
    numpy=np.outer,
    torch=lambda a, b: _t().outer(a.reshape(-1), b.reshape(-1)),
)


# --- the checks -------------------------------------------------------------------------------
def split_args_(drawn: tuple) -> tuple[list[np.ndarray], Callable]:
    """The arrays to differentiate, and a function that puts the params back in their places."""
    arrays_ = [a for a in drawn if not isinstance(a, Param)]

    def bind(fn: Callable) -> Callable:
        def call(*xs):
            it = iter(xs)
            return fn(*(a.value if isinstance(a, Param) else next(it) for a in drawn))

        return call

    return arrays_, bind


@pytest.mark.parametrize("name", list(CASES))
@given(data=st.data())
def test_value_and_first_and_second_order(name, data):
    c = CASES[name]
    xs, bind = split_args_(data.draw(c.args))
    expected = bind(c.reference)(*xs)
    for form in (c.ours, c.numpy, c.method):
        if form is None:
            continue
        out = bind(form)(*leaves(*xs))
        assert isinstance(out, al.Tensor) and out.requires_grad
        assert out.shape == np.shape(expected)
        np.testing.assert_allclose(out.data, expected, rtol=1e-13, atol=1e-13)
    assert al.gradcheck(bind(c.ours), leaves(*xs))
    assert al.gradgradcheck(bind(c.ours), leaves(*xs))


@pytest.mark.parametrize("name", list(CASES))
@given(data=st.data())
@settings(max_examples=max(3, settings().max_examples // 5))  # dtypes: a few suffice
def test_float32_is_kept_at_first_and_second_order(name, data):
    c = CASES[name]
    xs, bind = split_args_(data.draw(c.args))
    inputs = [al.Tensor(x.astype(np.float32), requires_grad=True) for x in xs]
    out = bind(c.ours)(*inputs)
    assert out.dtype == np.float32
    w = np.cos(np.arange(out.size)).reshape(out.shape).astype(np.float32)
    grads = al.grad(out, inputs, grad_outputs=w, create_graph=True)
    assert all(g.dtype == np.float32 for g in grads)
    total = sum((g * g).sum() for g in grads)
    if total.requires_grad:  # the gradient depends on the inputs: a second order exists
        assert all(g.dtype == np.float32 for g in al.grad(total, inputs))
    # and the float32 gradient is the float64 one, rounded
    inputs64 = leaves(*xs)
    grads64 = al.grad(bind(c.ours)(*inputs64), inputs64, grad_outputs=w.astype(np.float64))
    for g, g64 in zip(grads, grads64):
        np.testing.assert_allclose(g.data, g64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.torch is not None])
@given(data=st.data())
def test_against_torch(name, data):
    torch = pytest.importorskip("torch")
    c = CASES[name]
    xs, bind = split_args_(data.draw(c.args))
    ours = leaves(*xs)
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out, expected = bind(c.ours)(*ours), bind(c.torch)(*theirs)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-13)
    w = np.cos(np.arange(out.size) + 0.5).reshape(out.shape)
    (out * w).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    for i, (x, t) in enumerate(zip(ours, theirs)):
        got = np.zeros(x.shape) if x.grad is None else x.grad
        want = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13, err_msg=f"input {i}")


def test_the_readme_worked_example_is_the_code_in_ops_py():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    section = readme.split("## Adding an op", 1)[1]
    (example,) = re.findall(r"```py\n(.*?)```", section.split("\n## ", 1)[0], flags=re.S)
    assert example in (root / "autograd_lite" / "ops.py").read_text()
