"""autograd_lite: a small, readable reverse-mode automatic differentiation library on numpy.

A `Tensor` records the numpy operations applied to it; `loss.backward()` fills `.grad` of
every leaf that requires grad. See README.md for an example.
"""

from autograd_lite import nn, optim
from autograd_lite.engine import Function, enable_grad, grad, is_grad_enabled, no_grad
from autograd_lite.functional import (
    as_tensor,
    concatenate,
    exp,
    linear,
    log,
    log_softmax,
    maximum,
    one_hot,
    relu,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    stack,
    tanh,
    where,
)
from autograd_lite.gradcheck import GradcheckError, gradcheck
from autograd_lite.io import load, save
from autograd_lite.tensor import Tensor

__version__ = "0.1.0"

__all__ = [
    "Function",
    "GradcheckError",
    "Tensor",
    "as_tensor",
    "concatenate",
    "enable_grad",
    "exp",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "linear",
    "load",
    "log",
    "log_softmax",
    "maximum",
    "nn",
    "no_grad",
    "one_hot",
    "optim",
    "relu",
    "save",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "stack",
    "tanh",
    "where",
]
