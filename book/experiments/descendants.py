"""Experiments of the chapter on Adam's recent descendants: any `book.optim` optimizer on a
noisy landscape judged at the point the optimizer would be evaluated at (Schedule-Free's
average, Lookahead's slow weights). Reddi et al.'s online problem with any optimizer is
:func:`book.experiments.adam_variants.online_run`."""

from __future__ import annotations

import numpy as np

from book import optim
from book.schedules import ScheduledRun

__all__ = ["evaluated_run"]


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
