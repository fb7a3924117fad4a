"""Experiments of the chapter on Adam's recent descendants: any `book.optim` optimizer
on Reddi et al.'s online problem, and on a noisy landscape judged at the point the
optimizer would be evaluated at (Schedule-Free's average, Lookahead's slow weights)."""

from __future__ import annotations

import numpy as np

from . import optim
from .adam_variants import OnlineRun
from .schedules import ScheduledRun

__all__ = ["online_run", "evaluated_run"]


def online_run(make, C, steps, lr=0.5, period=3):
    r"""``make(lr)`` on the online problem of Reddi et al. (2018), Theorem 1:
    :math:`f_t(x) = C x` if :math:`t \bmod \text{period} = 1`, else :math:`-x`, on
    :math:`[-1, 1]`, with the step size ``lr / sqrt(t)`` and every iterate projected
    back (clipped), as :func:`book.adam_variants.online_counterexample` runs Adam.

    ``make(lr)`` returns a `book.optim` optimizer; its state carries over while the
    learning rate changes. ``C`` may be an array (its entries run side by side); each
    must exceed ``period - 1`` so that ``x = -1`` is the best fixed point. The run
    starts at ``x = 0``. Returns an :class:`~book.adam_variants.OnlineRun`.
    """
    C = np.asarray(C, dtype=np.float64)
    if np.any(C <= period - 1):
        raise ValueError(f"C must exceed period - 1 = {period - 1}, got {C}")
    x = np.zeros(C.shape)
    state = make(lr).init(x)
    xs, gs = np.empty((steps,) + C.shape), np.empty((steps,) + C.shape)
    for t in range(1, steps + 1):
        g = C if t % period == 1 else -np.ones(C.shape)
        xs[t - 1], gs[t - 1] = x, g
        x, state = make(lr / np.sqrt(t)).step(x, g, state)
        x = np.clip(x, -1.0, 1.0)
    return OnlineRun(xs, gs)


def evaluated_run(make, landscape, x0, lrs, rng):
    """``make(lrs[t])`` at step ``t`` on ``landscape.stochastic_grad``, recording the
    point the optimizer would be evaluated at (`book.optim.eval_params`: Schedule-Free's
    average x, Lookahead's slow weights, the parameters for every other optimizer).

    Like :func:`book.schedules.run_with_schedule`, which records the parameters
    themselves; ``x0`` may carry batch axes (independent runs, each with its own
    noise). Returns a :class:`~book.schedules.ScheduledRun` of the evaluated points.
    """
    x = landscape.points(np.array(x0, dtype=float))
    rng = np.random.default_rng(rng)
    opt = make(lrs[0])
    state = opt.init(x)
    path = [x]
    for lr in lrs:
        opt = make(lr)
        x, state = opt.step(x, landscape.stochastic_grad(x, rng), state)
        path.append(optim.eval_params(opt, x, state))
    path = np.array(path)
    return ScheduledRun(path=path, losses=landscape.value(path))
