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
import math
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
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
# What a worker process trains on, and the event that tells it to stop (set by _init_worker).
_DATA: Data | None = None
_STOP: Any = None


class _Stopped(Exception):
    """A worker's training was stopped (the parent was interrupted)."""


def _init_worker(data: Data | None, stop: Any) -> None:
    global _DATA, _STOP
    # Ctrl-C reaches every process of the terminal's group: the parent alone handles it
    # (it sets `stop`, which ends the workers' trainings), so no worker prints a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held back by _sigint_deferred while starting
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _DATA, _STOP = (data if data is not None else load_moons()), stop
    # Tiny matrices: BLAS threads would only fight the other worker for the cores, and a
    # fixed single thread keeps every result independent of the machine's core count.
    threadpool_limits(1)


def train_and_score(
    task: Training, data: Data | None = None, callback: Callable[[int, float], None] | None = None
) -> float:
    """Fit a `MoonClassifier` as ``task`` says on the training split; its test accuracy.

    ``callback(epoch, loss)`` is called after each epoch (`MoonClassifier.fit`'s).
    """
    X_train, X_test, y_train, y_test = data if data is not None else load_moons()
    clf = MoonClassifier(
        hidden=task.hidden,
        batch_size=task.batch_size,
        epochs=task.epochs,
        lr=task.lr,
        optimizer=task.optimizer,
        random_state=np.random.default_rng(task.seed),
    )
    return float(clf.fit(X_train, y_train, callback=callback).score(X_test, y_test))


def _stop_if_asked(epoch: int, loss: float) -> None:
    if _STOP is not None and _STOP.is_set():
        raise _Stopped


def _worker_task(task: Training) -> float:
    try:
        return train_and_score(task, _DATA, callback=_stop_if_asked)
    except _Stopped:
        return math.nan


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
    _run_in_pool(tasks, min(workers, len(tasks)), data, results, partial(bar, disable=not progress))
    return results


def _run_in_pool(
    tasks: Sequence[Training],
    workers: int,
    data: Data | None,
    results: np.ndarray,
    bar: Callable[[], Any],
) -> None:
    """Fill ``results`` from a pool of ``workers`` processes, counting them on ``bar()``.

    Ctrl-C must never interrupt concurrent.futures in the middle of its locking (a future's
    lock left held makes the shutdown hang): while the pool runs, it only raises a flag,
    the workers are told to stop after their current epoch and KeyboardInterrupt is raised
    once the pool has shut down.
    """
    context = multiprocessing.get_context()
    stop = context.Event()
    pool = ProcessPoolExecutor(workers, context, _init_worker, (data, stop))
    # The costliest trainings first, so that no worker is left with a long one at the end.
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].hidden * tasks[i].epochs)
    with _sigint_as_flag() as interrupted:
        try:
            # Submitting starts the workers (see _init_worker), before the progress bar
            # starts its monitor thread: no thread of ours is forked in the middle of a lock.
            with _sigint_deferred():
                futures = {pool.submit(_worker_task, tasks[i]): i for i in order}
            done: queue.SimpleQueue = queue.SimpleQueue()
            for future in futures:
                future.add_done_callback(done.put)
            with bar() as progress_bar:
                for _ in range(len(futures)):
                    future = _next(done, interrupted)
                    results[futures[future]] = future.result()
                    progress_bar.update()
        except BaseException:  # Ctrl-C or a failed training: the others stop after an epoch
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    pool.shutdown()


def _next(done: queue.SimpleQueue, interrupted: list[int]) -> Future:
    """The next finished future, or KeyboardInterrupt if Ctrl-C was pressed meanwhile."""
    while not interrupted:
        try:
            return done.get(timeout=0.2)
        except queue.Empty:
            pass
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_as_flag() -> Iterator[list[int]]:
    """In the main thread, Ctrl-C appends to the list yielded instead of raising."""
    interrupted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back in this thread (it is delivered on leaving, not lost); processes
    started meanwhile inherit the block, and `_init_worker` ignores the signal before it
    unblocks it, so a worker never sees a Ctrl-C."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
