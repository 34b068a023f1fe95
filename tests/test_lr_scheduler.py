"""Learning-rate schedules (optim.lr_scheduler): against PyTorch over 100 steps, closed forms,
state_dict, and the refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autograd_lite import optim
from autograd_lite.optim import lr_scheduler
from autograd_lite.tensor import Tensor

STEPS = 100
SCHEDULES = [
    ("StepLR", {"step_size": 7}),
    ("StepLR", {"step_size": 1, "gamma": 0.9}),
    ("StepLR", {"step_size": 30, "gamma": 0.5}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 33, "eta_min": 1e-3}),
    ("CosineAnnealingLR", {"T_max": 1, "eta_min": 0.01}),
]
IDS = [f"{name}-{kwargs}" for name, kwargs in SCHEDULES]


def two_groups() -> list[dict]:
    rng = np.random.default_rng(0)
    w = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = Tensor(rng.standard_normal(2), requires_grad=True)
    return [{"params": [w], "lr": 0.1}, {"params": [b], "lr": 0.03}]


@pytest.mark.parametrize(("name", "kwargs"), SCHEDULES, ids=IDS)
@pytest.mark.parametrize("optimizer", ["SGD", "AdamW"])
def test_lrs_and_trajectory_match_torch_over_100_steps(name, kwargs, optimizer):
    torch = pytest.importorskip("torch")
    groups = two_groups()
    theirs = [
        {"params": [torch.tensor(g["params"][0].data.copy(), requires_grad=True)], "lr": g["lr"]}
        for g in groups
    ]
    hyper = {"momentum": 0.9} if optimizer == "SGD" else {}
    ours_opt = getattr(optim, optimizer)(groups, lr=1.0, **hyper)
    torch_opt = getattr(torch.optim, optimizer)(theirs, lr=1.0, foreach=False, **hyper)
    ours = getattr(lr_scheduler, name)(ours_opt, **kwargs)
    expected = getattr(torch.optim.lr_scheduler, name)(torch_opt, **kwargs)
    params = [g["params"][0] for g in groups]
    tparams = [g["params"][0] for g in theirs]
    for step in range(STEPS):
        for p, t in zip(params, tparams):
            p.grad = np.sin(p.data * (step + 1))  # any gradient, the same on both sides
            t.grad = torch.from_numpy(p.grad.copy())
        ours_opt.step()
        torch_opt.step()
        ours.step()
        expected.step()
        assert ours.get_last_lr() == expected.get_last_lr()  # bit for bit
        for p, t in zip(params, tparams):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=0, atol=1e-12)


def test_step_lr_is_base_lr_times_gamma_to_the_number_of_periods():
    opt = optim.SGD(two_groups(), lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    assert sched.get_last_lr() == [0.1, 0.03]  # creating it is epoch 0: nothing changes
    for epoch in range(1, 20):
        sched.step()
        expected = [0.1 * 0.5 ** (epoch // 3), 0.03 * 0.5 ** (epoch // 3)]
        np.testing.assert_allclose(sched.get_last_lr(), expected, rtol=1e-15)
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()


def test_cosine_follows_the_closed_form_and_returns_after_t_max():
    opt = optim.SGD(two_groups(), lr=1.0)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=8, eta_min=0.01)
    lrs = []
    for _ in range(16):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    closed = [0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * e / 8)) / 2 for e in range(1, 17)]
    np.testing.assert_allclose(lrs, closed, rtol=1e-12)
    assert abs(lrs[7] - 0.01) < 1e-15 and abs(lrs[15] - 0.1) < 1e-15  # bottom, then back up


def test_a_schedule_follows_lr_changes_made_between_steps():
    # the rules are recursive, as in PyTorch: they scale the lr the group has now
    opt = optim.SGD(two_groups(), lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    sched.step()
    opt.param_groups[0]["lr"] = 1.0
    sched.step()
    assert sched.get_last_lr() == [0.5, 0.015]


def test_state_dict_resumes_the_schedule():
    opt = optim.SGD(two_groups(), lr=1.0)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    state = sched.state_dict()
    assert state["last_epoch"] == 4 and "optimizer" not in state
    reference = [sched.step() or sched.get_last_lr() for _ in range(5)]

    resumed_opt = optim.SGD(two_groups(), lr=1.0)
    resumed = lr_scheduler.CosineAnnealingLR(resumed_opt, T_max=10)
    resumed.load_state_dict(state)
    for group, lr in zip(resumed_opt.param_groups, state["_last_lr"]):
        group["lr"] = lr  # the optimizer's own state_dict carries these in practice
    assert [resumed.step() or resumed.get_last_lr() for _ in range(5)] == reference


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError, "step_size must be positive"),
        (lambda o: lr_scheduler.StepLR(o, step_size=2.5), TypeError, "step_size must be an int"),
        (lambda o: lr_scheduler.StepLR(o, 2, gamma=-1), ValueError, "gamma must be a finite"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, 5, eta_min="0"), TypeError, "eta_min"),
        (lambda o: lr_scheduler.StepLR([o], 2), TypeError, "expected an autograd_lite optimizer"),
        (
            lambda o: lr_scheduler.StepLR(o, 2).load_state_dict({"last_epoch": 3}),
            ValueError,
            "missing keys",
        ),
    ],
)
def test_refusals(make, error, match):
    with pytest.raises(error, match=match):
        make(optim.SGD(two_groups(), lr=1.0))


@pytest.mark.parametrize(
    ("make", "key", "bad", "match"),
    [
        (lambda o: lr_scheduler.StepLR(o, 2), "gamma", -2.0, "gamma must be a finite number"),
        (lambda o: lr_scheduler.StepLR(o, 2), "step_size", 0, "step_size must be positive"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, 5), "T_max", 0, "T_max must be positive"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, 5), "eta_min", -1.0, "eta_min must be"),
        (lambda o: lr_scheduler.StepLR(o, 2), "last_epoch", -3, "last_epoch must be"),
        (lambda o: lr_scheduler.StepLR(o, 2), "base_lrs", [1.0], "base_lrs must be a list of 2"),
        (lambda o: lr_scheduler.StepLR(o, 2), "_last_lr", [1.0, -1.0], "_last_lr must be"),
    ],
)
def test_load_state_dict_checks_what_the_constructor_checks_and_changes_nothing(
    make, key, bad, match
):
    sched = make(optim.SGD(two_groups(), lr=1.0))
    sched.step()
    before = sched.state_dict()
    with pytest.raises((ValueError, TypeError), match=match):
        sched.load_state_dict({**before, key: bad})
    assert sched.state_dict() == before
