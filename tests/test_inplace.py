"""In-place updates (`+= -= *= /= **= @=`, `t[i] = v`, `zero_()`) and the version counter.

The rules (autograd_lite/inplace.py): inside no_grad() every tensor changes in place; outside
it, a change that would need recording raises RuntimeError. A backward rule whose saved
values were changed in place since the op was recorded raises RuntimeError naming the op.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given

import autograd_lite as al
from autograd_lite import Tensor, nn, optim
from autograd_lite.tensor import value
from tests.strategies import arrays, assert_gradcheck, shapes

# name -> (in-place method, the same update on a numpy array in place)
INPLACE = {
    "+=": (operator.iadd, operator.iadd),
    "-=": (operator.isub, operator.isub),
    "*=": (operator.imul, operator.imul),
    "/=": (operator.itruediv, operator.itruediv),
    "**=": (operator.ipow, operator.ipow),
}


def square_leaf(dtype=np.float64) -> Tensor:
    return Tensor(np.array([[1.5, 0.5], [0.25, 2.0]], dtype=dtype), requires_grad=True)


OTHERS = {  # a Tensor, an ndarray and a Python scalar as the right-hand side
    "tensor": lambda: Tensor(np.array([[0.5, 2.0], [1.5, 0.75]]), requires_grad=True),
    "ndarray": lambda: np.array([0.5, 2.0]),
    "scalar": lambda: 1.5,
}


# --- inside no_grad: the data changes in place --------------------------------------------------
@pytest.mark.parametrize("other", list(OTHERS))
@pytest.mark.parametrize("op", list(INPLACE))
def test_inplace_operators_change_the_data_in_place_inside_no_grad(op, other):
    method, numpy_op = INPLACE[op]
    p = square_leaf()
    data, view = p.data, p.reshape(4)  # the array object, and a view of it
    rhs = OTHERS[other]()
    expected = numpy_op(p.data.copy(), np.asarray(value(rhs)))
    with al.no_grad():
        result = method(p, rhs)
    assert result is p and p.data is data  # the same tensor, the same memory
    np.testing.assert_array_equal(p.data, expected)
    np.testing.assert_array_equal(view.data, expected.reshape(4))  # views see the change
    assert p.requires_grad and p.is_leaf and p.grad_fn is None


def test_matmul_in_place_inside_no_grad():
    p = square_leaf()
    w = np.array([[0.0, 1.0], [1.0, 0.0]])
    expected = p.data @ w
    with al.no_grad():
        p @= w
    np.testing.assert_array_equal(p.data, expected)


def test_the_manual_sgd_idiom_trains_a_network():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 2)), rng.integers(0, 2, size=16)
    net = nn.MLP([2, 8, 2], rng=0)
    params = list(net.parameters())
    before = [p.data.copy() for p in params]
    losses = []
    for _ in range(20):
        net.zero_grad()
        loss = al.softmax_cross_entropy(net(x), y)
        loss.backward()
        losses.append(loss.item())
        with al.no_grad():
            for p in net.parameters():
                p -= 0.5 * p.grad
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(np.any(p.data != b) for p, b in zip(params, before))
    assert losses[-1] < 0.9 * losses[0]


def test_manual_sgd_matches_the_optimizer_bit_for_bit():
    def run(manual: bool) -> list[np.ndarray]:
        net = nn.MLP([2, 4, 2], rng=1)
        opt = optim.SGD(net.parameters(), lr=0.1)
        x, y = np.random.default_rng(2).normal(size=(8, 2)), np.arange(8) % 2
        for _ in range(5):
            net.zero_grad()
            al.softmax_cross_entropy(net(x), y).backward()
            if manual:
                with al.no_grad():
                    for p in net.parameters():
                        p -= 0.1 * p.grad
            else:
                opt.step()
        return [p.data for p in net.parameters()]

    for a, b in zip(run(True), run(False), strict=True):
        np.testing.assert_array_equal(a, b)


def test_manual_sgd_matches_pytorch():
    torch = pytest.importorskip("torch")
    w0 = np.array([[0.5, -1.0], [1.5, 0.25]])
    x = np.array([[1.0, 2.0], [-0.5, 0.5], [2.0, -1.0]])
    w, wt = Tensor(w0.copy(), requires_grad=True), torch.tensor(w0, requires_grad=True)
    for _ in range(3):
        w.grad, wt.grad = None, None
        (al.tanh(x @ w) ** 2).sum().backward()
        (torch.tanh(torch.from_numpy(x) @ wt) ** 2).sum().backward()
        with al.no_grad():
            w -= 0.1 * w.grad
        with torch.no_grad():
            wt -= 0.1 * wt.grad
    np.testing.assert_allclose(w.data, wt.detach().numpy(), rtol=1e-12)


def test_float32_stays_float32_in_place():
    p = square_leaf(np.float32)
    with al.no_grad():
        p -= 0.1 * np.ones((2, 2))  # a float64 array: numpy casts the result (same kind)
        p *= 2
        p[0, 0] = 7.0
    assert p.dtype == np.float32


def test_setitem_and_zero_inside_no_grad():
    p = square_leaf()
    data = p.data
    with al.no_grad():
        p[0] = Tensor(np.array([9.0, 8.0]), requires_grad=True)  # a Tensor gives its values
        p[Tensor(np.array([1])), Tensor(np.array([0]))] = -1.0  # Tensors as indices
    np.testing.assert_array_equal(p.data, [[9.0, 8.0], [-1.0, 2.0]])
    with al.no_grad():
        assert p.zero_() is p
    assert p.data is data and not p.data.any()


def test_constants_change_in_place_outside_no_grad():
    c = Tensor(np.array([1.0, 2.0]))
    c += 1
    c *= np.array([2.0, 3.0])
    c[0] = 0.5
    np.testing.assert_array_equal(c.data, [0.5, 9.0])
    i = Tensor(np.array([1, 2, 3]))  # integers too
    i += 1
    i[0] = 0
    np.testing.assert_array_equal(i.data, [0, 3, 4])
    assert i.dtype == np.int64


# --- outside no_grad: what would need recording raises -------------------------------------------
CHANGES = {
    **{op: (lambda t, m=method: m(t, 1.0)) for op, (method, _) in INPLACE.items()},
    "@=": lambda t: operator.imatmul(t, np.eye(2)),
    "t[index] = value": lambda t: t.__setitem__(0, 1.0),
    "zero_": lambda t: t.zero_(),
}


@pytest.mark.parametrize("op", list(CHANGES))
def test_changing_a_leaf_that_requires_grad_raises_outside_no_grad(op):
    p = square_leaf()
    before = p.data.copy()
    with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad.*no_grad"):
        CHANGES[op](p)
    np.testing.assert_array_equal(p.data, before)  # nothing was written


@pytest.mark.parametrize("op", list(CHANGES))
def test_changing_the_result_of_a_recorded_op_raises_outside_no_grad(op):
    y = square_leaf() * 2.0
    before = y.data.copy()
    with pytest.raises(RuntimeError, match=r"result of a recorded op \(mul\).*t = t \+ x"):
        CHANGES[op](y)
    np.testing.assert_array_equal(y.data, before)


def test_writing_a_value_that_requires_grad_into_a_constant_raises():
    c = Tensor(np.zeros((2, 2)))
    x = square_leaf()
    for change in (lambda: c.__iadd__(x), lambda: c.__setitem__(0, x[0])):
        with pytest.raises(RuntimeError, match="gradient would be lost"):
            change()
    assert not c.data.any()
    with al.no_grad():  # values only: allowed
        c += x
    np.testing.assert_array_equal(c.data, x.data)


def test_the_result_of_a_recorded_op_changes_inside_no_grad_and_its_graph_stays():
    x = square_leaf()
    y = x + 1.0  # Add saves nothing: its gradient does not depend on y's values
    with al.no_grad():
        y *= 3.0
    np.testing.assert_array_equal(y.data, (x.data + 1.0) * 3.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 2)))


def test_in_place_errors_name_the_op_and_the_dtypes_or_shapes():
    i = Tensor(np.array([1, 2]))
    with pytest.raises(TypeError, match=r"/=.*int64.*float64"):
        i /= 2  # as numpy: the float result cannot be written into integers
    c = Tensor(np.zeros(3))
    with pytest.raises(ValueError, match=r"\+=.*\(3,\).*\(2, 3\)"):
        c += np.ones((2, 3))  # the tensor cannot grow
    r = Tensor(np.broadcast_to(np.zeros(2), (3, 2)))  # a read-only array
    for change in (lambda: r.__iadd__(1.0), lambda: r.__setitem__(0, 1.0), r.zero_):
        with pytest.raises(ValueError, match="read-only"):
            change()


# --- the version counter ---------------------------------------------------------------------
def test_version_counts_in_place_changes_and_is_shared_with_views():
    p = square_leaf()
    assert p._version == 0
    view, detached = p[0], p.detach()
    with al.no_grad():
        p += 1
        view *= 2  # writes into p's memory
        detached[1] = 0.0
    assert p._version == view._version == detached._version == 3
    p.data = p.data.copy()  # a new array: a new memory, unchanged so far
    assert p._version == 0
    assert Tensor(np.ones(2))._version == 0


def _step_sgd(p):
    p.grad = np.ones_like(p.data)
    optim.SGD([p], lr=0.1).step()


def _step_sgd_momentum(p):
    p.grad = np.ones_like(p.data)
    optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01).step()


def _step_adam(p):
    p.grad = np.ones_like(p.data)
    optim.Adam([p], lr=0.1).step()


def _no_grad(change):
    def run(p):
        with al.no_grad():
            change(p)

    return run


def _load_state(p):
    class One(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(p)  # shares p's array

    One().load_state_dict({"w": np.zeros(p.shape)})


# Every way the library changes a tensor's memory in place. Each is applied to the saved
# tensor `p` (a leaf that requires grad) after the forward pass and before backward.
WAYS = {
    **{op: _no_grad(lambda p, m=method: m(p, 1.5)) for op, (method, _) in INPLACE.items()},
    "@=": _no_grad(lambda p: operator.imatmul(p, np.eye(2) * 2)),
    "t[index] = value": _no_grad(lambda p: p.__setitem__((0, 1), 5.0)),
    "zero_": _no_grad(lambda p: p.zero_()),
    "through a view": _no_grad(lambda p: p[1].__imul__(3.0)),
    "through detach()": _no_grad(lambda p: p.detach().__iadd__(1.0)),
    "SGD step": _step_sgd,
    "SGD step with momentum": _step_sgd_momentum,
    "Adam step": _step_adam,
    "load_state_dict": _load_state,
}


@pytest.mark.parametrize("way", list(WAYS))
def test_backward_raises_when_a_saved_input_was_changed_in_place(way):
    p = square_leaf()
    w = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    loss = (p @ w).sum()  # matmul saves p and w
    WAYS[way](p)
    with pytest.raises(RuntimeError, match=r"^matmul: its input 0, saved for backward, was change"):
        loss.backward()


OPTIMIZER_STEPS = ("SGD step", "SGD step with momentum", "Adam step")  # they change leaves only


@pytest.mark.parametrize("way", [w for w in WAYS if w not in OPTIMIZER_STEPS])
def test_backward_raises_when_a_saved_output_was_changed_in_place(way):
    p = square_leaf()
    y = p.tanh()  # tanh saves its output: that is what is changed
    loss = y.sum()  # sum saves nothing
    WAYS[way](y)
    with pytest.raises(RuntimeError, match=r"^tanh: its output, saved for backward"):
        loss.backward()


def test_al_grad_and_create_graph_raise_too():
    p = square_leaf()
    y = (p * p).sum()
    with al.no_grad():
        p += 1.0
    with pytest.raises(RuntimeError, match="^mul:"):
        al.grad(y, p)
    p = square_leaf()
    (g,) = al.grad((p**3).sum(), p, create_graph=True)  # g = 3 p^2 saves p
    with al.no_grad():
        p -= 1.0
    with pytest.raises(RuntimeError, match="^(mul|pow):"):
        g.sum().backward()


def test_a_user_functions_saved_values_are_checked():
    class Square(al.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    x = square_leaf()
    y = Square.apply(x).sum()
    with al.no_grad():
        x[0, 0] = 10.0
    with pytest.raises(RuntimeError, match="^square: its input 0"):
        y.backward()


def test_changes_that_no_rule_depends_on_keep_the_gradient_right():
    p, q = square_leaf(), square_leaf()
    loss = (p * 3.0 + q.exp()).sum()
    other = Tensor(np.ones(3))
    other += 1  # an unrelated tensor changes: the counter moves, the check finds nothing
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(p.grad, np.full((2, 2), 3.0))
    with al.no_grad():
        p += 1.0  # changed after backward, before the next one: mul saved p, so it raises
    with pytest.raises(RuntimeError, match="^mul:"):
        loss.backward()


def test_changing_values_after_backward_is_the_usual_training_loop():
    p = square_leaf()
    for _ in range(3):
        p.grad = None
        loss = (p * p).sum()
        loss.backward()
        np.testing.assert_array_equal(p.grad, 2 * p.data)
        with al.no_grad():
            p -= 0.1 * p.grad


def test_rebinding_data_is_not_an_in_place_change():
    p = square_leaf()
    loss = (p * p).sum()
    old = p.data.copy()
    p.data = p.data + 100.0  # the node keeps the old array, unchanged
    loss.backward()
    np.testing.assert_array_equal(p.grad, 2 * old)


def test_an_index_or_condition_tensor_changed_later_does_not_change_the_gradient():
    x = Tensor(np.arange(4.0), requires_grad=True)
    index, i, j = Tensor(np.array([0, 1])), Tensor(np.array(0)), Tensor(np.array(2))
    mask = Tensor(np.array([True, False, True, False]))
    loss = x[index].sum() + al.where(mask, x, 0.0).sum() + (x[[i, j]] * 10.0).sum()
    index[0] = 3  # constants: allowed outside no_grad; the ops kept copies
    mask[1] = True
    i += 1  # (a Tensor in a list index too)
    loss.backward()
    np.testing.assert_array_equal(x.grad, [12.0, 1.0, 11.0, 0.0])


# --- requires_grad_, clone ------------------------------------------------------------------
def test_requires_grad_():
    t = Tensor(np.ones(2))
    assert t.requires_grad_() is t and t.requires_grad
    t.requires_grad_(False)
    assert not t.requires_grad
    y = Tensor(np.ones(2), requires_grad=True) * 2
    assert y.requires_grad_() is y
    with pytest.raises(RuntimeError, match="only leaf tensors.*mul"):
        y.requires_grad_(False)
    with pytest.raises(TypeError, match="floating point.*int64"):
        Tensor(np.arange(2)).requires_grad_()


@given(x=shapes().flatmap(arrays))
def test_clone_has_its_own_memory_and_the_identity_gradient(x):
    t = Tensor(x, requires_grad=True)
    c = t.clone()
    assert not np.shares_memory(c.data, t.data) and c.requires_grad
    np.testing.assert_array_equal(c.data, x)
    assert_gradcheck(lambda a: a.clone() * a, x)
    with al.no_grad():
        c += 1.0  # a clone may be changed without touching the original
    np.testing.assert_array_equal(t.data, x)
