"""nn pieces beyond the core: ModuleList, ModuleDict, Dropout, the losses, load_state_dict(strict=
False), and Linear's default initialisation."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as al
from autograd_lite import nn
from autograd_lite.tensor import Tensor
from tests.strategies import leaves


# --- ModuleList and ModuleDict ---------------------------------------------------------------
class Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(2, 2, rng=i) for i in range(3))
        self.heads = nn.ModuleDict({"a": nn.Linear(2, 1, rng=5), "b": nn.Linear(2, 1, rng=6)})

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).tanh()
        return self.heads["a"](x) + self.heads["b"](x)


def test_containers_register_their_modules_under_pytorch_names():
    model = Stack()
    names = list(model.state_dict())
    assert names == [
        *(f"layers.{i}.{p}" for i in range(3) for p in ("weight", "bias")),
        "heads.a.weight", "heads.a.bias", "heads.b.weight", "heads.b.bias",
    ]  # fmt: skip
    assert len(list(model.parameters())) == 10
    x = np.ones((4, 2))
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_container_names_match_torch():
    torch = pytest.importorskip("torch")

    class TorchStack(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList(torch.nn.Linear(2, 2) for _ in range(3))
            heads = {"a": torch.nn.Linear(2, 1), "b": torch.nn.Linear(2, 1)}
            self.heads = torch.nn.ModuleDict(heads)

    assert list(Stack().state_dict()) == list(TorchStack().state_dict())


def test_module_list_behaves_like_a_list_and_renumbers():
    a, b, c = (nn.Linear(1, 1, rng=i) for i in range(3))
    layers = nn.ModuleList([a, b])
    layers.append(c)
    assert len(layers) == 3 and list(layers) == [a, b, c] and layers[-1] is c
    layers.insert(0, c)
    assert list(layers) == [c, a, b, c]
    del layers[1]
    assert list(layers) == [c, b, c]
    assert [name for name, _ in layers.named_children()] == ["0", "1"]  # c once: deduplicated
    layers[1] = a
    assert list(layers) == [c, a, c] and list(dict(layers._modules)) == ["0", "1", "2"]
    part = layers[1:]
    assert isinstance(part, nn.ModuleList) and list(part) == [a, c]
    layers.extend([b])
    assert list(layers) == [c, a, c, b]
    with pytest.raises(IndexError, match="ModuleList: index 4 out of range for 4 modules"):
        layers[4]
    with pytest.raises(TypeError, match=r"ModuleList: item 4 must be a Module, got ufunc"):
        layers.append(np.tanh)
    with pytest.raises(TypeError, match="ModuleList: expected an iterable of Modules"):
        nn.ModuleList(a)
    with pytest.raises(NotImplementedError, match="ModuleList does not define forward"):
        layers(np.ones(1))


def test_module_dict_behaves_like_a_dict():
    a, b = nn.Linear(1, 1, rng=0), nn.ReLU()
    heads = nn.ModuleDict([("a", a)])
    heads["train"] = b  # a key, not an attribute: it does not hide Module.train()
    assert heads.train() is heads and heads["train"] is b
    assert list(heads) == ["a", "train"] and heads.keys() == ["a", "train"]
    assert heads.values() == [a, b] and heads.items() == [("a", a), ("train", b)]
    assert "a" in heads and len(heads) == 2
    assert heads.pop("a") is a and list(heads) == ["train"]
    heads.update({"c": a})
    del heads["train"]
    assert list(heads.state_dict()) == ["c.weight", "c.bias"]
    with pytest.raises(KeyError, match="ModuleDict: no module named 'x'"):
        heads["x"]
    with pytest.raises(ValueError, match="names must be non-empty, without '.'"):
        heads["a.b"] = a
    with pytest.raises(TypeError, match=r"ModuleDict\['d'\] must be a Module"):
        heads["d"] = "relu"


# --- Dropout ----------------------------------------------------------------------------------
def test_dropout_in_training_zeroes_and_scales_and_its_gradient_is_the_mask():
    drop = nn.Dropout(0.25, rng=0)
    x = Tensor(np.ones((200, 50)), requires_grad=True)
    out = drop(x)
    kept = out.data != 0
    assert abs(kept.mean() - 0.75) < 0.01  # 10,000 draws
    np.testing.assert_array_equal(out.data[kept], np.full(kept.sum(), 1 / 0.75))
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(x.grad, out.data)  # d(x * mask / 0.75)/dx = mask / 0.75


def test_dropout_in_eval_mode_and_at_p_0_is_the_identity_and_p_1_drops_all():
    x = np.arange(6.0).reshape(2, 3)
    model = nn.Sequential(nn.Linear(3, 3, rng=0), nn.Dropout(0.5, rng=1))
    model.eval()
    assert not model[1].training
    np.testing.assert_array_equal(model(x).data, model[0](x).data)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).data, x)
    t = Tensor(x, requires_grad=True)
    out = nn.Dropout(1.0, rng=0)(t)
    out.sum().backward()
    assert not out.data.any() and not t.grad.any()


def test_dropout_masks_come_from_its_own_generator():
    x = np.ones((4, 5))
    a, b = nn.Dropout(0.5, rng=3), nn.Dropout(0.5, rng=np.random.default_rng(3))
    for _ in range(3):  # the same seed gives the same masks, call after call
        np.testing.assert_array_equal(a(x).data, b(x).data)
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    nn.Dropout(0.5)(x)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # global state untouched
    first, second = a(x).data, a(x).data
    assert not np.array_equal(first, second)  # a fresh mask per call


def test_dropout_keeps_float32_and_refuses_bad_p():
    x = Tensor(np.ones(10, dtype=np.float32), requires_grad=True)
    assert nn.Dropout(0.3, rng=0)(x).dtype == np.float32
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(TypeError, match="Dropout: p must be a number"):
        nn.Dropout("0.5")
    assert repr(nn.Dropout(0.1)) == "Dropout(p=0.1)"


# --- losses -----------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_loss_is_the_fused_op(reduction):
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    loss = nn.CrossEntropyLoss(reduction)
    np.testing.assert_array_equal(
        loss(logits, labels).data, al.softmax_cross_entropy(logits, labels, reduction).data
    )
    assert al.gradcheck(lambda z: loss(z, labels), leaves(logits))
    with pytest.raises(ValueError, match="CrossEntropyLoss: reduction must be"):
        nn.CrossEntropyLoss("average")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_value_and_gradients_for_both_arguments(reduction):
    rng = np.random.default_rng(1)
    pred, target = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    loss = nn.MSELoss(reduction)
    squares = (pred - target) ** 2
    expected = {"mean": squares.mean(), "sum": squares.sum(), "none": squares}[reduction]
    np.testing.assert_allclose(loss(Tensor(pred), target).data, expected, rtol=1e-15)
    assert al.gradcheck(loss, leaves(pred, target))
    assert al.gradgradcheck(loss, leaves(pred, target))


def test_mse_loss_refuses_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match=r"MSELoss: input has shape \(4, 1\) but target .*\(4,\)"):
        nn.MSELoss()(Tensor(np.zeros((4, 1))), np.zeros(4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_against_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    logits, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    probs = rng.dirichlet(np.ones(4), 6)
    pred, target = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    cases = [
        (nn.CrossEntropyLoss(reduction), torch.nn.CrossEntropyLoss(reduction=reduction),
         logits, labels, torch.as_tensor(labels)),
        (nn.CrossEntropyLoss(reduction), torch.nn.CrossEntropyLoss(reduction=reduction),
         logits, probs, torch.as_tensor(probs)),
        (nn.MSELoss(reduction), torch.nn.MSELoss(reduction=reduction),
         pred, target, torch.as_tensor(target)),
    ]  # fmt: skip
    for ours, theirs, x, y, ty in cases:
        t = Tensor(x.copy(), requires_grad=True)
        tt = torch.tensor(x, requires_grad=True)
        out, expected = ours(t, y), theirs(tt, ty)
        np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-15)
        w = np.cos(np.arange(out.size)).reshape(out.shape)
        (out * w).sum().backward()
        (expected * torch.as_tensor(w)).sum().backward()
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-12, atol=1e-15)


# --- load_state_dict(strict=False) -----------------------------------------------------------
def test_load_state_dict_strict_false_loads_what_it_can_and_says_what_it_skipped():
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU(), nn.Linear(3, 1, rng=1))
    state = {"0.weight": np.zeros((2, 3)), "extra.bias": np.ones(4)}
    before = model.state_dict()
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["0.bias", "2.weight", "2.bias"]
    assert result.unexpected_keys == ["extra.bias"]
    assert result == (["0.bias", "2.weight", "2.bias"], ["extra.bias"])  # a NamedTuple
    np.testing.assert_array_equal(model[0].weight.data, np.zeros((2, 3)))
    np.testing.assert_array_equal(model[2].weight.data, before["2.weight"])
    matched = model.load_state_dict(model.state_dict())
    assert matched == ([], []) and repr(matched) == "<All keys matched successfully>"


def test_load_state_dict_strict_still_refuses_and_shapes_are_checked_either_way():
    model = nn.Linear(2, 3, rng=0)
    with pytest.raises(ValueError, match="missing keys: 'bias'"):
        model.load_state_dict({"weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"'weight' has shape \(3, 2\) in the state"):
        model.load_state_dict({"weight": np.zeros((3, 2))}, strict=False)


# --- Linear's default initialisation ---------------------------------------------------------
def test_linear_default_init_scales_with_the_width():
    layer = nn.Linear(400, 300, rng=0)
    assert abs(layer.weight.data.std() / np.sqrt(2 / 400) - 1) < 0.01  # He: sqrt(2 / in)
    np.testing.assert_array_equal(layer.bias.data, np.zeros(300))


def test_a_deep_default_mlp_starts_with_moderate_logits_and_normal_is_kept_by_name():
    x = np.random.default_rng(0).standard_normal((64, 100))
    sizes = [100] * 6 + [10]
    logits = nn.MLP(sizes, rng=0)(x).data
    assert 0.1 < logits.std() < 10  # the issue: standard-normal draws gave logits near 1e5
    huge = nn.MLP(sizes, init="normal", rng=0)(x).data
    assert huge.std() > 1e4


# --- all together, against PyTorch over 100 steps --------------------------------------------
@pytest.mark.parametrize("loss_name", ["CrossEntropyLoss", "MSELoss"])
def test_training_with_the_new_pieces_matches_torch_over_100_steps(loss_name):
    """A ModuleList network (with Dropout, in eval mode) trained by AdamW under a cosine
    schedule: the parameters stay within 1e-12 of PyTorch's for 100 steps."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 3))
    y = rng.integers(0, 2, 16) if loss_name == "CrossEntropyLoss" else rng.standard_normal((16, 2))

    ours = nn.ModuleList(
        [nn.Linear(3, 8, rng=0), nn.Tanh(), nn.Dropout(0.5, rng=0), nn.Linear(8, 2, rng=1)]
    )
    theirs = torch.nn.ModuleList(
        [torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2)]
    ).double()
    with torch.no_grad():
        for mine, other in ((ours[0], theirs[0]), (ours[3], theirs[3])):
            other.weight.copy_(torch.from_numpy(mine.weight.data.T))  # PyTorch stores (out, in)
            other.bias.copy_(torch.from_numpy(mine.bias.data))
    ours.eval()
    theirs.eval()
    opt = al.optim.AdamW(ours.parameters(), lr=0.05)
    topt = torch.optim.AdamW(theirs.parameters(), lr=0.05, foreach=False)
    sched = al.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=30)
    loss_fn, tloss_fn = getattr(nn, loss_name)(), getattr(torch.nn, loss_name)()
    ty = torch.as_tensor(y)
    losses = []
    for step in range(100):
        out, tout = Tensor(x), torch.from_numpy(x)
        for layer, tlayer in zip(ours, theirs):
            out, tout = layer(out), tlayer(tout)
        opt.zero_grad()
        topt.zero_grad()
        loss, tloss = loss_fn(out, y), tloss_fn(tout, ty)
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        np.testing.assert_allclose(loss.data, tloss.item(), rtol=1e-12, err_msg=f"step {step}")
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]  # it trained
    for mine, other in ((ours[0], theirs[0]), (ours[3], theirs[3])):
        np.testing.assert_allclose(mine.weight.data, other.weight.detach().numpy().T, atol=1e-12)
        np.testing.assert_allclose(mine.bias.data, other.bias.detach().numpy(), atol=1e-12)
