"""Learning-rate schedules, warm-up, the learning-rate range test, and SGD runs that
follow a schedule.

A schedule here is simply the array of learning rates :math:`\\eta_0, \\dots, \\eta_{T-1}`,
one per step; step :math:`t` of a run uses ``lrs[t]``. Each schedule that
``torch.optim.lr_scheduler`` has gives, step for step, the learning rate that torch's
scheduler sets before optimizer step :math:`t` (after :math:`t` calls of
``scheduler.step()``); the docstrings name the scheduler, and the tests compare them.

Robbins and Monro (1951) showed that stochastic gradient steps converge when
:math:`\\sum_t \\eta_t = \\infty` (the steps can travel any distance) and
:math:`\\sum_t \\eta_t^2 < \\infty` (the injected noise has finite total variance). A
constant rate meets the first condition only; :func:`inverse_time` meets both;
:func:`inverse_sqrt_time` meets only the first; :func:`step_decay` and
:func:`exponential` meet only the second (their steps sum to a finite total); cosine
and linear decay reach their floor in finitely many steps, so the conditions, which are
about :math:`t \\to \\infty`, do not apply to them.
"""

from typing import NamedTuple

import numpy as np

from book import optim

__all__ = [
    "constant",
    "step_decay",
    "exponential",
    "inverse_time",
    "inverse_sqrt_time",
    "cosine",
    "linear_decay",
    "warmup",
    "range_test_lrs",
    "RangeTest",
    "read_range_test",
    "ScheduledRun",
    "run_with_schedule",
    "sgd_with_schedule",
    "sgd_expected_loss",
]


def _check(lr, steps):
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    return np.arange(int(steps))


def _positive(name, value):
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive, got {value}")


def _horizon(horizon, steps):
    """The decay horizon, ``steps`` unless given."""
    if horizon is None:
        return int(steps)
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon}")
    return int(horizon)


def constant(lr, steps):
    """:math:`\\eta_t = \\eta`."""
    return np.full(_check(lr, steps).size, float(lr))


def step_decay(lr, steps, every, factor=0.5):
    """:math:`\\eta_t = \\eta\\, \\gamma^{\\lfloor t / k \\rfloor}`: multiply by ``factor`` every ``every`` steps.

    torch: ``StepLR(step_size=every, gamma=factor)``. The common practical compromise
    that Bottou, Curtis and Nocedal (2018) survey; its steps sum to at most
    :math:`k\\eta/(1-\\gamma)`, so Robbins and Monro's first condition fails.
    """
    t = _check(lr, steps)
    if int(every) != every or every < 1:
        raise ValueError(f"every must be a positive integer, got {every}")
    if not 0 < factor <= 1:
        raise ValueError(f"factor must lie in (0, 1], got {factor}")
    return lr * factor ** (t // int(every))


def exponential(lr, steps, gamma):
    """:math:`\\eta_t = \\eta\\, \\gamma^t`, a step decay by ``gamma`` at every step.

    torch: ``ExponentialLR(gamma)``. For :math:`\\gamma < 1` the steps sum to at most
    :math:`\\eta / (1 - \\gamma)`, so Robbins and Monro's first condition fails.
    """
    t = _check(lr, steps)
    if not 0 < gamma <= 1:
        raise ValueError(f"gamma must lie in (0, 1], got {gamma}")
    return lr * gamma**t


def inverse_time(lr, steps, half_life):
    """:math:`\\eta_t = \\eta / (1 + t/t_{1/2})`: halved after ``half_life`` steps, then decaying like 1/t.

    torch: ``LambdaLR(lambda t: 1 / (1 + t / half_life))``. Meets both conditions of
    Robbins and Monro (1951): :math:`\\sum_{t<T} \\eta_t \\ge \\eta\\, t_{1/2} \\ln(1 + T/t_{1/2})`
    grows without bound, :math:`\\sum_t \\eta_t^2 \\le \\eta^2 (1 + t_{1/2})`.
    """
    t = _check(lr, steps)
    _positive("half_life", half_life)
    return lr / (1.0 + t / half_life)


def inverse_sqrt_time(lr, steps, time_scale):
    """:math:`\\eta_t = \\eta / \\sqrt{1 + t/t_0}`, the decay of Adam's convergence analysis
    (Kingma and Ba 2015) and of the Transformer's schedule after its warm-up (Vaswani et al. 2017).

    torch: ``LambdaLR(lambda t: (1 + t / time_scale) ** -0.5)``. Its squares are a
    :math:`1/t` schedule, so it meets only the first Robbins–Monro condition.
    """
    t = _check(lr, steps)
    _positive("time_scale", time_scale)
    return lr / np.sqrt(1.0 + t / time_scale)


def cosine(lr, steps, floor=0.0, horizon=None):
    """:math:`\\eta_t = \\eta_{\\min} + \\tfrac12 (\\eta - \\eta_{\\min})(1 + \\cos(\\pi t / T))`,
    half a cosine from ``lr`` down to ``floor`` over ``horizon`` :math:`= T` steps
    (``steps`` unless given); Loshchilov and Hutter's SGDR (2017) without restarts.

    torch: ``CosineAnnealingLR(T_max=horizon, eta_min=floor)``. Past the horizon the
    formula climbs back up, as torch's scheduler does.
    """
    t = _check(lr, steps)
    if not (np.isfinite(floor) and 0 <= floor <= lr):
        raise ValueError(f"floor must lie in [0, lr], got {floor}")
    return floor + (lr - floor) * (1.0 + np.cos(np.pi * t / _horizon(horizon, steps))) / 2


def linear_decay(lr, steps, end_factor=0.0, horizon=None):
    """:math:`\\eta_t = \\eta \\left(1 + (e - 1) \\min(t, T) / T\\right)`: a straight line from
    ``lr`` to ``end_factor * lr`` :math:`= e\\eta` over ``horizon`` :math:`= T` steps
    (``steps`` unless given), constant after.

    torch: ``LinearLR(start_factor=1, end_factor=end_factor, total_iters=horizon)``.
    """
    t = _check(lr, steps)
    if not 0 <= end_factor <= 1:
        raise ValueError(f"end_factor must lie in [0, 1], got {end_factor}")
    total = _horizon(horizon, steps)
    return lr * (1.0 + (end_factor - 1.0) * np.minimum(t, total) / total)


def warmup(schedule, warmup_steps, start_factor=None):
    """``schedule`` preceded by a linear warm-up of ``warmup_steps`` steps:

    .. math::
        \\eta_t = \\eta_0 \\left(s + (1 - s)\\, t / w\\right) \\quad (t < w), \\qquad
        \\eta_t = \\text{schedule}[t - w] \\quad (t \\ge w),

    with :math:`\\eta_0` = ``schedule[0]``, :math:`w` = ``warmup_steps`` and :math:`s` =
    ``start_factor`` (default :math:`1/(w+1)`, so that :math:`\\eta_t = \\eta_0 (t+1)/(w+1)`
climbs by the same :math:`\\eta_0/(w+1)` at every step up to :math:`\\eta_0`).
    The result is ``warmup_steps`` longer than ``schedule``. Goyal et al. (2017) warm up
    large-batch SGD this way; Ma and Yarats (2021) propose :math:`w = 2/(1-\\beta_2)` for Adam.

    torch: ``SequentialLR([LinearLR(start_factor=s, end_factor=1, total_iters=w), main],
    milestones=[w])``, where ``main`` is the scheduler of ``schedule``.
    """
    schedule = np.asarray(schedule, dtype=float)
    if schedule.ndim != 1 or schedule.size == 0:
        raise ValueError("schedule must be a non-empty 1-D array of learning rates")
    if int(warmup_steps) != warmup_steps or warmup_steps < 1:
        raise ValueError(f"warmup_steps must be a positive integer, got {warmup_steps}")
    w = int(warmup_steps)
    s = 1.0 / (w + 1) if start_factor is None else start_factor
    if not 0 < s <= 1:
        raise ValueError(f"start_factor must lie in (0, 1], got {start_factor}")
    ramp = schedule[0] * (s + (1.0 - s) * np.arange(w) / w)
    return np.concatenate([ramp, schedule])


def range_test_lrs(lr_min, lr_max, steps):
    """The learning rates of a range test: :math:`\\eta_t = \\eta_{\\min}
    (\\eta_{\\max}/\\eta_{\\min})^{t/(T-1)}`, growing by the same factor every step.

    Smith (2017) raises the learning rate linearly during one short run and reads the
    loss against it; the exponential ramp used here (as in fastai's ``lr_find``) gives
    every decade of learning rates the same number of steps. See :func:`read_range_test`.
    """
    _positive("lr_min", lr_min)
    if not (np.isfinite(lr_max) and lr_max > lr_min):
        raise ValueError(f"lr_max must be larger than lr_min, got {lr_max}")
    t = _check(lr_min, steps)
    if t.size < 2:
        raise ValueError(f"a range test needs at least 2 steps, got {steps}")
    return lr_min * (lr_max / lr_min) ** (t / (t.size - 1))


class RangeTest(NamedTuple):
    """What a learning-rate range test reads off its loss-against-lr curve."""

    lrs: np.ndarray  #: the learning rates up to where the test stopped
    smoothed: np.ndarray  #: the bias-corrected moving average of the loss at each
    steepest: float  #: the lr where the smoothed loss falls fastest per decade of lr
    minimum: float  #: the lr where the smoothed loss is lowest
    diverged_at: float | None  #: the lr at which the smoothed loss passed ``blowup`` x its minimum


def read_range_test(lrs, losses, smoothing=0.98, blowup=4.0):
    """Read a range test: ``losses[t]`` is the training loss after the step at ``lrs[t]``.

    The loss is smoothed by a bias-corrected exponential moving average
    :math:`\\bar\\ell_t = \\mathrm{ema}_t / (1 - \\beta^{t+1})` (:math:`\\beta` = ``smoothing``),
    and the curve ends where :math:`\\bar\\ell_t` exceeds ``blowup`` times its lowest
    value so far, or is not finite (fastai's stopping rule). Two suggestions come back:
    ``steepest``, where :math:`\\bar\\ell` falls fastest against :math:`\\log \\eta` (the
    start of Smith's useful range), and ``minimum``, the lr of the lowest smoothed loss
    (the usual advice is to train about ten times below it).
    """
    lrs = np.asarray(lrs, dtype=float)
    losses = np.asarray(losses, dtype=float)
    if lrs.ndim != 1 or lrs.shape != losses.shape or lrs.size < 3:
        raise ValueError("lrs and losses must be 1-D arrays of the same length, at least 3")
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must lie in [0, 1), got {smoothing}")
    if not blowup > 1:
        raise ValueError(f"blowup must be larger than 1, got {blowup}")
    average, smoothed = 0.0, np.empty_like(losses)
    for t, loss in enumerate(losses):
        average = smoothing * average + (1 - smoothing) * loss
        smoothed[t] = average / (1 - smoothing ** (t + 1))
    best_so_far = np.minimum.accumulate(np.where(np.isfinite(smoothed), smoothed, np.inf))
    blown = ~np.isfinite(smoothed) | (smoothed > blowup * best_so_far)
    end = int(np.argmax(blown)) if blown.any() else lrs.size
    if end < 3:
        raise ValueError("the loss blew up within the first steps: lower lr_min")
    kept, curve = lrs[:end], smoothed[:end]
    slope = np.gradient(curve, np.log10(kept))
    return RangeTest(
        lrs=kept,
        smoothed=curve,
        steepest=float(kept[np.argmin(slope)]),
        minimum=float(kept[np.argmin(curve)]),
        diverged_at=float(lrs[end]) if end < lrs.size else None,
    )


class ScheduledRun(NamedTuple):
    """A run that followed a schedule: the iterates and their exact losses."""

    path: np.ndarray  #: :math:`x_0, \\dots, x_T`, shape ``(T + 1, *batch, dim)``
    losses: np.ndarray  #: :math:`f(x_t)`, shape ``(T + 1, *batch)``


def run_with_schedule(make, landscape, x0, lrs, rng, batch_size=None, grad_transform=None,
                      evaluated=False):
    """Run ``make(lrs[t])`` at step ``t`` on ``landscape.stochastic_grad``.

    ``make(lr)`` returns a :mod:`book.optim` optimizer; its state carries over from step
    to step, since no optimizer keeps its learning rate in the state (torch's
    schedulers likewise only rewrite ``param_group["lr"]``). ``grad_transform`` (e.g.
    gradient clipping) is applied to each gradient before the step. ``x0`` may carry
    batch axes: independent runs, each with its own noise. With ``evaluated`` the path
    records, after each step, the point the optimizer would be evaluated at
    (`book.optim.eval_params`: Schedule-Free's average, Lookahead's slow weights; the
    parameters themselves for every other optimizer).
    """
    lrs = np.asarray(lrs, dtype=float)
    if lrs.ndim != 1 or lrs.size == 0:
        raise ValueError("lrs must be a non-empty 1-D array of learning rates, one per step")
    x = landscape.points(np.array(x0, dtype=float))
    rng = np.random.default_rng(rng)
    state = make(lrs[0]).init(x)
    path = [x]
    for lr in lrs:
        grad = landscape.stochastic_grad(x, rng, batch_size)
        if grad_transform is not None:
            grad = grad_transform(grad)
        opt = make(lr)
        x, state = opt.step(x, grad, state)
        path.append(optim.eval_params(opt, x, state) if evaluated else x)
    path = np.array(path)
    return ScheduledRun(path=path, losses=landscape.value(path))


def sgd_with_schedule(landscape, x0, lrs, rng, batch_size=None):
    """Plain SGD on ``landscape.stochastic_grad`` with learning rate ``lrs[t]`` at step ``t``.

    ``x0`` may carry batch axes (independent runs, each with its own noise). Returns the
    exact losses :math:`f(x_t)`, shape ``(len(lrs) + 1, *batch)``.
    """
    return run_with_schedule(optim.sgd, landscape, x0, lrs, rng, batch_size).losses


def sgd_expected_loss(landscape, x0, lrs, batch_size=None):
    """The expected loss :math:`\\mathbb E f(x_t) - f^*`, ``t = 0..T``, of SGD following ``lrs``
    on a :class:`~book.landscapes.NoisyQuadratic` from ``x0``.

    In each eigendirection (curvature :math:`\\lambda`) the mean error shrinks by
    :math:`1 - \\eta_t\\lambda` and the variance obeys
    :math:`V_{t+1} = (1-\\eta_t\\lambda)^2 V_t + \\eta_t^2\\sigma^2/B` from :math:`V_0 = 0`;
    :math:`\\mathbb E f - f^* = \\tfrac12 \\sum_i \\lambda_i (\\bar e_i^2 + V_i)`. With a
    constant :math:`\\eta` this is :func:`book.theory.sgd_expected_loss`.
    """
    lrs = np.asarray(lrs, dtype=float)[:, None]
    batch_size = landscape.batch_size if batch_size is None else batch_size
    curvature = landscape.eigenvalues
    contraction = 1.0 - lrs * curvature
    mean = landscape.rotation.T @ (np.asarray(x0, dtype=float) - landscape.minimizer)
    # Products of the contractions give the mean; the variance recursion is linear,
    # V_T = sum_t (prod_{s>t} c_s^2) eta_t^2 sigma^2/B, accumulated step by step.
    means = np.vstack([mean, mean * np.cumprod(contraction, axis=0)])
    variance = np.zeros((lrs.shape[0] + 1, curvature.size))
    noise = lrs**2 * landscape.noise_std**2 / batch_size
    for t in range(lrs.shape[0]):
        variance[t + 1] = contraction[t] ** 2 * variance[t] + noise[t]
    return 0.5 * (means**2 + variance) @ curvature
