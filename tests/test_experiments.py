"""Tests of models/experiments.py on small data and settings (the full runs are the CLI's)."""

import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from models import experiments
from models.data import load_moons
from models.estimator import MoonClassifier
from models.experiments import Training, repeat, train_and_score, width_sweep


@pytest.fixture(scope="module")
def small():
    """A small moons split: 300 training rows, 100 test rows."""
    return load_moons(n_samples=400, seed=0)


def small_repeat(small, **kwargs):
    settings = dict(runs=4, hidden=6, batch_size=10, epochs=2, seed=0, progress=False, data=small)
    return repeat(**{**settings, **kwargs})


def test_repeat_accuracies_mean_and_std(small):
    result = small_repeat(small, workers=1)
    assert result.accuracies.shape == (4,)
    assert np.all((result.accuracies >= 0) & (result.accuracies <= 1))
    assert result.mean == pytest.approx(np.mean(result.accuracies), abs=1e-15)
    assert result.std == pytest.approx(np.std(result.accuracies), abs=1e-15)
    assert len(set(result.accuracies.tolist())) > 1  # the runs are independent
    parsed = json.loads(json.dumps(result.to_dict()))
    assert parsed["runs"] == 4 and parsed["accuracies"] == result.accuracies.tolist()


def test_repeat_is_deterministic_and_independent_of_the_workers(small):
    one = small_repeat(small, workers=1)
    two = small_repeat(small, workers=2)
    again = small_repeat(small, workers=2)
    np.testing.assert_array_equal(one.accuracies, two.accuracies)
    np.testing.assert_array_equal(two.accuracies, again.accuracies)
    other = small_repeat(small, workers=1, seed=1)
    assert not np.array_equal(other.accuracies, one.accuracies)


def test_each_run_is_seeded_by_its_own_seed_sequence(small):
    result = small_repeat(small, workers=1, runs=3, seed=7)
    X_train, X_test, y_train, y_test = small
    for i, acc in enumerate(result.accuracies):
        rng = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(i,)))
        clf = MoonClassifier(hidden=6, epochs=2, random_state=rng).fit(X_train, y_train)
        assert clf.score(X_test, y_test) == acc
    fewer = small_repeat(small, workers=1, runs=2, seed=7)
    np.testing.assert_array_equal(fewer.accuracies, result.accuracies[:2])


def test_train_and_score_default_data_is_the_tutorial_split():
    task = Training(hidden=4, batch_size=50, epochs=1, lr=1e-4, seed=np.random.SeedSequence(0))
    X_train, X_test, y_train, y_test = load_moons()
    clf = MoonClassifier(hidden=4, batch_size=50, epochs=1, random_state=0)
    assert train_and_score(task) == clf.fit(X_train, y_train).score(X_test, y_test)


def test_width_sweep_shapes_and_worker_independence(small):
    settings = dict(min_hidden=3, max_hidden=6, trials=2, epochs=2, progress=False, data=small)
    one = width_sweep(**settings, workers=1)
    two = width_sweep(**settings, workers=2)
    np.testing.assert_array_equal(one.widths, [3, 4, 5])
    assert one.accuracies.shape == (3, 2)
    np.testing.assert_array_equal(one.accuracies, two.accuracies)
    np.testing.assert_allclose(one.mean_accuracy, one.accuracies.mean(axis=1), rtol=1e-15)
    parsed = json.loads(json.dumps(one.to_dict()))
    assert parsed["widths"] == [3, 4, 5] and len(parsed["mean_accuracy"]) == 3


def test_a_widths_results_do_not_depend_on_the_range_swept(small):
    wide = width_sweep(3, 6, trials=2, epochs=1, progress=False, data=small, workers=1)
    narrow = width_sweep(5, 6, trials=2, epochs=1, progress=False, data=small, workers=1)
    np.testing.assert_array_equal(narrow.accuracies[0], wide.accuracies[2])
    other_seed = width_sweep(5, 6, trials=2, epochs=1, seed=1, progress=False, data=small)
    assert not np.array_equal(other_seed.accuracies, narrow.accuracies)


def test_run_trainings_keeps_the_task_order(small):
    tasks = [Training(h, 10, 1, 1e-4, np.random.SeedSequence(h)) for h in (1, 9, 2, 8)]
    results = experiments.run_trainings(tasks, workers=2, progress=False, data=small)
    expected = [train_and_score(task, small) for task in tasks]
    np.testing.assert_array_equal(results, expected)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: repeat(runs=0), "runs"),
        (lambda: repeat(hidden=-1), "hidden"),
        (lambda: repeat(epochs=0), "epochs"),
        (lambda: repeat(seed=-1), "seed"),
        (lambda: repeat(lr=0.0), "lr"),
        (lambda: repeat(runs=2, workers=0), "workers"),
        (lambda: width_sweep(min_hidden=5, max_hidden=5), "max_hidden"),
        (lambda: width_sweep(min_hidden=0), "min_hidden"),
        (lambda: width_sweep(trials=0), "trials"),
        (lambda: width_sweep(batch_size=0), "batch_size"),
    ],
)
def test_bad_arguments_are_refused_before_training(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def live_children():
    """This process's child processes that are still running (Linux /proc), or None."""
    path = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    if not path.exists():
        return None
    alive = []
    for pid in path.read_text().split():
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.append(pid)
    return alive


def test_a_failed_training_stops_the_pool_and_raises(small):
    tasks = [Training(4, 10, 1, 1e-4, np.random.SeedSequence(i)) for i in range(6)]
    tasks[3] = Training(0, 10, 1, 1e-4, np.random.SeedSequence(3))  # hidden=0: refused
    with pytest.raises(ValueError, match="hidden"):
        experiments.run_trainings(tasks, workers=2, progress=False, data=small)
    assert live_children() in (None, [])


def test_ctrl_c_stops_the_workers_and_raises_keyboard_interrupt(small):
    tasks = [Training(4, 10, 5, 1e-4, np.random.SeedSequence(i)) for i in range(20_000)]
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            experiments.run_trainings(tasks, workers=2, progress=False, data=small)
    finally:
        timer.cancel()
    assert live_children() in (None, [])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


# ------------------------------------------------------------------------------ ensembles
def test_ensembles_give_the_sequential_accuracies(small):
    settings = dict(min_hidden=2, max_hidden=7, trials=2, epochs=2, progress=False, data=small)
    ens = width_sweep(**settings, workers=1)
    seq = width_sweep(**settings, workers=1, method="sequential")
    assert ens.settings["method"] == "ensemble" and seq.settings["method"] == "sequential"
    np.testing.assert_array_equal(ens.accuracies, seq.accuracies)
    np.testing.assert_array_equal(
        small_repeat(small, workers=1).accuracies,
        small_repeat(small, workers=1, method="sequential").accuracies,
    )


def test_chunks_and_workers_do_not_change_a_single_bit(small):
    tasks = [Training(h, 10, 2, 1e-4, np.random.SeedSequence(5, spawn_key=(h,))) for h in
             (3, 9, 1, 6, 9, 2, 4)]  # fmt: skip
    one = experiments.run_trainings(tasks, workers=1, chunks=1, progress=False, data=small)
    for workers, chunks in [(1, 3), (2, None), (2, 7)]:
        other = experiments.run_trainings(
            tasks, workers=workers, chunks=chunks, progress=False, data=small
        )
        np.testing.assert_array_equal(other, one)
    expected = [train_and_score(task, small) for task in tasks]
    np.testing.assert_array_equal(one, expected)


def test_plan_chunks_groups_what_can_share_an_ensemble():
    seed = np.random.SeedSequence(0)
    tasks = [Training(h, 10, 2, 1e-4, seed) for h in (3, 8, 5, 2)]
    tasks += [Training(4, 20, 2, 1e-4, seed), Training(6, 10, 2, 1e-4, seed, dtype="float32")]
    plan = experiments.plan_chunks(tasks, chunks=2)
    assert [idx.tolist() for idx, _ in plan] == [[0, 1], [2, 3], [4], [5]]
    assert [chunk.width for _, chunk in plan] == [8, 8, 4, 6]  # the group's widest
    assert [t.hidden for t in plan[1][1].tasks] == [5, 2]
    many = [Training(2, 10, 1, 1e-4, seed)] * (experiments.MAX_MEMBERS + 1)
    assert [len(c.tasks) for _, c in experiments.plan_chunks(many, 1)] == [129, 128]


def test_float32_experiments(small):
    ens = small_repeat(small, workers=1, dtype="float32")
    seq = small_repeat(small, workers=1, dtype="float32", method="sequential")
    assert ens.settings["dtype"] == "float32"
    np.testing.assert_array_equal(ens.accuracies, seq.accuracies)
    assert np.abs(ens.accuracies - small_repeat(small, workers=1).accuracies).max() <= 0.02


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: repeat(runs=2, method="vmap"), "method"),
        (lambda: repeat(runs=2, chunks=0), "chunks"),
        (lambda: repeat(runs=2, dtype="float16"), "dtype"),
    ],
)
def test_bad_ways_to_run_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------ Dask
def test_a_sweep_on_a_dask_cluster_equals_the_in_process_run(small):
    distributed = pytest.importorskip("distributed")
    settings = dict(min_hidden=2, max_hidden=6, trials=2, epochs=2, progress=False, data=small)
    here = width_sweep(**settings, workers=1)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        on_dask = width_sweep(**settings, scheduler=client)
        assert len(client.nthreads()) == 2
        sequential = width_sweep(**settings, scheduler=client, method="sequential")
    np.testing.assert_array_equal(on_dask.accuracies, here.accuracies)
    np.testing.assert_array_equal(sequential.accuracies, here.accuracies)


def test_without_dask_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(ImportError, match=r'pip install "\.\[dask\]"'):
        repeat(runs=2, epochs=1, scheduler="tcp://127.0.0.1:8786", progress=False)


def test_an_unreachable_scheduler_raises_connection_error():
    pytest.importorskip("distributed")
    with pytest.raises(ConnectionError, match="cannot reach the Dask scheduler"):  # noqa: SIM117
        with experiments.dask_client("tcp://127.0.0.1:1", timeout="0.5s"):
            pass


def test_a_scheduler_without_workers_raises_connection_error():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None)
    with cluster, pytest.raises(ConnectionError, match="no Dask worker is connected"):  # noqa: SIM117
        with experiments.dask_client(cluster.scheduler_address, timeout="0.5s"):
            pass


def test_a_cluster_that_cannot_import_the_code_is_refused_before_any_task():
    class Cluster:  # a Client whose scheduler and workers lack models/
        submitted = False

        def run_on_scheduler(self, fn, *args):
            raise ModuleNotFoundError("No module named 'models'")

        run = run_on_scheduler

        def submit(self, *args, **kwargs):
            self.submitted = True

    client = Cluster()
    with pytest.raises(ImportError, match="PYTHONPATH=/path/to/this/repository dask scheduler"):
        repeat(runs=2, epochs=1, scheduler=client, progress=False)
    assert not client.submitted
