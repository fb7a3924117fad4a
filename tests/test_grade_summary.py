"""The class report ``summary.json`` / ``summary.html`` that ``python -m autograder grade``
writes: its numbers against the reports, and the page in headless Chromium (offline,
error-free, escaped, links that resolve, readable on a 375 px phone)."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from playwright.sync_api import sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, chromium_or_skip

from autograder.cli import main
from autograder.summary import summarize
from hostile.submissions import correct_answer, mutant_answer, notebook_with, released, write_submission

#: An id that would run script if the page did not escape it (no "/": it is a folder name),
#: and ends in a word too long for a phone's line.
HOSTILE_ID = "<img src=x onerror=alert(2)><script>alert(1)" + "x" * 60


def _grade(submissions: Path, out: Path, *extra) -> int:
    return main(["grade", str(submissions), "--assignment", "adam", "--out", str(out), "--timeout", "20",
                 *map(str, extra)])


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """A small class, graded with two jobs: correct, two mutants, untouched, a hostile id
    (correct, but importing the book's optimizers) and a stray file; returns the output folder."""
    root = tmp_path_factory.mktemp("class")
    submitted = root / "submitted"
    write_submission(submitted, "alice", "adam", notebook_with("adam", correct_answer("adam")))
    write_submission(submitted, "bob", "adam", notebook_with("adam", mutant_answer("adam")))
    write_submission(submitted, "carol", "adam", notebook_with("adam", mutant_answer("adam")))
    write_submission(submitted, "dave", "adam", released("adam"))
    write_submission(submitted, HOSTILE_ID, "adam",
                     notebook_with("adam", correct_answer("adam"), extra_cells=["import book.optim\n"]))
    (submitted / "erin").mkdir()
    (submitted / "erin" / "notes.txt").write_text("my answers are in the notebook")
    assert _grade(submitted, root / "out", "--jobs", 2) == 0
    return root / "out"


def _reports(out: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(out.glob("*/report.json"))]


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_numbers_match_the_reports(graded):
    reports, summary = _reports(graded), _summary(graded)
    scores = [report["score"] for report in reports]
    max_score = reports[0]["max_score"]
    with open(graded / "grades.csv", newline="") as stream:
        assert summary["students"] == len(list(csv.DictReader(stream))) == len(reports) == 5
    assert summary["scores"] == {
        **summary["scores"], "count": 5, "max_score": max_score, "mean": round(statistics.fmean(scores), 2),
        "median": statistics.median(scores), "full_marks": scores.count(max_score), "zero": scores.count(0)}
    assert summary["scores"]["full_marks"] == 2 and summary["scores"]["zero"] == 1  # alice, the hostile id; dave
    histogram = {row["score"]: row["students"] for row in summary["scores"]["histogram"]}
    assert histogram == {score: scores.count(score) for score in range(max_score + 1)}
    for test in summary["tests"]:
        results = [t for report in reports for t in report["tests"] if t["name"] == test["name"]]
        assert test["students"] == len(results) == 5
        assert test["passed"] == sum(t["passed"] for t in results)
        assert test["pass_rate"] == pytest.approx(test["passed"] / 5, abs=1e-4)
    assert [test["name"] for test in summary["tests"]] == [test["name"] for test in reports[0]["tests"]]


def test_mistakes_ranked_with_links_to_feedback(graded):
    mistakes = _summary(graded)["mistakes"]
    assert mistakes[0]["mistake"] == "eps_inside_sqrt" and mistakes[0]["count"] == 2
    assert [student["student"] for student in mistakes[0]["students"]] == ["bob", "carol"]
    counts = [group["count"] for group in mistakes]
    assert counts == sorted(counts, reverse=True)
    for group in mistakes:
        for student in group["students"]:
            assert (graded / student["feedback"]).is_file()


def test_problems_and_timing(graded):
    summary = _summary(graded)
    problems = summary["problems"]
    hostile = [row for row in problems if row["student"] == HOSTILE_ID]
    assert [row["kind"] for row in hostile] == ["integrity"]
    assert hostile[0]["folder"] != HOSTILE_ID and (graded / hostile[0]["feedback"]).is_file()
    assert any(row["kind"] == "intake" and row["where"] == "erin/notes.txt" for row in problems)
    dave = json.loads((graded / "dave" / "report.json").read_text())
    assert any(row["kind"] == "error" and row["student"] == "dave" for row in problems) == bool(dave["error"])
    timing = summary["timing"]
    assert (timing["jobs"], timing["executor"], timing["graded"], timing["kept"]) == (2, "local", 5, 0)
    assert 0 < timing["mean_sandbox_seconds"] < timing["wall_seconds"]


def test_a_second_section_keeps_the_first_in_the_summary(tmp_path):
    """The summary lists what grades.csv lists: earlier sections graded into the folder too."""
    for section, student, answer in (("a", "alice", correct_answer("adam")), ("b", "bob", mutant_answer("adam"))):
        write_submission(tmp_path / section, student, "adam", notebook_with("adam", answer))
        assert _grade(tmp_path / section, tmp_path / "out") == 0
    summary = _summary(tmp_path / "out")
    assert summary["students"] == 2 and summary["scores"]["full_marks"] == 1
    assert summary["timing"]["graded"] == 1
    assert [student["student"] for student in summary["mistakes"][0]["students"]] == ["bob"]


def test_mistakes_count_each_student_once_per_mistake(tmp_path):
    """Ambiguous diagnoses count under each mistake; a repeated entry counts once."""
    def report(student, *names):
        return {"student": student, "assignment": "adam", "score": 0, "max_score": 1, "tests": [],
                "integrity": [], "error": None,
                "diagnosis": [{"mistake": name, "description": f"about {name}"} for name in names]}

    reports = [report("a", "x", "y"), report("b", "y", "y"), report("c", None), report("d")]
    mistakes = summarize(tmp_path, reports, {})["mistakes"]
    assert [(group["mistake"], group["count"]) for group in mistakes] == [("y", 2), ("x", 1), (None, 1)]
    assert mistakes[0]["students"][0] == {"student": "a", "folder": "a", "feedback": None}  # no page written


# --- the page in Chromium ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    chromium_or_skip()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser, path: Path, width: int):
    """The page at ``width`` CSS pixels, and the list its problems are collected in."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))

    def local_only(route):
        url = route.request.url
        if url.startswith(("file://", "data:")):
            route.continue_()
        else:
            problems.append(f"external request: {url}")
            route.abort()

    page.route("**/*", local_only)
    page.goto(path.as_uri(), wait_until="load")
    return page, problems


@pytest.mark.parametrize("width", [1280, 375])
def test_page_in_chromium(browser, graded, width):
    page, problems = _open(browser, graded / "summary.html", width)
    assert page.evaluate("document.scripts.length") == 0
    assert page.locator("meta[name=viewport]").count() == 1
    images = page.evaluate("Array.from(document.images, i => [i.currentSrc.slice(0, 22), i.naturalWidth])")
    assert len(images) == 2 and all(src == "data:image/png;base64," and natural > 0 for src, natural in images)
    links = page.evaluate("Array.from(document.links, a => [a.textContent, a.href])")
    assert {text for text, _ in links} >= {"bob", "carol", HOSTILE_ID}
    for _, href in links:
        assert href.startswith(graded.as_uri()) and Path(unquote(urlparse(href).path)).is_file(), href
    assert HOSTILE_ID in page.inner_text("body")  # shown as text, never run
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    page.close()
    assert not problems, "\n".join(problems)


def test_page_source_escapes_student_strings(graded):
    text = (graded / "summary.html").read_text()
    assert "<script" not in text and "<img src=x" not in text
    assert "&lt;img src=x onerror=alert(2)&gt;&lt;script&gt;alert(1)xxx" in text
