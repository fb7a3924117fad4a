"""book.optim against torch.optim: every factory and option, long runs, float64."""

from __future__ import annotations

import functools
import inspect

import numpy as np
import pytest
from optim_reference import TORCH_CLASSES, gradient_sequence, numpy_run, torch_error, torch_run

from book import optim

RTOL = 1e-10
ATOL = 1e-300  # only lets exact zeros match
STEPS = 200
SHAPES = {"weight": (3, 4), "bias": (5,)}

CASES = [
    ("sgd", {}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "dampening": 0.3}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"momentum": 0.5, "weight_decay": 0.1}),
    ("sgd", {"momentum": 0.9, "maximize": True}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.01}),
    ("adagrad", {"weight_decay": 0.1}),
    ("adagrad", {"initial_accumulator_value": 0.5, "eps": 1e-6}),
    ("adagrad", {"lr": 0.1, "maximize": True}),
    ("rmsprop", {}),
    ("rmsprop", {"alpha": 0.9, "eps": 1e-6}),
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"momentum": 0.9}),
    ("rmsprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("rmsprop", {"lr": 1e-3, "maximize": True}),
    ("adadelta", {}),
    ("adadelta", {"lr": 0.5, "rho": 0.5, "eps": 1e-4}),
    ("adadelta", {"weight_decay": 0.1}),
    ("adadelta", {"maximize": True}),
    ("adam", {}),
    ("adam", {"lr": 1e-2, "betas": (0.5, 0.9), "eps": 1e-6}),
    ("adam", {"amsgrad": True}),
    ("adam", {"weight_decay": 0.1}),
    ("adam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("adam", {"maximize": True}),
    ("adam", {"amsgrad": True, "maximize": True, "weight_decay": 0.1}),
    ("adamw", {}),
    ("adamw", {"amsgrad": True}),
    ("adamw", {"lr": 1e-2, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.3,
               "maximize": True}),
    ("adamax", {}),
    ("adamax", {"betas": (0.8, 0.99), "eps": 1e-6}),
    ("adamax", {"weight_decay": 0.1}),
    ("adamax", {"lr": 1e-2, "maximize": True}),
    ("nadam", {}),
    ("nadam", {"momentum_decay": 0.05, "eps": 1e-6}),
    ("nadam", {"weight_decay": 0.1}),
    ("nadam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("nadam", {"lr": 1e-2, "maximize": True, "betas": (0.5, 0.9)}),
    ("radam", {}),
    ("radam", {"betas": (0.9, 0.99), "eps": 1e-6}),  # rectifies from an earlier step
    ("radam", {"betas": (0.9, 0.5)}),  # rho_inf = 3: never rectified
    ("radam", {"weight_decay": 0.1}),
    ("radam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("radam", {"lr": 1e-2, "maximize": True}),
    ("asgd", {}),
    ("asgd", {"lr": 0.05, "lambd": 1e-2, "alpha": 0.5}),
    ("asgd", {"t0": 50}),  # averaging from step 51
    ("asgd", {"t0": 20.5, "lambd": 0.01, "weight_decay": 0.1}),
    ("asgd", {"lr": 1e-3, "t0": 100, "maximize": True}),
    ("rprop", {}),
    ("rprop", {"etas": (0.3, 1.5), "step_sizes": (1e-3, 1.0)}),
    ("rprop", {"lr": 0.1, "step_sizes": (0.0, 0.05)}),
    ("rprop", {"lr": 1e-3, "maximize": True}),
    ("adafactor", {}),
    ("adafactor", {"lr": 1.0}),  # the relative step 1/sqrt(t) below lr from step 2
    ("adafactor", {"beta2_decay": -0.5, "eps": (1e-30, 1e-2)}),
    ("adafactor", {"eps": (1e-3, 1e-3), "d": 2.0}),
    ("adafactor", {"lr": 0.1, "weight_decay": 0.1}),
    ("adafactor", {"lr": 1e-3, "maximize": True}),
]


def start_params(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {key: rng.normal(size=shape) for key, shape in SHAPES.items()}


def assert_state_matches(state, torch_state, steps):
    """Same buffers in use as torch, with the same values; SGD keeps no torch step."""
    assert state.step == steps
    in_use = {field: value for field, value in state._asdict().items() if value is not None}
    for key, torch_fields in torch_state.items():
        assert torch_fields.pop("step", steps) == steps
        ours = {field: value[key] if isinstance(value, dict) else value
                for field, value in in_use.items() if field != "step"}
        # Adafactor: a buffer this parameter does not use is an empty array.
        ours = {field: value for field, value in ours.items() if np.size(value)}
        assert set(torch_fields) == set(ours)
        for field, expected in torch_fields.items():
            np.testing.assert_allclose(
                ours[field], expected, rtol=RTOL, atol=ATOL, err_msg=field
            )


def both_runs(name, kwargs):
    """(book.optim's, torch's) run of a case: each (params after every step, final state)."""
    params = start_params(seed=len(CASES))
    grad_steps = gradient_sequence(SHAPES, STEPS, seed=sum(map(ord, name)))
    return (numpy_run(getattr(optim, name)(**kwargs), params, grad_steps),
            torch_run(name, kwargs, params, grad_steps))


@pytest.mark.parametrize(
    "name, kwargs", CASES, ids=[f"{n}-{'-'.join(map(str, k.items()))}" for n, k in CASES]
)
def test_matches_torch(name, kwargs):
    (history, state), (expected_history, torch_state) = both_runs(name, kwargs)
    for step, (actual, expected) in enumerate(zip(history, expected_history), start=1):
        for key in SHAPES:
            np.testing.assert_allclose(
                actual[key], expected[key], rtol=RTOL, atol=ATOL, err_msg=f"step {step} {key}"
            )
    assert_state_matches(state, torch_state, STEPS)


def test_adafactor_factors_the_last_two_axes_and_keeps_scalars_whole():
    """A 3-D parameter is factored over its last two axes, one (m, n) matrix per
    leading index; a 0-D parameter keeps a full variance, as in torch."""
    shapes = {"kernel": (2, 3, 4), "scale": ()}
    params = {key: np.random.default_rng(7).normal(size=shape) for key, shape in shapes.items()}
    grad_steps = gradient_sequence(shapes, 60, seed=8)
    expected_history, torch_state = torch_run("adafactor", {"lr": 0.1}, params, grad_steps)
    history, state = numpy_run(optim.adafactor(lr=0.1), params, grad_steps)
    for step, (actual, expected) in enumerate(zip(history, expected_history), start=1):
        for key in shapes:
            np.testing.assert_allclose(
                actual[key], expected[key], rtol=RTOL, atol=ATOL, err_msg=f"step {step} {key}"
            )
    assert state.row_var["kernel"].shape == (2, 3, 1)
    assert state.col_var["kernel"].shape == (2, 1, 4)
    assert_state_matches(state, torch_state, 60)


def test_every_factory_and_torch_option_is_exercised():
    """Each torch option except the tensor/device ones appears in a CASES entry."""
    skipped = {"params", "foreach", "fused", "capturable", "differentiable"}
    for name, cls in TORCH_CLASSES.items():
        options = set(inspect.signature(cls.__init__).parameters) - skipped - {"self"}
        exercised = set().union(*(kwargs for n, kwargs in CASES if n == name))
        assert options - exercised == set(), name
        ours = set(inspect.signature(getattr(optim, name)).parameters)
        assert ours == options, name


# --- validation: the same ValueError, message for message --------------------------

BAD_VALUES = {
    "lr": [-1, -0.5, float("nan")],
    "momentum": [-0.1, float("nan")],
    "weight_decay": [-1e-3, float("nan")],
    "lr_decay": [-0.5],
    "initial_accumulator_value": [-1],
    "eps": [-1e-8, float("nan")],
    "alpha": [-0.1],
    "rho": [-0.1, 1.5, float("nan")],
    "momentum_decay": [-4e-3],
}


def validation_cases():
    for name in ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax",
                 "nadam", "radam", "asgd", "rprop"]:
        names = inspect.signature(getattr(optim, name)).parameters
        for hyperparameter, values in BAD_VALUES.items():
            if hyperparameter in names:
                for value in values:
                    yield name, {hyperparameter: value}
        if "betas" in names:
            for bad in [-0.1, 1.0, 1.5, float("nan")]:
                yield name, {"betas": (bad, 0.999)}
                yield name, {"betas": (0.9, bad)}
    yield "sgd", {"nesterov": True}
    yield "sgd", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}
    yield "sgd", {"lr": -1, "momentum": -1}  # the first failing check wins
    yield "adam", {"eps": -1.0, "betas": (2.0, 2.0)}
    nan = float("nan")
    for etas in [(0, 1.2), (0.5, 1), (1, 1.2), (-0.5, 2.0), (nan, 1.2), (0.5, nan)]:
        yield "rprop", {"etas": etas}
    yield "rprop", {"lr": -1, "etas": (2, 0.5)}
    for option, values in {
        "lr": [-1, -0.5, nan],
        "beta2_decay": [0.1, nan],
        "eps": [(-1, 1e-3), (nan, 1e-3), (None, -1e-3), (None, nan)],
        "d": [0.5, nan],
        "weight_decay": [-1, nan],
    }.items():
        for value in values:
            yield "adafactor", {option: value}
    yield "adafactor", {"d": 0, "weight_decay": -1}


@pytest.mark.parametrize("name, kwargs", list(validation_cases()))
def test_invalid_hyperparameters_raise_torchs_error(name, kwargs):
    expected = torch_error(name, kwargs)
    if expected is None:  # torch accepts it (SGD lets NaN through): so do we
        getattr(optim, name)(**kwargs)
        return
    with pytest.raises(ValueError) as error:
        getattr(optim, name)(**kwargs)
    assert str(error.value) == expected


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "nadam"])
def test_batched_validation_names_the_offending_element(name):
    bad = np.array([[1e-3], [-0.25], [-0.5]])
    with pytest.raises(ValueError) as error:
        getattr(optim, name)(lr=bad)
    assert str(error.value) == torch_error(name, {"lr": -0.25})


# --- float32 -------------------------------------------------------------------------

FLOAT32_RTOL = 1e-5
FLOAT32_CASES = [(name, {}) for name in
                 ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax",
                  "nadam", "radam", "asgd", "rprop", "adafactor"]] + [
                     ("sgd", {"momentum": 0.9}), ("adam", {"amsgrad": True})]


def as_float32(tree: dict) -> dict:
    return {key: value.astype(np.float32) for key, value in tree.items()}


def float32_error(name, kwargs, steps=200, seed=3):
    """The largest error of float32 book.optim against float64 torch over a run,
    relative to each array's largest magnitude at that step."""
    params = start_params(seed)
    rng = np.random.default_rng(seed)
    grad_steps = [{k: rng.normal(size=s) for k, s in SHAPES.items()} for _ in range(steps)]
    expected_history, _ = torch_run(name, kwargs, params, grad_steps)
    history, _ = numpy_run(
        getattr(optim, name)(**kwargs), as_float32(params), map(as_float32, grad_steps)
    )
    worst = 0.0
    for actual, expected in zip(history, expected_history):
        for key in SHAPES:
            assert actual[key].dtype == np.float32
            scale = np.abs(expected[key]).max()
            worst = max(worst, np.abs(actual[key] - expected[key]).max() / scale)
    return worst


@pytest.mark.parametrize("name, kwargs", FLOAT32_CASES)
def test_float32_agreement(name, kwargs):
    """float32 parameters stay float32 and track the float64 torch run: over 200 steps
    with unit-normal gradients from unit-normal starts, the largest error relative to
    the array's largest magnitude stays below FLOAT32_RTOL."""
    assert float32_error(name, kwargs) < FLOAT32_RTOL


# --- the verification record (tests/optim_verification.py) ---------------------------

TINY = 1e-300  # ATOL's floor: only exact zeros divide by it


def relative_error(actual, expected) -> float:
    """max |actual - expected| / max(|expected|, TINY) over the array."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), TINY)))


def largest_relative_error(name: str) -> float:
    """The largest relative error of `name` against torch over its CASES: every
    parameter after every step and every buffer of the final state."""
    worst = 0.0
    for kwargs in (kwargs for case, kwargs in CASES if case == name):
        (history, state), (expected_history, torch_state) = both_runs(name, kwargs)
        for actual, expected in zip(history, expected_history):
            worst = max(worst, *(relative_error(actual[k], expected[k]) for k in SHAPES))
        for key, torch_fields in torch_state.items():
            for field, expected in torch_fields.items():
                if field != "step":
                    value = getattr(state, field)  # NAdam's mu_product: one float
                    actual = value[key] if isinstance(value, dict) else value
                    worst = max(worst, relative_error(actual, expected))
    return worst


TORCH_NINE = ("sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax", "nadam",
              "radam")
VERIFY = {name: functools.partial(largest_relative_error, name) for name in TORCH_NINE}
VERIFY_REFERENCE = {name: f"torch.optim.{TORCH_CLASSES[name].__name__}" for name in TORCH_NINE}

TORCH_FRONTIER = ("asgd", "rprop", "adafactor")
VERIFY.update({name: functools.partial(largest_relative_error, name) for name in TORCH_FRONTIER})
VERIFY_REFERENCE.update(
    {name: f"torch.optim.{TORCH_CLASSES[name].__name__}" for name in TORCH_FRONTIER}
)
