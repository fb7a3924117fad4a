"""Tests of book.experiments.preconditioning against closed forms."""

import numpy as np
import pytest

from book import landscapes, optim, runner
from book.experiments import preconditioning as pc


def random_spd(rng, d, kappa):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.geomspace(1.0, kappa, d)) @ q.T


@pytest.mark.parametrize("kappa", [1.0, 10.0, 1e3, 1e6])
@pytest.mark.parametrize("angle", [0.0, 0.3, np.pi / 4])
def test_newton_reaches_the_minimum_of_a_quadratic_in_one_step(kappa, angle):
    bowl = landscapes.quadratic(kappa=kappa, angle=angle, minimizer=[1.0, -2.0])
    x1 = pc.newton_step(bowl, bowl.default_start)
    # rounding of a solve with a matrix of condition number kappa
    np.testing.assert_allclose(x1, bowl.minimizer, rtol=0, atol=1e-14 * kappa * 10)


def test_newton_step_is_batched_and_matches_the_closed_form():
    rng = np.random.default_rng(0)
    A = random_spd(rng, 5, 100.0)
    bowl = landscapes.quadratic(eigenvalues=np.linalg.eigvalsh(A), rotation=np.linalg.eigh(A)[1])
    x = rng.standard_normal((3, 4, 5))
    np.testing.assert_allclose(pc.newton_step(bowl, x), np.zeros_like(x), atol=1e-12)
    logistic = landscapes.logistic_regression()
    w = np.array([0.3, -0.1])
    expected = w - np.linalg.inv(logistic.hessian(w)) @ logistic.grad(w)
    np.testing.assert_allclose(pc.newton_step(logistic, w), expected, rtol=1e-12)


def test_kappa_of_the_preconditioned_matrix():
    rng = np.random.default_rng(1)
    A = random_spd(rng, 6, 1e4)
    assert pc.condition_number(A) == pytest.approx(1e4, rel=1e-9)
    assert pc.preconditioned_kappa(A, np.eye(6)) == pytest.approx(1e4, rel=1e-9)
    assert pc.preconditioned_kappa(A, A) == pytest.approx(1.0, abs=1e-9)  # Newton
    root = (lambda w, v: (v * np.sqrt(w)) @ v.T)(*np.linalg.eigh(A))
    assert pc.preconditioned_kappa(A, root) == pytest.approx(100.0, rel=1e-8)  # P = A^(1/2)
    P = random_spd(rng, 6, 30.0)
    # P^(-1/2) A P^(-1/2) is similar to P^(-1) A: same eigenvalues
    mu = np.sort(np.linalg.eigvals(np.linalg.solve(P, A)).real)
    np.testing.assert_allclose(np.linalg.eigvalsh(pc.preconditioned_matrix(A, P)), mu, rtol=1e-9)
    # a diagonal matrix is cured exactly by Jacobi
    D = np.diag([1.0, 1e3, 1e6])
    assert pc.preconditioned_kappa(D, pc.jacobi(D)) == pytest.approx(1.0)


def test_invalid_matrices_are_refused():
    with pytest.raises(ValueError, match="symmetric"):
        pc.condition_number(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="positive definite"):
        pc.preconditioned_kappa(np.eye(2), -np.eye(2))
    with pytest.raises(ValueError, match="square"):
        pc.condition_number(np.ones(3))
    with pytest.raises(ValueError, match="d must be"):
        pc.full_matrix_cost(0)


ANGLES = np.radians([0, 5, 10, 15, 20, 25, 30, 35, 40, 45])


@pytest.mark.parametrize("kappa", [2.0, 10.0, 100.0, 1e4])
def test_jacobi_on_the_rotated_ravine_matches_its_closed_form_and_rises_to_kappa(kappa):
    measured = []
    for angle in ANGLES:
        A = landscapes.quadratic(kappa=kappa, angle=angle).matrix
        measured.append(pc.preconditioned_kappa(A, pc.jacobi(A)))
        # in 2-D Jacobi is the best diagonal preconditioner
        best = pc.best_diagonal_kappa(A)[0]
        assert measured[-1] * (1 - 1e-12) <= best <= measured[-1] * (1 + 1e-6)
    measured = np.array(measured)
    np.testing.assert_allclose(measured, pc.jacobi_kappa(kappa, ANGLES), rtol=1e-8)
    assert measured[0] == pytest.approx(1.0)
    assert measured[-1] == pytest.approx(kappa, rel=1e-8)  # 45 degrees: no help at all
    assert np.all(np.diff(measured) > 0)  # monotone in the angle
    # symmetric about 45 degrees
    np.testing.assert_allclose(pc.jacobi_kappa(kappa, np.pi / 2 - ANGLES), measured, rtol=1e-8)


def test_preconditioned_gd_is_gd_in_the_new_variables():
    bowl = landscapes.quadratic(kappa=100, angle=np.radians(30))
    rng = np.random.default_rng(2)
    for P in (np.eye(2), pc.jacobi(bowl.matrix), bowl.matrix, random_spd(rng, 2, 5.0)):
        lr = pc.best_lr(bowl.matrix, P)
        path = pc.preconditioned_gd(bowl, bowl.default_start, P, lr, 50)
        moved = pc.ChangeOfVariables(bowl, P)
        np.testing.assert_allclose(moved.hessian(moved.default_start), pc.preconditioned_matrix(bowl.matrix, P),
                                   rtol=1e-12, atol=1e-12)
        run = runner.trajectory(optim.sgd(lr=lr), moved, moved.default_start, 50)
        np.testing.assert_allclose(moved.to_x(run.path), path, rtol=0, atol=1e-12)
        np.testing.assert_allclose(moved.value(run.path), bowl.value(path), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(moved.to_x(moved.minimizers), bowl.minimizers, atol=1e-14)
    # P = A with lr 1 is Newton: one step
    path = pc.preconditioned_gd(bowl, bowl.default_start, bowl.matrix, 1.0, 1)
    np.testing.assert_allclose(path[1], bowl.minimizer, atol=1e-13)


def test_best_lr_gives_the_closed_form_rate():
    A = landscapes.quadratic(kappa=50, angle=0.4).matrix
    assert pc.best_lr(A) == pytest.approx(2 / 51)
    P = pc.jacobi(A)
    mu = np.linalg.eigvalsh(pc.preconditioned_matrix(A, P))
    assert pc.best_lr(A, P) == pytest.approx(2 / (mu[0] + mu[-1]))


def test_change_of_variables_of_the_logistic_regression_is_feature_scaling():
    logistic = landscapes.logistic_regression()
    scales = logistic.features.std(axis=0)
    moved = pc.ChangeOfVariables(logistic, np.diag(scales**2))
    y = np.array([[0.2, -1.0], [1.5, 0.3]])
    # the loss of a model on features / scales, with the same penalty on the original weights
    logits = y @ (logistic.features / scales).T
    w = y / scales
    expected = (np.mean(np.logaddexp(0, logits) - logistic.labels * logits, axis=-1)
                + 0.5 * logistic.l2 * np.sum(w * w, axis=-1))
    np.testing.assert_allclose(moved.value(y), expected, rtol=1e-12)
    np.testing.assert_allclose(moved.grad(y), logistic.grad(w) / scales, rtol=1e-12)
    H = logistic.hessian(w[0])
    np.testing.assert_allclose(moved.hessian(y[0]), H / np.outer(scales, scales), rtol=1e-12)
    (lo0, hi0), (lo1, hi1) = moved.plot_bounds
    assert lo0 < moved.minimizers[0, 0] < hi0 and lo1 < moved.minimizers[0, 1] < hi1


def test_full_matrix_cost_counts():
    cost = pc.full_matrix_cost(10**6)
    assert cost["full_bytes"] == 4 * 10**12
    assert cost["diagonal_bytes"] == 4 * 10**6
    assert cost["full_flops"] == 10**18 // 3 + 10**12
    assert cost["diagonal_flops"] == 10**6
    assert pc.full_matrix_cost(10, bytes_per_number=8)["full_bytes"] == 800


def test_inverse_sqrt_and_the_2d_search_domain():
    rng = np.random.default_rng(3)
    P = random_spd(rng, 4, 50.0)
    root = pc.inverse_sqrt(P)
    np.testing.assert_allclose(root @ P @ root, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(root, root.T)
    with pytest.raises(ValueError, match="2x2"):
        pc.best_diagonal_kappa(np.eye(3))
    with pytest.raises(ValueError, match="P must have shape"):
        pc.ChangeOfVariables(landscapes.quadratic(kappa=10), np.eye(3))
