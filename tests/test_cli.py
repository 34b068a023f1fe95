"""Tests of the command line, `python -m models ...`, run as a subprocess with tiny settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autograd_lite as al
from models.moons import MoonNet, accuracy, load_moons

REPO = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY_REPRODUCE = ["--runs", "3", "--hidden", "4", "--epochs", "1", "--class-hidden", "5"]
TINY_SWEEP = ["--min-hidden", "2", "--max-hidden", "4", "--trials", "2", "--epochs", "1"]
TINY_TRAIN = ["--hidden", "8", "--epochs", "2"]


def run(*args, check=True):
    """Run `python -m models ARGS` from the repository root; the CompletedProcess."""
    proc = subprocess.run(
        [sys.executable, "-m", "models", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def run_json(*args):
    proc = run(*args, "--json")
    return json.loads(proc.stdout), proc  # the whole of stdout must be the JSON


def test_reproduce_json_is_deterministic_and_independent_of_workers():
    out, proc = run_json("reproduce", *TINY_REPRODUCE, "--workers", "2", "--seed", "3")
    assert out["command"] == "reproduce"
    accuracies = out["repeat"]["accuracies"]
    assert len(accuracies) == 3
    assert out["mean"] == pytest.approx(np.mean(accuracies))
    assert out["std"] == pytest.approx(np.std(accuracies))
    assert out["class_based"]["hidden"] == 5 and 0 <= out["class_based"]["accuracy"] <= 1
    assert out["tutorial"] == {"mean": 0.94541, "std": 0.019558, "class_based": 0.9496}
    assert "repeat" in proc.stderr  # the progress bar goes to stderr
    again = run("reproduce", *TINY_REPRODUCE, "--workers", "1", "--seed", "3", "--json")
    assert again.stdout == proc.stdout


def test_reproduce_table_shows_the_tutorials_numbers():
    proc = run("reproduce", *TINY_REPRODUCE, "--seed", "1")
    for text in ("0.94541", "0.019558", "0.9496", "mean test accuracy", "standard deviation"):
        assert text in proc.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(proc.stdout)


def test_sweep_writes_the_plot_and_a_table(tmp_path):
    plot = tmp_path / "sweep.png"
    out, _ = run_json("sweep", *TINY_SWEEP, "--out", plot, "--seed", "2")
    assert out["widths"] == [2, 3]
    assert np.shape(out["accuracies"]) == (2, 2)
    np.testing.assert_allclose(out["mean_accuracy"], np.mean(out["accuracies"], axis=1))
    assert plot.read_bytes().startswith(PNG_MAGIC)
    text = run("sweep", *TINY_SWEEP, "--out", tmp_path / "again.png", "--seed", "2").stdout
    assert f"{out['mean_accuracy'][0]:.4f}" in text and "width" in text


def test_check_grads_agree():
    out, _ = run_json("check-grads", "--hidden", "6", "--batch-size", "5", "--seed", "4")
    assert [p["name"] for p in out["params"]] == ["W1", "b1", "W2", "b2"]
    for p in out["params"]:
        assert p["autograd-manual"]["rel"] <= 1e-12
        assert p["autograd-numeric"]["rel"] < 1e-6
    text = run("check-grads", "--hidden", "6", "--batch-size", "5").stdout
    assert "autograd vs hand" in text and "central differences" in text


def test_train_saves_parameters_that_reproduce_the_accuracy(tmp_path):
    path = tmp_path / "params.npz"
    out, proc = run_json("train", *TINY_TRAIN, "--seed", "5", "--save", path)
    assert out["saved"] == str(path) and len(out["loss_per_epoch"]) == 2
    assert "epoch" in proc.stderr
    net = MoonNet.from_state_dict(al.load(path))
    _, X_test, _, y_test = load_moons()
    assert accuracy(net, X_test, y_test) == out["test_accuracy"]
    text = run("train", *TINY_TRAIN, "--seed", "5").stdout
    assert f"test accuracy {out['test_accuracy']:.4f}" in text


def test_train_same_seed_same_output_other_seed_other_output():
    a = run("train", *TINY_TRAIN, "--optimizer", "adam", "--lr", "0.01", "--seed", "6", "--json")
    b = run("train", *TINY_TRAIN, "--optimizer", "adam", "--lr", "0.01", "--seed", "6", "--json")
    c = run("train", *TINY_TRAIN, "--optimizer", "adam", "--lr", "0.01", "--seed", "7", "--json")
    assert a.stdout == b.stdout
    assert json.loads(a.stdout)["loss_per_epoch"] != json.loads(c.stdout)["loss_per_epoch"]
    assert json.loads(a.stdout)["optimizer"] == "adam"


def test_plot_writes_four_pngs(tmp_path):
    out_dir = tmp_path / "new" / "figures"  # created, with its missing parent
    (tmp_path / "new").mkdir()
    out, _ = run_json("plot", "--hidden", "8", "--epochs", "2", "--out-dir", out_dir)
    assert set(out["files"]) == {"data", "decision_boundary", "relu", "loss"}
    for path in out["files"].values():
        assert Path(path).parent == out_dir
        assert Path(path).read_bytes().startswith(PNG_MAGIC)


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


@pytest.mark.parametrize("command", ["reproduce", "sweep", "check-grads", "train", "plot"])
def test_help_explains_every_option(command):
    proc = run(command, "--help")
    assert proc.stdout.startswith(f"usage: python -m models {command}")
    for option in ("--seed", "--json"):
        assert option in proc.stdout
    options = [word for word in proc.stdout.split() if word.startswith("--")]
    assert len(options) >= 3


def bad_cases(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    return [
        ("train", "--hidden", "-3"),
        ("train", "--hidden", "0"),
        ("train", "--epochs", "0"),
        ("train", "--batch-size", "-1"),
        ("train", "--lr", "0"),
        ("train", "--lr", "inf"),
        ("train", "--lr", "abc"),
        ("train", "--seed", "-1"),
        ("train", "--optimizer", "rmsprop"),
        ("train", "--save", tmp_path / "missing" / "p.npz"),
        ("train", "--save", tmp_path),
        ("train", "--save", a_file / "p.npz"),
        ("train", "--save", "/proc/p.npz"),  # not writable, even for root
        ("reproduce", "--runs", "0"),
        ("reproduce", "--workers", "0"),
        ("reproduce", "--class-hidden", "-5"),
        ("sweep", "--min-hidden", "10", "--max-hidden", "5"),
        ("sweep", "--trials", "0"),
        ("sweep", "--out", tmp_path / "sweep.txt"),
        ("sweep", "--out", tmp_path / "missing" / "sweep.png"),
        ("check-grads", "--batch-size", "100000"),
        ("check-grads", "--eps", "-1e-6"),
        ("plot", "--out-dir", a_file),
        ("plot", "--out-dir", tmp_path / "missing" / "deeper"),
        ("plot", "--epochs", "0"),
        ("no-such-command",),
        (),
    ]


def test_bad_arguments_exit_2_with_a_message_before_training(tmp_path):
    for args in bad_cases(tmp_path):
        proc = run(*args, check=False)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stdout == "", args
        assert "usage:" in proc.stderr, args
        assert not any(unit in proc.stderr for unit in ("run/s", "epoch/s")), args  # no training
    assert not (tmp_path / "missing").exists()
