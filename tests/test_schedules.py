"""Learning-rate schedules and SGD runs that follow them."""

import numpy as np
import pytest

from book import landscapes, optim, schedules
from book.runner import trajectory


def test_schedules_have_their_closed_forms():
    np.testing.assert_array_equal(schedules.constant(0.1, 3), [0.1, 0.1, 0.1])
    np.testing.assert_allclose(schedules.step_decay(0.8, 5, every=2), [0.8, 0.8, 0.4, 0.4, 0.2])
    np.testing.assert_allclose(schedules.inverse_time(1.0, 3, half_life=2), [1.0, 2 / 3, 0.5])


def test_constant_schedule_run_equals_the_runner_with_the_same_noise():
    bowl = landscapes.noisy_quadratic(kappa=10, noise_std=0.5, batch_size=2)
    x0 = np.zeros((3, 2)) + bowl.default_start
    losses = schedules.sgd_with_schedule(bowl, x0, schedules.constant(0.05, 50), rng=7)
    run = trajectory(optim.sgd(lr=0.05), bowl, x0, 50, stochastic=True, rng=7)
    np.testing.assert_allclose(losses, run.losses, rtol=1e-12)


def test_decaying_schedule_applies_each_step_lr():
    bowl = landscapes.noisy_quadratic(eigenvalues=[1.0], noise_std=0.0)
    lrs = np.array([0.5, 0.25])
    losses = schedules.sgd_with_schedule(bowl, [2.0], lrs, rng=0)
    # x -> (1 - lr) x on f = x^2/2 without noise: 2 -> 1 -> 0.75
    np.testing.assert_allclose(losses, 0.5 * np.array([2.0, 1.0, 0.75]) ** 2)


@pytest.mark.parametrize("call, message", [
    (lambda: schedules.constant(-1.0, 3), "lr must be a positive number"),
    (lambda: schedules.constant(0.1, 0), "steps must be a positive integer"),
    (lambda: schedules.step_decay(0.1, 3, every=0), "every must be a positive integer"),
    (lambda: schedules.step_decay(0.1, 3, every=1, factor=2.0), r"factor must lie in \(0, 1\]"),
    (lambda: schedules.inverse_time(0.1, 3, half_life=0), "half_life must be positive"),
    (lambda: schedules.sgd_with_schedule(landscapes.noisy_quadratic(), [0.0, 0.0], [], 0),
     "lrs must be a non-empty 1-D array"),
])
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()
