"""Pictures of a graph (autograd_lite/viz.py): the DOT text, and rendering through Graphviz."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import autograd_lite as al
from autograd_lite import Tensor, viz

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed"
)


def nodes(dot: str) -> dict[str, str]:
    """node id -> its label (with the escaped newlines as '|')."""
    return {n: label.replace("\\n", "|") for n, label in re.findall(r'(n\d+) \[label="(.*?)"', dot)}


def arrows(dot: str) -> list[tuple[str, str]]:
    return re.findall(r"(n\d+) -> (n\d+);", dot)


def known_graph():
    """loss = sum(log(exp(x @ W + b) + c) * x[0]) with x, W, b leaves and c a constant Tensor."""
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    W = Tensor(np.full((3, 4), 0.5, dtype=np.float32), requires_grad=True)
    b = Tensor(np.zeros(4), requires_grad=True)
    c = Tensor([1.0, 2.0, 3.0, 4.0])  # a leaf that does not require grad
    h = al.log(al.exp(x @ W + b) + c)
    loss = (h * 2.0).sum()
    return loss, {"x": x, "W": W, "b": b, "c": c}


def test_the_dot_text_names_every_op_and_leaf_with_shapes_and_dtypes():
    loss, names = known_graph()
    dot = viz.to_dot(loss, names=names)
    labels = sorted(nodes(dot).values())
    assert labels == sorted([
        "Sum|() float64",
        "Mul|(2, 4) float64",
        "Log|(2, 4) float64",
        "Add|(2, 4) float64",  # + c
        "Exp|(2, 4) float64",
        "Add|(2, 4) float64",  # + b
        "MatMul|(2, 4) float64",
        "x|(2, 3) float64|requires grad",
        "W|(3, 4) float32|requires grad",
        "b|(4,) float64|requires grad",
        "c|(4,) float64|constant",
    ])  # fmt: skip
    assert len(arrows(dot)) == 10  # the constant 2.0 is not drawn
    assert dot.startswith("digraph autograd_lite {") and dot.endswith("}\n")
    root = next(line for line in dot.splitlines() if "peripheries=2" in line)
    assert "Sum" in root  # the tensor drawn from is marked


def test_the_same_graph_gives_the_same_text():
    assert viz.to_dot(known_graph()[0]) == viz.to_dot(known_graph()[0])


def test_a_tensor_used_twice_gives_two_arrows_and_a_shared_one_one_node():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    dot = viz.to_dot((y + y.exp()).sum())
    labels = nodes(dot)
    (leaf,) = [n for n, label in labels.items() if "requires grad" in label]
    (mul,) = [n for n, label in labels.items() if label.startswith("Mul")]
    assert arrows(dot).count((leaf, mul)) == 2
    assert sum(a == mul for a, _ in arrows(dot)) == 2  # y feeds Add and Exp, from one node


def test_show_grads_gives_leaf_norms_and_retained_norms_only():
    loss, names = known_graph()
    h = loss._ctx.edges[0]  # the Mul node: not retained, no gradient shown for it
    assert isinstance(h, al.Function)
    logits = names["x"] @ names["W"]  # a second graph, to show a retained gradient
    logits.retain_grad()
    loss2 = (logits * logits).sum()
    loss.backward(retain_graph=True)
    loss2.backward(retain_graph=True)
    text = nodes(viz.to_dot(loss, show_grads=True, names=names))
    for name in ("x", "W", "b"):
        norm = np.linalg.norm(names[name].grad)
        (label,) = [v for v in text.values() if v.startswith(f"{name}|")]
        assert label.endswith(f"|grad| = {norm:.4g}")
    assert not any("grad" in v for v in text.values() if v.startswith(("Mul", "c|")))
    text2 = nodes(viz.to_dot(loss2, show_grads=True, names={"logits": logits}))
    (label,) = [v for v in text2.values() if v.startswith("logits = MatMul")]
    assert label.endswith(f"|grad| = {np.linalg.norm(logits.grad):.4g}")


def test_a_leaf_without_a_gradient_yet_says_so_and_labels_are_escaped():
    x = Tensor([1.0], requires_grad=True)
    dot = viz.to_dot(x * 2, show_grads=True, names={'my "x"\\': x})
    assert 'label="my \\"x\\"\\\\\\n(1,) float64\\nrequires grad\\ngrad: None"' in dot


def test_a_leaf_alone_and_a_deep_chain():
    x = Tensor(np.ones(3), requires_grad=True)
    assert list(nodes(viz.to_dot(x)).values()) == ["(3,) float64|requires grad"]
    y = x
    for _ in range(20_000):  # iterative walk: no recursion limit
        y = y * 1.0
    dot = viz.to_dot(y)
    assert len(nodes(dot)) == 20_001 and len(arrows(dot)) == 20_000


def test_a_freed_graph_and_bad_arguments_raise_clearly():
    x = Tensor([1.0], requires_grad=True)
    loss = (x * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"to_dot: backward\(\) has freed.*retain_graph=True"):
        viz.to_dot(loss)
    with pytest.raises(TypeError, match="to_dot: expected a Tensor, got ndarray"):
        viz.to_dot(np.ones(2))
    with pytest.raises(TypeError, match=r"to_dot: names\['w'\] is a ndarray"):
        viz.to_dot(x * 2, names={"w": np.ones(2)})


def test_a_once_differentiable_gradient_is_labelled_by_its_rule():
    class Cube(al.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        @al.once_differentiable
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x**2

    x = Tensor([1.0, 2.0], requires_grad=True)
    (g,) = al.grad(Cube.apply(x).sum(), x, create_graph=True)
    assert "Cube.backward|(2,) float64" in nodes(viz.to_dot(g)).values()


# --- render ------------------------------------------------------------------------------------
@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_render_writes_a_picture(tmp_path, suffix, magic):
    loss, names = known_graph()
    path = tmp_path / f"graph{suffix}"
    assert viz.render(loss, path, names=names) == str(path)
    content = path.read_bytes()
    assert content.startswith(magic)
    if suffix == ".svg":
        assert b"MatMul" in content and b"requires grad" in content


def test_render_without_graphviz_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder with no `dot` in it
    with pytest.raises(RuntimeError, match=r"`dot` program is not on the PATH.*apt-get install"):
        viz.render(known_graph()[0], tmp_path / "graph.svg")
    assert not (tmp_path / "graph.svg").exists()


@needs_dot
def test_render_refuses_an_unknown_format_and_reports_dots_errors(tmp_path):
    with pytest.raises(ValueError, match=r"render: .*graph.gif.*\.svg, \.png, \.pdf"):
        viz.render(known_graph()[0], tmp_path / "graph.gif")
    with pytest.raises(RuntimeError, match="render: `dot` could not write"):
        viz.render(known_graph()[0], tmp_path / "missing-folder" / "graph.svg")
