"""Tests of book.experiments.derivations against closed forms and exact recursions."""

import numpy as np
import pytest

from book.experiments import derivations as dv
from book import landscapes, optim, theory


@pytest.fixture
def grads():
    rng = np.random.default_rng(0)
    return rng.standard_normal((200, 6)) * np.geomspace(0.1, 10.0, 6)


def test_optimal_diagonal_has_the_trace_and_the_closed_form_value(grads):
    s = dv.optimal_diagonal(grads, trace=3.0)
    assert np.isclose(s.sum(), 3.0)
    root = np.sqrt(np.sum(grads**2, axis=0))
    np.testing.assert_allclose(s, 3.0 * root / root.sum())
    np.testing.assert_allclose(dv.preconditioner_objective(grads, s), root.sum() ** 2 / 3.0, rtol=1e-13)


def test_no_feasible_diagonal_beats_the_square_root(grads):
    best = dv.preconditioner_objective(grads, dv.optimal_diagonal(grads))
    rng = np.random.default_rng(1)
    others = rng.dirichlet(np.ones(6), size=20_000)  # random diagonals of trace one
    assert dv.preconditioner_objective(grads, others).min() >= best


@pytest.mark.parametrize("trace", [1.0, 0.25])
def test_the_numerical_search_finds_the_closed_form(grads, trace):
    searched, steps = dv.minimise_diagonal(grads, trace=trace)
    assert steps > 0 and np.isclose(searched.sum(), trace)
    np.testing.assert_allclose(searched, dv.optimal_diagonal(grads, trace), rtol=1e-6)


def test_adagrad_accumulator_is_the_sum_of_the_gradients_seen():
    model = landscapes.logistic_regression(n_samples=300, n_features=3, batch_size=8, seed=2)
    opt = optim.adagrad(lr=0.1)
    grads, path = dv.gradients_seen(opt, model, model.default_start, 50)
    assert grads.shape == (50, 3) and path.shape == (51, 3)
    x, state = model.default_start, opt.init(model.default_start)
    for g in grads:
        x, state = opt.step(x, g, state)
    np.testing.assert_allclose(x, path[-1], rtol=0, atol=0)
    np.testing.assert_allclose(state.sum, np.sum(grads**2, axis=0), rtol=1e-14)


def test_objective_and_diagonal_reject_bad_arguments(grads):
    with pytest.raises(ValueError, match="positive"):
        dv.preconditioner_objective(grads, np.zeros(6))
    with pytest.raises(ValueError, match="trace"):
        dv.optimal_diagonal(grads, trace=0.0)
    with pytest.raises(ValueError, match="shape"):
        dv.optimal_diagonal(np.ones(3))
    with pytest.raises(ValueError, match="all zero"):
        dv.optimal_diagonal(np.zeros((4, 2)))


def test_momentum_noise_floor_with_beta_zero_is_sgds():
    eigenvalues = np.array([1.0, 10.0])
    lrs = np.array([0.01, 0.05, 0.15])
    np.testing.assert_allclose(dv.momentum_noise_floor(lrs, 0.0, eigenvalues, 1.5, 4),
                               theory.sgd_noise_floor(lrs, eigenvalues, 1.5, 4), rtol=1e-14)


@pytest.mark.parametrize("lr, beta, curvature", [(0.01, 0.9, 1.0), (0.05, 0.5, 10.0), (0.1, 0.95, 30.0)])
def test_momentum_noise_floor_is_the_fixed_point_of_the_covariance_recursion(lr, beta, curvature):
    variance = dv.momentum_variance_recursion(lr, beta, curvature, 2.0, 3, steps=20_000)
    floor = dv.momentum_noise_floor(lr, beta, [curvature], 2.0, 3)
    np.testing.assert_allclose(0.5 * curvature * variance, floor, rtol=1e-10)


def test_momentum_noise_floor_broadcasts_and_rejects_unstable_settings():
    floors = dv.momentum_noise_floor(0.01, np.array([[0.0], [0.5], [0.9]]), [1.0, 10.0], 1.0, np.array([1, 4]))
    assert floors.shape == (3, 2)
    with pytest.raises(ValueError, match="diverges"):
        dv.momentum_noise_floor(0.5, 0.5, [1.0, 10.0], 1.0, 1)
    with pytest.raises(ValueError, match="beta"):
        dv.momentum_noise_floor(0.01, 1.0, [1.0], 1.0, 1)


def test_stationary_loss_measures_the_floor_and_marks_divergence():
    noisy = landscapes.noisy_quadratic(kappa=10, noise_std=1.0, batch_size=1, seed=0)
    starts = np.broadcast_to(noisy.minimizer, (2, 300, 2)).copy()
    lrs = np.array([[[0.02]], [[0.25]]])  # the second is past SGD's limit 2 / lambda_max = 0.2
    measured = dv.stationary_loss(optim.sgd(lr=lrs), noisy, starts, 500, 1500, rng=0).mean(-1)
    np.testing.assert_allclose(measured[0], theory.sgd_noise_floor(0.02, noisy.eigenvalues, 1.0, 1), rtol=0.05)
    assert not np.isfinite(measured[1]) or measured[1] > 1e6
