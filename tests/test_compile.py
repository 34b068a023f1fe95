"""al.compile: a replay gives exactly the eager results, and what it cannot replay raises."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_lite as al
from autograd_lite import Tensor, nn, optim
from tests.strategies import arrays, broadcast_pair, gapped_arrays, nonzero_arrays, shapes


def grads_of(params: list[Tensor]) -> list[np.ndarray | None]:
    return [None if p.grad is None else p.grad.copy() for p in params]


def run_both(fn, compiled, args_list, params):
    """Losses and gradients of `fn` eagerly and compiled, call after call."""
    for args in args_list:
        for p in params:
            p.grad = None
        eager = fn(*args)
        eager.backward()
        expected = (eager.data.copy(), grads_of(params))
        for p in params:
            p.grad = None
        out = compiled(*args)
        out.backward()
        got = (out.data.copy(), grads_of(params))
        np.testing.assert_array_equal(got[0], expected[0])
        for g, e in zip(got[1], expected[1], strict=True):
            np.testing.assert_array_equal(g, e)


# --- the moon network, both ways of writing the step ------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("form", ["nn", "composed"])
def test_the_moon_network_trains_exactly_as_eager(form, dtype):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 2)).astype(dtype), rng.integers(0, 2, 40)
    net = nn.Sequential(
        nn.Linear(2, 16, rng=1, dtype=dtype), nn.ReLU(), nn.Linear(16, 2, rng=2, dtype=dtype)
    )
    params = list(net.parameters())
    W1, b1, W2, b2 = params
    if form == "nn":
        fn = lambda x, t: al.softmax_cross_entropy(net(x), t, reduction="sum")  # noqa: E731
    else:
        fn = lambda x, t: al.softmax_cross_entropy(  # noqa: E731
            (x @ W1 + b1).relu() @ W2 + b2, t, reduction="sum"
        )
    step = al.compile(fn)
    eager_net = [p.data.copy() for p in params]
    losses = {"eager": [], "compiled": []}
    for name, f in (("eager", fn), ("compiled", step)):
        for p, start in zip(params, eager_net):
            p.data[...] = start
        opt = optim.SGD(params, lr=1e-2)
        for i in range(4):  # the optimizer changes the weights between calls
            idx = slice(10 * i, 10 * i + 10)
            opt.zero_grad()
            loss = f(X[idx], y[idx])
            loss.backward()
            opt.step()
            losses[name].append(loss.item())
        if name == "eager":
            after_eager = [p.data.copy() for p in params]
    assert step.traces == 1
    assert losses["compiled"] == losses["eager"]
    for p, e in zip(params, after_eager):
        np.testing.assert_array_equal(p.data, e)
        assert p.data.dtype == dtype


def test_kernels_compute_exactly_what_the_rules_compute(monkeypatch):
    rng = np.random.default_rng(3)
    W1, b1 = Tensor(rng.standard_normal((3, 8)), True), Tensor(rng.standard_normal(8), True)
    W2, b2 = Tensor(rng.standard_normal((8, 4)), True), Tensor(rng.standard_normal(4), True)
    params = [W1, b1, W2, b2]
    probs = rng.dirichlet(np.ones(4), size=5)

    def fn(x, labels):
        h = al.linear(x, W1, b1).relu()
        a = al.softmax_cross_entropy(h @ W2 + b2, labels, reduction="mean")
        return a + al.softmax_cross_entropy(h @ W2, probs, reduction="none").sum()

    args = [(rng.standard_normal((5, 3)), rng.integers(0, 4, 5)) for _ in range(3)]
    with_kernels = al.compile(fn)
    run_both(fn, with_kernels, args, params)
    module = sys.modules["autograd_lite.compile"]  # (al.compile is the function)
    monkeypatch.setattr(module, "_KERNELS", {})  # every op through its own rules
    run_both(fn, al.compile(fn), args, params)
    plan = next(iter(with_kernels.plans.values()))
    kinds = {type(step).__name__ for step in plan.steps.values()}
    assert {
        "_LinearKernel", "_ReLUKernel", "_AddKernel", "_MatMulKernel", "_CrossEntropyKernel"
    } <= kinds  # fmt: skip


def _network_params(seed: int) -> list[Tensor]:
    rng = np.random.default_rng(seed)
    shapes = [(3, 8), (8,), (8, 4), (4,)]
    return [Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


def _assert_compiled_step_is_eager(make, params_seed: int, data_seed: int) -> None:
    """`make(params)` gives a training step; compiled, it must train exactly as eager."""
    eager_params, compiled_params = _network_params(params_seed), _network_params(params_seed)
    eager, compiled = make(eager_params), al.compile(make(compiled_params))
    rng = np.random.default_rng(data_seed)
    for _ in range(4):
        x, labels = rng.standard_normal((5, 3)), rng.integers(0, 4, 5)
        assert eager(x, labels).item() == compiled(x, labels).item()
        for p, q in zip(eager_params, compiled_params, strict=True):
            np.testing.assert_array_equal(q.data, p.data)
            np.testing.assert_array_equal(q.grad, p.grad)
    assert compiled.traces == 1


# Networks whose gradients meet, pass through and branch: the generated backward writes some
# gradients over arrays it owns, which must never be an array another gradient still uses.
KERNEL_PROGRAMS = {
    "x@W + x@W": lambda x, W1, b1, W2, b2: ((x @ W1) + (x @ W1) + b1).relu() @ W2 + b2,
    "h + h": lambda x, W1, b1, W2, b2: (lambda h: (h + h) @ W2 + b2)((x @ W1 + b1).relu()),
    "relu twice": lambda x, W1, b1, W2, b2: (x @ W1 + b1).relu().relu() @ W2 + b2,
    "h + relu(h)": lambda x, W1, b1, W2, b2: (lambda h: (h + h.relu()) @ W2 + b2)(x @ W1 + b1),
    "b + b": lambda x, W1, b1, W2, b2: (x @ W1 + (b1 + b1)).relu() @ W2 + b2,
    "a rule between": lambda x, W1, b1, W2, b2: (x @ W1 + b1).tanh().relu() @ W2 + b2,
}


@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
@pytest.mark.parametrize("name", list(KERNEL_PROGRAMS))
def test_networks_whose_gradients_meet_replay_exactly(name, reduction):
    params = _network_params(4)
    logits = KERNEL_PROGRAMS[name]

    def fn(x, labels):
        return al.softmax_cross_entropy(logits(x, *params), labels, reduction=reduction).sum()

    rng = np.random.default_rng(5)
    args = [(rng.standard_normal((5, 3)), rng.integers(0, 4, 5)) for _ in range(3)]
    step = al.compile(fn)
    run_both(fn, step, args, params)
    assert step.traces == 1


@pytest.mark.parametrize("targets", ["int64", "int32", "uint8", "probabilities"])
def test_the_cross_entropy_kernel_takes_each_kind_of_targets(targets):
    params = _network_params(12)
    W1, b1, W2, b2 = params

    def fn(x, t):
        return al.softmax_cross_entropy((x @ W1 + b1).relu() @ W2 + b2, t, reduction="mean")

    rng = np.random.default_rng(13)
    if targets == "probabilities":
        make = lambda: rng.dirichlet(np.ones(4), size=5)  # noqa: E731
    else:
        make = lambda: rng.integers(0, 4, 5).astype(targets)  # noqa: E731
    step = al.compile(fn)
    run_both(fn, step, [(rng.standard_normal((5, 3)), make()) for _ in range(3)], params)
    assert step.traces == 1
    assert any(type(s).__name__ == "_CrossEntropyKernel" for s in step_kernels(step))


def step_kernels(step):
    return [s for plan in step.plans.values() for s in plan.steps.values()]


def test_backward_inside_fills_the_grad_of_each_calls_own_arguments():
    params = _network_params(6)
    W1, b1, W2, b2 = params

    def step(x, labels):
        loss = al.softmax_cross_entropy((x @ W1 + b1).relu() @ W2 + b2, labels, reduction="sum")
        x.grad = None
        for p in params:
            p.grad = None
        loss.backward()
        return loss

    compiled, rng = al.compile(step), np.random.default_rng(7)
    for _ in range(3):
        x, labels = Tensor(rng.standard_normal((5, 3)), True), rng.integers(0, 4, 5)
        compiled(x, labels)
        grads = [x.grad] + grads_of(params)
        x_eager = Tensor(x.data.copy(), True)
        step(x_eager, labels)
        for g, e in zip(grads, [x_eager.grad] + grads_of(params), strict=True):
            np.testing.assert_array_equal(g, e)
    assert compiled.traces == 1


def test_a_weight_given_a_new_dtype_or_shape_traces_again():
    params = _network_params(8)
    W1, b1, W2, b2 = params

    def fn(x, labels):
        return al.softmax_cross_entropy((x @ W1 + b1).relu() @ W2 + b2, labels, reduction="sum")

    step, rng = al.compile(fn), np.random.default_rng(9)
    x, labels = rng.standard_normal((5, 3)).astype(np.float32), rng.integers(0, 4, 5)
    for p in params:
        p.data = p.data.astype(np.float32)
    run_both(fn, step, [(x, labels)] * 2, params)
    for p in params:  # float64 weights: eager computes in float64, so must the replay
        p.data = p.data.astype(np.float64)
    run_both(fn, step, [(x, labels)] * 2, params)
    assert step(x, labels).dtype == np.float64
    W2.data, b2.data = rng.standard_normal((8, 3)), rng.standard_normal(3)  # 3 classes
    run_both(fn, step, [(x, labels % 3)] * 2, params)
    assert step.traces == 3


@pytest.mark.parametrize("after", ["nothing", "h", "h @ W2"])
def test_values_used_after_a_backward_inside_keep_their_values(after):
    # The generated backward may write gradients into forward arrays no longer needed:
    # never into one that the function reads again after its backward().
    def make(params):
        W1, b1, W2, b2 = params

        def step(x, labels):
            h = (x @ W1 + b1).relu()
            loss = al.softmax_cross_entropy(h @ W2 + b2, labels, reduction="sum")
            for p in params:
                p.grad = None
            loss.backward()
            with al.no_grad():
                for p in params:
                    p -= 0.1 * p.grad
            extra = {"nothing": None, "h": lambda: h.sum(), "h @ W2": lambda: (h @ W2).sum()}
            return loss if after == "nothing" else loss + extra[after]()

        return step

    _assert_compiled_step_is_eager(make, params_seed=10, data_seed=11)


@pytest.mark.parametrize("hidden", ["relu", "tanh then relu"])
def test_two_backwards_inside_one_compiled_step(hidden):
    # The second backward() reads the forward's values and the rules' saved values again:
    # the first must leave them as they were.
    def make(params):
        W1, b1, W2, b2 = params

        def step(x, labels):
            h = x @ W1 + b1
            h = h.relu() if hidden == "relu" else h.tanh().relu()
            loss = al.softmax_cross_entropy(h @ W2 + b2, labels, reduction="sum")
            for p in params:
                p.grad = None
            loss.backward(retain_graph=True)
            first = [p.grad for p in params]
            for p in params:
                p.grad = None
            (loss * 2.0).backward()
            with al.no_grad():
                for p, g in zip(params, first):
                    p -= 0.1 * (g + p.grad)
            return loss

        return step

    _assert_compiled_step_is_eager(make, params_seed=14, data_seed=15)


# --- random programs from the test suite's strategies ----------------------------------------
PROGRAMS = {
    "arithmetic": (
        lambda a, b: ((a * b + a / (b * b + 1.0)) ** 2).sum(),
        broadcast_pair(),
    ),
    "reductions": (
        lambda a, b: (a.max(axis=-1, keepdims=True) + b).mean() + (a - b).sum() * 0.5,
        broadcast_pair(first=gapped_arrays, max_dims=2),
    ),
    "elementwise": (
        lambda a, b: (a.tanh() + b.exp() + al.sigmoid(a * b) + al.abs(a) * al.sqrt(b * b)).sum(),
        broadcast_pair(first=gapped_arrays),
    ),
    "where and comparisons": (
        lambda a, b: al.where(a > 0, a * b, b - a).sum() + al.maximum(a, b).sum(),
        broadcast_pair(first=gapped_arrays, second=lambda s: gapped_arrays(s, offset=0.0)),
    ),
    "shapes and indexing": (
        lambda a, b: (
            (al.concatenate([a.reshape(-1), b.reshape(-1)])[::2] ** 2).sum() + (a.T**3).sum()
        ),
        broadcast_pair(),
    ),
    "values of a traced array": (  # numpy on .data: recorded, replayed, no gradient
        lambda a, b: (a * (a.data > 0) + b * np.abs(b.data)).sum(),
        broadcast_pair(second=nonzero_arrays),
    ),
}


@pytest.mark.parametrize("name", list(PROGRAMS))
@settings(max_examples=10)
@given(data=st.data())
def test_random_programs_replay_exactly(name, data):
    fn, pairs = PROGRAMS[name]
    first = data.draw(pairs)
    shapes_ = [np.shape(x) for x in first]
    calls = [first] + [
        tuple(data.draw(arrays(s)) for s in shapes_) for _ in range(2)
    ]  # same shapes, new values: a replay each
    step = al.compile(lambda a, b: fn(a, b))
    for a, b in calls:
        ta, tb = Tensor(a, True), Tensor(b, True)
        out = step(ta, tb)
        out.backward()
        ea, eb = Tensor(a, True), Tensor(b, True)
        expected = fn(ea, eb)
        expected.backward()
        np.testing.assert_array_equal(out.data, expected.data)
        np.testing.assert_array_equal(ta.grad, ea.grad)
        np.testing.assert_array_equal(tb.grad, eb.grad)
    assert step.traces == 1


# Random networks of the ops with kernels (and a rule between), the loss's backward() inside
# the function or outside, once or twice: the generated code reuses arrays, never wrongly.
LAYERS = {
    "relu": lambda h, first, W, b: h.relu(),
    "tanh": lambda h, first, W, b: h.tanh(),
    "h + h": lambda h, first, W, b: h + h,
    "h + first": lambda h, first, W, b: h + first,
    "h @ W": lambda h, first, W, b: h @ W,
    "h + b": lambda h, first, W, b: h + b,
    "linear": lambda h, first, W, b: al.linear(h, W, b),
}


def _random_network(layers, reduction, backward, dtype, seed):
    rng = np.random.default_rng(seed)
    shapes = [(3, 8), (8,), (8, 8), (8, 4), (4,)]
    params = [Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]
    W1, b1, W, W2, b2 = params

    def fn(x, labels):
        h = first = x @ W1 + b1
        for layer in layers:
            h = LAYERS[layer](h, first, W, b1)
        loss = al.softmax_cross_entropy(h @ W2 + b2, labels, reduction=reduction).sum()
        if backward == "outside":
            return loss
        for p in params:
            p.grad = None
        loss.backward(retain_graph=backward == "inside, twice")
        grads = [p.grad for p in params]
        if backward == "inside, twice":
            for p in params:
                p.grad = None
            (loss * 3.0).backward()
            grads = [None if g is None else g + p.grad for g, p in zip(grads, params)]
        with al.no_grad():
            for p, g in zip(params, grads):
                if g is not None:
                    p -= 0.01 * g
        return loss + h.sum() if backward == "inside, then h" else loss

    return fn, params


@settings(max_examples=30, deadline=None)
@given(
    layers=st.lists(st.sampled_from(list(LAYERS)), max_size=5),
    reduction=st.sampled_from(["sum", "mean", "none"]),
    backward=st.sampled_from(["outside", "inside", "inside, then h", "inside, twice"]),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_random_networks_replay_exactly(layers, reduction, backward, dtype):
    fn, eager_params = _random_network(layers, reduction, backward, dtype, 0)
    fn_c, compiled_params = _random_network(layers, reduction, backward, dtype, 0)
    step, rng = al.compile(fn_c), np.random.default_rng(1)
    for _ in range(3):
        x, labels = rng.standard_normal((6, 3)).astype(dtype), rng.integers(0, 4, 6)
        for p in eager_params + compiled_params:
            p.grad = None
        expected, got = fn(x, labels), step(x, labels)
        if backward == "outside":
            expected.backward()
            got.backward()
        np.testing.assert_array_equal(got.data, expected.data)
        for p, q in zip(eager_params, compiled_params, strict=True):
            np.testing.assert_array_equal(q.data, p.data)
            assert (q.grad is None) == (p.grad is None)
            if p.grad is not None:
                np.testing.assert_array_equal(q.grad, p.grad)
    assert step.traces == 1


# --- when a call traces again -------------------------------------------------------------------
def test_new_shapes_dtypes_python_values_and_grad_mode_trace_again():
    w = Tensor(np.ones(3), requires_grad=True)
    step = al.compile(lambda x, scale: (x * w * scale).sum())
    step(np.ones(3), 2.0)
    step(np.ones(3) * 2, 2.0)
    assert step.traces == 1
    step(np.ones(3), 3.0)  # a Python scalar is part of the trace
    step(np.ones((2, 3)), 2.0)  # a new shape
    step(np.ones(3, dtype=np.float32), 2.0)  # a new dtype
    assert step.traces == 4
    with al.no_grad():
        out = step(np.ones(3), 2.0)
    assert step.traces == 5 and not out.requires_grad
    np.testing.assert_array_equal(step(np.arange(3.0), 3.0).data, 9.0)


def test_a_shape_that_depends_on_values_traces_again():
    w = Tensor(np.arange(5.0), requires_grad=True)
    step = al.compile(lambda x: (w[x > 0] ** 2).sum())
    for x in (np.array([1.0, -1, 1, 1, -1]), np.array([-1.0, -1, 1, -1, -1])):
        w.grad = None
        out = step(x)
        out.backward()
        np.testing.assert_array_equal(out.data, (w.data[x > 0] ** 2).sum())
        np.testing.assert_array_equal(w.grad, 2 * w.data * (x > 0))
    assert step.traces == 2


def test_the_cache_keeps_the_last_traces():
    step = al.compile(lambda x: (x * 2.0).sum(), cache_size=2)
    for n in (1, 2, 3, 1):
        step(Tensor(np.ones(n), True))
    assert step.traces == 4 and len(step.plans) == 2


# --- what cannot be replayed raises -------------------------------------------------------------
@pytest.mark.parametrize(
    "body, what",
    [
        (lambda x: x * 2 if x.sum() > 0 else x, "bool()"),
        (lambda x: x * float(x.sum()), "float()"),
        (lambda x: x * x.sum().item(), "item()"),
        (lambda x: x * int(x.sum()), "int()"),
        (lambda x: x * np.asarray(x).sum(), "np.asarray()"),
        (lambda x: x[: int(x.data[0])], "int()"),
    ],
    ids=["bool", "float", "item", "int", "np.asarray", "int of data"],
)
def test_python_control_flow_on_values_raises_naming_the_conversion(body, what):
    step = al.compile(lambda x: body(x).sum())
    with pytest.raises(
        al.TracingError, match=rf"{re.escape(what)} of a traced value.*cannot be replayed"
    ):
        step(Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True))


def test_the_result_must_be_a_tensor_from_ops_and_arguments_of_known_kinds():
    with pytest.raises(TypeError, match="must return a Tensor"):
        al.compile(lambda x: x.data.sum())(Tensor(np.ones(2)))
    with pytest.raises(TypeError, match="a Tensor that no op computed"):
        al.compile(lambda x: x)(Tensor(np.ones(2)))
    with pytest.raises(TypeError, match="argument 0 is a list"):
        al.compile(lambda x: Tensor(1.0))([1, 2])
    with pytest.raises(TypeError, match="expected a function"):
        al.compile(3)
    with pytest.raises(ValueError, match="cache_size"):
        al.compile(lambda x: x, cache_size=0)


def test_calling_again_before_backward_raises_instead_of_using_overwritten_values():
    w = Tensor(np.ones(3), requires_grad=True)
    step = al.compile(lambda x: (x * w).sum())
    step(np.ones(3))  # the trace
    first = step(np.ones(3))
    second = step(np.full(3, 2.0))
    with pytest.raises(RuntimeError, match="called again before this result's backward"):
        first.backward()
    second.backward()
    np.testing.assert_array_equal(w.grad, [2.0, 2.0, 2.0])
    assert first.item() == 3.0 and second.item() == 6.0  # the values are the caller's copies


def test_a_replayed_result_refuses_create_graph():
    w = Tensor(np.ones(3), requires_grad=True)
    step = al.compile(lambda x: (x * w * w).sum())
    step(np.ones(3))
    with pytest.raises(RuntimeError, match="create_graph"):
        al.grad(step(np.ones(3)), w, create_graph=True)


def test_a_replayed_result_takes_part_in_a_larger_graph():
    w = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    step = al.compile(lambda x: (x * w).sum())
    step(np.ones(2))
    total = step(np.array([3.0, 4.0])) * w.sum() + w.sum()
    total.backward()
    # d/dw [(x.w) (w1 + w2) + w1 + w2] = x (w1 + w2) + (x.w) + 1
    np.testing.assert_array_equal(w.grad, np.array([3.0, 4.0]) * -1.0 + (3.0 - 8.0) + 1.0)


def test_inside_al_func_transforms_the_function_runs_as_written():
    step = al.compile(lambda x: (x * x).sum())
    g = al.func.grad(step)(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g.data, [2.0, 4.0])
    per_example = al.func.vmap(al.func.grad(step))(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(per_example.data, [[2.0, 4.0], [6.0, 8.0]])


@given(shape=shapes(min_dims=1))
def test_a_decorated_function_keeps_its_name_and_works_as_a_decorator_with_options(shape):
    @al.compile(cache_size=1)
    def squared_norm(x):
        """The sum of squares."""
        return (x * x).sum()

    assert squared_norm.__name__ == "squared_norm" and squared_norm.__doc__ == "The sum of squares."
    x = Tensor(np.ones(shape), requires_grad=True)
    squared_norm(x).backward()
    squared_norm(x).backward()
    np.testing.assert_array_equal(x.grad, 4 * np.ones(shape))


# --- a whole training step: backward() and the update inside the compiled function ------------
def make_net(seed: int) -> nn.Module:
    return nn.Sequential(nn.Linear(2, 8, rng=seed), nn.Tanh(), nn.Linear(8, 3, rng=seed + 1))


def sgd_step(net: nn.Module, lr: float):
    def step(x, labels):
        loss = al.softmax_cross_entropy(net(x), labels)
        net.zero_grad()
        loss.backward()
        with al.no_grad():
            for p in net.parameters():
                p -= lr * p.grad  # in place: the replay writes into the weights
        return loss

    return step


def test_a_whole_training_step_compiles_to_the_eager_trajectory():
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((60, 2)), rng.integers(0, 3, 60)
    eager_net, compiled_net = make_net(0), make_net(0)
    eager, compiled = sgd_step(eager_net, 0.5), al.compile(sgd_step(compiled_net, 0.5))
    weights = [p.data for p in compiled_net.parameters()]
    for i in range(6):
        batch = slice(10 * i, 10 * i + 10)
        a, b = eager(X[batch], y[batch]), compiled(X[batch], y[batch])
        assert a.item() == b.item()
        for p, q in zip(eager_net.parameters(), compiled_net.parameters(), strict=True):
            np.testing.assert_array_equal(q.data, p.data)
            np.testing.assert_array_equal(q.grad, p.grad)  # .grad as the eager step left it
    assert compiled.traces == 1
    assert all(p.data is w for p, w in zip(compiled_net.parameters(), weights))  # in place
    assert not b.requires_grad  # backward() already ran inside: no graph is left


def test_inside_a_compiled_step_what_would_freeze_raises():
    net = make_net(1)
    opt = optim.SGD(net.parameters(), lr=0.1)

    def with_optimizer(x, labels):
        loss = al.softmax_cross_entropy(net(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()  # its Python state (a scheduler's lr, Adam's step count) would freeze
        return loss

    x, labels = np.ones((4, 2)), np.array([0, 1, 2, 0])
    with pytest.raises(al.TracingError, match=r"SGD.step\(\)"):
        al.compile(with_optimizer)(x, labels)

    def without_zero_grad(x, labels):
        loss = al.softmax_cross_entropy(net(x), labels)
        loss.backward()  # would add to a gradient kept from before
        return loss

    net.zero_grad()
    al.softmax_cross_entropy(net(x), labels).backward()
    with pytest.raises(al.TracingError, match="gradients it fills to be None"):
        al.compile(without_zero_grad)(x, labels)
    with pytest.raises(al.TracingError, match="al.grad"):
        al.compile(lambda x: al.grad((x * x).sum(), x)[0])(Tensor(np.ones(2), True))


def test_labels_are_checked_at_every_replay():
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    step = al.compile(lambda x, labels: al.softmax_cross_entropy(x @ w, labels))
    x = np.ones((2, 2))
    step(x, np.array([0, 2]))
    step(x, np.array([1, 2]))
    for bad in (np.array([0, 3]), np.array([-1, 0])):
        with pytest.raises(ValueError, match="out of range for 3 classes"):
            step(x, bad)


@pytest.mark.parametrize(
    "body",
    [
        lambda w, x: (w * x.data.T).sum(),
        lambda w, x: (w * x.data.reshape(3)).sum(),
        lambda w, x: w.sum() * x.data.dot(np.ones(3)),
        lambda w, x: (w * x.data.copy().astype(np.float64)).sum(),
        lambda w, x: (w * x.data[::-1]).sum(),
    ],
    ids=[".T", "reshape", "dot", "copy/astype", "indexing"],
)
def test_numpy_methods_on_traced_values_are_recorded_not_frozen(body):
    w = Tensor(np.arange(3.0), requires_grad=True)
    step = al.compile(lambda x: body(w, x))
    for v in (np.arange(3.0), np.arange(3.0) + 5, -np.arange(3.0)):
        assert step(Tensor(v)).item() == body(w, Tensor(v)).item()
    assert step.traces == 1


def test_writing_into_or_slicing_a_plain_copy_of_a_traced_value_raises():
    w = Tensor(np.arange(3.0), requires_grad=True)

    def writes(x):
        d = x.data
        d[0] = 1.0
        return (w * d).sum()

    with pytest.raises(al.TracingError, match="writing into a traced array"):
        al.compile(writes)(Tensor(np.ones(3)))
    with pytest.raises(al.TracingError, match="frozen"):
        al.compile(lambda x: (w[:2] * np.asarray(x.data)[:2]).sum())(Tensor(np.ones(3)))


# --- what a replay could get stale: rebound names, unfrozen weights, modes, indices ----------
def test_a_weight_that_starts_to_require_grad_traces_again():
    net = nn.Linear(3, 2, rng=0)
    net.weight.requires_grad_(False)

    def fn(x, labels):
        return al.softmax_cross_entropy(net(x), labels)

    step, x, labels = al.compile(fn), np.ones((4, 3)), np.array([0, 1, 1, 0])
    run_both(fn, step, [(x, labels)] * 2, [net.bias])
    net.weight.requires_grad_(True)  # unfrozen: the replay must give it a gradient
    run_both(fn, step, [(x, labels)] * 2, [net.weight, net.bias])
    assert step.traces == 2


_GLOBAL_WEIGHT = Tensor(np.ones((3, 1)), requires_grad=True)


def _reads_a_global(x):
    return (x @ _GLOBAL_WEIGHT).sum()


def test_a_rebound_module_attribute_closure_variable_or_global_traces_again():
    global _GLOBAL_WEIGHT
    net = nn.Linear(3, 1, rng=0)
    W = Tensor(np.ones((3, 1)), requires_grad=True)

    def fn(x):
        return (net(x) ** 2).sum() + (x @ W).sum()

    step, x = al.compile(fn), np.random.default_rng(2).standard_normal((4, 3))
    run_both(fn, step, [(x,)] * 2, [net.weight, net.bias, W])
    net.weight = nn.Parameter(np.full((3, 1), 2.0))  # a module attribute
    run_both(fn, step, [(x,)] * 2, [net.weight, net.bias, W])
    W = Tensor(np.full((3, 1), 3.0), requires_grad=True)  # a closure variable
    run_both(fn, step, [(x,)] * 2, [net.weight, net.bias, W])
    assert step.traces == 3
    step = al.compile(_reads_a_global)
    run_both(_reads_a_global, step, [(x,)] * 2, [_GLOBAL_WEIGHT])
    _GLOBAL_WEIGHT = Tensor(np.full((3, 1), 4.0), requires_grad=True)
    run_both(_reads_a_global, step, [(x,)] * 2, [_GLOBAL_WEIGHT])
    assert step.traces == 2


def test_train_and_eval_trace_again_and_dropout_refuses_to_be_traced():
    class Scaled(nn.Module):  # Python control flow on a module's mode
        def forward(self, x):
            return x * (2.0 if self.training else 3.0)

    net = nn.Sequential(nn.Linear(3, 4, rng=0), Scaled())
    step, x = al.compile(lambda x: net(x).sum()), np.ones((2, 3))
    for mode in (True, False, True):
        net.train(mode)
        expected = net(x).sum().item()
        assert step(x).item() == step(x).item() == expected
    assert step.traces == 3
    dropping = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Dropout(0.5, rng=1))
    step = al.compile(lambda x: dropping(x).sum())
    with pytest.raises(al.TracingError, match="Dropout in training mode"):
        step(x)  # its mask would be replayed unchanged
    dropping.eval()
    assert step(x).item() == step(x).item() == dropping(x).sum().item()


def test_a_tensor_index_or_condition_given_as_an_argument_is_read_at_every_replay():
    W = Tensor(np.arange(5.0), requires_grad=True)

    def gather(i):
        return (W[i] * np.arange(1.0, 3.0)).sum()

    def masked(c):
        return al.where(c, W, 0.0).sum()

    indices = [Tensor(np.array(i)) for i in ([0, 1], [3, 4], [2, 2])]
    run_both(gather, al.compile(gather), [(i,) for i in indices], [W])
    masks = [Tensor(np.array(m, dtype=bool)) for m in ([1, 0, 0, 0, 1], [0, 0, 1, 1, 0])]
    run_both(masked, al.compile(masked), [(m,) for m in masks], [W])


def test_the_gradient_of_a_replayed_result_leaves_its_backward_for_later():
    W = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]) * 0.1, requires_grad=True)

    def fn(x):
        return (x @ W).tanh()

    x = Tensor(np.ones((3, 2)))
    expected = al.grad((fn(x) ** 2).sum(), [W])[0]
    step = al.compile(fn)
    step(x)
    y = step(x)  # a replay
    loss = (y * y).sum()
    al.grad(loss, [y], retain_graph=True)  # d loss / d y needs nothing of the replay
    loss.backward()
    np.testing.assert_array_equal(W.grad, expected)


def test_a_rebound_python_value_traces_again_and_random_draws_refuse_to_be_traced():
    x = Tensor(np.array([1.0, 2.0, 3.0]))
    scale = 2.0
    step = al.compile(lambda x: (x * scale).sum())
    assert step(x).item() == step(x).item() == 12.0
    scale = 3.0  # a closed-over Python value: the trace used the old one
    assert step(x).item() == 18.0 and step.traces == 2
    rng = np.random.default_rng(0)
    draws = [
        lambda x: (x * (rng.random(x.shape) > 0.5)).sum(),  # a Generator it closes over
        lambda x: (x * np.random.rand(3)).sum(),  # numpy's global generator
    ]
    for fn in draws:
        with pytest.raises(al.TracingError, match="draws random numbers"):
            al.compile(fn)(x)


def test_an_in_place_change_of_an_outside_tensor_is_replayed_even_before_any_op_reads_it():
    def make():
        count = Tensor(np.array(0.0))

        def fn(x):
            nonlocal count
            with al.no_grad():
                count += 1.0  # a step counter kept in a Tensor (the same object after +=)
            return (x * count).sum()

        return count, fn

    (count, fn), (eager_count, eager) = make(), make()
    step, x = al.compile(fn), Tensor(np.ones(2))
    for _ in range(4):
        assert step(x).item() == eager(x).item()
        assert count.item() == eager_count.item()
    assert step.traces == 1


def test_what_a_replay_cannot_take_from_numpy_raises_and_tensors_made_inside_are_replayed():
    x = Tensor(np.array([1.0, -2.0, 3.0]))
    for fn in (
        lambda x: x[np.nonzero(x.data > 0)].sum(),  # several arrays from one call
        lambda x: x[np.where(x.data > 0)].sum(),
        lambda x: al.Tensor(np.divmod(x.data, 2.0)[0]).sum(),
    ):
        with pytest.raises(al.TracingError, match="returns several arrays"):
            al.compile(fn)(x)

    def rebuilt(x):
        return (Tensor(x.data) * 2.0 + al.as_tensor(x * 3.0)).sum()

    step = al.compile(rebuilt)
    for values in ([1.0, 2.0, 3.0], [4.0, -5.0, 6.0], [0.5, 0.5, 0.5]):
        x = Tensor(np.array(values))
        assert step(x).item() == rebuilt(x).item()


def test_minus_zero_and_an_argument_passed_twice_are_their_own_signatures():
    x, y = Tensor(np.ones(3), requires_grad=True), Tensor(np.full(3, 2.0), requires_grad=True)

    def fn(a, b, s):
        return ((a * b) / (a * s)).tanh().sum()

    step = al.compile(fn)
    for args in [(x, x, 0.5), (x, y, 0.5), (x, x, 0.5), (y, x, 0.5)]:
        run_both(fn, step, [args], [x, y])
    reciprocal = al.compile(lambda a, s: (1.0 / (a * s)).tanh().sum())
    with np.errstate(divide="ignore"):
        assert reciprocal(x, 0.0).item() == 3.0
        assert reciprocal(x, -0.0).item() == -3.0


mean = 0.0  # a module-level name that is also an attribute name in the function below


def _reads_attributes_named_like_globals(x):
    return (x * 2.0).mean()


def test_what_does_not_trace_again_unrelated_modules_attribute_names_and_plain_loops():
    global mean
    net, other = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU()), nn.Linear(2, 2, rng=1)
    opt = optim.SGD(net.parameters(), lr=0.1)
    step = al.compile(lambda x: net(x).sum())
    x = np.ones((2, 3))
    for i in range(6):
        other.train(i % 2 == 0)  # another model's mode: nothing this function reads
        opt.zero_grad()
        step(x).backward()
        opt.step()  # in place: read afresh
    assert step.traces == 1
    net.eval()  # its own model's mode: traced again, once
    step(x), step(x)
    assert step.traces == 2
    means = al.compile(_reads_attributes_named_like_globals)
    for _ in range(5):
        mean = 0.9 * mean + means(Tensor(np.ones(3))).item()  # the global, not `.mean`
    assert means.traces == 1


def test_an_argument_that_is_also_read_from_outside_is_traced_again_when_it_changes():
    w, u = Tensor(np.full(3, 2.0), requires_grad=True), Tensor(np.full(3, 5.0), requires_grad=True)
    a = Tensor(np.array([1.0, 2.0, 4.0]))

    def fn(v):
        return (a * v * w).sum()  # v is w at the first call: one slot for both, at the trace

    step = al.compile(fn)
    for v in (w, u, w, u):
        assert step(v).item() == fn(v).item()


def test_a_scheduler_subclass_gets_its_own_state_back():
    class Plateau(optim.lr_scheduler.StepLR):
        def __init__(self, optimizer):
            self.best = float("inf")
            super().__init__(optimizer, step_size=2)

    params = [Tensor(np.ones(2), requires_grad=True)]
    sched = Plateau(optim.SGD(params, lr=1.0))
    sched.best = 2.0
    state = sched.state_dict()
    again = Plateau(optim.SGD(params, lr=1.0))
    again.load_state_dict(state)
    assert again.best == 2.0 and again.state_dict() == state
