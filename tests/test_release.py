"""The student release: in sync with the solutions, and nothing hidden leaks into it."""

import re
import shutil

import nbformat
import pytest

from autograder import cli, release
from autograder.checks import TESTS
from autograder.release import RELEASE_DIR, SOURCE_DIR

ASSIGNMENTS = ["adam", "adamax"]
HIDDEN_CALL = re.compile(r'^check\("(?P<assignment>\w+)", "(?P<test>\w+)", (?P<function>\w+)\)$', re.M)


@pytest.fixture(scope="module")
def fresh():
    """One fresh release for the whole module (nbgrader takes seconds per assignment)."""
    return release.fresh_release()


def notebook(folder, assignment):
    return nbformat.read(folder / assignment / f"{assignment}.ipynb", as_version=4)


def grade_cells(nb):
    return [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")]


def solution_lines(nb):
    """The stripped, non-blank lines inside the ``### BEGIN/END SOLUTION`` regions."""
    lines = []
    for cell in nb.cells:
        for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
            lines += [line.strip() for line in region.splitlines() if line.strip()]
    return lines


def test_both_assignments_are_released():
    assert release.assignments() == ASSIGNMENTS


def test_committed_release_equals_a_fresh_one(fresh, tmp_path):
    assert sorted(map(str, fresh)) == [f"{a}/{a}.ipynb" for a in ASSIGNMENTS]
    assert release.sync(fresh, RELEASE_DIR, check=True) == [], "run: python -m autograder release"


def test_sources_hold_only_their_notebook():
    # nbgrader releases every file next to a source notebook.
    for assignment in ASSIGNMENTS:
        assert [p.name for p in (SOURCE_DIR / assignment).iterdir()] == [f"{assignment}.ipynb"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_reveals_nothing_hidden(assignment):
    source, student = notebook(SOURCE_DIR, assignment), notebook(RELEASE_DIR, assignment)
    text = (RELEASE_DIR / assignment / f"{assignment}.ipynb").read_text()
    for marker in ["BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                   "autograder", "check("]:
        assert marker not in text
    code = "\n".join(cell.source for cell in student.cells if cell.cell_type == "code")
    imported = set(re.findall(r"^\s*(?:from|import) (\w+)", code, re.M))
    assert imported <= {"numpy", "matplotlib", "book"}, "students need NumPy, matplotlib and book only"
    secret = solution_lines(source)
    assert len(secret) >= 5, "the solution regions were not found in the source notebook"
    released_lines = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    assert not released_lines & set(secret), "solution code in the release"
    stubs = [cell for cell in student.cells if cell.metadata.nbgrader.get("solution")]
    assert stubs and all("raise NotImplementedError()" in cell.source for cell in stubs)
    assert all(not cell.get("outputs") for cell in student.cells if cell.cell_type == "code")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_graded_cells_match_the_checks(assignment):
    """Each hidden test cell runs one test of autograder.checks, with its points, and
    tells the student what it checks."""
    expected = {f"test_{spec.name}": spec.points for spec in TESTS[assignment]}
    described = {f"test_{spec.name}": f"# Graded ({spec.points} point{'s' * (spec.points != 1)}): {spec.description}"
                 for spec in TESTS[assignment]}
    for folder in (SOURCE_DIR, RELEASE_DIR):
        cells = grade_cells(notebook(folder, assignment))
        assert {cell.metadata.nbgrader.grade_id: cell.metadata.nbgrader.points for cell in cells} == expected
        for cell in cells:
            assert cell.source.splitlines()[0] == described[cell.metadata.nbgrader.grade_id]
    function = f"{assignment}_update"
    for cell in grade_cells(notebook(SOURCE_DIR, assignment)):
        calls = [m.groupdict() for m in HIDDEN_CALL.finditer(cell.source)]
        assert calls == [{"assignment": assignment, "test": cell.metadata.nbgrader.grade_id.removeprefix("test_"),
                          "function": function}]


def test_sync_reports_and_repairs_drift(fresh, tmp_path):
    shutil.copytree(RELEASE_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "adam" / "adam.ipynb").write_text((tmp_path / "adam" / "adam.ipynb").read_text() + " ")
    (tmp_path / "adamax" / "adamax.ipynb").unlink()
    (tmp_path / "adam" / "fixture.npz").write_bytes(b"secret")
    (tmp_path / "adam" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "adam" / ".ipynb_checkpoints" / "adam-checkpoint.ipynb").write_text("{}")

    drift = ["adam/adam.ipynb", "adam/fixture.npz", "adamax/adamax.ipynb"]
    assert release.sync(fresh, tmp_path, check=True) == drift
    assert (tmp_path / "adam" / "fixture.npz").exists(), "--check must change nothing"
    assert release.sync(fresh, tmp_path) == drift
    assert release.sync(fresh, tmp_path, check=True) == []
    assert not (tmp_path / "adam" / "fixture.npz").exists()


def test_command_line_check(fresh, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(release, "fresh_release", lambda source_dir, config_file: fresh)
    monkeypatch.chdir(tmp_path)
    course = ["--course", str(tmp_path)]
    assert cli.main(["release", "--check", *course]) == 1
    assert "out of date: exercises/adam/adam.ipynb" in capsys.readouterr().out
    assert cli.main(["release", *course]) == 0
    assert cli.main(["release", "--check", *course]) == 0
    assert "exercises/ is up to date" in capsys.readouterr().out


def test_broken_source_is_reported(tmp_path, capsys):
    (tmp_path / "adam").mkdir()
    nb = notebook(SOURCE_DIR, "adam")
    cell = next(cell for cell in nb.cells if "### END SOLUTION" in cell.source)
    cell.source = cell.source.replace("### END SOLUTION", "")
    nbformat.write(nb, tmp_path / "adam" / "adam.ipynb")
    with pytest.raises(release.ReleaseError, match=r"(?s)could not generate 'adam':\n\[ERROR\] No end solution statement found"):
        release.fresh_release(tmp_path)
    with pytest.raises(release.ReleaseError, match="no assignment found"):
        release.fresh_release(tmp_path / "missing")
    assert cli.main(["release", "--check", "--course", str(tmp_path / "missing")]) == 2
    assert "no assignment found" in capsys.readouterr().err


def test_course_is_the_current_directory_or_named(tmp_path, monkeypatch, capsys):
    """An installed package has no course next to it: the current directory is the
    course, or --course names it, and elsewhere the error says what to do."""
    course = tmp_path / "course"
    shutil.copytree(SOURCE_DIR, course / "solutions" / "source")
    shutil.copytree(RELEASE_DIR, course / "exercises")
    shutil.copy(release.CONFIG_FILE, course)
    monkeypatch.setattr(release, "REPO", tmp_path / "site-packages")  # as installed: nothing beside it
    monkeypatch.chdir(course)
    assert cli.main(["release", "--check"]) == 0
    assert "exercises/ is up to date" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    assert cli.main(["release", "--check"]) == 2
    assert f"no course here: {tmp_path} has no solutions/source/ folder" in capsys.readouterr().err
    (course / "nbgrader_config.py").unlink()
    assert cli.main(["release", "--check", "--course", "course"]) == 2
    assert "no nbgrader configuration" in capsys.readouterr().err
