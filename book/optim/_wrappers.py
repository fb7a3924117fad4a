"""Optimizers whose parameters are not the point they are judged at: Lookahead (slow
weights that follow any `book.optim` optimizer's fast ones) and Schedule-Free AdamW
(gradients taken at an interpolation y of an average x and a fast sequence z).

For both, `eval_params` gives the parameters to evaluate or deploy, as
``Lookahead``'s slow weights and ``AdamWScheduleFree.eval()`` give them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _base
from ._catalog import Entry

Tree = np.ndarray | dict

_PULLBACK = ("none", "reset", "pullback")


def _map(function, *trees):
    """`function` applied leaf by leaf to trees of the same structure."""
    keys, _ = _base.flatten(trees[0], "params")
    leaves = [_base.leaves_like(keys, tree, "params") for tree in trees]
    return _base.unflatten(keys, [function(*parts) for parts in zip(*leaves)])


def _lerp(start, end, weight):
    return _base.lerp(start, end, weight, np.empty_like(start))


# --- Lookahead -----------------------------------------------------------------------


class LookaheadState(NamedTuple):
    step: int
    inner: Any  # the wrapped optimizer's state
    slow_params: Tree
    slow_momentum: Tree | None  # None unless pullback_momentum == "pullback"


def lookahead(optimizer: _base.Optimizer, k=5, alpha=0.5, pullback_momentum="none"):
    r"""Lookahead around any `book.optim` optimizer, as ``pytorch_optimizer.Lookahead``.

    The inner optimizer moves the fast weights theta as usual; every k steps the slow
    weights phi move a fraction alpha of the way to them and the fast weights restart
    from there::

        theta_t = inner step of theta_{t-1}                         (Alg. 1)
        if t % k == 0:
            phi <- phi + alpha (theta_t - phi)                       (Alg. 1)
            theta_t <- phi                                          (Alg. 1)
            b <- 0                                    if pullback_momentum == "reset"
            b <- b + (1 - alpha) (b_slow - b); b_slow <- b    if "pullback"

    where b is the inner state's ``momentum_buffer`` (`sgd` with momentum). The state
    is the inner optimizer's state plus the slow weights (``slow_params``, phi_0 =
    theta_0); `eval_params` returns them, the weights the reference loads for
    evaluation.

    Reference: Zhang, Lucas, Hinton & Ba (2019), "Lookahead optimizer: k steps forward,
    1 step back", NeurIPS (Algorithm 1).

    Differences from the reference: pullback_momentum needs an inner state with a
    momentum_buffer (the reference writes one into any optimizer's state, where only
    SGD reads it). Differences from the paper: pullback_momentum is the reference's
    addition.
    """
    if not isinstance(optimizer, _base.Optimizer):
        raise TypeError(f"optimizer must be a book.optim optimizer, got {optimizer!r}")
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an integer, got {k!r}")
    if k <= 0:
        raise ValueError("k must be positive")
    alpha = _base.real("alpha", alpha)
    _base.require(alpha, alpha, _base.beta_range, "alpha must be in the range [0.0, 1.0)")
    if pullback_momentum not in _PULLBACK:
        raise ValueError(f"pullback_momentum {pullback_momentum} must be one of "
                         "('none' or 'reset' or 'pullback')")

    def init(params):
        inner = optimizer.init(params)
        if pullback_momentum != "none" and getattr(inner, "momentum_buffer", None) is None:
            raise ValueError(f"pullback_momentum={pullback_momentum!r} needs an optimizer "
                             "whose state has a momentum_buffer (sgd with momentum)")
        slow_momentum = None
        if pullback_momentum == "pullback":
            slow_momentum = _map(np.zeros_like, params)
        return LookaheadState(0, inner, _map(np.copy, params), slow_momentum)

    def step(params, grads, state):
        if not isinstance(state, LookaheadState):
            raise TypeError("state must be the LookaheadState returned by this "
                            f"optimizer's init or step, got {type(state).__name__}")
        params, inner = optimizer.step(params, grads, state.inner)
        count = state.step + 1
        if count % k:
            return params, state._replace(step=count, inner=inner)
        params = _map(lambda fast, slow: _lerp(fast, slow, 1.0 - alpha), params,
                      state.slow_params)
        slow_momentum = state.slow_momentum
        if pullback_momentum == "reset":
            inner = inner._replace(momentum_buffer=_map(np.zeros_like, params))
        elif pullback_momentum == "pullback":
            slow_momentum = _map(lambda fast, slow: _lerp(fast, slow, 1.0 - alpha),
                                 inner.momentum_buffer, slow_momentum)
            inner = inner._replace(momentum_buffer=slow_momentum)
        return params, LookaheadState(count, inner, params, slow_momentum)

    hyperparams = {"optimizer": optimizer, "k": k, "alpha": alpha,
                   "pullback_momentum": pullback_momentum}
    return _base.Optimizer("lookahead", hyperparams, init, step)


# --- Schedule-Free AdamW ---------------------------------------------------------------


class ScheduleFreeState(NamedTuple):
    step: int
    weight_sum: float  # sum of the averaging weights c so far, one value for all arrays
    lr_max: float  # the largest scheduled lr so far
    z: Tree
    exp_avg_sq: Tree


def schedule_free_adamw(
    lr=0.0025,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0,
    warmup_steps=0,
    r=0.0,
    weight_lr_power=2.0,
) -> _base.Optimizer:
    r"""Schedule-Free AdamW, as ``schedulefree.AdamWScheduleFree`` (the authors'
    package): no learning-rate schedule, an online average in its place.

    Three sequences: z takes AdamW-normalised gradient steps, x is a weighted average of
    the z's (the point to evaluate), and the gradient is taken at y, between them. The
    parameters `step` reads and returns are y; `eval_params` gives x. At step t
    (gamma = lr, lambda = weight_decay, v = exp_avg_sq)::

        gamma_t = gamma min(1, t / warmup_steps);  gamma_max = max_{i<=t} gamma_i
        c_t = t**r gamma_max**weight_lr_power / sum_{i<=t} i**r gamma_max,i**weight_lr_power
        v_t = beta2 v_{t-1} + (1 - beta2) g_t**2                  (Alg. 1)
        u_t = g_t / (sqrt(v_t / (1 - beta2**t)) + eps) + lambda y_{t-1}
        z_t = z_{t-1} - gamma_t u_t
        x_t = (1 - c_t) x_{t-1} + c_t z_t
        y_t = (1 - beta1) z_t + beta1 x_t

    The package stores y and z only and moves y without forming x:
    ``y <- y + c_t (z_{t-1} - y); y <- y + gamma_t (beta1 (1 - c_t) - 1) u_t``; x is
    recovered as ``x = y + (1 - 1/beta1)(z - y)``. This implementation does the same.
    z starts at the initial parameters, so x_0 = y_0 = z_0.

    Reference: Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky (2024), "The road
    less scheduled", NeurIPS (Algorithm 1, the AdamW form).

    Differences from the paper: none in the arithmetic; the warmup, the weights
    t**r gamma_max**weight_lr_power and the defaults (lr 0.0025, r 0,
    weight_lr_power 2) are the package's. The package has no
    maximize option and validates nothing; the messages here are torch's AdamW ones.
    """
    beta1, beta2 = _base.betas_pair(betas)
    args = _base.hyperparameters(
        dict(lr=lr, eps=eps, beta1=beta1, beta2=beta2, weight_decay=weight_decay, r=r,
             weight_lr_power=weight_lr_power),
        [("lr", _base.at_least_zero, "Invalid learning rate: {}"),
         ("eps", _base.at_least_zero, "Invalid epsilon value: {}"),
         ("beta1", lambda b: (0.0 < b) & (b < 1.0), "Invalid beta parameter at index 0: {}"),
         ("beta2", _base.beta_range, "Invalid beta parameter at index 1: {}"),
         ("weight_decay", _base.at_least_zero, "Invalid weight_decay value: {}"),
         ("r", _base.at_least_zero, "Invalid r value: {}"),
         ("weight_lr_power", _base.at_least_zero, "Invalid weight_lr_power value: {}")],
    )
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"Invalid warmup_steps value: {warmup_steps}")
    args["warmup_steps"] = warmup_steps

    def averaging_weight(state, step):
        """The package's per-step scalars: the warmed-up lr and the weight c_t of z_t
        in the average x_t."""
        scheduled_lr = args["lr"] * (step / warmup_steps if step <= warmup_steps else 1.0)
        lr_max = np.maximum(scheduled_lr, state.lr_max)
        weight = step ** args["r"] * lr_max ** args["weight_lr_power"]
        weight_sum = state.weight_sum + weight
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(weight_sum != 0, weight / weight_sum, 0.0)
        return ({"weight_sum": weight_sum, "lr_max": lr_max},
                {"scheduled_lr": scheduled_lr, "c": c[()]})

    shown = {"lr": args["lr"], "betas": (args["beta1"], args["beta2"]), "eps": args["eps"],
             "weight_decay": args["weight_decay"], "warmup_steps": warmup_steps,
             "r": args["r"], "weight_lr_power": args["weight_lr_power"]}
    return _base.make_optimizer(
        "schedule_free_adamw", shown, args, ScheduleFreeState,
        {"z": np.copy, "exp_avg_sq": np.zeros_like}, _schedule_free_kernel,
        schedule=averaging_weight, initial={"weight_sum": 0.0, "lr_max": -1.0},
    )


def _schedule_free_kernel(param, grad, state, out, args):
    lr, c = args["scheduled_lr"], args["c"]
    new_param = out["param"]
    exp_avg_sq = _base.add_square(state["exp_avg_sq"], grad, args["beta2"],
                                  out=out["exp_avg_sq"], scratch=new_param)
    denom = np.divide(exp_avg_sq, 1 - args["beta2"] ** args["step"])
    np.sqrt(denom, out=denom)
    denom += args["eps"]
    normalized = np.divide(grad, denom, out=denom)
    if args["l2_decay"]:  # the decay is evaluated at y and joins the normalised gradient
        normalized += args["weight_decay"] * param
    y = _base.lerp(param, state["z"], c, out=new_param)
    z_step = np.multiply(normalized, lr)
    np.subtract(state["z"], z_step, out=out["z"])
    y += np.multiply(normalized, lr * (args["beta1"] * (1 - c) - 1), out=z_step)


def eval_params(optimizer: _base.Optimizer, params, state):
    """The parameters to evaluate: Schedule-Free's average x, Lookahead's slow weights,
    and the parameters themselves for every other optimizer."""
    if isinstance(state, ScheduleFreeState):
        beta1 = optimizer.hyperparams["betas"][0]
        return _map(lambda y, z: _lerp(y, z, 1 - 1 / beta1), params, state.z)
    if isinstance(state, LookaheadState):
        return state.slow_params
    return params


CATALOG = (
    Entry(
        factory="lookahead",
        family="F. Modern variants",
        rule=(r"\theta_t = \text{inner step of } \theta_{t-1}",
              r"\text{every } k \text{ steps: } \phi \leftarrow \phi + \alpha(\theta_t - \phi), "
              r"\quad \theta_t \leftarrow \phi"),
        reference="pytorch_optimizer.Lookahead",
        paper="Zhang, Lucas, Hinton & Ba (2019), Lookahead optimizer: k steps forward, "
        "1 step back",
        year=2019,
        bibkey="zhang2019lookahead",
        chapter="chapters/adam-descendants",
        notes=(
            "Wraps any book.optim optimizer; the state is the inner state plus the slow "
            "weights, which eval_params returns.",
            "pullback_momentum (reset or pull back SGD's momentum_buffer) is the "
            "reference's option.",
        ),
    ),
    Entry(
        factory="schedule_free_adamw",
        family="F. Modern variants",
        rule=(r"v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad "
              r"u_t = \frac{g_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon} + \lambda y_{t-1}",
              r"z_t = z_{t-1} - \eta_t u_t",
              r"x_t = (1 - c_t) x_{t-1} + c_t z_t, \quad c_t = \frac{\eta_{max}^2}"
              r"{\sum_{i \le t} \eta_{max,i}^2}",
              r"y_t = (1-\beta_1) z_t + \beta_1 x_t"),
        reference="schedulefree.AdamWScheduleFree",
        paper="Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky (2024), The road less "
        "scheduled",
        year=2024,
        bibkey="defazio2024road",
        chapter="chapters/adam-descendants",
        notes=(
            "params are y, where gradients are taken; eval_params gives the average x.",
            "The package stores y and z and never forms x; so does this implementation.",
        ),
    ),
)
