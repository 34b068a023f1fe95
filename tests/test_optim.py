"""Optimizers: trajectories against torch.optim, in-place updates, state_dict and its refusals."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from autograd_lite import optim
from autograd_lite.io import load, save
from autograd_lite.tensor import Tensor

SHAPES = [(3, 4), (4,), ()]  # a matrix, a vector and a 0-d param
STEPS = 100


@pytest.fixture
def torch():
    """PyTorch, or skip: only the comparisons need it."""
    return pytest.importorskip("torch")


def make_params(seed: int = 0, dtype=np.float64) -> list[Tensor]:
    rng = np.random.default_rng(seed)
    return [Tensor(rng.normal(size=s).astype(dtype), requires_grad=True) for s in SHAPES]


class Quadratic:
    """f(x) = 0.5 x'Ax + b'x over all params flattened; its gradient is A x + b."""

    def __init__(self, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        n = sum(int(np.prod(s)) for s in SHAPES)
        m = rng.normal(size=(n, n))
        self.a = m @ m.T / n + 0.5 * np.eye(n)
        self.b = rng.normal(size=n)

    def grads(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        x = np.concatenate([a.ravel() for a in arrays])
        g = self.a @ x + self.b
        out, start = [], 0
        for a in arrays:
            out.append(g[start : start + a.size].reshape(a.shape))
            start += a.size
        return out

    def loss(self, arrays: list[np.ndarray]) -> float:
        x = np.concatenate([a.ravel() for a in arrays])
        return float(0.5 * x @ self.a @ x + self.b @ x)


def feed(params: list[Tensor], quad: Quadratic, step: int) -> list[np.ndarray]:
    """Set the quadratic's gradients; the 0-d param gets none on every third step."""
    grads = quad.grads([p.data for p in params])
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        p.grad = None if (i == 2 and step % 3 == 0) else g.copy()
    return grads


CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "betas": (0.3, 0.5), "eps": 1e-6, "weight_decay": 0.01}),
    ("AdamW", {"lr": 0.01}),  # PyTorch's default weight_decay, 0.01
    ("AdamW", {"lr": 0.05, "betas": (0.3, 0.5), "eps": 1e-6, "weight_decay": 0.3}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.0}),  # then it is Adam
]


@pytest.mark.parametrize(("name", "hyper"), CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_trajectory_matches_torch(torch, name, hyper):
    params = make_params()
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    ours_opt = getattr(optim, name)(params, **hyper)
    torch_opt = getattr(torch.optim, name)(theirs, foreach=False, **hyper)
    quad = Quadratic()
    start_loss = quad.loss([p.data for p in params])
    for step in range(STEPS):
        feed(params, quad, step)
        for p, t in zip(params, theirs, strict=True):
            t.grad = None if p.grad is None else torch.from_numpy(p.grad.copy())
        ours_opt.step()
        torch_opt.step()
        for i, (p, t) in enumerate(zip(params, theirs, strict=True)):
            np.testing.assert_allclose(
                p.data, t.detach().numpy(), rtol=0, atol=1e-12, err_msg=f"step {step}, param {i}"
            )
    assert quad.loss([p.data for p in params]) < start_loss - 1.0  # it really moved


def test_param_groups_match_torch(torch):
    params = make_params()
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    groups = [{"params": params[:1], "lr": 0.01}, {"params": params[1:], "momentum": 0.5}]
    torch_groups = [{"params": theirs[:1], "lr": 0.01}, {"params": theirs[1:], "momentum": 0.5}]
    ours_opt = optim.SGD(groups, lr=0.05, momentum=0.9)
    torch_opt = torch.optim.SGD(torch_groups, lr=0.05, momentum=0.9, foreach=False)
    quad = Quadratic()
    for step in range(STEPS):
        feed(params, quad, step)
        for p, t in zip(params, theirs, strict=True):
            t.grad = None if p.grad is None else torch.from_numpy(p.grad.copy())
        ours_opt.step()
        torch_opt.step()
    for p, t in zip(params, theirs, strict=True):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=0, atol=1e-12)
    assert [g["lr"] for g in ours_opt.param_groups] == [0.01, 0.05]
    assert [g["momentum"] for g in ours_opt.param_groups] == [0.9, 0.5]


def test_plain_sgd_is_exactly_p_minus_lr_grad():
    (p,) = make_params()[:1]
    before, grad = p.data.copy(), np.full(p.data.shape, 0.3)
    p.grad = grad
    optim.SGD([p], lr=0.1).step()
    np.testing.assert_array_equal(p.data, before - 0.1 * grad)


@pytest.mark.parametrize(("name", "hyper"), CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_updates_in_place_and_leaves_grad_alone(name, hyper):
    params = make_params()
    opt = getattr(optim, name)(params, **hyper)
    arrays = [p.data for p in params]
    quad = Quadratic()
    for step in range(3):
        grads = [g.copy() for g in quad.grads(arrays)]
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        before = [a.copy() for a in arrays]
        opt.step()
        for p, a, g, old, b in zip(params, arrays, grads, before, quad.grads(before), strict=True):
            assert p.data is a, "step must update .data in place"
            assert p.grad is g and np.array_equal(g, b), f"step {step} changed .grad"
            assert not np.array_equal(p.data, old)


def test_params_without_grad_are_skipped():
    params = make_params()
    for opt in (optim.SGD(params, lr=0.1, momentum=0.9), optim.Adam(params)):
        before = [p.data.copy() for p in params]
        params[0].grad = np.ones(SHAPES[0])
        params[1].grad = params[2].grad = None
        opt.step()
        assert not np.array_equal(params[0].data, before[0])
        np.testing.assert_array_equal(params[1].data, before[1])
        np.testing.assert_array_equal(params[2].data, before[2])
        assert list(opt.state) == [0]


def test_float32_params_keep_their_dtype():
    params = make_params(dtype=np.float32)
    for opt in (optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1), optim.Adam(params)):
        for p in params:
            p.grad = np.ones(p.data.shape, dtype=np.float64)
        opt.step()
        assert all(p.data.dtype == np.float32 for p in params)
        for entry in opt.state.values():
            assert all(v.dtype == np.float32 for v in entry.values() if isinstance(v, np.ndarray))


def test_zero_grad_sets_none():
    params = make_params()
    for p in params:
        p.grad = np.ones(p.data.shape)
    optim.Adam(params).zero_grad()
    assert all(p.grad is None for p in params)


def test_params_are_materialised_once():
    params = make_params()
    opt = optim.SGD((p for p in params), lr=0.1)  # a generator can only be read once
    for _ in range(2):
        for p in params:
            p.grad = np.ones(p.data.shape)
        opt.step()
    assert all(np.all(p.data != make_params()[i].data) for i, p in enumerate(params))


def test_lr_can_be_changed_between_steps():
    (p,) = make_params()[:1]
    opt = optim.SGD([p], lr=0.1)
    opt.param_groups[0]["lr"] = 0.5
    before = p.data.copy()
    p.grad = np.ones(p.data.shape)
    opt.step()
    np.testing.assert_array_equal(p.data, before - 0.5)


# ---------------------------------------------------------------------------- refusals


def test_rejects_bad_params():
    p = make_params()[0]
    frozen = Tensor(np.zeros(3), requires_grad=False)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam(iter([]))
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="param 1 is a ndarray, not a Tensor"):
        optim.SGD([p, np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="param 1 does not require grad"):
        optim.Adam([p, frozen])
    with pytest.raises(ValueError, match="param 1 is the same Tensor as param 0"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="'lrr'"):
        optim.SGD([{"params": [p], "lrr": 0.1}], lr=0.1)
    with pytest.raises(ValueError, match="param group 0 has no params"):
        optim.SGD([{"params": []}], lr=0.1)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda ps: optim.SGD(ps, lr=-0.1), ValueError, r"lr must be >= 0, got -0\.1"),
        (lambda ps: optim.SGD(ps, lr=float("nan")), ValueError, "lr must be >= 0, got nan"),
        (lambda ps: optim.SGD(ps, lr="0.1"), TypeError, "lr must be a real number, got '0.1'"),
        (lambda ps: optim.SGD(ps, lr=True), TypeError, "lr must be a real number"),
        (lambda ps: optim.SGD(ps, 0.1, momentum=-0.5), ValueError, "momentum must be >= 0"),
        (lambda ps: optim.SGD(ps, 0.1, weight_decay=-1), ValueError, "weight_decay must be"),
        (
            lambda ps: optim.SGD(ps, 0.1, dampening=1.5),
            ValueError,
            r"dampening must be in \[0, 1\]",
        ),
        (lambda ps: optim.SGD(ps, 0.1, nesterov=True), ValueError, "nesterov=True requires"),
        (
            lambda ps: optim.SGD(ps, 0.1, momentum=0.9, nesterov=True, dampening=0.1),
            ValueError,
            "dampening=0.1",
        ),
        (lambda ps: optim.SGD(ps, 0.1, nesterov=1), TypeError, "nesterov must be a bool"),
        (lambda ps: optim.Adam(ps, lr=-1), ValueError, "lr must be >= 0"),
        (
            lambda ps: optim.Adam(ps, betas=(1.0, 0.9)),
            ValueError,
            r"betas\[0\] must be in \[0, 1\)",
        ),
        (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be in"),
        (lambda ps: optim.Adam(ps, betas=(0.9,)), TypeError, "betas must be a pair"),
        (lambda ps: optim.Adam(ps, eps=-1e-8), ValueError, "eps must be >= 0"),
        (lambda ps: optim.Adam(ps, weight_decay=float("inf")), ValueError, "weight_decay"),
    ],
)
def test_rejects_bad_hyperparameters(make, error, message):
    with pytest.raises(error, match=message):
        make(make_params())


def test_rejects_grad_of_wrong_shape():
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    params[1].grad = np.ones((1,))  # would silently broadcast into shape (4,)
    with pytest.raises(ValueError, match=r"param 1 has shape \(4,\) but its grad has shape \(1,\)"):
        opt.step()


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1),
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1),
        lambda ps: optim.AdamW(ps, lr=0.1),
    ],
)
@pytest.mark.parametrize("bad", ["shape", "dtype"])
def test_a_step_refused_for_a_wrong_grad_changes_nothing(make, bad):
    params = make_params()
    opt = make(params)
    for p in params:
        p.grad = np.ones(p.shape)
    opt.step()  # some state to keep
    values, versions = [p.data.copy() for p in params], [p._version for p in params]
    state = opt.state_dict()
    params[1].grad = np.ones((1,)) if bad == "shape" else np.ones(params[1].shape, complex)
    with pytest.raises(ValueError if bad == "shape" else TypeError, match=f"param 1 has {bad}"):
        opt.step()  # param 0 comes first: it must not have been updated
    for p, v, n in zip(params, values, versions, strict=True):
        np.testing.assert_array_equal(p.data, v)
        assert p._version == n
    after = opt.state_dict()
    assert after["state"].keys() == state["state"].keys()
    for i, entry in state["state"].items():
        for k, v in entry.items():
            np.testing.assert_array_equal(after["state"][i][k], v)


# ------------------------------------------------------------------------- state_dict


def run(opt, params, quad, steps, first=0):
    for step in range(first, first + steps):
        feed(params, quad, step)
        opt.step()


def test_state_dict_layout():
    params = make_params()
    opt = optim.Adam(params, lr=0.01)
    run(opt, params, Quadratic(), 2)
    sd = opt.state_dict()
    assert list(sd) == ["state", "param_groups"]
    assert sd["param_groups"] == [
        {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "params": [0, 1, 2]}
    ]
    assert sorted(sd["state"]) == [0, 1, 2]
    assert sd["state"][0]["step"] == 2 and sd["state"][2]["step"] == 1  # param 2: no grad at 0
    assert sd["state"][0]["exp_avg"].shape == SHAPES[0]
    snapshot = sd["state"][0]["exp_avg"].copy()
    run(opt, params, Quadratic(), 1, first=2)
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], snapshot)  # a copy, not a view

    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    assert sgd.state_dict()["state"] == {}
    run(sgd, params, Quadratic(), 1, first=1)
    assert list(sgd.state_dict()["state"][0]) == ["momentum_buffer"]


@pytest.mark.parametrize(
    ("name", "hyper"),
    [
        ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
        ("Adam", {"lr": 0.01, "weight_decay": 0.01}),
        ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ],
)
def test_save_load_continues_the_same_trajectory(tmp_path, name, hyper):
    quad = Quadratic()
    reference = make_params()
    ref_opt = getattr(optim, name)(reference, **hyper)
    run(ref_opt, reference, quad, STEPS)

    params = make_params()
    opt = getattr(optim, name)(params, **hyper)
    run(opt, params, quad, STEPS // 2)
    save({"params": [p.data for p in params], "optim": opt.state_dict()}, tmp_path / "ckpt.npz")

    saved = load(tmp_path / "ckpt.npz")
    resumed = [Tensor(a, requires_grad=True) for a in saved["params"]]
    other_hyper = {**hyper, "lr": 123.0}  # the loaded hyperparameters must win
    new_opt = getattr(optim, name)(resumed, **other_hyper)
    new_opt.load_state_dict(saved["optim"])
    assert new_opt.param_groups[0]["lr"] == hyper["lr"]
    run(new_opt, resumed, quad, STEPS - STEPS // 2, first=STEPS // 2)
    for p, r in zip(resumed, reference, strict=True):
        np.testing.assert_array_equal(p.data, r.data)


def _adam_after_steps():
    params = make_params()
    opt = optim.Adam(params, lr=0.01)
    run(opt, params, Quadratic(), 4)
    return opt


def _set(path, value):
    def mutate(sd):
        target = sd
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path):
    def mutate(sd):
        target = sd
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


REFUSALS = [
    ("missing state", _delete(["state"]), ValueError, r"missing keys \['state'\]"),
    ("extra key", _set(["extra"], 1), ValueError, r"unexpected keys \['extra'\]"),
    ("groups not a list", _set(["param_groups"], {}), ValueError, "list of 1 group"),
    ("two groups", lambda sd: sd["param_groups"].append({}), ValueError, "list of 1 group"),
    ("group not dict", _set(["param_groups", 0], 3), TypeError, r"param_groups\[0\] must be"),
    ("missing hyper", _delete(["param_groups", 0, "eps"]), ValueError, r"missing keys \['eps'\]"),
    ("unknown hyper", _set(["param_groups", 0, "momentum"], 0.9), ValueError, "'momentum'"),
    ("bad lr", _set(["param_groups", 0, "lr"], -1.0), ValueError, "lr must be >= 0, got -1.0"),
    ("bad betas", _set(["param_groups", 0, "betas"], (0.9, 1.5)), ValueError, r"betas\[1\]"),
    ("fewer params", _set(["param_groups", 0, "params"], [0, 1]), ValueError, "holds params"),
    ("state not dict", _set(["state"], []), TypeError, "'state' must be a dict"),
    ("index out of range", _set(["state", 3], {}), ValueError, r"state key 3 is not a param"),
    ("str index", _set(["state", "0"], {}), ValueError, "state key '0'"),
    ("missing field", _delete(["state", 1, "exp_avg_sq"]), ValueError, "exp_avg_sq"),
    ("unknown field", _set(["state", 1, "momentum_buffer"], 0), ValueError, "momentum_buffer"),
    ("wrong shape", _set(["state", 0, "exp_avg"], np.zeros(3)), ValueError, r"shape \(3,\)"),
    (
        "wrong dtype",
        _set(["state", 0, "exp_avg"], np.zeros((3, 4), np.float32)),
        ValueError,
        "dtype float32",
    ),
    ("not an array", _set(["state", 0, "exp_avg"], [0.0] * 4), TypeError, "numpy array"),
    ("float step", _set(["state", 2, "step"], 1.5), TypeError, r"\['step'\] must be an int"),
    ("negative step", _set(["state", 2, "step"], -1), ValueError, r"must be >= 0, got -1"),
]


@pytest.mark.parametrize(
    ("mutate", "error", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_load_state_dict_refuses_and_changes_nothing(mutate, error, message):
    opt = _adam_after_steps()
    good = opt.state_dict()
    bad = copy.deepcopy(good)
    mutate(bad)
    # Valid hyperparameter changes come first, so a refusal must not apply them either.
    if isinstance(bad.get("param_groups"), list) and isinstance(bad["param_groups"][0], dict):
        bad["param_groups"][0]["weight_decay"] = 0.5
    with pytest.raises(error, match=message):
        opt.load_state_dict(bad)
    assert_same_state(opt.state_dict(), good)


def test_load_state_dict_refuses_other_optimizer_and_non_dict():
    params = make_params()
    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="unexpected keys"):
        sgd.load_state_dict(_adam_after_steps().state_dict())
    with pytest.raises(TypeError, match="expected a dict"):
        sgd.load_state_dict([("state", {})])
    assert sgd.state_dict() == {
        "state": {},
        "param_groups": [
            {
                "lr": 0.1,
                "momentum": 0.9,
                "dampening": 0.0,
                "weight_decay": 0.0,
                "nesterov": False,
                "params": [0, 1, 2],
            }
        ],
    }


def test_loaded_state_is_copied():
    opt = _adam_after_steps()
    sd = opt.state_dict()
    opt.load_state_dict(sd)
    sd["state"][0]["exp_avg"][...] = 7.0
    assert not np.any(opt.state[0]["exp_avg"] == 7.0)


def assert_same_state(a, b):
    assert list(a) == list(b)
    assert a["param_groups"] == b["param_groups"]
    assert list(a["state"]) == list(b["state"])
    for i, entry in a["state"].items():
        assert list(entry) == list(b["state"][i])
        for key, value in entry.items():
            np.testing.assert_array_equal(value, b["state"][i][key])


def test_checkpointed_mlp_resumes_bit_for_bit(tmp_path):
    """Real backward through nn.MLP: train, checkpoint model + Adam, resume in fresh objects."""
    from autograd_lite import nn, softmax_cross_entropy

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-1.0, 0.7, (40, 2)), rng.normal(1.0, 0.7, (40, 2))])
    y = np.repeat([0, 1], 40)

    def train(model, opt, steps):
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = softmax_cross_entropy(model(Tensor(x)), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    model = nn.MLP([2, 8, 2], rng=1)
    opt = optim.Adam(model.parameters(), lr=0.02)
    first = train(model, opt, 30)
    save({"model": model.state_dict(), "optim": opt.state_dict()}, tmp_path / "ckpt.npz")
    train(model, opt, 30)

    ckpt = load(tmp_path / "ckpt.npz")
    resumed = nn.MLP([2, 8, 2], rng=2)
    resumed.load_state_dict(ckpt["model"])
    resumed_opt = optim.Adam(resumed.parameters(), lr=0.5)
    resumed_opt.load_state_dict(ckpt["optim"])
    train(resumed, resumed_opt, 30)

    assert first[-1] < 0.5 * first[0]
    np.testing.assert_array_equal(resumed(Tensor(x)).data, model(Tensor(x)).data)


def test_adamw_decays_the_weights_not_the_gradient():
    # With a zero gradient Adam's step is 0, so AdamW's update is the decay alone; Adam's L2
    # decay would instead enter the moments and move p by about lr (the step of a sign).
    p = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = np.zeros(2)
    opt.step()
    np.testing.assert_allclose(p.data, [0.95, -1.9], rtol=1e-15)
    q = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    l2 = optim.Adam([q], lr=0.1, weight_decay=0.5)
    q.grad = np.zeros(2)
    l2.step()
    np.testing.assert_allclose(q.data, [0.9, -1.9], rtol=1e-6)
    assert optim.AdamW([p]).param_groups[0]["weight_decay"] == 0.01  # PyTorch's default
