"""The benchmarks: every contender computes the same training, and bad arguments are refused."""

from __future__ import annotations

import pytest

from benchmarks import common, peers, step


@pytest.mark.parametrize("name", list(step.FORMS) + ["hand-derived numpy", "tutorial code"])
def test_every_contender_ends_the_epoch_on_the_hand_derived_parameters(name):
    make = {**step.FORMS, **peers.PEERS}[name]
    result = common.measure(make, hidden=6, batch_size=700, repeats=1, seed=3)
    assert result["max_param_diff"] < 1e-12, result
    assert result["us_per_step"] > 0 and result["ratio_to_hand"] > 0


@pytest.mark.parametrize("module", [step, peers])
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
