"""book.data: the digits split, standardised with the training set's statistics."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits

from book import data


def test_split_holds_every_image_once():
    split = data.digits()
    raw = load_digits()
    assert split.X_train.shape == (1438, 64) and split.X_test.shape == (359, 64)
    assert len(split.y_train) + len(split.y_test) == len(raw.target)
    np.testing.assert_array_equal(
        np.bincount(np.concatenate([split.y_train, split.y_test])), np.bincount(raw.target))
    # undo the standardisation with the training set's statistics: the raw images come back
    train_raw = raw.data[_order(0)[359:]]
    scale = np.where(train_raw.std(axis=0) > 0, train_raw.std(axis=0), 1.0)
    np.testing.assert_allclose(split.X_train * scale + train_raw.mean(axis=0), train_raw, atol=1e-12)
    test_raw = raw.data[_order(0)[:359]]
    np.testing.assert_allclose(split.X_test * scale + train_raw.mean(axis=0), test_raw, atol=1e-12)


def _order(seed):
    return np.random.default_rng(seed).permutation(1797)


def test_training_features_are_standardised_and_the_test_set_is_not_used():
    split = data.digits()
    std = split.X_train.std(axis=0)
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0, atol=1e-12)
    constant = std == 0
    assert constant.any()  # pixels blank in every training image
    np.testing.assert_allclose(std[~constant], 1, rtol=1e-12)
    # the test set is scaled with the training statistics, so its own mean is not zero
    assert np.abs(split.X_test.mean(axis=0)).max() > 0.01


def test_seed_fixes_the_split():
    a, b, c = data.digits(seed=0), data.digits(seed=0), data.digits(seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a.y_test, c.y_test)
    assert len(data.digits(test_fraction=0.5).y_test) == round(0.5 * 1797)


def test_the_raw_grey_levels_on_request():
    raw, scaled = data.digits(standardise=False), data.digits()
    np.testing.assert_array_equal(raw.y_test, scaled.y_test)
    np.testing.assert_array_equal(raw.X_train, load_digits().data[_order(0)[359:]])
    assert raw.X_train.min() == 0 and raw.X_train.max() == 16


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_bad_test_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction must be between 0 and 1"):
        data.digits(test_fraction=fraction)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    data._raw_digits.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails
    try:
        with pytest.raises(ImportError, match=r'pip install "\.\[practice\]"'):
            data.digits()
    finally:
        data._raw_digits.cache_clear()
