"""Tests of models/plots.py: byte-identical files for the same input, atomic writes."""

import matplotlib
import numpy as np
import pytest

from models import plots
from models.data import load_moons
from models.experiments import SweepResult
from models.network import MoonNet

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def small_sweep():
    accuracies = np.array([[0.8, 0.85], [0.9, 0.92], [0.95, 0.97]])
    settings = {"batch_size": 10, "epochs": 1}
    return SweepResult(np.arange(3, 6), accuracies, accuracies.mean(axis=1), settings)


def every_figure():
    data = load_moons(n_samples=200, seed=0)
    net = MoonNet(hidden=4, rng=0)
    history = np.array([0.9, 0.5, np.nan])  # a diverged run still draws
    settings = {"hidden": 4, "batch_size": 10, "lr": 1e-4, "optimizer": "sgd"}
    return {
        "data": plots.data_figure(data),
        "boundary": plots.decision_boundary_figure(net, data, 0.5),
        "relu": plots.relu_figure(),
        "loss": plots.loss_figure(history, settings),
        "sweep": plots.sweep_figure(small_sweep()),
    }


@pytest.mark.parametrize(
    "suffix, names",
    [
        (".svg", ["data", "boundary", "relu", "loss", "sweep"]),
        (".png", ["boundary", "loss", "sweep"]),
        (".pdf", ["relu", "loss", "sweep"]),
    ],
)
def test_the_same_figures_give_the_same_bytes(suffix, names):
    first, second = every_figure(), every_figure()
    first = {name: plots.render(first[name], suffix) for name in names}
    second = {name: plots.render(second[name], suffix) for name in names}
    assert first == second
    assert len(set(first.values())) == len(first)  # and different figures differ


def test_svg_has_no_date_and_a_fixed_salt():
    svg = plots.render(plots.relu_figure(), ".svg").decode()
    assert svg.startswith("<?xml") and "<dc:date>" not in svg
    assert matplotlib.rcParams["svg.hashsalt"] is None  # the salt is set only while saving
    assert plots.render(plots.relu_figure(), ".png").startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="format"):
        plots.render(plots.relu_figure(), ".jpg")


def test_save_figures_writes_every_file(tmp_path):
    figures = {
        str(tmp_path / "a.png"): plots.relu_figure(),
        str(tmp_path / "b.svg"): plots.sweep_figure(small_sweep()),
    }
    plots.save_figures(figures)
    assert (tmp_path / "a.png").read_bytes().startswith(PNG_MAGIC)
    assert b"<svg" in (tmp_path / "b.svg").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.svg"]


def test_an_interrupted_save_leaves_no_partial_file(tmp_path, monkeypatch):
    old = tmp_path / "kept.png"
    old.write_bytes(b"the previous picture")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        plots.save_figures(
            {str(tmp_path / "new.png"): plots.relu_figure(), str(old): plots.relu_figure()}
        )
    assert [p.name for p in tmp_path.iterdir()] == ["kept.png"]
    assert old.read_bytes() == b"the previous picture"


def test_a_figure_is_written_through_a_symlink_and_an_existing_file_keeps_its_mode(tmp_path):
    import os

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "fig.png").write_bytes(b"old")
    (tmp_path / "fig.png").symlink_to(tmp_path / "real" / "fig.png")
    private = tmp_path / "private.png"
    private.write_bytes(b"old")
    private.chmod(0o600)
    plots.save_figures({str(tmp_path / "fig.png"): plots.relu_figure(),
                        str(private): plots.relu_figure()})  # fmt: skip
    assert (tmp_path / "fig.png").is_symlink()
    assert (tmp_path / "real" / "fig.png").read_bytes().startswith(PNG_MAGIC)
    assert private.read_bytes().startswith(PNG_MAGIC)
    assert os.stat(private).st_mode & 0o777 == 0o600
