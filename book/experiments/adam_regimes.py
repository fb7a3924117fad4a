"""What Adam's denominator measures, and the experiments of the Adam chapter built on it.

Adam divides by :math:`\\sqrt{\\hat v_t}`, a running root-mean-square of the gradients.
What that root mean square *is* depends on where the gradients come from:

- exact gradients that change slowly: :math:`|g|` itself, so Adam steps by about
  :math:`\\eta\\operatorname{sign}(g)` (sign descent);
- noisy gradients near a minimum, where the true gradient is small: the noise scale;
- noise whose covariance is the Hessian (per-example gradients of a well-specified
  model, whose covariance is the Fisher matrix): :math:`\\sqrt{\\operatorname{diag} H / B}`.

:func:`adam_moments` runs Adam on a landscape and keeps the bias-corrected moments;
:class:`HessianNoiseQuadratic` is the book's quadratic with noise of covariance
:math:`\\sigma^2 A / B`; :func:`noisy_best_learning_rate` extends
:func:`book.experiments.adaptive.best_learning_rate` (the AdaGrad chapter's race) to noisy
gradients, and :func:`regime_table` races Adam against SGD with the same momentum
over condition numbers, rotations and noise models.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from book import landscapes, optim, runner
from book.experiments import adaptive
from book.landscapes.base import StochasticLandscape, positive_integers
from book.landscapes.quadratic import Quadratic

__all__ = [
    "Moments",
    "adam_moments",
    "HessianNoiseQuadratic",
    "noisy_quadratic",
    "noisy_best_learning_rate",
    "regime_table",
    "adam_correction_rule",
]


class Moments(NamedTuple):
    """What :func:`adam_moments` recorded, each of shape ``(T, ..., dim)``.

    ``params`` holds the iterates :math:`x_0, \\dots, x_T` (shape ``(T + 1, ...)``),
    ``grads`` the gradient fed at each step, ``m_hat`` and ``v_hat`` the bias-corrected
    moments after it, and ``steps`` the updates :math:`x_t - x_{t-1}`.
    """

    params: np.ndarray
    grads: np.ndarray
    m_hat: np.ndarray
    v_hat: np.ndarray
    steps: np.ndarray


def adam_moments(opt, landscape, x0, steps, *, stochastic=False, rng=None):
    """Run the Adam optimizer ``opt`` on ``landscape`` and keep :math:`\\hat m_t` and :math:`\\hat v_t`.

    The bias corrections are applied here from the optimizer's own state (``exp_avg``,
    ``exp_avg_sq``, ``step``) with its ``betas``, so what is plotted is exactly what
    the step divides. ``stochastic`` feeds ``landscape.stochastic_grad`` with ``rng``
    (default ``landscape.make_rng()``).
    """
    beta1, beta2 = opt.hyperparams["betas"]
    x = landscape.points(np.array(x0, dtype=np.float64))
    if stochastic:
        rng = landscape.make_rng() if rng is None else np.random.default_rng(rng)
        gradient = lambda p: landscape.stochastic_grad(p, rng)  # noqa: E731
    elif rng is not None:
        raise ValueError("rng is used only with stochastic=True")
    else:
        gradient = landscape.grad
    state = opt.init(x)
    params, grads, m_hat, v_hat = [x], [], [], []
    for t in range(1, int(steps) + 1):
        g = gradient(x)
        x, state = opt.step(x, g, state)
        params.append(x)
        grads.append(g)
        m_hat.append(state.exp_avg / (1 - beta1**t))
        v_hat.append(state.exp_avg_sq / (1 - beta2**t))
    params = np.stack(params)
    return Moments(params, np.stack(grads), np.stack(m_hat), np.stack(v_hat), np.diff(params, axis=0))


class HessianNoiseQuadratic(StochasticLandscape, Quadratic):
    r"""The book's quadratic with gradient noise shaped like its Hessian.

    .. math:: \tilde g(x) = A(x - x^*) + \frac{\sigma}{\sqrt B}\, A^{1/2} z,
              \qquad z \sim \mathcal N(0, I),

    unbiased with covariance :math:`\sigma^2 A / B`. This is the noise of least squares
    :math:`\frac1{2n}\sum_i (a_i^\top x - y_i)^2` with targets of noise variance
    :math:`\sigma^2` near its minimum: there each example's gradient is
    :math:`-a_i \varepsilon_i`, of covariance :math:`\sigma^2\,\mathbb E[a a^\top] =
    \sigma^2 A`. Arguments: those of :class:`book.landscapes.NoisyQuadratic`.
    """

    def __init__(self, eigenvalues=None, kappa=None, angle=0.0, rotation=None, minimizer=None, dim=None, *,
                 noise_std=1.0, batch_size=1, seed=0):
        super().__init__(eigenvalues, kappa, angle, rotation, minimizer, dim)
        self.noise_std = float(noise_std)
        if not (np.isfinite(self.noise_std) and self.noise_std >= 0):
            raise ValueError(f"hessian_noise_quadratic: noise_std must be finite and >= 0, got {noise_std}")
        self.batch_size = positive_integers(batch_size)
        self.seed = seed
        self.sqrt_matrix = (self.rotation * np.sqrt(self.eigenvalues)) @ self.rotation.T
        self.name = f"quadratic with Hessian-shaped noise (kappa={self.kappa:g}, sigma={self.noise_std:g})"

    def _stochastic_grad(self, x, rng, batch_size):
        scale = self.noise_std / np.sqrt(batch_size)[..., None]
        grad = self._grad(x)
        z = rng.standard_normal(np.broadcast_shapes(grad.shape, scale.shape))
        return grad + scale * (z @ self.sqrt_matrix)


def noisy_quadratic(noise, kappa, angle, noise_std):
    """The quadratic of the regime table: ``noise`` is ``"none"``, ``"isotropic"`` or ``"hessian"``."""
    if noise == "none":
        return landscapes.quadratic(kappa=kappa, angle=angle)
    if noise == "isotropic":
        return landscapes.noisy_quadratic(kappa=kappa, angle=angle, noise_std=noise_std)
    if noise == "hessian":
        return HessianNoiseQuadratic(kappa=kappa, angle=angle, noise_std=noise_std)
    raise ValueError(f"noise must be 'none', 'isotropic' or 'hessian', got {noise!r}")


def noisy_best_learning_rate(make_opt, landscape, lrs, steps, tol, repeats=8, x0=None):
    """``(lr, steps)``: the learning rate of ``lrs`` whose *mean* gap settles within ``tol`` first.

    The stochastic counterpart of :func:`book.experiments.adaptive.best_learning_rate`: every
    learning rate runs ``repeats`` times with independent noise (one batched run), and
    its count is the step from which the gap averaged over the repeats,
    an estimate of :math:`\\mathbb E f(x_t) - f^*`, stays at or below ``tol`` until
    the end (``-1``: never). A landscape without ``stochastic_grad`` is raced with exact
    gradients by :func:`book.experiments.adaptive.best_learning_rate` itself.
    """
    if not hasattr(landscape, "stochastic_grad"):
        return adaptive.best_learning_rate(make_opt, landscape, lrs, steps, tol, x0)
    lrs = np.asarray(lrs, dtype=np.float64)
    if lrs.ndim != 1 or lrs.size == 0 or np.any(lrs <= 0):
        raise ValueError(f"lrs must be a non-empty 1-D array of positive numbers, got {lrs!r}")
    if int(repeats) < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    start = landscape.default_start if x0 is None else np.asarray(x0, dtype=np.float64)
    starts = np.broadcast_to(start, (lrs.size, int(repeats), landscape.dim))
    run = runner.trajectory(make_opt(lrs[:, None, None]), landscape, starts, steps, stochastic=True)
    with np.errstate(invalid="ignore", over="ignore"):  # diverged runs: inf and nan gaps never count
        within = run.gaps.mean(axis=-1) <= tol
    stays = np.flip(np.logical_and.accumulate(np.flip(within, 0), axis=0), 0)
    counts = np.where(stays.any(axis=0), stays.argmax(axis=0), -1)
    return adaptive.fastest(lrs, counts)


def regime_table(methods, kappas, angles, noises, lrs, steps, tol, noise_std, repeats=8):
    """Best-learning-rate step counts ``{(method, kappa, angle, noise): steps}`` (-1: never).

    ``methods`` maps names to ``make_opt(lr)``; ``angles`` are in degrees; ``noises``
    name the noise models of :func:`noisy_quadratic`.
    """
    counts = {}
    for noise in noises:
        for kappa in kappas:
            for angle in angles:
                bowl = noisy_quadratic(noise, kappa, np.radians(angle), noise_std)
                for name, make in methods.items():
                    counts[name, kappa, angle, noise] = noisy_best_learning_rate(
                        make, bowl, lrs, steps, tol, repeats)[1]
    return counts


def adam_correction_rule(grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, correct_m=True, correct_v=True):
    r"""Adam's updates on ``grads`` (shape ``(T, ...)``) with either bias correction left out.

    A rule in the sense of :mod:`book.experiments.adaptive`: it returns the updates
    :math:`\theta_t - \theta_{t-1}`. With both corrections it is torch's Adam; without
    them the step is :math:`\eta\, m_t / (\sqrt{v_t} + \epsilon)`.
    """
    grads = np.asarray(grads, dtype=np.float64)
    beta1, beta2 = betas
    m, v = adaptive._moments(grads, beta1, beta2)
    t = adaptive._step_numbers(grads)
    m_hat = m / (1 - beta1**t) if correct_m else m
    v_hat = v / (1 - beta2**t) if correct_v else v
    return -lr * m_hat / (np.sqrt(v_hat) + eps)
