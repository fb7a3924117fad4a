"""Derivations of the book checked by computation: the pieces behind three sections.

- AdaGrad's square root (``chapters/adagrad.md``): Duchi, Hazan & Singer choose the
  diagonal preconditioner :math:`S` that minimises :math:`\\sum_t g_t^\\top S^{-1} g_t`
  under :math:`\\operatorname{tr} S \\le c`; the closed form is
  :func:`optimal_diagonal`, and :func:`minimise_diagonal` finds the minimum by a
  numerical search that does not use it, so the page can compare the two.
- Momentum under noise (``chapters/momentum.md``): :func:`momentum_noise_floor` is the
  stationary expected loss of the heavy ball on the noisy quadratic, and
  :func:`stationary_loss` measures it without storing a path.
- :func:`gradients_seen` runs an optimizer on a stochastic landscape and keeps the
  gradients it was fed.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "preconditioner_objective",
    "optimal_diagonal",
    "minimise_diagonal",
    "gradients_seen",
    "momentum_noise_floor",
    "momentum_variance_recursion",
    "stationary_loss",
]


def _squares(grads):
    grads = np.asarray(grads, dtype=np.float64)
    if grads.ndim != 2 or grads.shape[0] < 1:
        raise ValueError(f"grads must have shape (T, d) with T >= 1, got {grads.shape}")
    return np.sum(grads**2, axis=0)


def preconditioner_objective(grads, diagonal):
    """:math:`\\sum_t g_t^\\top \\operatorname{diag}(s)^{-1} g_t` for ``grads`` (T, d) and ``s`` (..., d)."""
    diagonal = np.asarray(diagonal, dtype=np.float64)
    if np.any(diagonal <= 0):
        raise ValueError("the diagonal of S must be positive")
    return np.sum(_squares(grads) / diagonal, axis=-1)


def optimal_diagonal(grads, trace=1.0):
    """The minimiser :math:`s_i = c\\,\\sqrt{G_i} / \\sum_j \\sqrt{G_j}`, :math:`G_i = \\sum_t g_{t,i}^2`."""
    if not trace > 0:
        raise ValueError(f"trace must be positive, got {trace}")
    root = np.sqrt(_squares(grads))
    if np.any(root == 0):
        raise ValueError("a coordinate whose gradients are all zero has no optimal s_i (it tends to 0)")
    return trace * root / root.sum()


def minimise_diagonal(grads, trace=1.0, tol=1e-9, max_steps=10_000):
    """Minimise :func:`preconditioner_objective` over positive diagonals with :math:`\\sum_i s_i = c`.

    A generic search that does not know the closed form: :math:`s = c\\,\\mathrm{softmax}(z)`
    (every such :math:`s` is feasible) and gradient descent on :math:`z` with a
    backtracking (Armijo) line search, from :math:`s` proportional to one, until the
    gradient's norm is below ``tol`` times the objective or no step lowers the value
    any more (a search over values finds a minimiser only to about the square root of
    the rounding error, since the objective is flat there). Returns ``(s, steps)``.
    """
    squares = _squares(grads)
    if not trace > 0:
        raise ValueError(f"trace must be positive, got {trace}")

    def objective(z):
        w = np.exp(z - z.max())
        with np.errstate(divide="ignore", over="ignore"):  # a wild trial step: inf, rejected
            return np.sum(squares / (trace * w / w.sum()))

    def gradient(z):
        w = np.exp(z - z.max())
        s = w / w.sum()
        # f(z) = (1/c) (sum_j w_j)(sum_i G_i / w_i); d f / d z_k = (1/c)(w_k sum_i G_i/w_i - G_k/w_k sum_j w_j)
        return (s * np.sum(squares / s) - squares / s) / trace

    z = np.zeros(squares.size)
    value, size = objective(z), 1.0
    for step in range(1, max_steps + 1):
        g = gradient(z)
        if np.linalg.norm(g) <= tol * value:
            return trace * np.exp(z - z.max()) / np.exp(z - z.max()).sum(), step - 1
        size *= 2.0  # try a longer step than the last accepted one, then backtrack
        while True:
            trial = z - size * g
            trial_value = objective(trial)
            if trial_value <= value - 0.5 * size * (g @ g):
                break
            size *= 0.5
            if size * np.linalg.norm(g) < 1e-15 * max(1.0, np.linalg.norm(z)):
                # No step that moves z in its last bits lowers the value: the search has
                # reached the rounding of the objective, which is flat at its minimum.
                return trace * np.exp(z - z.max()) / np.exp(z - z.max()).sum(), step - 1
        z, value = trial, trial_value
    raise RuntimeError(f"minimise_diagonal did not converge in {max_steps} steps")


def gradients_seen(opt, landscape, x0, steps, rng=None):
    """Run ``opt`` on ``landscape``'s stochastic gradients; return ``(grads, path)``.

    ``grads`` has shape ``(steps, dim)``: the minibatch gradients the optimizer was fed,
    in order; ``path`` has shape ``(steps + 1, dim)``. ``rng`` defaults to the
    landscape's own seeded generator.
    """
    rng = landscape.make_rng() if rng is None else np.random.default_rng(rng)
    x = np.array(x0, dtype=np.float64)
    state = opt.init(x)
    grads, path = [], [x]
    for _ in range(steps):
        g = landscape.stochastic_grad(x, rng)
        x, state = opt.step(x, g, state)
        grads.append(g)
        path.append(x)
    return np.array(grads), np.array(path)


def _check_heavy_ball(lr, beta, eigenvalues, batch_size):
    lr, beta = np.asarray(lr, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    if eigenvalues.ndim != 1 or np.any(eigenvalues <= 0):
        raise ValueError(f"eigenvalues must be a 1-D array of positive numbers, got {eigenvalues}")
    if np.any((beta < 0) | (beta >= 1)):
        raise ValueError(f"beta must lie in [0, 1), got {beta}")
    if np.any(lr <= 0):
        raise ValueError(f"lr must be positive, got {lr}")
    if np.any(lr * eigenvalues.max() >= 2 * (1 + beta)):
        raise ValueError("the heavy ball diverges on this quadratic: lr * lambda_max must stay below 2(1 + beta)")
    if np.any(np.asarray(batch_size) < 1):
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return lr[..., None], beta[..., None], eigenvalues


def momentum_noise_floor(lr, beta, eigenvalues, noise_std, batch_size):
    """Stationary expected loss of the heavy ball with noisy gradients on a quadratic.

    Per eigendirection the error is the AR(2) process
    :math:`e_{t+1} = (1+\\beta-\\eta\\lambda) e_t - \\beta e_{t-1} - \\eta\\xi_t`,
    :math:`\\operatorname{Var}\\xi = \\sigma^2/B`, whose stationary variance is

    .. math:: V = \\frac{(1+\\beta)\\,\\eta\\,\\sigma^2}{B\\,(1-\\beta)\\,\\lambda\\,(2(1+\\beta) - \\eta\\lambda)};

    the loss is :math:`\\tfrac12\\sum_i\\lambda_i V_i`. ``beta = 0`` gives SGD's floor
    (:func:`book.theory.sgd_noise_floor`). ``lr`` and ``beta`` broadcast.
    """
    lr, beta, eigenvalues = _check_heavy_ball(lr, beta, eigenvalues, batch_size)
    batch_size = np.asarray(batch_size, dtype=np.float64)[..., None]
    variance = (1 + beta) * lr * noise_std**2 / (
        batch_size * (1 - beta) * eigenvalues * (2 * (1 + beta) - lr * eigenvalues))
    return 0.5 * np.sum(eigenvalues * variance, axis=-1)


def momentum_variance_recursion(lr, beta, curvature, noise_std, batch_size, steps):
    """The variance of the heavy ball's error after ``steps`` steps, from the exact recursion.

    Propagates the 2x2 covariance of :math:`(e_t, e_{t-1})` through the linear map
    :math:`T_\\lambda` of the momentum chapter plus the noise :math:`\\eta^2\\sigma^2/B`,
    from zero; a check on :func:`momentum_noise_floor` that does not solve anything.
    """
    a = 1 + beta - lr * curvature
    transition = np.array([[a, -beta], [1.0, 0.0]])
    noise = np.array([[lr**2 * noise_std**2 / batch_size, 0.0], [0.0, 0.0]])
    cov = np.zeros((2, 2))
    for _ in range(steps):
        cov = transition @ cov @ transition.T + noise
    return cov[0, 0]


def stationary_loss(opt, landscape, x0, burn_in, steps, rng=None):
    """Mean of :math:`f(x_t) - f^*` over ``steps`` steps after ``burn_in``, per run of a batch.

    Runs ``opt`` on ``landscape.stochastic_grad`` from starts ``x0`` of shape
    ``(*batch, dim)`` without storing the path (a long race over many settings would not
    fit in memory). Returns an array of shape ``batch``; a run that diverges gives
    ``inf`` or ``nan``, without a warning.
    """
    rng = landscape.make_rng() if rng is None else np.random.default_rng(rng)
    x = np.array(x0, dtype=np.float64)
    state = opt.init(x)
    total = np.zeros(x.shape[:-1])
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run ends as inf or nan
        for t in range(burn_in + steps):
            x, state = opt.step(x, landscape.stochastic_grad(x, rng), state)
            if t >= burn_in:
                total += landscape.value(x) - landscape.min_value
    return total / steps
