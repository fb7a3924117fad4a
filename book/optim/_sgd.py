"""Stochastic gradient descent with (Nesterov) momentum, and averaged SGD, as
torch.optim.SGD and torch.optim.ASGD."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _base
from ._catalog import Entry


class SGDState(NamedTuple):
    step: int
    momentum_buffer: np.ndarray | dict | None  # None when momentum == 0


def sgd(
    lr=1e-3,
    momentum=0,
    dampening=0,
    weight_decay=0,
    nesterov=False,
    maximize=False,
) -> _base.Optimizer:
    r"""Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``.

    Update rule at step t (g_t the gradient, b the momentum buffer, mu = momentum,
    tau = dampening, lambda = weight_decay, gamma = lr)::

        g_t <- -g_t                              if maximize
        g_t <- g_t + lambda * theta_{t-1}        if lambda != 0
        b_t  = g_t                               at t = 1
        b_t  = mu * b_{t-1} + (1 - tau) * g_t    for t > 1        (if mu != 0)
        g_t <- g_t + mu * b_t  if nesterov  else  b_t             (if mu != 0)
        theta_t = theta_{t-1} - gamma * g_t

    References: Robbins & Monro (1951), "A stochastic approximation method";
    Polyak (1964) heavy-ball momentum; Sutskever et al. (2013), "On the importance of
    initialization and momentum in deep learning" (the Nesterov form used here).

    Differences from the papers, all torch's:

    - Momentum accumulates gradients, ``b = mu*b + g``, and the learning rate multiplies
      the buffer afterwards; Sutskever et al. write ``v = mu*v - lr*g``. The two agree
      for a constant lr and differ when lr changes during training.
    - The first buffer is the gradient itself, undamped (dampening starts at step 2).
    - Nesterov momentum is the "look-ahead" rewrite ``g + mu*b`` evaluated at the
      current parameters, not a gradient taken at ``theta + mu*v``.

    The state holds ``momentum_buffer`` (zeros before the first step; None when
    momentum is 0, as torch keeps no buffer then).
    """
    args = _base.hyperparameters(
        dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay),
        [
            ("lr", _base.not_negative, "Invalid learning rate: {}"),
            ("momentum", _base.not_negative, "Invalid momentum value: {}"),
            ("weight_decay", _base.not_negative, "Invalid weight_decay value: {}"),
        ],
    )
    args["nesterov"] = _base.flag("nesterov", nesterov)
    args["maximize"] = _base.flag("maximize", maximize)
    if args["nesterov"] and (
        np.any(args["momentum"] <= 0) or _base.is_active(args["dampening"])
    ):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")
    buffers = {"momentum_buffer": np.zeros_like} if _base.is_active(args["momentum"]) else {}
    return _base.make_optimizer("sgd", args, args, SGDState, buffers, _sgd_kernel)


def _sgd_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    new_param = out["param"]
    if "momentum_buffer" in state:
        momentum = args["momentum"]
        buffer = out["momentum_buffer"]
        if args["step"] == 1:
            np.copyto(buffer, grad)
        else:
            np.multiply(state["momentum_buffer"], momentum, out=buffer)
            np.multiply(grad, 1 - args["dampening"], out=new_param)
            buffer += new_param
        if args["nesterov"]:
            np.multiply(buffer, momentum, out=new_param)
            grad = np.add(grad, new_param, out=new_param)
        elif np.ndim(momentum) == 0:
            grad = buffer
        else:
            # Batched: plain SGD wherever this momentum is 0, as torch would run it.
            grad = np.where(momentum != 0, buffer, grad)
    np.multiply(grad, -args["lr"], out=new_param)
    new_param += param


class ASGDState(NamedTuple):
    step: int
    eta: float | np.ndarray  # the step size of the next step
    mu: float | np.ndarray  # the averaging weight of the next step
    ax: np.ndarray | dict  # the averaged parameters


def asgd(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, maximize=False):
    r"""Averaged SGD, as ``torch.optim.ASGD``: SGD with a decaying step size and,
    from step t0 on, a running average of the iterates (``ax``), which is the answer.

    Update rule at step t (gamma = lr, lambda = weight_decay; eta_1 = gamma,
    mu_1 = 1)::

        g_t <- -g_t                                        if maximize
        g_t <- g_t + lambda * theta_{t-1}                  if lambda != 0
        theta_t = theta_{t-1} * (1 - lambd * eta_t) - eta_t * g_t
        ax_t = ax_{t-1} + mu_t * (theta_t - ax_{t-1})      (ax_t = theta_t while mu_t = 1)
        eta_{t+1} = gamma / (1 + lambd * gamma * t)**alpha
        mu_{t+1}  = 1 / max(1, t - t0)

    The parameters follow plain SGD; ``state.ax`` holds the Polyak-Ruppert average of
    the iterates after step t0 (the parameters themselves before), which a user
    evaluates instead of the last iterate.

    References: Polyak & Juditsky (1992), "Acceleration of stochastic approximation
    by averaging", SIAM J. Control Optim. 30(4); the step-size schedule
    ``gamma (1 + lambd gamma t)^(-alpha)`` with the decay term ``lambd`` is Bottou's
    (2012, "Stochastic gradient descent tricks") and Xu's (2011).

    Differences from the paper, all torch's: lambd shrinks the parameters by
    ``1 - lambd * eta_t`` every step (an L2 term of the schedule's derivation, on
    top of weight_decay); averaging starts at t0 = 1e6 by default, so in short runs
    ax is just a copy of the parameters; eta and mu are one value for all parameters
    (torch keeps one per tensor, all equal).
    """
    args = _base.hyperparameters(
        dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay),
        [
            ("lr", _base.at_least_zero, "Invalid learning rate: {}"),
            ("weight_decay", _base.at_least_zero, "Invalid weight_decay value: {}"),
        ],
    )
    args["maximize"] = _base.flag("maximize", maximize)
    gamma, lambd, alpha, t0 = args["lr"], args["lambd"], args["alpha"], args["t0"]
    batched = any(isinstance(v, np.ndarray) for v in (gamma, lambd, alpha, t0))

    def schedule(state, step):
        # torch computes these from Python floats; arrays follow the same formulas.
        if batched:
            eta, mu = gamma / (1 + lambd * gamma * step) ** alpha, 1 / np.maximum(1, step - t0)
        else:
            eta, mu = gamma / ((1 + lambd * gamma * step) ** alpha), 1 / max(1, step - t0)
        return {"eta": eta, "mu": mu}, {"eta": state.eta, "mu": state.mu}

    return _base.make_optimizer(
        "asgd",
        args,
        args,
        ASGDState,
        {"ax": np.zeros_like},
        _asgd_kernel,
        schedule=schedule,
        initial={"eta": gamma, "mu": 1.0},
    )


def _asgd_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    eta, mu = args["eta"], args["mu"]
    new_param, average = out["param"], out["ax"]
    np.multiply(grad, -eta, out=average)  # scratch until the average is formed
    np.multiply(param, 1 - args["lambd"] * eta, out=new_param)
    new_param += average
    if np.ndim(mu) == 0 and mu == 1:
        np.copyto(average, new_param)
        return
    np.subtract(new_param, state["ax"], out=average)
    average *= mu
    average += state["ax"]
    if np.ndim(mu):
        np.copyto(average, new_param, where=np.broadcast_to(mu == 1, average.shape))


CATALOG = (
    Entry(
        factory="sgd",
        family="A. Baselines",
        rule=(
            r"g_t \leftarrow g_t + \lambda \theta_{t-1}",
            r"b_t = \mu b_{t-1} + (1-\tau) g_t \quad (b_1 = g_1)",
            r"d_t = g_t + \mu b_t \text{ if nesterov, else } b_t \quad (d_t = g_t \text{ if } \mu = 0)",
            r"\theta_t = \theta_{t-1} - \eta d_t",
        ),
        reference="torch.optim.SGD",
        paper="Robbins & Monro (1951), A stochastic approximation method; Polyak (1964) "
        "heavy-ball momentum; Sutskever et al. (2013) the Nesterov form",
        year=1951,
        bibkey="robbins1951stochastic",
        chapter="chapters/sgd",
        notes=(
            "Momentum accumulates gradients and lr multiplies the buffer afterwards "
            "(Sutskever et al. write v = mu v - lr g): the same for a constant lr.",
            "The first buffer is the gradient itself; dampening starts at step 2.",
            "Nesterov is the look-ahead rewrite g + mu b at the current parameters, not "
            "a gradient taken at theta + mu v.",
        ),
    ),
    Entry(
        factory="asgd",
        family="A. Baselines",
        rule=(
            r"g_t \leftarrow g_t + \lambda \theta_{t-1}",
            r"\theta_t = (1 - \lambda_d \eta_t)\,\theta_{t-1} - \eta_t g_t",
            r"\bar\theta_t = \bar\theta_{t-1} + \mu_t (\theta_t - \bar\theta_{t-1})",
            r"\eta_{t+1} = \eta / (1 + \lambda_d \eta t)^{\alpha}, \quad "
            r"\mu_{t+1} = 1 / \max(1, t - t_0)",
        ),
        reference="torch.optim.ASGD",
        paper="Polyak & Juditsky (1992), Acceleration of stochastic approximation by "
        "averaging",
        year=1992,
        bibkey="polyak1992acceleration",
        chapter="chapters/sgd",
        notes=(
            "The average (state ax) is the answer; the parameters follow SGD with the "
            "decaying step eta_t.",
            "lambd (lambda_d) shrinks the parameters every step on top of weight_decay; "
            "averaging starts at t0 = 1e6 by default, so short runs never average.",
        ),
    ),
)
