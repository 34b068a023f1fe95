"""Shared hypothesis strategies (and two tiny helpers) for the core test suite.

Shapes are small on purpose: `gradcheck` builds the full Jacobian, one backward per output
element and two forwards per input element, so a side of 3-4 keeps every example cheap while
still covering 0-d, size-1 and broadcast axes.

Values are bounded so that finite differences in float64 are accurate, and the strategies for
functions with a kink (max, relu, abs, maximum) keep the values a fixed gap away from it: a
central difference with eps=1e-6 straddling a kink would be wrong, not the gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_lite as al

ArrayStrategy = Callable[[tuple[int, ...]], st.SearchStrategy[np.ndarray]]

MAX_SIDE = 4


# --- shapes ------------------------------------------------------------------------------
def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = MAX_SIDE
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes, including 0-d () and size-1 axes."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcastable_shapes(
    num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, max_side: int = 3
) -> st.SearchStrategy:
    """`num_shapes` shapes that broadcast together (size-1 and missing axes on either side).

    Draws a `BroadcastableShapes(input_shapes, result_shape)`.
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    )


def matmul_shapes(max_batch_dims: int = 2, max_side: int = 3) -> st.SearchStrategy:
    """Operand shapes for numpy.matmul: 1-D on either side, 2-D, batched with broadcast batches.

    Uses matmul's own gufunc signature `(n?,k),(k,m?)->(n?,m?)`, so optional (1-D) operands
    and broadcast batch dimensions are all drawn.
    """
    return hnp.mutually_broadcastable_shapes(
        signature=np.matmul.signature, max_dims=max_batch_dims, max_side=max_side
    )


@st.composite
def reduction_axes(draw: st.DrawFn, ndim: int) -> int | tuple[int, ...] | None:
    """None, a single axis (possibly negative) or a tuple of distinct axes of an ndim array."""
    options = [st.none()]
    if ndim:
        options += [st.integers(-ndim, ndim - 1), hnp.valid_tuple_axes(ndim, min_size=1)]
    return draw(st.one_of(options))


@st.composite
def reshape_targets(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape with the same number of elements as `shape` (sometimes using -1)."""
    size = int(np.prod(shape))
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    d = draw(st.sampled_from(divisors))
    candidates = [(size,), (d, size // d), (size // d, 1, d), (-1,), (d, -1)]
    if size == 1:
        candidates.append(())
    return draw(st.sampled_from(candidates))


# --- values --------------------------------------------------------------------------------
def floats(lo: float = -3.0, hi: float = 3.0) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def arrays(shape: tuple[int, ...], lo: float = -3.0, hi: float = 3.0) -> st.SearchStrategy:
    """float64 arrays of `shape` with values in [lo, hi]."""
    return hnp.arrays(np.float64, shape, elements=floats(lo, hi))


def positive_arrays(shape: tuple[int, ...], lo: float = 0.3, hi: float = 3.0) -> st.SearchStrategy:
    """Values in [lo, hi] with lo > 0: safe for log, sqrt and a Tensor exponent's base."""
    return arrays(shape, lo, hi)


def nonzero_arrays(
    shape: tuple[int, ...], min_abs: float = 0.5, max_abs: float = 3.0
) -> st.SearchStrategy:
    """Values with min_abs <= |x| <= max_abs, either sign: safe as a divisor."""
    magnitude = floats(min_abs, max_abs)
    elements = st.tuples(st.sampled_from([-1.0, 1.0]), magnitude).map(lambda t: t[0] * t[1])
    return hnp.arrays(np.float64, shape, elements=elements)


def gapped_arrays(
    shape: tuple[int, ...], offset: float = 0.25, spacing: float = 0.5, steps: int = 6
) -> st.SearchStrategy:
    """Values on the grid k * spacing + offset (|k| <= steps).

    With the default offset no value is within 0.25 of 0 (relu / abs kinks), and an array
    drawn with offset=0 differs from one drawn with offset=0.25 by at least 0.25 everywhere
    (al.maximum's kink at a == b), whatever their shapes.
    """
    elements = st.integers(-steps, steps).map(lambda k: k * spacing + offset)
    return hnp.arrays(np.float64, shape, elements=elements)


@st.composite
def distinct_arrays(draw: st.DrawFn, shape: tuple[int, ...], spacing: float = 0.4) -> np.ndarray:
    """All values distinct (at least `spacing` apart) and none within spacing/4 of 0.

    For max (no ties anywhere, so no reduction group has one) and for relu/abs/maximum.
    """
    size = int(np.prod(shape))
    order = np.array(draw(st.permutations(range(size))), dtype=np.float64)
    values = (order - size / 2 + 0.25) * spacing
    return values.reshape(shape)


@st.composite
def probability_rows(draw: st.DrawFn, n: int, c: int) -> np.ndarray:
    """(n, c) rows of positive probabilities, each summing to 1."""
    weights = draw(arrays((n, c), 0.05, 1.0))
    return weights / weights.sum(axis=1, keepdims=True)


def class_indices(n: int, c: int) -> st.SearchStrategy:
    """(n,) int64 class labels in [0, c)."""
    return hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1))


# --- arrays with shapes ------------------------------------------------------------------------
@st.composite
def broadcast_pair(
    draw: st.DrawFn,
    first: ArrayStrategy = arrays,
    second: ArrayStrategy = arrays,
    max_dims: int = 3,
    max_side: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays whose shapes broadcast together, drawn with `first(shape)` and `second(shape)`."""
    (shape_a, shape_b), _ = draw(broadcastable_shapes(max_dims=max_dims, max_side=max_side))
    return draw(first(shape_a)), draw(second(shape_b))


@st.composite
def matmul_pair(draw: st.DrawFn, max_batch_dims: int = 2, max_side: int = 3) -> tuple:
    """Two arrays that numpy.matmul accepts (1-D, 2-D or batched with broadcast batches)."""
    (shape_a, shape_b), _ = draw(matmul_shapes(max_batch_dims, max_side))
    return draw(arrays(shape_a)), draw(arrays(shape_b))


@st.composite
def array_and_axis(
    draw: st.DrawFn, elements: ArrayStrategy = arrays, max_dims: int = 3
) -> tuple[np.ndarray, int | tuple[int, ...] | None, bool]:
    """(array, axis, keepdims) for a reduction."""
    shape = draw(shapes(max_dims=max_dims))
    return draw(elements(shape)), draw(reduction_axes(len(shape))), draw(st.booleans())


@st.composite
def logits_and_targets(
    draw: st.DrawFn, kind: str | None = None, lo: float = -5.0, hi: float = 5.0
) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) logits with class-index ("index") or probability-row ("probs") targets."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    logits = draw(arrays((n, c), lo, hi))
    kind = kind or draw(st.sampled_from(["index", "probs"]))
    targets = draw(class_indices(n, c) if kind == "index" else probability_rows(n, c))
    return logits, targets


# --- helpers --------------------------------------------------------------------------------
def leaves(*arrays_: np.ndarray) -> list[al.Tensor]:
    """float64 leaf Tensors that require grad (copies, so a test's arrays stay untouched)."""
    return [al.Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays_]


def assert_gradcheck(fn: Callable[..., al.Tensor], *arrays_: np.ndarray, **kwargs) -> None:
    """gradcheck `fn` at the given float64 values, every argument a leaf requiring grad."""
    assert al.gradcheck(fn, leaves(*arrays_), **kwargs) is True
