"""Tests of autograd_lite/validate.py: the argument checks shared by the library, models/
and the command lines."""

import argparse

import numpy as np
import pytest

from autograd_lite import validate


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.uint8(200)])
def test_positive_int_returns_a_python_int(value):
    result = validate.positive_int(value, "n")
    assert result == value and type(result) is int


@pytest.mark.parametrize(
    "value, upper, error, message",
    [
        (0, None, ValueError, "n must be positive, got 0"),
        (-3, None, ValueError, "n must be positive, got -3"),
        (5, 4, ValueError, "n must be at most 4, got 5"),
        (10**30, 4096, ValueError, "at most 4096"),
        (2.0, None, TypeError, "n must be an int, got float 2.0"),
        (True, None, TypeError, "n must be an int, got bool True"),
        (np.bool_(True), None, TypeError, "must be an int"),
        ("3", None, TypeError, "got str '3'"),
        (None, None, TypeError, "got NoneType None"),
    ],
)
def test_positive_int_refuses(value, upper, error, message):
    with pytest.raises(error, match=message):
        validate.positive_int(value, "n", upper=upper)


def test_seed():
    assert validate.seed(0) == 0 and validate.seed(np.int32(5)) == 5
    assert validate.seed(2**70) == 2**70  # numpy takes any non-negative int
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        validate.seed(-1)
    with pytest.raises(ValueError, match="at most 10"):
        validate.seed(11, upper=10)
    with pytest.raises(TypeError, match="seed must be an int"):
        validate.seed(1.0)


@pytest.mark.parametrize("value", [1e-4, 1, np.float32(0.5), 1e300])
def test_learning_rate_returns_a_float(value):
    assert validate.learning_rate(value) == pytest.approx(float(value))
    assert type(validate.learning_rate(value)) is float


@pytest.mark.parametrize(
    "value, error",
    [(0.0, ValueError), (-1e-3, ValueError), (float("nan"), ValueError),
     (float("inf"), ValueError), ("0.1", TypeError), (True, TypeError), (None, TypeError)],
)  # fmt: skip
def test_learning_rate_refuses(value, error):
    with pytest.raises(error, match="lr must be"):
        validate.learning_rate(value)


def test_positive_float_bounds():
    assert validate.positive_float(1e-6, "eps", lower=1e-10, upper=0.1) == 1e-6
    with pytest.raises(ValueError, match=r"eps must lie in \[1e-10, 0.1\], got 1e-300"):
        validate.positive_float(1e-300, "eps", lower=1e-10, upper=0.1)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        validate.positive_float(2.0, "rtol", upper=1.0)


def test_one_of():
    assert validate.one_of("sgd", "optimizer", ("sgd", "adam")) == "sgd"
    with pytest.raises(ValueError, match="optimizer must be one of 'sgd', 'adam'; got 'rms'"):
        validate.one_of("rms", "optimizer", ("sgd", "adam"))


def test_as_generator_accepts_generators_sequences_seeds_and_none():
    gen = np.random.default_rng(3)
    assert validate.as_generator(gen) is gen  # used as is: its state advances
    a = validate.as_generator(np.random.SeedSequence(3)).random()
    b = validate.as_generator(3).random()
    c = validate.as_generator(np.int64(3)).random()
    assert a == b == c == np.random.default_rng(3).random()
    assert isinstance(validate.as_generator(None), np.random.Generator)


@pytest.mark.parametrize(
    "rng, error, match",
    [
        (-1, ValueError, "Linear: rng must be a non-negative int, got -1"),
        ("seed", TypeError, "Linear: rng must be a numpy.random.Generator"),
        (1.5, TypeError, "SeedSequence, an int seed or None, got float 1.5"),
        (True, TypeError, "Generator"),
        (np.random.RandomState(0), TypeError, "RandomState"),
    ],
)
def test_as_generator_refuses(rng, error, match):
    with pytest.raises(error, match=match):
        validate.as_generator(rng, "Linear: rng")


def test_argtype_reports_through_argparse():
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--hidden", type=validate.argtype(validate.positive_int, upper=8))
    parser.add_argument("--lr", type=validate.argtype(validate.learning_rate, float))
    assert parser.parse_args(["--hidden", "8", "--lr", "1e-3"]).hidden == 8
    cases = {
        ("--hidden", "9"): "argument --hidden: must be at most 8, got 9",
        ("--hidden", "1e3"): "argument --hidden: must be an integer, got '1e3'",
        ("--hidden", "0"): "argument --hidden: must be positive, got 0",
        ("--lr", "nan"): "argument --lr: must be a positive finite number, got nan",
        ("--lr", "x"): "argument --lr: must be a number, got 'x'",
    }
    for argv, message in cases.items():
        with pytest.raises(argparse.ArgumentError) as info:
            parser.parse_args(argv)
        assert str(info.value) == message
