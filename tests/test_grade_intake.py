"""Finding submissions (nbgrader tree, Canvas and Moodle zips), extracting their code,
and the plain-data wire format: fast tests without a sandbox."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder import wire
from autograder.extract import NotebookError, extract, load_notebook, strip_ipython
from autograder.submissions import discover, safe_id
from hostile.submissions import correct_answer, notebook_with

NOTEBOOK = json.dumps(notebook_with("adam", correct_answer("adam"))).encode()


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _issues(intake) -> dict[str, str]:
    return {entry["file"]: entry["issue"] for entry in intake.log}


def test_nbgrader_tree(tmp_path):
    for student in ("alice", "bob"):
        folder = tmp_path / "submitted" / student / "adam"
        folder.mkdir(parents=True)
        (folder / "adam.ipynb").write_bytes(NOTEBOOK)
        (folder / "timestamp.txt").write_text("2026-01-01 00:00:00")
    (tmp_path / "submitted" / "bob" / "adam" / "notes.pdf").write_bytes(b"%PDF")
    (tmp_path / "submitted" / "carol" / "adamax").mkdir(parents=True)
    (tmp_path / "submitted" / "carol" / "adamax" / "adamax.ipynb").write_bytes(NOTEBOOK)
    intake = discover(tmp_path / "submitted", "adam", other_assignments={"adamax"})
    assert [s.student for s in intake.submissions] == ["alice", "bob"]
    assert _issues(intake) == {"bob/adam/notes.pdf": "not graded: not a notebook (.ipynb)",
                               "carol/adamax/adamax.ipynb": "not graded: a notebook of another assignment"}


def test_canvas_zip_late_duplicates_and_renamed(tmp_path):
    archive = _zip(tmp_path / "submissions.zip", {
        "doejane_1234_5678_adam.ipynb": NOTEBOOK,
        "doejane_1234_5999_adam-1.ipynb": NOTEBOOK,  # a resubmission, renamed by Canvas
        "smithjohn_late_4321_6000_adam (1).ipynb": NOTEBOOK,
        "smithjohn_late_4321_6000_README.txt": b"hello",
        "__MACOSX/._doejane_1234_5678_adam.ipynb": b"",
    })
    intake = discover(archive, "adam")
    by_student = {s.student: s for s in intake.submissions}
    assert set(by_student) == {"1234", "4321"}
    assert by_student["1234"].origin == "doejane_1234_5678_adam.ipynb"  # the exact name wins
    assert by_student["4321"].late and by_student["4321"].notebook == NOTEBOOK
    issues = _issues(intake)
    assert issues["doejane_1234_5999_adam-1.ipynb"].startswith("not graded: duplicate")
    assert issues["smithjohn_late_4321_6000_adam (1).ipynb"] == "renamed: graded 'adam (1).ipynb' as adam.ipynb"
    assert issues["smithjohn_late_4321_6000_README.txt"] == "not graded: not a notebook (.ipynb)"
    assert "ignored" in issues["__MACOSX/._doejane_1234_5678_adam.ipynb"]


def test_moodle_folders_and_flat_names(tmp_path):
    archive = _zip(tmp_path / "moodle.zip", {
        "Jane Doe_101_assignsubmission_file_/adam.ipynb": NOTEBOOK,
        "John Smith_202_assignsubmission_file_adam.ipynb": NOTEBOOK,
        "Ann Lee_303_assignsubmission_file_/adam (2).ipynb": NOTEBOOK,
    })
    intake = discover(archive, "adam")
    assert [s.student for s in intake.submissions] == ["101", "202", "303"]
    assert _issues(intake) == {"Ann Lee_303_assignsubmission_file_/adam (2).ipynb":
                               "renamed: graded 'adam (2).ipynb' as adam.ipynb"}


def test_unknown_names_are_guessed_and_reported(tmp_path):
    archive = _zip(tmp_path / "plain.zip", {"../../evil name.ipynb": NOTEBOOK, "x/.ipynb": NOTEBOOK})
    intake = discover(archive, "adam")
    assert [s.student for s in intake.submissions] == ["evil_name"]
    assert [(entry["file"], entry["issue"]) for entry in intake.log] == [
        ("x/.ipynb", "not graded: not a notebook (.ipynb)"),
        ("../../evil name.ipynb", "student id taken from the file name"),
        ("../../evil name.ipynb", "renamed: graded 'evil name.ipynb' as adam.ipynb")]


def test_bad_inputs_have_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        discover(tmp_path / "missing", "adam")
    (tmp_path / "file.zip").write_text("not a zip")
    with pytest.raises(ValueError, match="neither a folder nor a readable zip"):
        discover(tmp_path / "file.zip", "adam")


def test_student_ids_never_take_the_graders_file_names():
    assert safe_id("grades.csv") == "student_grades.csv" and safe_id("../intake.json") == "student_intake.json"


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_safe_id_is_a_safe_folder_name(raw):
    student = safe_id(raw)
    assert "/" not in student and student not in (".", "..") and not student.startswith(".")


def test_extract_keeps_answers_helpers_and_used_imports_only():
    notebook = notebook_with("adam", correct_answer("adam"), extra_cells=["%matplotlib inline\nHELPER = 1"])
    extraction = extract(notebook)
    ids = [cell["id"] for cell in extraction.cells]
    assert ids[:3] == ["imports", "adam_update", "cell 5"]
    assert not any(cell_id.startswith("test_") or cell_id == "visible_tests" for cell_id in ids)
    sources = {cell["id"]: cell["source"] for cell in extraction.cells}
    assert sources["imports"] == "import numpy as np"
    assert "matplotlib" not in sources.get("landscape_setup", "")  # plotting imports are not used by answers
    assert sources["cell 5"] == "pass\nHELPER = 1"
    assert extraction.notes == ["cell 5, line 1: IPython syntax not run: %matplotlib inline"]


def test_cell_magics():
    assert strip_ipython("%%time\nx = 1", "c")[0] == "\nx = 1"
    source, notes = strip_ipython("%%bash\nrm -rf /", "c")
    assert source is None and "not Python" in notes[0]


@pytest.mark.parametrize("text, message", [("{", "not valid JSON"), ("[]", "no list of cells"),
                                           ('{"cells": [], "nbformat": 3}', "unsupported notebook format")])
def test_bad_notebooks(text, message):
    with pytest.raises(NotebookError, match=message):
        load_notebook(text)


@given(hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int64, np.bool_]),
                  shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
@settings(max_examples=100, deadline=None)
def test_wire_round_trips_arrays_bit_for_bit(array):
    back = wire.loads(wire.dumps({"cases": {"a": {"theta": array, "error": None}}}))["cases"]["a"]
    assert back["theta"].dtype == array.dtype and back["theta"].shape == array.shape
    assert back["theta"].tobytes() == array.tobytes() and back["error"] is None


def test_wire_refuses_objects_and_malformed_data():
    class Liar(float):
        def __eq__(self, other):
            return True
    for value in (np.array([object()]), Liar(1.0), {1: 2}):
        with pytest.raises(TypeError):
            wire.dumps(value)
    for data in (b"\xff", b'{"__ndarray__": "|O", "shape": [1], "data": ""}',
                 b'{"__ndarray__": "<f8", "shape": [3], "data": "AAAA"}'):
        with pytest.raises(ValueError):
            wire.loads(data)
