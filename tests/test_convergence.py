"""Rates and step counts read off error sequences by book.convergence."""

import numpy as np
import pytest

from book.convergence import envelope, first_step_below, measured_rate


def test_envelope_is_the_suffix_maximum():
    np.testing.assert_array_equal(envelope([3.0, 1.0, 2.0, 0.5]), [3.0, 2.0, 2.0, 0.5])


def test_measured_rate_recovers_a_geometric_rate_through_oscillation():
    steps = np.arange(600)[:, None]
    rates = np.array([0.9, 0.99])
    spiralling = rates ** steps * (1.5 + np.cos(0.7 * steps))  # batch of two runs
    np.testing.assert_allclose(measured_rate(spiralling, start=50), rates, rtol=2e-3)


def test_a_diverged_run_has_an_infinite_rate():
    assert measured_rate([1.0, 1e300, np.inf, np.nan], start=0) == np.inf


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
