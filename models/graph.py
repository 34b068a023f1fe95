"""The graph autograd_lite records for one training step of the tutorial's network, as a picture.

    X -> Linear(fc1.weight, fc1.bias) -> ReLU -> Linear(fc2.weight, fc2.bias) -> SoftmaxCrossEntropy

`moon_graph` builds the network and a minibatch, runs the forward pass and backward (keeping
the graph, and the logits' gradient with `retain_grad`), and returns the loss with the names
of the tensors to label; `moon_graph_dot` gives its DOT text and `draw_moon_graph` a picture.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

import autograd_lite as al
from autograd_lite import viz
from models.data import load_moons
from models.network import MoonNet


def moon_graph(
    hidden: int = 64, batch_size: int = 10, seed: int = 0
) -> tuple[al.Tensor, dict[str, al.Tensor]]:
    """The summed loss of the tutorial's network on one minibatch, after backward.

    One Generator made from ``seed`` draws the parameters (as ``MoonNet``), then
    ``batch_size`` distinct rows of the moons training set. The graph is kept
    (``retain_graph=True``) so that it can be drawn with its gradients. Returns the loss and
    ``{name: tensor}`` for the minibatch ``X``, the parameters, the logits and the loss.
    """
    for name, value in (("hidden", hidden), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"moon_graph: {name} must be a positive int, got {value!r}")
    X_train, _, y_train, _ = load_moons()
    if batch_size > len(X_train):
        raise ValueError(
            f"moon_graph: batch_size ({batch_size}) exceeds the {len(X_train)} training rows"
        )
    rng = np.random.default_rng(seed)
    net = MoonNet(X_train.shape[1], 2, int(hidden), rng=rng)
    rows = rng.choice(len(X_train), size=int(batch_size), replace=False)
    X = al.Tensor(X_train[rows])  # a Tensor, so that the picture shows the input too
    logits = net(X)
    logits.retain_grad()  # the picture shows the gradient that reaches the logits too
    loss = al.softmax_cross_entropy(logits, y_train[rows], reduction="sum")
    loss.backward(retain_graph=True)
    names = {"X (minibatch)": X, **dict(net.named_parameters()), "logits": logits, "loss": loss}
    return loss, names


def moon_graph_dot(hidden: int = 64, batch_size: int = 10, seed: int = 0) -> str:
    """DOT text of `moon_graph`'s graph, with the gradient norms after backward."""
    loss, names = moon_graph(hidden, batch_size, seed)
    return viz.to_dot(loss, show_grads=True, names=names)


def draw_moon_graph(
    path: str | os.PathLike, hidden: int = 64, batch_size: int = 10, seed: int = 0
) -> str:
    """Draw `moon_graph`'s graph into ``path`` (.svg, .png or .pdf; needs Graphviz's dot)."""
    loss, names = moon_graph(hidden, batch_size, seed)
    return viz.render(loss, path, show_grads=True, names=names)
