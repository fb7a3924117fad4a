"""Stock nbgrader, end to end, on a temporary copy of the course.

generate_assignment -> submitted/<student>/<a>/ -> autograde -> generate_feedback ->
export, with the repository's ``nbgrader_config.py``. The students are the solution, the
untouched release, named mistakes and broken submissions; each must get the points it
earned and a feedback page that explains them without showing any hidden test.
"""

import csv
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.checks import TESTS
from autograder.diagnosis import MISTAKES
from autograder.nbgrader_preprocessors import HideHiddenTests
from autograder.release import CONFIG_FILE, RELEASE_DIR, SOURCE_DIR

NBGRADER = Path(sys.executable).parent / "nbgrader"
README = Path(__file__).resolve().parents[1] / "README.md"
MAX_SCORE = {assignment: sum(spec.points for spec in specs) for assignment, specs in TESTS.items()}

# Changes to the solution code, each as (text in the solution, replacement).
WARNS_AND_PRINTS = [("    m = beta1", "    import sys\n"
                                     "    np.log(np.zeros(1))  # RuntimeWarning: divide by zero\n"
                                     "    print('debugging', file=sys.stderr)\n"
                                     "    m = beta1")]
# student -> (assignment, changes to the solution, or None for the untouched release)
STUDENTS = {
    "solution": ("adam", []),
    "untouched": ("adam", None),
    "eps_inside_sqrt": ("adam", [("np.sqrt(v_hat) + eps", "np.sqrt(v_hat + eps)")]),
    "warns_and_prints": ("adam", WARNS_AND_PRINTS),
    "misnamed": ("adam", [("def adam_update(", "def adam(")]),
    "raises_late": ("adam", [("    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n"
                                                          "    if t > 200:\n"
                                                          "        raise RuntimeError('gave up')\n")]),
    "nan_on_zeros": ("adam", [("np.sqrt(v_hat) + eps", "np.sqrt(v_hat)")]),
    "mutates_inputs": ("adam", [("    m = beta1 * m + (1 - beta1) * grad",
                                 "    m *= beta1\n    m += (1 - beta1) * grad")]),
    "wrong_shape": ("adam", [("return theta, m, v", "return theta.ravel(), m, v")]),
    "adamax_solution": ("adamax", []),
    "adamax_untouched": ("adamax", None),
    "adamax_eps_outside_max": ("adamax", [("np.abs(grad) + eps)", "np.abs(grad))"), ("m / u", "m / (u + eps)")]),
}


def nbgrader(course, *args):
    """Run the venv's nbgrader in ``course``; fail the test with its output if it fails."""
    # nbgrader runs its `alembic` executable by name.
    env = dict(os.environ, PATH=os.pathsep.join([str(NBGRADER.parent), os.environ.get("PATH", "")]))
    result = subprocess.run([str(NBGRADER), *args, f"--CourseDirectory.root={course}"], cwd=course, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def answer_code(source_cell, changes):
    """The student's version of a solution cell: the solution with ``changes`` applied."""
    code = source_cell.source
    for old, new in changes:
        assert code.count(old) == 1, f"{old!r} is not once in the solution"
        code = code.replace(old, new)
    return "\n".join(line for line in code.splitlines() if "### " not in line)


def submission(course, assignment, changes):
    """The released notebook with its answer cells filled in as a student would.

    The path-plotting answer is filled in for the unchanged solutions only: the other
    students leave it as released, which keeps their notebooks quick to run.
    """
    released = nbformat.read(course / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    if changes is None:
        return released
    source = nbformat.read(SOURCE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {cell.metadata.nbgrader.grade_id: cell for cell in source.cells
               if cell.metadata.get("nbgrader", {}).get("solution")}
    function = f"{assignment}_update"
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == function:
            cell.source = answer_code(answers[grade_id], changes)
        elif grade_id in answers and not changes:
            cell.source = answer_code(answers[grade_id], [])
    return released


def test_kernel_is_this_interpreter():
    """nbgrader runs the notebooks in the "python3" kernel, which must be this virtualenv's
    Python (jupyter_client replaces a bare "python" by the running interpreter): it is the
    one where autograder and book are installed."""
    from jupyter_client.kernelspec import KernelSpecManager

    argv = KernelSpecManager().get_kernel_spec("python3").argv
    assert argv[0] in {"python", "python3", sys.executable}, (
        f"the python3 kernel runs {argv[0]}; run: {sys.executable} -m ipykernel install --sys-prefix "
        "(and remove the user-level python3 kernelspec that shadows it)")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course directory taken through the whole nbgrader workflow once."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(CONFIG_FILE, root)
    shutil.copytree(SOURCE_DIR, root / "solutions" / "source")
    # nbgrader takes a glob for the assignment: one process per step saves many seconds.
    nbgrader(root, "generate_assignment", "*")
    for student, (assignment, changes) in STUDENTS.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(submission(root, assignment, changes), folder / f"{assignment}.ipynb")
    nbgrader(root, "autograde", "*")
    nbgrader(root, "generate_feedback", "*")
    nbgrader(root, "export")
    return root


@pytest.fixture(scope="module")
def grades(course):
    with open(course / "grades.csv", newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["assignment"] == STUDENTS[row["student_id"]][0]]
    return {row["student_id"]: (float(row["score"]), float(row["max_score"])) for row in rows}


def feedback(course, student):
    assignment = STUDENTS[student][0]
    return html.unescape((course / "feedback" / student / assignment / f"{assignment}.html").read_text())


def test_stock_release_equals_the_committed_one(course):
    """``nbgrader generate_assignment`` run from the repository root would change nothing."""
    for assignment in MAX_SCORE:
        name = Path(assignment) / f"{assignment}.ipynb"
        assert (course / "exercises" / name).read_text() == (RELEASE_DIR / name).read_text()


def test_solutions_get_full_marks(grades):
    assert grades["solution"] == (MAX_SCORE["adam"], MAX_SCORE["adam"])
    assert grades["adamax_solution"] == (MAX_SCORE["adamax"], MAX_SCORE["adamax"])


def test_untouched_release_gets_nothing(grades, course):
    assert grades["untouched"] == (0, MAX_SCORE["adam"])
    assert grades["adamax_untouched"] == (0, MAX_SCORE["adamax"])
    assert "NotImplementedError" in feedback(course, "untouched")


def test_warnings_and_prints_cost_no_points(grades, course):
    """A NumPy RuntimeWarning or a print to stderr in a test cell would zero it in stock
    nbgrader; the checks keep the student's function silent."""
    assert grades["warns_and_prints"] == (MAX_SCORE["adam"], MAX_SCORE["adam"])
    autograded = nbformat.read(course / "autograded" / "warns_and_prints" / "adam" / "adam.ipynb", as_version=4)
    visible = next(cell for cell in autograded.cells if cell.metadata.nbgrader.grade_id == "visible_tests")
    assert any(output.get("name") == "stderr" for output in visible.outputs), "the mutant did not warn at all"


@pytest.mark.parametrize("student, mistake", [("eps_inside_sqrt", MISTAKES["adam"]["eps_inside_sqrt"]),
                                              ("adamax_eps_outside_max", MISTAKES["adamax"]["eps_outside_max"])])
def test_named_mistake_gets_partial_credit_and_a_diagnosis(grades, course, student, mistake):
    score, max_score = grades[student]
    assert 0 < score < max_score
    assert f"Likely mistake: {mistake.description}" in feedback(course, student)


@pytest.mark.parametrize("student, message, partial", [
    ("misnamed", "NameError: name 'adam_update' is not defined", False),
    ("raises_late", "the run stopped at step 201: RuntimeError: gave up", True),
    ("nan_on_zeros", "contains NaN or inf", True),
    ("mutates_inputs", "modified its input(s) m in place", True),
    ("wrong_shape", "has shape (12,), expected (3, 4) (the shape of theta)", True),
])
def test_broken_submissions_get_a_clear_message_and_their_points(grades, course, student, message, partial):
    score, max_score = grades[student]
    assert (0 < score < max_score) if partial else score == 0
    assert message in feedback(course, student)


def test_hide_hidden_tests_keeps_only_the_error_message():
    cell = nbformat.v4.new_code_cell(
        "# visible line\n### BEGIN HIDDEN TESTS\ncheck('adam', 'long_run', f)\n### END HIDDEN TESTS",
        metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1, "solution": False, "locked": True}},
        outputs=[nbformat.v4.new_output("error", ename="AssertionError", evalue="long_run: failed",
                                        traceback=["Traceback", "----> 3 check('adam', 'long_run', f)"])])
    student_cell = nbformat.v4.new_code_cell("1 / 0", outputs=[nbformat.v4.new_output(
        "error", ename="ZeroDivisionError", evalue="division by zero", traceback=["----> 1 1 / 0"])])
    notebook = nbformat.v4.new_notebook(cells=[cell, student_cell])
    HideHiddenTests().preprocess(notebook, {})
    assert cell.source == "# visible line"
    assert cell.outputs[0].traceback == ["AssertionError: long_run: failed"]
    assert student_cell.outputs[0].traceback == ["----> 1 1 / 0"], "the student's own errors keep their traceback"


def test_feedback_shows_no_hidden_test(course):
    pages = {student: feedback(course, student) for student in STUDENTS}
    assert "Graded (1 point)" in pages["solution"], "the graded cells are missing from the feedback"
    for student, page in pages.items():
        for hidden in ["BEGIN HIDDEN TESTS", "autograder.checks", "check(", "autograder/"]:
            assert hidden not in page, f"{student}'s feedback shows {hidden!r}"


def test_autograded_solution_passes_its_visible_tests(course):
    for student, assignment in [("solution", "adam"), ("adamax_solution", "adamax")]:
        autograded = nbformat.read(course / "autograded" / student / assignment / f"{assignment}.ipynb",
                                   as_version=4)
        errors = [output.ename for cell in autograded.cells for output in cell.get("outputs", [])
                  if output.output_type == "error"]
        assert errors == []
        text = "".join(output.get("text", "") for cell in autograded.cells for output in cell.get("outputs", []))
        assert "visible tests passed" in text
        assert re.search(r"distance to the minimum after \d+ steps", text)


def readme_commands() -> tuple[str, str]:
    """The README's stock-nbgrader commands, before and after the line that says to put
    the students' notebooks in; the second part starts with the first's PATH line (one
    shell session, in two processes)."""
    block = re.search(r"```bash\n(export PATH=[^`]*?nbgrader generate_assignment[^`]*?)```", README.read_text())
    assert block, "the README's stock-nbgrader commands are missing"
    before, after = re.split(r"^# put each student's notebook .*\n", block.group(1), flags=re.M)
    return before, before.splitlines()[0] + "\n" + after


def test_readme_route_works_as_written(tmp_path):
    """The README's commands, run as written in a course directory, grade the students,
    and autograde warns about a test cell only when a student edited it (stock nbgrader
    warns about every test cell with hidden tests, in every submission)."""
    shutil.copytree(SOURCE_DIR, tmp_path / "solutions" / "source")
    shutil.copytree(RELEASE_DIR, tmp_path / "exercises")
    shutil.copy(CONFIG_FILE, tmp_path)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)

    def run(commands: str) -> str:
        result = subprocess.run(["bash", "-e", "-c", commands], cwd=tmp_path, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, f"{commands}\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    before, after = readme_commands()
    run(before)
    for student in ("solution", "edited"):
        notebook = submission(tmp_path, "adam", [])
        if student == "edited":
            cell = next(cell for cell in notebook.cells if cell.metadata.nbgrader.get("grade_id") == "test_long_run")
            cell.source += "\nprint('I changed this test')"
        (tmp_path / "submitted" / student / "adam").mkdir(parents=True)
        nbformat.write(notebook, tmp_path / "submitted" / student / "adam" / "adam.ipynb")
    output = run(after)
    assert "has changed!" not in output
    assert re.findall(r"cell (\w+) differs from the released one", output) == ["test_long_run"]
    with open(tmp_path / "grades.csv", newline="") as file:
        scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(file) if row["assignment"] == "adam"}
    assert scores == {"solution": MAX_SCORE["adam"], "edited": MAX_SCORE["adam"]}
