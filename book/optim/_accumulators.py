"""Per-coordinate step sizes from accumulated squared gradients: Adagrad, RMSprop and
Adadelta, as their torch.optim namesakes."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _base
from ._catalog import Entry

Tree = np.ndarray | dict


class AdagradState(NamedTuple):
    step: int
    sum: Tree


class RMSpropState(NamedTuple):
    step: int
    square_avg: Tree
    momentum_buffer: Tree | None  # None unless momentum > 0
    grad_avg: Tree | None  # None unless centered


class AdadeltaState(NamedTuple):
    step: int
    square_avg: Tree
    acc_delta: Tree


def adagrad(
    lr=1e-2,
    lr_decay=0,
    weight_decay=0,
    initial_accumulator_value=0,
    eps=1e-10,
    maximize=False,
) -> _base.Optimizer:
    r"""Adagrad, as ``torch.optim.Adagrad``.

    Update rule at step t (gamma = lr, eta = lr_decay, lambda = weight_decay,
    s the accumulator ``sum``, initialised to initial_accumulator_value)::

        g_t <- -g_t                          if maximize
        g_t <- g_t + lambda * theta_{t-1}    if lambda != 0
        gamma_t = gamma / (1 + (t - 1) * eta)
        s_t     = s_{t-1} + g_t**2
        theta_t = theta_{t-1} - gamma_t * g_t / (sqrt(s_t) + eps)

    Reference: Duchi, Hazan & Singer (2011), "Adaptive subgradient methods for online
    learning and stochastic optimization", JMLR 12.

    Differences from the paper, all torch's: eps is added after the square root
    (the paper's diagonal version writes ``delta + sqrt(s)``, the same thing);
    the learning-rate decay ``gamma / (1 + (t-1) eta)`` and the nonzero starting
    accumulator are torch additions (the paper starts from s = 0).
    """
    given = dict(
        lr=lr,
        lr_decay=lr_decay,
        weight_decay=weight_decay,
        initial_accumulator_value=initial_accumulator_value,
        eps=eps,
    )
    nonnegative = _base.at_least_zero
    args = _base.hyperparameters(
        given,
        [
            ("lr", nonnegative, "Invalid learning rate: {}"),
            ("lr_decay", nonnegative, "Invalid lr_decay value: {}"),
            ("weight_decay", nonnegative, "Invalid weight_decay value: {}"),
            (
                "initial_accumulator_value",
                nonnegative,
                "Invalid initial_accumulator_value value: {}",
            ),
            ("eps", nonnegative, "Invalid epsilon value: {}"),
        ],
    )
    args["maximize"] = _base.flag("maximize", maximize)
    start = args["initial_accumulator_value"]

    def initial_sum(param):
        return np.broadcast_to(np.asarray(start, dtype=param.dtype), param.shape).copy()

    return _base.make_optimizer(
        "adagrad", args, args, AdagradState, {"sum": initial_sum}, _adagrad_kernel
    )


def _adagrad_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    new_param, total = out["param"], out["sum"]
    step_size = args["lr"] / (1 + (args["step"] - 1) * args["lr_decay"])
    np.multiply(grad, grad, out=total)
    total += state["sum"]
    np.sqrt(total, out=new_param)
    new_param += args["eps"]
    _base.addcdiv(param, -step_size, grad, new_param, out=new_param)


def rmsprop(
    lr=1e-2,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0,
    momentum=0,
    centered=False,
    maximize=False,
) -> _base.Optimizer:
    r"""RMSprop, as ``torch.optim.RMSprop``.

    Update rule at step t (gamma = lr, alpha the smoothing constant, mu = momentum,
    lambda = weight_decay; v = square_avg, g-bar = grad_avg, b = momentum_buffer)::

        g_t <- -g_t                          if maximize
        g_t <- g_t + lambda * theta_{t-1}    if lambda != 0
        v_t  = alpha * v_{t-1} + (1 - alpha) * g_t**2
        if centered:
            gbar_t = alpha * gbar_{t-1} + (1 - alpha) * g_t
            d_t    = sqrt(v_t - gbar_t**2) + eps
        else:
            d_t    = sqrt(v_t) + eps
        if mu > 0:
            b_t     = mu * b_{t-1} + g_t / d_t
            theta_t = theta_{t-1} - gamma * b_t
        else:
            theta_t = theta_{t-1} - gamma * g_t / d_t

    References: Tieleman & Hinton (2012), Lecture 6.5 of "Neural Networks for Machine
    Learning" (unpublished slides); Graves (2013), "Generating sequences with recurrent
    neural networks" (the centered variant with momentum).

    Differences from the sources, all torch's: eps is added outside the square root
    (Graves adds it inside); momentum accumulates the normalised step and lr is
    applied afterwards; the defaults (lr 1e-2, alpha 0.99) are torch's, not the
    slides' (alpha 0.9).

    Caveat: centered with alpha near 0 makes ``v - gbar**2`` cancel to rounding
    error (with alpha = 0 it is ``g**2 - g**2``). torch computes it with a fused
    multiply-add and NumPy cannot, so there the two disagree in the last bits, which
    the square root magnifies; torch may even return NaN where this returns a number.
    """
    given = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
    nonnegative = _base.at_least_zero
    args = _base.hyperparameters(
        given,
        [
            ("lr", nonnegative, "Invalid learning rate: {}"),
            ("eps", nonnegative, "Invalid epsilon value: {}"),
            ("momentum", nonnegative, "Invalid momentum value: {}"),
            ("weight_decay", nonnegative, "Invalid weight_decay value: {}"),
            ("alpha", nonnegative, "Invalid alpha value: {}"),
        ],
    )
    args["centered"] = _base.flag("centered", centered)
    args["maximize"] = _base.flag("maximize", maximize)
    buffers = {"square_avg": np.zeros_like}
    if np.any(args["momentum"] > 0):
        buffers["momentum_buffer"] = np.zeros_like
    if args["centered"]:
        buffers["grad_avg"] = np.zeros_like
    return _base.make_optimizer("rmsprop", args, args, RMSpropState, buffers, _rmsprop_kernel)


def _rmsprop_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    alpha = args["alpha"]
    new_param, square_avg = out["param"], out["square_avg"]
    _base.add_square(state["square_avg"], grad, alpha, out=square_avg, scratch=new_param)
    if "grad_avg" in state:
        grad_avg = _base.lerp(state["grad_avg"], grad, 1 - alpha, out=out["grad_avg"])
        np.multiply(grad_avg, -1.0, out=new_param)
        new_param *= grad_avg
        new_param += square_avg
        np.sqrt(new_param, out=new_param)
    else:
        np.sqrt(square_avg, out=new_param)
    new_param += args["eps"]
    if "momentum_buffer" in state:
        # Where a batched momentum is 0 this is mu*b + g/d = g/d: plain RMSprop.
        buffer = out["momentum_buffer"]
        np.divide(grad, new_param, out=new_param)
        np.multiply(state["momentum_buffer"], args["momentum"], out=buffer)
        buffer += new_param
        np.multiply(buffer, -args["lr"], out=new_param)
        new_param += param
    else:
        _base.addcdiv(param, -args["lr"], grad, new_param, out=new_param)


def adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False) -> _base.Optimizer:
    r"""Adadelta, as ``torch.optim.Adadelta``.

    Update rule at step t (gamma = lr, rho the decay, lambda = weight_decay;
    v = square_avg, u = acc_delta)::

        g_t <- -g_t                          if maximize
        g_t <- g_t + lambda * theta_{t-1}    if lambda != 0
        v_t      = rho * v_{t-1} + (1 - rho) * g_t**2
        Delta_t  = sqrt(u_{t-1} + eps) / sqrt(v_t + eps) * g_t
        u_t      = rho * u_{t-1} + (1 - rho) * Delta_t**2
        theta_t  = theta_{t-1} - gamma * Delta_t

    Reference: Zeiler (2012), "ADADELTA: an adaptive learning rate method",
    arXiv:1212.5701.

    Differences from the paper: the paper has no learning rate (its point is that the
    ratio of RMS values carries the units); torch multiplies the step by ``lr``, whose
    default 1.0 recovers the paper. Weight decay and maximize are torch additions.
    """
    args = _base.hyperparameters(
        dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay),
        [
            ("lr", _base.at_least_zero, "Invalid learning rate: {}"),
            ("rho", _base.in_unit_interval, "Invalid rho value: {}"),
            ("eps", _base.at_least_zero, "Invalid epsilon value: {}"),
            ("weight_decay", _base.at_least_zero, "Invalid weight_decay value: {}"),
        ],
    )
    args["maximize"] = _base.flag("maximize", maximize)
    buffers = {"square_avg": np.zeros_like, "acc_delta": np.zeros_like}
    return _base.make_optimizer(
        "adadelta", args, args, AdadeltaState, buffers, _adadelta_kernel
    )


def _adadelta_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    rho, eps = args["rho"], args["eps"]
    new_param, square_avg, acc_delta = out["param"], out["square_avg"], out["acc_delta"]
    _base.add_square(state["square_avg"], grad, rho, out=square_avg, scratch=new_param)
    std = np.add(square_avg, eps, out=acc_delta)  # acc_delta is free until the end
    np.sqrt(std, out=std)
    delta = np.add(state["acc_delta"], eps, out=new_param)
    np.sqrt(delta, out=delta)
    delta /= std
    delta *= grad
    _base.add_square(state["acc_delta"], delta, rho, out=acc_delta, scratch=np.empty_like(delta))
    np.multiply(delta, -args["lr"], out=new_param)
    new_param += param


CATALOG = (
    Entry(
        factory="adagrad",
        family="B. Adaptive (diagonal)",
        rule=(
            r"g_t \leftarrow g_t + \lambda \theta_{t-1}",
            r"s_t = s_{t-1} + g_t^2 \quad (s_0 = \text{initial accumulator value})",
            r"\theta_t = \theta_{t-1} - \frac{\eta}{1 + (t-1)\delta} \, \frac{g_t}{\sqrt{s_t} + \epsilon}",
        ),
        reference="torch.optim.Adagrad",
        paper="Duchi, Hazan & Singer (2011), Adaptive subgradient methods for online "
        "learning and stochastic optimization",
        year=2011,
        bibkey="duchi2011adaptive",
        chapter="chapters/adagrad",
        notes=(
            "The learning-rate decay (delta = lr_decay) and a nonzero starting "
            "accumulator are torch additions; the paper starts from s = 0.",
        ),
    ),
    Entry(
        factory="rmsprop",
        family="B. Adaptive (diagonal)",
        rule=(
            r"g_t \leftarrow g_t + \lambda \theta_{t-1}",
            r"v_t = \alpha v_{t-1} + (1-\alpha) g_t^2",
            r"d_t = \sqrt{v_t - \bar g_t^2} + \epsilon \text{ with } "
            r"\bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t \text{ if centered, else } "
            r"\sqrt{v_t} + \epsilon",
            r"b_t = \mu b_{t-1} + g_t / d_t, \quad \theta_t = \theta_{t-1} - \eta b_t "
            r"\quad (\mu = 0: \theta_t = \theta_{t-1} - \eta g_t / d_t)",
        ),
        reference="torch.optim.RMSprop",
        paper="Tieleman & Hinton (2012), Lecture 6.5 of Neural Networks for Machine "
        "Learning (slides)",
        year=2012,
        bibkey="tieleman2012rmsprop",
        chapter="chapters/rmsprop",
        notes=(
            "eps is added outside the square root (Graves's centered form adds it inside).",
            "Momentum accumulates the normalised step and lr multiplies it afterwards.",
            "The defaults (lr 1e-2, alpha 0.99) are torch's; the slides use a decay of 0.9.",
        ),
    ),
    Entry(
        factory="adadelta",
        family="B. Adaptive (diagonal)",
        rule=(
            r"g_t \leftarrow g_t + \lambda \theta_{t-1}",
            r"v_t = \rho v_{t-1} + (1-\rho) g_t^2",
            r"\Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}} \, g_t",
            r"u_t = \rho u_{t-1} + (1-\rho) \Delta_t^2",
            r"\theta_t = \theta_{t-1} - \eta \Delta_t",
        ),
        reference="torch.optim.Adadelta",
        paper="Zeiler (2012), ADADELTA: an adaptive learning rate method",
        year=2012,
        bibkey="zeiler2012adadelta",
        chapter="chapters/rmsprop",
        notes=(
            "The paper has no learning rate; torch multiplies the step by lr, whose "
            "default 1.0 recovers the paper.",
        ),
    ),
)
