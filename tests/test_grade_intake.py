"""Finding submissions (nbgrader tree, Canvas and Moodle zips), extracting their code,
and the plain-data wire format: fast tests without a sandbox."""

from __future__ import annotations

import json
import os
import unicodedata
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder import wire
from autograder.extract import NotebookError, extract, load_notebook, strip_ipython
from autograder import submissions
from autograder.submissions import discover, folder_name, printable, student_id
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
    assert by_student["1234"].origin == "doejane_1234_5999_adam-1.ipynb"  # the resubmission is graded
    assert by_student["4321"].late and by_student["4321"].notebook == NOTEBOOK
    issues = _issues(intake)
    assert issues["doejane_1234_5678_adam.ipynb"] == (
        "not graded: the same student's doejane_1234_5999_adam-1.ipynb was graded instead")
    assert "doejane_1234_5999_adam-1.ipynb" not in issues  # Canvas's own renaming is not a remark
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
    assert [(s.student, s.folder) for s in intake.submissions] == [("evil name", folder_name("evil name"))]
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


def test_student_folders_never_take_the_graders_file_names():
    assert folder_name("grades.csv").startswith("grades.csv~") and folder_name("../intake.json").startswith("intake.json~")


@given(st.text(max_size=40), st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_folder_name_is_safe_and_never_shared(raw, other):
    folder = folder_name(raw)
    assert folder and "/" not in folder and folder not in (".", "..") and not folder.startswith(".")
    assert folder.isascii() and folder.isprintable() and len(folder) <= 71
    assert folder_name(other) != folder or other == raw


def _notebook(marker: str) -> bytes:
    """A correct adam notebook made distinct by a comment."""
    return json.dumps(notebook_with("adam", correct_answer("adam") + f"# {marker}\n")).encode()


def test_canvas_file_names_cannot_impersonate(tmp_path):
    """A Canvas upload named like a Moodle file of student 222 is student 111's; the real
    222's resubmission (Canvas's ``-1``) is the one graded, not dropped as a duplicate."""
    archive = _zip(tmp_path / "canvas.zip", {
        "evilmallory_111_900_x_222_assignsubmission_file_adam.ipynb": _notebook("mallory"),
        "adamsmith_222_901_adam.ipynb": _notebook("adam first"),
        "adamsmith_222_950_adam-1.ipynb": _notebook("adam second"),
        "222.ipynb": _notebook("stray"),
        "Zoe Roe_333_assignsubmission_file_/eve_444_1_adam.ipynb": _notebook("zoe"),
    })
    intake = discover(archive, "adam")
    by_student = {s.student: s for s in intake.submissions}
    assert set(by_student) == {"111", "222", "333"}
    assert by_student["111"].notebook == _notebook("mallory") and by_student["111"].conflict is None
    assert by_student["222"].notebook == _notebook("adam second") and by_student["222"].conflict is None
    assert by_student["333"].notebook == _notebook("zoe")  # a Moodle folder's files are its student's
    issues = _issues(intake)
    assert "not attributed to any student" in issues["222.ipynb"]
    assert issues["adamsmith_222_901_adam.ipynb"].startswith("not graded: the same student's")


def test_two_claimants_of_one_id_are_both_graded_and_flagged(tmp_path):
    archive = _zip(tmp_path / "canvas.zip", {
        "doejane_1234_5678_adam.ipynb": _notebook("jane"),
        "roeeve_1234_5679_adam.ipynb": _notebook("eve"),
        "doejohn_77_1_adam.ipynb": _notebook("john"),
        "smithann_77_2_adam.ipynb": _notebook("john"),  # the same notebook under another name
    })
    intake = discover(archive, "adam")
    jane, eve, john = intake.submissions
    assert (jane.student, eve.student) == ("1234", "1234") and {jane.notebook, eve.notebook} == {
        _notebook("jane"), _notebook("eve")}
    assert jane.folder != eve.folder and jane.conflict == eve.conflict
    assert "2 uploads claim student 1234" in jane.conflict and "decide which counts" in jane.conflict
    assert john.student == "77" and "2 uploads claim student 77" in john.conflict
    issues = _issues(intake)
    assert issues["roeeve_1234_5679_adam.ipynb"].startswith("conflict: 2 uploads claim student 1234")
    assert issues["smithann_77_2_adam.ipynb"].startswith("not graded separately: the same notebook as")


def test_a_folder_inside_a_submission_cannot_name_another_student(tmp_path):
    (tmp_path / "alice" / "adam" / "bob" / "adam").mkdir(parents=True)
    (tmp_path / "alice" / "adam" / "bob" / "adam" / "adam.ipynb").write_bytes(_notebook("alice as bob"))
    (tmp_path / "alice" / "adam" / "doejane_1_2_adam.ipynb").write_bytes(_notebook("alice as 1"))
    intake = discover(tmp_path, "adam")
    assert [s.student for s in intake.submissions] == ["alice"]


def test_unicode_ids_are_kept_and_never_merged(tmp_path):
    names = ["josé", "josè", "张伟", "Иванов", "alice"]
    for name in names:
        (tmp_path / name / "adam").mkdir(parents=True)
        (tmp_path / name / "adam" / "adam.ipynb").write_bytes(_notebook(name))
    intake = discover(tmp_path, "adam")
    by_student = {s.student: s for s in intake.submissions}
    assert set(by_student) == set(names) and intake.log == []
    assert all(by_student[name].notebook == _notebook(name) for name in names)
    folders = [s.folder for s in intake.submissions]
    assert len(set(folders)) == len(names) and all(folder.isascii() for folder in folders)
    assert by_student["alice"].folder == "alice" and by_student["josé"].folder.startswith("jose~")
    decomposed = unicodedata.normalize("NFD", "josé")
    archive = _zip(tmp_path / "nfd.zip", {f"{decomposed}/adam/adam.ipynb": NOTEBOOK, "\x1b[2Jeve/adam/adam.ipynb": NOTEBOOK})
    assert sorted(s.student for s in discover(archive, "adam").submissions) == ["[2Jeve", "josé"]
    assert student_id(" ali\u202ece\n") == "alice"


def test_control_characters_are_printed_escaped(tmp_path):
    archive = _zip(tmp_path / "ansi.zip", {"bob/adam/notes\x1b[2K\x1b[1A.txt": b"x", "bob/adam/adam.ipynb": NOTEBOOK})
    summary = discover(archive, "adam").summary()
    assert "\x1b" not in summary and "notes\\x1b[2K\\x1b[1A.txt" in summary
    assert printable("a\u202eb\tc\u200bd") == "a\\u202eb\\tc\\u200bd" and printable("张伟 José") == "张伟 José"


def test_every_student_who_sent_something_gets_a_row(tmp_path, monkeypatch):
    outside = tmp_path / "outside.ipynb"
    outside.write_bytes(_notebook("secret"))
    root = tmp_path / "submitted"
    for student in ("dave", "erin", "gina", "hank", "ivan"):
        (root / student / "adam").mkdir(parents=True)
    (root / "dave" / "adam" / "notes.pdf").write_bytes(b"%PDF")
    (root / "erin" / "adam" / "adam.ipynb").symlink_to(outside)
    (root / "frank").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    os.mkfifo(root / "gina" / "adam" / "adam.ipynb")
    heavy = notebook_with("adam", correct_answer("adam"))
    code = next(cell for cell in heavy["cells"] if cell["cell_type"] == "code")
    code["outputs"] = [{"output_type": "display_data", "metadata": {},
                        "data": {"image/png": "A" * (30 << 20), "text/plain": "<Figure>"}}]
    (root / "hank" / "adam" / "adam.ipynb").write_text(json.dumps(heavy))  # 30 MB with saved outputs
    (root / "ivan" / "adam" / "adam.ipynb").write_bytes(NOTEBOOK)
    intake = discover(root, "adam")
    by_student = {s.student: s for s in intake.submissions}
    assert set(by_student) == {"dave", "erin", "frank", "gina", "hank", "ivan"}
    assert by_student["dave"].problem == "no notebook (.ipynb) was submitted, only: notes.pdf"
    assert "a symbolic link, not a file" in by_student["erin"].problem and by_student["erin"].notebook == b""
    assert "a symbolic link, not a file" in by_student["frank"].problem
    assert "not a regular file" in by_student["gina"].problem
    hank = by_student["hank"]
    assert hank.problem is None and len(hank.notebook) < 100_000 and "graded without its saved outputs" in hank.notes[-1]
    assert json.loads(hank.notebook)["cells"][1]["source"] == heavy["cells"][1]["source"]
    assert all(b"secret" not in s.notebook for s in intake.submissions)
    monkeypatch.setattr(submissions, "MAX_READ_BYTES", len(NOTEBOOK) - 1)  # the hard cap on what is read
    ivan = {s.student: s for s in discover(root, "adam").submissions}["ivan"]
    assert ivan.problem.endswith("so it was not read: ask for a smaller notebook")


def test_a_damaged_zip_member_costs_its_student_only(tmp_path):
    archive = _zip(tmp_path / "moodle.zip", {
        "Jane Doe_101_assignsubmission_file_/adam.ipynb": _notebook("jane"),
        "John Roe_202_assignsubmission_file_/adam.ipynb": _notebook("john"),
    })
    with zipfile.ZipFile(archive, "a") as bundle:
        bundle.writestr("Ann Lee_303_assignsubmission_file_/adam.ipynb", NOTEBOOK)
    data = bytearray(archive.read_bytes())
    data[data.index(b"# john") + 2] ^= 0xFF  # a flipped byte in the stored data: bad CRC-32 on reading
    ann = data.rindex(b"PK\x01\x02", 0, data.rindex(b"Ann Lee_303"))
    data[ann + 8] |= 0x1  # marked encrypted in the central directory
    archive.write_bytes(bytes(data))
    by_student = {s.student: s for s in discover(archive, "adam").submissions}
    assert by_student["101"].notebook == _notebook("jane") and by_student["101"].problem is None
    assert "could not be read (BadZipFile: Bad CRC-32" in by_student["202"].problem
    assert "download this submission again" in by_student["202"].problem
    assert "could not be read (RuntimeError" in by_student["303"].problem


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
