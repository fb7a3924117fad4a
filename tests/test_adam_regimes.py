"""book.experiments.adam_regimes: Adam's moments on a landscape, Hessian-shaped noise, the noisy race."""

import numpy as np
import pytest

from book import landscapes, optim, runner
from book.experiments import adam_regimes, adaptive


def test_adam_moments_are_torchs_corrected_state_and_steps():
    bowl = landscapes.quadratic(kappa=30, angle=0.4)
    opt = optim.adam(lr=0.05, betas=(0.8, 0.99))
    record = adam_regimes.adam_moments(opt, bowl, bowl.default_start, 40)
    path = runner.trajectory(opt, bowl, bowl.default_start, 40).path
    np.testing.assert_allclose(record.params, path, rtol=0, atol=1e-14)
    np.testing.assert_allclose(record.grads, bowl.grad(path[:-1]), rtol=1e-14)
    # The first corrected moments are g and g^2, and the steps are lr * m_hat / (sqrt(v_hat) + eps).
    np.testing.assert_allclose(record.m_hat[0], record.grads[0], rtol=1e-14)
    np.testing.assert_allclose(record.v_hat[0], record.grads[0] ** 2, rtol=1e-14)
    np.testing.assert_allclose(record.steps, -0.05 * record.m_hat / (np.sqrt(record.v_hat) + 1e-8), rtol=1e-10)


def test_adam_moments_stochastic_is_seeded_and_rng_needs_stochastic():
    noisy = landscapes.noisy_quadratic(kappa=10, noise_std=0.3, seed=4)
    a = adam_regimes.adam_moments(optim.adam(lr=1e-2), noisy, noisy.default_start, 20, stochastic=True)
    b = adam_regimes.adam_moments(optim.adam(lr=1e-2), noisy, noisy.default_start, 20, stochastic=True)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.allclose(a.grads, noisy.grad(a.params[:-1]))
    with pytest.raises(ValueError, match="stochastic=True"):
        adam_regimes.adam_moments(optim.adam(), noisy, noisy.default_start, 3, rng=1)


@pytest.mark.parametrize("angle", [0.0, np.pi / 4])
def test_hessian_noise_is_unbiased_with_covariance_sigma2_a_over_b(angle):
    bowl = adam_regimes.HessianNoiseQuadratic(kappa=20, angle=angle, noise_std=0.5, batch_size=4)
    x = np.broadcast_to(bowl.default_start, (200_000, 2))
    noise = bowl.stochastic_grad(x, 0) - bowl.grad(x)
    np.testing.assert_allclose(noise.mean(axis=0), 0, atol=0.02)
    np.testing.assert_allclose(np.cov(noise.T), 0.25 * bowl.matrix / 4, rtol=0.02, atol=0.01)
    assert bowl.sqrt_matrix @ bowl.sqrt_matrix == pytest.approx(bowl.matrix)


def test_hessian_noise_quadratic_checks_noise_std():
    with pytest.raises(ValueError, match="noise_std"):
        adam_regimes.HessianNoiseQuadratic(kappa=10, noise_std=-1)
    with pytest.raises(ValueError, match="noise must be"):
        adam_regimes.noisy_quadratic("loud", 10, 0.0, 0.1)


def test_noisy_race_without_noise_counts_as_the_exact_race():
    lrs, make = np.geomspace(1e-3, 1, 12), lambda lr: optim.adam(lr=lr)
    exact = landscapes.quadratic(kappa=50, angle=0.3)
    silent = adam_regimes.HessianNoiseQuadratic(kappa=50, angle=0.3, noise_std=0.0)
    expected = adaptive.best_learning_rate(make, exact, lrs, 1500, 1e-6)
    assert adam_regimes.noisy_best_learning_rate(make, silent, lrs, 1500, 1e-6, repeats=3) == expected
    # A landscape without stochastic gradients is raced by adaptive.best_learning_rate itself.
    assert adam_regimes.noisy_best_learning_rate(make, exact, lrs, 1500, 1e-6) == expected
    with pytest.raises(ValueError, match="repeats"):
        adam_regimes.noisy_best_learning_rate(make, silent, lrs, 10, 1e-6, repeats=0)
    with pytest.raises(ValueError, match="lrs"):
        adam_regimes.noisy_best_learning_rate(make, silent, [-1.0], 10, 1e-6)


def test_noisy_race_never_counts_a_diverged_or_noise_floored_run():
    noisy = landscapes.noisy_quadratic(kappa=10, noise_std=1.0)
    # Far too large a learning rate diverges; the floor of a small one stays above 1e-9.
    assert adam_regimes.noisy_best_learning_rate(
        lambda lr: optim.sgd(lr=lr), noisy, [5.0, 0.01], 500, 1e-9, repeats=2) == (pytest.approx(np.nan, nan_ok=True), -1)


def test_regime_table_keys():
    counts = adam_regimes.regime_table({"gd": lambda lr: optim.sgd(lr=lr)}, (10,), (0, 45), ("none", "hessian"),
                                       np.geomspace(1e-3, 0.2, 6), 300, 1e-2, noise_std=0.05, repeats=2)
    assert set(counts) == {("gd", 10, a, n) for a in (0, 45) for n in ("none", "hessian")}
    assert counts["gd", 10, 0, "none"] == counts["gd", 10, 45, "none"]  # GD ignores rotations


def test_correction_rule():
    grads = np.random.default_rng(0).standard_normal((50, 3)) * 10.0 ** np.arange(-2, 1)
    both = adam_regimes.adam_correction_rule(grads, lr=1e-2)
    reference = adaptive.updates(adaptive.replay(optim.adam(lr=1e-2), grads).params)
    np.testing.assert_allclose(both, reference, rtol=1e-10, atol=0)
    neither = adam_regimes.adam_correction_rule(grads, lr=1.0, eps=0.0, correct_m=False, correct_v=False)
    np.testing.assert_allclose(neither[0], -np.sign(grads[0]) * 0.1 / np.sqrt(1e-3), rtol=1e-6)
    only_v = adam_regimes.adam_correction_rule(grads, lr=1.0, eps=0.0, correct_m=False)
    np.testing.assert_allclose(only_v[0], -np.sign(grads[0]) * 0.1, rtol=1e-6)
