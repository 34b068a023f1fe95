"""Tensor.backward(gradient, retain_graph, create_graph, inputs), as in PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import autograd_lite as al
from autograd_lite import Tensor
from tests.strategies import arrays, broadcast_pair, leaves, nonzero_arrays, shapes


# --- inputs=... -------------------------------------------------------------------------------
@given(pair=broadcast_pair(second=nonzero_arrays))
def test_backward_inputs_fills_only_their_grad_with_al_grads_values(pair):
    a, b = leaves(*pair)
    loss = ((a / b).tanh() * a).sum()
    expected = al.grad(loss, [a, b], retain_graph=True)
    loss.backward(inputs=[b])
    assert a.grad is None
    np.testing.assert_allclose(b.grad, expected[1], rtol=1e-12, atol=1e-15)
    assert b.grad.shape == b.shape
    loss2 = ((a / b).tanh() * a).sum()
    loss2.backward(inputs=a)  # one Tensor
    np.testing.assert_allclose(a.grad, expected[0], rtol=1e-12, atol=1e-15)


def test_backward_inputs_gives_a_non_leaf_its_grad_and_no_other_tensor_one():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    loss = (y * y).sum()
    loss.backward(inputs=[y, y])  # listed twice: once is enough
    np.testing.assert_array_equal(y.grad, [6.0, 12.0])  # as PyTorch
    assert x.grad is None


def test_backward_inputs_accumulates_and_leaves_an_unused_input_alone():
    x = Tensor([1.0, 2.0], requires_grad=True)
    w = Tensor([5.0], requires_grad=True)
    for _ in range(2):
        (x * 2).sum().backward(inputs=[x, w])
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])
    assert w.grad is None  # as PyTorch


def test_backward_inputs_errors():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * 2).sum()
    with pytest.raises(TypeError, match=r"backward: inputs\[0\] is a ndarray"):
        loss.backward(inputs=[np.ones(2)], retain_graph=True)
    with pytest.raises(ValueError, match=r"backward: inputs\[1\] \(shape \(3,\)\) does not"):
        loss.backward(inputs=[x, Tensor(np.ones(3))], retain_graph=True)
    with pytest.raises(ValueError, match="backward: inputs must not be empty"):
        loss.backward(inputs=[])


# --- create_graph=True --------------------------------------------------------------------------
@given(x=shapes(max_dims=2).flatmap(arrays))
def test_backward_create_graph_gives_grad_tensors_that_differentiate_again(x):
    """.grad after backward(create_graph=True) is al.grad's differentiable gradient."""
    (x,) = leaves(x)
    v = np.linspace(-1, 1, x.size).reshape(x.shape)

    def first(x):
        return (x.tanh() * x).sum()

    first(x).backward(create_graph=True)
    g = x.grad
    assert isinstance(g, Tensor) and g.requires_grad and g.shape == x.shape
    x.grad = None
    (g * v).sum().backward()  # a Hessian-vector product, into x.grad
    (expected,) = al.grad((al.grad(first(x), x, create_graph=True)[0] * v).sum(), x)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12, atol=1e-14)
    # ... and that Hessian-vector product agrees with finite differences of the gradient
    assert al.gradgradcheck(first, leaves(x.data))


def test_backward_create_graph_retains_the_graph_by_default_and_accepts_a_tensor_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x**3
    seed = Tensor([1.0, 1.0], requires_grad=True)
    y.backward(seed, create_graph=True)  # gradient may be a Tensor on the graph
    np.testing.assert_array_equal(x.grad.data, 3 * x.data**2)
    y.backward(np.ones(2))  # retain_graph defaulted to create_graph: a second pass works
    np.testing.assert_array_equal(np.asarray(x.grad), 6 * x.data**2)
    (d_seed,) = al.grad(x.grad.sum(), seed, retain_graph=True)  # .grad depends on the seed
    np.testing.assert_array_equal(d_seed, 3 * x.data**2)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward(np.ones(2), retain_graph=False)
        y.backward(np.ones(2))


def test_backward_takes_pytorchs_keyword_names():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 2).backward(gradient=np.array([1.0, -1.0]), retain_graph=False)
    np.testing.assert_array_equal(x.grad, [2.0, -2.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_create_graph_keeps_the_dtype_at_first_and_second_order(dtype):
    x = Tensor(np.array([0.5, -1.0], dtype=dtype), requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    g = x.grad
    assert g.dtype == dtype
    x.grad = None
    g.sum().backward()
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad, 6 * x.data, rtol=1e-6)


def test_gradient_penalty_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    W0, X = rng.normal(size=(3, 2)), rng.normal(size=(4, 3))
    W = Tensor(W0, requires_grad=True)
    (X @ W).tanh().sum().backward(create_graph=True)
    penalty = (W.grad * W.grad).sum()
    W.grad = None
    penalty.backward()
    tW = torch.tensor(W0, requires_grad=True)
    (torch.tensor(X) @ tW).tanh().sum().backward(create_graph=True)
    tpenalty = (tW.grad * tW.grad).sum()
    tW.grad = None
    tpenalty.backward()
    np.testing.assert_allclose(penalty.item(), tpenalty.item(), rtol=1e-12)
    np.testing.assert_allclose(W.grad, tW.grad.numpy(), rtol=1e-10)
