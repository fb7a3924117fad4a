"""A small real model: L2-regularised logistic regression on a generated dataset."""

import functools

import numpy as np

from .base import StochasticLandscape, newton, positive_integers

__all__ = ["LogisticRegression", "logistic_regression"]


def _sigmoid(z):
    # tanh form: no overflow warning for large |z|.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# Bound on points x examples per evaluation: the logits of a long batched path over a
# large dataset would not fit in memory at once (8 MB per float64 temporary here).
LOGITS_PER_CHUNK = 1 << 20


def _chunked(method):
    """Evaluate ``method`` on at most ``LOGITS_PER_CHUNK // n_samples`` points at a time."""

    @functools.wraps(method)
    def evaluate(self, w):
        points = w.reshape(-1, self.dim)
        size = max(1, LOGITS_PER_CHUNK // self.n_samples)
        if len(points) <= size:
            return method(self, w)
        result = np.concatenate([method(self, points[i : i + size]) for i in range(0, len(points), size)])
        return result.reshape(w.shape[:-1] + result.shape[1:])

    return evaluate


def _single(batch_size):
    # Minibatches of different sizes would need ragged index arrays: one size per call.
    if batch_size.ndim:
        raise ValueError(f"logistic_regression: batch_size must be a single integer, got shape {batch_size.shape}")
    return int(batch_size)


class LogisticRegression(StochasticLandscape):
    r"""Mean logistic loss of a linear classifier, plus an L2 penalty, over its weights.

    .. math:: f(w) = \frac1n \sum_{i=1}^n \Bigl[\log\bigl(1 + e^{x_i^\top w}\bigr)
              - y_i\, x_i^\top w\Bigr] + \frac{\lambda}{2}\lVert w\rVert^2

    Gradient :math:`\frac1n X^\top(\sigma(Xw) - y) + \lambda w`; Hessian
    :math:`\frac1n X^\top \mathrm{diag}(\sigma(1-\sigma)) X + \lambda I`. With
    :math:`\lambda > 0` the function is strongly convex, so it has one minimiser; it is
    computed at construction by Newton's method (to rounding) and stored in
    ``minimizers``, its value in ``min_value``.

    The dataset (generated from ``seed``): features :math:`x_{ij} \sim \mathcal N(0,
    s_j^2)` with scales :math:`s_j` log-spaced from 1 to 10 by default, so the Hessian
    is ill-conditioned by roughly :math:`(s_{\max}/s_{\min})^2`, as in an unnormalised
    real dataset; labels :math:`y_i \sim \mathrm{Bernoulli}(\sigma(x_i^\top w_{\rm true}))`
    with :math:`w_{{\rm true}, j} = 3 u_j / s_j` for a random unit vector :math:`u`, so the
    true logits have standard deviation 3 whatever the scales. No intercept.

    ``stochastic_grad(w, rng, batch_size)`` is the same gradient on a minibatch of
    ``batch_size`` examples drawn uniformly *with replacement*, independently for each
    point of a batch ``w``: unbiased, with covariance exactly (per-example covariance)/B.

    Args:
        n_samples, n_features: dataset size (default 200 examples, 2 weights so the
            landscape can be drawn).
        l2: :math:`\lambda > 0`.
        feature_scales: the :math:`s_j`, positive, length ``n_features``.
        batch_size: the default minibatch size for ``stochastic_grad``.
        seed: seeds the dataset and :meth:`make_rng`.
    """

    def __init__(self, n_samples=200, n_features=2, l2=1e-2, feature_scales=None, batch_size=16, seed=0):
        self.n_samples, self.dim = int(n_samples), int(n_features)
        if self.n_samples < 1 or self.dim < 1 or (self.n_samples, self.dim) != (n_samples, n_features):
            raise ValueError(
                f"logistic_regression: n_samples and n_features must be integers >= 1, got {n_samples}, {n_features}"
            )
        self.l2 = float(l2)
        if not (np.isfinite(self.l2) and self.l2 > 0):
            raise ValueError(f"logistic_regression: l2 must be positive so that a minimum exists, got {l2}")
        scales = np.geomspace(1.0, 10.0, self.dim) if feature_scales is None else np.asarray(feature_scales, float)
        if scales.shape != (self.dim,) or not np.all(np.isfinite(scales) & (scales > 0)):
            raise ValueError(f"logistic_regression: feature_scales must be {self.dim} positive numbers, got {scales}")
        self.batch_size = _single(positive_integers(batch_size))
        self.seed = seed
        self.name = "logistic regression"

        data_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        self.features = data_rng.standard_normal((self.n_samples, self.dim)) * scales
        direction = data_rng.standard_normal(self.dim)
        true_weights = 3.0 * direction / np.linalg.norm(direction) / scales
        self.labels = (data_rng.random(self.n_samples) < _sigmoid(self.features @ true_weights)).astype(np.float64)

        self.minimizers = newton(self, np.zeros((1, self.dim)))
        if not np.all(np.isfinite(self.minimizers)) or np.max(np.abs(self.grad(self.minimizers))) > 1e-8:
            raise RuntimeError("logistic_regression: Newton's method did not converge; increase l2")
        self.min_value = float(self.value(self.minimizers[0]))
        self.default_start = np.zeros(self.dim)
        if self.dim == 2:
            radius = 2.0 * max(1.0, np.max(np.abs(self.minimizers)))
            self.plot_bounds = tuple((float(c - radius), float(c + radius)) for c in self.minimizers[0])

    @_chunked
    def _value(self, w):
        logits = w @ self.features.T
        data_loss = np.mean(np.logaddexp(0.0, logits) - self.labels * logits, axis=-1)
        return data_loss + 0.5 * self.l2 * np.sum(w * w, axis=-1)

    @_chunked
    def _grad(self, w):
        residual = _sigmoid(w @ self.features.T) - self.labels
        return residual @ self.features / self.n_samples + self.l2 * w

    @_chunked
    def _hessian(self, w):
        p = _sigmoid(w @ self.features.T)
        weighted = np.einsum("...n,ni,nj->...ij", p * (1.0 - p), self.features, self.features)
        weighted = 0.5 * (weighted + np.swapaxes(weighted, -1, -2))  # exactly symmetric despite rounding
        return weighted / self.n_samples + self.l2 * np.eye(self.dim)

    def _stochastic_grad(self, w, rng, batch_size):
        batch_size = _single(batch_size)
        index = rng.integers(0, self.n_samples, size=w.shape[:-1] + (batch_size,))
        features, labels = self.features[index], self.labels[index]  # (..., B, dim), (..., B)
        residual = _sigmoid(np.einsum("...bd,...d->...b", features, w)) - labels
        return np.einsum("...b,...bd->...d", residual, features) / batch_size + self.l2 * w


logistic_regression = LogisticRegression
