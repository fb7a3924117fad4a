"""book.optim.sophia against pytorch_optimizer.SophiaH 4.1.0 (float64), with the
Hessian estimates injected into both (``step(hessian=...)``), and book.optim.hutchinson.

The estimates come from `optim.hutchinson` on a fixed indefinite quadratic, seeded
per step, so some entries are negative (the reference clamps them to eps) and the
comparison is exact: rtol 1e-10 over 200 stress steps (measured 2.4e-14).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import pytorch_optimizer
import torch
from matrix_optim_reference import numpy_run, reference_run, relative_error
from optim_reference import gradient_sequence

from book import optim

RTOL = 1e-10
STEPS = 200
SHAPES = {"weight": (3, 4), "bias": (5,)}

CASES = [
    {},
    {"lr": 1e-2, "betas": (0.9, 0.999), "p": 0.5},
    {"weight_decay": 0.1},
    {"weight_decay": 0.1, "weight_decouple": False},
    {"weight_decay": 0.1, "fixed_decay": True},
    {"update_period": 1, "eps": 1e-6},
    {"update_period": 3, "maximize": True},
]


def case_id(kwargs: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"


def quadratic_hvp(seed: int):
    """H v for a fixed symmetric indefinite H acting on each array flattened."""
    rng = np.random.default_rng(seed)
    hessians = {}
    for key, shape in SHAPES.items():
        size = int(np.prod(shape))
        a = rng.normal(size=(size, size))
        hessians[key] = (a + a.T) / 2 + np.diag(rng.uniform(0, 3, size))
    return lambda v: {k: (hessians[k] @ v[k].ravel()).reshape(v[k].shape) for k in v}


def estimates(params: dict, update_period: int) -> list[dict | None]:
    """An estimate at every step the reference would make one, and at step 5 too
    (an estimate passed between those steps is used as well)."""
    hvp = quadratic_hvp(seed=0)
    return [
        optim.hutchinson(hvp, params, seed=t) if t % update_period == 0 or t == 4 else None
        for t in range(STEPS)
    ]


def sophia_error(kwargs: dict) -> float:
    rng = np.random.default_rng(1)
    params = {key: rng.normal(size=shape) for key, shape in SHAPES.items()}
    grads = gradient_sequence(SHAPES, STEPS, seed=2)
    hessians = estimates(params, kwargs.get("update_period", 10))
    expected, _ = reference_run(
        pytorch_optimizer.SophiaH, {**kwargs, "foreach": False}, params, grads, hessians
    )
    history, _ = numpy_run(optim.sophia(**kwargs), params, grads, hessians)
    return relative_error(history, expected)


VERIFY = {"sophia": lambda: max(sophia_error(kwargs) for kwargs in CASES)}
VERIFY_REFERENCE = {"sophia": "pytorch_optimizer.SophiaH (Hessian estimates injected)"}


@pytest.mark.parametrize("kwargs", CASES, ids=case_id)
def test_matches_reference(kwargs):
    assert sophia_error(kwargs) <= RTOL


def test_state_matches_reference():
    rng = np.random.default_rng(3)
    params = {key: rng.normal(size=shape) for key, shape in SHAPES.items()}
    grads = gradient_sequence(SHAPES, 30, seed=4)
    hessians = estimates(params, 10)[:30]
    _, ref_state = reference_run(pytorch_optimizer.SophiaH, {"foreach": False}, params,
                                 grads, hessians)
    _, state = numpy_run(optim.sophia(), params, grads, hessians)
    assert state.step == 30
    for key, fields in ref_state.items():
        for field in ("momentum", "hessian_moment", "hessian"):
            np.testing.assert_allclose(getattr(state, field)[key], fields[field].numpy(),
                                       rtol=RTOL, atol=1e-300, err_msg=f"{key} {field}")


def test_follows_the_paper():
    """Liu et al.'s Algorithm 1 (no weight decay), eta clip(m / max(gamma h, eps), 1),
    transcribed here, equals sophia with lr = eta / gamma, p = gamma,
    eps = eps / gamma."""
    eta, gamma, eps, beta1, beta2, k = 0.05, 0.04, 1e-9, 0.9, 0.95, 4
    rng = np.random.default_rng(5)
    theta = rng.normal(size=7)
    opt = optim.sophia(lr=eta / gamma, betas=(beta1, beta2), p=gamma, eps=eps / gamma,
                       update_period=k)
    state = opt.init(theta)
    expected, m, h = theta.copy(), np.zeros(7), np.zeros(7)
    for t in range(1, 41):
        g = rng.normal(size=7)
        m = beta1 * m + (1 - beta1) * g
        if t % k == 1:
            estimate = rng.uniform(-1, 5, size=7)
            h = beta2 * h + (1 - beta2) * estimate
            theta, state = opt.step(theta, g, state, hessian=estimate)
        else:
            theta, state = opt.step(theta, g, state)
        expected = expected - eta * np.clip(m / np.maximum(gamma * h, eps), -1, 1)
        np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=1e-15)


def test_needs_an_estimate_when_one_is_due():
    opt = optim.sophia(update_period=3)
    x = np.ones(2)
    state = opt.init(x)
    with pytest.raises(ValueError, match="needs a Hessian estimate at step 1"):
        opt.step(x, x, state)
    x, state = opt.step(x, x, state, hessian=np.ones(2))
    x, state = opt.step(x, x, state)  # steps 2 and 3 need none
    x, state = opt.step(x, x, state)
    with pytest.raises(ValueError, match="at step 4 "):
        opt.step(x, x, state)


def test_checks_the_estimate():
    opt = optim.sophia()
    params = {"w": np.ones((2, 2)), "b": np.ones(2)}
    state = opt.init(params)
    with pytest.raises(ValueError, match="hessian must have the same structure"):
        opt.step(params, params, state, hessian={"w": np.ones((2, 2))})
    with pytest.raises(ValueError, match=r"hessian for params\['b'\] has shape \(3,\)"):
        opt.step(params, params, state, hessian={"w": np.ones((2, 2)), "b": np.ones(3)})


INVALID = [
    {"lr": -1.0},
    {"betas": (1.0, 0.99)},
    {"betas": (0.9, 1.5)},
    {"weight_decay": -0.1},
    {"p": -1.0},
    {"update_period": 0},
    {"eps": -1e-12},
]


@pytest.mark.parametrize("kwargs", INVALID, ids=case_id)
def test_validation_messages_are_the_references(kwargs):
    with pytest.raises(Exception) as expected:
        pytorch_optimizer.SophiaH([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as ours:
        optim.sophia(**kwargs)
    assert str(ours.value) == str(expected.value)


def test_options_are_the_references():
    """Same names and defaults; the estimator's options belong to `hutchinson`."""
    theirs = inspect.signature(pytorch_optimizer.SophiaH.__init__).parameters
    ours = inspect.signature(optim.sophia).parameters
    estimator = {"num_samples", "hessian_distribution"}
    assert set(ours) == set(theirs) - {"self", "params", "kwargs", "foreach"} - estimator
    for option, parameter in ours.items():
        assert parameter.default == theirs[option].default, option
    helper = inspect.signature(optim.hutchinson).parameters
    assert {"num_samples", "distribution"} <= set(helper)


# --- hutchinson -----------------------------------------------------------------------


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    diagonal = np.array([3.0, -1.0, 0.5])
    estimate = optim.hutchinson(lambda v: diagonal * v, np.zeros(3), seed=0)
    np.testing.assert_array_equal(estimate, diagonal)


def test_hutchinson_is_unbiased():
    """Mean of n Rademacher samples: within 5 standard deviations of diag H, the
    standard deviation sqrt(sum_{j != i} H_ij^2 / n) computed from H."""
    rng = np.random.default_rng(6)
    a = rng.normal(size=(4, 4))
    hessian = a + a.T
    samples = 4000
    estimate = optim.hutchinson(lambda v: hessian @ v, np.zeros(4), seed=7,
                                num_samples=samples)
    off_diagonal = hessian - np.diag(np.diag(hessian))
    spread = np.sqrt((off_diagonal**2).sum(axis=1) / samples)
    assert np.all(np.abs(estimate - np.diag(hessian)) < 5 * spread)
    assert not np.array_equal(estimate, np.diag(hessian))  # it is an estimate


def test_hutchinson_is_reproducible_and_takes_trees():
    params = {"w": np.zeros((2, 3)), "b": np.zeros(2)}
    hvp = quadratic_hvp_tree(params)
    first = optim.hutchinson(hvp, params, seed=3, distribution="gaussian", num_samples=2)
    again = optim.hutchinson(hvp, params, seed=3, distribution="gaussian", num_samples=2)
    other = optim.hutchinson(hvp, params, seed=4, distribution="gaussian", num_samples=2)
    assert set(first) == {"w", "b"} and first["w"].shape == (2, 3)
    assert all(np.array_equal(first[k], again[k]) for k in params)
    assert not np.array_equal(first["w"], other["w"])


def quadratic_hvp_tree(params):
    return lambda v: {k: 2.0 * v[k] + v[k].sum() for k in params}


def test_hutchinson_checks_its_options():
    with pytest.raises(ValueError, match="hessian_distribution uniform must be one of"):
        optim.hutchinson(lambda v: v, np.zeros(2), seed=0, distribution="uniform")
    with pytest.raises(ValueError, match="num_samples must be positive"):
        optim.hutchinson(lambda v: v, np.zeros(2), seed=0, num_samples=0)
