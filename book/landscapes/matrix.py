r"""Landscapes whose parameters are matrices, for the optimizers that read a whole
matrix (Muon and its family).

They share the interface of :class:`MatrixLandscape`: ``value``, ``grad`` and ``hvp``
(the Hessian-vector product) take parameters shaped like ``default_start``, an array
``(..., m, n)`` or a dict of such arrays, and are vectorised over the leading axes;
``hessian`` builds the full matrix from ``hvp`` for small sizes. The parameters
plug straight into the book's optimizers: ``grad(params)`` has the structure
their ``step`` expects.

>>> from book import landscapes
>>> bowl = landscapes.kronecker_quadratic(3, 4, kappa_rows=10, kappa_cols=10)
>>> round(bowl.kappa)
100
"""

from collections.abc import Mapping

import numpy as np

__all__ = [
    "MatrixLandscape",
    "KroneckerQuadratic",
    "MatrixFactorization",
    "LeastSquaresLayer",
    "kronecker_quadratic",
    "matrix_factorization",
    "least_squares_layer",
]


def _orthogonal(size, rng):
    """A random orthogonal matrix (Haar: QR of a Gaussian with the signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(size, size)))
    return q * np.sign(np.diag(r))


def _log_spaced(kappa, size, what):
    kappa = float(kappa)
    if not (np.isfinite(kappa) and kappa >= 1):
        raise ValueError(f"{what} must be a finite number >= 1, got {kappa}")
    return np.geomspace(1.0, kappa, size)


def _positive_int(value, what):
    if int(value) != value or value < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
    return int(value)


def _inner(a, b):
    """Sum of the elementwise products over the two matrix axes."""
    return np.sum(a * b, axis=(-2, -1))


class MatrixLandscape:
    """Base class: parameter checking, the flat views used by ``hessian``, the repr.

    Subclasses set ``name``, ``shapes`` (``{key: (m, n)}``, or ``{None: (m, n)}`` for
    a single array), ``minimizer``, ``min_value`` and ``default_start``, and implement
    ``_value``, ``_grad`` and ``_hvp`` on checked parameters.

    Attributes:
        minimizer: a global minimiser, shaped like the parameters.
        min_value: the global minimum :math:`f^*`.
        kappa: the condition number of the Hessian at the minimiser, where it is
            positive definite (``inf`` where the minimum is not isolated).
    """

    def params(self, params):
        """``params`` as float arrays of the right shapes (``(..., m, n)``), or raise."""
        single = None in self.shapes
        if single == isinstance(params, Mapping):
            kind = "an array" if single else f"a dict with keys {sorted(self.shapes)}"
            raise ValueError(f"{self.name}: parameters must be {kind}, got {type(params).__name__}")
        given = {None: params} if single else params
        if set(given) != set(self.shapes):
            raise ValueError(f"{self.name}: parameters need the keys {sorted(self.shapes)}, got {sorted(given)}")
        checked = {}
        for key, shape in self.shapes.items():
            array = np.asarray(given[key], dtype=np.float64)
            if array.shape[-2:] != shape:
                label = "parameters" if key is None else f"parameters[{key!r}]"
                raise ValueError(f"{self.name}: {label} must have shape (..., {shape[0]}, {shape[1]}), got {array.shape}")
            checked[key] = array
        return checked[None] if single else checked

    def value(self, params):
        """The function value, shape ``(...)``."""
        return self._value(self.params(params))

    def grad(self, params):
        """The gradient, shaped like the parameters."""
        return self._grad(self.params(params))

    def hvp(self, params, direction):
        """The Hessian at ``params`` applied to ``direction`` (shaped like the parameters)."""
        return self._hvp(self.params(params), self.params(direction))

    def flatten(self, params):
        """One vector per leading index: the arrays' entries, row by row, key by key."""
        params = self.params(params)
        arrays = [params] if None in self.shapes else [params[key] for key in self.shapes]
        return np.concatenate([a.reshape(a.shape[:-2] + (-1,)) for a in arrays], axis=-1)

    def unflatten(self, vector):
        """The inverse of `flatten`."""
        vector = np.asarray(vector, dtype=np.float64)
        out, start = {}, 0
        for key, (m, n) in self.shapes.items():
            out[key] = vector[..., start : start + m * n].reshape(vector.shape[:-1] + (m, n))
            start += m * n
        return out[None] if None in self.shapes else out

    def hessian(self, params):
        """The full Hessian of the flattened parameters, built column by column from
        ``hvp`` (one point, small sizes only)."""
        point = self.flatten(params)
        if point.ndim != 1:
            raise ValueError(f"{self.name}: hessian takes one point, got a batch of shape {point.shape[:-1]}")
        basis = np.eye(point.size)
        columns = [self.flatten(self.hvp(self.unflatten(point), self.unflatten(e))) for e in basis]
        return np.stack(columns, axis=-1)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


class KroneckerQuadratic(MatrixLandscape):
    r"""The matrix ravine: a quadratic whose Hessian is a Kronecker product.

    .. math:: f(W) = \tfrac12 \operatorname{tr}\bigl((W - W^*)^\top A\,(W - W^*)\,B\bigr),
              \qquad \nabla f = A\,(W - W^*)\,B,
              \qquad \nabla^2 f = B \otimes A

    (the last on :math:`\mathrm{vec}(W)`, columns stacked; :math:`A \otimes B` on the
    rows stacked, as ``flatten`` does). :math:`A = R_A\,\mathrm{diag}(a)\,R_A^\top`
    (:math:`m \times m`) acts on the rows of :math:`W`, :math:`B = R_B\,
    \mathrm{diag}(b)\,R_B^\top` (:math:`n \times n`) on its columns; the Hessian's
    eigenvalues are the products :math:`a_i b_j`, so
    :math:`\kappa = \kappa_A\,\kappa_B`. Unrotated, the Hessian is diagonal and a
    per-entry (diagonal) preconditioner can undo it; rotated, it is not, while an
    update that is equivariant under :math:`W \mapsto U W V^\top` is unaffected.

    Args:
        m, n: the shape of :math:`W`.
        kappa_rows, kappa_cols: :math:`\kappa_A` and :math:`\kappa_B`; the spectra are
            log-spaced from 1 to each.
        rotate: whether :math:`R_A` and :math:`R_B` are random orthogonal matrices
            (drawn from ``seed``) or the identity.
        minimizer: :math:`W^*`, default zero.
        seed: for the rotations and the default start.
    """

    def __init__(self, m=4, n=6, kappa_rows=10.0, kappa_cols=10.0, rotate=True, minimizer=None, seed=0):
        m, n = _positive_int(m, "m"), _positive_int(n, "n")
        self.shapes = {None: (m, n)}
        self.row_eigenvalues = _log_spaced(kappa_rows, m, "kappa_rows")
        self.col_eigenvalues = _log_spaced(kappa_cols, n, "kappa_cols")
        rng = np.random.default_rng(seed)
        self.row_rotation = _orthogonal(m, rng) if rotate else np.eye(m)
        self.col_rotation = _orthogonal(n, rng) if rotate else np.eye(n)
        self.A = self._symmetric(self.row_rotation, self.row_eigenvalues)
        self.B = self._symmetric(self.col_rotation, self.col_eigenvalues)
        self.kappa = float(self.row_eigenvalues[-1] * self.col_eigenvalues[-1])
        self.name = f"Kronecker quadratic ({m}x{n}, kappa={self.kappa:g}{', rotated' if rotate else ''})"
        self.minimizer = np.zeros((m, n)) if minimizer is None else self.params(minimizer).copy()
        self.min_value = 0.0
        self.default_start = self.minimizer + rng.normal(size=(m, n))

    @staticmethod
    def _symmetric(rotation, eigenvalues):
        matrix = (rotation * eigenvalues) @ rotation.T
        return 0.5 * (matrix + matrix.T)

    def _value(self, w):
        d = w - self.minimizer
        return 0.5 * _inner(d, self.A @ d @ self.B)

    def _grad(self, w):
        return self.A @ (w - self.minimizer) @ self.B

    def _hvp(self, w, v):
        return np.broadcast_to(self.A @ v @ self.B, np.broadcast_shapes(w.shape, v.shape)).copy()


class LeastSquaresLayer(MatrixLandscape):
    r"""A linear layer fitted by least squares: the Kronecker quadratic of real data.

    .. math:: f(W) = \frac{1}{2N}\,\lVert X W - Y \rVert_F^2,
              \qquad \nabla f = \tfrac1N X^\top (XW - Y),
              \qquad \nabla^2 f = I_n \otimes \tfrac1N X^\top X

    over :math:`W` (``d_in`` x ``d_out``). The Hessian is the Kronecker quadratic's with
    :math:`A = X^\top X / N` and :math:`B = I`, so :math:`\kappa` is the condition
    number of the features' second-moment matrix. The data (from ``seed``): feature
    :math:`j` is Gaussian with scale :math:`s_j`, log-spaced from 1 to
    ``feature_scale`` (unnormalised inputs, :math:`\kappa \approx` ``feature_scale``
    squared), mixed by a random rotation when ``rotate``; :math:`Y = X W_{\rm true} +`
    Gaussian noise of standard deviation ``noise``. The minimiser is the
    least-squares solution (computed), the minimum its residual.
    """

    def __init__(self, n_samples=64, d_in=6, d_out=4, feature_scale=10.0, rotate=True, noise=0.1, seed=0):
        n_samples, d_in, d_out = (_positive_int(v, w) for v, w in [(n_samples, "n_samples"), (d_in, "d_in"), (d_out, "d_out")])
        if n_samples < d_in:
            raise ValueError(f"least_squares_layer: n_samples ({n_samples}) must be >= d_in ({d_in}) for a unique minimum")
        rng = np.random.default_rng(seed)
        scales = _log_spaced(feature_scale, d_in, "feature_scale")
        features = rng.normal(size=(n_samples, d_in)) * scales
        self.X = features @ _orthogonal(d_in, rng).T if rotate else features
        self.true_weights = rng.normal(size=(d_in, d_out))
        self.Y = self.X @ self.true_weights + noise * rng.normal(size=(n_samples, d_out))
        self.n_samples = n_samples
        self.shapes = {None: (d_in, d_out)}
        self.A = self.X.T @ self.X / n_samples
        eigenvalues = np.linalg.eigvalsh(self.A)
        self.kappa = float(eigenvalues[-1] / eigenvalues[0])
        self.minimizer = np.linalg.lstsq(self.X, self.Y, rcond=None)[0]
        self.min_value = float(self._value(self.minimizer))
        self.default_start = np.zeros((d_in, d_out))
        self.name = f"least-squares layer ({d_in}x{d_out}, kappa={self.kappa:.3g})"

    def _residual(self, w):
        return self.X @ w - self.Y

    def _value(self, w):
        return _inner(self._residual(w), self._residual(w)) / (2 * self.n_samples)

    def _grad(self, w):
        return self.X.T @ self._residual(w) / self.n_samples

    def _hvp(self, w, v):
        return np.broadcast_to(self.A @ v, np.broadcast_shapes(w.shape, v.shape)).copy()


class MatrixFactorization(MatrixLandscape):
    r"""Low-rank matrix factorisation: a non-convex landscape with a valley of minima.

    .. math:: f(U, V) = \tfrac12\,\lVert U V^\top - M \rVert_F^2,
              \qquad \nabla_U f = R V,\quad \nabla_V f = R^\top U,
              \quad R = U V^\top - M

    with parameters ``{"U": (m, r), "V": (n, r)}``. The Hessian-vector product along
    :math:`(\dot U, \dot V)` is :math:`((\dot U V^\top + U \dot V^\top) V + R \dot V,\;
    (\dot U V^\top + U \dot V^\top)^\top U + R^\top \dot U)`.

    The target :math:`M = P\,\mathrm{diag}(\sigma)\,Q^\top` (random orthonormal
    :math:`P, Q` from ``seed``) has ``target_rank`` singular values log-spaced from
    ``kappa`` down to 1. By Eckart–Young the minimum is half the sum of the squares of
    the singular values beyond the ``rank``-th (zero when ``rank >= target_rank``), at
    the balanced minimiser :math:`U = P_r \sigma_r^{1/2}`, :math:`V = Q_r
    \sigma_r^{1/2}`. Every :math:`(UG, VG^{-\top})` with invertible :math:`G` is a
    minimiser too, so the Hessian there is singular (``kappa`` is ``inf``).
    """

    def __init__(self, m=6, n=5, rank=2, target_rank=None, kappa=10.0, seed=0):
        m, n, rank = _positive_int(m, "m"), _positive_int(n, "n"), _positive_int(rank, "rank")
        target_rank = rank if target_rank is None else _positive_int(target_rank, "target_rank")
        if max(rank, target_rank) > min(m, n):
            raise ValueError(f"matrix_factorization: rank and target_rank must be <= min(m, n) = {min(m, n)}")
        rng = np.random.default_rng(seed)
        self.singular_values = _log_spaced(kappa, target_rank, "kappa")[::-1]
        left = np.linalg.qr(rng.normal(size=(m, target_rank)))[0]
        right = np.linalg.qr(rng.normal(size=(n, target_rank)))[0]
        self.M = (left * self.singular_values) @ right.T
        self.shapes = {"U": (m, rank), "V": (n, rank)}
        kept = min(rank, target_rank)
        root = np.sqrt(self.singular_values[:kept])
        self.minimizer = {"U": np.zeros((m, rank)), "V": np.zeros((n, rank))}
        self.minimizer["U"][:, :kept] = left[:, :kept] * root
        self.minimizer["V"][:, :kept] = right[:, :kept] * root
        self.min_value = 0.5 * float(np.sum(self.singular_values[kept:] ** 2))
        self.kappa = np.inf
        self.default_start = {"U": 0.1 * rng.normal(size=(m, rank)), "V": 0.1 * rng.normal(size=(n, rank))}
        self.name = f"matrix factorisation ({m}x{n}, rank {rank} of {target_rank})"

    def _residual(self, p):
        return p["U"] @ np.swapaxes(p["V"], -1, -2) - self.M

    def _value(self, p):
        r = self._residual(p)
        return 0.5 * _inner(r, r)

    def _grad(self, p):
        r = self._residual(p)
        return {"U": r @ p["V"], "V": np.swapaxes(r, -1, -2) @ p["U"]}

    def _hvp(self, p, d):
        r = self._residual(p)
        moved = d["U"] @ np.swapaxes(p["V"], -1, -2) + p["U"] @ np.swapaxes(d["V"], -1, -2)
        return {
            "U": moved @ p["V"] + r @ d["V"],
            "V": np.swapaxes(moved, -1, -2) @ p["U"] + np.swapaxes(r, -1, -2) @ d["U"],
        }


kronecker_quadratic = KroneckerQuadratic
matrix_factorization = MatrixFactorization
least_squares_layer = LeastSquaresLayer
