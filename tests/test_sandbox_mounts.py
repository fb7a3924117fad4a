"""The sandbox's file system is an allow-list: what it binds, and what it never does.

(`tests/test_grade_hostile.py` looks at the same from inside, as a submission would.)
"""

from pathlib import Path

import autograder
from autograder.sandbox import VIEW_ROOT, bwrap_args, student_view

REPO = Path(autograder.__file__).resolve().parents[1]


def _binds(args: list[str]) -> dict[str, str]:
    return {args[i + 2]: args[i + 1] for i, arg in enumerate(args) if arg == "--ro-bind"}


def test_view_holds_the_runner_and_the_landscapes_only():
    view = student_view()
    project = {name for name in view if name.startswith("lib/")}
    assert project == {"lib/autograder/__init__.py", "lib/autograder/runner.py", "lib/autograder/execute.py",
                       "lib/autograder/cases.py", "lib/autograder/wire.py", "lib/book/__init__.py",
                       "lib/book/landscapes"}
    site = {name.split("/")[1] for name in view if name.startswith("site/")}
    assert {"numpy", "matplotlib"} <= site
    assert not {"torch", "nbgrader", "autograder", "book", "jupyter_core"} & site
    assert not any(name.endswith(".pth") or ".dist-info" in name for name in site)


def test_bwrap_binds_nothing_of_the_grader():
    binds = _binds(bwrap_args(view=student_view(), tmp_bytes=1 << 20))
    assert "/" not in binds and "/" not in binds.values()
    sources = [Path(source) for source in binds.values()]
    for secret in (REPO, REPO / "autograder", REPO / "autograder" / "fixtures", REPO / "book" / "optim",
                   Path.home() / ".cache"):
        assert secret not in sources and not any(source in secret.parents for source in sources if source != Path("/"))
    project = {target: source for target, source in binds.items() if target.startswith(VIEW_ROOT + "/lib/")}
    assert project[f"{VIEW_ROOT}/lib/book/landscapes"] == str(REPO / "book" / "landscapes")
