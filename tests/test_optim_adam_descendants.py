"""Adam's recent descendants against their references, step for step in float64:
Yogi, AdaBelief, Adan, ADOPT, AdEMAMix and MARS against pytorch_optimizer 4.1.0,
Lookahead against pytorch_optimizer.Lookahead around torch.optim, Schedule-Free AdamW
against the authors' schedulefree.AdamWScheduleFree."""

from __future__ import annotations

import functools
import inspect

import numpy as np
import pytest
import pytorch_optimizer
import schedulefree
import torch
import optim_reference
from optim_reference import gradient_sequence, reference_run

from book import optim

RTOL = 1e-10
TINY = 1e-300  # only lets exact zeros match
STEPS = 150
SHAPES = {"weight": (3, 4), "bias": (5,), "kernel": (2, 3, 2)}


def reference_optimizer(name: str, kwargs: dict, tensors: list):
    """The reference optimizer of `name` over `tensors`, per-tensor code paths."""
    if name == "lookahead":
        inner_name, inner_kwargs = kwargs["optimizer"]
        inner = getattr(torch.optim, inner_name)(tensors, foreach=False, **inner_kwargs)
        rest = {k: v for k, v in kwargs.items() if k != "optimizer"}
        return pytorch_optimizer.Lookahead(inner, **rest)
    if name == "schedule_free_adamw":
        reference = schedulefree.AdamWScheduleFree(tensors, foreach=False, **kwargs)
        reference.train()
        return reference
    return REFERENCES[name](tensors, foreach=False, **{**OUR_DEFAULTS.get(name, {}), **kwargs})


REFERENCES = {
    "yogi": pytorch_optimizer.Yogi,
    "adabelief": pytorch_optimizer.AdaBelief,
    "adan": pytorch_optimizer.Adan,
    "adopt": pytorch_optimizer.ADOPT,
    "ademamix": pytorch_optimizer.AdEMAMix,
    "mars": pytorch_optimizer.MARS,
}
# Where our defaults differ from the reference's (the paper's choice, or the one form
# we implement).
OUR_DEFAULTS = {
    "ademamix": {"weight_decouple": True},
    "mars": {"mars_type": "adamw", "weight_decouple": True},
}
REFERENCE_NAMES = {
    **{name: f"pytorch_optimizer.{cls.__name__}" for name, cls in REFERENCES.items()},
    "lookahead": "pytorch_optimizer.Lookahead",
    "schedule_free_adamw": "schedulefree.AdamWScheduleFree",
}


def ours(name: str, kwargs: dict):
    if name == "lookahead":
        inner_name, inner_kwargs = kwargs["optimizer"]
        inner = getattr(optim, inner_name.lower())(**inner_kwargs)
        return optim.lookahead(inner, **{k: v for k, v in kwargs.items() if k != "optimizer"})
    return getattr(optim, name)(**kwargs)


CASES = [
    ("yogi", {}),
    ("yogi", {"lr": 1e-3, "betas": (0.5, 0.9), "eps": 1e-6, "initial_accumulator": 0.0}),
    ("yogi", {"weight_decay": 0.1}),
    ("yogi", {"weight_decay": 0.1, "weight_decouple": False, "maximize": True}),
    ("yogi", {"weight_decay": 0.1, "fixed_decay": True}),
    ("adabelief", {}),
    ("adabelief", {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-8, "maximize": True}),
    ("adabelief", {"ams_bound": True, "weight_decay": 0.1}),
    ("adabelief", {"weight_decay": 0.1, "weight_decouple": False, "fixed_decay": True}),
    ("adabelief", {"weight_decay": 0.1, "fixed_decay": True}),
    ("adabelief", {"rectify": True}),
    ("adabelief", {"rectify": True, "degenerated_to_sgd": False, "ams_bound": True}),
    ("adabelief", {"rectify": True, "n_sma_threshold": 4, "betas": (0.9, 0.99)}),
    ("adan", {}),
    ("adan", {"lr": 1e-2, "betas": (0.9, 0.8, 0.95), "eps": 1e-6}),
    ("adan", {"weight_decay": 0.02}),
    ("adan", {"weight_decay": 0.02, "weight_decouple": True}),
    ("adopt", {}),
    ("adopt", {"lr": 1e-2, "betas": (0.5, 0.99), "eps": 1e-3}),
    ("adopt", {"clip_lambda": None}),
    ("adopt", {"clip_lambda": lambda step: 0.5 * step**0.5}),
    ("adopt", {"weight_decay": 0.1, "maximize": True}),
    ("adopt", {"weight_decay": 0.1, "weight_decouple": True}),
    ("adopt", {"weight_decay": 0.1, "weight_decouple": True, "fixed_decay": True}),
    ("ademamix", {}),
    ("ademamix", {"alpha": 8.0, "t_alpha_beta3": 100, "betas": (0.9, 0.99, 0.999)}),
    ("ademamix", {"t_alpha_beta3": 1000, "eps": 1e-6, "maximize": True}),
    ("ademamix", {"weight_decay": 0.1}),
    ("ademamix", {"weight_decay": 0.1, "weight_decouple": False}),
    ("ademamix", {"weight_decay": 0.1, "fixed_decay": True}),
    ("mars", {}),
    ("mars", {"gamma": 0.1, "betas": (0.9, 0.95), "lr_1d": 1e-2, "betas_1d": (0.8, 0.9)}),
    ("mars", {"optimize_1d": True, "ams_bound": True}),
    ("mars", {"weight_decay": 0.1, "weight_decay_1d": 0.0, "maximize": True}),
    ("mars", {"weight_decay": 0.1, "fixed_decay": True, "eps": 1e-6}),
    ("lookahead", {"optimizer": ("Adam", {})}),
    ("lookahead", {"optimizer": ("SGD", {"lr": 1e-3, "momentum": 0.9}), "k": 3,
                   "alpha": 0.8}),
    ("lookahead", {"optimizer": ("SGD", {"lr": 1e-3, "momentum": 0.9}),
                   "pullback_momentum": "reset"}),
    ("lookahead", {"optimizer": ("SGD", {"lr": 1e-3, "momentum": 0.9, "dampening": 0.1}),
                   "pullback_momentum": "pullback", "alpha": 0.3}),
    ("lookahead", {"optimizer": ("RAdam", {"weight_decay": 0.1}), "k": 1}),
    ("schedule_free_adamw", {}),
    ("schedule_free_adamw", {"lr": 1e-2, "betas": (0.5, 0.99), "eps": 1e-6}),
    ("schedule_free_adamw", {"weight_decay": 0.1, "warmup_steps": 20}),
    ("schedule_free_adamw", {"warmup_steps": 50, "r": 1.0, "weight_lr_power": 1.0}),
]


def start_params(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {key: rng.normal(size=shape) for key, shape in SHAPES.items()}


def case_inputs(name: str):
    """The start and the stress gradients (tiny, zero, huge, sign-flipping) of a case."""
    return start_params(seed=len(CASES)), gradient_sequence(SHAPES, STEPS, seed=sum(map(ord, name)))


def run_reference(name, kwargs, params, grad_steps):
    """The reference from `params` over `grad_steps`: (params after each step, final
    state per key as {buffer: array}, and Schedule-Free's evaluation point at the end)."""
    built = []

    def build(tensors):
        built.append(reference_optimizer(name, kwargs, tensors))
        return built[0]

    history, state = reference_run(build, {}, params, grad_steps)
    reference = built[0]
    tensors = reference.param_groups[0]["params"]
    if name == "lookahead":  # the inner optimizer's state is kept apart
        for key, tensor in zip(params, tensors):
            state[key].update({f: v.numpy().copy()
                               for f, v in reference.optimizer.state[tensor].items()})
    state = {key: {f: v for f, v in fields.items() if isinstance(v, np.ndarray)}
             for key, fields in state.items()}
    evaluated = None
    if name == "schedule_free_adamw":
        reference.eval()
        evaluated = {key: t.detach().numpy().copy() for key, t in zip(params, tensors)}
    return history, state, evaluated


def numpy_run(opt, params, grad_steps):
    """optim_reference.numpy_run, plus the point the optimizer is evaluated at."""
    history, state = optim_reference.numpy_run(opt, params, grad_steps)
    return history, state, optim.eval_params(opt, history[-1], state)


def our_buffers(name: str, state) -> dict:
    """Our final state as {buffer: tree}, under the reference's names and signs."""
    if name == "lookahead":
        inner = {f: v for f, v in state.inner._asdict().items() if f != "step"}
        return {**inner, "slow_params": state.slow_params,
                **({"slow_momentum": state.slow_momentum} if state.slow_momentum else {})}
    buffers = {f: v for f, v in state._asdict().items() if isinstance(v, dict)}
    if name == "adan":  # the reference stores -g_{t-1}
        buffers["previous_grad"] = {k: -v for k, v in buffers["previous_grad"].items()}
    return buffers


def relative_error(actual, expected) -> float:
    actual, expected = np.asarray(actual), np.asarray(expected)
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), TINY)))


def compared_arrays(name, kwargs):
    """(what, ours, reference's) for every parameter after every step, every buffer of
    the final state and, for Schedule-Free, the evaluation point."""
    params, grad_steps = case_inputs(name)
    history, state, evaluated = numpy_run(ours(name, kwargs), params, grad_steps)
    expected_history, expected_state, expected_eval = run_reference(name, kwargs, params,
                                                                    grad_steps)
    for step, (actual, expected) in enumerate(zip(history, expected_history), start=1):
        for key in SHAPES:
            yield f"step {step} {key}", actual[key], expected[key]
    buffers = our_buffers(name, state)
    for key, fields in expected_state.items():
        reference_fields = {f for f, v in fields.items() if v.shape == SHAPES[key]}
        ours_in_use = {f for f, v in buffers.items() if v is not None}
        assert reference_fields == ours_in_use, (key, reference_fields, ours_in_use)
        for field in reference_fields:
            yield f"state {field} {key}", buffers[field][key], fields[field]
    if expected_eval is not None:
        for key in SHAPES:
            yield f"eval {key}", evaluated[key], expected_eval[key]


def case_id(case):
    """A stable test id: a callable option is named "callable", not by its address
    (which would differ between pytest-xdist's workers)."""
    name, kwargs = case
    shown = {k: "callable" if callable(v) else v for k, v in kwargs.items()}
    return f"{name}-" + "-".join(f"{k}={v}" for k, v in shown.items())


@pytest.mark.parametrize("name, kwargs", CASES, ids=map(case_id, CASES))
def test_matches_reference(name, kwargs):
    for what, actual, expected in compared_arrays(name, kwargs):
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=TINY, err_msg=what)


def largest_relative_error(name: str) -> float:
    """The largest relative error of `name` against its reference over its CASES."""
    return max(relative_error(actual, expected)
               for case, kwargs in CASES if case == name
               for _, actual, expected in compared_arrays(name, kwargs))


FACTORIES = tuple(REFERENCE_NAMES)
VERIFY = {name: functools.partial(largest_relative_error, name) for name in FACTORIES}
VERIFY_REFERENCE = REFERENCE_NAMES


def test_every_factory_has_cases():
    assert {name for name, _ in CASES} == set(FACTORIES)


def test_adan_maximize_is_minimizing_the_negated_gradients():
    """The reference's maximize takes Delta_1 = -2 g_1 on its first step (its stored
    gradient is set before the sign flip); ours is the reference run on -g."""
    params, grad_steps = case_inputs("adan")
    history, state, _ = numpy_run(optim.adan(maximize=True), params, grad_steps)
    negated = [{k: -g for k, g in grads.items()} for grads in grad_steps]
    expected_history, expected_state, _ = run_reference("adan", {}, params, negated)
    for actual, expected in zip(history, expected_history):
        for key in SHAPES:
            np.testing.assert_allclose(actual[key], expected[key], rtol=RTOL, atol=TINY)
    # both store the followed direction -g; the reference stores its negation
    for key in SHAPES:
        np.testing.assert_allclose(-state.previous_grad[key],
                                   expected_state[key]["previous_grad"], rtol=RTOL, atol=TINY)


# --- validation: the reference's messages ------------------------------------------------

BAD_VALUES = {
    "lr": [-1, -0.5],
    "lr_1d": [-2e-3],
    "weight_decay": [-1e-3],
    "weight_decay_1d": [-0.1],
    "eps": [-1e-8],
    "alpha": [-1.0],
    "gamma": [-0.1],
    "t_alpha_beta3": [-10],
}


def reference_error(name: str, kwargs: dict) -> str | None:
    try:
        reference_optimizer(name, kwargs, [torch.zeros(2, requires_grad=True)])
    except Exception as error:  # the reference's NegativeLRError is no ValueError
        return str(error)
    return None


def validation_cases():
    for name in REFERENCES:
        defaults = {p: v.default for p, v in
                    inspect.signature(getattr(optim, name)).parameters.items()}
        for hyperparameter, values in BAD_VALUES.items():
            if hyperparameter in defaults:
                for value in values:
                    yield name, {hyperparameter: value}
        for betas_name in ("betas", "betas_1d"):
            if betas_name in defaults:
                good = defaults[betas_name]
                for index in range(len(good)):
                    for bad in (-0.1, 1.5):
                        betas = list(good)
                        betas[index] = bad
                        yield name, {betas_name: tuple(betas)}
    yield "adan", {"betas": (0.98, 0.92, 1.0)}  # beta3 = 1 is allowed
    yield "yogi", {"lr": -1, "eps": -1}  # the first failing check wins


@pytest.mark.parametrize("name, kwargs", list(validation_cases()), ids=map(case_id, validation_cases()))
def test_invalid_hyperparameters_raise_the_references_message(name, kwargs):
    expected = reference_error(name, kwargs)
    if expected is None:
        ours(name, kwargs)
        return
    with pytest.raises(ValueError) as error:
        ours(name, kwargs)
    assert str(error.value) == expected


@pytest.mark.parametrize("kwargs", [{"k": 0}, {"k": -3}, {"alpha": 1.0}, {"alpha": -0.5},
                                    {"pullback_momentum": "sometimes"}])
def test_lookahead_validation_matches_the_reference(kwargs):
    reference = {"optimizer": ("SGD", {"lr": 0.1}), **kwargs}
    with pytest.raises(ValueError) as error:
        ours("lookahead", reference)
    assert str(error.value) == reference_error("lookahead", reference)


@pytest.mark.parametrize("kwargs", [{"lr": -1}, {"eps": -1e-8}, {"betas": (1.0, 0.999)},
                                    {"betas": (0.9, -0.1)}, {"weight_decay": -0.5}])
def test_schedule_free_validation_uses_torch_adamws_messages(kwargs):
    """schedulefree validates nothing; its hyperparameters shared with AdamW get
    torch.optim.AdamW's messages."""
    with pytest.raises(ValueError) as torch_error:
        torch.optim.AdamW([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as error:
        optim.schedule_free_adamw(**kwargs)
    assert str(error.value) == str(torch_error.value)


def test_schedule_free_refuses_what_its_average_cannot_undo():
    with pytest.raises(ValueError, match="index 0: 0"):  # x = y + (1 - 1/beta1)(z - y)
        optim.schedule_free_adamw(betas=(0, 0.999))
    with pytest.raises(ValueError, match="warmup_steps"):
        optim.schedule_free_adamw(warmup_steps=2.5)


def test_lookahead_pullback_needs_a_momentum_buffer():
    for inner in (optim.adam(), optim.sgd(lr=0.1)):
        with pytest.raises(ValueError, match="momentum_buffer"):
            optim.lookahead(inner, pullback_momentum="reset").init(np.zeros(3))


# --- the papers' algorithm boxes -------------------------------------------------------


def test_yogi_moves_v_by_exactly_its_share_of_g_squared():
    """Algorithm 2, line 6: |v_t - v_{t-1}| = (1 - beta2) g_t**2, whatever v was, with
    the sign of g_t**2 - v_{t-1}; Adam's change is (1 - beta2)(g_t**2 - v_{t-1})."""
    rng = np.random.default_rng(0)
    opt = optim.yogi(betas=(0.9, 0.9))
    params, state = rng.normal(size=50), opt.init(np.zeros(50))
    for scale in (1.0, 10.0, 0.01):
        grad = scale * rng.normal(size=50)
        _, new = opt.step(params, grad, state)
        change = new.exp_avg_sq - state.exp_avg_sq
        # up to the rounding of v itself (the difference cancels)
        rounding = 4 * np.finfo(float).eps * np.abs(new.exp_avg_sq).max()
        np.testing.assert_allclose(np.abs(change), 0.1 * grad**2, rtol=1e-12, atol=rounding)
        assert np.all(np.sign(change) == np.sign(grad**2 - state.exp_avg_sq))
        state = new


def adopt_algorithm_2(theta, gradients, lr, beta1, beta2, eps):
    """Taniguchi et al. (2024), Algorithm 2, transcribed: v_0 = g_0**2, then for t >= 1
    m_t = beta1 m_{t-1} + (1 - beta1) g_t / max(sqrt(v_{t-1}), eps),
    theta_t = theta_{t-1} - lr m_t, v_t = beta2 v_{t-1} + (1 - beta2) g_t**2."""
    v, m, path = gradients[0] ** 2, np.zeros_like(theta), [theta]
    for g in gradients[1:]:
        m = beta1 * m + (1 - beta1) * g / np.maximum(np.sqrt(v), eps)
        theta = theta - lr * m
        v = beta2 * v + (1 - beta2) * g**2
        path.append(theta)
    return path


def test_adopt_without_clipping_is_algorithm_2():
    rng = np.random.default_rng(1)
    gradients = [rng.normal(size=6) * rng.choice([1e-9, 1.0, 1e3], size=6) for _ in range(80)]
    theta = rng.normal(size=6)
    expected = adopt_algorithm_2(theta, gradients, 1e-2, 0.9, 0.99, 1e-6)
    opt = optim.adopt(lr=1e-2, betas=(0.9, 0.99), clip_lambda=None)
    state = opt.init(theta)
    for g, want in zip(gradients, expected):
        theta, state = opt.step(theta, g, state)
        np.testing.assert_allclose(theta, want, rtol=1e-12)


def schedule_free_algorithm_1(theta, gradients, lr, beta1, beta2, eps, weight_decay):
    """Defazio et al. (2024), Algorithm 1 (AdamW form, no warmup, r = 0), transcribed
    with x, y and z all explicit: returns the y and x sequences."""
    x = z = theta
    v = np.zeros_like(theta)
    y_path, x_path = [], []
    y = theta
    for t, g in enumerate(gradients, start=1):
        v = beta2 * v + (1 - beta2) * g**2
        u = g / (np.sqrt(v / (1 - beta2**t)) + eps) + weight_decay * y
        z = z - lr * u
        c = 1 / t  # lr_max**2 / sum of t equal lr_max**2
        x = (1 - c) * x + c * z
        y = (1 - beta1) * z + beta1 * x
        y_path.append(y)
        x_path.append(x)
    return y_path, x_path


def test_schedule_free_is_algorithm_1_and_eval_params_is_x():
    rng = np.random.default_rng(2)
    gradients = [rng.normal(size=7) for _ in range(120)]
    theta = rng.normal(size=7)
    y_path, x_path = schedule_free_algorithm_1(theta, gradients, 1e-2, 0.9, 0.999, 1e-8, 0.1)
    opt = optim.schedule_free_adamw(lr=1e-2, weight_decay=0.1)
    state = opt.init(theta)
    for g, y, x in zip(gradients, y_path, x_path):
        theta, state = opt.step(theta, g, state)
        np.testing.assert_allclose(theta, y, rtol=1e-9)
        np.testing.assert_allclose(optim.eval_params(opt, theta, state), x, rtol=1e-9)


def test_lookahead_is_algorithm_1_around_sgd():
    """Zhang et al. (2019), Algorithm 1 with plain SGD inside: k fast steps from the
    slow weights, then phi <- phi + alpha (theta - phi)."""
    rng = np.random.default_rng(3)
    gradients = [rng.normal(size=4) for _ in range(30)]
    phi = rng.normal(size=4)
    opt = optim.lookahead(optim.sgd(lr=0.1), k=4, alpha=0.3)
    params, state = phi, opt.init(phi)
    fast = phi
    for t, g in enumerate(gradients, start=1):
        fast = fast - 0.1 * g
        if t % 4 == 0:
            phi = phi + 0.3 * (fast - phi)
            fast = phi
        params, state = opt.step(params, g, state)
        np.testing.assert_allclose(params, fast, rtol=1e-12)
        np.testing.assert_allclose(optim.eval_params(opt, params, state), phi, rtol=1e-12)


# --- the API -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", FACTORIES)
def test_step_is_pure_and_keeps_dtype(name):
    kwargs = dict(CASES)[name] if name == "lookahead" else {}
    opt = ours(name, kwargs)
    params = {k: v.astype(np.float32) for k, v in start_params(0).items()}
    grads = {k: v.astype(np.float32) for k, v in gradient_sequence(SHAPES, 1, 5)[0].items()}
    copies = [{k: v.copy() for k, v in tree.items()} for tree in (params, grads)]
    state = opt.init(params)
    for _ in range(3):
        new, state = opt.step(params, grads, state)
    for tree, copy in zip((params, grads), copies):
        for key in SHAPES:
            np.testing.assert_array_equal(tree[key], copy[key])
            assert new[key].dtype == np.float32


@pytest.mark.parametrize("name", ["yogi", "adabelief", "adan", "adopt", "ademamix",
                                  "schedule_free_adamw"])
def test_batched_learning_rates_equal_separate_runs(name):
    """A column of learning rates runs each row as its own optimizer would."""
    lrs = np.array([[1e-3], [3e-2]])
    params = np.random.default_rng(4).normal(size=(2, 6))
    grads = gradient_sequence({"p": (6,)}, 40, seed=6)
    batched = getattr(optim, name)(lr=lrs)
    rows = [getattr(optim, name)(lr=float(lr)) for lr in lrs[:, 0]]
    state, row_states = batched.init(params), [opt.init(params[i]) for i, opt in enumerate(rows)]
    row_params = list(params)
    for g in grads:
        params, state = batched.step(params, np.stack([g["p"], g["p"]]), state)
        for i, opt in enumerate(rows):
            row_params[i], row_states[i] = opt.step(row_params[i], g["p"], row_states[i])
    np.testing.assert_allclose(params, np.stack(row_params), rtol=1e-12, atol=TINY)
    evaluated = optim.eval_params(batched, params, state)
    for i, opt in enumerate(rows):
        np.testing.assert_allclose(evaluated[i], optim.eval_params(opt, row_params[i], row_states[i]),
                                   rtol=1e-12, atol=TINY)


def test_mars_refuses_batched_hyperparameters():
    with pytest.raises(ValueError, match="scalar hyperparameters"):
        optim.mars(lr=np.array([[1e-3], [1e-2]]))


# --- float32 -------------------------------------------------------------------------

FLOAT32_RTOL = 1e-5


@pytest.mark.parametrize("name", FACTORIES)
def test_float32_tracks_the_float64_reference(name):
    """float32 parameters stay float32 and, over 200 steps of unit-normal gradients from
    unit-normal starts, stay within FLOAT32_RTOL of the float64 reference relative to
    each array's largest magnitude (measured: 3.2e-6 for MARS, 1e-6 or less for the
    others)."""
    kwargs = dict(CASES)[name] if name == "lookahead" else {}
    rng = np.random.default_rng(3)
    params = {key: rng.normal(size=shape) for key, shape in SHAPES.items()}
    grad_steps = [{key: rng.normal(size=shape) for key, shape in SHAPES.items()}
                  for _ in range(200)]
    expected_history, _, _ = run_reference(name, kwargs, params, grad_steps)
    opt = ours(name, kwargs)
    single = {key: value.astype(np.float32) for key, value in params.items()}
    state = opt.init(single)
    for grads, expected in zip(grad_steps, expected_history):
        single, state = opt.step(single, {k: g.astype(np.float32) for k, g in grads.items()},
                                 state)
        for key in SHAPES:
            assert single[key].dtype == np.float32
            scale = np.abs(expected[key]).max()
            assert np.abs(single[key] - expected[key]).max() / scale < FLOAT32_RTOL
