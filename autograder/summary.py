"""The class report: ``DIR/summary.json`` and ``DIR/summary.html``, written after grading.

Built from the reports that ``grades.csv`` lists (:func:`autograder.grade.grade_all`
passes them) and ``DIR/intake.json``:

* ``scores``: count, mean, median, full marks, zeros and a histogram (students per score),
* ``tests``: each hidden test's pass rate over the students,
* ``mistakes``: the diagnosed mistakes, most frequent first, with the students who made
  them (a notebook that matches several named mistakes counts under each),
* ``problems``: integrity flags, grading errors and the intake log in one list,
* ``timing``: what the run passes (jobs, executor, graded, kept, not gradable), its wall
  time (since ``intake.json`` was written, just before grading) and the mean sandbox
  time per submission.

Each student appears as ``{"student", "folder", "feedback"}``, ``feedback`` being the
path of their ``feedback.html`` relative to ``DIR`` (``None`` if it is missing).

``summary.html`` is one offline page: inline CSS, no script, the plots as ``data:`` PNG
images drawn with matplotlib's Agg canvas, every string that came from a submission
HTML-escaped, relative links to the feedback pages, and a layout that reads on a phone.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import statistics
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from autograder.report import report_folder, write_atomic

#: The plots' widths in inches (100 CSS pixels each): one for wide screens, and one for
#: phones, so that their text is not shrunk below legibility.
PLOT_WIDTHS = {"wide": 6.4, "narrow": 3.5}
#: The PNGs are drawn at twice their CSS pixel size, for sharp high-density screens.
PLOT_DPI = 200
#: Below this width the page switches to its phone layout and plots.
PHONE = "40rem"


def write_summary(out: Path, reports: list[dict], run: dict) -> dict:
    """Write ``out/summary.json`` and ``out/summary.html``; return the summary.

    ``run`` is what the grading run knows about itself: ``jobs``, ``executor``,
    ``graded`` (this run), ``kept`` (up to date from an earlier run), ``not_gradable``.
    """
    summary = summarize(out, reports, run)
    write_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    write_atomic(out / "summary.html", summary_html(summary))
    return summary


# --- the numbers ---------------------------------------------------------------------------


def summarize(out: Path, reports: list[dict], run: dict) -> dict:
    """The class summary as plain JSON data (see the module docstring)."""
    reports = sorted(reports, key=lambda report: (report["student"], report_folder(report)))
    return {"assignment": reports[0]["assignment"] if reports else None,
            "students": len(reports),
            "scores": _scores(reports),
            "tests": _tests(reports),
            "mistakes": _mistakes(out, reports),
            "problems": _problems(out, reports),
            "timing": _timing(out, reports, run)}


def _student(out: Path, report: dict) -> dict:
    """How the summary names a report's student: the id, the folder and the feedback page."""
    folder = report_folder(report)
    feedback = f"{folder}/feedback.html"
    return {"student": report["student"], "folder": folder,
            "feedback": feedback if (out / feedback).is_file() else None}


def _scores(reports: list[dict]) -> dict:
    scores = [report["score"] for report in reports]
    max_score = max((report["max_score"] for report in reports), default=0)
    counts = Counter(scores)
    return {"count": len(scores), "max_score": max_score,
            "mean": round(statistics.fmean(scores), 2) if scores else None,
            "median": statistics.median(scores) if scores else None,
            "full_marks": sum(score == max_score > 0 for score in scores),
            "zero": counts[0],
            "histogram": [{"score": score, "students": counts[score]} for score in range(int(max_score) + 1)]}


def _tests(reports: list[dict]) -> list[dict]:
    """Each hidden test, in the reports' order: how many students ran it and passed."""
    tests: dict[str, dict] = {}
    for report in reports:
        for test in report["tests"]:
            row = tests.setdefault(test["name"], {"name": test["name"], "max_points": test["max_points"],
                                                  "passed": 0, "students": 0})
            row["students"] += 1
            row["passed"] += bool(test["passed"])
    return [{**row, "pass_rate": round(row["passed"] / row["students"], 4)} for row in tests.values()]


def _text_of(entry: dict) -> str:
    """A diagnosis or integrity entry's words (DESIGN.md: a ``message`` or ``description``)."""
    return str(entry.get("description") or entry.get("message") or "")


def _mistakes(out: Path, reports: list[dict]) -> list[dict]:
    """Diagnoses grouped by mistake (or, for unnamed ones, by their words), most students first."""
    groups: dict[tuple, dict] = {}
    for report in reports:
        entries = [entry for entry in report["diagnosis"] if isinstance(entry, dict)]
        keys = dict.fromkeys((entry.get("mistake") or None, _text_of(entry)) for entry in entries)
        for name, text in keys:  # once per student, even if two entries share a key
            group = groups.setdefault((name, text), {"mistake": name, "description": text, "students": []})
            group["students"].append(_student(out, report))
    ranked = sorted(groups.values(), key=lambda group: (-len(group["students"]), group["mistake"] is None,
                                                         group["description"]))
    return [{**group, "count": len(group["students"])} for group in ranked]


def _problems(out: Path, reports: list[dict]) -> list[dict]:
    """Grading errors, integrity flags and the intake log, each with its student, by student.

    Each row: ``{"kind": "error" | "integrity" | "intake", "student", "folder", "feedback",
    "where" (file or cell), "check" (an integrity check's name, else None), "message"}``.
    """
    rows, by_id = [], {}
    for report in reports:
        student = _student(out, report)
        by_id.setdefault(report["student"], student)  # of conflicting uploads, the intake row links the first
        if report.get("error"):
            rows.append({"kind": "error", **student, "where": report.get("file"), "check": None,
                         "message": str(report["error"])})
        for entry in report["integrity"]:
            if isinstance(entry, dict):
                rows.append({"kind": "integrity", **student, "where": entry.get("cell") or "notebook",
                             "check": entry.get("check"), "message": _text_of(entry)})
    for entry in _intake_log(out):
        who = str(entry.get("student") or "")
        student = by_id.get(who, {"student": who or None, "folder": None, "feedback": None})
        rows.append({"kind": "intake", **student, "where": entry.get("file"), "check": None,
                     "message": str(entry.get("issue", ""))})
    order = {"error": 0, "integrity": 1, "intake": 2}
    return sorted(rows, key=lambda row: (row["student"] is None, row["student"] or "", order[row["kind"]]))


def _intake_log(out: Path) -> list[dict]:
    """The intake log of this run (``intake.json``), or nothing if it cannot be read."""
    try:
        log = json.loads((out / "intake.json").read_text(encoding="utf-8")).get("log", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [entry for entry in log if isinstance(entry, dict)] if isinstance(log, list) else []


def _timing(out: Path, reports: list[dict], run: dict) -> dict:
    """``run``, with the wall time since the intake and the mean sandbox time of the reports."""
    sandbox = [report["sandbox"]["wall_seconds"] for report in reports
               if isinstance(report.get("sandbox"), dict)
               and isinstance(report["sandbox"].get("wall_seconds"), (int, float))]
    try:  # grade_all writes intake.json right before grading starts
        wall = round(time.time() - (out / "intake.json").stat().st_mtime, 2)
    except OSError:
        wall = None
    graded = run.get("graded") or 0
    return {**run, "wall_seconds": wall,
            "wall_seconds_per_graded": round(wall / graded, 3) if wall is not None and graded else None,
            "mean_sandbox_seconds": round(statistics.fmean(sandbox), 3) if sandbox else None}


# --- the plots -------------------------------------------------------------------------------


def _png(figure) -> str:
    """``figure`` as a ``data:`` URI of a PNG (no file, no request)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PLOT_DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float):
    # A bare Figure draws with Agg and never touches pyplot's global state or a display.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def histogram_png(scores: dict, width: float) -> tuple[str, float]:
    """The score histogram: a data URI, and its height in inches."""
    from matplotlib.ticker import MaxNLocator

    height = 2.6
    figure, axes = _figure(width, height)
    bins = scores["histogram"]
    axes.bar([row["score"] for row in bins], [row["students"] for row in bins], width=0.8, color="#3465a4")
    axes.set_xlabel("score")
    axes.set_ylabel("students")
    # Whole points, every one where they fit (about 2.5 labels an inch); whole students.
    axes.set_xticks(range(0, len(bins), math.ceil(len(bins) / (2.5 * width))))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(figure), height


def pass_rate_png(tests: list[dict], width: float) -> tuple[str, float]:
    """Each test's pass rate as a horizontal bar: a data URI, and its height in inches."""
    height = 0.9 + 0.3 * len(tests)
    figure, axes = _figure(width, height)
    positions = range(len(tests))
    axes.barh(positions, [100 * test["pass_rate"] for test in tests], color="#4e9a06")
    # Test names are plain words: no mathtext, whatever a name holds.
    axes.set_yticks(positions, [test["name"] for test in tests], parse_math=False)
    axes.invert_yaxis()  # the first test on top, as in the table
    axes.set_xlim(0, 100)
    axes.set_xlabel("passed (%)")
    return _png(figure), height


# --- the page --------------------------------------------------------------------------------


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem;
       color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; }
.lede { color: #555; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: .6rem; margin: 1rem 0; }
.card { background: #f5f5f7; border-radius: .4rem; padding: .5rem .9rem; min-width: 6.5rem; }
.card b { display: block; font-size: 1.4rem; }
img { max-width: 100%; height: auto; display: block; margin: .8rem 0; }
table { border-collapse: collapse; width: 100%; } table.tests { max-width: 44rem; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .5rem; text-align: left; vertical-align: top; }
th { white-space: nowrap; }
/* Ids, file names and messages come from submissions: a long one wraps anywhere. */
td { overflow-wrap: anywhere; } td.where { min-width: 8rem; }
td.num, th.num { text-align: right; white-space: nowrap; }
.meter { background: #e4e4e7; height: .5rem; border-radius: .25rem; min-width: 4rem; margin-top: .45rem; }
.meter span { display: block; height: 100%; background: #4e9a06; border-radius: .25rem; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
td code { overflow-wrap: normal; } .mistake-name { color: #555; }
.who { font-size: .92em; }
.kind { font-weight: 600; white-space: nowrap; }
.kind-error { color: #a1261b; } .kind-integrity { color: #b35900; } .kind-intake { color: #555; }
dl { display: grid; grid-template-columns: auto 1fr; gap: .3rem 1rem; }
dt { color: #555; } dd { margin: 0; white-space: nowrap; }
.none { color: #555; font-style: italic; }
/* A phone: each row of a wide table becomes a small block of labelled lines. */
@media (max-width: PHONE) {
  table.stack thead { display: none; }
  table.stack tr { display: block; border-bottom: 1px solid #ddd; padding: .4rem 0; }
  table.stack td { display: block; border: 0; padding: .1rem 0; }
  table.stack td[data-label]::before { content: attr(data-label) ": "; color: #555; }
}
"""


def _text(value) -> str:
    return html.escape(str(value), quote=True)


def _number(value, unit: str = "") -> str:
    return "—" if value is None else f"{_text(value)}{unit}"


def _link(student: dict) -> str:
    """The student's id, linked to their feedback page when there is one."""
    if not student.get("student"):
        return "<span class=none>no student</span>"
    name = _text(student["student"])
    if not student.get("feedback"):
        return name
    return f'<a href="{_text(quote(student["feedback"]))}">{name}</a>'


def _picture(draw, data, alt: str) -> str:
    """``draw(data, width)`` at both plot widths: a <picture> that shows phones the narrow one."""
    (wide, wide_height), (narrow, narrow_height) = (draw(data, PLOT_WIDTHS[size]) for size in ("wide", "narrow"))

    def size(width, height):
        return f"width={round(width * 100)} height={round(height * 100)}"

    return (f'<picture><source media="(max-width: {PHONE})" srcset="{narrow}" '
            f'{size(PLOT_WIDTHS["narrow"], narrow_height)}>'
            f'<img src="{wide}" {size(PLOT_WIDTHS["wide"], wide_height)} alt="{_text(alt)}"></picture>')


def _breakable(name: str) -> str:
    """An identifier, escaped, that a narrow column may wrap after its underscores."""
    return _text(name).replace("_", "_<wbr>")


def _overview_html(summary: dict) -> str:
    scores = summary["scores"]
    cards = [("students", scores["count"]), ("mean", _number(scores["mean"])),
             ("median", _number(scores["median"])), ("full marks", scores["full_marks"]),
             ("zero", scores["zero"])]
    return ("<div class=cards>" + "".join(f"<div class=card><b>{value}</b>{label}</div>" for label, value in cards)
            + f"</div><h2>Scores (out of {_text(scores['max_score'])})</h2>"
            + _picture(histogram_png, scores, f"histogram of the {scores['count']} scores"))


def _tests_html(tests: list[dict]) -> str:
    if not tests:
        return "<h2>Hidden tests</h2><p class=none>No test results.</p>"
    rows = "".join(
        f"<tr><td><code>{_breakable(test['name'])}</code></td><td class=num>{_text(test['max_points'])}</td>"
        f"<td class=num>{test['passed']} of {test['students']}, {round(100 * test['pass_rate'])}%"
        f"<div class=meter><span style=\"width: {100 * test['pass_rate']:.1f}%\"></span></div></td></tr>"
        for test in tests)
    return ("<h2>Hidden tests</h2><table class=tests><thead><tr><th>Test</th><th class=num>Points</th>"
            f"<th class=num>Passed</th></tr></thead>{rows}</table>"
            + _picture(pass_rate_png, tests, "pass rate of each hidden test"))


def _mistakes_html(mistakes: list[dict]) -> str:
    head = ("<h2>Mistakes, most frequent first</h2><p class=lede>From the diagnosis of each failing "
            "notebook; a notebook that matches several mistakes is counted under each.</p>")
    if not mistakes:
        return head + "<p class=none>No mistake was diagnosed.</p>"
    rows = "".join(
        f"<tr><td class=num>{group['count']}</td><td>{_text(group['description'] or 'no description')}"
        + (f" <code class=mistake-name>{_breakable(group['mistake'])}</code>" if group["mistake"] else "")
        + "<div class=who>" + ", ".join(_link(student) for student in group["students"]) + "</div></td></tr>"
        for group in mistakes)
    return head + f"<table><thead><tr><th class=num>Students</th><th>Mistake, and who</th></tr></thead>{rows}</table>"


def _problems_html(problems: list[dict]) -> str:
    head = "<h2>Integrity flags and intake problems</h2>"
    if not problems:
        return head + "<p class=none>None: every file was graded and nothing was flagged.</p>"
    rows = "".join(
        f"<tr><td data-label=Student>{_link(row)}</td>"
        f"<td class=\"kind kind-{row['kind']}\">{row['kind']}"
        + (f" <code>{_text(row['check'])}</code>" if row.get("check") else "") + "</td>"
        f"<td class=where data-label=Where>{_text(row['where'] or '')}</td><td>{_text(row['message'])}</td></tr>"
        for row in problems)
    return (head + "<table class=stack><thead><tr><th>Student</th><th>Kind</th><th>Where</th><th>What</th>"
            f"</tr></thead>{rows}</table>")


def _timing_html(timing: dict) -> str:
    items = [("wall time", _number(timing["wall_seconds"], " s")),
             ("graded in this run", _number(timing.get("graded"))),
             ("kept from an earlier run", _number(timing.get("kept"))),
             ("not gradable", _number(timing.get("not_gradable"))),
             ("wall time per graded notebook", _number(timing["wall_seconds_per_graded"], " s")),
             ("mean sandbox time per notebook", _number(timing["mean_sandbox_seconds"], " s")),
             ("jobs", f"{_number(timing.get('jobs'))} ({_text(timing.get('executor', 'local'))})")]
    return "<h2>Timing</h2><dl>" + "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in items) + "</dl>"


def summary_html(summary: dict) -> str:
    """The class report as one self-contained page."""
    assignment = _text(summary["assignment"])
    parts = [f"<h1>{assignment}: class summary</h1>",
             f"<p class=lede>{summary['students']} student(s), as in grades.csv; each name links to "
             "the student's feedback page.</p>",
             _overview_html(summary), _tests_html(summary["tests"]), _mistakes_html(summary["mistakes"]),
             _problems_html(summary["problems"]), _timing_html(summary["timing"])]
    style = _STYLE.replace("PHONE", PHONE)
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{assignment}: class summary</title><style>{style}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
