"""Preconditioning: Newton's step, changes of variables and diagonal scaling, in NumPy.

The code behind the chapter *Preconditioning*. Preconditioned gradient descent with a
symmetric positive definite matrix :math:`P` is

.. math:: x_{t+1} = x_t - \\eta\\, P^{-1} \\nabla f(x_t),

which is plain gradient descent on :math:`y = P^{1/2} x` (:class:`ChangeOfVariables`).
On a quadratic with Hessian :math:`A` its speed is set by the condition number of
:math:`P^{-1/2} A P^{-1/2}` (:func:`preconditioned_kappa`); :math:`P = A` is Newton's
method, :math:`P = \\mathrm{diag}(A)` is Jacobi's diagonal scaling.

>>> import numpy as np
>>> from book import landscapes
>>> from book.experiments import preconditioning
>>> bowl = landscapes.quadratic(kappa=100, angle=np.pi / 4)
>>> round(preconditioning.preconditioned_kappa(bowl.matrix, preconditioning.jacobi(bowl.matrix)), 6)
100.0
"""

import numpy as np

from book.landscapes import Landscape

__all__ = [
    "condition_number",
    "inverse_sqrt",
    "preconditioned_matrix",
    "preconditioned_kappa",
    "jacobi",
    "jacobi_kappa",
    "best_diagonal_kappa",
    "best_lr",
    "newton_step",
    "preconditioned_gd",
    "ChangeOfVariables",
    "full_matrix_cost",
]


def _spd(matrix, what="matrix"):
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{what} must be a square matrix, got shape {matrix.shape}")
    if not np.allclose(matrix, matrix.T, rtol=1e-12, atol=0):
        raise ValueError(f"{what} must be symmetric")
    if np.linalg.eigvalsh(matrix).min() <= 0:
        raise ValueError(f"{what} must be positive definite")
    return 0.5 * (matrix + matrix.T)


def condition_number(matrix):
    """:math:`\\kappa = \\lambda_{\\max}/\\lambda_{\\min}` of a symmetric positive definite matrix."""
    eigenvalues = np.linalg.eigvalsh(_spd(matrix))
    return float(eigenvalues[-1] / eigenvalues[0])


def inverse_sqrt(matrix):
    """The symmetric :math:`P^{-1/2}` of a symmetric positive definite ``matrix``."""
    eigenvalues, vectors = np.linalg.eigh(_spd(matrix, "P"))
    return (vectors / np.sqrt(eigenvalues)) @ vectors.T


def preconditioned_matrix(A, P):
    """:math:`P^{-1/2} A P^{-1/2}`: the Hessian of the quadratic in the variables :math:`y = P^{1/2} x`.

    It is similar to :math:`P^{-1} A`, so it has the same eigenvalues.
    """
    root = inverse_sqrt(P)
    scaled = root @ _spd(A, "A") @ root
    return 0.5 * (scaled + scaled.T)


def preconditioned_kappa(A, P):
    """Condition number of :math:`P^{-1/2} A P^{-1/2}`, which sets preconditioned GD's rate."""
    return condition_number(preconditioned_matrix(A, P))


def jacobi(A):
    """Jacobi's diagonal preconditioner :math:`\\mathrm{diag}(A)` (as a matrix)."""
    return np.diag(np.diag(_spd(A, "A")))


def jacobi_kappa(kappa, angle):
    """Closed form of :math:`\\kappa(D A D)`, :math:`D = \\mathrm{diag}(A)^{-1/2}`, for the 2-D ravine.

    With eigenvalues :math:`(1, \\kappa)` turned by ``angle`` (radians), the scaled matrix
    has unit diagonal and off-diagonal :math:`r`, the correlation

    .. math:: r^2 = \\frac{\\cos^2\\varphi \\sin^2\\varphi\\, (\\kappa-1)^2}
              {(\\cos^2\\varphi + \\kappa\\sin^2\\varphi)(\\sin^2\\varphi + \\kappa\\cos^2\\varphi)},

    so its eigenvalues are :math:`1 \\pm |r|` and its condition number
    :math:`(1+|r|)/(1-|r|)`: 1 at :math:`\\varphi = 0`, :math:`\\kappa` at 45°.
    Broadcasts over ``kappa`` and ``angle``.
    """
    kappa, angle = np.broadcast_arrays(np.asarray(kappa, float), np.asarray(angle, float))
    c2, s2 = np.cos(angle) ** 2, np.sin(angle) ** 2
    r = np.sqrt(c2 * s2) * (kappa - 1.0) / np.sqrt((c2 + kappa * s2) * (s2 + kappa * c2))
    return (1.0 + r) / (1.0 - r)


def best_diagonal_kappa(A, ratios=None):
    """Smallest :math:`\\kappa(D A D)` over 2-D diagonal scalings :math:`D = \\mathrm{diag}(1, t)`.

    A scalar multiple of :math:`D` changes nothing, so one ratio ``t`` covers every
    diagonal preconditioner of a 2x2 matrix. Returns ``(kappa, t)`` at the best ``t`` of
    ``ratios`` (default: a log-spaced grid over twelve decades, refined around its best point).
    """
    A = _spd(A, "A")
    if A.shape != (2, 2):
        raise ValueError(f"best_diagonal_kappa searches 2x2 matrices, got shape {A.shape}")
    def kappas(t):
        a, b, c = A[0, 0], A[1, 1] * t**2, A[0, 1] * t
        half_trace, root = 0.5 * (a + b), np.sqrt((0.5 * (a - b)) ** 2 + c**2)
        return (half_trace + root) ** 2 / (a * b - c * c)  # lambda_max / (det / lambda_max)

    if ratios is None:  # a coarse grid, then a fine one around its best point
        coarse = np.geomspace(1e-6, 1e6, 20001)
        t = coarse[np.argmin(kappas(coarse))]
        ratios = np.concatenate([coarse, np.geomspace(t / 1.01, t * 1.01, 20001)])
    ratios = np.asarray(ratios, float)
    values = kappas(ratios)
    best = int(np.argmin(values))
    return float(values[best]), float(ratios[best])


def best_lr(A, P=None):
    """The best fixed learning rate :math:`2/(\\mu_{\\min}+\\mu_{\\max})` of (preconditioned) GD,
    where :math:`\\mu` are the eigenvalues of :math:`P^{-1}A` (of :math:`A` without ``P``)."""
    scaled = _spd(A, "A") if P is None else preconditioned_matrix(A, P)
    mu = np.linalg.eigvalsh(scaled)
    return float(2.0 / (mu[0] + mu[-1]))


def newton_step(landscape, x):
    """One Newton step :math:`x - \\nabla^2 f(x)^{-1} \\nabla f(x)` (batched over leading axes)."""
    x = landscape.points(x)
    return x - np.linalg.solve(landscape.hessian(x), landscape.grad(x)[..., None])[..., 0]


def preconditioned_gd(landscape, x0, P, lr, steps):
    """The path of :math:`x_{t+1} = x_t - \\eta P^{-1}\\nabla f(x_t)`, shape ``(steps + 1, dim)``.

    ``P`` is a symmetric positive definite ``(dim, dim)`` matrix; it is factorised once.
    """
    P = _spd(P, "P")
    factor = np.linalg.cholesky(P)
    x = np.array(landscape.points(x0), dtype=np.float64)
    path = [x]
    for _ in range(int(steps)):
        direction = np.linalg.solve(factor.T, np.linalg.solve(factor, landscape.grad(x)))
        x = x - lr * direction
        path.append(x)
    return np.array(path)


class ChangeOfVariables(Landscape):
    """``landscape`` seen in the variables :math:`y = P^{1/2} x`: :math:`g(y) = f(P^{-1/2} y)`.

    Gradient :math:`P^{-1/2}\\nabla f(x)`, Hessian :math:`P^{-1/2}\\nabla^2 f(x)P^{-1/2}`, so
    gradient descent on :math:`g` is preconditioned gradient descent on :math:`f`. For a
    diagonal :math:`P = \\mathrm{diag}(s^2)`, :math:`y = s \\odot x`: for a linear model
    whose features are divided by :math:`s`, these are its new weights. ``to_x`` and
    ``to_y`` map points between the two sets of variables.
    """

    def __init__(self, landscape, P):
        self.base = landscape
        self.dim = landscape.dim
        P = _spd(P, "P")
        if P.shape != (self.dim, self.dim):
            raise ValueError(f"P must have shape ({self.dim}, {self.dim}), got {P.shape}")
        eigenvalues, vectors = np.linalg.eigh(P)
        self.sqrt_p = (vectors * np.sqrt(eigenvalues)) @ vectors.T
        self.inv_sqrt_p = (vectors / np.sqrt(eigenvalues)) @ vectors.T
        self.name = f"{landscape.name}, rescaled"
        self.minimizers = self.to_y(landscape.minimizers)
        self.min_value = landscape.min_value
        self.default_start = self.to_y(landscape.default_start)
        if self.dim == 2 and landscape.plot_bounds is not None:
            (x0, x1), (y0, y1) = landscape.plot_bounds
            corners = self.to_y(np.array([[x0, y0], [x0, y1], [x1, y0], [x1, y1]]))
            self.plot_bounds = tuple((float(lo), float(hi)) for lo, hi in zip(corners.min(0), corners.max(0)))

    def to_y(self, x):
        """:math:`y = P^{1/2} x` for points ``x`` of shape ``(..., dim)``."""
        return np.asarray(x, dtype=np.float64) @ self.sqrt_p.T

    def to_x(self, y):
        """:math:`x = P^{-1/2} y` for points ``y`` of shape ``(..., dim)``."""
        return np.asarray(y, dtype=np.float64) @ self.inv_sqrt_p.T

    def _value(self, y):
        return self.base.value(self.to_x(y))

    def _grad(self, y):
        return self.base.grad(self.to_x(y)) @ self.inv_sqrt_p

    def _hessian(self, y):
        return self.inv_sqrt_p @ self.base.hessian(self.to_x(y)) @ self.inv_sqrt_p


def full_matrix_cost(d, bytes_per_number=4):
    """What one preconditioned step costs with a full and with a diagonal :math:`P`, for ``d`` parameters.

    Returns a dict: ``full_bytes`` (:math:`d^2` numbers), ``diagonal_bytes`` (:math:`d`),
    ``full_flops`` (a Cholesky factorisation, :math:`d^3/3` multiply-adds, plus the two
    triangular solves, :math:`d^2`) and ``diagonal_flops`` (:math:`d` divisions). Counts
    are exact integers (Python ints do not overflow).
    """
    d = int(d)
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    return {
        "full_bytes": d * d * bytes_per_number,
        "diagonal_bytes": d * bytes_per_number,
        "full_flops": d**3 // 3 + d * d,
        "diagonal_flops": d,
    }
