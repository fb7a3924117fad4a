"""What ``pip install .`` and its extras install: ``book`` alone, extras bounded like
requirements.txt, Jupyter without torch or nbgrader; the grader runs from the checkout."""

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from autograder.handout import INSTALL_MB

ROOT = Path(__file__).resolve().parents[1]


def extras() -> dict[str, list[Requirement]]:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {name: list(map(Requirement, requirements)) for name, requirements in table.items()}


def pins() -> dict[str, Version]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {Requirement(line).name.lower(): Version(line.split("==")[1])
            for line in lines if "==" in line and not line.startswith("#")}


@pytest.mark.parametrize("extra", ["grader", "notebooks"])
def test_extra_is_bounded_around_the_pins(extra):
    """An unbounded extra pulled whatever torch was newest (and its CUDA libraries)."""
    pinned = pins()
    for requirement in extras()[extra]:
        assert any(spec.operator in ("<", "<=", "==", "~=") for spec in requirement.specifier), requirement
        packages = [requirement.name.lower(), *sorted(requirement.extras)]
        for name in packages:
            assert requirement.specifier.contains(pinned[name]), f"{requirement} excludes {name}=={pinned[name]}"


def test_readme_says_how_to_install_torch_without_cuda():
    readme = (ROOT / "README.md").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme


def test_notebooks_extra_brings_jupyter_and_nothing_of_the_grader():
    names = {requirement.name for requirement in extras()["notebooks"]}
    assert {"jupyterlab", "ipywidgets", "jupytext"} <= names
    assert not names & {"torch", "nbgrader", "jupyter-book", "myst-nb"}


def test_wheel_holds_book_and_not_the_grader(tmp_path):
    """`pip install .` used to install autograder with its expected answers (fixtures)."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path)
    for name in ("book", "autograder"):  # autograder is there to be left out
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(tmp_path), "-w", str(tmp_path / "dist")], check=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"book"}
    assert not [name for name in names if "fixtures" in name or name.endswith(".npz")]
    assert "book/landscapes/__init__.py" in names and "book/optim/__init__.py" in names


def test_the_grader_imports_outside_the_checkout(tmp_path):
    """nbgrader's kernels run the hidden tests (`from autograder.checks import ...`) in the
    submission's folder: the editable install puts the checkout on their path."""
    result = subprocess.run([sys.executable, "-c", "import autograder.checks, book; print(book.__file__)"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(ROOT)


def test_readme_tells_students_to_start_from_the_handout():
    readme = (ROOT / "README.md").read_text()
    students = readme.split("## For students", 1)[1].split("\n## ", 1)[0]
    assert "handout" in students.split("```")[0]
    assert 'pip install ".[notebooks]"' in students and "jupyter lab adam/adam.ipynb" in students
    assert "exercises/" not in students and "git clone" not in students
    assert f"{INSTALL_MB['download']} MB" in students and f"{INSTALL_MB['installed']} MB" in students
    assert "python -m autograder handout" in readme
