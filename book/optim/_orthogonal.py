r"""The Muon family: momentum on a weight matrix, then a matrix-wide map of it.

Muon replaces the momentum matrix by its orthogonal polar factor (approximately, by a
Newton–Schulz iteration), i.e. takes the steepest-descent step under the spectral
norm; NorMuon equalises the rows of that step with a second moment; MARS-M feeds Muon
a variance-reduced gradient; REG replaces orthogonalisation by the milder row-and-
column scaling (RACS). Every rule reads a whole matrix, so the kernels are
whole-array kernels (``make_optimizer(..., elementwise=False)``).

Matrices only: like ``torch.optim.Muon`` every factory refuses parameters that are
not 2-D (``ValueError`` at ``init`` and ``step``). Biases, gains and embeddings go
to another optimizer (``optim.adamw``), one optimizer per group. Hyperparameters are
scalars: a batch of matrices would be a 3-D parameter.

Newton–Schulz in float64: torch 2.13 (``torch/optim/_muon.py``) and
pytorch_optimizer 4.1.0 (``zero_power_via_newton_schulz_5``) both run the iteration
in **bfloat16** (8 significant bits), whatever the parameters' dtype. Here it runs
in the parameters' dtype. The tests compare against the references' own code with
that one cast replaced by the parameters' dtype (float64), and measure separately how
far the bfloat16 references are from this float64 iteration.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from ._base import (
    at_least_zero,
    beta_range,
    decoupled_decay,
    direction,
    flag,
    hyperparameters,
    lerp,
    make_optimizer,
)
from ._catalog import Entry

# Keller Jordan's quintic: a x + b x^3 + c x^5, chosen for a steep slope at 0.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
NS_EPS = 1e-7
ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


class MuonState(NamedTuple):
    step: int
    momentum_buffer: object = None


class NorMuonState(NamedTuple):
    step: int
    momentum_buffer: object = None
    second_momentum_buffer: object = None


class MarsMState(NamedTuple):
    step: int
    momentum_buffer: object = None
    last_grad: object = None


class REGState(NamedTuple):
    step: int
    momentum_buffer: object = None


# --- the matrix maps ------------------------------------------------------------------


def newton_schulz(matrix, coefficients=NS_COEFFICIENTS, steps=NS_STEPS, eps=NS_EPS):
    r"""The approximate orthogonal polar factor of `matrix`, torch's
    ``_zeropower_via_newtonschulz`` in the matrix's own dtype.

    With :math:`X_0 = G/\max(\|G\|_F, \varepsilon)` (a wide matrix; a tall one is
    transposed and back), each step is :math:`X \leftarrow aX + (bA + cA^2)X`,
    :math:`A = XX^\top`: on every singular value :math:`\sigma` of :math:`X_0` it
    applies :math:`p(\sigma) = a\sigma + b\sigma^3 + c\sigma^5` ``steps`` times,
    leaving the singular vectors alone. ``coefficients`` is one ``(a, b, c)`` or a
    sequence of them, one per step (the last one repeats).
    """
    schedule = _coefficient_schedule(coefficients)
    tall = matrix.shape[0] > matrix.shape[1]
    x = matrix.T if tall else matrix
    x = x / max(np.linalg.norm(x), eps)
    for index in range(steps):
        a, b, c = schedule[min(index, len(schedule) - 1)]
        gram = x @ x.T
        gram_update = b * gram + c * (gram @ gram)  # torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = a * x + gram_update @ x  # torch.addmm(x, gram_update, x, beta=a)
    return x.T if tall else x


def row_and_column_scaling(matrix, eps):
    r"""RACS: :math:`M / (\sqrt{s + \epsilon}\,\sqrt{q + \epsilon}^\top)` with
    :math:`s_i` the mean of row :math:`i` of :math:`M^2` and :math:`q_j` the mean of
    column :math:`j` (pytorch_optimizer.RACS with ``beta=0``)."""
    square = matrix**2
    rows = np.sqrt(square.mean(axis=1) + eps)[:, None]
    columns = np.sqrt(square.mean(axis=0) + eps)[None, :]
    return matrix / (rows * columns)


def adjusted_lr(lr, adjust_lr_fn, shape):
    """torch's ``_adjust_lr``: Keller Jordan's sqrt(max(1, A/B)) ("original", the
    default) or Moonlight's 0.2 sqrt(max(A, B)) ("match_rms_adamw")."""
    rows, columns = shape
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1, rows / columns))
    return lr * (0.2 * math.sqrt(max(rows, columns)))


def _coefficient_schedule(coefficients):
    """One ``(a, b, c)``, or a non-empty sequence of them, as a list of float triples."""
    if all(isinstance(c, numbers.Real) for c in coefficients):
        coefficients = [coefficients]
    if not coefficients or any(
        np.ndim(step) != 1 or len(step) != 3 for step in coefficients
    ):
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    return [tuple(float(c) for c in step) for step in coefficients]


def _matrix(name):
    """The initializer of a buffer shaped like a 2-D parameter, refusing the others."""

    def zeros(param):
        _require_matrix(name, param)
        return np.zeros_like(param)

    return zeros


def _require_matrix(name, param):
    if param.ndim != 2:
        raise ValueError(
            f"{name} only supports 2D parameters whereas we found a parameter with shape "
            f"{param.shape}; optimize the others (biases, gains) with another optimizer "
            "such as optim.adamw"
        )


def _scalars(given: dict) -> None:
    for name, value in given.items():
        if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be a real number, got {value!r}")


def _ns_options(ns_coefficients, ns_steps):
    """torch's Newton–Schulz checks, made when the optimizer is built."""
    if not isinstance(ns_steps, numbers.Integral) or ns_steps < 0:
        raise TypeError(f"ns_steps must be a non-negative integer, got {ns_steps!r}")
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    return _coefficient_schedule(ns_coefficients)


# --- Muon -------------------------------------------------------------------------------


def muon(
    lr=1e-3,
    weight_decay=0.1,
    momentum=0.95,
    nesterov=True,
    ns_coefficients=NS_COEFFICIENTS,
    eps=NS_EPS,
    ns_steps=NS_STEPS,
    adjust_lr_fn=None,
):
    r"""Muon: momentum, orthogonalised by Newton–Schulz (``torch.optim.Muon``).

    .. math::
        B_t &= \mu B_{t-1} + (1-\mu) g_t
            \quad(\text{torch's } \mathrm{lerp}(B, g, 1-\mu)) \\
        \tilde B_t &= \begin{cases} (1-\mu) g_t + \mu B_t & \text{nesterov} \\
                                   B_t & \text{otherwise} \end{cases} \\
        O_t &= \mathrm{NS}^{(a,b,c)}_k(\tilde B_t) \approx U V^\top
               \quad(\tilde B_t = U \Sigma V^\top) \\
        \theta_t &= (1 - \gamma\lambda)\,\theta_{t-1} - \gamma\,s(m, n)\,O_t

    :math:`s = \sqrt{\max(1, m/n)}` (``adjust_lr_fn=None`` or ``"original"``, Keller
    Jordan's) or :math:`0.2\sqrt{\max(m, n)}` (``"match_rms_adamw"``, Moonlight's: an
    orthogonal :math:`m \times n` matrix has RMS :math:`1/\sqrt{\max(m,n)}`, so the
    step gets AdamW's typical RMS 0.2 and can reuse AdamW's lr and weight decay).
    Weight decay is decoupled and not adjusted. The momentum is torch's EMA form (its
    scale does not matter: NS normalises).

    Papers: K. Jordan et al. (2024), "Muon: An optimizer for hidden layers in neural
    networks" (blog); J. Liu et al. (2025), "Muon is Scalable for LLM Training"
    (Moonlight).

    Differences from torch 2.13: Newton–Schulz runs in the parameters' dtype, torch's
    in bfloat16 (see the module docstring; measured in tests/test_optim_orthogonal.py);
    the Newton–Schulz checks (steps < 100, three coefficients) are made when the
    optimizer is built, not at the first step; ``ns_coefficients`` may also be a
    sequence of ``(a, b, c)``, one per step. Parameters must be 2-D, as in torch.
    """
    given = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum, "eps": eps}
    _scalars(given)
    args = hyperparameters(
        given,
        [
            ("lr", at_least_zero, "Learning rate should be >= 0 but is: {}"),
            ("momentum", at_least_zero, "momentum should be >= 0 but is: {}"),
            ("weight_decay", at_least_zero, "weight decay should be >= 0 but is: {}"),
        ],
    )
    if adjust_lr_fn not in ADJUST_LR_FNS:
        raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
    schedule = _ns_options(ns_coefficients, ns_steps)
    kernel_args = {
        **args,
        "nesterov": flag("nesterov", nesterov),
        "schedule": schedule,
        "ns_steps": ns_steps,
        "adjust_lr_fn": adjust_lr_fn,
        "decoupled_weight_decay": True,
    }
    hyper = {**given, "nesterov": nesterov, "ns_coefficients": ns_coefficients,
             "ns_steps": ns_steps, "adjust_lr_fn": adjust_lr_fn}
    buffers = {"momentum_buffer": _matrix("muon")}
    return make_optimizer("muon", hyper, kernel_args, MuonState, buffers, _muon_kernel,
                          elementwise=False)


def _momentum(grad, buffer, args, name):
    """torch's ``buf.lerp_(grad, 1 - momentum)`` and the Nesterov look-ahead
    ``grad.lerp(buf, momentum)``: the new buffer and the matrix to orthogonalise."""
    _require_matrix(name, grad)
    new_buffer = lerp(buffer, grad, 1 - args["momentum"], np.empty_like(buffer))
    if args["nesterov"]:
        return new_buffer, lerp(grad, new_buffer, args["momentum"], np.empty_like(grad))
    return new_buffer, new_buffer


def _orthogonalise(matrix, args):
    return newton_schulz(matrix, args["schedule"], args["ns_steps"], args["eps"])


def _muon_kernel(param, grad, old, args):
    buffer, update = _momentum(grad, old["momentum_buffer"], args, "muon")
    step = adjusted_lr(args["lr"], args["adjust_lr_fn"], param.shape)
    new_param = decoupled_decay(param, args) - step * _orthogonalise(update, args)
    return {"param": new_param, "momentum_buffer": buffer}


# --- NorMuon ----------------------------------------------------------------------------


def normuon(
    lr=2e-2,
    momentum=0.95,
    beta2=0.95,
    weight_decay=0.0,
    weight_decouple=True,
    nesterov=True,
    ns_steps=NS_STEPS,
    ns_coeffs=NS_COEFFICIENTS,
    update_scale="preserve_norm",
    use_adjusted_lr=False,
    eps=1e-10,
    maximize=False,
):
    r"""NorMuon: Muon's orthogonal step with each row rescaled by a running RMS
    (``pytorch_optimizer.NorMuon``, its Muon groups).

    .. math::
        B_t &= \mathrm{lerp}(B_{t-1}, g_t, 1-\mu),\quad
        O_t = \mathrm{NS}_5(\text{Nesterov or } B_t)
              \quad(\text{as in } \texttt{muon}) \\
        v_t &= \beta_2 v_{t-1} + (1-\beta_2)\,\mathrm{mean}_{\text{cols}}(O_t \odot O_t)
              \quad(\text{one value per row}) \\
        \bar O_t &= O_t / (\sqrt{v_t} + \epsilon) \\
        \hat O_t &= \bar O_t \cdot \begin{cases}
            \|O_t\|_F / (\|\bar O_t\|_F + \epsilon) & \text{preserve\_norm} \\
            0.2\sqrt{mn} / (\|\bar O_t\|_F + \epsilon) & \text{match\_rms} \end{cases} \\
        \theta_t &= (1 - \eta\lambda)\,\theta_{t-1} - \eta'\,\hat O_t

    with :math:`\eta' = \eta\sqrt{\max(1, m/n)}` (or Moonlight's
    :math:`0.2\,\eta\sqrt{\max(m,n)}` with ``use_adjusted_lr``) in ``preserve_norm``
    mode and :math:`\eta' = \eta` in ``match_rms`` mode. With ``weight_decouple=False``
    the decay is added to the gradient instead (:math:`g + \lambda\theta`).

    Paper: Z. Li, L. Liu, C. Liang, W. Chen, T. Zhao (2025), "NorMuon: Making Muon more
    efficient and scalable". Its Algorithm 1 is ``update_scale="match_rms"`` (RMS 0.2);
    the default ``"preserve_norm"`` follows the official code, as the reference does.

    Differences from the reference: Newton–Schulz in the parameters' dtype (the
    reference's in bfloat16, see the module docstring); ``ns_coeffs`` takes a tuple or
    a sequence of tuples, not the reference's preset names; no AdamW groups (use
    ``optim.adamw`` for non-matrix parameters); 2-D parameters only (the reference
    flattens higher-dimensional ones to ``(shape[0], -1)``).
    """
    given = {"lr": lr, "momentum": momentum, "beta2": beta2, "weight_decay": weight_decay,
             "eps": eps}
    _scalars(given)
    if lr < 0:
        raise ValueError(f"learning rate must be positive. ({lr} > 0)")
    args = hyperparameters(
        given,
        [
            ("weight_decay", at_least_zero, "weight_decay must be non-negative"),
            ("momentum", beta_range, "momentum must be in the range [0.0, 1.0)"),
            ("beta2", beta_range, "beta2 must be in the range [0.0, 1.0)"),
        ],
    )
    if ns_steps <= 0:
        raise ValueError("ns_steps must be positive")
    if update_scale not in ("preserve_norm", "match_rms"):
        raise ValueError(
            f"update_scale {update_scale} must be one of ('preserve_norm' or 'match_rms')"
        )
    if eps < 0:
        raise ValueError("eps must be non-negative")
    schedule = _ns_options(ns_coeffs, ns_steps)
    kernel_args = {
        **args,
        "nesterov": flag("nesterov", nesterov),
        "maximize": flag("maximize", maximize),
        "decoupled_weight_decay": flag("weight_decouple", weight_decouple),
        "schedule": schedule,
        "ns_steps": ns_steps,
        "ns_eps": NS_EPS,
        "preserve_norm": update_scale == "preserve_norm",
        "adjust_lr_fn": "match_rms_adamw" if flag("use_adjusted_lr", use_adjusted_lr) else None,
    }
    hyper = {**given, "weight_decouple": weight_decouple, "nesterov": nesterov,
             "ns_steps": ns_steps, "ns_coeffs": ns_coeffs, "update_scale": update_scale,
             "use_adjusted_lr": use_adjusted_lr, "maximize": maximize}
    buffers = {
        "momentum_buffer": _matrix("normuon"),
        "second_momentum_buffer": lambda param: np.zeros((param.shape[0], 1), param.dtype),
    }
    return make_optimizer("normuon", hyper, kernel_args, NorMuonState, buffers,
                          _normuon_kernel, elementwise=False)


def _normuon_kernel(param, grad, old, args):
    grad = direction(param, grad, args)
    buffer, update = _momentum(grad, old["momentum_buffer"], args, "normuon")
    update = newton_schulz(update, args["schedule"], args["ns_steps"], args["ns_eps"])
    original_norm = np.linalg.norm(update)
    row_means = (update**2).mean(axis=1, keepdims=True)
    second = old["second_momentum_buffer"]
    second = lerp(second, row_means, 1 - args["beta2"], np.empty_like(second))
    update = update / (np.sqrt(second) + args["eps"])
    norm = np.linalg.norm(update) + args["eps"]
    if args["preserve_norm"]:
        update = update * (original_norm / norm)
        step = adjusted_lr(args["lr"], args["adjust_lr_fn"], param.shape)
    else:
        update = update * (0.2 * math.sqrt(update.size) / norm)
        step = args["lr"]
    new_param = decoupled_decay(param, args) - step * update
    return {"param": new_param, "momentum_buffer": buffer, "second_momentum_buffer": second}


# --- MARS-M -----------------------------------------------------------------------------


def mars_m(
    lr=1e-3,
    momentum=0.95,
    gamma=0.025,
    weight_decay=0.1,
    ns_coefficients=NS_COEFFICIENTS,
    eps=NS_EPS,
    ns_steps=NS_STEPS,
    adjust_lr_fn="match_rms_adamw",
):
    r"""MARS-M: Muon (with Moonlight's scale) fed a MARS variance-reduced gradient.

    .. math::
        c_t &= g_t + \gamma\,\frac{\mu}{1-\mu}\,(g_t - g_{t-1}),
            \qquad c_t \leftarrow c_t / \max(1, \|c_t\|_F) \\
        B_t &= \mathrm{lerp}(B_{t-1}, c_t, 1-\mu),\qquad O_t = \mathrm{NS}_5(B_t) \\
        \theta_t &= (1 - \eta\lambda)\,\theta_{t-1} - \eta\,s(m,n)\,O_t

    with :math:`g_0 = 0` and :math:`s = 0.2\sqrt{\max(m,n)}` (Moonlight's, the
    default ``adjust_lr_fn="match_rms_adamw"``) or :math:`\sqrt{\max(1, m/n)}`
    (``"original"``, which is ``pytorch_optimizer.MARS(mars_type="shampoo")``).

    Paper: Y. Liu, A. Yuan, Q. Gu (2025), "MARS-M: When Variance Reduction Meets
    Matrices"; the authors' code (AGI-Arena/MARS, ``MARS_M/optimizers/mars_m.py``).

    This is the paper's *approximate* MARS-M (the authors' default, ``is_approx``):
    :math:`g_{t-1}` is the previous step's gradient, kept in ``last_grad``. The exact
    variant needs the gradient at :math:`\theta_{t-1}` on step :math:`t`'s minibatch,
    a second gradient the ``step(params, grads, state)`` API does not take; on a
    deterministic objective the two are the same.

    Differences from the authors' code: Newton–Schulz in the parameters' dtype (theirs
    in bfloat16) and normalised by :math:`\max(\|B\|_F, \epsilon)` as torch does
    (theirs by :math:`\|B\|_F + 10^{-7}`, a relative difference of
    :math:`10^{-7}/\|B\|_F`); the momentum is ``lerp`` (theirs
    :math:`\mu B + (1-\mu) c`, equal up to rounding); no AdamW groups; 2-D parameters
    only. Differences from pytorch_optimizer.MARS(mars_type="shampoo"): it
    orthogonalises :math:`B_t/(1-\mu)` (the same up to rounding unless
    :math:`\|B_t\|_F < \epsilon`), and its 1-D parameters take an AdamW step.
    """
    given = {"lr": lr, "momentum": momentum, "gamma": gamma, "weight_decay": weight_decay,
             "eps": eps}
    _scalars(given)
    args = hyperparameters(
        given,
        [
            ("lr", at_least_zero, "Learning rate should be >= 0 but is: {}"),
            ("momentum", beta_range, "momentum should be in [0, 1) but is: {}"),
            ("gamma", at_least_zero, "gamma should be >= 0 but is: {}"),
            ("weight_decay", at_least_zero, "weight decay should be >= 0 but is: {}"),
        ],
    )
    if adjust_lr_fn not in ADJUST_LR_FNS:
        raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
    schedule = _ns_options(ns_coefficients, ns_steps)
    kernel_args = {**args, "schedule": schedule, "ns_steps": ns_steps,
                   "adjust_lr_fn": adjust_lr_fn, "decoupled_weight_decay": True,
                   "mars_factor": args["gamma"] * args["momentum"] / (1 - args["momentum"])}
    hyper = {**given, "ns_coefficients": ns_coefficients, "ns_steps": ns_steps,
             "adjust_lr_fn": adjust_lr_fn}
    buffers = {"momentum_buffer": _matrix("mars_m"), "last_grad": _matrix("mars_m")}
    return make_optimizer("mars_m", hyper, kernel_args, MarsMState, buffers, _mars_m_kernel,
                          elementwise=False)


def _mars_m_kernel(param, grad, old, args):
    _require_matrix("mars_m", grad)
    corrected = (grad - old["last_grad"]) * args["mars_factor"] + grad
    norm = np.linalg.norm(corrected)
    if norm > 1:
        corrected = corrected / norm
    buffer = old["momentum_buffer"]
    buffer = lerp(buffer, corrected, 1 - args["momentum"], np.empty_like(buffer))
    step = adjusted_lr(args["lr"], args["adjust_lr_fn"], param.shape)
    new_param = decoupled_decay(param, args) - step * _orthogonalise(buffer, args)
    return {"param": new_param, "momentum_buffer": buffer, "last_grad": grad.copy()}


# --- REG --------------------------------------------------------------------------------


def reg(lr=1e-3, momentum=0.9, target_rms=0.2, weight_decay=0.0, eps=1e-8):
    r"""REG: momentum, balanced by row-and-column scaling (RACS), at a fixed RMS.

    .. math::
        M_t &= \beta M_{t-1} + (1-\beta)\,g_t \\
        \tilde M_t &= \mathrm{RACS}(M_t)
            = \mathrm{diag}(\sqrt{s+\epsilon})^{-1}\,M_t\,\mathrm{diag}(\sqrt{q+\epsilon})^{-1},
            \quad s_i = \tfrac1n \textstyle\sum_j M_{ij}^2,\ q_j = \tfrac1m \sum_i M_{ij}^2 \\
        \hat M_t &= \rho\,\tilde M_t / \max(\mathrm{RMS}(\tilde M_t), \epsilon) \\
        \theta_t &= \theta_{t-1} - \eta\,(\hat M_t + \lambda\,\theta_{t-1})

    ``target_rms=None`` leaves out the rescaling (:math:`\hat M_t = \tilde M_t`).
    Where Muon maps every singular value to one, RACS only equalises the rows' and
    columns' mean squares, so the step keeps more of the momentum's shape.

    Paper: Z. Liu, H. Wu, X. Fu, S. Liu, X. Han, T. Zhong, M. Yuan (2025), "REG: A
    Regularization Optimizer for Robust Training Dynamics". The RACS operator is
    W. Gong et al.'s (2025, "Towards efficient optimizer design for LLM via structured
    Fisher approximation with a low-rank extension"), as pytorch_optimizer.RACS
    computes it; with ``momentum=0`` and ``target_rms=None`` this is
    ``pytorch_optimizer.RACS(beta=0, alpha=1)`` without its norm-growth limiter.

    Differences, written down because the paper's algorithm box was not available
    here: the rule above is the book's transcription of the REG update as the
    sources summarise it (momentum, RACS, RMS target :math:`\rho`, decay inside the
    step). RACS here uses the current momentum's row and column statistics (no
    running averages of them, unlike pytorch_optimizer.RACS with ``beta > 0``) and no
    norm-growth limiter; the RMS is guarded by :math:`\max(\cdot, \epsilon)` so a zero
    momentum gives a zero step. 2-D parameters only.
    """
    given = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "eps": eps}
    if target_rms is not None:
        given["target_rms"] = target_rms
    _scalars(given)
    checks = [
        ("lr", at_least_zero, "Invalid learning rate: {}"),
        ("momentum", beta_range, "Invalid momentum value: {}"),
        ("weight_decay", at_least_zero, "Invalid weight_decay value: {}"),
        ("eps", at_least_zero, "Invalid epsilon value: {}"),
    ]
    if target_rms is not None:
        checks.append(("target_rms", lambda x: 0.0 < x, "Invalid target_rms value: {}"))
    args = hyperparameters(given, checks)
    kernel_args = {**args, "target_rms": target_rms, "decoupled_weight_decay": False}
    hyper = {"lr": lr, "momentum": momentum, "target_rms": target_rms,
             "weight_decay": weight_decay, "eps": eps}
    buffers = {"momentum_buffer": _matrix("reg")}
    return make_optimizer("reg", hyper, kernel_args, REGState, buffers, _reg_kernel,
                          elementwise=False)


def _reg_kernel(param, grad, old, args):
    _require_matrix("reg", grad)
    beta = args["momentum"]
    buffer = beta * old["momentum_buffer"] + (1 - beta) * grad
    update = row_and_column_scaling(buffer, args["eps"])
    if args["target_rms"] is not None:
        rms = math.sqrt(np.mean(update**2))
        update = update * (args["target_rms"] / max(rms, args["eps"]))
    if args["l2_decay"]:
        update = update + args["weight_decay"] * param
    return {"param": param - args["lr"] * update, "momentum_buffer": buffer}


_FAMILY = "H. The Muon family"
_CHAPTER = "chapters/muon"
_NS_FLOPS = "O(mn min(m, n)) per step (5 Newton-Schulz steps)"

CATALOG = (
    Entry(
        factory="muon",
        family=_FAMILY,
        rule=(
            r"B_t = \mu B_{t-1} + (1-\mu) g_t",
            r"O_t = \mathrm{NS}_5\big((1-\mu) g_t + \mu B_t\big) \approx U V^\top",
            r"\theta_t = (1-\eta\lambda)\theta_{t-1} - \eta\, s(m,n)\, O_t,"
            r"\quad s = \sqrt{\max(1, m/n)} \text{ or } 0.2\sqrt{\max(m,n)}",
        ),
        reference="torch.optim.Muon",
        paper='K. Jordan et al. (2024), "Muon: An optimizer for hidden layers in neural '
        'networks"; J. Liu et al. (2025), "Muon is Scalable for LLM Training"',
        year=2024,
        bibkey="jordan2024muon",
        chapter=_CHAPTER,
        flops=_NS_FLOPS,
        notes=(
            "Newton-Schulz in the parameters' dtype; torch runs it in bfloat16 (compared "
            "with torch's own code, the cast replaced by float64).",
            "adjust_lr_fn='match_rms_adamw' is Moonlight's RMS matching 0.2 sqrt(max(m, n)).",
            "2-D parameters only, as torch.",
        ),
    ),
    Entry(
        factory="normuon",
        family=_FAMILY,
        rule=(
            r"O_t = \mathrm{NS}_5(\text{Muon momentum})",
            r"v_t = \beta_2 v_{t-1} + (1-\beta_2)\,\mathrm{mean}_{\text{cols}}(O_t^2)",
            r"\hat O_t \propto O_t / (\sqrt{v_t} + \epsilon),\quad"
            r"\|\hat O_t\|_F = \|O_t\|_F \text{ or } 0.2\sqrt{mn}",
            r"\theta_t = (1-\eta\lambda)\theta_{t-1} - \eta' \hat O_t",
        ),
        reference="pytorch_optimizer.NorMuon",
        paper='Z. Li, L. Liu, C. Liang, W. Chen, T. Zhao (2025), "NorMuon: Making Muon '
        'more efficient and scalable"',
        year=2025,
        bibkey="li2025normuon",
        chapter=_CHAPTER,
        flops=_NS_FLOPS,
        notes=(
            "Newton-Schulz in the parameters' dtype; the reference's in bfloat16.",
            "update_scale='match_rms' is the paper's Algorithm 1; the default follows "
            "the official code, as the reference does.",
        ),
    ),
    Entry(
        factory="mars_m",
        family=_FAMILY,
        rule=(
            r"c_t = g_t + \gamma \tfrac{\mu}{1-\mu}(g_t - g_{t-1}),"
            r"\quad c_t \leftarrow c_t / \max(1, \|c_t\|_F)",
            r"B_t = \mu B_{t-1} + (1-\mu) c_t,\quad O_t = \mathrm{NS}_5(B_t)",
            r"\theta_t = (1-\eta\lambda)\theta_{t-1} - 0.2\,\eta\sqrt{\max(m,n)}\, O_t",
        ),
        reference="paper",
        paper='Y. Liu, A. Yuan, Q. Gu (2025), "MARS-M: When Variance Reduction Meets '
        'Matrices"',
        year=2025,
        bibkey="liu2025marsm",
        chapter=_CHAPTER,
        flops=_NS_FLOPS,
        notes=(
            "The approximate MARS-M (g_{t-1} is the previous step's gradient), the "
            "authors' default.",
            "adjust_lr_fn='original' equals pytorch_optimizer.MARS(mars_type='shampoo'), "
            "also tested.",
            "Newton-Schulz in the parameters' dtype, normalised by max(norm, eps); the "
            "authors' in bfloat16, by norm + 1e-7.",
        ),
    ),
    Entry(
        factory="reg",
        family=_FAMILY,
        rule=(
            r"M_t = \beta M_{t-1} + (1-\beta) g_t",
            r"\tilde M_t = \mathrm{diag}(\sqrt{s+\epsilon})^{-1} M_t"
            r"\,\mathrm{diag}(\sqrt{q+\epsilon})^{-1}"
            r"\quad(s, q: \text{row and column mean squares})",
            r"\theta_t = \theta_{t-1} - \eta(\rho\,\tilde M_t/\mathrm{RMS}(\tilde M_t)"
            r" + \lambda\theta_{t-1})",
        ),
        reference="paper",
        paper='Z. Liu, H. Wu, X. Fu, S. Liu, X. Han, T. Zhong, M. Yuan (2025), "REG: A '
        'Regularization Optimizer for Robust Training Dynamics"',
        year=2025,
        bibkey="liu2025reg",
        chapter=_CHAPTER,
        flops="O(mn)",
        notes=(
            "Transcribed from the sources' summary of the update (the paper's algorithm "
            "box was not available); RACS as pytorch_optimizer.RACS computes it, tested "
            "against it with momentum 0 and no RMS target.",
            "RACS from the current momentum's statistics, no norm-growth limiter.",
        ),
    ),
)
