"""book.optim.shampoo and book.optim.soap against pytorch_optimizer 4.1.0 (float64).

How exact the comparison can be, measured (largest relative error over 200 steps):

- Shampoo, unit-normal gradients, every case: rtol 1e-10 against the reference as
  it is (with matrix_eps 1e-6 and momentum 0.9 it was 1.8e-9: the early factors are
  rank-deficient, condition number ~1e7, and the reference's momentum feeds the
  amplified rounding back, so that case runs with matrix_eps 1e-3).
- The stress gradients (entries from 1e-9 to 1e6) make the statistics too
  ill-conditioned for float64: condition numbers above 1e16 (matrix_eps 1e-6 against
  entries of 1e12), so their smallest eigenvalues are rounding noise. The reference
  itself moves by 9e-4 when its SVD is NumPy's instead of MKL's
  (test_shampoo_stress_is_beyond_float64). So on these gradients the reference runs
  with NumPy's linear algebra (matrix_optim_reference.numpy_linear_algebra: the
  decompositions and the products), and its own elementwise arithmetic: rtol 1e-10
  (measured 6e-13). Cases that feed an elementwise result back into the statistics
  (momentum, coupled weight decay) are left out of that set: torch's lerp and add
  round one last bit differently (fused multiply-add), and the conditioning turns
  that into 1e-7 .. 4e-2; they are compared on the unit gradients.
- SOAP on the stress gradients with NumPy's linear algebra in the reference: rtol
  1e-10, parameters and every state buffer (measured 3e-13). With torch's own, the
  two LAPACKs pick different bases inside repeated eigenvalues (the first GG_1 of a
  4 x 6 gradient has rank 4, a two-dimensional null space) and SOAP's update depends
  on that choice. Where eigenvalues are distinct (square full-rank gradients,
  vectors not rotated) the update is basis-invariant (eigenvector signs cancel) and
  matches the unmodified reference to 1e-10 until the first QR update, which runs in
  float32, and to 1e-6 after (test_soap_distinct_eigenvalues_need_no_shared_lapack).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import pytorch_optimizer
from matrix_optim_reference import (
    as_array,
    numpy_linear_algebra,
    numpy_run,
    reference_run,
    relative_error,
)
from optim_reference import gradient_sequence

from book import optim
from book.optim._kronecker import inverse_root

RTOL = 1e-10
STEPS = 200
SHAPES = {"weight": (4, 6), "bias": (5,), "square": (3, 3)}

SHAMPOO_CASES = [
    {},
    {"lr": 1e-2, "momentum": 0.9, "matrix_eps": 1e-3},
    {"momentum": 0.3, "maximize": True},
    {"weight_decay": 0.1},
    {"weight_decay": 0.1, "weight_decouple": True},
    {"weight_decay": 0.1, "weight_decouple": True, "fixed_decay": True},
    {"preconditioning_compute_steps": 5, "matrix_eps": 1e-3},
    {"matrix_eps": 0.5, "maximize": True},
]
# The cases whose statistics see the gradients as given (see the module docstring).
SHAMPOO_STRESS_CASES = [
    kwargs for kwargs in SHAMPOO_CASES
    if not kwargs.get("momentum") and kwargs.get("weight_decouple", not kwargs.get("weight_decay"))
]
SOAP_CASES = [
    {},
    {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-6},
    {"shampoo_beta": 0.5, "precondition_frequency": 3},
    {"precondition_frequency": 1},
    {"precondition_1d": True},
    {"max_precondition_dim": 4, "precondition_1d": True},
    {"correct_bias": False, "weight_decay": 0.0},
    {"normalize_gradient": True, "maximize": True},
]


def start_params(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {key: rng.normal(size=shape) for key, shape in SHAPES.items()}


def unit_gradients(shapes: dict, steps: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{k: rng.normal(size=s) for k, s in shapes.items()} for _ in range(steps)]


def case_id(kwargs: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"


def shampoo_error(kwargs: dict, stress: bool) -> float:
    """Ours against the reference: unit gradients with the reference as it is,
    stress gradients with NumPy's linear algebra in the reference."""
    params = start_params(seed=1)
    if not stress:
        grads = unit_gradients(SHAPES, STEPS, seed=2)
        expected, _ = reference_run(pytorch_optimizer.Shampoo, kwargs, params, grads)
    else:
        grads = gradient_sequence(SHAPES, STEPS, seed=3)
        with numpy_linear_algebra():
            expected, _ = reference_run(pytorch_optimizer.Shampoo, kwargs, params, grads)
    history, _ = numpy_run(optim.shampoo(**kwargs), params, grads)
    return relative_error(history, expected)


def soap_run(kwargs: dict):
    params = start_params(seed=4)
    grads = gradient_sequence(SHAPES, STEPS, seed=5)
    with numpy_linear_algebra():
        expected, ref_state = reference_run(pytorch_optimizer.SOAP, kwargs, params, grads)
    history, state = numpy_run(optim.soap(**kwargs), params, grads)
    return history, state, expected, ref_state


def soap_error(kwargs: dict) -> float:
    history, _, expected, _ = soap_run(kwargs)
    return relative_error(history, expected)


VERIFY = {
    "shampoo": lambda: max(
        max(shampoo_error(kwargs, stress=False) for kwargs in SHAMPOO_CASES),
        max(shampoo_error(kwargs, stress=True) for kwargs in SHAMPOO_STRESS_CASES),
    ),
    "soap": lambda: max(soap_error(kwargs) for kwargs in SOAP_CASES),
}
VERIFY_REFERENCE = {
    "shampoo": "pytorch_optimizer.Shampoo (stress gradients: with NumPy's linear algebra)",
    "soap": "pytorch_optimizer.SOAP (with NumPy's linear algebra)",
}


# --- Shampoo -------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", SHAMPOO_CASES, ids=case_id)
def test_shampoo_matches_reference(kwargs):
    assert shampoo_error(kwargs, stress=False) <= RTOL


@pytest.mark.parametrize("kwargs", SHAMPOO_STRESS_CASES, ids=case_id)
def test_shampoo_matches_reference_on_stress_gradients(kwargs):
    assert shampoo_error(kwargs, stress=True) <= RTOL


def test_shampoo_state_matches_reference():
    params = start_params(seed=1)
    grads = unit_gradients(SHAPES, 50, seed=2)
    kwargs = {"momentum": 0.5, "preconditioning_compute_steps": 3, "matrix_eps": 1e-3}
    _, ref_state = reference_run(pytorch_optimizer.Shampoo, kwargs, params, grads)
    _, state = numpy_run(optim.shampoo(**kwargs), params, grads)
    assert state.step == 50
    for key, fields in ref_state.items():
        for field, expected in fields.items():
            expected = as_array(expected)
            actual = getattr(state, field)[key]
            scale = np.max(np.abs(expected))
            np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale,
                                       err_msg=f"{key} {field}")
    assert state.pre_cond_1["bias"].shape == (0, 0)  # a vector has one side


def test_shampoo_stress_is_beyond_float64():
    """Why the stress comparison needs a shared LAPACK: the first step's statistics
    have a condition number above 1/eps, and the reference run with its own linear
    algebra and with NumPy's (two valid answers) differ far more than 1e-10."""
    params = start_params(seed=1)
    grads = gradient_sequence(SHAPES, 10, seed=3)
    _, state = numpy_run(optim.shampoo(), params, grads[:1])
    condition = max(np.linalg.cond(state.pre_cond_1[key]) for key in ("weight", "square"))
    assert condition > 1 / np.finfo(float).eps
    own, _ = reference_run(pytorch_optimizer.Shampoo, {}, params, grads)
    with numpy_linear_algebra():
        numpy_svd, _ = reference_run(pytorch_optimizer.Shampoo, {}, params, grads)
    assert relative_error(own, numpy_svd) > 1e-6


def test_shampoo_vector_is_full_matrix_adagrad():
    """A 1-D parameter: x_t = x_{t-1} - lr (eps I + sum g g^T)^(-1/2) g_t, the
    paper's full-matrix AdaGrad, written out here with an eigendecomposition."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=5)
    opt = optim.shampoo(lr=0.1, matrix_eps=1e-2)
    state = opt.init(x)
    expected, statistics = x.copy(), 1e-2 * np.eye(5)
    for _ in range(20):
        g = rng.normal(size=5)
        x, state = opt.step(x, g, state)
        statistics += np.outer(g, g)
        values, vectors = np.linalg.eigh(statistics)
        expected -= 0.1 * (vectors * values**-0.5) @ vectors.T @ g
        np.testing.assert_allclose(x, expected, rtol=1e-12)


def test_shampoo_matrix_follows_paper():
    """A matrix: W_t = W_{t-1} - lr L_t^(-1/4) G_t R_t^(-1/4) (Gupta et al., Alg. 1)."""
    rng = np.random.default_rng(7)
    w = rng.normal(size=(3, 4))
    opt = optim.shampoo(lr=0.1, matrix_eps=1e-2)
    state = opt.init(w)
    expected, left, right = w.copy(), 1e-2 * np.eye(3), 1e-2 * np.eye(4)
    for _ in range(20):
        g = rng.normal(size=(3, 4))
        w, state = opt.step(w, g, state)
        left, right = left + g @ g.T, right + g.T @ g
        expected -= 0.1 * root(left, -0.25) @ g @ root(right, -0.25)
        np.testing.assert_allclose(w, expected, rtol=1e-12)


def root(matrix, power):
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * values**power) @ vectors.T


def test_shampoo_waits_for_its_first_root():
    """Before step preconditioning_compute_steps the roots are zero: no movement."""
    w = np.ones((2, 3))
    opt = optim.shampoo(preconditioning_compute_steps=4)
    state = opt.init(w)
    for step in range(1, 5):
        new, state = opt.step(w, np.full((2, 3), 0.5), state)
        assert np.array_equal(new, w) == (step < 4)


def test_inverse_root_of_a_known_matrix():
    matrix = np.diag([16.0, 81.0])
    np.testing.assert_allclose(inverse_root(matrix, 4), np.diag([0.5, 1 / 3]), rtol=1e-14)


# --- SOAP ----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", SOAP_CASES, ids=case_id)
def test_soap_matches_reference(kwargs):
    history, state, expected, ref_state = soap_run(kwargs)
    assert relative_error(history, expected) <= RTOL
    for key, fields in ref_state.items():
        for name in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(getattr(state, name)[key], as_array(fields[name]),
                                       rtol=RTOL, atol=1e-300, err_msg=f"{key} {name}")
        for side in range(len(fields["GG"])):
            for name in ("GG", "Q"):
                expected_matrix = fields[name][side]
                actual = getattr(state, f"{name}_{side}")[key]
                if len(expected_matrix) == 0:
                    assert actual.size == 0
                    continue
                expected_matrix = as_array(expected_matrix)
                scale = np.max(np.abs(expected_matrix))
                np.testing.assert_allclose(actual, expected_matrix, rtol=RTOL,
                                           atol=RTOL * scale, err_msg=f"{key} {name}_{side}")


def test_soap_distinct_eigenvalues_need_no_shared_lapack():
    """Square, full-rank gradients: the eigenbasis is unique up to signs, which the
    update does not depend on. Against the reference with torch's own eigh and QR:
    1e-10 until the first QR update takes effect (step f + 2), then the float32 QR
    of two LAPACKs differ in float32's last bits."""
    shapes = {"square": (3, 3), "bias": (5,)}
    rng = np.random.default_rng(8)
    params = {k: rng.normal(size=s) for k, s in shapes.items()}
    grads = unit_gradients(shapes, 60, seed=9)
    expected, _ = reference_run(pytorch_optimizer.SOAP, {}, params, grads)
    history, _ = numpy_run(optim.soap(), params, grads)
    assert relative_error(history[:11], expected[:11]) <= RTOL
    assert relative_error(history, expected) <= 1e-6


def test_soap_ignores_eigenvector_signs():
    rng = np.random.default_rng(10)
    w = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) for _ in range(30)]
    opt = optim.soap(precondition_frequency=7)
    state = opt.init(w)
    for g in grads[:5]:
        w, state = opt.step(w, g, state)
    flipped = state._replace(Q_0=state.Q_0 * np.array([1.0, -1.0, 1.0, -1.0]),
                             Q_1=-state.Q_1)
    a, b = w, w
    for g in grads[5:]:
        a, state = opt.step(a, g, state)
        b, flipped = opt.step(b, g, flipped)
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_soap_vector_is_adam_after_a_skipped_step():
    """Without precondition_1d a vector is not rotated: with eps = 0 (where Adam's
    and SOAP's eps placements agree) SOAP from step 2 on is Adam on g_2, g_3, ..."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=6)
    grads = [rng.normal(size=6) for _ in range(40)]
    soap = optim.soap(lr=0.01, betas=(0.9, 0.99), eps=0.0, weight_decay=0.0)
    adam = optim.adam(lr=0.01, betas=(0.9, 0.99), eps=0.0)
    state = soap.init(x)
    ours, state = soap.step(x, grads[0], state)
    assert np.array_equal(ours, x) and state.Q_0.shape == (0, 0)
    reference, adam_state = x, adam.init(x)
    for g in grads[1:]:
        ours, state = soap.step(ours, g, state)
        reference, adam_state = adam.step(reference, g, adam_state)
        np.testing.assert_allclose(ours, reference, rtol=1e-12)


# --- both ----------------------------------------------------------------------------

INVALID = [
    ("Shampoo", "shampoo", {"lr": -1.0}),
    ("Shampoo", "shampoo", {"momentum": 1.0}),
    ("Shampoo", "shampoo", {"weight_decay": -0.1}),
    ("Shampoo", "shampoo", {"preconditioning_compute_steps": 0}),
    ("Shampoo", "shampoo", {"matrix_eps": -1e-6}),
    ("SOAP", "soap", {"lr": -0.5}),
    ("SOAP", "soap", {"betas": (1.0, 0.9)}),
    ("SOAP", "soap", {"betas": (0.9, -0.1)}),
    ("SOAP", "soap", {"shampoo_beta": -0.5}),
    ("SOAP", "soap", {"weight_decay": -1.0}),
    ("SOAP", "soap", {"precondition_frequency": 0}),
    ("SOAP", "soap", {"max_precondition_dim": 0}),
    ("SOAP", "soap", {"eps": -1e-8}),
]


@pytest.mark.parametrize("reference, name, kwargs", INVALID,
                         ids=[f"{n}-{case_id(k)}" for _, n, k in INVALID])
def test_validation_messages_are_the_references(reference, name, kwargs):
    import torch

    with pytest.raises(Exception) as expected:
        getattr(pytorch_optimizer, reference)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as ours:
        getattr(optim, name)(**kwargs)
    assert str(ours.value) == str(expected.value)


@pytest.mark.parametrize("reference, name", [("Shampoo", "shampoo"), ("SOAP", "soap")])
def test_options_are_the_references(reference, name):
    """Same names and defaults; SOAP leaves out merge_dims and data_format."""
    theirs = inspect.signature(getattr(pytorch_optimizer, reference).__init__).parameters
    ours = inspect.signature(getattr(optim, name)).parameters
    left_out = {"self", "params", "kwargs", "merge_dims", "data_format"}
    assert set(ours) == set(theirs) - left_out
    for option, parameter in ours.items():
        assert parameter.default == theirs[option].default, option


@pytest.mark.parametrize("name", ["shampoo", "soap"])
def test_refuses_what_it_does_not_precondition(name):
    with pytest.raises(ValueError, match="1-D and 2-D parameters"):
        getattr(optim, name)().init({"kernel": np.zeros((2, 3, 4))})
    with pytest.raises(TypeError, match="hyperparameters are scalars"):
        getattr(optim, name)(lr=np.array([1e-3, 1e-2]))


@pytest.mark.parametrize("name", ["shampoo", "soap"])
def test_step_is_pure(name):
    params = start_params(seed=12)
    grads = unit_gradients(SHAPES, 3, seed=13)
    opt = getattr(optim, name)(momentum=0.5) if name == "shampoo" else optim.soap()
    state = opt.init(params)
    for g in grads:
        copies = {k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in g.items()}
        state_copy = [{k: v.copy() for k, v in field.items()}
                      for field in state[1:]]
        new, new_state = opt.step(params, g, state)
        for before, after in zip(copies, (params, g)):
            assert all(np.array_equal(before[k], after[k]) for k in before)
        for before, after in zip(state_copy, state[1:]):
            assert all(np.array_equal(before[k], after[k]) for k in before)
        params, state = new, new_state
