"""``python -m autograder grade`` as a careless instructor runs it: again with other
settings, section after section into one folder, on uploads that cannot be graded or
that claim one id twice, on a folder of the wrong assignment, and stopped with Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

from autograder.cli import main
from autograder.report import write_grades
from hostile.submissions import REPO, correct_answer, mutant_answer, notebook_with, write_submission

CORRECT = json.dumps(notebook_with("adam", correct_answer("adam")))
MUTANT = json.dumps(notebook_with("adam", mutant_answer("adam")))


def _grade(submissions, out, *extra, assignment="adam", timeout=20):
    return main(["grade", str(submissions), "--assignment", assignment, "--out", str(out),
                 "--timeout", str(timeout), *map(str, extra)])


def _rows(out) -> list[dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _grades(out) -> dict[str, dict]:
    return {row["student"]: row for row in _rows(out)}


def test_another_assignment_or_other_limits_are_graded_again(tmp_path, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "alice.ipynb").write_text(CORRECT)
    (flat / "bob.ipynb").write_text(CORRECT)
    out = tmp_path / "out"
    assert _grade(flat, out, assignment="adamax") == 0  # the wrong assignment: zeros
    assert {row["assignment"] for row in _rows(out)} == {"adamax"}
    capsys.readouterr()
    assert _grade(flat, out) == 0
    assert "grading 2 (2 assignment changed)" in capsys.readouterr().err
    assert {(row["assignment"], row["score"]) for row in _rows(out)} == {("adam", "11")}
    # A trial run with a time limit no case can meet (with 0.05 s, one CI run graded 5 of
    # the 11 cases of one submission in time).
    assert _grade(flat, out, timeout=1e-6) == 0
    assert {row["score"] for row in _rows(out)} == {"0"}
    capsys.readouterr()
    assert _grade(flat, out) == 0
    err = capsys.readouterr().err
    assert "grading 2 (2 settings changed)" in err and "already graded" not in err
    assert {row["score"] for row in _rows(out)} == {"11"}
    key = json.loads((out / "alice" / "report.json").read_text())["grading_key"]
    assert set(key) == {"notebook_sha256", "assignment", "fixtures", "grader", "settings"}
    assert _grade(flat, out) == 0
    assert "2 already graded, kept (same notebook and settings" in capsys.readouterr().err


def test_a_second_section_keeps_the_first_sections_rows(tmp_path, capsys):
    section_a, section_b = tmp_path / "a", tmp_path / "b"
    write_submission(section_a, "alice", "adam", CORRECT)
    write_submission(section_b, "bob", "adam", MUTANT)
    out = tmp_path / "out"
    assert _grade(section_a, out) == 0
    assert _grade(section_b, out) == 0
    rows = _grades(out)
    assert set(rows) == {"alice", "bob"} and rows["alice"]["score"] == "11"
    assert rows["alice"]["source"] == str(section_a.resolve()) and rows["bob"]["source"] == str(section_b.resolve())
    assert "also lists 1 student(s) graded earlier" in capsys.readouterr().err


def test_every_student_gets_a_row_and_conflicts_are_flagged(tmp_path):
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("doejane_1234_5678_adam.ipynb", CORRECT)
        bundle.writestr("roeeve_1234_5679_adam.ipynb", MUTANT)
        bundle.writestr("smithann_55_5680_answers.pdf", b"%PDF")
        bundle.writestr("leeann_66_5681_adam.ipynb", CORRECT)
    data = bytearray(archive.read_bytes())
    damaged = data.index(b"leeann_66_5681_adam.ipynb") + 200  # inside that member's stored data
    data[damaged] ^= 0xFF
    archive.write_bytes(bytes(data))
    out = tmp_path / "out"
    assert _grade(archive, out) == 0
    rows = _rows(out)
    assert sorted((row["student"], row["score"]) for row in rows) == [
        ("1234", "11"), ("1234", rows[1]["score"]), ("55", "0"), ("66", "0")]
    jane, eve = rows[0], rows[1]
    assert jane["conflict"] == eve["conflict"] and "2 uploads claim student 1234" in jane["conflict"]
    assert {jane["file"], eve["file"]} == {"doejane_1234_5678_adam.ipynb", "roeeve_1234_5679_adam.ipynb"}
    assert 0 < int(eve["score"]) < 11 and eve["max_score"] == "11"
    ann, lee = rows[2], rows[3]
    assert ann["error"] == "not graded: no notebook (.ipynb) was submitted, only: answers.pdf"
    assert ann["max_score"] == "11" and "Bad CRC-32" in lee["error"]
    feedback = (out / "55" / "feedback.html").read_text()
    assert "no notebook (.ipynb) was submitted" in feedback


def test_unicode_ids_and_symlinks_via_the_command_line(tmp_path):
    submitted = tmp_path / "submitted"
    for student in ("josé", "josè", "张伟"):
        write_submission(submitted, student, "adam", CORRECT)
    (submitted / "erin" / "adam").mkdir(parents=True)
    (submitted / "erin" / "adam" / "adam.ipynb").symlink_to(REPO / "exercises" / "adam" / "adam.ipynb")
    out = tmp_path / "out"
    assert _grade(submitted, out) == 0
    rows = _grades(out)
    assert {student: row["score"] for student, row in rows.items()} == {"josé": "11", "josè": "11", "张伟": "11",
                                                                       "erin": "0"}
    assert rows["erin"]["error"].startswith("not graded: adam.ipynb: a symbolic link, not a file")
    reports = [json.loads(path.read_text()) for path in out.glob("*/report.json")]
    assert sorted(report["student"] for report in reports) == ["erin", "josè", "josé", "张伟"]
    assert all(path.parent.name.isascii() for path in out.glob("*/report.json"))


def test_nothing_of_the_assignment_is_an_error(tmp_path, capsys):
    submitted = tmp_path / "submitted"
    write_submission(submitted, "alice", "adam", CORRECT)
    assert _grade(submitted, tmp_path / "out", assignment="adamax") == 2
    err = capsys.readouterr().err
    assert "error: nothing to grade: no submission of assignment 'adamax'" in err
    assert "a notebook of another assignment" in err and not (tmp_path / "out" / "grades.csv").exists()


def test_grades_csv_cells_are_not_formulas(tmp_path):
    tests = [{"name": "t", "points": 0, "max_points": 1, "passed": False, "message": ""}]
    reports = [{"student": student, "assignment": "adam", "score": 0, "max_score": 1, "tests": tests,
                "diagnosis": [], "integrity": [], "error": error, "file": f"{student}.ipynb"}
               for student, error in (("=HYPERLINK(\"http://x\")", "+1"), ("-2+3", "@SUM(A1)"),
                                      ("\tcmd", "\rx"), ("alice", "fine = ok"))]
    write_grades(tmp_path, reports)
    rows = {row["file"]: row for row in _rows(tmp_path)}
    for row in rows.values():
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values())
    assert rows["'=HYPERLINK(\"http://x\").ipynb"]["student"] == "'=HYPERLINK(\"http://x\")"
    assert rows["alice.ipynb"]["error"] == "fine = ok" and rows["'-2+3.ipynb"]["error"] == "'@SUM(A1)"


def test_ctrl_c_writes_what_was_graded_and_exits_130(tmp_path):
    submitted = tmp_path / "submitted"
    slow = json.dumps(notebook_with("adam", "import time\ntime.sleep(4)\n" + correct_answer("adam")))
    for student in ("s1", "s2", "s3", "s4"):
        write_submission(submitted, student, "adam", slow)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", str(submitted), "--assignment", "adam", "--out", str(out),
         "--jobs", "2", "--timeout", "30"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("*/report.json")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: graded ") and "run the same command again" in last
    graded = {path.parent.name for path in out.glob("*/report.json")}
    assert 1 <= len(graded) < 4 and set(_grades(out)) == graded
    assert all(row["score"] == "11" for row in _rows(out))
