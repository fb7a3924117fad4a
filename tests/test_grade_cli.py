"""``python -m autograder grade`` end to end: correct and mutant submissions, resuming,
zip input, the nbgrader gradebook, the dask executor, the rlimits fallback, feedback."""

from __future__ import annotations

import csv
import json
import os
import zipfile
from html.parser import HTMLParser

import pytest

from autograder.cli import main
from hostile.submissions import correct_answer, mutant_answer, notebook_with, write_submission

MUTANT_NAMES = {"adam": "eps_inside_sqrt", "adamax": "no_bias_correction"}


def _grade(submissions, out, *extra, assignment="adam"):
    return main(["grade", str(submissions), "--assignment", assignment, "--out", str(out), "--timeout", "20",
                 *map(str, extra)])


def _grades(out) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as stream:
        return {row["student"]: row for row in csv.DictReader(stream)}


@pytest.fixture
def course(tmp_path):
    submitted = tmp_path / "submitted"
    write_submission(submitted, "alice", "adam", notebook_with("adam", correct_answer("adam")))
    write_submission(submitted, "bob", "adam", notebook_with("adam", mutant_answer("adam")))
    return submitted


@pytest.mark.parametrize("assignment", ["adam", "adamax"])
def test_correct_and_mutant(tmp_path, assignment, capsys):
    submitted = tmp_path / "submitted"
    write_submission(submitted, "alice", assignment, notebook_with(assignment, correct_answer(assignment)))
    write_submission(submitted, "bob", assignment, notebook_with(assignment, mutant_answer(assignment)))
    assert _grade(submitted, tmp_path / "out", assignment=assignment) == 0
    alice = json.loads((tmp_path / "out" / "alice" / "report.json").read_text())
    bob = json.loads((tmp_path / "out" / "bob" / "report.json").read_text())
    assert alice["score"] == alice["max_score"] > 0 and all(test["passed"] for test in alice["tests"])
    assert alice["diagnosis"] == [] and alice["error"] is None and alice["integrity"] == []
    assert 0 < bob["score"] < bob["max_score"]
    assert [entry["mistake"] for entry in bob["diagnosis"]] == [MUTANT_NAMES[assignment]]
    assert set(alice) >= {"student", "assignment", "score", "max_score", "tests", "diagnosis", "integrity", "error"}
    assert set(alice["tests"][0]) == {"name", "points", "max_points", "passed", "message"}
    rows = _grades(tmp_path / "out")
    assert rows["alice"]["score"] == str(alice["score"]) and rows["bob"]["score"] == str(bob["score"])
    assert "2/2 graded" in capsys.readouterr().err  # plain progress lines when stderr is not a terminal


def test_resume_skips_graded_and_regrades_changed_or_forced(course, tmp_path, capsys):
    out = tmp_path / "out"
    assert _grade(course, out) == 0
    first = {student: (out / student / "report.json").stat().st_mtime_ns for student in ("alice", "bob")}
    capsys.readouterr()
    assert _grade(course, out) == 0
    assert "2 already graded" in capsys.readouterr().err
    assert {student: (out / student / "report.json").stat().st_mtime_ns for student in first} == first
    write_submission(course, "bob", "adam", notebook_with("adam", correct_answer("adam")))  # a resubmission
    (out / "alice" / "report.json").write_text("{ truncated")  # an interrupted write
    assert _grade(course, out) == 0
    assert "0 already graded" not in capsys.readouterr().err
    assert json.loads((out / "bob" / "report.json").read_text())["score"] == 11
    assert json.loads((out / "alice" / "report.json").read_text())["score"] == 11
    assert _grade(course, out, "--force") == 0
    assert "already graded" not in capsys.readouterr().err


def test_canvas_zip_and_intake_log(tmp_path):
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("doejane_1234_5678_adam.ipynb", json.dumps(notebook_with("adam", correct_answer("adam"))))
        bundle.writestr("roeric_late_99_5680_adam (1).ipynb", json.dumps(notebook_with("adam", mutant_answer("adam"))))
        bundle.writestr("roeric_late_99_5680_answers.docx", b"PK")
    assert _grade(archive, tmp_path / "out") == 0
    rows = _grades(tmp_path / "out")
    assert rows["1234"]["score"] == "11" and 0 < int(rows["99"]["score"]) < 11
    intake = json.loads((tmp_path / "out" / "intake.json").read_text())
    assert {entry["issue"] for entry in intake["log"]} == {
        "renamed: graded 'adam (1).ipynb' as adam.ipynb", "not graded: not a notebook (.ipynb)"}


def test_gradebook_records_scores(course, tmp_path):
    from nbgrader.api import Gradebook

    gradebook = tmp_path / "course" / "gradebook.db"
    assert _grade(course, tmp_path / "out", "--gradebook", gradebook, "--create-gradebook") == 0
    rows = _grades(tmp_path / "out")
    with Gradebook(f"sqlite:///{gradebook}") as book:
        scores = {submission.student.id: (submission.score, submission.max_score)
                  for submission in book.assignment_submissions("adam")}
        cells = {cell.name for cell in book.find_notebook("adam", "adam").grade_cells}
    assert scores == {student: (float(row["score"]), 11.0) for student, row in rows.items()}
    assert "first_step" in cells


def test_dask_executor_matches_local(course, tmp_path):
    distributed = pytest.importorskip("distributed")
    assert _grade(course, tmp_path / "local") == 0
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert _grade(course, tmp_path / "dask", "--executor", "dask", "--scheduler", cluster.scheduler_address) == 0
    assert _grades(tmp_path / "dask") == _grades(tmp_path / "local")


def test_rlimits_fallback_grades_and_says_so(tmp_path, capsys):
    submitted = tmp_path / "submitted"
    write_submission(submitted, "alice", "adam", notebook_with("adam", correct_answer("adam")))
    loop = correct_answer("adam").replace("    m = beta1", "    while True:\n        pass\n    m = beta1")
    write_submission(submitted, "looper", "adam", notebook_with("adam", loop))
    killer = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + correct_answer("adam")
    write_submission(submitted, "killer", "adam", notebook_with("adam", killer))
    # The student's process's parent is the driver, then the sandbox's zygote, then the
    # grading process.
    ancestor = ("def ancestor(generations):\n    pid = os.getpid()\n    for _ in range(generations):\n"
                "        pid = int(open(f'/proc/{pid}/stat').read().split()[3])\n    return pid\n")
    for name, generations in (("saboteur", 2), ("assassin", 3)):
        attack = f"import os, signal\n{ancestor}os.kill(ancestor({generations}), signal.SIGKILL)\n"
        write_submission(submitted, name, "adam", notebook_with("adam", attack + correct_answer("adam")))
    for student in ("zed", "zoe"):
        write_submission(submitted, student, "adam", notebook_with("adam", correct_answer("adam")))
    assert main(["grade", str(submitted), "--assignment", "adam", "--out", str(tmp_path / "out"), "--jobs", "2",
                 "--sandbox", "rlimits", "--timeout", "4"]) == 0
    assert "graded without bubblewrap" in capsys.readouterr().err
    alice = json.loads((tmp_path / "out" / "alice" / "report.json").read_text())
    looper = json.loads((tmp_path / "out" / "looper" / "report.json").read_text())
    assert alice["score"] == 11 and alice["sandbox"]["mode"] == "rlimits"
    assert looper["score"] == 0 and "wall-clock limit" in looper["error"]
    # Without bubblewrap (and as root) a submission can kill the sandbox process or the
    # grading process: it loses its own grade, the others are graded (again if needed).
    rows = _grades(tmp_path / "out")
    assert rows["zed"]["score"] == rows["zoe"]["score"] == "11"
    if os.geteuid() == 0:
        assert rows["killer"]["score"] == "0" and "before the grader got any results" in rows["killer"]["error"]
        assert rows["saboteur"]["score"] == "0" and "the sandbox failed" in rows["saboteur"]["error"]
        assert rows["assassin"]["score"] == "0" and "grading process died" in rows["assassin"]["error"]


def _tags_with_links(page: str) -> list:
    """The (tag, attributes) of elements that load or link anything, and every script."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attributes):
            if tag in ("script", "img", "link", "iframe") or any(name in ("src", "href") for name, _ in attributes):
                found.append((tag, attributes))

    Collector().feed(page)
    return found


def test_feedback_is_self_contained_and_escaped(tmp_path):
    submitted = tmp_path / "submitted"
    answer = mutant_answer("adam") + '\nprint("<script>alert(1)</script><img src=http://x/y.png>")\n'
    write_submission(submitted, "bob", "adam", notebook_with("adam", answer))
    assert _grade(submitted, tmp_path / "out") == 0
    page = (tmp_path / "out" / "bob" / "feedback.html").read_text()
    assert "<script" not in page and "<img" not in page and "&lt;script&gt;alert(1)" in page
    assert _tags_with_links(page) == []
    assert "Likely mistake: eps added inside the square root" in page
    assert "first_step" in page and "failed" in page


@pytest.mark.parametrize("arguments, message", [
    (["--assignment", "sgd"], "unknown assignment 'sgd'"),
    (["--jobs", "0"], "--jobs must be at least 1"),
    (["--executor", "dask"], "--executor dask needs --scheduler"),
    (["--release", "/nonexistent.ipynb"], "released notebook not found"),
    (["--release", __file__], "not a Jupyter notebook"),
])
def test_bad_command_lines(course, tmp_path, capsys, arguments, message):
    arguments = arguments if "--assignment" in arguments else ["--assignment", "adam", *arguments]
    assert main(["grade", str(course), "--out", str(tmp_path / "out"), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_missing_submissions(tmp_path, capsys):
    assert _grade(tmp_path / "nothing", tmp_path / "out") == 2
    assert "does not exist" in capsys.readouterr().err


def test_progress_bar_on_a_terminal():
    import io

    from autograder.grade import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = Progress(2, stream)
    progress.advance("alice", "11/11")
    progress.advance("bob", "6/11")
    text = stream.getvalue()
    assert text.startswith("\r[###############...............] 1/2 graded") and "ETA" in text
    assert "\r[##############################] 2/2 graded" in text and text.endswith("\n")
