"""Learning-rate schedules: StepLR and CosineAnnealingLR, as torch.optim.lr_scheduler.

A scheduler sets ``lr`` in its optimizer's param groups. Create it after the optimizer, then
call ``scheduler.step()`` once per epoch, after ``optimizer.step()``::

    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, opt)
        sched.step()

Each rule is PyTorch's recursive form (the new lr from the current one), so the learning
rates equal PyTorch's bit for bit, also when something else changes ``lr`` between steps.
``state_dict()`` / ``load_state_dict()`` save and restore the schedule's position.
"""

from __future__ import annotations

import math
from typing import Any

from autograd_lite import validate
from autograd_lite.optim import Optimizer

__all__ = ["CosineAnnealingLR", "LRScheduler", "StepLR"]


class LRScheduler:
    """Base class: keeps the initial lrs (``base_lrs``) and the epoch count (``last_epoch``).

    Subclasses implement ``get_lr()``: the new lr of each param group at ``last_epoch``.
    Creating a scheduler counts as its first step (epoch 0, the lrs unchanged).
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: expected an autograd_lite optimizer, "
                f"got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    # The constructor's settings and how each is checked (load_state_dict checks them too).
    _settings: dict[str, Any] = {}

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set each param group's lr to the schedule's value."""
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def get_last_lr(self) -> list[float]:
        """The lrs set by the latest step, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The schedule's settings and position (everything but the optimizer)."""
        state = {k: v for k, v in self.__dict__.items() if k != "optimizer"}
        return {k: list(v) if isinstance(v, list) else v for k, v in state.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned (checked against this scheduler's keys)."""
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, dict):
            raise TypeError(f"{where}: expected a dict, got {type(state).__name__}")
        expected = set(self.__dict__) - {"optimizer"}
        if set(state) != expected:
            raise ValueError(
                f"{where}: missing keys {sorted(expected - set(state))}, "
                f"unexpected keys {sorted(set(state) - expected)}"
            )
        groups = len(self.optimizer.param_groups)
        checked: dict[str, Any] = {}
        for key in ("base_lrs", "_last_lr"):
            lrs = state[key]
            if not isinstance(lrs, list | tuple) or len(lrs) != groups:
                raise ValueError(f"{where}: {key} must be a list of {groups} lr(s), got {lrs!r}")
            checked[key] = [validate.non_negative_float(lr, f"{where}: {key}") for lr in lrs]
        checked["last_epoch"] = validate.seed(state["last_epoch"], f"{where}: last_epoch")
        for key, check in self._settings.items():  # as the constructor checks them
            checked[key] = check(state[key], f"{where}: {key}")
        # (all checked first: a refused state changes nothing; a subclass's own keys come too)
        self.__dict__.update({k: list(v) if isinstance(v, list) else v for k, v in state.items()})
        self.__dict__.update(checked)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply each lr by `gamma` every `step_size` epochs.

    lr = base_lr * gamma ** (epoch // step_size) (in PyTorch's recursive form).
    """

    _settings = {"step_size": validate.positive_int, "gamma": validate.non_negative_float}

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = validate.positive_int(step_size, "StepLR: step_size")
        self.gamma = validate.non_negative_float(gamma, "StepLR: gamma")
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneal each lr from its initial value to `eta_min` along a half cosine over `T_max` epochs.

    lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2 (in PyTorch's recursive
    form); past T_max it rises again along the same cosine, as PyTorch's does (no restarts).
    """

    _settings = {"T_max": validate.positive_int, "eta_min": validate.non_negative_float}

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803
        self.T_max = validate.positive_int(T_max, "CosineAnnealingLR: T_max")
        self.eta_min = validate.non_negative_float(eta_min, "CosineAnnealingLR: eta_min")
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        groups, epoch, low = self.optimizer.param_groups, self.last_epoch, self.eta_min
        if epoch == 0:
            return [group["lr"] for group in groups]
        if (epoch - 1 - self.T_max) % (2 * self.T_max) == 0:  # the last epoch was at the
            # bottom (cos = -1), where the ratio below would be 0/0: climb by the first step
            return [
                group["lr"] + (base - low) * (1 - math.cos(math.pi / self.T_max)) / 2
                for base, group in zip(self.base_lrs, groups, strict=True)
            ]
        now, before = (1 + math.cos(math.pi * e / self.T_max) for e in (epoch, epoch - 1))
        return [now / before * (group["lr"] - low) + low for group in groups]
