"""Saved values under create_graph: resolved when recorded, never guessed (issue 7, part 1).

A rule's saved inputs and output come back as the Tensors they were when a gradient of a
gradient is built; a saved intermediate raises instead of becoming a silent constant.
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as al
from autograd_lite import Tensor


class CubeSavingAnIntermediate(al.Function):
    """x^3 whose forward saves the intermediate x*x (the pattern that used to be wrong)."""

    @staticmethod
    def forward(ctx, x):
        sq = x * x
        ctx.save_for_backward(sq)
        return sq * x

    @staticmethod
    def backward(ctx, grad):  # 3 x^2
        (sq,) = ctx.saved_tensors
        return grad * 3 * sq


class CubeSavingItsInput(al.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x


class ExpSavingItsOutput(al.Function):
    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


def second_derivative(fn, x0: float) -> float:
    x = Tensor(np.array(x0), requires_grad=True)
    (g,) = al.grad((fn(x) * x).sum(), x, create_graph=True)
    (h,) = al.grad(g, x)
    return float(h)


def test_first_order_through_a_saved_intermediate_is_right():
    x = Tensor(np.array(2.0), requires_grad=True)
    (g,) = al.grad(CubeSavingAnIntermediate.apply(x), x)
    assert g == 12.0


def test_second_order_through_a_saved_intermediate_raises_naming_the_op():
    # L = x^3 * x = x^4: L'' = 12 x^2 = 48 at x = 2. The old engine silently gave 24.
    x = Tensor(np.array(2.0), requires_grad=True)
    with pytest.raises(RuntimeError, match="cubesavinganintermediate.*neither an input nor"):
        al.grad((CubeSavingAnIntermediate.apply(x) * x).sum(), x, create_graph=True)


@pytest.mark.parametrize("op", [CubeSavingItsInput, ExpSavingItsOutput])
def test_saving_inputs_or_the_output_gives_every_order(op):
    fn = op.apply
    expected = {CubeSavingItsInput: 12 * 2.0**2, ExpSavingItsOutput: np.exp(2.0) * (2 + 2.0)}
    # L = f(x) x: L'' = f'' x + 2 f'
    assert second_derivative(fn, 2.0) == pytest.approx(expected[op], rel=1e-14)


class ProductSavingInReverseOrder(al.Function):
    """a * b, saving (b, a): the rule must get the right Tensor for each."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(b, a)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        b, a = ctx.saved_tensors
        return grad * b, grad * a


def test_two_leaves_sharing_one_array_are_told_apart_at_second_order():
    # y = a * b with a, b distinct leaves on one ndarray. d/da (dy/da) = 0, d/db (dy/da) = 1.
    shared = np.array([2.0, 3.0])
    a, b = Tensor(shared, requires_grad=True), Tensor(shared, requires_grad=True)
    (ga,) = al.grad(ProductSavingInReverseOrder.apply(a, b).sum(), a, create_graph=True)
    d_da, d_db = al.grad(ga.sum(), [a, b])
    np.testing.assert_array_equal(d_da, [0.0, 0.0])
    np.testing.assert_array_equal(d_db, [1.0, 1.0])


def test_a_tensor_and_its_detached_copy_are_told_apart():
    # x * x.detach() shares one ndarray between a leaf and a constant: dy/dx = 2 x c with
    # y = x^2 c, so d2y/dx2 = 2 c (18 would mean the detached copy was taken for x).
    x = Tensor(np.array([3.0]), requires_grad=True)
    y = (x * x * x.detach()).sum()
    (g,) = al.grad(y, x, create_graph=True)
    np.testing.assert_array_equal(g.data, [18.0])
    (h,) = al.grad(g.sum(), x)
    np.testing.assert_array_equal(h, [6.0])


class FirstOrderOnly(al.Function):
    @staticmethod
    def forward(ctx, x):
        sq = x * x
        ctx.save_for_backward(sq)
        return sq * x

    @staticmethod
    @al.once_differentiable
    def backward(ctx, grad):
        (sq,) = ctx.saved_tensors
        return grad * 3 * sq


def test_once_differentiable_gives_first_order_and_refuses_second_order():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    FirstOrderOnly.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 12.0])
    (g,) = al.grad((FirstOrderOnly.apply(x) * x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [4.0, 32.0])  # 4 x^3: the first order is fine
    with pytest.raises(RuntimeError, match="FirstOrderOnly.*once_differentiable"):
        al.grad(g.sum(), x)


class BackwardCallsAnUnsupportedUfunc(al.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.arctan(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + x * x) + 0 * np.arctan(x)


class BackwardCallsNumpy(al.Function):
    """tanh with a rule written with numpy functions: np.tanh records an op on Tensors."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.tanh(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (1 - np.tanh(x) ** 2)


def test_a_rule_calling_an_unsupported_numpy_function_names_the_op_under_create_graph():
    x = Tensor(np.array([0.5]), requires_grad=True)
    BackwardCallsAnUnsupportedUfunc.apply(x).sum().backward()  # first order: plain arrays
    with pytest.raises(TypeError, match=r"BackwardCallsAnUnsupportedUfunc\.backward.*arctan"):
        al.grad(BackwardCallsAnUnsupportedUfunc.apply(x).sum(), x, create_graph=True)


def test_a_rule_calling_supported_numpy_functions_works_at_second_order():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    assert al.gradgradcheck(BackwardCallsNumpy.apply, x)
