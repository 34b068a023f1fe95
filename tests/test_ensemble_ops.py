"""Tests of autograd_lite/ensemble.py: stacked ops whose members stay independent."""

import numpy as np
import pytest

import autograd_lite as al
from autograd_lite import ensemble


def tensors(rng, *shapes):
    return [al.Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


@pytest.mark.parametrize("n_in, n_out", [(2, 5), (5, 2), (3, 3)])  # folded bias, and not
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shared_x", [False, True])
def test_linear_is_each_members_affine_layer(n_in, n_out, relu, shared_x):
    rng = np.random.default_rng(0)
    e, n = 3, 4
    x_shape = (n, n_in) if shared_x else (e, n, n_in)
    x, w, b = tensors(rng, x_shape, (e, n_in, n_out), (e, n_out))
    out = ensemble.linear(x, w, b, relu=relu)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    shared_grad = 0
    for k in range(e):
        xk = al.Tensor(x.data if shared_x else x.data[k], requires_grad=True)
        wk = al.Tensor(w.data[k], requires_grad=True)
        bk = al.Tensor(b.data[k], requires_grad=True)
        ok = al.linear(xk, wk, bk)
        ok = ok.relu() if relu else ok
        ok.backward(g[k])
        np.testing.assert_allclose(out.data[k], ok.data, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(w.grad[k], wk.grad, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(b.grad[k], bk.grad, rtol=1e-13, atol=1e-13)
        if shared_x:
            shared_grad = shared_grad + xk.grad
        else:
            np.testing.assert_allclose(x.grad[k], xk.grad, rtol=1e-13, atol=1e-13)
    if shared_x:  # a shared input's gradient is the sum of the members'
        np.testing.assert_allclose(x.grad, shared_grad, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("n_in, n_out", [(2, 4), (4, 2)])
@pytest.mark.parametrize("relu", [False, True])
def test_linear_gradcheck(n_in, n_out, relu):
    rng = np.random.default_rng(1)
    x, w, b = tensors(rng, (2, 3, n_in), (2, n_in, n_out), (2, n_out))
    x.data += np.sign(x.data) * 0.1  # keep the pre-activations away from relu's kink
    assert al.gradcheck(lambda x, w, b: ensemble.linear(x, w, b, relu=relu), [x, w, b])


def test_linear_input_changed_after_forward_keeps_the_gradient_right():
    rng = np.random.default_rng(2)
    x, w, b = tensors(rng, (2, 3, 2), (2, 2, 4), (2, 4))
    out = ensemble.linear(x.data.copy(), w, b)  # x as a constant array
    expected = np.swapaxes(x.data, 1, 2) @ np.ones(out.shape)
    out.sum().backward()
    np.testing.assert_allclose(w.grad, expected, rtol=1e-14)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("labels", [True, False])
def test_cross_entropy_is_each_members_loss(reduction, labels):
    rng = np.random.default_rng(3)
    e, n, c = 4, 5, 3
    (z,) = tensors(rng, (e, n, c))
    z.data[0, 0] = [1000.0, -1000.0, 0.0]  # extreme logits stay finite (stable softmax)
    y = rng.integers(0, c, (e, n))
    t = y if labels else rng.dirichlet(np.ones(c), (e, n))
    losses = ensemble.cross_entropy(z, t, reduction=reduction)
    assert losses.shape == (e,)
    g = rng.standard_normal(e)
    losses.backward(g)
    for k in range(e):
        zk = al.Tensor(z.data[k], requires_grad=True)
        lk = al.softmax_cross_entropy(zk, t[k], reduction=reduction)
        (lk * g[k]).backward()
        np.testing.assert_allclose(losses.data[k], lk.data, rtol=1e-13)
        np.testing.assert_allclose(z.grad[k], zk.grad, rtol=1e-12, atol=1e-14)


def test_cross_entropy_gradcheck():
    rng = np.random.default_rng(4)
    (z,) = tensors(rng, (3, 4, 2))
    y = rng.integers(0, 2, (3, 4))
    assert al.gradcheck(lambda z: ensemble.cross_entropy(z, y), [z])


def test_float32_stays_float32():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 2)).astype(np.float32)
    w, b = (al.Tensor(a.astype(np.float32), requires_grad=True) for a in
            (rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 4))))  # fmt: skip
    losses = ensemble.cross_entropy(ensemble.linear(x, w, b, relu=True), np.zeros((2, 3), int))
    losses.backward(np.ones(2, np.float32))
    assert losses.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_second_order_gradients_raise_instead_of_being_wrong():
    rng = np.random.default_rng(6)
    x, w, b = tensors(rng, (2, 3, 2), (2, 2, 4), (2, 4))
    (gw,) = al.grad(ensemble.linear(x, w, b).sum(), [w], create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        gw.sum().backward()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ensemble.linear(np.ones((2, 3, 2)), np.ones((2, 2)), np.ones((2,))), "weight"),
        (lambda: ensemble.linear(np.ones((2, 3, 2)), np.ones((2, 2, 4)), np.ones((3, 4))), "bias"),
        (lambda: ensemble.linear(np.ones((3, 3, 2)), np.ones((2, 2, 4)), np.ones((2, 4))), "x"),
        (lambda: ensemble.linear(np.ones((2, 3, 5)), np.ones((2, 2, 4)), np.ones((2, 4))), "x"),
        (lambda: ensemble.cross_entropy(np.ones((3, 2)), np.zeros(3, int)), "logits"),
        (lambda: ensemble.cross_entropy(np.ones((2, 3, 2)), np.zeros((3, 2), int)), "targets"),
        (lambda: ensemble.cross_entropy(np.ones((2, 3, 2)), np.full((2, 3), 2)), "out of range"),
        (lambda: ensemble.cross_entropy(np.ones((2, 3, 2)), np.zeros((2, 3)), "none"), "reduc"),
    ],
)
def test_bad_shapes_and_values_raise_naming_the_op(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "ensemble." in str(info.value)
