r"""Minibatch training of a :mod:`book.network` on the digits with any :mod:`book.optim`
optimizer, every number reproducible from the seeds.

:func:`train` runs one network per seed (and per learning-rate schedule when given
several) in one batched computation: the parameters carry leading run axes, the
learning rate reaches the optimizer as an array of shape ``(..., 1, 1)`` that
broadcasts to every parameter, and each seed draws its own minibatches. The same seed
gives the same initialisation and the same minibatches whatever the learning rate, so
learning rates are compared on common random numbers. :func:`arrival` reads a run's
minibatch losses with a robust rule; :func:`race` tunes several optimizers under one
protocol and keeps its results in :mod:`book.cache`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from . import cache, data, network

__all__ = ["History", "train", "arrival", "race"]


class History(NamedTuple):
    r"""What :func:`train` records. ``runs`` is the shape of the run axes:
    ``lrs.shape[1:] + np.shape(seed)``.

    ``recorded`` (R,) are the step counts t (updates made) at which the network was
    measured, every ``record_every`` steps from 0 and always the last one:
    ``train_loss``, ``test_loss`` (mean cross-entropy on the whole set, without any L2
    term) and ``test_accuracy`` have shape ``(R,) + runs``. ``grad_norm[key]`` and
    ``update_ratio[key]`` (same shape) are, for each parameter array, the norm of the
    minibatch gradient taken at that point (the loss with its L2 term, before
    ``grad_transform``) and :math:`\|\Delta\theta\| / \|\theta\|` of the step the
    optimizer takes from there (at the last point, the step it would take; ``inf`` for
    an array that is all zeros, as the biases are at the start).
    ``batch_loss`` (steps,) + runs is the loss of every update's minibatch (without L2);
    ``params`` the final parameters.
    """

    recorded: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray
    grad_norm: dict
    update_ratio: dict
    batch_loss: np.ndarray
    params: dict

    def to_arrays(self) -> dict[str, np.ndarray]:
        """A flat dict of arrays (for :mod:`book.cache`); :meth:`from_arrays` inverts it."""
        flat = {field: getattr(self, field) for field in ("recorded", "train_loss", "test_loss", "test_accuracy", "batch_loss")}
        for group in ("grad_norm", "update_ratio", "params"):
            flat.update({f"{group}/{key}": value for key, value in getattr(self, group).items()})
        return flat

    @classmethod
    def from_arrays(cls, flat: Mapping[str, np.ndarray]) -> History:
        groups = {group: {key.split("/", 1)[1]: value for key, value in flat.items() if key.startswith(group + "/")}
                  for group in ("grad_norm", "update_ratio", "params")}
        return cls(flat["recorded"], flat["train_loss"], flat["test_loss"], flat["test_accuracy"],
                   groups["grad_norm"], groups["update_ratio"], flat["batch_loss"], groups["params"])


def _schedule(lrs, steps):
    """The learning rates as an array of shape (steps,) + grid."""
    lrs = np.asarray(lrs, dtype=np.float64)
    if lrs.ndim == 0:
        lrs = lrs[None]
    if lrs.shape[0] not in (1, steps):
        raise ValueError(
            f"lrs must be a number or an array whose first axis is the {steps} steps "
            f"(or 1, for the same learning rates at every step), got shape {lrs.shape}"
        )
    return np.broadcast_to(lrs, (steps,) + lrs.shape[1:])


def _minibatches(seeds, n, steps, batch_size):
    """Indices of shape (steps,) + seeds.shape + (batch_size,): each seed walks through
    its own shuffles of the training set, one epoch after another."""
    per_seed = []
    for seed in np.ravel(seeds):
        rng = np.random.default_rng([int(seed), 1])  # not the initialisation's stream
        epochs = -(-steps * batch_size // n)
        order = np.concatenate([rng.permutation(n) for _ in range(epochs)])
        per_seed.append(order[: steps * batch_size].reshape(steps, batch_size))
    return np.stack(per_seed, axis=1).reshape((steps,) + np.shape(seeds) + (batch_size,))


def _one_blas_thread():
    """Limit BLAS to one thread while training, where it exists (threadpoolctl comes
    with scikit-learn). The matrices are small (64 x 64 per run): on the book's two
    cores shared with other work, Adam's race over 8 learning rates x 3 seeds took
    2.0-2.8 s with one thread and 4.8-10.4 s with two (load average 4)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _stack(dicts):
    """One dict of arrays from a list of dicts with the same keys (a new first axis)."""
    return {key: np.array([d[key] for d in dicts]) for key in dicts[0]}


def _norms(tree):
    return {key: np.sqrt((value**2).sum(axis=(-2, -1))) for key, value in tree.items()}


def train(
    make: Callable,
    lrs,
    *,
    steps: int,
    batch_size: int,
    seed,
    sizes=(64, 64, 10),
    split: data.Split | None = None,
    l2: float = 0.0,
    grad_transform: Callable | None = None,
    record_every: int = 10,
) -> History:
    r"""Train a network of layer widths ``sizes`` on ``split`` (default: :func:`book.data.digits`).

    ``make(lr)`` returns a :mod:`book.optim` optimizer. ``lrs`` is a number, or an array
    whose first axis is the steps (a schedule from :mod:`book.schedules`) or 1 (the same
    at every step); further axes are a grid of settings that each get their own runs,
    so ``lrs=np.array([grid])`` races the learning rates of ``grid``. A new optimizer is
    made whenever the learning rate changes; its state carries over, for no optimizer's
    state holds the learning rate.

    ``seed`` (an integer, or a sequence for several runs) seeds each run's
    initialisation and its minibatches (shuffled epochs of ``batch_size`` examples).
    ``l2`` adds :math:`\tfrac{\lambda}{2}\|\theta\|^2` over every parameter array to the
    minimised loss (the coupled weight decay; an optimizer's own ``weight_decay`` is the
    other one). ``grad_transform(grads) -> grads`` changes each gradient before the
    optimizer sees it (clipping, say); its arrays carry the run axes first.
    Returns a :class:`History`.
    """
    if not (isinstance(steps, (int, np.integer)) and steps >= 1):
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not (isinstance(record_every, (int, np.integer)) and record_every >= 1):
        raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
    if not l2 >= 0:
        raise ValueError(f"l2 must be >= 0, got {l2!r}")
    if np.ndim(seed) > 1 or np.size(seed) == 0 or np.asarray(seed).dtype.kind not in "iu":
        raise ValueError(f"seed must be an integer or a 1-D sequence of integers, got {seed!r}")
    split = data.digits() if split is None else split
    n = len(split.y_train)
    if not (isinstance(batch_size, (int, np.integer)) and 1 <= batch_size <= n):
        raise ValueError(f"batch_size must be an integer between 1 and {n} (the training set), got {batch_size!r}")
    schedule = _schedule(lrs, steps)
    grid, seeds = schedule.shape[1:], np.shape(seed)
    runs = grid + seeds
    lr_shape = grid + (1,) * len(seeds) + (1, 1) if runs else ()
    params = {key: np.broadcast_to(value, runs + value.shape[len(seeds):]).copy()
              for key, value in network.init(sizes, seed).items()}
    batches = _minibatches(seed, n, steps + 1, batch_size)

    recorded, measures, batch_loss = [], [], []
    # a diverging run is recorded as inf/nan, not warned about
    with np.errstate(all="ignore"), _one_blas_thread():
        opt, lr, state = None, None, None
        for t in range(steps + 1):
            X, y = split.X_train[batches[t]], split.y_train[batches[t]]
            loss, grads = network.loss_and_grads(params, X, y)
            if l2:
                grads = {key: g + l2 * params[key] for key, g in grads.items()}
            shown = grads
            if grad_transform is not None:
                grads = grad_transform(grads)
            lr_now = schedule[min(t, steps - 1)]
            if opt is None or not np.array_equal(lr_now, lr):
                lr = lr_now
                opt = make(lr.reshape(lr_shape) if runs else float(lr))
                state = opt.init(params) if state is None else state
            new_params, new_state = opt.step(params, grads, state)
            if t % record_every == 0 or t == steps:
                recorded.append(t)
                updates = {key: new_params[key] - params[key] for key in params}
                measures.append((
                    network.loss(params, split.X_train, split.y_train),
                    *network.evaluate(params, split.X_test, split.y_test),
                    _norms(shown),
                    {key: u / p for (key, u), p in zip(_norms(updates).items(), _norms(params).values())},
                ))
            if t < steps:
                batch_loss.append(loss)
                params, state = new_params, new_state
    train_loss, test_loss, test_accuracy, grad_norm, update_ratio = zip(*measures)
    return History(np.array(recorded), np.array(train_loss), np.array(test_loss), np.array(test_accuracy),
                   _stack(grad_norm), _stack(update_ratio), np.array(batch_loss), params)


def arrival(batch_loss, target: float, window: int) -> np.ndarray:
    """The step from which the mean minibatch loss over the last ``window`` updates
    stays below ``target`` to the end; -1 where it does not (or the run diverged).

    ``batch_loss`` has shape (steps,) + runs (:attr:`History.batch_loss`); the result has
    the runs' shape. A minibatch loss is noisy: one lucky batch below the target is no
    arrival, and the trailing mean must stay below it, not merely pass it once.
    """
    batch_loss = np.asarray(batch_loss, dtype=np.float64)
    steps = batch_loss.shape[0]
    if not (isinstance(window, (int, np.integer)) and 1 <= window <= steps):
        raise ValueError(f"window must be an integer between 1 and {steps} (the steps), got {window!r}")
    totals = np.cumsum(batch_loss, axis=0)
    totals = np.concatenate([np.zeros((1,) + batch_loss.shape[1:]), totals])
    smoothed = (totals[window:] - totals[:-window]) / window  # mean of updates t-window+1..t, t = window..steps
    below = smoothed < target  # nan is never below
    # position after the last window that is not below; counts updates made
    last_above = np.where(below.all(axis=0), -1, smoothed.shape[0] - 1 - np.argmax(~below[::-1], axis=0))
    return np.where(below[-1], last_above + 1 + window, -1)


def race(contestants: Mapping[str, Callable], lrs, *, seeds, steps: int, batch_size: int,
         sizes=(64, 64, 10), record_every: int = 10) -> dict[str, History]:
    """Train every optimizer of ``contestants`` (name -> ``make(lr)``, such as
    :data:`book.race.CONTESTANTS`) at every learning rate of ``lrs`` with every seed of
    ``seeds``, one batched :func:`train` per optimizer, on :func:`book.data.digits`.

    Returns ``{name: History}`` with runs of shape ``(len(lrs), len(seeds))``. The
    result is kept in :mod:`book.cache`, keyed on these settings, on each contestant's
    hyperparameters (its ``repr`` at lr 1) and on the source of the code that computes it.
    """
    lrs = [float(lr) for lr in np.ravel(lrs)]
    seeds = [int(seed) for seed in np.ravel(seeds)]
    settings = {
        "contestants": {name: repr(make(1.0)) for name, make in contestants.items()},
        "lrs": lrs, "seeds": seeds, "steps": int(steps), "batch_size": int(batch_size),
        "sizes": [int(n) for n in sizes], "record_every": int(record_every), "data": "digits()",
    }

    def compute():
        flat = {}
        for name, make in contestants.items():
            history = train(make, np.array([lrs]), steps=steps, batch_size=batch_size, seed=seeds,
                            sizes=sizes, record_every=record_every)
            flat.update({f"{name}::{field}": value for field, value in history.to_arrays().items()})
        return flat

    flat = cache.cached("network-race", settings, compute)
    return {name: History.from_arrays({field.split("::", 1)[1]: value for field, value in flat.items()
                                       if field.startswith(name + "::")})
            for name in contestants}
