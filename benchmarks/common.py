"""What the step benchmarks share: the problem, the hand-derived baseline, and the protocol.

The problem: one SGD step (lr 1e-4) of the tutorial's network, 2 -> H (relu) -> 2, on the
summed cross-entropy of a minibatch of the moons training set, for H=64 with batch 10 (the
tutorial's) and H=512 with batch 1000. Every contender starts from the same parameters
(standard normal, as the tutorial draws them), walks the same minibatches, and must end the
epoch on the same parameters as the hand-derived step: the table shows the largest
difference, so a fast wrong answer cannot hide.

The protocol: each contender runs in a process of its own, with one BLAS/OpenMP thread and
the default memory allocator (what users get), where its epochs are interleaved with epochs
of the hand-derived numpy step: the ratio of the two medians, taken in one process, is the
figure that survives a noisy machine. At batch 1000 the time is mostly how fresh arrays are
allocated, which depends on everything else the process did, hence a process per contender.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from autograd_lite import validate

LR = 1e-4
CASES = [  # (name, hidden units, batch size, timed epochs)
    ("tutorial: 2-64-2, batch 10", 64, 10, 15),
    ("large: 2-512-2, batch 1000", 512, 1000, 15),
]
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
MAX_SEED, MAX_REPEATS = 2**32 - 1, 1000
Params = dict[str, np.ndarray]
Epoch = Callable[[], Params]  # runs one epoch from the initial parameters, returns the final ones
Maker = Callable[..., Epoch | None]  # (X, y, params, batches) -> an epoch, None if unavailable


def problem(hidden: int, batch_size: int, seed: int) -> tuple:
    """The data, the initial parameters and one epoch's minibatches (index arrays)."""
    from models.data import load_moons

    X, _, y, _ = load_moons()
    rng = np.random.default_rng(seed)
    params = {
        "W1": rng.standard_normal((2, hidden)),
        "b1": rng.standard_normal(hidden),
        "W2": rng.standard_normal((hidden, 2)),
        "b2": rng.standard_normal(2),
    }
    order = rng.permutation(len(X))
    batches = [order[i : i + batch_size] for i in range(0, len(X), batch_size)]
    return X, y, params, batches


def hand_derived(X: np.ndarray, y: np.ndarray, params: Params, batches: list) -> Epoch:
    """The tutorial's derivation (models/manual.py), written out: dA2 = Z2 - Y and back."""
    Y = np.eye(2)[y]

    def epoch() -> Params:
        W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
        for idx in batches:
            x, t = X[idx], Y[idx]
            Z1 = np.maximum(x @ W1 + b1, 0.0)
            A2 = Z1 @ W2 + b2
            E = np.exp(A2 - A2.max(axis=1, keepdims=True))
            dA2 = E / E.sum(axis=1, keepdims=True) - t
            dA1 = (dA2 @ W2.T) * (Z1 > 0)
            W1, b1 = W1 - LR * (x.T @ dA1), b1 - LR * dA1.sum(axis=0)
            W2, b2 = W2 - LR * (Z1.T @ dA2), b2 - LR * dA2.sum(axis=0)
        return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}

    return epoch


def measure(make: Maker, hidden: int, batch_size: int, repeats: int, seed: int) -> dict:
    """In this process: `make`'s epochs interleaved with the hand-derived ones."""
    X, y, params, batches = problem(hidden, batch_size, seed)
    try:
        epoch = make(X, y, params, batches)
    except ImportError as e:
        return {"skipped": f"not installed ({e.name})"}
    if epoch is None:
        return {"skipped": "not available"}
    hand = hand_derived(X, y, params, batches)
    reference, result = hand(), epoch()  # warm-up (a jit compiles here) and the answers
    diff = max(float(np.max(np.abs(np.asarray(result[k]) - reference[k]))) for k in reference)
    times: dict[str, list[float]] = {"it": [], "hand": []}
    for r in range(repeats):
        pair = (("it", epoch), ("hand", hand))
        for name, run in pair if r % 2 else reversed(pair):
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / len(batches) * 1e6)
    us, hand_us = statistics.median(times["it"]), statistics.median(times["hand"])
    return {
        "us_per_step": us,
        "hand_us_per_step": hand_us,
        "ratio_to_hand": us / hand_us,
        "max_param_diff": diff,
    }


def in_own_process(module: str, name: str, hidden: int, batch_size: int, repeats: int,
                   seed: int) -> dict:  # fmt: skip
    """`measure` of contender `name` of `module`, in a fresh process (one thread, default
    allocator)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(ONE_THREAD)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    args = [sys.executable, "-m", module, "--worker", name, "--hidden", str(hidden),
            "--batch-size", str(batch_size), "--repeats", str(repeats),
            "--seed", str(seed)]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=root, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"name": name, "skipped": f"failed: {last}"}
    return {"name": name, **json.loads(proc.stdout)}


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def main(argv: list[str] | None, module: str, contenders: dict[str, Maker], doc: str) -> int:
    """The command line of a step benchmark: `python -m <module> [--json] [...]`."""
    parser = Parser(prog=f"python -m {module}", description=doc.splitlines()[0])
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
        help=f"timed epochs per contender, 1 to {MAX_REPEATS} (default: 15)",
    )
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        default=None,
        help=f"comma-separated contenders to run, of: {', '.join(contenders)}",
    )
    for hidden in ("--worker", "--hidden", "--batch-size"):  # how a worker process is called
        parser.add_argument(hidden, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        result = measure(
            contenders[args.worker], int(args.hidden), int(args.batch_size),
            args.repeats or 15, args.seed,
        )  # fmt: skip
        print(json.dumps(result))
        return 0
    names = args.only or list(contenders)
    unknown = [n for n in names if n not in contenders]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; choose from {', '.join(contenders)}")
    report = []
    for case, hidden, batch_size, repeats in CASES:
        rows = []
        for name in names:
            print(f"{case}: {name} ...", file=sys.stderr, flush=True)
            rows.append(in_own_process(module, name, hidden, batch_size, args.repeats or repeats,
                                       args.seed))  # fmt: skip
        report.append({"case": case, "hidden": hidden, "batch_size": batch_size, "rows": rows})
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(table(report))
    return 0


def table(report: list[dict]) -> str:
    lines = []
    for case in report:
        lines.append(
            f"{case['case']}: median us per SGD step; x hand = its ratio to the hand-derived "
            "step timed in the same process"
        )
        lines.append(f"  {'':<28}{'us/step':>9}{'x hand':>8}{'hand us':>9}{'max |param diff|':>18}")
        for row in case["rows"]:
            if "skipped" in row:
                lines.append(f"  {row['name']:<28}  skipped: {row['skipped']}")
                continue
            lines.append(
                f"  {row['name']:<28}{row['us_per_step']:>9.1f}{row['ratio_to_hand']:>8.2f}"
                f"{row['hand_us_per_step']:>9.1f}{row['max_param_diff']:>18.1e}"
            )
    return "\n".join(lines)
