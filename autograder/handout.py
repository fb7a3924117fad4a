"""``python -m autograder handout``: what a student receives instead of the repository.

The repository is the instructor's: it holds the solutions and hidden tests
(``solutions/``) and the grader with its expected answers. The handout is a folder, and
a zip of it, with the released notebooks (``<a>/<a>.ipynb``), the part of ``book`` they
import (the landscapes: what the grading sandbox lets a submission import) as a package
that ``pip install`` takes, and a README that says how to install it and start Jupyter.
Release first: the notebooks are taken from ``exercises/`` as committed.
"""

from __future__ import annotations

import json
import shutil
import sys
import tomllib
from pathlib import Path

from autograder.release import RELEASE_PATH, REPO, ReleaseError, assignments, book_url, course_root
from autograder.sandbox import PROJECT_FILES

#: The handout's distribution: ``book`` without the book's optimizers, plots or widgets.
DISTRIBUTION = "optimizer-book-handout"
#: Default output: this folder and, next to it, ``handout.zip``.
DEFAULT_OUT = Path("_build", "handout")
#: nbgrader's markers around solution code and hidden tests: a released notebook has none.
HIDDEN_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
#: What ``pip install ".[notebooks]"`` costs in an empty Python 3.11 venv on Linux x86-64
#: (MB): the wheels ``pip download`` fetches (setuptools, to build, included), the venv's
#: growth (``du -sb``), and its growth with ``pip install .`` alone (NumPy and matplotlib).
INSTALL_MB = {"download": 95, "installed": 380, "base": 180}

INIT = '''"""The optimizer book's test functions, as the exercises use them: ``from book import landscapes``."""
'''

README = """# {title}

Your assignment{s}: {notebooks}. Each notebook asks for one optimizer's update in
NumPy, states its rule and conventions, checks your function with visible tests and
links its chapter of the book ({book_url}).

## Install (once)

With Python 3.10 or newer, in this folder:

```bash
python -m venv .venv
source .venv/bin/activate          # on Windows: .venv\\Scripts\\activate
pip install ".[notebooks]"
```

This installs the book's test functions (`book.landscapes`) with NumPy and matplotlib,
and JupyterLab with ipywidgets and jupytext: about {download} MB to download, {installed} MB
installed. With a Jupyter you already have, run `pip install .` in the environment of its
kernel instead: the package with NumPy and matplotlib ({base} MB installed).

## Work

```bash
jupyter lab {first}
```

Write your code where a cell says `# YOUR CODE HERE`, run the visible tests, and hand
in the notebook as your instructor says. The graded tests run when your notebook is
graded: they compare your function with PyTorch's, step by step.
"""


class HandoutError(RuntimeError):
    """The handout cannot be written: an unknown assignment, a notebook that is not a
    student release, an output folder that holds something else."""


def notebook_paths(release_dir: Path, names: list[str] | None) -> list[Path]:
    """The released notebooks of ``names`` (default: every assignment of ``release_dir``)."""
    known = assignments(release_dir)
    unknown = sorted(set(names or []) - set(known))
    if unknown:
        raise HandoutError(f"no released assignment {', '.join(unknown)} in {release_dir} (there are: "
                           f"{', '.join(known)}); run python -m autograder release first")
    return [Path(name, f"{name}.ipynb") for name in dict.fromkeys(names or known)]


def check_released(path: Path, text: str) -> None:
    """Refuse a notebook that still holds nbgrader's solution or hidden-test regions."""
    found = [marker for marker in HIDDEN_MARKERS if marker in text]
    if found:
        raise HandoutError(f"{path} is not a student release (it holds {', '.join(found)}); "
                           "run python -m autograder release")


def copy_book(out: Path) -> list[str]:
    """Copy the sandbox's view of ``book`` into ``out/book``; return its package names."""
    import importlib.util

    source = Path(importlib.util.find_spec("book").origin).parent
    for name in PROJECT_FILES["book"]:
        if name == "__init__.py":
            # A docstring of its own: the book's names modules the handout does not hold.
            (out / "book").mkdir(parents=True)
            (out / "book" / name).write_text(INIT, encoding="utf-8")
        else:
            shutil.copytree(source / name, out / "book" / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return sorted(".".join(init.parent.relative_to(out).parts) for init in out.rglob("__init__.py"))


def pyproject(packages: list[str], root_pyproject: Path = REPO / "pyproject.toml") -> str:
    """The handout's pyproject.toml: the checkout's version, requirements and notebooks extra."""
    project = tomllib.loads(root_pyproject.read_text(encoding="utf-8"))["project"]
    return f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{DISTRIBUTION}"
version = "{project['version']}"
description = "The optimizer book's exercises: the test functions they import"
requires-python = "{project['requires-python']}"
dependencies = {json.dumps(project['dependencies'])}

[project.optional-dependencies]
notebooks = {json.dumps(project['optional-dependencies']['notebooks'])}

[tool.setuptools]
packages = {json.dumps(packages)}
"""


def readme(notebooks: list[Path]) -> str:
    """The handout's README: what is in it, the install command and how to start Jupyter."""
    names = [path.parent.name for path in notebooks]
    return README.format(
        title=f"Optimizer book exercises: {', '.join(names)}", book_url=book_url(), **INSTALL_MB,
        first=notebooks[0].as_posix(), s="s" if len(notebooks) > 1 else "",
        notebooks=", ".join(f"`{path.as_posix()}`" for path in notebooks))


def clear(out: Path) -> None:
    """Empty ``out`` for a new handout; refuse a folder that holds something else."""
    if not out.exists():
        return
    marker = out / "pyproject.toml"
    if any(out.iterdir()) and not (marker.is_file() and f'name = "{DISTRIBUTION}"' in marker.read_text()):
        raise HandoutError(f"{out} exists and is not a handout: name another folder with --out")
    shutil.rmtree(out)


def write_handout(out: Path, release_dir: Path, names: list[str] | None = None) -> Path:
    """Write the handout folder ``out`` and ``out``.zip (entries under ``out.name/``); return the zip."""
    notebooks = notebook_paths(release_dir, names)
    texts = {path: (release_dir / path).read_text(encoding="utf-8") for path in notebooks}
    for path, text in texts.items():
        check_released(release_dir / path, text)
    clear(out)
    packages = copy_book(out)
    for path, text in texts.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text, encoding="utf-8")
    (out / "pyproject.toml").write_text(pyproject(packages), encoding="utf-8")
    (out / "README.md").write_text(readme(notebooks), encoding="utf-8")
    archive = shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name)
    return Path(archive)


def _run(args) -> int:
    try:
        release_dir = course_root(args.course) / RELEASE_PATH
        archive = write_handout(args.out.resolve(), release_dir, args.assignment)
    except (HandoutError, ReleaseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"handout written: {args.out}/ and {archive.name} next to it; give students either")
    return 0


def register(subparsers) -> None:
    """Add the ``handout`` sub-command."""
    parser = subparsers.add_parser(
        "handout",
        help="write the students' bundle: released notebooks, book.landscapes and install instructions",
        description=" ".join(__doc__.split("\n\n")[1].split()),
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help="the handout folder; DIR.zip is written next to it")
    parser.add_argument("--assignment", action="append", metavar="A",
                        help="an assignment to include (repeat for several; default: all released)")
    parser.add_argument("--course", type=Path, metavar="DIR",
                        help="the course directory whose exercises/ is handed out "
                             "(default: the current directory when it holds solutions/source/, else this checkout)")
    parser.set_defaults(func=_run)
