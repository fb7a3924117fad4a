"""The Muon family (book/optim/_orthogonal.py) against its references, float64.

Newton–Schulz: torch.optim.Muon and pytorch_optimizer run it in bfloat16 whatever the
parameters' dtype. Each reference is therefore run through its own code with that one
cast replaced by float64 (torch: the line ``ortho_grad = grad.bfloat16()`` of
``_zeropower_via_newtonschulz``; pytorch_optimizer: the ``dtype`` argument of
``zero_power_via_newton_schulz_5``), and the real bfloat16 runs are measured apart
(test_bfloat16_references_are_far_from_float64).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math

import numpy as np
import pytest
import torch
from optim_reference import gradient_sequence
from pytorch_optimizer import MARS, RACS, NorMuon
from pytorch_optimizer.optimizer import mars as mars_module
from pytorch_optimizer.optimizer.muon import normuon as normuon_module
from pytorch_optimizer.optimizer.utils.matrix import zero_power_via_newton_schulz_5
from torch.optim import _muon

from autograder.reference import float64_default
from book import optim
from book.optim import _orthogonal

RTOL = 1e-10
TINY = 1e-300
STEPS = 150
SHAPES = {"wide": (3, 5), "tall": (6, 2), "square": (4, 4)}

MUON_CASES = [
    {},
    {"lr": 0.02, "nesterov": False},
    {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.0, "adjust_lr_fn": "original"},
    {"lr": 0.01, "adjust_lr_fn": "match_rms_adamw", "weight_decay": 0.3},
    {"ns_steps": 3, "ns_coefficients": (2.0, -1.5, 0.5), "eps": 1e-5},
]
NORMUON_CASES = [
    {},
    {"nesterov": False, "beta2": 0.5},
    {"update_scale": "match_rms", "weight_decay": 0.1},
    {"use_adjusted_lr": True, "weight_decay": 0.1, "weight_decouple": False},
    {"lr": 0.05, "maximize": True, "eps": 1e-6, "ns_steps": 4, "momentum": 0.8},
    {"ns_coeffs": [(4.0848, -6.8946, 2.9270), (3.9505, -6.3029, 2.6377)]},
]
MARS_M_CASES = [
    {},
    {"lr": 0.01, "gamma": 0.1, "momentum": 0.9},
    {"weight_decay": 0.0, "gamma": 0.0},
    {"ns_steps": 4, "ns_coefficients": (2.0, -1.5, 0.5), "eps": 1e-5},
    {"adjust_lr_fn": "original", "lr": 0.02},
]
# pytorch_optimizer.MARS fixes Newton-Schulz's steps and coefficients and Keller
# Jordan's scale: compared where mars_m uses the same (adjust_lr_fn="original").
MARS_SHAMPOO_CASES = [{"lr": 0.02}, {"lr": 0.01, "gamma": 0.1, "momentum": 0.9, "eps": 1e-5},
                      {"weight_decay": 0.0}]
REG_CASES = [
    {},
    {"lr": 0.01, "momentum": 0.5, "target_rms": 1.0},
    {"weight_decay": 0.1, "eps": 1e-6},
]


def start_params(seed=0):
    rng = np.random.default_rng(seed)
    return {key: rng.normal(size=shape) for key, shape in SHAPES.items()}


def stress_gradients(seed):
    return gradient_sequence(SHAPES, STEPS, seed=seed)


def numpy_run(opt, params, grad_steps):
    state = opt.init(params)
    history, states = [], []
    for grads in grad_steps:
        params, state = opt.step(params, grads, state)
        history.append(params)
        states.append(state)
    return history, states


def torch_run(make, params, grad_steps, state_fields=()):
    """Run the torch optimizer `make(tensors)` in float64; params after each step,
    and the listed state buffers after each step."""
    with float64_default():
        tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
        optimizer = make(list(tensors.values()))
        history, states = [], []
        for grads in grad_steps:
            for key, tensor in tensors.items():
                tensor.grad = torch.tensor(grads[key], dtype=torch.float64)
            optimizer.step()
            history.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
            states.append({
                field: {k: optimizer.state[t][field].numpy().copy() for k, t in tensors.items()}
                for field in state_fields
            })
    return history, states


def relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), TINY)))


def largest_error(ours, theirs, fields=()):
    """Largest relative error over steps and arrays: params, then each state field."""
    (history, states), (ref_history, ref_states) = ours, theirs
    worst = 0.0
    for step in range(len(ref_history)):
        for key in SHAPES:
            worst = max(worst, relative_error(history[step][key], ref_history[step][key]))
            for field in fields:
                mine = getattr(states[step], field)[key]
                worst = max(worst, relative_error(mine, ref_states[step][field][key]))
    return worst


# --- the references, in float64 ----------------------------------------------------


@functools.cache
def torch_newton_schulz_float64():
    """torch's own ``_zeropower_via_newtonschulz`` with its bfloat16 cast replaced."""
    source = inspect.getsource(_muon._zeropower_via_newtonschulz)
    cast = "ortho_grad = grad.bfloat16()"
    assert source.count(cast) == 1, "torch's Newton-Schulz changed: re-read _muon.py"
    namespace = dict(vars(_muon))
    exec(source.replace(cast, "ortho_grad = grad.clone()"), namespace)
    return namespace["_zeropower_via_newtonschulz"]


@contextlib.contextmanager
def float64_newton_schulz():
    """Every reference's Newton–Schulz in float64 while the block runs."""
    float64 = functools.partial(zero_power_via_newton_schulz_5, dtype=torch.float64)
    saved = (_muon._zeropower_via_newtonschulz, normuon_module.zero_power_via_newton_schulz_5,
             mars_module.zero_power_via_newton_schulz_5)
    _muon._zeropower_via_newtonschulz = torch_newton_schulz_float64()
    normuon_module.zero_power_via_newton_schulz_5 = float64
    mars_module.zero_power_via_newton_schulz_5 = float64
    try:
        yield
    finally:
        (_muon._zeropower_via_newtonschulz, normuon_module.zero_power_via_newton_schulz_5,
         mars_module.zero_power_via_newton_schulz_5) = saved


def torch_muon(kwargs):
    return lambda tensors: torch.optim.Muon(tensors, **kwargs)


def reference_normuon(kwargs):
    renamed = dict(kwargs)
    maximize = renamed.pop("maximize", False)
    return lambda tensors: NorMuon([{"params": tensors, "use_muon": True, **renamed}],
                                   maximize=maximize, foreach=False)


def reference_mars_shampoo(kwargs):
    """pytorch_optimizer.MARS(mars_type="shampoo") with mars_m's hyperparameters."""
    momentum = kwargs.get("momentum", 0.95)
    return lambda tensors: MARS(
        tensors, lr=kwargs.get("lr", 1e-3), betas=(momentum, 0.99),
        gamma=kwargs.get("gamma", 0.025), mars_type="shampoo",
        weight_decay=kwargs.get("weight_decay", 0.1), eps=kwargs.get("eps", 1e-7),
        foreach=False)


RACS_ALPHA = 0.5  # RACS wants alpha in [0, 1); reg's lr is RACS's lr * alpha


def reference_racs(kwargs):
    """pytorch_optimizer.RACS without running averages (beta 0) or the norm-growth
    limiter (gamma so large that its factor is exactly 1)."""
    return lambda tensors: RACS(tensors, lr=kwargs["lr"], beta=0.0, alpha=RACS_ALPHA,
                                gamma=1e300, eps=kwargs.get("eps", 1e-8), foreach=False)


def mars_m_paper(kwargs, params, grad_steps):
    """The MARS-M authors' code (AGI-Arena/MARS, MARS_M/optimizers/mars_m.py, approximate
    version) transcribed in torch float64, with the two documented differences:
    Newton–Schulz normalised by max(norm, eps) instead of norm + 1e-7, in float64."""
    lr, wd = kwargs.get("lr", 1e-3), kwargs.get("weight_decay", 0.1)
    momentum, gamma = kwargs.get("momentum", 0.95), kwargs.get("gamma", 0.025)
    mars_factor = gamma * momentum / (1 - momentum)
    steps, eps = kwargs.get("ns_steps", 5), kwargs.get("eps", 1e-7)
    a, b, c = kwargs.get("ns_coefficients", (3.4445, -4.7750, 2.0315))
    moonlight = kwargs.get("adjust_lr_fn", "match_rms_adamw") == "match_rms_adamw"

    def newton_schulz(g):
        x = g.clone()
        if g.size(-2) > g.size(-1):
            x = x.transpose(-2, -1)
        x = x / x.norm().clamp(min=eps)
        for _ in range(steps):
            big_a = x @ x.transpose(-2, -1)
            big_b = b * big_a + c * big_a @ big_a
            x = a * x + big_b @ x
        if g.size(-2) > g.size(-1):
            x = x.transpose(-2, -1)
        return x

    with float64_default():
        p = {k: torch.tensor(v) for k, v in params.items()}
        last = {k: torch.zeros_like(v) for k, v in p.items()}
        buf = {k: torch.zeros_like(v) for k, v in p.items()}
        history, states = [], []
        for grads in grad_steps:
            for key in p:
                g = torch.tensor(grads[key])
                c_t = (g - last[key]).mul(mars_factor).add(g)
                c_t_norm = c_t.norm()
                if c_t_norm > 1:
                    c_t.div_(c_t_norm)
                buf[key].mul_(momentum).add_(c_t, alpha=1 - momentum)
                u = newton_schulz(buf[key])
                rows, columns = p[key].shape
                adjusted = lr * (0.2 * math.sqrt(max(rows, columns)) if moonlight
                                 else math.sqrt(max(1, rows / columns)))
                p[key].mul_(1 - lr * wd)
                p[key].add_(u, alpha=-adjusted)
                last[key] = g
            history.append({k: v.numpy().copy() for k, v in p.items()})
            states.append({"momentum_buffer": {k: v.numpy().copy() for k, v in buf.items()},
                           "last_grad": {k: v.numpy().copy() for k, v in last.items()}})
    return history, states


def reg_paper(kwargs, params, grad_steps):
    """The REG update as the book transcribes it (momentum; RACS as diag(1/sqrt(s+eps))
    M diag(1/sqrt(q+eps)); rescale to RMS rho; decay inside the step), written out with
    explicit diagonal matrices."""
    lr, beta = kwargs.get("lr", 1e-3), kwargs.get("momentum", 0.9)
    rho, wd, eps = kwargs.get("target_rms", 0.2), kwargs.get("weight_decay", 0.0), \
        kwargs.get("eps", 1e-8)
    p = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    history, states = [], []
    for grads in grad_steps:
        for key in p:
            m[key] = beta * m[key] + (1 - beta) * grads[key]
            rows, columns = m[key].shape
            s = np.einsum("ij,ij->i", m[key], m[key]) / columns
            q = np.einsum("ij,ij->j", m[key], m[key]) / rows
            balanced = np.diag(1 / np.sqrt(s + eps)) @ m[key] @ np.diag(1 / np.sqrt(q + eps))
            rms = np.sqrt(np.sum(balanced**2) / balanced.size)
            update = rho * balanced / max(rms, eps)
            p[key] = p[key] - lr * (update + wd * p[key])
        history.append({k: v.copy() for k, v in p.items()})
        states.append({"momentum_buffer": {k: v.copy() for k, v in m.items()}})
    return history, states


# --- the comparisons -----------------------------------------------------------------


def muon_error(kwargs, seed):
    params, grads = start_params(seed), stress_gradients(seed)
    with float64_newton_schulz():
        theirs = torch_run(torch_muon(kwargs), params, grads, ["momentum_buffer"])
    return largest_error(numpy_run(optim.muon(**kwargs), params, grads), theirs,
                         ["momentum_buffer"])


def normuon_error(kwargs, seed):
    params, grads = start_params(seed), stress_gradients(seed)
    fields = ["momentum_buffer", "second_momentum_buffer"]
    with float64_newton_schulz():
        theirs = torch_run(reference_normuon(kwargs), params, grads, fields)
    return largest_error(numpy_run(optim.normuon(**kwargs), params, grads), theirs, fields)


def mars_m_error(kwargs, seed):
    params, grads = start_params(seed), stress_gradients(seed)
    fields = ["momentum_buffer", "last_grad"]
    theirs = mars_m_paper(kwargs, params, grads)
    return largest_error(numpy_run(optim.mars_m(**kwargs), params, grads), theirs, fields)


def mars_shampoo_error(kwargs, seed):
    params, grads = start_params(seed), stress_gradients(seed)
    with float64_newton_schulz():
        theirs = torch_run(reference_mars_shampoo(kwargs), params, grads, ["last_grad"])
    ours = numpy_run(optim.mars_m(**kwargs, adjust_lr_fn="original"), params, grads)
    return largest_error(ours, theirs, ["last_grad"])


def reg_error(kwargs, seed):
    params, grads = start_params(seed), stress_gradients(seed)
    theirs = reg_paper(kwargs, params, grads)
    return largest_error(numpy_run(optim.reg(**kwargs), params, grads), theirs,
                         ["momentum_buffer"])


def racs_error(kwargs, seed):
    params, grads = start_params(seed), stress_gradients(seed)
    theirs = torch_run(reference_racs(kwargs), params, grads)
    ours = numpy_run(optim.reg(lr=kwargs["lr"] * RACS_ALPHA, momentum=0.0, target_rms=None,
                               eps=kwargs.get("eps", 1e-8)), params, grads)
    return largest_error(ours, theirs)


RACS_CASES = [{"lr": 1e-3}, {"lr": 0.1, "eps": 1e-4}]
COMPARISONS = {
    "muon": (muon_error, MUON_CASES),
    "normuon": (normuon_error, NORMUON_CASES),
    "mars_m": (mars_m_error, MARS_M_CASES),
    "mars_m-shampoo": (mars_shampoo_error, MARS_SHAMPOO_CASES),
    "reg": (reg_error, REG_CASES),
    "reg-racs": (racs_error, RACS_CASES),
}


def worst_over_cases(*names):
    def run():
        return max(compare(kwargs, seed) for name in names
                   for compare, cases in [COMPARISONS[name]]
                   for seed, kwargs in enumerate(cases))
    return run


VERIFY = {
    "muon": worst_over_cases("muon"),
    "normuon": worst_over_cases("normuon"),
    "mars_m": worst_over_cases("mars_m", "mars_m-shampoo"),
    "reg": worst_over_cases("reg", "reg-racs"),
}
VERIFY_REFERENCE = {
    "muon": "torch.optim.Muon (Newton-Schulz cast to float64)",
    "normuon": "pytorch_optimizer.NorMuon (Newton-Schulz in float64)",
    "mars_m": "paper (authors' code, transcribed); pytorch_optimizer.MARS(mars_type='shampoo')",
    "reg": "paper (transcribed); pytorch_optimizer.RACS(beta=0) for the RACS step",
}


@pytest.mark.parametrize("name, seed, kwargs", [
    (name, seed, kwargs) for name, (_, cases) in COMPARISONS.items()
    for seed, kwargs in enumerate(cases)
])
def test_matches_reference(name, seed, kwargs):
    compare, _ = COMPARISONS[name]
    assert compare(kwargs, seed) <= RTOL


def test_every_option_is_exercised():
    """Each hyperparameter of each factory appears in one of its compared cases, and
    muon has exactly torch.optim.Muon's."""
    muon_options = set(inspect.signature(torch.optim.Muon.__init__).parameters) - {"self", "params"}
    assert set(inspect.signature(optim.muon).parameters) == muon_options
    for factory, cases in [(optim.muon, MUON_CASES), (optim.normuon, NORMUON_CASES),
                           (optim.mars_m, MARS_M_CASES), (optim.reg, REG_CASES)]:
        assert set(inspect.signature(factory).parameters) == set().union(*cases), factory


def test_the_comparison_sees_a_small_change():
    """A Newton–Schulz coefficient off by 1e-9 fails the comparison."""
    params, grads = start_params(0), stress_gradients(0)
    with float64_newton_schulz():
        theirs = torch_run(torch_muon({}), params, grads)
    off = (3.4445 * (1 + 1e-9), -4.7750, 2.0315)
    assert largest_error(numpy_run(optim.muon(ns_coefficients=off), params, grads), theirs) > RTOL


def test_newton_schulz_is_torchs_float64_iteration_and_nearly_orthogonal():
    rng = np.random.default_rng(5)
    for shape in [(3, 5), (6, 2), (4, 4), (1, 7)]:
        g = rng.normal(size=shape)
        with float64_default():
            expected = torch_newton_schulz_float64()(torch.tensor(g), (3.4445, -4.7750, 2.0315),
                                                     5, 1e-7).numpy()
        np.testing.assert_allclose(_orthogonal.newton_schulz(g), expected, rtol=1e-12, atol=1e-14)
        singular_values = np.linalg.svd(expected, compute_uv=False)
        # Jordan's quintic does not converge to 1: it leaves the values near 0.7..1.2.
        assert np.all((singular_values > 0.6) & (singular_values < 1.25)), singular_values


def test_bfloat16_references_are_far_from_float64():
    """The references as shipped (bfloat16 Newton–Schulz): one Muon step differs from
    the float64 iteration by far more than rounding in float64 and about bfloat16's
    precision (2^-8 = 0.0039 per entry, compounded over five steps)."""
    params = start_params(1)
    grads = [{k: np.random.default_rng(2).normal(size=s) for k, s in SHAPES.items()}]
    shipped, _ = torch_run(torch_muon({"lr": 1.0, "weight_decay": 0.0}), params, grads)
    ours, _ = numpy_run(optim.muon(lr=1.0, weight_decay=0.0), params, grads)
    for key in SHAPES:
        step_ours, step_torch = ours[0][key] - params[key], shipped[0][key] - params[key]
        error = np.linalg.norm(step_ours - step_torch) / np.linalg.norm(step_torch)
        assert 1e-4 < error < 0.05, (key, error)


# --- validation ---------------------------------------------------------------------


def reference_message(make):
    try:
        make()
    except Exception as error:  # pytorch_optimizer raises NegativeLRError, not ValueError
        return str(error)
    return None


@pytest.mark.parametrize("kwargs", [
    {"lr": -1}, {"lr": float("nan")}, {"momentum": -0.5}, {"weight_decay": -1e-3},
    {"adjust_lr_fn": "sqrt"}, {"ns_steps": 100}, {"ns_coefficients": (1.0, 2.0)},
])
def test_muon_refuses_what_torch_refuses_with_its_message(kwargs):
    def torch_muon_step():
        param = torch.zeros(2, 3, requires_grad=True)
        param.grad = torch.ones(2, 3)
        torch.optim.Muon([param], **kwargs).step()  # Newton-Schulz checks come at the step

    expected = reference_message(torch_muon_step)
    assert expected is not None
    with pytest.raises(ValueError) as error:
        optim.muon(**kwargs)
    assert str(error.value) == expected


@pytest.mark.parametrize("kwargs", [
    {"lr": -1.0}, {"momentum": 1.0}, {"beta2": -0.1}, {"weight_decay": -1.0},
    {"ns_steps": 0}, {"update_scale": "rms"}, {"eps": -1.0},
])
def test_normuon_refuses_what_the_reference_refuses_with_its_message(kwargs):
    expected = reference_message(
        lambda: NorMuon([{"params": [torch.zeros(2, 3)], "use_muon": True}], **kwargs))
    assert expected is not None
    with pytest.raises(ValueError) as error:
        optim.normuon(**kwargs)
    assert str(error.value) == expected


@pytest.mark.parametrize("factory", [optim.muon, optim.normuon, optim.mars_m, optim.reg])
def test_only_matrices(factory):
    with pytest.raises(ValueError, match="only supports 2D parameters"):
        factory().init({"weight": np.ones((2, 3)), "bias": np.ones(3)})
    with pytest.raises(ValueError, match="only supports 2D parameters"):
        factory().init(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        torch.optim.Muon([torch.zeros(3, requires_grad=True)])


@pytest.mark.parametrize("factory, bad", [
    (optim.mars_m, {"momentum": 1.0}), (optim.mars_m, {"gamma": -1.0}),
    (optim.reg, {"momentum": -0.1}), (optim.reg, {"target_rms": 0.0}), (optim.reg, {"lr": -1}),
])
def test_other_invalid_hyperparameters(factory, bad):
    with pytest.raises(ValueError, match=str(next(iter(bad.values())))):
        factory(**bad)


@pytest.mark.parametrize("factory", [optim.muon, optim.normuon, optim.mars_m, optim.reg])
def test_step_is_pure_and_float32_stays_float32(factory):
    params = {k: v.astype(np.float32) for k, v in start_params(3).items()}
    grads = {k: v.astype(np.float32) for k, v in stress_gradients(3)[0].items()}
    copies = ({k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in grads.items()})
    opt = factory()
    new, state = opt.step(params, grads, opt.init(params))
    for key in SHAPES:
        np.testing.assert_array_equal(params[key], copies[0][key])
        np.testing.assert_array_equal(grads[key], copies[1][key])
        assert new[key].dtype == np.float32
    assert state.step == 1


def test_zero_gradient_gives_no_step_and_moonlight_scale_gives_rms_0_2():
    """Muon's step is eta s(m, n) O; an orthogonal m x n matrix (m <= n) has RMS
    1/sqrt(n), so Moonlight's scale makes the step's RMS 0.2 eta when O is orthogonal."""
    w = np.zeros((8, 32))
    for fn in [None, "match_rms_adamw"]:
        opt = optim.muon(lr=1.0, weight_decay=0.0, adjust_lr_fn=fn, ns_steps=30,
                         ns_coefficients=(1.5, -0.5, 0.0))  # the convergent cubic
        new, _ = opt.step(w, np.zeros_like(w), opt.init(w))
        np.testing.assert_array_equal(new, w)
        g = np.random.default_rng(0).normal(size=w.shape)
        new, _ = opt.step(w, g, opt.init(w))
        rms = np.sqrt(np.mean(new**2))
        expected = 0.2 if fn else 1 / math.sqrt(32)
        assert abs(rms - expected) < 1e-12, (fn, rms)
