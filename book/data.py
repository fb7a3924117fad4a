"""The data a network in the book trains on: the 8x8 handwritten digits.

scikit-learn ships the digits (1,797 images of 8x8 grey levels 0..16, ten classes) in
its own package, so nothing is downloaded when a chapter runs. scikit-learn is not part
of the student install; it comes with the ``practice`` extra (``pip install
".[practice]"``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

__all__ = ["Split", "digits"]


class Split(NamedTuple):
    """Train and test sets: images as rows of 64 features (pixels), labels 0..9."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


@lru_cache(maxsize=None)
def _raw_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            "book.data.digits needs scikit-learn, which holds the digits: "
            'install the practice extra, pip install ".[practice]"'
        ) from error
    bunch = load_digits()
    return bunch.data.astype(np.float64), bunch.target.astype(np.int64)


def digits(test_fraction: float = 0.2, seed: int = 0, standardise: bool = True) -> Split:
    """The digits, shuffled with ``seed`` and split into train and test sets.

    Each feature (pixel) is standardised with the mean and standard deviation of the
    *training* images only, so nothing of the test set leaks into training; a pixel that
    is constant over the training set (three blank pixels on the edge, in the default split) is centred and left unscaled.
    ``test_fraction`` of the 1,797 images (rounded) form the test set. With
    ``standardise=False`` the pixels keep their grey levels 0..16.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    X, y = _raw_digits()
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    if not standardise:
        return Split(X[train], y[train], X[test], y[test])
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    return Split((X[train] - mean) / scale, y[train], (X[test] - mean) / scale, y[test])
