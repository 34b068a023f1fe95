"""Gradient hooks (autograd_lite/hooks.py): Tensor.register_hook, the handle's remove(), and
Tensor.retain_grad, on leaves and non-leaves, with backward, al.grad and create_graph."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given

import autograd_lite as al
from autograd_lite import Tensor, hooks
from tests.strategies import arrays, broadcast_pair, leaves, nonzero_arrays, shapes


class Recorder:
    """A hook that records copies of the gradients it sees and returns nothing."""

    def __init__(self) -> None:
        self.calls: list = []

    def __call__(self, grad):
        self.calls.append(grad.copy() if isinstance(grad, np.ndarray) else grad)


# --- once per backward, with the complete gradient --------------------------------------------
def test_a_leaf_used_three_times_calls_its_hook_once_with_the_summed_gradient():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen = Recorder()
    x.register_hook(seen)
    (x * x + x).sum().backward()  # d/dx = 2x + 1
    assert len(seen.calls) == 1
    np.testing.assert_array_equal(seen.calls[0], [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(x.grad, [3.0, 5.0, 7.0])


def test_a_non_leaf_used_twice_calls_its_hook_once_with_the_summed_gradient():
    x = Tensor([1.0, -2.0], requires_grad=True)
    y = x * 3
    seen = Recorder()
    y.register_hook(seen)
    (y * y + y.exp()).sum().backward()  # dL/dy = 2y + e^y
    assert len(seen.calls) == 1
    np.testing.assert_allclose(seen.calls[0], 2 * y.data + np.exp(y.data))


def test_a_hook_fires_once_per_backward_and_remove_stops_it():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    seen_leaf, seen_node = Recorder(), Recorder()
    leaf_handle, node_handle = x.register_hook(seen_leaf), y.register_hook(seen_node)
    loss = (y * y).sum()
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)
    assert len(seen_leaf.calls) == 2 and len(seen_node.calls) == 2
    leaf_handle.remove()
    node_handle.remove()
    node_handle.remove()  # removing twice does nothing
    loss.backward()
    assert len(seen_leaf.calls) == 2 and len(seen_node.calls) == 2
    np.testing.assert_array_equal(x.grad, 3 * 8 * x.data)  # three backward calls
    assert y._ctx._hooks is None  # the node is back on the engine's fast path
    assert id(x) not in hooks.LEAF_HOOKS


def test_a_handle_as_a_context_manager_removes_its_hook():
    x = Tensor(2.0, requires_grad=True)
    seen = Recorder()
    with x.register_hook(seen):
        (x * x).backward()
    (x * x).backward()
    assert len(seen.calls) == 1


def test_the_gradient_of_the_output_itself_goes_through_its_hook():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * 2).sum()
    loss.register_hook(lambda g: g * 5)
    loss.backward()
    np.testing.assert_array_equal(x.grad, [10.0, 10.0])  # as PyTorch


def test_a_hook_on_a_leaf_that_is_the_output():
    x = Tensor(3.0, requires_grad=True)
    x.register_hook(lambda g: g + 1)
    x.backward()
    assert x.grad == 2.0


# --- replacing the gradient ------------------------------------------------------------------
def test_a_non_leaf_hook_replaces_what_flows_on():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: g * 10)
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad, 10 * 2 * y.data * 3)


def test_a_leaf_hook_replaces_what_goes_into_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: -g)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [-2.0, -4.0])


def test_hooks_run_in_registration_order_each_on_the_previous_result():
    x = Tensor([1.0], requires_grad=True)
    order = []
    x.register_hook(lambda g: order.append("a") or g + 1)
    x.register_hook(lambda g: order.append("b") or g * 10)
    (x * 1).sum().backward()
    assert order == ["a", "b"] and x.grad[0] == 20.0


def test_a_hook_can_remove_itself():
    x = Tensor([1.0], requires_grad=True)
    calls = []

    def once(g):
        calls.append(1)
        handle.remove()

    handle = x.register_hook(once)
    for _ in range(2):
        (x * 2).sum().backward()
    assert calls == [1]


def test_a_replacement_of_another_dtype_is_cast_and_of_another_shape_raises():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    x.register_hook(lambda g: g.astype(np.float64) * np.float64(0.5))
    (x * 2).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])
    y = Tensor(np.ones((2, 3)), requires_grad=True)
    z = y * 2
    z.register_hook(lambda g: g[:1])
    with pytest.raises(RuntimeError, match=r"hook.*<lambda>.*shape \(1, 3\).*\(2, 3\)"):
        z.sum().backward()


def test_a_hook_that_changes_the_gradient_in_place_raises_instead_of_leaking():
    # Add hands one array to both inputs: an in-place change to a's would change b's too.
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)

    def doubles_in_place(g):
        g *= 2

    a.register_hook(doubles_in_place)
    with pytest.raises(RuntimeError, match="doubles_in_place.*in place.*return"):
        (a + b).sum().backward()


# --- registering: what is refused, what is kept alive -----------------------------------------
def test_registering_on_a_tensor_without_grad_or_a_non_function_raises():
    c = Tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"register_hook.*\(2,\).*does not require grad"):
        c.register_hook(lambda g: g)
    with pytest.raises(RuntimeError, match="retain_grad.*does not require grad"):
        c.retain_grad()
    with pytest.raises(TypeError, match="register_hook.*function"):
        Tensor(1.0, requires_grad=True).register_hook(3)


def test_hooks_and_handles_keep_nothing_alive():
    gc.collect()
    gc.disable()
    try:
        x = Tensor(np.ones(3), requires_grad=True)
        y = x * 2
        y.retain_grad()
        handles = [x.register_hook(lambda g: None), y.register_hook(lambda g: None)]
        x_ref, y_ref, node_ref = weakref.ref(x), weakref.ref(y), weakref.ref(y._ctx)
        del x, y
        assert x_ref() is None and y_ref() is None and node_ref() is None
        assert not hooks.LEAF_HOOKS  # the dead leaf's entry went with it
        for h in handles:
            h.remove()  # after the tensor died: nothing to do
    finally:
        gc.enable()


# --- retain_grad ---------------------------------------------------------------------------------
@given(pair=broadcast_pair(second=nonzero_arrays))
def test_retain_grad_keeps_the_gradient_al_grad_gives(pair):
    a, b = leaves(*pair)
    y = a / b  # broadcast: y has the result's shape
    y.retain_grad()
    loss = (y * y).tanh().sum()
    (expected,) = al.grad(loss, y, retain_graph=True)
    y.grad = None  # al.grad kept it too (as PyTorch does)
    loss.backward()
    assert y.grad.shape == y.shape and y.grad.dtype == y.dtype
    np.testing.assert_allclose(y.grad, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(y.grad, 2 * y.data / np.cosh(y.data**2) ** 2, rtol=1e-9, atol=1e-12)


def test_retain_grad_accumulates_and_runs_after_the_hooks():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    y.register_hook(lambda g: g * 10)  # registered after retain_grad, still runs before it
    loss = (y * y).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(y.grad, 10 * 2 * y.data)
    loss.backward()
    np.testing.assert_array_equal(y.grad, 2 * 10 * 2 * y.data)


def test_retain_grad_on_a_leaf_does_nothing_and_a_retained_grad_is_its_own_array():
    x = Tensor([1.0, 2.0], requires_grad=True)
    x.retain_grad()
    y = x + 0
    y.retain_grad()
    (y * 1).sum().backward()  # Mul hands its incoming gradient on: y's and x's could alias
    assert not np.shares_memory(x.grad, y.grad)
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])


def test_a_retained_gradient_is_kept_with_al_grad_too():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    al.grad((y * y).sum(), x)
    np.testing.assert_array_equal(y.grad, 2 * y.data)  # as PyTorch
    assert x.grad is None


# --- hooks with al.grad and with create_graph -----------------------------------------------------
def test_al_grad_returns_the_hooked_gradient_and_calls_leaf_hooks():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: g * 10)
    seen = Recorder()
    x.register_hook(seen)
    loss = (y * y).sum()
    (gy,) = al.grad(loss, y, retain_graph=True)
    np.testing.assert_array_equal(gy, 10 * 2 * y.data)  # as PyTorch: captured after hooks
    (gx,) = al.grad(loss, x)
    np.testing.assert_array_equal(gx, 3 * 10 * 2 * y.data)
    assert len(seen.calls) == 1  # only the second call reaches x


def test_with_create_graph_a_hook_gets_a_tensor_and_its_result_is_differentiated():
    x = Tensor([0.5, -1.5, 2.0], requires_grad=True)
    y = x**3
    got = []
    handle = y.register_hook(lambda g: got.append(type(g)) or g * y)  # d/dy becomes y
    (g,) = al.grad(y.sum(), x, create_graph=True)  # = y * 3x^2 = 3x^5
    assert got == [Tensor]
    np.testing.assert_allclose(g.data, 3 * x.data**5)
    handle.remove()  # else it fires again when the second pass reaches y (as in PyTorch)
    (gg,) = al.grad(g.sum(), x)
    np.testing.assert_allclose(gg, 15 * x.data**4)


def test_a_hook_fires_again_in_a_second_order_pass_as_in_pytorch():
    torch = pytest.importorskip("torch")
    values = np.array([0.5, -1.5, 2.0])
    results = []
    ours, theirs = Tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    for lib, x in ((al, ours), (torch.autograd, theirs)):
        y = x**3
        y.register_hook(lambda g, y=y: g * y)
        (g,) = lib.grad(y.sum(), x, create_graph=True)
        (gg,) = lib.grad(g.sum(), x)
        results.append(np.asarray(gg))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


@given(x=shapes(max_dims=2).flatmap(arrays))
def test_observing_hooks_leave_gradients_exact(x):
    """A hook that returns None changes nothing: gradcheck at first and second order."""
    seen = Recorder()

    def f(x):
        y = x.tanh() * x
        y.register_hook(seen)
        x.register_hook(seen)
        return (y * y).sum()

    assert al.gradcheck(f, leaves(x))
    assert al.gradgradcheck(f, leaves(x))
    assert seen.calls and all(np.shape(c) == np.shape(x) for c in seen.calls)


@pytest.mark.parametrize("order", [1, 2])
def test_float32_stays_float32_through_hooks(order):
    x = Tensor(np.array([0.5, -1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = x * x
    y.retain_grad()
    y.register_hook(lambda g: g * 2.0)
    x.register_hook(lambda g: g * 1.0)
    loss = (y * x).sum()
    (g,) = al.grad(loss, x, create_graph=order == 2)
    if order == 2:
        assert g.dtype == np.float32
        (g,) = al.grad(g.sum(), x)
    assert g.dtype == np.float32 and y.grad.dtype == np.float32


@given(pair=broadcast_pair())
def test_hooks_against_pytorch(pair):
    torch = pytest.importorskip("torch")
    a, b = leaves(*pair)
    y = a * b
    y.register_hook(lambda g: g * 3)
    y.retain_grad()
    a.register_hook(lambda g: g - 1)
    (y * y).sum().backward()
    ta, tb = (torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in pair)
    ty = ta * tb
    ty.register_hook(lambda g: g * 3)
    ty.retain_grad()
    ta.register_hook(lambda g: g - 1)
    (ty * ty).sum().backward()
    for ours, theirs in ((a, ta), (b, tb), (y, ty)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-12)
