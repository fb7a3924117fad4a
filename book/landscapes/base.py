"""The interface every test function of the book shares.

A landscape is a differentiable function :math:`f: \\mathbb{R}^n \\to \\mathbb{R}` with its
gradient and Hessian written out in NumPy. All three are vectorised over leading axes:
for ``x`` of shape ``(..., dim)``, ``value(x)`` has shape ``(...)``, ``grad(x)`` has shape
``(..., dim)`` and ``hessian(x)`` has shape ``(..., dim, dim)``. One call therefore
evaluates a whole batch of starts, a trajectory, or a plotting grid.
"""

import numpy as np

__all__ = ["Landscape", "StochasticLandscape", "components", "symmetric_2x2", "newton", "positive_integers"]


class Landscape:
    """Base class: input checking and the shared attributes of a test function.

    Subclasses set the attributes below in ``__init__`` and implement ``_value``,
    ``_grad`` and ``_hessian`` on already-checked float arrays.

    Attributes:
        name: a short human-readable name (used in legends and error messages).
        dim: the size of the last axis of every point.
        minimizers: known global minimisers, shape ``(k, dim)`` (``k = 0`` when the
            function is unbounded below).
        min_value: the global minimum :math:`f^*` (``-inf`` when unbounded below).
        default_start: a start, shape ``(dim,)``, that shows the function's difficulty.
        plot_bounds: ``((xmin, xmax), (ymin, ymax))`` for 2-D landscapes, else ``None``.
    """

    plot_bounds = None

    def points(self, x):
        """Return ``x`` as a float array of shape ``(..., dim)``, or raise ``ValueError``."""
        x = np.asarray(x)
        if x.dtype.kind in "biu":
            x = x.astype(np.float64)
        elif x.dtype.kind != "f":
            raise ValueError(f"{self.name}: points must be real numbers, got dtype {x.dtype}")
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(
                f"{self.name}: points must have shape (..., {self.dim}), got shape {x.shape}"
            )
        return x

    def value(self, x):
        """Function value, shape ``(...)`` for ``x`` of shape ``(..., dim)``."""
        return self._value(self.points(x))

    def grad(self, x):
        """Gradient, shape ``(..., dim)``."""
        return self._grad(self.points(x))

    def hessian(self, x):
        """Hessian matrix, shape ``(..., dim, dim)``."""
        return self._hessian(self.points(x))

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}, dim={self.dim}>"


def components(shape, *parts):
    """Stack ``parts`` (arrays broadcasting to ``shape``, or scalars) along a new last axis.

    Faster than ``np.stack`` on the small arrays of an optimizer race, and it broadcasts
    constant entries (a Hessian's ``2 b``) for free.
    """
    out = np.empty(shape + (len(parts),))
    for i, part in enumerate(parts):
        out[..., i] = part
    return out


def symmetric_2x2(shape, xx, xy, yy):
    """Hessians of 2-D landscapes, shape ``shape + (2, 2)``, from their three entries."""
    return components(shape, xx, xy, xy, yy).reshape(shape + (2, 2))


def newton(landscape, x, steps=50):
    """Refine approximate stationary points ``x`` of shape ``(k, dim)`` with Newton's method.

    Used to turn a rough location of a minimum into one exact to rounding, so that
    ``minimizers`` is computed, not copied from a table.
    """
    x = np.array(x, dtype=np.float64)
    for _ in range(steps):
        step = np.linalg.solve(landscape.hessian(x), landscape.grad(x)[..., None])[..., 0]
        x = x - step
        if np.all(np.abs(step) <= 1e-15 * (1.0 + np.abs(x))):
            break
    return x


class StochasticLandscape(Landscape):
    """A landscape that also has minibatch gradients: ``stochastic_grad(x, rng, batch_size)``.

    ``batch_size`` is the default minibatch size: an int, or (where a subclass allows
    it) an array broadcasting against the batch axes ``x.shape[:-1]``. ``seed`` makes
    runs reproducible: :meth:`make_rng` returns a fresh generator seeded
    with it, which :func:`book.runner.trajectory` uses when it is given no ``rng``.
    Subclasses implement ``_stochastic_grad(x, rng, batch_size)``.
    """

    def make_rng(self):
        """A new ``numpy.random.Generator`` seeded with this landscape's ``seed``."""
        return np.random.default_rng(self.seed)

    def stochastic_grad(self, x, rng, batch_size=None):
        """A noisy, unbiased estimate of ``grad(x)`` from a minibatch of ``batch_size``.

        ``rng`` is a ``numpy.random.Generator`` (or an int seed); ``batch_size`` defaults
        to the one given at construction. Each point of a batch ``x`` of shape
        ``(..., dim)`` gets independent noise.
        """
        batch_size = self.batch_size if batch_size is None else batch_size
        return self._stochastic_grad(self.points(x), np.random.default_rng(rng), positive_integers(batch_size))


def positive_integers(batch_size):
    """Check that ``batch_size`` holds integers >= 1 and return it as an int array."""
    sizes = np.asarray(batch_size)
    if sizes.dtype.kind not in "biuf" or not np.all(np.isfinite(sizes) & (sizes >= 1) & (sizes == np.round(sizes))):
        raise ValueError(f"batch_size must be an integer >= 1 (or an array of them), got {batch_size!r}")
    return sizes.astype(np.int64)
