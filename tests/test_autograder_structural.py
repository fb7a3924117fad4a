"""The structural diagnosis (autograder/structure.py): on mistakes outside the named catalogue
the feedback names the faulty line and what its error looks like; correct functions get
nothing; hostile outputs never make it raise.

``-s`` prints the measurement recorded in benchmarks/RESULTS.md.
"""

import functools
import json
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from autograder.cases import CASES, STATE_NAMES
from autograder.checks import check, judge, usable_records
from autograder.diagnosis import MISTAKES, SOLUTIONS, diagnose, format_diagnosis
from autograder.execute import run_submission
from autograder.reference import load_inputs
from autograder.report import REQUIRED_KEYS, feedback_html
from autograder.structure import NATURES, structural_diagnosis
from tests.autograder_solutions import valid_solutions
from tests.structural_mistakes import MISTAKES as UNCATALOGUED

ASSIGNMENTS = sorted(CASES)
#: Measured: 31 of 31 Adam and 29 of 30 AdaMax mistakes (benchmarks/RESULTS.md).
FLOOR = 0.9
#: Fragments of the correct update rules: a hint describes the student's line, never these.
FORMULA_FRAGMENTS = ("=", "np.", "beta1 * m", "beta2 * v", "beta2 * u", "(1 - beta1) * g", "(1 - beta2) * g",
                     "m_hat", "v_hat", "max(beta2")


@functools.cache
def outputs_of(assignment, name):
    return run_submission(assignment, UNCATALOGUED[assignment][name][0])


def named_rightly(assignment, name, findings) -> bool:
    """The findings name exactly the expected faulty lines, each with an accepted nature."""
    expected = UNCATALOGUED[assignment][name][1]
    found = {finding["quantity"]: finding["nature"] for finding in findings}
    return found.keys() == expected.keys() and all(found[q] in natures for q, natures in expected.items())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_set_is_outside_the_catalogue_and_large_enough(assignment):
    assert len(UNCATALOGUED[assignment]) >= 15
    for name in UNCATALOGUED[assignment]:
        outputs = outputs_of(assignment, name)
        assert not all(result.passed for result in judge(assignment, outputs)), name
        [entry] = diagnose(assignment, outputs)
        assert entry["mistake"] is None, f"{name} is catalogued as {entry['mistake']}"
    for natures in (natures for _, expected in UNCATALOGUED[assignment].values() for natures in expected.values()):
        assert natures <= set(NATURES)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_share_of_mistakes_whose_line_and_nature_are_named(assignment):
    inputs = load_inputs(assignment)
    results, seconds = {}, []
    for name in UNCATALOGUED[assignment]:
        outputs = outputs_of(assignment, name)
        start = time.perf_counter()
        structure = structural_diagnosis(assignment, usable_records(assignment, outputs), inputs, [])
        seconds.append(time.perf_counter() - start)
        results[name] = named_rightly(assignment, name, structure["findings"])
    share = sum(results.values()) / len(results)
    print(f"\n{assignment}: line and nature named for {sum(results.values())} of {len(results)} "
          f"uncatalogued mistakes ({share:.0%}); missed: {[n for n, ok in results.items() if not ok]}; "
          f"structural diagnosis {1e3 * np.mean(seconds):.0f} ms mean, {1e3 * max(seconds):.0f} ms max")
    assert share >= FLOOR, results


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_hint_reaches_the_feedback_page_and_the_test_message(assignment):
    name = "momentum_dropped"
    diagnosis = diagnose(assignment, outputs_of(assignment, name))
    hint = diagnosis[0]["hint"]
    assert hint.startswith("Your m is wrong from step 1") and "does not carry over its previous value" in hint
    assert hint in format_diagnosis(diagnosis)
    json.dumps(diagnosis, allow_nan=False)  # report.json's diagnosis
    report = {key: None for key in REQUIRED_KEYS} | {
        "student": "s1", "assignment": assignment, "score": 0, "max_score": 11, "tests": [],
        "diagnosis": diagnosis, "integrity": []}
    assert "does not carry over its previous value" in feedback_html(report)
    with pytest.raises(AssertionError, match="does not carry over its previous value"):
        check(assignment, "first_moment", UNCATALOGUED[assignment][name][0])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hints_never_state_the_correct_formula(assignment):
    for name in UNCATALOGUED[assignment]:
        hint = diagnose(assignment, outputs_of(assignment, name))[0]["hint"]
        assert hint and not any(fragment in hint for fragment in FORMULA_FRAGMENTS), (name, hint)
        assert len(hint) < 1000, name


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_consequences_are_told_apart_from_the_faulty_line(assignment):
    """m wrong makes the update differ from the reference, yet its line is right."""
    diagnosis = diagnose(assignment, outputs_of(assignment, "m_with_beta2"))
    assert [finding["quantity"] for finding in diagnosis[0]["findings"]] == ["m"]
    assert "Your update of theta is right given your other values" in diagnosis[0]["hint"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_correct_functions_have_no_faulty_line(assignment):
    inputs = load_inputs(assignment)
    for function in valid_solutions(assignment).values():
        outputs = run_submission(assignment, function)
        assert structural_diagnosis(assignment, usable_records(assignment, outputs), inputs, [])["findings"] == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_float32_theta_is_told_as_precision(assignment):
    """The right formula in float32 fails grading (a float32 theta rounds the small updates away)."""
    def in_float32(theta, grad, m, s, t, **hyper):
        as32 = [np.asarray(value, dtype=np.float32) for value in (theta, grad, m, s)]
        return tuple(np.asarray(value, dtype=np.float32) for value in SOLUTIONS[assignment](*as32, t, **hyper))
    diagnosis = diagnose(assignment, run_submission(assignment, in_float32))
    assert [(f["quantity"], f["nature"]) for f in diagnosis[0]["findings"]] == [("update", "precision")]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_catalogued_mistakes_keep_their_diagnosis(assignment):
    for name, mistake in MISTAKES[assignment].items():
        diagnosis = diagnose(assignment, run_submission(assignment, mistake.function))
        assert [entry["mistake"] for entry in diagnosis] == [name] and "hint" not in diagnosis[0]


# ---- hostile outputs: never raise, always plain data --------------------------------

@functools.cache
def correct_records(assignment):
    return run_submission(assignment, SOLUTIONS[assignment])["cases"]


VALUES = st.sampled_from([np.nan, np.inf, -np.inf, 1.7e308, -1.7e308, 0.0, 5e-324, -1.0, 1e-8])


@settings(max_examples=40, deadline=None)
@given(assignment=st.sampled_from(ASSIGNMENTS), quantity=st.sampled_from(["theta", "m", "second"]),
       value=VALUES, every=st.integers(1, 7), length=st.integers(0, 300))
@pytest.mark.filterwarnings("error")  # a warning would land on stderr and zero an nbgrader cell
def test_hostile_records_never_raise(assignment, quantity, value, every, length):
    name = STATE_NAMES[assignment][1] if quantity == "second" else quantity
    cases = {}
    for case, record in correct_records(assignment).items():
        forged = {key: array[:length].copy() for key, array in record.items() if isinstance(array, np.ndarray)}
        forged[name].reshape(-1)[::every] = value
        cases[case] = {**forged, "error": None, "mutated": None}
    outputs = {"assignment": assignment, "cases": cases}
    structure = structural_diagnosis(assignment, usable_records(assignment, outputs), load_inputs(assignment),
                                     ["update"])
    assert isinstance(structure["hint"], str)
    json.dumps(diagnose(assignment, outputs), allow_nan=False)
