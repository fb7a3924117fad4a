"""Adam and AdamW (with the AMSGrad option), as torch.optim.Adam and torch.optim.AdamW."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _base
from ._catalog import Entry

Tree = np.ndarray | dict


class AdamState(NamedTuple):
    step: int
    exp_avg: Tree
    exp_avg_sq: Tree
    max_exp_avg_sq: Tree | None  # None unless amsgrad


# The lines of the update rule that every Adam variant shares, for the cheat sheet.
COUPLED_DECAY = r"g_t \leftarrow g_t + \lambda \theta_{t-1}"
DECOUPLED_DECAY = r"\theta_{t-1} \leftarrow (1 - \eta\lambda) \theta_{t-1}"
ADAM_MOMENTS = (
    r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t",
    r"v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2",
)


def adam_family_hyperparameters(lr, betas, eps, weight_decay, **more) -> dict:
    """Validate the hyperparameters every Adam variant shares, in torch's order, then
    those in `more` (given as ``name=(value, message)``, checked as ``0 <= value``)."""
    beta1, beta2 = _base.betas_pair(betas)
    given = dict(lr=lr, eps=eps, beta1=beta1, beta2=beta2, weight_decay=weight_decay)
    given.update({name: value for name, (value, _) in more.items()})
    checks = [
        ("lr", _base.at_least_zero, "Invalid learning rate: {}"),
        ("eps", _base.at_least_zero, "Invalid epsilon value: {}"),
        ("beta1", _base.beta_range, "Invalid beta parameter at index 0: {}"),
        ("beta2", _base.beta_range, "Invalid beta parameter at index 1: {}"),
        ("weight_decay", _base.at_least_zero, "Invalid weight_decay value: {}"),
    ]
    checks += [(name, _base.at_least_zero, message) for name, (_, message) in more.items()]
    return _base.hyperparameters(given, checks)


def shown(args: dict) -> dict:
    """The hyperparameters as torch names them (``betas`` as a pair)."""
    shown_args = {"lr": args["lr"], "betas": (args["beta1"], args["beta2"])}
    shown_args.update((k, v) for k, v in args.items() if k not in ("lr", "beta1", "beta2"))
    return shown_args


def adam(
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0,
    amsgrad=False,
    maximize=False,
    decoupled_weight_decay=False,
) -> _base.Optimizer:
    r"""Adam, as ``torch.optim.Adam``.

    Update rule at step t (gamma = lr, lambda = weight_decay; m = exp_avg,
    v = exp_avg_sq, v_max = max_exp_avg_sq)::

        g_t <- -g_t                                   if maximize
        theta_{t-1} <- theta_{t-1} * (1 - gamma*lambda) if decoupled_weight_decay
        g_t <- g_t + lambda * theta_{t-1}             otherwise, if lambda != 0
        m_t = beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t = beta2 * v_{t-1} + (1 - beta2) * g_t**2
        v_max_t = max(v_max_{t-1}, v_t)               if amsgrad (use it for v_t below)
        theta_t = theta_{t-1} - gamma / (1 - beta1**t)
                                * m_t / (sqrt(v_t) / sqrt(1 - beta2**t) + eps)

    References: Kingma & Ba (2015), "Adam: a method for stochastic optimization",
    ICLR; Reddi, Kale & Kumar (2018), "On the convergence of Adam and beyond", ICLR
    (AMSGrad).

    Differences from the papers, all torch's:

    - eps is added to the bias-corrected ``sqrt(v_hat)``, as in the paper's
      Algorithm 1, not in the faster "eps-hat" form of its Section 2, which adds eps
      to the uncorrected ``sqrt(v)`` and so equals this rule with eps scaled by
      ``sqrt(1 - beta2**t)``; the two differ most in early steps and for tiny
      gradients.
    - weight_decay adds ``lambda * theta`` to the gradient (L2 regularisation,
      which Adam then rescales); ``decoupled_weight_decay=True`` shrinks the
      parameters directly instead, which is AdamW (see `adamw`).
    - AMSGrad keeps the maximum of the raw ``v`` and bias-corrects it with
      ``1 - beta2**t``; Reddi et al. use no bias correction.
    - ``m`` is updated with torch.lerp, ``m + (1 - beta1) * (g - m)``: the same
      number up to rounding.
    """
    args = adam_family_hyperparameters(lr, betas, eps, weight_decay)
    args["amsgrad"] = _base.flag("amsgrad", amsgrad)
    args["maximize"] = _base.flag("maximize", maximize)
    args["decoupled_weight_decay"] = _base.flag(
        "decoupled_weight_decay", decoupled_weight_decay
    )
    return _adam_optimizer("adam", args)


def adamw(
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=1e-2,
    amsgrad=False,
    maximize=False,
) -> _base.Optimizer:
    r"""AdamW, as ``torch.optim.AdamW``: `adam` with decoupled weight decay.

    Update rule at step t: first ``theta_{t-1} <- theta_{t-1} * (1 - lr * weight_decay)``,
    then the `adam` step on the unmodified gradient (AMSGrad and maximize as there).

    Reference: Loshchilov & Hutter (2019), "Decoupled weight decay regularization",
    ICLR.

    Differences from the paper: the paper writes the decay as ``eta_t * lambda *
    theta`` with a schedule multiplier eta_t that does not include Adam's step size
    alpha; torch multiplies it by lr, so torch's weight_decay is the paper's lambda
    divided by alpha. The default weight_decay is 1e-2.
    """
    args = adam_family_hyperparameters(lr, betas, eps, weight_decay)
    args["amsgrad"] = _base.flag("amsgrad", amsgrad)
    args["maximize"] = _base.flag("maximize", maximize)
    args["decoupled_weight_decay"] = True
    return _adam_optimizer("adamw", args)


def _adam_optimizer(name: str, args: dict) -> _base.Optimizer:
    buffers = {"exp_avg": np.zeros_like, "exp_avg_sq": np.zeros_like}
    if args["amsgrad"]:
        buffers["max_exp_avg_sq"] = np.zeros_like
    hyperparams = shown(args)
    if name == "adamw":
        del hyperparams["decoupled_weight_decay"]
    return _base.make_optimizer(name, hyperparams, args, AdamState, buffers, _adam_kernel)


def decay_and_moments(param, grad, state, out, args):
    """The first half of every Adam-style step: weight decay (either kind), then
    ``exp_avg`` and ``exp_avg_sq`` of step t written into ``out``.

    Returns (decayed param, followed gradient, exp_avg, exp_avg_sq); ``out["param"]``
    served as scratch and is free.
    """
    grad = _base.direction(param, grad, args)
    param = _base.decoupled_decay(param, args)
    exp_avg = _base.lerp(state["exp_avg"], grad, 1 - args["beta1"], out=out["exp_avg"])
    exp_avg_sq = _base.add_square(
        state["exp_avg_sq"], grad, args["beta2"], out=out["exp_avg_sq"], scratch=out["param"]
    )
    return param, grad, exp_avg, exp_avg_sq


def _adam_kernel(param, grad, state, out, args):
    param, _, exp_avg, second_moment = decay_and_moments(param, grad, state, out, args)
    beta1, beta2, step = args["beta1"], args["beta2"], args["step"]
    new_param = out["param"]
    if "max_exp_avg_sq" in state:
        second_moment = np.maximum(
            state["max_exp_avg_sq"], second_moment, out=out["max_exp_avg_sq"]
        )
    denom = np.sqrt(second_moment, out=new_param)
    denom /= (1 - beta2**step) ** 0.5
    denom += args["eps"]
    _base.addcdiv(param, -args["lr"] / (1 - beta1**step), exp_avg, denom, out=new_param)


_ADAM_STEP = (
    *ADAM_MOMENTS,
    r"\hat v_t = \max(\hat v_{t-1}, v_t) \text{ if amsgrad, else } v_t",
    r"\theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t} \, "
    r"\frac{m_t}{\sqrt{\hat v_t / (1-\beta_2^t)} + \epsilon}",
)

CATALOG = (
    Entry(
        factory="adam",
        family="C. The Adam family",
        rule=(COUPLED_DECAY + r", \text{ or if decoupled: } " + DECOUPLED_DECAY,
              *_ADAM_STEP),
        reference="torch.optim.Adam",
        paper="Kingma & Ba (2015), Adam: a method for stochastic optimization; "
        "Reddi, Kale & Kumar (2018) for AMSGrad",
        year=2015,
        bibkey="kingma2015adam",
        chapter="chapters/adam",
        notes=(
            "eps is added to the bias-corrected sqrt(v_hat), as in the paper's "
            "Algorithm 1, not in the eps-hat form of its Section 2.",
            "weight_decay is L2 regularisation added to the gradient unless "
            "decoupled_weight_decay is set (then it is AdamW).",
            "AMSGrad keeps the maximum of the raw v and bias-corrects it; Reddi et al. "
            "use no bias correction.",
        ),
    ),
    Entry(
        factory="adamw",
        family="C. The Adam family",
        rule=(DECOUPLED_DECAY, *_ADAM_STEP),
        reference="torch.optim.AdamW",
        paper="Loshchilov & Hutter (2019), Decoupled weight decay regularization",
        year=2019,
        bibkey="loshchilov2019decoupled",
        chapter="chapters/adam-failures",
        notes=(
            "torch multiplies the decay by lr: its weight_decay is the paper's lambda "
            "divided by Adam's step size alpha.",
            "The default weight_decay is 1e-2.",
        ),
    ),
)
