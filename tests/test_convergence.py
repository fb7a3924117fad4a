"""Rates and step counts read off error sequences by book.convergence."""

import numpy as np
import pytest

from book.convergence import diverged, envelope, first_step_below, measured_rate


def test_envelope_is_the_suffix_maximum():
    np.testing.assert_array_equal(envelope([3.0, 1.0, 2.0, 0.5]), [3.0, 2.0, 2.0, 0.5])


def test_measured_rate_recovers_a_geometric_rate_through_oscillation():
    steps = np.arange(600)[:, None]
    rates = np.array([0.9, 0.99])
    spiralling = rates ** steps * (1.5 + np.cos(0.7 * steps))  # batch of two runs
    np.testing.assert_allclose(measured_rate(spiralling, start=50), rates, rtol=2e-3)


def test_a_diverged_run_has_an_infinite_rate():
    assert measured_rate([1.0, 1e300, np.inf, np.nan], start=0) == np.inf


def test_a_growing_run_is_marked_diverged_not_rate_one():
    # The suffix-max envelope of a growing error is its last value, a ratio of exactly 1:
    # the rate must say "diverges" instead.
    steps = np.arange(400)[:, None]
    growing = 1.01 ** steps * (1.5 + np.cos(0.7 * steps))
    rates = measured_rate(np.hstack([growing, 0.98 ** steps]), start=200)
    assert rates[0] == np.inf and diverged(rates).tolist() == [True, False]
    assert rates[1] == pytest.approx(0.98)


def test_a_run_that_neither_shrinks_nor_grows_measures_one():
    steps = np.arange(300)
    assert measured_rate(np.full(steps.size, 2.0), start=100) == 1.0


def test_first_step_below_counts_steps_and_marks_runs_that_never_get_there():
    values = np.array([[1.0, 0.5, 0.2, 0.05], [1.0, np.nan, np.nan, np.nan]]).T
    np.testing.assert_array_equal(first_step_below(values, 0.1), [3, -1])


@pytest.mark.parametrize("call, message", [
    (lambda: measured_rate([1.0], 0), "at least two steps"),
    (lambda: measured_rate([1.0, -0.5], 0), "non-negative"),
    (lambda: measured_rate(np.ones((1, 3)), 0), "at least two steps along the first axis"),
    (lambda: measured_rate([1.0, 0.5, 0.2], 2, 1), "need 0 <= start < stop"),
])
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()
