"""autograd_lite: a small, readable reverse-mode automatic differentiation library on numpy.

A `Tensor` records the numpy operations applied to it; `loss.backward()` fills `.grad` of
every leaf that requires grad. See README.md for an example.

Every op (`al.exp`, `al.matmul`, `al.softmax_cross_entropy`, ...) is declared once, in
`ops.py` or `functional.py`, with the names it answers to (see `registry.py`): this module
exports them from the registry.
"""

from autograd_lite import creation, functional, inplace, ops, registry
from autograd_lite.anomaly import detect_anomaly, is_anomaly_enabled
from autograd_lite.engine import (
    Function,
    enable_grad,
    grad,
    is_grad_enabled,
    no_grad,
    once_differentiable,
)
from autograd_lite.gradcheck import GradcheckError, gradcheck, gradgradcheck
from autograd_lite.tensor import Tensor, as_tensor

registry.install_methods(Tensor)
globals().update(registry.PUBLIC)

from autograd_lite import ensemble, func, nn, optim, viz  # noqa: E402  (they use Tensor methods)
from autograd_lite.compile import TracingError, compile  # noqa: E402
from autograd_lite.io import load, save  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Function",
    "GradcheckError",
    "Tensor",
    "TracingError",
    "as_tensor",
    "compile",
    "creation",
    "detect_anomaly",
    "enable_grad",
    "ensemble",
    "func",
    "functional",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "is_anomaly_enabled",
    "inplace",
    "is_grad_enabled",
    "load",
    "nn",
    "no_grad",
    "once_differentiable",
    "ops",
    "optim",
    "registry",
    "save",
    "viz",
]
__all__ += sorted(registry.PUBLIC)  # every op's al.<name>
