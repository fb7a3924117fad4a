"""The book's spine: an ill-conditioned quadratic, exact and with noisy gradients."""

import numpy as np

from .base import Landscape, StochasticLandscape, positive_integers

__all__ = ["Quadratic", "NoisyQuadratic", "quadratic", "noisy_quadratic"]


def _spectrum(eigenvalues, kappa, dim):
    """The eigenvalues, from an explicit list or from a condition number."""
    if eigenvalues is not None and kappa is not None:
        raise ValueError("quadratic: give either eigenvalues or kappa, not both")
    if eigenvalues is not None:
        eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
        if eigenvalues.ndim != 1 or eigenvalues.size == 0:
            raise ValueError(f"quadratic: eigenvalues must be a non-empty 1-D list, got shape {eigenvalues.shape}")
        if not np.all(np.isfinite(eigenvalues) & (eigenvalues > 0)):
            raise ValueError(f"quadratic: eigenvalues must be finite and positive, got {eigenvalues}")
        if dim is not None and dim != eigenvalues.size:
            raise ValueError(f"quadratic: dim={dim} but {eigenvalues.size} eigenvalues were given")
        return eigenvalues
    kappa = 10.0 if kappa is None else float(kappa)
    if not (np.isfinite(kappa) and kappa >= 1):
        raise ValueError(f"quadratic: kappa must be a finite number >= 1, got {kappa}")
    dim = 2 if dim is None else int(dim)
    if dim < 1:
        raise ValueError(f"quadratic: dim must be >= 1, got {dim}")
    # Log-spaced from 1 to kappa: in 2-D simply (1, kappa).
    return np.geomspace(1.0, kappa, dim)


def _rotation(angle, rotation, dim):
    """The orthogonal matrix whose columns are the eigenvectors."""
    if rotation is not None:
        if angle:
            raise ValueError("quadratic: give either angle or rotation, not both")
        rotation = np.asarray(rotation, dtype=np.float64)
        if rotation.shape != (dim, dim):
            raise ValueError(f"quadratic: rotation must have shape ({dim}, {dim}), got {rotation.shape}")
        if not np.allclose(rotation.T @ rotation, np.eye(dim), rtol=0, atol=1e-10):
            raise ValueError("quadratic: rotation must be an orthogonal matrix (R^T R = I)")
        return rotation
    if angle:
        if dim != 2:
            raise ValueError(f"quadratic: angle rotates 2-D quadratics only; pass rotation= for dim={dim}")
        c, s = np.cos(angle), np.sin(angle)
        return np.array([[c, -s], [s, c]])
    return np.eye(dim)


class Quadratic(Landscape):
    r"""An ill-conditioned quadratic bowl.

    .. math:: f(x) = \tfrac12 (x - x^*)^\top A (x - x^*),
              \qquad A = R\,\mathrm{diag}(\lambda_1, \dots, \lambda_n)\,R^\top

    Its curvature is :math:`\lambda_i` along the :math:`i`-th column of :math:`R`, and
    :math:`\kappa = \lambda_{\max}/\lambda_{\min}` sets how long gradient descent takes.
    Gradient :math:`A(x - x^*)`, Hessian :math:`A`, minimum :math:`f(x^*) = 0`.

    Args:
        eigenvalues: the spectrum :math:`\lambda`, positive (sets ``dim``). Or:
        kappa: condition number >= 1; the spectrum is then log-spaced from 1 to
            ``kappa`` over ``dim`` values, i.e. :math:`(1, \kappa)` in 2-D. Default 10.
        angle: rotation of the eigenvectors in radians (2-D only).
        rotation: an orthogonal ``(dim, dim)`` matrix :math:`R` (any dimension).
        minimizer: :math:`x^*`, default the origin.
        dim: dimension when ``kappa`` is used (default 2).

    Attributes: ``eigenvalues``, ``kappa``, ``matrix`` (:math:`A`), ``rotation``,
    ``minimizer``, and the :class:`~book.landscapes.Landscape` ones. The default
    start lies far out along the flattest direction and a little along the others,
    so gradient descent zig-zags across the ravine while crawling along it.
    """

    def __init__(self, eigenvalues=None, kappa=None, angle=0.0, rotation=None, minimizer=None, dim=None):
        self.eigenvalues = _spectrum(eigenvalues, kappa, dim)
        self.dim = self.eigenvalues.size
        self.kappa = float(self.eigenvalues.max() / self.eigenvalues.min())
        self.rotation = _rotation(angle, rotation, self.dim)
        matrix = (self.rotation * self.eigenvalues) @ self.rotation.T
        self.matrix = 0.5 * (matrix + matrix.T)  # exactly symmetric despite rounding
        self.minimizer = np.zeros(self.dim) if minimizer is None else np.array(minimizer, dtype=np.float64)
        if self.minimizer.shape != (self.dim,):
            raise ValueError(f"quadratic: minimizer must have shape ({self.dim},), got {self.minimizer.shape}")
        self.minimizers = self.minimizer[None, :]
        self.min_value = 0.0
        self.name = f"quadratic (kappa={self.kappa:g})"
        offset = np.ones(self.dim)
        offset[np.argmin(self.eigenvalues)] = -4.0
        self.default_start = self.minimizer + self.rotation @ offset
        if self.dim == 2:
            self.plot_bounds = tuple((float(c) - 5.0, float(c) + 5.0) for c in self.minimizer)

    def _value(self, x):
        d = x - self.minimizer
        return 0.5 * np.sum(d * (d @ self.matrix), axis=-1)

    def _grad(self, x):
        return (x - self.minimizer) @ self.matrix

    def _hessian(self, x):
        return np.broadcast_to(self.matrix, x.shape + (self.dim,)).copy()


class NoisyQuadratic(StochasticLandscape, Quadratic):
    r"""The quadratic of :class:`Quadratic` with minibatch-like noisy gradients.

    ``value``, ``grad`` and ``hessian`` are the exact ones. The noise model: each
    example's gradient is the true gradient plus independent Gaussian noise
    :math:`\mathcal N(0, \sigma^2 I)`; a minibatch averages :math:`B` of them, so

    .. math:: \tilde g(x) = A(x - x^*) + \frac{\sigma}{\sqrt B}\,z,
              \qquad z \sim \mathcal N(0, I),

    unbiased with covariance :math:`\sigma^2 I / B`. The average is drawn in one step
    (its exact distribution), so large :math:`B` costs nothing. ``batch_size`` may be an
    array broadcasting against the batch axes ``x.shape[:-1]`` (e.g. shape ``(k,)`` with
    ``x`` of shape ``(k, dim)``: ``k`` batch sizes raced at once).

    Args: those of :class:`Quadratic`, plus ``noise_std`` (:math:`\sigma \ge 0`),
    ``batch_size`` (default :math:`B`) and ``seed`` (see :meth:`make_rng`).
    """

    def __init__(self, eigenvalues=None, kappa=None, angle=0.0, rotation=None, minimizer=None, dim=None, *,
                 noise_std=1.0, batch_size=1, seed=0):
        super().__init__(eigenvalues, kappa, angle, rotation, minimizer, dim)
        self.noise_std = float(noise_std)
        if not (np.isfinite(self.noise_std) and self.noise_std >= 0):
            raise ValueError(f"noisy_quadratic: noise_std must be finite and >= 0, got {noise_std}")
        self.batch_size = positive_integers(batch_size)
        self.seed = seed
        self.name = f"noisy quadratic (kappa={self.kappa:g}, sigma={self.noise_std:g})"

    def _stochastic_grad(self, x, rng, batch_size):
        scale = self.noise_std / np.sqrt(batch_size)[..., None]
        grad = self._grad(x)
        return grad + scale * rng.standard_normal(np.broadcast_shapes(grad.shape, scale.shape))


quadratic = Quadratic
noisy_quadratic = NoisyQuadratic
