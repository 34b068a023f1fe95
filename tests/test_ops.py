"""Every primitive op against central finite differences (al.gradcheck, float64).

Shapes are drawn by hypothesis (0-d, size-1 and broadcast axes on either side); values are
kept away from the kinks and poles of each op (see tests/strategies.py). Exact values at the
kinks (relu and abs at 0, ties in max) have their own tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_lite as al
from autograd_lite import Tensor
from tests.strategies import (
    array_and_axis,
    arrays,
    assert_gradcheck,
    broadcast_pair,
    distinct_arrays,
    gapped_arrays,
    leaves,
    matmul_pair,
    nonzero_arrays,
    positive_arrays,
    reshape_targets,
    shapes,
)


# --- arithmetic ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "op",
    [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b],
    ids=["add", "sub", "mul"],
)
@given(pair=broadcast_pair())
def test_add_sub_mul_broadcast(op, pair):
    a, b = pair
    np.testing.assert_allclose(op(*leaves(a, b)).data, op(a, b), rtol=1e-15)
    assert_gradcheck(op, a, b)


@given(pair=broadcast_pair(second=nonzero_arrays))
def test_div_broadcast(pair):
    a, b = pair
    np.testing.assert_allclose((Tensor(a) / Tensor(b)).data, a / b, rtol=1e-15)
    assert_gradcheck(lambda x, y: x / y, a, b)


@pytest.mark.parametrize(
    "op",
    [
        lambda x, c: x + c,
        lambda x, c: c + x,
        lambda x, c: x - c,
        lambda x, c: c - x,
        lambda x, c: x * c,
        lambda x, c: c * x,
        lambda x, c: x / c,
    ],
    ids=["x+c", "c+x", "x-c", "c-x", "x*c", "c*x", "x/c"],
)
@given(pair=broadcast_pair(second=nonzero_arrays), scalar=st.booleans())
def test_arithmetic_with_a_constant_on_either_side(op, pair, scalar):
    x, c = pair
    const = float(c.flat[0]) if scalar else c
    assert_gradcheck(lambda t: op(t, const), x)


@given(pair=broadcast_pair(first=nonzero_arrays))
def test_constant_divided_by_tensor(pair):
    x, c = pair
    assert_gradcheck(lambda t: c / t, x)
    assert_gradcheck(lambda t: 2.5 / t, x)


@given(x=shapes().flatmap(arrays))
def test_neg(x):
    np.testing.assert_array_equal((-Tensor(x)).data, -x)
    assert_gradcheck(lambda t: -t, x)


@given(
    x=shapes().flatmap(positive_arrays),
    exponent=st.sampled_from([2, 3, 1, 0.5, -1, -2, 1.5, -0.5, 2.0]),
)
def test_pow_scalar_exponent(x, exponent):
    np.testing.assert_allclose((Tensor(x) ** exponent).data, x**exponent, rtol=1e-14)
    assert_gradcheck(lambda t: t**exponent, x)


@given(x=shapes().flatmap(nonzero_arrays), exponent=st.sampled_from([2, 3, -1, -2, 4]))
def test_pow_integer_exponent_of_negative_base(x, exponent):
    assert_gradcheck(lambda t: t**exponent, x)


@given(pair=broadcast_pair(first=positive_arrays, second=lambda s: arrays(s, -2.0, 2.0)))
def test_pow_tensor_exponent_broadcast(pair):
    base, exponent = pair
    np.testing.assert_allclose((Tensor(base) ** Tensor(exponent)).data, base**exponent)
    assert_gradcheck(lambda a, b: a**b, base, exponent)


@given(pair=broadcast_pair(first=positive_arrays, second=lambda s: arrays(s, -2.0, 2.0)))
def test_pow_with_constant_base_or_exponent_array(pair):
    base, exponent = pair
    assert_gradcheck(lambda b: base**b, exponent)  # ndarray ** Tensor
    assert_gradcheck(lambda a: a**exponent, base)  # Tensor ** ndarray


@given(x=shapes().flatmap(lambda s: arrays(s, -2.0, 2.0)), base=st.sampled_from([2, 0.5, 3.0]))
def test_scalar_to_the_power_of_a_tensor(x, base):
    np.testing.assert_allclose((base ** Tensor(x)).data, base**x, rtol=1e-14)
    assert_gradcheck(lambda t: base**t, x)


def test_pow_gradients_at_a_zero_base_are_finite_and_correct():
    # x**0 is 1 everywhere, so d/dx = 0 (also at x = 0); for e > 0, 0**e = 0 for all e near
    # it, so d(0**e)/de = 0. PyTorch gives exactly these values.
    x = Tensor(np.array([0.0, 2.0]), requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    base = Tensor(np.array([0.0, 2.0]), requires_grad=True)
    e = Tensor(np.array(2.0), requires_grad=True)
    (base**e).sum().backward()
    np.testing.assert_array_equal(base.grad, [0.0, 4.0])
    np.testing.assert_allclose(e.grad, 4.0 * np.log(2.0), rtol=1e-15)


def test_pow_at_a_zero_base_is_finite_and_right_at_every_order():
    # d^k/dx^k (x ** 0) = 0 at x = 0 for every k, and d^k/dy^k (0 ** y) = 0 for y > 0: the
    # rule makes the base safe before computing, rather than masking 0 * inf afterwards.
    x = Tensor(np.array([0.0, 1.5]), requires_grad=True)
    g = x
    for _ in range(3):
        (g,) = al.grad((x**0).sum() if g is x else g.sum(), x, create_graph=True)
        np.testing.assert_array_equal(g.data, [0.0, 0.0])
    y = Tensor(np.array([0.5, 2.0]), requires_grad=True)
    (g1,) = al.grad((0.0**y).sum(), y, create_graph=True)
    (g2,) = al.grad(g1.sum(), y, create_graph=True)
    (g3,) = al.grad(g2.sum(), y)
    for g in (g1.data, g2.data, g3):
        np.testing.assert_array_equal(g, [0.0, 0.0])
    base = Tensor(np.array([0.0]), requires_grad=True)  # both free: a^b at (0, 2)
    e = Tensor(np.array([2.0]), requires_grad=True)
    ga, ge = al.grad((base**e).sum(), [base, e], create_graph=True)
    assert np.isfinite(ga.data).all() and np.isfinite(ge.data).all()
    hess = al.grad(ga.sum() + ge.sum(), [base, e])
    assert all(np.isfinite(h).all() for h in hess)


# --- matmul --------------------------------------------------------------------------------
@given(pair=matmul_pair())
def test_matmul_value_and_gradcheck(pair):
    a, b = pair
    out = Tensor(a, requires_grad=True) @ Tensor(b, requires_grad=True)
    expected = np.matmul(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-14, atol=1e-14)
    assert_gradcheck(lambda x, y: x @ y, a, b)


@given(pair=matmul_pair())
def test_matmul_with_an_ndarray_on_either_side(pair):
    a, b = pair
    assert_gradcheck(lambda y: a @ y, b)  # ndarray @ Tensor -> Tensor.__rmatmul__
    assert_gradcheck(lambda x: x @ b, a)


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((3,), (3,)),  # inner product -> 0-d
        ((3,), (3, 2)),  # vector @ matrix
        ((2, 3), (3,)),  # matrix @ vector
        ((3,), (4, 3, 2)),  # vector @ batch
        ((4, 2, 3), (3,)),  # batch @ vector
        ((2, 1, 2, 3), (5, 3, 2)),  # batch dims broadcast on both sides
        ((1, 2, 3), (3, 4)),  # matrix broadcast over a batch
        ((2, 3), (4, 3, 1)),
    ],
)
def test_matmul_fixed_shapes(a_shape, b_shape):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    x, y = leaves(a, b)
    (x @ y).sum().backward()
    assert x.grad.shape == a_shape and y.grad.shape == b_shape
    assert_gradcheck(lambda p, q: p @ q, a, b)


def test_matmul_gradient_is_the_textbook_formula():
    rng = np.random.default_rng(1)
    a, b, g = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    x, y = leaves(a, b)
    (x @ y).backward(g)
    np.testing.assert_allclose(x.grad, g @ b.T, rtol=1e-14)
    np.testing.assert_allclose(y.grad, a.T @ g, rtol=1e-14)


# --- reductions ------------------------------------------------------------------------------
@given(case=array_and_axis())
def test_sum(case):
    x, axis, keepdims = case
    out = Tensor(x).sum(axis=axis, keepdims=keepdims)
    expected = x.sum(axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-14, atol=1e-14)
    assert_gradcheck(lambda t: t.sum(axis=axis, keepdims=keepdims), x)


@given(case=array_and_axis())
def test_mean(case):
    x, axis, keepdims = case
    out = Tensor(x).mean(axis=axis, keepdims=keepdims)
    expected = x.mean(axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-14, atol=1e-14)
    assert_gradcheck(lambda t: t.mean(axis=axis, keepdims=keepdims), x)


@given(case=array_and_axis(elements=distinct_arrays))
def test_max_without_ties(case):
    x, axis, keepdims = case
    out = Tensor(x).max(axis=axis, keepdims=keepdims)
    expected = x.max(axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.data, expected)
    assert_gradcheck(lambda t: t.max(axis=axis, keepdims=keepdims), x)


def test_max_ties_share_the_gradient_equally():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-15)
    y = Tensor(np.array([[1.0, 3.0], [3.0, 0.0]]), requires_grad=True)
    y.max().backward()
    np.testing.assert_array_equal(y.grad, [[0, 0.5], [0.5, 0]])


def test_sum_and_mean_over_every_axis_of_a_0d_tensor():
    # numpy accepts axis=0 / axis=-1 on a 0-d array (np.array(3.).sum(axis=0) == 3.0)
    for reduce in ("sum", "mean", "max"):
        for axis in (0, -1):
            x = Tensor(np.array(3.0), requires_grad=True)
            out = getattr(x, reduce)(axis=axis)
            assert out.shape == () and out.item() == 3.0
            out.backward()
            assert x.grad == 1.0


def test_mean_gradient_is_one_over_the_count():
    x = Tensor(np.zeros((2, 5)), requires_grad=True)
    x.mean(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, np.full((2, 5), 0.2), rtol=1e-15)


# --- shapes and indexing --------------------------------------------------------------------------
@given(data=st.data())
def test_reshape(data):
    shape = data.draw(shapes())
    x = data.draw(arrays(shape))
    target = data.draw(reshape_targets(shape))
    out = Tensor(x).reshape(target)
    assert out.shape == x.reshape(target).shape
    assert Tensor(x).reshape(*target).shape == out.shape  # varargs form
    assert_gradcheck(lambda t: t.reshape(target), x)


@given(data=st.data())
def test_transpose_with_axes(data):
    shape = data.draw(shapes())
    x = data.draw(arrays(shape))
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    if axes and data.draw(st.booleans()):
        axes = tuple(ax - len(shape) for ax in axes)  # negative axes
    np.testing.assert_array_equal(Tensor(x).transpose(axes).data, x.transpose(axes))
    if axes:
        np.testing.assert_array_equal(Tensor(x).transpose(*axes).data, x.transpose(axes))
    assert_gradcheck(lambda t: t.transpose(axes), x)


@given(x=shapes().flatmap(arrays))
def test_transpose_without_axes_and_T(x):
    np.testing.assert_array_equal(Tensor(x).transpose().data, x.T)
    assert_gradcheck(lambda t: t.transpose(), x)
    assert_gradcheck(lambda t: t.T, x)


@given(x=shapes(min_dims=2).flatmap(arrays))
def test_swapaxes(x):
    np.testing.assert_array_equal(Tensor(x).swapaxes(0, -1).data, x.swapaxes(0, -1))
    assert_gradcheck(lambda t: t.swapaxes(0, -1), x)


@given(data=st.data())
def test_indexing_with_slices_ints_ellipsis_and_newaxis(data):
    shape = data.draw(shapes())
    x = data.draw(arrays(shape))
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True))
    np.testing.assert_array_equal(Tensor(x)[index].data, x[index])
    assert_gradcheck(lambda t: t[index], x)


@given(data=st.data())
def test_indexing_with_integer_arrays(data):
    shape = data.draw(shapes(min_dims=1))
    x = data.draw(arrays(shape))
    index = data.draw(
        hnp.integer_array_indices(shape, result_shape=shapes(min_dims=1, max_dims=2, max_side=5))
    )
    np.testing.assert_array_equal(Tensor(x)[index].data, x[index])
    assert_gradcheck(lambda t: t[index], x)


def test_repeated_indices_accumulate():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])
    y = Tensor(np.zeros((3, 2)), requires_grad=True)
    y[[1, 1], [0, 0]].backward(np.array([2.0, 5.0]))
    np.testing.assert_array_equal(y.grad, [[0, 0], [7, 0], [0, 0]])


@pytest.mark.parametrize(
    "index",
    [
        (slice(1, None), [0, 2, 0]),
        ([2, 0, 2], slice(None, None, -1)),
        (Ellipsis, [1, 1]),
        (np.array([[0, 1], [1, 0]]),),
        (1, [2, 2, 0]),
        -1,
        (slice(None), None, 0),
    ],
)
def test_indexing_mixed_slices_and_integer_arrays(index):
    x = np.arange(12.0).reshape(3, 4) / 7
    np.testing.assert_array_equal(Tensor(x)[index].data, x[index])
    assert_gradcheck(lambda t: t[index], x)


def test_indexing_with_a_boolean_mask():
    x = np.array([[1.0, -2.0], [3.0, -4.0]])
    mask = x > 0
    t = Tensor(x, requires_grad=True)
    np.testing.assert_array_equal(t[mask].data, x[mask])
    assert_gradcheck(lambda u: u[mask], x)


def test_indexing_with_a_tensor_index_uses_its_values():
    x = Tensor(np.arange(4.0), requires_grad=True)
    mask = Tensor(np.arange(4.0)) > 1  # comparisons give boolean arrays usable as indices
    np.testing.assert_array_equal(x[mask].data, [2.0, 3.0])


# --- elementwise ------------------------------------------------------------------------------
ELEMENTWISE = {
    # name: (method form, function form or None, numpy reference, value strategy)
    "exp": (lambda t: t.exp(), al.exp, np.exp, arrays),
    "log": (lambda t: t.log(), al.log, np.log, positive_arrays),
    "relu": (lambda t: t.relu(), al.relu, lambda x: np.maximum(x, 0), gapped_arrays),
    "tanh": (lambda t: t.tanh(), al.tanh, np.tanh, arrays),
    "sigmoid": (lambda t: t.sigmoid(), al.sigmoid, lambda x: 1 / (1 + np.exp(-x)), arrays),
    "abs": (lambda t: t.abs(), None, np.abs, gapped_arrays),
    "sqrt": (lambda t: t.sqrt(), None, np.sqrt, positive_arrays),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@given(data=st.data())
def test_elementwise(name, data):
    method, function, reference, values = ELEMENTWISE[name]
    x = data.draw(shapes().flatmap(values))
    np.testing.assert_allclose(method(Tensor(x)).data, reference(x), rtol=1e-14)
    assert_gradcheck(method, x)
    if function is not None:
        np.testing.assert_array_equal(function(Tensor(x)).data, method(Tensor(x)).data)
        np.testing.assert_array_equal(function(x).data, method(Tensor(x)).data)  # array-like
        assert_gradcheck(function, x)


def test_relu_and_abs_have_gradient_zero_at_zero():
    for fn in (lambda t: t.relu(), al.relu, lambda t: t.abs()):
        x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
        fn(x).sum().backward()
        assert x.grad[1] == 0.0
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


def test_relu_and_sigmoid_values_at_the_edges():
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    t = Tensor(x, requires_grad=True)
    s = t.sigmoid()
    assert np.all(np.isfinite(s.data))
    np.testing.assert_allclose(s.data, [0.0, np.exp(-40.0), 0.5, 1.0, 1.0], rtol=1e-12, atol=0)
    s.sum().backward()
    assert np.all(np.isfinite(t.grad))
    np.testing.assert_allclose(t.grad[2], 0.25)
    np.testing.assert_array_equal(Tensor(x).relu().data, [0, 0, 0, 40, 1000])


def test_sqrt_and_log_gradients_are_the_textbook_values():
    x = Tensor(np.array([0.25, 4.0]), requires_grad=True)
    (x.sqrt() + x.log()).sum().backward()
    np.testing.assert_allclose(x.grad, [1 + 4.0, 0.25 + 0.25], rtol=1e-15)


# --- shapes: transpose(None) and a bad axis -------------------------------------------------------
def test_transpose_of_none_reverses_the_axes_like_numpy():
    x = np.arange(24.0).reshape(2, 3, 4)
    for t in (Tensor(x).transpose(None), Tensor(x).transpose(), np.transpose(Tensor(x))):
        np.testing.assert_array_equal(t.data, x.transpose(None))
    assert_gradcheck(lambda t: t.transpose(None) * np.arange(24.0).reshape(4, 3, 2), x)


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.sum(axis=3),
        lambda t: t.max(axis=-4),
        lambda t: t.mean(axis=(0, 5)),
        lambda t: al.softmax(t, axis=2),
        lambda t: al.log_softmax(t, axis=-3),
        lambda t: al.concatenate([t, t], axis=2),
        lambda t: al.stack([t, t], axis=4),
    ],
)
def test_a_bad_axis_is_numpys_axis_error_naming_the_op(call):
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(np.exceptions.AxisError) as info:
        call(x)
    assert isinstance(info.value, ValueError) and isinstance(info.value, IndexError)
    assert "axis" in str(info.value)
