"""The tutorial's network as a scikit-learn classifier, `MoonClassifier`, that saves and loads.

A saved classifier is one file in autograd_lite's safe ``.npz`` format (`autograd_lite.save`:
no pickle, so loading never runs code) holding a dict::

    {"format": "models.MoonClassifier", "version": 1,
     "params": {"hidden": 64, "batch_size": 10, "epochs": 10, "lr": 0.0001,
                "optimizer": "sgd", "init": "normal", "random_state": 0, "dtype": "float64"},
     "classes": array, "n_features_in": 2, "loss_curve": array,
     "network": {"fc1.weight": array, "fc1.bias": ..., "fc2.weight": ..., "fc2.bias": ...},
     "feature_names_in": array}     # only when fitted on a DataFrame with column names
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

import autograd_lite as al
from autograd_lite import validate
from models import network, tutorial

FILE_FORMAT = "models.MoonClassifier"
FILE_VERSION = 1

# scikit-learn's check_estimator: every check passes, with one declared weakening. The
# tag poor_score=True (set in MoonClassifier.__sklearn_tags__) skips the single assertion
# "training accuracy > 0.83" of check_classifiers_train (its other assertions still run).
# Why: that check fits on make_blobs(300 samples, 3 classes), and with the tutorial's
# defaults (lr 1e-4, 10 epochs of batch 10) that is only 300 small SGD steps; the training
# accuracy then ranges from 0.50 to 0.88 with the seed (0.59 for the check's random_state=0).
# With epochs=100 or lr=1e-3 it is above 0.92 for each of 8 seeds tried (tests/test_estimator.py
# checks 3). The checks that cannot pass, with the reason, for check_estimator's
# expected_failed_checks: none (scikit-learn 1.9; it skips check_array_api_input unless
# SCIPY_ARRAY_API is set, and check_classifier_data_not_an_array when pandas is missing).
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


def expected_failed_checks(estimator: Any = None) -> dict[str, str]:
    """check name -> reason, for ``check_estimator(..., expected_failed_checks=...)``."""
    return dict(EXPECTED_FAILED_CHECKS)


class InvalidParameterError(ValueError, TypeError):
    """A hyperparameter is invalid (both kinds of error, as scikit-learn's own)."""


class MoonClassifier(ClassifierMixin, BaseEstimator):
    """The tutorial's network as a scikit-learn classifier, trained with autograd_lite.

    Any number of features and classes (at least two), any class labels (``classes_`` holds
    them sorted). ``fit`` builds a `network.MoonNet` (``hidden`` ReLU units, ``init`` weights)
    and trains it with `network.train` on the cross-entropy summed over each minibatch of
    ``batch_size`` rows, for ``epochs`` passes, by ``optimizer`` "sgd" (plain gradient
    descent, the tutorial's) or "adam" at learning rate ``lr``. One Generator made from
    ``random_state`` (an int, None, a numpy Generator, SeedSequence or RandomState) draws the
    initial weights first, then each epoch's shuffle, as `manual.NeuralNet` does, so for
    labels 0/1 both models compute the same parameters. Inputs are used as given (not
    rescaled). If the loss diverges, ``fit`` stops there with a ``ConvergenceWarning``.
    ``dtype`` "float64" (the default) or "float32" is the dtype of the weights and of the
    computations (inputs are cast to it).

    Fitted attributes: ``classes_``, ``n_features_in_`` (and ``feature_names_in_`` for
    DataFrames), ``network_`` (the trained MoonNet), ``loss_curve_`` (training loss per epoch
    run). ``save(path)`` / ``MoonClassifier.load(path)`` keep all of them and the
    hyperparameters in one safe ``.npz`` file.
    """

    def __init__(
        self,
        hidden: int = tutorial.HIDDEN,
        batch_size: int = tutorial.BATCH_SIZE,
        epochs: int = tutorial.EPOCHS,
        lr: float = tutorial.LR,
        optimizer: str = "sgd",
        init: str = "normal",
        random_state: Any = None,
        dtype: str = "float64",
    ) -> None:
        self.hidden = hidden
        self.batch_size = batch_size
        self.epochs = epochs
        self.lr = lr
        self.optimizer = optimizer
        self.init = init
        self.random_state = random_state
        self.dtype = dtype

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # The tutorial's defaults train too little for check_classifiers_train's tiny data set
        # to reach 0.83 accuracy: see the comment above EXPECTED_FAILED_CHECKS.
        tags.classifier_tags.poor_score = True
        return tags

    def _check_params(self) -> None:
        try:
            validate.positive_int(self.hidden, "hidden")
            validate.positive_int(self.batch_size, "batch_size")
            validate.positive_int(self.epochs, "epochs")
            validate.learning_rate(self.lr)
            validate.one_of(self.optimizer, "optimizer", network.OPTIMIZERS)
            validate.one_of(self.init, "init", network.INITS)
            network.check_dtype(self.dtype)
            if not isinstance(self.random_state, np.random.RandomState):
                validate.as_generator(self.random_state, "random_state")
        except (TypeError, ValueError) as e:
            raise InvalidParameterError(str(e)) from None

    def fit(
        self, X: Any, y: Any, callback: Callable[[int, float], None] | None = None
    ) -> MoonClassifier:
        """Train a new network on ``X`` (n_samples, n_features) and labels ``y``; returns self.

        ``callback(epoch, loss)`` is called after each epoch (a progress bar, say).
        """
        self._check_params()
        dtype = network.check_dtype(self.dtype)
        X, y = validate_data(self, X, y, dtype=dtype)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                "MoonClassifier needs samples of at least 2 classes, but y holds only one "
                f"class: {self.classes_[0]!r}"
            )
        rng = _generator(self.random_state)
        net = network.MoonNet(X.shape[1], len(self.classes_), self.hidden, self.init, rng, dtype)
        self.loss_curve_ = network.train(
            net,
            X,
            y_index.reshape(-1),
            self.lr,
            self.batch_size,
            self.epochs,
            rng,
            self.optimizer,
            callback=callback,
        )
        self.network_ = net
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=self.network_.dtype, reset=False)
        return network.predict_proba(self.network_, X)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log class probabilities (log_softmax of the logits: finite where a probability is 0)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=self.network_.dtype, reset=False)
        return network.predict_log_proba(self.network_, X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each row."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    # ------------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the hyperparameters, the classes and the trained weights to ``path``.

        The file is autograd_lite's ``.npz`` (`autograd_lite.save`, written atomically, no
        pickle). ``random_state`` is kept when it is an int or None (a Generator is not).
        """
        check_is_fitted(self)
        params = self.get_params(deep=False)
        state = params["random_state"]
        keep = isinstance(state, numbers.Integral) and not isinstance(state, bool)
        params["random_state"] = int(state) if keep else None
        params["dtype"] = network.check_dtype(params["dtype"]).name  # a name, not a numpy type
        content: dict[str, Any] = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "params": {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()},
            "classes": _plain(self.classes_, "classes_"),
            "n_features_in": int(self.n_features_in_),
            "loss_curve": np.asarray(self.loss_curve_),
            "network": self.network_.state_dict(),
        }
        if hasattr(self, "feature_names_in_"):
            content["feature_names_in"] = _plain(self.feature_names_in_, "feature_names_in_")
        al.save(content, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MoonClassifier:
        """A fitted MoonClassifier read from a file written by `save`.

        Raises FileNotFoundError if there is no such file and ValueError, naming the file,
        if it is not a saved MoonClassifier.
        """
        content = al.load(path)
        where = repr(os.fspath(path))
        if not isinstance(content, dict) or content.get("format") != FILE_FORMAT:
            raise ValueError(f"{where} is not a saved MoonClassifier (written by a different tool)")
        if content.get("version") != FILE_VERSION:
            raise ValueError(f"{where}: unknown MoonClassifier file version {content['version']}")
        try:
            clf = cls(**content["params"])
            clf._check_params()
            net = network.MoonNet.from_state_dict(content["network"])
            classes, n_features = np.asarray(content["classes"]), content["n_features_in"]
            sizes = (net.fc1.in_features, net.fc1.out_features, net.fc2.out_features)
            if sizes != (n_features, clf.hidden, len(classes)) or len(classes) < 2:
                raise ValueError(f"weights of shapes {sizes} do not fit the settings")
            if net.dtype != network.check_dtype(clf.dtype):
                raise ValueError(f"weights of dtype {net.dtype} but dtype={clf.dtype!r}")
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{where}: malformed MoonClassifier file ({e})") from None
        clf.classes_, clf.n_features_in_, clf.network_ = classes, n_features, net
        clf.loss_curve_ = np.asarray(content["loss_curve"], dtype=np.float64)
        if "feature_names_in" in content:
            clf.feature_names_in_ = np.asarray(content["feature_names_in"], dtype=object)
        return clf


def _plain(values: np.ndarray, what: str) -> np.ndarray:
    """An array without Python objects (strings become a str array), or TypeError."""
    if values.dtype != object:
        return values
    items = values.tolist()
    if all(isinstance(v, str) for v in items):
        return np.array(items, dtype=str)
    raise TypeError(f"save: {what} holds Python objects that cannot be stored without pickle")


def _generator(random_state: Any) -> np.random.Generator:
    """A Generator from an int seed, None, a Generator, a SeedSequence or a RandomState."""
    if isinstance(random_state, np.random.RandomState):  # scikit-learn's older convention
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    return validate.as_generator(random_state, "random_state")
