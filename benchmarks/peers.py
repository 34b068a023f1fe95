"""The tutorial's training step in every library at hand, each against hand-derived numpy.

    python -m benchmarks.peers            # table on stdout
    python -m benchmarks.peers --json     # the same figures as JSON

The same SGD step of the tutorial's network (2-H-2, relu, softmax cross-entropy summed over
the minibatch, lr 1e-4) for H=64 with batch 10 and H=512 with batch 1000, written in: the
hand-derived numpy of models/manual.py (against itself: the noise floor), the tutorial's own
code as written, autograd_lite (eager and compiled, benchmarks/step.py), PyTorch on the CPU,
JAX with `jit`, MyGrad and HIPS autograd. Each runs in a process of its own, with one thread
and the default allocator, interleaved with the hand-derived step in that process; all start
from the same parameters and must end on the same ones (see benchmarks/common.py). A library
that is not installed is skipped with a message.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import common
from benchmarks.common import LR, Epoch, Params, hand_derived
from benchmarks.step import FORMS


def tutorial_code(X, y, params, batches) -> Epoch:
    """The tutorial's code as written: a softmax and a one-hot loop over rows in Python, a
    relu that clears negatives in place, and `param += lr * (Y - Z2) ...` updates."""

    def softmax(a):
        out = np.empty_like(a)
        for i in range(len(a)):
            e = np.exp(a[i] - np.max(a[i]))
            out[i] = e / np.sum(e)
        return out

    def relu(a):
        a[a < 0] = 0
        return a

    def one_hot(labels):
        out = np.zeros((len(labels), 2))
        for i, label in enumerate(labels):
            out[i][label] = 1
        return out

    def epoch() -> Params:
        model = {k: v.copy() for k, v in params.items()}
        for idx in batches:
            x, t = X[idx], one_hot(y[idx])
            A1 = x @ model["W1"] + model["b1"]
            Z1 = relu(A1)
            Z2 = softmax(Z1 @ model["W2"] + model["b2"])
            delta2 = t - Z2
            delta1 = (delta2 @ model["W2"].T) * (Z1 > 0)
            model["W2"] += LR * (Z1.T @ delta2)
            model["b2"] += LR * delta2.sum(axis=0)
            model["W1"] += LR * (x.T @ delta1)
            model["b1"] += LR * delta1.sum(axis=0)
        return model

    return epoch


def pytorch(X, y, params, batches) -> Epoch:
    import torch

    torch.set_num_threads(1)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    batches_t = [torch.from_numpy(idx) for idx in batches]

    def epoch() -> Params:
        W1, b1, W2, b2 = (torch.tensor(params[k], requires_grad=True) for k in params)
        opt = torch.optim.SGD([W1, b1, W2, b2], lr=LR)
        for idx in batches_t:
            logits = torch.relu(Xt[idx] @ W1 + b1) @ W2 + b2
            loss = torch.nn.functional.cross_entropy(logits, yt[idx], reduction="sum")
            opt.zero_grad()
            loss.backward()
            opt.step()
        return {k: v.detach().numpy() for k, v in zip(params, (W1, b1, W2, b2))}

    return epoch


def jax_jit(X, y, params, batches) -> Epoch:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def loss(p, x, t):
        logits = jnp.maximum(x @ p["W1"] + p["b1"], 0.0) @ p["W2"] + p["b2"]
        return -(jax.nn.log_softmax(logits) * t).sum()

    @jax.jit
    def step(p, x, t):
        g = jax.grad(loss)(p, x, t)
        return {k: p[k] - LR * g[k] for k in p}

    Y = np.eye(2)[y]
    data = [(jnp.asarray(X[idx]), jnp.asarray(Y[idx])) for idx in batches]

    def epoch() -> Params:
        p = {k: jnp.asarray(v) for k, v in params.items()}
        for x, t in data:
            p = step(p, x, t)
        return {k: np.asarray(v) for k, v in jax.block_until_ready(p).items()}

    return epoch


def mygrad(X, y, params, batches) -> Epoch:
    import mygrad as mg

    Y = np.eye(2)[y]

    def epoch() -> Params:
        W1, b1, W2, b2 = (mg.tensor(params[k].copy()) for k in params)
        for idx in batches:
            logits = mg.nnet.relu(X[idx] @ W1 + b1) @ W2 + b2
            shifted = logits - mg.max(logits, axis=1, keepdims=True).data
            loss = -(
                Y[idx] * (shifted - mg.log(mg.sum(mg.exp(shifted), axis=1, keepdims=True)))
            ).sum()
            loss.backward()
            for p in (W1, b1, W2, b2):
                p.data -= LR * p.grad
        return dict(zip(params, (W1.data, b1.data, W2.data, b2.data)))

    return epoch


def hips_autograd(X, y, params, batches) -> Epoch:
    import autograd
    import autograd.numpy as anp

    Y = np.eye(2)[y]

    def loss(p, x, t):
        logits = anp.maximum(anp.dot(x, p[0]) + p[1], 0.0) @ p[2] + p[3]
        shifted = logits - anp.max(logits, axis=1, keepdims=True)
        return -anp.sum(t * (shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))))

    grad = autograd.grad(loss)

    def epoch() -> Params:
        p = [params[k].copy() for k in params]
        for idx in batches:
            g = grad(p, X[idx], Y[idx])
            p = [w - LR * dw for w, dw in zip(p, g)]
        return dict(zip(params, p))

    return epoch


PEERS = {
    "hand-derived numpy": hand_derived,
    "tutorial code": tutorial_code,
    **FORMS,
    "pytorch (1 thread)": pytorch,
    "jax jit": jax_jit,
    "mygrad": mygrad,
    "hips autograd": hips_autograd,
}


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.peers`; returns the exit status."""
    return common.main(argv, "benchmarks.peers", PEERS, __doc__)


if __name__ == "__main__":
    sys.exit(main())
