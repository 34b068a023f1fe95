"""The engine: its properties (issue 2, "Engine properties that must hold"), grad mode,
user Functions, al.grad, and higher-order gradients checked against finite differences."""

from __future__ import annotations

import contextlib
import gc
import threading
import tracemalloc
import weakref
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Tensor
from tests.strategies import (
    arrays,
    broadcast_pair,
    distinct_arrays,
    gapped_arrays,
    leaves,
    logits_and_targets,
    matmul_pair,
    nonzero_arrays,
    positive_arrays,
    shapes,
)


@contextlib.contextmanager
def gc_disabled() -> Iterator[None]:
    """Run a block with the cycle collector off: what dies must die by reference counting."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- broadcast gradients take the input's shape ------------------------------------------------
@pytest.mark.parametrize(
    "op", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b]
)
@given(pair=broadcast_pair(first=nonzero_arrays, second=nonzero_arrays))
def test_broadcast_gradients_take_the_input_shape(op, pair):
    a, b = leaves(*pair)
    out = op(a, b)
    out.backward(np.ones(out.shape))
    assert a.grad.shape == a.shape and b.grad.shape == b.shape
    assert a.grad.dtype == np.float64 and b.grad.dtype == np.float64


@given(pair=broadcast_pair())
def test_broadcast_gradient_of_add_counts_the_copies(pair):
    a, b = leaves(*pair)
    out = a + b
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(a.grad, np.full(a.shape, out.size / a.size))
    np.testing.assert_array_equal(b.grad, np.full(b.shape, out.size / b.size))


@pytest.mark.parametrize("side", ["left", "right"])
def test_0d_broadcast_on_either_side(side):
    s = Tensor(np.array(2.0), requires_grad=True)
    m = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    out = s * m if side == "left" else m * s
    out.sum().backward()
    assert s.grad.shape == () and m.grad.shape == (3, 4)
    assert s.grad == m.data.sum()
    np.testing.assert_array_equal(m.grad, np.full((3, 4), 2.0))


def test_size_1_axes_are_summed_in_the_middle_and_in_front():
    a = Tensor(np.ones((3, 1, 2)), requires_grad=True)
    b = Tensor(np.ones((1, 4, 1)), requires_grad=True)
    c = Tensor(np.ones((5, 1, 1, 1)), requires_grad=True)
    (a * b * c).sum().backward()
    np.testing.assert_array_equal(a.grad, np.full((3, 1, 2), 20.0))
    np.testing.assert_array_equal(b.grad, np.full((1, 4, 1), 30.0))
    np.testing.assert_array_equal(c.grad, np.full((5, 1, 1, 1), 24.0))


class BroadcastAdd(al.Function):
    """A user op whose backward returns gradients of the output's (broadcast) shape."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


def test_the_engine_reduces_a_user_ops_broadcast_gradient():
    a = Tensor(np.ones((2, 1)), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    BroadcastAdd.apply(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [[3.0], [3.0]])
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])


class WrongShape(al.Function):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, grad):
        return np.ones(7)


class WrongCount(al.Function):
    @staticmethod
    def forward(ctx, a, b):
        return a * b

    @staticmethod
    def backward(ctx, grad):
        return (grad,)


def test_a_gradient_of_the_wrong_shape_or_count_is_a_clear_error():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"WrongShape.*\(7,\).*\(2, 3\)"):
        WrongShape.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="WrongCount.*1.*2"):
        WrongCount.apply(x, x).sum().backward()
    assert al.is_grad_enabled()  # the engine's own mode switch was undone


# --- tensors used several times, diamonds, distinct leaves --------------------------------------
@given(x=shapes().flatmap(arrays))
def test_x_times_x(x):
    (t,) = leaves(x)
    (t * t).backward(np.ones(x.shape))
    np.testing.assert_array_equal(t.grad, 2 * x)


@given(x=shapes().flatmap(arrays))
def test_a_plus_a(x):
    (t,) = leaves(x)
    (t + t).backward(np.ones(x.shape))
    np.testing.assert_array_equal(t.grad, np.full(x.shape, 2.0))
    (u,) = leaves(x)
    (u + u + u - u).sum().backward()
    np.testing.assert_array_equal(u.grad, np.full(x.shape, 2.0))


def test_diamond():
    a = Tensor(np.array([1.5, -2.0, 3.0]), requires_grad=True)
    b, c = a * 2.0, a * 3.0  # two paths from a to d
    d = b * c  # 6 a^2
    d.sum().backward()
    np.testing.assert_array_equal(a.grad, 12.0 * a.data)


def test_nested_diamonds_and_a_shared_intermediate():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    h = x * 3.0  # used by three consumers, at different depths
    y = (h + h * 2.0) + (h * 4.0 + h) * 1.0  # = 8 h = 24 x
    z = y + h  # 27 x
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [27.0, 27.0])


def test_a_node_runs_only_after_every_node_that_used_its_output():
    # The walk runs nodes from the last recorded down: h's rule must wait for its late
    # consumer (h * 5, recorded after the chain through a), whatever the shape of the graph.
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    h = x.exp()
    a = h * 2.0
    b = (a * 3.0).sin()
    c = b + h * 5.0
    c.sum().backward()
    e = np.exp(x.data)
    np.testing.assert_allclose(x.grad, (6.0 * np.cos(6.0 * e) + 5.0) * e, rtol=1e-15)


def test_a_node_given_a_later_node_as_input_by_hand_is_a_clear_error():
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = x * 2.0
    z = y * 3.0
    y._ctx.edges = [z._ctx, None]  # a graph no op records: y's node made from z's
    with pytest.raises(RuntimeError, match="not recorded before it"):
        z.backward()
    assert x.grad is None


def test_distinct_leaves_with_equal_values():
    a = Tensor(np.array([2.0]), requires_grad=True)
    b = Tensor(np.array([2.0]), requires_grad=True)
    (a * 3.0 + b * 5.0).sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0])
    np.testing.assert_array_equal(b.grad, [5.0])
    c = Tensor(np.array([2.0]), requires_grad=True)
    d = Tensor(np.array([2.0]), requires_grad=True)
    (c * d * d).sum().backward()
    np.testing.assert_array_equal(c.grad, [4.0])
    np.testing.assert_array_equal(d.grad, [8.0])


def test_distinct_leaves_sharing_one_array():
    shared = np.array([2.0, -1.0])
    a, b = Tensor(shared, requires_grad=True), Tensor(shared, requires_grad=True)
    (a * 3.0 + b * b * 5.0).sum().backward()
    np.testing.assert_array_equal(a.grad, [3.0, 3.0])
    np.testing.assert_array_equal(b.grad, 10.0 * shared)


def test_second_order_of_distinct_leaves_sharing_one_array():
    # y = a * b with a, b distinct leaves on the same ndarray: d/db (dy/da) = d/db b = 1 and
    # d/da (dy/da) = 0. The saved arrays must map back to the right input Tensor.
    shared = np.array([2.0])
    a, b = Tensor(shared, requires_grad=True), Tensor(shared, requires_grad=True)
    (ga,) = al.grad((a * b).sum(), a, create_graph=True)
    d_da, d_db = al.grad(ga.sum(), [a, b])
    np.testing.assert_array_equal(d_da, [0.0])
    np.testing.assert_array_equal(d_db, [1.0])


def test_second_order_through_a_detached_copy_treats_it_as_constant():
    x = Tensor(np.array([3.0]), requires_grad=True)
    y = (x * x.detach()).sum()  # dy/dx = x (as a constant): a gradient with no graph
    (g,) = al.grad(y, x, create_graph=True)
    np.testing.assert_array_equal(g.data, [3.0])
    assert not g.requires_grad
    y = (x * x * x.detach()).sum()  # dy/dx = 2 x c: d2y/dx2 = 2 c = 6 (not 6 x = 18)
    (g,) = al.grad(y, x, create_graph=True)
    (h,) = al.grad(g.sum(), x)
    np.testing.assert_array_equal(h, [6.0])


# --- deep graphs ------------------------------------------------------------------------------
def test_a_chain_of_100000_ops_backpropagates_iteratively():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x
    for i in range(100_000):
        y = y * 2.0 if i % 2 == 0 else y * 0.5  # exact in binary
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [1.0, 2.0])
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_al_grad_on_a_chain_of_100000_ops():
    x = Tensor(np.array(0.5), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    (g,) = al.grad(y, x)
    assert g == 1.0


def test_dropping_a_deep_unused_graph_frees_it_without_crashing():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 0.0
    deep = weakref.ref(y.grad_fn.edges[0])  # the node that made its input
    with gc_disabled():
        del y
        assert deep() is None


# --- the graph is released ----------------------------------------------------------------------
def test_intermediate_dies_once_the_output_is_dropped():
    x = Tensor(np.ones(3), requires_grad=True)
    with gc_disabled():
        h = x * 2.0
        ref, data_ref = weakref.ref(h), weakref.ref(h.data)
        y = (h.tanh() * h).sum()
        del h
        assert data_ref() is not None  # the graph keeps what backward needs: h's values
        del y
        assert ref() is None and data_ref() is None


def test_intermediate_dies_after_backward_while_the_output_lives():
    x = Tensor(np.ones(3), requires_grad=True)
    with gc_disabled():
        h = x.exp()
        ref, data_ref = weakref.ref(h), weakref.ref(h.data)
        y = (h * h).sum()
        del h
        y.backward()
        assert ref() is None and data_ref() is None
        assert y.data == pytest.approx(3 * np.e**2)


def test_retain_graph_keeps_intermediates_until_the_output_is_dropped():
    x = Tensor(np.ones(3), requires_grad=True)
    with gc_disabled():
        h = x.exp()
        ref, data_ref = weakref.ref(h), weakref.ref(h.data)
        y = (h * h).sum()
        del h
        y.backward(retain_graph=True)
        assert data_ref() is not None  # saved for a second backward
        del y
        assert ref() is None and data_ref() is None


def test_higher_order_graphs_are_freed_by_reference_counting():
    x = Tensor(np.array([0.3, -0.2]), requires_grad=True)
    with gc_disabled():
        h = x.tanh()
        ref = weakref.ref(h)
        y = (h * h.exp()).sum()
        del h
        (g,) = al.grad(y, x, create_graph=True)
        (hvp,) = al.grad((g * g).sum(), x)
        del y, g
        assert ref() is None
    assert np.all(np.isfinite(hvp))


def test_a_4000_step_training_loop_holds_flat_memory():
    rng = np.random.default_rng(0)
    w1 = Tensor(rng.standard_normal((2, 16)) * 0.5, requires_grad=True)
    b1 = Tensor(np.zeros(16), requires_grad=True)
    w2 = Tensor(rng.standard_normal((16, 2)) * 0.5, requires_grad=True)
    x, labels = rng.standard_normal((10, 2)), rng.integers(0, 2, 10)
    params = [w1, b1, w2]
    first_loss = last_loss = None
    tracemalloc.start()
    try:
        for step in range(4000):
            loss = al.softmax_cross_entropy((x @ w1 + b1).relu() @ w2, labels)
            loss.backward()
            for p in params:
                p.data = p.data - 0.05 * p.grad
                p.grad = None
            first_loss = loss.item() if first_loss is None else first_loss
            last_loss = loss.item()
            if step == 1999:
                at_2000 = tracemalloc.get_traced_memory()[0]
        at_4000 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # 2,000 more steps: a leak of even one small object per step would add ~100 KB. (The
    # first 2,000 steps warm up: CPython's free lists of small tuples, up to 2,000 per size,
    # count as traced memory while they fill.)
    assert at_4000 - at_2000 < 32_000, (at_2000, at_4000)
    assert last_loss < first_loss  # and it did train


# --- no op mutates its inputs --------------------------------------------------------------------
MUTATION_CASES: dict[str, Callable] = {
    "add": lambda a, b, c: a + b + c,
    "sub": lambda a, b, c: a - b - c,
    "mul": lambda a, b, c: a * b * c,
    "div": lambda a, b, c: a / b / (c * c + 1.0),
    "pow": lambda a, b, c: a.abs() ** b + c**2,
    "neg": lambda a, b, c: -a,
    "matmul": lambda a, b, c: a @ b.transpose(1, 0) + c @ a.transpose(1, 0),
    "sum/mean/max": lambda a, b, c: a.sum(axis=0) + b.mean(axis=1, keepdims=True) + c.max(),
    "reshape/transpose": lambda a, b, c: a.reshape(6).reshape(3, 2).transpose(1, 0) + b[:, ::-1],
    "getitem": lambda a, b, c: a[[0, 0, 1], 1:] + b[..., ::-1][:1, :2] + c[1, 1:],
    "exp/log/sqrt": lambda a, b, c: a.exp() + b.abs().log() + (c.abs() + 1.0).sqrt(),
    "relu": lambda a, b, c: a.relu() + al.relu(b) + c.relu(),
    "tanh/sigmoid/abs": lambda a, b, c: a.tanh() + b.sigmoid() + c.abs(),
    "maximum/where": lambda a, b, c: al.maximum(a, b) + al.where(c.data > 0, c, a),
    "concatenate/stack": lambda a, b, c: al.concatenate([a, b]) + al.stack([c, c]).reshape(4, 3),
    "softmax": lambda a, b, c: al.softmax(a, axis=0) + al.log_softmax(b),
    "cross_entropy": lambda a, b, c: (
        al.softmax_cross_entropy(a, np.array([0, 2]))
        + al.softmax_cross_entropy(b, al.softmax(c).data, reduction="none")
    ),
    "linear": lambda a, b, c: al.linear(a, b.reshape(3, 2), c[0, :2]),
}


@pytest.mark.parametrize("mode", ["backward", "grad", "create_graph"])
@pytest.mark.parametrize("name", list(MUTATION_CASES))
def test_no_op_mutates_its_inputs(name, mode):
    rng = np.random.default_rng(5)
    values = [rng.standard_normal((2, 3)) for _ in range(3)]
    values[2][0, 0] = 0.0  # relu's input contains 0 and negatives
    tensors = [Tensor(v.copy(), requires_grad=True) for v in values]
    constant = rng.standard_normal((2, 3))
    constant_copy = constant.copy()
    out = MUTATION_CASES[name](*tensors)
    seed = np.ones(out.shape)
    outputs = [out, (tensors[0] * constant).sum()]
    if mode == "backward":
        out.backward(seed)
        outputs[1].backward()
    else:
        create_graph = mode == "create_graph"
        grads = al.grad(outputs, tensors, grad_outputs=[seed, None], create_graph=create_graph)
        differentiable = [(g * g).sum() for g in grads if create_graph and g.requires_grad]
        if differentiable:
            al.grad(sum(differentiable), tensors)
    for v, t in zip(values, tensors):
        np.testing.assert_array_equal(t.data, v)
    np.testing.assert_array_equal(constant, constant_copy)
    np.testing.assert_array_equal(seed, np.ones(out.shape))


def test_relu_does_not_mutate_its_input_the_tutorial_bug():
    data = np.array([-1.0, 0.0, 2.0])
    x = Tensor(data, requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(data, [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(x.data, [-1.0, 0.0, 2.0])


# --- gradients written in place (ctx.owns_grad): only where nothing else can see them ----------
def _relu_net() -> tuple[Tensor, Tensor, Tensor, np.ndarray]:
    """x @ W (a gradient made by matmul, owned) into relu, with zeros in the relu's mask."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w2 = Tensor(rng.standard_normal((4, 2)), requires_grad=True)
    upstream = np.ones((5, 2)) @ w2.data.T  # d(sum)/d(relu's output)
    return x, w, w2, upstream


def _relu_grads(x: Tensor, w: Tensor, upstream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mask = (x.data @ w.data) > 0
    return (upstream * mask) @ w.data.T, x.data.T @ (upstream * mask)


def test_a_hook_and_retain_grad_see_the_gradient_before_relu_masks_it():
    x, w, w2, upstream = _relu_net()
    z = x @ w
    h = z.relu()
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(np.array(g)))
    (h @ w2).sum().backward()
    assert ((z.data <= 0) & (upstream != 0)).any()  # the mask does zero some entries
    np.testing.assert_array_equal(h.grad, upstream)
    np.testing.assert_array_equal(seen[0], upstream)
    gx, gw = _relu_grads(x, w, upstream)
    np.testing.assert_allclose(x.grad, gx, rtol=1e-12)
    np.testing.assert_allclose(w.grad, gw, rtol=1e-12)


def test_al_grad_of_a_relu_output_is_its_unmasked_gradient():
    x, w, w2, upstream = _relu_net()
    h = (x @ w).relu()
    gh, gx = al.grad((h @ w2).sum(), [h, x])
    np.testing.assert_array_equal(gh, upstream)
    np.testing.assert_allclose(gx, _relu_grads(x, w, upstream)[0], rtol=1e-12)


def test_relu_gradients_are_exact_where_gradients_are_summed_or_shared():
    x, w, w2, upstream = _relu_net()
    z = x @ w
    h = z.relu()
    ((h @ w2).sum() + (h @ w2).sum() + (z.relu() * 1.0).sum() + (h + h).sum()).backward()
    mask = z.data > 0
    gz = (2 * upstream + 1.0 + 2.0) * mask
    np.testing.assert_allclose(x.grad, gz @ w.data.T, rtol=1e-12)
    np.testing.assert_allclose(w.grad, x.data.T @ gz, rtol=1e-12)
    x.grad = w.grad = w2.grad = None
    h = (x @ w).relu()
    (h.relu() @ w2).sum().backward()  # relu of relu: the inner one gets the outer's result
    np.testing.assert_allclose(x.grad, _relu_grads(x, w, upstream)[0], rtol=1e-12)


def test_a_subclass_with_its_own_backward_does_not_inherit_the_fresh_grads_promise():
    from autograd_lite import ops

    class CachedMatMul(ops.MatMul):  # its rule keeps the array it hands out: not fresh
        @staticmethod
        def backward(ctx, grad):
            ctx.kept = grad @ ctx.saved_tensors[1].T
            return ctx.kept, None

    class Plain(ops.MatMul):  # no rule of its own: MatMul's promise holds
        pass

    assert not CachedMatMul.fresh_grads and Plain.fresh_grads
    x, w, w2, upstream = _relu_net()
    h = x.relu()  # the relu gets the kept array as its gradient: it must not mask it in place
    z = CachedMatMul.apply(h, w)
    z.sum().backward()
    node_kept = np.ones((5, 4)) @ w.data.T
    assert (x.data <= 0).any()
    np.testing.assert_array_equal(z._ctx.kept, node_kept)
    np.testing.assert_array_equal(x.grad, node_kept * (x.data > 0))


# --- backward(): accumulation, aliasing, freeing, errors ----------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3.0).sum().backward()
    first = x.grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0 + 2.0, 3.0 + 4.0])
    np.testing.assert_array_equal(first, [3.0, 3.0])  # the earlier array was not changed
    x.grad = None
    (x * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])


def test_the_callers_grad_array_is_never_aliased_into_grad():
    g = np.array([1.0, 2.0, 3.0])
    a = Tensor(np.zeros(3), requires_grad=True)
    b = Tensor(np.zeros(3), requires_grad=True)
    (a + b).backward(g)
    for leaf in (a, b):
        assert not np.shares_memory(leaf.grad, g)
    assert not np.shares_memory(a.grad, b.grad)
    g[:] = 0.0
    np.testing.assert_array_equal(a.grad, [1.0, 2.0, 3.0])
    a.grad[0] = 100.0  # changing one .grad in place changes nothing else
    np.testing.assert_array_equal(b.grad, [1.0, 2.0, 3.0])


def test_backward_of_a_leaf_and_of_a_view_copy_the_grad():
    g = np.array([[1.0, 2.0]])
    x = Tensor(np.zeros((1, 2)), requires_grad=True)
    x.backward(g)
    assert x.grad is not g and not np.shares_memory(x.grad, g)
    y = Tensor(np.zeros(2), requires_grad=True)
    y.reshape(1, 2).backward(g)
    assert not np.shares_memory(y.grad, g)
    g[0, 0] = -5.0
    np.testing.assert_array_equal(x.grad, [[1.0, 2.0]])
    np.testing.assert_array_equal(y.grad, [1.0, 2.0])


def test_leaf_grads_are_writable_arrays_of_their_own():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    x.sum().backward()  # the sum's gradient is a broadcast (read-only) view inside the engine
    assert type(x.grad) is np.ndarray and x.grad.flags.writeable
    x.grad *= 2
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))


def test_second_backward_raises_and_retain_graph_allows_it():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    z = (x * x).sum()
    x.grad = None
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    with pytest.raises(RuntimeError, match="retain_graph"):
        z.backward()


def test_backward_through_a_freed_part_of_a_graph_raises():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x.exp()
    (h * 2.0).sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        h.sum().backward()


def test_non_scalar_backward_needs_grad():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="grad"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)|shape"):
        (x * 2.0).backward(np.ones(2))
    y = x * 2.0  # the failed calls freed nothing
    y.backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


def test_single_element_output_needs_no_grad():
    x = Tensor(np.array([[3.0]]), requires_grad=True)
    (x * 2.0).backward()
    np.testing.assert_array_equal(x.grad, [[2.0]])


def test_backward_of_a_tensor_without_graph_raises():
    with pytest.raises(RuntimeError):
        Tensor(np.array(1.0)).backward()


# --- grad mode ------------------------------------------------------------------------------------
def test_no_grad_context_records_nothing_and_restores():
    x = Tensor(np.ones(2), requires_grad=True)
    assert al.is_grad_enabled()
    with al.no_grad():
        assert not al.is_grad_enabled()
        y = x * 2.0
    assert al.is_grad_enabled()
    assert y.requires_grad is False and y.grad_fn is None
    np.testing.assert_array_equal(y.data, [2.0, 2.0])
    assert (x * 2.0).requires_grad


def test_no_grad_as_decorator():
    x = Tensor(np.ones(2), requires_grad=True)

    @al.no_grad()
    def step(t):
        assert not al.is_grad_enabled()
        return t * 3.0

    y = step(x)
    assert y.requires_grad is False
    assert al.is_grad_enabled()
    assert step.__name__ == "step"


def test_no_grad_and_enable_grad_as_decorators_without_parentheses():
    x = Tensor(np.ones(2), requires_grad=True)

    @al.no_grad
    def step(t):
        """Doubles t."""
        return t * 2.0

    @al.enable_grad
    def recorded(t):
        return t * 2.0

    assert step(x).requires_grad is False and al.is_grad_enabled()
    assert step.__name__ == "step" and step.__doc__ == "Doubles t."
    with al.no_grad():
        assert recorded(x).requires_grad
        assert not al.is_grad_enabled()
    with pytest.raises(TypeError, match="can only decorate a function"):
        al.no_grad(3)


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(KeyError), al.no_grad():
        raise KeyError("boom")
    assert al.is_grad_enabled()

    @al.no_grad()
    def failing():
        raise ValueError("inner")

    with pytest.raises(ValueError, match="inner"):
        failing()
    assert al.is_grad_enabled()
    with al.no_grad():  # nested: the inner block restores the outer mode, not "enabled"
        with pytest.raises(KeyError), al.no_grad():
            raise KeyError("x")
        assert not al.is_grad_enabled()
    assert al.is_grad_enabled()


def test_one_no_grad_instance_can_be_reused_and_nested():
    guard = al.no_grad()
    with guard:
        with guard:
            assert not al.is_grad_enabled()
        assert not al.is_grad_enabled()
    assert al.is_grad_enabled()
    with al.enable_grad():
        with guard, pytest.raises(KeyError):
            raise KeyError("x")
        assert al.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = Tensor(np.ones(2), requires_grad=True)
    with al.no_grad():
        with al.enable_grad():
            y = x * 2.0
        z = x * 2.0
        assert not al.is_grad_enabled()
    assert y.requires_grad and not z.requires_grad


def test_grad_mode_is_per_thread():
    seen = []
    started, release = threading.Event(), threading.Event()

    def worker():
        started.set()
        release.wait(5)
        seen.append(al.is_grad_enabled())

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait(5)
    with al.no_grad():
        release.set()
        thread.join(5)
        assert not al.is_grad_enabled()
    assert seen == [True]


def test_backward_inside_no_grad_still_works():
    x = Tensor(np.array([2.0]), requires_grad=True)
    y = (x * x).sum()
    with al.no_grad():
        y.backward()
    np.testing.assert_array_equal(x.grad, [4.0])


# --- user Functions ------------------------------------------------------------------------------
class Cube(al.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):  # 3 x^2
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


class ScaledProduct(al.Function):
    """a * b * scale; records which inputs needed a gradient."""

    calls: list = []

    @staticmethod
    def forward(ctx, a, b, scale=1.0):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        return a * b * scale

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ScaledProduct.calls.append((need_a, need_b))
        return (
            grad * b * ctx.scale if need_a else None,
            grad * a * ctx.scale if need_b else None,
        )


def test_user_function_value_gradient_and_gradcheck():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = Cube.apply(x)
    assert isinstance(y, Tensor) and y.requires_grad
    np.testing.assert_array_equal(y.data, [1.0, -8.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 12.0])
    assert al.gradcheck(Cube.apply, [Tensor(np.array([0.3, -1.2]), requires_grad=True)])


def test_user_function_needs_input_grad_and_keyword_parameters():
    ScaledProduct.calls.clear()
    a = Tensor(np.array([2.0]), requires_grad=True)
    b = Tensor(np.array([5.0]))  # a constant Tensor
    ScaledProduct.apply(a, b, scale=3.0).sum().backward()
    assert ScaledProduct.calls == [(True, False)]
    np.testing.assert_array_equal(a.grad, [15.0])
    assert b.grad is None
    ScaledProduct.apply(np.array([4.0]), a).sum().backward()  # an ndarray input
    assert ScaledProduct.calls[-1] == (False, True)
    np.testing.assert_array_equal(a.grad, [19.0])


def test_user_function_needs_input_grad_is_available_in_forward():
    class Recorder(al.Function):
        seen = None

        @staticmethod
        def forward(ctx, a, b):
            Recorder.seen = ctx.needs_input_grad
            return a + b

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    Recorder.apply(Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2)))
    assert Recorder.seen == (True, False)


def test_user_function_on_plain_arrays_runs_forward_only():
    out = Cube.apply(np.array([2.0]))
    assert not isinstance(out, Tensor)
    np.testing.assert_array_equal(out, [8.0])
    with al.no_grad():
        t = Cube.apply(Tensor(np.array([2.0]), requires_grad=True))
    assert isinstance(t, Tensor) and not t.requires_grad


def test_user_function_second_order():
    x = Tensor(np.array([0.5, -2.0]), requires_grad=True)
    (g,) = al.grad(Cube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data**2)
    (h,) = al.grad(g.sum(), x)
    np.testing.assert_allclose(h, 6 * x.data, rtol=1e-15)


def test_saved_tensors_are_freed_after_backward():
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = Cube.apply(x)
    node = y.grad_fn
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        node.saved_tensors  # noqa: B018


# --- al.grad ----------------------------------------------------------------------------------
def test_al_grad_returns_gradients_without_touching_grad():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([3.0, -1.0]), requires_grad=True)
    b.grad = np.array([10.0, 10.0])
    y = (a * b).sum()
    grads = al.grad(y, [a, b])
    assert isinstance(grads, tuple) and len(grads) == 2
    np.testing.assert_array_equal(grads[0], b.data)
    np.testing.assert_array_equal(grads[1], a.data)
    assert a.grad is None
    np.testing.assert_array_equal(b.grad, [10.0, 10.0])


@given(pair=broadcast_pair(second=nonzero_arrays))
def test_al_grad_agrees_with_backward(pair):
    a, b = leaves(*pair)
    ga, gb = al.grad((a / b * a).tanh().sum(), [a, b])
    a2, b2 = leaves(*pair)
    (a2 / b2 * a2).tanh().sum().backward()
    np.testing.assert_array_equal(ga, a2.grad)
    np.testing.assert_array_equal(gb, b2.grad)


def test_al_grad_of_an_intermediate_and_of_an_unused_input():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    unused = Tensor(np.array([5.0]), requires_grad=True)
    h = x * 3.0
    y = (h * h).sum()
    gh, gx, gu = al.grad(y, [h, x, unused])
    np.testing.assert_array_equal(gh, 2 * h.data)
    np.testing.assert_array_equal(gx, 6 * h.data)
    np.testing.assert_array_equal(gu, [0.0])


def test_al_grad_with_grad_outputs_and_several_outputs():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y1, y2 = x * 2.0, (x * x).sum()
    (g,) = al.grad([y1, y2], x, grad_outputs=[np.array([1.0, -1.0]), None])
    np.testing.assert_array_equal(g, [2.0 + 2.0, -2.0 + 4.0])


def test_al_grad_of_several_scalar_outputs_needs_no_grad_outputs():
    # like torch.autograd.grad([y1, y2], x): None means "ones" for every scalar output
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = al.grad([(x * 2.0).sum(), (x * x).sum()], x)
    np.testing.assert_array_equal(g, [2.0 + 2.0, 2.0 + 4.0])


def test_al_grad_frees_the_graph_unless_retained():
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = (x * x).sum()
    al.grad(y, x, retain_graph=True)
    al.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        al.grad(y, x)


def test_al_grad_errors():
    x = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError):
        al.grad((x * 2).sum(), [np.ones(2)])
    with pytest.raises(ValueError, match="require"):
        al.grad((x * 2).sum(), [Tensor(np.ones(2))])
    with pytest.raises(ValueError, match="grad_outputs"):
        al.grad(x * 2, x)


# --- higher-order gradients against finite differences of the gradient --------------------------
def gradient_of(fn: Callable, index: int) -> Callable:
    """x -> d/dx_index [sum(fn(*x) ** 2) / 2 + sum(w * fn(*x))], as a differentiable Tensor.

    gradcheck of this function compares the Hessian (by reverse-over-reverse) with central
    differences of the gradient. The square keeps it non-trivial for linear ops.
    """

    def g(*xs: Tensor) -> Tensor:
        out = fn(*xs)
        w = np.cos(np.arange(out.size, dtype=np.float64)).reshape(out.shape)
        scalar = (out * out).sum() * 0.5 + (out * w).sum()
        return al.grad(scalar, xs, create_graph=True)[index]

    return g


def assert_second_order(fn: Callable, *arrays_: np.ndarray) -> None:
    for i in range(len(arrays_)):
        assert al.gradcheck(gradient_of(fn, i), leaves(*arrays_)) is True


def one(values: Callable = arrays, min_dims: int = 0) -> st.SearchStrategy:
    """A 1-tuple holding one array of a drawn shape."""
    return shapes(min_dims=min_dims).flatmap(values).map(lambda a: (a,))


LINEAR_ARGS = (np.eye(2, 3) + 0.5, np.arange(6.0).reshape(3, 2) / 5, np.ones(2))

SECOND_ORDER = {
    # name: (fn, strategy of its argument arrays)
    "tanh": (lambda x: x.tanh(), one()),
    "exp": (lambda x: x.exp(), one()),
    "sigmoid": (al.sigmoid, one()),
    "log": (al.log, one(positive_arrays)),
    "sqrt": (lambda x: x.sqrt(), one(positive_arrays)),
    "mul": (lambda a, b: a * b, broadcast_pair()),
    "div": (lambda a, b: a / b, broadcast_pair(second=nonzero_arrays)),
    "pow scalar": (lambda x: x**3 + x**-1.5, one(positive_arrays)),
    "pow tensor": (lambda a, b: a**b, broadcast_pair(first=positive_arrays)),
    "matmul": (lambda a, b: a @ b, matmul_pair()),
    "linear": (al.linear, st.just(LINEAR_ARGS)),
    "max": (lambda x: x.max(axis=-1) * x.sum(), one(distinct_arrays, min_dims=1)),
    "relu/abs": (lambda x: x.relu() * x.abs(), one(gapped_arrays)),
    "maximum": (
        al.maximum,
        broadcast_pair(first=gapped_arrays, second=lambda s: gapped_arrays(s, offset=0.0)),
    ),
    "shapes": (lambda x: x.swapaxes(0, -1).reshape(-1)[::-1] * x.sum(), one(min_dims=1)),
    "getitem": (lambda x: x[[0, 0, -1]] * x.mean(), one(min_dims=1)),
    "concatenate": (
        lambda a, b: al.concatenate([a.exp(), b * a.sum()]),
        st.tuples(arrays((2, 2)), arrays((1, 2))),
    ),
    "where": (lambda a: al.where(a.data > 0, a * a, a.exp()), one(gapped_arrays)),
    "softmax": (lambda x: al.softmax(x, axis=0), one(min_dims=1)),
    "log_softmax": (al.log_softmax, one(min_dims=1)),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
@given(data=st.data())
def test_second_order_gradcheck(name, data):
    fn, args = SECOND_ORDER[name]
    assert_second_order(fn, *data.draw(args))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=logits_and_targets())
def test_second_order_of_the_fused_loss(reduction, case):
    logits, targets = case

    def g(z: Tensor) -> Tensor:
        loss = al.softmax_cross_entropy(z, targets, reduction=reduction)
        scalar = loss.sum() if reduction == "none" else loss
        return al.grad(scalar, z, create_graph=True)[0]

    assert al.gradcheck(g, leaves(logits)) is True


def test_second_order_of_the_fused_loss_matches_the_composed_version():
    rng = np.random.default_rng(11)
    logits, labels = rng.standard_normal((4, 3)), np.array([2, 0, 1, 1])
    v = rng.standard_normal((4, 3))
    hvps = []
    for fn in (
        lambda z: al.softmax_cross_entropy(z, labels),
        lambda z: -(al.one_hot(labels, 3) * al.log_softmax(z)).sum(axis=1).mean(),
    ):
        (z,) = leaves(logits)
        (g,) = al.grad(fn(z), z, create_graph=True)
        hvps.append(al.grad((g * v).sum(), z)[0])
    np.testing.assert_allclose(hvps[0], hvps[1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "transpose",
    [lambda t: t.T, lambda t: t.transpose(), lambda t: t.transpose(1, 0)],
    ids=[".T", "transpose()", "transpose(1, 0)"],
)
def test_second_order_through_a_transpose(transpose):
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w = np.arange(6.0).reshape(3, 2)
    (g,) = al.grad((transpose(x) ** 2 * w).sum(), x, create_graph=True)  # 2 x w.T
    np.testing.assert_array_equal(g.data, 2 * x.data * w.T)
    (h,) = al.grad(g.sum(), x)
    np.testing.assert_array_equal(h, 2 * w.T)


def test_second_order_of_pow_at_a_zero_exponent():
    # f = a^b at a = 1, b = 0: d2f/da db = a^(b-1) + b a^(b-1) log(a) = 1 (the first-order
    # df/da = b a^(b-1) is 0 there, but it is not constant in b)
    a = Tensor(np.array(1.0), requires_grad=True)
    b = Tensor(np.array(0.0), requires_grad=True)
    (ga,) = al.grad(a**b, a, create_graph=True)
    assert ga.item() == 0.0
    (gab,) = al.grad(ga, b)
    assert gab == 1.0


def test_third_derivative_of_a_cube():
    x = Tensor(np.array([0.5, -2.0]), requires_grad=True)
    (d1,) = al.grad((x**3).sum(), x, create_graph=True)
    (d2,) = al.grad(d1.sum(), x, create_graph=True)
    (d3,) = al.grad(d2.sum(), x)
    np.testing.assert_allclose(d1.data, 3 * x.data**2, rtol=1e-15)
    np.testing.assert_allclose(d2.data, 6 * x.data, rtol=1e-15)
    np.testing.assert_allclose(d3, [6.0, 6.0], rtol=1e-15)


def mlp_loss(params: list[Tensor], x: np.ndarray, labels: np.ndarray) -> Tensor:
    w1, b1, w2, b2 = params
    hidden = (x @ w1 + b1).tanh()
    return al.softmax_cross_entropy(hidden @ w2 + b2, labels) + (w1 * w1).sum() * 1e-2


def test_hessian_vector_product_of_a_small_mlp_against_finite_differences():
    rng = np.random.default_rng(2)
    shapes_ = [(3, 5), (5,), (5, 4), (4,)]
    values = [rng.standard_normal(s) for s in shapes_]
    vs = [rng.standard_normal(s) for s in shapes_]
    x, labels = rng.standard_normal((6, 3)), rng.integers(0, 4, 6)

    params = leaves(*values)
    grads = al.grad(mlp_loss(params, x, labels), params, create_graph=True)
    assert all(isinstance(g, Tensor) and g.requires_grad for g in grads)
    gv = sum((g * v).sum() for g, v in zip(grads, vs))
    hvp = al.grad(gv, params)

    def gradient_at(step: float) -> list[np.ndarray]:
        shifted = leaves(*[p + step * v for p, v in zip(values, vs)])
        return list(al.grad(mlp_loss(shifted, x, labels), shifted))

    eps = 1e-5
    plus, minus = gradient_at(eps), gradient_at(-eps)
    for h, p, m in zip(hvp, plus, minus):
        np.testing.assert_allclose(h, (p - m) / (2 * eps), rtol=1e-6, atol=1e-8)


# --- al.grad's memory: it drops each gradient once passed on, like backward() --------------------
def _chain_of_200_ops() -> tuple[Tensor, Tensor]:
    x = Tensor(np.random.default_rng(0).standard_normal(100_000), requires_grad=True)  # 0.8 MB
    y = x
    for i in range(200):
        y = y * 1.0001 if i % 2 else y + 0.5
    return x, y.sum()


def _peak_bytes(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def test_al_grad_peak_memory_is_within_twice_that_of_backward():
    x, loss = _chain_of_200_ops()
    backward_peak = _peak_bytes(loss.backward)
    x, loss = _chain_of_200_ops()
    grad_peak = _peak_bytes(lambda: al.grad(loss, x))
    # Holding every intermediate gradient (200 x 0.8 MB) would be ~100 times more.
    assert backward_peak < 5_000_000, backward_peak
    assert grad_peak < 2 * backward_peak, (grad_peak, backward_peak)


def test_al_grad_runs_only_the_rules_on_a_path_to_its_inputs():
    calls = []

    class Spy(al.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1.0

        @staticmethod
        def backward(ctx, grad):
            calls.append(1)
            return grad

    x = Tensor(np.ones(3), requires_grad=True)
    w = Tensor(np.ones(3), requires_grad=True)
    loss = (x * 2.0).sum() + Spy.apply(w).sum()  # the Spy branch does not lead to x
    (g,) = al.grad(loss, x)
    np.testing.assert_array_equal(g, [2.0, 2.0, 2.0])
    assert calls == []
    loss = (x * 2.0).sum() + Spy.apply(w).sum()
    loss.backward()  # backward() fills every leaf, so it runs the Spy rule
    assert calls == [1]


# --- found by trying to break the walk (session 17) --------------------------------------
def test_al_grad_with_an_output_that_leads_to_no_input():
    # c is recorded last and does not lead to x: dropping it must keep the walk's order.
    x, z = Tensor(np.array([0.3, -0.7]), requires_grad=True), Tensor(np.array([1.1, 0.4]))
    z.requires_grad = True
    a = x * 2.0
    b = a * 3.0
    c = z * 4.0
    seen = []
    a.register_hook(lambda g: seen.append(np.array(g)))
    ones = [np.ones(2)] * 3
    gx, ga = al.grad([a, b, c], [x, a], grad_outputs=ones, retain_graph=True)
    np.testing.assert_array_equal(ga, [4.0, 4.0])  # 1 from a itself, 3 through b
    np.testing.assert_array_equal(gx, [8.0, 8.0])
    assert len(seen) == 1 and np.array_equal(seen[0], [4.0, 4.0])  # the hook: once, complete
    (gx,) = al.grad([a, b, c], [x], grad_outputs=ones)  # (the graph is freed after this)
    np.testing.assert_array_equal(gx, [8.0, 8.0])


def test_the_gradient_of_an_intermediate_does_not_run_its_own_rule():
    # Nothing beyond h leads to an input, so h's rule (which would read c, changed in place
    # since) is not needed: PyTorch returns the gradient, and so does autograd_lite.
    x, c = Tensor(np.array([1.0, 2.0]), requires_grad=True), Tensor(np.array([3.0, 4.0]))
    h = x * c
    loss = (h * h).sum()
    c += 1.0
    (gh,) = al.grad(loss, [h], retain_graph=True)
    np.testing.assert_array_equal(gh, [6.0, 16.0])
    loss.backward(inputs=[h], retain_graph=True)
    np.testing.assert_array_equal(h.grad, [6.0, 16.0])
    with pytest.raises(RuntimeError, match="changed in place"):  # x's gradient needs c
        loss.backward()


def test_deepcopy_takes_leaves_only_and_pickle_gives_a_leaf():
    import copy
    import pickle

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.grad = np.ones(2)
    for y in (copy.deepcopy(x), pickle.loads(pickle.dumps(x))):
        assert y.requires_grad and y.is_leaf and y.data is not x.data
        np.testing.assert_array_equal(y.data, x.data)
        np.testing.assert_array_equal(y.grad, x.grad)
    h = (x * 2.0).exp()
    with pytest.raises(RuntimeError, match=r"only leaf Tensors .* t\.detach\(\)"):
        copy.deepcopy(h)  # (its nodes would be copied with their recording numbers)
    unpickled = pickle.loads(pickle.dumps(h))  # as in PyTorch: the values, as a leaf
    assert unpickled.is_leaf and unpickled.requires_grad
    np.testing.assert_array_equal(unpickled.data, h.data)
    shallow = copy.copy(h)  # a new Tensor object on the same node: backward works
    (h.sum() + shallow.sum()).backward()
    np.testing.assert_allclose(x.grad, 1.0 + 2 * 2.0 * np.exp(2.0 * x.data), rtol=1e-15)


def test_copy_copy_keeps_every_slot_of_subclasses_too():
    import copy

    from autograd_lite import nn

    p = nn.Parameter(np.ones(2))
    q = copy.copy(p)
    assert type(q) is nn.Parameter and q.data is p.data and q.requires_grad

    def doubled(v):  # inside vmap: a batched tensor, whose .data cannot be read
        return (copy.copy(v) * 2.0).sum()

    np.testing.assert_array_equal(al.func.vmap(doubled)(np.ones((3, 2))).data, [4.0, 4.0, 4.0])
