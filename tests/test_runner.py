"""book.runner.trajectory: shapes, batches, divergence, stopping, and the closed form of GD."""

import warnings
from typing import NamedTuple

import numpy as np
import pytest

from book import landscapes, runner


class Optimizer(NamedTuple):
    hyperparams: dict
    init: object
    step: object


def plain_sgd(lr):
    """A minimal pure SGD with the book.optim interface; lr may be an array."""
    return Optimizer({"lr": lr}, init=lambda params: 0, step=lambda params, grads, count: (params - lr * grads, count + 1))


def book_sgd(lr):
    optim = pytest.importorskip("book.optim")
    return optim.sgd(lr=lr)


BOWL = landscapes.quadratic(kappa=10.0, angle=0.5, minimizer=[0.5, -1.0])


def test_shapes():
    starts = BOWL.default_start + np.random.default_rng(0).normal(size=(3, 4, 2))
    run = runner.trajectory(plain_sgd(0.05), BOWL, starts, 25)
    assert run.path.shape == (26, 3, 4, 2)
    assert run.losses.shape == run.grad_norms.shape == (26, 3, 4)
    assert run.diverged_at.shape == run.stopped_at.shape == run.steps_to(1e-3).shape == (3, 4)
    assert run.final.shape == (3, 4, 2)
    np.testing.assert_array_equal(run.path[0], starts)
    np.testing.assert_array_equal(run.losses, BOWL.value(run.path))
    np.testing.assert_array_equal(run.grad_norms, np.linalg.norm(BOWL.grad(run.path), axis=-1))
    assert run.min_value == BOWL.min_value


def test_zero_steps():
    run = runner.trajectory(plain_sgd(0.1), BOWL, BOWL.default_start, 0)
    assert run.path.shape == (1, 2) and run.losses.shape == (1,)


@pytest.mark.parametrize("make_sgd", [plain_sgd, book_sgd])
def test_a_batch_equals_individual_runs(make_sgd):
    landscape = landscapes.rosenbrock()
    starts = np.random.default_rng(1).uniform(-1.5, 1.5, size=(5, 2))
    batch = runner.trajectory(make_sgd(1e-3), landscape, starts, 40)
    for i, start in enumerate(starts):
        single = runner.trajectory(make_sgd(1e-3), landscape, start, 40)
        np.testing.assert_array_equal(batch.path[:, i], single.path)


@pytest.mark.parametrize("make_sgd", [plain_sgd, book_sgd])
def test_learning_rate_arrays_broadcast_against_one_start(make_sgd):
    rates = np.array([[0.01], [0.05], [0.1]])
    run = runner.trajectory(make_sgd(rates), BOWL, BOWL.default_start, 30)
    assert run.path.shape == (31, 3, 2)
    for i, rate in enumerate(rates[:, 0]):
        single = runner.trajectory(make_sgd(float(rate)), BOWL, BOWL.default_start, 30)
        np.testing.assert_allclose(run.path[:, i], single.path, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("make_sgd", [plain_sgd, book_sgd])
def test_sgd_on_the_quadratic_follows_the_closed_form(make_sgd):
    # x_t - x* = (I - lr A)^t (x_0 - x*)
    lr, steps = 0.15, 60
    run = runner.trajectory(make_sgd(lr), BOWL, BOWL.default_start, steps)
    contraction = np.eye(2) - lr * BOWL.matrix
    expected = np.stack(
        [np.linalg.matrix_power(contraction, t) @ (BOWL.default_start - BOWL.minimizer) for t in range(steps + 1)]
    )
    np.testing.assert_allclose(run.path - BOWL.minimizer, expected, rtol=1e-12, atol=1e-13)


def test_divergence_is_recorded_without_warnings():
    rates = np.array([[1e-3], [0.05], [5.0]])  # stable; unstable on the valley walls; exploding
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = runner.trajectory(plain_sgd(rates), landscapes.rosenbrock(), [-1.2, 1.0], 200)
    assert run.path.shape == (201, 3, 2)
    finite = np.isfinite(run.losses) & np.isfinite(run.path).all(axis=-1)
    for i in range(3):
        bad = np.flatnonzero(~finite[:, i])
        assert run.diverged_at[i] == (bad[0] if bad.size else -1)
    np.testing.assert_array_equal(run.diverged, [False, True, True])
    assert run.diverged_at[2] > 0 and np.isfinite(run.path[: run.diverged_at[2], 2]).all()
    np.testing.assert_array_equal(run.steps_to(1e-3)[1:], -1)


def test_an_unbounded_landscape_is_handled():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = runner.trajectory(plain_sgd(0.5), landscapes.saddle("quadratic"), [1.0, 1e-3], 2000)
        gaps = run.gaps
    assert run.diverged[()] and gaps.shape == (2001,)
    assert run.steps_to(0.0) == -1


def test_steps_to_finds_the_step_after_which_the_gap_stays_within_tolerance():
    run = runner.trajectory(plain_sgd(np.array([[0.01], [0.15]])), BOWL, BOWL.default_start, 100)
    for tol in (1.0, 1e-3, 1e-30):
        above = run.losses - BOWL.min_value > tol
        expected = [-1 if above[-1, i] else (np.flatnonzero(above[:, i])[-1] + 1 if above[:, i].any() else 0)
                    for i in range(2)]
        np.testing.assert_array_equal(run.steps_to(tol), expected)
    assert run.steps_to(1e-3)[1] < run.steps_to(1e-3)[0] or run.steps_to(1e-3)[0] == -1


def _gap_run(gaps):
    """A Trajectory whose gaps f - f* are ``gaps`` (shape (steps + 1, batch))."""
    gaps = np.asarray(gaps, dtype=float)
    flags = np.full(gaps.shape[1:], -1)
    return runner.Trajectory(np.zeros(gaps.shape + (2,)), gaps, np.zeros(gaps.shape), 0.0, flags, flags)


def test_a_transient_dip_below_the_tolerance_is_not_an_arrival():
    dips_then_rises = [1.0, 1e-7, 1e-2, 1e-1]
    dips_then_settles = [1.0, 1e-7, 1e-2, 1e-7, 1e-8]
    assert _gap_run(np.array(dips_then_rises)[:, None]).steps_to(1e-6).tolist() == [-1]
    # Arrival is the step of the last entry into the tolerance, not the first dip.
    assert _gap_run(np.array(dips_then_settles)[:, None]).steps_to(1e-6).tolist() == [3]


def test_a_run_that_stays_within_tolerance_arrives_at_its_first_step_below_it():
    stays = np.array([[1.0, 1e-2, 1e-7, 1e-8, 1e-9], [1e-7, 1e-8, 1e-8, 1e-9, 1e-9]]).T
    assert _gap_run(stays).steps_to(1e-6).tolist() == [2, 0]
    assert _gap_run(np.array([1.0, 1e-7, np.nan])[:, None]).steps_to(1e-6).tolist() == [-1]


def test_stop_freezes_each_run_at_the_gradient_tolerance():
    tol = 1e-4
    rates = np.array([[0.02], [0.15]])
    free = runner.trajectory(plain_sgd(rates), BOWL, BOWL.default_start, 300)
    stopped = runner.trajectory(plain_sgd(rates), BOWL, BOWL.default_start, 300, stop=tol)
    for i in range(2):
        first = np.flatnonzero(free.grad_norms[:, i] <= tol)
        at = first[0] if first.size else -1
        assert stopped.stopped_at[i] == at
        if at >= 0:
            np.testing.assert_array_equal(stopped.path[: at + 1, i], free.path[: at + 1, i])
            np.testing.assert_array_equal(stopped.path[at:, i], np.broadcast_to(free.path[at, i], (301 - at, 2)))
        else:
            np.testing.assert_array_equal(stopped.path[:, i], free.path[:, i])
    assert stopped.stopped_at[1] >= 0  # the fast rate converges within the budget


def test_stop_ends_early_when_every_run_has_stopped():
    run = runner.trajectory(plain_sgd(0.15), BOWL, BOWL.default_start, 10_000, stop=1e-8)
    assert run.path.shape == (10_001, 2)
    assert 0 < run.stopped_at < 10_000
    np.testing.assert_array_equal(run.path[run.stopped_at :], np.broadcast_to(run.final, (10_001 - run.stopped_at, 2)))


def test_stochastic_runs_are_reproducible_and_independent_per_run():
    noisy = landscapes.noisy_quadratic(kappa=10.0, noise_std=1.0, seed=4)
    rates = np.full((3, 1), 0.05)
    first = runner.trajectory(plain_sgd(rates), noisy, noisy.default_start, 20, stochastic=True)
    again = runner.trajectory(plain_sgd(rates), noisy, noisy.default_start, 20, stochastic=True)
    np.testing.assert_array_equal(first.path, again.path)
    # Same learning rate, same start: the runs differ only through their own noise, from step 1.
    assert not np.allclose(first.path[1, 0], first.path[1, 1])
    other = runner.trajectory(plain_sgd(rates), noisy, noisy.default_start, 20, stochastic=True, rng=99)
    assert not np.allclose(first.path[1:], other.path[1:])
    # The recorded losses are the exact values along the noisy path.
    np.testing.assert_array_equal(first.losses, noisy.value(first.path))


def test_larger_batches_reach_a_lower_noise_floor():
    batch_sizes = np.array([1, 16, 256])
    noisy = landscapes.noisy_quadratic(kappa=10.0, noise_std=1.0, batch_size=batch_sizes)
    run = runner.trajectory(plain_sgd(0.05), noisy, noisy.default_start, 2000, stochastic=True)
    assert run.path.shape == (2001, 3, 2)  # one start, broadcast to one run per batch size
    floor = run.losses[500:].mean(axis=0)
    assert floor[0] > floor[1] > floor[2]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: runner.trajectory(plain_sgd(0.1), BOWL, [0.0, 0.0, 0.0], 5), "points must have shape"),
        (lambda: runner.trajectory(plain_sgd(0.1), BOWL, [0.0, 0.0], -1), "steps must be"),
        (lambda: runner.trajectory(plain_sgd(0.1), BOWL, [0.0, 0.0], 5, stochastic=True), "no stochastic gradient"),
        (lambda: runner.trajectory(plain_sgd(0.1), BOWL, [0.0, 0.0], 5, rng=1), "only with stochastic"),
        (lambda: runner.trajectory(plain_sgd(0.1), BOWL, [0.0, 0.0], 5, stop=-1.0), "stop must be"),
        (lambda: runner.trajectory(plain_sgd(np.ones(3)), BOWL, [0.0, 0.0], 5), "do not broadcast"),
        (lambda: runner.trajectory(plain_sgd(np.ones(3)), landscapes.quadratic(dim=1), [1.0], 5), "last"),
        (
            lambda: runner.trajectory(
                plain_sgd(np.ones((4, 1))), landscapes.noisy_quadratic(batch_size=[1, 2]), [0.0, 0.0], 5, stochastic=True
            ),
            "do not broadcast together",
        ),
        (
            lambda: runner.race({"a": plain_sgd(np.ones((3, 1))), "b": plain_sgd(np.ones((4, 1)))}, BOWL, [0.0, 0.0], 5),
            "do not broadcast together",
        ),
    ],
)
def test_bad_arguments_raise_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_race_equals_separate_runs():
    optimizers = {"slow": plain_sgd(0.01), "grid": plain_sgd(np.array([[0.02], [0.1]]))}
    results = runner.race(optimizers, BOWL, BOWL.default_start, 50, stop=1e-3)
    assert list(results) == ["slow", "grid"]
    for name, opt in optimizers.items():
        alone = runner.trajectory(opt, BOWL, np.broadcast_to(BOWL.default_start, (2, 2)), 50, stop=1e-3)
        for field in runner.Trajectory._fields:
            np.testing.assert_allclose(getattr(results[name], field), getattr(alone, field), rtol=1e-14, atol=1e-15)


def test_a_race_of_every_book_optimizer_equals_separate_runs():
    optim = pytest.importorskip("book.optim")
    names = ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax", "nadam", "radam"]
    optimizers = {name: getattr(optim, name)(lr=1e-2) for name in names}
    landscape = landscapes.beale()
    starts = np.random.default_rng(5).uniform(-2, 2, size=(3, 2))
    results = runner.race(optimizers, landscape, starts, 30)
    for name, opt in optimizers.items():
        alone = runner.trajectory(opt, landscape, starts, 30)
        np.testing.assert_array_equal(results[name].path, alone.path)


def test_a_stochastic_race_is_reproducible_with_independent_noise_per_optimizer():
    noisy = landscapes.noisy_quadratic(kappa=10.0, noise_std=1.0)
    optimizers = {"a": plain_sgd(0.05), "b": plain_sgd(0.05)}
    first = runner.race(optimizers, noisy, noisy.default_start, 10, stochastic=True)
    again = runner.race(optimizers, noisy, noisy.default_start, 10, stochastic=True)
    np.testing.assert_array_equal(first["a"].path, again["a"].path)
    assert not np.allclose(first["a"].path[1], first["b"].path[1])


def test_float32_starts_give_a_float32_path():
    run = runner.trajectory(plain_sgd(0.05), BOWL, BOWL.default_start.astype(np.float32), 10)
    assert run.path.dtype == np.float32
    np.testing.assert_allclose(run.path, runner.trajectory(plain_sgd(0.05), BOWL, BOWL.default_start, 10).path, rtol=1e-5)
