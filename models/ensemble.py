"""Many trainings of the tutorial's network at once: a batched ensemble.

`train` trains E `MoonNet`s as `network.train` trains one, each with its own Generator for
its shuffles, but as a single network whose parameters have a leading member axis
(``[W1; b1] (E, n_features + 1, H)`` and ``[W2; b2] (E, H + 1, n_class)``, each bias the
last row of its weight): each minibatch step is one forward pass of `autograd_lite.ensemble`'s
stacked ops (batched matmuls), one ``backward()`` of the loss summed over the members, and one
optimizer step.
The members stay independent (the gradient of ``sum_k L_k`` for member k's weights is that
of ``L_k``), so member k follows the trajectory of ``network.train(net_k, ..., rng=rng_k)``:
the same initial weights, the same minibatches, the same steps. Only the order of some
floating-point sums differs (in the last bits; the tests check 1e-10 after whole trainings).

Widths: members of different widths share one ensemble. Each is padded to the widest, H,
with hidden units whose weights (a column of W1, an entry of b1, a row of W2) are zero. That
mask needs no work per step: such a unit's pre-activation is exactly 0, so is its ReLU output,
and so is every gradient that reaches its weights (ReLU's gradient at 0 is 0 and its row of
W2 is 0), so SGD and Adam leave it at zero. A member's results therefore do not depend on the
other members or on their number, only on H (which changes the last bits of some sums):
`train` checks at the end that the padding stayed zero.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from autograd_lite import nn, validate
from autograd_lite.ensemble import StackedAffine, StackedCrossEntropy
from models import manual, network, tutorial
from models.network import MoonNet

LAYERS = ("layer1", "layer2")


def stack(nets: Sequence[MoonNet], width: int | None = None) -> dict[str, np.ndarray]:
    """The nets' parameters stacked along a new first axis, each layer's bias as the last
    row of its weight, and padded with zeros to ``width`` hidden units (default: the
    widest net's): {"layer1": [W1; b1] (E, F + 1, H), "layer2": [W2; b2] (E, H + 1, C)}."""
    models = [net.to_manual() for net in nets]
    widest = max(m["W1"].shape[1] for m in models)
    width = widest if width is None else validate.positive_int(width, "width")
    if width < widest:
        raise ValueError(f"ensemble: width {width} is less than the widest network's {widest}")
    (n_features, _), n_class = models[0]["W1"].shape, models[0]["b2"].shape[0]
    layer1 = np.zeros((len(nets), n_features + 1, width), nets[0].dtype)
    layer2 = np.zeros((len(nets), width + 1, n_class), nets[0].dtype)
    for k, m in enumerate(models):
        h = m["W1"].shape[1]
        layer1[k, :n_features, :h], layer1[k, n_features, :h] = m["W1"], m["b1"]
        layer2[k, :h], layer2[k, width] = m["W2"], m["b2"]
    return {"layer1": layer1, "layer2": layer2}


def unstack(stacked: dict[str, np.ndarray], k: int, hidden: int) -> manual.Model:
    """Member k's parameters (its first ``hidden`` units) as the manual network's dict."""
    layer1, layer2 = stacked["layer1"][k], stacked["layer2"][k]
    return {"W1": layer1[:-1, :hidden], "b1": layer1[-1, :hidden],
            "W2": layer2[:hidden], "b2": layer2[-1]}  # fmt: skip


def padding_is_zero(stacked: dict[str, np.ndarray], hidden: Sequence[int]) -> np.ndarray:
    """For each member, whether every weight of its padded hidden units is exactly 0."""
    layer1, layer2 = stacked["layer1"], stacked["layer2"]
    pad = np.arange(layer1.shape[2]) >= np.asarray(hidden)[:, None]  # (E, H): padded units
    return ~(
        np.any((layer1 != 0) & pad[:, None, :], axis=(1, 2))
        | np.any((layer2[:, :-1] != 0) & pad[:, :, None], axis=(1, 2))
    )


def train(
    nets: Sequence[MoonNet],
    X: np.ndarray,
    y: np.ndarray,
    lr: float = tutorial.LR,
    batch_size: int = tutorial.BATCH_SIZE,
    epochs: int = tutorial.EPOCHS,
    rngs: Sequence[np.random.Generator] | None = None,
    optimizer: str = "sgd",
    callback: Callable[[int, np.ndarray], None] | None = None,
    width: int | None = None,
) -> list[np.ndarray]:
    """Train the nets in place as one ensemble; each one's training loss per epoch.

    ``nets[k]`` is trained exactly as ``network.train(nets[k], X, y, lr, batch_size,
    epochs, rngs[k], optimizer)`` would (the summed cross-entropy, SGD or Adam): at each
    epoch every member draws ``rngs[k].permutation(len(X))`` and walks its own minibatches.
    The nets must share their dtype and their input and output sizes; their widths may
    differ: each is padded to ``width`` hidden units (default: the widest net's). A net's
    results depend on that width in their last bits only (it changes the order of some
    floating-point sums), never on the other nets: pass the same ``width`` to get the very
    same numbers whatever nets share the ensemble.
    ``callback(epoch, losses)`` gets the members' losses of each epoch (an array).
    A member whose loss stops being finite stops there (its weights are those of the end
    of that epoch and its history ends with that loss), as `network.train` does, with one
    ``ConvergenceWarning`` naming the members that diverged.
    """
    nets = list(nets)
    if not nets:
        raise ValueError("ensemble.train: no networks to train")
    rngs = [validate.as_generator(None) for _ in nets] if rngs is None else list(rngs)
    if len(rngs) != len(nets):
        raise ValueError(f"ensemble.train: {len(rngs)} generators for {len(nets)} networks")
    rngs = [validate.as_generator(r, "ensemble.train: rngs") for r in rngs]
    dtype = _common_dtype(nets)
    sizes = sorted({(net.fc1.in_features, net.fc2.out_features) for net in nets})
    if len(sizes) != 1:
        raise ValueError(f"ensemble.train: the networks differ in (inputs, classes): {sizes}")
    X, y = manual.check_batch(nets[0].to_manual(), X, y)
    validate.learning_rate(lr)
    batch_size = validate.positive_int(batch_size, "batch_size")
    epochs = validate.positive_int(epochs, "epochs")
    if len(X) == 0:
        raise ValueError("ensemble.train: X has no samples")
    hidden = [net.fc1.out_features for net in nets]
    stacked = {name: nn.Parameter(array) for name, array in stack(nets, width).items()}
    opt = network.make_optimizer(list(stacked.values()), optimizer, lr)
    data = (X.astype(dtype, copy=False), np.eye(nets[0].fc2.out_features, dtype=dtype)[y])
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging member: reported below
        history, stopped = _train_loop(stacked, opt, data, batch_size, epochs, rngs, callback)
    params = {name: p.data for name, p in stacked.items()}
    for k, snapshot in stopped.items():  # a diverged member keeps its weights of that epoch
        for name in LAYERS:
            params[name][k] = snapshot[name]
    finite = np.array([k not in stopped for k in range(len(nets))])
    if not np.all(padding_is_zero(params, hidden)[finite]):
        raise RuntimeError("ensemble.train: the padded hidden units did not stay zero")
    for k, net in enumerate(nets):
        state = unstack(params, k, hidden[k])
        net.load_state_dict({key: state[name] for name, key in network.MANUAL_NAMES.items()})
    if stopped:
        warnings.warn(_diverged_message(stopped, history, epochs, lr), ConvergenceWarning, 2)
    ends = [stopped[k]["epochs"] if k in stopped else history.shape[1] for k in range(len(nets))]
    return [history[k, :end].copy() for k, end in enumerate(ends)]


def _common_dtype(nets: list[MoonNet]) -> np.dtype:
    dtypes = {net.dtype for net in nets}
    if len(dtypes) != 1:
        raise ValueError(
            f"ensemble.train: the networks have different dtypes {sorted(map(str, dtypes))}"
        )
    return dtypes.pop()


def _train_loop(
    stacked: dict[str, nn.Parameter],
    opt: Any,
    data: tuple[np.ndarray, np.ndarray],
    batch_size: int,
    epochs: int,
    rngs: list[np.random.Generator],
    callback: Callable[[int, np.ndarray], None] | None,
) -> tuple[np.ndarray, dict[int, dict]]:
    # The hot loop: only the ops, one backward and one optimizer step per minibatch.
    X, Y = data
    (n, n_features), n_class, members = X.shape, Y.shape[1], len(rngs)
    layer1, layer2 = stacked["layer1"], stacked["layer2"]
    affine, loss_fn = StackedAffine.apply, StackedCrossEntropy.apply  # shapes checked: no checks
    step, zero_grad = opt.step, opt.zero_grad
    # Each epoch's shuffled copies of the data, written into the same buffers.
    Xe = np.empty((members, n, n_features), X.dtype)
    Ye = np.empty((members, n, n_class), Y.dtype)
    order = np.empty((members, n), np.intp)
    history = np.empty((members, epochs))
    ones = np.ones(members, X.dtype)
    stopped: dict[int, dict] = {}  # member -> its weights when it diverged, and its epochs
    for epoch in range(epochs):
        for k, rng in enumerate(rngs):
            order[k] = rng.permutation(n)
        np.take(X, order, axis=0, out=Xe, mode="clip")  # unbuffered: a permutation
        np.take(Y, order, axis=0, out=Ye, mode="clip")
        total = np.zeros(members, X.dtype)
        for start in range(0, n, batch_size):
            stop = start + batch_size
            hidden = affine(Xe[:, start:stop], layer1, relu=True)
            losses = loss_fn(affine(hidden, layer2), Ye[:, start:stop])
            zero_grad()
            losses.backward(ones)  # the gradient of the summed loss, without a sum node
            step()
            total += losses.data
        history[:, epoch] = total / n
        if callback is not None:
            callback(epoch, history[:, epoch].copy())
        for k in np.flatnonzero(~np.isfinite(history[:, epoch])):
            if k not in stopped:  # diverged now: no later epoch can recover
                stopped[int(k)] = {name: stacked[name].data[k].copy() for name in LAYERS}
                stopped[int(k)]["epochs"] = epoch + 1
        if len(stopped) == members:
            return history[:, : epoch + 1], stopped
    return history, stopped


def _diverged_message(stopped: dict[int, dict], history: np.ndarray, epochs: int, lr: float) -> str:
    where = ", ".join(f"{k} at epoch {s['epochs']}" for k, s in sorted(stopped.items())[:10])
    more = f" and {len(stopped) - 10} more" if len(stopped) > 10 else ""
    return (
        f"{len(stopped)} of {len(history)} trainings diverged (member {where}{more}, of "
        f"{epochs} epochs): lr={lr:g} is too large; each stopped there"
    )
