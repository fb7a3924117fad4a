"""book.race: the tuned race of every optimizer and its helpers."""

import numpy as np
import pytest

from book import landscapes, optim, race, runner


def test_every_optimizer_of_book_optim_races():
    factories = {"sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax", "nadam", "radam"}
    names = {make(0.1).name for make in race.CONTESTANTS.values()}
    assert factories <= names


def test_tune_matches_single_runs():
    bowl = landscapes.quadratic(kappa=10)
    lrs = np.array([0.01, 0.05, 0.15])
    contestants = {"SGD": race.CONTESTANTS["SGD"], "Adam": race.CONTESTANTS["Adam"]}
    tuned = race.tune(bowl, lrs, 300, 1e-6, contestants)
    for name, make in contestants.items():
        counts = [int(runner.trajectory(make(lr), bowl, bowl.default_start, 300).steps_to(1e-6)) for lr in lrs]
        np.testing.assert_array_equal(tuned[name].counts, counts)
        arrived = [c for c in counts if c >= 0]
        assert tuned[name].best_count == (min(arrived) if arrived else -1)
    # Plain gradient descent on kappa = 10 is fastest at the largest stable rate of the grid.
    assert tuned["SGD"].best_lr == 0.15


def test_tune_falls_back_to_smallest_gap_and_flags_divergence():
    bowl = landscapes.quadratic(kappa=10)
    tuned = race.tune(bowl, np.array([1e-4, 5.0]), 400, 1e-12, {"SGD": race.CONTESTANTS["SGD"]})["SGD"]
    assert tuned.best_count == -1 and tuned.best_lr == 1e-4
    assert np.isinf(tuned.gaps[1])


def test_tune_rejects_bad_grid():
    with pytest.raises(ValueError, match="positive"):
        race.tune(landscapes.rosenbrock(), [0.1, -1.0], 10, 1e-6)
    with pytest.raises(ValueError, match="tol"):
        race.tune(landscapes.rosenbrock(), [0.1], 10, 0.0)


def test_heatmap_matches_single_runs():
    bowl = landscapes.quadratic(kappa=20)
    lrs, betas = np.array([0.01, 0.03]), np.array([0.0, 0.9])
    counts = race.heatmap(lambda lr, beta: optim.sgd(lr=lr, momentum=beta), bowl, lrs, betas, 400, 1e-6)
    assert counts.shape == (2, 2)
    for i, beta in enumerate(betas):
        for j, lr in enumerate(lrs):
            run = runner.trajectory(optim.sgd(lr=lr, momentum=beta), bowl, bowl.default_start, 400)
            assert counts[i, j] == run.steps_to(1e-6)


def test_steps_to_point_counts_the_first_close_step():
    path = np.array([[0.0, 0.0], [0.5, 0.0], [0.99, 0.0], [1.0, 0.0]])[:, None, :]
    run = runner.Trajectory(path, np.zeros((4, 1)), np.zeros((4, 1)), 0.0, np.array([-1]), np.array([-1]))
    assert race.steps_to_point(run, [1.0, 0.0], 0.05).tolist() == [2]
    assert race.steps_to_point(run, [5.0, 0.0], 0.05).tolist() == [-1]


def test_within_and_verdict():
    assert race.within(1000, 500, 1500) and not race.within(-1, 0, 10) and not race.within(2000, 500, 1500)
    with pytest.raises(ValueError, match="empty"):
        race.within(1, 5, 2)
    assert race.verdict(True) == "reproduced" and race.verdict(False) == "not reproduced"


def test_tune_noisy_scores_the_mean_final_gap_over_repeats():
    bowl = landscapes.noisy_quadratic(kappa=10, noise_std=0.5, batch_size=4)
    lrs = np.array([0.01, 0.1])
    tuned = race.tune_noisy(bowl, lrs, 100, 20, repeats=3, contestants={"SGD": race.CONTESTANTS["SGD"]})["SGD"]
    starts = np.broadcast_to(bowl.default_start, (3, 2, 2))
    run = runner.trajectory(optim.sgd(lr=lrs[:, None]), bowl, starts, 100, stochastic=True)
    np.testing.assert_allclose(tuned.gaps, run.gaps[-20:].mean(axis=(0, 1)))
    assert tuned.best_gap == tuned.gaps.min() and tuned.best_lr == lrs[tuned.gaps.argmin()]


def test_tune_noisy_rejects_bad_window_and_repeats():
    bowl = landscapes.noisy_quadratic(kappa=10)
    with pytest.raises(ValueError, match="window"):
        race.tune_noisy(bowl, [0.1], 10, 20)
    with pytest.raises(ValueError, match="repeats"):
        race.tune_noisy(bowl, [0.1], 10, 5, repeats=0)


def _tuned(counts, lrs=None):
    counts = np.asarray(counts)
    lrs = np.geomspace(1e-3, 1.0, counts.size) if lrs is None else lrs
    return race.best_of(lrs, counts, np.where(counts >= 0, 0.0, 1.0))


def test_tune_reports_the_median_count_around_the_best_learning_rate():
    # A knife-edge best (one fast grid point between two that never arrive) is not robust.
    assert _tuned([-1, 40, -1, 90]).median_count == -1
    assert _tuned([120, 40, 100, 90]).median_count == 100
    assert _tuned([40, 100, -1]).median_count == 70  # at the grid's edge: two points
    assert _tuned([-1, -1]).median_count == -1


def test_a_circling_run_does_not_win_the_race():
    # RMSProp at a fixed learning rate circles the minimum of the ravine: its gap passes
    # below the tolerance and rises again, so it must not count as arrived.
    ravine = landscapes.quadratic(kappa=50, angle=np.radians(30))
    tuned = race.tune(ravine, np.array([0.03]), 3000, 1e-6, {"RMSProp": race.CONTESTANTS["RMSProp"]})["RMSProp"]
    run = runner.trajectory(optim.rmsprop(lr=0.03), ravine, ravine.default_start, 3000)
    dipped = bool((run.gaps <= 1e-6).any())
    assert run.gaps[-1] > 1e-6 and dipped, "the case should dip below the tolerance and leave it"
    assert tuned.best_count == -1
