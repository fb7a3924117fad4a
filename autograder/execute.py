"""Run a submitted update function on the fixture cases and record what it returns.

:func:`run_submission` runs in whatever process calls it (the nbgrader kernel, a test,
the student's process of a grading sandbox, see :mod:`autograder.runner`) and returns
plain data only.  Running a case needs NumPy, the case definitions and the case's
inputs, never torch nor the expected values.

Output format (``outputs``)::

    {"assignment": "adam" | "adamax",
     "cases": {<case name>: {
         "theta": float64 array (k, *shape),   # theta returned by steps 1..k
         "m":     float64 array (k, *shape),
         "v" | "u": float64 array (k, *shape),
         "error": None | {"kind": str, "step": int, "message": str},
         "mutated": None | {"step": int, "inputs": [str, ...]}}}}

``k`` is the number of steps completed: the case's ``steps``, or fewer when ``error``
says at which step the run stopped.  Error kinds: ``exception`` (the function raised),
``return_type`` (not a tuple/list of three), ``conversion`` (a value that is not a real
number array), ``shape`` (not the shape of theta), ``non_finite`` (NaN or inf), and in a
grading sandbox ``ended`` (the student's process ended or broke the protocol) and
``timeout`` (no answer within the time limit).
``mutated`` records the first step at which the function modified its arguments in
place; the run goes on (each call gets fresh copies).  The dict holds only dicts
with string keys, lists, strings, ints, None and float64 arrays, so it crosses a
process boundary as JSON with its arrays encoded (``autograder.wire``) or as ``.npz``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings

import numpy as np

from autograder.cases import CASES, FUNCTIONS, STATE_NAMES, Case, get_case

MESSAGE_LIMIT = 300
#: How a call of the student's function can fail ...
FUNCTION_ERROR_KINDS = ("exception", "return_type", "conversion", "shape", "non_finite")
#: ... and how a run in a grading sandbox can end besides.
ERROR_KINDS = (*FUNCTION_ERROR_KINDS, "ended", "timeout")


class _Discard(io.TextIOBase):
    """A text stream that drops what is written (prints inside the student's function)."""

    def write(self, text):
        return len(text)


@contextlib.contextmanager
def quiet():
    """Silence NumPy floating-point warnings and the function's own prints.

    Anything on stderr zeroes an nbgrader test cell, and a function printing at every
    step would flood the output.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings(), \
            contextlib.redirect_stdout(_Discard()), contextlib.redirect_stderr(_Discard()):
        warnings.simplefilter("ignore")
        yield


def _describe(value) -> str:
    """``str(value)`` shortened, even for objects whose ``__str__`` misbehaves."""
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a hostile __str__ must not crash grading
        text = "<unprintable>"
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "..."


def _type_name(value) -> str:
    return type(value).__name__


def as_float_array(name: str, value, shape: tuple[int, ...]) -> tuple[np.ndarray | None, dict | None]:
    """Convert one returned value defensively; return ``(array, None)`` or ``(None, error)``."""
    try:
        raw = np.array(value, copy=True)
        if raw.dtype.kind not in "iuf":
            return None, {"kind": "conversion",
                          "message": f"{name} is not a real number array (got {_type_name(value)} "
                                     f"converting to dtype {raw.dtype})"}
        array = np.array(raw, dtype=np.float64, copy=True)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is the submission's
        return None, {"kind": "conversion",
                      "message": f"{name} could not be converted to a float array "
                                 f"({_type_name(exc)}: {_describe(exc)})"}
    if array.shape != shape:
        return None, {"kind": "shape",
                      "message": f"{name} has shape {array.shape}, expected {shape} (the shape of theta)"}
    if not np.all(np.isfinite(array)):
        return None, {"kind": "non_finite", "message": f"{name} contains NaN or inf"}
    return array, None


def _unpack(result, names: tuple[str, str, str], function: str, shape) -> tuple[list | None, dict | None]:
    expected = f"a tuple ({', '.join(names)})"
    try:
        if not isinstance(result, (tuple, list)):
            return None, {"kind": "return_type",
                          "message": f"{function} must return {expected}; it returned {_type_name(result)}"}
        values = list(result)
    except Exception as exc:  # noqa: BLE001
        return None, {"kind": "return_type",
                      "message": f"{function}'s return value could not be read ({_type_name(exc)})"}
    if len(values) != len(names):
        return None, {"kind": "return_type",
                      "message": f"{function} must return {expected}; it returned a "
                                 f"{_type_name(result)} of length {len(values)}"}
    arrays = []
    for name, value in zip(names, values):
        array, error = as_float_array(name, value, shape)
        if error:
            return None, error
        arrays.append(array)
    return arrays, None


def _unchanged(before: np.ndarray, after: np.ndarray) -> bool:
    return before.shape == after.shape and before.tobytes() == after.tobytes()


def _well_formed_event(event, fields: dict) -> bool:
    return event is None or (isinstance(event, dict)
                             and all(isinstance(event.get(key), kind) for key, kind in fields.items()))


def record_problem(record, case, assignment: str) -> str | None:
    """Why a run record cannot be judged (malformed data from a child process), or None."""
    names = ("theta", *STATE_NAMES[assignment])
    if not isinstance(record, dict):
        return "no outputs were recorded"
    if not (_well_formed_event(record.get("error"), {"kind": str, "step": int, "message": str})
            and _well_formed_event(record.get("mutated"), {"step": int, "inputs": list})):
        return "the recorded error or mutation is malformed"
    for name in names:
        value = record.get(name)
        if (not isinstance(value, np.ndarray) or value.dtype != np.float64 or value.shape[1:] != case.shape
                or value.ndim != len(case.shape) + 1 or len(value) > case.steps):
            return f"the recorded {name} is malformed"
    if len({len(record[name]) for name in names}) != 1:
        return "the recorded arrays have different lengths"
    return None


def call_step(func, function: str, names: tuple[str, str, str], arguments: dict, step: int,
              hyper: dict) -> tuple[list | None, dict | None, list[str]]:
    """Call ``func`` once on copies of ``arguments``: ``(values, error, modified inputs)``.

    ``values`` are the three returned arrays as float64 (None on error); the names of
    the inputs that the call modified in place are listed whatever the result.
    """
    first, second = names[1:]
    passed = {name: array.copy() for name, array in arguments.items()}
    try:
        with quiet():
            result = func(passed["theta"], passed["grad"], passed[first], passed[second], step, **hyper)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the submission's failure, reported
        return None, {"kind": "exception", "message": f"{_type_name(exc)}: {_describe(exc)}"}, []
    changed = [name for name in arguments if not _unchanged(arguments[name], passed[name])]
    with quiet():
        values, error = _unpack(result, names, function, arguments["theta"].shape)
    return values, error, changed


def drive_case(assignment: str, case: Case, inputs: dict, call) -> dict:
    """Run ``case`` from ``inputs``, feeding the returned states back step after step.

    ``call(arguments, step, hyper)`` performs one step as :func:`call_step` does (the
    sandbox's driver passes one that reports why the run stopped).
    """
    first, second = STATE_NAMES[assignment]
    names = ("theta", first, second)
    current = {name: np.asarray(inputs[name], dtype=np.float64) for name in names}
    history = {name: [] for name in names}
    error, mutated = None, None
    for step, grad in enumerate(np.asarray(inputs["grads"], dtype=np.float64), start=1):
        arguments = {"theta": current["theta"], "grad": grad, first: current[first], second: current[second]}
        values, error, changed = call(arguments, step, case.hyper)
        if changed and mutated is None:
            mutated = {"step": step, "inputs": changed}
        if error is not None:
            error["step"] = step
            break
        current = dict(zip(names, values))
        for name in names:
            history[name].append(current[name])
    record = {name: np.array(history[name], dtype=np.float64).reshape(len(history[name]), *case.shape)
              for name in names}
    record.update(error=error, mutated=mutated)
    return record


def run_case(assignment: str, case: Case, func, inputs: dict | None = None) -> dict:
    """Run ``func`` through ``case`` in this process (inputs: the case's stored ones by default)."""
    if inputs is None:
        inputs = default_inputs(assignment)[case.name]
    names = ("theta", *STATE_NAMES[assignment])
    local = functools.partial(call_step, func, FUNCTIONS[assignment], names)
    return drive_case(assignment, case, inputs, local)


def default_inputs(assignment: str) -> dict:
    """The stored inputs of every case (the fixture files; never inside a grading sandbox)."""
    from autograder.reference import load_inputs

    return load_inputs(assignment)


def run_submission(assignment: str, func, inputs: dict | None = None, case_names=None) -> dict:
    """Run ``func`` on the cases of ``assignment`` (all, or ``case_names``); see the module doc.

    ``inputs`` maps case names to their starting point and gradients (default: the
    stored ones, see :func:`autograder.reference.load_inputs`).
    """
    cases = CASES[assignment] if case_names is None else [get_case(assignment, name) for name in case_names]
    inputs = default_inputs(assignment) if inputs is None else inputs
    return {"assignment": assignment,
            "cases": {case.name: run_case(assignment, case, func, inputs[case.name]) for case in cases}}
