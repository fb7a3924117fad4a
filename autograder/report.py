"""The grader's outputs: ``report.json`` and ``feedback.html`` per student, ``grades.csv``.

``report.json`` (DESIGN.md)::

    {"student", "assignment", "score", "max_score",
     "tests": [{"name", "points", "max_points", "passed", "message"}],
     "diagnosis": [...], "integrity": [{"check", "cell", "message"}], "error": null | "..."}

plus ``notes`` (cell errors, IPython syntax skipped, intake remarks), ``output`` (the
start of what the notebook printed), ``sandbox`` (mode, warnings, wall time),
``notebook_sha256``, ``grading_key`` (everything the grade depends on: a report is kept
on resume only when it matches), ``folder`` (the report's folder, a safe name that may
differ from the id), ``source`` and ``file`` (the submissions folder or zip, and the
file in it, graded), ``conflict`` (``null``, or the uploads that claim one id), ``name``
and ``late`` (the student's name and the late flag, where the LMS gives them) and
``code`` (the cells that were graded, ``[{"id", "source"}]``, cut to :data:`CODE_CHARS`).

``grades.csv`` has one row per report, with each test's points and the diagnosis (the
named mistakes' short names, ``unknown`` when none matched); a cell a spreadsheet would read as a formula
(starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed with
``'``, as OWASP recommends against CSV injection.

``feedback.html`` is one self-contained page (inline CSS, no script, no external asset)
in which every string that came from the submission is HTML-escaped. Files are written
to a temporary name and renamed, so an interrupted run never leaves half a report.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import os
import re
import tempfile
from pathlib import Path

REQUIRED_KEYS = ("student", "assignment", "score", "max_score", "tests", "diagnosis", "integrity", "error")
CSV_COLUMNS = ("student", "name", "assignment", "score", "max_score", "late", "tests_passed", "tests",
               "diagnosis", "integrity_flags", "error", "conflict", "source", "file")
#: First characters that make a spreadsheet run a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: How much of the notebook's printed output the feedback page shows.
FEEDBACK_OUTPUT_CHARS = 4000


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def read_report(path: Path) -> dict | None:
    """A report.json's content, or ``None`` when missing, unreadable or incomplete."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(report, dict) or any(key not in report for key in REQUIRED_KEYS):
        return None
    return report


def grading_key(settings: dict) -> dict:
    """What a grade depends on besides the notebook: the assignment, its fixtures, the
    grader's code and the grading settings (limits, sandbox mode, released notebook)."""
    import autograder

    package = Path(autograder.__file__).resolve().parent
    assignment = settings["assignment"]
    return {"assignment": assignment,
            "fixtures": _digest(package / "fixtures", sorted((package / "fixtures").glob(f"{assignment}.*"))),
            "grader": _digest(package, sorted(package.rglob("*.py"))),
            "settings": hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()}


def _digest(root: Path, paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


#: The parts of a grading key, in the order a changed one is named.
_KEY_PARTS = (("notebook_sha256", "notebook changed"), ("assignment", "assignment changed"),
              ("fixtures", "fixtures changed"), ("grader", "grader changed"), ("settings", "settings changed"))


def stale_reason(existing: dict | None, student: str, key: dict) -> str | None:
    """Why ``existing`` (a report read back, or ``None``) cannot stand for ``student``'s
    grade under ``key``; ``None`` when it can be kept."""
    if existing is None or existing.get("student") != student:
        return "new"
    previous = existing.get("grading_key")
    if not isinstance(previous, dict):
        return "graded by an older grader"
    changed = next((why for part, why in _KEY_PARTS if previous.get(part) != key.get(part)), None)
    if changed:
        return changed
    if str(existing.get("error") or "").startswith("not graded"):  # a lost process, not a grade
        return "not graded last time"
    return None


def earlier_reports(out: Path, assignment: str, students: set[str]) -> tuple[list[dict], list[dict]]:
    """The reports in ``out`` of students not in ``students`` (graded by earlier runs, e.g.
    another section): ``(of this assignment, of other assignments)``."""
    same, other = [], []
    for folder in sorted(out.iterdir()) if out.is_dir() else ():
        if folder.is_symlink() or not folder.is_dir():
            continue
        report = read_report(folder / "report.json")
        if report is None or report["student"] in students:
            continue
        report["folder"] = folder.name
        (same if report["assignment"] == assignment else other).append(report)
    return same, other


def to_plain(value):
    """``value`` as strict JSON data: NumPy scalars and arrays to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if hasattr(value, "tolist"):  # NumPy scalar or array
        return to_plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def report_folder(report: dict) -> str:
    """The report's folder name: its own ``folder`` if that is one safe name, else from the id."""
    from autograder.submissions import folder_name

    folder = report.get("folder")
    if isinstance(folder, str) and folder and "/" not in folder and not folder.startswith("."):
        return folder
    return folder_name(report["student"])


def write_student(out: Path, report: dict) -> None:
    """``out/<folder>/feedback.html`` and ``report.json``, the latter last: a run stopped in
    between leaves no report, so the next run grades the student again."""
    folder = out / report_folder(report)
    write_atomic(folder / "feedback.html", feedback_html(report))
    write_atomic(folder / "report.json", json.dumps(report, indent=2, allow_nan=False) + "\n")


def _cell(value):
    """``value`` for a CSV cell: text a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _mistakes(report: dict) -> str:
    """The diagnosis in a cell: the named mistakes' short names, "unknown" when none matched."""
    names = [entry.get("mistake") or "unknown" for entry in report["diagnosis"] if isinstance(entry, dict)]
    return "; ".join(names)


def _row(report: dict, test_names: list[str]) -> dict:
    points = {test["name"]: test["points"] for test in report["tests"]}
    return {"student": report["student"], "name": report.get("name"), "assignment": report["assignment"],
            "score": report["score"], "max_score": report["max_score"], "late": "late" if report.get("late") else "",
            "tests_passed": sum(bool(test["passed"]) for test in report["tests"]),
            "tests": len(report["tests"]), **{name: points.get(name) for name in test_names},
            "diagnosis": _mistakes(report), "integrity_flags": len(report["integrity"]),
            "error": report["error"], "conflict": report.get("conflict"),
            "source": report.get("source"), "file": report.get("file")}


def write_grades(out: Path, reports: list[dict]) -> None:
    """``out/grades.csv``, one row per report, sorted by student id: the columns of
    :data:`CSV_COLUMNS`, with one column per test (its points) after ``tests``."""
    test_names = list(dict.fromkeys(test["name"] for report in reports for test in report["tests"]))
    columns = [*CSV_COLUMNS[:CSV_COLUMNS.index("tests") + 1], *test_names,
               *CSV_COLUMNS[CSV_COLUMNS.index("tests") + 1:]]
    buffer = io.StringIO()
    # RFC 4180's CRLF: a cell holding a bare carriage return is then quoted too.
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for report in sorted(reports, key=lambda report: (report["student"], report_folder(report))):
        writer.writerow({column: _cell(value) for column, value in _row(report, test_names).items()})
    write_atomic(out / "grades.csv", buffer.getvalue())


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem;
       color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; } h3 { font-size: 1rem; margin-bottom: .2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .5rem; text-align: left; vertical-align: top; }
td.name { overflow-wrap: anywhere; } td.points { white-space: nowrap; }
.pass { color: #17663a; font-weight: 600; } .fail { color: #a1261b; font-weight: 600; }
.score { font-size: 1.3rem; margin-bottom: .5rem; }
.hint { background: #e8f1fb; border-left: 4px solid #2f6db5; padding: .6rem 1rem; margin: .6rem 0; }
.box { background: #fff4e5; border-left: 4px solid #e08a00; padding: .6rem 1rem; margin: .6rem 0; }
.why { font-family: ui-monospace, monospace; font-size: .9rem; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f5f5f7; padding: .6rem; font-size: .9rem; }
/* A phone: each test is a row of name, points and result, with its reason underneath. */
@media (max-width: 40rem) {
  body { margin: .8rem auto; }
  table.tests tr:first-child { display: none; }
  table.tests tr { display: grid; grid-template-columns: 1fr auto auto; border-bottom: 1px solid #ddd; }
  table.tests td { border: 0; padding: .3rem .25rem; }
  table.tests td.why { grid-column: 1 / -1; padding-top: 0; }
}
"""
#: How much of the graded code a report keeps (answers are a few hundred bytes; the
#: grader accepts up to 1 MB of code, which is no page to read).
CODE_CHARS = 20000
#: "case 'zeros': " or "all 6 cases: ", the start of a failure line of a test message.
_CASE_PREFIX = re.compile(r"^(?:case '[^']*'|all \d+ cases): ")


def graded_code(cells: list[dict]) -> list[dict]:
    """The cells the grader ran (``[{"id", "source"}]``), cut to :data:`CODE_CHARS` in all."""
    kept, left = [], CODE_CHARS
    for cell in cells:
        if left <= 0:
            break
        source = cell["source"] if len(cell["source"]) <= left else cell["source"][:left] + "\n[...]"
        kept.append({"id": cell["id"], "source": source})
        left -= len(cell["source"])
    return kept


def _text(value) -> str:
    return html.escape(str(value), quote=True)


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_text(item)}</li>" for item in items) + "</ul>"


def _diagnosis_text(entries: list[dict]) -> str:
    from autograder.diagnosis import format_diagnosis

    try:
        return format_diagnosis(entries)
    except (KeyError, TypeError, IndexError):
        return "; ".join(str(entry.get("description", entry)) for entry in entries if isinstance(entry, dict))


def _failure_lines(test: dict) -> list[str]:
    """A failed test's lines after "failed" (one per case, or one for all cases)."""
    return [line.strip() for line in str(test["message"]).splitlines()[1:] if line.strip()]


def _verdict(report: dict) -> list[str]:
    """The top of the page: the score, then the hint, then what stopped the grading."""
    passed = sum(bool(test["passed"]) for test in report["tests"])
    tally = f" &middot; {passed} of {len(report['tests'])} tests passed" if report["tests"] else ""
    parts = [f"<p class=score>Score: <strong>{_text(report['score'])}</strong> / "
             f"{_text(report['max_score'])}{tally}</p>"]
    if report["diagnosis"]:
        parts.append(f"<div class=hint>{_text(_diagnosis_text(report['diagnosis']))}</div>")
    if report.get("error"):
        parts.append(f"<div class=box><strong>Your notebook could not be fully graded:</strong> "
                     f"{_text(report['error'])}</div>")
    if report.get("conflict"):  # the other uploads' names are for the instructor only
        parts.append("<div class=box>More than one upload claims your student id; your instructor "
                     "will check which one counts.</div>")
    return parts


def _why_cell(lines: list[str]) -> str:
    """The first failure line, the others folded (a <details> needs no script)."""
    if not lines:
        return "<td class=why></td>"
    if len(lines) == 1:
        return f"<td class=why>{_text(lines[0])}</td>"
    return (f"<td class=why>{_text(lines[0])}<details><summary>{len(lines) - 1} more case(s)</summary>"
            + "<br>".join(_text(line) for line in lines[1:]) + "</details></td>")


def _tests_table(report: dict) -> str:
    """One row per test; a reason shared by every failure is said once, under the table."""
    tests = report["tests"]
    failures = {test["name"]: _failure_lines(test) for test in tests if not test["passed"]}
    reasons = {_CASE_PREFIX.sub("", line) for lines in failures.values() for line in lines}
    shared = len(failures) == len(tests) and len(reasons) == 1
    rows = "".join(
        f"<tr><td class=name>{_text(test['name'])}</td>"
        f"<td class=points>{_text(test['points'])} / {_text(test['max_points'])}</td>"
        f"<td class={'pass' if test['passed'] else 'fail'}>{'passed' if test['passed'] else 'failed'}</td>"
        + ("" if shared else _why_cell(failures.get(test["name"], []))) + "</tr>" for test in tests)
    header = "<tr><th>Test</th><th>Points</th><th>Result</th>" + ("" if shared else "<th>Why</th>") + "</tr>"
    table = f"<h2>Tests</h2><table class=tests>{header}{rows}</table>"
    if shared:
        return table + ("<p>Every test failed for the reason above.</p>" if report.get("error")
                        else f"<p>Every test failed: {_text(reasons.pop())}</p>")
    return table + _cases_named(report["assignment"], [line for lines in failures.values() for line in lines])


def _cases_named(assignment: str, lines: list[str]) -> str:
    """What each case named in ``lines`` is, said once."""
    from autograder.cases import CASES
    from autograder.checks import describe_case

    text = "\n".join(lines)
    named = [describe_case(case) for case in CASES.get(assignment, ()) if f"case {case.name!r}" in text]
    return f"<h3>The cases named above</h3>{_list(named)}" if named else ""


def _code(report: dict) -> str:
    cells = report.get("code") or []
    return ("<h2>Your graded code</h2>"
            + "".join(f"<h3>{_text(cell['id'])}</h3><pre>{_text(cell['source'])}</pre>" for cell in cells)
            if cells else "")


def feedback_html(report: dict) -> str:
    """A readable page: the score and the likely mistake first, then the tests, the code
    that was graded, integrity notes and what the notebook printed."""
    parts = [f"<h1>{_text(report['assignment'])}: feedback for {_text(report['student'])}</h1>",
             *_verdict(report)]
    if report["tests"]:
        parts.append(_tests_table(report))
    parts.append(_code(report))
    if report["integrity"]:
        parts.append("<h2>Integrity notes</h2><p>Your instructor will look at these:</p>"
                     + _list([f"{item.get('cell') or 'notebook'}: {item.get('message')}"
                              for item in report["integrity"]]))
    if report.get("notes"):
        parts.append("<h2>While running your notebook</h2>" + _list(report["notes"]))
    if report.get("output"):
        output = report["output"]
        shown = output[:FEEDBACK_OUTPUT_CHARS] + ("\n[...]" if len(output) > FEEDBACK_OUTPUT_CHARS else "")
        parts.append(f"<h2>What your notebook printed</h2><pre>{_text(shown)}</pre>")
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content=\"width=device-width, initial-scale=1\">"
            f"<title>{_text(report['assignment'])}: {_text(report['student'])}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(part for part in parts if part)
            + "\n</body></html>\n")
