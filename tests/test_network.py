"""Tests of models/network.py: the autograd moon network against the hand-derived reference,
its training loop (and what it does when the loss diverges), and prediction."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import autograd_lite as al
from models import manual, network
from models.data import load_moons
from models.network import MoonNet
from tests.moon_problems import PARAMS, assert_models_close, random_problem


@pytest.fixture(scope="module")
def data():
    return load_moons()


# ---------------------------------------------------------------- the network
@pytest.mark.parametrize("sizes", [(2, 2, 64), (3, 4, 5), (1, 1, 1)])
def test_moonnet_draws_the_same_initial_parameters_as_manual_init(sizes):
    n_features, n_class, hidden = sizes
    net = MoonNet(n_features, n_class, hidden, rng=np.random.default_rng(11))
    reference = manual.init_network(n_features, n_class, hidden, np.random.default_rng(11))
    for name in PARAMS:
        np.testing.assert_array_equal(net.to_manual()[name], reference[name])
    assert list(net.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def test_moonnet_advances_a_shared_generator_like_manual():
    gen_a, gen_b = np.random.default_rng(5), np.random.default_rng(5)
    MoonNet(rng=gen_a)
    manual.init_network(rng=gen_b)
    assert gen_a.integers(1 << 30) == gen_b.integers(1 << 30)


def test_from_manual_copies_and_round_trips():
    model, _, _ = random_problem(0)
    net = MoonNet.from_manual(model)
    back = net.to_manual()
    for name in PARAMS:
        np.testing.assert_array_equal(back[name], model[name])
    back["W1"][0, 0] += 1.0
    assert net.fc1.weight.data[0, 0] == model["W1"][0, 0]


def test_from_state_dict_names_missing_keys():
    state = MoonNet(hidden=3, rng=0).state_dict()
    del state["fc2.bias"]
    with pytest.raises(ValueError, match="fc2.bias"):
        MoonNet.from_state_dict(state)


def test_bad_rng_is_refused():
    with pytest.raises(TypeError, match="rng"):
        MoonNet(rng="seed")


# ---------------------------------------------------------------- prediction
def test_forward_matches_manual_forward():
    model, X, _ = random_problem(1)
    net = MoonNet.from_manual(model)
    _, Z2 = manual.forward(model, X)
    np.testing.assert_allclose(network.predict_proba(net, X), Z2, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(network.predict(net, X), manual.predict(model, X))


def test_log_proba_is_the_log_of_proba_and_finite_where_proba_underflows():
    model, X, _ = random_problem(2)
    net = MoonNet.from_manual({**model, "W2": model["W2"] * 1e3})  # some probabilities are 0.0
    proba, log_proba = network.predict_proba(net, X), network.predict_log_proba(net, X)
    assert np.any(proba == 0.0) and np.all(np.isfinite(log_proba))
    visible = proba > 1e-300
    np.testing.assert_allclose(log_proba[visible], np.log(proba[visible]), rtol=1e-12, atol=1e-12)


def test_large_inputs_are_predicted_in_chunks_with_the_same_result(monkeypatch):
    model, X, _ = random_problem(3, n=50)
    net = MoonNet.from_manual(model)
    whole = network.predict_proba(net, X)
    monkeypatch.setattr(network, "_PREDICT_CHUNK", 7 * 8)  # 8 rows of 7 hidden units a chunk
    np.testing.assert_allclose(network.predict_proba(net, X), whole, rtol=1e-14)
    assert network.predict_log_proba(net, X).shape == (50, 4)


def test_prediction_records_no_graph(data):
    X, X_test, y, _ = data
    net = MoonNet(hidden=8, rng=0)
    probs = network.predict_proba(net, X_test)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    assert isinstance(probs, np.ndarray)
    assert al.is_grad_enabled()
    assert all(p.grad is None for p in net.parameters())


# ---------------------------------------------------------------- training
@pytest.mark.parametrize("batch_size", [10, 7])  # 7 leaves a short last minibatch
def test_training_follows_the_manual_trajectory(data, batch_size):
    X, _, y, _ = data
    X, y = X[:500], y[:500]
    start = manual.init_network(hidden=16, rng=np.random.default_rng(0))
    net = MoonNet.from_manual(start)
    network.train(net, X, y, batch_size=batch_size, epochs=2, rng=np.random.default_rng(9))
    reference = manual.fit(start, X, y, batch_size=batch_size, epochs=2, rng=9)
    assert_models_close(net.to_manual(), reference, rtol=1e-9)
    assert not np.allclose(reference["W1"], start["W1"])  # it did train


def test_train_returns_the_loss_of_each_epoch(data):
    X, _, y, _ = data
    net = MoonNet(hidden=16, rng=0)
    start_loss = manual.loss(net.to_manual(), X, y) / len(X)
    seen = []
    history = network.train(net, X, y, epochs=4, rng=1, callback=lambda e, v: seen.append((e, v)))
    assert history.shape == (4,) and [e for e, _ in seen] == [0, 1, 2, 3]
    np.testing.assert_array_equal(history, [v for _, v in seen])
    assert history[-1] < history[0] < start_loss
    end_loss = manual.loss(net.to_manual(), X, y) / len(X)
    assert end_loss == pytest.approx(history[-1], rel=0.2)
    assert network.diverged_epoch(history) is None


def test_mean_reduction_with_scaled_lr_matches_sum_reduction(data):
    X, _, y, _ = data
    X, y = X[:505], y[:505]  # 505 = 50 full batches of 10 and a short one of 5
    a, b = MoonNet(hidden=8, rng=2), MoonNet(hidden=8, rng=2)
    history_sum = network.train(a, X, y, lr=1e-4, epochs=1, rng=3)
    history_mean = network.train(b, X, y, lr=1e-3, epochs=1, rng=3, reduction="mean")
    # The per-sample loss of the epoch does not depend on the reduction.
    np.testing.assert_allclose(history_mean, history_sum, rtol=1e-6)


def test_a_diverging_run_stops_and_warns_naming_the_epoch(data):
    X, _, y, _ = data
    net = MoonNet(hidden=8, rng=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = network.train(net, X[:200], y[:200], lr=1e10, epochs=5, rng=0)
    assert len(history) < 5 and not np.isfinite(history[-1])
    assert np.all(np.isfinite(history[:-1]))
    epoch = network.diverged_epoch(history)
    assert epoch == len(history)
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert messages == [messages[0]] and f"diverged at epoch {epoch} of 5" in messages[0]
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]  # numpy's: hidden


def test_diverged_epoch_counts_from_one():
    assert network.diverged_epoch(np.array([1.0, 0.5])) is None
    assert network.diverged_epoch(np.array([1.0, np.inf])) == 2
    assert network.diverged_epoch(np.array([np.nan])) == 1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"epochs": 2.5}, TypeError, "epochs"),
        ({"lr": -1.0}, ValueError, "lr"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
        ({"reduction": "none"}, ValueError, "reduction"),
        ({"rng": -1}, ValueError, "rng"),
    ],
)
def test_train_rejects_bad_arguments(data, kwargs, error, match):
    X, _, y, _ = data
    net = MoonNet(hidden=4, rng=0)
    with pytest.raises(error, match=match):
        network.train(net, X, y, **kwargs)


def test_train_rejects_bad_labels_and_empty_data(data):
    X, _, y, _ = data
    net = MoonNet(hidden=4, rng=0)
    with pytest.raises(ValueError, match="labels"):
        network.train(net, X, y + 5)
    with pytest.raises(ValueError, match="no samples"):
        network.train(net, X[:0], y[:0])
