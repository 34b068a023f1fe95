"""al.func's transforms: their API, how they compose, and the errors they raise (issue 10).

The rules of each op are checked in test_func_rules.py; here: jacfwd == jacrev == finite
differences, Hessians (x^T A x, the moon network's loss), nesting without perturbation
confusion, per-example gradients, float32, and every error a user can cause.
"""

from __future__ import annotations

import re
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Tensor, engine
from autograd_lite import func as F
from autograd_lite.gradcheck import numerical_jacobian
from tests.strategies import arrays, shapes
from tests.test_every_op import CASES as EVERY_OP

# Every op, from test_every_op.py. Its `where` case builds the mask from `a.data`: under
# jacfwd the primal is batched with its tangents and has no single value (it raises), so
# the mask comes from a comparison here, which gives a batched mask.
CASES = {**EVERY_OP, "where": (lambda a, b: al.where(a > 0, a * a, b.exp()), EVERY_OP["where"][1])}

RNG = np.random.default_rng(7)


def normal(*shape):
    return RNG.standard_normal(shape)


def numeric_jacobian(fn, x, eps=1e-6):
    """d fn / dx by central differences, shaped out.shape + x.shape."""
    t = Tensor(np.array(x, dtype=np.float64), requires_grad=True)
    out_shape = fn(t).shape
    return numerical_jacobian(fn, [t], 0, eps).reshape(out_shape + np.shape(x))


# --- grad, value_and_grad, vjp ----------------------------------------------------------------
def test_grad_of_a_scalar_function_is_shaped_like_its_input():
    x = normal(2, 3)
    g = F.grad(lambda t: (t.tanh() * t).sum())(x)
    assert isinstance(g, Tensor) and g.shape == x.shape and g.dtype == x.dtype
    np.testing.assert_allclose(g.data, np.tanh(x) + x * (1 - np.tanh(x) ** 2), rtol=1e-14)
    assert not g.requires_grad  # nothing outside asked for a graph


def test_grad_argnums_pytrees_and_has_aux():
    def loss(params, x, scale):
        h = (x @ params["w"] + params["b"]).tanh()
        return (h * h).sum() * scale, h

    params = {"w": normal(3, 2), "b": normal(2)}
    x = normal(4, 3)
    g, aux = F.grad(loss, has_aux=True)(params, x, 2.0)
    assert set(g) == {"w", "b"} and g["w"].shape == (3, 2) and g["b"].shape == (2,)
    assert aux.shape == (4, 2)
    (value, aux2), (gp, gx) = F.value_and_grad(loss, argnums=(0, 1), has_aux=True)(params, x, 2.0)
    np.testing.assert_allclose(gp["w"].data, g["w"].data, rtol=1e-15)
    assert gx.shape == x.shape
    w, b = Tensor(params["w"], requires_grad=True), Tensor(params["b"], requires_grad=True)
    out = loss({"w": w, "b": b}, x, 2.0)[0]
    out.backward()
    np.testing.assert_allclose(g["w"].data, w.grad, rtol=1e-14)
    np.testing.assert_allclose(value.data, out.data, rtol=1e-15)


def test_vjp_returns_one_cotangent_per_primal_and_can_be_called_again():
    a, b = normal(2, 3), normal(3)
    out, vjp_fn = F.vjp(lambda x, y: (x * y).exp(), a, b)
    v = normal(2, 3)
    ga, gb = vjp_fn(v)
    np.testing.assert_allclose(ga.data, v * np.exp(a * b) * b, rtol=1e-14)
    np.testing.assert_allclose(gb.data, (v * np.exp(a * b) * a).sum(0), rtol=1e-14)
    (ga2, _) = vjp_fn(2 * v)  # the graph is kept for another call, as in JAX
    np.testing.assert_allclose(ga2.data, 2 * ga.data, rtol=1e-15)
    (single,) = F.vjp(lambda x: x * 2, a)[1](v)  # a 1-tuple for one primal
    np.testing.assert_allclose(single.data, 2 * v)
    out, vjp_fn, aux = F.vjp(lambda x: (x * 2, "aux"), a, has_aux=True)
    assert aux == "aux"


def test_grad_of_an_output_that_does_not_depend_on_the_input_is_zero():
    g = F.grad(lambda x, y: (y * y).sum(), argnums=0)(normal(3), normal(2))
    np.testing.assert_array_equal(g.data, np.zeros(3))


def test_grad_inside_regular_autograd_keeps_the_closure_differentiable():
    # grad(f)(x) = 2 w x depends on w, a closure that requires grad: backward() must see it
    w = Tensor(normal(3), requires_grad=True)
    x = normal(3)
    g = F.grad(lambda t: (w * t * t).sum())(x)
    g.sum().backward()
    np.testing.assert_allclose(w.grad, 2 * x, rtol=1e-15)


# --- jvp ------------------------------------------------------------------------------------
def test_jvp_runs_no_backward_pass_and_builds_no_graph(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("forward mode ran a backward pass")

    monkeypatch.setattr(engine, "run_backward", refuse)
    monkeypatch.setattr(F, "run_backward", refuse)
    for cls in (al.ops.Tanh, al.ops.MatMul, al.ops.Sum):
        monkeypatch.setattr(cls, "backward", staticmethod(refuse))
    x, u, A = normal(3), normal(3), normal(2, 3)
    out, t = F.jvp(lambda v: (A @ v).tanh().sum(), (x,), (u,))
    expected = ((1 - np.tanh(A @ x) ** 2) * (A @ u)).sum()
    np.testing.assert_allclose(t.data, expected, rtol=1e-14)
    assert out.grad_fn is None and t.grad_fn is None and not t.requires_grad


def test_jvp_with_pytrees_several_primals_and_has_aux():
    params = {"w": normal(3), "b": normal(1)}
    du = {"w": normal(3), "b": normal(1)}
    x, dx = normal(3), normal(3)

    def f(p, x):
        return {"y": (p["w"] * x).sum() + p["b"]}, "aux"

    out, t, aux = F.jvp(f, (params, x), (du, dx), has_aux=True)
    expected = (du["w"] * x).sum() + params["w"] @ dx + du["b"]
    np.testing.assert_allclose(t["y"].data, expected, rtol=1e-14)
    assert aux == "aux"


def test_jvp_of_a_function_ignoring_its_input_gives_zeros():
    out, t = F.jvp(lambda x: Tensor(np.ones(2)) * 3, (normal(3),), (normal(3),))
    np.testing.assert_array_equal(t.data, np.zeros(2))


# --- jacobians ------------------------------------------------------------------------------
B = np.arange(6.0).reshape(3, 2) / 5
PROGRAMS = {  # name -> (function, input shape)
    "tanh of a matrix product": (lambda x: (x.reshape(2, 3) @ B).tanh(), (6,)),
    "softmax": (lambda x: al.softmax(x * x, axis=0), (4,)),
    "mixed reductions": (lambda x: al.concatenate([x.sum(0), x.max(1) * x[0, 1]]), (3, 2)),
    "scalar": (lambda x: (x.exp() / (1 + x * x)).sum(), (3,)),
    "0-d input": (lambda x: al.stack([x * x, x.exp()]), ()),
}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_jacfwd_equals_jacrev_equals_finite_differences(name):
    fn, shape = PROGRAMS[name]
    x = RNG.uniform(0.5, 1.5, shape) * RNG.choice([-1, 1], shape)
    forward, reverse = F.jacfwd(fn)(x), F.jacrev(fn)(x)
    numeric = numeric_jacobian(fn, x)
    assert forward.shape == reverse.shape == numeric.shape == fn(Tensor(x)).shape + x.shape
    np.testing.assert_allclose(forward.data, reverse.data, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(forward.data, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(F.jacobian(fn)(x).data, forward.data, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", list(CASES))
def test_jacfwd_equals_jacrev_for_every_op(name):
    # every op, every argument: jacfwd batches tangents (vmap of jvp), jacrev batches
    # cotangents through the op's backward rule (vmap of vjp): both rules under vmap
    fn, arrays_ = CASES[name]
    every = tuple(range(len(arrays_)))
    forward = F.jacfwd(fn, argnums=every)(*arrays_)
    reverse = F.jacrev(fn, argnums=every)(*arrays_)
    for i, x in enumerate(arrays_):

        def of_one(t, i=i):
            return fn(*[t if k == i else Tensor(a) for k, a in enumerate(arrays_)])

        numeric = numeric_jacobian(of_one, x)
        np.testing.assert_allclose(forward[i].data, reverse[i].data, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(forward[i].data, numeric, rtol=1e-5, atol=1e-7)


def test_jacobians_with_argnums_tuples_and_pytree_outputs():
    def f(x, y):
        return {"sum": (x * y).sum(), "prod": x * y}

    x, y = normal(3), normal(3)
    for jac in (F.jacfwd, F.jacrev, F.jacobian):
        J = jac(f, argnums=(0, 1))(x, y)
        np.testing.assert_allclose(J["sum"][0].data, y, rtol=1e-15)
        np.testing.assert_allclose(J["prod"][1].data, np.diag(x), rtol=1e-15)


def test_jacobian_picks_forward_mode_for_tall_and_reverse_for_wide(monkeypatch):
    used = []
    for mode in ("jacfwd", "jacrev"):
        original = getattr(F, mode)
        monkeypatch.setattr(F, mode, lambda f, a=0, m=mode, o=original: used.append(m) or o(f, a))
    F.jacobian(lambda x: al.concatenate([x, x * x, x.exp()]))(normal(2))  # 2 in, 6 out
    F.jacobian(lambda x: (x * x).sum(axis=0))(normal(3, 2))  # 6 in, 2 out
    assert used == ["jacfwd", "jacrev"]


# --- Hessians -------------------------------------------------------------------------------
@given(n=st.integers(1, 5), data=st.data())
def test_hessian_of_a_quadratic_form_is_a_plus_a_transpose(n, data):
    A = data.draw(arrays((n, n)))
    x = data.draw(arrays((n,)))
    H = F.hessian(lambda v: v @ (A @ v))(x)
    np.testing.assert_allclose(H.data, A + A.T, rtol=1e-13, atol=1e-13)
    u = data.draw(arrays((n,)))
    (Hu,) = F.hvp(lambda v: v @ (A @ v), (x,), (u,))
    np.testing.assert_allclose(Hu.data, (A + A.T) @ u, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("hidden", [3, 8])
def test_the_moon_networks_loss_hessian_is_symmetric_and_matches_its_gradients_differences(hidden):
    from models.data import load_moons
    from models.network import MoonNet

    X, _, y, _ = load_moons(n_samples=40, seed=0)
    X, y = X[:12], y[:12]
    state = MoonNet(hidden=hidden, rng=0).state_dict()
    theta = np.concatenate([state[k].ravel() for k in state])
    sizes = {k: v.shape for k, v in state.items()}

    def loss(t):  # the tutorial's network and loss, as a function of a flat parameter vector
        p, start = {}, 0
        for k, shape in sizes.items():
            n = int(np.prod(shape))
            p[k] = t[start : start + n].reshape(shape)
            start += n
        hidden_ = (X @ p["fc1.weight"] + p["fc1.bias"]).relu()
        return al.softmax_cross_entropy(hidden_ @ p["fc2.weight"] + p["fc2.bias"], y)

    H = F.hessian(loss)(theta).data
    assert H.shape == (theta.size, theta.size)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12)
    gradient = F.grad(loss)
    numeric = numeric_jacobian(lambda t: gradient(t), theta, eps=1e-5)
    np.testing.assert_allclose(H, numeric, rtol=1e-5, atol=1e-8)
    u = normal(theta.size)
    np.testing.assert_allclose(F.hvp(loss, (theta,), (u,))[0].data, H @ u, rtol=1e-10, atol=1e-12)


def test_forward_over_reverse_sees_the_tangents_of_saved_values():
    # Exp.backward reads its saved output, which create_graph rebuilds as a NEW Tensor: the
    # node must give it the output's tangent, or H u = exp(x) u would come out as 0.
    x, u = normal(3), normal(3)
    (Hu,) = F.hvp(lambda t: t.exp().sum(), (x,), (u,))
    np.testing.assert_allclose(Hu.data, np.exp(x) * u, rtol=1e-15)
    (Hu,) = F.hvp(lambda t: (t.tanh() * 3).sum(), (x,), (u,))  # and through a product
    np.testing.assert_allclose(Hu.data, -6 * np.tanh(x) * (1 - np.tanh(x) ** 2) * u, rtol=1e-13)


def test_plain_al_grad_inside_jvp_must_build_a_graph():
    def gradient(x):
        x = x * 1.0  # a Tensor that requires grad is needed by al.grad
        return al.grad((x**3).sum(), x)[0]

    def with_graph(t):
        leaf = t * 1.0
        return al.grad((leaf**3).sum(), leaf, create_graph=True)[0]

    x, u = normal(3), normal(3)
    leaf = Tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="create_graph=True"):
        F.jvp(lambda t: gradient(t + leaf * 0), (x,), (u,))
    _, t = F.jvp(lambda t: with_graph(t + leaf * 0), (x,), (u,))
    np.testing.assert_allclose(t.data, 6 * x * u, rtol=1e-14)


def test_hvp_with_several_primals_is_shaped_like_them():
    def f(a, b):
        return ((a @ b).tanh() ** 2).sum()

    a, b, ua, ub = normal(2, 3), normal(3), normal(2, 3), normal(3)
    Ha, Hb = F.hvp(f, (a, b), (ua, ub))
    assert Ha.shape == a.shape and Hb.shape == b.shape

    # against the full Hessian of the flattened arguments
    def flat(v):
        return f(v[:6].reshape(2, 3), v[6:])

    H = F.hessian(flat)(np.concatenate([a.ravel(), b])).data
    expected = H @ np.concatenate([ua.ravel(), ub])
    np.testing.assert_allclose(np.concatenate([Ha.data.ravel(), Hb.data]), expected, rtol=1e-11)


# --- nesting -----------------------------------------------------------------------------------
def test_nested_jvps_do_not_confuse_perturbations():
    # Siskind & Pearlmutter: d/dx [x * d/dy (x + y)] = 1; a confused implementation gives 2
    one = np.array(1.0)

    def inner(x):
        return F.jvp(lambda y: x + y, (one,), (one,))[1]

    assert F.jvp(lambda x: x * inner(x), (one,), (one,))[1].item() == 1.0


def test_nested_grads_do_not_confuse_perturbations():
    # d/dx [x * d/dy (x y) at y = x] = d/dx x^2 = 2x, even though y is the same Tensor as x
    c = np.array(3.0)
    assert F.grad(lambda x: x * F.grad(lambda y: x * y)(x))(c).item() == 6.0
    # d/dy (x y)^2 = 2 x^2 y; at y = x that is 2 x^3, whose derivative is 6 x^2
    assert F.grad(lambda x: F.grad(lambda y: (x * y) ** 2)(x))(c).item() == 6 * 9.0


def test_every_order_and_mode_of_second_derivatives_agrees():
    def f(x):
        return ((x[0] * x).tanh() * x.exp()).sum()

    x, u, v = normal(3), normal(3), normal(3)
    H = numeric_jacobian(lambda t: F.grad(f)(t), x, eps=1e-5)
    for name, hess in {
        "jacfwd(jacrev)": F.hessian(f),
        "jacrev(jacrev)": F.jacrev(F.jacrev(f)),
        "jacfwd(jacfwd)": F.jacfwd(F.jacfwd(f)),
        "jacrev(jacfwd)": F.jacrev(F.jacfwd(f)),
    }.items():
        np.testing.assert_allclose(hess(x).data, H, rtol=1e-6, atol=1e-8, err_msg=name)
    jvp_of_jvp = F.jvp(lambda t: F.jvp(f, (t,), (v,))[1], (x,), (u,))[1]
    np.testing.assert_allclose(jvp_of_jvp.data, u @ H @ v, rtol=1e-6)
    grad_of_jvp = F.grad(lambda t: F.jvp(f, (t,), (v,))[1])(x)  # reverse over forward
    np.testing.assert_allclose(grad_of_jvp.data, H @ v, rtol=1e-6)


def test_transforms_inside_regular_autograd_pass_gradcheck_up_to_third_order():
    def f(x):
        return (x.tanh() * x.exp()).sum()

    x = Tensor(normal(3), requires_grad=True)
    u = normal(3)
    assert al.gradcheck(lambda t: F.grad(f)(t), x)
    assert al.gradcheck(lambda t: F.jvp(f, (t,), (u,))[1], x)
    assert al.gradgradcheck(lambda t: F.jvp(al.tanh, (t,), (u,))[1], x)
    assert al.gradcheck(lambda t: F.hvp(f, (t,), (u,))[0], x)  # a third derivative
    assert al.gradcheck(lambda t: F.vmap(lambda r: (r * r).tanh())(t.reshape(3, 1)), x)


def test_the_tangent_of_a_tangent_that_depends_on_the_outer_perturbation():
    # g(x) = d/dt f(x + t x) at t = 0 = f'(x) x; d g / dx = f''(x) x + f'(x), with f = exp
    x = np.array(0.7)

    def g(x):
        return F.jvp(lambda y: y.exp(), (x,), (x,))[1]

    np.testing.assert_allclose(F.jvp(g, (x,), (np.array(1.0),))[1].data, np.exp(x) * (x + 1))


# --- vmap --------------------------------------------------------------------------------------
def per_example_loss(params, x, y):
    """The moon network's loss on one example (x: (2,), y: a label)."""
    h = (x @ params["W1"] + params["b1"]).relu()
    logits = h @ params["W2"] + params["b2"]
    return al.softmax_cross_entropy(logits[None], y[None])


def moon_params(hidden=5, dtype=np.float64):
    r = np.random.default_rng(3)
    return {
        "W1": r.standard_normal((2, hidden)).astype(dtype),
        "b1": np.zeros(hidden, dtype),
        "W2": r.standard_normal((hidden, 2)).astype(dtype),
        "b2": np.zeros(2, dtype),
    }


def test_per_example_gradients_equal_a_loop_and_sum_to_the_batch_gradient():
    from models.data import load_moons

    X, _, y, _ = load_moons(n_samples=60, seed=1)
    X, y = X[:16], y[:16]
    params = moon_params()
    per_example = F.vmap(F.grad(per_example_loss), in_axes=(None, 0, 0))(params, X, y)
    for k, p in params.items():
        assert per_example[k].shape == (len(X), *p.shape)
        loop = np.stack(
            [F.grad(per_example_loss)(params, X[i], y[i])[k].data for i in range(len(X))]
        )
        np.testing.assert_allclose(per_example[k].data, loop, rtol=1e-13, atol=1e-15)
    leaves = {k: Tensor(v, requires_grad=True) for k, v in params.items()}
    hidden = (X @ leaves["W1"] + leaves["b1"]).relu()
    al.softmax_cross_entropy(hidden @ leaves["W2"] + leaves["b2"], y, reduction="sum").backward()
    for k, leaf in leaves.items():
        np.testing.assert_allclose(per_example[k].data.sum(0), leaf.grad, rtol=1e-12, atol=1e-14)


@given(data=st.data())
def test_vmap_equals_stacking_for_in_and_out_axes(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    in_axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(arrays(shape))
    w = data.draw(arrays(shape[: in_axis % len(shape)] + shape[in_axis % len(shape) + 1 :]))

    def f(a, b):
        return ((a * b).tanh() + b).sum(axis=0, keepdims=True) if a.ndim else (a * b).tanh() + b

    out_axis = data.draw(st.integers(-1, f(Tensor(w), Tensor(w)).ndim))
    out = F.vmap(f, in_axes=(in_axis, None), out_axes=out_axis)(x, w)
    expected = np.stack(
        [f(Tensor(e), Tensor(w)).data for e in np.moveaxis(x, in_axis, 0)], axis=out_axis
    )
    np.testing.assert_allclose(out.data, expected, rtol=1e-14, atol=1e-14)


def test_vmap_of_vmap_and_of_the_other_transforms():
    X, U = normal(4, 3), normal(4, 3)
    Z = normal(2, 4, 3)

    def f(x):
        return (x.tanh() * x).sum()

    def g(x):
        return (x * x).sigmoid()

    np.testing.assert_allclose(F.vmap(F.vmap(g))(Z).data, g(Tensor(Z)).data, rtol=1e-15)
    np.testing.assert_allclose(
        F.vmap(F.vmap(f), in_axes=1)(Z).data,
        np.stack([[f(Tensor(Z[i, j])).data for i in range(2)] for j in range(4)]),
        rtol=1e-14,
    )
    loops = {
        "jvp": (
            F.vmap(lambda x, u: F.jvp(g, (x,), (u,))[1]),
            lambda i: F.jvp(g, (X[i],), (U[i],))[1],
        ),
        "hvp": (
            F.vmap(lambda x, u: F.hvp(f, (x,), (u,))[0]),
            lambda i: F.hvp(f, (X[i],), (U[i],))[0],
        ),
        "hessian": (lambda x, u: F.vmap(F.hessian(f))(x), lambda i: F.hessian(f)(X[i])),
        "jacrev": (lambda x, u: F.vmap(F.jacrev(g))(x), lambda i: F.jacrev(g)(X[i])),
        "jvp of vmap": (
            lambda x, u: F.jvp(F.vmap(g), (x,), (u,))[1],
            lambda i: F.jvp(g, (X[i],), (U[i],))[1],
        ),
        "grad of vmap": (
            lambda x, u: F.grad(lambda a: F.vmap(f)(a).sum())(x),
            lambda i: F.grad(f)(X[i]),
        ),
    }
    for name, (batched, one) in loops.items():
        expected = np.stack([one(i).data for i in range(4)])
        np.testing.assert_allclose(
            batched(X, U).data, expected, rtol=1e-12, atol=1e-14, err_msg=name
        )


def test_vmap_of_vjp_with_a_batched_cotangent_and_a_graph_recorded_outside():
    a = normal(3, 2)
    out, vjp_fn = F.vjp(lambda x: (x * x).tanh() @ np.ones((2, 4)), a)
    V = normal(5, 3, 4)
    (rows,) = F.vmap(vjp_fn)(V)
    np.testing.assert_allclose(rows.data, np.stack([vjp_fn(v)[0].data for v in V]), rtol=1e-13)


def test_vmap_with_a_batched_mask_in_where_and_comparisons():
    X = normal(5, 3)
    out = F.vmap(lambda x: al.where(x > 0, x * 2, -x))(X)
    np.testing.assert_array_equal(out.data, np.where(X > 0, X * 2, -X))
    g = F.vmap(F.grad(lambda x: al.where(x > 0.1, x * x, 3 * x).sum()))(X)
    np.testing.assert_array_equal(g.data, np.where(X > 0.1, 2 * X, 3.0))


def test_vmap_of_a_function_that_ignores_the_mapped_axis_broadcasts():
    out = F.vmap(lambda x, w: w * 2, in_axes=(0, None))(normal(4, 2), np.ones(3))
    np.testing.assert_array_equal(out.data, np.full((4, 3), 2.0))
    out = F.vmap(lambda x: 1.5)(normal(3))
    np.testing.assert_array_equal(out.data, np.full(3, 1.5))
    same = F.vmap(lambda x, w: (x.sum(), w), in_axes=(0, None), out_axes=(0, None))(
        normal(3, 2), 7.0
    )
    assert same[1] == 7.0


class Cube(al.Function):
    """x^3 with a backward rule only: no jvp, no batch rule."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x


def test_an_op_without_a_batch_rule_runs_in_a_loop_with_a_warning_and_stays_correct():
    X = normal(4, 3)
    F._warned.discard(Cube)
    with pytest.warns(UserWarning, match="Cube has no batch rule"):
        out = F.vmap(lambda x: Cube.apply(x) * 2)(X)
    np.testing.assert_allclose(out.data, 2 * X**3, rtol=1e-15)
    g = F.vmap(F.grad(lambda x: Cube.apply(x).sum()))(X)  # the loop's slices have gradients
    np.testing.assert_allclose(g.data, 3 * X**2, rtol=1e-15)


def test_an_op_without_a_jvp_rule_raises_naming_the_op_and_the_transform():
    with pytest.raises(RuntimeError, match=r"Cube has no JVP rule.*al\.func\.jvp"):
        F.jvp(lambda x: Cube.apply(x), (normal(3),), (normal(3),))
    with pytest.raises(RuntimeError, match="Cube has no JVP rule"):
        F.hessian(lambda x: Cube.apply(x).sum())(normal(3))
    # reverse mode needs no jvp rule
    np.testing.assert_allclose(F.grad(lambda x: Cube.apply(x).sum())(np.ones(2)).data, [3.0, 3.0])


def test_rules_inherited_across_an_overridden_forward_are_not_used():
    class TwoToThe(al.ops.Exp):  # a new forward: Exp's rules are for another function
        @staticmethod
        def forward(ctx, a):
            return 2.0**a

        @staticmethod
        def backward(ctx, grad):
            raise NotImplementedError

    x = normal(3)
    with pytest.raises(RuntimeError, match="TwoToThe has no JVP rule"):
        F.jvp(lambda t: TwoToThe.apply(t), (x,), (x,))
    X = normal(2, 3)
    with pytest.warns(UserWarning, match="TwoToThe has no batch rule"):
        out = F.vmap(lambda t: TwoToThe.apply(t))(X)
    np.testing.assert_allclose(out.data, 2.0**X)  # not e^X, from Exp's batch rule


def test_once_differentiable_rules_refuse_forward_over_reverse():
    class OnceCube(Cube):
        backward = staticmethod(al.once_differentiable(Cube.backward))

        @staticmethod
        def jvp(ctx, t):  # forward mode is fine; differentiating backward is not
            return 3 * ctx.inputs[0] ** 2 * t

    with pytest.raises(RuntimeError, match="once_differentiable"):
        F.hvp(lambda x: OnceCube.apply(x).sum(), (normal(2),), (normal(2),))


# --- float32 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_float32_stays_float32_under_every_transform(name):
    fn, arrays_ = CASES[name]
    xs = tuple(np.asarray(a, dtype=np.float32) for a in arrays_)
    us = tuple(np.ones_like(x) for x in xs)
    out, t = F.jvp(fn, xs, us)
    assert out.dtype == t.dtype == np.float32
    loss = lambda *ts: (fn(*ts) ** 2).sum()  # noqa: E731
    every = tuple(range(len(xs)))
    grads = F.grad(loss, argnums=every)(*xs)
    products = F.hvp(loss, xs, us)  # second order
    per_example = F.vmap(F.grad(loss, argnums=every), in_axes=(0,) + (None,) * (len(xs) - 1))(
        np.stack([xs[0], xs[0] * 2]), *xs[1:]
    )
    for k in range(len(xs)):
        assert grads[k].dtype == products[k].dtype == per_example[k].dtype == np.float32
    # and the values agree with float64 to float32 precision
    x64 = tuple(np.asarray(a, dtype=np.float64) for a in arrays_)
    for p32, p64 in zip(products, F.hvp(loss, x64, tuple(np.ones_like(x) for x in x64))):
        np.testing.assert_allclose(p32.data, p64.data, rtol=2e-3, atol=2e-3)


def test_float32_hessian_and_per_example_gradients_keep_their_dtype():
    A = normal(3, 3).astype(np.float32)
    H = F.hessian(lambda v: v @ (A @ v))(np.ones(3, np.float32))
    assert H.dtype == np.float32
    np.testing.assert_allclose(H.data, A + A.T, rtol=1e-6)
    params = moon_params(dtype=np.float32)
    X = normal(6, 2).astype(np.float32)
    g = F.vmap(F.grad(per_example_loss), in_axes=(None, 0, 0))(params, X, np.arange(6) % 2)
    assert all(v.dtype == np.float32 for v in g.values())


# --- errors a user can cause ----------------------------------------------------------------------
def test_errors_of_grad_and_jvp_say_what_is_wrong():
    with pytest.raises(TypeError, match=r"scalar \(shape \(\)\), got shape \(3,\)"):
        F.grad(lambda x: x * 2)(normal(3))
    with pytest.raises(TypeError, match="floating point dtype, got int64"):
        F.grad(lambda x: (x * 2).sum())(np.arange(3))
    with pytest.raises(ValueError, match="argnums 2 is out of range for 2"):
        F.grad(lambda x, y: (x * y).sum(), argnums=2)(normal(2), normal(2))
    with pytest.raises(TypeError, match="pair"):
        F.grad(lambda x: (x * 2).sum(), has_aux=True)(normal(2))
    with pytest.raises(ValueError, match=r"tangent 0 has shape \(2,\) but its primal has \(3,\)"):
        F.jvp(lambda x: x, (normal(3),), (normal(2),))
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        F.jvp(lambda x, y: x, (normal(3), normal(3)), (normal(3),))
    with pytest.raises(TypeError, match="tuples"):
        F.jvp(lambda x: x, normal(3), normal(3))
    _, vjp_fn = F.vjp(lambda x: x * 2, normal(3))
    with pytest.raises(ValueError, match=r"cotangent 0 has shape \(2,\) but the output has \(3,\)"):
        vjp_fn(normal(2))


def test_errors_of_vmap_say_what_is_wrong():
    with pytest.raises(ValueError, match="different sizes: 3 and 4"):
        F.vmap(lambda a, b: a + b)(normal(3), normal(4))
    with pytest.raises(
        ValueError, match=r"in_axes 2 is out of range for argument 0 of shape \(3, 2\)"
    ):
        F.vmap(lambda a: a, in_axes=2)(normal(3, 2))
    with pytest.raises(ValueError, match="maps no argument"):
        F.vmap(lambda a: a, in_axes=None)(normal(3))
    with pytest.raises(ValueError, match="in_axes has 1 entries for 2 arguments"):
        F.vmap(lambda a, b: a, in_axes=(0,))(normal(3), normal(3))
    with pytest.raises(ValueError, match="out_axes is None for output 0, but it depends"):
        F.vmap(lambda a: a * 2, out_axes=None)(normal(3))
    with pytest.raises(
        np.exceptions.AxisError, match="sum: axis 1 is out of bounds for array of dimension 1"
    ):
        F.vmap(lambda a: a.sum(axis=1))(normal(3, 2))


def test_a_batched_tensor_has_no_single_value_and_cannot_escape_its_vmap():
    seen = []
    w = Tensor(normal(2), requires_grad=True)

    def leak(x):
        for attempt in (
            lambda: x.data,
            lambda: x.item(),
            lambda: np.asarray(x),
            lambda: bool(x.sum() > 0),
            lambda: x[x > 0],
            lambda: al.grad((w * x).sum(), w),
        ):
            with pytest.raises(RuntimeError, match="vmap"):
                attempt()
        assert x.shape == (2,) and len(x) == 2 and np.shape(x) == (2,) and x.ndim == 1
        seen.append(x)
        return x * 2

    F.vmap(leak)(normal(3, 2))
    with pytest.raises(RuntimeError, match="after its vmap returned"):
        seen[0] + 1


def test_a_vjp_fn_made_inside_vmap_cannot_be_called_after_it():
    kept = []

    def f(x):
        out, vjp_fn = F.vjp(lambda t: t * t, x)
        kept.append(vjp_fn)
        return out

    F.vmap(f)(normal(3, 2))
    with pytest.raises(RuntimeError, match="after its vmap returned"):
        kept[0](np.ones(2))


def test_levels_are_per_thread():
    # a transform running in one thread leaves another thread's plain autograd alone
    started, release, results = threading.Event(), threading.Event(), {}

    def slow(x):
        started.set()
        release.wait(5)
        return x * 2

    worker = threading.Thread(target=lambda: results.update(v=F.vmap(slow)(normal(3, 2))))
    worker.start()
    started.wait(5)
    x = Tensor(normal(2), requires_grad=True)
    (x * x).sum().backward()  # runs while the other thread is inside vmap
    release.set()
    worker.join()
    assert x.grad.shape == (2,) and results["v"].shape == (3, 2)
    assert engine._transforms_active == 0 and engine._mode.levels == ()


def test_warnings_are_not_raised_by_builtin_ops_under_vmap():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.vmap(lambda x: al.log_softmax(x @ np.ones((2, 3))).max())(normal(4, 2))


def test_the_readme_example_of_the_transforms_runs_and_is_right():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Function transforms", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    ns: dict = {}
    exec(compile(example, "README.md", "exec"), ns)
    x, u, H = ns["x"], ns["u"], ns["H"].data
    np.testing.assert_allclose(ns["Hu"].data, H @ u, rtol=1e-12)
    np.testing.assert_allclose(ns["Ju"].data, ns["g"].data @ u, rtol=1e-12)
    np.testing.assert_allclose(ns["J"].data, np.diag(np.exp(x)), rtol=1e-15)
    assert ns["per_example"].shape == (5, 2, 3) and ns["rows"].shape == (5, 2)
