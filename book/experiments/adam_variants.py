"""Experiments behind the chapters on Adam's failures and on NAdam and RAdam.

- :func:`online_counterexample` runs Adam or AMSGrad on the online problem of Reddi,
  Kale & Kumar (2018), where Adam's iterate settles at the worst point of the feasible
  set; :func:`average_regret` scores such a run.
- :func:`decay_under_noise` measures how much weight decay each coordinate really gets
  when its gradient is pure noise of a given scale: L2 regularisation inside Adam
  against AdamW's decoupled decay (Loshchilov & Hutter, 2019).
- :func:`nadam_momentum` is torch's NAdam momentum schedule, and :func:`nadam_constant`
  the rule of Dozat (2016) with a constant momentum, written out in NumPy.
- :func:`radam_rho`, :func:`radam_rectifier` and :func:`adaptive_lr_spread` are the
  quantities of RAdam's variance argument (Liu et al., 2020).

Rules follow the convention of :mod:`book.experiments.adaptive`: ``rule(grads)`` maps gradients of
shape ``(T, ...)`` to the updates ``theta_t - theta_{t-1}``, starting from zero moments.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from book import optim

__all__ = [
    "OnlineRun",
    "online_counterexample",
    "online_run",
    "average_regret",
    "decay_under_noise",
    "nadam_momentum",
    "nadam_constant",
    "radam_rho",
    "radam_rectifier",
    "adaptive_lr_spread",
]


class OnlineRun(NamedTuple):
    """The record of :func:`online_counterexample`: iterates ``x`` (``x_t`` is played
    before ``g_t`` is seen) and gradients ``g``, both of shape ``(T, *C.shape)``."""

    x: np.ndarray
    g: np.ndarray


def online_counterexample(C, steps, amsgrad, lr=0.5, beta1=0.0, beta2=None, period=3, eps=1e-8):
    r"""Adam (or AMSGrad) on the online problem of Reddi et al. (2018), Theorem 1.

    The losses are linear on the feasible set :math:`\mathcal F = [-1, 1]`:

    .. math:: f_t(x) = C x \ \text{ if } t \bmod \text{period} = 1, \qquad
              f_t(x) = -x \ \text{ otherwise},

    so with :math:`C > \text{period} - 1` the best fixed point is :math:`x = -1`. The
    step size decays as ``lr / sqrt(t)`` and each iterate is projected back onto
    :math:`\mathcal F` (clipped), as in the paper. ``beta2`` defaults to the paper's
    :math:`1/(1 + C^2)`. The optimizer is ``optim.adam`` (torch's rule, with bias
    correction and epsilon, which the paper's Adam does not have); its state carries
    over from step to step while the learning rate changes.

    ``C`` and ``beta2`` may be arrays: they broadcast together and every entry runs side
    by side. The run starts at ``x = 0``.
    """
    beta2 = 1.0 / (1.0 + np.asarray(C, dtype=np.float64) ** 2) if beta2 is None else beta2
    C, beta2 = np.broadcast_arrays(np.asarray(C, dtype=np.float64), np.asarray(beta2, dtype=np.float64))

    def make(step_size):
        return optim.adam(lr=step_size, betas=(beta1, beta2), eps=eps, amsgrad=amsgrad)

    return online_run(make, C, steps, lr=lr, period=period)


def online_run(make, C, steps, lr=0.5, period=3):
    r"""``make(lr)`` on the online problem of Reddi et al. (2018), Theorem 1 (see
    :func:`online_counterexample`, its Adam case), with the step size ``lr / sqrt(t)``
    and every iterate projected back onto :math:`[-1, 1]` (clipped).

    ``make(lr)`` returns a `book.optim` optimizer; its state carries over while the
    learning rate changes. ``C`` may be an array (its entries run side by side); each
    must exceed ``period - 1`` so that ``x = -1`` is the best fixed point. The run
    starts at ``x = 0``.
    """
    C = np.asarray(C, dtype=np.float64)
    if np.any(C <= period - 1):
        raise ValueError(f"C must exceed period - 1 = {period - 1} for x = -1 to be optimal, got {C}")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = np.zeros(C.shape)
    state = make(lr).init(x)
    xs, gs = np.empty((steps,) + C.shape), np.empty((steps,) + C.shape)
    for t in range(1, steps + 1):
        g = C if t % period == 1 else -np.ones(C.shape)
        xs[t - 1], gs[t - 1] = x, g
        x, state = make(lr / np.sqrt(t)).step(x, g, state)
        x = np.clip(x, -1.0, 1.0)
    return OnlineRun(xs, gs)


def average_regret(run):
    r"""Average regret :math:`R_t / t` after every step ``t`` of an :class:`OnlineRun`.

    :math:`R_t = \sum_{s \le t} f_s(x_s) - \min_{x \in [-1, 1]} \sum_{s \le t} f_s(x)`; for
    linear losses the minimum is :math:`-|\sum_s g_s|`.
    """
    t = np.arange(1, len(run.x) + 1).reshape((-1,) + (1,) * (run.x.ndim - 1))
    played = np.cumsum(run.g * run.x, axis=0)
    best = -np.abs(np.cumsum(run.g, axis=0))
    return (played - best) / t


def decay_under_noise(opt, scales, steps, runs=200, seed=0):
    r"""Mean parameter, per gradient scale, when the loss gradient is pure noise.

    Each coordinate starts at 1 and receives gradients :math:`s\,\xi_t` with
    :math:`\xi_t \sim \mathcal N(0, 1)`: the loss does not care about it, so the only
    systematic force is the weight decay of ``opt``. Averaged over ``runs``
    independent runs the noise cancels and what is left shows the decay each scale
    :math:`s` really gets. Returns the mean over runs, shape ``(steps + 1, len(scales))``.
    """
    scales = np.asarray(scales, dtype=np.float64)
    if scales.ndim != 1 or np.any(scales <= 0):
        raise ValueError(f"scales must be a 1-D array of positive numbers, got {scales}")
    rng = np.random.default_rng(seed)
    x = np.ones((runs, scales.size))
    state = opt.init(x)
    means = [x.mean(axis=0)]
    for _ in range(int(steps)):
        x, state = opt.step(x, scales * rng.standard_normal(x.shape), state)
        means.append(x.mean(axis=0))
    return np.stack(means)


def nadam_momentum(t, beta1=0.9, momentum_decay=4e-3):
    r"""torch's NAdam momentum at step ``t``: :math:`\mu_t = \beta_1(1 - \tfrac12\, 0.96^{t\psi})`.

    With :math:`\psi` = ``momentum_decay`` = 0.004 this is the schedule of Dozat's
    experiments, :math:`0.96^{t/250}`; it starts near :math:`\beta_1/2` and reaches
    :math:`\beta_1` only as :math:`t\psi \to \infty`.
    """
    return beta1 * (1.0 - 0.5 * 0.96 ** (np.asarray(t, dtype=np.float64) * momentum_decay))


def nadam_constant(grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
    r"""NAdam with a constant momentum :math:`\mu = \beta_1` (Dozat 2016, Algorithm 2):

    .. math:: \Delta_t = -\eta\, \frac{\frac{\mu\, m_t}{1-\mu^{t+1}} + \frac{(1-\mu)\, g_t}{1-\mu^t}}
              {\sqrt{v_t / (1-\beta_2^t)} + \epsilon}.

    The first term is the momentum one step ahead (its bias correction already counts
    the next step), the second the current gradient: Nesterov's look-ahead folded into
    Adam's update.
    """
    grads = np.asarray(grads, dtype=np.float64)
    mu, beta2 = betas
    m, v = np.zeros_like(grads[0]), np.zeros_like(grads[0])
    out = np.empty_like(grads)
    for t, g in enumerate(grads, start=1):
        m = mu * m + (1 - mu) * g
        v = beta2 * v + (1 - beta2) * g * g
        look_ahead = mu * m / (1 - mu ** (t + 1)) + (1 - mu) * g / (1 - mu**t)
        out[t - 1] = -lr * look_ahead / (np.sqrt(v / (1 - beta2**t)) + eps)
    return out


def radam_rho(t, beta2=0.999):
    r"""Length of RAdam's approximating simple moving average at step ``t``:

    .. math:: \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t},
              \qquad \rho_\infty = \frac{2}{1-\beta_2} - 1 .
    """
    t = np.asarray(t, dtype=np.float64)
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    return rho_inf - 2.0 * t * beta2**t / (1.0 - beta2**t)


def radam_rectifier(t, beta2=0.999, threshold=5.0):
    r"""RAdam's rectification term :math:`r_t` where :math:`\rho_t >` ``threshold``, NaN elsewhere.

    .. math:: r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}}

    torch uses ``threshold = 5``; the paper's Algorithm 2 uses 4.
    """
    rho = radam_rho(t, beta2)
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    defined = rho > threshold
    safe = np.where(defined, rho, 6.0)
    r = np.sqrt((safe - 4) * (safe - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe))
    return np.where(defined, r, np.nan)


def adaptive_lr_spread(steps, beta2=0.999, samples=20_000, seed=0):
    r"""Monte-Carlo variance of Adam's adaptive learning rate at steps ``1..steps``.

    The adaptive learning rate is :math:`\psi_t = 1/\sqrt{\hat v_t}` with
    :math:`\hat v_t = v_t / (1-\beta_2^t)`; for gradients drawn i.i.d. from
    :math:`\mathcal N(0, 1)` its variance is infinite at :math:`t = 1` (Liu et al.,
    2020), so this returns the variance of :math:`\psi_t` truncated at the 99th
    percentile, which is finite and comparable across steps. Shape ``(steps,)``.
    """
    rng = np.random.default_rng(seed)
    v = np.zeros(samples)
    spread = np.empty(int(steps))
    for t in range(1, int(steps) + 1):
        v = beta2 * v + (1 - beta2) * rng.standard_normal(samples) ** 2
        psi = 1.0 / np.sqrt(v / (1 - beta2**t))
        spread[t - 1] = np.var(np.minimum(psi, np.quantile(psi, 0.99)))
    return spread
