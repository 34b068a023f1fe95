"""The tutorial's experiments: repeated trainings and the width sweep, spread over the cores.

Every training is independent and seeded by its own ``numpy.random.SeedSequence(seed,
spawn_key=key)``: run ``i`` of `repeat` has key ``(i,)`` (the ``i``-th child of
``SeedSequence(seed).spawn(...)``) and trial ``t`` of width ``w`` in `width_sweep` has key
``(w, t)``. A training's result therefore depends only on ``seed`` and its key: not on the
number of worker processes, on the order in which they finish, or on the other runs (the
first 3 of ``repeat(runs=100)`` are ``repeat(runs=3)``).

Each training is one `MoonClassifier` fit on the tutorial's training split and scored on its
test split, with the Generator built from its SeedSequence drawing the initial weights first,
then the shuffles.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from autograd_lite import validate
from models import tutorial
from models.data import Data, load_moons
from models.estimator import MoonClassifier


@dataclass(frozen=True)
class Training:
    """One training to run: the network's settings and what seeds its Generator (a
    SeedSequence, or an int seed: ``default_rng(seed)``)."""

    hidden: int
    batch_size: int
    epochs: int
    lr: float
    seed: np.random.SeedSequence | int
    optimizer: str = "sgd"


@dataclass(frozen=True)
class RepeatResult:
    """Test accuracies of independent trainings, their mean and (population) std."""

    accuracies: np.ndarray
    mean: float
    std: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.settings,
            "mean": self.mean,
            "std": self.std,
            "accuracies": self.accuracies.tolist(),
        }


@dataclass(frozen=True)
class SweepResult:
    """Test accuracy of each trial (rows: widths) and the mean accuracy of each width."""

    widths: np.ndarray
    accuracies: np.ndarray
    mean_accuracy: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.settings,
            "widths": self.widths.tolist(),
            "mean_accuracy": self.mean_accuracy.tolist(),
            "accuracies": self.accuracies.tolist(),
        }


# ------------------------------------------------------------------------------ the runs
_DATA: Data | None = None  # the data a worker process trains on (set by _init_worker)


def _init_worker(data: Data | None) -> None:
    global _DATA
    # Ctrl-C reaches every process of the terminal's group: the parent alone handles it
    # (it stops the workers), so the workers print no tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _DATA = data if data is not None else load_moons()
    # Tiny matrices: BLAS threads would only fight the other worker for the cores, and a
    # fixed single thread keeps every result independent of the machine's core count.
    threadpool_limits(1)


def train_and_score(task: Training, data: Data | None = None) -> float:
    """Fit a `MoonClassifier` as ``task`` says on the training split; its test accuracy."""
    X_train, X_test, y_train, y_test = data if data is not None else load_moons()
    clf = MoonClassifier(
        hidden=task.hidden,
        batch_size=task.batch_size,
        epochs=task.epochs,
        lr=task.lr,
        optimizer=task.optimizer,
        random_state=np.random.default_rng(task.seed),
    )
    return float(clf.fit(X_train, y_train).score(X_test, y_test))


def _worker_task(task: Training) -> float:
    return train_and_score(task, _DATA)


def default_workers(n_tasks: int | None = None) -> int:
    """The number of cores this process may use (at most ``n_tasks``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, n_tasks or cores or 1))


def run_trainings(
    tasks: Sequence[Training],
    workers: int | None = None,
    progress: bool = True,
    desc: str = "training",
    data: Data | None = None,
) -> np.ndarray:
    """Test accuracy of each task, in the order given, using ``workers`` processes.

    ``workers=None`` uses every available core; 1 runs in this process. A tqdm bar on
    stderr counts finished trainings unless ``progress`` is False.
    """
    if workers is None:
        workers = default_workers(len(tasks))
    workers = validate.positive_int(workers, "workers")
    results = np.empty(len(tasks))
    bar = partial(tqdm, total=len(tasks), desc=desc, unit="run", file=sys.stderr)
    if workers == 1 or len(tasks) <= 1:
        data = data if data is not None else load_moons()
        with threadpool_limits(1), bar(disable=not progress) as progress_bar:
            for i, task in enumerate(tasks):
                results[i] = train_and_score(task, data)
                progress_bar.update()
        return results
    # The costliest trainings first, so that no worker is left with a long one at the end.
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].hidden * tasks[i].epochs)
    pool = ProcessPoolExecutor(min(workers, len(tasks)), None, _init_worker, (data,))
    try:
        # Submitting starts the workers (before the progress bar starts its monitor thread),
        # with Ctrl-C ignored until their initializer has said so for good.
        with _sigint_ignored():
            futures = {pool.submit(_worker_task, tasks[i]): i for i in order}
        with bar(disable=not progress) as progress_bar:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                progress_bar.update()
    except BaseException:  # Ctrl-C or a failed training: stop the others now
        _terminate(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C in the main thread for a moment; processes started meanwhile inherit it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop the workers at once rather than after their current training (before shutdown)."""
    stop = getattr(pool, "terminate_workers", None)  # Python 3.14
    if stop is not None:
        stop()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


# ------------------------------------------------------------------------------ experiments
def repeat(
    runs: int = tutorial.RUNS,
    hidden: int = tutorial.HIDDEN,
    batch_size: int = tutorial.BATCH_SIZE,
    epochs: int = tutorial.EPOCHS,
    seed: int = 0,
    *,
    lr: float = tutorial.LR,
    workers: int | None = None,
    progress: bool = True,
    data: Data | None = None,
) -> RepeatResult:
    """The tutorial's repeated training: ``runs`` independent trainings, their test accuracies.

    Run ``i`` is seeded by ``SeedSequence(seed, spawn_key=(i,))``. ``std`` is the population
    standard deviation (``np.std``). The tutorial reported mean 0.94541, std 0.019558.
    """
    runs, hidden = validate.positive_int(runs, "runs"), validate.positive_int(hidden, "hidden")
    batch_size = validate.positive_int(batch_size, "batch_size")
    epochs = validate.positive_int(epochs, "epochs")
    seed, lr = validate.seed(seed), validate.learning_rate(lr)
    tasks = [
        Training(hidden, batch_size, epochs, lr, np.random.SeedSequence(seed, spawn_key=(i,)))
        for i in range(runs)
    ]
    accuracies = run_trainings(tasks, workers, progress, "repeat", data)
    settings = dict(
        runs=runs, hidden=hidden, batch_size=batch_size, epochs=epochs, lr=lr, seed=seed
    )
    return RepeatResult(accuracies, float(accuracies.mean()), float(accuracies.std()), settings)


def width_sweep(
    min_hidden: int = tutorial.SWEEP_MIN_HIDDEN,
    max_hidden: int = tutorial.SWEEP_MAX_HIDDEN,
    trials: int = tutorial.SWEEP_TRIALS,
    batch_size: int = tutorial.BATCH_SIZE,
    epochs: int = tutorial.SWEEP_EPOCHS,
    seed: int = 0,
    *,
    lr: float = tutorial.LR,
    workers: int | None = None,
    progress: bool = True,
    data: Data | None = None,
) -> SweepResult:
    """Mean test accuracy of ``trials`` trainings for each width in ``range(min, max)``.

    The tutorial's sweep (``arange(3, 40)``, 3 trials, batch 10, 100 epochs): 111 trainings
    of 37,500 steps. Trial ``t`` of width ``w`` is seeded by ``SeedSequence(seed,
    spawn_key=(w, t))``, so a width's numbers do not depend on the range swept.
    """
    min_hidden = validate.positive_int(min_hidden, "min_hidden")
    max_hidden = validate.positive_int(max_hidden, "max_hidden")
    if max_hidden <= min_hidden:
        raise ValueError(
            f"max_hidden must be greater than min_hidden (widths range(min_hidden, max_hidden)),"
            f" got min_hidden={min_hidden}, max_hidden={max_hidden}"
        )
    trials = validate.positive_int(trials, "trials")
    batch_size = validate.positive_int(batch_size, "batch_size")
    epochs = validate.positive_int(epochs, "epochs")
    seed, lr = validate.seed(seed), validate.learning_rate(lr)
    widths = np.arange(min_hidden, max_hidden)
    tasks = [
        Training(
            int(w), batch_size, epochs, lr, np.random.SeedSequence(seed, spawn_key=(int(w), t))
        )
        for w in widths
        for t in range(trials)
    ]
    accuracies = run_trainings(tasks, workers, progress, "width sweep", data)
    accuracies = accuracies.reshape(len(widths), trials)
    settings = dict(
        min_hidden=min_hidden,
        max_hidden=max_hidden,
        trials=trials,
        batch_size=batch_size,
        epochs=epochs,
        lr=lr,
        seed=seed,
    )
    return SweepResult(widths, accuracies, accuracies.mean(axis=1), settings)
