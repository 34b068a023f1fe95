"""The tutorial's gradients three ways: by autograd_lite, by hand, by finite differences.

`compare_gradients` computes each parameter's gradient of the summed loss by all three and
`GradientComparison` says how far apart they are and whether that is within tolerance:

- autograd vs hand: the same formulas evaluated in float64, so they must agree to rounding
  (relative difference at most ``EXACT_RTOL`` = 1e-12; in practice they are equal);
- either vs central differences: these carry a truncation and rounding error of about
  eps^2 and 1e-16 / eps, so they must agree to ``rtol`` (default ``NUMERIC_RTOL`` = 1e-6).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import autograd_lite as al
from autograd_lite import validate
from models import manual, tutorial
from models.data import load_moons
from models.network import MANUAL_NAMES, RNG, MoonNet

EXACT_RTOL = 1e-12
NUMERIC_RTOL = 1e-6
PAIRS = ("autograd-manual", "autograd-numeric", "manual-numeric")


def tolerances(rtol: float = NUMERIC_RTOL) -> dict[str, float]:
    """The largest relative difference allowed for each pair."""
    return {"autograd-manual": EXACT_RTOL, "autograd-numeric": rtol, "manual-numeric": rtol}


@dataclass(frozen=True)
class GradientComparison:
    """One parameter's gradient three ways, and how far apart they are.

    A relative difference is the max absolute difference divided by the largest absolute
    entry of the two gradients (0 when both are zero): elementwise ratios would blow up on
    the exact zeros that inactive ReLU units leave.
    """

    name: str
    autograd: np.ndarray
    manual: np.ndarray
    numeric: np.ndarray
    eps: float = 1e-6

    @property
    def shape(self) -> tuple[int, ...]:
        return self.autograd.shape

    @property
    def scale(self) -> float:
        """The largest absolute entry of the hand-derived gradient."""
        return float(np.abs(self.manual).max(initial=0.0))

    def differences(self) -> dict[str, tuple[float, float]]:
        """(max abs, rel) difference for "autograd-manual", "autograd-numeric", "manual-numeric"."""
        pairs = {
            "autograd-manual": (self.autograd, self.manual),
            "autograd-numeric": (self.autograd, self.numeric),
            "manual-numeric": (self.manual, self.numeric),
        }
        return {key: _difference(a, b) for key, (a, b) in pairs.items()}

    def failures(self, rtol: float = NUMERIC_RTOL) -> list[str]:
        """The pairs whose relative difference exceeds its tolerance (see `tolerances`)."""
        limits, diffs = tolerances(rtol), self.differences()
        return [pair for pair in PAIRS if not diffs[pair][1] <= limits[pair]]  # NaN fails

    def to_dict(self, rtol: float = NUMERIC_RTOL) -> dict[str, Any]:
        """The numbers of a table row (no arrays) and its verdict, for JSON."""
        out: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "scale": self.scale}
        for key, (abs_diff, rel_diff) in self.differences().items():
            out[key] = {"max_abs": abs_diff, "rel": rel_diff}
        out["passed"] = not self.failures(rtol)
        return out


def _difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    # np.maximum, not max(): a NaN must come out as NaN (and fail), never as 0
    max_abs = float(np.abs(a - b).max(initial=0.0))
    scale = float(np.maximum(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0)))
    if scale > 0:
        return max_abs, max_abs / scale
    return max_abs, (0.0 if max_abs == 0 else math.inf)


def autograd_gradients(
    params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray, reduction: str = "sum"
) -> manual.Model:
    """dL/dparam by autograd_lite for the manual model ``params``, keyed "W1", "b1", "W2", "b2"."""
    net = MoonNet.from_manual(params)
    targets = manual.check_y(y, net.fc2.out_features, len(X))
    loss = al.softmax_cross_entropy(
        net(manual.check_X(X, net.fc1.in_features)), targets, reduction=reduction
    )
    loss.backward()
    grads = dict(net.named_parameters())
    return {name: grads[key].grad for name, key in MANUAL_NAMES.items()}


def numerical_gradients(
    params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray, eps: float = 1e-6
) -> manual.Model:
    """dL/dparam of `manual.loss` (summed) by central differences (L(p+eps) - L(p-eps)) / 2eps."""
    eps = validate.positive_float(eps, "eps")
    model = {name: np.array(params[name], dtype=np.float64) for name in manual.PARAMS}
    grads = {}
    for name in manual.PARAMS:
        values = model[name].reshape(-1)  # a view: perturbing it perturbs the model
        grad = np.empty_like(values)
        for i, original in enumerate(values.tolist()):
            values[i] = original + eps
            plus = manual.loss(model, X, y)
            values[i] = original - eps
            minus = manual.loss(model, X, y)
            values[i] = original
            grad[i] = (plus - minus) / (2 * eps)
        grads[name] = grad.reshape(model[name].shape)
    return grads


def compare_gradients(
    params: Mapping[str, np.ndarray] | MoonNet | None = None,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
    *,
    hidden: int = tutorial.HIDDEN,
    batch_size: int = tutorial.BATCH_SIZE,
    eps: float = 1e-6,
    rng: RNG = 0,
) -> list[GradientComparison]:
    """Each parameter's gradient of the summed loss by autograd, by hand and by differences.

    ``params``: a manual model dict or a MoonNet; None draws the tutorial's network
    (``hidden`` units, standard normal) from a Generator made from ``rng``. ``X``, ``y``: a
    batch; None takes ``batch_size`` random rows of the moons training set (drawn from the
    same Generator, after the parameters). Returns one `GradientComparison` per parameter,
    in the order W1, b1, W2, b2; `format_gradient_table` prints them.
    """
    if (X is None) != (y is None):
        raise ValueError("compare_gradients: pass both X and y, or neither")
    eps = validate.positive_float(eps, "eps")
    rng = validate.as_generator(rng)
    if X is None:
        X_train, _, y_train, _ = load_moons()
    else:
        X_train, y_train = X, y
    if params is None:
        n_class = 2 if y is None else int(np.max(y)) + 1
        params = manual.init_network(np.shape(X_train)[1], n_class, hidden, rng)
    elif isinstance(params, MoonNet):
        params = params.to_manual()
    if X is None:
        validate.positive_int(batch_size, "batch_size", upper=len(X_train))
        rows = rng.choice(len(X_train), size=batch_size, replace=False)
        X, y = X_train[rows], y_train[rows]
    X, y = manual.check_batch(dict(params), X, y)
    auto = autograd_gradients(params, X, y)
    hand = manual.backward(dict(params), X, y)
    numeric = numerical_gradients(params, X, y, eps)
    return [
        GradientComparison(name, auto[name], hand[name], numeric[name], eps)
        for name in manual.PARAMS
    ]


def format_gradient_table(rows: list[GradientComparison], rtol: float = NUMERIC_RTOL) -> str:
    """The comparison as a text table (max abs and relative differences), then the verdict."""
    titles = ("autograd vs hand", "autograd vs numeric", "hand vs numeric")
    lines = [
        f"{'param':<6} {'shape':<9} {'max|grad|':>9}" + "".join(f"   {t:<21}" for t in titles),
        f"{'':<26}" + f"   {'max abs':>9} {'rel':>9}  " * 3,
    ]
    lines.append("-" * max(len(line) for line in lines))
    for row in rows:
        diffs = row.differences()
        cells = "".join(f"   {diffs[p][0]:>9.2e} {diffs[p][1]:>9.2e}  " for p in PAIRS)
        lines.append(f"{row.name:<6} {str(row.shape):<9} {row.scale:>9.4g}{cells}")
    eps = rows[0].eps if rows else 1e-6
    lines.append(
        "hand = the tutorial's hand-derived formulas; numeric = central differences with "
        f"eps={eps:g};\nrel = max abs difference / largest |entry| of the two gradients."
    )
    failed = [f"{row.name} {pair}" for row in rows for pair in row.failures(rtol)]
    verdict = "FAIL (" + ", ".join(failed) + ")" if failed else "PASS"
    lines.append(
        f"{verdict}: tolerance rel <= {EXACT_RTOL:g} for autograd vs hand, "
        f"<= {rtol:g} against numeric."
    )
    return "\n".join(line.rstrip() for line in lines)
