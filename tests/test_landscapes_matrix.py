"""book.landscapes.matrix: gradients and Hessian-vector products against finite
differences, vectorisation, minima, and kappa of the Kronecker Hessian from its factors."""

import numpy as np
import pytest

from book import landscapes

FACTORIES = {
    "kronecker-rotated": lambda: landscapes.kronecker_quadratic(3, 5, kappa_rows=20, kappa_cols=5, seed=2,
                                                                 minimizer=np.arange(15.0).reshape(3, 5) / 10),
    "kronecker-axis-aligned": lambda: landscapes.kronecker_quadratic(4, 2, kappa_rows=3, kappa_cols=50, rotate=False),
    "least-squares": landscapes.least_squares_layer,
    "least-squares-plain": lambda: landscapes.least_squares_layer(n_samples=20, d_in=3, d_out=2, rotate=False,
                                                                   noise=1.0, seed=4),
    "factorization": landscapes.matrix_factorization,
    "factorization-underparametrised": lambda: landscapes.matrix_factorization(5, 4, rank=1, target_rank=3,
                                                                              kappa=4, seed=1),
}


@pytest.fixture(params=sorted(FACTORIES), scope="module")
def landscape(request):
    return FACTORIES[request.param]()


def random_params(landscape, batch=(), seed=0, scale=1.0):
    """Points around the default start, shaped like the parameters, with leading axes."""
    rng = np.random.default_rng(seed)
    start = landscape.flatten(landscape.default_start)
    return landscape.unflatten(start + scale * rng.normal(size=batch + start.shape))


def central_difference_gradient(landscape, params, h=1e-6):
    x = landscape.flatten(params)
    columns = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        columns.append((landscape.value(landscape.unflatten(x + e))
                        - landscape.value(landscape.unflatten(x - e))) / (2 * h))
    return np.array(columns)


def test_gradient_matches_finite_differences(landscape):
    for seed in range(4):
        params = random_params(landscape, seed=seed)
        fd = central_difference_gradient(landscape, params)
        exact = landscape.flatten(landscape.grad(params))
        scale = 1.0 + abs(landscape.value(params)) + np.abs(fd)
        assert np.all(np.abs(exact - fd) <= 1e-7 * scale), np.max(np.abs(exact - fd) / scale)


def test_hvp_matches_finite_differences_of_the_gradient(landscape):
    for seed in range(4):
        params = random_params(landscape, seed=seed)
        direction = random_params(landscape, seed=seed + 10)
        x, v, h = landscape.flatten(params), landscape.flatten(direction), 1e-6
        fd = (landscape.flatten(landscape.grad(landscape.unflatten(x + h * v)))
              - landscape.flatten(landscape.grad(landscape.unflatten(x - h * v)))) / (2 * h)
        exact = landscape.flatten(landscape.hvp(params, direction))
        scale = 1.0 + np.abs(landscape.flatten(landscape.grad(params))) + np.abs(fd)
        assert np.all(np.abs(exact - fd) <= 1e-7 * scale), np.max(np.abs(exact - fd) / scale)


def test_finite_difference_check_catches_a_small_error():
    bowl = landscapes.matrix_factorization()
    params = random_params(bowl)
    fd = central_difference_gradient(bowl, params)
    wrong = bowl.flatten(bowl.grad(params)) * 1.0001
    scale = 1.0 + abs(bowl.value(params)) + np.abs(fd)
    assert not np.all(np.abs(wrong - fd) <= 1e-7 * scale)


def test_hessian_is_symmetric_and_the_hvp_linear(landscape):
    params = random_params(landscape, seed=3)
    hessian = landscape.hessian(params)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-12, atol=1e-12 * np.abs(hessian).max())
    v = landscape.flatten(random_params(landscape, seed=4))
    np.testing.assert_allclose(hessian @ v, landscape.flatten(landscape.hvp(params, landscape.unflatten(v))),
                               rtol=1e-12, atol=1e-12 * np.abs(hessian).max() * np.abs(v).max())


def test_batches_give_the_same_as_point_by_point(landscape):
    params = random_params(landscape, batch=(3, 2), seed=5)
    direction = random_params(landscape, batch=(3, 2), seed=6)
    value, grad, hvp = landscape.value(params), landscape.grad(params), landscape.hvp(params, direction)
    assert value.shape == (3, 2)
    flat_grad, flat_hvp = landscape.flatten(grad), landscape.flatten(hvp)
    points, directions = landscape.flatten(params), landscape.flatten(direction)
    for index in np.ndindex(3, 2):
        point, along = landscape.unflatten(points[index]), landscape.unflatten(directions[index])
        np.testing.assert_allclose(value[index], landscape.value(point), rtol=1e-13)
        np.testing.assert_allclose(flat_grad[index], landscape.flatten(landscape.grad(point)), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(flat_hvp[index], landscape.flatten(landscape.hvp(point, along)),
                                   rtol=1e-12, atol=1e-12)
    assert np.shape(landscape.value(landscape.default_start)) == ()


def test_minimizer_is_a_minimum(landscape):
    minimizer = landscape.minimizer
    hessian = landscape.hessian(minimizer)
    scale = 1.0 + np.abs(hessian).max()
    np.testing.assert_allclose(landscape.flatten(landscape.grad(minimizer)), 0.0, atol=1e-12 * scale)
    np.testing.assert_allclose(landscape.value(minimizer), landscape.min_value, rtol=1e-12, atol=1e-12)
    eigenvalues = np.linalg.eigvalsh(hessian)
    assert eigenvalues[0] > -1e-10 * scale
    if np.isfinite(landscape.kappa):
        np.testing.assert_allclose(eigenvalues[-1] / eigenvalues[0], landscape.kappa, rtol=1e-9)
    else:  # a valley of minima: the Hessian there is singular
        assert abs(eigenvalues[0]) < 1e-10 * scale
    for seed in range(3):
        assert np.all(landscape.value(random_params(landscape, batch=(200,), seed=seed, scale=3.0))
                      >= landscape.min_value - 1e-12)


def test_kronecker_hessian_is_the_product_of_its_factors():
    bowl = landscapes.kronecker_quadratic(3, 4, kappa_rows=7, kappa_cols=30, seed=9)
    hessian = bowl.hessian(bowl.default_start)
    # Rows stacked (flatten): A kron B; its spectrum is every product a_i b_j.
    np.testing.assert_allclose(hessian, np.kron(bowl.A, bowl.B), rtol=1e-12, atol=1e-12 * np.abs(hessian).max())
    products = np.sort(np.outer(bowl.row_eigenvalues, bowl.col_eigenvalues).ravel())
    np.testing.assert_allclose(np.linalg.eigvalsh(hessian), products, rtol=1e-10)
    assert bowl.kappa == pytest.approx(7 * 30, rel=1e-12)
    # Unrotated, the Hessian is diagonal; rotated, it is not.
    plain = landscapes.kronecker_quadratic(3, 4, kappa_rows=7, kappa_cols=30, rotate=False)
    off_diagonal = lambda h: np.abs(h - np.diag(np.diag(h))).max()  # noqa: E731
    assert off_diagonal(plain.hessian(plain.default_start)) == 0.0
    assert off_diagonal(hessian) > 0.1


def test_least_squares_is_a_kronecker_quadratic_with_identity_on_the_columns():
    layer = landscapes.least_squares_layer(n_samples=40, d_in=4, d_out=3, feature_scale=30, seed=3)
    np.testing.assert_allclose(layer.minimizer, np.linalg.lstsq(layer.X, layer.Y, rcond=None)[0], rtol=1e-12)
    np.testing.assert_allclose(layer.hessian(layer.default_start), np.kron(layer.A, np.eye(3)), rtol=1e-12,
                               atol=1e-12 * np.abs(layer.A).max())
    eigenvalues = np.linalg.eigvalsh(layer.X.T @ layer.X)
    assert layer.kappa == pytest.approx(eigenvalues[-1] / eigenvalues[0], rel=1e-10)
    # Feature scales 1..30 make kappa of order 30^2.
    assert 100 < layer.kappa < 1e5


def test_factorization_minimum_is_eckart_young():
    """The best rank-r approximation's error is the tail of the singular values, and no
    gradient-free search from random starts goes below it."""
    bowl = landscapes.matrix_factorization(6, 5, rank=2, target_rank=4, kappa=8, seed=2)
    tail = np.linalg.svd(bowl.M, compute_uv=False)[2:]
    assert bowl.min_value == pytest.approx(0.5 * np.sum(tail**2), rel=1e-12)
    u, s, vt = np.linalg.svd(bowl.M)
    best = (u[:, :2] * s[:2]) @ vt[:2]
    np.testing.assert_allclose(bowl.minimizer["U"] @ bowl.minimizer["V"].T, best, atol=1e-12)
    # Balanced: U^T U = V^T V.
    np.testing.assert_allclose(bowl.minimizer["U"].T @ bowl.minimizer["U"],
                               bowl.minimizer["V"].T @ bowl.minimizer["V"], atol=1e-12)


def test_factorization_valley_is_invariant_under_invertible_mixing():
    bowl = landscapes.matrix_factorization()
    mix = np.array([[2.0, 1.0], [0.5, 3.0]])
    moved = {"U": bowl.minimizer["U"] @ mix, "V": bowl.minimizer["V"] @ np.linalg.inv(mix).T}
    assert bowl.value(moved) == pytest.approx(bowl.min_value, abs=1e-20)


def test_parameters_are_checked():
    bowl = landscapes.kronecker_quadratic(3, 4)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3, 4\)"):
        bowl.value(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="must be an array"):
        bowl.grad({"W": np.zeros((3, 4))})
    factor = landscapes.matrix_factorization()
    with pytest.raises(ValueError, match="keys"):
        factor.value({"U": factor.minimizer["U"]})
    with pytest.raises(ValueError, match="kappa_rows"):
        landscapes.kronecker_quadratic(kappa_rows=0.5)
    with pytest.raises(ValueError, match="rank"):
        landscapes.matrix_factorization(3, 3, rank=4)
    with pytest.raises(ValueError, match="n_samples"):
        landscapes.least_squares_layer(n_samples=3, d_in=5)


def test_parameters_plug_into_book_optim():
    """grad's structure is what optim.step takes: a few Adam steps lower every landscape."""
    from book import optim

    for make in FACTORIES.values():
        bowl = make()
        opt = optim.adam(lr=1e-2)
        params = bowl.default_start
        state = opt.init(params)
        for _ in range(20):
            params, state = opt.step(params, bowl.grad(params), state)
        assert bowl.value(params) < bowl.value(bowl.default_start)


def test_docstrings_state_the_math():
    for cls in (landscapes.KroneckerQuadratic, landscapes.MatrixFactorization, landscapes.LeastSquaresLayer):
        assert ":math:" in cls.__doc__
