"""Tensor: construction and dtype rules, attributes, operators with arrays/scalars, comparisons."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Tensor
from tests.strategies import arrays, assert_gradcheck, shapes


# --- construction and dtypes -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_data_keeps_its_dtype(dtype):
    t = Tensor(np.array([1.5, -2.0], dtype=dtype), requires_grad=True)
    assert t.dtype == dtype
    assert t.data.dtype == dtype
    assert t.requires_grad is True


@pytest.mark.parametrize(
    "data",
    [1, [1, 2, 3], np.arange(4, dtype=np.int32), np.arange(3, dtype=np.uint8), True, [True]],
)
def test_integer_and_bool_data_keep_their_dtype(data):
    t = Tensor(data)
    assert t.dtype == np.asarray(data).dtype and t.dtype.kind in "biu"
    np.testing.assert_array_equal(t.data, np.asarray(data))


def test_python_float_and_nested_lists_become_float64_arrays():
    assert Tensor(2.5).dtype == np.float64
    assert Tensor(2.5).shape == ()
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.dtype == np.float64
    assert isinstance(t.data, np.ndarray)


@pytest.mark.parametrize("data", [[1, 2], np.arange(3), True, np.array([True, False])])
def test_requires_grad_on_integer_or_bool_data_is_type_error(data):
    with pytest.raises(TypeError, match="float"):
        Tensor(data, requires_grad=True)


def test_ragged_input_is_a_clear_error():
    with pytest.raises((TypeError, ValueError), match="Tensor"):
        Tensor([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize("data", ["abc", ["a", "b"], None, [object()], {"a": 1}])
def test_non_numeric_input_is_a_clear_error(data):
    with pytest.raises((TypeError, ValueError), match="Tensor"):
        Tensor(data)


def test_tensor_of_tensor_takes_its_data():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(a)
    np.testing.assert_array_equal(b.data, a.data)
    assert b.requires_grad is False
    assert b.grad_fn is None


# --- float32 stays float32 ------------------------------------------------------------------------
F32_EXPRESSIONS = {
    "x + 1": lambda x: x + 1,
    "1 + x": lambda x: 1 + x,
    "x - 0.5": lambda x: x - 0.5,
    "2.5 - x": lambda x: 2.5 - x,
    "x * 2.5": lambda x: x * 2.5,
    "3 * x": lambda x: 3 * x,
    "x / 3": lambda x: x / 3,
    "2.0 / x": lambda x: 2.0 / x,
    "x ** 2": lambda x: x**2,
    "x ** 0.5": lambda x: x**0.5,
    "2.0 ** x": lambda x: 2.0**x,
    "-x": lambda x: -x,
    "x @ x": lambda x: x @ x,
    "sum": lambda x: x.sum(),
    "mean": lambda x: x.mean(),
    "mean(axis)": lambda x: x.mean(axis=0, keepdims=True),
    "max": lambda x: x.max(),
    "reshape": lambda x: x.reshape(3, 1),
    "T": lambda x: x.T,
    "getitem": lambda x: x[[0, 0, 2]],
    "exp": lambda x: x.exp(),
    "log": lambda x: x.log(),
    "relu": lambda x: x.relu(),
    "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(),
    "abs": lambda x: x.abs(),
    "sqrt": lambda x: x.sqrt(),
    "al.relu": al.relu,
    "al.exp": al.exp,
    "al.log": al.log,
    "al.tanh": al.tanh,
    "al.sigmoid": al.sigmoid,
    "al.maximum(x, 0.0)": lambda x: al.maximum(x, 0.0),
    "al.maximum(0, x)": lambda x: al.maximum(0, x),
    "al.where(x > 1, x, 0.0)": lambda x: al.where(x > 1, x, 0.0),
    "al.concatenate": lambda x: al.concatenate([x, x]),
    "al.stack": lambda x: al.stack([x, x], axis=1),
    "al.softmax": al.softmax,
    "al.log_softmax": al.log_softmax,
    "al.softmax_cross_entropy": lambda x: al.softmax_cross_entropy(x.reshape(1, 3), np.array([2])),
}


@pytest.mark.parametrize("name", list(F32_EXPRESSIONS))
def test_float32_stays_float32_also_with_python_scalars(name):
    x = Tensor(np.array([0.5, 1.5, 2.0], dtype=np.float32), requires_grad=True)
    out = F32_EXPRESSIONS[name](x)
    assert out.dtype == np.float32, f"{name} gave {out.dtype}"
    out.sum().backward()
    assert x.grad is not None and x.grad.dtype == np.float32


def test_float32_gradient_values_match_float64():
    x64 = np.array([0.5, -1.5, 2.0])
    grads = []
    for dtype in (np.float32, np.float64):
        x = Tensor(x64.astype(dtype), requires_grad=True)
        (x.tanh() * 3 + x**2).sum().backward()
        grads.append(x.grad)
    assert grads[0].dtype == np.float32
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


# --- attributes ------------------------------------------------------------------------------
@given(shape=shapes())
def test_shape_ndim_size_dtype_follow_the_data(shape):
    data = np.zeros(shape)
    t = Tensor(data)
    assert t.shape == data.shape
    assert t.ndim == data.ndim
    assert t.size == data.size
    assert t.dtype == data.dtype


def test_defaults_of_a_new_tensor():
    t = Tensor([1.0, 2.0])
    assert t.grad is None
    assert t.requires_grad is False
    assert t.is_leaf and t.grad_fn is None
    y = Tensor([1.0], requires_grad=True) * 2
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad


def test_T_reverses_the_axes():
    data = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(Tensor(data).T.data, data.T)
    np.testing.assert_array_equal(Tensor(data[0]).T.data, data[0].T)
    assert Tensor(np.arange(3.0)).T.shape == (3,)


def test_len():
    assert len(Tensor(np.zeros((5, 2)))) == 5
    assert len(Tensor([1.0])) == 1
    with pytest.raises(TypeError):
        len(Tensor(1.0))


def test_item():
    assert Tensor(3.5).item() == 3.5
    assert isinstance(Tensor(3.5).item(), float)
    assert Tensor([[2.0]]).item() == 2.0
    with pytest.raises(ValueError, match="item"):
        Tensor([1.0, 2.0]).item()


def test_numpy_returns_the_data():
    data = np.array([1.0, 2.0])
    t = Tensor(data, requires_grad=True)
    out = t.numpy()
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, data)


def test_detach_shares_data_and_leaves_the_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.requires_grad is False and d.grad_fn is None
    np.testing.assert_array_equal(d.data, y.data)
    assert np.shares_memory(d.data, y.data)
    z = (d * x).sum()  # d is a constant now: dz/dx = d
    z.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_np_asarray_of_a_tensor_gives_its_values():
    t = Tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    np.testing.assert_array_equal(np.asarray(t), t.data)


def test_repr_is_readable():
    assert repr(Tensor([1.0, 2.0])) == "Tensor([1., 2.])"
    assert "requires_grad=True" in repr(Tensor([1.0, 2.0], requires_grad=True))
    assert "float32" in repr(Tensor(np.ones(2, dtype=np.float32)))
    r = repr(Tensor([1.0, 2.0], requires_grad=True) * 2)
    assert r.startswith("Tensor([2., 4.]") and "grad_fn" in r and "Mul" in r


# --- mixing with ndarrays and scalars -----------------------------------------------------------
@pytest.mark.parametrize(
    "expr, expected",
    [
        (lambda t, a: a + t, lambda x, a: a + x),
        (lambda t, a: t + a, lambda x, a: x + a),
        (lambda t, a: a - t, lambda x, a: a - x),
        (lambda t, a: a * t, lambda x, a: a * x),
        (lambda t, a: a / t, lambda x, a: a / x),
        (lambda t, a: a**t, lambda x, a: a**x),
        (lambda t, a: t**a, lambda x, a: x**a),
        (lambda t, a: a @ t, lambda x, a: a @ x),
        (lambda t, a: t @ a, lambda x, a: x @ a),
    ],
)
def test_ndarray_on_either_side_gives_a_tensor(expr, expected):
    x = np.array([[1.0, 2.0], [0.5, 1.5]])
    a = np.array([[2.0, 0.5], [1.0, 3.0]])
    out = expr(Tensor(x, requires_grad=True), a)
    assert isinstance(out, Tensor)
    assert out.requires_grad
    np.testing.assert_allclose(out.data, expected(x, a), rtol=1e-15)


@given(x=arrays((2, 3)))
def test_comparisons_return_plain_boolean_arrays(x):
    t = Tensor(x, requires_grad=True)
    other = Tensor(np.flip(x))
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
        for rhs, rhs_data in ((other, other.data), (0.5, 0.5), (np.ones(3), np.ones(3))):
            result = getattr(t, op)(rhs)
            assert type(result) is np.ndarray, op
            assert result.dtype == bool
            np.testing.assert_array_equal(result, getattr(x, op)(rhs_data))


def test_tensors_hash_by_identity():
    a, b = Tensor([1.0]), Tensor([1.0])
    assert len({a, b}) == 2
    assert {a: 1}[a] == 1


# --- shape errors name the op and the shapes ---------------------------------------------------
def test_matmul_shape_error_message():
    a, b = Tensor(np.ones((3, 4))), Tensor(np.ones((5, 2)))
    with pytest.raises(ValueError) as info:
        a @ b
    assert str(info.value) == "matmul: shapes (3, 4) and (5, 2) do not align"


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((3,), (4,)), ((2, 3), (2,)), ((4,), (3, 2)), ((2, 3, 4), (2, 3, 4))],
)
def test_matmul_mismatch_names_op_and_shapes(a_shape, b_shape):
    with pytest.raises(ValueError) as info:
        Tensor(np.ones(a_shape), requires_grad=True) @ np.ones(b_shape)
    message = str(info.value)
    assert message.startswith("matmul:")
    assert str(a_shape) in message and str(b_shape) in message


def test_matmul_of_a_0d_operand_is_value_error():
    with pytest.raises(ValueError, match="^matmul:"):
        Tensor(2.0) @ Tensor(np.ones(2))


def test_matmul_batch_mismatch_names_the_op():
    with pytest.raises(ValueError, match="^matmul:"):
        Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((5, 4, 2)))


@pytest.mark.parametrize(
    "op, name",
    [(lambda a, b: a + b, "add"), (lambda a, b: a * b, "mul"), (lambda a, b: a - b, "sub")],
)
def test_broadcast_error_names_op_and_shapes(op, name):
    with pytest.raises(ValueError) as info:
        op(Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.ones(4)))
    message = str(info.value)
    assert message.startswith(f"{name}:")
    assert "(2,3)" in message.replace(" ", "") and "(4,)" in message


def test_reshape_error_names_the_op():
    with pytest.raises(ValueError, match=r"^reshape:.*\(2, 3\)"):
        Tensor(np.ones((2, 3))).reshape(4)


# --- integer and bool tensors ------------------------------------------------------------------
def test_integer_and_bool_tensors_index_compare_and_reduce_like_numpy():
    x = Tensor(np.arange(5.0) * 2, requires_grad=True)
    index, mask = Tensor(np.array([4, 1, 1])), Tensor(np.array([True, False, True, False, True]))
    np.testing.assert_array_equal(x[index].data, [8.0, 2.0, 2.0])
    np.testing.assert_array_equal(x[mask].data, [0.0, 4.0, 8.0])
    (x[index].sum() + x[mask].sum()).backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 1.0, 0.0, 2.0])
    i = Tensor(np.array([3, 1, 2]))
    np.testing.assert_array_equal(i > 1, [True, False, True])
    assert i.sum().dtype == np.int64 and i.sum().item() == 6
    assert mask.sum().item() == 3 and i.mean().dtype == np.float64
    assert i.astype(np.int32).dtype == np.int32 and i.astype(bool).dtype == bool


PROMOTIONS = [  # (left, right): the result dtype is numpy's
    (np.arange(1, 4), np.ones(3, dtype=np.float32)),
    (np.arange(1, 4), 0.5),
    (np.arange(1, 4), 2),
    (np.arange(1, 4, dtype=np.int32), np.arange(1, 4, dtype=np.int64)),
    (np.arange(1, 4, dtype=np.uint8), 3),
    (np.array([True, False, True]), np.arange(1, 4)),
    (np.array([True, False, True]), 1.5),
    (np.ones(3, dtype=np.float32), np.arange(1, 4, dtype=np.int16)),
    (np.ones(3, dtype=np.float32), 2),
]


@pytest.mark.parametrize("left, right", PROMOTIONS)
@pytest.mark.parametrize("op", ["__add__", "__mul__", "__sub__", "__truediv__", "__radd__"])
def test_arithmetic_follows_numpys_promotion_rules(left, right, op):
    expected = getattr(left, op)(right)
    right_t = Tensor(right) if isinstance(right, np.ndarray) else right
    got = getattr(Tensor(left), op)(right_t)
    assert got.dtype == expected.dtype, (left.dtype, right, op)
    np.testing.assert_array_equal(got.data, expected)


@given(x=arrays((3,)))
def test_integer_constants_mix_with_float_tensors_and_gradients_stay_float(x):
    counts = Tensor(np.array([1, 2, 3]))
    assert_gradcheck(lambda t: (t * counts + counts / (t * t + 1)).sum(), x)
    t = Tensor(x, requires_grad=True)
    (t * counts).sum().backward()
    assert t.grad.dtype == np.float64
    np.testing.assert_array_equal(t.grad, [1.0, 2.0, 3.0])


def test_fused_loss_takes_integer_tensor_targets():
    logits = Tensor(np.array([[1.0, 2.0], [0.5, -1.0]]), requires_grad=True)
    with_tensor = al.softmax_cross_entropy(logits, Tensor(np.array([1, 0])))
    with_array = al.softmax_cross_entropy(logits, np.array([1, 0]))
    assert with_tensor.item() == with_array.item()


def test_a_list_of_0d_tensors_becomes_a_tensor_of_their_values_or_a_stack_on_the_graph():
    a, b = Tensor(1.5, requires_grad=True), Tensor(-2.0, requires_grad=True)
    values = Tensor([a * 2, b])
    assert values.shape == (2,) and not values.requires_grad  # values, like torch.tensor
    np.testing.assert_array_equal(values.data, [3.0, -2.0])
    assert Tensor([[Tensor(1), Tensor(2)], [Tensor(3), Tensor(4)]]).dtype == np.int64
    assert Tensor([Tensor(np.float32(1.0))]).dtype == np.float32
    losses = [a * a, a * b, b]
    total = al.stack(losses).sum()  # the graph is kept
    total.backward()
    assert a.grad == 2 * 1.5 + -2.0 and b.grad == 1.5 + 1.0


# --- Python's conversions ------------------------------------------------------------------
@pytest.mark.parametrize("data, truth", [(0.0, False), ([0.0], False), ([[2.0]], True), (3, True)])
def test_bool_of_one_element_is_its_truth(data, truth):
    assert bool(Tensor(data)) is truth


@pytest.mark.parametrize("data", [np.zeros(3), np.ones((2, 2)), np.zeros(0)])
def test_bool_of_several_or_no_elements_is_ambiguous(data):
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor(data))


def test_float_int_and_index():
    assert float(Tensor(np.array([[2.5]], dtype=np.float32))) == 2.5
    assert int(Tensor(2.7)) == 2 and int(Tensor([-3])) == -3
    for convert in (float, int):
        with pytest.raises(TypeError, match=r"one-element.*\(2,\)"):
            convert(Tensor([1.0, 2.0]))
    assert [10, 20, 30][Tensor(2)] == 30 and list(range(Tensor(np.int32(3)))) == [0, 1, 2]
    for bad in (Tensor(1.0), Tensor([1])):
        with pytest.raises(TypeError, match="0-d integer"):
            [1, 2][bad]


def test_format():
    assert f"{Tensor(1.23456):.3f}" == "1.235"
    assert f"{Tensor(np.float32(0.5)):>6}" == "   0.5"
    assert f"{Tensor(7)}" == "7"
    t = Tensor([1.0, 2.0])
    assert f"{t}" == str(t)
    with pytest.raises(TypeError, match=r"0-d tensor.*\(1,\)"):
        f"{Tensor([1.0]):.2f}"


def test_iteration():
    with pytest.raises(TypeError, match="0-d"):
        iter(Tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        list(Tensor(1.0))
    x = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert len(rows) == 3 and all(r.shape == (2,) and r.requires_grad for r in rows)
    (rows[0] * 1.0 + rows[2] * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]])
    a, b = Tensor([1.0, 2.0])  # unpacking
    assert (a.item(), b.item()) == (1.0, 2.0)


def test_tolist_argmax_argmin_give_plain_values():
    data = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    t = Tensor(data, requires_grad=True)
    assert t.tolist() == data.tolist() and Tensor(2.5).tolist() == 2.5
    assert t.argmax() == 3 and t.argmin() == 4
    np.testing.assert_array_equal(t.argmax(axis=1), [1, 0])
    np.testing.assert_array_equal(t.argmin(axis=0, keepdims=True), [[0, 1, 0]])
    assert type(t.argmax(axis=0)) is np.ndarray


# --- PyTorch's shape methods ---------------------------------------------------------------
@st.composite
def flatten_case(draw):
    shape = draw(shapes(max_dims=4))
    if not shape:
        return shape, 0, -1
    ndim = len(shape)
    start = draw(st.integers(-ndim, ndim - 1))
    end = draw(st.integers(start % ndim, ndim - 1))
    return shape, start, end - ndim if draw(st.booleans()) else end


@given(case=flatten_case())
def test_flatten_merges_axes_start_to_end_as_pytorch(case):
    shape, start, end = case
    x = np.arange(float(np.prod(shape))).reshape(shape)
    out = Tensor(x).flatten(start, end)
    if shape:
        s, e = start % len(shape), end % len(shape)
        assert out.shape == shape[:s] + (int(np.prod(shape[s : e + 1])),) + shape[e + 1 :]
    else:
        assert out.shape == (1,)  # as torch.flatten of a 0-d tensor
    np.testing.assert_array_equal(out.data.ravel(), x.ravel())
    assert_gradcheck(lambda t: t.flatten(start, end) * 2.0, x)
    assert Tensor(x).ravel().shape == (x.size,) and al.flatten(Tensor(x)).shape == (x.size,)


@given(x=shapes(max_dims=3).flatmap(arrays), data=st.data())
def test_unsqueeze_inserts_an_axis_like_expand_dims(x, data):
    dim = data.draw(st.integers(-x.ndim - 1, x.ndim))
    out = Tensor(x).unsqueeze(dim)
    assert out.shape == np.expand_dims(x, dim).shape
    assert_gradcheck(lambda t: t.unsqueeze(dim) * 3.0, x)


def test_flatten_and_unsqueeze_errors_name_the_method():
    t = Tensor(np.ones((2, 3)))
    with pytest.raises(np.exceptions.AxisError, match="^unsqueeze: axis 3"):
        t.unsqueeze(3)
    with pytest.raises(np.exceptions.AxisError, match="^flatten: axis 2"):
        t.flatten(2)
    with pytest.raises(ValueError, match="^flatten: start_dim 1 comes after end_dim 0"):
        t.flatten(1, 0)
    with pytest.raises(TypeError, match="^flatten: an axis must be an int, got 'C'"):
        t.flatten("C")
