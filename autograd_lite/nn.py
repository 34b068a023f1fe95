"""Neural-network building blocks in the PyTorch style: Parameter, Module and a few layers.

A `Module` registers the `Parameter`s and sub-`Module`s assigned to its attributes, in
assignment order, so `parameters()`, `named_parameters()` and `state_dict()` always list them
in the same order (a module's own parameters first, then each child's, as in PyTorch).
Registration happens only in `__setattr__`: attribute reads and `forward` calls cost nothing
extra, which matters because they run on every training step.

    >>> net = MLP([2, 64, 2], activation="relu", rng=0)
    >>> loss = softmax_cross_entropy(net(X), y)
    >>> net.zero_grad(); loss.backward()
    >>> with no_grad():  # in place, and seen by the version counter (p.data -= ... is not)
    ...     for p in net.parameters():
    ...         p -= 0.01 * p.grad
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from autograd_lite import engine, ops, validate
from autograd_lite.tensor import Tensor, as_tensor
from autograd_lite.versions import mark_changed

__all__ = [
    "MLP",
    "CrossEntropyLoss",
    "Dropout",
    "IncompatibleKeys",
    "Linear",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
]

INITS = ("normal", "he", "xavier")
ACTIVATIONS = ("relu", "tanh", "sigmoid")


class Parameter(Tensor):
    """A Tensor that a Module registers as learnable: float data, `requires_grad=True`.

    Integer or boolean data becomes float64; float data keeps its dtype and is not copied.
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            data = data.data
        array = np.asarray(data)
        if array.dtype.kind in "biu":
            array = array.astype(np.float64)
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What `Module.load_state_dict` returns: the keys it did not find, and those it ignored."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"  # as PyTorch prints it
        return (
            f"IncompatibleKeys(missing_keys={self.missing_keys!r}, "
            f"unexpected_keys={self.unexpected_keys!r})"
        )


class Module:
    """Base class of every layer and model: subclass it and define `forward`.

    Assign `Parameter`s and `Module`s to attributes in `__init__` (after calling
    `super().__init__()`) and they are registered automatically. Re-assigning an attribute
    replaces the registered object in place (its position is kept); assigning anything else,
    such as None, or deleting the attribute, removes it from the registry.
    """

    training: bool
    # How many times an attribute of this module was rebound to another object (a new
    # Parameter or submodule, `training` by train()/eval()): al.compile traces a function
    # again after any, since its replay would read the old objects or take the old branches.
    _rebinds = 0

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses override it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # --- registration ---------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        registry = self.__dict__.get("_parameters")
        if registry is None:
            if isinstance(value, Parameter | Module):
                raise AttributeError(
                    f"cannot assign {type(value).__name__} {name!r} before "
                    f"{type(self).__name__}.__init__() has called super().__init__()"
                )
            object.__setattr__(self, name, value)
            return
        modules = self.__dict__["_modules"]
        if isinstance(value, Parameter):
            _check_name(name)
            modules.pop(name, None)
            registry[name] = value
        elif isinstance(value, Module):
            _check_name(name)
            registry.pop(name, None)
            modules[name] = value
        else:
            registry.pop(name, None)
            modules.pop(name, None)
        if self.__dict__.get(name, value) is not value:  # a rebinding (see _rebinds)
            self.__dict__["_rebinds"] = self._rebinds + 1
        # Kept in the instance __dict__ too, so reading `self.weight` is a plain lookup.
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self.__dict__["_rebinds"] = self._rebinds + 1
        object.__delattr__(self, name)

    # --- traversal ------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules as (name, module), in assignment order."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct submodules, in assignment order."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, depth first, each once, with dotted names."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{child_name}" if name else child_name, child)
                for child_name, child in module._modules.items()
            ]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, depth first, each once."""
        return iter(self._walk())

    def _walk(self) -> list[Module]:
        # named_modules() without the names: zero_grad() runs it on every training step.
        seen: set[int] = set()
        found: list[Module] = []
        stack: list[Module] = [self]
        while stack:
            module = stack.pop()
            if id(module) not in seen:
                seen.add(id(module))
                found.append(module)
                stack.extend(reversed(module._modules.values()))
        return found

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter as (dotted name, parameter), each once even when shared.

        Order: a module's own parameters in assignment order, then its children's, depth
        first. A shared parameter is listed under the first name found in this order.
        """
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self) -> Iterator[Parameter]:
        """Every parameter, each once, in the order of `named_parameters()`."""
        seen: set[int] = set()
        for module in self._walk():
            for param in module._parameters.values():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield param

    def zero_grad(self) -> None:
        """Forget accumulated gradients: every parameter's `.grad` becomes None."""
        for module in self._walk():
            for param in module._parameters.values():
                param.grad = None

    # --- state ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's array, keyed by dotted name (`named_parameters` order)."""
        return {name: param.data.copy() for name, param in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy `state`'s arrays into the parameters, in place (optimizers keep working).

        Every key, shape and dtype is checked first. If any array's shape or dtype differs
        from its parameter's, or (with `strict=True`) any key is missing or unexpected, a
        ValueError lists them all and no parameter is changed. With `strict=False` the
        parameters that `state` has are loaded and the others left as they are. Returns the
        missing and unexpected keys (as PyTorch's `load_state_dict` does).
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"load_state_dict: expected a mapping of name -> array, got {type(state).__name__}"
            )
        own = dict(self.named_parameters())
        missing = [name for name in own if name not in state]
        unexpected = [key for key in state if key not in own]
        problems = []
        arrays: dict[str, np.ndarray] = {}
        for name, param in own.items():
            if name not in state:
                continue
            value = state[name]
            value = value.data if isinstance(value, Tensor) else value
            try:
                array = np.asarray(value)
            except (TypeError, ValueError) as e:
                problems.append(f"{name!r} cannot be read as an array ({e})")
                continue
            if array.shape != param.data.shape:
                problems.append(
                    f"{name!r} has shape {array.shape} in the state but "
                    f"{param.data.shape} in the model"
                )
            if array.dtype != param.data.dtype:
                problems.append(
                    f"{name!r} has dtype {array.dtype} in the state but "
                    f"{param.data.dtype} in the model"
                )
            if not param.data.flags.writeable:
                problems.append(f"parameter {name!r} is read-only in the model")
            arrays[name] = array
        if missing and strict:
            problems.insert(0, f"missing keys: {', '.join(map(repr, missing))}")
        if unexpected and strict:
            problems.insert(
                1 if missing else 0, f"unexpected keys: {', '.join(map(repr, unexpected))}"
            )
        if problems:
            raise ValueError(
                f"load_state_dict: cannot load into {type(self).__name__}, nothing was changed: "
                + "; ".join(problems)
            )
        for name, array in arrays.items():
            np.copyto(own[name].data, array)
            mark_changed(own[name].data)  # the version counter: a graph that saved it is stale
        return IncompatibleKeys(missing, unexpected)

    # --- modes ----------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set `.training` on this module and every descendant; returns self."""
        mode = bool(mode)
        for module in self._walk():
            if module.training is not mode:  # (al.compile: a trace took the other branches)
                module.__dict__["_rebinds"] = module._rebinds + 1
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: `train(False)`; returns self."""
        return self.train(False)

    # --- printing -------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its settings)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        lines = [extra] if extra else []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        body = "".join(f"\n  {line}" for line in lines)
        return f"{type(self).__name__}({body}\n)"


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise ValueError(f"Module: cannot register {name!r}: names must be non-empty, without '.'")


class Linear(Module):
    """Affine layer `y = x @ weight + bias`; weight is (in_features, out_features).

    `init` chooses the starting values, each drawn with `rng.standard_normal`:
    "he" (the default): weight * sqrt(2 / in_features), bias zeros, so that the outputs keep
    the scale of the inputs whatever the width (for ReLU networks);
    "xavier": weight * sqrt(2 / (in_features + out_features)), bias zeros;
    "normal" (the tutorial's, asked for by name): weight and bias standard normal, weight
    drawn first. Its scale does not shrink with the width: a 6-layer, 100-wide MLP starts
    with logits near 1e5.
    `rng` is a numpy Generator (its state advances), an int seed, or None (fresh entropy).
    Draws are made in float64 and then cast to `dtype`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "he",
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        in_features = validate.positive_int(in_features, "Linear: in_features")
        out_features = validate.positive_int(out_features, "Linear: out_features")
        if init not in INITS:
            raise ValueError(f"Linear: init must be one of {', '.join(INITS)}; got {init!r}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Linear: dtype must be a floating point type, got {dtype}")
        gen = validate.as_generator(rng, "Linear: rng")
        self.in_features = in_features
        self.out_features = out_features
        weight = gen.standard_normal((in_features, out_features))
        if init == "he":
            weight *= np.sqrt(2.0 / in_features)
        elif init == "xavier":
            weight *= np.sqrt(2.0 / (in_features + out_features))
        self.weight = Parameter(weight.astype(dtype, copy=False))
        if not bias:
            self.bias = None
        elif init == "normal":
            self.bias = Parameter(gen.standard_normal(out_features).astype(dtype, copy=False))
        else:
            self.bias = Parameter(np.zeros(out_features, dtype=dtype))

    def forward(self, x: Any) -> Tensor:
        # the module guarantees the shapes, so call the op without al.linear's checks
        return ops.Linear.apply(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        text = (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
        if self.weight.data.dtype != np.float64:
            text += f", dtype={self.weight.data.dtype}"
        return text


class ReLU(Module):
    """Elementwise max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class Tanh(Module):
    """Elementwise tanh."""

    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Sigmoid(Module):
    """Elementwise 1 / (1 + exp(-x))."""

    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class Sequential(Module):
    """Modules applied one after another; children are named "0", "1", ...

    Supports `len()`, iteration, and indexing (an int gives the module, a slice gives a new
    Sequential sharing the same modules).

    A `Linear` directly followed by a `ReLU` runs as one op, `ops.LinearReLU` (the same
    numbers, one large array fewer): its graph shows one `LinearReLU` node for the two.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(
                    f"{type(self).__name__}: argument {i} must be a Module, "
                    f"got {type(module).__name__}"
                )
            setattr(self, str(i), module)

    def forward(self, x: Any) -> Any:
        modules = list(self._modules.values())
        # A Linear followed by a ReLU runs as one op (ops.LinearReLU): the same numbers, with
        # one large array fewer. Not inside al.func's transforms or al.compile's traces,
        # which know the two ops (engine._transforms_active counts them).
        fuse = not engine._transforms_active
        i = 0
        while i < len(modules):
            module = modules[i]
            if (
                fuse
                and type(module) is Linear
                and i + 1 < len(modules)
                and type(modules[i + 1]) is ReLU
                and "forward" not in vars(module)  # (nor a forward set on the instance)
                and "forward" not in vars(modules[i + 1])
            ):
                x = ops.LinearReLU.apply(x, module.weight, module.bias)
                i += 2
            else:
                x = module.forward(x)  # what module(x) would call, minus one call per layer
                i += 1
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        try:
            return modules[index]
        except IndexError:
            raise IndexError(
                f"{type(self).__name__}: index {index} out of range for {len(modules)} modules"
            ) from None


_ACTIVATION_CLASSES: dict[str, type[Module]] = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


class MLP(Sequential):
    """Multi-layer perceptron: Linear, activation, ..., Linear (no activation at the end).

    `sizes` = [inputs, hidden..., outputs], at least two entries. All layers draw from one
    generator built from `rng`, layer by layer (weight, then bias), so a seed fixes the
    whole network. `init` as for `Linear` ("he" by default).
    """

    def __init__(
        self,
        sizes: list[int] | tuple[int, ...],
        activation: str = "relu",
        init: str = "he",
        rng: np.random.Generator | int | None = None,
        bias: bool = True,
        dtype: Any = np.float64,
    ) -> None:
        if isinstance(sizes, str | bytes) or not hasattr(sizes, "__len__"):
            raise TypeError(f"MLP: sizes must be a list of ints, got {type(sizes).__name__}")
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least 2 entries (inputs, outputs), got {sizes}")
        sizes = [validate.positive_int(n, f"MLP: sizes[{i}]") for i, n in enumerate(sizes)]
        if activation not in _ACTIVATION_CLASSES:
            raise ValueError(
                f"MLP: activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}"
            )
        if init not in INITS:
            raise ValueError(f"MLP: init must be one of {', '.join(INITS)}; got {init!r}")
        gen = validate.as_generator(rng, "MLP: rng")
        layers: list[Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
            if i:
                layers.append(_ACTIVATION_CLASSES[activation]())
            layers.append(Linear(n_in, n_out, bias=bias, init=init, rng=gen, dtype=dtype))
        super().__init__(*layers)
        self.sizes = tuple(sizes)


# --- containers, dropout and losses ---------------------------------------------------------
class ModuleList(Module):
    """Modules in a list, registered as children "0", "1", ... (like torch.nn.ModuleList).

    It holds modules for a parent's `forward` to call; it has no `forward` of its own.
    Supports `len()`, iteration, indexing (a slice gives a new ModuleList of the same
    modules), assignment and deletion by index, `append`, `extend` and `insert`.
    """

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self.extend(modules)

    def _renumber(self, modules: list[Module]) -> None:
        for i, module in enumerate(modules):
            _check_module(module, f"{type(self).__name__}: item {i}")
        self._modules.clear()
        self._modules.update((str(i), module) for i, module in enumerate(modules))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def __getitem__(self, index: int | slice) -> Any:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(modules[index])
        return modules[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        modules = list(self._modules.values())
        modules[self._index(index)] = module
        self._renumber(modules)

    def __delitem__(self, index: int | slice) -> None:
        modules = list(self._modules.values())
        del modules[index if isinstance(index, slice) else self._index(index)]
        self._renumber(modules)

    def _index(self, index: Any) -> int:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(f"{type(self).__name__}: indices must be ints or slices, got {index!r}")
        if not -len(self) <= index < len(self):
            raise IndexError(
                f"{type(self).__name__}: index {index} out of range for {len(self)} modules"
            )
        return int(index) % len(self)

    def append(self, module: Module) -> ModuleList:
        """Add `module` at the end; returns self."""
        self._renumber([*self._modules.values(), module])
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add `modules` at the end, in order; returns self."""
        if isinstance(modules, Module) or not isinstance(modules, Iterable):
            raise TypeError(
                f"{type(self).__name__}: expected an iterable of Modules, got "
                f"{type(modules).__name__}"
            )
        self._renumber([*self._modules.values(), *modules])
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put `module` before position `index` (as list.insert)."""
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)


class ModuleDict(Module):
    """Modules by name, registered as children under their keys (like torch.nn.ModuleDict).

    A dict that keeps insertion order: `d[key]`, `d[key] = module`, `del d[key]`, `in`,
    `len()`, iteration over the keys, `keys()`, `values()`, `items()`, `update()`, `pop()`.
    Keys are non-empty strings without '.'; modules are reached by key, not as attributes.
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] = ()) -> None:
        super().__init__()
        self.update(modules)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]
        except KeyError:
            raise KeyError(f"{type(self).__name__}: no module named {key!r}") from None

    def __setitem__(self, key: str, module: Module) -> None:
        _check_name(key)
        _check_module(module, f"{type(self).__name__}[{key!r}]")
        self._modules[key] = module

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018  (raises the KeyError that names the key)
        del self._modules[key]

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def keys(self) -> list[str]:
        """The keys, in insertion order."""
        return list(self._modules)

    def values(self) -> list[Module]:
        """The modules, in insertion order."""
        return list(self._modules.values())

    def items(self) -> list[tuple[str, Module]]:
        """(key, module) pairs, in insertion order."""
        return list(self._modules.items())

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or from (key, module) pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for pair in pairs:
            if not (isinstance(pair, tuple | list) and len(pair) == 2):
                raise TypeError(
                    f"{type(self).__name__}.update: expected a mapping or (key, module) pairs, "
                    f"got {pair!r}"
                )
            self[pair[0]] = pair[1]

    def pop(self, key: str) -> Module:
        """Remove the module under `key` and return it."""
        module = self[key]
        del self._modules[key]
        return module


def _check_module(module: Any, what: str) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{what} must be a Module, got {type(module).__name__}")


class Dropout(Module):
    """In training mode, zero each element with probability `p` and scale the rest by 1/(1-p).

    In eval mode (`module.eval()`) it returns its input unchanged. The masks are drawn from
    a numpy Generator of its own, built from `rng` (a Generator, whose state advances, an int
    seed, or None for fresh entropy), never from numpy's global state: the same seed gives
    the same masks. Each mask is drawn in float64, whatever the input's dtype.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float | np.floating | np.integer):
            raise TypeError(f"Dropout: p must be a number in [0, 1], got {p!r}")
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.rng = validate.as_generator(rng, "Dropout: rng")

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * np.zeros((), dtype=x.dtype)  # nothing kept (and no division by 0)
        engine.refuse_while_tracing(
            "nn.Dropout in training mode (a replay would reuse the traced call's random mask)",
            "apply dropout outside the compiled function, or call eval() before compiling",
        )
        keep = self.rng.random(x.shape) >= self.p
        return x * (keep * (1 / (1 - self.p))).astype(x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: Any, where: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{where}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


class CrossEntropyLoss(Module):
    """Cross-entropy of softmax(logits) against class indices or probability rows.

    `loss(logits, targets)` with logits (N, C) and targets (N,) class indices or (N, C)
    probabilities, as `al.softmax_cross_entropy` (one fused, stable op) and as
    torch.nn.CrossEntropyLoss. reduction: "mean" (over N), "sum" or "none".
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction(reduction, "CrossEntropyLoss")

    def forward(self, logits: Any, targets: Any) -> Tensor:
        return ops.softmax_cross_entropy(logits, targets, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(Module):
    """Mean squared error: mean((input - target)^2) ("sum", or "none" for the squares).

    `input` and `target` must have the same shape: numpy would broadcast (N, 1) against
    (N,) into (N, N) and compare every prediction with every target without a word.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction(reduction, "MSELoss")

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002  (PyTorch's names)
        input = as_tensor(input)
        shape = target.shape if isinstance(target, Tensor) else np.shape(target)
        if input.shape != shape:
            raise ValueError(
                f"MSELoss: input has shape {input.shape} but target has shape {shape}; "
                "reshape one to match (e.g. target.reshape(-1, 1)), broadcasting them "
                "would compare the wrong elements"
            )
        difference = input - target
        squares = difference * difference
        if self.reduction == "none":
            return squares
        return squares.sum() if self.reduction == "sum" else squares.mean()

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
