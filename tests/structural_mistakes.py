"""Plausible student mistakes that the named catalogue does not hold, with the faulty line(s)
and the nature(s) a structural diagnosis should report (see autograder/structure.py).

``MISTAKES[assignment]``: ``name -> (function, {quantity: natures accepted})``.  Most lines
have one right description; where two are honest (``t`` off by one in one bias
correction is both a shift of one step and a factor that changes with t) both are.
"""

import numpy as np

from autograder.cases import DEFAULTS, FUNCTIONS


def _ewma(state, value, beta):
    return beta * state + (1 - beta) * value


def _adam_m(m, g, b1, b2, lr):
    return _ewma(m, g, b1)


def _adam_v(v, g, m, b1, b2, eps):
    return _ewma(v, g * g, b2)


def _adam_step(m, v, m_old, v_old, g, t, lr, b1, b2, eps):
    return lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)


def _adamax_u(u, g, m, b1, b2, eps):
    return np.maximum(b2 * u, np.abs(g) + eps)


def _adamax_step(m, u, m_old, u_old, g, t, lr, b1, b2, eps):
    return lr / (1 - b1**t) * m / u


RULES = {"adam": (_adam_m, _adam_v, _adam_step), "adamax": (_adam_m, _adamax_u, _adamax_step)}


def student(assignment, m_rule=None, s_rule=None, step_rule=None):
    """A function with the student signature whose three lines are the given rules (the
    correct ones by default): ``m_rule(m, g, b1, b2, lr)``, ``s_rule(s, g, new_m, b1, b2, eps)``,
    ``step_rule(new_m, new_s, m, s, g, t, lr, b1, b2, eps)``."""
    rules = [rule or correct for rule, correct in zip((m_rule, s_rule, step_rule), RULES[assignment])]
    defaults = DEFAULTS[assignment]

    def update(theta, grad, m, s, t, lr=defaults["lr"], beta1=defaults["beta1"], beta2=defaults["beta2"],
               eps=defaults["eps"]):
        new_m = rules[0](m, grad, beta1, beta2, lr)
        new_s = rules[1](s, grad, new_m, beta1, beta2, eps)
        return theta - rules[2](new_m, new_s, m, s, grad, t, lr, beta1, beta2, eps), new_m, new_s

    update.__name__ = FUNCTIONS[assignment]
    return update


def _adam(**rules):
    return student("adam", **rules)


def _adamax(**rules):
    return student("adamax", **rules)


def _adam_step_with(numerator, denominator):
    """Adam's step as lr * numerator(m, t, b1) / denominator(v, t, b2, eps)."""
    return lambda m, v, m_old, v_old, g, t, lr, b1, b2, eps: lr * numerator(m, t, b1) / denominator(v, t, b2, eps)


def _m_hat(m, t, b1):
    return m / (1 - b1**t)


def _root_v_hat(v, t, b2, eps):
    return np.sqrt(v / (1 - b2**t)) + eps


ADAM = {
    "bias_correction_power_on_beta": (
        _adam(step_rule=_adam_step_with(lambda m, t, b1: m / (1 - b1) ** t, _root_v_hat)), {"update": {"t_factor"}}),
    "bias_correction_squared": (
        _adam(step_rule=_adam_step_with(lambda m, t, b1: m / (1 - b1**t) ** 2, _root_v_hat)), {"update": {"t_factor"}}),
    "betas_swapped_in_bias_correction": (
        _adam(step_rule=lambda m, v, mo, vo, g, t, lr, b1, b2, eps: _adam_step(m, v, mo, vo, g, t, lr, b2, b1, eps)),
        {"update": {"t_factor"}}),
    "sqrt_missing_on_v_correction": (
        _adam(step_rule=_adam_step_with(_m_hat, lambda v, t, b2, eps: np.sqrt(v) / (1 - b2**t) + eps)),
        {"update": {"t_factor"}}),
    "t_zero_based_in_v_correction": (
        _adam(step_rule=_adam_step_with(_m_hat, lambda v, t, b2, eps: np.sqrt(v / (1 - b2 ** (t - 1))) + eps)),
        {"update": {"t_factor", "shift"}}),
    "momentum_dropped": (_adam(m_rule=lambda m, g, b1, b2, lr: g), {"m": {"missing_term"}}),
    "m_gradient_weight_missing": (_adam(m_rule=lambda m, g, b1, b2, lr: b1 * m + g), {"m": {"missing_term"}}),
    "m_gradient_sign": (_adam(m_rule=lambda m, g, b1, b2, lr: b1 * m - (1 - b1) * g), {"m": {"sign"}}),
    "m_with_beta2": (_adam(m_rule=lambda m, g, b1, b2, lr: _ewma(m, g, b2)), {"m": {"wrong_weight"}}),
    "v_with_beta1": (_adam(s_rule=lambda v, g, m, b1, b2, eps: _ewma(v, g * g, b1)), {"v": {"wrong_weight"}}),
    "v_not_decayed": (_adam(s_rule=lambda v, g, m, b1, b2, eps: v + (1 - b2) * g * g), {"v": {"wrong_weight"}}),
    "v_averages_m_squared": (_adam(s_rule=lambda v, g, m, b1, b2, eps: _ewma(v, m * m, b2)),
                             {"v": {"wrong_quantity"}}),
    "eps_stored_in_v": (_adam(s_rule=lambda v, g, m, b1, b2, eps: _ewma(v, g * g, b2) + eps), {"v": {"eps"}}),
    "step_from_old_state": (_adam(step_rule=lambda m, v, m_old, v_old, g, t, lr, b1, b2, eps:
                                  _adam_step(m_old, v_old, m, v, g, t, lr, b1, b2, eps)), {"update": {"shift"}}),
    "step_follows_gradient": (_adam(step_rule=lambda m, v, mo, vo, g, t, lr, b1, b2, eps:
                                    _adam_step(g, v, mo, vo, g, t, lr, b1, b2, eps)), {"update": {"wrong_quantity"}}),
    "eps_added_twice": (
        _adam(step_rule=_adam_step_with(_m_hat, lambda v, t, b2, eps: _root_v_hat(v, t, b2, eps) + eps)),
        {"update": {"eps"}}),
    "update_without_denominator": (_adam(step_rule=lambda m, v, mo, vo, g, t, lr, b1, b2, eps: lr * _m_hat(m, t, b1)),
                                   {"update": {"power"}}),
    "lr_applied_to_m": (
        _adam(m_rule=lambda m, g, b1, b2, lr: _ewma(m, lr * g, b1),
              step_rule=lambda m, v, mo, vo, g, t, lr, b1, b2, eps: _adam_step(m, v, mo, vo, g, t, 1.0, b1, b2, eps)),
        {"m": {"wrong_weight"}, "update": {"constant_factor"}}),
    # Written after the analysis was designed, as a check on it (see benchmarks/RESULTS.md).
    "v_correction_with_beta1": (
        _adam(step_rule=_adam_step_with(_m_hat, lambda v, t, b2, eps: np.sqrt(v / (1 - 0.9**t)) + eps)),
        {"update": {"t_factor"}}),
    "m_correction_t_plus_1": (_adam(step_rule=_adam_step_with(lambda m, t, b1: m / (1 - b1 ** (t + 1)), _root_v_hat)),
                              {"update": {"t_factor", "shift"}}),
    "lr_doubled": (_adam(step_rule=lambda m, v, mo, vo, g, t, lr, b1, b2, eps:
                         2 * _adam_step(m, v, mo, vo, g, t, lr, b1, b2, eps)), {"update": {"constant_factor"}}),
    "m_of_g_squared": (_adam(m_rule=lambda m, g, b1, b2, lr: _ewma(m, g * g, b1)), {"m": {"wrong_quantity"}}),
    "eps_hardcoded": (_adam(step_rule=lambda m, v, mo, vo, g, t, lr, b1, b2, eps:
                            _adam_step(m, v, mo, vo, g, t, lr, b1, b2, 1e-8)), {"update": {"eps"}}),
    "lr_hardcoded": (_adam(step_rule=lambda m, v, mo, vo, g, t, lr, b1, b2, eps:
                           _adam_step(m, v, mo, vo, g, t, 1e-3, b1, b2, eps)), {"update": {"constant_factor"}}),
    "beta1_hardcoded": (_adam(m_rule=lambda m, g, b1, b2, lr: _ewma(m, g, 0.9)), {"m": {"wrong_weight"}}),
    "v_of_abs_g_cubed": (_adam(s_rule=lambda v, g, m, b1, b2, eps: _ewma(v, np.abs(g) ** 3, b2)),
                         {"v": {"wrong_quantity"}}),
    "v_never_updated": (_adam(s_rule=lambda v, g, m, b1, b2, eps: v), {"v": {"missing_term"}}),
    # Written after the set above was measured, and not tuned on.
    "bias_correction_without_power": (_adam(step_rule=_adam_step_with(lambda m, t, b1: m / (1 - b1), _root_v_hat)),
                                      {"update": {"t_factor"}}),
    "eps_squared_inside_sqrt": (_adam(step_rule=_adam_step_with(_m_hat, lambda v, t, b2, eps:
                                                                np.sqrt(v / (1 - b2**t) + eps**2))), {"update": {"eps"}}),
    "m_decay_applied_to_both_terms": (_adam(m_rule=lambda m, g, b1, b2, lr: b1 * (m + (1 - b1) * g)),
                                      {"m": {"wrong_weight"}}),
    "update_scaled_by_one_minus_beta1": (_adam(step_rule=lambda m, v, mo, vo, g, t, lr, b1, b2, eps:
                                               (1 - b1) * _adam_step(m, v, mo, vo, g, t, lr, b1, b2, eps)),
                                         {"update": {"constant_factor"}}),
}

ADAMAX = {
    "bias_correction_power_on_beta": (
        _adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps: lr / (1 - b1) ** t * m / u),
        {"update": {"t_factor"}}),
    "bias_correction_squared": (
        _adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps: lr / (1 - b1**t) ** 2 * m / u),
        {"update": {"t_factor"}}),
    "bias_correction_with_beta2": (
        _adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps: lr / (1 - b2**t) * m / u),
        {"update": {"t_factor"}}),
    "momentum_dropped": (_adamax(m_rule=lambda m, g, b1, b2, lr: g), {"m": {"missing_term"}}),
    "m_gradient_weight_missing": (_adamax(m_rule=lambda m, g, b1, b2, lr: b1 * m + g), {"m": {"missing_term"}}),
    "m_gradient_sign": (_adamax(m_rule=lambda m, g, b1, b2, lr: b1 * m - (1 - b1) * g), {"m": {"sign"}}),
    "m_with_beta2": (_adamax(m_rule=lambda m, g, b1, b2, lr: _ewma(m, g, b2)), {"m": {"wrong_weight"}}),
    "max_without_decay": (_adamax(s_rule=lambda u, g, m, b1, b2, eps: np.maximum(u, np.abs(g) + eps)),
                          {"u": {"wrong_weight"}}),
    "u_decays_with_beta1": (_adamax(s_rule=lambda u, g, m, b1, b2, eps: np.maximum(b1 * u, np.abs(g) + eps)),
                            {"u": {"wrong_weight"}}),
    "u_without_max": (_adamax(s_rule=lambda u, g, m, b1, b2, eps: np.abs(g) + eps), {"u": {"missing_term"}}),
    "u_of_squared_gradient": (_adamax(s_rule=lambda u, g, m, b1, b2, eps: np.maximum(b2 * u, g * g + eps)),
                              {"u": {"wrong_quantity"}}),
    "abs_of_gradient_plus_eps": (_adamax(s_rule=lambda u, g, m, b1, b2, eps: np.maximum(b2 * u, np.abs(g + eps))),
                                 {"u": {"eps"}}),
    "step_from_old_m": (_adamax(step_rule=lambda m, u, m_old, uo, g, t, lr, b1, b2, eps:
                                _adamax_step(m_old, u, m, uo, g, t, lr, b1, b2, eps)), {"update": {"shift"}}),
    "step_follows_gradient": (_adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps:
                                      _adamax_step(g, u, mo, uo, g, t, lr, b1, b2, eps)),
                              {"update": {"wrong_quantity"}}),
    "eps_added_twice": (_adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps: lr / (1 - b1**t) * m / (u + eps)),
                        {"update": {"eps"}}),
    "sqrt_of_u": (_adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps:
                          lr / (1 - b1**t) * m / (np.sqrt(u) + eps)), {"update": {"power"}}),
    "lr_applied_to_m": (
        _adamax(m_rule=lambda m, g, b1, b2, lr: _ewma(m, lr * g, b1),
                step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps: _adamax_step(m, u, mo, uo, g, t, 1.0, b1, b2,
                                                                                   eps)),
        {"m": {"wrong_weight"}, "update": {"constant_factor"}}),
    # Written after the analysis was designed, as a check on it (see benchmarks/RESULTS.md).
    "decay_after_max": (_adamax(s_rule=lambda u, g, m, b1, b2, eps: b2 * np.maximum(u, np.abs(g) + eps)),
                        {"u": {"wrong_weight"}}),
    "lr_hardcoded": (_adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps:
                             _adamax_step(m, u, mo, uo, g, t, 2e-3, b1, b2, eps)), {"update": {"constant_factor"}}),
    "eps_hardcoded": (_adamax(s_rule=lambda u, g, m, b1, b2, eps: np.maximum(b2 * u, np.abs(g) + 1e-8)),
                      {"u": {"eps"}}),
    "beta2_hardcoded": (_adamax(s_rule=lambda u, g, m, b1, b2, eps: np.maximum(0.999 * u, np.abs(g) + eps)),
                        {"u": {"wrong_weight"}}),
    "u_of_abs_m": (_adamax(s_rule=lambda u, g, m, b1, b2, eps: np.maximum(b2 * u, np.abs(m) + eps)),
                   {"u": {"wrong_quantity"}}),
    "lr_halved": (_adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps:
                          0.5 * _adamax_step(m, u, mo, uo, g, t, lr, b1, b2, eps)), {"update": {"constant_factor"}}),
    "m_of_abs_g": (_adamax(m_rule=lambda m, g, b1, b2, lr: _ewma(m, np.abs(g), b1)), {"m": {"wrong_quantity"}}),
    "bias_correction_sqrt": (_adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps:
                                     lr / np.sqrt(1 - b1**t) * m / u), {"update": {"t_factor"}}),
    # Written after the set above was measured, and not tuned on.
    "bias_correction_without_power": (_adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps: lr / (1 - b1) * m / u),
                                      {"update": {"t_factor"}}),
    "eps_on_the_decayed_branch": (_adamax(s_rule=lambda u, g, m, b1, b2, eps: np.maximum(b2 * u + eps, np.abs(g))),
                                  {"u": {"eps"}}),
    "eps_added_to_the_corrected_denominator": (
        _adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps: lr * m / ((1 - b1**t) * u + eps)),
        {"update": {"eps"}}),
    "m_decay_applied_to_both_terms": (_adamax(m_rule=lambda m, g, b1, b2, lr: b1 * (m + (1 - b1) * g)),
                                      {"m": {"wrong_weight"}}),
    "update_scaled_by_one_minus_beta1": (_adamax(step_rule=lambda m, u, mo, uo, g, t, lr, b1, b2, eps:
                                                 (1 - b1) * _adamax_step(m, u, mo, uo, g, t, lr, b1, b2, eps)),
                                         {"update": {"constant_factor"}}),
}

MISTAKES = {"adam": ADAM, "adamax": ADAMAX}
