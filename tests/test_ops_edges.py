"""Edge values of the catalogue's ops (tests/test_op_catalogue.py draws values away from them).

Each test pins what the gradient is where an op has a kink, a jump, a tie, a zero or a
degenerate argument, and that errors a user can cause name the op. Where PyTorch is installed
the same points are compared with it too (each such test skips without it).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autograd_lite as al
from autograd_lite import Tensor
from tests.strategies import leaves


def grads_of(fn, *arrays_, seed=None):
    """fn's output and the gradients of (output * seed).sum() (seed: ones by default)."""
    xs = leaves(*arrays_)
    out = fn(*xs)
    out.backward(np.ones(out.shape) if seed is None else seed)
    return out, [x.grad for x in xs]


def hessian(fn, x0):
    """The Hessian of scalar fn at x0 (1-D), by al.grad twice."""
    x = Tensor(np.array(x0, dtype=np.float64), requires_grad=True)
    (g,) = al.grad(fn(x), x, create_graph=True)
    rows = [al.grad(g[i], x, retain_graph=True)[0] for i in range(x.size)]
    return np.stack(rows)


def torch_or_skip():
    return pytest.importorskip("torch")


# --- % ---------------------------------------------------------------------------------------
def test_remainder_follows_numpy_signs_and_its_gradient():
    a, b = np.array([5.5, -5.5, 5.5, -5.5, 1.0]), np.array([2.0, 2.0, -2.0, -2.0, 0.1])
    out, (ga, gb) = grads_of(lambda x, y: x % y, a, b)
    np.testing.assert_array_equal(out.data, np.remainder(a, b))  # the sign of the divisor
    np.testing.assert_array_equal(ga, np.ones(5))  # d(a % b)/da = 1
    # d(a % b)/db = -floor(a / b), with numpy's quotient: 1.0 // 0.1 is 9 (0.1 > 1/10)
    np.testing.assert_array_equal(gb, [-2.0, 3.0, 3.0, -2.0, -9.0])


def test_remainder_with_scalars_on_either_side_and_numpy_names():
    x = Tensor(np.array([-2.5, 0.5, 3.0]), requires_grad=True)
    np.testing.assert_array_equal((x % 2).data, np.array([-2.5, 0.5, 3.0]) % 2)
    np.testing.assert_array_equal((7 % x).data, 7 % np.array([-2.5, 0.5, 3.0]))
    assert np.mod(x, 2).requires_grad and np.remainder(x, 2).requires_grad  # the same ufunc
    (7 % x).sum().backward()
    np.testing.assert_array_equal(x.grad, -np.floor_divide(7, x.data))


def test_remainder_against_torch_with_negative_operands():
    torch = torch_or_skip()
    a, b = np.array([5.5, -5.5, 5.5, -5.5, 1.0, 7.25]), np.array([2.0, 2.0, -2.0, -2.0, 0.1, 1.5])
    _, (ga, gb) = grads_of(lambda x, y: x % y, a, b)
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
    torch.remainder(ta, tb).sum().backward()
    np.testing.assert_array_equal(ga, ta.grad.numpy())
    np.testing.assert_array_equal(gb, tb.grad.numpy())


# --- clip, min, minimum ------------------------------------------------------------------------
def test_clip_passes_the_gradient_at_the_bounds():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    out, (g,) = grads_of(lambda t: al.clip(t, 0.0, 1.0), x)
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])  # as PyTorch: bounds included
    _, (g,) = grads_of(lambda t: al.clip(t, None, 0.5), x)
    np.testing.assert_array_equal(g, [1.0, 1.0, 1.0, 0.0, 0.0])
    _, (g,) = grads_of(lambda t: np.clip(t, 0.5, None), x)
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0, 1.0, 1.0])


# x, low, high with low == high and low > high: the output is high, and so is the gradient
CLIP_TENSOR_BOUNDS = (
    np.array([-1.0, 0.5, 2.0, 0.5, 0.0, 3.0]),
    np.array([0.5, 0.5, 0.5, 1.0, -1.0, 0.0]),
    np.array([0.5, 0.5, 0.5, 0.0, 1.0, 1.0]),
)


def test_clip_with_tensor_bounds_sends_the_gradient_to_the_bound_that_won():
    out, (gx, glo, ghi) = grads_of(al.clip, *CLIP_TENSOR_BOUNDS)
    np.testing.assert_array_equal(out.data, np.clip(*CLIP_TENSOR_BOUNDS))
    np.testing.assert_array_equal(gx, [0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(glo, [0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(ghi, [1, 0, 1, 1, 0, 1])
    # Every output element comes from exactly one input. At low == high > x (element 0) the
    # output is min(low, high): moving both bounds together moves it as much, so the
    # gradients must add up to 1 (PyTorch gives 0 to both there).
    assert np.all(gx + glo + ghi == 1)


def test_clip_with_tensor_bounds_against_torch():
    torch = torch_or_skip()
    _, ours = grads_of(al.clip, *CLIP_TENSOR_BOUNDS)
    theirs = [torch.tensor(v, requires_grad=True) for v in CLIP_TENSOR_BOUNDS]
    torch.clamp(*theirs).sum().backward()
    same = slice(1, None)  # all but element 0, where we differ on purpose (see above)
    for g, t in zip(ours, theirs):
        np.testing.assert_array_equal(g[same], t.grad.numpy()[same])


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="clip: give a_min, a_max or both"):
        al.clip(Tensor([1.0]))


def test_min_and_minimum_ties_share_the_gradient():
    x = np.array([[1.0, 3.0, 1.0], [2.0, 2.0, 2.0]])
    _, (g,) = grads_of(lambda t: t.min(axis=1), x)
    np.testing.assert_allclose(g, [[0.5, 0, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-15)
    _, (ga, gb) = grads_of(al.minimum, np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]))
    np.testing.assert_array_equal(ga, [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(gb, [0.0, 0.5, 1.0])


def test_min_ties_against_torch_amin():
    torch = torch_or_skip()
    x = np.array([[1.0, 3.0, 1.0], [2.0, 2.0, 2.0]])
    for axis in (None, 0, 1):
        _, (g,) = grads_of(lambda t, axis=axis: t.min(axis=axis), x)
        t = torch.tensor(x, requires_grad=True)
        (torch.amin(t) if axis is None else torch.amin(t, dim=axis)).sum().backward()
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-15)


# --- prod --------------------------------------------------------------------------------------
def test_prod_gradient_with_one_zero_and_with_two():
    _, (g,) = grads_of(lambda t: t.prod(), np.array([0.0, 2.0, 3.0]))
    np.testing.assert_array_equal(g, [6.0, 0.0, 0.0])  # only the zero's gradient survives
    _, (g,) = grads_of(lambda t: t.prod(), np.array([0.0, 0.0, 3.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])
    x = np.array([[0.0, 2.0, 3.0], [4.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    _, (g,) = grads_of(lambda t: t.prod(axis=1), x)
    np.testing.assert_array_equal(g, [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0], [6.0, 3.0, 2.0]])
    _, (g,) = grads_of(lambda t: t.prod(axis=0, keepdims=True), x)
    np.testing.assert_array_equal(g, [[4.0, 0.0, 0.0], [0.0, 4.0, 9.0], [0.0, 0.0, 0.0]])


def test_prod_second_derivatives_through_zeros():
    # the Hessian of x0 x1 x2 has x_k off the diagonal: not zero where a factor is zero
    np.testing.assert_array_equal(
        hessian(lambda t: t.prod(), [0.0, 2.0, 3.0]), [[0, 3, 2], [3, 0, 0], [2, 0, 0]]
    )
    np.testing.assert_array_equal(
        hessian(lambda t: t.prod(), [0.0, 0.0, 3.0]), [[0, 3, 0], [3, 0, 0], [0, 0, 0]]
    )
    x = np.array([[0.0, 2.0, 0.5], [1.5, 0.0, 0.0], [0.0, 0.0, 0.0]])
    for axis in (None, 0, 1, (0, 1)):
        assert al.gradgradcheck(lambda t, axis=axis: t.prod(axis=axis), leaves(x))


def test_prod_second_derivative_when_the_product_underflows():
    # 1e-200 * 1e-200 underflows to 0 although no factor is 0: prod / x_i would give 0
    np.testing.assert_array_equal(hessian(lambda t: t.prod(), [1e-200, 1e-200]), [[0, 1], [1, 0]])
    # and a tiny factor must not make prod / x_i cancel catastrophically at second order
    h = hessian(lambda t: t.prod(), [5e-300, 0.5, 0.25])
    np.testing.assert_allclose(h, [[0, 0.25, 0.5], [0.25, 0, 5e-300], [0.5, 5e-300, 0]])


def test_prod_against_torch_with_zeros_first_and_second_order():
    torch = torch_or_skip()
    for x0 in ([0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [1.5, -2.0, 0.5]):
        t = torch.tensor(x0, requires_grad=True)
        expected = torch.autograd.functional.hessian(lambda v: v.prod(), t).numpy()
        np.testing.assert_array_equal(hessian(lambda v: v.prod(), x0), expected)


# --- var and std -----------------------------------------------------------------------------
def test_std_at_zero_variance_has_gradient_zero_at_first_and_second_order():
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    out, (g,) = grads_of(lambda t: t.std(axis=1, ddof=1), x)
    np.testing.assert_array_equal(out.data, [0.0, 1.0])
    np.testing.assert_array_equal(g[0], [0.0, 0.0, 0.0])  # the subgradient 0, never nan
    np.testing.assert_allclose(g[1], [-0.5, 0.0, 0.5], rtol=1e-15)
    h = hessian(lambda t: t.reshape(2, 3).std(axis=1).sum(), x.reshape(-1))
    assert np.all(np.isfinite(h))
    np.testing.assert_array_equal(h[:3, :3], np.zeros((3, 3)))


def test_std_at_zero_variance_against_torch():
    torch = torch_or_skip()
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    _, (g,) = grads_of(lambda t: t.std(axis=1, ddof=1), x)
    t = torch.tensor(x, requires_grad=True)
    t.std(dim=1).sum().backward()
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-15)


def test_var_refuses_ddof_that_leaves_no_degrees_of_freedom():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"var: ddof=3 leaves 0 degrees of freedom"):
        x.var(axis=1, ddof=3)
    with pytest.raises(ValueError, match=r"var: ddof=1"):
        al.std(Tensor(5.0), ddof=1)
    with pytest.raises(np.exceptions.AxisError, match=r"var: axis 2 is out of range"):
        x.var(axis=2)


# --- logsumexp -------------------------------------------------------------------------------
def test_logsumexp_is_finite_for_huge_values_and_handles_minus_infinity():
    x = np.array([[1e300, 1e300], [-1e300, 0.0], [-np.inf, 0.0]])
    out, (g,) = grads_of(lambda t: al.logsumexp(t, axis=1), x)
    np.testing.assert_allclose(out.data, [1e300, 0.0, 0.0], rtol=1e-15)
    np.testing.assert_allclose(g, [[0.5, 0.5], [0.0, 1.0], [0.0, 1.0]], rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # log(0) of a group of -inf only: quietly -inf
        assert al.logsumexp(Tensor([-np.inf, -np.inf])).item() == -np.inf


def test_logsumexp_against_torch_for_huge_values():
    torch = torch_or_skip()
    x = np.array([[1e4, 1e4 - 1.0, -1e4], [3.0, -2.0, 0.5]])
    out, (g,) = grads_of(lambda t: al.logsumexp(t, axis=1), x)
    t = torch.tensor(x, requires_grad=True)
    expected = torch.logsumexp(t, dim=1)
    expected.sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-15)
    shifted = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(g, shifted / shifted.sum(axis=1, keepdims=True), rtol=1e-15)
    # PyTorch's exp(x - logsumexp(x)) carries logsumexp's rounding (about 1e-12 at 1e4)
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-11)


# --- activations -----------------------------------------------------------------------------
def test_leaky_relu_at_zero_has_the_slope_and_keeps_float32():
    _, (g,) = grads_of(lambda t: al.leaky_relu(t, 0.1), np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(g, [0.1, 0.1, 1.0])  # as PyTorch: the slope at 0
    x = Tensor(np.array([-1.0, 2.0], dtype=np.float32), requires_grad=True)
    assert al.leaky_relu(x, np.float64(0.2)).dtype == np.float32  # a numpy scalar slope too
    with pytest.raises(TypeError, match="leaky_relu: negative_slope must be a number"):
        al.leaky_relu(x, "0.1")


def test_gelu_against_torch_tanh_form_at_large_and_small_values():
    torch = torch_or_skip()
    x = np.array([-30.0, -5.0, -1e-8, 0.0, 1e-8, 0.7, 5.0, 30.0])
    out, (g,) = grads_of(al.gelu, x)
    t = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.gelu(t, approximate="tanh")
    expected.sum().backward()
    # both lose digits in the far negative tail (ours, in the sigmoid form, loses fewer)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-13, atol=1e-15)


# --- shapes ----------------------------------------------------------------------------------
def test_pad_puts_the_constant_around_and_refuses_what_it_cannot_do():
    out = al.pad(Tensor(np.ones((1, 2)), requires_grad=True), ((1, 0), (0, 2)), constant_values=7)
    np.testing.assert_array_equal(out.data, [[7, 7, 7, 7], [1, 1, 7, 7]])
    with pytest.raises(ValueError, match="pad: only mode='constant'"):
        al.pad(Tensor([1.0]), 1, mode="reflect")
    with pytest.raises(TypeError, match="pad: constant_values receives no gradient"):
        al.pad(Tensor([1.0]), 1, constant_values=Tensor(2.0, requires_grad=True))
    with pytest.raises(TypeError, match="pad: pad_width must hold integers"):
        al.pad(Tensor([1.0]), 1.5)
    with pytest.raises(ValueError, match="^pad: "):
        al.pad(Tensor([1.0]), -1)


def test_split_returns_one_differentiable_tensor_per_piece():
    x = Tensor(np.arange(12.0).reshape(2, 6), requires_grad=True)
    pieces = np.split(x, [1, 4], axis=1)  # numpy's name, on a Tensor
    assert isinstance(pieces, list) and [p.shape for p in pieces] == [(2, 1), (2, 3), (2, 2)]
    assert all(isinstance(p, Tensor) and p.requires_grad for p in pieces)
    (pieces[0].sum() + 2 * pieces[2].sum()).backward()
    np.testing.assert_array_equal(x.grad, [[1, 0, 0, 0, 2, 2]] * 2)
    with pytest.raises(ValueError, match="split: 6 elements along axis 1 do not split into 4"):
        al.split(x, 4, axis=1)
    assert [p.shape for p in al.array_split(x, 4, axis=1)] == [(2, 2), (2, 2), (2, 1), (2, 1)]
    with pytest.raises(ValueError, match="split: cannot split a 0-d tensor"):
        al.split(Tensor(1.0), 1)


def test_tile_and_repeat_with_zero_counts_and_bad_counts():
    x = Tensor(np.arange(3.0), requires_grad=True)
    assert al.tile(x, 0).shape == (0,) and al.repeat(x, 0).shape == (0,)
    np.testing.assert_array_equal(x.repeat([2, 0, 1]).data, [0, 0, 2])
    x.repeat([2, 0, 1]).sum().backward()
    np.testing.assert_array_equal(x.grad, [2, 0, 1])
    with pytest.raises(ValueError, match="repeat: 2 repeat counts for 3 elements"):
        x.repeat([1, 2])
    with pytest.raises(ValueError, match="tile: reps must be non-negative integers"):
        al.tile(x, -1)


def test_squeeze_and_expand_dims_errors_name_the_op():
    with pytest.raises(ValueError, match="squeeze: .*shape \\(2, 1\\)"):
        al.squeeze(Tensor(np.ones((2, 1))), 0)
    with pytest.raises(np.exceptions.AxisError, match="expand_dims: "):
        al.expand_dims(Tensor(np.ones(2)), 3)


# --- einsum ------------------------------------------------------------------------------------
def test_einsum_forms_and_errors():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    t = Tensor(a, requires_grad=True)
    np.testing.assert_array_equal(al.einsum("ij,jk", t, b).data, np.einsum("ij,jk", a, b))
    np.testing.assert_array_equal(al.einsum(" i j -> j i ", t).data, a.T)
    np.testing.assert_array_equal(al.einsum("ij,ij->", a, a).data, np.einsum("ij,ij->", a, a))
    with pytest.raises(TypeError, match="einsum: the first argument must be the subscripts"):
        al.einsum(a, [0, 1], b, [1, 2])
    with pytest.raises(ValueError, match="einsum: 'ij,jk->ik' has 2 operand term"):
        al.einsum("ij,jk->ik", t)
    with pytest.raises(ValueError, match="^einsum: "):
        al.einsum("ijk->i", t)  # numpy's complaint, with the op's name in front


def test_einsum_with_a_constant_operand_gives_only_the_tensor_a_gradient():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    t = Tensor(b, requires_grad=True)
    al.einsum("ij,jk->ik", a, t).sum().backward()
    np.testing.assert_array_equal(t.grad, a.T @ np.ones((2, 4)))


# --- creation helpers ------------------------------------------------------------------------
def test_creation_helpers():
    assert al.zeros((2, 3)).dtype == np.float64 and not al.zeros(2).requires_grad
    assert al.ones(3, dtype=np.float32).dtype == np.float32
    leaf = al.full((2,), 1.5, requires_grad=True)
    assert leaf.requires_grad and leaf.is_leaf
    np.testing.assert_array_equal(leaf.data, [1.5, 1.5])
    np.testing.assert_array_equal(al.arange(3).data, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(al.arange(1, 2, 0.25).data, [1.0, 1.25, 1.5, 1.75])
    assert al.arange(3).dtype == np.float64
    t = Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    for like in (np.zeros_like(t), np.ones_like(t), al.zeros_like(t), al.ones_like(t)):
        assert isinstance(like, Tensor) and like.dtype == np.float32 and like.shape == (2, 2)
        assert not like.requires_grad
    assert al.ones_like(t, dtype=np.float64).dtype == np.float64


def test_every_new_op_answers_to_its_numpy_name():
    names = set(al.registry.supported_numpy())
    expected = [
        "sin", "cos", "log1p", "expm1", "square", "minimum", "min", "amin", "clip", "prod",
        "var", "std", "cumsum", "squeeze", "expand_dims", "broadcast_to", "flip", "pad",
        "split", "array_split", "tile", "repeat", "einsum", "tensordot", "outer",
        "remainder", "zeros_like", "ones_like",
    ]  # fmt: skip
    missing = [n for n in expected if f"numpy.{n}" not in names]
    assert not missing


# --- found by trying to break the ops (session 17) ----------------------------------------
def test_a_class_of_logit_minus_inf_adds_nothing_to_the_cross_entropy():
    # Masked logits: 0 * inf would make the loss NaN; the limit (and PyTorch) give a number.
    from autograd_lite import ensemble

    z = np.array([[1.0, -np.inf, 2.0], [0.5, 1.5, -np.inf]])
    labels = np.array([0, 1])
    with np.errstate(invalid="ignore"):
        expected = -np.log(np.exp(z[[0, 1], labels]) / np.exp(z).sum(axis=1))
    for reduction, want in (("none", expected), ("sum", expected.sum()), ("mean", expected.mean())):
        loss = al.softmax_cross_entropy(Tensor(z), labels, reduction=reduction)
        np.testing.assert_allclose(loss.data, want, rtol=1e-15)
        step = al.compile(lambda z, labels, r=reduction: al.softmax_cross_entropy(z, labels, r))
        for _ in range(2):  # traced, then replayed
            np.testing.assert_array_equal(step(Tensor(z), labels).data, loss.data)
    losses = ensemble.cross_entropy(Tensor(z[None]), labels[None])
    np.testing.assert_allclose(losses.data, [expected.sum()], rtol=1e-15)


def test_norms_of_infinite_and_empty_arrays_are_numpys():
    for a, axis in (([np.inf, 1.0], None), ([[1.0, -np.inf], [2.0, 3.0]], 1), (np.zeros(0), None),
                    (np.zeros((3, 0)), 1)):  # fmt: skip
        a = np.array(a)
        got = al.norm(Tensor(a), axis=axis).data  # (rescaled where an entry is inf: ~1 ulp)
        np.testing.assert_allclose(got, np.linalg.norm(a, axis=axis), rtol=1e-15)


def test_reductions_of_empty_groups():
    empty = Tensor(np.zeros((3, 0)), requires_grad=True)
    assert al.max(empty, axis=0).shape == (0,) and al.min(empty, axis=0).shape == (0,)
    with pytest.raises(ValueError, match=r"max: nothing to reduce \(shape \(3, 0\), axis 1\)"):
        al.max(empty, axis=1)
    assert al.logsumexp(Tensor(np.zeros(0))).item() == -np.inf
    assert al.softmax(empty).shape == (3, 0)
    for spec in ("ij->i", "ij->"):  # a summed label of length 0
        out = al.einsum(spec, empty)
        out.backward(np.ones(out.shape))
        assert empty.grad.shape == (3, 0)
        empty.grad = None


def test_hooks_inside_vmap_say_what_is_not_possible():
    def hooked(x):
        h = x.sin()
        h.register_hook(lambda g: g * 2)
        return h.sum()

    def retained(x):
        h = x.sin()
        h.retain_grad()
        return h.sum()

    for fn, what in ((hooked, "register_hook"), (retained, "retain_grad")):
        with pytest.raises(RuntimeError, match=f"{what} inside al.func.vmap"):
            al.func.vmap(fn)(Tensor(np.ones((4, 3)), requires_grad=True))
