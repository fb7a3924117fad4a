"""Measuring convergence from a run: rates and step counts read off an error sequence.

These are the measured counterparts of :mod:`book.theory`: a chapter runs an optimizer,
records the error (distance to the minimizer, or the loss gap) at every step, and
compares what it reads off with what the theory predicts. As in
:class:`book.runner.Trajectory`, the step is the first axis: an error sequence has shape
``(steps + 1, *batch)``.
"""

import numpy as np

__all__ = ["envelope", "measured_rate", "first_step_below"]


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
    Batch axes after the step axis are kept; a run that diverged gets ``inf`` or ``nan``.
    """
    env = envelope(errors)
    stop = env.shape[0] - 1 if stop is None else stop
    if not 0 <= start < stop < env.shape[0]:
        raise ValueError(f"need 0 <= start < stop < {env.shape[0]}, got start={start}, stop={stop}")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (env[stop] / env[start]) ** (1.0 / (stop - start))
    return np.where(np.isinf(env[stop]), np.inf, rate)[()]


def first_step_below(values, tol):
    """Index of the first entry below ``tol`` along the step axis, or -1 where none is.

    With ``values[0]`` the value at the start, the index is the number of steps taken.
    """
    below = np.asarray(values) < tol
    return np.where(below.any(axis=0), below.argmax(axis=0), -1)
