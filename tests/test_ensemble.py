"""Tests of models/ensemble.py: E trainings as one, each member on its sequential trajectory."""

import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from models import ensemble, network
from models.data import load_moons


@pytest.fixture(scope="module")
def small():
    return load_moons(n_samples=400, seed=0)


def make_nets(widths, seed=0, dtype="float64", init="normal"):
    """MoonNets and the Generators that drew them (to shuffle with next), one per width."""
    gens = [np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,))) for k in
            range(len(widths))]  # fmt: skip
    return [network.MoonNet(2, 2, h, init, g, dtype) for h, g in zip(widths, gens)], gens


def params(net):
    return [p.data for p in net.parameters()]


def assert_same_trajectory(widths, data, rtol, **settings):
    X, _, y, _ = data
    nets, gens = make_nets(widths, dtype=settings.pop("dtype", "float64"))
    alone, alone_gens = make_nets(widths, dtype=nets[0].dtype)
    histories = ensemble.train(nets, X, y, rngs=gens, **settings)
    for k, (net, solo, gen) in enumerate(zip(nets, alone, alone_gens)):
        history = network.train(solo, X, y, rng=gen, **settings)
        np.testing.assert_allclose(histories[k], history, rtol=rtol, err_msg=f"member {k}")
        for p, q in zip(params(net), params(solo)):
            assert p.shape == q.shape and p.dtype == q.dtype
            np.testing.assert_allclose(p, q, rtol=rtol, atol=rtol, err_msg=f"member {k}")
        # the random streams were used alike: both Generators are at the same state now
        assert gen.bit_generator.state == gens[k].bit_generator.state


def test_each_member_follows_its_sequential_training_on_the_tutorials_data():
    # the tutorial's settings (10 epochs of batch 10 on 3750 rows): 3,750 steps each
    assert_same_trajectory([3, 64, 39], load_moons(), rtol=1e-10, epochs=10)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_members_of_different_widths_and_optimizers(small, optimizer):
    assert_same_trajectory([1, 7, 2, 12], small, 1e-10, epochs=3, optimizer=optimizer, lr=1e-3)


def test_a_short_last_minibatch_and_a_large_batch(small):
    assert_same_trajectory([4, 9], small, 1e-10, epochs=2, batch_size=7)  # 300 = 42 * 7 + 6
    assert_same_trajectory([4, 9], small, 1e-10, epochs=2, batch_size=500)


def test_float32(small):
    assert_same_trajectory([5, 16], small, 1e-4, epochs=3, dtype="float32")


def test_a_members_result_does_not_depend_on_the_others(small):
    X, X_test, y, _ = small
    together, gens = make_nets([6, 20, 3, 20])
    ensemble.train(together, X, y, epochs=2, rngs=gens)
    # the same member (seed key 2, width 3) beside others of the same padded width 20
    alone, gens2 = make_nets([20, 3])
    alone[1], gens2[1] = make_nets([6, 20, 3])[0][2], make_nets([6, 20, 3])[1][2]
    ensemble.train(alone, X, y, epochs=2, rngs=gens2)
    for p, q in zip(params(together[2]), params(alone[1])):
        np.testing.assert_array_equal(p, q)  # same padded width: the very same numbers


def test_the_padding_stays_zero(small):
    X, _, y, _ = small
    nets, gens = make_nets([2, 9])
    stacked = ensemble.stack(nets)
    assert stacked["layer1"].shape == (2, 3, 9) and stacked["layer2"].shape == (2, 10, 2)
    assert ensemble.padding_is_zero(stacked, [2, 9]).all()
    stacked["layer2"][0, 5, 1] = 1e-300
    np.testing.assert_array_equal(ensemble.padding_is_zero(stacked, [2, 9]), [False, True])
    stacked["layer2"][0, 5, 1] = 0
    stacked["layer1"][1, 2, 8] = 1.0  # member 1's bias of its last unit: not padding
    assert ensemble.padding_is_zero(stacked, [2, 9]).all()
    stacked["layer1"][0, 2, 8] = 1.0  # member 0's: padding
    np.testing.assert_array_equal(ensemble.padding_is_zero(stacked, [2, 9]), [False, True])
    nets[0].fc1.bias.data[:] = 0.5
    assert ensemble.stack(nets, width=12)["layer1"].shape == (2, 3, 12)
    with pytest.raises(ValueError, match="width 5 is less than"):
        ensemble.stack(nets, width=5)
    for k, net in enumerate(nets):
        unstacked = ensemble.unstack(ensemble.stack(nets), k, net.fc1.out_features)
        for name, value in net.to_manual().items():
            np.testing.assert_array_equal(unstacked[name], value)


def test_a_diverging_member_stops_as_its_sequential_training_does(small):
    X, _, y, _ = small
    widths, lr = [3, 8, 5], 1000.0  # lr far too large: member 1 overflows at epoch 2
    nets, gens = make_nets(widths, seed=1)
    with pytest.warns(ConvergenceWarning, match=r"1 of 3 trainings diverged \(member 1 at epoch 2"):
        histories = ensemble.train(nets, X, y, lr=lr, epochs=4, rngs=gens)
    alone, alone_gens = make_nets(widths, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = [network.train(n, X, y, lr=lr, epochs=4, rng=g) for n, g in
                    zip(alone, alone_gens)]  # fmt: skip
    assert [len(h) for h in histories] == [len(h) for h in expected] == [4, 2, 4]
    assert not np.isfinite(histories[1][-1])
    for net, solo in zip(nets, alone):
        for p, q in zip(params(net), params(solo)):
            np.testing.assert_allclose(p, q, rtol=1e-10, equal_nan=True)


def test_callback_gets_each_epochs_losses(small):
    X, _, y, _ = small
    nets, gens = make_nets([3, 4])
    seen = []
    histories = ensemble.train(
        nets, X, y, epochs=2, rngs=gens, callback=lambda e, l: seen.append((e, l))
    )
    assert [e for e, _ in seen] == [0, 1]
    np.testing.assert_array_equal(np.stack([l for _, l in seen], axis=1), np.stack(histories))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda X, y: ensemble.train([], X, y), "no networks"),
        (lambda X, y: ensemble.train(make_nets([2, 3])[0], X, y, rngs=[0]), "generators"),
        (
            lambda X, y: ensemble.train(
                [
                    network.MoonNet(hidden=2, rng=0),
                    network.MoonNet(hidden=2, rng=0, dtype="float32"),
                ],
                X,
                y,
            ),
            "dtypes",
        ),
        (
            lambda X, y: ensemble.train(
                [network.MoonNet(2, 3, 4, rng=0), network.MoonNet(rng=0)], X, y
            ),
            "classes",
        ),
        (lambda X, y: ensemble.train(make_nets([2])[0], X, y, lr=0.0), "lr"),
        (lambda X, y: ensemble.train(make_nets([2])[0], X, y, epochs=0), "epochs"),
        (lambda X, y: ensemble.train(make_nets([2])[0], X[:, :1], y), "X"),
        (lambda X, y: ensemble.train(make_nets([2])[0], X, y, optimizer="lbfgs"), "optimizer"),
    ],
)
def test_bad_arguments_raise(small, call, match):
    X, _, y, _ = small
    with pytest.raises(ValueError, match=match):
        call(X, y)


def test_memory_does_not_grow_from_epoch_to_epoch(small):
    X, _, y, _ = small
    nets, gens = make_nets([4, 16, 9])
    held = np.zeros(6, dtype=np.int64)  # written in place: the record itself does not grow

    def note(epoch, losses):
        held[epoch] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        ensemble.train(nets, X, y, epochs=6, rngs=gens, callback=note)
    finally:
        tracemalloc.stop()
    # (a first epoch or two may fill caches; steps that kept anything would add every epoch)
    assert held[0] > 0 and held[3] == held[4] == held[5]
