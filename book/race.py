"""The race of the book's optimizers: every one on every 2-D landscape, each tuned.

:data:`CONTESTANTS` names one factory per optimizer of :mod:`book.optim` (SGD twice
more, with heavy-ball and with Nesterov momentum), each taking only a learning rate and
keeping torch's other defaults. :func:`tune` races all of them over a grid of learning
rates in one batched :func:`book.runner.race` and keeps each one's best
(:func:`tune_noisy` does the same with minibatch gradients);
:func:`heatmap` sweeps a (learning rate, beta) grid in one batched run. :func:`verdict`
turns a measured count into the verdict of a quoted claim.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import optim, runner

__all__ = ["CONTESTANTS", "Tuned", "tune", "best_of", "NoisyTuned", "tune_noisy", "heatmap", "steps_to_point", "within", "verdict"]

#: One learning-rate-only factory per optimizer; every other hyperparameter is torch's default.
CONTESTANTS = {
    "SGD": lambda lr: optim.sgd(lr=lr),
    "momentum": lambda lr: optim.sgd(lr=lr, momentum=0.9),
    "Nesterov": lambda lr: optim.sgd(lr=lr, momentum=0.9, nesterov=True),
    "AdaGrad": lambda lr: optim.adagrad(lr=lr),
    "RMSProp": lambda lr: optim.rmsprop(lr=lr),
    "Adadelta": lambda lr: optim.adadelta(lr=lr),
    "Adam": lambda lr: optim.adam(lr=lr),
    "AdamW": lambda lr: optim.adamw(lr=lr),
    "AdaMax": lambda lr: optim.adamax(lr=lr),
    "NAdam": lambda lr: optim.nadam(lr=lr),
    "RAdam": lambda lr: optim.radam(lr=lr),
}


class Tuned(NamedTuple):
    """One optimizer's result in :func:`tune`.

    ``counts[k]`` is the step from which learning rate ``lrs[k]`` stays within
    ``f - f* <= tol`` (:meth:`book.runner.Trajectory.steps_to`; -1 if its final gap is
    above it, which includes divergence); ``gaps[k]`` the final suboptimality (``inf``
    for a diverged run). ``best_lr``/``best_count`` belong to the fastest learning rate;
    when none arrives they belong to the smallest final gap and ``best_count`` is -1.

    How robust the best count is: ``median_count`` is the median count over the best
    learning rate and its neighbours in the grid (a run that does not arrive counts as
    infinitely slow; -1 when the median does not arrive), so a best count that rests on
    one lucky grid point shows as -1.
    """

    lrs: np.ndarray
    counts: np.ndarray
    gaps: np.ndarray
    best_lr: float
    best_count: int
    best_gap: float
    median_count: float


def _median_around(counts, k):
    """Median count over grid points k-1, k, k+1 (non-arrivals are infinitely slow); -1 if not finite."""
    around = counts[max(k - 1, 0) : k + 2].astype(float)
    median = np.median(np.where(around >= 0, around, np.inf))
    return float(median) if np.isfinite(median) else -1.0


def best_of(lrs, counts, gaps) -> Tuned:
    """The :class:`Tuned` of a grid: ``counts[k]`` steps (-1: never arrived) and final
    gaps at learning rate ``lrs[k]``, for races run by other means than :func:`tune`."""
    arrived = counts >= 0
    if not arrived.any():
        k = int(np.argmin(gaps))
        return Tuned(lrs, counts, gaps, float(lrs[k]), -1, float(gaps[k]), -1.0)
    k = np.flatnonzero(arrived)[np.argmin(counts[arrived])]
    return Tuned(lrs, counts, gaps, float(lrs[k]), int(counts[k]), float(gaps[k]), _median_around(counts, k))


def _race_lrs(contestants, landscape, lrs, steps, x0, repeats=(), **options):
    """Every contestant at every learning rate of ``lrs``, in one :func:`book.runner.race`;
    ``repeats`` (a shape) adds leading batch axes of identical starts."""
    contestants = CONTESTANTS if contestants is None else contestants
    lrs = np.asarray(lrs, dtype=np.float64)
    if lrs.ndim != 1 or lrs.size == 0 or np.any(lrs <= 0):
        raise ValueError(f"lrs must be a non-empty 1-D array of positive numbers, got {lrs!r}")
    start = landscape.default_start if x0 is None else np.asarray(x0, dtype=np.float64)
    starts = np.broadcast_to(start, tuple(repeats) + (lrs.size, landscape.dim))
    runs = runner.race({name: make(lrs[:, None]) for name, make in contestants.items()},
                       landscape, starts, steps, **options)
    return lrs, runs


def tune(landscape, lrs, steps, tol, contestants=None, x0=None):
    """Race ``contestants`` (default :data:`CONTESTANTS`) over the learning rates ``lrs``.

    One batched run: every optimizer gets ``lr`` as a column of shape ``(len(lrs), 1)``
    and all share one gradient evaluation per step. The start ``x0`` defaults to the
    landscape's ``default_start``. Returns ``{name: Tuned}``.
    """
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    lrs, runs = _race_lrs(contestants, landscape, lrs, steps, x0)
    results = {}
    for name, run in runs.items():
        gaps = np.where(run.diverged, np.inf, run.gaps[-1])
        results[name] = best_of(lrs, run.steps_to(tol), gaps)
    return results


class NoisyTuned(NamedTuple):
    """One optimizer's result in :func:`tune_noisy`: ``gaps[k]`` is the mean of
    ``f - f*`` over the last ``window`` steps at ``lrs[k]`` (``inf`` if the run diverged);
    ``best_lr``/``best_gap`` belong to the smallest."""

    lrs: np.ndarray
    gaps: np.ndarray
    best_lr: float
    best_gap: float


def tune_noisy(landscape, lrs, steps, window, repeats=5, contestants=None, x0=None, rng=None):
    """Like :func:`tune`, with the landscape's stochastic gradients.

    A noisy run does not settle below a tolerance, so the score is the mean
    suboptimality over the last ``window`` steps and over ``repeats`` runs with
    independent noise, and the best learning rate is the one with the smallest. ``rng``
    seeds the gradient noise (default: the landscape's seed). Returns
    ``{name: NoisyTuned}``; a learning rate with any diverged run scores ``inf``.
    """
    if not 1 <= window <= steps:
        raise ValueError(f"window must be between 1 and steps = {steps}, got {window!r}")
    if not (isinstance(repeats, (int, np.integer)) and repeats >= 1):
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    lrs, runs = _race_lrs(contestants, landscape, lrs, steps, x0, repeats=(repeats,), stochastic=True, rng=rng)
    results = {}
    for name, run in runs.items():
        gaps = np.where(run.diverged.any(axis=0), np.inf, run.gaps[-window:].mean(axis=(0, 1)))
        k = int(np.argmin(gaps))
        results[name] = NoisyTuned(lrs, gaps, float(lrs[k]), float(gaps[k]))
    return results


def heatmap(make_opt, landscape, lrs, betas, steps, tol, x0=None):
    """Steps until ``f - f*`` stays within ``tol`` for every (lr, beta) pair, shape ``(len(betas), len(lrs))``.

    ``make_opt(lr, beta)`` receives ``lr`` of shape ``(1, len(lrs), 1)`` and ``beta`` of
    shape ``(len(betas), 1, 1)``, so the whole grid runs in one batched call. -1 marks a
    pair whose final gap is above ``tol`` (or that diverged).
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    betas = np.asarray(betas, dtype=np.float64)
    if lrs.ndim != 1 or betas.ndim != 1 or lrs.size == 0 or betas.size == 0:
        raise ValueError("lrs and betas must be non-empty 1-D arrays")
    start = landscape.default_start if x0 is None else np.asarray(x0, dtype=np.float64)
    starts = np.broadcast_to(start, (betas.size, lrs.size, landscape.dim))
    run = runner.trajectory(make_opt(lrs[None, :, None], betas[:, None, None]), landscape, starts, steps)
    return run.steps_to(tol)


def steps_to_point(run, point, radius):
    """First step at which each run of a :class:`book.runner.Trajectory` is within
    ``radius`` (Euclidean) of ``point``; -1 where it never is."""
    close = np.linalg.norm(run.path - np.asarray(point, dtype=np.float64), axis=-1) < radius
    return np.where(close.any(axis=0), close.argmax(axis=0), -1)


def within(measured, low, high):
    """Does a measured count fall in ``[low, high]``? A count of -1 (never arrived) never does."""
    if not low <= high:
        raise ValueError(f"the range [{low}, {high}] is empty")
    return bool(0 <= measured and low <= measured <= high)


def verdict(holds):
    """The word a verdict table prints for a claim that does or does not reproduce."""
    return "reproduced" if holds else "not reproduced"
