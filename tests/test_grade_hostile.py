"""Hostile and broken submissions graded in one run with correct ones.

Each must be contained (the run finishes, the other students get the grade they get
when graded alone, the grader's files and the fixtures are intact) and reported in its
own report.json (error, notes or integrity findings).
"""

from __future__ import annotations

import csv
import hashlib
import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hostile.submissions import REPO, correct_answer, hostile_answer, mutant_answer, notebook_with, released, \
    write_submission

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="the hostile suite needs bubblewrap "
                                "(make system-deps); without it, writes and kills are not contained")

FIXTURES = REPO / "autograder" / "fixtures"
TIMEOUT = "5"


def _text(report: dict) -> str:
    return json.dumps(report)


def _tampered_points() -> dict:
    notebook = notebook_with("adam", correct_answer("adam"))
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "test_long_run":
            cell["metadata"]["nbgrader"]["points"] = 100
    return notebook


def _deleted_test_cell() -> dict:
    notebook = notebook_with("adam", correct_answer("adam"))
    notebook["cells"] = [cell for cell in notebook["cells"]
                         if cell["metadata"].get("nbgrader", {}).get("grade_id") != "test_tiny_gradients"]
    return notebook


def _edited_test_cell() -> dict:
    notebook = notebook_with("adam", correct_answer("adam"))
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "test_first_step":
            cell["source"] = "assert True  # all good"
    return notebook


def _student_cell_imports_torch() -> dict:
    return notebook_with("adam", correct_answer("adam"), extra_cells=["import torch\nimport os"])


def _huge_answer_cell() -> dict:
    """19 MB of code in the answer cell (under the file size cap): parsing it once took the
    grading process to 9 GB."""
    return notebook_with("adam", "x = [" + "1," * 9_500_000 + "]\n" + correct_answer("adam"))


NOTEBOOKS = {
    "huge_answer_cell": _huge_answer_cell,
    "tampered_points": _tampered_points,
    "deleted_test_cell": _deleted_test_cell,
    "edited_test_cell": _edited_test_cell,
    "helper_cell_imports_torch": _student_cell_imports_torch,
    "not_json": lambda: '{"cells": [ this is not json',
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    submitted, out = root / "course" / "submitted", root / "out"
    canary = submitted / "canary.txt"
    paths = {"fixtures": FIXTURES, "out": out, "canary": canary, "repo": REPO, "submitted": submitted}
    write_submission(submitted, "alice", "adam", notebook_with("adam", correct_answer("adam")))
    write_submission(submitted, "zoe", "adam", notebook_with("adam", correct_answer("adam")))
    write_submission(submitted, "bob", "adam", notebook_with("adam", mutant_answer("adam")))
    for path in sorted((REPO / "tests" / "hostile").glob("*.cell")):
        if path.stem != "correct_body":
            write_submission(submitted, path.stem, "adam", notebook_with("adam", hostile_answer(path.stem, **paths)))
    for name, build in NOTEBOOKS.items():
        write_submission(submitted, name, "adam", build())
    canary.write_text("still here")
    fixture_digests = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in FIXTURES.iterdir()}
    completed = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(submitted), "--assignment", "adam", "--out", str(out),
         "--jobs", "2", "--timeout", TIMEOUT, "--memory-mb", "512"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    reports = {path.parent.name: json.loads(path.read_text()) for path in out.glob("*/report.json")}
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"completed": completed, "out": out, "reports": reports, "canary": canary,
            "fixture_digests": fixture_digests, "peak_rss_mb": peak_rss_mb}


def test_run_completes_and_reports_everyone(graded):
    assert graded["completed"].returncode == 0, graded["completed"].stderr[-3000:]
    expected = {"alice", "zoe", "bob", *NOTEBOOKS} | {path.stem for path in (REPO / "tests" / "hostile").glob("*.cell")
                                                      if path.stem != "correct_body"}
    assert set(graded["reports"]) == expected
    with open(graded["out"] / "grades.csv", newline="") as stream:
        rows = {row["student"]: row for row in csv.DictReader(stream)}
    assert set(rows) == expected
    for student, report in graded["reports"].items():
        assert rows[student]["score"] == str(report["score"])
        assert report["sandbox"] is None or report["sandbox"]["mode"] == "bwrap"


def test_correct_students_unaffected(graded):
    for student in ("alice", "zoe"):
        report = graded["reports"][student]
        assert report["error"] is None and report["integrity"] == []
        assert report["score"] == report["max_score"] == 11
    assert graded["reports"]["bob"]["score"] < 11
    assert graded["reports"]["bob"]["diagnosis"][0]["mistake"] == "eps_inside_sqrt"


def test_grader_files_and_fixtures_intact(graded):
    assert graded["canary"].read_text() == "still here"
    digests = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in FIXTURES.iterdir()}
    assert digests == graded["fixture_digests"]
    assert "mallory" not in (graded["out"] / "grades.csv").read_text()
    assert json.loads((graded["out"] / "alice" / "report.json").read_text())["student"] == "alice"


def _zero_with(*fragments):
    def check(report):
        assert report["score"] == 0, report["tests"]
        for fragment in fragments:
            assert fragment in _text(report), fragment
    return check


def _full_with(*fragments):
    def check(report):
        assert report["score"] == report["max_score"], report["tests"]
        for fragment in fragments:
            assert fragment in _text(report), fragment
    return check


def _integrity(check_name, fragment, full=None):
    def check(report):
        assert any(item["check"] == check_name and fragment in item["message"] for item in report["integrity"]), \
            report["integrity"]
        if full is not None:
            assert (report["score"] == report["max_score"]) == full, report["tests"]
    return check


EXPECTATIONS = {
    "syntax_error": _zero_with("SyntaxError", "does not define a function adam_update"),
    "missing_function": _zero_with("does not define a function adam_update"),
    "misnamed_function": _zero_with("did you mean adam_updat"),
    "wrong_signature": _zero_with("TypeError"),
    "returns_none": _zero_with("returned NoneType"),
    "returns_nan": _zero_with("NaN"),
    "wrong_shape": _zero_with("shape"),
    "mutates_inputs": lambda report: (report["score"] == report["max_score"] - 1
                                      and "modified its input" in _text(report)) or pytest.fail(_text(report)),
    "prints_megabytes": _full_with("printed 8000001 bytes"),
    "sleeps_forever": _zero_with("wall-clock limit"),
    "infinite_loop": _zero_with("wall-clock limit"),
    "allocates_10gb": _zero_with("MemoryError"),
    "fork_bomb": _zero_with("BlockingIOError"),
    "os_exit": _zero_with("before the grader got any results"),
    "sys_exit": _zero_with("SystemExit"),
    "imports_torch": lambda report: (_zero_with("torch is not available")(report),
                                     _integrity("import", "imports torch")(report)),
    "helper_cell_imports_torch": lambda report: (_integrity("import", "imports torch", full=True)(report),
                                                 _integrity("import", "imports os")(report)),
    "monkeypatches_allclose": lambda report: (_integrity("replaced", "numpy.allclose", full=False)(report),
                                              report["diagnosis"][0]["mistake"] == "eps_inside_sqrt"
                                              or pytest.fail(str(report["diagnosis"]))),
    "monkeypatches_sqrt": _integrity("replaced", "numpy.sqrt", full=False),
    "patches_builtins": _integrity("replaced", "builtins.len"),
    "lying_eq": _zero_with("could not be converted to a float array"),
    "reads_fixtures": _zero_with("No such file or directory"),
    "writes_grades_csv": _full_with("could not write"),
    "network_access": lambda report: (_full_with("no network")(report), _integrity("import", "socket")(report)),
    "kills_parent": _full_with("could not kill"),
    "deletes_files": _full_with("could not delete"),
    "ipython_magics": _full_with("IPython syntax not run: %timeit", "IPython syntax not run: !pip install torch"),
    "tampered_points": _integrity("metadata", "points changed from 2 to 100", full=True),
    "deleted_test_cell": _integrity("test-cell", "'test_tiny_gradients' was deleted", full=True),
    "edited_test_cell": _integrity("test-cell", "'test_first_step' was edited", full=True),
    # Nothing in the sandbox computes the answer: each scores what its own code does, flagged.
    "calls_book_optim": lambda report: (_zero_with("book.optim is not available when grading")(report),
                                        _integrity("reference", "book.optim")(report),
                                        "failed on its first call in every case" in report["error"]
                                        or pytest.fail(report["error"]),
                                        report["diagnosis"] == [] or pytest.fail(str(report["diagnosis"]))),
    "imports_diagnosis_obfuscated": lambda report: (_zero_with("autograder.diagnosis is not available")(report),
                                                    _integrity("dynamic", "getattr() with a computed name")(report),
                                                    _integrity("import", "imports sys")(report)),
    "exec_hidden_imports": _integrity("dynamic", "exec()", full=True),
    "forges_reply": lambda report: (_zero_with("broke the grading protocol")(report),
                                    _integrity("protocol", "broke the grading protocol")(report)),
    "floods_reply": lambda report: (_zero_with("broke the grading protocol")(report),
                                    _integrity("protocol", "bytes (at most")(report),
                                    len(_text(report)) < 100_000 or pytest.fail(f"{len(_text(report))} bytes")),
    "explores_filesystem": _full_with("PROBES"),
    "huge_answer_cell": lambda report: (_zero_with("MB of code; at most 1.0 MB is graded")(report),
                                        report["sandbox"] is None or pytest.fail("it ran")),
    "not_json": lambda report: (report["score"] == 0 and report["max_score"] == 11
                                and "not a Jupyter notebook" in report["error"]) or pytest.fail(_text(report)),
}


@pytest.mark.parametrize("student", sorted(EXPECTATIONS))
def test_hostile_submission_contained_and_reported(graded, student):
    report = graded["reports"][student]
    EXPECTATIONS[student](report)
    feedback = (graded["out"] / student / "feedback.html").read_text()
    assert "<script" not in feedback.lower()


def test_sandbox_holds_only_the_allow_list(graded):
    """What the student's code sees: the view and the system's libraries, nothing of the
    grader (no checkout, fixtures, output, submissions, home folders; no reference code)."""
    output = graded["reports"]["explores_filesystem"]["output"]
    probes = json.loads(output.split("PROBES", 1)[1].splitlines()[0])
    assert probes["view"] == ["lib", "site"]
    assert probes["lib"] == ["autograder", "book"]
    assert probes["book"] == ["__init__.py", "landscapes"]
    assert probes["autograder"] == ["__init__.py", "cases.py", "execute.py", "runner.py", "wire.py"]
    assert {"numpy", "matplotlib"} <= set(probes["site"]) and not {"torch", "nbgrader"} & set(probes["site"])
    assert not any(probes["exists"].values()), probes["exists"]
    # /root holds only the way to the interpreter when that lives there (pyenv).
    interpreter = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    via_root = {interpreter.relative_to("/root").parts[0]} if interpreter.is_relative_to("/root") else set()
    assert probes["root_home"] == "FileNotFoundError" or set(probes["root_home"]) <= via_root, probes["root_home"]
    assert set(probes["root"]) <= {"grader", "tmp", "dev", "proc", "usr", "etc", "bin", "sbin", "lib", "lib64",
                                   "lib32", "libx32", "root"}, probes["root"]
    for command_line in probes["processes"]:
        for secret in (graded["out"], graded["canary"].parent, FIXTURES):
            assert str(secret) not in command_line


def test_grader_memory_stays_bounded(graded):
    """The 19 MB answer cell and the 55 MB flood cost their own grade only: the grader's
    processes stayed far below the gigabytes they once took."""
    assert graded["peak_rss_mb"] < 1500, graded["peak_rss_mb"]


def test_every_hostile_fixture_has_an_expectation():
    names = {path.stem for path in (REPO / "tests" / "hostile").glob("*.cell")} - {"correct_body"}
    assert names | set(NOTEBOOKS) == set(EXPECTATIONS)


def test_released_notebook_has_the_answer_cell():
    ids = [cell["metadata"].get("nbgrader", {}).get("grade_id") for cell in released("adam")["cells"]]
    assert "adam_update" in ids and "test_tiny_gradients" in ids
