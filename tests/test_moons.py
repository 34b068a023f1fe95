"""Tests of models/moons.py: the autograd moon network against the hand-derived reference,
its training loop, the scikit-learn estimator and the gradient comparison."""

import json
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import autograd_lite as al
from models import manual, moons
from models.moons import MoonClassifier, MoonNet

PARAMS = manual.PARAMS


@pytest.fixture(scope="module")
def data():
    return moons.load_moons()


def random_problem(seed, n=13, n_features=3, n_hidden=7, n_class=4):
    """Random float64 parameters (not just the standard-normal init), inputs and labels."""
    rng = np.random.default_rng(seed)
    model = {
        "W1": rng.normal(0, 2, (n_features, n_hidden)),
        "b1": rng.normal(0, 1, n_hidden),
        "W2": rng.normal(0, 2, (n_hidden, n_class)),
        "b2": rng.normal(0, 1, n_class),
    }
    X = rng.normal(0, 3, (n, n_features))
    y = rng.integers(0, n_class, n)
    return model, X, y


def assert_models_close(a, b, rtol):
    for name in PARAMS:
        scale = np.abs(b[name]).max()
        np.testing.assert_allclose(a[name], b[name], rtol=rtol, atol=rtol * scale, err_msg=name)


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


def test_forward_matches_manual_forward():
    model, X, _ = random_problem(1)
    net = MoonNet.from_manual(model)
    _, Z2 = manual.forward(model, X)
    np.testing.assert_allclose(moons.predict_proba(net, X), Z2, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(moons.predict(net, X), manual.predict(model, X))


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("seed", range(6))
def test_autograd_gradients_equal_hand_derived_to_1e_12(seed):
    model, X, y = random_problem(seed, n=1 + 7 * seed, n_hidden=2 + 5 * seed)
    auto = moons.autograd_gradients(model, X, y)
    hand = manual.backward(model, X, y)
    assert_models_close(auto, hand, rtol=1e-12)


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    n_features=st.integers(1, 5),
    n_hidden=st.integers(1, 70),
    n_class=st.integers(1, 5),
)
def test_autograd_gradients_equal_hand_derived_for_drawn_sizes(
    seed, n, n_features, n_hidden, n_class
):
    model, X, y = random_problem(seed, n, n_features, n_hidden, n_class)
    assert_models_close(
        moons.autograd_gradients(model, X, y), manual.backward(model, X, y), rtol=1e-12
    )


def test_autograd_and_hand_derived_gradients_agree_with_finite_differences():
    model, X, y = random_problem(42, n=9, n_hidden=6, n_class=3)
    rows = moons.compare_gradients(model, X, y)
    assert [row.name for row in rows] == list(PARAMS)
    for row in rows:
        assert row.shape == model[row.name].shape
        diffs = row.differences()
        assert diffs["autograd-manual"][1] <= 1e-12
        assert diffs["autograd-numeric"][1] < 1e-6, (row.name, diffs)
        assert diffs["manual-numeric"][1] < 1e-6, (row.name, diffs)
        np.testing.assert_allclose(row.numeric, row.manual, rtol=1e-5, atol=1e-6 * row.scale)


def test_mean_reduction_gradient_is_the_sum_divided_by_the_batch():
    model, X, y = random_problem(3)
    total = moons.autograd_gradients(model, X, y, reduction="sum")
    mean = moons.autograd_gradients(model, X, y, reduction="mean")
    for name in PARAMS:
        np.testing.assert_allclose(mean[name] * len(X), total[name], rtol=1e-12)


def test_compare_gradients_defaults_table_and_json():
    rows = moons.compare_gradients(hidden=16, batch_size=7, seed=3)
    assert [row.shape for row in rows] == [(2, 16), (16,), (16, 2), (2,)]
    assert all(row.differences()["autograd-manual"][1] <= 1e-12 for row in rows)
    table = moons.format_gradient_table(rows)
    for word in ("W1", "b1", "W2", "b2", "autograd vs hand", "max abs", "rel"):
        assert word in table
    parsed = json.loads(json.dumps([row.to_dict() for row in rows]))
    assert parsed[0]["name"] == "W1" and set(parsed[0]["autograd-numeric"]) == {"max_abs", "rel"}
    again = moons.compare_gradients(hidden=16, batch_size=7, seed=3)
    np.testing.assert_array_equal(again[0].autograd, rows[0].autograd)


def test_compare_gradients_accepts_a_network_and_checks_its_arguments():
    net = MoonNet(hidden=5, rng=1)
    rows = moons.compare_gradients(net, batch_size=4)
    np.testing.assert_array_equal(rows[0].manual.shape, (2, 5))
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="both X and y"):
        moons.compare_gradients(net, X=X)
    with pytest.raises(ValueError, match="shape"):
        moons.compare_gradients(net, X=np.zeros((3, 4)), y=np.zeros(3, dtype=int))


# ---------------------------------------------------------------- training
@pytest.mark.parametrize("batch_size", [10, 7])  # 7 leaves a short last minibatch
def test_training_follows_the_manual_trajectory(data, batch_size):
    X, _, y, _ = data
    X, y = X[:500], y[:500]
    start = manual.init_network(n_hidden=16, rng=np.random.default_rng(0))
    net = MoonNet.from_manual(start)
    moons.train(net, X, y, batch_size=batch_size, epochs=2, rng=np.random.default_rng(9))
    reference = manual.fit(start, X, y, batch_size=batch_size, epochs=2, rng=9)
    assert_models_close(net.to_manual(), reference, rtol=1e-9)
    assert not np.allclose(reference["W1"], start["W1"])  # it did train


def test_classifier_follows_the_class_based_manual_network(data):
    X_train, X_test, y_train, y_test = data
    clf = MoonClassifier(hidden=12, batch_size=20, epochs=1, random_state=4)
    clf.fit(X_train, y_train)
    ref = manual.NeuralNet(n_hidden=12, batch_size=20, epochs=1, random_state=4)
    ref.fit(X_train, y_train)
    assert_models_close(clf.network_.to_manual(), ref.model_, rtol=1e-9)
    assert clf.score(X_test, y_test) == ref.score(X_test, y_test)


def test_train_returns_the_loss_of_each_epoch(data):
    X, _, y, _ = data
    net = MoonNet(hidden=16, rng=0)
    start_loss = manual.loss(net.to_manual(), X, y) / len(X)
    seen = []
    history = moons.train(net, X, y, epochs=4, rng=1, callback=lambda e, v: seen.append((e, v)))
    assert history.shape == (4,) and [e for e, _ in seen] == [0, 1, 2, 3]
    np.testing.assert_array_equal(history, [v for _, v in seen])
    assert history[-1] < history[0] < start_loss
    end_loss = manual.loss(net.to_manual(), X, y) / len(X)
    assert end_loss == pytest.approx(history[-1], rel=0.2)


def test_mean_reduction_with_scaled_lr_matches_sum_reduction(data):
    X, _, y, _ = data
    X, y = X[:505], y[:505]  # 505 = 50 full batches of 10 and a short one of 5
    a, b = MoonNet(hidden=8, rng=2), MoonNet(hidden=8, rng=2)
    history_sum = moons.train(a, X, y, lr=1e-4, epochs=1, rng=3)
    history_mean = moons.train(b, X, y, lr=1e-3, epochs=1, rng=3, reduction="mean")
    # The per-sample loss of the epoch does not depend on the reduction.
    np.testing.assert_allclose(history_mean, history_sum, rtol=1e-6)


def test_train_rejects_bad_arguments(data):
    X, _, y, _ = data
    net = MoonNet(hidden=4, rng=0)
    with pytest.raises(ValueError, match="batch_size"):
        moons.train(net, X, y, batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        moons.train(net, X, y, lr=-1.0)
    with pytest.raises(ValueError, match="optimizer"):
        moons.train(net, X, y, optimizer="rmsprop")
    with pytest.raises(ValueError, match="reduction"):
        moons.train(net, X, y, reduction="none")
    with pytest.raises(ValueError, match="labels"):
        moons.train(net, X, y + 5)


def test_prediction_records_no_graph(data):
    X, X_test, y, _ = data
    net = MoonNet(hidden=8, rng=0)
    probs = moons.predict_proba(net, X_test)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    assert isinstance(probs, np.ndarray)
    assert al.is_grad_enabled()
    assert all(p.grad is None for p in net.parameters())


def test_saved_parameters_restore_the_predictions(tmp_path, data):
    X_train, X_test, y_train, _ = data
    clf = MoonClassifier(hidden=8, epochs=1, random_state=0).fit(X_train, y_train)
    path = tmp_path / "net.npz"
    al.save(clf.network_.state_dict(), path)
    net = MoonNet.from_state_dict(al.load(path))
    np.testing.assert_array_equal(moons.predict_proba(net, X_test), clf.predict_proba(X_test))


# ---------------------------------------------------------------- the estimator
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_check_estimator_passes():
    results = check_estimator(
        MoonClassifier(), on_fail=None, expected_failed_checks=moons.expected_failed_checks()
    )
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == []
    assert len(results) > 40


def test_poor_score_tag_is_only_about_the_tutorial_defaults():
    # check_classifiers_train's data: with more epochs the model clears its 0.83 bar.
    X, y = make_blobs(n_samples=300, random_state=0)
    X = StandardScaler().fit_transform(X)
    for seed in range(3):
        clf = MoonClassifier(epochs=100, random_state=seed).fit(X, y)
        assert clf.score(X, y) > 0.83
    assert MoonClassifier().__sklearn_tags__().classifier_tags.poor_score


def test_classifier_reproduces_the_tutorial_setting(data):
    X_train, X_test, y_train, y_test = data
    clf = MoonClassifier(random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.9
    assert clf.n_features_in_ == 2
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert clf.loss_curve_.shape == (10,)


def test_string_labels_and_three_classes():
    X, y = make_blobs(n_samples=300, centers=3, random_state=1)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MoonClassifier(hidden=16, lr=1e-3, epochs=20, random_state=0).fit(X, names)
    np.testing.assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    assert clf.predict(X).dtype == names.dtype
    assert clf.score(X, names) > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 3)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))


def test_labels_in_any_order_and_many_features():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = np.where(X[:, 0] + X[:, 3] > 0, 7, -2)
    clf = MoonClassifier(hidden=8, optimizer="adam", lr=1e-2, epochs=30, random_state=1)
    clf.fit(X, y)
    np.testing.assert_array_equal(clf.classes_, [-2, 7])
    assert clf.n_features_in_ == 5
    assert clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :4])


def test_single_class_predicts_it():
    X = np.random.default_rng(0).normal(size=(20, 2))
    clf = MoonClassifier(hidden=3, random_state=0).fit(X, ["only"] * 20)
    assert list(clf.predict(X[:3])) == ["only"] * 3
    np.testing.assert_array_equal(clf.predict_proba(X[:3]), np.ones((3, 1)))


def test_works_in_cross_val_score_grid_search_and_pipeline(data):
    X_train, X_test, y_train, y_test = data
    X, y = X_train[:600], y_train[:600]
    scores = cross_val_score(MoonClassifier(hidden=16, lr=1e-3, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.85)
    search = GridSearchCV(MoonClassifier(random_state=0), {"hidden": [2, 32], "lr": [1e-4, 1e-3]})
    search.fit(X, y)
    assert search.best_params_ == {"hidden": 32, "lr": 1e-3}
    assert search.score(X_test, y_test) > 0.9
    pipe = make_pipeline(StandardScaler(), MoonClassifier(hidden=16, lr=1e-3, random_state=0))
    assert pipe.fit(X, y).score(X_test, y_test) > 0.85
    assert pipe.predict_proba(X_test).shape == (len(X_test), 2)


def test_same_random_state_same_model_and_pickle_round_trip(data):
    X_train, X_test, y_train, _ = data
    a = MoonClassifier(hidden=8, epochs=2, random_state=3).fit(X_train, y_train)
    b = clone(a).fit(X_train, y_train)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.predict_proba(X_test), a.predict_proba(X_test))
    d = MoonClassifier(hidden=8, epochs=2, random_state=4).fit(X_train, y_train)
    assert not np.array_equal(d.predict_proba(X_test), a.predict_proba(X_test))


def test_generator_and_seed_sequence_random_states(data):
    X_train, X_test, y_train, _ = data
    by_int = MoonClassifier(hidden=4, epochs=1, random_state=8).fit(X_train, y_train)
    by_gen = MoonClassifier(hidden=4, epochs=1, random_state=np.random.default_rng(8))
    by_seq = MoonClassifier(hidden=4, epochs=1, random_state=np.random.SeedSequence(8))
    for other in (by_gen, by_seq):
        other.fit(X_train, y_train)
        np.testing.assert_array_equal(other.predict_proba(X_test), by_int.predict_proba(X_test))


def test_adam_and_other_inits_train(data):
    X_train, X_test, y_train, y_test = data
    for init in ("normal", "he", "xavier"):
        clf = MoonClassifier(optimizer="adam", lr=1e-2, init=init, epochs=5, random_state=0)
        assert clf.fit(X_train, y_train).score(X_test, y_test) > 0.95, init


@pytest.mark.parametrize(
    "params, match",
    [
        ({"hidden": 0}, "hidden"),
        ({"hidden": 2.5}, "hidden"),
        ({"batch_size": -1}, "batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"init": "zeros"}, "init"),
        ({"random_state": -1}, "random_state"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_bad_hyperparameters_are_refused_at_fit(params, match):
    clf = MoonClassifier(**params)  # scikit-learn: __init__ only stores them
    with pytest.raises(ValueError, match=match):
        clf.fit(np.zeros((4, 2)), [0, 1, 0, 1])
