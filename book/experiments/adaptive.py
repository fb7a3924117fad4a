"""Experiments behind Part II of the book, the adaptive family.

The chapters on AdaGrad, RMSProp, Adam and AdaMax keep their cells short by calling
these functions. Two kinds live here:

- drivers: :func:`replay` feeds a fixed gradient sequence to a :mod:`book.optim`
  optimizer and keeps every state, so a page can plot the buffers (``sum``,
  ``exp_avg``, ``exp_avg_sq``, ``exp_inf``) step by step; :func:`lr_race`
  races a grid of learning rates on a landscape in one batched run, and
  :func:`check_step_claim` uses it to rerun a quoted "N steps" claim with stated settings;
- the conventions the chapters compare with torch's: Adam in Kingma & Ba's
  "epsilon-hat" form, Adam as optax documents it (optax is not a dependency of the
  book, so its rule is written out here from its documentation), AdaMax as the paper
  writes it (no epsilon), and AdaMax's Lp-norm family whose limit is the max recursion.

Conventions are written as *rules*: ``rule(grads)`` takes the gradients of shape
``(T, ...)`` and returns the parameter updates ``theta_t - theta_{t-1}`` of the same shape,
starting from zero moments. Updates, not parameters, are compared, because a parameter
is dominated by its starting value.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from book import runner

__all__ = [
    "Replay",
    "replay",
    "updates",
    "lr_race",
    "fastest",
    "best_learning_rate",
    "StepClaim",
    "check_step_claim",
    "adam_eps_hat",
    "adam_optax",
    "adamax_paper",
    "lp_moment",
    "count_label",
    "markdown_table",
]


class Replay(NamedTuple):
    """What :func:`replay` recorded.

    ``params`` has shape ``(T + 1, ...)`` (the start first); ``buffers`` maps each state
    array torch names (``exp_avg``, ``sum``, ...) to its values after each step,
    shape ``(T, ...)``.
    """

    params: np.ndarray
    buffers: dict


def replay(opt, grads, x0=None):
    """Run ``opt`` on a given gradient sequence ``grads`` of shape ``(T, ...)``.

    The gradients do not depend on the parameters, which isolates what the optimizer
    does with a stream of numbers from where the stream comes from. ``x0`` defaults
    to zeros. Returns a :class:`Replay`.
    """
    grads = np.asarray(grads, dtype=np.float64)
    if grads.ndim < 1 or grads.shape[0] < 1:
        raise ValueError(f"grads must have shape (T, ...) with T >= 1, got {grads.shape}")
    x = np.zeros(grads.shape[1:]) if x0 is None else np.array(x0, dtype=np.float64)
    if x.shape != grads.shape[1:]:
        raise ValueError(f"x0 has shape {x.shape} but each gradient has shape {grads.shape[1:]}")
    state = opt.init(x)
    params, states = [x], []
    for g in grads:
        x, state = opt.step(x, g, state)
        params.append(x)
        states.append(state)
    names = [name for name, value in states[0]._asdict().items() if isinstance(value, np.ndarray)]
    buffers = {name: np.stack([getattr(s, name) for s in states]) for name in names}
    return Replay(np.stack(params), buffers)


def updates(params):
    """Per-step updates ``theta_t - theta_{t-1}`` of a path of shape ``(T + 1, ...)``."""
    return np.diff(np.asarray(params), axis=0)


def lr_race(make_opt, landscape, lrs, steps, x0=None):
    """Run ``make_opt(lr)`` for every learning rate in ``lrs`` from one start, in one batch.

    ``lr`` reaches ``make_opt`` as a column of shape ``(n, 1)``; ``x0`` defaults to the
    landscape's ``default_start``. Returns the :class:`book.runner.Trajectory`, whose
    ``steps_to(tol)`` gives each learning rate's step from which ``f - f* <= tol`` holds
    (-1 if the final gap is above it, which includes diverged runs).
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    if lrs.ndim != 1 or lrs.size == 0 or np.any(lrs <= 0):
        raise ValueError(f"lrs must be a non-empty 1-D array of positive numbers, got {lrs!r}")
    start = landscape.default_start if x0 is None else np.asarray(x0, dtype=np.float64)
    starts = np.broadcast_to(start, (lrs.size, landscape.dim))
    return runner.trajectory(make_opt(lrs[:, None]), landscape, starts, steps)


def fastest(lrs, counts):
    """``(lr, steps)`` of the smallest non-negative count; ``(nan, -1)`` if every count is -1."""
    counts = np.asarray(counts)
    arrived = counts >= 0
    if not arrived.any():
        return float("nan"), -1
    best = np.flatnonzero(arrived)[np.argmin(counts[arrived])]
    return float(np.asarray(lrs)[best]), int(counts[best])


def best_learning_rate(make_opt, landscape, lrs, steps, tol, x0=None):
    """``(lr, steps)`` of the learning rate in ``lrs`` that settles within ``f - f* <= tol`` first."""
    return fastest(lrs, lr_race(make_opt, landscape, lrs, steps, x0).steps_to(tol))


class StepClaim(NamedTuple):
    """The outcome of :func:`check_step_claim`.

    ``counts[method, tol]``: steps to the tolerance at each shared learning rate (-1:
    never); ``best[method, tol]``: ``(lr, steps)`` of the fastest learning rate of the
    grid; ``matches[method]``: the settings ``(lr, tol)`` whose count meets the quoted
    one; ``reproduced``: whether one setting meets the quoted count of every method.
    """

    counts: dict
    best: dict
    matches: dict
    reproduced: bool


def check_step_claim(claimed, methods, landscape, shared_lrs, grid, steps, tols, factor=2.0, x0=None):
    """Rerun a quoted claim "method A needs about N steps on this landscape".

    ``claimed`` maps each method to its quoted count and ``methods`` maps it to
    ``make_opt(lr)``. Every method runs once at the ``shared_lrs`` and once over the
    learning-rate ``grid`` (batched runs of ``steps`` steps from ``x0``), and its steps to
    each tolerance of ``tols`` are read off both. A count *meets* a quoted one when it lies
    within a factor ``factor`` of it; the claim is reproduced when one setting (a shared
    learning rate and a tolerance) meets every method's quoted count at once.
    """
    if set(claimed) != set(methods):
        raise ValueError(f"claimed and methods must name the same methods: {sorted(claimed)} vs {sorted(methods)}")
    if not factor >= 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    shared_lrs = np.asarray(shared_lrs, dtype=np.float64)
    counts, best = {}, {}
    for name, make in methods.items():
        shared_run = lr_race(make, landscape, shared_lrs, steps, x0)
        grid_run = lr_race(make, landscape, grid, steps, x0)
        for tol in tols:
            counts[name, tol] = shared_run.steps_to(tol)
            best[name, tol] = fastest(grid, grid_run.steps_to(tol))
    settings = [(k, tol) for k in range(shared_lrs.size) for tol in tols]

    def meets(name, k, tol):
        count = counts[name, tol][k]
        return count >= 0 and claimed[name] / factor <= count <= claimed[name] * factor

    matches = {name: [(float(shared_lrs[k]), tol) for k, tol in settings if meets(name, k, tol)]
               for name in methods}
    reproduced = any(all(meets(name, k, tol) for name in methods) for k, tol in settings)
    return StepClaim(counts, best, matches, reproduced)


# --- other conventions, as rules: gradients (T, ...) -> updates (T, ...) ----------------


def _moments(grads, beta1, beta2):
    """Adam's raw moments m_t, v_t after each step, from zero."""
    m, v = np.zeros_like(grads[0]), np.zeros_like(grads[0])
    ms, vs = [], []
    for g in grads:
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        ms.append(m)
        vs.append(v)
    return np.stack(ms), np.stack(vs)


def _step_numbers(grads):
    """1, 2, ..., T shaped to broadcast against ``grads``."""
    return np.arange(1, len(grads) + 1).reshape((-1,) + (1,) * (grads.ndim - 1))


def adam_eps_hat(grads, lr=1e-3, betas=(0.9, 0.999), eps_hat=1e-8):
    r"""Adam in the efficient form of Kingma & Ba (2015), Section 2:

    .. math:: \alpha_t = \alpha \sqrt{1-\beta_2^t} / (1-\beta_1^t), \qquad
              \Delta_t = -\alpha_t\, m_t / (\sqrt{v_t} + \hat\epsilon).

    It equals torch's Adam exactly when :math:`\hat\epsilon = \epsilon\sqrt{1-\beta_2^t}`;
    with a constant :math:`\hat\epsilon` the two differ where :math:`\sqrt{v_t}` is
    comparable to epsilon, i.e. for tiny gradients.
    """
    grads = np.asarray(grads, dtype=np.float64)
    beta1, beta2 = betas
    m, v = _moments(grads, beta1, beta2)
    t = _step_numbers(grads)
    alpha_t = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return -alpha_t * m / (np.sqrt(v) + eps_hat)


def adam_optax(grads, learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0):
    r"""Adam as optax documents ``optax.adam`` (``scale_by_adam`` then ``-learning_rate``):

    .. math:: \hat m_t = m_t / (1-b_1^t), \quad \hat v_t = v_t / (1-b_2^t), \quad
              \Delta_t = -\eta\, \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon).

    Written from optax's documented formula, not imported (optax is not installed).
    """
    grads = np.asarray(grads, dtype=np.float64)
    m, v = _moments(grads, b1, b2)
    t = _step_numbers(grads)
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    return -learning_rate * m_hat / (np.sqrt(v_hat + eps_root) + eps)


def adamax_paper(grads, lr=2e-3, betas=(0.9, 0.999)):
    r"""AdaMax as Kingma & Ba (2015), Algorithm 2, write it: no epsilon anywhere.

    .. math:: u_t = \max(\beta_2 u_{t-1}, |g_t|), \qquad
              \Delta_t = -\frac{\alpha}{1-\beta_1^t}\, \frac{m_t}{u_t}.

    Where ``u_t = 0`` (all gradients so far exactly zero) the update is 0/0: NaN, as
    the paper's formula gives. torch adds epsilon inside the max to avoid it.
    """
    grads = np.asarray(grads, dtype=np.float64)
    beta1, beta2 = betas
    m, _ = _moments(grads, beta1, 0.0)
    u, us = np.zeros_like(grads[0]), []
    for g in grads:
        u = np.maximum(beta2 * u, np.abs(g))
        us.append(u)
    t = _step_numbers(grads)
    with np.errstate(invalid="ignore", divide="ignore"):
        return -lr / (1 - beta1**t) * m / np.stack(us)


def lp_moment(grads, beta2, p):
    r"""AdaMax's Lp-norm moment at every step (Kingma & Ba 2015, Section 7.1):

    .. math:: u_t^{(p)} = \Big((1-\beta_2^p) \sum_{i \le t} \beta_2^{p(t-i)} |g_i|^p\Big)^{1/p}.

    ``p = 2`` gives :math:`\sqrt{v_t}` of Adam run with :math:`\beta_2^2`; as
    :math:`p \to \infty` it tends to :math:`\max_i \beta_2^{t-i} |g_i|`. Computed with
    the largest term factored out, so large ``p`` does not overflow.
    """
    grads = np.abs(np.asarray(grads, dtype=np.float64))
    if p < 1:
        raise ValueError(f"p must be >= 1, got {p}")
    t = _step_numbers(grads)
    out = np.empty_like(grads)
    for k in range(len(grads)):
        weighted = grads[: k + 1] * beta2 ** (t[k] - t[: k + 1])
        top = weighted.max(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(top > 0, weighted / top, 0.0)
        out[k] = top * ((1 - beta2**p) * (ratio**p).sum(axis=0)) ** (1.0 / p)
    return out


def count_label(count, budget):
    """A step count for the text: the number, or "more than <budget>" for -1 (never)."""
    return str(int(count)) if count >= 0 else f"more than {budget}"


def markdown_table(header, rows, fmt="{:.3g}"):
    """A Markdown table (a string) of ``rows`` under ``header``; floats go through
    ``fmt``, everything else through ``str``. A ``|`` inside a cell (``|step|``) is
    escaped, or it would split the cell and the table would render as plain text."""
    def cell(value):
        text = fmt.format(value) if isinstance(value, (float, np.floating)) else str(value)
        return text.replace("|", "\\|")
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
