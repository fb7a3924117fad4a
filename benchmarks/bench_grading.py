"""Grading throughput: ``python -m autograder grade --jobs 2`` against stock ``nbgrader autograde``.

200 generated Adam submissions (the solution and six classic mistakes, in turn) are
graded by our grader with two processes and the bubblewrap sandbox; the first 10 of
them are graded by stock ``nbgrader autograde`` (one kernel per notebook, sequential)
in a temporary course generated from ``solutions/source``. Both run in this process's
session, one after the other; each is timed by wall clock around its command. The
report gives seconds per submission for each, their ratio, and whether both graders
gave the 10 common students the same scores.

Targets (issue): >= 25x faster than stock nbgrader, 200 submissions in <= 60 s.

Run: ``python -m benchmarks.bench_grading`` (under ``flock /tmp/heavy.lock`` on a
shared machine).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "adam"
SUBMISSIONS = 200
STOCK_SUBSET = 10
JOBS = 2
#: Source-level changes to the solution: the correct answer first, then mistakes.
VARIANTS = {
    "correct": [],
    "eps_inside_sqrt": [("np.sqrt(v_hat) + eps", "np.sqrt(v_hat + eps)")],
    "no_bias_correction": [("m / (1 - beta1**t)", "m"), ("v / (1 - beta2**t)", "v")],
    "betas_swapped": [("beta1 * m + (1 - beta1)", "beta2 * m + (1 - beta2)"),
                      ("beta2 * v + (1 - beta2)", "beta1 * v + (1 - beta1)")],
    "abs_not_square": [("grad**2", "np.abs(grad)")],
    "off_by_one_t": [("beta1**t", "beta1**(t + 1)"), ("beta2**t", "beta2**(t + 1)")],
    "gradient_ascent": [("theta = theta - lr", "theta = theta + lr")],
}


def _run(command: list[str], cwd: Path) -> float:
    """Wall seconds of ``command``; raise with its output if it fails.

    (Not CPU time: the sandbox processes are killed with their namespace, not waited
    for, so ``RUSAGE_CHILDREN`` would miss most of the grader's work.)
    """
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed


def make_course(root: Path) -> Path:
    """A stock nbgrader course: the repository's config and source, released by nbgrader."""
    course = root / "course"
    shutil.copytree(REPO / "solutions" / "source" / ASSIGNMENT, course / "solutions" / "source" / ASSIGNMENT)
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    _run([str(Path(sys.executable).parent / "nbgrader"), "generate_assignment", ASSIGNMENT, "--force",
          f"--CourseDirectory.root={course}"], course)
    return course


def answer(variant: str) -> str:
    """The solution's answer cell without nbgrader's markers, with the variant's changes."""
    source = json.loads((REPO / "solutions" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    cell = next(cell for cell in source["cells"]
                if cell["metadata"].get("nbgrader", {}).get("grade_id") == f"{ASSIGNMENT}_update")
    code = "".join(cell["source"])
    for old, new in VARIANTS[variant]:
        if code.count(old) != 1:
            raise ValueError(f"{old!r} is not exactly once in the solution")
        code = code.replace(old, new)
    return "\n".join(line for line in code.splitlines() if "### " not in line)


def write_submissions(course: Path, folder: Path, count: int) -> list[str]:
    """``folder/<student>/adam/adam.ipynb`` for ``count`` students, variants in turn."""
    released = json.loads((course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    answers = {variant: answer(variant) for variant in VARIANTS}
    students = []
    for index in range(count):
        variant = list(VARIANTS)[index % len(VARIANTS)]
        for cell in released["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == f"{ASSIGNMENT}_update":
                cell["source"] = answers[variant]
        student = f"s{index:03d}_{variant}"
        path = folder / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(released))
        students.append(student)
    return students


def stock_scores(course: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {submission.student.id: submission.score for submission in gradebook.assignment_submissions(ASSIGNMENT)}


def main() -> None:
    from autograder.sandbox import probe_bwrap

    problem = probe_bwrap()
    if problem:
        raise SystemExit(f"bench_grading measures the sandboxed grader, which needs bubblewrap: {problem}")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        root = Path(tmp)
        course = make_course(root)
        students = write_submissions(course, root / "all", SUBMISSIONS)
        for student in students[:STOCK_SUBSET]:
            shutil.copytree(root / "all" / student, course / "submitted" / student)

        ours = _run([sys.executable, "-m", "autograder", "grade", str(root / "all"), "--assignment", ASSIGNMENT,
                     "--out", str(root / "out"), "--jobs", str(JOBS), "--sandbox", "bwrap"], REPO)
        stock = _run([str(Path(sys.executable).parent / "nbgrader"), "autograde", ASSIGNMENT,
                      f"--CourseDirectory.root={course}"], course)

        with open(root / "out" / "grades.csv", newline="") as stream:
            our_scores = {row["student"]: float(row["score"]) for row in csv.DictReader(stream)}
        theirs = stock_scores(course)
        agree = sum(our_scores[student] == theirs.get(student) for student in students[:STOCK_SUBSET])

    ours_each, stock_each = ours / SUBMISSIONS, stock / STOCK_SUBSET
    print(f"grading {SUBMISSIONS} Adam submissions ({len(VARIANTS)} variants in turn), wall clock; "
          f"load average before: {load[0]:.1f}")
    print(f"  python -m autograder grade --jobs {JOBS} (bwrap sandbox): {ours:6.1f} s in all, "
          f"{ours_each:6.3f} s per submission  (target <= 60 s in all)")
    print(f"  stock nbgrader autograde, first {STOCK_SUBSET}:          {stock:6.1f} s in all, "
          f"{stock_each:6.3f} s per submission")
    print(f"  speed-up per submission: {stock_each / ours_each:5.1f}x  (target >= 25x)")
    print(f"  same score from both graders: {agree}/{STOCK_SUBSET} students")


if __name__ == "__main__":
    main()
