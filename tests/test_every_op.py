"""Every public op, at first and second order, in float64 and float32.

`CASES` must name every op the library exports (`registry.PUBLIC`) and every Tensor method
that records an op: a new op without an entry here fails `test_every_op_has_a_case`. Each
case is a function of Tensors and the arrays to call it with (values away from kinks and
poles, shapes that broadcast). For each case:
- gradcheck and gradgradcheck agree with finite differences in float64;
- in float32 the value and the gradients at first and second order stay float32 (no float64
  constant or boolean mask may promote them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import autograd_lite as al
from autograd_lite import Tensor, registry

RNG = np.random.default_rng(1234)


def normal(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def positive(*shape: int) -> np.ndarray:
    return RNG.uniform(0.5, 2.0, shape)


def gapped(*shape: int) -> np.ndarray:
    """Distinct values at least 0.2 apart and from 0: no kinks or ties within eps."""
    values = (RNG.permutation(int(np.prod(shape))) - np.prod(shape) / 2 + 0.5) * 0.4
    return values.reshape(shape)


LABELS = np.array([2, 0, 1])
PROBS = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.1, 0.8, 0.1]])

# name -> (function of Tensors, its arguments)
CASES: dict[str, tuple[Callable, list[np.ndarray]]] = {
    "add": (al.add, [normal(2, 3), normal(3)]),
    "subtract": (al.subtract, [normal(2, 1), normal(3)]),
    "multiply": (al.multiply, [normal(2, 3), normal(1, 3)]),
    "divide": (al.divide, [normal(2, 3), positive(3)]),
    "power": (al.power, [positive(2, 3), normal(3)]),
    "power scalar exponent": (lambda x: x**2.5, [positive(2, 3)]),
    "power scalar base": (lambda x: 2.0**x, [normal(2, 3)]),
    "negative": (al.negative, [normal(2, 3)]),
    "matmul": (al.matmul, [normal(2, 3), normal(3, 4)]),
    "matmul batched": (al.matmul, [normal(2, 2, 3), normal(3)]),
    "dot": (al.dot, [normal(3), normal(3, 2)]),
    "linear": (al.linear, [normal(4, 3), normal(3, 2), normal(2)]),
    "sum": (lambda x: al.sum(x, axis=1) ** 2, [normal(2, 3)]),
    "mean": (lambda x: al.mean(x, axis=0, keepdims=True) ** 2, [normal(2, 3)]),
    "max": (lambda x: al.max(x, axis=-1) * al.sum(x), [gapped(2, 3)]),
    "broadcast_to": (lambda x: al.broadcast_to(x, (2, 3)) ** 2, [normal(3)]),
    "reshape": (lambda x: al.reshape(x, (3, 2)) ** 2, [normal(2, 3)]),
    "transpose": (lambda x: al.transpose(x, (1, 0, 2)) ** 2, [normal(2, 3, 2)]),
    "swapaxes": (lambda x: al.swapaxes(x, 0, 2) ** 2, [normal(2, 3, 1)]),
    "T": (lambda x: x.T**2, [normal(2, 3)]),
    "__getitem__": (lambda x: x[[0, 0, 1], 1:] ** 2, [normal(2, 3)]),
    "concatenate": (
        lambda a, b: al.concatenate([a, b * a.sum()], axis=0),
        [normal(1, 2), normal(2, 2)],
    ),
    "stack": (lambda a, b: al.stack([a, b * b], axis=1), [normal(2), normal(2)]),
    "astype": (lambda x: (x.astype(np.float64) ** 2).astype(x.dtype), [normal(2, 3)]),
    "exp": (al.exp, [normal(2, 3)]),
    "log": (al.log, [positive(2, 3)]),
    "relu": (lambda x: al.relu(x) * x, [gapped(2, 3)]),
    "tanh": (al.tanh, [normal(2, 3)]),
    "sigmoid": (al.sigmoid, [normal(2, 3)]),
    "abs": (lambda x: al.abs(x) * x, [gapped(2, 3)]),
    "sqrt": (al.sqrt, [positive(2, 3)]),
    "maximum": (al.maximum, [gapped(2, 3), gapped(2, 3) + 0.1]),
    "where": (lambda a, b: al.where(a.data > 0, a * a, b.exp()), [gapped(2, 3), normal(3)]),
    "softmax": (lambda x: al.softmax(x, axis=0), [normal(3, 2)]),
    "log_softmax": (al.log_softmax, [normal(2, 3)]),
    "softmax_cross_entropy": (lambda z: al.softmax_cross_entropy(z, LABELS), [normal(3, 3)]),
    "softmax_cross_entropy rows": (
        lambda z: al.softmax_cross_entropy(z, PROBS, reduction="none"),
        [normal(3, 3)],
    ),
    # the op catalogue (issue 9); hypothesis-drawn shapes in tests/test_op_catalogue.py
    "sin": (al.sin, [normal(2, 3)]),
    "cos": (al.cos, [normal(2, 3)]),
    "log1p": (al.log1p, [positive(2, 3)]),
    "expm1": (al.expm1, [normal(2, 3)]),
    "square": (al.square, [normal(2, 3)]),
    "minimum": (al.minimum, [gapped(2, 3), gapped(2, 3) + 0.1]),
    "min": (lambda x: al.min(x, axis=0) * al.sum(x), [gapped(2, 3)]),
    "clip": (al.clip, [gapped(2, 3), gapped(3) * 0.01 - 0.3, gapped(2, 1) * 0.01 + 0.3]),
    "prod": (lambda x: al.prod(x, axis=1), [normal(2, 3)]),
    "var": (lambda x: al.var(x, axis=1, ddof=1), [normal(2, 3)]),
    "std": (lambda x: al.std(x, axis=0), [gapped(2, 3)]),
    "cumsum": (lambda x: al.cumsum(x, axis=1) ** 2, [normal(2, 3)]),
    "logsumexp": (lambda x: al.logsumexp(x, axis=1), [normal(2, 3)]),
    "norm": (lambda x: al.norm(x) * x, [normal(2, 3)]),
    "clone": (lambda x: al.clone(x) * x, [normal(2, 3)]),
    "flatten": (lambda x: x.flatten(1) ** 2, [normal(2, 3, 2)]),
    "ravel": (lambda x: al.ravel(x) ** 2, [normal(2, 3)]),
    "unsqueeze": (lambda x: al.unsqueeze(x, 1) ** 2, [normal(2, 3)]),
    "squeeze": (lambda x: al.squeeze(x) ** 2, [normal(2, 1, 3)]),
    "expand_dims": (lambda x: al.expand_dims(x, 1) ** 2, [normal(2, 3)]),
    "flip": (lambda x: al.flip(x, 1) ** 2, [normal(2, 3)]),
    "pad": (lambda x: al.pad(x, ((1, 0), (0, 2)), constant_values=2) ** 2, [normal(2, 3)]),
    "split": (lambda x: al.split(x, [1], axis=1)[1] ** 2, [normal(2, 3)]),
    "array_split": (lambda x: al.array_split(x, 2, axis=1)[0] ** 2, [normal(2, 3)]),
    "tile": (lambda x: al.tile(x, (2, 1)) ** 2, [normal(2, 3)]),
    "repeat": (lambda x: al.repeat(x, [1, 0, 2], axis=1) ** 2, [normal(2, 3)]),
    "einsum": (lambda a, b: al.einsum("ij,jk->ik", a, b), [normal(2, 3), normal(3, 2)]),
    "tensordot": (lambda a, b: al.tensordot(a, b, 1), [normal(2, 3), normal(3, 2)]),
    "outer": (al.outer, [normal(2), normal(3)]),
    "remainder": (al.remainder, [gapped(2, 3) + 0.05, np.full(3, 1.1)]),
    "leaky_relu": (lambda x: al.leaky_relu(x, 0.1) * x, [gapped(2, 3)]),
    "gelu": (al.gelu, [normal(2, 3)]),
}
# Exported names that are not differentiable ops of Tensors (tested elsewhere).
NOT_OPS = {"one_hot", "zeros", "ones", "full", "arange", "zeros_like", "ones_like",
           # in-place updates: no gradient flows through them (tests/test_inplace.py)
           "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__imatmul__",
           "__setitem__", "zero_"}  # fmt: skip
# Methods that are other names of an op in CASES.
ALIASES = {"__abs__": "abs", "__add__": "add", "__radd__": "add", "__sub__": "subtract",
           "__rsub__": "subtract", "__mul__": "multiply", "__rmul__": "multiply",
           "__truediv__": "divide", "__rtruediv__": "divide", "__pow__": "power",
           "__rpow__": "power", "__neg__": "negative", "__matmul__": "matmul",
           "__rmatmul__": "matmul", "__mod__": "remainder", "__rmod__": "remainder"}  # fmt: skip


def test_every_op_has_a_case():
    names = set(registry.PUBLIC) | set(registry.METHODS)
    covered = {name.split(" ")[0] for name in CASES} | NOT_OPS
    missing = sorted(n for n in names if n not in covered and ALIASES.get(n) not in covered)
    assert not missing, f"add these ops to CASES in tests/test_every_op.py: {missing}"


def leaves(arrays: list[np.ndarray], dtype: type) -> list[Tensor]:
    return [Tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]


@pytest.mark.parametrize("name", list(CASES))
def test_first_and_second_order_against_finite_differences(name):
    fn, arrays = CASES[name]
    assert al.gradcheck(fn, leaves(arrays, np.float64))
    assert al.gradgradcheck(fn, leaves(arrays, np.float64))


@pytest.mark.parametrize("name", list(CASES))
def test_float32_stays_float32_at_first_and_second_order(name):
    fn, arrays = CASES[name]
    xs = leaves(arrays, np.float32)
    out = fn(*xs)
    assert out.dtype == np.float32
    v = Tensor(np.ones(out.shape, dtype=np.float32))
    grads = al.grad(out, xs, v, create_graph=True)
    assert [g.dtype for g in grads] == [np.float32] * len(xs)
    total = sum(((g * g).sum() for g in grads if g.requires_grad), start=Tensor(np.float32(0)))
    if total.requires_grad:  # linear ops have constant gradients: nothing more to check
        second = al.grad(total, xs)
        assert [s.dtype for s in second] == [np.float32] * len(xs)
    x64 = leaves(arrays, np.float64)
    expected = al.grad(fn(*x64), x64, np.ones(out.shape))
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g.data, e, rtol=2e-3, atol=2e-4)
