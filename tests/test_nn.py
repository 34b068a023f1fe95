"""Tests for autograd_lite.nn: registration, state dicts, initialisation, modes, training."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as al
from autograd_lite.nn import (
    MLP,
    Linear,
    Module,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from autograd_lite.tensor import Tensor


class Net(Module):
    """Own parameters assigned around two submodules, to pin down the order."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = Parameter(np.full(1, 2.0))
        self.fc1 = Linear(2, 3, rng=0)
        self.fc2 = Linear(3, 1, bias=False, rng=1)
        self.offset = Parameter(np.zeros(1))

    def forward(self, x):
        return self.fc2(self.fc1(x).tanh()) * self.scale + self.offset


NET_NAMES = ["scale", "offset", "fc1.weight", "fc1.bias", "fc2.weight"]


def snapshot(module: Module) -> dict[str, np.ndarray]:
    return {name: p.data.copy() for name, p in module.named_parameters()}


def assert_same_state(module: Module, expected: dict[str, np.ndarray]) -> None:
    current = dict(module.named_parameters())
    assert list(current) == list(expected)
    for name, value in expected.items():
        assert current[name].data.dtype == value.dtype
        np.testing.assert_array_equal(current[name].data, value, err_msg=name)


# --- Parameter ---------------------------------------------------------------------------
def test_parameter_is_a_float_tensor_that_requires_grad():
    p = Parameter([1, 2, 3])
    assert isinstance(p, Tensor)
    assert p.requires_grad
    assert p.dtype == np.float64
    np.testing.assert_array_equal(p.data, [1.0, 2.0, 3.0])
    assert Parameter(np.zeros(2, dtype=np.float32)).dtype == np.float32
    assert not Parameter(np.zeros(2), requires_grad=False).requires_grad
    assert "Parameter" in repr(p)


def test_parameter_from_tensor_shares_its_array():
    t = Tensor(np.arange(3.0))
    assert Parameter(t).data is t.data


def test_parameter_rejects_non_numeric_data():
    with pytest.raises(TypeError):
        Parameter(np.array(["a", "b"]))


def test_ops_on_parameters_give_plain_tensors():
    p = Parameter(np.ones(2))
    assert type(p * 2) is Tensor


# --- registration ------------------------------------------------------------------------
def test_registration_order_own_parameters_then_children():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == NET_NAMES
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert list(net._modules) == ["fc1", "fc2"]
    assert list(net.children()) == [net.fc1, net.fc2]
    assert [name for name, _ in net.named_modules()] == ["", "fc1", "fc2"]
    assert list(net.modules()) == [net, net.fc1, net.fc2]


def test_nested_names_are_dotted():
    outer = Sequential(Net(), Sequential(Linear(1, 1, rng=0)))
    names = [name for name, _ in outer.named_parameters()]
    assert names == [f"0.{n}" for n in NET_NAMES] + ["1.0.weight", "1.0.bias"]
    assert [name for name, _ in outer.named_modules()] == [
        "",
        "0",
        "0.fc1",
        "0.fc2",
        "1",
        "1.0",
    ]


def test_reassigning_replaces_in_place_and_keeps_the_position():
    net = Net()
    new_scale = Parameter(np.full(1, 3.0))
    net.scale = new_scale
    assert [name for name, _ in net.named_parameters()] == NET_NAMES
    assert dict(net.named_parameters())["scale"] is new_scale
    new_fc1 = Linear(2, 3, rng=5)
    net.fc1 = new_fc1
    assert list(net.children()) == [new_fc1, net.fc2]


def test_assigning_none_or_other_values_unregisters():
    net = Net()
    net.scale = None
    net.fc2 = "not a module"
    assert net.scale is None
    assert [name for name, _ in net.named_parameters()] == ["offset", "fc1.weight", "fc1.bias"]
    assert list(net.children()) == [net.fc1]
    net.offset = Tensor(np.zeros(1), requires_grad=True)  # a plain Tensor is not a parameter
    assert [name for name, _ in net.named_parameters()] == ["fc1.weight", "fc1.bias"]


def test_deleting_an_attribute_unregisters_it():
    net = Net()
    del net.fc1
    del net.offset
    assert [name for name, _ in net.named_parameters()] == ["scale", "fc2.weight"]
    assert not hasattr(net, "fc1")


def test_switching_between_parameter_and_module_under_one_name():
    net = Net()
    net.scale = Linear(1, 1, rng=0)
    assert "scale" not in net._parameters
    assert list(net._modules) == ["fc1", "fc2", "scale"]
    net.scale = Parameter(np.ones(1))
    assert "scale" not in net._modules
    assert list(net._parameters) == ["offset", "scale"]


def test_assigning_before_super_init_is_a_clear_error():
    class Broken(Module):
        def __init__(self) -> None:
            self.w = Parameter(np.ones(1))

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_plain_attributes_are_not_registered():
    net = Net()
    net.note = [Linear(1, 1, rng=0)]  # containers are not searched
    assert [name for name, _ in net.named_parameters()] == NET_NAMES
    assert net.note[0].in_features == 1


def test_base_module_forward_is_not_implemented():
    with pytest.raises(NotImplementedError, match="Module"):
        Module()(1)


def test_call_runs_forward():
    net = Net()
    x = np.array([[0.5, -1.0]])
    np.testing.assert_array_equal(net(x).data, net.forward(x).data)


# --- sharing -----------------------------------------------------------------------------
def test_shared_parameter_is_listed_once():
    a, b = Linear(3, 3, rng=0), Linear(3, 3, rng=1)
    b.weight = a.weight
    model = Sequential(a, b)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.bias"]
    assert len(list(model.parameters())) == 3
    assert list(model.state_dict()) == names


def test_shared_module_is_listed_once_and_its_gradients_add_up():
    layer = Linear(2, 2, rng=0)
    model = Sequential(layer, Tanh(), layer)
    assert len(list(model.parameters())) == 2
    assert len(list(model.modules())) == 3  # the Sequential, the Linear, the Tanh
    x = np.array([[0.3, -0.2]])
    model(x).sum().backward()
    w_grad = layer.weight.grad.copy()
    # The same network written out with the same parameter used twice.
    w, b = layer.weight, layer.bias
    w.grad = b.grad = None
    ((x @ w + b).tanh() @ w + b).sum().backward()
    np.testing.assert_allclose(w_grad, w.grad, rtol=1e-12)


def test_zero_grad_sets_every_grad_to_none():
    net = Net()
    net(np.ones((4, 2))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# --- state_dict / load_state_dict --------------------------------------------------------
def test_state_dict_holds_copies_in_parameter_order():
    net = Net()
    state = net.state_dict()
    assert list(state) == NET_NAMES
    assert all(type(v) is np.ndarray for v in state.values())
    state["fc1.weight"][...] = 42.0
    assert not np.any(net.fc1.weight.data == 42.0)


def test_state_dict_round_trip_restores_predictions_exactly():
    x = np.random.default_rng(3).standard_normal((7, 2))
    source = MLP([2, 5, 5, 2], activation="tanh", rng=1)
    target = MLP([2, 5, 5, 2], activation="tanh", rng=2)
    assert not np.array_equal(source(x).data, target(x).data)
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(target(x).data, source(x).data)


def test_load_state_dict_copies_in_place():
    net = Net()
    arrays = [p.data for p in net.parameters()]  # what an optimizer would hold on to
    state = {k: v + 1.0 for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    for (name, p), array in zip(net.named_parameters(), arrays, strict=True):
        assert p.data is array
        np.testing.assert_array_equal(array, state[name])
    state["scale"][...] = -1.0  # the model does not alias the caller's arrays
    assert net.scale.data[0] != -1.0


def test_load_state_dict_accepts_tensors_and_own_state():
    net = Net()
    before = snapshot(net)
    net.load_state_dict({k: Tensor(v) for k, v in net.state_dict().items()})
    net.load_state_dict(before)
    assert_same_state(net, before)


def _refuse(net: Net, state: dict, *fragments: str) -> None:
    before = snapshot(net)
    with pytest.raises(ValueError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert_same_state(net, before)


def test_load_refuses_missing_key():
    net = Net()
    state = {k: v + 1 for k, v in net.state_dict().items()}
    del state["fc1.bias"]
    _refuse(net, state, "missing keys: 'fc1.bias'")


def test_load_refuses_unexpected_key():
    net = Net()
    state = {k: v + 1 for k, v in net.state_dict().items()}
    state["fc3.weight"] = np.zeros((1, 1))
    _refuse(net, state, "unexpected keys: 'fc3.weight'")


def test_load_refuses_shape_mismatch():
    net = Net()
    state = {k: v + 1 for k, v in net.state_dict().items()}
    state["fc1.weight"] = np.zeros((3, 2))
    _refuse(net, state, "'fc1.weight' has shape (3, 2) in the state but (2, 3) in the model")


def test_load_refuses_dtype_mismatch():
    net = Net()
    state = {k: v + 1 for k, v in net.state_dict().items()}
    state["fc2.weight"] = state["fc2.weight"].astype(np.float32)
    _refuse(net, state, "'fc2.weight' has dtype float32 in the state but float64 in the model")


def test_load_refusal_lists_every_problem():
    net = Net()
    state = {k: v + 1 for k, v in net.state_dict().items()}
    del state["scale"], state["offset"]
    state["extra"] = np.zeros(1)
    state["fc1.bias"] = np.zeros(4, dtype=np.float32)
    _refuse(
        net,
        state,
        "missing keys: 'scale', 'offset'",
        "unexpected keys: 'extra'",
        "'fc1.bias' has shape (4,) in the state but (3,) in the model",
        "'fc1.bias' has dtype float32 in the state but float64 in the model",
    )


def test_load_refuses_a_non_mapping():
    net = Net()
    before = snapshot(net)
    with pytest.raises(TypeError, match="mapping"):
        net.load_state_dict(list(net.state_dict().values()))
    assert_same_state(net, before)


# --- Linear and initialisation -----------------------------------------------------------
def test_linear_shapes_and_forward():
    layer = Linear(3, 2, rng=0)
    assert layer.weight.shape == (3, 2)
    assert layer.bias.shape == (2,)
    x = np.random.default_rng(1).standard_normal((4, 3))
    out = layer(x)
    assert isinstance(out, Tensor)
    np.testing.assert_array_equal(out.data, x @ layer.weight.data + layer.bias.data)
    np.testing.assert_array_equal(layer(Tensor(x)).data, out.data)


def test_linear_without_bias():
    layer = Linear(3, 2, bias=False, rng=0)
    assert layer.bias is None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    x = np.ones((1, 3))
    np.testing.assert_array_equal(layer(x).data, x @ layer.weight.data)


def test_normal_init_draws_weight_then_bias():
    layer = Linear(2, 3, init="normal", rng=np.random.default_rng(0))
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(layer.weight.data, rng.standard_normal((2, 3)))
    np.testing.assert_array_equal(layer.bias.data, rng.standard_normal(3))


def test_an_int_seed_equals_a_generator_with_that_seed():
    for init in ("normal", "he", "xavier"):
        a = Linear(4, 3, init=init, rng=7)
        b = Linear(4, 3, init=init, rng=np.random.default_rng(7))
        assert_same_state(a, b.state_dict())


def test_a_generator_passed_in_advances():
    rng = np.random.default_rng(0)
    a, b = Linear(2, 2, rng=rng), Linear(2, 2, rng=rng)
    assert not np.array_equal(a.weight.data, b.weight.data)


def test_same_seed_gives_bit_identical_networks():
    for init in ("normal", "he", "xavier"):
        a = MLP([3, 8, 8, 2], init=init, rng=123)
        b = MLP([3, 8, 8, 2], init=init, rng=123)
        assert_same_state(a, b.state_dict())
    c = MLP([3, 8, 8, 2], rng=124)
    assert not np.array_equal(c[0].weight.data, a[0].weight.data)


def test_mlp_draws_layer_by_layer_from_one_generator():
    mlp = MLP([2, 4, 3], rng=9)
    rng = np.random.default_rng(9)
    expected = Sequential(Linear(2, 4, rng=rng), ReLU(), Linear(4, 3, rng=rng))
    assert_same_state(mlp, expected.state_dict())


def test_unseeded_networks_differ():
    assert not np.array_equal(Linear(5, 5).weight.data, Linear(5, 5).weight.data)


@pytest.mark.parametrize(
    ("init", "std"),
    [("normal", 1.0), ("he", np.sqrt(2 / 500)), ("xavier", np.sqrt(2 / (500 + 400)))],
)
def test_init_statistics(init, std):
    layer = Linear(500, 400, init=init, rng=0)
    w = layer.weight.data
    # 200,000 draws: the sample std is within 0.5% and the mean within 0.01 std.
    assert abs(w.std() / std - 1) < 0.01
    assert abs(w.mean()) < 0.01 * std
    if init == "normal":
        assert abs(layer.bias.data.std() - 1) < 0.2
    else:
        np.testing.assert_array_equal(layer.bias.data, np.zeros(400))


def test_float32_layers():
    layer = Linear(3, 2, init="normal", rng=0, dtype=np.float32)
    rng = np.random.default_rng(0)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, rng.standard_normal((3, 2)).astype("f4"))
    out = layer(np.ones((2, 3), dtype=np.float32))
    assert out.dtype == np.float32
    mlp = MLP([3, 4, 2], rng=0, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in mlp.parameters())


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: Linear(0, 3), ValueError, "in_features must be positive"),
        (lambda: Linear(3, -1), ValueError, "out_features must be positive"),
        (lambda: Linear(2.5, 3), TypeError, "in_features must be an int"),
        (lambda: Linear(True, 3), TypeError, "in_features must be an int"),
        (lambda: Linear(2, 3, init="uniform"), ValueError, "normal, he, xavier"),
        (lambda: Linear(2, 3, rng="seed"), TypeError, "Generator"),
        (lambda: Linear(2, 3, rng=1.5), TypeError, "Generator"),
        (lambda: Linear(2, 3, rng=-1), ValueError, "non-negative"),
        (lambda: Linear(2, 3, dtype=np.int64), TypeError, "floating point"),
        (lambda: MLP([2]), ValueError, "at least 2"),
        (lambda: MLP(3), TypeError, "list of ints"),
        (lambda: MLP([2, 0, 1]), ValueError, r"sizes\[1\] must be positive"),
        (lambda: MLP([2, 3.0, 1]), TypeError, r"sizes\[1\] must be an int"),
        (lambda: MLP([2, 3], activation="gelu"), ValueError, "relu, tanh, sigmoid"),
        (lambda: MLP([2, 3], init="zeros"), ValueError, "normal, he, xavier"),
        (lambda: Sequential(Linear(1, 1), np.tanh), TypeError, "argument 1 must be a Module"),
    ],
)
def test_bad_arguments_are_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- activations, Sequential and MLP -----------------------------------------------------
def test_activations():
    x = np.array([[-2.0, 0.0, 0.5]])
    np.testing.assert_array_equal(ReLU()(Tensor(x)).data, np.maximum(x, 0))
    np.testing.assert_allclose(Tanh()(Tensor(x)).data, np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(Sigmoid()(Tensor(x)).data, 1 / (1 + np.exp(-x)), rtol=1e-15)
    for act in (ReLU(), Tanh(), Sigmoid()):
        assert list(act.parameters()) == []


def test_sequential_container():
    layers = [Linear(2, 3, rng=0), ReLU(), Linear(3, 1, rng=1)]
    seq = Sequential(*layers)
    assert len(seq) == 3
    assert list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    assert list(seq._modules) == ["0", "1", "2"]
    head = seq[:2]
    assert type(head) is Sequential and list(head) == layers[:2]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    x = np.array([[1.0, -1.0]])
    expected = layers[2](layers[1](layers[0](x)))
    np.testing.assert_array_equal(seq(x).data, expected.data)
    assert len(Sequential()) == 0


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (3,), (2, 4, 3)])
def test_sequential_runs_linear_relu_as_one_op_with_the_same_numbers(bias, shape):
    rng = np.random.default_rng(0)
    seq = MLP([3, 5, 4, 2], rng=1, bias=bias)
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    out = seq(x)
    assert type(out._ctx.edges[0]).__name__ == "LinearReLU"  # (relu(x @ W + b) as one node)
    step = x
    for layer in seq:  # the layers one by one: Linear, then ReLU
        step = layer(step)
    np.testing.assert_array_equal(out.data, step.data)
    params = [x, *seq.parameters()]
    ours = al.grad((out * out).sum(), params, create_graph=True)
    theirs = al.grad((step * step).sum(), params, create_graph=True)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    second = al.grad(sum((g * g).sum() for g in ours), params)  # second order
    expected = al.grad(sum((g * g).sum() for g in theirs), params)
    for a, b in zip(second, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("activation", "cls"), [("relu", ReLU), ("tanh", Tanh), ("sigmoid", Sigmoid)]
)
def test_mlp_structure(activation, cls):
    mlp = MLP([2, 4, 5, 3], activation=activation, rng=0)
    kinds = [type(m) for m in mlp]
    assert kinds == [Linear, cls, Linear, cls, Linear]
    assert [(m.in_features, m.out_features) for m in mlp if isinstance(m, Linear)] == [
        (2, 4),
        (4, 5),
        (5, 3),
    ]
    assert mlp(np.zeros((6, 2))).shape == (6, 3)
    assert MLP([2, 3], bias=False, rng=0)[0].bias is None
    assert len(MLP([2, 3], rng=0)) == 1


# --- train / eval ------------------------------------------------------------------------
def test_train_and_eval_reach_every_descendant():
    model = Sequential(Net(), MLP([2, 2, 2], rng=0))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model[0].train()
    assert model[0].fc1.training and not model.training and not model[1][0].training
    assert model.train() is model
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())


# --- repr --------------------------------------------------------------------------------
def test_repr_nests_like_pytorch():
    class Head(Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = MLP([2, 4, 3], activation="tanh", rng=0)
            self.out = Linear(3, 1, bias=False, rng=0, dtype=np.float32)

    assert repr(Head()) == (
        "Head(\n"
        "  (body): MLP(\n"
        "    (0): Linear(in_features=2, out_features=4, bias=True)\n"
        "    (1): Tanh()\n"
        "    (2): Linear(in_features=4, out_features=3, bias=True)\n"
        "  )\n"
        "  (out): Linear(in_features=3, out_features=1, bias=False, dtype=float32)\n"
        ")"
    )
    assert repr(ReLU()) == "ReLU()"


def test_repr_matches_torch():
    nn = pytest.importorskip("torch.nn")
    ours = Sequential(Linear(2, 4, rng=0), ReLU(), Sequential(Linear(4, 1, rng=0), Sigmoid()))
    theirs = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 1), nn.Sigmoid()))
    assert repr(ours) == repr(theirs)


# --- gradients and training --------------------------------------------------------------
def _finite_difference_grads(model: Module, loss_fn, eps: float = 1e-6) -> list[np.ndarray]:
    grads = []
    for p in model.parameters():
        g = np.zeros_like(p.data)
        for i in np.ndindex(p.shape):
            old = p.data[i]
            p.data[i] = old + eps
            up = loss_fn().item()
            p.data[i] = old - eps
            down = loss_fn().item()
            p.data[i] = old
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_mlp_parameter_gradients_match_finite_differences(activation):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 3))
    y = np.array([0, 1, 2, 1, 0, 2])
    model = MLP([3, 4, 4, 3], activation=activation, rng=rng)

    def loss_fn():
        return al.softmax_cross_entropy(model(x), y)

    model.zero_grad()
    loss_fn().backward()
    analytic = [p.grad for p in model.parameters()]
    numeric = _finite_difference_grads(model, loss_fn)
    for (name, _), a, n in zip(model.named_parameters(), analytic, numeric, strict=True):
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_gradcheck_on_mlp_parameters(activation):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 2))
    y = np.array([0, 1, 1, 0, 1])
    model = MLP([2, 3, 2], activation=activation, rng=rng)
    # gradcheck perturbs each input's array in place, so the model sees the perturbation.
    assert al.gradcheck(lambda *params: al.softmax_cross_entropy(model(x), y), model.parameters())


def test_gradcheck_through_an_mlp():
    model = MLP([3, 5, 2], activation="tanh", rng=0)
    x = Tensor(np.random.default_rng(1).standard_normal((4, 3)), requires_grad=True)
    assert al.gradcheck(lambda inp: (model(inp) ** 2).sum(), [x])


def test_small_mlp_learns_xor_blobs_with_plain_sgd():
    rng = np.random.default_rng(0)
    centers = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    labels = np.array([0, 1, 1, 0])
    which = rng.integers(0, 4, size=200)
    x = centers[which] + 0.2 * rng.standard_normal((200, 2))
    y = labels[which]
    model = MLP([2, 16, 2], activation="tanh", init="xavier", rng=rng)
    params = list(model.parameters())
    lr = 0.5
    first = None
    for _ in range(300):
        loss = al.softmax_cross_entropy(model(x), y)
        first = loss.item() if first is None else first
        model.zero_grad()
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
    loss = al.softmax_cross_entropy(model(x), y).item()
    accuracy = np.mean(model(x).data.argmax(axis=1) == y)
    assert first > 0.5
    assert loss < 0.05
    assert accuracy == 1.0


def test_sequential_runs_a_forward_set_on_a_layer_instance():
    net = al.nn.Sequential(al.nn.Linear(2, 3, rng=0), al.nn.ReLU())
    net[1].forward = lambda x: x * 2.0  # no longer a plain ReLU: nothing is fused
    x = np.array([[1.0, -2.0]])
    expected = (x @ net[0].weight.data + net[0].bias.data) * 2.0
    np.testing.assert_array_equal(net(x).data, expected)
