"""Record grades in nbgrader's gradebook, so that formgrader shows the autograder's scores.

The assignment's notebook (named like the assignment) gets one grade cell per graded
test. When the gradebook already has a grade cell called ``<test>`` or ``test_<test>``
(created by ``nbgrader generate_assignment`` from the notebook's hidden test cells),
that cell is used; missing ones are created with the test's points. Each student's
submission then gets the test's points as ``auto_score``. Only the grader's main
process calls this, once per run.
"""

from __future__ import annotations

import warnings
from pathlib import Path


def _cell_names(gradebook, assignment: str, tests: list[dict]) -> dict[str, str]:
    """Test name -> grade cell name, creating the grade cells that do not exist."""
    from nbgrader.api import MissingEntry

    gradebook.update_or_create_assignment(assignment)
    notebook = gradebook.update_or_create_notebook(assignment, assignment)
    existing = {cell.name for cell in notebook.grade_cells}
    names = {}
    for test in tests:
        name = next((candidate for candidate in (test["name"], f"test_{test['name']}") if candidate in existing),
                    test["name"])
        try:
            gradebook.find_grade_cell(name, assignment, assignment)
        except MissingEntry:
            gradebook.update_or_create_grade_cell(name, assignment, assignment, max_score=test["max_points"],
                                                  cell_type="code")
        names[test["name"]] = name
    return names


def record_scores(path: Path, assignment: str, reports: list[dict]) -> None:
    """Write every report's test points into the gradebook at ``path`` (created if missing:
    ``grade`` asks for ``--create-gradebook`` first, so a mistyped path is not a new gradebook)."""
    from nbgrader.api import Gradebook

    from autograder.release import ensure_scripts_on_path

    ensure_scripts_on_path()
    graded = [report for report in reports if report["tests"]]
    if not graded:
        return
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with Gradebook(f"sqlite:///{path}") as gradebook, warnings.catch_warnings():
        # nbgrader's add_submission builds rows before adding them to the session, which
        # SQLAlchemy reports as a warning on every submission; the rows are stored anyway.
        warnings.filterwarnings("ignore", message=".*not in session.*")
        names = _cell_names(gradebook, assignment, graded[0]["tests"])
        for report in graded:
            gradebook.update_or_create_student(report["student"])
            gradebook.update_or_create_submission(assignment, report["student"])
            for test in report["tests"]:
                grade = gradebook.find_grade(names[test["name"]], assignment, assignment, report["student"])
                grade.auto_score = float(test["points"])
            gradebook.db.commit()
