"""Anomaly detection (autograd_lite/anomaly.py): al.detect_anomaly() raises where a NaN or an
inf first appears, forward or backward, naming the op, the shapes and the user's line."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from hypothesis import given

import autograd_lite as al
from autograd_lite import Tensor, engine
from tests.strategies import broadcast_pair, leaves, nonzero_arrays

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's 0/0 and log(0)


def line_after() -> int:
    """The number of the line after the caller's: where a test creates the op it checks."""
    return sys._getframe(1).f_lineno + 1


# --- forward -------------------------------------------------------------------------------
def test_log_of_zero_in_the_forward_pass_raises_naming_op_shapes_and_line():
    x = Tensor([[1.0, 0.0, 2.0]], requires_grad=True)
    with al.detect_anomaly(), pytest.raises(RuntimeError) as info:
        line = line_after()
        al.log(x)
    message = str(info.value)
    assert message.startswith("detect_anomaly: log produced -inf")
    assert "(1 of 3 values; the first at index (0, 1))" in message
    assert "output (shape (1, 3), float64) from inputs of shapes (1, 3)" in message
    assert f'File "{__file__}", line {line}, in test_log_of_zero' in message
    assert "al.log(x)" in message  # the source line itself


def test_without_anomaly_mode_the_same_code_gives_nan_silently():
    x = Tensor([1.0, 0.0], requires_grad=True)
    y = al.log(x)
    assert y.data[1] == -np.inf
    assert y._ctx._trace is None  # no stack recorded while anomaly mode is off
    (al.sqrt(x) * 0).sum().backward()
    assert np.isnan(x.grad[1])


def test_an_inf_made_from_finite_values_raises_and_one_passed_on_does_not():
    with al.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"exp produced inf.*shapes \(2,\)"):
            al.exp(Tensor([1.0, 1000.0], requires_grad=True))
        # A -inf mask before a softmax is deliberate: the Add passes it on, softmax removes it
        logits = Tensor([1.0, 2.0, 3.0], requires_grad=True)
        mask = np.array([0.0, -np.inf, 0.0])
        p = al.softmax(logits + mask, axis=0)
        (p * np.array([1.0, 2.0, 3.0])).sum().backward()
    assert np.all(np.isfinite(logits.grad)) and logits.grad[1] == 0


def test_a_nan_that_came_in_with_the_data_raises_at_the_first_op_and_says_so():
    data = np.array([1.0, np.nan])
    w = Tensor([2.0, 3.0], requires_grad=True)
    with al.detect_anomaly(), pytest.raises(RuntimeError) as info:
        w * data
    assert "mul produced NaN" in str(info.value)
    assert "an input already held NaN" in str(info.value)


def test_an_op_that_records_nothing_is_checked_too():
    with al.detect_anomaly(), al.no_grad(), pytest.raises(RuntimeError, match="log produced"):
        al.log(Tensor([0.0], requires_grad=True))


def test_nan_from_zero_over_zero_in_a_forward_pass():
    a = Tensor([0.0, 1.0], requires_grad=True)
    with al.detect_anomaly(), pytest.raises(RuntimeError, match="div produced NaN"):
        a / np.array([0.0, 1.0])


# --- backward -------------------------------------------------------------------------------
def test_zero_over_zero_in_a_backward_rule_raises_naming_the_rule_and_the_forward_line():
    x = Tensor([4.0, 0.0], requires_grad=True)
    with al.detect_anomaly():
        line = line_after()
        root = al.sqrt(x)  # its rule computes grad / (2 sqrt(x)): 0/0 at x = 0
        loss = (root * 0).sum()
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    message = str(info.value)
    assert message.startswith("detect_anomaly: Sqrt.backward produced NaN")
    assert "gradient of input 0 (shape (2,), float64; the op's inputs have shapes (2,))" in message
    assert "from an incoming gradient of shape (2,) that held no NaN" in message
    assert f'File "{__file__}", line {line}' in message


class ZeroOverZero(al.Function):
    """A user op whose rule divides by its input: 0/0 where the input is 0."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * y * x / x, grad * x


def test_zero_over_zero_in_a_user_functions_rule_names_it_and_the_input():
    x = Tensor([[0.0, 1.0]], requires_grad=True)
    y = Tensor([[2.0], [3.0]], requires_grad=True)
    with al.detect_anomaly():
        out = ZeroOverZero.apply(x, y)  # broadcast (1, 2) * (2, 1) -> (2, 2)
        with pytest.raises(RuntimeError) as info:
            out.sum().backward()
    message = str(info.value)
    assert "ZeroOverZero.backward produced NaN (2 of 4 values" in message
    assert "gradient of input 0 (shape (2, 2)" in message
    assert "the op's inputs have shapes (1, 2), (2, 1)" in message


class FirstOrderZeroOverZero(al.Function):
    """The same rule, first-order only: with create_graph it still runs on arrays."""

    forward = ZeroOverZero.forward
    backward = staticmethod(al.once_differentiable(ZeroOverZero.backward))


def test_a_rules_gradient_tensor_is_checked_with_create_graph():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with al.detect_anomaly():
        out = FirstOrderZeroOverZero.apply(x, 2.0)
        with pytest.raises(RuntimeError, match="FirstOrderZeroOverZero.backward produced NaN"):
            al.grad(out.sum(), x, create_graph=True)


def test_a_graph_recorded_outside_anomaly_mode_is_checked_but_has_no_line():
    x = Tensor([0.0], requires_grad=True)
    loss = (al.sqrt(x) * 0).sum()
    with al.detect_anomaly(), pytest.raises(RuntimeError) as info:
        loss.backward()
    assert "Sqrt.backward produced NaN" in str(info.value)
    assert "created outside detect_anomaly()" in str(info.value)


def test_rules_running_on_tensors_with_create_graph_are_checked_too():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with al.detect_anomaly():
        (g,) = al.grad((x**3).sum(), x, create_graph=True)  # 3x^2: finite
        with pytest.raises(RuntimeError, match="div produced NaN") as info:
            # The rule grad / (2 sqrt(g)) records ops: the first is caught in its forward
            al.grad((al.sqrt(g) * 0).sum(), x, create_graph=True)
    if sys.version_info >= (3, 11):
        assert "in Sqrt.backward" in "\n".join(info.value.__notes__)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are new in 3.11")
def test_an_error_in_a_rule_gets_the_line_that_created_the_op():
    class Broken(al.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            raise KeyError("oops")

    x = Tensor([1.0], requires_grad=True)
    with al.detect_anomaly():
        line = line_after()
        out = Broken.apply(x)
        with pytest.raises(KeyError) as info:
            out.sum().backward()
    notes = "\n".join(info.value.__notes__)
    assert "in Broken.backward" in notes and f"line {line}" in notes


# --- gradients stay exact; the mode itself ----------------------------------------------------
@given(pair=broadcast_pair(second=nonzero_arrays))
def test_gradients_are_unchanged_under_anomaly_mode(pair):
    def f(a, b):
        return ((a / b).tanh() * a.exp()).sum()

    with al.detect_anomaly():
        assert al.gradcheck(f, leaves(*pair))
        assert al.gradgradcheck(f, leaves(*pair))


def test_anomaly_mode_nests_restores_and_decorates():
    assert not al.is_anomaly_enabled() and engine._anomaly_users == 0
    with al.detect_anomaly():
        with al.detect_anomaly():
            assert al.is_anomaly_enabled()
        assert al.is_anomaly_enabled()
    assert not al.is_anomaly_enabled() and engine._anomaly_users == 0

    @al.detect_anomaly
    def bare():
        return al.is_anomaly_enabled()

    @al.detect_anomaly()
    def called():
        return al.log(Tensor([0.0], requires_grad=True))

    assert bare() is True
    with pytest.raises(RuntimeError, match="log produced"):
        called()
    assert not al.is_anomaly_enabled() and engine._anomaly_users == 0


def test_anomaly_mode_is_per_thread():
    results = {}
    inside, done = threading.Event(), threading.Event()

    def other_thread():
        inside.wait()
        results["enabled"] = al.is_anomaly_enabled()
        results["log"] = al.log(Tensor([0.0], requires_grad=True)).data[0]  # no error here
        done.set()

    t = threading.Thread(target=other_thread)
    t.start()
    with al.detect_anomaly():
        inside.set()
        done.wait()
    t.join()
    assert results == {"enabled": False, "log": -np.inf}
