"""Tests of models/estimator.py: MoonClassifier as a scikit-learn estimator, its warnings,
and saving and loading it."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import autograd_lite as al
from models import estimator, manual
from models.data import load_moons
from models.estimator import InvalidParameterError, MoonClassifier
from tests.moon_problems import assert_models_close


@pytest.fixture(scope="module")
def data():
    return load_moons()


@pytest.fixture(scope="module")
def fitted(data):
    """A small classifier trained one epoch on the tutorial's data."""
    X_train, _, y_train, _ = data
    return MoonClassifier(hidden=8, epochs=1, random_state=0).fit(X_train, y_train)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_check_estimator_passes():
    results = check_estimator(
        MoonClassifier(), on_fail=None, expected_failed_checks=estimator.expected_failed_checks()
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


def test_a_single_class_is_refused_as_scikit_learn_classifiers_do():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="at least 2 classes.*'only'"):
        MoonClassifier(hidden=3, random_state=0).fit(X, ["only"] * 20)
    with pytest.raises(ValueError, match="class"):
        LogisticRegression().fit(X, ["only"] * 20)  # the behaviour we follow


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
        ({"hidden": True}, "hidden"),
        ({"dtype": "float16"}, "dtype"),
        ({"dtype": None}, "dtype"),
    ],
)
def test_bad_hyperparameters_are_refused_at_fit(params, match):
    clf = MoonClassifier(**params)  # scikit-learn: __init__ only stores them
    with pytest.raises(InvalidParameterError, match=match) as info:
        clf.fit(np.zeros((4, 2)), [0, 1, 0, 1])
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


def test_classifier_follows_the_class_based_manual_network(data):
    X_train, X_test, y_train, y_test = data
    clf = MoonClassifier(hidden=12, batch_size=20, epochs=1, random_state=4)
    clf.fit(X_train, y_train)
    ref = manual.NeuralNet(hidden=12, batch_size=20, epochs=1, random_state=4)
    ref.fit(X_train, y_train)
    assert_models_close(clf.network_.to_manual(), ref.model_, rtol=1e-9)
    assert clf.score(X_test, y_test) == ref.score(X_test, y_test)


def test_predict_log_proba_is_the_log_of_predict_proba(fitted, data):
    X_test = data[1]
    log_proba = fitted.predict_log_proba(X_test)
    np.testing.assert_allclose(log_proba, np.log(fitted.predict_proba(X_test)), rtol=1e-10)
    with pytest.raises(ValueError, match="features"):
        fitted.predict_log_proba(X_test[:, :1])


def test_fit_warns_when_the_loss_diverges_and_keeps_the_losses_run(data):
    X_train, _, y_train, _ = data
    clf = MoonClassifier(hidden=8, epochs=4, lr=1e10, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"diverged at epoch \d+ of 4"):
        clf.fit(X_train[:100], y_train[:100])
    assert 1 <= len(clf.loss_curve_) < 4 and not np.isfinite(clf.loss_curve_[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a sane run warns nothing
        MoonClassifier(hidden=8, epochs=2, random_state=0).fit(X_train[:100], y_train[:100])


def test_fit_calls_back_after_each_epoch(data):
    X_train, _, y_train, _ = data
    seen = []
    clf = MoonClassifier(hidden=4, epochs=3, random_state=0)
    clf.fit(X_train[:50], y_train[:50], callback=lambda epoch, loss: seen.append((epoch, loss)))
    assert seen == list(enumerate(clf.loss_curve_.tolist()))


def test_float32_trains_predicts_saves_and_loads_in_float32(tmp_path, data):
    X_train, X_test, y_train, y_test = data
    clf = MoonClassifier(hidden=8, epochs=2, random_state=0, dtype="float32")
    clf.fit(X_train, y_train)
    ref = MoonClassifier(hidden=8, epochs=2, random_state=0).fit(X_train, y_train)
    assert all(p.data.dtype == np.float32 for p in clf.network_.parameters())
    assert clf.predict_proba(X_test).dtype == np.float32
    for name, value in ref.network_.to_manual().items():  # the same training, in float32
        np.testing.assert_allclose(clf.network_.to_manual()[name], value, rtol=1e-4, atol=1e-4)
    assert abs(clf.score(X_test, y_test) - ref.score(X_test, y_test)) <= 0.002
    clf.save(tmp_path / "m.npz")
    loaded = MoonClassifier.load(tmp_path / "m.npz")
    assert loaded.dtype == "float32" and loaded.network_.dtype == np.float32
    np.testing.assert_array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))
    MoonClassifier(hidden=3, epochs=1, random_state=0, dtype=np.float32).fit(X_train, y_train)


# ---------------------------------------------------------------- save and load
def test_save_and_load_restore_settings_classes_and_predictions(tmp_path, fitted, data):
    path = tmp_path / "model.npz"
    fitted.save(path)
    loaded = MoonClassifier.load(path)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    np.testing.assert_array_equal(loaded.loss_curve_, fitted.loss_curve_)
    assert loaded.n_features_in_ == 2
    np.testing.assert_array_equal(loaded.predict_proba(data[1]), fitted.predict_proba(data[1]))
    content = al.load(path)  # the library's own safe format, readable without models/
    assert content["format"] == "models.MoonClassifier" and content["params"]["hidden"] == 8
    assert list(content["network"]) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def test_save_keeps_string_labels_and_drops_a_generator_random_state(tmp_path):
    X, y = make_blobs(n_samples=60, centers=3, random_state=1)
    names = np.array(["a", "bb", "ccc"], dtype=object)[y]  # object labels, as from pandas
    clf = MoonClassifier(hidden=4, epochs=2, random_state=np.random.default_rng(0))
    clf.fit(X, names).save(tmp_path / "m.npz")
    loaded = MoonClassifier.load(tmp_path / "m.npz")
    assert loaded.random_state is None
    assert loaded.classes_.tolist() == ["a", "bb", "ccc"]
    assert loaded.predict(X).tolist() == clf.predict(X).tolist()


def test_save_needs_a_fitted_model(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        MoonClassifier().save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_load_refuses_what_is_not_a_saved_classifier(tmp_path, fitted):
    with pytest.raises(FileNotFoundError):
        MoonClassifier.load(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not an .npz file"):
        MoonClassifier.load(tmp_path / "text.npz")
    al.save(fitted.network_.state_dict(), tmp_path / "weights.npz")  # weights alone
    with pytest.raises(ValueError, match="not a saved MoonClassifier"):
        MoonClassifier.load(tmp_path / "weights.npz")
    fitted.save(tmp_path / "m.npz")
    content = al.load(tmp_path / "m.npz")
    content["params"]["hidden"] = 9  # the weights are for 8 units
    al.save(content, tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="malformed MoonClassifier file"):
        MoonClassifier.load(tmp_path / "bad.npz")
    del content["network"]
    al.save(content, tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="malformed"):
        MoonClassifier.load(tmp_path / "bad.npz")
