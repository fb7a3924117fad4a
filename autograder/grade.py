"""``python -m autograder grade SUBMISSIONS --assignment A --out DIR``: grade many notebooks.

For each submission (found by :mod:`autograder.submissions`), a grading process:

1. takes the answer and helper cells out of the notebook (:mod:`autograder.extract`),
2. runs them, then :func:`autograder.execute.run_submission`, in a separate sandboxed
   process (:mod:`autograder.sandbox`, :mod:`autograder.runner`) that cannot read the
   reference fixtures, the output folder or the other submissions,
3. judges the returned plain data against the fixtures (:func:`autograder.checks.judge`)
   and names the likely mistake (:func:`autograder.diagnosis.diagnose`) in the grader,
4. adds integrity findings (:mod:`autograder.integrity`).

The main process is the only writer: ``DIR/<folder>/report.json`` and
``feedback.html`` as each submission finishes (the folder is the student id, or a safe
name for it), then ``DIR/grades.csv`` and, with ``--gradebook``, nbgrader's gradebook.
``DIR/intake.json`` lists the files that were not graded or were graded under a guessed
or changed name; a student whose files cannot be graded gets a zero report that says why.

Re-runs: a ``report.json`` already there is kept only when its ``grading_key`` matches:
the same notebook, assignment, fixtures, grader code and settings (limits, sandbox,
released notebook); otherwise, or with ``--force``, the student is graded again, and the
summary says which were kept and why the others were graded. ``--student ID`` (repeatable)
grades only those students again and leaves the other reports as they are. ``grades.csv`` lists every
student graded into ``DIR`` for this assignment: grading section B after section A into
one folder keeps A's rows, each row's ``source`` naming the submissions it was graded
from. Ctrl-C stops grading, writes ``grades.csv`` for what was graded and exits with 130.
Grading runs in ``--jobs`` local processes or, with ``--executor dask``, on a
dask.distributed cluster (whose workers need this package and, for isolation, bwrap).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

#: Size of the sandbox's private /tmp, shared by the submissions it runs one after another.
TMP_BYTES = 64 << 20
#: Notebooks up to this size are read in the grading process (their parsing costs at most
#: tens of MB); larger ones in a limited child process (:mod:`autograder.limited`), which
#: costs a fork (~20 ms here).
PARSE_IN_PROCESS_CHARS = 1 << 20


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "grade", help="grade submitted notebooks in a sandbox, in parallel",
        description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("submissions", type=Path, help="an nbgrader submitted/ folder, an LMS folder or a zip")
    parser.add_argument("--assignment", required=True, help="assignment name (adam or adamax)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--jobs", type=int, default=1, help="grading processes")
    parser.add_argument("--student", action="append", metavar="ID",
                        help="grade only this student again, even if the report is up to date (repeatable); "
                             "the others' reports stay as they are")
    parser.add_argument("--force", action="store_true",
                        help="grade every student again, even those whose report is up to date")
    parser.add_argument("--release", type=Path,
                        help="released notebook for the metadata checks (default: exercises/<a>/<a>.ipynb)")
    parser.add_argument("--gradebook", type=Path,
                        help="nbgrader gradebook.db to record the scores in (it must exist, see --create-gradebook)")
    parser.add_argument("--create-gradebook", action="store_true",
                        help="create the --gradebook file if it does not exist")
    parser.add_argument("--executor", choices=("local", "dask"), default="local",
                        help="local: --jobs processes on this machine; dask: the tasks of a dask.distributed "
                             "cluster (see --scheduler)")
    parser.add_argument("--scheduler", help="dask scheduler address, with --executor dask")
    parser.add_argument("--sandbox", choices=("auto", "bwrap", "rlimits"), default="auto",
                        help="auto: bubblewrap when it works, else resource limits only")
    parser.add_argument("--timeout", type=float, default=60.0, help="wall-clock seconds per submission")
    parser.add_argument("--memory-mb", type=int, default=2048, help="memory (data segment) per submission")
    parser.set_defaults(func=run)


class UsageError(ValueError):
    """A bad command line or input, reported in one line."""


def run(args) -> int:
    try:
        return grade_all(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before grading started: nothing was written
        print("\ninterrupted before grading: nothing was written", file=sys.stderr)
        return 130


def _settings(args) -> dict:
    """Everything a grading process needs, as plain data (it may travel to a dask worker)."""
    import autograder
    from autograder.cases import CASES
    from autograder.extract import NotebookError, load_notebook
    from autograder.sandbox import Limits

    if args.assignment not in CASES:
        raise UsageError(f"unknown assignment {args.assignment!r}; expected one of {sorted(CASES)}")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.timeout <= 0 or args.memory_mb < 64:
        raise UsageError("--timeout must be positive and --memory-mb at least 64")
    if args.executor == "dask" and not args.scheduler:
        raise UsageError("--executor dask needs --scheduler ADDRESS")
    if args.gradebook and not args.create_gradebook and not args.gradebook.is_file():
        # A mistyped path would otherwise start an empty gradebook and record nothing where expected.
        raise UsageError(f"gradebook not found: {args.gradebook} (check the path, or add --create-gradebook "
                         "to start a new one)")
    package = Path(autograder.__file__).resolve().parent
    release = args.release or package.parent / "exercises" / args.assignment / f"{args.assignment}.ipynb"
    released = None
    if release.is_file():
        released = release.read_text(encoding="utf-8")
        try:
            load_notebook(released)
        except NotebookError as error:
            raise UsageError(f"released notebook {release}: {error}") from None
    elif args.release:
        raise UsageError(f"released notebook not found: {args.release}")
    seconds = max(1, int(args.timeout))
    limits = Limits(wall_seconds=args.timeout, cpu_seconds=seconds, memory_bytes=args.memory_mb << 20)
    return {"assignment": args.assignment, "released": released, "limits": limits.as_dict(),
            "sandbox": args.sandbox}


def _empty_report(submission: dict, assignment: str) -> dict:
    return {"student": submission["student"], "assignment": assignment, "score": 0, "max_score": 0,
            "tests": [], "diagnosis": [], "integrity": [], "error": None,
            "notes": list(submission.get("notes", [])), "output": "", "sandbox": None,
            "notebook_sha256": submission["sha256"]}


def grade_submission(submission: dict, settings: dict) -> dict:
    """The report of one submission (``{"student", "notebook" (text), "sha256", "notes"}``).

    Never raises: a failure of the grader itself becomes the report's ``error``.
    """
    assignment = settings["assignment"]
    report = _empty_report(submission, assignment)
    try:
        _grade_into(report, submission, settings)
    except Exception as error:  # noqa: BLE001 - one submission must not stop the others
        report["error"] = f"internal grading error: {type(error).__name__}: {error}"
    from autograder.report import to_plain

    return to_plain(report)


def _grade_into(report: dict, submission: dict, settings: dict) -> None:
    from autograder import limited
    from autograder.checks import first_call_failure, judge
    from autograder.report import graded_code

    assignment = settings["assignment"]
    outputs = None
    try:
        if len(submission["notebook"]) <= PARSE_IN_PROCESS_CHARS:
            prepared = prepare(submission["notebook"], settings["released"])
        else:
            prepared = limited.call(prepare, submission["notebook"], settings["released"])
    except limited.ChildFailed as error:
        report["error"] = f"the notebook could not be graded: {error}"
    else:
        report["notes"] += prepared["notes"]
        report["integrity"] += prepared["integrity"]
        report["error"] = prepared["error"]
        report["code"] = graded_code(prepared["cells"] or [])
        if prepared["cells"] is not None:
            outputs = _run_cells(report, prepared["cells"], settings)
    if outputs is not None and not (isinstance(outputs, dict) and isinstance(outputs.get("cases"), dict)):
        report["error"] = "the grading process sent malformed outputs"
        outputs = None
    tests = judge(assignment, outputs or {"assignment": assignment, "cases": {}})
    report["tests"] = [test.as_dict() for test in tests]
    report["score"] = sum(test.points for test in tests)
    report["max_score"] = sum(test.max_points for test in tests)
    failure = first_call_failure(assignment, outputs)
    if failure:  # one sentence says it all, no diagnosis
        report["error"] = report["error"] or failure
    elif outputs is not None and not all(test.passed for test in tests):
        from autograder.diagnosis import diagnose

        try:
            report["diagnosis"] = diagnose(assignment, outputs)
        except Exception as error:  # noqa: BLE001 - hostile outputs must not cost the verdicts
            report["notes"].append(f"no diagnosis: {type(error).__name__}: {error}")


def prepare(text: str, released_text: str | None) -> dict:
    """Read a submitted notebook: the cells to run and what the grader sees in it.

    ``{"cells": [{"id", "source"}] | None, "notes", "integrity", "error"}``, plain data.
    It parses untrusted text, so :func:`_grade_into` runs it through
    :func:`autograder.limited.call` when the notebook is large (see
    :data:`PARSE_IN_PROCESS_CHARS`).
    """
    from autograder import integrity
    from autograder.extract import NotebookError, extract, load_notebook

    prepared = {"cells": None, "notes": [], "integrity": [], "error": None}
    try:
        notebook = load_notebook(text)
        extraction = extract(notebook)
    except NotebookError as error:
        prepared["error"] = str(error)
        return prepared
    released = load_notebook(released_text) if released_text else None
    if released is None:
        prepared["notes"].append("no released notebook to compare nbgrader metadata with; "
                                 "checksums were verified instead")
    prepared["notes"] += extraction.notes
    prepared["integrity"] = integrity.code_findings(extraction.cells) + \
        integrity.metadata_findings(notebook, released)
    prepared["cells"] = extraction.cells
    return prepared


@functools.lru_cache(maxsize=None)
def _stored_inputs(assignment: str) -> dict:
    """The cases' stored inputs, read once per grading process (only serialised from here)."""
    from autograder.reference import load_inputs

    return load_inputs(assignment)


def _run_cells(report: dict, cells: list[dict], settings: dict) -> dict | None:
    """Run the notebook's cells and the cases in the sandbox; return the run outputs (or None)."""
    from autograder import sandbox, wire
    from autograder.cases import FUNCTIONS
    from autograder.reference import load_inputs

    assignment = settings["assignment"]
    limits = sandbox.Limits(**settings["limits"])
    request = {"assignment": assignment, "function": FUNCTIONS[assignment], "cells": cells,
               "inputs": _stored_inputs(assignment)}
    try:
        runner = sandbox.sandbox_for(mode=settings["sandbox"], tmp_bytes=TMP_BYTES)
        outcome = runner.run(request, limits)
    except sandbox.SandboxError as error:
        # Without bubblewrap, the code can signal the sandbox process.
        report["error"] = f"the sandbox failed while running this notebook: {error}"
        return None
    report["sandbox"] = {"mode": outcome.mode, "warnings": outcome.warnings,
                         "wall_seconds": round(outcome.wall_seconds, 3), "exit": outcome.exit_description()}
    report["output"] = outcome.output
    if outcome.output_bytes > len(outcome.output.encode("utf-8", errors="replace")):
        report["notes"].append(f"the notebook printed {outcome.output_bytes} bytes; only the first "
                               f"{limits.output_bytes} were kept")
    return _read_reply(report, outcome, wire)


#: The keys of the driver's reply (:func:`autograder.runner.conduct`).
REPLY_KEYS = {"cells", "replaced", "outputs", "error", "protocol"}


def _read_reply(report: dict, outcome, wire) -> dict | None:
    """Record the sandbox driver's reply in ``report``; return the run outputs.

    The reply is the driver's (the student's process never holds the result pipe), but
    its ``cells`` and ``replaced`` entries repeat what the student's process said about
    itself: notes and advisory findings only. A reply of any other form is rejected.
    """
    from autograder import integrity

    if outcome.result_overflow:
        report["error"] = "the notebook's process sent more result data than allowed"
        return None
    if not outcome.result:
        report["error"] = f"the notebook's code {outcome.exit_description()} before the grader got any results"
        return None
    try:
        reply = wire.loads(outcome.result)
        if not isinstance(reply, dict) or not set(reply) <= REPLY_KEYS:
            raise ValueError("not the driver's reply")
        cells, replaced = reply.get("cells") or [], reply.get("replaced") or []
        report["notes"] += [f"{cell['id']}: {cell['error']}" for cell in cells if cell.get("error")]
        report["integrity"] += integrity.replaced_findings([str(name) for name in replaced])
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        report["error"] = f"the sandbox sent a malformed reply, which was rejected ({error})"
        report["integrity"].append(integrity.finding("protocol", None, report["error"]))
        return None
    if reply.get("protocol"):
        report["integrity"].append(integrity.finding(
            "protocol", None, f"the notebook's process broke the grading protocol ({reply['protocol']}); "
            "its answers from then on were not used"))
    if reply.get("error"):
        report["error"] = str(reply["error"])
    if outcome.returncode != 0:
        report["notes"].append(f"the notebook's process {outcome.exit_description()}")
    return reply.get("outputs")


# --- orchestration (main process) -------------------------------------------------------


class Progress:
    """``graded n/N, ETA`` on stderr: a redrawn bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.started = total, 0, time.monotonic()
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def advance(self, student: str, score: str) -> None:
        from autograder.submissions import printable

        self.done += 1
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        text = (f"{self.done}/{self.total} graded, {elapsed:.0f} s elapsed, ETA {eta:.0f} s "
                f"({printable(student)}: {score})")
        if self.tty:
            width = 30
            filled = int(width * self.done / max(1, self.total))
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\033[K")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


@dataclass
class _Plan:
    """What a run does with each submission (see :func:`_pending`)."""

    todo: list[dict] = field(default_factory=list)  # to grade
    kept: list[dict] = field(default_factory=list)  # reports still valid
    refreshed: list[dict] = field(default_factory=list)  # of kept: the intake facts changed (file, conflict)
    refused: list[dict] = field(default_factory=list)  # zero reports: nothing can be graded
    about: dict = field(default_factory=dict)  # (student, notebook sha256) -> report fields from the intake
    reasons: Counter = field(default_factory=Counter)  # why each of todo is graded


def _pending(intake, out: Path, force: bool, settings: dict, source: Path) -> _Plan:
    """Sort the submissions into graded again, kept (same grading key) and refused."""
    from autograder.report import grading_key, read_report, stale_reason

    plan, base = _Plan(), grading_key(settings)
    for submission in intake.submissions:
        digest = hashlib.sha256(submission.notebook).hexdigest()
        about = {"folder": submission.folder, "name": submission.name, "late": submission.late,
                 "source": str(source), "file": submission.origin,
                 "conflict": submission.conflict, "grading_key": {**base, "notebook_sha256": digest}}
        entry = {"student": submission.student, "notebook": submission.notebook.decode("utf-8", "replace"),
                 "sha256": digest, "notes": submission.notes}
        if submission.problem:
            plan.refused.append({**_failed(entry, settings, submission.problem), **about})
            continue
        existing = None if force else read_report(out / submission.folder / "report.json")
        why = "forced" if force else stale_reason(existing, submission.student, about["grading_key"])
        if why is None:
            plan.kept.append({**existing, **about})
            if any(existing.get(key) != value for key, value in about.items()):
                plan.refreshed.append(plan.kept[-1])
        else:
            plan.reasons[why] += 1
            plan.todo.append(entry)
            plan.about[submission.student, digest] = about
    return plan


def _run_local(todo: list[dict], settings: dict, jobs: int):
    """Yield reports as they finish, from ``jobs`` processes (in this process for 1).

    If a grading process dies (possible only without bubblewrap, where a submission
    can signal its parent), the submissions it may have been grading are graded again
    one per pool, so the one that kills its process costs only its own grade.
    """
    if jobs == 1:
        for submission in todo:
            yield grade_submission(submission, settings)
        return
    queue = list(todo)
    while queue:
        suspects = []
        yield from _pool(queue, settings, jobs, suspects)
        for submission in suspects:
            lost = []
            yield from _pool([submission], settings, 1, lost)
            for _ in lost:
                yield _failed(submission, settings, "its grading process died")


def _pool(queue: list[dict], settings: dict, jobs: int, lost: list[dict]):
    """Grade from ``queue`` (consumed) in a process pool until it is empty or a grading
    process dies; then ``lost`` holds the submissions that were in flight."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from autograder.limited import die_with_parent

    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent) as pool:
        running = {}
        while queue or running:
            while queue and len(running) < 2 * jobs:
                submission = queue.pop(0)
                running[pool.submit(grade_submission, submission, settings)] = submission
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                submission = running.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool:
                    lost.append(submission)
            if lost:
                lost += running.values()
                return


def _run_dask(todo: list[dict], settings: dict, scheduler: str):
    from distributed import Client, as_completed

    with Client(scheduler) as client:
        futures = {client.submit(grade_submission, submission, settings, pure=False, key=f"grade-{index}"):
                   submission for index, submission in enumerate(todo)}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as error:  # noqa: BLE001 - a lost worker costs this submission only
                yield _failed(futures[future], settings, f"its dask task failed ({type(error).__name__})")


def _failed(submission: dict, settings: dict, why: str) -> dict:
    from autograder.checks import judge

    report = _empty_report(submission, settings["assignment"])
    tests = judge(settings["assignment"], {"cases": {}})
    report.update(tests=[test.as_dict() for test in tests], max_score=sum(test.max_points for test in tests),
                  error=f"not graded: {why}")
    return report


def grade_all(args) -> int:
    from autograder.cases import CASES
    from autograder.report import earlier_reports, write_atomic, write_grades, write_student
    from autograder.submissions import discover

    settings = _settings(args)
    out = args.out
    try:
        intake = discover(args.submissions, args.assignment, other_assignments=set(CASES) - {args.assignment})
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(intake.summary(), file=sys.stderr)
    if not intake.submissions:
        raise UsageError(f"nothing to grade: no submission of assignment {args.assignment!r} in "
                         f"{args.submissions} (see the list above)")
    out.mkdir(parents=True, exist_ok=True)
    found = [{"student": s.student, "folder": s.folder, "file": s.origin, "problem": s.problem,
              "conflict": s.conflict} for s in intake.submissions]
    write_atomic(out / "intake.json", json.dumps({"submissions": found, "log": intake.log}, indent=2,
                                                 ensure_ascii=False) + "\n")
    intake = _only(intake, args.student, args.submissions)
    plan = _pending(intake, out, args.force or bool(args.student), settings, args.submissions.resolve())
    _say_plan(plan)
    reports = plan.refused + plan.kept
    for report in plan.refused + plan.refreshed:
        write_student(out, report)
    graded = _grade_todo(args, settings, plan, out, reports)
    with _uninterrupted():
        earlier, other = earlier_reports(out, args.assignment, {s.student for s in intake.submissions})
        write_grades(out, reports + earlier)
        from autograder.summary import write_summary

        write_summary(out, reports + earlier, {"jobs": args.jobs, "executor": args.executor, "graded": graded,
                                               "kept": len(plan.kept), "not_gradable": len(plan.refused)})
    if graded < len(plan.todo):
        print(f"\ninterrupted: graded {graded} of {len(plan.todo)}; {out / 'grades.csv'} lists the graded "
              "students; run the same command again to grade the rest", file=sys.stderr)
        return 130
    _say_done(args, out, plan, reports, earlier, other)
    return 0


def _only(intake, students: list[str] | None, source: Path):
    """With ``--student``: the intake cut to those students, who must all have submitted."""
    if not students:
        return intake
    missing = sorted(set(students) - {submission.student for submission in intake.submissions})
    if missing:
        raise UsageError(f"--student: no submission of {', '.join(missing)} in {source}")
    print(f"grading only {', '.join(sorted(set(students)))} (--student); the other reports stay as they are",
          file=sys.stderr)
    return replace(intake, submissions=[s for s in intake.submissions if s.student in students])


@contextlib.contextmanager
def _uninterrupted():
    """Ctrl-C is ignored meanwhile, so that it never cuts grades.csv short."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _say_plan(plan: _Plan) -> None:
    if plan.kept:
        print(f"{len(plan.kept)} already graded, kept (same notebook and settings; --force grades them again)",
              file=sys.stderr)
    if plan.todo:
        reasons = ", ".join(f"{count} {why}" for why, count in sorted(plan.reasons.items()))
        print(f"grading {len(plan.todo)} ({reasons})", file=sys.stderr)


def _grade_todo(args, settings: dict, plan: _Plan, out: Path, reports: list[dict]) -> int:
    """Grade ``plan.todo``, writing each report as it comes; the number graded (fewer after Ctrl-C)."""
    from autograder.report import write_student

    progress = Progress(len(plan.todo))
    results = _run_dask(plan.todo, settings, args.scheduler) if args.executor == "dask" else \
        _run_local(plan.todo, settings, args.jobs)
    try:
        for report in results:
            report.update(plan.about[report["student"], report["notebook_sha256"]])
            write_student(out, report)
            reports.append(report)
            progress.advance(report["student"], f"{report['score']}/{report['max_score']}"
                             + (" error" if report["error"] else ""))
    except KeyboardInterrupt:
        with _uninterrupted():
            results.close()  # stops the grading processes
    return progress.done


def _say_done(args, out: Path, plan: _Plan, reports: list[dict], earlier: list[dict], other: list[dict]) -> None:
    """Record the gradebook and print the closing lines."""
    conflicted = {report["student"] for report in reports if report.get("conflict")}
    if args.gradebook:
        from autograder.gradebook import record_scores

        record_scores(args.gradebook, args.assignment,
                      [report for report in reports if report["student"] not in conflicted])
        if conflicted:
            print(f"not recorded in the gradebook, several uploads claim them: {len(conflicted)} student(s)",
                  file=sys.stderr)
    modes = {report["sandbox"]["mode"] for report in reports if report.get("sandbox")}
    if "rlimits" in modes:
        print("warning: graded without bubblewrap: resource limits only, no file-system or network "
              "isolation", file=sys.stderr)
    if conflicted:
        print(f"warning: {len(conflicted)} student id(s) are claimed by several uploads, each graded: "
              "see the conflict column of grades.csv", file=sys.stderr)
    if earlier:
        print(f"grades.csv also lists {len(earlier)} student(s) graded earlier into {out} from other "
              "submissions (see its source column)", file=sys.stderr)
    if other:
        print(f"left out of grades.csv: {len(other)} report(s) of another assignment in {out}", file=sys.stderr)
    refused = f", {len(plan.refused)} not gradable (zero with the reason)" if plan.refused else ""
    print(f"graded {len(plan.todo)}, kept {len(plan.kept)}{refused}; grades in {out / 'grades.csv'}",
          file=sys.stderr)
