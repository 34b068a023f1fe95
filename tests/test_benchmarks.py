"""The ensemble benchmarks: their measurements hold what they say (no timing is asserted)."""

import numpy as np
import pytest

from benchmarks import experiments, memory


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
