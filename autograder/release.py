"""``python -m autograder release``: regenerate the student notebooks from the solutions.

Each instructor notebook ``solutions/source/<a>/<a>.ipynb`` goes through stock nbgrader's
``generate_assignment`` (configured by the repository's ``nbgrader_config.py``) inside a
temporary course directory, so no gradebook or log lands in the repository. Only the
released notebook is kept, written as canonical nbformat JSON, to
``exercises/<a>/<a>.ipynb``. ``--check`` writes nothing and exits 1 when the committed
release differs from a fresh one.

The course is ``--course DIR``; without it, the current directory when it holds
``solutions/source/``, else the checkout this package runs from. The nbgrader
configuration is the course's ``nbgrader_config.py``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
#: Where a course directory (this repository is one) keeps its parts.
CONFIG_NAME, SOURCE_PATH, RELEASE_PATH = "nbgrader_config.py", Path("solutions", "source"), Path("exercises")
CONFIG_FILE = REPO / CONFIG_NAME
SOURCE_DIR = REPO / SOURCE_PATH
RELEASE_DIR = REPO / RELEASE_PATH
#: The book's Jupyter Book configuration, whose ``book_url`` says where it is published.
BOOK_CONFIG = REPO / "_config.yml"
#: What a source notebook writes for that address: ``[Adam]({book_url}/chapters/adam.html)``.
BOOK_URL_FIELD = "{book_url}"


class ReleaseError(RuntimeError):
    """nbgrader refused to generate an assignment (bad cell metadata, unclosed region...)."""


def assignments(source_dir: Path = SOURCE_DIR) -> list[str]:
    """Names of the assignments: the folders ``<a>/`` of ``source_dir`` holding ``<a>.ipynb``."""
    return sorted(p.name for p in source_dir.iterdir() if (p / f"{p.name}.ipynb").is_file())


def book_url(config_file: Path = BOOK_CONFIG) -> str:
    """Where the book is published (``book_url`` of ``_config.yml``), without a final slash."""
    import yaml

    url = str((yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}).get("book_url") or "")
    if not url.startswith(("https://", "http://")):
        raise ReleaseError(f"{config_file} sets no book_url (the address of the published book, https://...)")
    return url.rstrip("/")


def ensure_scripts_on_path() -> None:
    """Put this interpreter's scripts folder first on ``PATH``: nbgrader opens its
    gradebook by running the ``alembic`` executable by name, which fails when a
    virtualenv's Python is run without activating the virtualenv."""
    scripts = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])


def course_root(explicit: Path | None = None) -> Path:
    """The course directory: ``explicit``, else the current directory when it holds
    ``solutions/source/``, else the checkout this package runs from (not an installed copy,
    where nothing sits next to the package)."""
    if explicit is not None:
        return explicit.resolve()
    for candidate in (Path.cwd(), REPO):
        if (candidate / SOURCE_PATH).is_dir():
            return candidate
    raise ReleaseError(f"no course here: {Path.cwd()} has no solutions/source/ folder; run this command from "
                       "the course directory (the repository root) or pass --course DIR")


def _nbgrader_config(course_root: Path, config_file: Path = CONFIG_FILE):
    """The course's nbgrader configuration (``config_file``), pointed at ``course_root``."""
    from traitlets.config.loader import PyFileConfigLoader

    if not config_file.is_file():
        raise ReleaseError(f"no nbgrader configuration: {config_file} does not exist")
    config = PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
    config.CourseDirectory.root = str(course_root)
    return config


def generate(assignment: str, source_dir: Path = SOURCE_DIR, config_file: Path = CONFIG_FILE) -> str:
    """Run nbgrader's generate_assignment on one assignment; return the student notebook
    as canonical JSON text (what ``exercises/<a>/<a>.ipynb`` must contain)."""
    from nbgrader.apps import NbGraderAPI

    ensure_scripts_on_path()
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        course = Path(tmp)
        config = _nbgrader_config(course, config_file)
        shutil.copytree(source_dir / assignment, course / config.CourseDirectory.source_directory / assignment)
        result = NbGraderAPI(config=config).generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise ReleaseError(f"nbgrader could not generate {assignment!r}:\n{_errors(result.get('log', ''))}")
        released = course / config.CourseDirectory.release_directory / assignment / f"{assignment}.ipynb"
        return canonical(nbformat.read(released, as_version=4))


def _errors(log: str) -> str:
    """nbgrader's error lines (with the cell they quote), without its INFO lines and traceback."""
    kept = []
    for line in log.partition("[ERROR] Traceback")[0].splitlines():
        if line.startswith("[ERROR]") or (kept and not line.startswith("[")):
            kept.append(line)
    return "\n".join(kept)


def canonical(notebook) -> str:
    """Notebook JSON with no outputs or execution counts, in nbformat's stable layout."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nbformat.writes(notebook) + "\n"


def fresh_release(source_dir: Path = SOURCE_DIR, config_file: Path = CONFIG_FILE) -> dict[Path, str]:
    """Every student notebook a release must contain: ``{<a>/<a>.ipynb: JSON text}``."""
    names = assignments(source_dir) if source_dir.is_dir() else []
    if not names:
        raise ReleaseError(f"no assignment found in {source_dir} (expected <a>/<a>.ipynb folders)")
    return {Path(a) / f"{a}.ipynb": generate(a, source_dir, config_file) for a in names}


def sync(expected: dict[Path, str], release_dir: Path = RELEASE_DIR, check: bool = False) -> list[str]:
    """Make ``release_dir`` hold exactly ``expected`` (with ``check``: only compare).

    Returns the paths, relative to ``release_dir``, that differ (or differed): changed or
    missing notebooks, and any other file, which does not belong in a release.
    """
    present = {
        path.relative_to(release_dir)
        for path in release_dir.rglob("*")
        # Jupyter's own .ipynb_checkpoints/ are not part of the release.
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(release_dir).parts)
    }
    drift = sorted(
        str(path)
        for path in present | expected.keys()
        if path not in present or path not in expected
        or (release_dir / path).read_text(encoding="utf-8") != expected[path]
    )
    if not check:
        for path in present - expected.keys():
            (release_dir / path).unlink()
        for path, text in expected.items():
            (release_dir / path).parent.mkdir(parents=True, exist_ok=True)
            (release_dir / path).write_text(text, encoding="utf-8")
    return drift


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when inside it (as a user typed it)."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _run(args) -> int:
    try:
        root = course_root(args.course)
        source, released = root / SOURCE_PATH, root / RELEASE_PATH
        drift = sync(fresh_release(source, root / CONFIG_NAME), released, check=args.check)
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    where = _shown(released)
    for path in drift:
        print(f"{'out of date' if args.check else 'updated'}: {where}/{path}")
    if args.check:
        print(f"{where}/ is {'out of date: run python -m autograder release' if drift else 'up to date'}")
        return 1 if drift else 0
    print(f"{where}/ regenerated from {_shown(source)}/ ({len(drift)} file(s) changed)")
    return 0


def register(subparsers) -> None:
    """Add the ``release`` sub-command."""
    parser = subparsers.add_parser(
        "release",
        help="regenerate exercises/ from solutions/source/ with nbgrader",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if exercises/ is out of date")
    parser.add_argument("--course", type=Path, metavar="DIR",
                        help="the course directory, holding solutions/source/, exercises/ and nbgrader_config.py "
                             "(default: the current directory when it holds solutions/source/, else this checkout)")
    parser.set_defaults(func=_run)
