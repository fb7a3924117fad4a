"""Run torch.optim as the ground truth for book.optim: float64, CPU, foreach=False."""

from __future__ import annotations

import numpy as np
import torch

# torch keeps step counters and NAdam's mu_product in the default dtype.
from autograder.reference import float64_default

TORCH_CLASSES = {
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adamax": torch.optim.Adamax,
    "nadam": torch.optim.NAdam,
    "radam": torch.optim.RAdam,
    "asgd": torch.optim.ASGD,
    "rprop": torch.optim.Rprop,
    "adafactor": torch.optim.Adafactor,
}


def numpy_run(opt, params, grad_steps):
    """Run a `book.optim` optimizer from `params` over `grad_steps`: (params after each
    step, final state)."""
    state = opt.init(params)
    history = []
    for grads in grad_steps:
        params, state = opt.step(params, grads, state)
        history.append(params)
    return history, state


def torch_run(name: str, kwargs: dict, params: dict, grad_steps: list[dict]):
    """Run torch.optim's `name` from `params` over `grad_steps`.

    Returns (params after each step, as a list of dicts; final state per key, as a
    dict of {buffer name: array or float}).
    """
    return reference_run(TORCH_CLASSES[name], {"foreach": False, **kwargs}, params, grad_steps)


def reference_run(optimizer_class, kwargs: dict, params: dict, grad_steps: list[dict]):
    """`torch_run` for any torch.optim.Optimizer subclass (pytorch_optimizer's,
    lion_pytorch's), in float64 on the CPU, with the same return values."""
    with float64_default():
        tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
        optimizer = optimizer_class(list(tensors.values()), **kwargs)
        history = []
        for grads in grad_steps:
            for key, tensor in tensors.items():
                tensor.grad = torch.tensor(grads[key], dtype=torch.float64)
            optimizer.step()
            history.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
        state = {
            key: {field: _plain(value) for field, value in optimizer.state[tensor].items()
                  if value is not None}
            for key, tensor in tensors.items()
        }
    return history, state


def _plain(value):
    """A state entry as NumPy data: an array, or a float for a 0-d tensor."""
    if not isinstance(value, torch.Tensor):
        return value
    return value.detach().numpy().copy() if value.ndim else value.item()


def torch_error(name: str, kwargs: dict) -> str | None:
    """The ValueError message torch gives for these hyperparameters, or None."""
    try:
        TORCH_CLASSES[name]([torch.zeros(1, requires_grad=True)], **kwargs)
    except ValueError as error:
        return str(error)
    return None


def gradient_sequence(shapes: dict, steps: int, seed: int) -> list[dict]:
    """Gradients that stress an optimizer: per coordinate, a scale of ~1e-9 (tiny,
    below a typical eps), exactly zero, ~1 or ~1e6 (huge), with some coordinates
    flipping sign every step, and every 17th step entirely zero."""
    rng = np.random.default_rng(seed)
    scales = np.array([1e-9, 0.0, 1.0, 1e6])
    layout = {
        key: (rng.choice(scales, size=shape, p=[0.25, 0.15, 0.45, 0.15]),
              rng.random(shape) < 0.3)
        for key, shape in shapes.items()
    }
    sequence = []
    for t in range(steps):
        grads = {}
        for key, (scale, flips) in layout.items():
            g = scale * rng.normal(1.0, 0.5, size=scale.shape)
            g = np.where(flips, (-1.0) ** t * np.abs(g), g)
            grads[key] = np.zeros_like(g) if t % 17 == 16 else g
        sequence.append(grads)
    return sequence
