"""Optimizers that update Tensor parameters in place: SGD (momentum, Nesterov), Adam, AdamW.

The update rules follow ``torch.optim.SGD`` and ``torch.optim.Adam`` (default, non-amsgrad)
exactly, so the same gradients give the same trajectory. ``state_dict()`` returns plain Python
values and numpy arrays, ready for :func:`autograd_lite.io.save`::

    {"state": {0: {"momentum_buffer": array}, ...},          # per param index; SGD
     "param_groups": [{"lr": 0.1, "momentum": 0.9, ..., "params": [0, 1, 2]}]}

Adam's per-param state is ``{"step": int, "exp_avg": array, "exp_avg_sq": array}``. Params
are numbered in order across groups; a param gets a state entry at its first update.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from . import engine
from .engine import refuse_while_tracing
from .tensor import Tensor
from .versions import mark_changed

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]

Params = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer:
    """Base class: parameter groups (hyperparameters + params), per-param state, step().

    Subclasses set ``_state_fields`` (the keys of one param's state, each ``np.ndarray`` or
    ``int``), implement ``_check_hyper`` (validate and normalise one group's hyperparameters)
    and ``step``. Hyperparameters may be changed between steps through ``param_groups``,
    e.g. ``opt.param_groups[0]["lr"] = 0.01``.
    """

    _state_fields: dict[str, type] = {}

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        self.defaults = self._check_hyper(defaults, name)
        self.param_groups: list[dict[str, Any]] = _build_groups(params, self, name)
        self.state: dict[int, dict[str, Any]] = {}  # param index -> its state
        self._scratch: dict[int, np.ndarray] = {}  # per-param work buffers, never saved

    @classmethod
    def _check_hyper(cls, hyper: dict[str, Any], where: str) -> dict[str, Any]:
        raise NotImplementedError

    def step(self) -> None:
        """Update every param that has a gradient, in place (params with ``grad None`` skip)."""
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Drop every param's gradient (``p.grad = None``), so the next backward starts afresh."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters and a copy of the state, params replaced by their indices."""
        groups, start = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            hyper = {k: v for k, v in group.items() if k != "params"}
            groups.append({**hyper, "params": list(range(start, start + n))})
            start += n
        state = {
            i: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in entry.items()}
            for i, entry in sorted(self.state.items())
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by :meth:`state_dict` (copies the arrays).

        Everything is checked first (keys, group sizes, hyperparameter values, each state
        array's shape and dtype against its param); on any mismatch it raises and changes
        nothing.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{where}: expected a dict, got {type(state_dict).__name__}")
        _check_keys(where, state_dict, ["state", "param_groups"])
        groups = self._check_groups(state_dict["param_groups"], where)
        state = self._check_state(state_dict["state"], where)
        for mine, hyper in zip(self.param_groups, groups, strict=True):
            mine.update(hyper)
        self.state = state
        self._scratch.clear()

    def _check_groups(self, groups: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(groups, (list, tuple)) or len(groups) != len(self.param_groups):
            raise ValueError(
                f"{where}: 'param_groups' must be a list of {len(self.param_groups)} group(s), "
                f"got {_short(groups)}"
            )
        checked, start = [], 0
        for gi, (group, mine) in enumerate(zip(groups, self.param_groups, strict=True)):
            at = f"{where}: param_groups[{gi}]"
            if not isinstance(group, dict):
                raise TypeError(f"{at} must be a dict, got {type(group).__name__}")
            _check_keys(at, group, list(mine))
            n = len(mine["params"])
            expected = list(range(start, start + n))
            got = group["params"]
            if not isinstance(got, (list, tuple)) or list(got) != expected:
                raise ValueError(
                    f"{at}['params'] is {_short(got)}, but this optimizer's group {gi} "
                    f"holds params {expected}"
                )
            start += n
            checked.append(self._check_hyper({k: group[k] for k in mine if k != "params"}, at))
        return checked

    def _check_state(self, state: Any, where: str) -> dict[int, dict[str, Any]]:
        if not isinstance(state, dict):
            raise TypeError(f"{where}: 'state' must be a dict, got {type(state).__name__}")
        params = [p for group in self.param_groups for p in group["params"]]
        checked: dict[int, dict[str, Any]] = {}
        for index, entry in state.items():
            if type(index) is not int or not 0 <= index < len(params):
                raise ValueError(
                    f"{where}: state key {index!r} is not a param index in [0, {len(params)})"
                )
            at = f"{where}: state[{index}]"
            if not isinstance(entry, dict):
                raise TypeError(f"{at} must be a dict, got {type(entry).__name__}")
            _check_keys(at, entry, list(self._state_fields))
            data = params[index].data
            checked[index] = {
                key: _check_field(f"{at}[{key!r}]", entry[key], kind, data)
                for key, kind in self._state_fields.items()
            }
        return checked

    def _scratch_for(self, index: int, data: np.ndarray) -> np.ndarray:
        """A work buffer shaped like ``data``, reused across steps."""
        buf = self._scratch.get(index)
        if buf is None or buf.shape != data.shape or buf.dtype != data.dtype:
            buf = self._scratch[index] = np.empty_like(data)
        return buf

    def _check_grads(self) -> None:
        """Raise before any update if a gradient cannot be applied to its param, so that a
        refused step changes nothing (no param updated, no state advanced)."""
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is not None:
                    data = p.data
                    if grad.shape != data.shape:  # never let numpy broadcast a wrong gradient
                        raise ValueError(
                            f"{type(self).__name__}.step: param {index} has shape {data.shape} "
                            f"but its grad has shape {grad.shape}"
                        )
                    if grad.dtype is not data.dtype and not np.can_cast(
                        grad.dtype, data.dtype, "same_kind"
                    ):  # (the usual case, one dtype, costs one identity check)
                        raise TypeError(
                            f"{type(self).__name__}.step: param {index} has dtype {data.dtype} "
                            f"but its grad has dtype {grad.dtype}"
                        )
                index += 1

    def __repr__(self) -> str:
        groups = []
        for group in self.param_groups:
            hyper = ", ".join(f"{k}={v!r}" for k, v in group.items() if k != "params")
            groups.append(f"{{{hyper}, params: {len(group['params'])}}}")
        return f"{type(self).__name__}({', '.join(groups)})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov and L2 weight decay.

    With ``g`` the gradient, ``mu`` momentum, ``tau`` dampening, ``wd`` weight decay::

        g = g + wd * p                               (if wd != 0)
        b = g  (first step),  b = mu * b + (1 - tau) * g  (later)   (if mu != 0)
        g = g + mu * b  (nesterov)  or  g = b                        (if mu != 0)
        p = p - lr * g

    ``dampening`` is keyword-only so the positional order matches the documented signature.
    """

    _state_fields = {"momentum_buffer": np.ndarray}

    def __init__(
        self,
        params: Params,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        dampening: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
        super().__init__(params, defaults)

    @classmethod
    def _check_hyper(cls, hyper: dict[str, Any], where: str) -> dict[str, Any]:
        out = {
            "lr": _real(where, "lr", hyper["lr"]),
            "momentum": _real(where, "momentum", hyper["momentum"]),
            "dampening": _real(where, "dampening", hyper["dampening"], high=1.0),
            "weight_decay": _real(where, "weight_decay", hyper["weight_decay"]),
            "nesterov": _flag(where, "nesterov", hyper["nesterov"]),
        }
        if out["nesterov"] and (out["momentum"] <= 0 or out["dampening"] != 0):
            raise ValueError(
                f"{where}: nesterov=True requires momentum > 0 and dampening == 0, got "
                f"momentum={out['momentum']!r}, dampening={out['dampening']!r}"
            )
        return out

    def step(self) -> None:
        """One SGD update of every param with a gradient (see the class docstring)."""
        _not_traced(self)
        self._check_grads()
        changed: list[np.ndarray] = []
        try:
            index = 0
            for group in self.param_groups:
                lr, params = group["lr"], group["params"]
                plain = group["momentum"] == 0 and group["weight_decay"] == 0
                for i, p in enumerate(params, start=index):
                    grad = p.grad
                    if grad is None:
                        continue
                    if plain:  # the tutorial's update, kept to one numpy expression
                        p.data -= lr * grad
                    else:
                        self._momentum_update(i, p, grad, group)
                    changed.append(p.data)
                index += len(params)
        finally:  # the version counter: a graph that saved a changed param is stale now
            mark_changed(*changed)

    def _momentum_update(
        self, index: int, p: Tensor, grad: np.ndarray, group: dict[str, Any]
    ) -> None:
        momentum, dampening = group["momentum"], group["dampening"]
        if group["weight_decay"] != 0:
            decayed = self._scratch_for(index, p.data)
            np.multiply(p.data, group["weight_decay"], out=decayed)
            decayed += grad
            grad = decayed
        if momentum != 0:
            state = self.state.setdefault(index, {})
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, dtype=p.data.dtype)
            else:
                buf *= momentum
                buf += grad if dampening == 0 else (1 - dampening) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * grad


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction and optional L2 weight decay, as torch.optim.Adam.

    With ``g`` the gradient and ``t`` the param's step count (starting at 1)::

        g = g + wd * p                              (if wd != 0)
        m = m + (1 - beta1) * (g - m)               (lerp towards g)
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    _state_fields = {"step": int, "exp_avg": np.ndarray, "exp_avg_sq": np.ndarray}
    _decoupled_weight_decay = False

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @classmethod
    def _check_hyper(cls, hyper: dict[str, Any], where: str) -> dict[str, Any]:
        betas = hyper["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
        return {
            "lr": _real(where, "lr", hyper["lr"]),
            "betas": tuple(
                _real(where, f"betas[{i}]", b, high=1.0, open_high=True)
                for i, b in enumerate(betas)
            ),
            "eps": _real(where, "eps", hyper["eps"]),
            "weight_decay": _real(where, "weight_decay", hyper["weight_decay"]),
        }

    def step(self) -> None:
        """One Adam update of every param with a gradient (see the class docstring)."""
        _not_traced(self)
        self._check_grads()
        index = 0
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            eps, weight_decay = group["eps"], group["weight_decay"]
            for p in group["params"]:
                grad = p.grad
                if grad is not None:
                    state = self.state.get(index)
                    if state is None:
                        zeros = np.zeros_like(p.data)
                        state = {"step": 0, "exp_avg": zeros, "exp_avg_sq": zeros.copy()}
                        self.state[index] = state
                    state["step"] = t = state["step"] + 1
                    if weight_decay != 0:
                        if self._decoupled_weight_decay:  # AdamW: decay the weights themselves
                            p.data *= 1 - lr * weight_decay
                        else:  # Adam: L2, added to the gradient
                            grad = grad + weight_decay * p.data
                    m, v = state["exp_avg"], state["exp_avg_sq"]
                    work = self._scratch_for(index, p.data)
                    np.subtract(grad, m, out=work)
                    work *= 1 - beta1
                    m += work
                    np.multiply(grad, 1 - beta2, out=work)
                    work *= grad
                    v *= beta2
                    v += work
                    step_size = lr / (1 - beta1**t)
                    np.sqrt(v, out=work)
                    work /= (1 - beta2**t) ** 0.5
                    work += eps
                    np.divide(m, work, out=work)
                    work *= step_size
                    p.data -= work
                    mark_changed(p.data)  # the version counter (see SGD.step)
                index += 1


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW.

    The weights decay by themselves instead of through the gradient, ``p = p * (1 - lr * wd)``,
    then the Adam step runs on the plain gradient (``wd`` is 0.01 by default, as in PyTorch).
    State and ``state_dict()`` as for Adam.
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


# ------------------------------------------------------------------------------- helpers
def _not_traced(opt: Optimizer) -> None:
    """An optimizer keeps Python state (step counts, hyperparameters a scheduler changes):
    a compiled function's replay would freeze it, so its step is refused there."""
    if engine._transforms_active:  # (one global read on every step: no message built)
        _refuse_step(opt)


def _refuse_step(opt: Optimizer) -> None:
    refuse_while_tracing(
        f"{type(opt).__name__}.step() inside a compiled function",
        "call it after the compiled call, or update inside it with "
        "`with al.no_grad(): p -= lr * p.grad`",
    )


def _build_groups(params: Params, opt: Optimizer, where: str) -> list[dict[str, Any]]:
    """Materialise ``params`` (Tensors, or dicts ``{"params": ..., **overrides}``) into groups."""
    if isinstance(params, (Tensor, dict, str)) or not isinstance(params, Iterable):
        raise TypeError(
            f"{where}: params must be an iterable of Tensors (e.g. model.parameters()) or of "
            f"dicts with a 'params' entry, got {type(params).__name__}"
        )
    items = list(params)
    if not items:
        raise ValueError(f"{where}: got an empty list of params")
    if not all(isinstance(item, dict) for item in items):
        items = [{"params": items}]
    groups: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    for gi, item in enumerate(items):
        unknown = [k for k in item if k != "params" and k not in opt.defaults]
        if "params" not in item or unknown:
            raise ValueError(
                f"{where}: param group {gi} needs a 'params' entry and only the keys "
                f"{list(opt.defaults)}; got {list(item)}"
            )
        members = item["params"]
        if isinstance(members, Tensor):
            members = [members]
        elif isinstance(members, Iterable) and not isinstance(members, (dict, str)):
            members = list(members)
        else:
            raise TypeError(f"{where}: param group {gi}: 'params' must be an iterable of Tensors")
        if not members:
            raise ValueError(f"{where}: param group {gi} has no params")
        for p in members:
            _check_param(p, len(seen), seen, where)
        hyper = opt._check_hyper({**opt.defaults, **item}, f"{where}: param group {gi}")
        groups.append({**hyper, "params": members})
    return groups


def _check_param(p: Any, index: int, seen: dict[int, int], where: str) -> None:
    if not isinstance(p, Tensor):
        raise TypeError(f"{where}: param {index} is a {type(p).__name__}, not a Tensor")
    if not p.requires_grad:
        raise ValueError(f"{where}: param {index} does not require grad")
    if not np.issubdtype(p.data.dtype, np.floating):
        raise TypeError(f"{where}: param {index} has dtype {p.data.dtype}; params must be float")
    if id(p) in seen:
        raise ValueError(f"{where}: param {index} is the same Tensor as param {seen[id(p)]}")
    seen[id(p)] = index


def _real(
    where: str,
    name: str,
    value: Any,
    high: float = math.inf,
    open_high: bool = False,
) -> float:
    """``value`` as a float in ``[0, high]`` (or ``[0, high)``), else a named error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {value!r}")
    x = float(value)
    too_high = x >= high if open_high else x > high
    if not (math.isfinite(x) and x >= 0) or too_high:  # also refuses nan and inf
        bounds = f"in [0, {high:g}{')' if open_high else ']'}" if high < math.inf else ">= 0"
        raise ValueError(f"{where}: {name} must be {bounds}, got {value!r}")
    return x


def _flag(where: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be a bool, got {value!r}")
    return bool(value)


def _check_keys(where: str, d: dict[str, Any], expected: list[str]) -> None:
    missing = [k for k in expected if k not in d]
    unexpected = [k for k in d if k not in expected]
    if missing or unexpected:
        raise ValueError(f"{where}: missing keys {missing}, unexpected keys {unexpected}")


def _check_field(where: str, value: Any, kind: type, data: np.ndarray) -> Any:
    """One state value, checked against its param's array; returns an owned copy."""
    if kind is int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{where} must be an int, got {value!r}")
        if value < 0:
            raise ValueError(f"{where} must be >= 0, got {value!r}")
        return int(value)
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{where} must be a numpy array, got {type(value).__name__}")
    if value.shape != data.shape or value.dtype != data.dtype:
        raise ValueError(
            f"{where} has shape {value.shape} and dtype {value.dtype}, but its param has "
            f"shape {data.shape} and dtype {data.dtype}"
        )
    return value.copy()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# Learning-rate schedules live in their own module, reached as optim.lr_scheduler (as in
# PyTorch); imported last because they build on Optimizer.
from autograd_lite import lr_scheduler  # noqa: E402
