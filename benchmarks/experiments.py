"""Time the tutorial's experiments: batched ensembles against one training after another.

    python -m benchmarks.experiments                 # table on stdout (about 3 minutes)
    python -m benchmarks.experiments --json          # the same figures as JSON
    python -m benchmarks.experiments --no-sequential # without the sequential path (1 minute)

Two experiments, each run as `models.experiments` runs them by default (every core, one
chunk per core, the process start-up and the data's transfer included): the 100-run table
(`repeat`: 100 trainings of 3,750 steps) and the width sweep (`width_sweep`: 111 trainings of
37,500 steps), with batched ensembles (float64 and float32), with the baseline (the same
chunks in the same processes, trained by the hand-batched numpy step below: hand-derived
gradients, every array with a leading member axis) and with the sequential path, in the
same run, alternating; we report the median wall time of the repeats, the speed-up over the
sequential path and how many accuracies each way shares with the ensembles. Then one step of
an ensemble, autograd_lite's against the hand-batched one, interleaved in one process:
microseconds per step and the largest parameter difference after an epoch.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import autograd_lite as al
from autograd_lite import validate
from autograd_lite.ensemble import StackedAffine, StackedCrossEntropy
from benchmarks.common import Parser
from models import ensemble, experiments, manual, network, tutorial
from models.data import load_moons

MAX_REPEATS = 100
STEP_CASES = [  # (name, members, hidden): the chunks the two experiments run on 2 cores
    ("repeat's chunk: 50 members, hidden 64", 50, 64),
    ("sweep's chunk: 56 members, hidden 39", 56, 39),
]


def machine() -> dict[str, Any]:
    """Where and when the figures were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu,
        "cores": cores,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "system": platform.system(),
    }


# ------------------------------------------------------------------------------ experiments
EXPERIMENTS: dict[str, Callable[..., Any]] = {
    "repeat": lambda **kw: experiments.repeat(progress=False, **kw),
    "sweep": lambda **kw: experiments.width_sweep(progress=False, **kw),
}
WAYS = {  # name -> keyword arguments of the experiment (None: the hand-batched baseline)
    "ensemble": {},
    "ensemble float32": {"dtype": "float32"},
    "hand-batched numpy": None,
    "sequential": {"method": "sequential"},
}


def run_way(name: str, way: str) -> np.ndarray:
    """The test accuracies of experiment ``name`` run ``way``, in the order of its trainings."""
    if WAYS[way] is None:
        return run_hand(name)
    return np.asarray(EXPERIMENTS[name](**WAYS[way]).accuracies).ravel()


def measure_experiments(repeats: int, sequential: bool) -> dict[str, Any]:
    """Median wall time of each experiment run each way, and their accuracies compared."""
    ways = [w for w in WAYS if sequential or w != "sequential"]
    report: dict[str, Any] = {}
    for name in EXPERIMENTS:
        times: dict[str, list[float]] = {w: [] for w in ways}
        accuracies: dict[str, np.ndarray] = {}
        for r in range(repeats):
            for way in ways if r % 2 == 0 else reversed(ways):
                if way == "sequential" and r > 0:  # slow: once is enough to compare
                    continue
                start = time.perf_counter()
                accuracies[way] = run_way(name, way)
                times[way].append(time.perf_counter() - start)
        seconds = {w: statistics.median(t) for w, t in times.items()}
        entry: dict[str, Any] = {
            "trainings": int(accuracies["ensemble"].size),
            "seconds": seconds,
            "all_seconds": times,
            "ratio_to_hand": seconds["ensemble"] / seconds["hand-batched numpy"],
            "same_accuracies": {
                w: int(np.sum(accuracies[w] == accuracies["ensemble"]))
                for w in accuracies
                if w != "ensemble"
            },
        }
        if sequential:
            entry["speedup"] = seconds["sequential"] / seconds["ensemble"]
        entry["mean_accuracy"] = {w: float(a.mean()) for w, a in accuracies.items()}
        report[name] = entry
    return report


# ------------------------------------------------------------------------------ the baseline
def tutorial_tasks(name: str) -> list[experiments.Training]:
    """The trainings that `repeat()` or `width_sweep()` runs with its defaults (seed 0)."""
    t = tutorial
    if name == "repeat":
        keys = [(i,) for i in range(t.RUNS)]
        return [experiments.Training(t.HIDDEN, t.BATCH_SIZE, t.EPOCHS, t.LR, seed(k)) for k in keys]
    widths = range(t.SWEEP_MIN_HIDDEN, t.SWEEP_MAX_HIDDEN)
    keys = [(w, trial) for w in widths for trial in range(t.SWEEP_TRIALS)]
    return [
        experiments.Training(w, t.BATCH_SIZE, t.SWEEP_EPOCHS, t.LR, seed((w, trial)))
        for w, trial in keys
    ]


def seed(key: tuple[int, ...]) -> np.random.SeedSequence:
    return np.random.SeedSequence(0, spawn_key=key)


def hand_chunk(chunk: experiments.Chunk) -> np.ndarray:
    """The test accuracies of a chunk trained by `hand_step`: the networks' initial weights
    and their minibatches drawn as the library's ensembles draw them."""
    X, X_test, y, y_test = load_moons()
    first, n = chunk.tasks[0], len(X)
    gens = [np.random.default_rng(task.seed) for task in chunk.tasks]
    nets = [network.MoonNet(2, 2, task.hidden, "normal", g) for task, g in zip(chunk.tasks, gens)]
    params = ensemble.stack(nets, chunk.width)
    step, Y = hand_step(params, first.lr), np.eye(2)[y]
    for _ in range(first.epochs):
        order = np.stack([g.permutation(n) for g in gens])
        Xe, Ye = X[order], Y[order]
        for i in range(0, n, first.batch_size):
            step(Xe[:, i : i + first.batch_size], Ye[:, i : i + first.batch_size])
    return np.array(
        [
            manual.accuracy(ensemble.unstack(params, k, task.hidden), X_test, y_test)
            for k, task in enumerate(chunk.tasks)
        ]
    )


def run_hand(name: str) -> np.ndarray:
    """Experiment ``name`` with the hand-batched step, chunked and spread over the cores as
    `models.experiments` does (process start-up included)."""
    tasks = tutorial_tasks(name)
    workers = experiments.default_workers(len(tasks))
    plan = experiments.plan_chunks(tasks, workers)
    accuracies = np.empty(len(tasks))
    with ProcessPoolExecutor(workers, initializer=threadpool_limits, initargs=(1,)) as pool:
        for (indices, _), acc in zip(plan, pool.map(hand_chunk, [c for _, c in plan])):
            accuracies[indices] = acc
    return accuracies


# ------------------------------------------------------------------------------ one step
def hand_step(params: dict, lr: float) -> Callable[[np.ndarray, np.ndarray], None]:
    """The tutorial's SGD step by hand for E members at once, in place on ``params``:
    A1 = [x 1] [W1; b1], Z1 = relu(A1), A2 = [Z1 1] [W2; b2], dA2 = softmax(A2) - Y, ..."""
    layer1, layer2 = params["layer1"], params["layer2"]
    members, hidden = layer2.shape[0], layer2.shape[1] - 1
    ones = None

    def step(x: np.ndarray, Y: np.ndarray) -> None:
        nonlocal ones
        e, n, f = x.shape
        if ones is None or ones.shape[2] != n:
            ones = np.ones((members, 1, n))
        xa = np.empty((e, n, f + 1))
        xa[..., :f], xa[..., f] = x, 1
        Z1 = xa @ layer1
        np.maximum(Z1, 0, out=Z1)
        A2 = Z1 @ layer2[:, :hidden]
        A2 += layer2[:, hidden, None, :]
        P = np.exp(A2 - A2.max(axis=2, keepdims=True))
        P /= P.sum(axis=2, keepdims=True)
        P -= Y  # dL/dA2 of the summed loss
        grad2 = np.empty_like(layer2)
        np.matmul(Z1.swapaxes(1, 2), P, out=grad2[:, :hidden])
        np.matmul(ones, P, out=grad2[:, hidden:])
        dZ1 = P @ np.ascontiguousarray(layer2[:, :hidden].swapaxes(1, 2))
        dZ1 *= Z1 > 0
        np.subtract(layer1, lr * (xa.swapaxes(1, 2) @ dZ1), out=layer1)  # in place
        np.subtract(layer2, lr * grad2, out=layer2)

    return step


def library_step(params: dict, lr: float) -> Callable[[np.ndarray, np.ndarray], None]:
    """The same step with autograd_lite, as `models.ensemble.train` takes it."""
    layer1, layer2 = (al.nn.Parameter(params[name]) for name in ("layer1", "layer2"))
    opt = al.optim.SGD([layer1, layer2], lr=lr)
    ones = np.ones(params["layer1"].shape[0])

    def step(x: np.ndarray, Y: np.ndarray) -> None:
        hidden = StackedAffine.apply(x, layer1, relu=True)
        losses = StackedCrossEntropy.apply(StackedAffine.apply(hidden, layer2), Y)
        opt.zero_grad()
        losses.backward(ones)
        opt.step()

    return step


def measure_step(members: int, hidden: int, repeats: int, seed: int = 0) -> dict[str, Any]:
    """Microseconds per step of both, interleaved over epochs of the tutorial's data."""
    X, _, y, _ = load_moons()
    rng = np.random.default_rng(seed)
    order = np.stack([rng.permutation(len(X)) for _ in range(members)])
    Xe, Ye = X[order], np.eye(2)[y][order]
    start = {
        "layer1": rng.standard_normal((members, 3, hidden)),
        "layer2": rng.standard_normal((members, hidden + 1, 2)),
    }
    batches = [slice(i, i + tutorial.BATCH_SIZE) for i in range(0, len(X), tutorial.BATCH_SIZE)]
    params = {name: {k: v.copy() for k, v in start.items()} for name in ("hand", "autograd")}
    steps = {
        "hand-batched numpy": hand_step(params["hand"], tutorial.LR),
        "autograd_lite": library_step(params["autograd"], tutorial.LR),
    }
    for run in steps.values():  # one epoch each: warm-up, and the parameters to compare
        for b in batches:
            run(Xe[:, b], Ye[:, b])
    diff = max(np.abs(params["hand"][k] - params["autograd"][k]).max() for k in start)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(repeats):
        for name in steps if r % 2 == 0 else reversed(steps):
            t = time.perf_counter()
            for b in batches:
                steps[name](Xe[:, b], Ye[:, b])
            times[name].append((time.perf_counter() - t) / len(batches))
    hand = statistics.median(times["hand-batched numpy"])
    return {
        "members": members,
        "hidden": hidden,
        "us_per_step": {n: statistics.median(t) * 1e6 for n, t in times.items()},
        "ratio_to_hand": {n: statistics.median(t) / hand for n, t in times.items()},
        "max_param_diff_after_an_epoch": float(diff),
    }


# ------------------------------------------------------------------------------ output
def table(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"Experiments at scale: {m['date']}, {m['cpu']}, {m['cores']} cores, Python "
        f"{m['python']}, numpy {m['numpy']} (median of {report['repeats']} runs each; "
        "sequential: one run)",
        "",
        f"{'experiment':<34}{'ensemble':>10}{'float32':>10}{'hand numpy':>12}{'sequential':>12}"
        f"{'speed-up':>10}  same accuracies (hand, sequential)",
    ]
    names = {"repeat": "100-run table (repeat)", "sweep": "width sweep (111 x 37,500 steps)"}
    for name, entry in report["experiments"].items():
        s, same, n = entry["seconds"], entry["same_accuracies"], entry["trainings"]
        seq = f"{s['sequential']:.1f} s" if "sequential" in s else "-"
        speedup = f"{entry['speedup']:.1f}x" if "speedup" in entry else "-"
        agree = ", ".join(
            f"{same[w]} of {n}" for w in ("hand-batched numpy", "sequential") if w in same
        )
        lines.append(
            f"{names[name]:<34}{s['ensemble']:>8.2f} s{s['ensemble float32']:>8.2f} s"
            f"{s['hand-batched numpy']:>10.2f} s{seq:>12}{speedup:>10}  {agree}"
        )
    lines += ["", "One ensemble step, interleaved in one process (us per step, median of epochs):"]
    for case in report["steps"]:
        us, ratio = case["us_per_step"], case["ratio_to_hand"]["autograd_lite"]
        lines.append(
            f"  {case['case']:<40} hand-batched numpy {us['hand-batched numpy']:6.1f}  "
            f"autograd_lite {us['autograd_lite']:6.1f} ({ratio:.2f}x)  max |param diff| "
            f"{case['max_param_diff_after_an_epoch']:.1e}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = Parser(prog="python -m benchmarks.experiments", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--repeats",
        type=validate.argtype(validate.positive_int, upper=MAX_REPEATS),
        default=3,
        help=f"runs of each ensemble experiment, 1 to {MAX_REPEATS} (default: %(default)s)",
    )
    parser.add_argument(
        "--no-sequential",
        action="store_true",
        help="skip the sequential runs (two minutes or more): no speed-up reported",
    )
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"machine": machine(), "repeats": args.repeats}
    report["experiments"] = measure_experiments(args.repeats, not args.no_sequential)
    with threadpool_limits(1):
        report["steps"] = [
            {"case": name, **measure_step(members, hidden, repeats=5)}
            for name, members, hidden in STEP_CASES
        ]
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(table(report))


if __name__ == "__main__":
    main()
