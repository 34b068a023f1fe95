"""Memory: an ensemble's grows with its number of members E (linearly), and no training's
grows with its steps (eager or compiled).

    python -m benchmarks.memory           # tables on stdout
    python -m benchmarks.memory --json    # the same figures as JSON

Each figure is memory traced by Python's tracemalloc (numpy reports its arrays to it), less
what was allocated before (the data, the networks).

Ensembles: the peak while `models.ensemble.train` trains E networks of the tutorial's
(hidden 64, batch 10, one epoch of 375 steps). A straight line is fitted to peak(E): its
slope is the memory per member. Then one ensemble trains for several epochs, and the traced
memory at the end of each epoch shows whether anything accumulates from step to step.

Steps: one network of the tutorial's trains 10,000 SGD steps written as users write them
(composed ops, `loss.backward()`, an in-place update under `no_grad`), eagerly and through
`al.compile`; the traced memory at 5 even points and the peak show it stays flat.
"""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from typing import Any

import numpy as np

from benchmarks.common import Parser
from models import ensemble, network, tutorial
from models.data import load_moons

MEMBERS = (8, 16, 32, 64, 128, 256)
HIDDEN = tutorial.HIDDEN


def nets_and_generators(members: int, dtype: str) -> tuple[list, list]:
    gens = [np.random.default_rng(np.random.SeedSequence(0, spawn_key=(k,))) for k in
            range(members)]  # fmt: skip
    return [network.MoonNet(2, 2, HIDDEN, "normal", g, dtype) for g in gens], gens


def peak_bytes(members: int, dtype: str, epochs: int = 1) -> tuple[int, list[int]]:
    """Peak traced bytes while training, and the traced bytes at the end of each epoch."""
    X, _, y, _ = load_moons()
    nets, gens = nets_and_generators(members, dtype)
    at_epoch_end = np.zeros(epochs, dtype=np.int64)  # written in place: it does not grow
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]

        def note(epoch: int, losses: Any) -> None:
            at_epoch_end[epoch] = tracemalloc.get_traced_memory()[0] - base

        ensemble.train(nets, X, y, epochs=epochs, rngs=gens, callback=note)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak, at_epoch_end.tolist()


def measure(dtype: str) -> dict[str, Any]:
    peaks = [peak_bytes(e, dtype)[0] for e in MEMBERS]
    slope, intercept = np.polyfit(MEMBERS, peaks, 1)
    fitted = slope * np.array(MEMBERS) + intercept
    worst = float(np.max(np.abs(fitted - peaks) / np.array(peaks)))
    peak, per_epoch = peak_bytes(64, dtype, epochs=5)
    return {
        "dtype": dtype,
        "members": list(MEMBERS),
        "peak_bytes": peaks,
        "bytes_per_member": float(slope),
        "fixed_bytes": float(intercept),
        "largest_relative_distance_from_the_line": worst,
        "epochs_of_64_members": {"peak_bytes": peak, "bytes_at_each_epoch_end": per_epoch},
    }


# --- one training, step after step: eager and compiled ----------------------------------------
STEPS, CHECKS = 10_000, 5


def step_memory(form: str, steps: int = STEPS, checks: int = CHECKS) -> dict[str, Any]:
    """Traced memory while the tutorial's network trains `steps` SGD steps (batch 10, hidden
    64) eagerly or compiled: at `checks` even points, and the peak, less what was allocated
    before. A leak of one small object per step would add about 0.5 MB over 10,000 steps."""
    import autograd_lite as al

    X, _, y, _ = load_moons()
    rng = np.random.default_rng(0)
    W1, b1, W2, b2 = params = [
        al.Tensor(rng.standard_normal(shape), requires_grad=True)
        for shape in ((2, HIDDEN), (HIDDEN,), (HIDDEN, 2), (2,))
    ]

    def train_step(x: np.ndarray, labels: np.ndarray) -> al.Tensor:
        loss = al.softmax_cross_entropy((x @ W1 + b1).relu() @ W2 + b2, labels, reduction="sum")
        for p in params:
            p.grad = None
        loss.backward()
        with al.no_grad():
            for p in params:
                p -= tutorial.LR * p.grad
        return loss

    step = al.compile(train_step) if form == "compiled" else train_step
    batch = tutorial.BATCH_SIZE
    starts = rng.integers(0, len(X) - batch, steps)
    at = np.zeros(checks, dtype=np.int64)
    every = steps // checks
    step(X[:batch], y[:batch])  # the first call (a compiled function traces here)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i, s in enumerate(starts):
            step(X[s : s + batch], y[s : s + batch])
            if (i + 1) % every == 0:
                gc.collect()  # (it also empties CPython's free lists of tuples and floats)
                at[(i + 1) // every - 1] = tracemalloc.get_traced_memory()[0] - base
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return {"form": form, "steps": steps, "traced_bytes": at.tolist(), "peak_bytes": int(peak)}


def table(report: list[dict[str, Any]]) -> str:
    """The ensembles' figures as text."""
    lines = [
        f"Peak memory of ensemble.train (hidden {HIDDEN}, batch {tutorial.BATCH_SIZE}, "
        "one epoch), traced by tracemalloc",
        "",
        f"{'members':>8}" + "".join(f"{r['dtype']:>12}" for r in report),
    ]
    for i, e in enumerate(MEMBERS):
        lines.append(f"{e:>8}" + "".join(f"{r['peak_bytes'][i] / 2**20:>9.2f} MB" for r in report))
    for r in report:
        epochs = r["epochs_of_64_members"]
        ends = ", ".join(f"{b / 2**20:.2f}" for b in epochs["bytes_at_each_epoch_end"])
        lines += [
            "",
            f"{r['dtype']}: {r['bytes_per_member'] / 1024:.1f} kB per member plus "
            f"{r['fixed_bytes'] / 1024:.1f} kB (a straight line within "
            f"{100 * r['largest_relative_distance_from_the_line']:.1f}%); 64 members for 5 "
            f"epochs: peak {epochs['peak_bytes'] / 2**20:.2f} MB, held at each epoch's end "
            f"{ends} MB",
        ]
    return "\n".join(lines)


def step_table(report: list[dict[str, Any]]) -> str:
    """The step-by-step figures as text."""
    lines = [
        f"Traced memory of one training (hidden {HIDDEN}, batch {tutorial.BATCH_SIZE}), "
        f"step after step",
        "",
        f"{'form':>9}"
        + "".join(f"{f'after {s}':>14}" for s in _check_points(report[0]))
        + f"{'peak':>12}",
    ]
    for r in report:
        lines.append(
            f"{r['form']:>9}"
            + "".join(f"{b / 1024:>11.1f} kB" for b in r["traced_bytes"])
            + f"{r['peak_bytes'] / 1024:>9.1f} kB"
        )
    return "\n".join(lines)


def _check_points(r: dict[str, Any]) -> list[int]:
    every = r["steps"] // len(r["traced_bytes"])
    return [every * (i + 1) for i in range(len(r["traced_bytes"]))]


def main(argv: list[str] | None = None) -> None:
    parser = Parser(prog="python -m benchmarks.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    ensembles = [measure(dtype) for dtype in ("float64", "float32")]
    steps = [step_memory(form) for form in ("eager", "compiled")]
    if args.json:
        json.dump({"ensembles": ensembles, "steps": steps}, sys.stdout, indent=2)
        print()
    else:
        print(table(ensembles))
        print()
        print(step_table(steps))


if __name__ == "__main__":
    main()
