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

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from autograd_lite import ops
from autograd_lite.tensor import Tensor
from autograd_lite.versions import mark_changed

__all__ = [
    "MLP",
    "Linear",
    "Module",
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


class Module:
    """Base class of every layer and model: subclass it and define `forward`.

    Assign `Parameter`s and `Module`s to attributes in `__init__` (after calling
    `super().__init__()`) and they are registered automatically. Re-assigning an attribute
    replaces the registered object in place (its position is kept); assigning anything else,
    such as None, or deleting the attribute, removes it from the registry.
    """

    training: bool

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
        # Kept in the instance __dict__ too, so reading `self.weight` is a plain lookup.
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
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

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Copy `state`'s arrays into the parameters, in place (optimizers keep working).

        Every key, shape and dtype is checked first. If any key is missing or unexpected, or
        any array's shape or dtype differs from its parameter's, a ValueError lists them all
        and no parameter is changed.
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
        if missing:
            problems.insert(0, f"missing keys: {', '.join(map(repr, missing))}")
        if unexpected:
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

    # --- modes ----------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set `.training` on this module and every descendant; returns self."""
        mode = bool(mode)
        for module in self._walk():
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


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{what} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {value}")
    return int(value)


def _as_generator(rng: Any, what: str) -> np.random.Generator:
    if rng is None or isinstance(rng, np.random.Generator):
        return np.random.default_rng(rng)
    if isinstance(rng, bool) or not isinstance(rng, int | np.integer):
        raise TypeError(
            f"{what}: rng must be a numpy.random.Generator, an int seed or None, "
            f"got {type(rng).__name__}"
        )
    if rng < 0:
        raise ValueError(f"{what}: rng seed must be non-negative, got {rng}")
    return np.random.default_rng(int(rng))


class Linear(Module):
    """Affine layer `y = x @ weight + bias`; weight is (in_features, out_features).

    `init` chooses the starting values, each drawn with `rng.standard_normal`:
    "normal" (the tutorial's): weight and bias standard normal, weight drawn first;
    "he": weight * sqrt(2 / in_features), bias zeros;
    "xavier": weight * sqrt(2 / (in_features + out_features)), bias zeros.
    `rng` is a numpy Generator (its state advances), an int seed, or None (fresh entropy).
    Draws are made in float64 and then cast to `dtype`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "normal",
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        in_features = _positive_int(in_features, "Linear: in_features")
        out_features = _positive_int(out_features, "Linear: out_features")
        if init not in INITS:
            raise ValueError(f"Linear: init must be one of {', '.join(INITS)}; got {init!r}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Linear: dtype must be a floating point type, got {dtype}")
        gen = _as_generator(rng, "Linear")
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
        for module in self._modules.values():
            x = module.forward(x)  # what module(x) would call, minus one call per layer
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
    whole network.
    """

    def __init__(
        self,
        sizes: list[int] | tuple[int, ...],
        activation: str = "relu",
        init: str = "normal",
        rng: np.random.Generator | int | None = None,
        bias: bool = True,
        dtype: Any = np.float64,
    ) -> None:
        if isinstance(sizes, str | bytes) or not hasattr(sizes, "__len__"):
            raise TypeError(f"MLP: sizes must be a list of ints, got {type(sizes).__name__}")
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least 2 entries (inputs, outputs), got {sizes}")
        sizes = [_positive_int(n, f"MLP: sizes[{i}]") for i, n in enumerate(sizes)]
        if activation not in _ACTIVATION_CLASSES:
            raise ValueError(
                f"MLP: activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}"
            )
        if init not in INITS:
            raise ValueError(f"MLP: init must be one of {', '.join(INITS)}; got {init!r}")
        gen = _as_generator(rng, "MLP")
        layers: list[Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
            if i:
                layers.append(_ACTIVATION_CLASSES[activation]())
            layers.append(Linear(n_in, n_out, bias=bias, init=init, rng=gen, dtype=dtype))
        super().__init__(*layers)
        self.sizes = tuple(sizes)
