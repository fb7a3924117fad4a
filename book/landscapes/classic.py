"""The classic two-dimensional test functions of optimisation.

Each is a small closed form with a known difficulty: a curved valley (Rosenbrock), flat
plateaus and sharp ridges (Beale), a saddle point (``saddle``), several equal minima
(Himmelblau). All are defined on points ``(x, y)``; value, gradient and Hessian are
written out by hand and checked against finite differences in the tests.
"""

import numpy as np

from .base import Landscape, components, newton, symmetric_2x2

__all__ = ["Rosenbrock", "Beale", "Saddle", "Himmelblau", "rosenbrock", "beale", "saddle", "himmelblau"]


class Rosenbrock(Landscape):
    r"""Rosenbrock's banana valley (Rosenbrock, 1960).

    .. math:: f(x, y) = (a - x)^2 + b\,(y - x^2)^2

    The minimum :math:`f^* = 0` lies at :math:`(a, a^2)` at the bottom of a curved,
    nearly flat valley whose walls have curvature about :math:`2b`: easy to reach, slow
    to follow. The default start :math:`(-1.2, 1)` is Rosenbrock's own.

    Source: H. H. Rosenbrock, "An automatic method for finding the greatest or least
    value of a function", The Computer Journal 3(3), 175-184, 1960.
    """

    dim = 2

    def __init__(self, a=1.0, b=100.0):
        a, b = float(a), float(b)
        if not b > 0:
            raise ValueError(f"rosenbrock: b must be positive, got {b}")
        self.a, self.b = a, b
        self.name = "Rosenbrock" if (a, b) == (1.0, 100.0) else f"Rosenbrock(a={a:g}, b={b:g})"
        self.minimizers = np.array([[a, a * a]])
        self.min_value = 0.0
        self.default_start = np.array([-1.2, 1.0])
        self.plot_bounds = ((min(-2.0, a - 1.0), max(2.0, a + 1.0)), (min(-1.0, a * a - 1.0), max(3.0, a * a + 1.0)))

    def _value(self, p):
        x, y = p[..., 0], p[..., 1]
        return (self.a - x) ** 2 + self.b * (y - x * x) ** 2

    def _grad(self, p):
        x, y = p[..., 0], p[..., 1]
        valley = y - x * x
        return components(x.shape, 2.0 * (x - self.a) - 4.0 * self.b * x * valley, 2.0 * self.b * valley)

    def _hessian(self, p):
        x, y = p[..., 0], p[..., 1]
        hxx = 2.0 - 4.0 * self.b * y + 12.0 * self.b * x * x
        return symmetric_2x2(x.shape, hxx, -4.0 * self.b * x, 2.0 * self.b)


class Beale(Landscape):
    r"""Beale's function (Beale, 1958).

    .. math:: f(x, y) = \sum_{i=1}^{3} \bigl(c_i - x + x y^i\bigr)^2,
              \qquad c = (1.5,\ 2.25,\ 2.625)

    A sum of squared residuals :math:`r_i = c_i - x(1 - y^i)`, all zero at the global
    minimum :math:`(3, 1/2)`, :math:`f^* = 0`. The polynomial terms in :math:`y` make flat
    plateaus next to steep ridges along the edges of the usual window
    :math:`[-4.5, 4.5]^2`.

    Source: E. M. L. Beale, "On an iterative method for finding a local minimum of a
    function of more than one variable", Technical Report 25, Statistical Techniques
    Research Group, Princeton University, 1958.
    """

    dim = 2
    name = "Beale"
    _c = np.array([1.5, 2.25, 2.625])

    def __init__(self):
        self.minimizers = np.array([[3.0, 0.5]])
        self.min_value = 0.0
        self.default_start = np.array([1.0, 1.5])
        self.plot_bounds = ((-4.5, 4.5), (-4.5, 4.5))

    def _residuals(self, p):
        """Residuals r_i and the derivatives of y^i (i = 1, 2, 3) on a last axis of size 3."""
        x, y = p[..., 0, None], p[..., 1]
        y_pow = components(y.shape, y, y * y, y**3)
        dy_pow = components(y.shape, 1.0, 2.0 * y, 3.0 * y * y)
        ddy_pow = components(y.shape, 0.0, 2.0, 6.0 * y)
        residual = self._c - x * (1.0 - y_pow)
        return x, residual, y_pow - 1.0, x * dy_pow, dy_pow, ddy_pow

    def _value(self, p):
        _, r, _, _, _, _ = self._residuals(p)
        return np.sum(r * r, axis=-1)

    def _grad(self, p):
        _, r, r_x, r_y, _, _ = self._residuals(p)
        return components(p.shape[:-1], 2.0 * np.sum(r * r_x, axis=-1), 2.0 * np.sum(r * r_y, axis=-1))

    def _hessian(self, p):
        # Gauss-Newton part 2 J^T J plus the residual-weighted second derivatives:
        # r_xx = 0, r_xy = d(y^i)/dy, r_yy = x d2(y^i)/dy2.
        x, r, r_x, r_y, dy_pow, ddy_pow = self._residuals(p)
        hxx = 2.0 * np.sum(r_x * r_x, axis=-1)
        hxy = 2.0 * np.sum(r_x * r_y + r * dy_pow, axis=-1)
        hyy = 2.0 * np.sum(r_y * r_y + r * x * ddy_pow, axis=-1)
        return symmetric_2x2(p.shape[:-1], hxx, hxy, hyy)


class Saddle(Landscape):
    r"""A saddle point at the origin, in three variants.

    ``kind="quartic"`` (default, bounded below):
        :math:`f(x, y) = x^2 + y^4/4 - y^2/2`. The origin is a strict saddle (Hessian
        :math:`\mathrm{diag}(2, -1)`); the minima are :math:`(0, \pm 1)` with
        :math:`f^* = -1/4`. A method started on the line :math:`y = 0` converges to the
        saddle; a small :math:`y` offset lets it escape at a rate set by the negative
        curvature.
    ``kind="quadratic"``:
        :math:`f(x, y) = x^2 - y^2`, the textbook saddle; unbounded below
        (:math:`f^* = -\infty`, no minimiser), so escaping runs diverge.
    ``kind="monkey"``:
        :math:`f(x, y) = x^3 - 3 x y^2`, the monkey saddle: a degenerate critical point
        (zero Hessian), where curvature-based methods see nothing; unbounded below.
    """

    dim = 2
    _kinds = ("quartic", "quadratic", "monkey")

    def __init__(self, kind="quartic"):
        if kind not in self._kinds:
            raise ValueError(f"saddle: kind must be one of {self._kinds}, got {kind!r}")
        self.kind = kind
        self.name = f"{kind} saddle"
        bounded = kind == "quartic"
        self.minimizers = np.array([[0.0, -1.0], [0.0, 1.0]]) if bounded else np.empty((0, 2))
        self.min_value = -0.25 if bounded else -np.inf
        self.default_start = np.array([1.5, 0.01])
        self.plot_bounds = ((-2.0, 2.0), (-2.0, 2.0))

    def _value(self, p):
        x, y = p[..., 0], p[..., 1]
        if self.kind == "quartic":
            return x * x + 0.25 * y**4 - 0.5 * y * y
        if self.kind == "quadratic":
            return x * x - y * y
        return x**3 - 3.0 * x * y * y

    def _grad(self, p):
        x, y = p[..., 0], p[..., 1]
        if self.kind == "quartic":
            return components(x.shape, 2.0 * x, y**3 - y)
        if self.kind == "quadratic":
            return components(x.shape, 2.0 * x, -2.0 * y)
        return components(x.shape, 3.0 * (x * x - y * y), -6.0 * x * y)

    def _hessian(self, p):
        x, y = p[..., 0], p[..., 1]
        if self.kind == "quartic":
            return symmetric_2x2(x.shape, 2.0, 0.0, 3.0 * y * y - 1.0)
        if self.kind == "quadratic":
            return symmetric_2x2(x.shape, 2.0, 0.0, -2.0)
        return symmetric_2x2(x.shape, 6.0 * x, -6.0 * y, -6.0 * x)


class Himmelblau(Landscape):
    r"""Himmelblau's function (Himmelblau, 1972).

    .. math:: f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2

    Four global minima with :math:`f^* = 0`: :math:`(3, 2)` and three irrational ones
    (found here by Newton's method from rough locations), one local maximum and four
    saddles. Which minimum a method reaches depends on its start and its dynamics.

    Source: D. M. Himmelblau, Applied Nonlinear Programming, McGraw-Hill, 1972.
    """

    dim = 2
    name = "Himmelblau"

    def __init__(self):
        rough = [[3.0, 2.0], [-2.8, 3.1], [-3.8, -3.3], [3.6, -1.8]]
        self.minimizers = newton(self, rough)
        self.min_value = 0.0
        self.default_start = np.array([0.0, 0.0])
        self.plot_bounds = ((-5.0, 5.0), (-5.0, 5.0))

    def _value(self, p):
        x, y = p[..., 0], p[..., 1]
        return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2

    def _grad(self, p):
        x, y = p[..., 0], p[..., 1]
        u, v = x * x + y - 11.0, x + y * y - 7.0
        return components(x.shape, 4.0 * x * u + 2.0 * v, 2.0 * u + 4.0 * y * v)

    def _hessian(self, p):
        x, y = p[..., 0], p[..., 1]
        u, v = x * x + y - 11.0, x + y * y - 7.0
        return symmetric_2x2(x.shape, 4.0 * u + 8.0 * x * x + 2.0, 4.0 * (x + y), 4.0 * v + 8.0 * y * y + 2.0)


rosenbrock = Rosenbrock
beale = Beale
saddle = Saddle
himmelblau = Himmelblau
