"""The tutorial's experiments: repeated trainings and the width sweep, as batched ensembles.

Every training is independent and seeded by its own ``numpy.random.SeedSequence(seed,
spawn_key=key)``: run ``i`` of `repeat` has key ``(i,)`` (the ``i``-th child of
``SeedSequence(seed).spawn(...)``) and trial ``t`` of width ``w`` in `width_sweep` has key
``(w, t)``. A training's result therefore depends only on ``seed`` and its key: not on the
number of worker processes, on the order in which they finish, or on the other runs (the
first 3 of ``repeat(runs=100)`` are ``repeat(runs=3)``; in a sweep, the widest width swept
can change the last bits of a training's weights: see below).

Each training is one `MoonClassifier` fit on the tutorial's training split and scored on its
test split, with the Generator built from its SeedSequence drawing the initial weights first,
then the shuffles.

How they run (``method``): "ensemble" (the default) trains many at once, as `models.ensemble`
does: the trainings are split into chunks, each chunk one ensemble whose member k draws from
the same Generator, in the same order, as the sequential training it stands for, and follows
its trajectory (the tests check 1e-10). "sequential" fits one `MoonClassifier` after another.
Chunks (or single trainings) run in this process (``workers=1``), in a pool of local
processes (``workers=N``, one per core by default) or on a Dask cluster (``scheduler=``, an
address such as "tcp://host:8786", "local" for a `LocalCluster` of this machine's cores, or a
``distributed.Client``; Dask is optional: ``pip install ".[dask]"``). The chunking never
changes a result: every member of a group of trainings (those sharing batch size, epochs,
learning rate, optimizer and dtype) is padded to the group's widest network, whatever chunk
it is in, so the same seed gives the same numbers, bit for bit, in-process, in local
processes and on Dask, for any number of chunks.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
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
from models import ensemble, network, tutorial
from models.data import Data, load_moons
from models.estimator import MoonClassifier

METHODS = ("ensemble", "sequential")
# At most this many trainings per ensemble (chunk): a chunk holds a shuffled copy of the
# training set per member, 3750 x 4 floats (120 kB in float64), so 256 members need 30 MB.
MAX_MEMBERS = 256
DASK_HINT = 'Dask is not installed: pip install ".[dask]" (or pip install "dask[distributed]")'
REMOTE_HINT = (
    "the Dask scheduler and workers cannot import this project's code: start them where "
    "`import models` works, e.g. PYTHONPATH=/path/to/this/repository dask scheduler (and "
    "the same for dask worker)"
)


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
    dtype: str = "float64"


@dataclass(frozen=True)
class Chunk:
    """Trainings run as one ensemble, each padded to ``width`` hidden units (the widest
    of their group, so that a training's numbers do not depend on its chunk)."""

    tasks: tuple[Training, ...]
    width: int


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
        dtype=task.dtype,
    )
    return float(clf.fit(X_train, y_train, callback=callback).score(X_test, y_test))


def train_and_score_ensemble(
    chunk: Chunk | Sequence[Training],
    data: Data | None = None,
    callback: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """The test accuracy of each training of ``chunk``, trained together as one ensemble.

    The trainings must share batch size, epochs, learning rate, optimizer and dtype. Each
    gives the accuracy `train_and_score` gives it (its Generator draws its initial weights,
    then its shuffles, as `MoonClassifier.fit` does). ``callback(epoch, losses)`` is
    `models.ensemble.train`'s.
    """
    if not isinstance(chunk, Chunk):
        chunk = Chunk(tuple(chunk), max((task.hidden for task in chunk), default=1))
    if not chunk.tasks:
        return np.empty(0)
    first = chunk.tasks[0]
    for task in chunk.tasks:
        validate.positive_int(task.hidden, "hidden")
    if any(_group(task) != _group(first) for task in chunk.tasks):
        raise ValueError(
            "an ensemble's trainings must share batch_size, epochs, lr, optimizer, dtype"
        )
    X_train, X_test, y_train, y_test = data if data is not None else load_moons()
    classes, y_index = np.unique(y_train, return_inverse=True)  # as MoonClassifier.fit
    gens = [np.random.default_rng(task.seed) for task in chunk.tasks]
    n_features = np.shape(X_train)[1]
    nets = [
        network.MoonNet(n_features, len(classes), task.hidden, "normal", gen, task.dtype)
        for task, gen in zip(chunk.tasks, gens)
    ]
    ensemble.train(
        nets, X_train, y_index.reshape(-1), first.lr, first.batch_size, first.epochs, gens,
        first.optimizer, callback, chunk.width,
    )  # fmt: skip
    y_test = np.asarray(y_test)
    return np.array([np.mean(classes[network.predict(net, X_test)] == y_test) for net in nets])


def _group(task: Training) -> tuple:
    """What trainings must share to be one ensemble."""
    return task.batch_size, task.epochs, task.lr, task.optimizer, np.dtype(task.dtype).name


def plan_chunks(tasks: Sequence[Training], chunks: int) -> list[tuple[np.ndarray, Chunk]]:
    """The trainings split into ensembles: (their indices in ``tasks``, the Chunk).

    Trainings that can share an ensemble (`_group`) are split, in their order, into
    ``chunks`` parts of nearly equal size (more if a part would exceed MAX_MEMBERS), every
    member padded to the group's widest network.
    """
    groups: dict[tuple, list[int]] = {}
    for i, task in enumerate(tasks):
        groups.setdefault(_group(task), []).append(i)
    plan = []
    for indices in groups.values():
        width = max(tasks[i].hidden for i in indices)
        parts = min(len(indices), max(chunks, math.ceil(len(indices) / MAX_MEMBERS)))
        for part in np.array_split(np.array(indices), parts):
            plan.append((part, Chunk(tuple(tasks[i] for i in part), width)))
    return plan


def _stop_if_asked(epoch: int, loss: Any) -> None:
    if _STOP is not None and _STOP.is_set():
        raise _Stopped


def run_job(
    job: Training | Chunk, data: Data | None = None, callback: Callable | None = None
) -> np.ndarray:
    """The test accuracies of one job: a single training or a chunk (an ensemble)."""
    if isinstance(job, Chunk):
        return train_and_score_ensemble(job, data, callback)
    return np.array([train_and_score(job, data, callback)])


def _worker_job(job: Training | Chunk) -> np.ndarray:
    try:
        return run_job(job, _DATA, callback=_stop_if_asked)
    except _Stopped:
        return np.full(len(job.tasks) if isinstance(job, Chunk) else 1, math.nan)


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
    *,
    method: str = "ensemble",
    scheduler: Any = None,
    chunks: int | None = None,
) -> np.ndarray:
    """Test accuracy of each task, in the order given.

    ``method`` "ensemble" trains them in chunks, each one ensemble (`plan_chunks`);
    "sequential" one after another. The chunks (or trainings) run in ``workers`` processes
    (None: one per available core; 1: in this process), or on a Dask cluster if
    ``scheduler`` is given (an address such as "tcp://host:8786", "local" to start a
    `LocalCluster`, or a ``distributed.Client``; ``workers`` is then unused). ``chunks``:
    the number of ensembles (None: one per worker process or Dask worker thread); the
    results do not depend on it, nor on where they run. A tqdm bar on stderr counts
    finished trainings unless ``progress`` is False.
    """
    validate.one_of(method, "method", METHODS)
    workers = None if workers is None else validate.positive_int(workers, "workers")
    chunks = None if chunks is None else validate.positive_int(chunks, "chunks")
    results = np.empty(len(tasks))
    bar = partial(tqdm, total=len(tasks), desc=desc, unit="run", file=sys.stderr)
    bar = partial(bar, disable=not progress)
    if len(tasks) == 0:
        return results
    if scheduler is not None:
        with dask_client(scheduler) as client:
            _check_cluster(client)
            jobs = _jobs(tasks, method, chunks or _dask_threads(client))
            _run_on_dask(client, jobs, data if data is not None else load_moons(), results, bar)
        return results
    if workers is None:
        workers = default_workers(len(tasks))
    jobs = _jobs(tasks, method, chunks or workers)
    if workers == 1 or len(jobs) <= 1:
        _run_here(jobs, data if data is not None else load_moons(), results, bar)
    else:
        _run_in_pool(jobs, min(workers, len(jobs)), data, results, bar)
    return results


Jobs = list[tuple[np.ndarray, Any]]  # (indices into the tasks, a Training or a Chunk)


def _jobs(tasks: Sequence[Training], method: str, chunks: int) -> Jobs:
    """What to run, the costliest first (so that no worker is left with a long one at the end)."""
    if method == "sequential":
        jobs: Jobs = [(np.array([i]), task) for i, task in enumerate(tasks)]
        cost = [task.hidden * task.epochs for task in tasks]
    else:
        jobs = plan_chunks(tasks, chunks)
        cost = [len(job.tasks) * job.width * job.tasks[0].epochs for _, job in jobs]
    return [jobs[i] for i in sorted(range(len(jobs)), key=lambda i: -cost[i])]


def _size(job: Training | Chunk) -> int:
    return len(job.tasks) if isinstance(job, Chunk) else 1


class _EpochProgress:
    """A callback that moves a bar by the trainings of a job, a share at each epoch."""

    def __init__(self, bar: Any, job: Training | Chunk) -> None:
        first = job.tasks[0] if isinstance(job, Chunk) else job
        self.bar, self.size, self.epochs, self.shown = bar, _size(job), first.epochs, 0

    def __call__(self, epoch: int, loss: Any) -> None:
        self.advance((epoch + 1) * self.size // self.epochs)

    def advance(self, done: int) -> None:
        self.bar.update(done - self.shown)
        self.shown = done


def _run_here(jobs: Jobs, data: Data, results: np.ndarray, bar: Callable[[], Any]) -> None:
    """Run the jobs one after the other in this process."""
    with threadpool_limits(1), bar() as progress_bar:
        for indices, job in jobs:
            moved = _EpochProgress(progress_bar, job)
            results[indices] = run_job(job, data, moved if isinstance(job, Chunk) else None)
            moved.advance(_size(job))


def _run_in_pool(
    jobs: Jobs,
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
    with _sigint_as_flag() as interrupted:
        try:
            # Submitting starts the workers (see _init_worker), before the progress bar
            # starts its monitor thread: no thread of ours is forked in the middle of a lock.
            with _sigint_deferred():
                futures = {pool.submit(_worker_job, job): indices for indices, job in jobs}
            done: queue.SimpleQueue = queue.SimpleQueue()
            for future in futures:
                future.add_done_callback(done.put)
            with bar() as progress_bar:
                for _ in range(len(futures)):
                    future = _next(done, interrupted)
                    results[futures[future]] = future.result()
                    progress_bar.update(len(futures[future]))
        except BaseException:  # Ctrl-C or a failed training: the others stop after an epoch
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    pool.shutdown()


# ------------------------------------------------------------------------------ Dask
@contextlib.contextmanager
def dask_client(scheduler: Any, timeout: str = "10s") -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler``: an address ("tcp://host:8786"), "local"
    (a `LocalCluster` of one single-threaded worker process per core, closed on leaving)
    or a Client (used as is, left open). ImportError naming the install command if Dask
    is missing; ConnectionError if the scheduler cannot be reached or has no worker
    within ``timeout``."""
    if not isinstance(scheduler, str):
        yield scheduler
        return
    try:
        import distributed
    except ImportError as e:
        raise ImportError(DASK_HINT) from e
    if scheduler == "local":
        cluster = distributed.LocalCluster(
            n_workers=default_workers(), threads_per_worker=1, dashboard_address=None
        )
        with cluster, distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, ValueError, TypeError) as e:
        raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler!r}: {e}") from e
    with client:
        try:  # tasks would wait for ever on a scheduler without workers
            client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError) as e:
            raise ConnectionError(
                f"no Dask worker is connected to the scheduler at {scheduler!r} (waited "
                f"{timeout}): start some with dask worker {scheduler}"
            ) from e
        yield client


def _check_cluster(client: Any) -> None:
    """ImportError if the cluster's scheduler or workers cannot import this code (a task
    they cannot unpickle would leave the run waiting), else nothing."""
    try:
        client.run_on_scheduler(importlib.import_module, "models.experiments")
        client.run(importlib.import_module, "models.experiments")
    except ImportError as e:
        raise ImportError(f"{REMOTE_HINT} ({type(e).__name__}: {e})") from e


def _dask_threads(client: Any) -> int:
    """How many tasks the cluster runs at once (its workers' threads)."""
    return max(1, sum(client.nthreads().values()))


def _dask_job(job: Training | Chunk, data: Data) -> np.ndarray:
    with threadpool_limits(1), _freed_memory_kept():  # as in a local worker process
        return run_job(job, data)


@contextlib.contextmanager
def _freed_memory_kept() -> Iterator[None]:
    """Keep freed memory in the process's heap during a job, as glibc does by default.

    Dask's nanny starts its workers with MALLOC_TRIM_THRESHOLD_=65536, so that they hand
    freed memory back to the system at once. That also turns glibc's adaptive mmap
    threshold off: every temporary array over 128 kB (a step of a large ensemble makes
    several) then gets fresh pages from the system, and the training runs 4-5 times
    slower. The settings are restored when the job ends. Elsewhere than glibc: nothing.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # no C library to ask, or not glibc's
        yield
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    mallopt(m_trim_threshold, 256 << 20)
    mallopt(m_mmap_threshold, 32 << 20)
    try:
        yield
    finally:
        for option, name in ((m_mmap_threshold, "MMAP"), (m_trim_threshold, "TRIM")):
            value = os.environ.get(f"MALLOC_{name}_THRESHOLD_", "")
            mallopt(option, int(value) if value.isdigit() else 128 << 10)  # glibc's default


def _run_on_dask(
    client: Any, jobs: Jobs, data: Data, results: np.ndarray, bar: Callable[[], Any]
) -> None:
    """Fill ``results`` from the jobs run on a Dask cluster, counting them on ``bar()``."""
    from distributed import as_completed

    futures = {client.submit(_dask_job, job, data, pure=False): idx for idx, job in jobs}
    try:
        with bar() as progress_bar:
            for future in as_completed(list(futures)):
                results[futures[future]] = future.result()
                progress_bar.update(len(futures[future]))
    except BaseException as e:  # Ctrl-C or a failed training: the rest is not needed
        client.cancel(list(futures))
        if isinstance(e, ImportError) or "deserializ" in str(e):  # models is not there
            first = str(e).splitlines()[0] if str(e) else ""
            raise ImportError(f"{REMOTE_HINT} ({type(e).__name__}: {first})") from e
        raise


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
    dtype: str = "float64",
    method: str = "ensemble",
    scheduler: Any = None,
    chunks: int | None = None,
) -> RepeatResult:
    """The tutorial's repeated training: ``runs`` independent trainings, their test accuracies.

    Run ``i`` is seeded by ``SeedSequence(seed, spawn_key=(i,))``. ``std`` is the population
    standard deviation (``np.std``). The tutorial reported mean 0.94541, std 0.019558.
    ``method``, ``workers``, ``scheduler`` and ``chunks`` say how they run (`run_trainings`).
    """
    runs, hidden = validate.positive_int(runs, "runs"), validate.positive_int(hidden, "hidden")
    batch_size = validate.positive_int(batch_size, "batch_size")
    epochs = validate.positive_int(epochs, "epochs")
    seed, lr = validate.seed(seed), validate.learning_rate(lr)
    dtype = network.check_dtype(dtype).name
    tasks = [
        Training(
            hidden, batch_size, epochs, lr, np.random.SeedSequence(seed, spawn_key=(i,)),
            dtype=dtype,
        )
        for i in range(runs)
    ]  # fmt: skip
    how = dict(method=method, scheduler=scheduler, chunks=chunks)
    accuracies = run_trainings(tasks, workers, progress, "repeat", data, **how)
    settings = dict(
        runs=runs, hidden=hidden, batch_size=batch_size, epochs=epochs, lr=lr, seed=seed,
        dtype=dtype, method=method,
    )  # fmt: skip
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
    dtype: str = "float64",
    method: str = "ensemble",
    scheduler: Any = None,
    chunks: int | None = None,
) -> SweepResult:
    """Mean test accuracy of ``trials`` trainings for each width in ``range(min, max)``.

    The tutorial's sweep (``arange(3, 40)``, 3 trials, batch 10, 100 epochs): 111 trainings
    of 37,500 steps. Trial ``t`` of width ``w`` is seeded by ``SeedSequence(seed,
    spawn_key=(w, t))``. ``method``, ``workers``, ``scheduler`` and ``chunks`` say how they
    run (`run_trainings`); the ensembles pad every network to the widest width swept, so
    a width's numbers depend on the range swept in their last bits only.
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
    dtype = network.check_dtype(dtype).name
    widths = np.arange(min_hidden, max_hidden)
    tasks = [
        Training(
            int(w),
            batch_size,
            epochs,
            lr,
            np.random.SeedSequence(seed, spawn_key=(int(w), t)),
            dtype=dtype,
        )
        for w in widths
        for t in range(trials)
    ]
    how = dict(method=method, scheduler=scheduler, chunks=chunks)
    accuracies = run_trainings(tasks, workers, progress, "width sweep", data, **how)
    accuracies = accuracies.reshape(len(widths), trials)
    settings = dict(
        min_hidden=min_hidden,
        max_hidden=max_hidden,
        trials=trials,
        batch_size=batch_size,
        epochs=epochs,
        lr=lr,
        seed=seed,
        dtype=dtype,
        method=method,
    )
    return SweepResult(widths, accuracies, accuracies.mean(axis=1), settings)
