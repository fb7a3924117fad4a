"""book.optim's properties: random runs against torch, purity, batched
hyperparameters, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optim_reference import gradient_sequence, torch_run

from book import optim
from book.optim import _base
from book.optim._base import CHUNK

NAMES = ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax", "nadam", "radam"]

unit = st.floats(0.0, 1.0)
rate = st.floats(1e-4, 0.3)
decay = st.floats(0.0, 0.3)
beta = st.floats(0.0, 0.999)
eps = st.floats(1e-12, 1e-3)
flag = st.booleans()
betas = st.tuples(beta, beta)

SPACES = {
    "sgd": dict(lr=rate, momentum=st.floats(0.0, 0.99), dampening=unit, weight_decay=decay,
                nesterov=flag, maximize=flag),
    "adagrad": dict(lr=rate, lr_decay=st.floats(0.0, 0.1), weight_decay=decay,
                    initial_accumulator_value=unit, eps=eps, maximize=flag),
    # alpha >= 0.05: near 0, centered RMSprop takes sqrt(v - gbar**2) of a difference
    # that cancels to rounding error, where torch's fused multiply-add and NumPy differ.
    "rmsprop": dict(lr=rate, alpha=st.floats(0.05, 0.999), eps=eps, weight_decay=decay,
                    momentum=st.floats(0.0, 0.99), centered=flag, maximize=flag),
    "adadelta": dict(lr=st.floats(1e-3, 1.0), rho=unit, eps=eps, weight_decay=decay,
                     maximize=flag),
    "adam": dict(lr=rate, betas=betas, eps=eps, weight_decay=decay, amsgrad=flag,
                 maximize=flag, decoupled_weight_decay=flag),
    "adamw": dict(lr=rate, betas=betas, eps=eps, weight_decay=decay, amsgrad=flag,
                  maximize=flag),
    "adamax": dict(lr=rate, betas=betas, eps=eps, weight_decay=decay, maximize=flag),
    "nadam": dict(lr=rate, betas=betas, eps=eps, weight_decay=decay,
                  momentum_decay=st.floats(0.0, 0.1), decoupled_weight_decay=flag,
                  maximize=flag),
    "radam": dict(lr=rate, betas=betas, eps=eps, weight_decay=decay,
                  decoupled_weight_decay=flag, maximize=flag),
}

MAX_EXAMPLES = 25
# Looser than the fixed runs' 1e-10 (tests/test_optim_torch.py): with a random large lr
# some runs are chaotic, and the last-bit differences of torch's fused multiply-adds
# grow about tenfold every few steps (measured: AdaMax, lr 0.26, 18 steps, 1.4e-10).
# 400 derandomized examples pass at 1e-8.
RANDOM_RTOL = 1e-8
shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@st.composite
def runs(draw):
    name = draw(st.sampled_from(NAMES))
    kwargs = draw(st.fixed_dictionaries(SPACES[name]))
    if kwargs.get("nesterov"):  # torch's condition for Nesterov momentum
        kwargs.update(momentum=max(kwargs["momentum"], 0.1), dampening=0.0)
    layout = {"a": draw(shapes), "b": draw(shapes)}
    steps = draw(st.integers(1, 40))
    return name, kwargs, layout, steps, draw(st.integers(0, 2**16))


@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None)
@given(runs())
def test_random_runs_match_torch(run):
    name, kwargs, layout, steps, seed = run
    rng = np.random.default_rng(seed)
    params = {key: rng.normal(size=shape) for key, shape in layout.items()}
    grad_steps = gradient_sequence(layout, steps, seed)
    expected, _ = torch_run(name, kwargs, params, grad_steps)
    opt = getattr(optim, name)(**kwargs)
    state = opt.init(params)
    for step, (grads, want) in enumerate(zip(grad_steps, expected), start=1):
        params, state = opt.step(params, grads, state)
        for key in layout:
            np.testing.assert_allclose(
                params[key], want[key], rtol=RANDOM_RTOL, atol=1e-300, err_msg=f"step {step}"
            )


# --- purity --------------------------------------------------------------------------

ALL_BUFFERS = {
    "sgd": {"momentum": 0.9, "weight_decay": 0.1},
    "adagrad": {"weight_decay": 0.1},
    "rmsprop": {"momentum": 0.9, "centered": True, "weight_decay": 0.1},
    "adadelta": {"weight_decay": 0.1},
    "adam": {"amsgrad": True, "weight_decay": 0.1},
    "adamw": {"amsgrad": True},
    "adamax": {"weight_decay": 0.1},
    "nadam": {"weight_decay": 0.1, "decoupled_weight_decay": True},
    "radam": {"weight_decay": 0.1},
}


def arrays_of(tree):
    """Every array in a params/grads tree or a state."""
    if isinstance(tree, np.ndarray):
        return [tree]
    if isinstance(tree, dict):
        return list(tree.values())
    if isinstance(tree, tuple):
        return [a for field in tree for a in arrays_of(field)]
    return []


@pytest.mark.parametrize("size", [7, 2 * CHUNK + 3], ids=["small", "sliced"])
@pytest.mark.parametrize("name", NAMES)
def test_step_is_pure(name, size):
    rng = np.random.default_rng(0)
    opt = getattr(optim, name)(**ALL_BUFFERS[name])
    params = {"w": rng.normal(size=size), "v": rng.normal(size=(2, 3))}
    state = opt.init(params)
    grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
    params, state = opt.step(params, grads, state)  # buffers now nonzero
    inputs = arrays_of(params) + arrays_of(grads) + arrays_of(state)
    copies = [a.copy() for a in inputs]
    new_params, new_state = opt.step(params, grads, state)
    for before, after in zip(copies, inputs):
        np.testing.assert_array_equal(before, after)
    for output in arrays_of(new_params) + arrays_of(new_state):
        assert not any(np.shares_memory(output, a) for a in inputs)
    assert state.step == 1 and new_state.step == 2


@pytest.mark.parametrize("threads", [1, 3], ids=["one-thread", "three-threads"])
@pytest.mark.parametrize("name", NAMES)
def test_sliced_path_matches_torch(name, threads, monkeypatch):
    """Arrays larger than CHUNK are updated slice by slice, split among threads when
    large enough (forced here for a small array); same numbers as torch."""
    monkeypatch.setattr(_base, "_WORKERS", threads)
    monkeypatch.setattr(_base, "_MIN_CHUNKS_PER_THREAD", 1)
    rng = np.random.default_rng(1)
    layout = {"w": (4 * CHUNK + 3,), "m": (2, 3)}
    params = {k: rng.normal(size=s) for k, s in layout.items()}
    grad_steps = gradient_sequence(layout, 12, seed=2)
    expected, _ = torch_run(name, ALL_BUFFERS[name], params, grad_steps)
    opt = getattr(optim, name)(**ALL_BUFFERS[name])
    state = opt.init(params)
    for grads in grad_steps:
        params, state = opt.step(params, grads, state)
    for key in layout:
        np.testing.assert_allclose(params[key], expected[-1][key], rtol=1e-10, atol=1e-300)


def test_single_array_params_and_noncontiguous_input():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(3, 4))
    grad = rng.normal(size=(4, 3)).T  # a transposed, non-contiguous view
    opt = optim.adam(lr=0.1)
    new, state = opt.step(base.T.T, grad, opt.init(base))
    expected, _ = torch_run("adam", {"lr": 0.1}, {"x": base}, [{"x": np.ascontiguousarray(grad)}])
    np.testing.assert_allclose(new, expected[0]["x"], rtol=1e-12)
    assert isinstance(state.exp_avg, np.ndarray)


# --- batched hyperparameters ------------------------------------------------------------

BATCHED = [
    ("sgd", {"lr": [0.1, 0.01, 0.3]}, {"momentum": 0.9}),
    ("sgd", {"momentum": [0.0, 0.5, 0.9], "dampening": [0.0, 0.5, 0.2]}, {}),
    ("adagrad", {"lr_decay": [0.0, 0.1, 0.5], "initial_accumulator_value": [0, 0.1, 1]}, {}),
    ("rmsprop", {"momentum": [0.0, 0.5, 0.9], "alpha": [0.5, 0.9, 0.99]}, {"centered": True}),
    ("adadelta", {"rho": [0.0, 0.5, 0.9], "eps": [1e-6, 1e-3, 1e-8]}, {}),
    ("adam", {"betas": ([0.0, 0.5, 0.9], [0.5, 0.9, 0.999]), "weight_decay": [0, 0.1, 1]},
     {"amsgrad": True}),
    ("adamw", {"lr": [1e-3, 1e-2, 1e-1], "weight_decay": [0, 0.1, 1]}, {}),
    ("adamax", {"betas": ([0.0, 0.5, 0.9], 0.99), "eps": [1e-8, 1e-3, 1e-1]}, {}),
    ("nadam", {"betas": ([0.5, 0.8, 0.9], 0.999), "momentum_decay": [0, 4e-3, 0.1]}, {}),
    ("radam", {"betas": (0.9, [0.5, 0.99, 0.999])}, {"decoupled_weight_decay": True,
                                                     "weight_decay": 0.1}),
]


def column(value):
    """A per-row hyperparameter as a (3, 1) column, so it broadcasts over (3, n) params."""
    if isinstance(value, tuple):
        return tuple(column(v) for v in value)
    return np.asarray(value, dtype=float).reshape(-1, 1) if isinstance(value, list) else value


def row(value, i):
    if isinstance(value, tuple):
        return tuple(row(v, i) for v in value)
    return value[i] if isinstance(value, list) else value


@pytest.mark.parametrize("name, batched, fixed", BATCHED, ids=[b[0] for b in BATCHED])
def test_batched_equals_per_element_calls(name, batched, fixed):
    rng = np.random.default_rng(3)
    params = rng.normal(size=(3, 5))
    grad_steps = [rng.normal(size=(3, 5)) * rng.choice([1e-9, 0, 1, 1e6], size=(3, 5))
                  for _ in range(30)]
    factory = getattr(optim, name)
    together = factory(**{k: column(v) for k, v in batched.items()}, **fixed)
    singles = [factory(**{k: row(v, i) for k, v in batched.items()}, **fixed) for i in range(3)]
    state = together.init(params)
    single_params = [params[i] for i in range(3)]
    single_states = [opt.init(p) for opt, p in zip(singles, single_params)]
    for grads in grad_steps:
        params, state = together.step(params, grads, state)
        for i, opt in enumerate(singles):
            single_params[i], single_states[i] = opt.step(
                single_params[i], grads[i], single_states[i]
            )
    for i in range(3):
        np.testing.assert_allclose(params[i], single_params[i], rtol=1e-12, atol=1e-300)
        for field, value in single_states[i]._asdict().items():
            if isinstance(value, np.ndarray):
                np.testing.assert_allclose(getattr(state, field)[i], value, rtol=1e-12,
                                           atol=1e-300, err_msg=field)


def test_batched_float32_stays_float32():
    opt = optim.adam(lr=np.array([[1e-3], [1e-2]]), betas=(np.array([[0.9], [0.5]]), 0.999))
    params = np.ones((2, 3), dtype=np.float32)
    new, state = opt.step(params, params, opt.init(params))
    assert new.dtype == state.exp_avg.dtype == state.exp_avg_sq.dtype == np.float32


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: optim.adam(lr="fast"), TypeError, "lr must be a real number"),
        (lambda: optim.adam(betas=0.9), TypeError, r"betas must be a pair"),
        (lambda: optim.sgd(nesterov="yes"), TypeError, "nesterov must be True or False"),
        (lambda: optim.adam(lr=np.ones(3)).init(np.ones(4)), ValueError,
         r"lr of shape \(3,\) does not broadcast to params of shape \(4,\)"),
        (lambda: optim.adam(lr=np.ones((3, 1))).init(np.ones(4)), ValueError,
         r"does not broadcast"),
        (lambda: optim.adam().init(np.arange(3)), TypeError, "floating-point array"),
        (lambda: optim.adam().init([1.0, 2.0]), TypeError, "a NumPy array or a dict"),
        (lambda: optim.adam().init({}), ValueError, "empty dict"),
        (lambda: optim.adam().init({"w": 1.0}), TypeError, r"params\['w'\] must be a NumPy"),
    ],
)
def test_bad_arguments_get_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bad_steps_get_clear_errors():
    opt = optim.adam()
    params = {"w": np.ones(3), "b": np.ones(2)}
    state = opt.init(params)
    with pytest.raises(ValueError, match="grads must have the same structure as params"):
        opt.step(params, {"w": np.ones(3)}, state)
    with pytest.raises(ValueError, match=r"grads for params\['b'\] has shape \(3,\), expected"):
        opt.step(params, {"w": np.ones(3), "b": np.ones(3)}, state)
    with pytest.raises(TypeError, match="state must be the AdamState"):
        opt.step(params, params, optim.sgd(momentum=0.9).init(params))
    with pytest.raises(ValueError, match="state.exp_avg must have the same structure"):
        opt.step(params, params, state._replace(exp_avg=np.ones(3)))
