"""book.experiments.adam_variants: the experiments behind the AMSGrad/AdamW and NAdam/RAdam chapters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from book import optim
from book.experiments import adam_variants, adaptive


def test_adam_fails_and_amsgrad_converges_on_reddi_problem():
    C = np.array([3.0, 5.0])
    adam = adam_variants.online_counterexample(C, 3000, amsgrad=False)
    ams = adam_variants.online_counterexample(C, 3000, amsgrad=True)
    assert np.all(adam.x[-1] > 0.9) and np.all(ams.x[-1] < -0.9)
    # Playing +1 for ever costs 2(C - 2)/3 per step on average.
    np.testing.assert_allclose(adam_variants.average_regret(adam)[-1], 2 * (C - 2) / 3, rtol=0.05)
    assert np.all(adam_variants.average_regret(ams)[-1] < 0.05)


def test_online_problem_iterates_stay_feasible_and_broadcast():
    run = adam_variants.online_counterexample(np.array([[3.0], [10.0]]), 50, amsgrad=False,
                                              beta2=np.array([[0.1, 0.999]]))
    assert run.x.shape == run.g.shape == (50, 2, 2)
    assert np.all(np.abs(run.x) <= 1.0)
    assert run.g[0, 1, 0] == 10.0 and run.g[1, 1, 0] == -1.0


def test_online_problem_rejects_c_without_a_best_point():
    with pytest.raises(ValueError, match="C must exceed"):
        adam_variants.online_counterexample(2.0, 10, amsgrad=False)


def test_regret_of_a_fixed_play_matches_hand_count():
    g = np.array([3.0, -1.0, -1.0] * 4)
    run = adam_variants.OnlineRun(np.ones_like(g), g)
    # x = +1 loses 1 per period against x = -1 gaining 1: regret 2 per period.
    assert adam_variants.average_regret(run)[-1] == pytest.approx(2 * 4 / 12)


def test_decoupled_decay_is_uniform_and_l2_decay_is_not():
    scales = np.array([1e-2, 10.0])
    l2 = adam_variants.decay_under_noise(optim.adam(lr=1e-2, weight_decay=0.1), scales, 500, runs=400)[-1]
    decoupled = adam_variants.decay_under_noise(optim.adamw(lr=1e-2, weight_decay=0.1), scales, 500, runs=400)[-1]
    np.testing.assert_allclose(decoupled, (1 - 1e-3) ** 500, atol=0.05)
    assert l2[0] < 0.05 and l2[1] > 0.8


def test_decay_under_noise_rejects_bad_scales():
    with pytest.raises(ValueError, match="positive"):
        adam_variants.decay_under_noise(optim.adamw(), [1.0, -1.0], 5)


@settings(max_examples=15, deadline=None)
@given(st.floats(0.5, 0.99), st.integers(0, 2**31 - 1))
def test_constant_momentum_nadam_is_torch_nadam_without_schedule(beta1, seed):
    grads = np.random.default_rng(seed).standard_normal((40, 3))
    torch_form = adaptive.updates(adaptive.replay(optim.nadam(betas=(beta1, 0.999), momentum_decay=1e9), grads).params)
    np.testing.assert_allclose(adam_variants.nadam_constant(grads, betas=(beta1, 0.999)), torch_form, rtol=1e-10)


def test_nadam_momentum_schedule_matches_torch_state():
    steps = np.arange(1, 31)
    state = optim.nadam().init(np.zeros(1))
    products = []
    for _ in steps:
        _, state = optim.nadam().step(np.zeros(1), np.ones(1), state)
        products.append(state.mu_product)
    np.testing.assert_allclose(products, np.cumprod(adam_variants.nadam_momentum(steps)), rtol=1e-12)


def test_radam_rho_and_thresholds():
    rho = adam_variants.radam_rho(np.arange(1, 8), beta2=0.999)
    assert rho[0] == pytest.approx(1.0)
    assert rho[4] < 5 < rho[5] and rho[3] < 4 < rho[4]
    r = adam_variants.radam_rectifier(np.arange(1, 8))
    assert np.all(np.isnan(r[:5])) and np.all((r[5:] > 0) & (r[5:] < 1))
    assert adam_variants.radam_rectifier(10**6) == pytest.approx(1.0, abs=1e-6)


def test_radam_rectifier_agrees_with_optim_radam_step():
    grads = np.random.default_rng(1).standard_normal((20, 4))
    radam = adaptive.updates(adaptive.replay(optim.radam(eps=0.0), grads).params)
    adam = adaptive.updates(adaptive.replay(optim.adam(eps=0.0), grads).params)
    t = np.arange(6, 21)
    np.testing.assert_allclose(radam[5:], adam[5:] * adam_variants.radam_rectifier(t)[:, None], rtol=1e-10)


def test_adaptive_lr_spread_falls():
    spread = adam_variants.adaptive_lr_spread(50, samples=4000)
    assert spread.shape == (50,) and spread[0] > 10 * spread[-1]
