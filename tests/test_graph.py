"""models/graph.py: the moon network's recorded graph, as DOT text and as a picture."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from models import graph
from models.gradients import compare_gradients


def labels(dot: str) -> list[str]:
    return [s.replace("\\n", "|") for s in re.findall(r'n\d+ \[label="(.*?)"', dot)]


def test_the_moon_graph_shows_the_tutorials_network_and_its_gradients():
    dot = graph.moon_graph_dot(hidden=5, batch_size=3, seed=1)
    # The same seed draws the same parameters and rows as the gradient comparison does.
    norm = {row.name: f"{np.linalg.norm(row.autograd):.4g}" for row in compare_gradients(
        hidden=5, batch_size=3, rng=1)}  # fmt: skip
    _, names = graph.moon_graph(hidden=5, batch_size=3, seed=1)
    norm["logits"] = f"{np.linalg.norm(names['logits'].grad):.4g}"
    assert labels(dot) == [
        "loss = SoftmaxCrossEntropy|() float64",
        f"logits = Linear|(3, 2) float64||grad| = {norm['logits']}",
        "ReLU|(3, 5) float64",
        f"fc2.weight|(5, 2) float64|requires grad||grad| = {norm['W2']}",
        f"fc2.bias|(2,) float64|requires grad||grad| = {norm['b2']}",
        "Linear|(3, 5) float64",
        "X (minibatch)|(3, 2) float64|constant",
        f"fc1.weight|(2, 5) float64|requires grad||grad| = {norm['W1']}",
        f"fc1.bias|(5,) float64|requires grad||grad| = {norm['b1']}",
    ]
    assert dot == graph.moon_graph_dot(hidden=5, batch_size=3, seed=1)  # deterministic


def test_the_logits_gradient_is_softmax_minus_one_hot():
    loss, names = graph.moon_graph(hidden=4, batch_size=6, seed=2)
    logits = names["logits"]
    p = np.exp(logits.data - logits.data.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    one_hot = p - logits.grad  # the retained gradient is p - y for each row
    np.testing.assert_allclose(one_hot.sum(axis=1), 1.0, atol=1e-12)
    assert set(np.round(one_hot, 12).ravel()) <= {0.0, 1.0}


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="moon_graph: hidden must be a positive int, got 0"):
        graph.moon_graph(hidden=0)
    with pytest.raises(ValueError, match=r"moon_graph: batch_size \(4000\) exceeds the 3750"):
        graph.moon_graph(batch_size=4000)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_draw_moon_graph_writes_an_svg(tmp_path):
    path = graph.draw_moon_graph(tmp_path / "moon.svg", hidden=3, batch_size=2)
    svg = Path(path).read_text()
    assert svg.lstrip().startswith("<?xml") and "SoftmaxCrossEntropy" in svg
