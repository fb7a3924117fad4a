"""``grade`` as a student and an instructor meet it: a feedback page that leads with the
verdict and the hint, names the real cause of a broken notebook once and reads on a
phone; a grades.csv with each test's points, the mistake, the late flag and the names;
one student graded again.

One small class is graded once for the module: a correct notebook, a named mistake,
the untouched release, a syntax error in the answer cell, and the bias-corrected
states returned in place of the states.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile

import pytest
from hostile.submissions import correct_answer, mutant_answer, notebook_with, released, write_submission
from playwright.sync_api import sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, chromium_or_skip

from autograder.checks import TESTS
from autograder.cli import COMMANDS, main

ANSWERS = {
    "alice": correct_answer("adam"),
    "bob": mutant_answer("adam"),
    # An unclosed parenthesis on the answer's last line.
    "syntax": correct_answer("adam").replace("(np.sqrt(v_hat) + eps), m, v", "(np.sqrt(v_hat) + eps, m, v"),
    # The notebook warns against it: the states are m and v, not their corrected forms.
    "hats": correct_answer("adam").replace("eps), m, v", "eps), m_hat, v_hat"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    for student, answer in ANSWERS.items():
        write_submission(root / "submitted", student, "adam", notebook_with("adam", answer))
    write_submission(root / "submitted", "untouched", "adam", released("adam"))
    assert main(["grade", str(root / "submitted"), "--assignment", "adam", "--out", str(root / "out"),
                 "--timeout", "20", "--jobs", "2"]) == 0
    return root / "out"


def report(graded, student) -> dict:
    return json.loads((graded / student / "report.json").read_text())


def page(graded, student) -> str:
    return (graded / student / "feedback.html").read_text()


def test_verdict_and_hint_lead_then_one_compact_table(graded):
    text = page(graded, "bob")
    assert '<meta name=viewport content="width=device-width, initial-scale=1">' in text
    order = [text.index(marker) for marker in ("Score: <strong>6</strong> / 11", "Likely mistake: eps added inside",
                                               "<h2>Tests</h2>", "<h2>Your graded code</h2>")]
    assert order == sorted(order), "score, hint, tests, code: in this order"
    assert text.count("<table") == 1
    # A case is described once, however many tests it fails.
    assert text.count("gradients of size 1e-11..1e-7") == 1
    assert text.count("case &#x27;tiny_gradients&#x27;:") >= 2


def test_graded_code_is_shown_escaped(graded):
    text = page(graded, "bob")
    code = re.search(r"<h3>adam_update</h3><pre>(.*?)</pre>", text, re.S)
    assert code and "np.sqrt(v_hat + eps)" in code.group(1)
    assert {"id": "adam_update", "source": mutant_answer("adam")} in report(graded, "bob")["code"]


def test_untouched_notebook_says_not_implemented_once(graded):
    untouched, text = report(graded, "untouched"), page(graded, "untouched")
    assert untouched["error"].startswith("adam_update is not implemented yet")
    assert untouched["diagnosis"] == [] and untouched["score"] == 0
    assert text.count("is not implemented yet") == 1
    assert "NotImplementedError:" not in text and "No known mistake" not in text
    assert "Every test failed for the reason above." in text


def test_syntax_error_is_the_error(graded):
    error = report(graded, "syntax")["error"]
    assert error.startswith("SyntaxError: '(' was never closed (cell adam_update, line 6)"), error
    assert error.endswith("so the notebook does not define a function adam_update()")
    assert "did you mean" not in page(graded, "syntax")


@pytest.mark.parametrize("width", [1280, 375])
def test_pages_fit_the_screen(graded, width, tmp_path):
    """Nothing wider than a phone's screen; the screenshots are kept for a look."""
    chromium_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        view = browser.new_page(viewport={"width": width, "height": 800})
        for student in ("bob", "untouched", "syntax", "hats"):
            view.goto((graded / student / "feedback.html").as_uri())
            assert view.evaluate("document.documentElement.scrollWidth") <= width, student
            view.screenshot(path=tmp_path / f"{student}-{width}.png", full_page=True)
        browser.close()


def test_bias_corrected_states_are_named_and_each_test_judges_its_own_part(graded):
    """The states come back as m_hat and v_hat: the value tests fail, the form test does
    not (the NaN its wrong values reach at step 133 of 'mixed_scales' is a value problem)."""
    hats = report(graded, "hats")
    assert [entry["mistake"] for entry in hats["diagnosis"]] == ["bias_corrected_states"]
    assert "Likely mistake: the states are returned bias-corrected" in page(graded, "hats")
    verdicts = {test["name"]: test["passed"] for test in hats["tests"]}
    assert verdicts.pop("returns_new_arrays") is True
    assert not any(verdicts.values())


# --- the instructor's side: grades.csv, one student graded again ------------------------


def test_grades_csv_has_test_points_diagnosis_late_flag_and_names(tmp_path):
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("doejane_1234_5678_adam.ipynb", json.dumps(notebook_with("adam", correct_answer("adam"))))
        bundle.writestr("roeric_late_99_5680_adam.ipynb", json.dumps(notebook_with("adam", mutant_answer("adam"))))
    assert main(["grade", str(archive), "--assignment", "adam", "--out", str(tmp_path / "out")]) == 0
    with open(tmp_path / "out" / "grades.csv", newline="") as stream:
        reader = csv.DictReader(stream)
        rows = {row["student"]: row for row in reader}
    assert reader.fieldnames == ["student", "name", "assignment", "score", "max_score", "late", "tests_passed",
                                 "tests", *(spec.name for spec in TESTS["adam"]), "diagnosis", "integrity_flags",
                                 "error", "conflict", "source", "file"]
    assert (rows["1234"]["name"], rows["1234"]["late"], rows["1234"]["diagnosis"]) == ("doejane", "", "")
    assert (rows["99"]["name"], rows["99"]["late"], rows["99"]["diagnosis"]) == ("roeric", "late", "eps_inside_sqrt")
    assert rows["99"]["tiny_gradients"] == "0" and rows["99"]["long_run"] == "2"
    assert sum(int(rows["99"][spec.name]) for spec in TESTS["adam"]) == int(rows["99"]["score"])


def test_student_option_grades_only_those_again(graded, capsys):
    before = {student: (graded / student / "report.json").stat().st_mtime_ns for student in ("alice", "bob")}
    submitted = graded.parent / "submitted"
    assert main(["grade", str(submitted), "--assignment", "adam", "--out", str(graded), "--student", "bob"]) == 0
    assert "grading 1 (1 forced)" in capsys.readouterr().err
    assert (graded / "alice" / "report.json").stat().st_mtime_ns == before["alice"]
    assert (graded / "bob" / "report.json").stat().st_mtime_ns != before["bob"]
    with open(graded / "grades.csv", newline="") as stream:
        assert {row["student"] for row in csv.DictReader(stream)} == {"alice", "bob", "syntax", "hats", "untouched"}
    assert main(["grade", str(submitted), "--assignment", "adam", "--out", str(graded), "--student", "nobody"]) == 2
    assert "--student: no submission of nobody" in capsys.readouterr().err


def test_a_mistyped_gradebook_is_refused(graded, tmp_path, capsys):
    submitted, missing = graded.parent / "submitted", tmp_path / "gradbook.db"
    assert main(["grade", str(submitted), "--assignment", "adam", "--out", str(graded), "--gradebook", str(missing)]) == 2
    assert f"gradebook not found: {missing} (check the path, or add --create-gradebook" in capsys.readouterr().err
    assert not missing.exists()


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_has_no_markup_and_says_each_default_once(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"] if command else ["--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text and "`" not in text
    assert not re.search(r"\(default:[^)]*\)\s*\(default:", text)
    # An option alone on its line, with no indented help under it.
    undocumented = re.findall(r"^  (--[\w-]+(?: \S+)?)\n(?!   )", text, re.M)
    assert undocumented == [], f"options without help: {undocumented}"
