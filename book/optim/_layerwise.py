"""Layer-wise trust ratios for large batches: LARS (SGD with momentum) and LAMB (Adam),
as pytorch_optimizer's, each step scaled per parameter array by a ratio of norms."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _base
from ._catalog import Entry
from ._sign import LR_MESSAGE, non_negative_message, unit_range_message

Tree = np.ndarray | dict


class LARSState(NamedTuple):
    step: int
    momentum_buffer: Tree | None  # None when momentum == 0


class LambState(NamedTuple):
    step: int
    exp_avg: Tree
    exp_avg_sq: Tree


def scalars_only(name: str, args: dict) -> None:
    """Refuse batched hyperparameters for a rule that reads whole arrays: a norm or a
    mean over an array would mix the runs that its leading axes hold. For the same
    reason parameters with leading run axes are one array to such a rule (their norm
    spans every run): race one run per optimizer call."""
    for key, value in args.items():
        if isinstance(value, np.ndarray):
            raise TypeError(
                f"{name} reads whole arrays (norms, means), so {key} must be a scalar, "
                f"got an array of shape {value.shape}"
            )


def norm(array) -> float:
    """The 2-norm of all the array's elements, torch.linalg.norm's."""
    return float(np.linalg.norm(array.reshape(-1)))


def lars(
    lr=1e-3,
    weight_decay=0.0,
    momentum=0.9,
    dampening=0.0,
    trust_coefficient=1e-3,
    nesterov=False,
    maximize=False,
) -> _base.Optimizer:
    r"""LARS (layer-wise adaptive rate scaling), as ``pytorch_optimizer.LARS``.

    For each parameter array of 2 or more dimensions (a layer's weight) the step is
    rescaled by a trust ratio of norms, so that every layer moves by about the same
    fraction of its own size. Update rule at step t (gamma = lr, lambda =
    weight_decay, mu = momentum, tau = dampening, eta = trust_coefficient; b =
    momentum_buffer, zero at the start)::

        g_t <- -g_t                                          if maximize
        q_t = eta ||theta_{t-1}|| / (||g_t|| + lambda ||theta_{t-1}||)
              (1 if either norm is 0)                        for ndim >= 2
        g_t <- q_t (g_t + lambda theta_{t-1})                for ndim >= 2
        b_t = mu b_{t-1} + (1 - tau) g_t                     if mu > 0
        g_t <- g_t + mu b_t  if nesterov  else  b_t          if mu > 0
        theta_t = theta_{t-1} - gamma g_t

    Parameters of 0 or 1 dimensions (biases, normalisation scales) take a plain SGD
    step with momentum: no trust ratio and no weight decay, pytorch_optimizer's
    convention (the paper's experiments exclude them from the scaling as well).

    Reference: You, Gitman & Ginsburg (2017), "Large batch training of convolutional
    networks", arXiv:1708.03888 (Algorithm 1).

    Differences from the paper: the paper writes v = m v + gamma q (g + lambda theta)
    with the global lr inside the momentum; here (as in pytorch_optimizer) the lr
    multiplies the buffer afterwards, the same for a constant lr. The momentum
    buffer starts from zero (torch's SGD starts it at the first gradient). The
    paper's trust ratio has no guard; here it is 1 where a norm is 0 (at a zero
    initialisation the paper's ratio would be 0 forever).
    """
    args = _base.hyperparameters(
        dict(lr=lr, weight_decay=weight_decay, momentum=momentum, dampening=dampening,
             trust_coefficient=trust_coefficient),
        [
            ("lr", _base.not_negative, LR_MESSAGE),
            ("weight_decay", _base.not_negative, non_negative_message("weight_decay")),
            ("momentum", _base.beta_range, unit_range_message("momentum")),
            ("dampening", _base.beta_range, unit_range_message("dampening")),
            ("trust_coefficient", _base.not_negative,
             non_negative_message("trust_coefficient")),
        ],
    )
    scalars_only("lars", args)
    args["nesterov"] = _base.flag("nesterov", nesterov)
    args["maximize"] = _base.flag("maximize", maximize)
    buffers = {"momentum_buffer": np.zeros_like} if args["momentum"] > 0 else {}
    return _base.make_optimizer(
        "lars", args, args, LARSState, buffers, _lars_kernel, elementwise=False
    )


def _lars_kernel(param, grad, state, args):
    if args["maximize"]:
        grad = np.negative(grad)
    if param.ndim > 1:
        decay = args["weight_decay"]
        param_norm = norm(param)
        denominator = norm(grad) + decay * param_norm
        ratio = 1.0
        if param_norm > 0 and denominator > 0:
            ratio = args["trust_coefficient"] * param_norm / denominator
        grad = (grad + decay * param) * ratio
    new = {}
    if "momentum_buffer" in state:
        buffer = state["momentum_buffer"] * args["momentum"] + (1 - args["dampening"]) * grad
        new["momentum_buffer"] = buffer
        grad = grad + args["momentum"] * buffer if args["nesterov"] else buffer
    new["param"] = param + -args["lr"] * grad
    return new


BIAS_CORRECTIONS = ("moments", "step", "none")


def lamb(
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-6,
    weight_decay=0.0,
    bias_correction="moments",
    weight_decouple=False,
    fixed_decay=False,
    grad_averaging=True,
    max_trust_norm=None,
    maximize=False,
) -> _base.Optimizer:
    r"""LAMB (layer-wise adaptive moments for batch training): Adam's direction with a
    trust ratio per parameter array. The defaults are the paper's Algorithm 2; the
    options reproduce ``pytorch_optimizer.Lamb``.

    Update rule at step t (gamma = lr, lambda = weight_decay; m = exp_avg,
    v = exp_avg_sq; beta3 = 1 - beta1, or 1 if not grad_averaging)::

        g_t <- -g_t                                        if maximize
        m_t = beta1 m_{t-1} + beta3 g_t
        v_t = beta2 v_{t-1} + (1 - beta2) g_t**2
        theta_{t-1} <- theta_{t-1} (1 - gamma lambda)      if weight_decouple
                                   (1 - lambda if fixed_decay)
        r_t = m_hat / (sqrt(v_hat) + eps) (+ lambda theta_{t-1} unless weight_decouple)
        q_t = phi(||theta_{t-1}||) / (||r_t|| + eps)       (1 if either norm is 0)
        theta_t = theta_{t-1} - gamma_t q_t r_t

    with, by ``bias_correction``: ``"moments"`` (the paper) m_hat = m / (1 - beta1**t),
    v_hat = v / (1 - beta2**t), gamma_t = gamma; ``"step"`` (pytorch_optimizer's
    default) m_hat = m, v_hat = v, gamma_t = gamma / (1 - beta1**t); ``"none"``
    (pytorch_optimizer's ``adam_debias=True``) m_hat = m, v_hat = v, gamma_t = gamma.
    phi(z) = z, or min(z, max_trust_norm) (pytorch_optimizer clamps at 10).

    Since q_t rescales r_t to the norm of the weights, bias correction only matters
    through eps and weight decay (the scale of r against lambda theta), except in
    "step", which multiplies the whole step by 1/(1 - beta1**t): 10x at t = 1 with
    beta1 = 0.9.

    Reference: You et al. (2020), "Large batch optimization for deep learning:
    training BERT in 76 minutes", ICLR (Algorithm 2).

    Differences from the paper: eps in the trust ratio's denominator and the ratio 1
    where a norm is 0 (pytorch_optimizer's guards; the paper divides by ||r||); the
    paper leaves phi general (bounded for its analysis), identity here by default.
    Every parameter array gets its own trust ratio, vectors included (as in
    pytorch_optimizer; LARS here spares them). To match pytorch_optimizer.Lamb's defaults use
    ``bias_correction="step", weight_decouple=True, max_trust_norm=10``. Its other
    options are not carried over: ``rectify``/``degenerated_to_sgd``/
    ``n_sma_threshold`` (RAdam's rectification, see `radam`), ``adam`` (trust ratio 1:
    that is Adam), ``pre_norm``/``max_grad_norm`` (clipping by the global gradient
    norm before the step, see book.clipping), ``adanorm``. Hyperparameters must be
    scalars (the rule reads norms of whole arrays).
    """
    beta1, beta2 = _base.betas_pair(betas)
    args = _base.hyperparameters(
        dict(lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=eps),
        [
            ("lr", _base.not_negative, LR_MESSAGE),
            ("beta1", _base.beta_range, unit_range_message("beta1")),
            ("beta2", _base.beta_range, unit_range_message("beta2")),
            ("weight_decay", _base.not_negative, non_negative_message("weight_decay")),
            ("eps", _base.not_negative, non_negative_message("eps")),
        ],
    )
    scalars_only("lamb", args)
    if max_trust_norm is not None and not max_trust_norm > 0:
        raise ValueError(f"max_trust_norm must be None or positive, got {max_trust_norm}")
    args["max_trust_norm"] = max_trust_norm
    if bias_correction not in BIAS_CORRECTIONS:
        raise ValueError(
            f"bias_correction must be one of {BIAS_CORRECTIONS}, got {bias_correction!r}"
        )
    for name, value in [("weight_decouple", weight_decouple), ("fixed_decay", fixed_decay),
                        ("grad_averaging", grad_averaging), ("maximize", maximize)]:
        args[name] = _base.flag(name, value)
    args["bias_correction"] = bias_correction
    shown = {"lr": args["lr"], "betas": (args["beta1"], args["beta2"]), "eps": args["eps"]}
    order = ["weight_decay", "bias_correction", "weight_decouple", "fixed_decay",
             "grad_averaging", "max_trust_norm", "maximize"]
    shown.update((k, args[k]) for k in order)
    kernel_args = {**args, "decoupled_weight_decay": args["weight_decouple"]}
    buffers = {"exp_avg": np.zeros_like, "exp_avg_sq": np.zeros_like}
    return _base.make_optimizer(
        "lamb", shown, kernel_args, LambState, buffers, _lamb_kernel, elementwise=False
    )


def _lamb_kernel(param, grad, state, args):
    if args["maximize"]:
        grad = np.negative(grad)
    beta1, beta2, eps, step = args["beta1"], args["beta2"], args["eps"], args["step"]
    beta3 = 1 - beta1 if args["grad_averaging"] else 1.0
    exp_avg = state["exp_avg"] * beta1 + beta3 * grad
    exp_avg_sq = _base.add_square(
        state["exp_avg_sq"], grad, beta2, out=np.empty_like(grad), scratch=np.empty_like(grad)
    )
    param = _base.decoupled_decay(param, args)
    lr, mode = args["lr"], args["bias_correction"]
    if mode == "moments":
        denominator = np.sqrt(exp_avg_sq / (1 - beta2**step)) + eps
        update = exp_avg / (1 - beta1**step) / denominator
    else:
        update = exp_avg / (np.sqrt(exp_avg_sq) + eps)
        if mode == "step":
            lr = lr / (1 - beta1**step)
    if args["l2_decay"]:
        update = update + args["weight_decay"] * param
    weight_norm = norm(param)
    if args["max_trust_norm"] is not None:
        weight_norm = min(weight_norm, args["max_trust_norm"])
    update_norm = norm(update)
    ratio = 1.0 if weight_norm == 0 or update_norm == 0 else weight_norm / (update_norm + eps)
    return {
        "param": param + (-lr * ratio) * update,
        "exp_avg": exp_avg,
        "exp_avg_sq": exp_avg_sq,
    }


LAYERWISE_FAMILY = "D. Layer-wise scaling"

CATALOG = (
    Entry(
        factory="lars",
        family=LAYERWISE_FAMILY,
        rule=(
            r"q_t = \eta_{\mathrm{tc}} \frac{\|\theta_{t-1}\|}{\|g_t\| + \lambda "
            r"\|\theta_{t-1}\|} \quad (\text{per array of 2+ dims; else } q_t = 1, \lambda = 0)",
            r"b_t = \mu b_{t-1} + (1-\tau)\, q_t (g_t + \lambda \theta_{t-1})",
            r"\theta_t = \theta_{t-1} - \eta\, b_t",
        ),
        reference="pytorch_optimizer.LARS",
        paper="You, Gitman & Ginsburg (2017), Large batch training of convolutional networks",
        year=2017,
        bibkey="you2017large",
        chapter="chapters/lars-lamb",
        notes=(
            "Vectors (biases) take plain SGD-with-momentum steps: no trust ratio, no "
            "weight decay.",
            "lr multiplies the buffer after it is formed (the paper puts it inside); the "
            "ratio is 1 where a norm is 0.",
        ),
    ),
    Entry(
        factory="lamb",
        family=LAYERWISE_FAMILY,
        rule=(
            r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad "
            r"v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2",
            r"r_t = \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda \theta_{t-1}",
            r"\theta_t = \theta_{t-1} - \eta \frac{\|\theta_{t-1}\|}{\|r_t\| + \epsilon}\, r_t",
        ),
        reference="pytorch_optimizer.Lamb",
        paper="You et al. (2020), Large batch optimization for deep learning: training "
        "BERT in 76 minutes",
        year=2020,
        bibkey="you2020large",
        chapter="chapters/lars-lamb",
        notes=(
            "Defaults are the paper's Algorithm 2 (checked against a transcription of "
            "it); pytorch_optimizer's defaults are bias_correction='step', "
            "weight_decouple=True, max_trust_norm=10.",
            "'step' bias correction scales the whole step by 1/(1 - beta1^t), 10x at "
            "t = 1: not a no-op under the trust ratio.",
            "eps in the trust ratio and ratio 1 at a zero norm are the reference's guards.",
        ),
    ),
)
