"""AdaMax, NAdam and RAdam, as their torch.optim namesakes."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _base
from ._adam import (
    ADAM_MOMENTS,
    COUPLED_DECAY,
    DECOUPLED_DECAY,
    adam_family_hyperparameters,
    decay_and_moments,
    shown,
)
from ._catalog import Entry

Tree = np.ndarray | dict


class AdamaxState(NamedTuple):
    step: int
    exp_avg: Tree
    exp_inf: Tree


class NAdamState(NamedTuple):
    step: int
    mu_product: float | np.ndarray  # one value for all parameters
    exp_avg: Tree
    exp_avg_sq: Tree


class RAdamState(NamedTuple):
    step: int
    exp_avg: Tree
    exp_avg_sq: Tree


_MOMENTS = {"exp_avg": np.zeros_like, "exp_avg_sq": np.zeros_like}


def adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False):
    r"""AdaMax, as ``torch.optim.Adamax``: Adam with an infinity norm in place of v.

    Update rule at step t (gamma = lr, lambda = weight_decay; m = exp_avg,
    u = exp_inf)::

        g_t <- -g_t                          if maximize
        g_t <- g_t + lambda * theta_{t-1}    if lambda != 0
        m_t = beta1 * m_{t-1} + (1 - beta1) * g_t
        u_t = max(beta2 * u_{t-1}, |g_t| + eps)
        theta_t = theta_{t-1} - gamma / (1 - beta1**t) * m_t / u_t

    Reference: Kingma & Ba (2015), "Adam: a method for stochastic optimization",
    ICLR, Section 7.1 (Algorithm 2).

    Differences from the paper, all torch's: eps sits inside the max,
    ``u = max(beta2*u, |g| + eps)``, where the paper has ``u = max(beta2*u, |g|)``
    and no eps at all; this keeps u positive when the first gradients are exactly
    zero (the paper's rule divides 0 by 0 there). So with a zero gradient u decays
    towards eps, and once u is that small each update is about lr / (1 - beta1**t)
    times m / eps.
    """
    args = adam_family_hyperparameters(lr, betas, eps, weight_decay)
    args["maximize"] = _base.flag("maximize", maximize)
    buffers = {"exp_avg": np.zeros_like, "exp_inf": np.zeros_like}
    return _base.make_optimizer(
        "adamax", shown(args), args, AdamaxState, buffers, _adamax_kernel
    )


def _adamax_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    new_param, exp_inf = out["param"], out["exp_inf"]
    exp_avg = _base.lerp(state["exp_avg"], grad, 1 - args["beta1"], out=out["exp_avg"])
    np.multiply(state["exp_inf"], args["beta2"], out=exp_inf)
    bound = np.abs(grad, out=new_param)
    bound += args["eps"]
    np.maximum(exp_inf, bound, out=exp_inf)
    step_size = args["lr"] / (1 - args["beta1"] ** args["step"])
    _base.addcdiv(param, -step_size, exp_avg, exp_inf, out=new_param)


def nadam(
    lr=2e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0,
    momentum_decay=4e-3,
    decoupled_weight_decay=False,
    maximize=False,
) -> _base.Optimizer:
    r"""NAdam, as ``torch.optim.NAdam``: Adam with Nesterov momentum.

    Update rule at step t (gamma = lr, lambda = weight_decay, psi = momentum_decay;
    m = exp_avg, v = exp_avg_sq, mu_product = prod of mu_1..mu_t, one value for all
    parameters)::

        g_t <- -g_t                                   if maximize
        theta_{t-1} <- theta_{t-1} * (1 - gamma*lambda) if decoupled_weight_decay
        g_t <- g_t + lambda * theta_{t-1}             otherwise, if lambda != 0
        mu_t     = beta1 * (1 - 0.5 * 0.96**(t * psi))
        mu_{t+1} = beta1 * (1 - 0.5 * 0.96**((t + 1) * psi))
        m_t = beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t = beta2 * v_{t-1} + (1 - beta2) * g_t**2
        d_t = sqrt(v_t / (1 - beta2**t)) + eps
        theta_t = theta_{t-1} - gamma * (1 - mu_t) / (1 - prod_{i<=t} mu_i) * g_t / d_t
                              - gamma * mu_{t+1} / (1 - prod_{i<=t+1} mu_i) * m_t / d_t

    References: Dozat (2016), "Incorporating Nesterov momentum into Adam", ICLR
    workshop; Loshchilov & Hutter (2019) for the decoupled weight decay.

    Differences from the paper, all torch's: the momentum schedule
    ``mu_t = beta1 * (1 - 0.5 * 0.96**(t * psi))`` with psi = 0.004 follows Dozat's
    experiments (the paper's algorithm box leaves mu_t free); the first moment is the
    plain EMA with beta1 while the schedule only weighs the two terms; eps is added
    after the square root of the bias-corrected v.

    ``mu_product`` is a float (an array when beta1 or momentum_decay is batched) kept
    in float64 for every parameter dtype.
    """
    args = adam_family_hyperparameters(
        lr,
        betas,
        eps,
        weight_decay,
        momentum_decay=(momentum_decay, "Invalid momentum_decay value: {}"),
    )
    args["decoupled_weight_decay"] = _base.flag(
        "decoupled_weight_decay", decoupled_weight_decay
    )
    args["maximize"] = _base.flag("maximize", maximize)
    beta1, decay = args["beta1"], args["momentum_decay"]

    def momentum_at(step):
        return beta1 * (1.0 - 0.5 * (0.96 ** (step * decay)))

    def schedule(state, step):
        mu, mu_next = momentum_at(step), momentum_at(step + 1)
        mu_product = state.mu_product * mu
        return {"mu_product": mu_product}, {
            "mu": mu,
            "mu_next": mu_next,
            "mu_product": mu_product,
            "mu_product_next": mu_product * mu_next,
        }

    return _base.make_optimizer(
        "nadam",
        shown(args),
        args,
        NAdamState,
        _MOMENTS,
        _nadam_kernel,
        schedule=schedule,
        initial={"mu_product": 1.0},
    )


def _nadam_kernel(param, grad, state, out, args):
    param, grad, exp_avg, exp_avg_sq = decay_and_moments(param, grad, state, out, args)
    lr, mu, mu_next = args["lr"], args["mu"], args["mu_next"]
    new_param = out["param"]
    denom = np.divide(exp_avg_sq, 1 - args["beta2"] ** args["step"], out=new_param)
    np.sqrt(denom, out=denom)
    denom += args["eps"]
    # Two addcdiv steps as torch takes them: the gradient term, then the momentum term.
    partial = _base.addcdiv(
        param, -lr * (1.0 - mu) / (1.0 - args["mu_product"]), grad, denom, np.empty_like(param)
    )
    _base.addcdiv(
        partial, (-lr * mu_next) / (1.0 - args["mu_product_next"]), exp_avg, denom, out=new_param
    )


def radam(
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0,
    decoupled_weight_decay=False,
    maximize=False,
) -> _base.Optimizer:
    r"""RAdam, as ``torch.optim.RAdam``: Adam with its variance rectified.

    Update rule at step t (gamma = lr, lambda = weight_decay; m = exp_avg,
    v = exp_avg_sq)::

        g_t <- -g_t                                   if maximize
        theta_{t-1} <- theta_{t-1} * (1 - gamma*lambda) if decoupled_weight_decay
        g_t <- g_t + lambda * theta_{t-1}             otherwise, if lambda != 0
        m_t = beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t = beta2 * v_{t-1} + (1 - beta2) * g_t**2
        m_hat = m_t / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        if rho_t > 5:
            r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            l_t = sqrt(1 - beta2**t) / (sqrt(v_t) + eps)
            theta_t = theta_{t-1} - gamma * m_hat * l_t * r_t
        else:
            theta_t = theta_{t-1} - gamma * m_hat          (SGD with momentum)

    Reference: Liu et al. (2020), "On the variance of the adaptive learning rate and
    beyond", ICLR.

    Differences from the paper, all torch's: the rectification threshold is
    rho_t > 5 where the paper's Algorithm 2 rectifies once rho_t > 4. With
    beta2 = 0.999, rho_5 = 4.996, so torch takes five plain momentum steps where the
    paper takes four. eps is added to sqrt(v_t); the paper's adaptive rate has no eps.
    Decoupled weight decay (AdamW-style) is a torch option.
    """
    args = adam_family_hyperparameters(lr, betas, eps, weight_decay)
    args["decoupled_weight_decay"] = _base.flag(
        "decoupled_weight_decay", decoupled_weight_decay
    )
    args["maximize"] = _base.flag("maximize", maximize)
    return _base.make_optimizer(
        "radam", shown(args), args, RAdamState, _MOMENTS, _radam_kernel
    )


def _rectification(rho_t, rho_inf):
    """RAdam's r_t where rho_t > 5 (and 1 elsewhere, where it is not used)."""
    if np.ndim(rho_t) == 0:
        return _rectification_squared(rho_t, rho_inf) ** 0.5
    rectified = rho_t > 5.0
    # Harmless stand-ins where r_t is unused keep 0/0 and sqrt(-x) warnings away.
    rho_t = np.where(rectified, rho_t, 6.0)
    rho_inf = np.where(rectified, rho_inf, 6.0)
    return np.where(rectified, np.sqrt(_rectification_squared(rho_t, rho_inf)), 1.0)


def _rectification_squared(rho_t, rho_inf):
    return (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)


def _radam_kernel(param, grad, state, out, args):
    param, _, exp_avg, exp_avg_sq = decay_and_moments(param, grad, state, out, args)
    beta1, beta2, step = args["beta1"], args["beta2"], args["step"]
    new_param = out["param"]
    bias_correction2 = 1 - beta2**step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
    rectified = rho_t > 5.0
    update = np.divide(exp_avg, 1 - beta1**step)
    update *= args["lr"]
    if np.any(rectified):
        adaptive = np.sqrt(exp_avg_sq, out=new_param)
        adaptive += args["eps"]
        np.divide(bias_correction2**0.5, adaptive, out=adaptive)
        if np.ndim(rectified) == 0:
            update *= adaptive
            update *= _rectification(rho_t, rho_inf)
        else:
            update *= np.where(rectified, adaptive * _rectification(rho_t, rho_inf), 1.0)
    np.subtract(param, update, out=new_param)


_EITHER_DECAY = COUPLED_DECAY + r", \text{ or if decoupled: } " + DECOUPLED_DECAY

CATALOG = (
    Entry(
        factory="adamax",
        family="C. The Adam family",
        rule=(
            COUPLED_DECAY,
            ADAM_MOMENTS[0],
            r"u_t = \max(\beta_2 u_{t-1}, \lvert g_t \rvert + \epsilon)",
            r"\theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t} \, \frac{m_t}{u_t}",
        ),
        reference="torch.optim.Adamax",
        paper="Kingma & Ba (2015), Adam: a method for stochastic optimization, Section 7.1",
        year=2015,
        bibkey="kingma2015adam",
        chapter="chapters/adamax",
        notes=(
            "eps sits inside the max, u = max(beta2 u, |g| + eps); the paper has no eps "
            "and divides 0 by 0 when the first gradients are zero.",
        ),
    ),
    Entry(
        factory="nadam",
        family="C. The Adam family",
        rule=(
            _EITHER_DECAY,
            *ADAM_MOMENTS,
            r"\mu_t = \beta_1 \left(1 - \tfrac{1}{2} \, 0.96^{t\psi}\right)",
            r"\theta_t = \theta_{t-1} - \eta \, \frac{"
            r"\frac{1-\mu_t}{1-\prod_{i \le t} \mu_i} g_t + "
            r"\frac{\mu_{t+1}}{1-\prod_{i \le t+1} \mu_i} m_t}"
            r"{\sqrt{v_t / (1-\beta_2^t)} + \epsilon}",
        ),
        reference="torch.optim.NAdam",
        paper="Dozat (2016), Incorporating Nesterov momentum into Adam",
        year=2016,
        bibkey="dozat2016incorporating",
        chapter="chapters/nadam-radam",
        notes=(
            "The momentum schedule mu_t with psi = momentum_decay = 0.004 follows "
            "Dozat's experiments; the algorithm box leaves mu_t free.",
            "The first moment is the plain EMA with beta1; the schedule only weighs "
            "its two terms.",
        ),
    ),
    Entry(
        factory="radam",
        family="C. The Adam family",
        rule=(
            _EITHER_DECAY,
            *ADAM_MOMENTS,
            r"\rho_\infty = \frac{2}{1-\beta_2} - 1, \quad "
            r"\rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t}",
            r"r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}"
            r"{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}",
            r"\theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t} \, m_t \, r_t \, "
            r"\frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon} \text{ if } \rho_t > 5, "
            r"\text{ else } \theta_{t-1} - \frac{\eta}{1-\beta_1^t} \, m_t",
        ),
        reference="torch.optim.RAdam",
        paper="Liu et al. (2020), On the variance of the adaptive learning rate and beyond",
        year=2020,
        bibkey="liu2020variance",
        chapter="chapters/nadam-radam",
        notes=(
            "torch rectifies once rho_t > 5, the paper's Algorithm 2 once rho_t > 4: "
            "with beta2 = 0.999 torch takes five momentum steps where the paper takes four.",
            "eps is added to sqrt(v_t); the paper's adaptive rate has no eps.",
        ),
    ),
)
