"""Run an optimizer on a landscape from a batch of starts: the engine behind every race.

:func:`trajectory` makes one vectorised optimizer call per step for the whole batch
(many starts, or many hyperparameter settings broadcasting against them), stores the
path, and computes the losses and gradient norms afterwards in one vectorised call over
the whole path. Runs that blow up to ``inf``/``nan`` are recorded, never raised.
:func:`race` runs several optimizers in lockstep with one gradient call per step.

>>> import numpy as np
>>> from book import landscapes, optim, runner
>>> bowl = landscapes.quadratic(kappa=10)
>>> run = runner.trajectory(optim.sgd(lr=np.array([[0.05], [0.1]])), bowl, bowl.default_start, 100)
>>> run.path.shape, run.losses.shape
((101, 2, 2), (101, 2))
"""

import operator
from typing import NamedTuple

import numpy as np

__all__ = ["Trajectory", "trajectory", "race"]


class Trajectory(NamedTuple):
    """The record of a batched run of ``steps`` steps from starts of shape ``(*batch, dim)``.

    Attributes:
        path: the iterates :math:`x_0, \\dots, x_T`, shape ``(steps + 1, *batch, dim)``.
        losses: :math:`f(x_t)` (always the exact value, also for stochastic runs),
            shape ``(steps + 1, *batch)``.
        grad_norms: :math:`\\lVert \\nabla f(x_t) \\rVert` (exact gradient), same shape.
        min_value: the landscape's :math:`f^*`, for gaps :math:`f(x_t) - f^*`.
        diverged_at: first step whose point or loss is not finite, shape ``batch``;
            ``-1`` where the run stayed finite.
        stopped_at: first step where the gradient norm reached ``stop`` (the run is
            frozen there), shape ``batch``; ``-1`` where it never did or no ``stop``.
    """

    path: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    min_value: float
    diverged_at: np.ndarray
    stopped_at: np.ndarray

    @property
    def final(self):
        """The last iterate of each run, shape ``(*batch, dim)``."""
        return self.path[-1]

    @property
    def diverged(self):
        """Boolean mask, shape ``batch``: did the run leave the finite numbers?"""
        return self.diverged_at >= 0

    @property
    def gaps(self):
        """Suboptimality :math:`f(x_t) - f^*`, shape ``(steps + 1, *batch)``."""
        with np.errstate(invalid="ignore"):  # -inf - (-inf) on unbounded landscapes
            return self.losses - self.min_value

    def steps_to(self, tol):
        """The step ``t`` from which :math:`f(x_s) - f^* \\le` ``tol`` for every ``s >= t``, per run.

        A run that only passes through the tolerance (an adaptive method circling the
        minimum at a fixed learning rate) has not arrived: the count is the step after
        which the gap *stays* within it, and ``-1`` where the final gap is above it
        (which includes diverged runs).
        """
        with np.errstate(invalid="ignore"):  # nan gaps of diverged runs count as not reached
            within = self.gaps <= tol
        # stays[t]: within at t and at every later step (a reversed running AND).
        stays = np.flip(np.logical_and.accumulate(np.flip(within, 0), axis=0), 0)
        return _first(stays)


def _first(mask):
    """Index of the first True along axis 0, or -1."""
    return np.where(mask.any(axis=0), mask.argmax(axis=0), -1)


def _hyperparameter_shapes(value):
    """Shapes of the arrays among a hyperparameter value (betas is a pair)."""
    if isinstance(value, (tuple, list)):
        return [shape for item in value for shape in _hyperparameter_shapes(item)]
    return [value.shape] if isinstance(value, np.ndarray) else []


def _batch_shape(opt, x):
    """Shape of the iterates: ``x`` broadcast against the optimizer's hyperparameter arrays."""
    # An optimizer without a `hyperparams` record (hand-written) runs at the starts' shape.
    hyperparams = getattr(opt, "hyperparams", {})
    shapes = [s for value in hyperparams.values() for s in _hyperparameter_shapes(value)]
    try:
        shape = np.broadcast_shapes(x.shape, *shapes)
    except ValueError:
        raise ValueError(
            f"the hyperparameter shapes {shapes} do not broadcast against starts of shape {x.shape}"
        ) from None
    if shape[-1:] != x.shape[-1:]:
        raise ValueError(f"hyperparameter arrays of shapes {shapes} change the last (coordinate) axis of {x.shape}")
    return shape


_ARGS_DOC = """
        landscape: a :class:`book.landscapes.Landscape`.
        x0: starts, shape ``(..., dim)``.
        steps: number of optimizer steps (>= 0).
        stochastic: feed ``landscape.stochastic_grad`` instead of the exact gradient;
            an array ``landscape.batch_size`` broadcasts against ``x0``'s batch axes.
        rng: generator (or seed) for the stochastic gradients; default
            ``landscape.make_rng()``, so runs are reproducible.
        stop: if given, a run stops (its point is frozen) at the first step where the
            exact gradient norm is ``<= stop``; the loop ends once every run has stopped.
"""


def trajectory(opt, landscape, x0, steps, *, stochastic=False, rng=None, stop=None):
    """Run ``opt`` for ``steps`` steps on ``landscape`` from every start in ``x0``.

    Args:
        opt: an optimizer of :mod:`book.optim` (``hyperparams``, ``init``, ``step``);
            hyperparameters given as arrays broadcast against ``x0``, and ``x0`` is
            broadcast to the joint shape (``lr`` of shape ``(k, 1)`` with one 2-D start
            runs ``k`` learning rates at once).{args}
    Returns:
        A :class:`Trajectory`. A run that overflows keeps going as ``inf``/``nan``
        without warnings and is flagged in ``diverged_at``.
    """
    (run,) = _run([opt], landscape, x0, steps, stochastic, rng, stop)
    return run


def race(optimizers, landscape, x0, steps, *, stochastic=False, rng=None, stop=None):
    """Run several optimizers side by side: ``{name: Trajectory}`` for ``{name: opt}``.

    Equivalent to one :func:`trajectory` per optimizer, but the gradient is evaluated
    once per step for all of them (on a stacked batch), which is what a race of the
    whole optimizer zoo on one landscape needs. Every optimizer starts from every
    start in ``x0`` (broadcast against all their hyperparameter arrays). In a
    stochastic race each optimizer gets its own independent noise.

    Args:
        optimizers: a mapping from display names to optimizers.{args}
    """
    names = list(optimizers)
    runs = _run([optimizers[name] for name in names], landscape, x0, steps, stochastic, rng, stop)
    return dict(zip(names, runs))


for _function in (trajectory, race):
    if _function.__doc__:  # None under python -OO
        _function.__doc__ = _function.__doc__.replace("{args}", _ARGS_DOC)


def _gradient_oracle(landscape, stochastic, rng):
    """The gradient the optimizers are fed: exact, or minibatch-like and seeded."""
    if not stochastic:
        if rng is not None:
            raise ValueError("rng is used only with stochastic=True")
        return landscape.grad
    if not hasattr(landscape, "stochastic_grad"):
        raise ValueError(f"{landscape.name} has no stochastic gradient; use stochastic=False")
    rng = landscape.make_rng() if rng is None else np.random.default_rng(rng)
    return lambda points: landscape.stochastic_grad(points, rng)


def _run(opts, landscape, x0, steps, stochastic, rng, stop):
    """The loop behind :func:`trajectory` and :func:`race`: runs stacked on a new axis 1."""
    x = landscape.points(x0)
    steps = operator.index(steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if stop is not None and not stop >= 0:
        raise ValueError(f"stop must be a gradient-norm tolerance >= 0, got {stop!r}")
    gradient = _gradient_oracle(landscape, stochastic, rng)
    shapes = [_batch_shape(opt, x) for opt in opts]
    if stochastic:  # an array of batch sizes gives each run of the batch its own noise level
        shapes.append(np.shape(landscape.batch_size) + (1,))
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(
            f"the batch shapes {shapes} of the optimizers (and batch sizes) do not broadcast together"
        ) from None

    # path[t, i] holds optimizer i's iterates at step t; each run owns its row from step 0.
    path = np.empty((steps + 1, len(opts)) + shape, dtype=x.dtype)
    path[0] = x
    states = [opt.init(path[0, i].copy()) for i, opt in enumerate(opts)]
    with np.errstate(all="ignore"):
        for t in range(steps):
            current, following = path[t], path[t + 1]
            grad = gradient(current)
            if stop is not None:
                done = np.linalg.norm(landscape.grad(current) if stochastic else grad, axis=-1) <= stop
                if done.all():
                    path[t + 1 :] = current
                    break
            for i, opt in enumerate(opts):
                following[i], states[i] = opt.step(current[i], grad[i], states[i])
            if stop is not None:
                np.copyto(following, current, where=done[..., None])
        losses = landscape.value(path)
        grad_norms = np.linalg.norm(landscape.grad(path), axis=-1)
        diverged_at = _first(~(np.isfinite(losses) & np.isfinite(path).all(axis=-1)))
    # A stopped run is frozen, so its gradient norm stays below `stop` from then on.
    stopped_at = _first(grad_norms <= stop) if stop is not None else np.full(diverged_at.shape, -1)
    return [
        Trajectory(path[:, i], losses[:, i], grad_norms[:, i], landscape.min_value, diverged_at[i], stopped_at[i])
        for i in range(len(opts))
    ]
