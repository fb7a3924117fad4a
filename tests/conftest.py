"""Fixtures shared by the test modules: the built book."""

import fcntl
import subprocess

import pytest
from book_pages import ROOT


@pytest.fixture(scope="session")
def built_book():
    """Build the book once per session with `make book`; returns ``_build/html``.

    `make book` runs ``jupyter-book build . -W -n --keep-going`` (incremental when
    already built, everything when book/ changed) and vendors MathJax. A file lock keeps
    pytest-xdist workers from building into the same folder at once: the later one
    finds the book built and only checks it.
    """
    lock_path = ROOT / "_build" / ".build.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(["make", "-C", str(ROOT), "book"], capture_output=True,
                                text=True)
    assert result.returncode == 0, (
        f"make book failed (exit {result.returncode}):\n"
        f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    return ROOT / "_build" / "html"
