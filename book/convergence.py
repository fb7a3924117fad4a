"""Measuring convergence from a run: rates and step counts read off an error sequence.

These are the measured counterparts of :mod:`book.theory`: a chapter runs an optimizer,
records the error (distance to the minimizer, or the loss gap) at every step, and
compares what it reads off with what the theory predicts. As in
:class:`book.runner.Trajectory`, the step is the first axis: an error sequence has shape
``(steps + 1, *batch)``.
"""

import numpy as np

__all__ = ["envelope", "measured_rate", "diverged", "first_step_below"]


def _errors(errors):
    errors = np.asarray(errors, dtype=float)
    if errors.ndim < 1 or errors.shape[0] < 2:
        raise ValueError("errors must hold at least two steps along the first axis")
    if np.any(errors < 0):
        raise ValueError("errors must be non-negative numbers (a distance or a loss gap)")
    # A run that blew up records NaN (inf - inf); it counts as infinitely far away.
    return np.where(np.isnan(errors), np.inf, errors)


def envelope(errors):
    """Suffix maximum :math:`\\max_{s \\ge t} e_s` along the step axis.

    An under-damped method (momentum) spirals in: its error oscillates on top of the
    geometric decay. The suffix maximum keeps the decay and drops the oscillation.
    """
    errors = _errors(errors)
    return np.flip(np.maximum.accumulate(np.flip(errors, 0), axis=0), 0)


def measured_rate(errors, start, stop=None):
    """Per-step contraction :math:`(E_{stop}/E_{start})^{1/(stop-start)}` of the :func:`envelope` E.

    ``start`` should lie past the transient; ``stop`` defaults to the last step.
    Batch axes after the step axis are kept.

    A run whose error *grows* over the window has no contraction rate, and the envelope
    would hide it (the suffix maximum of a growing sequence is its last value, so the
    ratio is exactly 1). Such a run measures ``inf``, the divergence marker: its largest
    error over the second half of the window exceeds its largest error over the first
    half, or its error left the finite numbers. A rate of exactly 1 is a run that
    neither shrinks nor grows.
    """
    errors = _errors(errors)
    stop = errors.shape[0] - 1 if stop is None else stop
    if not 0 <= start < stop < errors.shape[0]:
        raise ValueError(f"need 0 <= start < stop < {errors.shape[0]}, got start={start}, stop={stop}")
    env = envelope(errors[: stop + 1])
    middle = (start + stop + 1) // 2
    grows = errors[middle : stop + 1].max(axis=0) > errors[start:middle].max(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (env[stop] / env[start]) ** (1.0 / (stop - start))
    return np.where(grows | np.isinf(env[stop]), np.inf, rate)[()]


def diverged(rates):
    """Mask of the :func:`measured_rate` divergence marker (``inf``)."""
    return np.isinf(np.asarray(rates))


def first_step_below(values, tol):
    """Index of the first entry below ``tol`` along the step axis, or -1 where none is.

    With ``values[0]`` the value at the start, the index is the number of steps taken.
    """
    below = np.asarray(values) < tol
    return np.where(below.any(axis=0), below.argmax(axis=0), -1)
