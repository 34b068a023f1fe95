"""Anomaly detection: `al.detect_anomaly()` makes a NaN or an inf raise where it first appears.

Under it, every op checks its output (`check_forward`, called by `Function.apply`) and every
backward rule its gradients (`check_backward`, called by `run_backward`), and each op notes
the lines of user code that created it, so that an error in the backward pass can name them.
A NaN raises wherever it appears (when an input already held it, the message says so: it came
from data, a leaf, or a value computed outside anomaly mode). An inf raises only where it is
made from finite values, so an inf used on purpose (a -inf mask before a softmax) passes.

Off, it costs one check of a global counter per op and per backward pass (engine.py).
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np

from autograd_lite import engine
from autograd_lite.engine import Function, _GradMode, _mode
from autograd_lite.tensor import Tensor

_lock = threading.Lock()
_FRAMES = 5  # the innermost user frames noted per op
_SKIPPED = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,  # autograd_lite itself
    os.path.dirname(os.path.abspath(np.__file__)) + os.sep,  # numpy's dispatch
)


class detect_anomaly(_GradMode):  # noqa: N801  (named like torch.autograd.detect_anomaly)
    """Raise at once when an op's forward or a backward rule produces a NaN or an inf.

    `with al.detect_anomaly(): ...`, `@al.detect_anomaly()` or `@al.detect_anomaly`. The
    `RuntimeError` names the op, the shapes, and the line of your code that created the op.
    Per thread, nestable. Slow (every result is checked, every op notes its stack): a
    debugging aid, off by default.
    """

    def __enter__(self) -> None:
        self._previous.append(_mode.anomaly)
        _mode.anomaly = True
        with _lock:
            engine._anomaly_users += 1

    def __exit__(self, *exc: object) -> None:
        _mode.anomaly = self._previous.pop()
        with _lock:
            engine._anomaly_users -= 1


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly()` (per thread)."""
    return _mode.anomaly


# --- the checks ------------------------------------------------------------------------------
def check_forward(ctx: Function, arrays: Sequence[Any], out: np.ndarray) -> None:
    """Note where `ctx` was created; raise if its output holds a NaN, or an inf made here."""
    ctx._trace = _user_frames()
    bad = _nonfinite(out)
    if not bad:
        return
    inherited = set().union(*(_nonfinite(a) for a in arrays))
    if bad <= inherited - {"NaN"}:  # only infs, all of them passed on from an input
        return
    shapes = ", ".join(str(np.shape(a)) for a in arrays)
    message = (
        f"{ctx.name} produced {_describe(out)} in its output (shape {out.shape}, {out.dtype}) "
        f"from inputs of shapes {shapes}"
    )
    if "NaN" in bad & inherited:
        message += (
            "; an input already held NaN, so it comes from before this op: from data, a leaf, "
            "or a value computed outside detect_anomaly()"
        )
    raise RuntimeError(f"detect_anomaly: {message}.\n{_origin(ctx)}")


def check_backward(node: Function, grad: Any, grads: Any) -> None:
    """Raise if a rule returned a NaN or inf gradient that its incoming gradient did not hold."""
    if type(grads) is not tuple:
        grads = tuple(grads) if isinstance(grads, list) else (grads,)
    incoming = _nonfinite(grad)
    for i, g in enumerate(grads):
        if g is None:
            continue
        bad = _nonfinite(g) - incoming
        if bad:
            g = np.asarray(_data(g))
            shapes = ", ".join(_edge_shape(e) for e in node.edges)
            raise RuntimeError(
                f"detect_anomaly: {type(node).__name__}.backward produced {_describe(g)} in the "
                f"gradient of input {i} (shape {g.shape}, {g.dtype}; the op's inputs have "
                f"shapes {shapes}) from an incoming gradient of shape {np.shape(_data(grad))} "
                f"that held no {' or '.join(sorted(bad))}.\n{_origin(node)}"
            )


def note_origin(error: BaseException, node: Function) -> None:
    """Add to an error raised by `node`'s rule where the op was created (Python 3.11+)."""
    if hasattr(error, "add_note"):
        error.add_note(f"detect_anomaly: in {type(node).__name__}.backward. {_origin(node)}")


# --- helpers ---------------------------------------------------------------------------------
def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _nonfinite(x: Any) -> set[str]:
    """{"NaN"}, {"inf"} (either sign), both or neither: the non-finite values in `x`."""
    a = np.asarray(_data(x))
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return set()
    return {k for k, test in (("NaN", np.isnan), ("inf", np.isinf)) if test(a).any()}


def _describe(a: np.ndarray) -> str:
    """'-inf (1 of 6 values; the first at index (0, 1))' and the like."""
    bad = ~np.isfinite(a)
    kinds = sorted({"NaN" if np.isnan(v) else str(v) for v in np.unique(a[bad])})
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if a.ndim else ()
    count = f"{int(bad.sum())} of {a.size} values"
    return f"{' and '.join(kinds)} ({count}; the first at index {first})"


def _edge_shape(edge: Any) -> str:
    if edge is None:
        return "(a constant)"
    return str(edge._shape if isinstance(edge, Function) else edge.shape)


def _user_frames() -> traceback.StackSummary:
    """The innermost frames of the stack outside autograd_lite and numpy: the user's code."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_SKIPPED):
        frame = frame.f_back
    frames = traceback.walk_stack(frame) if frame is not None else ()
    # Source lines are read only if an error is reported (traceback.format_list reads them).
    stack = traceback.StackSummary.extract(frames, limit=_FRAMES, lookup_lines=False)
    stack.reverse()
    return stack


def _origin(node: Function) -> str:
    if node._trace is None:
        return (
            "The op was created outside detect_anomaly(): run the forward pass inside it too "
            "to see the line of code that created it."
        )
    lines = "".join(traceback.format_list(node._trace)).rstrip()
    return f"The op was created at (most recent call last):\n{lines}"
