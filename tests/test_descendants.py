"""book.experiments.descendants (runs judged at the evaluation point), and the online
problem of adam_variants run with any optimizer."""

import numpy as np
import pytest

from book import landscapes, optim, schedules
from book.experiments import adam_variants, descendants


def test_online_run_takes_projected_steps_of_lr_over_sqrt_t():
    """With plain SGD the run is x_{t+1} = clip(x_t - lr/sqrt(t) g_t, -1, 1), by hand."""
    C, lr = np.array([3.0, 5.0]), 0.4
    run = adam_variants.online_run(lambda step_size: optim.sgd(lr=step_size), C, 30, lr=lr)
    x = np.zeros(2)
    for t in range(1, 31):
        g = C if t % 3 == 1 else -np.ones(2)
        np.testing.assert_array_equal(run.x[t - 1], x)
        np.testing.assert_array_equal(run.g[t - 1], g)
        x = np.clip(x - lr / np.sqrt(t) * g, -1.0, 1.0)


def test_online_run_refuses_a_problem_whose_best_point_is_not_minus_one():
    with pytest.raises(ValueError, match="C must exceed"):
        adam_variants.online_run(optim.adam, 2.0, 10)


def test_evaluated_run_of_a_plain_optimizer_is_run_with_schedule():
    noisy = landscapes.NoisyQuadratic(kappa=10, dim=3)
    start = np.broadcast_to(noisy.default_start, (4, 3))
    lrs = schedules.cosine(0.1, 50)
    ours = descendants.evaluated_run(lambda lr: optim.adamw(lr=lr), noisy, start, lrs, rng=5)
    theirs = schedules.run_with_schedule(lambda lr: optim.adamw(lr=lr), noisy, start, lrs, rng=5)
    np.testing.assert_array_equal(ours.path, theirs.path)
    np.testing.assert_array_equal(ours.losses, theirs.losses)


def test_evaluated_run_records_schedule_free_average_not_its_gradient_point():
    noisy = landscapes.NoisyQuadratic(kappa=10, dim=3)
    opt = optim.schedule_free_adamw(lr=0.05)
    run = descendants.evaluated_run(lambda lr: opt, noisy, noisy.default_start, np.ones(20), rng=0)
    x, rng = noisy.default_start, np.random.default_rng(0)
    state = opt.init(x)
    for _ in range(20):
        x, state = opt.step(x, noisy.stochastic_grad(x, rng), state)
    np.testing.assert_array_equal(run.path[-1], optim.eval_params(opt, x, state))
    assert not np.allclose(run.path[-1], x)
