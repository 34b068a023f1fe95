"""Tests of autograd_lite/ensemble.py: stacked ops whose members stay independent."""

import numpy as np
import pytest

import autograd_lite as al
from autograd_lite import ensemble


def tensors(rng, *shapes):
    return [al.Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


@pytest.mark.parametrize("n_in, n_out", [(2, 5), (5, 2), (3, 3)])  # [x 1] product, and not
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shared_x", [False, True])
def test_affine_is_each_members_affine_layer(n_in, n_out, relu, shared_x):
    rng = np.random.default_rng(0)
    e, n = 3, 4
    x_shape = (n, n_in) if shared_x else (e, n, n_in)
    x, w = tensors(rng, x_shape, (e, n_in + 1, n_out))
    out = ensemble.affine(x, w, relu=relu)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    shared_grad = 0
    for k in range(e):
        xk = al.Tensor(x.data if shared_x else x.data[k], requires_grad=True)
        wk = al.Tensor(w.data[k, :n_in], requires_grad=True)
        bk = al.Tensor(w.data[k, n_in], requires_grad=True)
        ok = al.linear(xk, wk, bk)
        ok = ok.relu() if relu else ok
        ok.backward(g[k])
        np.testing.assert_allclose(out.data[k], ok.data, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(w.grad[k, :n_in], wk.grad, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(w.grad[k, n_in], bk.grad, rtol=1e-13, atol=1e-13)
        if shared_x:
            shared_grad = shared_grad + xk.grad
        else:
            np.testing.assert_allclose(x.grad[k], xk.grad, rtol=1e-13, atol=1e-13)
    if shared_x:  # a shared input's gradient is the sum of the members'
        np.testing.assert_allclose(x.grad, shared_grad, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("n_in, n_out", [(2, 4), (4, 2)])
@pytest.mark.parametrize("relu", [False, True])
def test_affine_gradcheck(n_in, n_out, relu):
    rng = np.random.default_rng(1)
    x, w = tensors(rng, (2, 3, n_in), (2, n_in + 1, n_out))
    x.data += np.sign(x.data) * 0.1  # keep the pre-activations away from relu's kink
    assert al.gradcheck(lambda x, w: ensemble.affine(x, w, relu=relu), [x, w])


def test_affine_keeps_the_input_it_saw_when_x_changes_afterwards():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 2))
    (w,) = tensors(rng, (2, 3, 4))
    out = ensemble.affine(x, w)
    expected = np.concatenate([x, np.ones((2, 3, 1))], axis=2).swapaxes(1, 2) @ np.ones(out.shape)
    x += 1.0  # a plain array changed in place after the op: its gradient still uses x
    out.sum().backward()
    np.testing.assert_allclose(w.grad, expected, rtol=1e-14)


def test_cross_entropy_keeps_the_targets_it_saw_when_they_change_afterwards():
    rng = np.random.default_rng(3)
    (z,) = tensors(rng, (2, 3, 4))
    rows = al.Tensor(rng.dirichlet(np.ones(4), size=(2, 3)))
    expected = al.grad(ensemble.cross_entropy(z, rows.data.copy()).sum(), [z])[0]
    loss = ensemble.cross_entropy(z, rows).sum()
    rows *= 0.0  # changed in place after the op (the version counter sees it)
    loss.backward()
    np.testing.assert_array_equal(z.grad, expected)


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
    w1 = al.Tensor(rng.standard_normal((2, 3, 4)).astype(np.float32), requires_grad=True)
    w2 = al.Tensor(rng.standard_normal((2, 5, 2)).astype(np.float32), requires_grad=True)
    hidden = ensemble.affine(x, w1, relu=True)
    losses = ensemble.cross_entropy(ensemble.affine(hidden, w2), np.zeros((2, 3), int))
    losses.backward(np.ones(2, np.float32))
    assert losses.dtype == w1.grad.dtype == w2.grad.dtype == np.float32


def test_second_order_gradients_raise_instead_of_being_wrong():
    rng = np.random.default_rng(6)
    x, w = tensors(rng, (2, 3, 2), (2, 3, 4))
    (gw,) = al.grad(ensemble.affine(x, w).sum(), [w], create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        gw.sum().backward()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ensemble.affine(np.ones((2, 3, 2)), np.ones((2, 3))), "weight"),
        (lambda: ensemble.affine(np.ones((2, 3, 0)), np.ones((2, 1, 4))), "weight"),
        (lambda: ensemble.affine(np.ones((3, 3, 2)), np.ones((2, 3, 4))), "x"),
        (lambda: ensemble.affine(np.ones((2, 3, 3)), np.ones((2, 3, 4))), "x"),
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
