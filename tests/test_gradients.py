"""Tests of models/gradients.py: autograd, hand-derived and finite-difference gradients, and
the verdict that check-grads gives."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models import gradients, manual
from models.network import MoonNet
from tests.moon_problems import PARAMS, assert_models_close, random_problem


@pytest.mark.parametrize("seed", range(6))
def test_autograd_gradients_equal_hand_derived_to_1e_12(seed):
    model, X, y = random_problem(seed, n=1 + 7 * seed, hidden=2 + 5 * seed)
    auto = gradients.autograd_gradients(model, X, y)
    hand = manual.backward(model, X, y)
    assert_models_close(auto, hand, rtol=1e-12)


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    n_features=st.integers(1, 5),
    hidden=st.integers(1, 70),
    n_class=st.integers(1, 5),
)
def test_autograd_gradients_equal_hand_derived_for_drawn_sizes(
    seed, n, n_features, hidden, n_class
):
    model, X, y = random_problem(seed, n, n_features, hidden, n_class)
    assert_models_close(
        gradients.autograd_gradients(model, X, y), manual.backward(model, X, y), rtol=1e-12
    )


def test_autograd_and_hand_derived_gradients_agree_with_finite_differences():
    model, X, y = random_problem(42, n=9, hidden=6, n_class=3)
    rows = gradients.compare_gradients(model, X, y)
    assert [row.name for row in rows] == list(PARAMS)
    for row in rows:
        assert row.shape == model[row.name].shape
        diffs = row.differences()
        assert diffs["autograd-manual"][1] <= 1e-12
        assert diffs["autograd-numeric"][1] < 1e-6, (row.name, diffs)
        assert diffs["manual-numeric"][1] < 1e-6, (row.name, diffs)
        np.testing.assert_allclose(row.numeric, row.manual, rtol=1e-5, atol=1e-6 * row.scale)
        assert row.failures() == []


def test_mean_reduction_gradient_is_the_sum_divided_by_the_batch():
    model, X, y = random_problem(3)
    total = gradients.autograd_gradients(model, X, y, reduction="sum")
    mean = gradients.autograd_gradients(model, X, y, reduction="mean")
    for name in PARAMS:
        np.testing.assert_allclose(mean[name] * len(X), total[name], rtol=1e-12)


def test_compare_gradients_defaults_table_and_json():
    rows = gradients.compare_gradients(hidden=16, batch_size=7, rng=3)
    assert [row.shape for row in rows] == [(2, 16), (16,), (16, 2), (2,)]
    assert all(row.differences()["autograd-manual"][1] <= 1e-12 for row in rows)
    table = gradients.format_gradient_table(rows)
    for word in ("W1", "b1", "W2", "b2", "autograd vs hand", "max abs", "rel", "PASS"):
        assert word in table
    parsed = json.loads(json.dumps([row.to_dict() for row in rows]))
    assert parsed[0]["name"] == "W1" and set(parsed[0]["autograd-numeric"]) == {"max_abs", "rel"}
    assert all(row["passed"] for row in parsed)
    again = gradients.compare_gradients(hidden=16, batch_size=7, rng=3)
    np.testing.assert_array_equal(again[0].autograd, rows[0].autograd)


def test_a_wrong_gradient_fails_the_verdict():
    model, X, y = random_problem(5, n=6, hidden=4, n_class=2)
    good = gradients.compare_gradients(model, X, y)[0]
    wrong = gradients.GradientComparison(
        good.name, good.autograd * (1 + 1e-9), good.manual, good.numeric, good.eps
    )
    assert wrong.failures() == ["autograd-manual"]
    assert not wrong.to_dict()["passed"]
    assert "FAIL (W1 autograd-manual)" in gradients.format_gradient_table([wrong])
    # finite differences cannot reach a relative 1e-15: every numeric pair fails
    assert good.failures(rtol=1e-15) == ["autograd-numeric", "manual-numeric"]
    nan = gradients.GradientComparison("b1", good.autograd * np.nan, good.manual, good.numeric)
    assert "autograd-manual" in nan.failures()


def test_compare_gradients_accepts_a_network_and_checks_its_arguments():
    net = MoonNet(hidden=5, rng=1)
    rows = gradients.compare_gradients(net, batch_size=4)
    np.testing.assert_array_equal(rows[0].manual.shape, (2, 5))
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="both X and y"):
        gradients.compare_gradients(net, X=X)
    with pytest.raises(ValueError, match="shape"):
        gradients.compare_gradients(net, X=np.zeros((3, 4)), y=np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="batch_size must be at most 3750"):
        gradients.compare_gradients(net, batch_size=3751)
    with pytest.raises(ValueError, match="eps"):
        gradients.compare_gradients(net, batch_size=2, eps=0.0)
