"""Time one training epoch of the tutorial's network: autograd_lite against hand-derived numpy.

    python -m benchmarks.step            # table on stdout
    python -m benchmarks.step --json     # the same figures as JSON

Both sides start from the same parameters and walk the same minibatches of the moons data
(SGD, lr 1e-4, summed cross-entropy). Repeats are interleaved in one process, so machine
noise hits both alike; we report the median time per SGD step and the ratio of medians.
PyTorch (CPU, float64, one thread) is timed too when it is installed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

import autograd_lite as al
from autograd_lite import nn, optim, validate
from models import manual
from models.data import load_moons

CASES = [  # (name, hidden units, batch size, repeats)
    ("tutorial: 2-64-2, batch 10", 64, 10, 15),
    ("large: 2-512-2, batch 1000", 512, 1000, 15),
]
LR = 1e-4
MAX_SEED, MAX_REPEATS = 2**32 - 1, 1000


def batches(n: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """One epoch's minibatch indices: a permutation cut into consecutive pieces."""
    order = np.random.default_rng(seed).permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def hand_epoch(params: dict, X: np.ndarray, y: np.ndarray, order: list) -> Callable[[], dict]:
    """The tutorial's step: hand-derived gradients (models.manual), then SGD."""

    def run() -> dict:
        model = params
        for idx in order:
            grads = manual.backward(model, X[idx], y[idx], check=False)  # checked once, below
            model = manual.sgd(model, grads, LR, check=False)
        return model

    return run


def autograd_epoch(params: dict, X: np.ndarray, y: np.ndarray, order: list) -> Callable:
    """The same step written with autograd_lite, as a user would."""
    hidden = params["W1"].shape[1]
    net = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def run() -> dict:
        net.load_state_dict(
            {"0.weight": params["W1"], "0.bias": params["b1"],
             "2.weight": params["W2"], "2.bias": params["b2"]}
        )  # fmt: skip
        opt = optim.SGD(net.parameters(), lr=LR)
        for idx in order:
            opt.zero_grad()
            al.softmax_cross_entropy(net(X[idx]), y[idx], reduction="sum").backward()
            opt.step()
        w = [p.data for p in net.parameters()]
        return dict(zip(["W1", "b1", "W2", "b2"], w))

    return run


def torch_epoch(params: dict, X: np.ndarray, y: np.ndarray, order: list) -> Callable | None:
    """The same step in PyTorch (CPU, float64, one thread), if PyTorch is installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    hidden = params["W1"].shape[1]
    net = torch.nn.Sequential(
        torch.nn.Linear(2, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2)
    ).double()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")

    def run() -> dict:
        with torch.no_grad():
            for p, v in zip(net.parameters(), ["W1", "b1", "W2", "b2"]):
                p.copy_(torch.from_numpy(params[v].T.copy() if v[0] == "W" else params[v]))
        opt = torch.optim.SGD(net.parameters(), lr=LR)
        for idx in order:
            i = torch.from_numpy(idx)
            opt.zero_grad()
            loss_fn(net(Xt[i]), yt[i]).backward()
            opt.step()
        w = [p.detach().numpy() for p in net.parameters()]
        return {"W1": w[0].T, "b1": w[1], "W2": w[2].T, "b2": w[3]}

    return run


def measure(hidden: int, batch_size: int, repeats: int, seed: int) -> dict:
    X, _, y, _ = load_moons()
    params = manual.init_network(hidden=hidden, rng=seed)
    manual.check_batch(params, X, y)
    order = batches(len(X), batch_size, seed)
    runners = {"hand-derived numpy": hand_epoch(params, X, y, order)}
    runners["autograd_lite"] = autograd_epoch(params, X, y, order)
    torch_run = torch_epoch(params, X, y, order)
    if torch_run is not None:
        runners["pytorch"] = torch_run
    results = {name: run() for name, run in runners.items()}  # warm-up, and the answers
    reference = results["hand-derived numpy"]
    times: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(repeats):
        names = list(runners) if r % 2 == 0 else list(reversed(runners))
        for name in names:
            start = time.perf_counter()
            runners[name]()
            times[name].append((time.perf_counter() - start) / len(order))
    base = statistics.median(times["hand-derived numpy"])
    return {
        "hidden": hidden,
        "batch_size": batch_size,
        "steps_per_epoch": len(order),
        "repeats": repeats,
        "us_per_step": {n: statistics.median(t) * 1e6 for n, t in times.items()},
        "ratio_to_hand": {n: statistics.median(t) / base for n, t in times.items()},
        # the epochs must agree, or the timing compares different work
        "max_param_diff": {
            n: max(float(np.max(np.abs(res[k] - reference[k]))) for k in reference)
            for n, res in results.items()
        },
    }


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> None:
    parser = Parser(prog="python -m benchmarks.step", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--seed",
        type=validate.argtype(validate.seed, upper=MAX_SEED),
        default=0,
        help=f"initial parameters and batches, 0 to {MAX_SEED} (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=validate.argtype(validate.positive_int, upper=MAX_REPEATS),
        default=None,
        help=f"timed epochs per library, 1 to {MAX_REPEATS} (default: 15)",
    )
    args = parser.parse_args(argv)
    report = []
    for name, hidden, batch_size, repeats in CASES:
        result = measure(hidden, batch_size, args.repeats or repeats, args.seed)
        report.append({"case": name, **result})
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return
    for case in report:
        print(f"{case['case']}  ({case['steps_per_epoch']} steps per epoch, "
              f"median of {case['repeats']} epochs)")  # fmt: skip
        print(f"  {'library':<20}{'us/step':>10}{'x hand':>9}{'max |param diff|':>19}")
        for lib, us in case["us_per_step"].items():
            ratio, diff = case["ratio_to_hand"][lib], case["max_param_diff"][lib]
            print(f"  {lib:<20}{us:>10.1f}{ratio:>9.2f}{diff:>19.1e}")


if __name__ == "__main__":
    main()
