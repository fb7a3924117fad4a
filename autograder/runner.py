"""Entry point of the sandboxed process: run a student's cells, then the fixture cases.

``python -I -m autograder.runner`` reads one JSON request on stdin::

    {"assignment": "adam", "function": "adam_update", "cells": [{"id", "source"}],
     "case_names": null | [...], "limits": {...}, "uid": null | int, "result_fd": int}

It applies the resource limits, drops to ``uid`` when started as root, imports the
grading core, executes each cell in one namespace (an error in one cell is recorded and
the next cell still runs, as in a notebook run with errors allowed), records which
modules the cells loaded and which NumPy/builtins/math names they replaced, and calls
:func:`autograder.execute.run_submission` on the student's function. Everything goes
back as plain data (:mod:`autograder.wire`) on ``result_fd``; expected values never
enter this process.
"""

from __future__ import annotations

import builtins
import difflib
import json
import math  # noqa: F401 (imported so that WATCHED_MODULES can watch it)
import os
import resource
import sys
import traceback

MESSAGE_CHARS = 2000
#: Modules whose attributes a student must not replace (checked after the cells run).
WATCHED_MODULES = ("numpy", "numpy.linalg", "builtins", "math")
#: Installed for the grader, hidden from the sandbox, never needed by a submission.
UNAVAILABLE_MODULES = ("torch", "torchgen", "nbgrader")


def apply_limits(limits: dict) -> None:
    """Soft = hard, so the student cannot raise them again."""
    for name, value in (("RLIMIT_CPU", limits["cpu_seconds"]), ("RLIMIT_DATA", limits["memory_bytes"]),
                        ("RLIMIT_NPROC", limits["processes"]), ("RLIMIT_FSIZE", limits["file_bytes"]),
                        ("RLIMIT_CORE", 0)):
        resource.setrlimit(getattr(resource, name), (int(value), int(value)))


def drop_privileges(uid: int) -> None:
    """Become ``uid`` (group too) so that RLIMIT_NPROC and file permissions bind."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def describe(error: BaseException) -> str:
    """``Type: message (cell ID, line N)`` for the innermost frame in a student cell."""
    where = ""
    for frame, line in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename.startswith("<cell "):
            where = f" ({frame.f_code.co_filename[1:-1]}, line {line})"
    if isinstance(error, SyntaxError) and error.filename and error.filename.startswith("<cell "):
        where = f" ({error.filename[1:-1]}, line {error.lineno})"
    text = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[-1]
    return (text[:MESSAGE_CHARS] + where)


def snapshot() -> dict:
    """Identity of every attribute of the watched modules."""
    return {name: {attr: id(value) for attr, value in vars(sys.modules[name]).items()}
            for name in WATCHED_MODULES if name in sys.modules}


def replaced_names(before: dict) -> list[str]:
    changed = []
    for name, attrs in before.items():
        now = vars(sys.modules[name])
        changed += [f"{name}.{attr}" for attr, ident in attrs.items() if attr in now and id(now[attr]) != ident]
    return sorted(changed)


def run_cells(cells: list[dict], namespace: dict) -> list[dict]:
    records = []
    for cell in cells:
        record = {"id": cell["id"], "error": None}
        try:
            code = compile(cell["source"], f"<cell {cell['id']}>", "exec")
            exec(code, namespace)
        except BaseException as error:  # SystemExit and KeyboardInterrupt too: a cell may call sys.exit
            record["error"] = describe(error)
        records.append(record)
    return records


class Unavailable:
    """Import hook: modules the grader does not provide fail with a message saying why."""

    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"{name} is not available when grading: the update must be written "
                                      "with NumPy", name=name)
        return None


def grade(request: dict) -> dict:
    import numpy  # noqa: F401 (loaded before the snapshot, so its import is not the student's)
    from autograder import execute

    sys.meta_path.insert(0, Unavailable(UNAVAILABLE_MODULES))
    modules_before = set(sys.modules)
    names_before = snapshot()
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    reply = {"cells": run_cells(request["cells"], namespace), "outputs": None, "error": None}
    reply["modules"] = sorted({name.split(".")[0] for name in set(sys.modules) - modules_before})
    reply["replaced"] = replaced_names(names_before)
    function_name = request["function"]
    function = namespace.get(function_name)
    if not callable(function):
        similar = difflib.get_close_matches(function_name, [n for n in namespace if not n.startswith("__")],
                                            n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(similar)}?" if similar else ""
        reply["error"] = f"the notebook does not define a function {function_name}(){hint}"
        return reply
    try:
        reply["outputs"] = execute.run_submission(request["assignment"], function, request.get("case_names"))
    except BaseException as error:
        reply["error"] = f"running the cases failed: {describe(error)}"
    return reply


def main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    pid = os.getpid()
    result_fd = request["result_fd"]
    apply_limits(request["limits"])
    if request.get("uid") is not None and os.geteuid() == 0:
        drop_privileges(request["uid"])
    from autograder import wire

    try:
        data = wire.dumps(grade(request))
    except BaseException as error:
        data = json.dumps({"error": f"the grading process failed: {describe(error)}"[:MESSAGE_CHARS]}).encode()
    if os.getpid() != pid:
        os._exit(0)  # a process forked by the student's code: only the runner itself reports
    sys.stdout.flush()
    with os.fdopen(result_fd, "wb") as channel:
        channel.write(data)
    # Skip interpreter shutdown: student atexit hooks and threads must not run or hang.
    os._exit(0)


if __name__ == "__main__":
    main()
