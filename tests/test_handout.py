"""The students' handout (``python -m autograder handout``) holds no answer, and it runs.

Leaks: the handout (folder and zip) holds an allow-list of files; none is a file of
``solutions/`` or of the grader, none is a fixture or ``book.optim``, and no text in it
carries nbgrader's solution or hidden-test markers or a line of a solution or a hidden
test.

Running: the zip is unpacked, built into a wheel and installed into a fresh virtual
environment without pip. Its kernel sees that wheel, and NumPy, matplotlib and ipykernel
with their requirements (linked from this environment, as a ``pip install`` from an index
would bring them): no torch, no nbgrader, no checkout. The released notebook runs there up
to the first use of the student's function (NotImplementedError); with the solutions
filled in (taken from ``solutions/source`` here, in the test only) it runs to the end.
"""

import json
import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import nbformat
import pytest
from book_pages import toc_pages
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from packaging.requirements import Requirement

from autograder.cli import main
from autograder.handout import DISTRIBUTION, HIDDEN_MARKERS, HandoutError, write_handout
from autograder.sandbox import distribution_closure
from autograder.release import RELEASE_DIR, REPO, SOURCE_DIR, assignments, book_url

ASSIGNMENTS = assignments(RELEASE_DIR)
# What the student's kernel must not reach, though this environment has it.
NOT_FOR_STUDENTS = ("autograder", "torch", "nbgrader", "book.optim", "book.plotting")


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    """(folder, zip) of a handout of every assignment."""
    out = tmp_path_factory.mktemp("out") / "handout"
    return out, write_handout(out, RELEASE_DIR)


def bundle_files(folder):
    """{path relative to the folder: bytes} of every file under ``folder``."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def zip_files(archive, top):
    """The zip's files as :func:`bundle_files` gives them, checking each lies under ``top/``."""
    with zipfile.ZipFile(archive) as zipped:
        names = [name for name in zipped.namelist() if not name.endswith("/")]
        assert all(name.startswith(f"{top}/") for name in names), names
        return {name.removeprefix(f"{top}/"): zipped.read(name) for name in names}


def readable(path, data):
    """What a reader of the file sees: a notebook's cell sources, other files' text."""
    text = data.decode("utf-8")
    if path.endswith(".ipynb"):
        return "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
    return text


def regions(kind):
    """The lines of every ``### BEGIN <kind>`` ... ``### END <kind>`` region of the sources."""
    lines = []
    for assignment in assignments(SOURCE_DIR):
        notebook = nbformat.read(SOURCE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
        for cell in notebook.cells:
            for region in re.findall(rf"### BEGIN {kind}\n(.*?)### END {kind}", cell.source, re.S):
                lines += [line.strip() for line in region.splitlines() if line.strip()]
    assert lines, f"no {kind} region found in {SOURCE_DIR}"
    return lines


def test_handout_holds_the_notebooks_the_landscapes_and_instructions(handout):
    folder, archive = handout
    landscapes = {f"book/landscapes/{path.name}" for path in (REPO / "book" / "landscapes").glob("*.py")}
    notebooks = {f"{a}/{a}.ipynb" for a in ASSIGNMENTS}
    expected = {"README.md", "pyproject.toml", "book/__init__.py", *landscapes, *notebooks}
    assert set(bundle_files(folder)) == expected
    assert zip_files(archive, folder.name) == bundle_files(folder)
    for notebook in notebooks:
        assert bundle_files(folder)[notebook] == (RELEASE_DIR / notebook).read_bytes()


@pytest.mark.parametrize("where", ["folder", "zip"])
def test_handout_leaks_nothing(handout, where):
    folder, archive = handout
    files = bundle_files(folder) if where == "folder" else zip_files(archive, folder.name)
    instructor_files = {path.read_bytes() for top in ("solutions", "autograder") for path in (REPO / top).rglob("*")
                        if path.is_file() and path.stat().st_size > 0}
    secret_lines = regions("SOLUTION") + regions("HIDDEN TESTS")
    for path, data in files.items():
        parts = path.split("/")
        assert not {"solutions", "autograder", "fixtures", "optim"} & set(parts), path
        assert not path.endswith((".npz", ".npy", ".pkl")), path
        assert data not in instructor_files, f"{path} is a file of solutions/ or autograder/"
        text = readable(path, data)
        assert not [marker for marker in HIDDEN_MARKERS if marker in text], path
        assert not [line for line in secret_lines if line in text], f"{path} holds a solution or hidden-test line"
        assert "autograder" not in text and "book.optim" not in text, path


def test_exercises_link_their_chapter_in_the_published_book():
    """The link used to be ../../_build/html/chapters/adam.html: nothing a student has."""
    pages = set(toc_pages())
    for assignment in ASSIGNMENTS:
        notebook = nbformat.read(RELEASE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
        text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
        links = re.findall(r"\]\(([^)\s]+)\)", text)
        assert f"{book_url()}/chapters/{assignment}.html" in links, links
        for link in links:
            assert link.startswith(("https://", "http://")), f"{assignment}: relative link {link}"
            if link.startswith(book_url()):
                assert link.removeprefix(f"{book_url()}/").removesuffix(".html") in pages, link


def test_handout_readme_says_how_to_install_and_start(handout):
    folder, _ = handout
    readme = (folder / "README.md").read_text()
    assert 'pip install ".[notebooks]"' in readme and f"jupyter lab {ASSIGNMENTS[0]}/" in readme
    assert book_url() in readme
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    extra = project["optional-dependencies"]["notebooks"]
    assert {Requirement(r).name for r in extra} >= {"jupyterlab", "ipywidgets", "jupytext"}
    assert not {"torch", "nbgrader"} & {Requirement(r).name for r in project["dependencies"] + extra}


@pytest.fixture(scope="module")
def student_kernel(handout, tmp_path_factory):
    """(kernel spec manager, folder of the unpacked handout): a kernel whose Python is a
    fresh venv holding the handout's wheel, with its requirements and ipykernel linked in."""
    folder, archive = handout
    root = tmp_path_factory.mktemp("student")
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(root)
    unpacked = root / folder.name
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(unpacked), "-w", str(wheels)], check=True)
    venv.create(root / "venv", with_pip=False)
    python = root / "venv" / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", *map(str, wheels.glob("*.whl"))], check=True)
    link_requirements(unpacked, root / "requirements", python)
    spec = root / "kernels" / "student"
    spec.mkdir(parents=True)
    # No PYTHONPATH (the checkout) and no user site: only the venv and its links.
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "student", "language": "python",
        "env": {"PYTHONPATH": "", "PYTHONNOUSERSITE": "1"}}))
    return KernelSpecManager(kernel_dirs=[str(spec.parent)]), unpacked


def link_requirements(handout, folder, python):
    """Link the handout's requirements and ipykernel (with theirs) from this environment
    into ``folder`` and put it on the path of ``python``'s venv. Their metadata comes too:
    matplotlib finds the inline backend through an entry point."""
    project = tomllib.loads((handout / "pyproject.toml").read_text())["project"]
    names = [Requirement(text).name for text in project["dependencies"]] + ["ipykernel"]
    folder.mkdir()
    for distribution in distribution_closure(names):
        for top in {file.parts[0] for file in distribution.files or []}:
            if top not in ("..", "__pycache__") and not top.endswith(".pth") and not (folder / top).exists():
                (folder / top).symlink_to(Path(distribution.locate_file(top)).resolve())
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "requirements.pth").write_text(f"{folder}\n")


def execute(notebook, student_kernel, folder):
    """Run ``notebook`` in the student's kernel with ``folder`` as its working directory."""
    specs, _ = student_kernel
    manager = KernelManager(kernel_name="student", kernel_spec_manager=specs)
    NotebookClient(notebook, km=manager, timeout=120,
                   resources={"metadata": {"path": str(folder)}}).execute()


def outputs(cell):
    return "".join(output.get("text", "") for output in cell.get("outputs", []))


def test_student_kernel_has_the_handout_and_nothing_of_the_grader(student_kernel):
    _, unpacked = student_kernel
    probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import importlib.util, json, book, book.landscapes\n"
        f"print(json.dumps({{'book': book.__file__, 'found': [n for n in {NOT_FOR_STUDENTS!r} "
        "if importlib.util.find_spec(n.partition('.')[0]) and importlib.util.find_spec(n)]}))")])
    # Where the notebooks run: the handout's own book/ is not next to them.
    execute(probe, student_kernel, unpacked / ASSIGNMENTS[0])
    seen = json.loads(outputs(probe.cells[0]))
    assert "/venv/" in seen["book"] and str(REPO) not in seen["book"], seen
    assert seen["found"] == [], f"the student's kernel imports {seen['found']}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebook_runs_until_the_student_code(student_kernel, assignment):
    _, unpacked = student_kernel
    notebook = nbformat.read(unpacked / assignment / f"{assignment}.ipynb", as_version=4)
    with pytest.raises(CellExecutionError) as raised:
        execute(notebook, student_kernel, unpacked / assignment)
    assert raised.value.ename == "NotImplementedError"
    ids = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in notebook.cells]
    failed = [i for i, cell in enumerate(notebook.cells)
              if any(output.output_type == "error" for output in cell.get("outputs", []))]
    answer = ids.index(f"{assignment}_update")
    first_use = next(i for i, cell in enumerate(notebook.cells)
                     if i > answer and cell.cell_type == "code" and f"{assignment}_update(" in cell.source)
    assert failed == [first_use]


def with_solutions(notebook, assignment):
    """``notebook`` with every answer cell replaced by the solution (markers removed)."""
    source = nbformat.read(SOURCE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {cell.metadata.nbgrader.grade_id: cell.source for cell in source.cells
               if cell.metadata.get("nbgrader", {}).get("solution")}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = "\n".join(line for line in answers[grade_id].splitlines() if "### " not in line)
    return notebook


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_with_the_solutions_runs_to_the_end(student_kernel, assignment):
    _, unpacked = student_kernel
    notebook = with_solutions(nbformat.read(unpacked / assignment / f"{assignment}.ipynb", as_version=4),
                              assignment)
    execute(notebook, student_kernel, unpacked / assignment)
    assert "visible tests passed" in "".join(map(outputs, notebook.cells))
    assert any(output.get("data", {}).get("image/png") for cell in notebook.cells for output in cell.get("outputs", []))


def test_handout_refuses_a_notebook_with_hidden_parts(tmp_path):
    release = tmp_path / "exercises"
    (release / "adam").mkdir(parents=True)
    (release / "adam" / "adam.ipynb").write_bytes((SOURCE_DIR / "adam" / "adam.ipynb").read_bytes())
    with pytest.raises(HandoutError, match="not a student release"):
        write_handout(tmp_path / "handout", release)
    assert not (tmp_path / "handout").exists()


def test_command_writes_the_named_assignments_and_spares_other_folders(tmp_path, capsys):
    out = tmp_path / "handout"
    assert main(["handout", "--out", str(out), "--assignment", ASSIGNMENTS[0]]) == 0
    assert sorted(path.name for path in out.glob("*/*.ipynb")) == [f"{ASSIGNMENTS[0]}.ipynb"]
    assert (tmp_path / "handout.zip").is_file()
    assert main(["handout", "--out", str(out), "--assignment", "nope"]) == 2
    assert "no released assignment nope" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main(["handout", "--out", str(tmp_path / "mine")]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
