"""The benchmarks: every contender computes the same training, their measurements hold what they
say (no timing is asserted), and bad arguments are refused."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import common, experiments, floor, memory, peers, step


@pytest.mark.parametrize("name", [*step.FORMS, *floor.FORMS, "hand-derived numpy", "tutorial code"])
def test_every_contender_ends_the_epoch_on_the_hand_derived_parameters(name):
    make = {**step.FORMS, **floor.FORMS, **peers.PEERS}[name]
    result = common.measure(make, hidden=6, batch_size=700, repeats=1, seed=3)
    assert result["max_param_diff"] < 1e-12, result
    assert result["us_per_step"] > 0 and result["ratio_to_hand"] > 0


@pytest.mark.parametrize("module", [step, peers, floor])
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seed", "-1"], "argument --seed: must be a non-negative int, got -1"),
        (["--seed", "x"], "argument --seed: must be an integer, got 'x'"),
        (["--repeats", "0"], "argument --repeats: must be positive, got 0"),
        (["--repeats", "100000"], "argument --repeats: must be at most 1000, got 100000"),
        (["--only", "nothing"], "--only: unknown nothing"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_the_step_benchmarks_refuse_bad_arguments_in_one_line(capsys, module, argv, message):
    name = module.__name__
    with pytest.raises(SystemExit) as info:
        module.main(argv)
    out, err = capsys.readouterr()
    assert info.value.code == 2 and out == ""
    assert err.startswith(f"python -m {name}: error: " + message), err
    assert err.count("\n") == 1


def test_one_ensemble_step_equals_the_hand_batched_step():
    case = experiments.measure_step(members=3, hidden=5, repeats=1)
    assert case["max_param_diff_after_an_epoch"] <= 1e-12
    assert set(case["us_per_step"]) == {"hand-batched numpy", "autograd_lite"}
    assert case["ratio_to_hand"]["hand-batched numpy"] == 1.0


def test_peak_memory_is_measured_and_nothing_is_kept_from_epoch_to_epoch():
    small, _ = memory.peak_bytes(2, "float64")
    large, held = memory.peak_bytes(8, "float64", epochs=4)
    assert 0 < small < large
    assert held[2] == held[3]  # (the first epochs may fill caches)


@pytest.mark.parametrize("module", [experiments, memory])
def test_bad_arguments_are_refused_in_one_line(capsys, module):
    with pytest.raises(SystemExit) as info:
        module.main(["--bogus"])
    out, err = capsys.readouterr()
    assert info.value.code == 2 and out == "" and err.count("\n") == 1
    assert "unrecognized arguments: --bogus" in err


def test_the_hand_batched_baseline_trains_the_same_networks():
    from models.experiments import Chunk, Training, train_and_score_ensemble

    tasks = tuple(Training(h, 50, 1, 1e-3, experiments.seed((h,))) for h in (2, 5))
    chunk = Chunk(tasks, width=5)
    np.testing.assert_array_equal(experiments.hand_chunk(chunk), train_and_score_ensemble(chunk))
    assert len(experiments.tutorial_tasks("repeat")) == 100
    assert len(experiments.tutorial_tasks("sweep")) == 111


@pytest.mark.parametrize("form", ["eager", "compiled"])
def test_a_trainings_memory_does_not_grow_with_its_steps(form):
    result = memory.step_memory(form, steps=800, checks=4)
    held = result["traced_bytes"]  # after 200, 400, 600, 800 steps
    # (the first steps may fill caches; a leak of one small object a step would add > 6 kB)
    assert abs(held[3] - held[1]) < 2048, held
    assert 0 < max(held) <= result["peak_bytes"] < 2**20, result
