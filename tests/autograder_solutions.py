"""Correct update functions that are written differently from the reference.

Each is algebraically equal to torch's rule, so the grader must accept all of them:
torch's own operation order, the Adam paper's step size folded with bias correction
(with eps scaled by sqrt(1 - beta2^t), which keeps it equal to torch's rule; the
paper's plain eps-hat form is not, and is a named mistake), in-place arithmetic on
copies, and ``book.optim`` driven one step at a time.
"""

import numpy as np

from autograder.cases import DEFAULTS
from autograder.diagnosis import SOLUTIONS

ADAM, ADAMAX = DEFAULTS["adam"], DEFAULTS["adamax"]


def adam_torch_order(theta, grad, m, v, t, lr=ADAM["lr"], beta1=ADAM["beta1"], beta2=ADAM["beta2"],
                     eps=ADAM["eps"]):
    m = m + (1 - beta1) * (grad - m)
    v = v * beta2 + (1 - beta2) * grad * grad
    denominator = np.sqrt(v) / np.sqrt(1 - beta2**t) + eps
    return theta - (lr / (1 - beta1**t)) * m / denominator, m, v


def adam_folded_step_size(theta, grad, m, v, t, lr=ADAM["lr"], beta1=ADAM["beta1"], beta2=ADAM["beta2"],
                          eps=ADAM["eps"]):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * np.square(grad)
    root_correction = np.sqrt(1 - beta2**t)
    step_size = lr * root_correction / (1 - beta1**t)
    return theta - step_size * m / (np.sqrt(v) + eps * root_correction), m, v


def adam_in_place_on_copies(theta, grad, m, v, t, lr=ADAM["lr"], beta1=ADAM["beta1"], beta2=ADAM["beta2"],
                            eps=ADAM["eps"]):
    theta, m, v = theta.copy(), m.copy(), v.copy()
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad**2
    theta -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return theta, m, v


def adamax_torch_order(theta, grad, m, u, t, lr=ADAMAX["lr"], beta1=ADAMAX["beta1"], beta2=ADAMAX["beta2"],
                       eps=ADAMAX["eps"]):
    m = m + (1 - beta1) * (grad - m)
    u = np.maximum(u * beta2, np.abs(grad) + eps)
    return theta - (lr / (1 - beta1**t)) * m / u, m, u


def adamax_in_place_on_copies(theta, grad, m, u, t, lr=ADAMAX["lr"], beta1=ADAMAX["beta1"],
                              beta2=ADAMAX["beta2"], eps=ADAMAX["eps"]):
    theta, m, u = theta.copy(), m.copy(), u.copy()
    m *= beta1
    m += (1 - beta1) * grad
    np.maximum(beta2 * u, np.abs(grad) + eps, out=u)
    theta -= m * (lr / ((1 - beta1**t) * u))
    return theta, m, u


def book_optim(assignment):
    """``book.optim``'s optimizer as a one-step student function (state rebuilt each call)."""
    from book import optim

    factory = getattr(optim, assignment)
    first, second = {"adam": ("exp_avg", "exp_avg_sq"), "adamax": ("exp_avg", "exp_inf")}[assignment]
    defaults = DEFAULTS[assignment]

    def update(theta, grad, m, state, t, lr=defaults["lr"], beta1=defaults["beta1"], beta2=defaults["beta2"],
               eps=defaults["eps"]):
        optimizer = factory(lr=lr, betas=(beta1, beta2), eps=eps)
        full_state = optimizer.init(theta)._replace(step=t - 1, **{first: m, second: state})
        theta, full_state = optimizer.step(theta, grad, full_state)
        return theta, getattr(full_state, first), getattr(full_state, second)

    return update


def valid_solutions(assignment):
    """Name -> correct function, for every correct formulation of ``assignment``."""
    written = {"adam": [adam_torch_order, adam_folded_step_size, adam_in_place_on_copies],
               "adamax": [adamax_torch_order, adamax_in_place_on_copies]}[assignment]
    solutions = {"numpy_reference": SOLUTIONS[assignment], "book_optim": book_optim(assignment)}
    solutions.update({function.__name__: function for function in written})
    return solutions
