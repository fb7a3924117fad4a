"""The frontier race: Part IV's optimizers under the protocol of :mod:`book.race`.

Three things :func:`book.race.tune` cannot do, and this module adds:

- optimizers judged at another point than the one they train (Schedule-Free's
  average, Lookahead's slow weights: :func:`book.optim.eval_params`) and Sophia,
  which needs a Hessian estimate every ``update_period`` steps: :func:`gap_curves`
  runs any optimizer on a 2-D or a matrix landscape and :func:`tuned` scores the
  evaluated point with the same stay-within rule;
- whole-array rules (a norm, a matrix product: Muon, Shampoo, LAMB, ...), whose
  hyperparameters must be scalars, run one learning rate at a time
  (``batched=False``);
- matrix-only methods on a network whose biases are rows: :func:`matrices_and_rest`
  gives the weight matrices to one optimizer and every other array to another.

:func:`network_race` races both kinds on the digits network through
:mod:`book.cache`; :func:`speedup` and :func:`claim_verdict` turn two step counts into
a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from book import cache, data, optim, race, training
from book.optim import _base

__all__ = [
    "ELEMENTWISE", "WHOLE_ARRAY", "SplitState", "matrices_and_rest", "is_weight_matrix",
    "gap_curves", "tuned", "network_race", "speedup", "claim_verdict", "OUT_OF_SCOPE", "UNDECIDED",
]

#: Part IV's element-wise optimizers: each takes a column of learning rates in one run.
#: Every other hyperparameter is the reference's default, weight decay 0 (none has decay by default).
ELEMENTWISE = {
    "signSGD": lambda lr: optim.signsgd(lr=lr),
    "Lion": lambda lr: optim.lion(lr=lr),
    "Rprop": lambda lr: optim.rprop(lr=lr),
    "ASGD": lambda lr: optim.asgd(lr=lr),
    "Yogi": lambda lr: optim.yogi(lr=lr),
    "AdaBelief": lambda lr: optim.adabelief(lr=lr),
    "Adan": lambda lr: optim.adan(lr=lr),
    "ADOPT": lambda lr: optim.adopt(lr=lr),
    "AdEMAMix": lambda lr: optim.ademamix(lr=lr),
    "Lookahead(Adam)": lambda lr: optim.lookahead(optim.adam(lr=lr)),
    "Schedule-Free AdamW": lambda lr: optim.schedule_free_adamw(lr=lr),
    "Sophia": lambda lr: optim.sophia(lr=lr),
}

#: Part IV's whole-array optimizers raced in the frontier chapter (one learning rate per
#: run), weight decay 0: Muon's
#: torch default 0.1, MARS-M's 0.1 and SOAP's 0.01 would move the minimum the race
#: measures the distance to. Muon uses Moonlight's ``match_rms_adamw`` scale (MARS-M's
#: default), so that one learning rate suits it and the AdamW of the other arrays.
WHOLE_ARRAY = {
    "Muon": lambda lr: optim.muon(lr=lr, weight_decay=0.0, adjust_lr_fn="match_rms_adamw"),
    "NorMuon": lambda lr: optim.normuon(lr=lr),
    "MARS-M": lambda lr: optim.mars_m(lr=lr, weight_decay=0.0),
    "Shampoo": lambda lr: optim.shampoo(lr=lr),
    "SOAP": lambda lr: optim.soap(lr=lr, weight_decay=0.0),
    "Adafactor": lambda lr: optim.adafactor(lr=lr),
    "LAMB": lambda lr: optim.lamb(lr=lr),
}


# --- the matrices to one optimizer, the rest to another -----------------------------


def is_weight_matrix(key, param) -> bool:
    """A parameter with two axes of more than one entry (a bias row ``(1, n)`` is not)."""
    return param.ndim == 2 and min(param.shape) > 1


class SplitState(NamedTuple):
    matrices: object  # the matrix optimizer's state
    rest: object  # the other optimizer's state


def matrices_and_rest(matrix_opt, rest_opt, is_matrix: Callable = is_weight_matrix):
    """One optimizer made of two: ``matrix_opt`` (Muon, say) updates the arrays of a
    dict of parameters for which ``is_matrix(key, param)`` holds, ``rest_opt``
    (AdamW, say) the others, each with its own state. The usual way to train a network
    with a matrix-only method: its biases (and embeddings) go to an element-wise one.
    """
    for opt in (matrix_opt, rest_opt):
        if not isinstance(opt, _base.Optimizer):
            raise TypeError(f"both optimizers must be book.optim optimizers, got {opt!r}")

    def split(tree, keys):
        return {key: tree[key] for key in keys}

    def parts(params):
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
        matrices = [key for key, value in params.items() if is_matrix(key, value)]
        return matrices, [key for key in params if key not in matrices]

    def init(params):
        matrices, rest = parts(params)
        return SplitState(*(opt.init(split(params, keys)) if keys else None
                            for opt, keys in [(matrix_opt, matrices), (rest_opt, rest)]))

    def step(params, grads, state):
        if not isinstance(state, SplitState):
            raise TypeError(f"state must be the SplitState returned by init or step, got {type(state).__name__}")
        new_params, new_states = {}, []
        for opt, keys, old in zip((matrix_opt, rest_opt), parts(params), state):
            if not keys:
                new_states.append(None)
                continue
            updated, new_state = opt.step(split(params, keys), split(grads, keys), old)
            new_params.update(updated)
            new_states.append(new_state)
        return {key: new_params[key] for key in params}, SplitState(*new_states)

    hyperparams = {"matrices": matrix_opt, "rest": rest_opt, "is_matrix": is_matrix.__name__}
    return _base.Optimizer("matrices_and_rest", hyperparams, init, step)


# --- landscapes: score the evaluated point, feed Sophia its Hessian estimate ------------


def _hvp(landscape):
    """Hessian-vector products of a 2-D landscape (from its Hessian) or a matrix one."""
    if hasattr(landscape, "hvp"):
        return landscape.hvp
    return lambda x, v: np.einsum("...ij,...j->...i", landscape.hessian(x), v)


def _run(opt, landscape, start, steps, seed):
    """f at the evaluated point after each step, shape (steps + 1, *batch)."""
    x = start
    state = opt.init(x)
    period = opt.hyperparams.get("update_period") if opt.name == "sophia" else None
    hvp = _hvp(landscape)
    values = [landscape.value(x)]
    with np.errstate(all="ignore"):  # a diverging run is scored, not warned about
        for t in range(steps):
            extra = {}
            if period and state.step % period == 0:
                extra["hessian"] = optim.hutchinson(lambda v: hvp(x, v), x, seed=[seed, t])
            x, state = opt.step(x, landscape.grad(x), state, **extra)
            values.append(landscape.value(optim.eval_params(opt, x, state)))
    return np.array(values)


def gap_curves(make, landscape, lrs, steps, *, batched=True, start=None, seed=0):
    """:math:`f - f^*` at ``book.optim.eval_params`` (the point the optimizer would be
    evaluated at) after each step of ``make(lr)`` for every learning rate of ``lrs``,
    shape ``(steps + 1, len(lrs))`` (``inf`` once a run has left the finite numbers).
    Sophia gets Hutchinson's estimate (one Rademacher sample, seeded by ``seed`` and the
    step) whenever it needs one.

    ``batched``: all learning rates in one run (element-wise rules), else one run per
    learning rate (whole-array rules). ``start`` defaults to the landscape's
    ``default_start``; it may be a vector (2-D landscapes), a matrix or a dict of
    matrices (the factorisation's U and V).
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    if lrs.ndim != 1 or lrs.size == 0 or np.any(lrs <= 0):
        raise ValueError(f"lrs must be a non-empty 1-D array of positive numbers, got {lrs!r}")
    start = landscape.default_start if start is None else start
    keys, leaves = _base.flatten(start if isinstance(start, Mapping) else np.asarray(start, dtype=np.float64), "start")
    start = _base.unflatten(keys, [np.asarray(leaf, dtype=np.float64) for leaf in leaves])
    if batched:
        column = lrs.reshape((-1,) + (1,) * leaves[0].ndim)  # every leaf has the same number of axes
        runs = _base.unflatten(keys, [np.broadcast_to(leaf, lrs.shape + np.shape(leaf)).copy() for leaf in leaves])
        values = _run(make(column), landscape, runs, steps, seed)
    else:
        values = np.stack([_run(make(float(lr)), landscape, start, steps, seed) for lr in lrs], axis=1)
    gaps = values - landscape.min_value
    diverged = np.logical_or.accumulate(~np.isfinite(gaps), axis=0)
    return np.where(diverged, np.inf, gaps)


def tuned(lrs, gaps, tol) -> race.Tuned:
    """:func:`book.race.tune`'s verdict on :func:`gap_curves`: the step from which the
    gap stays within ``tol``, the best learning rate and its neighbours' median."""
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    within = np.flip(np.logical_and.accumulate(np.flip(gaps <= tol, 0), axis=0), 0)
    counts = np.where(within.any(axis=0), within.argmax(axis=0), -1)
    return race.best_of(np.asarray(lrs, dtype=np.float64), counts, gaps[-1])


# --- the network ----------------------------------------------------------------------


def network_race(batched: Mapping, one_at_a_time: Mapping, lrs, *, seeds, steps, batch_size, record_every=25):
    """Train each optimizer at every learning rate of ``lrs`` with every seed on the
    digits (:func:`book.training.train`): ``batched`` ones in one run of
    ``len(lrs) x len(seeds)`` networks, ``one_at_a_time`` ones (whole-array rules) one
    network per run. Kept in :mod:`book.cache`.

    Returns ``{name: {"batch_loss": (steps, lrs, seeds), "train_loss", "test_accuracy":
    (recorded, lrs, seeds), "recorded": (recorded,)}}``.
    """
    lrs = [float(lr) for lr in np.ravel(lrs)]
    seeds = [int(seed) for seed in np.ravel(seeds)]
    fields = ("batch_loss", "train_loss", "test_accuracy")
    settings = {
        "batched": {name: repr(make(1.0)) for name, make in batched.items()},
        "one_at_a_time": {name: repr(make(1.0)) for name, make in one_at_a_time.items()},
        "lrs": lrs, "seeds": seeds, "steps": int(steps), "batch_size": int(batch_size),
        "record_every": int(record_every), "data": "digits()",
        "code": cache.source_hash(("experiments/frontier_race.py",)),
    }
    options = dict(steps=steps, batch_size=batch_size, split=data.digits(), record_every=record_every)

    def compute():
        flat = {}
        for name, make in batched.items():
            history = training.train(make, np.array([lrs]), seed=seeds, **options)
            flat.update({f"{name}::{field}": getattr(history, field) for field in fields})
            flat["recorded"] = history.recorded
        for name, make in one_at_a_time.items():
            runs = [[training.train(make, lr, seed=seed, **options) for seed in seeds] for lr in lrs]
            for field in fields:
                flat[f"{name}::{field}"] = np.stack([np.stack([getattr(h, field) for h in row], -1) for row in runs], -2)
            flat["recorded"] = runs[0][0].recorded
        return flat

    flat = cache.cached("frontier-network-race", settings, compute)
    return {name: {"recorded": flat["recorded"], **{field: flat[f"{name}::{field}"] for field in fields}}
            for name in [*batched, *one_at_a_time]}


# --- verdicts ---------------------------------------------------------------------------

#: The verdict of a claim these experiments cannot test.
OUT_OF_SCOPE = "out of scope for a NumPy book"


def speedup(fast, slow) -> float:
    """How many times fewer steps ``fast`` needs than ``slow`` (counts; -1 never
    arrived, which is infinitely slow): inf if only ``fast`` arrives, 0 if only
    ``slow`` does, nan if neither."""
    fast, slow = (np.inf if count < 0 else float(count) for count in (fast, slow))
    if np.isinf(fast) and np.isinf(slow):
        return float("nan")
    with np.errstate(divide="ignore"):
        return float(np.divide(slow, fast))


#: The verdict of a claim the measurements leave undecided (neither method arrives, or
#: the cases split evenly).
UNDECIDED = "no verdict"


def claim_verdict(holds) -> str:
    """:func:`book.race.verdict`, or :data:`UNDECIDED` where ``holds`` is None."""
    return UNDECIDED if holds is None else race.verdict(holds)

