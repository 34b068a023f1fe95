"""Tests of the command line, `python -m models ...`.

Parsing, output and files are tested in process through `main(argv)`; a few tests run the
real program in a subprocess (JSON on stdout, Ctrl-C, what gets imported).
"""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from models import cli, experiments, gradients
from models.__main__ import main
from models.data import load_moons
from models.estimator import MoonClassifier

REPO = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY_REPRODUCE = ["--runs", "3", "--hidden", "4", "--epochs", "1", "--class-hidden", "5"]
TINY_SWEEP = ["--min-hidden", "2", "--max-hidden", "4", "--trials", "2", "--epochs", "1"]
TINY_TRAIN = ["--hidden", "8", "--epochs", "2"]
TINY_PLOT = [*TINY_TRAIN, "--min-hidden", "2", "--max-hidden", "3", "--trials", "1",
             "--sweep-epochs", "1", "--workers", "1"]  # fmt: skip


def strict_json(text):
    """Parse ``text`` as JSON as strict parsers do: NaN and Infinity are errors."""

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def run(capsys, *args):
    """``main(args)`` in this process: (exit status, stdout, stderr)."""
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys, *args):
    status, out, err = run(capsys, *args, "--json")
    assert status == 0, err
    return strict_json(out), err  # the whole of stdout is the JSON


def run_process(*args, **kwargs):
    """``python -m models ARGS`` from the repository root, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "models", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        **kwargs,
    )


@pytest.fixture
def no_training(monkeypatch):
    """Make any training, sweep or gradient comparison fail the test."""

    def started(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(MoonClassifier, "fit", started)
    monkeypatch.setattr(experiments, "run_trainings", started)
    monkeypatch.setattr(gradients, "compare_gradients", started)


# ------------------------------------------------------------------------------ help
def test_the_top_level_help_lists_every_command(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0 and out.startswith("usage: python -m models")
    for name in cli.COMMANDS:
        assert f"    {name}" in out


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_command_has_help_for_every_option(capsys, command):
    status, out, _ = run(capsys, command, "--help")
    assert status == 0 and out.startswith(f"usage: python -m models {command}")
    for opt in cli.COMMANDS[command].options:
        assert opt.kwargs["help"] and opt.flags[0] in out
    assert "--json" in out and "--quiet" in out


# ------------------------------------------------------------------------------ bad arguments
def bad_cases(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    return [
        ("train", "--hidden", "-3"),
        ("train", "--hidden", "0"),
        ("train", "--hidden", "1000000000"),
        ("train", "--hidden", "2.5"),
        ("train", "--epochs", "0"),
        ("train", "--epochs", "99999999999999999999"),
        ("train", "--batch-size", "-1"),
        ("train", "--batch-size", "3751"),
        ("train", "--lr", "0"),
        ("train", "--lr", "inf"),
        ("train", "--lr", "nan"),
        ("train", "--lr", "abc"),
        ("train", "--seed", "-1"),
        ("train", "--seed", str(2**32)),
        ("train", "--optimizer", "rmsprop"),
        ("train", "--unknown"),
        ("train", "--save", ""),
        ("train", "--save", tmp_path / "missing" / "p.npz"),
        ("train", "--save", tmp_path),
        ("train", "--save", a_file / "p.npz"),
        ("train", "--save", "/proc/p.npz"),  # not writable, even for root
        ("reproduce", "--runs", "0"),
        ("reproduce", "--runs", "1000000000"),
        ("reproduce", "--workers", "0"),
        ("reproduce", "--workers", "100000"),
        ("reproduce", "--class-hidden", "-5"),
        ("reproduce", "--chunks", "0"),
        ("reproduce", "--scheduler", "host:8786"),
        ("reproduce", "--scheduler", ""),
        ("sweep", "--dtype", "float16"),
        ("train", "--dtype", "int64"),
        ("sweep", "--min-hidden", "10", "--max-hidden", "5"),
        ("sweep", "--max-hidden", "5000"),
        ("sweep", "--trials", "0"),
        ("sweep", "--out", tmp_path / "sweep.txt"),
        ("sweep", "--out", tmp_path / "missing" / "sweep.png"),
        ("sweep", "--out", ""),
        ("check-grads", "--batch-size", "100000"),
        ("check-grads", "--eps", "-1e-6"),
        ("check-grads", "--eps", "1e-300"),
        ("check-grads", "--rtol", "0"),
        ("plot", "--out-dir", ""),
        ("plot", "--out-dir", a_file),
        ("plot", "--out-dir", tmp_path / "missing" / "deeper"),
        ("plot", "--epochs", "0"),
        ("plot", "--min-hidden", "5", "--max-hidden", "5"),
        ("plot", "--format", "jpg"),
        ("evaluate",),
        ("evaluate", "--load", tmp_path / "missing.npz"),
        ("evaluate", "--load", a_file),
        ("predict", "--load", tmp_path / "missing.npz"),
        ("predict", "--input", a_file),
        ("no-such-command",),
        (),
    ]


def test_bad_arguments_exit_2_with_one_line_before_any_work(capsys, tmp_path, no_training):
    for args in bad_cases(tmp_path):
        status, out, err = run(capsys, *args)
        assert status == 2, (args, err)
        assert out == "", args
        assert err.count("\n") == 1 and err.endswith("\n"), (args, err)
        prog = f"python -m models {args[0]}" if args and args[0] in cli.COMMANDS else ""
        assert err.startswith(f"{prog or 'python -m models'}: error: "), (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_an_unknown_option_is_reported_by_its_command(capsys):
    status, _, err = run(capsys, "train", "--unknown", "3")
    assert status == 2
    assert err == (
        "python -m models train: error: unrecognized arguments: --unknown 3 "
        "(see: python -m models train --help)\n"
    )


def test_messages_name_the_option_and_the_bound(capsys):
    _, _, err = run(capsys, "train", "--hidden", "1000000000")
    assert "argument --hidden: must be at most 4096, got 1000000000" in err
    _, _, err = run(capsys, "check-grads", "--eps", "1e-300")
    assert "argument --eps: must lie in [1e-10, 0.1], got 1e-300" in err
    _, _, err = run(capsys, "train", "--save", "")
    assert "argument --save: the path is empty" in err


def test_bad_input_files_exit_2_after_loading_the_model_only(capsys, tmp_path, saved):
    path, _ = saved
    bad = tmp_path / "bad.csv"
    bad.write_text("x1,x2\n1,2\n3\n")
    status, out, err = run(capsys, "predict", "--load", path, "--input", bad)
    assert status == 2 and out == ""
    assert err == f"python -m models predict: error: argument --input: {bad}, line 3: expected 2 " \
        "finite numbers separated by commas, got '3'\n"  # fmt: skip
    status, _, err = run(capsys, "evaluate", "--load", bad)
    assert status == 2 and "not an .npz file" in err


# ------------------------------------------------------------------------------ commands
def test_reproduce_json_is_deterministic_and_independent_of_workers(capsys):
    out, _ = run_json(capsys, "reproduce", *TINY_REPRODUCE, "--workers", "2", "--seed", "3")
    assert out["command"] == "reproduce"
    accuracies = out["repeat"]["accuracies"]
    assert len(accuracies) == 3
    assert out["mean"] == pytest.approx(np.mean(accuracies))
    assert out["std"] == pytest.approx(np.std(accuracies))
    assert out["class_based"]["class_hidden"] == 5 and 0 <= out["class_based"]["accuracy"] <= 1
    assert out["tutorial"] == {"mean": 0.94541, "std": 0.019558, "class_based": 0.9496}
    again, _ = run_json(capsys, "reproduce", *TINY_REPRODUCE, "--workers", "1", "--seed", "3")
    assert again == out


def test_reproduce_table_shows_the_tutorials_numbers(capsys):
    status, out, err = run(capsys, "reproduce", *TINY_REPRODUCE, "--workers", "1", "--seed", "1")
    assert status == 0
    for text in ("0.94541", "0.019558", "0.9496", "mean test accuracy", "standard deviation"):
        assert text in out
    assert err.startswith("[reproduce took ")


def test_sweep_writes_a_deterministic_figure_and_a_table(capsys, tmp_path):
    figure = tmp_path / "sweep.svg"
    out, _ = run_json(capsys, "sweep", *TINY_SWEEP, "--out", figure, "--seed", "2", "--workers", 1)
    assert out["widths"] == [2, 3] and out["figure"] == str(figure)
    assert np.shape(out["accuracies"]) == (2, 2)
    np.testing.assert_allclose(out["mean_accuracy"], np.mean(out["accuracies"], axis=1))
    first = figure.read_bytes()
    status, text, _ = run(capsys, "sweep", *TINY_SWEEP, "--out", figure, "--seed", "2")
    assert status == 0 and figure.read_bytes() == first  # SVG: the same bytes every run
    assert f"{out['mean_accuracy'][0]:.4f}" in text and "width" in text


def test_sequential_and_ensembles_print_the_same_results(capsys, tmp_path):
    ensembles, _ = run_json(capsys, "reproduce", *TINY_REPRODUCE, "--seed", "3")
    one_by_one, _ = run_json(capsys, "reproduce", *TINY_REPRODUCE, "--seed", "3", "--sequential")
    assert ensembles["repeat"].pop("method") == "ensemble"
    assert one_by_one["repeat"].pop("method") == "sequential"
    assert ensembles == one_by_one
    figure = tmp_path / "sweep.svg"
    swept, _ = run_json(capsys, "sweep", *TINY_SWEEP, "--out", figure, "--chunks", 2)
    swept_one_by_one, _ = run_json(capsys, "sweep", *TINY_SWEEP, "--out", figure, "--sequential")
    assert swept["accuracies"] == swept_one_by_one["accuracies"]


def test_dtype_float32(capsys, tmp_path):
    out, _ = run_json(capsys, "reproduce", *TINY_REPRODUCE, "--dtype", "float32")
    assert out["repeat"]["dtype"] == "float32" and 0 <= out["mean"] <= 1
    trained, _ = run_json(capsys, "train", *TINY_TRAIN, "--dtype", "float32", "--save",
                          tmp_path / "m.npz")  # fmt: skip
    assert trained["dtype"] == "float32"
    assert MoonClassifier.load(tmp_path / "m.npz").network_.dtype == np.float32


def test_scheduler_without_dask_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    status, out, err = run(capsys, "reproduce", *TINY_REPRODUCE, "--scheduler", "tcp://h:8786")
    assert status == 2 and out == ""
    assert 'argument --scheduler: Dask is not installed: pip install ".[dask]"' in err


def test_check_grads_passes_and_says_so(capsys):
    out, _ = run_json(capsys, "check-grads", "--hidden", "6", "--batch-size", "5", "--seed", "4")
    assert out["passed"] is True and out["tolerance"]["autograd-manual"] == 1e-12
    assert [p["name"] for p in out["params"]] == ["W1", "b1", "W2", "b2"]
    for p in out["params"]:
        assert p["passed"] and p["autograd-manual"]["rel"] <= 1e-12
    status, text, _ = run(capsys, "check-grads", "--hidden", "6", "--batch-size", "5")
    assert status == 0 and "PASS" in text and "central differences" in text


def test_check_grads_fails_with_exit_1(capsys, monkeypatch):
    status, text, _ = run(capsys, "check-grads", "--hidden", "3", "--rtol", "1e-15")
    assert status == 1 and "FAIL (W1 autograd-numeric" in text  # finite differences: ~1e-9
    real = gradients.autograd_gradients

    def off_by_a_little(*args, **kwargs):
        grads = real(*args, **kwargs)
        return {**grads, "b2": grads["b2"] * (1 + 1e-8)}

    monkeypatch.setattr(gradients, "autograd_gradients", off_by_a_little)
    status, out, _ = run(capsys, "check-grads", "--hidden", "3", "--json")
    verdicts = {p["name"]: p["passed"] for p in strict_json(out)["params"]}
    assert status == 1 and verdicts == {"W1": True, "b1": True, "W2": True, "b2": False}


@pytest.fixture
def saved(tmp_path, capsys):
    """A model saved by `train --save`, and the JSON that train printed."""
    path = tmp_path / "model.npz"
    out, _ = run_json(capsys, "train", *TINY_TRAIN, "--seed", "5", "--save", path)
    return path, out


def test_train_saves_a_model_that_evaluate_and_predict_use(capsys, tmp_path, saved):
    saved, trained = saved
    assert trained["saved"] == str(saved) and len(trained["loss_per_epoch"]) == 2
    assert trained["diverged"] is False and trained["diverged_at_epoch"] is None
    clf = MoonClassifier.load(saved)
    assert clf.get_params()["hidden"] == 8 and clf.get_params()["random_state"] == 5
    _, X_test, _, y_test = load_moons()
    assert clf.score(X_test, y_test) == trained["test_accuracy"]

    evaluated, _ = run_json(capsys, "evaluate", "--load", saved)
    assert evaluated["test_accuracy"] == trained["test_accuracy"]
    assert evaluated["hidden"] == 8 and evaluated["test_rows"] == 1250

    points = tmp_path / "points.csv"
    points.write_text("x1,x2\n" + "\n".join(f"{a!r},{b!r}" for a, b in X_test[:5].tolist()) + "\n")
    status, text, _ = run(capsys, "predict", "--load", saved, "--input", points)
    lines = text.splitlines()
    assert status == 0 and lines[0] == "x1,x2,label,p_0,p_1" and len(lines) == 6
    rows = np.array([line.split(",") for line in lines[1:]], dtype=float)
    np.testing.assert_array_equal(rows[:, :2], X_test[:5])
    np.testing.assert_array_equal(rows[:, 2], clf.predict(X_test[:5]))
    np.testing.assert_allclose(rows[:, 3:], clf.predict_proba(X_test[:5]), atol=1e-6)
    predicted, _ = run_json(capsys, "predict", "--load", saved, "--input", points)
    assert predicted["labels"] == clf.predict(X_test[:5]).tolist()
    assert predicted["classes"] == [0, 1] and len(predicted["probabilities"]) == 5


def test_points_the_model_cannot_take_exit_2_with_one_line(capsys, tmp_path, saved):
    clf = MoonClassifier.load(saved[0])
    clf.network_.fc1.weight.data[...] = 4.0  # every hidden unit: inf at 1e308
    clf.network_.fc2.weight.data[...] = [[1.0, -1.0]]  # logits inf - inf: NaN
    clf.save(tmp_path / "m.npz")
    points = tmp_path / "far.csv"
    points.write_text("0,0\n1e308,1e308\n")  # finite, but the network's arithmetic overflows
    status, out, err = run(capsys, "predict", "--load", tmp_path / "m.npz", "--input", points)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "argument --input: point 2 is too far out for the network" in err
    clf = MoonClassifier(hidden=4, epochs=1, dtype="float32").fit(*load_moons()[::2])
    clf.save(tmp_path / "f32.npz")
    points.write_text("1e39,0\n")  # beyond float32
    status, out, err = run(capsys, "predict", "--load", tmp_path / "f32.npz", "--input", points)
    assert status == 2 and "point 1 does not fit in the model's float32" in err


def test_evaluate_refuses_a_model_of_other_classes(capsys, tmp_path):
    X, _, y, _ = load_moons()
    MoonClassifier(hidden=4, epochs=1).fit(X, y + 1).save(tmp_path / "m.npz")
    status, out, err = run(capsys, "evaluate", "--load", tmp_path / "m.npz")
    assert status == 2 and out == ""
    assert "the model's classes are [1, 2], not the moons' 0 and 1" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_saving_onto_a_pipe_exits_2_before_training(capsys, tmp_path, no_training):
    os.mkfifo(tmp_path / "pipe.npz")
    status, out, err = run(capsys, "train", "--save", tmp_path / "pipe.npz")
    assert status == 2 and out == "" and "is not a regular file" in err


def test_predict_reads_stdin(capsys, monkeypatch, saved):
    monkeypatch.setattr(sys, "stdin", io.StringIO("0.0,1.0\n2.0,0.0\n"))
    out, _ = run_json(capsys, "predict", "--load", saved[0], "--input", "-")
    assert len(out["labels"]) == 2 and out["input"] == "-"


def test_train_same_seed_same_output_other_seed_other_output(capsys):
    args = [*TINY_TRAIN, "--optimizer", "adam", "--lr", "0.01"]
    a, _ = run_json(capsys, "train", *args, "--seed", "6")
    b, _ = run_json(capsys, "train", *args, "--seed", "6")
    c, _ = run_json(capsys, "train", *args, "--seed", "7")
    assert a == b and a["optimizer"] == "adam"
    assert a["loss_per_epoch"] != c["loss_per_epoch"]


def test_a_diverged_training_is_strict_json_and_a_one_line_warning(capsys, tmp_path):
    path = tmp_path / "diverged.npz"
    status, out, err = run(capsys, "train", "--lr", "1e10", "--json", "--save", path)
    result = strict_json(out)
    json.dumps(result, allow_nan=False)
    assert status == 0 and result["diverged"] is True
    epoch = result["diverged_at_epoch"]
    assert result["loss_per_epoch"][epoch - 1] is None  # NaN becomes null
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warning == [f"warning: training diverged at epoch {epoch} of 10 (loss nan): "
                       "lr=1e+10 is too large; training stopped there"]  # fmt: skip
    assert "RuntimeWarning" not in err and "Traceback" not in err
    status, text, _ = run(capsys, "train", "--lr", "1e10", "--epochs", "2")
    assert f"the training diverged at epoch {epoch}" in text


def test_plot_writes_every_figure_the_same_each_time(capsys, tmp_path):
    out_dir = tmp_path / "new"  # created
    out, _ = run_json(capsys, "plot", *TINY_PLOT, "--out-dir", out_dir, "--format", "svg")
    assert set(out["files"]) == set(cli_figures())
    first = {name: Path(path).read_bytes() for name, path in out["files"].items()}
    assert all(Path(path).parent == out_dir for path in out["files"].values())
    run_json(capsys, "plot", *TINY_PLOT, "--out-dir", out_dir, "--format", "svg")
    assert {name: Path(path).read_bytes() for name, path in out["files"].items()} == first
    out, _ = run_json(capsys, "plot", *TINY_PLOT, "--out-dir", out_dir)
    assert all(Path(p).read_bytes().startswith(PNG_MAGIC) for p in out["files"].values())
    assert len(list(out_dir.iterdir())) == 10


def cli_figures():
    from models.__main__ import FIGURES

    return FIGURES


# ------------------------------------------------------------------------------ stderr
def test_progress_bars_only_on_a_terminal_and_not_with_quiet(capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for quiet, expect_bar in ((False, True), (True, False)):
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        args = ["train", "--hidden", "2", "--epochs", "3"] + (["--quiet"] if quiet else [])
        assert main(args) == 0
        assert ("epoch" in terminal.getvalue()) is expect_bar
        assert ("took" in terminal.getvalue()) is not quiet
    _, _, err = run(capsys, "train", "--hidden", "2", "--epochs", "1")
    assert "epoch" not in err  # captured stderr is not a terminal: no bar
    _, _, err = run(capsys, "train", "--hidden", "2", "--epochs", "1", "--quiet")
    assert err == ""


@pytest.mark.parametrize("command", [["train", "--save", "{tmp}/m.npz"], ["plot"]])
def test_ctrl_c_exits_130_with_one_line_and_writes_nothing(capsys, tmp_path, monkeypatch, command):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(MoonClassifier, "fit", interrupted)
    argv = [arg.format(tmp=tmp_path) for arg in command]
    if command[0] == "plot":
        argv += ["--out-dir", str(tmp_path / "figures")]
    status, out, err = run(capsys, *argv)
    assert status == 130 and out == ""
    assert err == f"python -m models {command[0]}: interrupted\n"
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ end to end
def test_the_program_prints_only_json_on_stdout_and_timing_on_stderr():
    proc = run_process("train", "--hidden", "4", "--epochs", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    assert strict_json(proc.stdout)["command"] == "train"
    assert proc.stderr.startswith("[train took ")
    proc = run_process("check-grads", "--hidden", "3", "--rtol", "1e-15")
    assert proc.returncode == 1 and "FAIL" in proc.stdout
    proc = run_process("train", "--hidden", "0")
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.splitlines()) == 1


def test_matplotlib_is_only_imported_by_commands_that_plot():
    code = (
        "import sys; from models.__main__ import main; "
        "main(['train', '--hidden', '2', '--epochs', '1', '--json']); "
        "print('matplotlib' in sys.modules, file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith("False")


def children(pid):
    """The ids of the child processes of ``pid`` (Linux: /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split() if path.exists() else []


def running(pid):
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="needs Linux /proc/PID/task/PID/children",
)
def test_ctrl_c_during_a_parallel_run_exits_130_with_one_line_and_stops_the_workers():
    # Its own session, so that the test can do what Ctrl-C in a terminal does: signal the
    # whole process group (the program and its worker processes).
    proc = subprocess.Popen(
        [sys.executable, "-m", "models", "reproduce", "--runs", "10000", "--workers", "2"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # until both workers exist: the trainings are starting
        workers = children(proc.pid)
        assert len(workers) == 2, "the workers did not start"
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of this test's processes
    assert proc.returncode == 130, err
    assert out == "" and err == "python -m models reproduce: interrupted\n"
    assert not any(running(pid) for pid in workers)  # stopped, not left to finish the runs


# ------------------------------------------------------------------------------ the README
def test_the_readme_documents_every_command_and_shows_pictures_that_exist():
    readme = (REPO / "README.md").read_text()
    for name in cli.COMMANDS:
        assert f"| `{name}" in readme, name  # a row of the table of commands
    images = [line for line in readme.splitlines() if line.startswith("![")]
    pictures = {line.split("](")[1].rstrip(")") for line in images}
    assert {
        "docs/decision_boundary.png",
        "docs/width_sweep.png",
        "docs/training_loss.png",
    } <= pictures
    for picture in pictures:
        start = (REPO / picture).read_bytes()[:100]
        assert start.startswith(PNG_MAGIC) or b"<svg" in start or b"<?xml" in start, picture
    assert "python -m models plot --out-dir docs" in readme


# ------------------------------------------------------------------------------ graph
def test_graph_draws_the_network_of_one_training_step(capsys, tmp_path):
    out = tmp_path / "g.svg"
    data, _ = run_json(capsys, "graph", "--hidden", "5", "--batch-size", "3", "--out", out)
    assert data == {"command": "graph", "hidden": 5, "batch_size": 3, "seed": 0, "out": str(out)}
    svg = out.read_text()
    assert "SoftmaxCrossEntropy" in svg and "fc2.weight" in svg and "(3, 5)" in svg


def test_graph_without_graphviz_exits_2_with_one_line_and_writes_nothing(
    capsys, tmp_path, monkeypatch
):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    status, out, err = run(capsys, "graph", "--out", tmp_path / "g.svg")
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "apt-get install graphviz" in err
    assert os.listdir(tmp_path) == []
