"""The graded checks: which cases each test runs, how outputs are compared, the verdicts.

Comparison.  Each step's *update* ``theta_t - theta_{t-1}`` is compared, and both
states, never theta alone: theta is dominated by its starting value, so a wrong
update can hide in its last digits.  The error of an entry is

    |got - expected| / (|expected| + FLOOR * max over steps of |expected| at that entry)

so it is a relative error for entries of normal size, and an entry that passes
through zero (a first moment changing sign, an update next to a zero gradient) is
measured against the size it reaches in the case instead of its momentary value.
A quantity matches when every entry at every step is within :data:`TOLERANCE`.

Why ``TOLERANCE = 3e-3`` and ``FLOOR = 1e-3``: ``tests/test_autograder_window.py``
measures the window on every fixture case.  When the fixtures were made, valid
references (torch float64 on the CPU, torch float32 -- its updates read without a
float32 theta --, the plain NumPy reference, algebraically equal rewrites,
``book.optim``, and the GPU records in ``autograder/validation/``) stayed within
~3e-5 of the fixtures (float32; the float64 ones within ~1e-10), and the closest named
mistake of :mod:`autograder.diagnosis` (bias correction with t + 1) was ~0.46 away,
so the tolerance sits more than a factor 10 from both.  A smaller floor lets
float32's rounding of a first moment that nearly cancels exceed the tolerance; a
student computing in float32 therefore passes, as torch in float32 does.

:func:`judge` turns the outputs of :func:`autograder.execute.run_submission` into
report entries; :func:`check` is what an nbgrader hidden test cell calls.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from autograder.cases import CASES, FUNCTIONS, STATE_NAMES, get_case, lookup
from autograder.execute import record_problem, run_submission
from autograder.reference import load_fixtures, load_inputs

TOLERANCE = 3e-3
FLOOR = 1e-3


@dataclass(frozen=True)
class TestSpec:
    """A graded test: ``quantities`` compared on ``cases`` over their first ``steps`` steps.

    ``quantities`` empty means the test checks that the function is well formed
    (no error, no input modified) on the cases, whatever its values.
    """

    name: str
    points: int
    cases: tuple[str, ...]
    description: str
    quantities: tuple[str, ...] = ()
    steps: int | None = None

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class TestResult:
    """One entry of report.json's ``tests``."""

    name: str
    points: int
    max_points: int
    passed: bool
    message: str

    __test__ = False

    def as_dict(self) -> dict:
        return asdict(self)


def _tests(assignment: str) -> list[TestSpec]:
    first, second = STATE_NAMES[assignment]
    everything = ("update", first, second)
    all_cases = tuple(case.name for case in CASES[assignment])
    second_label = {"v": "second moment v (average of g^2)", "u": "infinity norm u (decayed max of |g| + eps)"}
    return [
        TestSpec("first_step", 1, all_cases, "the first update and states on every case", everything, steps=1),
        TestSpec("first_moment", 1, all_cases, "the first moment m at every step of every case", (first,)),
        TestSpec("second_moment" if second == "v" else "infinity_norm", 1, all_cases,
                 f"the {second_label[second]} at every step of every case", (second,)),
        TestSpec("long_run", 2, ("default_long",), "300 steps with the default hyperparameters", everything),
        TestSpec("tiny_gradients", 2, ("tiny_gradients",), "gradients around eps (eps placement)", everything),
        TestSpec("zero_gradients", 1, ("zeros",), "exact zero gradients", everything),
        TestSpec("hyperparameters_and_shapes", 2, ("scalar", "mixed_scales"),
                 "non-default lr, betas and eps on a (1,) and a 3-d array", everything),
        TestSpec("returns_new_arrays", 1, all_cases,
                 "returns three finite arrays of theta's shape and leaves its inputs unchanged"),
    ]


TESTS: dict[str, list[TestSpec]] = {assignment: _tests(assignment) for assignment in CASES}


def get_test(assignment: str, name: str) -> TestSpec:
    """The test called ``name`` of ``assignment``."""
    return lookup(TESTS, assignment, name, "test")


def entry_errors(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """The error of every entry (see the module doc); ``got`` may have fewer steps."""
    expected = expected[: len(got)]
    scale = np.abs(expected).max(axis=0, initial=0.0)
    with np.errstate(all="ignore"):
        errors = np.abs(got - expected) / (np.abs(expected) + FLOOR * scale)
    # 0/0: both exactly zero.
    return np.where(got == expected, 0.0, errors)


def quantity_series(record: dict, theta0: np.ndarray, quantity: str) -> np.ndarray:
    """The per-step series of ``quantity`` ("update" or a state) from a run record."""
    if quantity == "update":
        with np.errstate(all="ignore"):  # huge returned values must not warn on stderr
            return np.diff(np.concatenate([theta0[None], record["theta"]]), axis=0)
    return record[quantity]


@dataclass(frozen=True)
class Divergence:
    """Where a quantity first leaves the tolerance (``step`` is 1-based; None: never)."""

    quantity: str
    step: int | None
    error: float = 0.0
    index: tuple = ()
    got: float = 0.0
    expected: float = 0.0


def compare(got: dict, expected: dict, theta0: np.ndarray, quantities, steps=None) -> list[Divergence]:
    """Compare two run records (``expected`` may be a fixture) on their common steps."""
    result = []
    for quantity in quantities:
        mine = quantity_series(got, theta0, quantity)[:steps]
        theirs = quantity_series(expected, theta0, quantity)
        errors = entry_errors(mine, theirs)
        bad_steps = np.flatnonzero((errors > TOLERANCE).any(axis=tuple(range(1, errors.ndim))))
        if bad_steps.size == 0:
            result.append(Divergence(quantity, None))
            continue
        step = int(bad_steps[0])
        index = np.unravel_index(int(np.argmax(errors[step])), errors.shape[1:])
        result.append(Divergence(quantity, step + 1, float(errors[step][index]), tuple(int(i) for i in index),
                                 float(mine[step][index]), float(theirs[step][index])))
    return result


def fixture_record(assignment: str, case_name: str, fixtures: dict) -> dict:
    """The fixture trajectory of a case in run-record form (theta without theta0)."""
    names = STATE_NAMES[assignment]
    theta = fixtures[f"{case_name}/theta"]
    return {"theta0": theta[0], "theta": theta[1:], **{name: fixtures[f"{case_name}/{name}"] for name in names}}


def usable_records(assignment: str, outputs) -> dict:
    """The run records of ``outputs`` that can be judged, by case name (malformed ones left out)."""
    cases = outputs.get("cases") if isinstance(outputs, dict) else None
    if not isinstance(cases, dict):
        return {}
    known = {case.name: case for case in CASES[assignment]}
    return {name: record for name, record in cases.items()
            if name in known and not record_problem(record, known[name], assignment)}


def trajectory_error(assignment: str, case_name: str, record: dict, fixtures: dict) -> float:
    """The largest entry error of a run over all quantities and steps (inf if it stopped early)."""
    case = get_case(assignment, case_name)
    if record_problem(record, case, assignment) or record.get("error") or len(record["theta"]) < case.steps:
        return float("inf")
    reference = fixture_record(assignment, case_name, fixtures)
    return max(float(entry_errors(quantity_series(record, reference["theta0"], quantity),
                                  quantity_series(reference, reference["theta0"], quantity)).max())
               for quantity in ("update", *STATE_NAMES[assignment]))


def describe_case(case) -> str:
    """What a case is, said once per page: the failure messages name cases only."""
    return f"case {case.name!r}: {case.description}; shape {case.shape}, {case.steps} steps"


def _values_went_wrong_first(assignment: str, case, record, fixtures) -> bool:
    """Whether the run's values left the reference before the non-finite value that stopped
    it: that value is then a consequence of wrong values, which the value tests count."""
    error = record.get("error")
    if not error or error["kind"] != "non_finite":
        return False
    reference = fixture_record(assignment, case.name, fixtures)
    steps = [d.step for d in compare(record, reference, reference["theta0"], ("update", *STATE_NAMES[assignment]))
             if d.step is not None]
    return bool(steps) and min(steps) < error["step"]


def _judge_form(assignment: str, case, record, fixtures) -> str | None:
    """A form test's failure reason for one case (an error, a modified input), or None.

    The values are not this test's business: a NaN that wrong values led to fails the
    value tests only.
    """
    error, mutated = record.get("error"), record.get("mutated")
    if error and not _values_went_wrong_first(assignment, case, record, fixtures):
        return f"the run stopped at step {error['step']}: {error['message']}"
    if mutated:
        return (f"step {mutated['step']}: the function modified its input(s) "
                f"{', '.join(mutated['inputs'])} in place; it must return new arrays")
    return None


def _judge_case(spec: TestSpec, assignment: str, case, record, fixtures) -> str | None:
    """Why one case fails a test (without the case's name), or None when it passes."""
    problem = record_problem(record, case, assignment)
    if problem:
        return problem
    if not spec.quantities:
        return _judge_form(assignment, case, record, fixtures)
    error, completed = record.get("error"), len(record["theta"])
    needed = case.steps if spec.steps is None else min(spec.steps, case.steps)
    reference = fixture_record(assignment, case.name, fixtures)
    divergences = compare(record, reference, reference["theta0"], spec.quantities, needed)
    wrong = [d for d in divergences if d.step is not None]
    if not wrong and completed >= needed:
        return None
    parts = []
    if wrong:
        first = min(wrong, key=lambda d: d.step)
        index = f"[{', '.join(map(str, first.index))}]"
        parts.append(f"{first.quantity} differs from step {first.step} (relative error {first.error:.2g} > "
                     f"tolerance {TOLERANCE:g}; entry {index}: returned {first.got:.6g}, expected "
                     f"{first.expected:.6g})")
        parts += [f"{d.quantity} differs from step {d.step}" for d in wrong if d is not first]
    right = [d.quantity for d in divergences if d.step is None]
    if right and completed:
        parts.append(f"{' and '.join(right)} {'is' if len(right) == 1 else 'are'} correct"
                     + (f" up to step {completed}" if completed < needed else ""))
    if error and completed < needed:
        parts.append(f"the run stopped at step {error['step']}: {error['message']}")
    return "; ".join(parts)


def _failure_lines(failures: dict[str, str]) -> list[str]:
    """One line per failing case, or one line when every case failed for the same reason."""
    reasons = set(failures.values())
    if len(failures) > 1 and len(reasons) == 1:
        return [f"all {len(failures)} cases: {reasons.pop()}"]
    return [f"case {name!r}: {reason}" for name, reason in failures.items()]


def judge(assignment: str, outputs: dict, tests=None) -> list[TestResult]:
    """Verdicts of ``tests`` (default: all of the assignment's) on ``outputs``.

    A message names the failing cases; :func:`describe_case` says what each one is.
    """
    fixtures = load_fixtures(assignment)
    cases = outputs.get("cases", {}) if isinstance(outputs, dict) else {}
    results = []
    for spec in TESTS[assignment] if tests is None else tests:
        failures = {}
        for case_name in spec.cases:
            reason = _judge_case(spec, assignment, get_case(assignment, case_name), cases.get(case_name), fixtures)
            if reason:
                failures[case_name] = reason
        passed = not failures
        message = f"{spec.description}: " + ("passed" if passed else "\n  ".join(["failed",
                                                                                 *_failure_lines(failures)]))
        results.append(TestResult(spec.name, spec.points if passed else 0, spec.points, passed, message))
    return results


def first_call_failure(assignment: str, outputs) -> str | None:
    """The one thing to say when the function failed on its first call in every case the
    same way (the released stub, a forbidden import, a time-out), else None: the tests
    and a diagnosis would only repeat it."""
    records = usable_records(assignment, outputs).values()
    errors = [record.get("error") or {} for record in records]
    if not errors or any(error.get("step") != 1 for error in errors) \
            or len({error.get("message") for error in errors}) != 1:
        return None
    message, function = errors[0].get("message", ""), FUNCTIONS[assignment]
    if message.startswith("NotImplementedError"):
        return (f"{function} is not implemented yet: it still raises NotImplementedError "
                "(replace that line with your code)")
    if errors[0].get("kind") == "exception":
        return f"{function} failed on its first call in every case: {message}"
    return message


def check(assignment: str, test_name: str, func) -> None:
    """Run one graded test on ``func`` in this process; raise AssertionError if it fails.

    For nbgrader hidden test cells: prints nothing, and the message says which case
    and quantity differ from which step, and the likely mistake.
    """
    from autograder.diagnosis import diagnose, format_diagnosis  # it imports this module

    spec = get_test(assignment, test_name)
    if not callable(func):
        raise AssertionError(f"{FUNCTIONS[assignment]} is not a function (got {type(func).__name__})")
    outputs = run_submission(assignment, func, load_inputs(assignment), spec.cases)
    [result] = judge(assignment, outputs, [spec])
    if not result.passed:
        diagnosis = format_diagnosis(diagnose(assignment, outputs)) if spec.quantities else ""
        named = [describe_case(get_case(assignment, name)) for name in spec.cases if f"case {name!r}" in result.message]
        raise AssertionError("\n".join([f"{spec.name}: {result.message}", *named, *([diagnosis] if diagnosis else [])]))
