"""autograd_lite.functional: maximum, where, concatenate, stack, softmax, log_softmax, one_hot,
and the fused softmax_cross_entropy (against the composed log_softmax version)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Tensor, ensemble
from tests.strategies import (
    arrays,
    assert_gradcheck,
    broadcast_pair,
    broadcastable_shapes,
    gapped_arrays,
    leaves,
    logits_and_targets,
    shapes,
)

REDUCTIONS = ["mean", "sum", "none"]


# --- maximum and where -------------------------------------------------------------------------
@given(pair=broadcast_pair(first=gapped_arrays, second=lambda s: gapped_arrays(s, offset=0.0)))
def test_maximum_broadcast(pair):
    a, b = pair  # on two grids 0.25 apart: never tied
    np.testing.assert_array_equal(al.maximum(Tensor(a), Tensor(b)).data, np.maximum(a, b))
    assert_gradcheck(al.maximum, a, b)
    assert_gradcheck(lambda x: al.maximum(x, b), a)  # constant on either side
    assert_gradcheck(lambda y: al.maximum(a, y), b)


def test_maximum_with_a_python_scalar_and_ties():
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    out = al.maximum(x, 0.0)
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 2.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 1.0])
    a = Tensor(np.array([1.0, 3.0]), requires_grad=True)
    b = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    al.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 1.0])
    np.testing.assert_array_equal(b.grad, [0.5, 0.0])


@given(data=st.data())
def test_where_broadcast(data):
    (c_shape, a_shape, b_shape), _ = data.draw(broadcastable_shapes(num_shapes=3))
    condition = data.draw(arrays(c_shape)) > 0
    a, b = data.draw(arrays(a_shape)), data.draw(arrays(b_shape))
    out = al.where(condition, Tensor(a), Tensor(b))
    np.testing.assert_array_equal(out.data, np.where(condition, a, b))
    assert_gradcheck(lambda x, y: al.where(condition, x, y), a, b)
    assert_gradcheck(lambda x: al.where(condition, x, 0.0), a)
    assert_gradcheck(lambda y: al.where(condition, a, y), b)


def test_where_gradient_goes_to_the_chosen_branch():
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array(10.0), requires_grad=True)
    al.where(np.array([True, False, True]), a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 0.0, 1.0])
    assert b.grad.shape == () and b.grad == 1.0


def test_where_needs_a_boolean_condition():
    with pytest.raises(TypeError, match="where"):
        al.where(np.array([1, 0]), Tensor([1.0, 2.0]), 0.0)


# --- concatenate and stack ---------------------------------------------------------------------
@given(data=st.data())
def test_concatenate(data):
    shape = data.draw(shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    parts = []
    for n in sizes:
        part_shape = list(shape)
        part_shape[axis] = n
        parts.append(data.draw(arrays(tuple(part_shape))))
    out = al.concatenate([Tensor(p) for p in parts], axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate(parts, axis=axis))
    assert_gradcheck(lambda *ts: al.concatenate(ts, axis=axis), *parts)
    # a plain array among the tensors is a constant
    assert_gradcheck(lambda t: al.concatenate([t, *parts[1:]], axis=axis), parts[0])


def test_concatenate_default_axis_and_gradient_slices():
    a, b = leaves(np.ones((1, 2)), np.ones((2, 2)))
    out = al.concatenate([a, b])
    assert out.shape == (3, 2)
    out.backward(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(a.grad, [[0, 1]])
    np.testing.assert_array_equal(b.grad, [[2, 3], [4, 5]])


def test_concatenate_errors():
    with pytest.raises(ValueError, match="concatenate"):
        al.concatenate([])
    with pytest.raises(ValueError, match="concatenate"):
        al.concatenate([Tensor(np.ones((2, 3))), Tensor(np.ones((2, 4)))], axis=0)


@given(data=st.data())
def test_stack(data):
    shape = data.draw(shapes())
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    parts = data.draw(st.lists(arrays(shape), min_size=1, max_size=3))
    out = al.stack([Tensor(p) for p in parts], axis=axis)
    np.testing.assert_array_equal(out.data, np.stack(parts, axis=axis))
    assert_gradcheck(lambda *ts: al.stack(ts, axis=axis), *parts)


def test_stack_errors():
    with pytest.raises(ValueError, match="stack"):
        al.stack([])
    with pytest.raises(ValueError, match="stack"):
        al.stack([Tensor(np.ones(2)), Tensor(np.ones(3))])
    with pytest.raises(ValueError, match="stack"):
        al.stack([Tensor(np.ones(2))], axis=2)


# --- linear ---------------------------------------------------------------------------------
@given(data=st.data())
def test_linear(data):
    n_in, n_out = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x_shape = data.draw(shapes(min_dims=0, max_dims=2, max_side=3)) + (n_in,)
    x = data.draw(arrays(x_shape))
    w = data.draw(arrays((n_in, n_out)))
    b = data.draw(arrays((n_out,)))
    np.testing.assert_allclose(al.linear(Tensor(x), Tensor(w), Tensor(b)).data, x @ w + b)
    np.testing.assert_allclose(al.linear(x, Tensor(w)).data, x @ w)
    assert_gradcheck(al.linear, x, w, b)
    assert_gradcheck(lambda w_, b_: al.linear(x, w_, b_), w, b)  # data as a plain array
    assert_gradcheck(lambda x_, w_: al.linear(x_, w_), x, w)


def test_linear_shape_errors():
    with pytest.raises(ValueError, match="linear"):
        al.linear(Tensor(np.ones((2, 3))), Tensor(np.ones(3)))
    with pytest.raises(ValueError, match="linear"):
        al.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((3, 4))), Tensor(np.ones(3)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) do not align"):
        al.linear(Tensor(np.ones((3, 4))), Tensor(np.ones((5, 2))))


# --- softmax and log_softmax --------------------------------------------------------------------
def reference_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


@given(data=st.data())
def test_softmax_and_log_softmax(data):
    shape = data.draw(shapes(min_dims=1))
    x = data.draw(arrays(shape, -5.0, 5.0))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    log_p = al.log_softmax(Tensor(x), axis=axis)
    p = al.softmax(Tensor(x), axis=axis)
    np.testing.assert_allclose(log_p.data, reference_log_softmax(x, axis), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(p.data, np.exp(reference_log_softmax(x, axis)), rtol=1e-13)
    np.testing.assert_allclose(p.data.sum(axis=axis), 1.0, rtol=1e-14)
    assert_gradcheck(lambda t: al.softmax(t, axis=axis), x)
    assert_gradcheck(lambda t: al.log_softmax(t, axis=axis), x)


def test_softmax_default_axis_is_the_last():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(al.softmax(x).data, al.softmax(x, axis=1).data)
    np.testing.assert_array_equal(al.log_softmax(x).data, al.log_softmax(x, axis=-1).data)


@pytest.mark.parametrize("scale", [1e3, 1e4, 1e300])
def test_softmax_and_log_softmax_are_finite_for_huge_logits(scale):
    x = np.array([[1.0, -1.0, 0.5], [-1.0, -1.0, -1.0], [1.0, 1.0, 0.0]]) * scale
    t = Tensor(x, requires_grad=True)
    log_p = al.log_softmax(t)
    p = al.softmax(t)
    assert np.all(np.isfinite(log_p.data)) and np.all(np.isfinite(p.data))
    np.testing.assert_allclose(log_p.data[1], -np.log(3.0), rtol=1e-15)
    np.testing.assert_allclose(p.data[2], [0.5, 0.5, 0.0])
    (log_p.sum() + (p * p).sum()).backward()
    assert np.all(np.isfinite(t.grad))


@pytest.mark.parametrize("fn", [al.softmax, al.log_softmax])
def test_softmax_axis_errors(fn):
    with pytest.raises(ValueError, match="axis"):
        fn(Tensor(np.ones((2, 3))), axis=2)
    with pytest.raises(ValueError):
        fn(Tensor(1.0))


# --- one_hot ------------------------------------------------------------------------------
def test_one_hot():
    out = al.one_hot(np.array([2, 0, 2]), 3)
    assert isinstance(out, Tensor) and out.dtype == np.float64
    np.testing.assert_array_equal(out.data, [[0, 0, 1], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(al.one_hot([1.0], 2).data, [[0, 1]])  # whole floats


@pytest.mark.parametrize("labels", [[3], [-1], [0.5], [[0, 1]], ["a"], [True]])
def test_one_hot_rejects_invalid_labels(labels):
    with pytest.raises(ValueError, match="one_hot"):
        al.one_hot(np.array(labels), 3)


# --- the fused softmax cross-entropy -------------------------------------------------------------
def composed_cross_entropy(logits: Tensor, targets: np.ndarray, reduction: str) -> Tensor:
    """The same loss from smaller ops: -(t * log_softmax(z)).sum(axis=1), then reduced."""
    c = logits.shape[1]
    t = al.one_hot(targets, c) if targets.ndim == 1 else Tensor(targets)
    per_row = -(t * al.log_softmax(logits, axis=1)).sum(axis=1)
    return {"mean": per_row.mean, "sum": per_row.sum, "none": lambda: per_row}[reduction]()


def loss_and_grad(fn, logits: np.ndarray, targets: np.ndarray, reduction: str, seed=None):
    z = Tensor(logits, requires_grad=True)
    loss = fn(z, targets, reduction)
    loss.backward(seed if reduction == "none" else None)
    return loss.data, z.grad


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=logits_and_targets())
def test_fused_loss_gradcheck(reduction, case):
    logits, targets = case
    assert_gradcheck(lambda z: al.softmax_cross_entropy(z, targets, reduction=reduction), logits)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=logits_and_targets(), data=st.data())
def test_fused_loss_matches_the_composed_version(reduction, case, data):
    logits, targets = case
    seed = data.draw(arrays((len(logits),))) if reduction == "none" else None
    fused = loss_and_grad(al.softmax_cross_entropy, logits, targets, reduction, seed)
    composed = loss_and_grad(composed_cross_entropy, logits, targets, reduction, seed)
    assert fused[0].shape == composed[0].shape == ((len(logits),) if reduction == "none" else ())
    np.testing.assert_allclose(fused[0], composed[0], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(fused[1], composed[1], rtol=1e-12, atol=1e-13)


def test_fused_loss_default_reduction_is_mean():
    logits, targets = np.array([[1.0, 2.0], [0.0, -3.0]]), np.array([1, 0])
    mean = al.softmax_cross_entropy(Tensor(logits), targets)
    per_row = al.softmax_cross_entropy(Tensor(logits), targets, reduction="none")
    total = al.softmax_cross_entropy(Tensor(logits), targets, reduction="sum")
    np.testing.assert_allclose(mean.item(), per_row.data.mean(), rtol=1e-15)
    np.testing.assert_allclose(total.item(), per_row.data.sum(), rtol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fused_loss_gradient_is_softmax_minus_targets(reduction):
    rng = np.random.default_rng(3)
    logits, labels = rng.standard_normal((5, 4)), np.array([0, 3, 3, 1, 2])
    z = Tensor(logits, requires_grad=True)
    loss = al.softmax_cross_entropy(z, labels, reduction=reduction)
    loss.backward(np.ones(5) if reduction == "none" else None)
    expected = np.exp(reference_log_softmax(logits, 1)) - np.eye(4)[labels]
    scale = 1 / 5 if reduction == "mean" else 1.0
    np.testing.assert_allclose(z.grad, expected * scale, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("scale", [1e3, 1e4, 1e6])
@pytest.mark.parametrize("kind", ["index", "probs"])
def test_fused_loss_is_finite_and_exact_for_huge_logits(scale, kind):
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((6, 4)) * scale
    logits[0] = [1.0, 1.0, 1.0, -1.0]  # ties at the maximum
    logits[0] *= scale
    labels = np.array([3, 0, 1, 2, 3, 0])  # row 0's label is far below its maximum
    targets = labels if kind == "index" else np.eye(4)[labels]
    z = Tensor(logits, requires_grad=True)
    loss = al.softmax_cross_entropy(z, targets, reduction="none")
    assert np.all(np.isfinite(loss.data))
    lse = np.logaddexp.reduce(logits, axis=1)
    np.testing.assert_allclose(loss.data, lse - logits[np.arange(6), labels], rtol=1e-12)
    loss.sum().backward()
    assert np.all(np.isfinite(z.grad))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(z.grad, probs - np.eye(4)[labels], rtol=1e-12, atol=1e-15)
    mean = al.softmax_cross_entropy(Tensor(logits), targets)
    composed = composed_cross_entropy(Tensor(logits), labels, "mean")
    assert np.isfinite(mean.item())
    np.testing.assert_allclose(mean.item(), composed.item(), rtol=1e-12)


def test_fused_loss_accepts_targets_as_tensor_or_whole_floats_and_refuses_them_a_grad():
    logits = np.array([[0.2, 1.0, -0.3], [2.0, 0.0, 0.1]])
    expected = al.softmax_cross_entropy(Tensor(logits), np.array([1, 0])).item()
    for targets in (
        Tensor(np.array([1.0, 0.0])),
        np.array([1.0, 0.0]),
        [1, 0],
        np.array([1, 0], dtype=np.int32),
        np.eye(3, dtype=np.int64)[[1, 0]],
    ):
        assert al.softmax_cross_entropy(Tensor(logits), targets).item() == pytest.approx(
            expected, rel=1e-14
        )
    t = Tensor(np.eye(3)[[1, 0]], requires_grad=True)
    z = Tensor(logits, requires_grad=True)
    with pytest.raises(ValueError, match=r"targets carry a gradient.*targets\.detach\(\)"):
        al.softmax_cross_entropy(z, t)  # (PyTorch differentiates them: 0 would be wrong)
    with pytest.raises(ValueError, match="targets carry a gradient"):
        ensemble.cross_entropy(z.reshape(1, 2, 3), t.reshape(1, 2, 3))
    with pytest.raises(ValueError, match="targets carry a gradient"):  # a tangent: forward mode
        al.func.jvp(lambda t: al.softmax_cross_entropy(logits, t), (t.data,), (np.ones((2, 3)),))
    al.softmax_cross_entropy(z, t.detach()).backward()
    assert t.grad is None and z.grad is not None


@pytest.mark.parametrize(
    "targets",
    [
        np.array([0, 3]),  # out of range
        np.array([0, -1]),  # negative
        np.array([0, 1, 2]),  # too many rows
        np.array([0]),  # too few rows
        np.array(1),  # 0-d
        np.zeros((2, 4)),  # probability rows of the wrong width
        np.zeros((3, 3)),  # probability rows of the wrong height
        np.zeros((2, 3, 1)),  # 3-D
        np.array([0.5, 1.0]),  # non-integer class indices
        np.array(["a", "b"]),  # non-numeric
        np.array([True, False]),  # booleans are not class indices
    ],
    ids=lambda t: f"{t.dtype}{t.shape}",
)
def test_fused_loss_rejects_invalid_targets(targets):
    logits = Tensor(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match="softmax_cross_entropy"):
        al.softmax_cross_entropy(logits, targets)


def test_fused_loss_rejects_bad_reduction_and_bad_logits():
    with pytest.raises(ValueError, match="reduction"):
        al.softmax_cross_entropy(Tensor(np.zeros((2, 3))), np.array([0, 1]), reduction="avg")
    for shape in [(3,), (2, 3, 4), ()]:
        with pytest.raises(ValueError, match="softmax_cross_entropy"):
            al.softmax_cross_entropy(Tensor(np.zeros(shape)), np.array([0, 1]))


def test_fused_loss_with_unnormalised_probability_rows_is_cross_entropy():
    # "probability rows" that do not sum to 1 (e.g. a user's un-normalised soft labels): the
    # loss is -sum_k t_k log softmax(z)_k exactly as the composed version (and PyTorch's
    # cross_entropy) computes it; never a silently different loss.
    logits = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    targets = np.array([[0.5, 0.5, 0.5], [1.0, 0.0, 1.0]])
    fused = loss_and_grad(al.softmax_cross_entropy, logits, targets, "sum")
    composed = loss_and_grad(composed_cross_entropy, logits, targets, "sum")
    np.testing.assert_allclose(fused[0], composed[0], rtol=1e-12)
    np.testing.assert_allclose(fused[1], composed[1], rtol=1e-12)
