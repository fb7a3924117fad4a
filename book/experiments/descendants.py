"""Experiments of the chapter on Adam's recent descendants: any `book.optim` optimizer on a
noisy landscape judged at the point the optimizer would be evaluated at (Schedule-Free's
average, Lookahead's slow weights). Reddi et al.'s online problem with any optimizer is
:func:`book.experiments.adam_variants.online_run`."""

from __future__ import annotations

from book.schedules import run_with_schedule

__all__ = ["evaluated_run"]


def evaluated_run(make, landscape, x0, lrs, rng):
    """``make(lrs[t])`` at step ``t`` on ``landscape.stochastic_grad``, recording the
    point the optimizer would be evaluated at (`book.optim.eval_params`: Schedule-Free's
    average x, Lookahead's slow weights, the parameters for every other optimizer).

    :func:`book.schedules.run_with_schedule` with ``evaluated=True``; ``x0`` may carry
    batch axes (independent runs, each with its own noise). Returns a
    :class:`~book.schedules.ScheduledRun` of the evaluated points.
    """
    return run_with_schedule(make, landscape, x0, lrs, rng, evaluated=True)
