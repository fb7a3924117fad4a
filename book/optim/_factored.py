"""Adafactor: a second moment stored as row and column factors, as torch.optim.Adafactor."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _base
from ._catalog import Entry
from ._layerwise import scalars_only

Tree = np.ndarray | dict


class AdafactorState(NamedTuple):
    step: int
    row_var: Tree  # per parameter of 2 or more dims, shape (..., m, 1); else empty
    col_var: Tree  # per parameter of 2 or more dims, shape (..., 1, n); else empty
    variance: Tree  # per parameter of 0 or 1 dims, its shape; else empty


def adafactor(
    lr=1e-2,
    beta2_decay=-0.8,
    eps=(None, 1e-3),
    d=1.0,
    weight_decay=0.0,
    maximize=False,
) -> _base.Optimizer:
    r"""Adafactor, as ``torch.optim.Adafactor``.

    For an m x n gradient G the second moment is kept as a row factor R (m numbers)
    and a column factor C (n numbers) instead of m*n; the update is relative to the
    parameters' own scale and clipped in RMS. Update rule at step t (gamma = lr,
    tau = beta2_decay, d the clipping threshold, lambda = weight_decay)::

        G_t <- -G_t                                      if maximize
        beta2_t = 1 - t**tau                             (0 at t = 1, then -> 1)
        rho_t   = min(gamma, 1 / sqrt(t))                (relative step size)
        alpha_t = max(eps2, RMS(theta_{t-1})) * rho_t
        theta_{t-1} <- theta_{t-1} * (1 - gamma * lambda)
        R_t = beta2_t R_{t-1} + (1 - beta2_t) mean over columns of G_t**2   (m x 1)
        C_t = beta2_t C_{t-1} + (1 - beta2_t) mean over rows of G_t**2      (1 x n)
        V_t = R_t C_t / max(mean(R_t), eps1)             (rank one, m x n)
        U_t = G_t / sqrt(max(V_t, eps1**2))
        theta_t = theta_{t-1} - alpha_t * U_t / max(1, RMS(U_t) / d)

    A parameter of 0 or 1 dimensions keeps the full ``variance`` V_t = beta2_t V_{t-1}
    + (1 - beta2_t) G_t**2; one of more than 2 dimensions is factored over its last
    two, each leading index on its own (so R is (..., m, 1) and C (..., 1, n)).
    eps1 = None means the machine epsilon of the parameters' dtype.

    Reference: Shazeer & Stern (2018), "Adafactor: adaptive learning rates with
    sublinear memory cost", ICML (Algorithms 4 and 5 with update clipping and
    relative step size, beta1 = 0).

    Differences from the paper, all torch's: the paper's relative step size is
    min(1e-2, 1/sqrt(t)); torch uses lr in place of 1e-2 (the default lr is 1e-2,
    so the defaults agree) and as the coefficient of decoupled weight decay, which
    the paper does not have. The paper adds eps1 = 1e-30 to G**2 before averaging;
    torch leaves the factors alone and puts eps1 in the two max() above. Means
    replace the paper's sums (the ratio R C / sum(R) is the same). There is no
    first moment (the paper's beta1 = 0 default).

    The state keeps, for each parameter, ``row_var`` and ``col_var`` (2 or more dims)
    or ``variance`` (0 or 1 dims); the unused fields hold empty arrays, so the state
    of an m x n matrix has m + n numbers. Hyperparameters must be scalars: the rule
    reads whole arrays (RMS, means), so batched runs cannot share one array.
    """
    eps1, eps2 = eps
    given = dict(lr=lr, beta2_decay=beta2_decay, eps2=eps2, d=d, weight_decay=weight_decay)
    checks = [
        ("lr", _base.at_least_zero, "Learning rate should be >= 0 but is: {}"),
        ("beta2_decay", lambda x: x <= 0.0, "beta2_decay should be <= 0 but is: {}"),
    ]
    if eps1 is not None:
        given["eps1"] = eps1
        checks.append(("eps1", _base.at_least_zero, "epsilon1 should be >= 0 but is: {}"))
    checks += [
        ("eps2", _base.at_least_zero, "epsilon2 should be >= 0 but is: {}"),
        ("d", lambda x: 1.0 <= x, "Clipping threshold d should be >= 1 but is: {}"),
        ("weight_decay", _base.at_least_zero, "weight_decay should be >= 0 but is: {}"),
    ]
    args = _base.hyperparameters(given, checks)
    scalars_only("adafactor", args)
    args.setdefault("eps1", None)
    args["maximize"] = _base.flag("maximize", maximize)
    args["decoupled_weight_decay"] = True
    shown = {
        "lr": args["lr"],
        "beta2_decay": args["beta2_decay"],
        "eps": (args["eps1"], args["eps2"]),
        "d": args["d"],
        "weight_decay": args["weight_decay"],
        "maximize": args["maximize"],
    }
    buffers = {
        "row_var": lambda p: _factor(p, -1) if p.ndim > 1 else _empty(p),
        "col_var": lambda p: _factor(p, -2) if p.ndim > 1 else _empty(p),
        "variance": lambda p: _empty(p) if p.ndim > 1 else np.zeros_like(p),
    }
    return _base.make_optimizer(
        "adafactor", shown, args, AdafactorState, buffers, _adafactor_kernel, elementwise=False
    )


def _factor(param, axis):
    """Zeros of the parameter's shape with `axis` reduced to 1."""
    shape = list(param.shape)
    shape[axis] = 1
    return np.zeros(shape, dtype=param.dtype)


def _empty(param):
    return np.zeros(0, dtype=param.dtype)


def rms(array) -> float:
    """``||array|| / sqrt(size)``, torch's ``norm(2).item() / numel() ** 0.5``."""
    return float(np.linalg.norm(array.reshape(-1))) / (array.size**0.5)


def _adafactor_kernel(param, grad, state, args):
    if args["maximize"]:
        grad = np.negative(grad)
    step = float(args["step"])
    eps1 = np.finfo(param.dtype).eps if args["eps1"] is None else args["eps1"]
    weight = step ** args["beta2_decay"]  # 1 - beta2_t
    relative_step = min(args["lr"], 1 / (step**0.5))
    alpha = max(args["eps2"], rms(param)) * relative_step
    param = _base.decoupled_decay(param, args)
    new = dict(state)
    if param.ndim > 1:
        new["row_var"] = _average_square(state["row_var"], grad, -1, weight)
        new["col_var"] = _average_square(state["col_var"], grad, -2, weight)
        estimate = new["row_var"] * new["col_var"]
        estimate /= np.maximum(new["row_var"].mean(axis=-2, keepdims=True), eps1)
    else:
        new["variance"] = _base.lerp(
            state["variance"], grad * grad, weight, out=np.empty_like(grad)
        )
        estimate = new["variance"].copy()
    update = np.maximum(estimate, eps1 * eps1, out=estimate)
    np.sqrt(update, out=update)
    np.divide(1.0, update, out=update)
    update *= grad
    clipping = max(1.0, float(np.linalg.norm(update.reshape(-1))) / ((update.size**0.5) * args["d"]))
    update *= -alpha / clipping
    new["param"] = np.add(param, update, out=update)
    return new


def _average_square(factor, grad, axis, weight):
    """The running mean of grad**2 over `axis` (kept as size 1): torch's
    ``lerp(norm(grad, dim=axis)**2 / size)``."""
    mean_square = np.linalg.norm(grad, axis=axis, keepdims=True)
    np.square(mean_square, out=mean_square)
    mean_square /= grad.shape[axis]
    return _base.lerp(factor, mean_square, weight, out=np.empty_like(factor))


CATALOG = (
    Entry(
        factory="adafactor",
        family="C. The Adam family",
        rule=(
            r"\hat\beta_{2,t} = 1 - t^{\tau}, \quad \rho_t = \min(\eta, 1/\sqrt{t}), \quad "
            r"\alpha_t = \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1}))\,\rho_t",
            r"R_t = \hat\beta_{2,t} R_{t-1} + (1-\hat\beta_{2,t})\,\mathrm{mean}_{\mathrm{cols}}(g_t^2)",
            r"C_t = \hat\beta_{2,t} C_{t-1} + (1-\hat\beta_{2,t})\,\mathrm{mean}_{\mathrm{rows}}(g_t^2)",
            r"\hat V_t = R_t C_t / \max(\mathrm{mean}(R_t), \epsilon_1)",
            r"U_t = g_t / \sqrt{\max(\hat V_t, \epsilon_1^2)}",
            r"\theta_t = \theta_{t-1}(1 - \eta\lambda) - \alpha_t\, U_t / \max(1, \mathrm{RMS}(U_t)/d)",
        ),
        reference="torch.optim.Adafactor",
        paper="Shazeer & Stern (2018), Adafactor: Adaptive Learning Rates with Sublinear "
        "Memory Cost",
        year=2018,
        bibkey="shazeer2018adafactor",
        chapter="chapters/adafactor",
        flops="O(n)",
        notes=(
            "torch's lr replaces the paper's 1e-2 cap on the relative step size and "
            "multiplies a decoupled weight decay the paper does not have.",
            "eps1 enters two max() after the factors (torch), not added to g^2 before "
            "averaging (paper).",
            "No first moment (the paper's beta1 = 0 default); vectors keep a full "
            "second moment.",
        ),
    ),
)
