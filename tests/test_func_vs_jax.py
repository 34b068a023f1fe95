"""al.func against JAX (float64): jvp, hessian and vmap of random programs.

A program is a random chain of steps, each written twice, with autograd_lite and with
jax.numpy, mapping a vector of 3 numbers to another. JAX runs op by op here (no jit), which
is slow on this machine, so each property draws only a few programs. Skipped without JAX.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import func as F

jax = pytest.importorskip("jax", reason="JAX is optional: these tests compare with it")
jnp = pytest.importorskip("jax.numpy")
jax.config.update("jax_enable_x64", True)

M = np.array([[0.5, -1.0, 0.3], [0.2, 0.8, -0.6], [-0.4, 0.1, 0.9]])
# name -> (autograd_lite step, JAX step)
STEPS = {
    "tanh": (al.tanh, jnp.tanh),
    "sigmoid": (al.sigmoid, lambda t: jax.nn.sigmoid(t)),
    "square": (lambda t: t * t / 2, lambda t: t * t / 2),
    "exp": (lambda t: (0.3 * t).exp(), lambda t: jnp.exp(0.3 * t)),
    "mix": (lambda t: t @ M, lambda t: t @ M),
    "softmax": (al.softmax, lambda t: jax.nn.softmax(t)),
    "log_softmax": (al.log_softmax, lambda t: jax.nn.log_softmax(t)),
    "center": (lambda t: t - t.mean(), lambda t: t - t.mean()),
    "rational": (lambda t: t / (1 + t * t), lambda t: t / (1 + t * t)),
    "log": (lambda t: (1 + t * t).log(), lambda t: jnp.log(1 + t * t)),
    "sqrt": (lambda t: (1 + t * t).sqrt(), lambda t: jnp.sqrt(1 + t * t)),
    "power": (lambda t: (1 + t * t) ** 0.7, lambda t: (1 + t * t) ** 0.7),
    "roll": (
        lambda t: al.concatenate([t[1:], t[:1] * 2]),
        lambda t: jnp.concatenate([t[1:], t[:1] * 2]),
    ),
    "outer": (
        lambda t: (t.reshape(3, 1) @ t.reshape(1, 3)).T.sum(axis=0) / 3,
        lambda t: (t.reshape(3, 1) @ t.reshape(1, 3)).T.sum(axis=0) / 3,
    ),
}

programs = st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=5)
vectors = st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s).standard_normal(3))
FEW = settings(max_examples=4)


def build(steps: list[str], which: int):
    def program(x):
        for name in steps:
            x = STEPS[name][which](x)
        return x

    return program


def scalar(program):
    return lambda x: (program(x) * np.array([1.0, -2.0, 0.5])).sum() ** 2


@FEW
@given(steps=programs, x=vectors, u=vectors)
def test_jvp_matches_jax(steps, x, u):
    out, t = F.jvp(build(steps, 0), (x,), (u,))
    out_j, t_j = jax.jvp(build(steps, 1), (x,), (u,))
    np.testing.assert_allclose(out.data, out_j, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(t.data, t_j, rtol=1e-10, atol=1e-12)


@FEW
@given(steps=programs, x=vectors)
def test_hessian_matches_jax(steps, x):
    H = F.hessian(scalar(build(steps, 0)))(x)
    H_j = jax.hessian(scalar(build(steps, 1)))(x)
    np.testing.assert_allclose(H.data, H_j, rtol=1e-9, atol=1e-11)


@FEW
@given(steps=programs, seed=st.integers(0, 2**32 - 1))
def test_vmap_and_per_example_gradients_match_jax(steps, seed):
    X = np.random.default_rng(seed).standard_normal((4, 3))
    np.testing.assert_allclose(
        F.vmap(build(steps, 0))(X).data, jax.vmap(build(steps, 1))(X), rtol=1e-12, atol=1e-14
    )
    grads = F.vmap(F.grad(scalar(build(steps, 0))))(X)
    np.testing.assert_allclose(
        grads.data, jax.vmap(jax.grad(scalar(build(steps, 1))))(X), rtol=1e-10, atol=1e-12
    )
