r"""A multilayer perceptron in plain NumPy: forward, backward, softmax cross-entropy.

The parameters are a dict of named arrays, ``"W1", "b1", "W2", "b2", ...``, the form
every :mod:`book.optim` optimizer takes. Layer :math:`l` computes
:math:`a_l = \mathrm{relu}(a_{l-1} W_l + b_l)`, the last one without the ReLU: its
outputs are the logits of a softmax over the classes. ``W_l`` has shape
``(n_in, n_out)`` and ``b_l`` shape ``(1, n_out)`` (a row added to every example).

Many networks at once: ``init`` with a sequence of seeds gives every array leading
*run* axes (``W1`` of shape ``(runs, n_in, n_out)``). Every function here broadcasts
the inputs' leading axes against the runs', so one call trains several seeds (or,
with a learning rate of shape ``(runs, 1, 1)``, several learning rates) in one
batched computation; losses and accuracies then have the runs' shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["init", "layers", "forward", "loss", "accuracy", "evaluate", "loss_and_grads"]


def init(sizes: Sequence[int], seed) -> dict[str, np.ndarray]:
    r"""Seeded parameters of a network with layer widths ``sizes`` (inputs first).

    Hidden layers (followed by a ReLU) get He initialisation,
    :math:`W \sim \mathcal N(0, 2/n_\text{in})`: a ReLU zeroes half of its inputs on
    average, and the factor 2 makes up for it, so the activations keep their scale
    through the depth. The output layer feeds a softmax, not a ReLU, and gets Glorot's
    :math:`\mathcal N(0, 2/(n_\text{in} + n_\text{out}))`, which keeps the first
    logits of order one (an initial loss near :math:`\log(\text{classes})`).
    Biases start at zero.

    ``seed`` is an integer, or a sequence of integers for one network per seed along
    a leading axis.
    """
    sizes = tuple(sizes)
    if len(sizes) < 2 or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in sizes):
        raise ValueError(f"sizes must list at least two positive integer widths, got {sizes!r}")
    if np.ndim(seed) > 1:
        raise ValueError(f"seed must be an integer or a 1-D sequence of integers, got {seed!r}")
    seeds = np.atleast_1d(seed)
    per_seed = [_init_one(sizes, int(s)) for s in seeds]
    if np.ndim(seed) == 0:
        return per_seed[0]
    return {key: np.stack([p[key] for p in per_seed]) for key in per_seed[0]}


def _init_one(sizes, seed):
    rng = np.random.default_rng(seed)
    params = {}
    last = len(sizes) - 1
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        variance = 2.0 / (n_in + n_out) if l == last else 2.0 / n_in
        params[f"W{l}"] = rng.normal(0.0, np.sqrt(variance), size=(n_in, n_out))
        params[f"b{l}"] = np.zeros((1, n_out))
    return params


def layers(params) -> int:
    """The number of layers of ``params``, after checking that its arrays chain."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays W1, b1, W2, b2, ..., got {type(params).__name__}")
    depth = len(params) // 2
    expected = {f"{kind}{l}" for l in range(1, depth + 1) for kind in "Wb"}
    if depth == 0 or set(params) != expected:
        raise ValueError(f"params must hold W1, b1, ..., Wn, bn, got keys {sorted(params)}")
    runs = params["W1"].shape[:-2]
    for l in range(1, depth + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        if W.ndim != len(runs) + 2 or W.shape[:-2] != runs or b.shape != runs + (1, W.shape[-1]):
            raise ValueError(
                f"W{l} of shape {W.shape} and b{l} of shape {b.shape} do not form a layer "
                f"(expected W{l} {runs} + (n_in, n_out) and b{l} {runs} + (1, n_out))"
            )
        if l > 1 and W.shape[-2] != params[f"W{l - 1}"].shape[-1]:
            raise ValueError(
                f"W{l} takes {W.shape[-2]} inputs but layer {l - 1} gives {params[f'W{l - 1}'].shape[-1]}"
            )
    return depth


def _check_inputs(params, X, y=None):
    depth = layers(params)
    W1 = params["W1"]
    X = np.asarray(X)
    if X.ndim < 2 or X.shape[-1] != W1.shape[-2]:
        raise ValueError(
            f"X must have shape (..., examples, {W1.shape[-2]}) for W1 of shape {W1.shape}, got {X.shape}"
        )
    runs = W1.shape[:-2]
    try:
        fits = np.broadcast_shapes(X.shape[:-2], runs) == runs
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"X's leading axes {X.shape[:-2]} do not broadcast to the runs' shape {runs}")
    if y is None:
        return depth, X, None
    y = np.asarray(y)
    classes = params[f"W{depth}"].shape[-1]
    if y.dtype.kind not in "iu":
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.shape != X.shape[:-1]:
        raise ValueError(f"y must have shape {X.shape[:-1]} (one label per row of X), got {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise ValueError(f"labels must lie in 0..{classes - 1}, got {y.min()}..{y.max()}")
    return depth, X, y


def _activations(params, X, depth):
    """[X, a_1, ..., a_{L-1}, logits]: the input of every layer and the output."""
    outputs = [X]
    for l in range(1, depth + 1):
        z = outputs[-1] @ params[f"W{l}"] + params[f"b{l}"]
        outputs.append(np.maximum(z, 0.0) if l < depth else z)
    return outputs


def forward(params, X) -> np.ndarray:
    """The logits, shape ``(..., examples, classes)``."""
    depth, X, _ = _check_inputs(params, X)
    return _activations(params, X, depth)[-1]


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _cross_entropy(log_probs, y):
    picked = np.take_along_axis(log_probs, np.broadcast_to(y[..., None], log_probs.shape[:-1] + (1,)), axis=-1)
    return -picked[..., 0].mean(axis=-1)


def loss(params, X, y) -> np.ndarray:
    """Mean softmax cross-entropy over the examples (one value per run)."""
    depth, X, y = _check_inputs(params, X, y)
    return _cross_entropy(_log_softmax(_activations(params, X, depth)[-1]), y)


def accuracy(params, X, y) -> np.ndarray:
    """Fraction of the examples whose largest logit is their label (one value per run)."""
    return evaluate(params, X, y)[1]


def evaluate(params, X, y) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`loss`, :func:`accuracy`) from one forward pass."""
    depth, X, y = _check_inputs(params, X, y)
    logits = _activations(params, X, depth)[-1]
    return _cross_entropy(_log_softmax(logits), y), (logits.argmax(axis=-1) == y).mean(axis=-1)


def loss_and_grads(params, X, y) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    r"""The loss and its gradient with respect to every array of ``params``.

    Backpropagation: with :math:`p` the softmax of the logits and :math:`Y` the one-hot
    labels of :math:`B` examples, :math:`\delta_L = (p - Y)/B`; then for each layer
    :math:`\nabla W_l = a_{l-1}^\top \delta_l`, :math:`\nabla b_l = \mathbf 1^\top \delta_l`
    and :math:`\delta_{l-1} = \delta_l W_l^\top \odot [a_{l-1} > 0]`.
    """
    depth, X, y = _check_inputs(params, X, y)
    outputs = _activations(params, X, depth)
    log_probs = _log_softmax(outputs[-1])
    delta = np.exp(log_probs)
    labels = np.broadcast_to(y[..., None], delta.shape[:-1] + (1,))
    np.put_along_axis(delta, labels, np.take_along_axis(delta, labels, axis=-1) - 1.0, axis=-1)
    delta /= y.shape[-1]
    grads = {}
    for l in range(depth, 0, -1):
        a = outputs[l - 1]
        grads[f"W{l}"] = np.swapaxes(a, -1, -2) @ delta
        grads[f"b{l}"] = delta.sum(axis=-2, keepdims=True)
        if l > 1:
            delta = (delta @ np.swapaxes(params[f"W{l}"], -1, -2)) * (a > 0)
    return _cross_entropy(log_probs, y), {key: grads[key] for key in params}
