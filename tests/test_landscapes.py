"""book.landscapes: derivatives against finite differences, vectorisation, minima, noise."""

import numpy as np
import pytest

from book import landscapes
from book.landscapes import logistic

# Every landscape and a non-default variant of the parametrised ones.
FACTORIES = {
    "quadratic-2d": lambda: landscapes.quadratic(kappa=30, angle=0.4, minimizer=[1.0, -2.0]),
    "quadratic-4d": lambda: landscapes.quadratic(
        eigenvalues=[1.0, 3.0, 10.0, 40.0], rotation=np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))[0]
    ),
    "noisy-quadratic": lambda: landscapes.noisy_quadratic(kappa=5, noise_std=0.5),
    "rosenbrock": landscapes.rosenbrock,
    "rosenbrock-a2": lambda: landscapes.rosenbrock(a=2.0, b=10.0),
    "beale": landscapes.beale,
    "saddle-quartic": landscapes.saddle,
    "saddle-quadratic": lambda: landscapes.saddle("quadratic"),
    "saddle-monkey": lambda: landscapes.saddle("monkey"),
    "himmelblau": landscapes.himmelblau,
    "logistic-2d": landscapes.logistic_regression,
    "logistic-5d": lambda: landscapes.logistic_regression(n_samples=60, n_features=5, l2=0.1, seed=3),
}


@pytest.fixture(params=sorted(FACTORIES), scope="module")
def landscape(request):
    return FACTORIES[request.param]()


def random_points(landscape, n=40, seed=0):
    """Points spread over the plotting window (2-D) or around the default start."""
    rng = np.random.default_rng(seed)
    if landscape.plot_bounds is not None:
        low, high = np.array(landscape.plot_bounds).T
        return rng.uniform(low, high, size=(n, landscape.dim))
    return landscape.default_start + rng.normal(scale=2.0, size=(n, landscape.dim))


def central_difference(function, x, h):
    """d function / d x_i for every i, stacked on a new last axis, x of shape (n, dim)."""
    columns = []
    for i in range(x.shape[-1]):
        step = np.zeros(x.shape[-1])
        step[i] = h
        columns.append((function(x + step) - function(x - step)) / (2 * h))
    return np.stack(columns, axis=-1)


def assert_close_to_fd(exact, fd, h, scale):
    """Central differences err by O(h^2 f''') + O(eps |f| / h); scale bounds both terms."""
    tolerance = 1e-7 * scale
    error = np.abs(exact - fd)
    assert np.all(error <= tolerance), f"max error {error.max():.3g} > {np.max(tolerance):.3g}"


def test_gradient_matches_finite_differences(landscape):
    x = random_points(landscape)
    h = 1e-6
    fd = central_difference(landscape.value, x, h)
    scale = 1.0 + np.abs(landscape.value(x))[:, None] + np.abs(fd)
    assert_close_to_fd(landscape.grad(x), fd, h, scale)


def test_hessian_matches_finite_differences_of_the_gradient(landscape):
    x = random_points(landscape)
    h = 1e-6
    # Column i of the Hessian is d grad / d x_i; FD stacks it last, i.e. (n, dim, dim)[..., i].
    fd = central_difference(landscape.grad, x, h)
    scale = 1.0 + np.abs(landscape.grad(x))[:, :, None] + np.abs(fd)
    hessian = landscape.hessian(x)
    assert_close_to_fd(hessian, fd, h, scale)
    np.testing.assert_array_equal(hessian, np.swapaxes(hessian, -1, -2))


def test_finite_difference_check_catches_a_small_error():
    # The tolerance above must be tight enough to see a gradient off by 0.01 %.
    bowl = landscapes.rosenbrock()
    x = random_points(bowl)
    fd = central_difference(bowl.value, x, 1e-6)
    scale = 1.0 + np.abs(bowl.value(x))[:, None] + np.abs(fd)
    with pytest.raises(AssertionError):
        assert_close_to_fd(bowl.grad(x) * 1.0001, fd, 1e-6, scale)


def test_batches_give_the_same_as_point_by_point(landscape):
    x = random_points(landscape, n=12).reshape(3, 4, landscape.dim)
    value, grad, hessian = landscape.value(x), landscape.grad(x), landscape.hessian(x)
    assert value.shape == (3, 4)
    assert grad.shape == (3, 4, landscape.dim)
    assert hessian.shape == (3, 4, landscape.dim, landscape.dim)
    for index in np.ndindex(3, 4):
        np.testing.assert_allclose(value[index], landscape.value(x[index]), rtol=1e-13)
        np.testing.assert_allclose(grad[index], landscape.grad(x[index]), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(hessian[index], landscape.hessian(x[index]), rtol=1e-13, atol=1e-13)
    assert np.shape(landscape.value(x[0, 0])) == ()


def test_known_minima_are_minima(landscape):
    minimizers = landscape.minimizers
    assert minimizers.ndim == 2 and minimizers.shape[1] == landscape.dim
    if len(minimizers) == 0:
        assert landscape.min_value == -np.inf
        return
    scale = 1.0 + np.abs(landscape.hessian(minimizers)).max()
    np.testing.assert_allclose(landscape.grad(minimizers), 0.0, atol=1e-12 * scale)
    np.testing.assert_allclose(landscape.value(minimizers), landscape.min_value, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(landscape.hessian(minimizers)) > 0)
    assert np.all(landscape.value(random_points(landscape, n=400, seed=7)) >= landscape.min_value)


def test_common_attributes(landscape):
    assert isinstance(landscape, landscapes.Landscape)
    assert isinstance(landscape.name, str) and landscape.name
    assert landscape.default_start.shape == (landscape.dim,)
    assert np.isfinite(landscape.value(landscape.default_start))
    assert landscape.__doc__ and ":math:" in landscape.__doc__
    if landscape.dim == 2:
        (xmin, xmax), (ymin, ymax) = landscape.plot_bounds
        assert xmin < landscape.default_start[0] < xmax and ymin < landscape.default_start[1] < ymax
        for mx, my in landscape.minimizers:
            assert xmin <= mx <= xmax and ymin <= my <= ymax


@pytest.mark.parametrize(
    "cls, source", [(landscapes.Rosenbrock, "1960"), (landscapes.Beale, "1958"), (landscapes.Himmelblau, "1972")]
)
def test_docstrings_cite_the_source(cls, source):
    assert source in cls.__doc__


def test_rosenbrock_known_values():
    banana = landscapes.rosenbrock(a=2.0, b=10.0)
    np.testing.assert_array_equal(banana.minimizers, [[2.0, 4.0]])
    # (a - x)^2 + b (y - x^2)^2 at (0, 1): 4 + 10.
    assert banana.value([0.0, 1.0]) == 14.0


def test_himmelblau_has_four_distinct_zeros():
    himmelblau = landscapes.himmelblau()
    assert len({tuple(np.round(m, 6)) for m in himmelblau.minimizers}) == 4
    np.testing.assert_allclose(himmelblau.value(himmelblau.minimizers), 0.0, atol=1e-24)


def test_saddles_have_a_saddle_point_at_the_origin():
    for kind in ("quartic", "quadratic"):
        saddle = landscapes.saddle(kind)
        np.testing.assert_array_equal(saddle.grad([0.0, 0.0]), [0.0, 0.0])
        curvatures = np.linalg.eigvalsh(saddle.hessian([0.0, 0.0]))
        assert curvatures[0] < 0 < curvatures[1]
    monkey = landscapes.saddle("monkey")
    np.testing.assert_array_equal(monkey.hessian([0.0, 0.0]), np.zeros((2, 2)))


# --- the quadratic ----------------------------------------------------------------


def test_quadratic_from_kappa():
    bowl = landscapes.quadratic(kappa=50.0, angle=0.7)
    np.testing.assert_allclose(bowl.eigenvalues, [1.0, 50.0])
    assert bowl.kappa == pytest.approx(50.0, rel=1e-14)
    np.testing.assert_allclose(np.linalg.eigvalsh(bowl.matrix), [1.0, 50.0], rtol=1e-13)
    # The eigenvectors are the columns of the rotation by `angle`.
    direction = np.array([np.cos(0.7), np.sin(0.7)])
    np.testing.assert_allclose(bowl.matrix @ direction, direction, atol=1e-13)
    assert bowl.value(direction) == pytest.approx(0.5)


def test_quadratic_from_eigenvalues_and_rotation():
    rotation = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]
    bowl = landscapes.quadratic(eigenvalues=[2.0, 0.5, 8.0], rotation=rotation, minimizer=[1.0, 2.0, 3.0])
    assert bowl.dim == 3 and bowl.kappa == pytest.approx(16.0)
    for eigenvalue, vector in zip([2.0, 0.5, 8.0], rotation.T):
        np.testing.assert_allclose(bowl.matrix @ vector, eigenvalue * vector, atol=1e-13)
    np.testing.assert_array_equal(bowl.minimizer, [1.0, 2.0, 3.0])
    x = np.array([0.3, -1.0, 2.0])
    d = x - bowl.minimizer
    assert bowl.value(x) == pytest.approx(0.5 * d @ bowl.matrix @ d, rel=1e-13)


def test_quadratic_kappa_in_higher_dimension_is_log_spaced():
    bowl = landscapes.quadratic(kappa=100.0, dim=3)
    np.testing.assert_allclose(bowl.eigenvalues, [1.0, 10.0, 100.0])


# --- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: landscapes.quadratic(kappa=0.5), "kappa must be"),
        (lambda: landscapes.quadratic(kappa=np.inf), "kappa must be"),
        (lambda: landscapes.quadratic(eigenvalues=[1.0, 2.0], kappa=3), "either eigenvalues or kappa"),
        (lambda: landscapes.quadratic(eigenvalues=[1.0, -2.0]), "positive"),
        (lambda: landscapes.quadratic(eigenvalues=[]), "non-empty"),
        (lambda: landscapes.quadratic(eigenvalues=[1.0, 2.0], dim=3), "dim=3"),
        (lambda: landscapes.quadratic(kappa=4, dim=3, angle=0.1), "2-D"),
        (lambda: landscapes.quadratic(kappa=4, rotation=[[1, 1], [0, 1]]), "orthogonal"),
        (lambda: landscapes.quadratic(kappa=4, rotation=np.eye(3)), "shape"),
        (lambda: landscapes.quadratic(kappa=4, minimizer=[1.0]), "minimizer"),
        (lambda: landscapes.noisy_quadratic(noise_std=-1.0), "noise_std"),
        (lambda: landscapes.noisy_quadratic(batch_size=0), "batch_size"),
        (lambda: landscapes.noisy_quadratic(batch_size=2.5), "batch_size"),
        (lambda: landscapes.noisy_quadratic(batch_size=np.inf), "batch_size"),
        (lambda: landscapes.rosenbrock(b=0), "b must be positive"),
        (lambda: landscapes.saddle("horse"), "kind must be one of"),
        (lambda: landscapes.logistic_regression(l2=0), "l2 must be positive"),
        (lambda: landscapes.logistic_regression(n_samples=0), "n_samples"),
        (lambda: landscapes.logistic_regression(n_features=2, feature_scales=[1.0]), "feature_scales"),
        (lambda: landscapes.logistic_regression(batch_size=[2, 3]), "single integer"),
    ],
)
def test_bad_construction_raises_a_clear_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("method", ["value", "grad", "hessian"])
@pytest.mark.parametrize("points", [np.zeros(3), np.zeros((4, 1)), 1.0, np.array(["a", "b"])])
def test_bad_points_raise_a_clear_error(method, points):
    with pytest.raises(ValueError, match=r"Rosenbrock: points must"):
        getattr(landscapes.rosenbrock(), method)(points)


def test_logistic_regression_refuses_several_batch_sizes_per_call():
    model = landscapes.logistic_regression()
    with pytest.raises(ValueError, match="single integer"):
        model.stochastic_grad(np.zeros((2, 2)), 0, np.array([1, 4]))


def test_logistic_regression_evaluates_long_batches_in_chunks(monkeypatch):
    model = landscapes.logistic_regression(n_samples=50)
    w = np.random.default_rng(4).normal(size=(7, 3, 2))
    whole = model.value(w), model.grad(w), model.hessian(w)
    monkeypatch.setattr(logistic, "LOGITS_PER_CHUNK", 200)  # 4 points per chunk
    for chunked, expected in zip((model.value(w), model.grad(w), model.hessian(w)), whole):
        assert chunked.shape == expected.shape
        np.testing.assert_allclose(chunked, expected, rtol=1e-14, atol=1e-16)


def test_integer_points_are_accepted():
    assert landscapes.rosenbrock().value([1, 1]) == 0.0


# --- stochastic gradients ---------------------------------------------------------

SAMPLES = 20_000
BATCH_SIZES = np.array([1, 4, 16])


def stochastic_samples(landscape, x, batch_size, seed=0):
    """SAMPLES independent minibatch gradients at x, shape (SAMPLES, dim)."""
    points = np.broadcast_to(x, (SAMPLES, landscape.dim))
    return landscape.stochastic_grad(points, np.random.default_rng(seed), batch_size)


def check_unbiased(samples, exact, per_sample_std):
    # The sample mean has standard error std/sqrt(n); 5 of them bound it safely.
    error = np.abs(samples.mean(axis=0) - exact)
    assert np.all(error <= 5 * per_sample_std / np.sqrt(len(samples))), error


def check_variance(samples, expected_variance):
    # Standard error of a sample variance: sqrt((m4 - s^4) / n), from the samples' own moments.
    centred = samples - samples.mean(axis=0)
    variance = np.mean(centred**2, axis=0)
    standard_error = np.sqrt((np.mean(centred**4, axis=0) - variance**2) / len(samples))
    assert np.all(np.abs(variance - expected_variance) <= 5 * standard_error), (variance, expected_variance)


def test_noisy_quadratic_matches_the_quadratic():
    noisy = landscapes.noisy_quadratic(kappa=20, angle=0.3, noise_std=2.0)
    exact = landscapes.quadratic(kappa=20, angle=0.3)
    x = random_points(exact)
    np.testing.assert_array_equal(noisy.value(x), exact.value(x))
    np.testing.assert_array_equal(noisy.grad(x), exact.grad(x))
    np.testing.assert_array_equal(noisy.hessian(x), exact.hessian(x))


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_noisy_quadratic_gradient_is_unbiased_with_variance_sigma2_over_b(batch_size):
    noisy = landscapes.noisy_quadratic(kappa=20, angle=0.3, noise_std=2.0)
    x = np.array([1.5, -0.5])
    samples = stochastic_samples(noisy, x, batch_size)
    check_unbiased(samples, noisy.grad(x), 2.0 / np.sqrt(batch_size))
    check_variance(samples, 4.0 / batch_size)


def test_noisy_quadratic_races_batch_sizes_in_one_call():
    noisy = landscapes.noisy_quadratic(kappa=4, noise_std=1.0)
    points = np.zeros((SAMPLES, len(BATCH_SIZES), 2))
    samples = noisy.stochastic_grad(points, np.random.default_rng(3), BATCH_SIZES)
    assert samples.shape == points.shape
    variance = samples.var(axis=0)
    np.testing.assert_allclose(variance * BATCH_SIZES[:, None], 1.0, rtol=5 * np.sqrt(2 / SAMPLES))


def test_logistic_regression_stochastic_gradient_is_unbiased_with_variance_over_b():
    model = landscapes.logistic_regression()
    w = np.array([0.3, -0.2])
    logits = model.features @ w
    per_example = (0.5 * (1 + np.tanh(0.5 * logits)) - model.labels)[:, None] * model.features + model.l2 * w
    np.testing.assert_allclose(per_example.mean(axis=0), model.grad(w), rtol=1e-12, atol=1e-15)
    population_variance = per_example.var(axis=0)  # sampling with replacement: Var / B exactly
    for batch_size in BATCH_SIZES:
        samples = stochastic_samples(model, w, int(batch_size), seed=int(batch_size))
        check_unbiased(samples, model.grad(w), np.sqrt(population_variance / batch_size))
        check_variance(samples, population_variance / batch_size)


def test_stochastic_gradients_are_seeded():
    for landscape in (landscapes.noisy_quadratic(), landscapes.logistic_regression()):
        x = np.zeros((5, 2))
        first = landscape.stochastic_grad(x, landscape.make_rng())
        np.testing.assert_array_equal(first, landscape.stochastic_grad(x, landscape.make_rng()))
        np.testing.assert_array_equal(first, landscape.stochastic_grad(x, landscape.seed))
        # Each point of a batch gets its own noise.
        assert not np.allclose(first[0], first[1])


def test_logistic_regression_dataset_is_seeded_and_ill_conditioned():
    model, again, other = (landscapes.logistic_regression(seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(model.features, again.features)
    assert not np.array_equal(model.features, other.features)
    curvatures = np.linalg.eigvalsh(model.hessian(model.minimizers[0]))
    assert curvatures[-1] / curvatures[0] > 10
