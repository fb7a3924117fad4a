"""Steps that keep only the sign of a gradient or of a momentum: Rprop (as
torch.optim.Rprop), signSGD and Signum, and Lion (as pytorch_optimizer's)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _base
from ._catalog import Entry

Tree = np.ndarray | dict

# pytorch_optimizer's validation messages (its BaseOptimizer), for the optimizers
# verified against it. It raises its own NegativeLRError for a negative lr; we raise
# ValueError with the same text.
LR_MESSAGE = "learning rate must be positive. ({} > 0)"


def unit_range_message(name: str) -> str:
    """pytorch_optimizer's message for a value outside [0, 1)."""
    return f"{name} must be in the range [0.0, 1.0)"


def non_negative_message(name: str) -> str:
    return f"{name} must be non-negative"


class RpropState(NamedTuple):
    step: int
    prev: Tree
    step_size: Tree


class SignSGDState(NamedTuple):
    step: int
    momentum_buffer: Tree | None  # None when momentum == 0


class LionState(NamedTuple):
    step: int
    exp_avg: Tree


def rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False) -> _base.Optimizer:
    r"""Resilient backpropagation, as ``torch.optim.Rprop``.

    Each coordinate has its own step size Delta (``step_size``, initialised to lr)
    that grows by eta+ while the gradient keeps its sign and shrinks by eta- when it
    flips; the step moves by Delta against the sign of the gradient, whatever its
    size. With g' the gradient remembered from the last step (``prev``)::

        g_t <- -g_t                                   if maximize
        s   = sign(g_t * g'_{t-1})
        Delta_t = clip(Delta_{t-1} * (eta+ if s > 0, eta- if s < 0, 1 if s = 0),
                       step_size_min, step_size_max)
        g_t <- 0                                      where s < 0
        theta_t = theta_{t-1} - Delta_t * sign(g_t)
        g'_t = g_t

    Reference: Riedmiller & Braun (1993), "A direct adaptive method for faster
    backpropagation learning: the RPROP algorithm", IEEE ICNN.

    Differences from the paper, all torch's: this is the variant without weight
    backtracking (the paper's RPROP undoes the previous step when the sign flips;
    torch only zeroes the gradient, so the next step neither grows nor moves that
    coordinate, later called Rprop-); Delta starts at lr (the paper's Delta_0 = 0.1).
    Rprop is a full-batch method: with minibatch noise the sign flips at random and
    the step sizes collapse.
    """
    eta_minus, eta_plus = pair("etas", etas)
    size_min, size_max = pair("step_sizes", step_sizes)
    args = _base.hyperparameters(
        dict(lr=lr, etaminus=eta_minus, etaplus=eta_plus, step_size_min=size_min,
             step_size_max=size_max),
        [("lr", _base.at_least_zero, "Invalid learning rate: {}")],
    )
    valid = (0.0 < args["etaminus"]) & (args["etaminus"] < 1.0) & (1.0 < args["etaplus"])
    if not np.all(valid):
        raise ValueError(f"Invalid eta values: {eta_minus}, {eta_plus}")
    args["maximize"] = _base.flag("maximize", maximize)
    shown = {
        "lr": args["lr"],
        "etas": (args["etaminus"], args["etaplus"]),
        "step_sizes": (args["step_size_min"], args["step_size_max"]),
        "maximize": args["maximize"],
    }
    lr_value = args["lr"]
    buffers = {
        "prev": np.zeros_like,
        "step_size": lambda param: np.broadcast_to(lr_value, param.shape).astype(param.dtype),
    }
    return _base.make_optimizer(
        "rprop", shown, {**args, "weight_decay": 0.0}, RpropState, buffers, _rprop_kernel
    )


def pair(name: str, value) -> tuple:
    """The two entries of a pair hyperparameter such as ``etas``, as given."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be a pair, got {value!r}")
    return value[0], value[1]


def _rprop_kernel(param, grad, state, out, args):
    if args["maximize"]:
        grad = np.negative(grad)
    agreement = np.multiply(grad, state["prev"], out=out["param"])
    flipped = agreement < 0
    factor = np.where(agreement > 0, args["etaplus"], np.where(flipped, args["etaminus"], 1.0))
    step_size = np.multiply(state["step_size"], factor, out=out["step_size"])
    np.clip(step_size, args["step_size_min"], args["step_size_max"], out=step_size)
    # A flipped sign forgets the gradient: no move now, and no growth or shrink next step.
    prev = out["prev"]
    np.copyto(prev, grad)
    prev[flipped] = 0
    new_param = np.sign(prev, out=out["param"])
    new_param *= step_size
    np.subtract(param, new_param, out=new_param)


def signsgd(lr=1e-3, momentum=0, weight_decay=0, weight_decouple=True, maximize=False):
    r"""signSGD, and Signum when momentum > 0, as ``pytorch_optimizer.SignSGD``.

    Update rule at step t (gamma = lr, beta = momentum, lambda = weight_decay;
    b = momentum_buffer)::

        g_t <- -g_t                                       if maximize
        theta_{t-1} <- theta_{t-1} * (1 - gamma*lambda)   if weight_decouple
        g_t <- g_t + lambda * theta_{t-1}                 otherwise
        b_t = beta * b_{t-1} + (1 - beta) * g_t           (b_t = g_t if beta = 0)
        theta_t = theta_{t-1} - gamma * sign(b_t)

    Every coordinate moves by exactly gamma (or 0 where b is 0): steepest descent in
    the l-infinity norm, for which the gradient's size is irrelevant.

    Reference: Bernstein, Wang, Azizzadenesheli & Anandkumar (2018), "signSGD:
    compressed optimisation for non-convex problems", ICML (signSGD, and Signum with
    momentum).

    Differences: momentum defaults to 0 (the paper's signSGD; pytorch_optimizer
    defaults to 0.9, which is Signum); the buffer is updated by lerp,
    ``b + (1 - beta) (g - b)``, the same number up to rounding; weight decay
    (absent from the paper's signSGD) is pytorch_optimizer's, decoupled by default.
    """
    args = _base.hyperparameters(
        dict(lr=lr, momentum=momentum, weight_decay=weight_decay),
        [
            ("lr", _base.not_negative, LR_MESSAGE),
            ("momentum", _base.beta_range, unit_range_message("beta")),
            ("weight_decay", _base.not_negative, non_negative_message("weight_decay")),
        ],
    )
    args["weight_decouple"] = _base.flag("weight_decouple", weight_decouple)
    args["maximize"] = _base.flag("maximize", maximize)
    buffers = {"momentum_buffer": np.zeros_like} if _base.is_active(args["momentum"]) else {}
    kernel_args = {**args, "decoupled_weight_decay": args["weight_decouple"]}
    return _base.make_optimizer(
        "signsgd", args, kernel_args, SignSGDState, buffers, _signsgd_kernel
    )


def _signsgd_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    param = _base.decoupled_decay(param, args)
    if "momentum_buffer" in state:
        grad = _base.lerp(
            state["momentum_buffer"], grad, 1 - args["momentum"], out=out["momentum_buffer"]
        )
    step_toward(param, grad, args["lr"], out["param"])


def step_toward(param, direction, lr, out):
    """``out = param - lr * sign(direction)``, as ``p.add_(sign(d), alpha=-lr)``."""
    np.sign(direction, out=out)
    out *= -lr
    out += param
    return out


def lion(
    lr=1e-4,
    betas=(0.9, 0.99),
    weight_decay=0,
    weight_decouple=True,
    fixed_decay=False,
    maximize=False,
) -> _base.Optimizer:
    r"""Lion (EvoLved Sign Momentum), as ``pytorch_optimizer.Lion``.

    Update rule at step t (gamma = lr, lambda = weight_decay, m = exp_avg)::

        g_t <- -g_t                                         if maximize
        theta_{t-1} <- theta_{t-1} * (1 - gamma*lambda)     if weight_decouple
                                                            (1 - lambda if fixed_decay)
        g_t <- g_t + lambda * theta_{t-1}                   otherwise
        c_t = beta1 * m_{t-1} + (1 - beta1) * g_t           (interpolation)
        theta_t = theta_{t-1} - gamma * sign(c_t)
        m_t = beta2 * m_{t-1} + (1 - beta2) * g_t           (momentum)

    The sign is taken of an interpolation between the momentum and the new gradient
    (beta1 = 0.9 weighs the gradient more than beta2 = 0.99 does), and the momentum
    is updated after the step. Every coordinate moves by gamma, so the paper
    recommends a gamma 3-10x smaller than AdamW's and, for the same decay per step
    gamma*lambda, a lambda 3-10x larger (chapters/lion measures why). With decoupled
    decay the weights end inside the box |theta_i| <= 1/lambda.

    Reference: Chen et al. (2023), "Symbolic discovery of optimization algorithms",
    NeurIPS (Program 1).

    Differences: c and m are computed by lerp, ``m + (1 - beta) (g - m)``, as
    pytorch_optimizer does; lion_pytorch 0.2.5 and the paper's Program 1 write
    ``beta*m + (1-beta)*g``, the same number up to rounding (the test compares with
    both). ``weight_decouple=False`` (L2 added to the gradient, then lost in the
    sign) and ``fixed_decay`` are pytorch_optimizer options, not the paper's;
    lion_pytorch's ``decoupled_weight_decay=True`` divides lambda by the initial lr,
    which is ``fixed_decay=True`` here while lr stays constant.
    lion_pytorch has no maximize and refuses lr = 0.
    """
    beta1, beta2 = _base.betas_pair(betas)
    args = _base.hyperparameters(
        dict(lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay),
        [
            ("lr", _base.not_negative, LR_MESSAGE),
            ("beta1", _base.beta_range, unit_range_message("beta1")),
            ("beta2", _base.beta_range, unit_range_message("beta2")),
            ("weight_decay", _base.not_negative, non_negative_message("weight_decay")),
        ],
    )
    for name, value in [("weight_decouple", weight_decouple), ("fixed_decay", fixed_decay),
                        ("maximize", maximize)]:
        args[name] = _base.flag(name, value)
    shown = {"lr": args["lr"], "betas": (args["beta1"], args["beta2"])}
    shown.update((k, v) for k, v in args.items() if k not in ("lr", "beta1", "beta2"))
    kernel_args = {**args, "decoupled_weight_decay": args["weight_decouple"]}
    return _base.make_optimizer(
        "lion", shown, kernel_args, LionState, {"exp_avg": np.zeros_like}, _lion_kernel
    )


def _lion_kernel(param, grad, state, out, args):
    grad = _base.direction(param, grad, args)
    param = _base.decoupled_decay(param, args)
    interpolation = _base.lerp(state["exp_avg"], grad, 1 - args["beta1"], out=out["param"])
    _base.lerp(state["exp_avg"], grad, 1 - args["beta2"], out=out["exp_avg"])
    step_toward(param, interpolation, args["lr"], out["param"])


SIGN_FAMILY = "E. Sign-based"

CATALOG = (
    Entry(
        factory="rprop",
        family=SIGN_FAMILY,
        rule=(
            r"s = \operatorname{sign}(g_t \odot g'_{t-1})",
            r"\Delta_t = \operatorname{clip}(\Delta_{t-1} \cdot \{\eta^+ \text{ if } s>0;\ "
            r"\eta^- \text{ if } s<0;\ 1\},\ \Delta_{\min}, \Delta_{\max})",
            r"g'_t = 0 \text{ where } s < 0, \text{ else } g_t",
            r"\theta_t = \theta_{t-1} - \Delta_t \odot \operatorname{sign}(g'_t)",
        ),
        reference="torch.optim.Rprop",
        paper="Riedmiller & Braun (1993), A direct adaptive method for faster "
        "backpropagation learning: the RPROP algorithm",
        year=1993,
        bibkey="riedmiller1993direct",
        chapter="chapters/lion",
        notes=(
            "No weight backtracking: a flipped sign zeroes the gradient instead of "
            "undoing the last step (Rprop-).",
            "Delta starts at lr (the paper's Delta_0 = 0.1); a full-batch method.",
        ),
    ),
    Entry(
        factory="signsgd",
        family=SIGN_FAMILY,
        rule=(
            r"b_t = \beta b_{t-1} + (1-\beta) g_t \quad (b_t = g_t \text{ if } \beta = 0)",
            r"\theta_t = (1 - \eta\lambda)\,\theta_{t-1} - \eta \operatorname{sign}(b_t)",
        ),
        reference="pytorch_optimizer.SignSGD",
        paper="Bernstein, Wang, Azizzadenesheli & Anandkumar (2018), signSGD: compressed "
        "optimisation for non-convex problems",
        year=2018,
        bibkey="bernstein2018signsgd",
        chapter="chapters/lion",
        notes=(
            "momentum defaults to 0 (signSGD); pytorch_optimizer's 0.9 is Signum.",
            "Weight decay is pytorch_optimizer's (decoupled by default), not the paper's.",
        ),
    ),
    Entry(
        factory="lion",
        family=SIGN_FAMILY,
        rule=(
            r"c_t = \beta_1 m_{t-1} + (1-\beta_1) g_t",
            r"\theta_t = (1 - \eta\lambda)\,\theta_{t-1} - \eta \operatorname{sign}(c_t)",
            r"m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t",
        ),
        reference="pytorch_optimizer.Lion",
        paper="Chen et al. (2023), Symbolic discovery of optimization algorithms",
        year=2023,
        bibkey="chen2023symbolic",
        chapter="chapters/lion",
        notes=(
            "Also checked against lion_pytorch.Lion; both interpolations (lerp and "
            "beta m + (1 - beta) g) give the same signs on the test runs.",
            "weight_decouple=False and fixed_decay are pytorch_optimizer options, not "
            "the paper's.",
        ),
    ),
)
