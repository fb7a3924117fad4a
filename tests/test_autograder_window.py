"""The tolerance window (DESIGN.md), measured on every fixture case:

    (largest difference of a valid reference) x 10 < TOLERANCE < (closest named mistake) / 10

Valid references: torch on the CPU in float64 (the fixtures are compared with a fresh
run in test_autograder_fixtures) and float32, the plain NumPy reference, algebraically
equal rewrites, ``book.optim``, and every GPU record in ``autograder/validation/``.
All distances use the grading error of ``autograder.checks``.
"""

import json

import pytest

from autograder.cases import CASES
from autograder.checks import TOLERANCE, trajectory_error
from autograder.diagnosis import mistake_distances
from autograder.execute import run_submission
from autograder.gpu import VALIDATION_DIR
from autograder.reference import load_fixtures, torch_record
from tests.autograder_solutions import valid_solutions


def valid_reference_errors(assignment):
    """(reference, case) -> grading error, for every valid reference of ``assignment``."""
    fixtures = load_fixtures(assignment)
    errors = {}
    for case in CASES[assignment]:
        for dtype in ("float32", "float64"):
            record = torch_record(assignment, case, "cpu", dtype)
            errors[f"torch cpu {dtype}", case.name] = trajectory_error(assignment, case.name, record, fixtures)
    for name, function in valid_solutions(assignment).items():
        for case_name, record in run_submission(assignment, function)["cases"].items():
            errors[name, case_name] = trajectory_error(assignment, case_name, record, fixtures)
    for path in sorted(VALIDATION_DIR.glob("*.json")):
        record = json.loads(path.read_text())
        for case_name, per_dtype in record["assignments"][assignment]["cases"].items():
            for dtype, entry in per_dtype.items():
                errors[f"{record['device']} {dtype}", case_name] = entry["grading_error"]
    return errors


@pytest.mark.parametrize("assignment", sorted(CASES))
def test_tolerance_window(assignment):
    errors = valid_reference_errors(assignment)
    assert {case for _, case in errors} == {case.name for case in CASES[assignment]}
    worst_reference = max(errors, key=errors.get)
    distances = mistake_distances(assignment)
    closest_mistake = min(distances, key=distances.get)
    assert 10 * errors[worst_reference] < TOLERANCE, (worst_reference, errors[worst_reference])
    assert TOLERANCE < distances[closest_mistake] / 10, (closest_mistake, distances[closest_mistake])


def test_gpu_records_hold_the_window():
    for path in sorted(VALIDATION_DIR.glob("*.json")):
        record = json.loads(path.read_text())
        assert record["tolerance"] == TOLERANCE, f"{path.name} was measured with another tolerance"
        assert all(entry["window_ok"] for entry in record["assignments"].values()), path.name
