"""Kronecker-factored preconditioners: Shampoo (as ``pytorch_optimizer.Shampoo``) and
SOAP (as ``pytorch_optimizer.SOAP``).

A matrix parameter W (m x n) keeps one factor per side, L (m x m) from ``G G^T`` and
R (n x n) from ``G^T G``; ``L kron R`` stands in for full-matrix AdaGrad's mn x mn
statistic. A 1-D parameter has one side only: its second factor is an empty 0 x 0
array (the reference keeps no matrix there either). Parameters of three or more
dimensions are refused: reshape them to matrices first. There are no batch axes: an
array of shape (k, n) is one k x n matrix, so racing k starts needs k optimizers.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import _base
from ._catalog import Entry
from ._sophia import decay, hyperparameter_checks, step_count

Tree = np.ndarray | dict


class ShampooState(NamedTuple):
    step: int
    momentum_buffer: Tree  # the last preconditioned gradient
    pre_cond_0: Tree  # L = matrix_eps I + sum_t G_t G_t^T
    pre_cond_1: Tree  # R = matrix_eps I + sum_t G_t^T G_t (0 x 0 for 1-D)
    inv_pre_cond_0: Tree  # L^(-1/4) (L^(-1/2) for 1-D), as last computed
    inv_pre_cond_1: Tree  # R^(-1/4)


class SOAPState(NamedTuple):
    step: int
    exp_avg: Tree  # Adam's first moment, in the parameter's own coordinates
    exp_avg_sq: Tree  # Adam's second moment, in the eigenbasis coordinates
    GG_0: Tree  # EMA of G G^T (0 x 0 when that side is not preconditioned)
    GG_1: Tree  # EMA of G^T G
    Q_0: Tree  # eigenbasis of GG_0, eigenvalues in descending order
    Q_1: Tree


def _factor_size(param: np.ndarray, side: int, preconditioned: bool = True) -> int:
    """The size of the square factor on `side` of `param` (0 for none)."""
    if param.ndim not in (1, 2):
        raise ValueError(
            f"Kronecker-factored optimizers take 1-D and 2-D parameters, got shape "
            f"{param.shape}: reshape it to a matrix first"
        )
    return param.shape[side] if side < param.ndim and preconditioned else 0


def _scalars_only(args: dict, name: str) -> None:
    for key, value in args.items():
        if isinstance(value, np.ndarray):
            raise TypeError(
                f"{name} reads whole matrices, so its hyperparameters are scalars: "
                f"{key} is an array"
            )


def _side_statistics(grad: np.ndarray, side: int) -> np.ndarray:
    """``G G^T`` (side 0) or ``G^T G`` (side 1), contracting every other axis;
    ``g g^T`` for a 1-D gradient."""
    if grad.ndim == 1:
        return np.outer(grad, grad)
    others = [axis for axis in range(grad.ndim) if axis != side]
    return np.tensordot(grad, grad, axes=(others, others))


# --- Shampoo -------------------------------------------------------------------------


def shampoo(
    lr=1e-3,
    momentum=0.0,
    weight_decay=0.0,
    weight_decouple=False,
    fixed_decay=False,
    preconditioning_compute_steps=1,
    matrix_eps=1e-6,
    maximize=False,
) -> _base.Optimizer:
    r"""Shampoo, as ``pytorch_optimizer.Shampoo``.

    Update rule at step t for a matrix parameter (gamma = lr, mu = momentum,
    k = preconditioning_compute_steps, b = momentum_buffer, the previous
    preconditioned gradient; b_0 = G_1)::

        G_t <- -G_t                                   if maximize
        G_t <- (1 - mu) G_t + mu b_{t-1}               if mu > 0 (torch.lerp)
        weight decay as in `sophia` (coupled by default: G_t <- G_t + lambda W)
        L_t = L_{t-1} + G_t G_t^T,   L_0 = matrix_eps I
        R_t = R_{t-1} + G_t^T G_t,   R_0 = matrix_eps I
        if t % k == 0: P_L = L_t^(-1/4), P_R = R_t^(-1/4)  (else the last ones; 0 before)
        b_t = P_L G_t P_R
        W_t = W_{t-1} - gamma b_t

    A 1-D parameter has only L, with the root ``-1/2``: ``b_t = L_t^(-1/2) g_t``,
    which is full-matrix AdaGrad. The roots come from the singular value
    decomposition ``L = U S V^T`` as ``U S^(-1/4) V^T``, like the reference: exact up
    to rounding, no iteration.

    Reference: Gupta, Koren & Singer (2018), "Shampoo: preconditioned stochastic
    tensor optimization", ICML (Algorithm 1 for matrices; Algorithm 2 for order-k
    tensors uses the root ``-1/(2k)``, which gives -1/2 for vectors).

    Differences from the paper, all the reference's:

    - The paper has neither momentum nor weight decay. The reference's momentum
      mixes the raw gradient with the *preconditioned* gradient of the previous
      step, and the mixture is what enters the statistics; b starts as the first
      gradient as given, so step 1 is unaffected (with maximize it becomes
      ``(2 mu - 1) G_1``).
    - The paper recomputes the roots every step. Every k steps here, and before
      step k the roots are zero: steps 1 .. k-1 do not move the parameters.
    - matrix_eps starts both factors at ``matrix_eps I`` as the paper's eps does.

    Differences from the reference: 1-D and 2-D parameters only (the reference
    takes any order); hyperparameters are scalars; validation raises ValueError
    with the reference's texts (its own exception classes for lr and
    preconditioning_compute_steps). ``ScalableShampoo`` (blocks, grafting, coupled
    Newton iterations for the roots) is a different optimizer and not this one.
    """
    args = _base.hyperparameters(
        dict(lr=lr, momentum=momentum, weight_decay=weight_decay, matrix_eps=matrix_eps),
        hyperparameter_checks("lr", "momentum", "weight_decay"),
    )
    _scalars_only(args, "shampoo")
    every = step_count(
        "preconditioning_compute_steps", preconditioning_compute_steps,
        "preconditioning_compute_steps must be positive. ({} > 0)",
    )
    _base.require(args["matrix_eps"], matrix_eps, *hyperparameter_checks("matrix_eps")[0][1:])
    args.update(
        weight_decouple=_base.flag("weight_decouple", weight_decouple),
        fixed_decay=_base.flag("fixed_decay", fixed_decay),
        maximize=_base.flag("maximize", maximize),
        preconditioning_compute_steps=every,
    )
    hyperparams = {key: args[key] for key in (
        "lr", "momentum", "weight_decay", "weight_decouple", "fixed_decay",
        "preconditioning_compute_steps", "matrix_eps", "maximize")}

    def identity_times_eps(side):
        return lambda param: np.eye(_factor_size(param, side), dtype=param.dtype) * matrix_eps

    def zeros(side):
        return lambda param: np.zeros((_factor_size(param, side),) * 2, dtype=param.dtype)

    buffers = {
        "momentum_buffer": np.zeros_like,
        "pre_cond_0": identity_times_eps(0),
        "pre_cond_1": identity_times_eps(1),
        "inv_pre_cond_0": zeros(0),
        "inv_pre_cond_1": zeros(1),
    }
    return _base.make_optimizer(
        "shampoo", hyperparams, args, ShampooState, buffers, _shampoo_kernel,
        elementwise=False,
    )


def inverse_root(matrix: np.ndarray, power: float) -> np.ndarray:
    """``matrix^(-1/power)`` of a symmetric positive definite matrix, from its
    singular value decomposition, as pytorch_optimizer's compute_power_svd."""
    u, s, vh = np.linalg.svd(matrix, full_matrices=False)
    return (u * s ** (-1.0 / power)) @ vh


def _shampoo_kernel(param, grad, state, args):
    # The reference's buffer starts as the first gradient as given (before maximize).
    buffer = state["momentum_buffer"] if args["step"] > 1 else grad
    if args["maximize"]:
        grad = np.negative(grad)
    if args["momentum"] > 0:
        grad = _base.lerp(grad, buffer, args["momentum"], np.empty_like(grad))
    param, grad = decay(param, grad, args)
    order = grad.ndim
    recompute = args["step"] % args["preconditioning_compute_steps"] == 0
    out = {}
    for side in range(order):
        # The reference's addmm(U, U^T) on the unfolded gradient (SOAP's statistics are
        # its tensordot instead): the same products, so the tests can share them.
        unfolded = grad.reshape(grad.shape[0], -1) if side == 0 else grad.T
        statistics = state[f"pre_cond_{side}"] + unfolded @ unfolded.T
        out[f"pre_cond_{side}"] = statistics
        out[f"inv_pre_cond_{side}"] = (
            inverse_root(statistics, 2 * order) if recompute
            else state[f"inv_pre_cond_{side}"].copy()
        )
    if order == 1:  # the reference multiplies the row vector g^T by L^(-1/2)
        for field in ("pre_cond_1", "inv_pre_cond_1"):
            out[field] = state[field].copy()
        preconditioned = grad @ out["inv_pre_cond_0"]
    else:
        preconditioned = (out["inv_pre_cond_0"] @ grad) @ out["inv_pre_cond_1"]
    out["momentum_buffer"] = preconditioned
    out["param"] = param + preconditioned * -args["lr"]
    return out


# --- SOAP ----------------------------------------------------------------------------


def soap(
    lr=3e-3,
    betas=(0.95, 0.95),
    shampoo_beta=None,
    weight_decay=1e-2,
    precondition_frequency=10,
    max_precondition_dim=10000,
    precondition_1d=False,
    correct_bias=True,
    normalize_gradient=False,
    eps=1e-8,
    maximize=False,
) -> _base.Optimizer:
    r"""SOAP (Adam in Shampoo's eigenbasis), as ``pytorch_optimizer.SOAP``.

    For a matrix parameter W (m x n) with gradient G (gamma = lr, lambda =
    weight_decay, beta_s = shampoo_beta, beta2 when None; f =
    precondition_frequency)::

        step 1:  GG_0 = (1 - beta_s) G G^T,  GG_1 = (1 - beta_s) G^T G,
                 Q_i = eigenvectors of GG_i (eigenvalues descending); W unchanged
        step t >= 2, s = t - 1:
            G' = Q_0^T G Q_1                                 (rotate in)
            m = beta1 m + (1 - beta1) G,   v = beta2 v + (1 - beta2) G'**2
            N = Q_0 [(Q_0^T m Q_1) / (sqrt(v) + eps)] Q_1^T  (Adam's step, rotated back)
            N <- N / (sqrt(mean(N**2)) + eps)                if normalize_gradient
            W <- W - gamma sqrt(1 - beta2**s) / (1 - beta1**s) N   (1 if not correct_bias)
            W <- W (1 - gamma lambda)
            GG_i <- beta_s GG_i + (1 - beta_s) (G G^T, G^T G)
            if s % f == 0, for each side i: order Q_i's columns by the estimated
                eigenvalues diag(Q_i^T GG_i Q_i), descending, permute v's axis i
                the same way, then Q_i = qr(GG_i Q_i) (one power-iteration step)

    A side longer than max_precondition_dim keeps the identity (its GG and Q are
    0 x 0). A 1-D parameter is not rotated unless precondition_1d: it then follows
    Adam with SOAP's conventions (first step skipped, decay after the step).

    Reference: Vyas, Morwani, Zhao, Kwun, Shapira, Brandfonbrener, Janson & Kakade
    (2025), "SOAP: improving and stabilizing Shampoo using Adam", ICLR
    (Algorithm 3; its QR-based eigenbasis update is Algorithm 4).

    Conventions, the reference's (and the authors' code's): eigenvectors come from
    LAPACK's symmetric solver (``numpy.linalg.eigh``; the reference uses
    ``torch.linalg.eigh``), columns reversed to descending order; eigenvector signs
    are LAPACK's (the update does not depend on them) and so is the basis chosen
    within a repeated eigenvalue (it does: the first GG has rank one). The QR runs in
    float32 as in the reference, so Q carries float32 rounding even for float64
    parameters.

    Differences from the paper: the first step only collects statistics (the
    paper's Algorithm 3 as the authors' code has it); m is kept in the original
    coordinates and rotated each step; weight decay is decoupled and applied after
    the step. Differences from the reference: no ``merge_dims``/``data_format`` (for
    convolution kernels), 1-D and 2-D parameters only, scalar hyperparameters, and
    ValueErrors with the reference's texts.
    """
    beta1, beta2 = _base.betas_pair(betas)
    beta_s = beta2 if shampoo_beta is None else shampoo_beta
    args = _base.hyperparameters(
        dict(lr=lr, beta1=beta1, beta2=beta2, shampoo_beta=beta_s,
             weight_decay=weight_decay, eps=eps),
        hyperparameter_checks("lr", "beta1", "beta2", "shampoo_beta", "weight_decay"),
    )
    _scalars_only(args, "soap")
    frequency = step_count("precondition_frequency", precondition_frequency,
                           "precondition_frequency must be positive")
    largest = step_count("max_precondition_dim", max_precondition_dim,
                         "max_precondition_dim must be positive")
    _base.require(args["eps"], eps, *hyperparameter_checks("eps")[0][1:])
    args.update(
        precondition_frequency=frequency,
        max_precondition_dim=largest,
        precondition_1d=_base.flag("precondition_1d", precondition_1d),
        correct_bias=_base.flag("correct_bias", correct_bias),
        normalize_gradient=_base.flag("normalize_gradient", normalize_gradient),
        maximize=_base.flag("maximize", maximize),
        weight_decouple=True,
        fixed_decay=False,
    )
    hyperparams = {
        "lr": args["lr"], "betas": (args["beta1"], args["beta2"]),
        "shampoo_beta": shampoo_beta, "weight_decay": args["weight_decay"],
        "precondition_frequency": frequency, "max_precondition_dim": largest,
        "precondition_1d": args["precondition_1d"], "correct_bias": args["correct_bias"],
        "normalize_gradient": args["normalize_gradient"], "eps": args["eps"],
        "maximize": args["maximize"],
    }

    def square_zeros(side):
        def make(param):
            size = _factor_size(param, side, preconditioned=param.ndim == 2 or precondition_1d)
            size = size if size <= largest else 0
            return np.zeros((size, size), dtype=param.dtype)

        return make

    buffers = {"exp_avg": np.zeros_like, "exp_avg_sq": np.zeros_like}
    buffers.update({f"{field}_{side}": square_zeros(side)
                    for field in ("GG", "Q") for side in (0, 1)})
    return _base.make_optimizer(
        "soap", hyperparams, args, SOAPState, buffers, _soap_kernel, elementwise=False
    )


def _rotate(array, bases, backward=False):
    """``Q_0^T A Q_1`` (or ``Q_0 A Q_1^T`` backward) by the reference's tensordots;
    a side with an empty basis is left as it is."""
    for basis in bases:
        if basis.size:
            array = np.tensordot(array, basis, axes=([0], [1 if backward else 0]))
        else:
            array = np.moveaxis(array, 0, -1)
    return array


def _soap_kernel(param, grad, state, args):
    if args["maximize"]:
        grad = np.negative(grad)
    sides = range(grad.ndim)
    bases = [state[f"Q_{side}"] for side in sides]
    exp_avg, exp_avg_sq = state["exp_avg"].copy(), state["exp_avg_sq"].copy()
    if args["step"] > 1:
        s = args["step"] - 1
        step_size = args["lr"]
        if args["correct_bias"]:
            step_size *= math.sqrt(1.0 - math.pow(args["beta2"], s)) / (
                1.0 - math.pow(args["beta1"], s)
            )
        exp_avg = _base.lerp(state["exp_avg"], grad, 1 - args["beta1"], out=exp_avg)
        exp_avg_sq = _base.lerp(
            state["exp_avg_sq"], np.square(_rotate(grad, bases)), 1 - args["beta2"],
            out=exp_avg_sq,
        )
        adam_step = _rotate(exp_avg, bases) / (np.sqrt(exp_avg_sq) + args["eps"])
        update = _rotate(adam_step, bases, backward=True)
        if args["normalize_gradient"]:
            update = update / (np.sqrt(np.mean(np.square(update))) + args["eps"])
        param, _ = decay(param + update * -step_size, None, args)
    else:
        param = param.copy()
    out = {"param": param, "exp_avg": exp_avg}
    for side in sides:
        statistics = state[f"GG_{side}"]
        if statistics.size:
            statistics = _base.lerp(
                statistics, _side_statistics(grad, side), 1 - args["shampoo_beta"],
                out=np.empty_like(statistics),
            )
        out[f"GG_{side}"] = statistics
    for side in range(grad.ndim, 2):  # the missing side of a 1-D parameter
        out[f"GG_{side}"], out[f"Q_{side}"] = state[f"GG_{side}"], state[f"Q_{side}"]
    if args["step"] == 1:
        for side in sides:
            out[f"Q_{side}"] = _eigenbasis(out[f"GG_{side}"])
    elif (args["step"] - 1) % args["precondition_frequency"] == 0:
        for side in sides:
            out[f"Q_{side}"], exp_avg_sq = _power_iteration(
                out[f"GG_{side}"], bases[side], exp_avg_sq, side
            )
    else:
        for side in sides:
            out[f"Q_{side}"] = bases[side]
    out["exp_avg_sq"] = exp_avg_sq
    return out


def _eigenbasis(statistics):
    """Eigenvectors of GG by descending eigenvalue (the reference's first basis)."""
    if not statistics.size:
        return statistics
    nudged = statistics + 1e-30 * np.eye(len(statistics), dtype=statistics.dtype)
    return np.linalg.eigh(nudged)[1][:, ::-1].copy()


def _power_iteration(statistics, basis, exp_avg_sq, side):
    """One QR power-iteration step ``Q <- qr(GG Q)`` after sorting Q's columns (and
    exp_avg_sq along `side`) by the estimated eigenvalues ``diag(Q^T GG Q)``."""
    if not statistics.size:
        return basis, exp_avg_sq
    product = statistics @ basis
    estimated = np.sum(basis * product, axis=0)
    order = np.argsort(-estimated, kind="stable")
    q, _ = np.linalg.qr(product[:, order].astype(np.float32))
    return q.astype(statistics.dtype), np.take(exp_avg_sq, order, axis=side)


CATALOG = (
    Entry(
        factory="shampoo",
        family="G. Matrix preconditioning",
        rule=(
            r"L_t = L_{t-1} + G_t G_t^\top,\quad R_t = R_{t-1} + G_t^\top G_t",
            r"W_t = W_{t-1} - \eta\, L_t^{-1/4}\, G_t\, R_t^{-1/4}",
        ),
        reference="pytorch_optimizer.Shampoo",
        paper="Gupta, Koren & Singer (2018), Shampoo: preconditioned stochastic "
        "tensor optimization",
        year=2018,
        bibkey="gupta2018shampoo",
        chapter="chapters/shampoo-soap",
        flops="O(mn(m+n)) per step, O(m^3 + n^3) every k steps",
        notes=(
            "Roots by SVD every preconditioning_compute_steps steps; zero before the "
            "first, so the first k-1 steps do not move.",
            "Momentum (the reference's) mixes the gradient with the last "
            "preconditioned gradient; not in the paper.",
            "1-D parameters: full-matrix AdaGrad, L^(-1/2) g.",
        ),
    ),
    Entry(
        factory="soap",
        family="G. Matrix preconditioning",
        rule=(
            r"G'_t = Q_L^\top G_t Q_R,\quad m_t = \beta_1 m_{t-1} + (1-\beta_1) G_t,"
            r"\quad v_t = \beta_2 v_{t-1} + (1-\beta_2) G_t'^{\,2}",
            r"W_t = W_{t-1} - \eta_t\, Q_L \frac{Q_L^\top m_t Q_R}{\sqrt{v_t} + \epsilon}"
            r" Q_R^\top",
            r"Q_L, Q_R \leftarrow \operatorname{qr}(GG_L Q_L), \operatorname{qr}(GG_R Q_R)"
            r"\ \text{every } f \text{ steps}",
        ),
        reference="pytorch_optimizer.SOAP",
        paper="Vyas et al. (2025), SOAP: improving and stabilizing Shampoo using Adam",
        year=2025,
        bibkey="vyas2025soap",
        chapter="chapters/shampoo-soap",
        flops="O(mn(m+n)) per step, O(m^3 + n^3) every f steps",
        notes=(
            "Step 1 only collects statistics; decoupled weight decay after the step.",
            "QR in float32 as the reference; eigenvector signs and the basis inside "
            "repeated eigenvalues are LAPACK's.",
            "1-D parameters are not rotated (Adam) unless precondition_1d.",
        ),
    ),
)
