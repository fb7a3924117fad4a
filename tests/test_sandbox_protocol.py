"""The sandbox's driver accepts from the student's process nothing but a well-formed run
record of the case it sent (autograder.runner.checked_record)."""

import numpy as np
import pytest

from autograder.cases import get_case
from autograder.diagnosis import SOLUTIONS
from autograder.execute import run_case
from autograder.runner import ProtocolError, checked_record

CASE = get_case("adam", "scalar")


@pytest.fixture(scope="module")
def record():
    return run_case("adam", CASE, SOLUTIONS["adam"])


def _changed(record, **changes):
    return {**{key: value.copy() if isinstance(value, np.ndarray) else value for key, value in record.items()},
            **changes}


def test_a_correct_record_is_rebuilt_unchanged(record):
    checked = checked_record(record, "adam", CASE)
    assert checked is not record and set(checked) == set(record)
    for name in ("theta", "m", "v"):
        np.testing.assert_array_equal(checked[name], record[name])


@pytest.mark.parametrize("forgery, why", [
    (lambda r: "not a record", "no outputs"),
    (lambda r: _changed(r, extra=1), "other fields"),
    (lambda r: _changed(r, theta=r["theta"][:, None]), "theta is malformed"),
    (lambda r: _changed(r, m=r["m"].astype(np.float32)), "m is malformed"),
    (lambda r: _changed(r, v=np.where(np.arange(len(r["v"]))[:, None] == 3, np.nan, r["v"])), "NaN"),
    (lambda r: _changed(r, theta=r["theta"][:5], m=r["m"][:5], v=r["v"][:5]), "length and error disagree"),
    (lambda r: _changed(r, error={"kind": "ended", "step": 1, "message": "x"}), "length and error disagree"),
    (lambda r: _changed(r, mutated={"step": 1, "inputs": ["fixtures"]}), "modified inputs"),
])
def test_anything_else_is_a_protocol_violation(record, forgery, why):
    with pytest.raises(ProtocolError, match=why):
        checked_record(forgery(record), "adam", CASE)


def test_long_messages_are_cut(record):
    stopped = _changed(record, theta=record["theta"][:2], m=record["m"][:2], v=record["v"][:2],
                       error={"kind": "exception", "step": 3, "message": "x" * 10**6})
    assert len(checked_record(stopped, "adam", CASE)["error"]["message"]) <= 2000
