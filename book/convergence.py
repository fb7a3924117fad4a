"""Measuring convergence from a run: rates and step counts read off an error sequence.

These are the measured counterparts of :mod:`book.theory`: a chapter runs an optimizer,
records the error (distance to the minimizer, or the loss gap) at every step, and
compares what it reads off with what the theory predicts.
"""

import numpy as np

__all__ = ["envelope", "measured_rate", "first_step_below"]


def _errors(errors):
    errors = np.asarray(errors, dtype=float)
    if errors.ndim < 1 or errors.shape[-1] < 2:
        raise ValueError("errors must hold at least two steps along the last axis")
    if np.any(errors < 0) or np.any(np.isnan(errors)):
        raise ValueError("errors must be non-negative numbers (a distance or a loss gap)")
    return errors


def envelope(errors):
    """Suffix maximum :math:`\\max_{s \\ge t} e_s` along the last axis.

    An under-damped method (momentum) spirals in: its error oscillates on top of the
    geometric decay. The suffix maximum keeps the decay and drops the oscillation.
    """
    errors = _errors(errors)
    return np.flip(np.maximum.accumulate(np.flip(errors, -1), axis=-1), -1)


def measured_rate(errors, start, stop=None):
    """Per-step contraction :math:`(E_{stop}/E_{start})^{1/(stop-start)}` of the :func:`envelope` E.

    ``start`` should lie past the transient; ``stop`` defaults to the last step.
    Batch axes in front of the step axis are kept.
    """
    env = envelope(errors)
    stop = env.shape[-1] - 1 if stop is None else stop
    if not 0 <= start < stop < env.shape[-1]:
        raise ValueError(f"need 0 <= start < stop < {env.shape[-1]}, got start={start}, stop={stop}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return (env[..., stop] / env[..., start]) ** (1.0 / (stop - start))


def first_step_below(values, tol):
    """Index of the first entry below ``tol`` along the last axis, or -1 where none is.

    With ``values[0]`` the value at the start, the index is the number of steps taken.
    """
    below = np.asarray(values) < tol
    return np.where(below.any(axis=-1), below.argmax(axis=-1), -1)
