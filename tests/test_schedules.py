"""Learning-rate schedules and SGD runs that follow them; each schedule torch has is
compared with torch.optim.lr_scheduler step by step."""

import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler

from autograder.reference import float64_default
from book import landscapes, optim, schedules, theory
from book.runner import trajectory

STEPS = 300


def torch_lrs(make_scheduler, lr, steps=STEPS):
    """The lr torch's scheduler sets before each of ``steps`` optimizer steps."""
    with float64_default():
        weight = torch.zeros(1, requires_grad=True)
        optimizer = torch.optim.SGD([weight], lr=lr)
        scheduler = make_scheduler(optimizer)
        lrs = []
        for _ in range(steps):
            lrs.append(optimizer.param_groups[0]["lr"])
            weight.grad = torch.ones(1)
            optimizer.step()
            scheduler.step()
    return np.array(lrs, dtype=float)


# (ours, torch's scheduler on an optimizer with the same lr), both for STEPS steps.
TORCH_EQUIVALENTS = {
    "constant": (schedules.constant(0.1, STEPS),
                 lambda o: lr_scheduler.ConstantLR(o, factor=1.0, total_iters=0)),
    "step_decay": (schedules.step_decay(0.1, STEPS, every=40, factor=0.3),
                   lambda o: lr_scheduler.StepLR(o, step_size=40, gamma=0.3)),
    "exponential": (schedules.exponential(0.1, STEPS, gamma=0.97),
                    lambda o: lr_scheduler.ExponentialLR(o, gamma=0.97)),
    "cosine": (schedules.cosine(0.1, STEPS, floor=1e-3),
               lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=STEPS, eta_min=1e-3)),
    "cosine, past its horizon": (
        schedules.cosine(0.1, STEPS, floor=1e-3, horizon=70),
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=70, eta_min=1e-3)),
    "linear_decay": (schedules.linear_decay(0.1, STEPS, end_factor=0.05, horizon=200),
                     lambda o: lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.05,
                                                     total_iters=200)),
    "inverse_time": (schedules.inverse_time(0.1, STEPS, half_life=25),
                     lambda o: lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + t / 25))),
    "inverse_sqrt_time": (schedules.inverse_sqrt_time(0.1, STEPS, time_scale=25),
                          lambda o: lr_scheduler.LambdaLR(o, lambda t: (1 + t / 25) ** -0.5)),
    "warmup then cosine": (
        schedules.warmup(schedules.cosine(0.1, STEPS - 30, floor=1e-3), 30),
        lambda o: lr_scheduler.SequentialLR(o, [
            lr_scheduler.LinearLR(o, start_factor=1 / 31, end_factor=1.0, total_iters=30),
            lr_scheduler.CosineAnnealingLR(o, T_max=STEPS - 30, eta_min=1e-3)], milestones=[30])),
    "warmup then step decay": (
        schedules.warmup(schedules.step_decay(0.1, STEPS - 50, every=60), 50, start_factor=0.1),
        lambda o: lr_scheduler.SequentialLR(o, [
            lr_scheduler.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=50),
            lr_scheduler.StepLR(o, step_size=60, gamma=0.5)], milestones=[50])),
    "warmup then 1/sqrt t": (
        schedules.warmup(schedules.inverse_sqrt_time(0.1, STEPS - 10, time_scale=5), 10),
        lambda o: lr_scheduler.SequentialLR(o, [
            lr_scheduler.LinearLR(o, start_factor=1 / 11, end_factor=1.0, total_iters=10),
            lr_scheduler.LambdaLR(o, lambda t: (1 + t / 5) ** -0.5)], milestones=[10])),
}


@pytest.mark.filterwarnings("ignore::UserWarning")  # SequentialLR's epoch-argument notice
@pytest.mark.parametrize("name", list(TORCH_EQUIVALENTS))
def test_each_schedule_matches_torch_lr_scheduler_step_by_step(name):
    ours, make_scheduler = TORCH_EQUIVALENTS[name]
    assert ours.shape == (STEPS,)
    np.testing.assert_allclose(ours, torch_lrs(make_scheduler, lr=0.1), rtol=1e-12, atol=0)


def test_robbins_monro_sums_grow_or_stay_bounded_as_the_docstrings_say():
    lr, scale, horizon = 0.5, 10.0, 10**6
    marks = 10 ** np.arange(2, 7)  # partial sums over the first 100 .. 10^6 steps

    def partial(lrs):
        return np.cumsum(lrs)[marks - 1]

    inverse = schedules.inverse_time(lr, horizon, half_life=scale)
    root = schedules.inverse_sqrt_time(lr, horizon, time_scale=scale)
    decaying = schedules.exponential(lr, horizon, gamma=0.99)
    # 1/t: the sum grows by about lr * scale * ln 10 a decade, past any bound; the
    # squares stay under lr^2 (1 + scale).
    assert np.all(partial(inverse) >= lr * scale * np.log(1 + marks / scale))
    assert np.all(np.diff(partial(inverse)) > 0.9 * lr * scale * np.log(10))
    assert partial(inverse**2)[-1] <= lr**2 * (1 + scale)
    # 1/sqrt t: the squares are a 1/t schedule, so they grow without bound too.
    np.testing.assert_allclose(root**2, schedules.inverse_time(lr**2, horizon, half_life=scale), rtol=1e-12)
    assert np.all(np.diff(partial(root**2)) > 0.9 * lr**2 * scale * np.log(10))
    # exponential: even the steps sum to a finite total, lr / (1 - gamma).
    assert partial(decaying)[-1] <= lr / (1 - 0.99)
    np.testing.assert_allclose(partial(decaying)[-1], lr / (1 - 0.99), rtol=1e-12)


def test_decays_reach_their_floor_at_the_horizon_and_warmup_starts_low():
    np.testing.assert_allclose(schedules.cosine(1.0, 11, floor=0.1, horizon=10)[[0, 5, 10]],
                               [1.0, 0.55, 0.1], rtol=1e-12)
    np.testing.assert_allclose(schedules.linear_decay(1.0, 8, end_factor=0.25, horizon=4)[3:],
                               [0.4375, 0.25, 0.25, 0.25, 0.25], rtol=1e-12)
    ramp = schedules.warmup(schedules.constant(0.2, 3), 4)
    np.testing.assert_allclose(ramp, [0.04, 0.08, 0.12, 0.16, 0.2, 0.2, 0.2], rtol=1e-12)


def test_range_test_ramp_is_geometric_between_its_ends():
    lrs = schedules.range_test_lrs(1e-4, 1.0, 9)
    assert lrs[0] == 1e-4 and math.isclose(lrs[-1], 1.0, rel_tol=1e-14)
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], 10 ** 0.5, rtol=1e-12)


def test_range_test_reading_finds_the_fall_the_minimum_and_the_blow_up():
    lrs = schedules.range_test_lrs(1e-4, 10.0, 101)
    x = np.log10(lrs)
    # A loss that falls fastest at lr 1e-2 (a tanh step centred there), is flat to 1e-1,
    # then explodes.
    loss = 2 - np.tanh(2 * (x + 2)) + np.where(x > -1, 10 ** (3 * (x + 1)) - 1, 0)
    read = schedules.read_range_test(lrs, loss, smoothing=0.0)
    assert math.isclose(read.steepest, 1e-2, rel_tol=1e-9)
    assert 1e-2 < read.minimum <= lrs[np.argmin(loss)] * 1.0000001
    assert read.diverged_at is not None and read.diverged_at > read.minimum
    assert read.lrs[-1] < read.diverged_at and read.smoothed.size == read.lrs.size
    assert np.all(read.smoothed <= 4 * np.minimum.accumulate(read.smoothed))
    # Smoothing is a bias-corrected moving average: a constant loss stays constant.
    flat = schedules.read_range_test(lrs, np.full(lrs.size, 3.0))
    np.testing.assert_allclose(flat.smoothed, 3.0, rtol=1e-12)
    assert flat.diverged_at is None


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
    (lambda: schedules.inverse_sqrt_time(0.1, 3, time_scale=-1), "time_scale must be positive"),
    (lambda: schedules.exponential(0.1, 3, gamma=1.5), r"gamma must lie in \(0, 1\]"),
    (lambda: schedules.cosine(0.1, 3, floor=0.2), r"floor must lie in \[0, lr\]"),
    (lambda: schedules.cosine(0.1, 3, horizon=0), "horizon must be a positive integer"),
    (lambda: schedules.linear_decay(0.1, 3, end_factor=-0.5), r"end_factor must lie in \[0, 1\]"),
    (lambda: schedules.warmup([], 3), "schedule must be a non-empty 1-D array"),
    (lambda: schedules.warmup([0.1], 0), "warmup_steps must be a positive integer"),
    (lambda: schedules.warmup([0.1], 2, start_factor=0), r"start_factor must lie in \(0, 1\]"),
    (lambda: schedules.range_test_lrs(1e-3, 1e-4, 10), "lr_max must be larger than lr_min"),
    (lambda: schedules.range_test_lrs(0.0, 1.0, 10), "lr_min must be positive"),
    (lambda: schedules.range_test_lrs(1e-3, 1.0, 1), "a range test needs at least 2 steps"),
    (lambda: schedules.read_range_test([1.0, 2.0, 3.0], [1.0, 2.0]), "same length"),
    (lambda: schedules.read_range_test([1.0, 2.0, 3.0], [1.0, np.nan, 1.0]),
     "the loss blew up within the first steps"),
    (lambda: schedules.read_range_test([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], smoothing=1.0),
     r"smoothing must lie in \[0, 1\)"),
    (lambda: schedules.sgd_with_schedule(landscapes.noisy_quadratic(), [0.0, 0.0], [], 0),
     "lrs must be a non-empty 1-D array"),
])
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_run_with_schedule_keeps_the_optimizer_state_and_applies_the_transform():
    bowl = landscapes.noisy_quadratic(kappa=10, noise_std=0.5, batch_size=2)
    x0 = np.zeros((3, 2)) + bowl.default_start
    run = schedules.run_with_schedule(lambda lr: optim.adam(lr=lr), bowl, x0,
                                      schedules.constant(0.05, 40), rng=7)
    reference = trajectory(optim.adam(lr=0.05), bowl, x0, 40, stochastic=True, rng=7)
    np.testing.assert_allclose(run.path, reference.path, rtol=1e-12)
    # A transform that doubles the gradient is SGD at twice the learning rate.
    doubled = schedules.run_with_schedule(optim.sgd, bowl, x0, schedules.constant(0.05, 40), rng=7,
                                          grad_transform=lambda g: 2 * g)
    twice = schedules.run_with_schedule(optim.sgd, bowl, x0, schedules.constant(0.1, 40), rng=7)
    np.testing.assert_allclose(doubled.losses, twice.losses, rtol=1e-12)


def test_expected_loss_recursion_is_the_constant_formula_and_matches_many_runs():
    bowl = landscapes.noisy_quadratic(kappa=10, angle=0.4, noise_std=1.0, batch_size=1)
    start_error = bowl.rotation.T @ (bowl.default_start - bowl.minimizer)
    np.testing.assert_allclose(
        schedules.sgd_expected_loss(bowl, bowl.default_start, schedules.constant(0.05, 300)),
        theory.sgd_expected_loss(0.05, bowl.eigenvalues, 1.0, 1, start_error, 300), rtol=1e-12)
    lrs = schedules.inverse_time(0.1, 400, half_life=20)
    starts = np.broadcast_to(bowl.default_start, (4000, 2)).copy()
    measured = schedules.sgd_with_schedule(bowl, starts, lrs, rng=3).mean(axis=-1) - bowl.min_value
    expected = schedules.sgd_expected_loss(bowl, bowl.default_start, lrs)
    # 4000 runs: the mean of a loss (a chi-square-like variable) is within a few percent.
    np.testing.assert_allclose(measured[::50], expected[::50], rtol=0.08)
