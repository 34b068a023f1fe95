"""Values and gradients against PyTorch in float64 (skipped where torch is not installed).

Every comparison runs both libraries on the same float64 arrays and backpropagates the same
random weighting of the output, so the whole vector-Jacobian product is compared, not only
the gradient of a sum.
"""

from __future__ import annotations

from collections.abc import Callable

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
    broadcast_pair,
    distinct_arrays,
    gapped_arrays,
    logits_and_targets,
    matmul_pair,
    nonzero_arrays,
    positive_arrays,
    shapes,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL, ATOL = 1e-12, 1e-13


def close(actual, expected, what: str, scaled: bool = False) -> None:
    """rtol 1e-12; with scaled=True the absolute tolerance grows with the largest entry
    (for long sums with cancellation, e.g. second derivatives)."""
    atol = ATOL * max(1.0, float(np.abs(expected).max(initial=0.0))) if scaled else ATOL
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=atol, err_msg=what)


def compare(al_fn: Callable, torch_fn: Callable, *arrays_: np.ndarray) -> None:
    """Same forward values and same vector-Jacobian products in both libraries."""
    ours = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays_]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays_]
    out, expected = al_fn(*ours), torch_fn(*theirs)
    assert out.shape == tuple(expected.shape)
    close(out.data, expected.detach().numpy(), "values")
    w = np.cos(np.arange(out.size) + 0.5).reshape(out.shape)
    (out * w).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    for i, (x, t) in enumerate(zip(ours, theirs)):
        assert x.grad.shape == tuple(t.grad.shape)
        close(x.grad, t.grad.numpy(), f"gradient of input {i}")


def one(values: Callable = arrays, min_dims: int = 0) -> st.SearchStrategy:
    return shapes(min_dims=min_dims).flatmap(values).map(lambda a: (a,))


def dims(axis, ndim: int):
    """numpy's axis=None means every axis; torch's dim=() would too, but be explicit."""
    return tuple(range(ndim)) if axis is None else axis


OPS = {
    # name: (autograd_lite, torch, strategy of argument arrays)
    "add": (lambda a, b: a + b, lambda a, b: a + b, broadcast_pair()),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, broadcast_pair()),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, broadcast_pair()),
    "div": (lambda a, b: a / b, lambda a, b: a / b, broadcast_pair(second=nonzero_arrays)),
    "rdiv": (lambda a: 2.5 / a, lambda a: 2.5 / a, one(nonzero_arrays)),
    "neg": (lambda a: -a, lambda a: -a, one()),
    "pow tensor": (lambda a, b: a**b, torch.pow, broadcast_pair(first=positive_arrays)),
    "pow scalar": (lambda a: a**3 + a**-0.5, lambda a: a**3 + a**-0.5, one(positive_arrays)),
    "rpow": (lambda a: 2.0**a, lambda a: 2.0**a, one()),
    "matmul": (lambda a, b: a @ b, torch.matmul, matmul_pair()),
    "exp": (lambda a: a.exp(), torch.exp, one()),
    "log": (lambda a: a.log(), torch.log, one(positive_arrays)),
    "sqrt": (lambda a: a.sqrt(), torch.sqrt, one(positive_arrays)),
    "tanh": (al.tanh, torch.tanh, one()),
    "sigmoid": (al.sigmoid, torch.sigmoid, one()),
    "relu": (al.relu, torch.relu, one(gapped_arrays)),
    "abs": (lambda a: a.abs(), torch.abs, one(gapped_arrays)),
    "maximum": (
        al.maximum,
        torch.maximum,
        broadcast_pair(first=gapped_arrays, second=lambda s: gapped_arrays(s, offset=0.0)),
    ),
    "T": (lambda a: a.T, lambda a: a.permute(tuple(reversed(range(a.ndim)))), one()),
    "reshape": (lambda a: a.reshape(-1), lambda a: a.reshape(-1), one()),
    "softmax": (lambda a: al.softmax(a, axis=0), lambda a: torch.softmax(a, 0), one(min_dims=1)),
    "log_softmax": (al.log_softmax, lambda a: torch.log_softmax(a, -1), one(min_dims=1)),
    "linear": (
        al.linear,
        lambda x, w, b: x @ w + b,
        st.tuples(arrays((4, 3)), arrays((3, 2)), arrays((2,))),
    ),
}


@pytest.mark.parametrize("name", list(OPS))
@given(data=st.data())
def test_op_against_torch(name, data):
    al_fn, torch_fn, args = OPS[name]
    compare(al_fn, torch_fn, *data.draw(args))


@given(case=array_and_axis())
def test_sum_and_mean_against_torch(case):
    x, axis, keepdims = case
    if x.ndim == 0:
        compare(lambda t: t.sum() + t.mean(), lambda t: t.sum() + t.mean(), x)
        return
    d = dims(axis, x.ndim)
    compare(
        lambda t: t.sum(axis=axis, keepdims=keepdims) * t.mean(axis=axis, keepdims=keepdims),
        lambda t: t.sum(dim=d, keepdim=keepdims) * t.mean(dim=d, keepdim=keepdims),
        x,
    )


@given(case=array_and_axis(elements=distinct_arrays))
def test_max_against_torch_amax(case):
    x, axis, keepdims = case
    if x.ndim == 0:
        compare(lambda t: t.max(), torch.amax, x)
        return
    d = dims(axis, x.ndim)
    compare(
        lambda t: t.max(axis=axis, keepdims=keepdims),
        lambda t: torch.amax(t, dim=d, keepdim=keepdims),
        x,
    )


def test_max_ties_against_torch_amax():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, -1.0, 0.0]])
    compare(lambda t: t.max(axis=1), lambda t: torch.amax(t, dim=1), x)
    compare(lambda t: t.max(axis=0, keepdims=True), lambda t: torch.amax(t, 0, keepdim=True), x)
    compare(lambda t: t.max(), torch.amax, x)


def test_kinks_against_torch():
    x = np.array([-1.0, 0.0, 2.0, 0.0])
    compare(lambda t: t.relu() + t.abs(), lambda t: torch.relu(t) + torch.abs(t), x)
    y = np.array([-1.0, 0.5, 2.0, 0.0])
    compare(al.maximum, torch.maximum, x, y)


@given(data=st.data())
def test_transpose_against_torch(data):
    x = data.draw(shapes().flatmap(arrays))
    axes = tuple(data.draw(st.permutations(range(x.ndim))))
    compare(lambda t: t.transpose(axes), lambda t: t.permute(axes), x)


@given(data=st.data())
def test_integer_array_indexing_against_torch(data):
    shape = data.draw(shapes(min_dims=1))
    x = data.draw(arrays(shape))
    index = data.draw(
        hnp.integer_array_indices(shape, result_shape=shapes(min_dims=1, max_dims=2, max_side=5))
    )
    compare(lambda t: t[index], lambda t: t[tuple(torch.as_tensor(i) for i in index)], x)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda t: t[1:, [0, 2, 0]], lambda t: t[1:, [0, 2, 0]]),
        (lambda t: t[[2, 0, 2]][:, 1:3], lambda t: t[[2, 0, 2]][:, 1:3]),
        (lambda t: t[..., 1], lambda t: t[..., 1]),
        (lambda t: t[None, 1:, ::2], lambda t: t[None, 1:, ::2]),
        (lambda t: t[[1, 1], [0, 0]], lambda t: t[[1, 1], [0, 0]]),
    ],
)
def test_slicing_and_repeated_indices_against_torch(ours, theirs):
    compare(ours, theirs, np.arange(12.0).reshape(3, 4) / 7)


@given(data=st.data())
def test_where_against_torch(data):
    (c_shape, a_shape, b_shape), _ = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3)
    )
    condition = data.draw(arrays(c_shape)) > 0
    a, b = data.draw(arrays(a_shape)), data.draw(arrays(b_shape))
    compare(
        lambda x, y: al.where(condition, x, y),
        lambda x, y: torch.where(torch.as_tensor(condition), x, y),
        a,
        b,
    )


@given(data=st.data())
def test_concatenate_and_stack_against_torch(data):
    shape = data.draw(shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    a, b = data.draw(arrays(shape)), data.draw(arrays(shape))
    compare(
        lambda x, y: al.concatenate([x, y, x], axis=axis),
        lambda x, y: torch.cat([x, y, x], dim=axis),
        a,
        b,
    )
    compare(
        lambda x, y: al.stack([x, y], axis=axis),
        lambda x, y: torch.stack([x, y], dim=axis),
        a,
        b,
    )


# --- the fused loss ---------------------------------------------------------------------------
def torch_targets(targets: np.ndarray):
    if targets.ndim == 1:
        return torch.as_tensor(targets, dtype=torch.long)
    return torch.as_tensor(targets, dtype=torch.float64)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=logits_and_targets())
def test_fused_loss_against_torch(reduction, case):
    logits, targets = case
    compare(
        lambda z: al.softmax_cross_entropy(z, targets, reduction=reduction),
        lambda z: F.cross_entropy(z, torch_targets(targets), reduction=reduction),
        logits,
    )


@pytest.mark.parametrize("scale", [1e3, 1e4])
@pytest.mark.parametrize("kind", ["index", "probs"])
def test_fused_loss_with_huge_logits_against_torch(scale, kind):
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((5, 3)) * scale
    labels = rng.integers(0, 3, 5)
    targets = labels if kind == "index" else np.eye(3)[labels] * 0.9 + 0.1 / 3
    compare(
        lambda z: al.softmax_cross_entropy(z, targets, reduction="none"),
        lambda z: F.cross_entropy(z, torch_targets(targets), reduction="none"),
        logits,
    )


# --- higher order ---------------------------------------------------------------------------------
def test_hessian_vector_product_against_torch():
    rng = np.random.default_rng(9)
    shapes_ = [(3, 5), (5,), (5, 4), (4,)]
    values = [rng.standard_normal(s) for s in shapes_]
    vs = [rng.standard_normal(s) for s in shapes_]
    x, labels = rng.standard_normal((6, 3)), rng.integers(0, 4, 6)

    params = [Tensor(v.copy(), requires_grad=True) for v in values]
    w1, b1, w2, b2 = params
    loss = al.softmax_cross_entropy((x @ w1 + b1).tanh() @ w2 + b2, labels)
    grads = al.grad(loss, params, create_graph=True)
    hvp = al.grad(sum((g * v).sum() for g, v in zip(grads, vs)), params)

    tparams = [torch.tensor(v, requires_grad=True) for v in values]
    t1, c1, t2, c2 = tparams
    tloss = F.cross_entropy(
        torch.tanh(torch.tensor(x) @ t1 + c1) @ t2 + c2, torch.as_tensor(labels)
    )
    tgrads = torch.autograd.grad(tloss, tparams, create_graph=True)
    tgv = sum((g * torch.tensor(v)).sum() for g, v in zip(tgrads, vs))
    thvp = torch.autograd.grad(tgv, tparams)

    close(loss.data, tloss.detach().numpy(), "loss")
    for i, (g, tg, h, th) in enumerate(zip(grads, tgrads, hvp, thvp)):
        close(g.data, tg.detach().numpy(), f"gradient {i}")
        close(h, th.numpy(), f"Hessian-vector product {i}", scaled=True)


@pytest.mark.parametrize(
    "ours, theirs, make",
    [
        (lambda t: t.tanh() * t.exp(), lambda t: torch.tanh(t) * torch.exp(t), np.ones),
        (lambda t: t.sigmoid() / t, lambda t: torch.sigmoid(t) / t, np.ones),
        (lambda t: al.log_softmax(t) * t, lambda t: torch.log_softmax(t, -1) * t, np.ones),
        (lambda t: t @ t.transpose(1, 0), lambda t: t @ t.T, np.ones),
    ],
)
def test_second_derivatives_against_torch(ours, theirs, make):
    x0 = np.linspace(0.3, 1.7, 6).reshape(2, 3) * make((2, 3))
    x = Tensor(x0.copy(), requires_grad=True)
    (g,) = al.grad((ours(x) ** 2).sum(), x, create_graph=True)
    (h,) = al.grad((g * g.exp()).sum(), x)
    t = torch.tensor(x0, requires_grad=True)
    (tg,) = torch.autograd.grad((theirs(t) ** 2).sum(), t, create_graph=True)
    (th,) = torch.autograd.grad((tg * tg.exp()).sum(), t)
    close(g.data, tg.detach().numpy(), "first derivative")
    close(h, th.numpy(), "second derivative", scaled=True)
