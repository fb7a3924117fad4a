"""The sandbox's own process: run a student's cells, then the fixture cases.

``python -I -m autograder.runner --zygote FD UID`` is started once per grading process
(inside bubblewrap, see :mod:`autograder.sandbox`). It imports NumPy and the grading
core, says ``{"ready": true}`` on the ``SOCK_SEQPACKET`` socket ``FD`` and then, for
each ``run`` packet (with a request file and the output and result pipes), forks a
child that:

* reads the request ``{"request": {"assignment", "function", "cells": [{"id",
  "source"}], "case_names"}, "limits": {...}}``,
* applies the resource limits, moves to a fresh 0700 folder and drops to ``UID``
  (unless ``none``),
* executes each cell in one namespace (an error in one cell is recorded and the next
  cell still runs, as in a notebook run with errors allowed), records which modules
  the cells loaded and which NumPy/builtins/math names they replaced, and calls
  :func:`autograder.execute.run_submission` on the student's function,
* writes everything as plain data (:mod:`autograder.wire`) to the result pipe.

A ``kill`` packet, or the child's end, makes the zygote kill every process of the
submission and answer ``{"status": exit code}``. Expected values never enter this
process.
"""

from __future__ import annotations

import builtins
import contextlib
import difflib
import json
import math  # noqa: F401 (imported so that WATCHED_MODULES can watch it)
import os
import resource
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import traceback

from autograder import wire

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
    return text[:MESSAGE_CHARS] + where


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
    """Execute each cell in ``namespace``; ``[{"id", "error": None | description}]``."""
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
    """Run the cells and the cases: ``{"cells", "modules", "replaced", "outputs", "error"}``."""
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


def run_child(folder: str, request_file: int, output: int, result: int, uid: int | None) -> None:
    """The forked child: one submission, in ``folder``, then ``os._exit`` (never returns)."""
    try:
        os.setsid()  # its own process group, for killing it without a uid of its own
        for fd, target in ((output, 1), (output, 2)):
            os.dup2(fd, target)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        with os.fdopen(request_file, "rb") as stream:
            message = json.loads(stream.read())
        if uid is not None:
            os.chown(folder, uid, uid)
        os.chdir(folder)
        apply_limits(message["limits"])
        if uid is not None:
            drop_privileges(uid)
        pid = os.getpid()
        try:
            data = wire.dumps(grade(message["request"]))
        except BaseException as error:
            data = json.dumps({"error": f"the grading process failed: {describe(error)}"[:MESSAGE_CHARS]}).encode()
        if os.getpid() == pid:  # not a process forked by the student's code
            sys.stdout.flush()
            with os.fdopen(result, "wb") as channel:
                channel.write(data)
    finally:
        # Skip interpreter shutdown: student atexit hooks and threads must not run or hang.
        os._exit(0)


def kill_submission(child: int, uid: int | None) -> None:
    """Kill every process of a submission: all of ``uid``'s, or ``child``'s process group."""
    if uid is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child, signal.SIGKILL)
        return
    killer = os.fork()
    if killer == 0:
        try:
            os.setuid(uid)
            # kill(-1) reaches every process of this uid but the caller; repeat while a
            # fork bomb still has members.
            for _ in range(1000):
                os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(killer, 0)


def zygote(control_fd: int, uid: int | None) -> None:
    import numpy  # noqa: F401 (imported once here, inherited by every child)

    from autograder import execute  # noqa: F401

    control = socket.socket(fileno=control_fd)
    control.send(b'{"ready": true}')
    while True:
        try:
            packet, fds, _, _ = socket.recv_fds(control, 16, 3)
        except OSError:
            return
        if not packet:
            return
        if packet != b"run" or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            continue  # a late "kill" for a submission that already ended
        sys.stdout.flush()
        folder = tempfile.mkdtemp(prefix="submission-")
        child = os.fork()
        if child == 0:
            control.close()
            run_child(folder, *fds, uid)
        for fd in fds:
            os.close(fd)
        with selectors.DefaultSelector() as selector:
            selector.register(control, selectors.EVENT_READ)
            selector.register(os.pidfd_open(child), selectors.EVENT_READ)
            while True:
                events = selector.select()
                if any(key.fileobj is control for key, _ in events):
                    if control.recv(16) in (b"kill", b""):
                        kill_submission(child, uid)
                        break
                else:
                    break
            for key in list(selector.get_map().values()):
                if key.fileobj is not control:
                    os.close(key.fd)
        _, status = os.waitpid(child, 0)
        kill_submission(child, uid)  # whatever it left running in the background
        shutil.rmtree(folder, ignore_errors=True)
        try:
            control.send(json.dumps({"status": os.waitstatus_to_exitcode(status)}).encode())
        except OSError:
            return  # the grading process is gone


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[1] != "--zygote":
        raise SystemExit("usage: python -m autograder.runner --zygote FD UID|none")
    zygote(int(sys.argv[2]), None if sys.argv[3] == "none" else int(sys.argv[3]))


if __name__ == "__main__":
    main()
