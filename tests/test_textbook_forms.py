"""The paper forms of heavy ball and Nesterov against torch.optim.SGD's reformulation."""

import numpy as np
import pytest

from book.experiments.textbook_forms import heavy_ball_path, nesterov_look_ahead_path

torch = pytest.importorskip("torch")

A = np.array([[3.0, 1.0], [1.0, 0.5]])


def rosenbrock_grad(x):
    return np.stack([-2 * (1 - x[..., 0]) - 400 * x[..., 0] * (x[..., 1] - x[..., 0] ** 2),
                     200 * (x[..., 1] - x[..., 0] ** 2)], axis=-1)


def torch_sgd_path(grad, x0, lr, momentum, nesterov, steps):
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum, nesterov=nesterov, foreach=False)
    path = [p.detach().numpy().copy()]
    for _ in range(steps):
        p.grad = torch.from_numpy(grad(p.detach().numpy()))
        opt.step()
        path.append(p.detach().numpy().copy())
    return np.stack(path)


@pytest.mark.parametrize("grad, x0, lr", [(lambda x: x @ A, [1.0, -2.0], 0.3),
                                          (rosenbrock_grad, [-1.2, 1.0], 1e-3)])
@pytest.mark.parametrize("momentum", [0.5, 0.9])
def test_paper_forms_are_torch_sgd_up_to_a_change_of_variables(grad, x0, lr, momentum):
    steps = 200
    path, _ = heavy_ball_path(grad, x0, lr, momentum, steps)
    np.testing.assert_allclose(path, torch_sgd_path(grad, x0, lr, momentum, False, steps),
                               rtol=1e-10, atol=1e-12)
    path, velocities = nesterov_look_ahead_path(grad, x0, lr, momentum, steps)
    look_ahead = path + momentum * velocities
    np.testing.assert_allclose(look_ahead, torch_sgd_path(grad, x0, lr, momentum, True, steps),
                               rtol=1e-10, atol=1e-12)
    # The change of variables matters: the plain iterates are a different sequence.
    assert np.abs(path - look_ahead).max() > 1e-3


def test_zero_momentum_is_gradient_descent_in_both_forms():
    heavy, _ = heavy_ball_path(lambda x: x @ A, [1.0, 1.0], 0.1, 0.0, 5)
    nesterov, _ = nesterov_look_ahead_path(lambda x: x @ A, [1.0, 1.0], 0.1, 0.0, 5)
    np.testing.assert_array_equal(heavy, nesterov)
    np.testing.assert_allclose(heavy[1], [1.0, 1.0] - 0.1 * np.array([4.0, 1.5]))


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=0.0, momentum=0.9, steps=3), "lr must be positive"),
    (dict(lr=0.1, momentum=1.0, steps=3), r"momentum must lie in \[0, 1\)"),
    (dict(lr=0.1, momentum=0.9, steps=2.5), "steps must be a non-negative integer"),
])
def test_bad_input_is_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        heavy_ball_path(lambda x: x, [1.0], **kwargs)
