"""The command line: ``python -m models <command>`` (run from the repository root).

Commands: reproduce, sweep, check-grads, train, plot (``python -m models <command> --help``).
Every command takes ``--seed`` (same seed, same output) and ``--json`` (only JSON on stdout);
progress bars and timings go to stderr. Bad arguments exit with status 2 before any training.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

TUTORIAL = {"mean": 0.94541, "std": 0.019558, "class_based": 0.9496}
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
PLOT_FILES = {
    "data": "moons_data.png",
    "decision_boundary": "decision_boundary.png",
    "relu": "relu.png",
    "loss": "training_loss.png",
}


# ------------------------------------------------------------------------------ argument types
def positive_int(text: str) -> int:
    """An int > 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def seed_int(text: str) -> int:
    """An int >= 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite float > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def _probe_folder(folder: str) -> str | None:
    """Why files cannot be created in ``folder``, or None if they can (tries one)."""
    if not os.path.exists(folder):
        return f"the folder {folder!r} does not exist"
    if not os.path.isdir(folder):
        return f"{folder!r} is not a folder"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return f"cannot write in the folder {folder!r} ({e.strerror or e})"
    return None


def check_output_file(path: str, suffixes: Sequence[str] | None = None) -> str | None:
    """Why ``path`` cannot be written as an output file, or None if it can."""
    if suffixes and os.path.splitext(path)[1].lower() not in suffixes:
        return f"{path!r} must end with one of {', '.join(suffixes)}"
    if os.path.isdir(path):
        return f"{path!r} is a folder, not a file"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"{path!r} exists and is not writable"
    return _probe_folder(os.path.dirname(os.path.abspath(path)))


def check_output_dir(path: str) -> str | None:
    """Why ``path`` cannot be used (or created) as the output folder, or None if it can."""
    if os.path.exists(path):
        return _probe_folder(path)
    return _probe_folder(os.path.dirname(os.path.abspath(path)))


# ------------------------------------------------------------------------------ the parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models",
        description=(
            "The tutorial 'neural net from scratch', reproduced with autograd_lite: a 2-layer "
            "ReLU network on make_moons(5000, noise=0.1), trained by minibatch SGD on the "
            "summed cross-entropy."
        ),
        epilog="Run 'python -m models COMMAND --help' for the options of a command.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--seed",
        type=seed_int,
        default=0,
        help="seed of every random draw (initial weights, shuffles); same seed, same output "
        "(default: %(default)s)",
    )
    common.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout and nothing else there",
    )

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(parser=sub)  # validate() reports errors with this command's usage
        return sub

    p = add(
        "reproduce",
        "The tutorial's results table: the test accuracy of RUNS independent trainings (mean "
        "and standard deviation) and one run of the class-based model, next to the "
        "tutorial's numbers (0.94541, 0.019558, 0.9496).",
    )
    p.add_argument(
        "--runs",
        type=positive_int,
        default=100,
        help="number of independent trainings (default: %(default)s)",
    )
    _add_training_options(p, epochs=10, optimizer=False)
    p.add_argument(
        "--class-hidden",
        type=positive_int,
        default=99,
        help="hidden units of the class-based run (default: %(default)s)",
    )
    p.add_argument(
        "--class-batch-size",
        type=positive_int,
        default=20,
        help="minibatch size of the class-based run (default: %(default)s)",
    )
    _add_workers(p)

    p = add(
        "sweep",
        "The width sweep: mean test accuracy of TRIALS trainings for each hidden width in "
        "[MIN_HIDDEN, MAX_HIDDEN), as a table and a plot.",
    )
    p.add_argument(
        "--min-hidden", type=positive_int, default=3, help="smallest width (default: %(default)s)"
    )
    p.add_argument(
        "--max-hidden",
        type=positive_int,
        default=40,
        help="the sweep stops before this width (default: %(default)s)",
    )
    p.add_argument(
        "--trials", type=positive_int, default=3, help="trainings per width (default: %(default)s)"
    )
    _add_training_options(p, epochs=100, hidden=False)
    p.add_argument(
        "--out",
        default="width_sweep.png",
        help="where to write the plot, .png, .svg or .pdf (default: %(default)s)",
    )
    _add_workers(p)

    p = add(
        "check-grads",
        "The gradient of every parameter of the tutorial's network on one random minibatch, "
        "by autograd_lite, by the tutorial's hand-derived formulas and by central finite "
        "differences, with their largest absolute and relative differences.",
    )
    p.add_argument(
        "--hidden", type=positive_int, default=64, help="hidden units (default: %(default)s)"
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=10,
        help="rows in the minibatch, at most 3750 (default: %(default)s)",
    )
    p.add_argument(
        "--eps",
        type=positive_float,
        default=1e-6,
        help="finite-difference step (default: %(default)s)",
    )

    p = add(
        "train",
        "One training on the tutorial's training split with the chosen hyperparameters; "
        "prints the test accuracy.",
    )
    _add_training_options(p, epochs=10, optimizer=True)
    p.add_argument(
        "--save",
        metavar="PATH",
        help="write the trained parameters there (autograd_lite.save, .npz)",
    )

    p = add(
        "plot",
        "PNG figures: the data as the tutorial drew it, the decision boundary of a trained "
        "network, relu, and the training loss per epoch.",
    )
    _add_training_options(p, epochs=10, optimizer=True)
    p.add_argument(
        "--out-dir",
        default="plots",
        help="folder for the figures, created if missing (default: %(default)s)",
    )
    return parser


def _add_training_options(
    p: argparse.ArgumentParser, epochs: int, hidden: bool = True, optimizer: bool = False
) -> None:
    """The options of a training: width, minibatch size, epochs, lr (and optimizer, init)."""
    if hidden:
        p.add_argument(
            "--hidden", type=positive_int, default=64, help="hidden units (default: %(default)s)"
        )
    p.add_argument(
        "--batch-size", type=positive_int, default=10, help="minibatch size (default: %(default)s)"
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=epochs,
        help="passes over the training set (default: %(default)s)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=1e-4,
        help="learning rate; the loss is summed over the minibatch (default: %(default)s)",
    )
    if optimizer:
        p.add_argument(
            "--optimizer",
            choices=("sgd", "adam"),
            default="sgd",
            help="plain SGD (the tutorial's) or Adam (default: %(default)s)",
        )
        p.add_argument(
            "--init",
            choices=("normal", "he", "xavier"),
            default="normal",
            help="initial weights: standard normal (the tutorial's), He or Xavier "
            "(default: %(default)s)",
        )


def _add_workers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="processes to train in; results do not depend on it (default: one per available core)",
    )


def validate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Checks that need more than one option or the file system; exit 2 on failure."""
    problem = None
    if args.command == "sweep":
        if args.max_hidden <= args.min_hidden:
            problem = (
                f"--max-hidden ({args.max_hidden}) must be greater than --min-hidden "
                f"({args.min_hidden}): the widths are [min, max)"
            )
        else:
            problem = check_output_file(args.out, PLOT_SUFFIXES)
            problem = problem and f"argument --out: {problem}"
    elif args.command == "check-grads" and args.batch_size > 3750:
        problem = f"--batch-size ({args.batch_size}) cannot exceed the 3750 training rows"
    elif args.command == "train" and args.save is not None:
        problem = check_output_file(args.save)
        problem = problem and f"argument --save: {problem}"
    elif args.command == "plot":
        problem = check_output_dir(args.out_dir)
        problem = problem and f"argument --out-dir: {problem}"
    if problem:
        parser.error(problem)


# ------------------------------------------------------------------------------ commands
def cmd_reproduce(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from models.experiments import Training, repeat, train_and_score
    from models.moons import load_moons

    data = load_moons()
    result = repeat(
        args.runs,
        args.hidden,
        args.batch_size,
        args.epochs,
        args.seed,
        lr=args.lr,
        workers=args.workers,
        data=data,
    )
    # The class-based run: one model seeded with --seed itself (the tutorial's NeuralNet).
    task = Training(
        args.class_hidden,
        args.class_batch_size,
        args.epochs,
        args.lr,
        np.random.SeedSequence(args.seed),
    )
    class_accuracy = train_and_score(task, data)
    out = {
        "command": "reproduce",
        "mean": result.mean,
        "std": result.std,
        "class_based": {
            "hidden": args.class_hidden,
            "batch_size": args.class_batch_size,
            "epochs": args.epochs,
            "lr": args.lr,
            "seed": args.seed,
            "accuracy": class_accuracy,
        },
        "repeat": result.to_dict(),
        "tutorial": TUTORIAL,
    }
    rows = [
        ("", "", "autograd_lite", "tutorial"),
        (f"{args.runs} runs", "mean test accuracy", f"{result.mean:.5f}", f"{TUTORIAL['mean']}"),
        ("", "standard deviation", f"{result.std:.6f}", f"{TUTORIAL['std']}"),
        ("class-based run", "test accuracy", f"{class_accuracy:.4f}", f"{TUTORIAL['class_based']}"),
    ]
    text = [
        "The tutorial's results, reproduced with autograd_lite",
        f"  {args.runs} runs: hidden {args.hidden}, batch {args.batch_size}, "
        f"epochs {args.epochs}, lr {args.lr:g}, seed {args.seed}",
        f"  class-based run: hidden {args.class_hidden}, batch {args.class_batch_size}, "
        f"epochs {args.epochs}, lr {args.lr:g}, seed {args.seed}",
        "",
    ]
    text += [f"{a:<16} {b:<20} {c:>14} {d:>10}" for a, b, c, d in rows]
    text += [
        "",
        f"(standard deviation over runs with ddof=0; min {result.accuracies.min():.4f}, "
        f"max {result.accuracies.max():.4f})",
    ]
    return out, "\n".join(text)


def cmd_sweep(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from models.experiments import width_sweep

    result = width_sweep(
        args.min_hidden,
        args.max_hidden,
        args.trials,
        args.batch_size,
        args.epochs,
        args.seed,
        lr=args.lr,
        workers=args.workers,
    )
    plot_sweep(result, args.out)
    out = {"command": "sweep", **result.to_dict(), "plot": args.out}
    text = [
        f"Test accuracy against hidden width: {args.trials} trainings per width, batch "
        f"{args.batch_size}, epochs {args.epochs}, lr {args.lr:g}, seed {args.seed}",
        "",
        f"{'width':>5}  {'mean':>7}   trials",
    ]
    for width, mean, accs in zip(result.widths, result.mean_accuracy, result.accuracies):
        text.append(f"{width:>5}  {mean:>7.4f}   " + " ".join(f"{a:.4f}" for a in accs))
    text += ["", f"plot written to {args.out}"]
    return out, "\n".join(text)


def cmd_check_grads(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from models.moons import compare_gradients, format_gradient_table

    rows = compare_gradients(
        hidden=args.hidden, batch_size=args.batch_size, eps=args.eps, seed=args.seed
    )
    out = {
        "command": "check-grads",
        "hidden": args.hidden,
        "batch_size": args.batch_size,
        "eps": args.eps,
        "seed": args.seed,
        "params": [row.to_dict() for row in rows],
    }
    head = (
        f"Gradients of the summed cross-entropy of the tutorial's network (hidden "
        f"{args.hidden}) on {args.batch_size} random training rows, seed {args.seed}\n"
    )
    return out, head + "\n" + format_gradient_table(rows)


def _train_network(args: argparse.Namespace) -> tuple[Any, np.ndarray, tuple]:
    """The tutorial's data and a network trained as ``args`` say (one Generator: init, shuffles)."""
    from tqdm import tqdm

    from models.moons import MoonNet, load_moons, train

    data = load_moons()
    X_train, _, y_train, _ = data
    rng = np.random.default_rng(args.seed)
    net = MoonNet(X_train.shape[1], 2, args.hidden, args.init, rng)
    with tqdm(total=args.epochs, desc="train", unit="epoch", file=sys.stderr) as bar:
        history = train(
            net,
            X_train,
            y_train,
            args.lr,
            args.batch_size,
            args.epochs,
            rng,
            args.optimizer,
            callback=lambda epoch, loss: bar.update(),
        )
    return net, history, data


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("hidden", "batch_size", "epochs", "lr", "optimizer", "init", "seed")
    return {key: getattr(args, key) for key in keys}


def cmd_train(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from models.moons import accuracy

    net, history, (X_train, X_test, y_train, y_test) = _train_network(args)
    test_acc, train_acc = accuracy(net, X_test, y_test), accuracy(net, X_train, y_train)
    if args.save is not None:
        import autograd_lite as al

        al.save(net.state_dict(), args.save)
    out = {
        "command": "train",
        **_settings(args),
        "test_accuracy": test_acc,
        "train_accuracy": train_acc,
        "loss_per_epoch": history.tolist(),
        "saved": args.save,
    }
    s = _settings(args)
    text = [
        f"test accuracy {test_acc:.4f} (training accuracy {train_acc:.4f}, final epoch loss "
        f"{history[-1]:.4f} per sample)",
        "settings: " + ", ".join(f"{k} {v}" for k, v in s.items()),
    ]
    if args.save is not None:
        text.append(f"parameters saved to {args.save} (keys {', '.join(net.state_dict())})")
    return out, "\n".join(text)


def cmd_plot(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from tqdm import tqdm

    from models.moons import accuracy

    net, history, data = _train_network(args)
    test_acc = accuracy(net, data[1], data[3])
    os.makedirs(args.out_dir, exist_ok=True)
    files = {key: os.path.join(args.out_dir, name) for key, name in PLOT_FILES.items()}
    figures = [
        lambda: plot_data(files["data"]),
        lambda: plot_decision_boundary(net, data, test_acc, files["decision_boundary"]),
        lambda: plot_relu(files["relu"]),
        lambda: plot_loss(history, args, files["loss"]),
    ]
    for draw in tqdm(figures, desc="figures", unit="figure", file=sys.stderr):
        draw()
    out = {"command": "plot", **_settings(args), "test_accuracy": test_acc, "files": files}
    text = [f"test accuracy {test_acc:.4f}; figures written:"]
    text += [f"  {path}" for path in files.values()]
    return out, "\n".join(text)


# ------------------------------------------------------------------------------ figures
def _figure(width: float = 6.4, height: float = 4.8) -> tuple[Any, Any]:
    """A matplotlib Figure on the Agg canvas (no pyplot, no global backend state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="tight")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def plot_sweep(result: Any, path: str) -> None:
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure()
    for t in range(result.accuracies.shape[1]):
        ax.plot(
            result.widths,
            result.accuracies[:, t],
            "o",
            color="tab:blue",
            alpha=0.25,
            markersize=3,
            label="single training" if t == 0 else None,
        )
    ax.plot(
        result.widths,
        result.mean_accuracy,
        "-o",
        color="tab:blue",
        markersize=4,
        label=f"mean of {result.accuracies.shape[1]}",
    )
    s = result.settings
    ax.set(
        xlabel="hidden units",
        ylabel="test accuracy",
        title=f"Test accuracy against width (batch {s['batch_size']}, epochs {s['epochs']})",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=120)


def plot_data(path: str) -> None:
    from sklearn.datasets import make_moons

    X, y = make_moons(5000, noise=0.1, random_state=42)
    fig, ax = _figure()
    ax.scatter(X[:, 0], X[:, 1], c=y, s=4, cmap="coolwarm")
    ax.set(
        xlabel="$x_1$",
        ylabel="$x_2$",
        title="make_moons(n_samples=5000, noise=0.1, random_state=42)",
    )
    fig.savefig(path, dpi=120)


def plot_decision_boundary(net: Any, data: tuple, test_acc: float, path: str) -> None:
    from models.moons import predict_proba

    X_train, X_test, _, y_test = data
    X_all = np.vstack([X_train, X_test])
    (x0, y0), (x1, y1) = X_all.min(axis=0) - 0.3, X_all.max(axis=0) + 0.3
    gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    probs = predict_proba(net, np.column_stack([gx.ravel(), gy.ravel()]))[:, 1]
    fig, ax = _figure()
    filled = ax.contourf(gx, gy, probs.reshape(gx.shape), levels=20, cmap="coolwarm", alpha=0.6)
    ax.contour(gx, gy, probs.reshape(gx.shape), levels=[0.5], colors="k", linewidths=1)
    ax.scatter(X_test[:, 0], X_test[:, 1], c=y_test, s=5, cmap="coolwarm", edgecolors="none")
    fig.colorbar(filled, ax=ax, label="P(class 1)")
    ax.set(
        xlabel="$x_1$",
        ylabel="$x_2$",
        title=f"Decision boundary (test points; accuracy {test_acc:.4f})",
    )
    fig.savefig(path, dpi=120)


def plot_relu(path: str) -> None:
    x = np.linspace(-5, 5, 201)
    fig, ax = _figure()
    ax.plot(x, np.maximum(x, 0))
    ax.axhline(0, color="gray", linewidth=0.5)
    ax.axvline(0, color="gray", linewidth=0.5)
    ax.set(xlabel="x", ylabel="relu(x)", title="ReLU: max(0, x)")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=120)


def plot_loss(history: np.ndarray, args: argparse.Namespace, path: str) -> None:
    fig, ax = _figure()
    ax.plot(np.arange(1, len(history) + 1), history, "-o", markersize=4)
    ax.set(
        xlabel="epoch",
        ylabel="cross-entropy per training sample",
        title=f"Training loss (hidden {args.hidden}, batch {args.batch_size}, "
        f"lr {args.lr:g}, {args.optimizer})",
    )
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=120)


# ------------------------------------------------------------------------------ main
COMMANDS: dict[str, Callable[[argparse.Namespace], tuple[dict[str, Any], str]]] = {
    "reproduce": cmd_reproduce,
    "sweep": cmd_sweep,
    "check-grads": cmd_check_grads,
    "train": cmd_train,
    "plot": cmd_plot,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    validate(args, args.parser)
    start = time.perf_counter()
    out, text = COMMANDS[args.command](args)
    print(json.dumps(out, indent=2) if args.json else text)
    print(f"[{args.command} took {time.perf_counter() - start:.1f} s]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
