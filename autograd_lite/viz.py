"""Pictures of a recorded graph: Graphviz DOT text (`to_dot`) and SVG/PNG/PDF files (`render`).

    loss.backward(retain_graph=True)        # keep the graph to draw it after backward
    print(al.viz.to_dot(loss, show_grads=True, names=dict(net.named_parameters())))
    al.viz.render(loss, "graph.svg", show_grads=True)   # needs Graphviz's `dot` program

One box per op, labelled with the op and the shape and dtype of its result, and one ellipse
per leaf Tensor (filled when it requires grad); arrows follow the data, from inputs to the op
that uses them, and the result drawn from has a double border. Inputs that are not Tensors
(numpy arrays, numbers) are constants and are not drawn. The text depends only on the graph
(nodes are numbered in the order a breadth-first walk from the result meets them), so the
same graph always gives the same DOT.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

import numpy as np

from autograd_lite.engine import Function
from autograd_lite.tensor import Tensor

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install "
    "graphviz; conda: conda install graphviz), or write the text of "
    "autograd_lite.viz.to_dot(...) to a .dot file and render it elsewhere"
)


def to_dot(
    tensor: Tensor, show_grads: bool = False, names: Mapping[str, Tensor] | None = None
) -> str:
    """Graphviz DOT text of the graph that computed `tensor` (no Graphviz needed).

    show_grads: also label each leaf with the norm of its `.grad`, and each op whose result
    was kept with `retain_grad()` with the norm of that result's `.grad` (after
    `backward(retain_graph=True)`: without it backward frees the graph). names: labels for
    leaves, e.g. `dict(model.named_parameters())` (name -> Tensor); a non-leaf Tensor's name
    labels the op that made it.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(tensor).__name__}")
    # A name labels a leaf, or the op that made a non-leaf Tensor (its node).
    labels = {id(t if t._ctx is None else t._ctx): name for name, t in _named(names)}
    root = tensor if tensor._ctx is None else tensor._ctx
    order, arrows = _walk(root)
    lines = [
        "digraph autograd_lite {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
    ]
    for i, item in enumerate(order):
        if isinstance(item, Function):
            attrs = _op_attrs(item, labels.get(id(item)), show_grads)
        else:
            attrs = _leaf_attrs(item, labels.get(id(item)), show_grads)
        if item is root:
            attrs += ", peripheries=2"
        lines.append(f"  n{i} [{attrs}];")
    lines += [f"  n{a} -> n{b};" for a, b in arrows]
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(
    tensor: Tensor,
    path: str | os.PathLike,
    show_grads: bool = False,
    names: Mapping[str, Tensor] | None = None,
) -> str:
    """Draw the graph of `tensor` into `path` (.svg, .png or .pdf) with Graphviz's `dot`.

    Same options as `to_dot`. Returns the path. Raises RuntimeError if `dot` is not installed.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FORMATS:
        raise ValueError(f"render: {path!r} must end with one of {', '.join(FORMATS)}")
    text = to_dot(tensor, show_grads, names)
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(f"render: Graphviz's `dot` program is not on the PATH: {INSTALL_HINT}")
    done = subprocess.run(
        [dot, f"-T{FORMATS[suffix]}", "-o", path], input=text.encode(), capture_output=True
    )
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"render: `dot` could not write {path!r}: {error}")
    return path


def _walk(root: Function | Tensor) -> tuple[list, list[tuple[int, int]]]:
    """Every node and leaf Tensor reachable from `root` (first met first), and the arrows."""
    index = {root: 0}
    order = [root]
    arrows = []
    for item in order:  # breadth first: `order` grows as the walk meets new items
        if not isinstance(item, Function):
            continue  # a leaf
        if item.edges is None:
            raise RuntimeError(
                "to_dot: backward() has freed this graph. To draw it after backward (with "
                "show_grads=True), call backward(retain_graph=True)."
            )
        for edge in item.edges:
            if edge is None:  # a constant input: not drawn
                continue
            if edge not in index:
                index[edge] = len(order)
                order.append(edge)
            arrows.append((index[edge], index[item]))
    return order, arrows


def _named(names: Mapping[str, Tensor] | None) -> list[tuple[str, Tensor]]:
    items = list((names or {}).items())
    for name, t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"to_dot: names[{name!r}] is a {type(t).__name__}, not a Tensor")
    return items


def _op_attrs(node: Function, name: str | None, show_grads: bool) -> str:
    op = type(node).__name__
    if hasattr(node, "op"):  # a gradient computed by a @once_differentiable rule
        op = f"{node.op}.backward"
    lines = [f"{name} = {op}" if name else op, _kind(node._shape, node._dtype)]
    if show_grads and node._retained is not None:
        kept = node._retained()
        if kept is not None:
            lines.append(_grad_norm(kept.grad))
    return f'label="{_escape(lines)}", shape=box, style="rounded,filled", fillcolor="#f2f2f2"'


def _leaf_attrs(leaf: Tensor, name: str | None, show_grads: bool) -> str:
    lines = [name] if name else []
    lines.append(_kind(leaf.shape, leaf.dtype))
    if leaf.requires_grad:
        lines.append("requires grad")
        if show_grads:
            lines.append(_grad_norm(leaf.grad))
        color = "#cfe2f3"
    else:
        lines.append("constant")
        color = "white"
    return f'label="{_escape(lines)}", shape=ellipse, style=filled, fillcolor="{color}"'


def _kind(shape: tuple[int, ...], dtype: Any) -> str:
    return f"{tuple(shape)} {np.dtype(dtype).name}" if dtype is not None else str(tuple(shape))


def _grad_norm(grad: Any) -> str:
    if grad is None:
        return "grad: None"
    g = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=np.float64)
    return f"|grad| = {np.sqrt(np.sum(g * g)):.4g}"


def _escape(lines: list[str]) -> str:
    """Label lines as one DOT string: quotes and backslashes escaped, lines centred."""
    return "\\n".join(s.replace("\\", "\\\\").replace('"', '\\"') for s in lines)
