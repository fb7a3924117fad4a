"""signSGD, Lion, LARS and LAMB against pytorch_optimizer (and Lion against lion_pytorch),
LAMB's paper defaults against a transcription of the paper's Algorithm 2; float64."""

from __future__ import annotations

import functools

import lion_pytorch
import numpy as np
import pytest
import pytorch_optimizer
from optim_reference import gradient_sequence, numpy_run, reference_run

from book import optim

RTOL = 1e-10
ATOL = 1e-300  # only lets exact zeros match
TINY = 1e-300
STEPS = 200
# A matrix, a vector and a 3-D kernel whose norm (about 35) exceeds LAMB's clamp at 10.
SHAPES = {"weight": (4, 3), "bias": (5,), "kernel": (2, 3, 2)}
START_SCALE = {"weight": 1.0, "bias": 1.0, "kernel": 10.0}

# pytorch_optimizer.Lamb's defaults in book.optim.lamb's options.
LAMB_AS_REFERENCE = {"bias_correction": "step", "weight_decouple": True, "max_trust_norm": 10.0}

# (factory, our kwargs, reference class, reference kwargs); foreach=False where the
# reference has it, so that it runs its per-parameter loop.
CASES = [
    ("signsgd", {"momentum": 0}, pytorch_optimizer.SignSGD, {"momentum": 0}),
    ("signsgd", {"momentum": 0.9}, pytorch_optimizer.SignSGD, {}),
    ("signsgd", {"momentum": 0.5, "weight_decay": 0.1}, pytorch_optimizer.SignSGD,
     {"momentum": 0.5, "weight_decay": 0.1}),
    ("signsgd", {"momentum": 0.9, "weight_decay": 0.1, "weight_decouple": False},
     pytorch_optimizer.SignSGD, {"weight_decay": 0.1, "weight_decouple": False}),
    ("signsgd", {"lr": 1e-2, "momentum": 0.9, "maximize": True}, pytorch_optimizer.SignSGD,
     {"lr": 1e-2, "maximize": True}),
    ("lion", {}, pytorch_optimizer.Lion, {}),
    ("lion", {"lr": 1e-3, "betas": (0.95, 0.98), "weight_decay": 0.1}, pytorch_optimizer.Lion,
     {"lr": 1e-3, "betas": (0.95, 0.98), "weight_decay": 0.1}),
    ("lion", {"weight_decay": 0.5, "fixed_decay": True}, pytorch_optimizer.Lion,
     {"weight_decay": 0.5, "fixed_decay": True}),
    ("lion", {"weight_decay": 0.1, "weight_decouple": False}, pytorch_optimizer.Lion,
     {"weight_decay": 0.1, "weight_decouple": False}),
    ("lion", {"lr": 1e-2, "maximize": True}, pytorch_optimizer.Lion,
     {"lr": 1e-2, "maximize": True}),
    ("lars", {}, pytorch_optimizer.LARS, {}),
    ("lars", {"weight_decay": 0.01, "trust_coefficient": 0.02}, pytorch_optimizer.LARS,
     {"weight_decay": 0.01, "trust_coefficient": 0.02}),
    ("lars", {"lr": 0.1, "nesterov": True, "weight_decay": 1e-3}, pytorch_optimizer.LARS,
     {"lr": 0.1, "nesterov": True, "weight_decay": 1e-3}),
    ("lars", {"momentum": 0.0, "lr": 0.1}, pytorch_optimizer.LARS,
     {"momentum": 0.0, "lr": 0.1}),
    ("lars", {"dampening": 0.5, "maximize": True}, pytorch_optimizer.LARS,
     {"dampening": 0.5, "maximize": True}),
    ("lamb", LAMB_AS_REFERENCE, pytorch_optimizer.Lamb, {}),
    ("lamb", {**LAMB_AS_REFERENCE, "weight_decay": 0.1}, pytorch_optimizer.Lamb,
     {"weight_decay": 0.1}),
    ("lamb", {**LAMB_AS_REFERENCE, "weight_decay": 0.1, "fixed_decay": True},
     pytorch_optimizer.Lamb, {"weight_decay": 0.1, "fixed_decay": True}),
    ("lamb", {**LAMB_AS_REFERENCE, "weight_decay": 0.1, "weight_decouple": False},
     pytorch_optimizer.Lamb, {"weight_decay": 0.1, "weight_decouple": False}),
    ("lamb", {**LAMB_AS_REFERENCE, "bias_correction": "none", "grad_averaging": False},
     pytorch_optimizer.Lamb, {"adam_debias": True, "grad_averaging": False}),
    ("lamb", {**LAMB_AS_REFERENCE, "lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-8,
              "maximize": True},
     pytorch_optimizer.Lamb, {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-8, "maximize": True}),
]
REFERENCE_NAMES = {"signsgd": "pytorch_optimizer.SignSGD", "lion": "pytorch_optimizer.Lion",
                   "lars": "pytorch_optimizer.LARS", "lamb": "pytorch_optimizer.Lamb"}


def start_params(seed: int = 11) -> dict:
    rng = np.random.default_rng(seed)
    return {key: START_SCALE[key] * rng.normal(size=shape) for key, shape in SHAPES.items()}


def relative_error(actual, expected) -> float:
    actual, expected = np.asarray(actual), np.asarray(expected)
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), TINY)))


def both_runs(name, kwargs, reference, reference_kwargs):
    """(book.optim's, the reference's) run: each (params after every step, final state)."""
    params = start_params()
    grad_steps = gradient_sequence(SHAPES, STEPS, seed=sum(map(ord, name)))
    if reference is not lion_pytorch.Lion:
        reference_kwargs = {"foreach": False, **reference_kwargs}
    return (numpy_run(getattr(optim, name)(**kwargs), params, grad_steps),
            reference_run(reference, reference_kwargs, params, grad_steps))


def errors(ours, theirs, buffers):
    """The largest relative error of every parameter after every step and of each
    buffer in `buffers` (our name: the reference's name) at the end."""
    (history, state), (expected_history, expected_state) = ours, theirs
    worst = {}
    for step, (actual, expected) in enumerate(zip(history, expected_history), start=1):
        for key in SHAPES:
            worst[f"step {step} {key}"] = relative_error(actual[key], expected[key])
    for field, their_field in buffers.items():
        for key in SHAPES:
            worst[f"{field} {key}"] = relative_error(
                getattr(state, field)[key], expected_state[key][their_field]
            )
    return worst


BUFFERS = {"signsgd": {"momentum_buffer": "momentum_buffer"}, "lion": {"exp_avg": "exp_avg"},
           "lars": {"momentum_buffer": "momentum_buffer"},
           "lamb": {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}}


def buffers_in_use(name, kwargs):
    if name in ("signsgd", "lars") and kwargs.get("momentum", 0.9 if name == "lars" else 0) == 0:
        return {}
    return BUFFERS[name]


@pytest.mark.parametrize(
    "name, kwargs, reference, reference_kwargs", CASES,
    ids=[f"{n}-{'-'.join(map(str, k.items()))}" for n, k, _, _ in CASES],
)
def test_matches_reference(name, kwargs, reference, reference_kwargs):
    worst = errors(*both_runs(name, kwargs, reference, reference_kwargs),
                   buffers_in_use(name, kwargs))
    failing = {where: error for where, error in worst.items() if error > RTOL}
    assert not failing, list(failing.items())[:5]


def largest_relative_error(name: str) -> float:
    """The largest relative error of `name` over its reference CASES."""
    return max(
        max(errors(*both_runs(name, kwargs, reference, ref_kwargs),
                   buffers_in_use(name, kwargs)).values())
        for case, kwargs, reference, ref_kwargs in CASES if case == name
    )


VERIFY = {name: functools.partial(largest_relative_error, name) for name in REFERENCE_NAMES}
VERIFY_REFERENCE = dict(REFERENCE_NAMES)


# --- Lion: the authors' style of code (lion_pytorch) -----------------------------------

@pytest.mark.parametrize("kwargs, reference_kwargs", [
    ({}, {}),
    ({"lr": 1e-3, "betas": (0.95, 0.98), "weight_decay": 0.1},
     {"lr": 1e-3, "betas": (0.95, 0.98), "weight_decay": 0.1}),
    # lion_pytorch's decoupled_weight_decay divides lambda by the initial lr, so the
    # decay per step is lambda: our fixed_decay.
    ({"weight_decay": 0.5, "fixed_decay": True},
     {"weight_decay": 0.5, "decoupled_weight_decay": True}),
])
def test_lion_matches_lion_pytorch(kwargs, reference_kwargs):
    """lion_pytorch forms c and m as beta*m + (1-beta)*g, pytorch_optimizer (and we) by
    lerp: the last bits of m differ, the signs and so the parameters agree."""
    worst = errors(*both_runs("lion", kwargs, lion_pytorch.Lion, reference_kwargs),
                   {"exp_avg": "exp_avg"})
    failing = {where: error for where, error in worst.items() if error > RTOL}
    assert not failing, list(failing.items())[:5]


# --- LAMB: the paper's Algorithm 2 ---------------------------------------------------------

def lamb_algorithm_2(params, grad_steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-6,
                     weight_decay=0.0):
    """You et al. (2020), Algorithm 2, line by line, per parameter array, with phi the
    identity; plus book.optim.lamb's two documented guards in the trust ratio (eps
    added to ||r + lambda x||, and a ratio of 1 where a norm is 0)."""
    beta1, beta2 = betas
    x = {key: value.copy() for key, value in params.items()}
    m = {key: np.zeros_like(value) for key, value in params.items()}
    v = {key: np.zeros_like(value) for key, value in params.items()}
    history = []
    for t, grads in enumerate(grad_steps, start=1):
        for key, g in grads.items():
            m[key] = beta1 * m[key] + (1 - beta1) * g
            v[key] = beta2 * v[key] + (1 - beta2) * g * g
            m_hat = m[key] / (1 - beta1**t)
            v_hat = v[key] / (1 - beta2**t)
            r = m_hat / (np.sqrt(v_hat) + eps)
            update = r + weight_decay * x[key]
            x_norm, update_norm = np.linalg.norm(x[key]), np.linalg.norm(update)
            ratio = 1.0 if x_norm == 0 or update_norm == 0 else x_norm / (update_norm + eps)
            x[key] = x[key] - lr * ratio * update
        history.append({key: value.copy() for key, value in x.items()})
    return history


@pytest.mark.parametrize("kwargs", [
    {},
    {"weight_decay": 0.01},
    {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-8},
])
def test_lamb_defaults_follow_the_papers_algorithm(kwargs):
    params = start_params()
    grad_steps = gradient_sequence(SHAPES, STEPS, seed=5)
    history, _ = numpy_run(optim.lamb(**kwargs), params, grad_steps)
    expected_history = lamb_algorithm_2(params, grad_steps, **kwargs)
    for step, (actual, expected) in enumerate(zip(history, expected_history), start=1):
        for key in SHAPES:
            np.testing.assert_allclose(actual[key], expected[key], rtol=RTOL, atol=ATOL,
                                       err_msg=f"step {step} {key}")


def test_lamb_bias_correction_modes_differ_as_documented():
    """Under the trust ratio, bias correction of both moments changes little without
    weight decay (only through eps), while pytorch_optimizer's 'step' mode makes the
    first step 1/(1 - beta1) = 10 times larger."""
    params = {"weight": np.random.default_rng(3).normal(size=(4, 3))}
    grads = {"weight": np.random.default_rng(4).normal(size=(4, 3))}
    moved = {}
    for mode in ("moments", "step", "none"):
        opt = optim.lamb(bias_correction=mode)
        new, _ = opt.step(params, grads, opt.init(params))
        moved[mode] = np.linalg.norm(new["weight"] - params["weight"])
    weight_norm = np.linalg.norm(params["weight"])
    np.testing.assert_allclose(moved["moments"], 1e-3 * weight_norm, rtol=1e-5)
    np.testing.assert_allclose(moved["none"], 1e-3 * weight_norm, rtol=1e-5)
    np.testing.assert_allclose(moved["step"], 10 * moved["none"], rtol=1e-12)


# --- what the whole-array rules do with vectors and batches ----------------------------

def test_lars_spares_vectors_and_lamb_does_not():
    """LARS: a vector takes a plain momentum-SGD step (lr * g at step 1); LAMB scales
    a vector's step to lr * ||theta|| like any array."""
    params = {"bias": np.array([1.0, -2.0, 2.0])}
    grads = {"bias": np.array([1e3, 0.5, -1e-3])}
    opt = optim.lars(lr=0.1, weight_decay=0.5)
    new, _ = opt.step(params, grads, opt.init(params))
    np.testing.assert_allclose(new["bias"], params["bias"] - 0.1 * grads["bias"], rtol=1e-15)
    opt = optim.lamb(lr=0.1)
    new, _ = opt.step(params, grads, opt.init(params))
    np.testing.assert_allclose(np.linalg.norm(new["bias"] - params["bias"]), 0.1 * 3.0,
                               rtol=1e-5)


@pytest.mark.parametrize("name", ["lars", "lamb", "adafactor"])
def test_whole_array_rules_refuse_batched_hyperparameters(name):
    with pytest.raises(TypeError, match="must be a scalar"):
        getattr(optim, name)(lr=np.array([1e-3, 1e-2]))


# --- validation: the reference's messages ------------------------------------------------

VALIDATION = [
    ("signsgd", {"lr": -1}), ("signsgd", {"momentum": 1.0}), ("signsgd", {"momentum": -0.1}),
    ("signsgd", {"momentum": float("nan")}), ("signsgd", {"weight_decay": -1e-3}),
    ("lion", {"lr": -0.5}), ("lion", {"betas": (1.0, 0.99)}), ("lion", {"betas": (0.9, -0.1)}),
    ("lion", {"weight_decay": -1}),
    ("lars", {"lr": -1}), ("lars", {"weight_decay": -1}), ("lars", {"momentum": 1.0}),
    ("lars", {"dampening": -0.5}), ("lars", {"trust_coefficient": -1e-3}),
    ("lamb", {"lr": -1}), ("lamb", {"betas": (1.0, 0.999)}), ("lamb", {"betas": (0.9, 1.5)}),
    ("lamb", {"weight_decay": -0.1}), ("lamb", {"eps": -1e-6}),
]
CLASSES = {"signsgd": pytorch_optimizer.SignSGD, "lion": pytorch_optimizer.Lion,
           "lars": pytorch_optimizer.LARS, "lamb": pytorch_optimizer.Lamb}


@pytest.mark.parametrize("name, kwargs", VALIDATION)
def test_invalid_hyperparameters_raise_the_references_message(name, kwargs):
    """pytorch_optimizer raises ValueError, or its own NegativeLRError for lr; we raise
    ValueError with the same text."""
    import torch

    with pytest.raises(Exception) as theirs:
        CLASSES[name]([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as ours:
        getattr(optim, name)(**kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("name", ["signsgd", "lion", "rprop", "asgd"])
def test_elementwise_rules_race_learning_rates_in_one_call(name):
    """A column of learning rates runs each setting as its own run would."""
    lrs = np.array([[1e-3], [1e-2], [0.1]])
    params = np.random.default_rng(1).normal(size=(3, 4))
    grad_steps = [np.random.default_rng(t).normal(size=(3, 4)) for t in range(30)]
    batched, _ = numpy_run(getattr(optim, name)(lr=lrs), params, grad_steps)
    for row, lr in enumerate(lrs[:, 0]):
        alone, _ = numpy_run(getattr(optim, name)(lr=lr), params[row], [g[row] for g in grad_steps])
        np.testing.assert_array_equal(batched[-1][row], alone[-1])
