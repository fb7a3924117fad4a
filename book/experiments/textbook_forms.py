"""Momentum methods written the way their papers write them.

:func:`book.optim.sgd` follows ``torch.optim.SGD``, which stores a gradient sum
:math:`b` and evaluates every gradient at the point it returns. The papers write the
same methods with a velocity :math:`v` and, for Nesterov, a gradient taken at a
look-ahead point. This module runs those textbook forms so that a chapter can check,
step by step, that the two are one method in two sets of variables.

Polyak's heavy ball (1964):
    :math:`v_{t+1} = \\mu v_t - \\eta \\nabla f(x_t)`, :math:`x_{t+1} = x_t + v_{t+1}`.
    With :math:`v_t = -\\eta b_t` this is torch's
    :math:`b_{t+1} = \\mu b_t + \\nabla f(x_t)`, :math:`x_{t+1} = x_t - \\eta b_{t+1}`.

Nesterov's accelerated gradient, in the form of Sutskever et al. (2013):
    :math:`v_{t+1} = \\mu v_t - \\eta \\nabla f(x_t + \\mu v_t)`, :math:`x_{t+1} = x_t + v_{t+1}`.
    Torch's ``nesterov=True`` iterate is the look-ahead point
    :math:`p_t = x_t + \\mu v_t`, with :math:`b_t = -v_t/\\eta`:
    :math:`b_{t+1} = \\mu b_t + \\nabla f(p_t)`,
    :math:`p_{t+1} = p_t - \\eta(\\nabla f(p_t) + \\mu b_{t+1})`.
"""

import numpy as np

__all__ = ["heavy_ball_path", "nesterov_look_ahead_path"]


def _check(lr, momentum, steps):
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps}")


def heavy_ball_path(grad, x0, lr, momentum, steps):
    """Iterates :math:`x_0, \\dots, x_{steps}` and velocities of Polyak's heavy ball.

    ``grad`` maps points of shape ``(..., dim)`` to gradients of the same shape.
    Returns ``(path, velocities)``, each of shape ``(steps + 1, ..., dim)``; ``v_0 = 0``.
    """
    return _velocity_path(grad, x0, lr, momentum, steps, look_ahead=False)


def nesterov_look_ahead_path(grad, x0, lr, momentum, steps):
    """Iterates and velocities of Nesterov's method in the look-ahead (Sutskever) form.

    The gradient of each step is taken at :math:`x_t + \\mu v_t`. Returns
    ``(path, velocities)`` like :func:`heavy_ball_path`.
    """
    return _velocity_path(grad, x0, lr, momentum, steps, look_ahead=True)


def _velocity_path(grad, x0, lr, momentum, steps, look_ahead):
    _check(lr, momentum, steps)
    x = np.array(x0, dtype=float)
    v = np.zeros_like(x)
    path, velocities = [x], [v]
    for _ in range(steps):
        at = x + momentum * v if look_ahead else x
        v = momentum * v - lr * grad(at)
        x = x + v
        path.append(x)
        velocities.append(v)
    return np.stack(path), np.stack(velocities)
