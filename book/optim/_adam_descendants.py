"""Adam's recent descendants: Yogi, AdaBelief, Adan, ADOPT, AdEMAMix and MARS (its
AdamW form), as ``pytorch_optimizer`` 4.1.0 computes them, with the papers' defaults.

Each keeps Adam's skeleton (a first moment m, a second moment v, a step m / sqrt(v))
and changes one piece: how v grows (Yogi), what v measures (AdaBelief), which gradient
the moments see (Adan, MARS), which v divides which g (ADOPT), or how many EMAs make m
(AdEMAMix). The options and validation messages are the reference's; ``ValueError``
is raised where the reference raises its own exception classes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import _base
from ._adam import ADAM_MOMENTS, COUPLED_DECAY, DECOUPLED_DECAY
from ._adam_variants import _rectification_squared
from ._catalog import Entry

Tree = np.ndarray | dict

# pytorch_optimizer's validation texts.
_LR = "learning rate must be positive. ({} > 0)"


def _non_negative(name: str) -> tuple:
    # The reference tests ``x < 0``, which lets NaN through.
    return (name, _base.not_negative, f"{name} must be non-negative")


def _beta(index: int, closed: bool = False) -> tuple:
    upper = "1.0]" if closed else "1.0)"
    in_range = _base.in_unit_interval if closed else _base.beta_range
    return (f"beta{index}", in_range, f"beta{index} must be in the range [0.0, {upper}")


def _hyperparameters(lr, betas, more: dict, non_negative: tuple) -> dict:
    """Validate as the reference does: lr, the betas (a third one in [0, 1]), then the
    names in `non_negative`; return the flat arguments (beta1, beta2[, beta3], ...)."""
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) not in (2, 3):
        raise TypeError(f"betas must be a pair or a triple, got {betas!r}")
    given = {"lr": lr, **{f"beta{i}": b for i, b in enumerate(betas, start=1)}, **more}
    checks = [("lr", _base.not_negative, _LR)]
    checks += [_beta(i, closed=i == 3) for i in range(1, len(betas) + 1)]
    checks += [_non_negative(name) for name in non_negative]
    return _base.hyperparameters(given, checks)


def _weight_decay_options(args: dict, weight_decouple, fixed_decay) -> dict:
    """The reference's two switches: decoupled decay (AdamW's) or L2 added to the
    gradient, and decoupled decay by ``weight_decay`` alone rather than ``lr * weight_decay``."""
    args["decoupled_weight_decay"] = _base.flag("weight_decouple", weight_decouple)
    args["fixed_decay"] = _base.flag("fixed_decay", fixed_decay)
    return args


def _shown(args: dict, betas: int = 2) -> dict:
    """The hyperparameters under the reference's names (``betas`` as a tuple)."""
    names = [f"beta{i}" for i in range(1, betas + 1)]
    shown = {"lr": args["lr"], "betas": tuple(args[n] for n in names)}
    rename = {"decoupled_weight_decay": "weight_decouple"}
    shown.update((rename.get(k, k), v) for k, v in args.items() if k not in ("lr", *names))
    return shown


def _full(value: float):
    return lambda param: np.full_like(param, value)


_ZEROS = np.zeros_like


# --- Yogi ----------------------------------------------------------------------------


class YogiState(NamedTuple):
    step: int
    exp_avg: Tree
    exp_avg_sq: Tree


def yogi(
    lr=1e-2,
    betas=(0.9, 0.999),
    initial_accumulator=1e-6,
    weight_decay=0.0,
    weight_decouple=True,
    fixed_decay=False,
    eps=1e-3,
    maximize=False,
) -> _base.Optimizer:
    r"""Yogi, as ``pytorch_optimizer.Yogi``: Adam whose v moves towards g**2 by a fixed
    fraction of g**2, never by a fraction of v.

    Update rule at step t (gamma = lr, lambda = weight_decay; m = exp_avg, v = exp_avg_sq,
    both starting at initial_accumulator)::

        g_t <- -g_t                                       if maximize
        theta_{t-1} <- theta_{t-1} (1 - gamma lambda)      if weight_decouple
                       (1 - lambda with fixed_decay)
        g_t <- g_t + lambda theta_{t-1}                    otherwise, if lambda != 0
        m_t = beta1 m_{t-1} + (1 - beta1) g_t                          (Alg. 2)
        v_t = v_{t-1} - (1 - beta2) sign(v_{t-1} - g_t**2) g_t**2       (Alg. 2)
        theta_t = theta_{t-1} - gamma / (1 - beta1**t)
                                * m_t / (sqrt(v_t) / sqrt(1 - beta2**t) + eps)

    Adam's ``v_t - v_{t-1} = (1 - beta2)(g_t**2 - v_{t-1})`` can shrink v by a fraction
    of v in one step; Yogi's change has the same sign but the size ``(1 - beta2) g**2``,
    so v grows or shrinks by at most what this gradient is worth.

    Reference: Zaheer, Reddi, Sachan, Kale & Kumar (2018), "Adaptive methods for
    nonconvex optimization", NeurIPS (Algorithm 2).

    Differences from the paper, all the reference's: the algorithm box has no bias
    correction, the reference corrects m and v as Adam does; m and v start at
    initial_accumulator = 1e-6 where the box starts at 0 (the paper suggests
    initialising v from the squared gradient of a large batch); weight decay is an
    addition. Defaults are the paper's (lr 1e-2, eps 1e-3) and the reference's.
    """
    args = _hyperparameters(lr, betas, dict(weight_decay=weight_decay, eps=eps),
                            ("weight_decay", "eps"))
    args["initial_accumulator"] = _base.real("initial_accumulator", initial_accumulator)
    args["maximize"] = _base.flag("maximize", maximize)
    _weight_decay_options(args, weight_decouple, fixed_decay)
    start = _full(args["initial_accumulator"])
    return _base.make_optimizer(
        "yogi", _shown(args), args, YogiState, {"exp_avg": start, "exp_avg_sq": start},
        _yogi_kernel,
    )


def _adam_denominator(second_moment, bias_correction, eps, out):
    """``sqrt(v) / sqrt(1 - beta2**t) + eps`` in the reference's order."""
    np.sqrt(second_moment, out=out)
    out /= math.sqrt(bias_correction) if np.ndim(bias_correction) == 0 else np.sqrt(
        bias_correction)
    out += eps
    return out


def _yogi_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    param = _base.decoupled_decay(param, args)
    beta1, beta2, step = args["beta1"], args["beta2"], args["step"]
    exp_avg = _base.lerp(state["exp_avg"], grad, 1 - beta1, out=out["exp_avg"])
    square = grad * grad
    sign = np.sign(state["exp_avg_sq"] - square)
    sign *= -(1.0 - beta2)
    sign *= square
    exp_avg_sq = np.add(state["exp_avg_sq"], sign, out=out["exp_avg_sq"])
    denom = _adam_denominator(exp_avg_sq, 1 - beta2**step, args["eps"], out["param"])
    _base.addcdiv(param, -args["lr"] / (1 - beta1**step), exp_avg, denom, out=out["param"])


# --- AdaBelief -------------------------------------------------------------------------


class AdaBeliefState(NamedTuple):
    step: int
    exp_avg: Tree
    exp_avg_var: Tree
    max_exp_avg_var: Tree | None  # None unless ams_bound


def adabelief(
    lr=1e-3,
    betas=(0.9, 0.999),
    weight_decay=0.0,
    weight_decouple=True,
    fixed_decay=False,
    rectify=False,
    n_sma_threshold=5,
    degenerated_to_sgd=True,
    ams_bound=False,
    eps=1e-16,
    maximize=False,
) -> _base.Optimizer:
    r"""AdaBelief, as ``pytorch_optimizer.AdaBelief``: Adam whose second moment is the
    variance of the gradient around its EMA, (g - m)**2, not g**2.

    Update rule at step t (gamma = lr, lambda = weight_decay; m = exp_avg,
    s = exp_avg_var, s_max = max_exp_avg_var)::

        g_t <- -g_t; weight decay as in `yogi`
        m_t = beta1 m_{t-1} + (1 - beta1) g_t                            (Alg. 2)
        s_t = beta2 s_{t-1} + (1 - beta2) (g_t - m_t)**2 + eps             (Alg. 2)
        s_t <- max(s_max_{t-1}, s_t)                       if ams_bound (stored as s_max)
        theta_t = theta_{t-1} - gamma / (1 - beta1**t)
                                * m_t / (sqrt(s_t) / sqrt(1 - beta2**t) + eps)

    With rectify, RAdam's rectification (see `radam`) replaces the bias correction of
    s: with rho_t >= n_sma_threshold the step is ``gamma r_t sqrt(1 - beta2**t) /
    (1 - beta1**t) * m_t / (sqrt(s_t) + eps)``; below it, ``gamma / (1 - beta1**t) m_t``
    (an SGD-with-momentum step) if degenerated_to_sgd, else no step.

    When g follows m closely (a smooth, consistent slope) s is small and the step is
    large; where g keeps disagreeing with m (noise, oscillation across a ravine) s is
    large and the step small: the "belief" in the observed gradient.

    Reference: Zhuang, Tang, Ding, Tatikonda, Dvornek, Papademetris & Duncan (2020),
    "AdaBelief optimizer: adapting stepsizes by the belief in observed gradients",
    NeurIPS (Algorithm 2).

    Differences from the paper: eps is added twice, inside s_t and after the square
    root, as in the paper's box and the authors' code; ams_bound, rectify and weight
    decay are the authors' package options. The authors' package (adabelief-pytorch
    0.2) turns rectify on by default; the algorithm box and the reference do not.
    """
    args = _hyperparameters(lr, betas, dict(weight_decay=weight_decay, eps=eps),
                            ("weight_decay", "eps"))
    args["n_sma_threshold"] = _base.real("n_sma_threshold", n_sma_threshold)
    for name, value in [("rectify", rectify), ("degenerated_to_sgd", degenerated_to_sgd),
                        ("ams_bound", ams_bound), ("maximize", maximize)]:
        args[name] = _base.flag(name, value)
    _weight_decay_options(args, weight_decouple, fixed_decay)
    if args["rectify"] and np.ndim(args["beta2"]) + np.ndim(args["n_sma_threshold"]):
        raise ValueError("rectify needs a scalar beta2 and n_sma_threshold")
    buffers = {"exp_avg": _ZEROS, "exp_avg_var": _ZEROS}
    if args["ams_bound"]:
        buffers["max_exp_avg_var"] = _ZEROS
    return _base.make_optimizer(
        "adabelief", _shown(args), args, AdaBeliefState, buffers, _adabelief_kernel
    )


def _adabelief_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    param = _base.decoupled_decay(param, args)
    beta1, beta2, step, eps = args["beta1"], args["beta2"], args["step"], args["eps"]
    new_param = out["param"]
    exp_avg = _base.lerp(state["exp_avg"], grad, 1 - beta1, out=out["exp_avg"])
    residual = grad - exp_avg
    exp_avg_var = _base.add_square(
        state["exp_avg_var"], residual, beta2, out=out["exp_avg_var"], scratch=new_param
    )
    exp_avg_var += eps
    if "max_exp_avg_var" in state:
        exp_avg_var = np.maximum(state["max_exp_avg_var"], exp_avg_var,
                                 out=out["max_exp_avg_var"])
    bias_correction1, bias_correction2 = 1 - beta1**step, 1 - beta2**step
    if not args["rectify"]:
        denom = _adam_denominator(exp_avg_var, bias_correction2, eps, new_param)
        _base.addcdiv(param, -args["lr"] / bias_correction1, exp_avg, denom, out=new_param)
        return
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2 * step * beta2**step / bias_correction2
    if rho_t >= args["n_sma_threshold"]:
        rate = math.sqrt(bias_correction2 * _rectification_squared(rho_t, rho_inf))
        denom = np.sqrt(exp_avg_var, out=new_param)
        denom += eps
        _base.addcdiv(param, -args["lr"] * rate / bias_correction1, exp_avg, denom,
                      out=new_param)
    elif args["degenerated_to_sgd"]:
        np.multiply(exp_avg, -args["lr"] / bias_correction1, out=new_param)
        new_param += param
    else:
        np.copyto(new_param, param)


# --- Adan ------------------------------------------------------------------------------


class AdanState(NamedTuple):
    step: int
    exp_avg: Tree
    exp_avg_sq: Tree
    exp_avg_diff: Tree
    previous_grad: Tree


def adan(
    lr=1e-3,
    betas=(0.98, 0.92, 0.99),
    weight_decay=0.0,
    weight_decouple=False,
    eps=1e-8,
    maximize=False,
) -> _base.Optimizer:
    r"""Adan, as ``pytorch_optimizer.Adan``: Adam fed with the gradient's change as well
    as the gradient, a Nesterov step written without a second gradient evaluation.

    Update rule at step t (gamma = lr, lambda = weight_decay; m = exp_avg,
    d = exp_avg_diff, n = exp_avg_sq; the betas are decays, the paper's 1 - beta)::

        g_t <- -g_t                                              if maximize
        Delta_t = g_t - g_{t-1}  (0 at t = 1)
        m_t = beta1 m_{t-1} + (1 - beta1) g_t                          (Alg. 1)
        d_t = beta2 d_{t-1} + (1 - beta2) Delta_t                      (Alg. 1)
        n_t = beta3 n_{t-1} + (1 - beta3) (g_t + beta2 Delta_t)**2     (Alg. 1)
        eta_t = gamma / (sqrt(n_t) / sqrt(1 - beta3**t) + eps)         (Alg. 1)
        theta_{t-1} <- theta_{t-1} (1 - gamma lambda)                  if weight_decouple
        theta_t = theta_{t-1} - eta_t (m_t / (1 - beta1**t) + beta2 d_t / (1 - beta2**t))
        theta_t <- theta_t / (1 + gamma lambda)            otherwise (proximal)

    Reference: Xie, Zhou, Li, Lin & Yan (2022), "Adan: adaptive Nesterov momentum
    algorithm for faster optimizing deep models", IEEE TPAMI 2024 (Algorithm 1).

    Differences from the paper, all the authors' code's and the reference's: bias
    corrections of m, d and n where the box starts from m_0 = g_0, d_1 = g_1 - g_0 and
    n_0 = g_0**2; eps after the square root. The betas are decays (0.98, 0.92, 0.99),
    the paper's beta_1 = 0.02, beta_2 = 0.08, beta_3 = 0.01.

    Differences from the reference: ``previous_grad`` holds g_{t-1} itself (the
    reference stores -g_{t-1} under that name); with maximize the reference's first
    step takes Delta_1 = -2 g_1 (its stored gradient is initialised before the sign
    flip), here Delta_1 = 0 as without maximize. The reference's max_grad_norm (a
    global clipping computed in float32) is left out: clip the gradients first.
    """
    args = _hyperparameters(lr, betas, dict(weight_decay=weight_decay, eps=eps),
                            ("weight_decay", "eps"))
    args["maximize"] = _base.flag("maximize", maximize)
    _weight_decay_options(args, weight_decouple, False)
    del args["fixed_decay"]
    buffers = dict.fromkeys(AdanState._fields[1:], _ZEROS)
    return _base.make_optimizer("adan", _shown(args, betas=3), args, AdanState, buffers,
                                _adan_kernel)


def _adan_kernel(param, grad, state, out, args):
    beta1, beta2, beta3, step = args["beta1"], args["beta2"], args["beta3"], args["step"]
    lr, new_param = args["lr"], out["param"]
    if args["maximize"]:
        grad = np.negative(grad)
    change = out["previous_grad"]  # scratch until the end
    if step == 1:
        change.fill(0.0)
    else:
        np.subtract(grad, state["previous_grad"], out=change)
    exp_avg = _base.lerp(state["exp_avg"], grad, 1 - beta1, out=out["exp_avg"])
    exp_avg_diff = _base.lerp(state["exp_avg_diff"], change, 1 - beta2, out=out["exp_avg_diff"])
    change *= beta2
    change += grad
    exp_avg_sq = _base.add_square(state["exp_avg_sq"], change, beta3,
                                  out=out["exp_avg_sq"], scratch=new_param)
    denom = _adam_denominator(exp_avg_sq, 1 - beta3**step, args["eps"], change)
    param = _base.decoupled_decay(param, args)
    # Two addcdiv steps as the reference takes them: the momentum, then the difference.
    partial = _base.addcdiv(param, -lr / (1 - beta1**step), exp_avg, denom,
                            np.empty_like(param))
    _base.addcdiv(partial, -lr * beta2 / (1 - beta2**step), exp_avg_diff, denom,
                  out=new_param)
    if args["l2_decay"]:  # Adan's proximal decay, not an L2 term in the gradient
        new_param /= 1 + lr * args["weight_decay"]
    np.copyto(change, grad)  # previous_grad for the next step


# --- ADOPT -----------------------------------------------------------------------------


class ADOPTState(NamedTuple):
    step: int
    exp_avg: Tree
    exp_avg_sq: Tree


class _QuarterPower:
    """ADOPT's default clipping bound t**(1/4), shown as the reference writes it."""

    def __call__(self, step):
        return math.pow(step, 0.25)

    def __repr__(self):
        return "lambda step: math.pow(step, 0.25)"


_QUARTER_POWER = _QuarterPower()


def adopt(
    lr=1e-3,
    betas=(0.9, 0.9999),
    clip_lambda=_QUARTER_POWER,
    weight_decay=0.0,
    weight_decouple=False,
    fixed_decay=False,
    eps=1e-6,
    maximize=False,
) -> _base.Optimizer:
    r"""ADOPT, as ``pytorch_optimizer.ADOPT``: Adam with the gradient normalised by the
    *previous* second moment, before it enters the momentum.

    Update rule (gamma = lr, lambda = weight_decay; m = exp_avg, v = exp_avg_sq;
    c(t) = clip_lambda(t), t**(1/4) by default)::

        g_t <- -g_t; weight decay as in `yogi` (also at t = 1)
        t = 1:  v_1 = g_1**2; no step
        t > 1:  m_t = beta1 m_{t-1}
                      + (1 - beta1) clip(g_t / max(sqrt(v_{t-1}), eps), c(t))
                theta_t = theta_{t-1} - gamma m_t
                v_t = beta2 v_{t-1} + (1 - beta2) g_t**2

    Adam divides m_t by a v_t that contains g_t, so the step and the gradient that
    made it are correlated; Reddi et al.'s counterexample lives on that correlation.
    ADOPT divides each g_t by v_{t-1} alone and averages the normalised gradients, which
    converges for any beta2 (the paper's main theorem) without AMSGrad's max.

    Reference: Taniguchi, Harada, Minegishi, Oshima, Jeong, Nagahara, Iiyama, Suzuki,
    Iwasawa & Matsuo (2024), "ADOPT: modified Adam can converge with any beta2 with the
    optimal rate", NeurIPS; the clipped form is the authors' update of November 2024
    (arXiv:2411.02853), whose default bound t**(1/4) keeps the convergence proof.

    Differences from the paper, all the authors' code's and the reference's: the
    clipping bound c(t) = t**(1/4) counts the initialisation as step 1 (the paper
    numbers it 0); eps is applied as ``max(sqrt(v), eps)``; weight decay is an option
    of the code. clip_lambda=None turns clipping off (the algorithm as first
    published). The reference's cautious and stable_adamw extras are not offered.
    """
    args = _hyperparameters(lr, betas, dict(weight_decay=weight_decay, eps=eps),
                            ("weight_decay", "eps"))
    args["maximize"] = _base.flag("maximize", maximize)
    if clip_lambda is not None and not callable(clip_lambda):
        raise TypeError(f"clip_lambda must be a function of the step or None, got {clip_lambda!r}")
    _weight_decay_options(args, weight_decouple, fixed_decay)

    def clip_at(state, step):
        bound = clip_lambda(step) if clip_lambda is not None and step > 1 else None
        return {}, {"clip": bound}

    shown = _shown(args)
    shown["clip_lambda"] = clip_lambda
    return _base.make_optimizer("adopt", shown, args, ADOPTState,
                                {"exp_avg": _ZEROS, "exp_avg_sq": _ZEROS}, _adopt_kernel,
                                schedule=clip_at)


def _adopt_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    param = _base.decoupled_decay(param, args)
    new_param, exp_avg_sq = out["param"], out["exp_avg_sq"]
    if args["step"] == 1:
        np.copyto(out["exp_avg"], state["exp_avg"])
        np.multiply(grad, grad, out=exp_avg_sq)
        exp_avg_sq += state["exp_avg_sq"]
        np.copyto(new_param, param)
        return
    normed = np.sqrt(state["exp_avg_sq"], out=new_param)
    np.maximum(normed, args["eps"], out=normed)
    np.divide(grad, normed, out=normed)
    if args["clip"] is not None:
        np.clip(normed, -args["clip"], args["clip"], out=normed)
    exp_avg = _base.lerp(state["exp_avg"], normed, 1 - args["beta1"], out=out["exp_avg"])
    np.multiply(exp_avg, -args["lr"], out=new_param)
    new_param += param
    _base.add_square(state["exp_avg_sq"], grad, args["beta2"], out=exp_avg_sq,
                     scratch=np.empty_like(param))


# --- AdEMAMix --------------------------------------------------------------------------


class AdEMAMixState(NamedTuple):
    step: int
    exp_avg: Tree
    exp_avg_sq: Tree
    exp_avg_slow: Tree


def ademamix(
    lr=1e-3,
    betas=(0.9, 0.999, 0.9999),
    weight_decay=0.0,
    weight_decouple=True,
    fixed_decay=False,
    alpha=5.0,
    t_alpha_beta3=None,
    eps=1e-8,
    maximize=False,
) -> _base.Optimizer:
    r"""AdEMAMix, as ``pytorch_optimizer.AdEMAMix``: Adam whose numerator mixes the
    usual fast EMA of g with a very slow one (beta3 = 0.9999 remembers ~10 000 steps).

    Update rule at step t (gamma = lr, lambda = weight_decay; m1 = exp_avg,
    v = exp_avg_sq, m2 = exp_avg_slow; T = t_alpha_beta3)::

        g_t <- -g_t; weight decay as in `yogi`
        alpha_t = min(t alpha / T, alpha)                        (Alg. 1; alpha if T is None)
        beta3_t = min(exp(ln beta1 ln beta3
                      / ((1 - t/T) ln beta3 + (t/T) ln beta1)), beta3)  (beta3 if T is None)
        m1_t = beta1 m1_{t-1} + (1 - beta1) g_t
        m2_t = beta3_t m2_{t-1} + (1 - beta3_t) g_t
        v_t = beta2 v_{t-1} + (1 - beta2) g_t**2
        theta_t = theta_{t-1} - gamma (m1_t / (1 - beta1**t) + alpha_t m2_t)
                                / (sqrt(v_t) / sqrt(1 - beta2**t) + eps)

    The slow EMA is not bias-corrected: it starts near zero and, with the schedulers,
    its weight alpha_t and its memory beta3_t grow over the first T steps, so early
    steps are Adam's.

    Reference: Pagliardini, Ablin & Grangier (2024), "The AdEMAMix optimizer: better,
    faster, older", ICLR 2025 (Algorithm 1).

    Differences from the paper: one horizon T for both schedulers (the paper allows
    T_alpha and T_beta3 to differ; its experiments set both to the run's length);
    eps after the bias-corrected square root as in Adam. The paper decays the weights
    as AdamW does, ``theta <- theta - gamma lambda theta``, so weight_decouple defaults
    to True here (the reference's default is False, an L2 term in the gradient). The
    reference's cautious and stable_adamw extras are not offered.
    """
    more = dict(alpha=alpha, t_alpha_beta3=t_alpha_beta3, weight_decay=weight_decay, eps=eps)
    if t_alpha_beta3 is None:  # no schedulers; the reference skips the check
        del more["t_alpha_beta3"]
    args = _hyperparameters(lr, betas, more, tuple(more))
    args.pop("t_alpha_beta3", None)
    args["maximize"] = _base.flag("maximize", maximize)
    _weight_decay_options(args, weight_decouple, fixed_decay)
    alpha, beta1, beta3 = args["alpha"], args["beta1"], args["beta3"]

    def schedulers(state, step):
        if t_alpha_beta3 is None:
            return {}, {"alpha_t": alpha, "beta3_t": beta3}
        fraction = step / t_alpha_beta3
        log_beta1, log_beta3 = np.log(beta1), np.log(beta3)
        slow = np.exp(log_beta1 * log_beta3 / ((1.0 - fraction) * log_beta3 + fraction * log_beta1))
        return {}, {"alpha_t": np.minimum(step * alpha / t_alpha_beta3, alpha),
                    "beta3_t": np.minimum(slow, beta3)}

    shown = _shown(args, betas=3)
    shown["t_alpha_beta3"] = t_alpha_beta3
    buffers = dict.fromkeys(AdEMAMixState._fields[1:], _ZEROS)
    return _base.make_optimizer("ademamix", shown, args, AdEMAMixState, buffers,
                                _ademamix_kernel, schedule=schedulers)


def _ademamix_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    param = _base.decoupled_decay(param, args)
    beta1, beta2, step = args["beta1"], args["beta2"], args["step"]
    new_param = out["param"]
    exp_avg = _base.lerp(state["exp_avg"], grad, 1 - beta1, out=out["exp_avg"])
    exp_avg_sq = _base.add_square(state["exp_avg_sq"], grad, beta2, out=out["exp_avg_sq"],
                                  scratch=new_param)
    exp_avg_slow = _base.lerp(state["exp_avg_slow"], grad, 1 - args["beta3_t"],
                              out=out["exp_avg_slow"])
    update = exp_avg / (1 - beta1**step)
    update += args["alpha_t"] * exp_avg_slow
    denom = _adam_denominator(exp_avg_sq, 1 - beta2**step, args["eps"], new_param)
    _base.addcdiv(param, -args["lr"], update, denom, out=new_param)


# --- MARS (AdamW form) -----------------------------------------------------------------


class MARSState(NamedTuple):
    step: int
    exp_avg: Tree
    exp_avg_sq: Tree
    last_grad: Tree
    max_exp_avg_sq: Tree | None  # None unless ams_bound


# The reference adds this inside the square root of v (its apply_ams_bound default).
_MARS_SQRT_OFFSET = 1e-15


def mars(
    lr=3e-3,
    betas=(0.95, 0.99),
    gamma=0.025,
    optimize_1d=False,
    lr_1d=3e-3,
    betas_1d=(0.9, 0.95),
    weight_decay=0.0,
    weight_decay_1d=1e-1,
    fixed_decay=False,
    ams_bound=False,
    eps=1e-8,
    maximize=False,
) -> _base.Optimizer:
    r"""MARS in its AdamW form, as ``pytorch_optimizer.MARS(mars_type="adamw")``: AdamW
    fed with a variance-reduced gradient, the gradient corrected by its change since the
    last step (STORM's estimator with the previous step's gradient).

    Update rule at step t for an array of two or more dimensions, or any array with
    optimize_1d (gamma_c = gamma; eta = lr, lambda = weight_decay; m = exp_avg,
    v = exp_avg_sq, v_max = max_exp_avg_sq, g_prev = last_grad, 0 at t = 1)::

        g_t <- -g_t                                              if maximize
        c_t = g_t + gamma_c beta1 / (1 - beta1) (g_t - g_prev)
        c_t <- c_t / ||c_t||_2                  if ||c_t||_2 > 1 (whole array)
        m_t = beta1 m_{t-1} + (1 - beta1) c_t
        v_t = beta2 v_{t-1} + (1 - beta2) c_t**2
        v_t <- max(v_max_{t-1}, v_t)                             if ams_bound
        theta_{t-1} <- theta_{t-1} (1 - eta lambda)    (1 - lambda with fixed_decay)
        theta_t = theta_{t-1} - eta m_t / (1 - beta1**t)
                  / ((sqrt(v_t + 1e-15) + eps) / sqrt(1 - beta2**t))

    Any other array (a bias, a norm's scale: one dimension) gets plain AdamW with
    lr_1d, betas_1d and weight_decay_1d, the same denominator, no correction and no
    clipping, as in the authors' training code.

    Reference: Yuan, Liu, Wu, Zhou & Gu (2024), "MARS: unleashing the power of variance
    reduction for training large models", ICML 2025 (MARS-AdamW, with the approximate
    correction: g_prev is the previous step's gradient, not the old parameters'
    gradient on the new batch).

    Differences from the paper, all the authors' code's and the reference's: eps is
    added to ``sqrt(v_t + 1e-15)`` before the bias correction divides it, so the
    effective eps is ``eps / sqrt(1 - beta2**t)``; g_prev is 0 at t = 1, so the first
    correction scales g_1 by 1 + gamma_c beta1 / (1 - beta1); the clipping norm is
    per array. The 1-D rule and its hyperparameters are the code's, not the paper's.

    Differences from the reference: weight decay is always decoupled (the reference's
    weight_decouple=False adds lambda theta to the gradient only after the update has
    used it, so that only the stored last_grad changes); mars_type "lion" and
    "shampoo" (MARS-M, in `book.optim`'s Muon family) and cautious are not offered.
    Hyperparameters must be scalars: the clipping norm is over the whole array.
    """
    given = dict(lr=lr, lr_1d=lr_1d, beta1=betas[0], beta2=betas[1], beta1_1d=betas_1d[0],
                 beta2_1d=betas_1d[1], gamma=gamma, weight_decay=weight_decay,
                 weight_decay_1d=weight_decay_1d, eps=eps)
    checks = [("lr", _base.not_negative, _LR), ("lr_1d", _base.not_negative, _LR),
              _beta(1), _beta(2),
              ("beta1_1d", _base.beta_range, "beta1 must be in the range [0.0, 1.0)"),
              ("beta2_1d", _base.beta_range, "beta2 must be in the range [0.0, 1.0)"),
              *map(_non_negative, ("gamma", "weight_decay", "weight_decay_1d", "eps"))]
    args = _base.hyperparameters(given, checks)
    if any(np.ndim(value) for value in args.values()):
        raise ValueError("mars takes scalar hyperparameters: its clipping norm is over "
                         "the whole array")
    for name, value in [("optimize_1d", optimize_1d), ("ams_bound", ams_bound),
                        ("maximize", maximize)]:
        args[name] = _base.flag(name, value)
    _weight_decay_options(args, True, fixed_decay)
    # The reference's 1-D step size is lr * (lr_1d / lr), not lr_1d.
    args["step_size_1d"] = args["lr"] * (args["lr_1d"] / args["lr"]) if args["lr"] else args["lr_1d"]
    buffers = {"exp_avg": _ZEROS, "exp_avg_sq": _ZEROS, "last_grad": _ZEROS}
    if args["ams_bound"]:
        buffers["max_exp_avg_sq"] = _ZEROS
    shown = {"lr": args["lr"], "betas": (args["beta1"], args["beta2"]), "gamma": args["gamma"],
             "optimize_1d": args["optimize_1d"], "lr_1d": args["lr_1d"],
             "betas_1d": (args["beta1_1d"], args["beta2_1d"]),
             "weight_decay": args["weight_decay"], "weight_decay_1d": args["weight_decay_1d"],
             "fixed_decay": args["fixed_decay"], "ams_bound": args["ams_bound"],
             "eps": args["eps"], "maximize": args["maximize"]}
    return _base.make_optimizer("mars", shown, args, MARSState, buffers, _mars_kernel,
                                elementwise=False)


def _mars_kernel(param, grad, state, args):
    if args["maximize"]:
        grad = np.negative(grad)
    step = args["step"]
    corrected = args["optimize_1d"] or param.ndim >= 2
    if corrected:
        beta1, beta2 = args["beta1"], args["beta2"]
        lr, weight_decay = args["lr"], args["weight_decay"]
        direction = grad - state["last_grad"]
        direction *= args["gamma"] * (beta1 / (1.0 - beta1))
        direction += grad
        norm = np.linalg.norm(direction)
        if norm > 1.0:
            direction /= norm
    else:
        beta1, beta2 = args["beta1_1d"], args["beta2_1d"]
        lr, weight_decay = args["step_size_1d"], args["weight_decay_1d"]
        direction = grad
    new = {"last_grad": grad.copy()}
    new["exp_avg"] = _base.lerp(state["exp_avg"], direction, 1 - beta1, np.empty_like(param))
    second_moment = new["exp_avg_sq"] = _base.add_square(
        state["exp_avg_sq"], direction, beta2, np.empty_like(param), np.empty_like(param))
    if "max_exp_avg_sq" in state:
        second_moment = new["max_exp_avg_sq"] = np.maximum(state["max_exp_avg_sq"], second_moment)
    denom = second_moment + _MARS_SQRT_OFFSET
    np.sqrt(denom, out=denom)
    denom += args["eps"]
    denom /= math.sqrt(1 - beta2**step)
    denom *= 1 - beta1**step
    decayed = _base.decoupled_decay(param, {**args, "decoupled_decay": weight_decay != 0,
                                            "weight_decay": weight_decay, "lr": lr})
    new["param"] = _base.addcdiv(decayed, -lr, new["exp_avg"], denom, np.empty_like(param))
    return new


_CHAPTER = "chapters/adam-descendants"
_ADAM_FAMILY = "C. The Adam family"
_BIAS_CORRECTED_STEP = (r"\theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t} \, "
                        r"\frac{m_t}{\sqrt{v_t / (1-\beta_2^t)} + \epsilon}")
_REFERENCE_DECAY = (COUPLED_DECAY + r" \text{ or, if weight_decouple, } " + DECOUPLED_DECAY)

CATALOG = (
    Entry(
        factory="yogi",
        family=_ADAM_FAMILY,
        rule=(_REFERENCE_DECAY, ADAM_MOMENTS[0],
              r"v_t = v_{t-1} - (1-\beta_2) \, \mathrm{sign}(v_{t-1} - g_t^2) \, g_t^2",
              _BIAS_CORRECTED_STEP),
        reference="pytorch_optimizer.Yogi",
        paper="Zaheer, Reddi, Sachan, Kale & Kumar (2018), Adaptive methods for nonconvex "
        "optimization",
        year=2018,
        bibkey="zaheer2018adaptive",
        chapter=_CHAPTER,
        notes=(
            "Bias correction of m and v as in Adam; the paper's Algorithm 2 has none.",
            "m and v start at initial_accumulator = 1e-6, not 0.",
        ),
    ),
    Entry(
        factory="adabelief",
        family=_ADAM_FAMILY,
        rule=(_REFERENCE_DECAY, ADAM_MOMENTS[0],
              r"s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \epsilon",
              r"\theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t} \, "
              r"\frac{m_t}{\sqrt{s_t / (1-\beta_2^t)} + \epsilon}"),
        reference="pytorch_optimizer.AdaBelief",
        paper="Zhuang et al. (2020), AdaBelief optimizer: adapting stepsizes by the belief "
        "in observed gradients",
        year=2020,
        bibkey="zhuang2020adabelief",
        chapter=_CHAPTER,
        notes=(
            "eps is added twice, inside s_t and after the square root, as in the paper.",
            "rectify (RAdam's rectification) and ams_bound are options, off by default as "
            "in the algorithm box; the authors' package turns rectify on.",
        ),
    ),
    Entry(
        factory="adan",
        family="F. Modern variants",
        rule=(r"\Delta_t = g_t - g_{t-1} \quad (\Delta_1 = 0)",
              ADAM_MOMENTS[0],
              r"d_t = \beta_2 d_{t-1} + (1-\beta_2) \Delta_t",
              r"n_t = \beta_3 n_{t-1} + (1-\beta_3)(g_t + \beta_2 \Delta_t)^2",
              r"\theta_t = \Big(\theta_{t-1} - \eta \, \frac{m_t/(1-\beta_1^t) + "
              r"\beta_2 d_t/(1-\beta_2^t)}{\sqrt{n_t/(1-\beta_3^t)} + \epsilon}\Big) "
              r"\Big/ (1 + \eta\lambda)"),
        reference="pytorch_optimizer.Adan",
        paper="Xie, Zhou, Li, Lin & Yan (2022), Adan: adaptive Nesterov momentum algorithm "
        "for faster optimizing deep models",
        year=2022,
        bibkey="xie2024adan",
        chapter=_CHAPTER,
        notes=(
            "The betas are decays (0.98, 0.92, 0.99), the paper's 1 - beta.",
            "Bias corrections where the paper starts from m_0 = g_0, n_0 = g_0^2.",
            "Weight decay is the paper's proximal division; weight_decouple shrinks "
            "theta first instead.",
            "previous_grad holds g itself (the reference stores -g); no max_grad_norm.",
        ),
    ),
    Entry(
        factory="adopt",
        family=_ADAM_FAMILY,
        rule=(_REFERENCE_DECAY,
              r"t = 1: \; v_1 = g_1^2, \text{ no step}",
              r"m_t = \beta_1 m_{t-1} + (1-\beta_1) \, \mathrm{clip}\Big(\frac{g_t}"
              r"{\max(\sqrt{v_{t-1}}, \epsilon)}, t^{1/4}\Big)",
              r"\theta_t = \theta_{t-1} - \eta m_t",
              r"v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2"),
        reference="pytorch_optimizer.ADOPT",
        paper="Taniguchi et al. (2024), ADOPT: modified Adam can converge with any beta2 "
        "with the optimal rate",
        year=2024,
        bibkey="taniguchi2024adopt",
        chapter=_CHAPTER,
        notes=(
            "The clipping bound t^(1/4) counts the initialisation as step 1; "
            "clip_lambda=None gives the unclipped algorithm of the NeurIPS paper.",
        ),
    ),
    Entry(
        factory="ademamix",
        family=_ADAM_FAMILY,
        rule=(_REFERENCE_DECAY, *ADAM_MOMENTS,
              r"m^{slow}_t = \beta_3(t) m^{slow}_{t-1} + (1-\beta_3(t)) g_t",
              r"\theta_t = \theta_{t-1} - \eta \, \frac{m_t/(1-\beta_1^t) + \alpha(t) "
              r"m^{slow}_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}"),
        reference="pytorch_optimizer.AdEMAMix",
        paper="Pagliardini, Ablin & Grangier (2024), The AdEMAMix optimizer: better, "
        "faster, older",
        year=2024,
        bibkey="pagliardini2025ademamix",
        chapter=_CHAPTER,
        notes=(
            "One horizon t_alpha_beta3 for both schedulers (the paper allows two).",
            "weight_decouple defaults to True, the paper's AdamW decay; the reference's "
            "default is L2.",
        ),
    ),
    Entry(
        factory="mars",
        family="F. Modern variants",
        rule=(r"c_t = g_t + \gamma \frac{\beta_1}{1-\beta_1}(g_t - g_{t-1}), \quad "
              r"c_t \leftarrow c_t / \|c_t\| \text{ if } \|c_t\| > 1",
              r"m_t = \beta_1 m_{t-1} + (1-\beta_1) c_t",
              r"v_t = \beta_2 v_{t-1} + (1-\beta_2) c_t^2",
              DECOUPLED_DECAY,
              r"\theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t} \, \frac{m_t \sqrt{1-\beta_2^t}}"
              r"{\sqrt{v_t + 10^{-15}} + \epsilon}"),
        reference="pytorch_optimizer.MARS",
        paper="Yuan, Liu, Wu, Zhou & Gu (2024), MARS: unleashing the power of variance "
        "reduction for training large models",
        year=2024,
        bibkey="yuan2025mars",
        chapter=_CHAPTER,
        notes=(
            "The AdamW form only; arrays of fewer than two dimensions get plain AdamW "
            "with lr_1d, betas_1d and weight_decay_1d unless optimize_1d.",
            "eps is added before the bias correction divides the denominator, and 1e-15 "
            "inside the square root (the reference's arithmetic).",
            "g_{t-1} = 0 at t = 1; the clipping norm is per array.",
        ),
    ),
)
