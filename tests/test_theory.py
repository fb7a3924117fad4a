"""The closed-form rates of book.theory against direct linear algebra and simulation."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from book import theory
from book.convergence import measured_rate

curvatures = st.floats(1e-2, 1e2)
betas = st.floats(0.0, 0.99)


def companion(lr, beta, curvature, nesterov):
    """The 2x2 matrix mapping (e_t, e_{t-1}) to (e_{t+1}, e_t), written from the update rules."""
    if nesterov:  # e_{t+1} = (1 - lr*lam) * (e_t + beta*(e_t - e_{t-1}))
        step = 1 - lr * curvature
        return np.array([[(1 + beta) * step, -beta * step], [1.0, 0.0]])
    # heavy ball: e_{t+1} = e_t - lr*lam*e_t + beta*(e_t - e_{t-1})
    return np.array([[1 + beta - lr * curvature, -beta], [1.0, 0.0]])


@settings(max_examples=60, deadline=None)
@given(curvature=curvatures, lr_times_curvature=st.floats(0.01, 4.5), beta=betas,
       nesterov=st.booleans())
def test_momentum_factor_is_spectral_radius_of_companion(curvature, lr_times_curvature,
                                                         beta, nesterov):
    lr = lr_times_curvature / curvature
    expected = np.abs(np.linalg.eigvals(companion(lr, beta, curvature, nesterov))).max()
    got = theory.momentum_factor(lr, beta, curvature, nesterov=nesterov)
    assert got == pytest.approx(expected, rel=1e-7, abs=1e-12)


def test_momentum_with_zero_beta_is_gradient_descent():
    lr = np.linspace(0.01, 2.5, 50)
    np.testing.assert_allclose(theory.momentum_factor(lr, 0.0, 1.0), theory.gd_factor(lr, 1.0))
    np.testing.assert_allclose(theory.momentum_factor(lr, 0.0, 1.0, nesterov=True),
                               theory.gd_factor(lr, 1.0))


@settings(max_examples=30, deadline=None)
@given(kappa=st.floats(1.5, 1e4))
def test_gd_optimal_lr_gives_the_closed_form_rate_and_beats_a_grid(kappa):
    spectrum = np.array([1.0, np.sqrt(kappa), kappa])
    best = theory.gd_optimal_lr(spectrum)
    assert theory.gd_rate(best, spectrum) == pytest.approx(theory.gd_optimal_rate(kappa))
    grid = np.linspace(1e-4, theory.gd_stability_limit(kappa), 2001)
    assert theory.gd_rate(grid, spectrum).min() >= theory.gd_optimal_rate(kappa) - 1e-12


@settings(max_examples=30, deadline=None)
@given(kappa=st.floats(1.5, 1e4))
def test_heavy_ball_optimum_gives_the_closed_form_rate_and_beats_a_grid(kappa):
    spectrum = np.array([1.0, kappa])
    lr, beta = theory.heavy_ball_optimal(spectrum)
    optimum = theory.heavy_ball_optimal_rate(kappa)
    assert theory.momentum_rate(lr, beta, spectrum) == pytest.approx(optimum, rel=1e-6)
    lrs, bs = np.meshgrid(np.linspace(lr / 3, 3 * lr, 61), np.linspace(0, 0.999, 61))
    assert theory.momentum_rate(lrs, bs, spectrum).min() >= optimum - 1e-6


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_stability_limits_separate_convergence_from_divergence(beta):
    spectrum = np.array([0.5, 3.0, 7.0])
    limit = theory.heavy_ball_stability_limit(beta, spectrum.max())
    assert theory.momentum_rate(0.999 * limit, beta, spectrum) < 1
    assert theory.momentum_rate(1.001 * limit, beta, spectrum) > 1
    gd_limit = theory.gd_stability_limit(spectrum.max())
    assert theory.gd_rate(0.999 * gd_limit, spectrum) < 1 < theory.gd_rate(1.001 * gd_limit, spectrum)


def test_simulated_heavy_ball_error_decays_at_the_predicted_rate():
    spectrum = np.array([1.0, 4.0, 100.0])
    lr, beta = 0.9 * theory.heavy_ball_optimal(spectrum)[0], 0.7
    error, previous = np.ones(3), np.ones(3)
    norms = []
    for _ in range(1500):
        error, previous = error - lr * spectrum * error + beta * (error - previous), error
        norms.append(np.linalg.norm(error))
    measured = measured_rate(norms, start=300)
    assert measured == pytest.approx(theory.momentum_rate(lr, beta, spectrum), rel=1e-3)


def test_steps_to_shrink_counts_whole_steps():
    assert theory.steps_to_shrink(0.5, 1 / 8) == 3
    assert theory.steps_to_shrink(0.5, 0.1) == 4


@pytest.mark.parametrize("call, message", [
    (lambda: theory.gd_rate(0.1, [1.0, -2.0]), "eigenvalues must be positive"),
    (lambda: theory.gd_optimal_lr([]), "non-empty 1-D"),
    (lambda: theory.steps_to_shrink(1.0, 0.1), "rate must lie in"),
    (lambda: theory.steps_to_shrink(0.5, 2.0), "factor must lie in"),
])
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_sgd_expected_loss_matches_a_simulated_ensemble():
    """Mean loss of 4000 independent SGD runs on the noisy quadratic vs the formula."""
    from book.landscapes import noisy_quadratic

    bowl = noisy_quadratic(eigenvalues=[0.5, 8.0], angle=0.4, noise_std=2.0, batch_size=4)
    lr, steps, runs = 0.1, 120, 4000
    rng = np.random.default_rng(1)
    x = np.broadcast_to(bowl.default_start, (runs, 2)).copy()
    losses = [bowl.value(x)]
    for _ in range(steps):
        x = x - lr * bowl.stochastic_grad(x, rng)
        losses.append(bowl.value(x))
    losses = np.array(losses)
    start_error = bowl.rotation.T @ (bowl.default_start - bowl.minimizer)
    expected = theory.sgd_expected_loss(lr, bowl.eigenvalues, 2.0, 4, start_error, steps)
    standard_error = losses.std(axis=1) / np.sqrt(runs)
    assert np.all(np.abs(losses.mean(axis=1) - expected)[1:] < 5 * standard_error[1:])
    assert expected[-1] == pytest.approx(theory.sgd_noise_floor(lr, bowl.eigenvalues, 2.0, 4), rel=1e-3)


def test_noise_floor_refuses_a_diverging_learning_rate():
    with pytest.raises(ValueError, match="lr \\* lambda_max must stay below 2"):
        theory.sgd_noise_floor(0.3, [1.0, 10.0], 1.0, 1)
