"""The tutorial 'neural net from scratch', reproduced with autograd_lite: a 2-layer ReLU network
on make_moons(5000, noise=0.1), trained by minibatch SGD on the summed cross-entropy.

Run from the repository root: ``python -m models COMMAND [options]``. Each command below is
one function (its options in its decorator, its help in its docstring); `models.cli` holds
the machinery. Progress bars and warnings go to stderr; ``--json`` prints strict JSON. Bad
arguments exit with status 2 and one line before any work starts; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from argparse import Namespace
from collections.abc import Iterator
from typing import Any

from autograd_lite import validate
from models import cli, tutorial
from models.cli import UsageError, command, integer, number, option, progress, settings, writable

# Upper bounds, so that a typo cannot ask for a week of training or terabytes of memory.
MAX_HIDDEN, MAX_EPOCHS, MAX_RUNS, MAX_TRIALS, MAX_WORKERS = 4096, 10_000, 10_000, 100, 256
MAX_SEED = 2**32 - 1
FIGURES = ("moons_data", "decision_boundary", "relu", "training_loss", "width_sweep")

# ------------------------------------------------------------------------------ the options
DTYPES = ("float64", "float32")


def scheduler_address(value: str) -> str:
    """An argparse type: 'local' or a Dask scheduler address such as tcp://host:8786."""
    if value != "local" and not re.fullmatch(r"[a-z][a-z0-9+.-]*://\S+", value):
        raise argparse.ArgumentTypeError(
            f"expected 'local' or an address such as tcp://host:8786, got {value!r}"
        )
    return value


# fmt: off
SEED = option("--seed", type=validate.argtype(validate.seed, upper=MAX_SEED), default=0,
              help=f"seed of every random draw, 0 to {MAX_SEED}: same seed, same output")
HIDDEN = option("--hidden", type=integer(MAX_HIDDEN), default=tutorial.HIDDEN,
                help=f"hidden units, 1 to {MAX_HIDDEN}")
BATCH_SIZE = option("--batch-size", type=integer(tutorial.N_TRAIN),
                    default=tutorial.BATCH_SIZE,
                    help=f"minibatch rows, 1 to {tutorial.N_TRAIN} (all the training rows)")
EPOCHS = option("--epochs", type=integer(MAX_EPOCHS), default=tutorial.EPOCHS,
                help=f"passes over the training set, 1 to {MAX_EPOCHS}")
LR = option("--lr", type=number(validate.learning_rate), default=tutorial.LR,
            help="learning rate, > 0 (small: the loss is summed over the minibatch)")
OPTIMIZER = option("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="plain SGD (the tutorial's) or Adam")
INIT = option("--init", choices=("normal", "he", "xavier"), default="normal",
              help="initial weights: standard normal (the tutorial's), He or Xavier")
RUNS = option("--runs", type=integer(MAX_RUNS), default=tutorial.RUNS,
              help=f"independent trainings, 1 to {MAX_RUNS}")
CLASS_HIDDEN = option("--class-hidden", type=integer(MAX_HIDDEN), default=tutorial.CLASS_HIDDEN,
                      help=f"hidden units of the class-based run, 1 to {MAX_HIDDEN}")
CLASS_BATCH_SIZE = option("--class-batch-size", type=integer(tutorial.N_TRAIN),
                          default=tutorial.CLASS_BATCH_SIZE,
                          help=f"minibatch rows of the class-based run, 1 to {tutorial.N_TRAIN}")
WORKERS = option("--workers", type=integer(MAX_WORKERS),
                 help=f"processes to train in, 1 to {MAX_WORKERS} (default: one per core); "
                 "the results do not depend on it")
CHUNKS = option("--chunks", type=integer(MAX_RUNS),
                help="how many ensembles to split the trainings into (default: one per "
                "worker process, or per Dask worker thread); the results do not depend on it")
SCHEDULER = option("--scheduler", metavar="ADDRESS", type=scheduler_address,
                   help="run the trainings on a Dask cluster: its scheduler's address "
                   "(tcp://host:8786), or 'local' to start one on this machine's cores "
                   "(--workers is then unused); needs Dask: pip install \".[dask]\"")
SEQUENTIAL = option("--sequential", action="store_true",
                    help="train the networks one after another (the slow path) instead of "
                    "many at once as batched ensembles: the same trainings (to 1e-10), more slowly")
DTYPE = option("--dtype", choices=DTYPES, default="float64",
               help="floating-point type of the weights and computations")
SWEEP_MIN = option("--min-hidden", type=integer(MAX_HIDDEN), default=tutorial.SWEEP_MIN_HIDDEN,
                   help=f"the sweep's smallest width, 1 to {MAX_HIDDEN}")
SWEEP_MAX = option("--max-hidden", type=integer(MAX_HIDDEN + 1),
                   default=tutorial.SWEEP_MAX_HIDDEN,
                   help=f"the sweep stops before this width, 2 to {MAX_HIDDEN + 1}")
TRIALS = option("--trials", type=integer(MAX_TRIALS), default=tutorial.SWEEP_TRIALS,
                help=f"trainings per width, 1 to {MAX_TRIALS}")
SWEEP_EPOCHS = option("--sweep-epochs", type=integer(MAX_EPOCHS),
                      default=tutorial.SWEEP_EPOCHS,
                      help=f"epochs of each training of the sweep, 1 to {MAX_EPOCHS}")
SWEEP_OUT = option("--out", type=writable(suffixes=(".png", ".svg", ".pdf")),
                   default="width_sweep.png", help="the figure: a .png, .svg or .pdf file")
EPS = option("--eps", type=number(lower=1e-10, upper=0.1), default=1e-6,
             help="finite-difference step, 1e-10 to 0.1")
RTOL = option("--rtol", type=number(upper=1.0), default=1e-6,
              help="largest relative difference allowed against the finite differences, "
              "up to 1 (autograd against hand: 1e-12)")
SAVE = option("--save", metavar="FILE", type=writable(),
              help="write the model (settings and weights, autograd_lite's .npz) there, for "
              "'evaluate --load FILE' and 'predict --load FILE'")
LOAD = option("--load", metavar="FILE", required=True,
              help="a model written by 'train --save FILE'")
INPUT = option("--input", metavar="CSV", required=True,
               help="the points, one per line: x1,x2 (a header line, blank lines and "
               "# comments are skipped); '-' reads stdin")
OUT_DIR = option("--out-dir", type=writable(folder=True), default="plots",
                 help="folder for the figures, created if missing")
GRAPH_OUT = option("--out", type=writable(suffixes=(".svg", ".png", ".pdf")),
                   default="moon_graph.svg",
                   help="the picture: a .svg, .png or .pdf file (drawn by Graphviz's dot)")
FORMAT = option("--format", choices=("png", "svg", "pdf"), default="png", help="file format")
TRAINING = (SEED, HIDDEN, BATCH_SIZE, EPOCHS, LR)
ONE_TRAINING = (*TRAINING, OPTIMIZER, INIT)
SWEEP = (SWEEP_MIN, SWEEP_MAX, TRIALS)
SWEEP_TRAINING = (SEED, BATCH_SIZE, EPOCHS.but(tutorial.SWEEP_EPOCHS), LR)
# the options of every command that runs many trainings
EXPERIMENT = (WORKERS, CHUNKS, SCHEDULER, SEQUENTIAL, DTYPE)
# fmt: on


def sweep_range(args: Namespace) -> str | None:
    if args.max_hidden <= args.min_hidden:
        return f"--max-hidden ({args.max_hidden}) must exceed --min-hidden ({args.min_hidden})"
    return None


# ------------------------------------------------------------------------------ the commands
@command(RUNS, *TRAINING, CLASS_HIDDEN, CLASS_BATCH_SIZE, *EXPERIMENT)
def reproduce(args: Namespace) -> cli.Result:
    """The tutorial's results table, next to the tutorial's numbers.

    The mean and (population) standard deviation of the test accuracy of RUNS independent
    trainings, and the test accuracy of one run of the class-based model (CLASS_HIDDEN
    units, minibatches of CLASS_BATCH_SIZE), each training seeded from --seed."""
    from models import experiments, report
    from models.data import load_moons

    data = load_moons()
    keys = ("runs", "hidden", "batch_size", "epochs", "seed", "lr")
    with experiment_errors():
        result = experiments.repeat(
            **settings(args, *keys), **how(args), progress=progress(args), data=data
        )
    # The class-based run: one model seeded by --seed itself (the tutorial's NeuralNet).
    task = experiments.Training(
        args.class_hidden, args.class_batch_size, args.epochs, args.lr, args.seed,
        dtype=args.dtype,
    )  # fmt: skip
    class_based = settings(args, "class_hidden", "class_batch_size", "epochs", "lr", "seed")
    class_based["accuracy"] = experiments.train_and_score(task, data)
    out = {
        "mean": result.mean,
        "std": result.std,
        "class_based": class_based,
        "repeat": result.to_dict(),
        "tutorial": tutorial.RESULTS,
    }
    return out, report.reproduce_table(result, class_based)


@command(*SWEEP, *SWEEP_TRAINING, *EXPERIMENT, SWEEP_OUT, check=sweep_range)
def sweep(args: Namespace) -> cli.Result:
    """The width sweep: test accuracy against hidden width, as a table and a figure.

    The mean test accuracy of TRIALS trainings for each hidden width in [MIN_HIDDEN,
    MAX_HIDDEN). The defaults are the tutorial's (111 trainings of 37,500 steps)."""
    from models import plots, report

    result = run_sweep(args, args.epochs)
    plots.save_figures({args.out: plots.sweep_figure(result)})
    return {**result.to_dict(), "figure": args.out}, report.sweep_table(result, args.out)


def run_sweep(args: Namespace, epochs: int) -> Any:
    from models.experiments import width_sweep

    keys = ("min_hidden", "max_hidden", "trials", "batch_size", "seed", "lr")
    with experiment_errors():
        return width_sweep(
            **settings(args, *keys), **how(args), epochs=epochs, progress=progress(args)
        )


def how(args: Namespace) -> dict[str, Any]:
    """How the experiments run, from the EXPERIMENT options."""
    return {
        **settings(args, "workers", "chunks", "scheduler", "dtype"),
        "method": "sequential" if args.sequential else "ensemble",
    }


@contextlib.contextmanager
def experiment_errors() -> Iterator[None]:
    """A missing Dask or an unreachable scheduler: a usage error (exit status 2)."""
    try:
        yield
    except (ImportError, ConnectionError) as e:
        raise UsageError(f"argument --scheduler: {e}") from None


@command(SEED, HIDDEN, BATCH_SIZE, EPS, RTOL)
def check_grads(args: Namespace) -> cli.Result:
    """Gradients by autograd, by hand and by finite differences, compared; exit 1 if apart.

    The gradient of every parameter of the tutorial's network on one random minibatch, by
    autograd_lite, by the tutorial's hand-derived formulas and by central finite
    differences, their largest differences, and a verdict: PASS if autograd and hand agree
    to 1e-12 and both agree with the finite differences to RTOL (relative to the largest
    entry), else FAIL and exit status 1."""
    from models import gradients

    rows = gradients.compare_gradients(
        hidden=args.hidden, batch_size=args.batch_size, eps=args.eps, rng=args.seed
    )
    out = {
        **settings(args, "hidden", "batch_size", "eps", "seed"),
        "tolerance": gradients.tolerances(args.rtol),
        "passed": not any(row.failures(args.rtol) for row in rows),
        "params": [row.to_dict(args.rtol) for row in rows],
    }
    head = (
        f"Gradients of the summed cross-entropy of the tutorial's network (hidden "
        f"{args.hidden}) on {args.batch_size} random training rows, seed {args.seed}\n\n"
    )
    return out, head + gradients.format_gradient_table(rows, args.rtol)


def fit(args: Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """A MoonClassifier trained as ``args`` say, the tutorial's data, and the result dict."""
    from models.data import load_moons
    from models.estimator import MoonClassifier
    from models.network import diverged_epoch

    data = load_moons()
    keys = ("hidden", "batch_size", "epochs", "lr", "optimizer", "init", "dtype")
    clf = MoonClassifier(**settings(args, *keys), random_state=args.seed)
    with cli.progress_bar(args, args.epochs, "train", "epoch") as bar:
        clf.fit(data[0], data[2], callback=lambda epoch, loss: bar.update())
    epoch = diverged_epoch(clf.loss_curve_)
    out = {
        **settings(args, *keys, "seed"),
        "test_accuracy": clf.score(data[1], data[3]),
        "train_accuracy": clf.score(data[0], data[2]),
        "loss_per_epoch": clf.loss_curve_.tolist(),
        "diverged": epoch is not None,
        "diverged_at_epoch": epoch,
    }
    return clf, data, out


@command(*ONE_TRAINING, DTYPE, SAVE)
def train(args: Namespace) -> cli.Result:
    """One training on the tutorial's data; with --save, the model is written to a file.

    Trains on the training split and prints the test and training accuracy. A run
    whose loss stops being finite (too large an --lr) stops there, says so on stderr and
    reports "diverged": true."""
    from models import report

    clf, _, out = fit(args)
    if args.save is not None:
        clf.save(args.save)
    out["saved"] = args.save
    return out, report.train_text(out)


def load(args: Namespace) -> Any:
    from models.estimator import MoonClassifier

    try:
        return MoonClassifier.load(args.load)
    except (OSError, ValueError) as e:
        reason = f"{e.strerror}: {args.load!r}" if isinstance(e, OSError) else str(e)
        raise UsageError(f"argument --load: {reason}") from None


@command(LOAD)
def evaluate(args: Namespace) -> cli.Result:
    """The test accuracy of a model saved by 'train --save FILE'."""
    from models.data import load_moons

    clf = load(args)
    if clf.n_features_in_ != 2:
        raise UsageError(f"argument --load: the model takes {clf.n_features_in_} features, not 2")
    if clf.classes_.tolist() != [0, 1]:  # (its accuracy on the moons' labels would mean nothing)
        raise UsageError(
            f"argument --load: the model's classes are {clf.classes_.tolist()}, not the "
            "moons' 0 and 1"
        )
    _, X_test, _, y_test = load_moons()
    out = {
        "model": args.load,
        **clf.get_params(),
        "test_accuracy": clf.score(X_test, y_test),
        "test_rows": len(y_test),
    }
    return out, f"test accuracy {out['test_accuracy']:.4f} on {len(y_test)} rows ({args.load})"


@command(LOAD, INPUT)
def predict(args: Namespace) -> cli.Result:
    """The class of each point of a CSV file, by a model saved by 'train --save FILE'.

    Prints CSV on stdout: a header x1,x2,label,p_0,p_1, then for each point its
    coordinates, its predicted class and the probability of each class (with --json: the
    lists "labels" and "probabilities")."""
    from models import report
    from models.data import read_points

    clf = load(args)
    try:
        X = read_points(sys.stdin if args.input == "-" else args.input, clf.n_features_in_)
    except (OSError, ValueError) as e:
        raise UsageError(f"argument --input: {e}") from None
    import numpy as np

    dtype = clf.network_.dtype
    with np.errstate(over="ignore", invalid="ignore"):
        big = ~np.isfinite(X.astype(dtype))
        if big.any():
            raise UsageError(
                f"argument --input: point {np.flatnonzero(big.any(axis=1))[0] + 1} does not fit "
                f"in the model's {dtype} (largest: {np.finfo(dtype).max:.3g})"
            )
        labels, proba = clf.predict(X), clf.predict_proba(X)
    lost = ~np.isfinite(proba).all(axis=1)
    if lost.any():  # the network's arithmetic overflowed: no probability to report
        raise UsageError(
            f"argument --input: point {np.flatnonzero(lost)[0] + 1} is too far out for the "
            f"network: its probabilities are not finite numbers in {dtype}"
        )
    out = {
        "model": args.load,
        "input": args.input,
        "classes": clf.classes_.tolist(),
        "labels": labels.tolist(),
        "probabilities": proba.tolist(),
    }
    return out, report.predictions_csv(X, labels, proba, clf.classes_)


@command(*ONE_TRAINING, *SWEEP, SWEEP_EPOCHS, *EXPERIMENT, OUT_DIR, FORMAT, check=sweep_range)
def plot(args: Namespace) -> cli.Result:
    """The figures: decision boundary, training loss, width sweep, data and relu.

    Trains one network (as 'train') for its decision boundary and loss curve, and runs the
    width sweep (as 'sweep', with --sweep-epochs), then writes moons_data,
    decision_boundary, relu, training_loss and width_sweep (.png, .svg or .pdf) to OUT_DIR.
    'python -m models plot --out-dir docs' regenerates the README's pictures."""
    from models import plots

    clf, data, out = fit(args)
    sweep = run_sweep(args, args.sweep_epochs)
    figures = [
        plots.data_figure(data),
        plots.decision_boundary_figure(clf.network_, data, out["test_accuracy"]),
        plots.relu_figure(),
        plots.loss_figure(clf.loss_curve_, vars(args)),
        plots.sweep_figure(sweep),
    ]
    files = {name: os.path.join(args.out_dir, f"{name}.{args.format}") for name in FIGURES}
    os.makedirs(args.out_dir, exist_ok=True)
    plots.save_figures(dict(zip(files.values(), figures)))
    out.update(width_sweep=sweep.to_dict(), files=files)
    text = [f"test accuracy {out['test_accuracy']:.4f}; figures written:", *files.values()]
    return out, "\n  ".join(text)


@command(SEED, HIDDEN, BATCH_SIZE, GRAPH_OUT)
def graph(args: Namespace) -> cli.Result:
    """A picture of the graph autograd_lite records for one training step.

    The tutorial's network on one random minibatch: the minibatch X, each parameter, each
    op (Linear, ReLU, Linear, the fused softmax cross-entropy) with its shape, and after
    backward the norm of each parameter's gradient. Needs Graphviz's dot program (Debian:
    apt-get install graphviz); 'python -m models graph --out docs/moon_graph.svg' draws the
    README's picture."""
    import shutil

    from autograd_lite import viz
    from models.graph import draw_moon_graph

    if shutil.which("dot") is None:
        raise UsageError(f"Graphviz's dot program is not on the PATH: {viz.INSTALL_HINT}")
    draw_moon_graph(args.out, args.hidden, args.batch_size, args.seed)
    out = {**settings(args, "hidden", "batch_size", "seed"), "out": args.out}
    return out, f"graph written to {args.out}"


def main(argv: list[str] | None = None) -> int:
    """``python -m models ARGS``; returns the exit status."""
    return cli.main(argv, "python -m models", __doc__.split("\n\n")[0].replace("\n", " "))


if __name__ == "__main__":
    sys.exit(main())
