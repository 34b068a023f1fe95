"""Checks of user arguments, written once for the library, `models/` and the command lines.

Each function returns the value in its canonical type (``int``, ``float``, a Generator) or
raises ``TypeError`` (wrong type) / ``ValueError`` (right type, wrong value) with a message
that names the argument and the value::

    >>> positive_int(0, "Linear: in_features")
    Traceback (most recent call last):
    ValueError: Linear: in_features must be positive, got 0

Booleans are refused where an int is expected (``True`` is an ``int`` to Python, but
``Linear(True, 3)`` is a bug). `argtype` turns any of them into an ``argparse`` type.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "argtype",
    "as_generator",
    "learning_rate",
    "non_negative_float",
    "one_of",
    "positive_float",
    "positive_int",
    "seed",
]


def _subject(name: str) -> str:
    # argtype passes name="" so that argparse's "argument --x: " prefix is not repeated
    return f"{name} must" if name else "must"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def positive_int(value: Any, name: str, upper: int | None = None) -> int:
    """``value`` as an int in ``[1, upper]`` (no upper bound when ``upper`` is None)."""
    if not _is_int(value):
        raise TypeError(f"{_subject(name)} be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{_subject(name)} be positive, got {value}")
    if upper is not None and value > upper:
        raise ValueError(f"{_subject(name)} be at most {upper}, got {value}")
    return int(value)


def seed(value: Any, name: str = "seed", upper: int | None = None) -> int:
    """A seed: an int in ``[0, upper]`` (no upper bound when ``upper`` is None)."""
    if not _is_int(value):
        raise TypeError(f"{_subject(name)} be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{_subject(name)} be a non-negative int, got {value}")
    if upper is not None and value > upper:
        raise ValueError(f"{_subject(name)} be at most {upper}, got {value}")
    return int(value)


def positive_float(
    value: Any, name: str, lower: float | None = None, upper: float | None = None
) -> float:
    """A finite real number > 0 as a float, optionally within ``[lower, upper]``."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool | np.bool_):
        raise TypeError(f"{_subject(name)} be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not 0 < value < math.inf:
        raise ValueError(f"{_subject(name)} be a positive finite number, got {value!r}")
    if (lower is not None and value < lower) or (upper is not None and value > upper):
        low = "(0" if lower is None else f"[{lower:g}"  # (0 itself is refused above)
        high = "inf" if upper is None else f"{upper:g}"
        raise ValueError(f"{_subject(name)} lie in {low}, {high}], got {value:g}")
    return value


def non_negative_float(value: Any, name: str) -> float:
    """A finite real number >= 0 as a float."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool | np.bool_):
        raise TypeError(f"{_subject(name)} be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{_subject(name)} be a finite number >= 0, got {value!r}")
    return value


def learning_rate(value: Any, name: str = "lr") -> float:
    """A learning rate: a finite float > 0 (how large is the caller's business)."""
    return positive_float(value, name)


def one_of(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """``value`` itself if it is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{_subject(name)} be one of {options}; got {value!r}")
    return value


def as_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """A numpy Generator from ``rng``: a Generator (used as is: its state advances), a
    SeedSequence, a non-negative int seed, or None (fresh entropy)."""
    if rng is None or isinstance(rng, np.random.Generator | np.random.SeedSequence):
        return np.random.default_rng(rng)
    if not _is_int(rng):
        raise TypeError(
            f"{_subject(name)} be a numpy.random.Generator, a SeedSequence, an int seed or "
            f"None, got {type(rng).__name__} {rng!r}"
        )
    return np.random.default_rng(seed(rng, name))


def argtype(
    check: Callable[..., Any], parse: Callable[[str], Any] = int, **bounds: Any
) -> Callable[[str], Any]:
    """An ``argparse`` type: ``parse`` the text, then ``check(value, "", **bounds)``.

    ``parser.add_argument("--hidden", type=argtype(positive_int, upper=4096))`` reports
    ``argument --hidden: must be at most 4096, got 5000`` and exits with status 2.
    """
    import argparse

    kind = {int: "an integer", float: "a number"}.get(parse, "a value")

    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        try:
            return check(value, "", **bounds)
        except (TypeError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = check.__name__  # argparse names the type in some messages
    return convert
