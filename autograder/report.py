"""The grader's outputs: ``report.json`` and ``feedback.html`` per student, ``grades.csv``.

``report.json`` (DESIGN.md)::

    {"student", "assignment", "score", "max_score",
     "tests": [{"name", "points", "max_points", "passed", "message"}],
     "diagnosis": [...], "integrity": [{"check", "cell", "message"}], "error": null | "..."}

plus ``notes`` (cell errors, IPython syntax skipped, intake remarks), ``output`` (the
start of what the notebook printed), ``sandbox`` (mode, warnings, wall time) and
``notebook_sha256`` (a resubmitted notebook is graded again on resume).

``feedback.html`` is one self-contained page (inline CSS, no script, no external asset)
in which every string that came from the submission is HTML-escaped. Files are written
to a temporary name and renamed, so an interrupted run never leaves half a report.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import tempfile
from pathlib import Path

REQUIRED_KEYS = ("student", "assignment", "score", "max_score", "tests", "diagnosis", "integrity", "error")
CSV_COLUMNS = ("student", "assignment", "score", "max_score", "tests_passed", "tests", "integrity_flags", "error")
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


def write_student(out: Path, report: dict) -> None:
    """``out/<student>/report.json`` and ``feedback.html``."""
    folder = out / report["student"]
    write_atomic(folder / "report.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
    write_atomic(folder / "feedback.html", feedback_html(report))


def write_grades(out: Path, reports: list[dict]) -> None:
    """``out/grades.csv``, one row per student, sorted by student id."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for report in sorted(reports, key=lambda report: report["student"]):
        writer.writerow({"student": report["student"], "assignment": report["assignment"],
                         "score": report["score"], "max_score": report["max_score"],
                         "tests_passed": sum(bool(test["passed"]) for test in report["tests"]),
                         "tests": len(report["tests"]), "integrity_flags": len(report["integrity"]),
                         "error": report["error"] or ""})
    write_atomic(out / "grades.csv", buffer.getvalue())


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .5rem; text-align: left; vertical-align: top; }
.pass { color: #17663a; font-weight: 600; } .fail { color: #a1261b; font-weight: 600; }
.score { font-size: 1.3rem; } .box { background: #fff4e5; border-left: 4px solid #e08a00; padding: .6rem 1rem; }
pre { white-space: pre-wrap; word-break: break-word; background: #f5f5f7; padding: .6rem; }
"""


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


def feedback_html(report: dict) -> str:
    """A readable page: score, what failed and why, the likely mistake, integrity notes."""
    parts = [f"<h1>{_text(report['assignment'])}: feedback for {_text(report['student'])}</h1>",
             f"<p class=score>Score: <strong>{_text(report['score'])}</strong> / {_text(report['max_score'])}</p>"]
    if report.get("error"):
        parts.append(f"<div class=box><strong>Your notebook could not be fully graded:</strong> "
                     f"{_text(report['error'])}</div>")
    if report["tests"]:
        rows = "".join(
            f"<tr><td>{_text(test['name'])}</td>"
            f"<td class={'pass' if test['passed'] else 'fail'}>{'passed' if test['passed'] else 'failed'}</td>"
            f"<td>{_text(test['points'])} / {_text(test['max_points'])}</td>"
            f"<td><pre>{_text(test['message'])}</pre></td></tr>" for test in report["tests"])
        parts.append("<h2>Tests</h2><table><tr><th>Test</th><th>Result</th><th>Points</th><th>Details</th></tr>"
                     f"{rows}</table>")
    if report["diagnosis"]:
        parts.append(f"<h2>Diagnosis</h2><p>{_text(_diagnosis_text(report['diagnosis']))}</p>")
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
            f"<title>{_text(report['assignment'])}: {_text(report['student'])}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
