"""book.descendants: the online problem for any optimizer, and runs judged at the
evaluation point."""

import numpy as np
import pytest

from book import adam_variants, descendants, landscapes, optim, schedules


def test_online_run_of_adam_is_the_counterexample_of_adam_failures():
    C = np.array([3.0, 5.0])
    beta2 = 1 / (1 + C**2)
    ours = descendants.online_run(lambda lr: optim.adam(lr=lr, betas=(0.0, beta2)), C, 300)
    theirs = adam_variants.online_counterexample(C, 300, amsgrad=False)
    np.testing.assert_array_equal(ours.x, theirs.x)
    np.testing.assert_array_equal(ours.g, theirs.g)


def test_online_run_refuses_a_problem_whose_best_point_is_not_minus_one():
    with pytest.raises(ValueError, match="C must exceed"):
        descendants.online_run(optim.adam, 2.0, 10)


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
