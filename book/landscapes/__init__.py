"""Test functions for optimizers, with value, gradient and Hessian in NumPy.

Every landscape shares the interface of :class:`Landscape` (``name``, ``dim``,
``value``, ``grad``, ``hessian``, ``minimizers``, ``min_value``, ``default_start``,
``plot_bounds``) and is vectorised over leading axes. The noisy quadratic and the
logistic regression add ``stochastic_grad(x, rng, batch_size)``. The matrix landscapes
(:class:`MatrixLandscape`: Kronecker quadratic, matrix factorisation, least-squares
layer) take matrix parameters and give ``value``, ``grad`` and ``hvp``.

>>> from book import landscapes
>>> bowl = landscapes.quadratic(kappa=50, angle=0.3)
>>> bowl.grad(bowl.minimizer).tolist()
[0.0, 0.0]
"""

from .base import Landscape, StochasticLandscape
from .classic import Beale, Himmelblau, Rosenbrock, Saddle, beale, himmelblau, rosenbrock, saddle
from .logistic import LogisticRegression, logistic_regression
from .matrix import (
    KroneckerQuadratic,
    LeastSquaresLayer,
    MatrixFactorization,
    MatrixLandscape,
    kronecker_quadratic,
    least_squares_layer,
    matrix_factorization,
)
from .quadratic import NoisyQuadratic, Quadratic, noisy_quadratic, quadratic

__all__ = [
    "Landscape",
    "StochasticLandscape",
    "Quadratic",
    "NoisyQuadratic",
    "Rosenbrock",
    "Beale",
    "Saddle",
    "Himmelblau",
    "LogisticRegression",
    "quadratic",
    "noisy_quadratic",
    "rosenbrock",
    "beale",
    "saddle",
    "himmelblau",
    "logistic_regression",
    "MatrixLandscape",
    "KroneckerQuadratic",
    "MatrixFactorization",
    "LeastSquaresLayer",
    "kronecker_quadratic",
    "matrix_factorization",
    "least_squares_layer",
]
