"""How an ensemble's memory grows: with the number of members E (linearly), not with steps.

    python -m benchmarks.memory           # table on stdout
    python -m benchmarks.memory --json    # the same figures as JSON

Each figure is the peak of the memory traced by Python's tracemalloc (numpy reports its
arrays to it) while `models.ensemble.train` trains E networks of the tutorial's (hidden 64,
batch 10, one epoch of 375 steps), less what was allocated before (the data, the networks).
A straight line is fitted to peak(E): its slope is the memory per member. Then one ensemble
trains for several epochs, and the traced memory at the end of each epoch shows whether
anything accumulates from step to step.
"""

from __future__ import annotations

import argparse
import json
import sys
import tracemalloc
from typing import Any

import numpy as np

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


def table(report: list[dict[str, Any]]) -> str:
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


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> None:
    parser = Parser(prog="python -m benchmarks.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    report = [measure(dtype) for dtype in ("float64", "float32")]
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(table(report))


if __name__ == "__main__":
    main()
