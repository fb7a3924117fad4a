"""Closed-form convergence theory of gradient descent and momentum on a quadratic.

On :math:`f(x) = \\tfrac12 x^\\top A x` with :math:`A` symmetric positive definite, every
method of Part I is linear, and it decouples along the eigenvectors of :math:`A`: in an
eigendirection with curvature :math:`\\lambda` the error obeys a scalar (gradient descent)
or two-term (momentum, Nesterov) recursion. Its worst factor over the spectrum is the
method's asymptotic rate: the error shrinks by that factor per step.

Gradient descent, :math:`x_{t+1} = x_t - \\eta A x_t`:
    factor :math:`|1 - \\eta\\lambda|`; stable iff :math:`\\eta < 2/\\lambda_{\\max}`;
    best fixed :math:`\\eta = 2/(\\lambda_{\\min}+\\lambda_{\\max})` gives
    :math:`(\\kappa-1)/(\\kappa+1)`.

Heavy ball (Polyak, 1964), :math:`x_{t+1} = x_t - \\eta A x_t + \\beta(x_t - x_{t-1})`:
    companion matrix :math:`\\begin{pmatrix}1+\\beta-\\eta\\lambda & -\\beta\\\\ 1 & 0
    \\end{pmatrix}`; stable iff :math:`0 \\le \\beta < 1` and
    :math:`\\eta\\lambda < 2(1+\\beta)`; best
    :math:`\\eta = 4/(\\sqrt{\\lambda_{\\max}}+\\sqrt{\\lambda_{\\min}})^2`,
    :math:`\\beta = ((\\sqrt\\kappa-1)/(\\sqrt\\kappa+1))^2` gives
    :math:`(\\sqrt\\kappa-1)/(\\sqrt\\kappa+1)`.

Nesterov (1983), :math:`y_t = x_t + \\beta(x_t - x_{t-1})`, :math:`x_{t+1} = y_t - \\eta A y_t`:
    the error pair has characteristic polynomial
    :math:`z^2 - (1+\\beta)(1-\\eta\\lambda) z + \\beta(1-\\eta\\lambda)`.

SGD with gradient noise of covariance :math:`(\\sigma^2/B) I` (minibatch size :math:`B`),
:math:`e_{t+1} = (1-\\eta\\lambda) e_t - \\eta\\xi_t` per eigendirection:
    the mean decays as for gradient descent while the variance settles at
    :math:`\\eta\\sigma^2 / (B\\lambda(2-\\eta\\lambda))`, so the expected loss stalls at the
    noise floor :math:`\\sum_i \\eta\\sigma^2 / (2B(2-\\eta\\lambda_i))`, proportional to
    :math:`\\eta/B` for small :math:`\\eta`.

All functions broadcast: ``lr`` and ``beta`` may be arrays (a grid of settings) and
``eigenvalues`` is a 1-D spectrum, reduced over its last axis.
"""

import numpy as np

__all__ = [
    "gd_factor",
    "gd_rate",
    "gd_stability_limit",
    "gd_optimal_lr",
    "gd_optimal_rate",
    "momentum_factor",
    "momentum_rate",
    "heavy_ball_stability_limit",
    "heavy_ball_optimal",
    "heavy_ball_optimal_rate",
    "steps_to_shrink",
    "sgd_expected_loss",
    "sgd_noise_floor",
]


def _spectrum(eigenvalues):
    eigenvalues = np.asarray(eigenvalues, dtype=float)
    if eigenvalues.ndim != 1 or eigenvalues.size == 0:
        raise ValueError("eigenvalues must be a non-empty 1-D array")
    if np.any(eigenvalues <= 0):
        raise ValueError(f"eigenvalues must be positive, got {eigenvalues}")
    return eigenvalues


def _min_max(eigenvalues):
    eigenvalues = _spectrum(eigenvalues)
    return eigenvalues.min(), eigenvalues.max()


def gd_factor(lr, curvature):
    """Per-step error factor :math:`|1-\\eta\\lambda|` of gradient descent along one eigendirection."""
    return np.abs(1.0 - np.asarray(lr, dtype=float) * np.asarray(curvature, dtype=float))


def gd_rate(lr, eigenvalues):
    """Asymptotic rate :math:`\\max_i |1-\\eta\\lambda_i|` of gradient descent (< 1 iff it converges)."""
    eigenvalues = _spectrum(eigenvalues)
    return gd_factor(np.asarray(lr, dtype=float)[..., None], eigenvalues).max(axis=-1)


def gd_stability_limit(lambda_max):
    """Largest stable learning rate :math:`2/\\lambda_{\\max}` (excluded)."""
    return 2.0 / float(lambda_max)


def gd_optimal_lr(eigenvalues):
    """The fixed learning rate :math:`2/(\\lambda_{\\min}+\\lambda_{\\max})` that minimises :func:`gd_rate`."""
    lam_min, lam_max = _min_max(eigenvalues)
    return 2.0 / (lam_min + lam_max)


def gd_optimal_rate(kappa):
    """Rate :math:`(\\kappa-1)/(\\kappa+1)` of gradient descent at its best fixed learning rate."""
    kappa = np.asarray(kappa, dtype=float)
    return (kappa - 1.0) / (kappa + 1.0)


def momentum_factor(lr, beta, curvature, nesterov=False):
    """Spectral radius of the 2x2 iteration of momentum along one eigendirection.

    The error pair :math:`(e_t, e_{t-1})` evolves by a companion matrix with
    characteristic polynomial :math:`z^2 - \\tau z + \\delta`: the heavy ball has
    :math:`\\tau = 1+\\beta-\\eta\\lambda`, :math:`\\delta = \\beta`; Nesterov has
    :math:`\\tau = (1+\\beta)(1-\\eta\\lambda)`, :math:`\\delta = \\beta(1-\\eta\\lambda)`.
    The result is the larger modulus of its two roots.
    """
    lr, beta, curvature = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (lr, beta, curvature)))
    step = 1.0 - lr * curvature
    if nesterov:
        tau, delta = (1.0 + beta) * step, beta * step
    else:
        tau, delta = 1.0 + beta - lr * curvature, beta
    # Complex arithmetic covers the under-damped case, where both roots have modulus
    # sqrt(delta) and the error spirals.
    root = np.sqrt((tau * tau - 4.0 * delta).astype(complex))
    return np.maximum(np.abs(tau + root), np.abs(tau - root)) / 2.0


def momentum_rate(lr, beta, eigenvalues, nesterov=False):
    """Asymptotic rate of heavy-ball (or Nesterov) momentum: the worst :func:`momentum_factor`."""
    eigenvalues = _spectrum(eigenvalues)
    lr = np.asarray(lr, dtype=float)[..., None]
    beta = np.asarray(beta, dtype=float)[..., None]
    return momentum_factor(lr, beta, eigenvalues, nesterov=nesterov).max(axis=-1)


def heavy_ball_stability_limit(beta, lambda_max):
    """Largest stable heavy-ball learning rate :math:`2(1+\\beta)/\\lambda_{\\max}` (excluded)."""
    return 2.0 * (1.0 + np.asarray(beta, dtype=float)) / float(lambda_max)


def heavy_ball_optimal(eigenvalues):
    """Polyak's optimal ``(lr, beta)`` for the heavy ball on this spectrum."""
    lam_min, lam_max = _min_max(eigenvalues)
    root_min, root_max = np.sqrt(lam_min), np.sqrt(lam_max)
    lr = 4.0 / (root_max + root_min) ** 2
    beta = ((root_max - root_min) / (root_max + root_min)) ** 2
    return lr, beta


def heavy_ball_optimal_rate(kappa):
    """Rate :math:`(\\sqrt\\kappa-1)/(\\sqrt\\kappa+1)` of the heavy ball at Polyak's setting."""
    root = np.sqrt(np.asarray(kappa, dtype=float))
    return (root - 1.0) / (root + 1.0)


def steps_to_shrink(rate, factor):
    """Steps :math:`\\lceil \\log(\\text{factor}) / \\log(\\text{rate}) \\rceil` for the error to shrink by ``factor``.

    ``factor`` is the target ratio (e.g. 1e-6); ``rate`` must lie in (0, 1).
    """
    rate = np.asarray(rate, dtype=float)
    if np.any((rate <= 0) | (rate >= 1)):
        raise ValueError(f"rate must lie in (0, 1), got {rate}")
    if not 0 < factor < 1:
        raise ValueError(f"factor must lie in (0, 1), got {factor}")
    return np.ceil(np.log(factor) / np.log(rate)).astype(int)


def sgd_expected_loss(lr, eigenvalues, noise_std, batch_size, start_error, steps):
    """Expected loss :math:`\\mathbb E f(x_t)`, ``t = 0..steps``, of constant-lr SGD on the noisy quadratic.

    ``start_error`` is :math:`x_0 - x^*` in eigen-coordinates (shape ``(dim,)``). Per
    eigendirection the squared mean shrinks by :math:`(1-\\eta\\lambda)^2` a step and the
    variance obeys :math:`V_{t+1} = (1-\\eta\\lambda)^2 V_t + \\eta^2\\sigma^2/B`, from
    :math:`V_0 = 0`; :math:`\\mathbb E f = \\tfrac12\\sum_i \\lambda_i(\\bar e_i^2 + V_i)`.
    """
    eigenvalues = _spectrum(eigenvalues)
    start_error = np.asarray(start_error, dtype=float)
    if start_error.shape != eigenvalues.shape:
        raise ValueError(f"start_error must have shape {eigenvalues.shape}, got {start_error.shape}")
    contraction = (1.0 - lr * eigenvalues) ** 2
    powers = contraction ** np.arange(steps + 1)[:, None]
    variance_floor = _variance_floor(lr, eigenvalues, noise_std, batch_size)
    per_direction = powers * start_error**2 + (1.0 - powers) * variance_floor
    return 0.5 * per_direction @ eigenvalues


def sgd_noise_floor(lr, eigenvalues, noise_std, batch_size):
    """Stationary expected loss :math:`\\sum_i \\eta\\sigma^2/(2B(2-\\eta\\lambda_i))` of constant-lr SGD."""
    eigenvalues = _spectrum(eigenvalues)
    lr = np.asarray(lr, dtype=float)[..., None]
    floor = _variance_floor(lr, eigenvalues, noise_std, np.asarray(batch_size)[..., None])
    return 0.5 * np.sum(floor * eigenvalues, axis=-1)


def _variance_floor(lr, eigenvalues, noise_std, batch_size):
    """Stationary variance :math:`\\eta\\sigma^2/(B\\lambda(2-\\eta\\lambda))` per eigendirection."""
    if np.any(np.asarray(lr) * eigenvalues.max() >= 2):
        raise ValueError("SGD diverges on this quadratic: lr * lambda_max must stay below 2")
    if np.any(np.asarray(batch_size) < 1):
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return lr * noise_std**2 / (batch_size * eigenvalues * (2.0 - lr * eigenvalues))
