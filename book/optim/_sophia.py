"""Sophia (SophiaH), as ``pytorch_optimizer.SophiaH``, with the Hessian estimate
supplied by the caller, and the Hutchinson estimator that makes one."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import _base
from ._catalog import Entry

Tree = np.ndarray | dict


class SophiaState(NamedTuple):
    step: int
    momentum: Tree
    hessian_moment: Tree
    hessian: Tree  # the last estimate the caller supplied (zeros before the first)


def hyperparameter_checks(*names: str) -> list[tuple]:
    """pytorch_optimizer's checks and messages for the named hyperparameters (it
    refuses ``x < 0``, so NaN passes, and betas outside [0, 1))."""
    checks = {
        "lr": (_base.not_negative, "learning rate must be positive. ({} > 0)"),
        "momentum": (_base.beta_range, "momentum must be in the range [0.0, 1.0)"),
        "beta1": (_base.beta_range, "beta1 must be in the range [0.0, 1.0)"),
        "beta2": (_base.beta_range, "beta2 must be in the range [0.0, 1.0)"),
        "weight_decay": (_base.not_negative, "weight_decay must be non-negative"),
        "p": (_base.not_negative, "p (gradient clip) must be non-negative"),
        "eps": (_base.not_negative, "eps must be non-negative"),
        "matrix_eps": (_base.not_negative, "matrix_eps must be non-negative"),
        "shampoo_beta": (_base.not_negative, "shampoo_beta must be non-negative"),
    }
    return [(name, *checks[name]) for name in names]


def step_count(name: str, value, message: str) -> int:
    """A positive integer option (a period, a frequency), checked as the reference does."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(message.format(value))
    return int(value)


def decay(param, grad, args):
    """pytorch_optimizer's weight decay: ``param * (1 - weight_decay * lr)``
    (``1 - weight_decay`` with fixed_decay) when decoupled, else
    ``grad + weight_decay * param``. Returns (param, grad)."""
    if not _base.is_active(args["weight_decay"]):
        return param, grad
    if args["weight_decouple"]:
        scale = 1.0 if args["fixed_decay"] else args["lr"]
        return param * (1.0 - args["weight_decay"] * scale), grad
    return param, grad + param * args["weight_decay"]


def sophia(
    lr=6e-2,
    betas=(0.96, 0.99),
    weight_decay=0.0,
    weight_decouple=True,
    fixed_decay=False,
    p=1e-2,
    update_period=10,
    eps=1e-12,
    maximize=False,
) -> _base.Optimizer:
    r"""Sophia with a Hutchinson Hessian estimate, as ``pytorch_optimizer.SophiaH``.

    ``step(params, grads, state, hessian=None)`` takes one extra argument: a
    diagonal Hessian estimate with the structure of params (an array or a dict of
    arrays of the same shapes), for example `hutchinson`'s. It is required at steps
    1, 1 + update_period, 1 + 2 update_period, ... (the steps where the reference
    estimates the Hessian itself); at any other step an estimate that is passed is
    used as well, as the reference does with ``step(hessian=...)``.

    Update rule at step t (gamma = lr, lambda = weight_decay, rho = p; m = momentum,
    h = hessian_moment, hat h_t the supplied estimate)::

        g_t <- -g_t                                   if maximize
        theta_{t-1} <- theta_{t-1} (1 - gamma lambda)   if weight_decouple
                     (1 - lambda with fixed_decay); else g_t <- g_t + lambda theta_{t-1}
        m_t = beta1 m_{t-1} + (1 - beta1) g_t
        h_t = beta2 h_{t-1} + (1 - beta2) hat h_t      if an estimate is supplied at t
        h_t = h_{t-1}                                   otherwise
        theta_t = theta_{t-1} - gamma clip(m_t / max(h_t, eps), -rho, rho)

    Reference: Liu, Li, Hall, Liang & Ma (2024), "Sophia: a scalable stochastic
    second-order optimizer for language model pre-training", ICLR.

    Differences from the paper (Algorithm 1), all the reference's:

    - The paper steps by ``eta clip(m / max(gamma_p h, eps_p), 1)``; this is the
      same rule with ``lr = eta / gamma_p``, ``p = gamma_p`` and
      ``eps = eps_p / gamma_p``, since clip(x / c, 1) = clip(x, c) / c.
    - The paper's main estimator is Gauss-Newton-Bartlett (GNB, resampled labels);
      SophiaH uses Hutchinson's ``z * (H z)``. Any estimate can be passed here.
    - Before the first estimate h is zero, so the first steps are ``lr * p *
      sign(m)`` whenever ``|m| > p eps``: clipping is the trust region.

    Differences from the reference: the reference estimates the Hessian itself from
    the autograd graph (``num_samples``, ``hessian_distribution``); here that is
    the caller's, through `hutchinson` (same options) or any other estimate, so that
    runs are reproducible from a seed. Its validation errors are ValueErrors with
    its texts (the reference raises its own exception classes for lr and
    update_period). No ``foreach`` (the reference's batched path does the same
    arithmetic).
    """
    beta1, beta2 = _base.betas_pair(betas)
    args = _base.hyperparameters(
        dict(lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, p=p, eps=eps),
        hyperparameter_checks("lr", "beta1", "beta2", "weight_decay", "p"),
    )
    period = step_count("update_period", update_period, "update_period must be positive. ({} > 0)")
    _base.require(args["eps"], eps, *hyperparameter_checks("eps")[0][1:])
    args.update(
        weight_decouple=_base.flag("weight_decouple", weight_decouple),
        fixed_decay=_base.flag("fixed_decay", fixed_decay),
        maximize=_base.flag("maximize", maximize),
    )
    shown = {
        "lr": args["lr"], "betas": (args["beta1"], args["beta2"]),
        "weight_decay": args["weight_decay"], "weight_decouple": args["weight_decouple"],
        "fixed_decay": args["fixed_decay"], "p": args["p"], "update_period": period,
        "eps": args["eps"], "maximize": args["maximize"],
    }
    moments = {"momentum": np.zeros_like, "hessian_moment": np.zeros_like}
    with_estimate = _base.make_optimizer(
        "sophia", shown, args, SophiaState, {**moments, "hessian": np.zeros_like},
        _sophia_kernel_with_estimate,
    )
    without_estimate = _base.make_optimizer(
        "sophia", shown, args, SophiaState, moments, _sophia_kernel,
    )

    def step(params, grads, state, hessian=None):
        if hessian is None:
            if isinstance(state, SophiaState) and state.step % period == 0:
                raise ValueError(
                    f"sophia needs a Hessian estimate at step {state.step + 1} (every "
                    f"{period} steps from step 1): pass hessian=, e.g. optim.hutchinson(...)"
                )
            return without_estimate.step(params, grads, state)
        if isinstance(state, SophiaState):
            keys, _ = _base.flatten(params, "params")
            _base.leaves_like(keys, hessian, "hessian")
            state = state._replace(hessian=hessian)
        return with_estimate.step(params, grads, state)

    return with_estimate._replace(step=step)


def _sophia_kernel_with_estimate(param, grad, state, out, args):
    np.copyto(out["hessian"], state["hessian"])
    _base.lerp(
        state["hessian_moment"], state["hessian"], 1 - args["beta2"], out=out["hessian_moment"]
    )
    _clipped_step(param, grad, state, out, args)


def _sophia_kernel(param, grad, state, out, args):
    np.copyto(out["hessian_moment"], state["hessian_moment"])
    _clipped_step(param, grad, state, out, args)


def _clipped_step(param, grad, state, out, args):
    """Momentum, then the step ``-lr clip(m / max(h, eps), -p, p)`` with the
    hessian_moment already in ``out``."""
    if args["maximize"]:
        grad = np.negative(grad)
    param, grad = decay(param, grad, args)
    momentum = _base.lerp(state["momentum"], grad, 1 - args["beta1"], out=out["momentum"])
    update = np.maximum(out["hessian_moment"], args["eps"], out=out["param"])
    np.divide(momentum, update, out=update)
    np.clip(update, -args["p"], args["p"], out=update)
    update *= -args["lr"]
    update += param
    return update


def hutchinson(
    hvp: Callable[[Tree], Tree],
    params: Tree,
    seed,
    num_samples: int = 1,
    distribution: str = "rademacher",
) -> Tree:
    r"""Hutchinson's estimate of the Hessian's diagonal, ``mean_k z_k * (H z_k)``.

    ``hvp(v)`` returns the Hessian-vector product ``H v`` for a direction ``v`` with
    the structure of params (a finite difference of gradients will do). ``z`` is
    Rademacher (entries +-1, pytorch_optimizer's ``'rademacher'``) or standard
    normal (``'gaussian'``, the reference's default), drawn from
    ``numpy.random.default_rng(seed)``, so one seed gives one estimate. Each sample
    is unbiased: ``E[z_i (H z)_i] = H_ii``; with Rademacher ``z`` its variance is
    ``sum_{j != i} H_ij**2``, zero for a diagonal H.
    """
    if distribution not in ("gaussian", "rademacher"):
        raise ValueError(
            f"hessian_distribution {distribution} must be one of ('gaussian' or 'rademacher')"
        )
    count = step_count("num_samples", num_samples, "num_samples must be positive. ({} > 0)")
    rng = np.random.default_rng(seed)
    keys, leaves = _base.flatten(params, "params")
    total = [np.zeros_like(leaf) for leaf in leaves]
    for _ in range(count):
        if distribution == "rademacher":
            z = [rng.integers(0, 2, size=leaf.shape) * 2.0 - 1.0 for leaf in leaves]
        else:
            z = [rng.standard_normal(leaf.shape) for leaf in leaves]
        products = _base.leaves_like(keys, hvp(_base.unflatten(keys, z)), "hvp(z)")
        for sum_, product, direction in zip(total, products, z):
            sum_ += product * direction
    return _base.unflatten(keys, [sum_ / count for sum_ in total])


CATALOG = (
    Entry(
        factory="sophia",
        family="F. Modern variants",
        rule=(
            r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t",
            r"h_t = \beta_2 h_{t-1} + (1-\beta_2)\, \hat h_t \quad (\hat h_t = z \odot Hz,"
            r"\ \text{every } k \text{ steps})",
            r"\theta_t = \theta_{t-1} - \eta\, \operatorname{clip}\!\left("
            r"\frac{m_t}{\max(h_t, \epsilon)}, -\rho, \rho\right)",
        ),
        reference="pytorch_optimizer.SophiaH",
        paper="Liu, Li, Hall, Liang & Ma (2024), Sophia: a scalable stochastic "
        "second-order optimizer for language model pre-training",
        year=2024,
        bibkey="liu2024sophia",
        chapter="chapters/sophia",
        flops="O(n) + one Hessian-vector product every k steps",
        notes=(
            "The Hessian estimate is the caller's (step(..., hessian=...), e.g. "
            "optim.hutchinson with a seed); the reference draws it from autograd.",
            "The paper's eta clip(m / max(gamma h, eps), 1) is this rule with "
            "lr = eta / gamma, p = gamma, eps = eps_paper / gamma.",
        ),
    ),
)
