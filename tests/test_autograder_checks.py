"""The graded checks: correct rewrites pass, every named mistake fails and is named, and
broken submissions get clear messages and partial points instead of crashing the grader."""

import numpy as np
import pytest

from autograder.cases import CASES, DEFAULTS
from autograder.checks import TESTS, check, judge
from autograder.diagnosis import MISTAKES, SOLUTIONS, diagnose, format_diagnosis
from autograder.execute import run_submission
from autograder.reference import load_inputs
from tests.autograder_solutions import valid_solutions

ASSIGNMENTS = sorted(CASES)


def score(results):
    return sum(result.points for result in results)


def max_score(assignment):
    return sum(spec.points for spec in TESTS[assignment])


def messages(results):
    return "\n".join(result.message for result in results)


@pytest.mark.parametrize("assignment,name", [(a, name) for a in ASSIGNMENTS for name in valid_solutions(a)])
def test_correct_formulations_get_full_marks(assignment, name):
    outputs = run_submission(assignment, valid_solutions(assignment)[name])
    results = judge(assignment, outputs)
    assert all(result.passed for result in results), messages(results)
    assert score(results) == max_score(assignment)
    assert diagnose(assignment, outputs) == []


@pytest.mark.parametrize("assignment,name", [(a, name) for a in ASSIGNMENTS for name in MISTAKES[a]])
def test_every_mistake_fails_a_check_and_is_named(assignment, name):
    outputs = run_submission(assignment, MISTAKES[assignment][name].function)
    results = judge(assignment, outputs)
    assert not all(result.passed for result in results)
    assert score(results) < max_score(assignment)
    diagnosis = diagnose(assignment, outputs)
    assert [entry["mistake"] for entry in diagnosis] == [name]
    assert diagnosis[0]["first_divergence"]["step"] >= 1


def test_tests_and_points_are_as_documented():
    names = {assignment: [(spec.name, spec.points) for spec in specs] for assignment, specs in TESTS.items()}
    shared = [("first_step", 1), ("first_moment", 1), ("long_run", 2), ("tiny_gradients", 2),
              ("zero_gradients", 1), ("hyperparameters_and_shapes", 2), ("returns_new_arrays", 1)]
    assert names["adam"] == shared[:2] + [("second_moment", 1)] + shared[2:]
    assert names["adamax"] == shared[:2] + [("infinity_norm", 1)] + shared[2:]
    for assignment, specs in TESTS.items():
        known = {case.name for case in CASES[assignment]}
        assert all(set(spec.cases) <= known for spec in specs)


def test_cases_discriminate():
    for assignment, cases in CASES.items():
        grads = {name: inputs["grads"] for name, inputs in load_inputs(assignment).items()}
        assert max(case.steps for case in cases) >= 300
        assert all(case.steps >= 100 for case in cases)
        assert {len(case.shape) for case in cases} >= {1, 2, 3} and any(case.shape == (1,) for case in cases)
        assert np.abs(grads["tiny_gradients"]).max() <= 1e-7
        assert (grads["zeros"] == 0).mean() > 0.3 and (grads["zeros"][0] == 0).all()
        assert len({tuple(sorted(case.hyperparameters(assignment).items())) for case in cases}) >= 3
        assert any(not case.hyper for case in cases)  # defaults are exercised
        first = cases[0].generate_inputs(assignment)  # new fixtures are reproducible on one machine
        assert all(np.array_equal(first[key], value) for key, value in cases[0].generate_inputs(assignment).items())


# ---- broken submissions -------------------------------------------------------------

def _correct(assignment):
    return SOLUTIONS[assignment]


def raises_at_step_3(assignment):
    def update(theta, grad, m, s, t, **hyper):
        if t == 3:
            raise ValueError("operands could not be broadcast")
        return _correct(assignment)(theta, grad, m, s, t, **hyper)
    return update, ["ValueError: operands could not be broadcast", "step 3"]


def nan_from_step_5(assignment):
    def update(theta, grad, m, s, t, **hyper):
        theta, m, s = _correct(assignment)(theta, grad, m, s, t, **hyper)
        return (theta * np.nan if t >= 5 else theta), m, s
    return update, ["theta contains NaN or inf", "step 5"]


def wrong_shape(assignment):
    def update(theta, grad, m, s, t, **hyper):
        theta, m, s = _correct(assignment)(theta, grad, m, s, t, **hyper)
        return theta.reshape(1, -1), m, s
    return update, ["theta has shape", "expected"]


def mutates_inputs(assignment):
    def update(theta, grad, m, s, t, **hyper):
        new_theta, new_m, new_s = _correct(assignment)(theta, grad, m, s, t, **hyper)
        m[...] = new_m
        return new_theta, m, new_s
    return update, ["modified its input(s) m in place"]


def returns_two_values(assignment):
    def update(theta, grad, m, s, t, **hyper):
        return _correct(assignment)(theta, grad, m, s, t, **hyper)[:2]
    return update, ["must return a tuple (theta, m, ", "length 2"]


def returns_none(assignment):
    def update(theta, grad, m, s, t, **hyper):
        _correct(assignment)(theta, grad, m, s, t, **hyper)
    return update, ["returned NoneType"]


class _Liar:
    """Claims equality with everything and converts to zeros."""

    def __init__(self, shape):
        self.shape = shape

    def __eq__(self, other):
        return True

    __hash__ = None

    def __array__(self, dtype=None, copy=None):
        return np.zeros(self.shape)


def lying_object(assignment):
    def update(theta, grad, m, s, t, **hyper):
        theta, m, s = _correct(assignment)(theta, grad, m, s, t, **hyper)
        return _Liar(theta.shape), m, s
    return update, ["update differs from step 1"]


class _Unconvertible:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("no")


def unconvertible(assignment):
    def update(theta, grad, m, s, t, **hyper):
        return _Unconvertible(), m, s
    return update, ["theta could not be converted to a float array (RuntimeError: no)"]


def complex_result(assignment):
    def update(theta, grad, m, s, t, **hyper):
        theta, m, s = _correct(assignment)(theta, grad, m, s, t, **hyper)
        return theta + 0j, m, s
    return update, ["theta is not a real number array"]


class _HostileError(Exception):
    def __str__(self):
        raise RuntimeError("hostile")


def hostile_exception(assignment):
    def update(theta, grad, m, s, t, **hyper):
        raise _HostileError()
    return update, ["_HostileError: <unprintable>"]


def exits(assignment):
    def update(theta, grad, m, s, t, **hyper):
        raise SystemExit(3)
    return update, ["SystemExit: 3"]


def huge_values(assignment):
    def update(theta, grad, m, s, t, **hyper):
        theta, m, s = _correct(assignment)(theta, grad, m, s, t, **hyper)
        return theta + (-1.0) ** t * 1.7e308, m, s
    return update, ["update differs from step 1"]


BROKEN = [huge_values, raises_at_step_3, nan_from_step_5, wrong_shape, mutates_inputs, returns_two_values, returns_none,
          lying_object, unconvertible, complex_result, hostile_exception, exits]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.parametrize("make", BROKEN, ids=lambda make: make.__name__)
@pytest.mark.filterwarnings("error")
def test_broken_submissions_get_clear_messages(assignment, make):
    function, expected = make(assignment)
    outputs = run_submission(assignment, function)
    results = judge(assignment, outputs)
    text = messages(results)
    assert not all(result.passed for result in results)
    for fragment in expected:
        assert fragment in text
    assert "Traceback" not in text
    diagnosis = diagnose(assignment, outputs)
    if make is mutates_inputs:  # its values are right: nothing to diagnose
        assert diagnosis == []
    else:
        assert diagnosis and format_diagnosis(diagnosis)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_partial_points(assignment):
    late_error, _ = raises_at_step_3(assignment)
    results = {r.name: r for r in judge(assignment, run_submission(assignment, late_error))}
    assert results["first_step"].passed and score(results.values()) == 1
    mutating, _ = mutates_inputs(assignment)
    results = {r.name: r for r in judge(assignment, run_submission(assignment, mutating))}
    assert not results["returns_new_arrays"].passed
    assert score(results.values()) == max_score(assignment) - 1


def test_lists_of_right_values_are_accepted():
    def as_lists(theta, grad, m, v, t, **hyper):
        return [value.tolist() for value in SOLUTIONS["adam"](theta, grad, m, v, t, **hyper)]
    assert score(judge("adam", run_submission("adam", as_lists))) == max_score("adam")


def test_outputs_are_plain_data():
    def check_plain(value):
        if isinstance(value, dict):
            assert all(isinstance(key, str) for key in value)
            for item in value.values():
                check_plain(item)
        elif isinstance(value, list):
            for item in value:
                check_plain(item)
        elif isinstance(value, np.ndarray):
            assert value.dtype == np.float64
        else:
            assert value is None or type(value) in (str, int)
    mutating, _ = mutates_inputs("adam")
    check_plain(run_submission("adam", mutating))
    check_plain(run_submission("adamax", raises_at_step_3("adamax")[0]))


def test_malformed_outputs_are_judged_not_crashed():
    good = run_submission("adam", SOLUTIONS["adam"])
    cases = dict(good["cases"])
    cases["scalar"] = {**cases["scalar"], "m": np.zeros((3, 7))}
    cases["zeros"] = {**cases["zeros"], "error": {"kind": 1}}
    cases["mixed_scales"] = {**cases["mixed_scales"], "theta": np.float64(1.0)}
    cases["default_long"] = {**cases["default_long"], "m": cases["default_long"]["m"].astype(complex)}
    del cases["tiny_gradients"]
    results = {r.name: r for r in judge("adam", {"assignment": "adam", "cases": cases})}
    assert "the recorded m is malformed" in results["hyperparameters_and_shapes"].message
    assert "the recorded error or mutation is malformed" in results["zero_gradients"].message
    assert "no outputs were recorded" in results["tiny_gradients"].message
    assert "the recorded theta is malformed" in results["hyperparameters_and_shapes"].message
    assert "the recorded m is malformed" in results["long_run"].message
    assert results["returns_new_arrays"].message.count("malformed") == 4
    assert judge("adam", None)[0].passed is False
    assert diagnose("adam", None) == []
    assert diagnose("adam", {"assignment": "adam", "cases": cases}) == []  # the judgeable cases are right


# ---- check(), as nbgrader's hidden test cells call it ------------------------------

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_check_passes_silently(assignment, capfd):
    for spec in TESTS[assignment]:
        check(assignment, spec.name, SOLUTIONS[assignment])
    assert capfd.readouterr() == ("", "")


def test_check_explains_without_printing(capfd):
    with pytest.raises(AssertionError) as failure:
        check("adam", "second_moment", MISTAKES["adam"]["abs_grad_in_v"].function)
    message = str(failure.value)
    assert "v differs from step 1" in message
    assert "Likely mistake: v averages |g| instead of g^2" in message
    assert "m is correct" in message
    assert len(message) < 3000  # a diagnosis, not a dump of the expected trajectories
    with pytest.raises(AssertionError, match="update differs from step 1.*m and v are correct"):
        check("adam", "tiny_gradients", MISTAKES["adam"]["eps_inside_sqrt"].function)
    with pytest.raises(AssertionError, match="Likely mistake: eps left out"):
        check("adamax", "zero_gradients", MISTAKES["adamax"]["no_eps"].function)
    assert capfd.readouterr() == ("", "")


def test_check_silences_the_function_and_numpy(capfd):
    def noisy(theta, grad, m, v, t, lr=DEFAULTS["adam"]["lr"], **hyper):
        import sys
        print("step", t)
        print("debug", file=sys.stderr)
        np.log(np.zeros(1))  # a RuntimeWarning
        return SOLUTIONS["adam"](theta, grad, m, v, t, lr=lr, **hyper)
    check("adam", "first_step", noisy)
    assert capfd.readouterr() == ("", "")


def test_check_rejects_bad_arguments():
    with pytest.raises(AssertionError, match="adam_update is not a function"):
        check("adam", "first_step", None)
    with pytest.raises(ValueError, match="unknown test 'nope'"):
        check("adam", "nope", SOLUTIONS["adam"])
    with pytest.raises(ValueError, match="unknown assignment 'sgd'"):
        check("sgd", "first_step", SOLUTIONS["adam"])


# ---- whatever a submission returns, grading reports it and goes on -----------------

from hypothesis import given, settings, strategies as st  # noqa: E402

ARRAYS = st.one_of(
    st.none(), st.integers(), st.floats(), st.text(max_size=3),
    st.lists(st.floats(allow_nan=True), max_size=3),
    st.builds(np.full, st.sampled_from([(), (1,), (2,), (1, 1)]),
              st.sampled_from([0.0, np.nan, np.inf, 3e38]), dtype=st.sampled_from([np.float64, np.float32])),
)
RETURNS = st.one_of(ARRAYS, st.lists(ARRAYS, max_size=4), st.tuples(ARRAYS, ARRAYS, ARRAYS))


@settings(max_examples=60, deadline=None)
@given(returned=RETURNS)
@pytest.mark.filterwarnings("error")  # a warning would land on stderr and zero an nbgrader cell
def test_any_return_value_is_graded_without_crashing(returned):
    outputs = run_submission("adam", lambda *args, **hyper: returned, case_names=["scalar"])
    record = outputs["cases"]["scalar"]
    results = judge("adam", outputs, [spec for spec in TESTS["adam"] if "scalar" in spec.cases])
    assert not any(result.passed for result in results if result.name != "returns_new_arrays")
    assert all(result.message for result in results)
    if record["error"]:
        assert record["error"]["kind"] in ("return_type", "conversion", "shape", "non_finite")
    assert isinstance(diagnose("adam", outputs), list)
