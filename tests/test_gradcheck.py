"""al.gradcheck itself: it passes correct gradients, catches wrong ones and says where."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import given

import autograd_lite as al
from autograd_lite import Tensor
from tests.strategies import arrays, broadcast_pair, leaves, shapes


class Square(al.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):  # 2 x
        (x,) = ctx.saved_tensors
        return grad * 2 * x


class BadSquare(al.Function):
    """x^2 with a deliberately wrong gradient: x instead of 2 x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x


class BadSecondInput(al.Function):
    """a * b whose gradient for b is off by a factor 1.01."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * a * 1.01


@given(pair=broadcast_pair())
def test_true_on_correct_functions(pair):
    a, b = leaves(*pair)
    assert al.gradcheck(lambda x, y: (x * y).tanh() + x, [a, b]) is True
    assert al.gradcheck(Square.apply, [a]) is True


def test_only_inputs_that_require_grad_are_checked():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([3.0, 4.0]))  # constant: its wrong gradient is never looked at
    assert al.gradcheck(BadSecondInput.apply, [a, b]) is True
    assert al.gradcheck(lambda x, c: x * c, [a, np.array([5.0, 6.0])]) is True


def test_wrong_gradient_raises_gradcheck_error_naming_input_element_and_values():
    x = Tensor(np.array([1.0, 5.0, 2.0]), requires_grad=True)
    with pytest.raises(al.GradcheckError) as info:
        al.gradcheck(BadSquare.apply, [x])
    message = str(info.value)
    assert "input 0" in message
    assert "(1,)" in message  # the worst element: |x - 2x| is largest at x = 5
    numbers = [float(n) for n in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", message)]
    assert 5.0 in numbers  # analytic
    assert any(abs(n - 10.0) < 1e-4 for n in numbers)  # numeric
    assert "analytic" in message and "numeric" in message


def test_the_error_names_the_right_input():
    a = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    b = Tensor(np.array([[5.0, 6.0], [7.0, 80.0]]), requires_grad=True)
    with pytest.raises(al.GradcheckError, match=r"input 1.*\(1, 1\)"):
        al.gradcheck(BadSecondInput.apply, [a, b])


def test_returns_false_with_raise_exception_false():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    assert al.gradcheck(BadSquare.apply, [x], raise_exception=False) is False
    assert al.gradcheck(Square.apply, [x], raise_exception=False) is True


def test_tolerances_are_honoured():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    assert al.gradcheck(BadSecondInput.apply, [a, b], atol=0.0, rtol=0.02) is True
    assert not al.gradcheck(
        BadSecondInput.apply, [a, b], atol=0.0, rtol=1e-3, raise_exception=False
    )
    assert al.gradcheck(BadSecondInput.apply, [a, b], atol=0.1, rtol=0.0) is True


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_gradients_fail():
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    assert al.gradcheck(lambda t: t.sqrt(), [x], raise_exception=False) is False


@given(x=shapes().flatmap(arrays))
def test_inputs_are_unchanged_afterwards(x):
    data = x.copy()
    t = Tensor(data, requires_grad=True)
    al.gradcheck(lambda u: (u * u).exp(), [t])
    assert t.data is data
    np.testing.assert_array_equal(t.data, x)
    assert t.grad is None
    al.gradcheck(BadSquare.apply, [t], raise_exception=False)
    np.testing.assert_array_equal(t.data, x)
    assert t.grad is None


def test_inputs_are_unchanged_after_an_exception_inside_fn():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    calls = []

    def fn(t):
        calls.append(1)
        if len(calls) > 3:
            raise KeyError("boom")
        return t * 2.0

    with pytest.raises(KeyError):
        al.gradcheck(fn, [x])
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.arange(6.0).reshape(2, 3).T,  # a transposed view
        lambda: np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        lambda: np.arange(12.0)[::2],  # a strided view
    ],
    ids=["transposed", "fortran", "strided"],
)
def test_non_contiguous_inputs(make):
    data = make()
    original = data.copy()
    x = Tensor(data, requires_grad=True)
    assert al.gradcheck(lambda t: (t * t).sum() + t.exp(), [x]) is True
    assert not al.gradcheck(BadSquare.apply, [x], raise_exception=False)
    np.testing.assert_array_equal(x.data, original)


def test_read_only_inputs():
    data = np.array([1.0, 2.0])
    data.flags.writeable = False
    x = Tensor(data, requires_grad=True)
    assert al.gradcheck(lambda t: t * t, [x]) is True
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


def test_0d_inputs_and_outputs():
    x = Tensor(np.array(0.7), requires_grad=True)
    assert al.gradcheck(lambda t: t.tanh(), [x]) is True
    with pytest.raises(al.GradcheckError, match=r"input 0 \(shape \(\)\)"):
        al.gradcheck(BadSquare.apply, [Tensor(np.array(3.0), requires_grad=True)])


def test_errors_for_unusable_arguments():
    with pytest.raises(ValueError, match="requires_grad"):
        al.gradcheck(lambda t: t * 2.0, [Tensor(np.ones(2))])
    with pytest.raises(TypeError, match="Tensor"):
        al.gradcheck(lambda t: t.data * 2.0, [Tensor(np.ones(2), requires_grad=True)])


def test_float32_inputs_warn():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    with pytest.warns(UserWarning, match="float32"):
        assert al.gradcheck(lambda t: t * 2.0, [x], eps=1e-2, atol=1e-3, rtol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        al.gradcheck(lambda t: t * 2.0, [Tensor(np.array([1.0]), requires_grad=True)])


def test_a_single_tensor_can_be_passed_instead_of_a_list():
    x = Tensor(np.array([0.3, -1.2]), requires_grad=True)
    assert al.gradcheck(lambda t: t.tanh() * t, x) is True
    assert al.gradgradcheck(lambda t: t.tanh() * t, x) is True
    with pytest.raises(al.GradcheckError, match="input 0"):
        al.gradcheck(BadSquare.apply, x)
