"""Stochastic gradient descent with (Nesterov) momentum, as torch.optim.SGD."""

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
)
