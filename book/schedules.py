"""Learning-rate schedules, and SGD runs that follow one.

A schedule here is simply the array of learning rates :math:`\\eta_0, \\dots, \\eta_{T-1}`,
one per step. Robbins and Monro (1951) showed that stochastic gradient steps converge
when :math:`\\sum_t \\eta_t = \\infty` (the steps can travel any distance) and
:math:`\\sum_t \\eta_t^2 < \\infty` (the injected noise has finite total variance). A
constant rate meets the first condition only; :func:`inverse_time` meets both;
:func:`step_decay` meets neither in the limit but approximates a decay in practice.
"""

import numpy as np

from book import optim

__all__ = ["constant", "step_decay", "inverse_time", "sgd_with_schedule"]


def _check(lr, steps):
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    return np.arange(int(steps))


def constant(lr, steps):
    """:math:`\\eta_t = \\eta`."""
    return np.full(_check(lr, steps).size, float(lr))


def step_decay(lr, steps, every, factor=0.5):
    """:math:`\\eta_t = \\eta\\, \\gamma^{\\lfloor t / k \\rfloor}`: multiply by ``factor`` every ``every`` steps."""
    t = _check(lr, steps)
    if int(every) != every or every < 1:
        raise ValueError(f"every must be a positive integer, got {every}")
    if not 0 < factor <= 1:
        raise ValueError(f"factor must lie in (0, 1], got {factor}")
    return lr * factor ** (t // int(every))


def inverse_time(lr, steps, half_life):
    """:math:`\\eta_t = \\eta / (1 + t/t_{1/2})`: halved after ``half_life`` steps, then decaying like 1/t."""
    t = _check(lr, steps)
    if not half_life > 0:
        raise ValueError(f"half_life must be positive, got {half_life}")
    return lr / (1.0 + t / half_life)


def sgd_with_schedule(landscape, x0, lrs, rng, batch_size=None):
    """Plain SGD on ``landscape.stochastic_grad`` with learning rate ``lrs[t]`` at step ``t``.

    ``x0`` may carry batch axes (independent runs, each with its own noise). Returns the
    exact losses :math:`f(x_t)`, shape ``(len(lrs) + 1, *batch)``.
    """
    lrs = np.asarray(lrs, dtype=float)
    if lrs.ndim != 1 or lrs.size == 0:
        raise ValueError("lrs must be a non-empty 1-D array of learning rates, one per step")
    x = landscape.points(np.array(x0, dtype=float))
    rng = np.random.default_rng(rng)
    state = optim.sgd(lr=lrs[0]).init(x)
    losses = [landscape.value(x)]
    for lr in lrs:
        # Plain SGD keeps no buffer, so a fresh optimizer per step changes only the lr.
        x, state = optim.sgd(lr=lr).step(x, landscape.stochastic_grad(x, rng, batch_size), state)
        losses.append(landscape.value(x))
    return np.array(losses)
