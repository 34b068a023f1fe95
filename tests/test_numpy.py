"""numpy's protocols on Tensors: np.exp(t), np.sum(t, axis=0), np.linalg.norm(t), ...

The walk at the top calls every ufunc in numpy's namespace (and its reduce/accumulate/outer/
reduceat/at methods) and a list of common numpy functions on Tensors that require grad. Each
call must give a Tensor whose values are numpy's and whose gradient agrees with finite
differences (float64, first and second order; float32 kept), give plain values on purpose
(the registry's VALUE_* lists: comparisons, argmax, shapes, ...), or raise TypeError. No
call may silently drop the graph. Nothing here names the ops that exist today: a numpy
function that gains a rule later is checked by the same walk.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Tensor, registry
from autograd_lite.gradcheck import numerical_jacobian
from tests.strategies import (
    array_and_axis,
    arrays,
    broadcast_pair,
    distinct_arrays,
    gapped_arrays,
    leaves,
    nonzero_arrays,
    positive_arrays,
    shapes,
)

UFUNCS = sorted({u for u in vars(np).values() if isinstance(u, np.ufunc)}, key=lambda u: u.__name__)
VALUES = registry.VALUE_UFUNCS | registry.VALUE_FUNCTIONS

# Value ranges tried in turn for the operands (first, second), until numpy's own result is
# finite: the first keeps a < b (no ties for maximum), a / b in (0.2, 0.85) (no jumps for
# fmod and friends) and |x| < 1 (arcsin, arctanh); the others serve arccosh and company.
DOMAINS = [((0.2, 0.45), (0.55, 0.9)), ((1.2, 1.6), (2.1, 2.9)), ((-0.9, -0.6), (-0.45, -0.2))]


def sample(shape: tuple[int, ...], lo: float = 0.2, hi: float = 0.9, seed: int = 0) -> np.ndarray:
    """Distinct values (no ties) in [lo, hi], the same on every run."""
    return np.random.default_rng(seed).uniform(lo, hi, size=shape)


def operands(shapes_: list[tuple[int, ...]], call: Callable) -> list[np.ndarray]:
    """Arrays of `shapes_` from the first domain where numpy computes a finite result."""
    for domain in DOMAINS:
        arrays_ = [sample(s, *domain[i % 2], seed=i) for i, s in enumerate(shapes_)]
        try:
            with np.errstate(all="ignore"):
                result = call(*arrays_)
        except TypeError:  # numpy itself refuses floats (bitwise_and, gcd, ...)
            return arrays_
        values = result if isinstance(result, tuple) else (result,)
        if all(np.all(np.isfinite(np.asarray(v, dtype=float))) for v in values):
            return arrays_
    return arrays_


def check(name: str, call: Callable, arrays_: list[np.ndarray], func: object) -> str:
    """Call `call` on Tensors of `arrays_`: "tensor" (checked), "value" (allowed) or "raises"."""
    registered = func in registry.NUMPY
    tensors = [Tensor(a, requires_grad=True) for a in arrays_]
    try:
        out = call(*tensors)
    except TypeError as e:
        assert not registered, f"{name}: registered, but raised {e}"
        return "raises"
    with np.errstate(all="ignore"):
        expected = call(*arrays_)
    several = isinstance(out, list | tuple)
    if not (isinstance(out, Tensor) or several and all(isinstance(o, Tensor) for o in out)):
        assert func in VALUES, f"{name} returned a plain {type(out).__name__}: graph dropped"
        np.testing.assert_equal(out, expected)
        return "value"
    assert func not in VALUES, f"{name} is listed as giving plain values"
    outs, exps = (list(out), list(expected)) if several else ([out], [expected])
    for k, (o, e) in enumerate(zip(outs, exps, strict=True)):
        pick = (lambda *ts, k=k: call(*ts)[k]) if several else call
        if not o.requires_grad:  # allowed only for a result that does not depend on the values
            for i in range(len(tensors)):
                jac = numerical_jacobian(pick, tensors, i, 1e-6)
                assert not jac.any(), f"{name}: the result does not require grad (graph dropped)"
            continue
        assert o.dtype == np.asarray(e).dtype and o.shape == np.shape(e), name
        np.testing.assert_allclose(o.data, e, rtol=1e-12, atol=1e-14, err_msg=name)
        assert al.gradcheck(pick, tensors), name
        assert al.gradgradcheck(pick, tensors), name
        check_float32(name, pick, arrays_)
    return "tensor"


def check_float32(name: str, call: Callable, arrays_: list[np.ndarray]) -> None:
    """float32 in, numpy's float32 result out, float32 gradients at first and second order."""
    xs = [Tensor(a.astype(np.float32), requires_grad=True) for a in arrays_]
    out = call(*xs)
    assert out.dtype == np.asarray(call(*[a.astype(np.float32) for a in arrays_])).dtype, name
    grads = al.grad(out.sum(), xs, create_graph=True)
    assert all(g.dtype == np.float32 for g in grads), name
    if any(g.requires_grad for g in grads):  # linear ops have a constant gradient
        second = al.grad(al.stack([g.sum() for g in grads]).sum(), xs)
        assert all(g.dtype == np.float32 for g in second), name


def core_shapes(ufunc: np.ufunc) -> list[tuple[int, ...]]:
    """Operand shapes for a generalized ufunc from its signature, e.g. matmul's (n?,k),(k,m?)."""
    sizes = {"n": 2, "k": 3, "m": 4}
    inputs = ufunc.signature.split("->")[0]
    return [
        tuple(sizes.get(d.strip().rstrip("?"), 3) for d in part.split(",") if d.strip())
        for part in inputs.strip("()").split("),(")
    ]


def ufunc_cases(ufunc: np.ufunc) -> list[list[tuple[int, ...]]]:
    if ufunc.signature:
        shapes_ = core_shapes(ufunc)
        return [shapes_, [(2, *shapes_[0]), *shapes_[1:]]]  # and with a batch axis
    if ufunc.nin == 1:
        return [[()], [(3,)], [(2, 3)]]
    return [[(), ()], [(2, 3), (3,)], [(3,), (2, 1)]]  # 0-d, and broadcasting either side


METHOD_CALLS = {  # a binary ufunc's methods, on operands of these shapes
    "reduce": (lambda u: lambda a: u.reduce(a, axis=0), [(3, 2)]),
    "accumulate": (lambda u: lambda a: u.accumulate(a, axis=0), [(3, 2)]),
    "outer": (lambda u: lambda a, b: u.outer(a, b), [(2,), (3,)]),
    "reduceat": (lambda u: lambda a: u.reduceat(a, [0, 2]), [(4,)]),
    "at": (lambda u: lambda a, b: u.at(a, [0, 2], b), [(3,), (2,)]),
}


@pytest.mark.parametrize("ufunc", UFUNCS, ids=lambda u: u.__name__)
def test_every_numpy_ufunc_gives_a_checked_tensor_plain_values_or_raises(ufunc):
    outcomes = set()
    for shapes_ in ufunc_cases(ufunc):
        arrays_ = operands(shapes_, ufunc)
        outcomes.add(check(ufunc.__name__, ufunc, arrays_, ufunc))
        if ufunc.nin == 2:  # an ndarray in front, a Python float behind
            first, second = arrays_
            in_front = lambda b, a=first: ufunc(a, b)  # noqa: E731
            outcomes.add(check(f"{ufunc.__name__}(ndarray, t)", in_front, [second], ufunc))
            if not ufunc.signature:
                behind = lambda a, b=float(second.flat[0]): ufunc(a, b)  # noqa: E731
                outcomes.add(check(f"{ufunc.__name__}(t, float)", behind, [first], ufunc))
    assert len(outcomes) == 1, f"{ufunc.__name__} works for some operands only: {outcomes}"
    if outcomes == {"raises"}:
        with pytest.raises(TypeError, match=rf"numpy\.{ufunc.__name__}.*supported_numpy"):
            ufunc(*[Tensor(a) for a in operands(ufunc_cases(ufunc)[0], ufunc)])
    if ufunc.nin == 2 and ufunc.nout == 1 and not ufunc.signature:
        for method, (make, shapes_) in METHOD_CALLS.items():
            call = make(ufunc)
            # A method is not the ufunc itself: only a Tensor or a TypeError will do.
            result = check(f"{ufunc.__name__}.{method}", call, operands(shapes_, call), method)
            assert result in ("tensor", "raises")


# The common numpy functions: name -> (call, operand arrays). Each operand becomes a Tensor
# that requires grad; constants are written into the call.
A, B = sample((2, 3), seed=10), sample((2, 3), seed=11)
V, W = sample((3,), seed=12), sample((3,), seed=13)
SQUARE = sample((3, 3), seed=14) + 2 * np.eye(3)  # well conditioned
FUNCTIONS: dict[str, tuple[Callable, list[np.ndarray]]] = {
    # reductions, numpy's keywords and positional order
    "sum": (np.sum, [A]),
    "sum(axis=0, keepdims=True)": (lambda a: np.sum(a, axis=0, keepdims=True), [A]),
    "sum(a, 1, None, None, True)": (lambda a: np.sum(a, 1, None, None, True), [A]),
    "sum(axis=(0, 1), initial=1.5)": (lambda a: np.sum(a, axis=(0, 1), initial=1.5), [A]),
    "mean": (np.mean, [A]),
    "mean(axis=-1, keepdims=True)": (lambda a: np.mean(a, axis=-1, keepdims=True), [A]),
    "mean(a, 0, None, None, True)": (lambda a: np.mean(a, 0, None, None, True), [A]),
    "max": (np.max, [A]),
    "max(axis=1, keepdims=True)": (lambda a: np.max(a, axis=1, keepdims=True), [A]),
    "max(a, 0, None, True)": (lambda a: np.max(a, 0, None, True), [A]),
    "amax(axis=0)": (lambda a: np.amax(a, axis=0), [A]),
    "min": (np.min, [A]),
    "amin(axis=1)": (lambda a: np.amin(a, axis=1), [A]),
    "prod": (lambda a: np.prod(a, axis=0), [A]),
    "std": (np.std, [A]),
    "var": (np.var, [A]),
    "var(axis=0)": (lambda a: np.var(a, axis=0), [A]),
    "median": (np.median, [A]),
    "average": (lambda a: np.average(a, axis=0), [A]),
    "ptp": (np.ptp, [A]),
    "cumsum": (lambda a: np.cumsum(a, axis=1), [A]),
    "cumprod": (lambda a: np.cumprod(a, axis=0), [A]),
    "diff": (np.diff, [A]),
    "trace": (np.trace, [SQUARE]),
    "linalg.norm(vector)": (np.linalg.norm, [V]),
    "linalg.norm(matrix)": (np.linalg.norm, [A]),
    "linalg.norm(axis=1, keepdims=True)": (
        lambda a: np.linalg.norm(a, axis=1, keepdims=True),
        [A],
    ),
    "linalg.norm(ord=2, axis=0)": (lambda a: np.linalg.norm(a, 2, 0), [A]),
    "linalg.norm(ord='fro')": (lambda a: np.linalg.norm(a, "fro"), [A]),
    "linalg.det": (np.linalg.det, [SQUARE]),
    "linalg.inv": (np.linalg.inv, [SQUARE]),
    "linalg.solve": (np.linalg.solve, [SQUARE, V]),
    # products
    "dot(matrix, vector)": (np.dot, [A, V]),
    "dot(vector, vector)": (np.dot, [V, W]),
    "dot(scalar, matrix)": (np.dot, [np.array(1.5), A]),
    "dot(ndarray, tensor)": (lambda b: np.dot(SQUARE, b), [V]),
    "vdot": (np.vdot, [V, W]),
    "inner": (np.inner, [V, W]),
    "outer": (np.outer, [V, W]),
    "tensordot": (lambda a, b: np.tensordot(a, b, axes=1), [A, SQUARE]),
    "einsum": (lambda a, b: np.einsum("ij,jk->ik", a, b), [A, SQUARE]),
    "kron": (np.kron, [V, W]),
    "cross": (np.cross, [V, W]),
    # shapes, joins, selections
    "reshape": (lambda a: np.reshape(a, (3, 2)), [A]),
    "reshape(shape=)": (lambda a: np.reshape(a, shape=(6,)), [A]),
    "transpose": (np.transpose, [A]),
    "transpose(axes)": (lambda a: np.transpose(a, (1, 0)), [A]),
    "swapaxes": (lambda a: np.swapaxes(a, 0, 1), [A]),
    "moveaxis": (lambda a: np.moveaxis(a, 0, -1), [A]),
    "squeeze": (np.squeeze, [sample((1, 3))]),
    "expand_dims": (lambda a: np.expand_dims(a, 0), [V]),
    "ravel": (np.ravel, [A]),
    "broadcast_to": (lambda a: np.broadcast_to(a, (2, 3)), [V]),
    "atleast_2d": (np.atleast_2d, [V]),
    "tile": (lambda a: np.tile(a, 2), [V]),
    "repeat": (lambda a: np.repeat(a, 2), [V]),
    "flip": (np.flip, [A]),
    "roll": (lambda a: np.roll(a, 1), [V]),
    "pad": (lambda a: np.pad(a, 1), [V]),
    "concatenate": (lambda a, b: np.concatenate([a, b]), [A, B]),
    "concatenate(axis=1)": (lambda a, b: np.concatenate((a, b), axis=1), [A, B]),
    "concatenate(ndarray, tensor)": (lambda b: np.concatenate([A, b]), [B]),
    "concatenate(axis=None)": (lambda a, b: np.concatenate([a, b], axis=None), [A, B]),
    "stack": (lambda a, b: np.stack([a, b]), [A, B]),
    "stack(axis=-1)": (lambda a, b: np.stack([a, b], axis=-1), [A, B]),
    "hstack": (lambda a, b: np.hstack([a, b]), [A, B]),
    "vstack": (lambda a, b: np.vstack([a, b]), [A, B]),
    "split": (lambda a: np.split(a, 3, axis=1), [A]),
    "where": (lambda a, b: np.where(a > 0.5, a, b), [A, B]),
    "where(t, 0.0)": (lambda a: np.where(a > 0.5, a, 0.0), [A]),
    "where(ndarray, t)": (lambda b: np.where(A > 0.5, A, b), [B]),
    "clip": (lambda a: np.clip(a, 0.3, 0.6), [A]),
    "sort": (lambda a: np.sort(a, axis=1), [A]),
    "take": (lambda a: np.take(a, [2, 0]), [V]),
    "diagonal": (np.diagonal, [SQUARE]),
    "diag": (np.diag, [V]),
    "triu": (np.triu, [SQUARE]),
    "copy": (np.copy, [A]),
    "append": (np.append, [V, W]),
    "round": (lambda a: np.round(a, 1), [A]),
    "nan_to_num": (np.nan_to_num, [A]),
    "interp": (lambda a: np.interp(a, [0.0, 1.0], [1.0, 3.0]), [V]),
    # plain values on purpose
    "argmax": (np.argmax, [A]),
    "argmin(axis=1)": (lambda a: np.argmin(a, axis=1), [A]),
    "argsort": (np.argsort, [V]),
    "nonzero": (np.nonzero, [A]),
    "count_nonzero": (np.count_nonzero, [A]),
    "shape": (np.shape, [A]),
    "ndim": (np.ndim, [A]),
    "size": (np.size, [A]),
    "isclose": (np.isclose, [A, B]),
    "allclose": (np.allclose, [A, B]),
    "array_equal": (np.array_equal, [A, B]),
    "zeros_like": (np.zeros_like, [A]),
    "ones_like": (np.ones_like, [A]),
}


def numpy_function(name: str) -> object:
    """The numpy function an entry of FUNCTIONS calls (for the registry lookups)."""
    obj = np
    for part in name.split("(")[0].split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_common_numpy_functions_give_a_checked_tensor_plain_values_or_raise(name):
    call, arrays_ = FUNCTIONS[name]
    func = numpy_function(name)
    outcome = check(name, call, arrays_, func)
    if outcome == "raises":
        with pytest.raises(TypeError, match=rf"numpy\..*{name.split('(')[0]}.*supported_numpy"):
            call(*[Tensor(a) for a in arrays_])


# What the issue asks for by name: these must work (the walk alone would accept a TypeError).
REQUIRED_UFUNCS = [
    np.add, np.subtract, np.multiply, np.divide, np.power, np.negative, np.exp, np.log,
    np.tanh, np.sqrt, np.abs, np.maximum, np.matmul,
]  # fmt: skip
REQUIRED_FUNCTIONS = [
    "dot(matrix, vector)", "dot(vector, vector)", "sum(axis=0, keepdims=True)",
    "sum(a, 1, None, None, True)", "mean(axis=-1, keepdims=True)", "max(axis=1, keepdims=True)",
    "reshape", "transpose(axes)", "where", "concatenate", "stack", "linalg.norm(vector)",
    "linalg.norm(axis=1, keepdims=True)", "copy", "ravel",
]  # fmt: skip
PLAIN = ["argmax", "argmin(axis=1)", "shape"]


@pytest.mark.parametrize("ufunc", REQUIRED_UFUNCS, ids=lambda u: u.__name__)
def test_the_ufuncs_the_library_has_give_tensors(ufunc):
    (shapes_, *_) = ufunc_cases(ufunc)
    assert check(ufunc.__name__, ufunc, operands(shapes_, ufunc), ufunc) == "tensor"


@pytest.mark.parametrize("name", REQUIRED_FUNCTIONS)
def test_the_functions_the_library_has_give_tensors(name):
    call, arrays_ = FUNCTIONS[name]
    assert check(name, call, arrays_, numpy_function(name)) == "tensor"


@pytest.mark.parametrize("name", PLAIN)
def test_argmax_argmin_and_shapes_give_plain_values(name):
    call, arrays_ = FUNCTIONS[name]
    assert check(name, call, arrays_, numpy_function(name)) == "value"


@pytest.mark.parametrize("ufunc", [np.sign, np.less, np.equal, np.isfinite])
def test_sign_and_comparisons_give_plain_arrays(ufunc):
    (shapes_, *_) = ufunc_cases(ufunc)
    assert check(ufunc.__name__, ufunc, operands(shapes_, ufunc), ufunc) == "value"


# --- the same entry points over hypothesis-drawn shapes -----------------------------------------
UNARY = {
    np.negative: arrays,
    np.exp: arrays,
    np.tanh: arrays,
    np.log: positive_arrays,
    np.sqrt: positive_arrays,
    np.abs: lambda s: distinct_arrays(s),
}
BINARY = {
    np.add: broadcast_pair(),
    np.subtract: broadcast_pair(),
    np.multiply: broadcast_pair(),
    np.divide: broadcast_pair(second=nonzero_arrays),
    np.power: broadcast_pair(first=positive_arrays),
    np.maximum: broadcast_pair(first=gapped_arrays, second=lambda s: gapped_arrays(s, offset=0)),
}


@pytest.mark.parametrize("ufunc", list(UNARY), ids=lambda u: u.__name__)
@given(data=st.data())
def test_unary_ufuncs_on_drawn_shapes(ufunc, data):
    x = data.draw(shapes().flatmap(UNARY[ufunc]))
    assert al.gradcheck(ufunc, leaves(x))
    assert al.gradgradcheck(ufunc, leaves(x))


@pytest.mark.parametrize("ufunc", list(BINARY), ids=lambda u: u.__name__)
@given(data=st.data())
def test_binary_ufuncs_on_drawn_broadcast_shapes(ufunc, data):
    a, b = data.draw(BINARY[ufunc])
    assert al.gradcheck(ufunc, leaves(a, b))
    assert al.gradgradcheck(ufunc, leaves(a, b))
    assert al.gradcheck(lambda t: ufunc(a, t), leaves(b))  # an ndarray in front


REDUCTIONS = {"sum": np.sum, "mean": np.mean, "max": np.max}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@given(case=array_and_axis(elements=lambda s: distinct_arrays(s)))
def test_numpy_reductions_with_axis_and_keepdims_on_drawn_shapes(name, case):
    x, axis, keepdims = case
    fn = REDUCTIONS[name]
    out = fn(Tensor(x), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.data, fn(x, axis=axis, keepdims=keepdims), rtol=1e-14)
    assert al.gradcheck(lambda t: fn(t, axis=axis, keepdims=keepdims), leaves(x))
    # numpy's positional order: (a, axis, dtype, out, keepdims), max has no dtype
    positional = (axis, None, keepdims) if name == "max" else (axis, None, None, keepdims)
    assert al.gradcheck(lambda t: fn(t, *positional), leaves(x))


@pytest.mark.parametrize("name", list(REDUCTIONS))
@given(case=array_and_axis(elements=lambda s: distinct_arrays(s)))
def test_numpy_reductions_match_pytorch(name, case):
    torch = pytest.importorskip("torch")
    x, axis, keepdims = case
    dim = tuple(range(x.ndim)) if axis is None else axis
    theirs = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax}[name]
    t = torch.tensor(x, requires_grad=True)
    expected = theirs(t, dim=dim, keepdim=keepdims)
    ours = Tensor(x, requires_grad=True)
    out = REDUCTIONS[name](ours, axis=axis, keepdims=keepdims)
    # (numpy and torch sum in different orders: a sum near 0 differs by the summands' rounding)
    atol = 1e-15 * np.abs(x).sum()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-13, atol=atol)
    w = np.cos(np.arange(out.size) + 0.5).reshape(out.shape)
    (out * w).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ours.grad, t.grad.numpy(), rtol=1e-13, atol=1e-14)


# --- numpy's keywords ----------------------------------------------------------------------------
def test_reduction_keywords_that_have_a_meaning_on_tensors():
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    s = np.sum(x, dtype=np.float32)
    assert s.dtype == np.float32 and s.requires_grad and s.item() == 10.0
    assert np.mean(x, dtype=np.float32).dtype == np.float32
    assert np.sum(x, initial=2.0).item() == 12.0
    assert np.sum(x, where=True).item() == 10.0  # numpy's default
    assert np.sum(Tensor(np.array([True, True, False]))).item() == 2  # bool sums count
    np.sum(x, axis=1, initial=1.0, keepdims=True).sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 2)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: np.sum(x, out=np.zeros(())), r"numpy\.sum\(\.\.\., out=\.\.\.\)"),
        (lambda x: np.mean(x, out=np.zeros(())), r"numpy\.mean\(\.\.\., out=\.\.\.\)"),
        (lambda x: np.max(x, where=np.ones(2, bool), initial=0.0), r"numpy\.max.*where="),
        (lambda x: np.max(x, initial=0.0), r"numpy\.max\(\.\.\., initial=\.\.\.\)"),
        (lambda x: np.sum(x, where=np.array([True, False])), r"numpy\.sum.*where="),
        (lambda x: np.concatenate([x, x], dtype=np.float32), r"numpy\.concatenate.*dtype"),
        (lambda x: np.exp(x, dtype=np.float32), r"numpy\.exp .*keyword.*dtype"),
        (lambda x: np.add(x, 1.0, out=np.zeros(2)), r"numpy\.add\(\.\.\., out=\.\.\.\)"),
        (lambda x: np.reshape(x, (2, 1), order="F"), r"numpy\.reshape.*order='C'"),
    ],
)
def test_keywords_without_a_meaning_on_tensors_raise_type_error(call, match):
    with pytest.raises(TypeError, match=match):
        call(Tensor(np.array([1.0, 2.0]), requires_grad=True))


def test_an_ndarray_updated_in_place_with_a_tensor_raises():
    a = np.zeros(2)
    with pytest.raises(TypeError, match=r"numpy\.add\(\.\.\., out=.*array = array \+ tensor"):
        a += Tensor(np.ones(2), requires_grad=True)


def test_np_asarray_and_np_array_are_the_explicit_way_to_get_values():
    t = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    for values in (np.asarray(t), np.array(t), np.array(t, dtype=np.float32)):
        assert type(values) is np.ndarray
        np.testing.assert_array_equal(values, [1.0, 2.0])
    assert not np.shares_memory(np.array(t), t.data)


def test_supported_numpy_lists_the_numpy_names():
    names = registry.supported_numpy()
    for name in ("numpy.exp", "numpy.linalg.norm", "numpy.sum", "numpy.argmax (no gradient)"):
        assert name in names


# --- np.linalg.norm ---------------------------------------------------------------------------
# away from the kink at 0, where a central difference would straddle it
@given(x=shapes(min_dims=1).flatmap(arrays).filter(lambda a: math.hypot(*a.ravel()) > 0.1))
def test_norm_of_all_elements(x):
    out = np.linalg.norm(Tensor(x))
    np.testing.assert_allclose(out.data, math.hypot(*x.ravel()), rtol=1e-14)
    assert al.gradcheck(np.linalg.norm, leaves(x))
    assert al.gradgradcheck(np.linalg.norm, leaves(x))


@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1e160, 1e300])
def test_norm_and_its_gradient_stay_exact_where_the_squares_underflow_or_overflow(scale):
    x = Tensor(np.array([[3.0, -4.0], [0.0, 0.0], [1.0, 0.0]]) * scale, requires_grad=True)
    out = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(out.data, np.array([5.0, 0.0, 1.0]) * scale, rtol=1e-15)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, [[0.6, -0.8], [0.0, 0.0], [1.0, 0.0]], rtol=1e-15)
    x32 = Tensor(np.array([3e-25, 4e-25], dtype=np.float32), requires_grad=True)
    (g,) = al.grad(al.norm(x32), x32)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [0.6, 0.8], rtol=1e-6)


def test_norm_matches_pytorch_along_an_axis_also_at_zero():
    torch = pytest.importorskip("torch")
    x = np.array([[3.0, -4.0, 0.0], [0.0, 0.0, 0.0], [0.5, 1.0, -2.0]])
    for axis, keepdims in [(1, False), (0, True), (-1, True)]:
        ours = Tensor(x, requires_grad=True)
        t = torch.tensor(x, requires_grad=True)
        out = np.linalg.norm(ours, axis=axis, keepdims=keepdims)
        expected = torch.linalg.vector_norm(t, dim=axis, keepdim=keepdims)
        np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-14)
        w = np.cos(np.arange(out.size) + 0.5).reshape(out.shape)
        (out * w).sum().backward()
        (expected * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(ours.grad, t.grad.numpy(), rtol=1e-14)
        assert np.all(ours.grad[1] == 0)  # the zero row: gradient 0, as PyTorch


def test_norm_gradient_at_zero_is_zero_at_every_order():
    for dtype in (np.float64, np.float32):
        x = Tensor(np.zeros(3, dtype=dtype), requires_grad=True)
        out = al.norm(x)
        assert out.item() == 0.0 and out.dtype == dtype
        (g,) = al.grad(out, x, create_graph=True)
        assert g.dtype == dtype and np.all(g.data == 0)
        (h,) = al.grad(g.sum(), x)
        assert h.dtype == dtype and np.all(h == 0)  # no nan (PyTorch gives nan here)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x: np.linalg.norm(x, 1), TypeError, r"ord=1 is not supported.*al\.abs"),
        (lambda x: np.linalg.norm(x, np.inf, axis=0), TypeError, "only the 2-norm"),
        (lambda x: np.linalg.norm(x, 2), TypeError, "only the 2-norm"),  # spectral norm
        (lambda x: np.linalg.norm(x, "fro", axis=1), ValueError, "matrix norm"),
        (lambda x: np.linalg.norm(x.reshape(1, 2, 2), 2), ValueError, r"\(1, 2, 2\)"),
    ],
)
def test_norms_other_than_the_2_norm_raise(call, error, match):
    with pytest.raises(error, match=match):
        call(Tensor(np.ones((2, 2)), requires_grad=True))


# --- user Functions whose backward uses numpy --------------------------------------------------
class LogCosh(al.Function):
    """log(cosh(x)), whose backward calls numpy's tanh and exp."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(np.cosh(x))

    @staticmethod
    def backward(ctx, grad):  # tanh(x), written as (1 - e^-2x) / (1 + e^-2x) half the time
        (x,) = ctx.saved_tensors
        e = np.exp(-2 * x)
        return grad * (np.tanh(x) + (1 - e) / (1 + e)) / 2


@given(x=shapes().flatmap(lambda s: arrays(s, -2.0, 2.0)))
def test_a_user_function_whose_backward_calls_numpy_works_with_create_graph(x):
    assert al.gradcheck(LogCosh.apply, leaves(x))
    assert al.gradgradcheck(LogCosh.apply, leaves(x))


def test_every_registered_numpy_function_reads_its_arguments_as_numpy_does():
    # np.min(t, 0, None, True): numpy's third positional argument is `out`, the fourth
    # `keepdims`. A Tensor version with another order must not take them for its own.
    import inspect

    x = np.arange(6.0).reshape(2, 3) + 1
    t = Tensor(x, requires_grad=True)
    for func in (np.min, np.amin, np.max, np.prod, np.sum, np.mean):
        out = (
            func(t, 0, None, None, True)
            if func in (np.prod, np.sum, np.mean)
            else func(t, 0, None, True)
        )
        expected = (
            func(x, 0, None, None, True)
            if func in (np.prod, np.sum, np.mean)
            else func(x, 0, None, True)
        )
        assert out.shape == expected.shape == (1, 3), func.__name__
        np.testing.assert_allclose(out.data, expected)
    with pytest.raises(TypeError, match=r"numpy\.prod\(\.\.\., dtype=\.\.\.\) is not supported"):
        np.prod(t, 0, np.float32)
    with pytest.raises(TypeError, match="out"):
        np.min(t, 0, np.empty(3))
    assert np.zeros_like(t, np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="order"):
        np.zeros_like(t, None, "F")
    for func, fn in registry.NUMPY.items():  # every function has a readable signature
        if not isinstance(func, np.ufunc):
            inspect.signature(fn)
