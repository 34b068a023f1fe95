"""Tests of models/manual.py, the hand-derived reference network."""

import copy

import numpy as np
import pytest

from models import manual
from models.data import load_moons

PARAMS = ("W1", "b1", "W2", "b2")


def make_problem(seed, n=7, n_features=3, hidden=5, n_class=4):
    """Random float64 parameters, inputs and labels (all classes present when n >= n_class)."""
    rng = np.random.default_rng(seed)
    model = manual.init_network(n_features, n_class, hidden, rng)
    X = rng.standard_normal((n, n_features))
    y = rng.permutation(np.arange(n) % n_class)
    return model, X, y


def numerical_grad(f, model, name, eps=1e-6):
    """Central differences (f(p + eps) - f(p - eps)) / 2 eps of f(model) w.r.t. model[name]."""
    grad = np.zeros_like(model[name])
    for index in np.ndindex(grad.shape):
        shifted = {k: v.copy() for k, v in model.items()}
        shifted[name][index] += eps
        plus = f(shifted)
        shifted[name][index] -= 2 * eps
        grad[index] = (plus - f(shifted)) / (2 * eps)
    return grad


def loop_softmax(A):
    """The tutorial's row-by-row softmax, written out with Python loops."""
    out = np.empty_like(A)
    for i, row in enumerate(A):
        e = [np.exp(a - max(row)) for a in row]
        out[i] = [v / sum(e) for v in e]
    return out


# ---------------------------------------------------------------- initialisation
def test_init_network_shapes_and_documented_draw_order():
    model = manual.init_network(3, 4, 5, rng=7)
    rng = np.random.default_rng(7)
    shapes = [(3, 5), (5,), (5, 4), (4,)]
    assert list(model) == list(PARAMS)
    for name, shape in zip(PARAMS, shapes, strict=True):
        np.testing.assert_array_equal(model[name], rng.standard_normal(shape))
        assert model[name].dtype == np.float64


def test_init_network_accepts_a_generator_or_a_seed():
    from_seed = manual.init_network(rng=3)
    from_generator = manual.init_network(rng=np.random.default_rng(3))
    for name in PARAMS:
        np.testing.assert_array_equal(from_seed[name], from_generator[name])
    other = manual.init_network(rng=4)
    assert not np.array_equal(from_seed["W1"], other["W1"])


# ---------------------------------------------------------------- forward, loss, one_hot
def test_forward_matches_a_loop_over_rows():
    model, X, _ = make_problem(0, n=9)
    Z1, Z2 = manual.forward(model, X)
    A1 = X @ model["W1"] + model["b1"]
    np.testing.assert_array_equal(Z1, np.where(A1 > 0, A1, 0.0))
    expected = loop_softmax(Z1 @ model["W2"] + model["b2"])
    np.testing.assert_allclose(Z2, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(Z2.sum(axis=1), 1.0, rtol=1e-12)


def test_forward_is_stable_for_extreme_logits():
    model, X, y = make_problem(1)
    model["W2"] = model["W2"] * 1e4  # logits in the tens of thousands: naive exp overflows
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is fine
        Z1, Z2 = manual.forward(model, X)
        value = manual.loss(model, X, y)
    assert np.all(np.isfinite(Z2)) and np.isfinite(value)
    np.testing.assert_allclose(Z2.sum(axis=1), 1.0, rtol=1e-12)
    A2 = Z1 @ model["W2"] + model["b2"]
    expected = np.sum(np.logaddexp.reduce(A2, axis=1) - A2[np.arange(len(y)), y])
    assert value == pytest.approx(expected, rel=1e-12)


def test_loss_is_the_summed_cross_entropy():
    model, X, y = make_problem(2, n=8)
    _, Z2 = manual.forward(model, X)
    expected = -np.sum(manual.one_hot(y, 4) * np.log(Z2))
    assert manual.loss(model, X, y) == pytest.approx(expected, rel=1e-12)
    # summed, not averaged: the loss of a batch is the sum of the losses of its halves
    halves = manual.loss(model, X[:4], y[:4]) + manual.loss(model, X[4:], y[4:])
    assert manual.loss(model, X, y) == pytest.approx(halves, rel=1e-12)


def test_one_hot():
    np.testing.assert_array_equal(
        manual.one_hot(np.array([0, 1, 1, 2]), 3),
        [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]],
    )


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("seed", range(5))
def test_backward_matches_central_finite_differences(seed):
    model, X, y = make_problem(seed)
    grads = manual.backward(model, X, y)
    assert list(grads) == list(PARAMS)
    for name in PARAMS:
        assert grads[name].shape == model[name].shape
        numerical = numerical_grad(lambda m: manual.loss(m, X, y), model, name)
        error = np.max(np.abs(grads[name] - numerical)) / np.max(np.abs(numerical))
        assert error < 1e-6, f"{name}: relative error {error:.2e}"


def test_backward_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    model, X, y = make_problem(10, n=16)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in model.items()}
    Z1 = torch.relu(torch.tensor(X) @ params["W1"] + params["b1"])
    logits = Z1 @ params["W2"] + params["b2"]
    torch.nn.functional.cross_entropy(logits, torch.tensor(y), reduction="sum").backward()
    grads = manual.backward(model, X, y)
    for name in PARAMS:
        np.testing.assert_allclose(grads[name], params[name].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_relu_gradient_is_zero_where_the_unit_is_off():
    model, X, y = make_problem(3)
    model["b1"] = np.full_like(model["b1"], -100.0)  # every hidden unit is off
    grads = manual.backward(model, X, y)
    for name in ("W1", "b1", "W2"):
        np.testing.assert_array_equal(grads[name], 0.0)
    _, Z2 = manual.forward(model, X)
    np.testing.assert_allclose(grads["b2"], (Z2 - manual.one_hot(y, 4)).sum(axis=0))


# ---------------------------------------------------------------- sgd and fit
def test_sgd_step_is_param_minus_lr_times_grad():
    model, X, y = make_problem(4)
    grads = manual.backward(model, X, y)
    new = manual.sgd(model, grads, 0.01)
    for name in PARAMS:
        np.testing.assert_array_equal(new[name], model[name] - 0.01 * grads[name])
    assert manual.loss(new, X, y) < manual.loss(model, X, y)


def test_fit_follows_the_documented_minibatch_schedule():
    model, X, y = make_problem(5, n=23)  # 23 rows, batches of 10: the last one has 3
    trained = manual.fit(model, X, y, lr=1e-3, batch_size=10, epochs=3, rng=11)
    rng = np.random.default_rng(11)
    expected = model
    for _ in range(3):
        order = rng.permutation(23)
        for batch in (order[:10], order[10:20], order[20:]):
            grads = manual.backward(expected, X[batch], y[batch])
            expected = {k: expected[k] - 1e-3 * grads[k] for k in PARAMS}
    for name in PARAMS:
        np.testing.assert_array_equal(trained[name], expected[name])


def test_fit_is_reproducible_with_the_same_seed():
    model, X, y = make_problem(6, n=50)
    first = manual.fit(model, X, y, lr=1e-2, epochs=2, rng=0)
    again = manual.fit(model, X, y, lr=1e-2, epochs=2, rng=np.random.default_rng(0))
    other = manual.fit(model, X, y, lr=1e-2, epochs=2, rng=1)
    for name in PARAMS:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["W1"], other["W1"])


def test_neural_net_is_reproducible_with_the_same_random_state():
    model, X, y = make_problem(7, n=40, n_features=2, n_class=2)
    a = manual.NeuralNet(hidden=8, lr=1e-2, random_state=5).fit(X, y)
    b = manual.NeuralNet(hidden=8, lr=1e-2, random_state=5).fit(X, y)
    for name in PARAMS:
        np.testing.assert_array_equal(a.model_[name], b.model_[name])


def test_nothing_mutates_its_inputs():
    model, X, y = make_problem(8, n=12)
    saved_model, saved_X, saved_y = copy.deepcopy((model, X, y))
    grads = manual.backward(model, X, y)
    saved_grads = copy.deepcopy(grads)
    manual.forward(model, X)
    manual.loss(model, X, y)
    manual.predict(model, X)
    manual.accuracy(model, X, y)
    manual.one_hot(y, 4)
    new = manual.sgd(model, grads, 0.1)
    trained = manual.fit(model, X, y, lr=0.1, batch_size=5, epochs=2, rng=0)
    np.testing.assert_array_equal(X, saved_X)
    np.testing.assert_array_equal(y, saved_y)
    assert list(model) == list(PARAMS)
    for name in PARAMS:
        np.testing.assert_array_equal(model[name], saved_model[name])
        np.testing.assert_array_equal(grads[name], saved_grads[name])
        assert not np.shares_memory(new[name], model[name])
        assert not np.shares_memory(trained[name], model[name])


def test_unchecked_backward_and_sgd_are_the_checked_ones_without_the_checks():
    model, X, y = make_problem(11)
    grads = manual.backward(model, X, y)
    fast = manual.backward(model, X, y, check=False)
    for name in PARAMS:
        np.testing.assert_array_equal(fast[name], grads[name])
    new, fast_new = manual.sgd(model, grads, 0.1), manual.sgd(model, grads, 0.1, check=False)
    for name in PARAMS:
        np.testing.assert_array_equal(fast_new[name], new[name])
    manual.sgd(model, grads, -1.0, check=False)  # not checked: the caller's promise
    with pytest.raises(ValueError, match="lr"):
        manual.sgd(model, grads, -1.0)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, X, y: manual.init_network(hidden=0), "hidden must be positive"),
        (lambda m, X, y: manual.init_network(n_features=-1), "n_features must be positive"),
        (lambda m, X, y: manual.forward(m, X[:, :2]), r"X must have shape \(n_samples, 3\)"),
        (lambda m, X, y: manual.forward(m, X[0]), r"got \(3,\)"),
        (lambda m, X, y: manual.backward(m, X, y[:-1]), r"y must have shape \(7,\)"),
        (lambda m, X, y: manual.loss(m, X, y + 1), r"labels must lie in \[0, 4\)"),
        (lambda m, X, y: manual.backward(m, X, -y), r"labels must lie in \[0, 4\)"),
        (lambda m, X, y: manual.loss(m, X, y.astype(float)), "integer class labels"),
        (lambda m, X, y: manual.one_hot(y, 3), r"labels must lie in \[0, 3\)"),
        (lambda m, X, y: manual.forward({**m, "b1": m["b2"]}, X), "model shapes do not fit"),
        (lambda m, X, y: manual.forward({"W1": m["W1"]}, X), "model is missing"),
        (lambda m, X, y: manual.sgd(m, {**m, "W2": m["W1"]}, 0.1), r"grads\['W2'\]"),
        (lambda m, X, y: manual.sgd(m, m, -0.1), "lr must be a positive"),
        (lambda m, X, y: manual.fit(m, X, y, batch_size=0), "batch_size must be positive"),
        (lambda m, X, y: manual.fit(m, X, y, epochs=0), "epochs must be positive"),
        (lambda m, X, y: manual.fit(m, X, y, lr=0.0), "lr must be a positive"),
        (lambda m, X, y: manual.fit(m, X[:0], y[:0]), "no samples"),
        (lambda m, X, y: manual.NeuralNet(hidden=0), "hidden must be positive"),
        (lambda m, X, y: manual.NeuralNet(n_class=4).fit(X, y + 1), r"\[0, 4\)"),
    ],
)
def test_invalid_input_raises_a_clear_value_error(call, message):
    model, X, y = make_problem(9)
    with pytest.raises(ValueError, match=message):
        call(model, X, y)


def test_non_integer_sizes_and_bad_generators_raise_type_error():
    with pytest.raises(TypeError, match="hidden must be an int"):
        manual.init_network(hidden=2.5)
    with pytest.raises(TypeError, match="rng"):
        manual.init_network(rng="seed")
    with pytest.raises(TypeError, match="random_state"):
        manual.NeuralNet(random_state=1.5).fit(np.zeros((2, 2)), np.array([0, 1]))


def test_unfitted_neural_net_raises():
    with pytest.raises(RuntimeError, match="not fitted"):
        manual.NeuralNet().predict(np.zeros((1, 2)))


# ---------------------------------------------------------------- the tutorial's data and run
def test_training_on_moons_reaches_the_tutorials_accuracy():
    X_train, X_test, y_train, y_test = load_moons()
    net = manual.NeuralNet(hidden=64, batch_size=10, epochs=10, random_state=0)
    assert net.fit(X_train, y_train) is net
    assert net.score(X_test, y_test) > 0.85
    assert net.predict(X_test).shape == (1250,)
    # the functional path gives the same network as the class
    rng = np.random.default_rng(0)
    model = manual.fit(manual.init_network(2, 2, 64, rng), X_train, y_train, rng=rng)
    assert manual.accuracy(model, X_test, y_test) == net.score(X_test, y_test)
