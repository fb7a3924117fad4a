"""The sandbox's own processes: the zygote, the driver and the student's process.

``python -I -S -c BOOT ROOT --zygote FD UID`` is started once per grading process
(inside bubblewrap, see :mod:`autograder.sandbox`), with only ``ROOT/lib`` (this
module, :mod:`autograder.execute`, :mod:`autograder.cases`, :mod:`autograder.wire`,
``book.landscapes``) and ``ROOT/site`` (NumPy, matplotlib and their dependencies) on
its path besides the standard library: no expected value, no fixture, no reference
implementation (``book.optim``, the diagnosis catalogue, torch) exists in the
sandbox, so nothing the student's code can reach computes the answer for it.

The zygote imports NumPy once, says ``{"ready": true}`` on the ``SOCK_SEQPACKET``
socket ``FD`` and then, for each ``run`` packet (with a request file and the output
and result pipes), forks a **driver** that forks the **student's process**:

* the student's process applies the resource limits, moves to a fresh 0700 folder,
  drops to ``UID`` (unless ``none``), executes the student's cells in one namespace
  (an error in one cell is recorded and the next cell still runs), says how that went
  and then runs the student's function through each case the driver sends
  (:func:`autograder.execute.run_case`) and sends back its run record;
* the driver holds the only copy of the result pipe, sends the cases one by one with
  their stored inputs, checks every record it gets back against the case (shapes,
  lengths, finite values, error kinds) and rebuilds it, stops the student's process
  at the deadline, and writes the reply: the records, and what the student's process
  said about its cells, marked as its own word.

The student's process cannot write the reply: it never holds the result pipe, runs
as another uid than the driver (which is also not dumpable, so it cannot be traced or
read through ``/proc``), and can only send run records, which hold nothing but what a
function returned. Anything else ends the run as a protocol violation, reported as
such. Whatever produced a well-formed record, nothing in the sandbox knows the
expected values, so a record that matches them was computed by the student's code. The request is ``{"request": {"assignment", "function", "cells": [{"id",
"source"}], "inputs": {case: {"theta", "grads", <states>}}}, "limits": {...}}``.

A ``kill`` packet, or the driver's end, makes the zygote kill every process of the
submission and answer ``{"status": exit code}``.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import difflib
import json
import math  # noqa: F401 (imported so that WATCHED_MODULES can watch it)
import os
import resource
import selectors
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback

from autograder import wire

MESSAGE_CHARS = 2000
#: Modules whose attributes a student must not replace (reported by the student's process).
WATCHED_MODULES = ("numpy", "numpy.linalg", "builtins", "math")
#: Largest message the driver accepts from the student's process.
ANSWER_BYTES = 4 << 20
#: Most failing cells the reply names.
REPORTED_CELL_ERRORS = 50
#: Share of the wall-clock limit after which the driver stops waiting and reports what it has.
DRIVER_DEADLINE = 0.9
_HEADER = struct.Struct("<Q")
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4


class ProtocolError(Exception):
    """The student's process sent something that is not an answer to the call."""


class NotForGrading:
    """Import hook, last on ``sys.meta_path``: a module the sandbox does not hold fails
    with a message saying why (``torch``, ``book.optim``, the grader's own modules)."""

    def find_spec(self, name, path=None, target=None):
        raise ModuleNotFoundError(f"{name} is not available when grading: a submission can import NumPy, "
                                  "matplotlib, book.landscapes and the standard library, and the update "
                                  "must be written with NumPy", name=name)


def prctl(option: int, value: int) -> None:
    """Linux ``prctl`` (best effort: a no-op where libc has none)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


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


# --- messages between the driver and the student's process ------------------------------


def send(fd: int, message) -> None:
    data = memoryview(wire.dumps(message))
    # nbytes, not len(): a cell may have replaced builtins.len in the student's process.
    view = memoryview(_HEADER.pack(data.nbytes) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, size: int, wait) -> bytes:
    chunks, missing = [], size
    while missing:
        wait()
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def receive(fd: int, limit: int = ANSWER_BYTES, wait=lambda: None):
    """The next message on ``fd``; ``EOFError`` when it closed, ``ProtocolError`` when too large
    or not plain data. ``wait()`` runs before each read (the driver's deadline)."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, wait))
    if size > limit:
        raise ProtocolError(f"a message of {size} bytes (at most {limit} are accepted)")
    try:
        return wire.loads(_read_exactly(fd, size, wait))
    except ValueError as error:
        raise ProtocolError(str(error)[:MESSAGE_CHARS]) from None


# --- the student's process ---------------------------------------------------------------


def missing_function(name: str, namespace: dict, cells: list[dict]) -> str:
    """Why the cells define no function ``name``: the cell error that caused it first (a
    SyntaxError in the answer cell; a similar name offered then would only mislead),
    else the names that look alike."""
    missing = f"the notebook does not define a function {name}()"
    failed = [cell for cell in cells if cell["error"]]
    if failed:
        cause = next((cell for cell in failed if cell["id"] == name), failed[0])
        return f"{cause['error']}, so {missing}"
    similar = difflib.get_close_matches(name, [n for n in namespace if not n.startswith("__")], n=3, cutoff=0.6)
    return missing + (f"; did you mean {', '.join(similar)}?" if similar else "")


def serve(request: dict, calls: int, answers: int) -> None:
    """Run the cells, say how that went, then run each case the driver sends on ``calls``."""
    from autograder import execute
    from autograder.cases import get_case

    sys.meta_path.append(NotForGrading())
    names_before = snapshot()
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    hello = {"cells": run_cells(request["cells"], namespace), "error": None}
    hello["replaced"] = replaced_names(names_before)
    # What the cells printed reaches the output pipe now: the driver kills this process
    # when the cases are done.
    sys.stdout.flush()
    sys.stderr.flush()
    function_name = request["function"]
    function = namespace.get(function_name)
    if not callable(function):
        hello["error"] = missing_function(function_name, namespace, hello["cells"])
    send(answers, hello)
    if hello["error"]:
        return
    assignment = request["assignment"]
    while True:
        try:
            message = receive(calls, limit=1 << 62)
        except EOFError:
            return
        case = get_case(assignment, message["case"])
        send(answers, execute.run_case(assignment, case, function, message["inputs"]))


def student(folder: str, message: dict, output: int, calls: int, answers: int, uid: int | None) -> None:
    """The forked student's process (never returns)."""
    try:
        for fd, target in ((output, 1), (output, 2)):
            os.dup2(fd, target)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        if uid is not None:
            os.chown(folder, uid, uid)
        os.chdir(folder)
        apply_limits(message["limits"])
        if uid is not None:
            drop_privileges(uid)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
        serve(message["request"], calls, answers)
    finally:
        # Skip interpreter shutdown: student atexit hooks and threads must not run or hang.
        os._exit(0)


# --- the driver --------------------------------------------------------------------------


class Student:
    """The driver's view of the student's process: cases sent with a deadline, records checked."""

    def __init__(self, pid: int, calls: int, answers: int, deadline: float, wall_limit: float):
        self.pid, self.calls, self.answers = pid, calls, answers
        self.deadline, self.wall_limit = deadline, wall_limit
        self.selector = selectors.DefaultSelector()
        self.selector.register(answers, selectors.EVENT_READ, "answers")
        self.pidfd = os.pidfd_open(pid)
        self.selector.register(self.pidfd, selectors.EVENT_READ, "exited")
        self.ended: dict | None = None  # {"kind", "message"} once the process is gone
        self.protocol: str | None = None

    def _wait(self) -> None:
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            events = self.selector.select(timeout=remaining)
            if any(key.data == "answers" for key, _ in events):
                return
            if events:  # exited, with nothing left to read
                raise EOFError

    def receive(self):
        return receive(self.answers, wait=self._wait)

    def end(self, why: str, detail: str = "") -> dict:
        """Stop the student's process (if still there); the error every later call gets.

        ``why``: ``ended`` (it exited), ``timeout`` or ``protocol`` (``detail`` says how).
        """
        if self.ended is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            if why == "timeout":
                message = f"no answer within the wall-clock limit of {self.wall_limit:g} s for the whole notebook"
            elif why == "protocol":
                self.protocol = detail
                message = f"the notebook's process broke the grading protocol: {detail}"
            else:
                message = "the notebook's process " + (f"was killed by signal {-code}" if code < 0
                                                       else f"exited with status {code}")
            self.ended = {"kind": "timeout" if why == "timeout" else "ended", "message": message}
        return dict(self.ended)

    def failure(self, error: BaseException) -> dict:
        """:meth:`end` for an exception met while talking to the student's process."""
        if isinstance(error, TimeoutError):
            return self.end("timeout")
        if isinstance(error, ProtocolError):
            return self.end("protocol", str(error))
        return self.end("ended")

    def run_case(self, assignment: str, case, inputs: dict) -> dict:
        """The run record of ``case``, checked; once the process is gone, a record of why."""
        from autograder import execute

        if self.ended is None:
            try:
                send(self.calls, {"case": case.name, "inputs": inputs})
                return checked_record(self.receive(), assignment, case)
            except (OSError, EOFError, TimeoutError, ProtocolError) as error:
                self.failure(error)
        return execute.drive_case(assignment, case, inputs, lambda *_: (None, dict(self.ended), []))


def checked_record(record, assignment: str, case) -> dict:
    """A run record from the student's process, re-validated and rebuilt here."""
    import numpy

    from autograder import execute
    from autograder.cases import STATE_NAMES

    names = ("theta", *STATE_NAMES[assignment])
    problem = execute.record_problem(record, case, assignment)
    if problem is None and set(record) != {*names, "error", "mutated"}:
        problem = "a record with other fields"
    if problem:
        raise ProtocolError(f"case {case.name!r}: {problem}")
    completed, error, mutated = len(record["theta"]), record["error"], record["mutated"]
    if not all(numpy.isfinite(record[name]).all() for name in names):
        raise ProtocolError(f"case {case.name!r}: NaN or inf recorded as returned values")
    if error is None and completed != case.steps or error is not None and (
            error["kind"] not in execute.FUNCTION_ERROR_KINDS or error["step"] != completed + 1):
        raise ProtocolError(f"case {case.name!r}: the record's length and error disagree")
    if mutated is not None and not (0 < mutated["step"] <= case.steps
                                    and set(mutated["inputs"]) <= {"grad", *names} and mutated["inputs"]):
        raise ProtocolError(f"case {case.name!r}: a malformed list of modified inputs")
    checked = {name: numpy.array(record[name], dtype=numpy.float64) for name in names}
    checked["error"] = None if error is None else {
        "kind": error["kind"], "step": error["step"], "message": error["message"][:MESSAGE_CHARS]}
    checked["mutated"] = None if mutated is None else {"step": mutated["step"], "inputs": list(mutated["inputs"])}
    return checked


def _plain_cells(cells, expected: list[dict]) -> list[dict]:
    """The cells that failed, as the student's process tells, kept only where well formed
    (and at most :data:`REPORTED_CELL_ERRORS` of them, so the reply stays small)."""
    if not isinstance(cells, list):
        return []
    ids = {cell["id"] for cell in expected}
    failed = [{"id": cell["id"], "error": cell["error"][:MESSAGE_CHARS]} for cell in cells[: len(expected)]
              if isinstance(cell, dict) and cell.get("id") in ids and isinstance(cell.get("error"), str)]
    return failed[:REPORTED_CELL_ERRORS]


def conduct(request: dict, student: Student) -> dict:
    """Everything the driver reports: ``{"cells", "replaced", "outputs", "error", "protocol"}``."""
    from autograder.cases import get_case

    reply = {"cells": [], "replaced": [], "outputs": None, "error": None, "protocol": None}
    try:
        hello = student.receive()
        if not isinstance(hello, dict):
            raise ProtocolError("a first message that is not a dict")
    except (OSError, EOFError, TimeoutError, ProtocolError) as error:
        ended = student.failure(error)
        if ended["kind"] == "timeout":
            reply["error"] = f"the notebook's cells did not finish within the wall-clock limit of " \
                             f"{student.wall_limit:g} s"
        else:
            reply["error"] = f"{ended['message']} while its cells ran, before the grader got any results"
        reply["protocol"] = student.protocol
        return reply
    reply["cells"] = _plain_cells(hello.get("cells"), request["cells"])
    replaced = hello.get("replaced")
    reply["replaced"] = [name[:200] for name in replaced[:100] if isinstance(name, str)] \
        if isinstance(replaced, list) else []
    if hello.get("error"):
        reply["error"] = str(hello["error"])[:2 * MESSAGE_CHARS]  # a cell's error, then what it caused
        return reply
    assignment = request["assignment"]
    reply["outputs"] = {"assignment": assignment, "cases": {}}
    for name, inputs in request["inputs"].items():
        was_running = student.ended is None
        record = student.run_case(assignment, get_case(assignment, name), inputs)
        reply["outputs"]["cases"][name] = record
        if was_running and student.ended is not None:
            reply["error"] = f"{student.ended['message']} (case {name!r}, step {record['error']['step']})"
    reply["protocol"] = student.protocol
    return reply


def drive(folder: str, request_file: int, output: int, result: int, uid: int | None) -> None:
    """The forked driver: one submission, then ``os._exit`` (never returns)."""
    try:
        started = time.monotonic()
        os.setsid()  # its own process group, for killing it without a uid of its own
        prctl(PR_SET_DUMPABLE, 0)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        with os.fdopen(request_file, "rb") as stream:
            message = wire.loads(stream.read())
        calls_read, calls_write = os.pipe()
        answers_read, answers_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            for fd in (result, calls_write, answers_read):
                os.close(fd)
            student(folder, message, output, calls_read, answers_write, uid)
        for fd in (output, calls_read, answers_write):
            os.close(fd)
        wall = message["limits"]["wall_seconds"]
        process = Student(pid, calls_write, answers_read, started + DRIVER_DEADLINE * wall, wall)
        try:
            reply = conduct(message["request"], process)
        except BaseException as error:  # noqa: BLE001 - the driver's own failure, reported
            reply = {"error": f"the grading process failed: {describe(error)}"[:MESSAGE_CHARS]}
        process.end("ended")
        with os.fdopen(result, "wb") as channel:
            channel.write(wire.dumps(reply))
    finally:
        os._exit(0)


# --- the zygote --------------------------------------------------------------------------


def kill_submission(driver: int, uid: int | None) -> None:
    """Kill every process of a submission: the driver's group, and all of ``uid``'s."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(driver, signal.SIGKILL)
    if uid is None:
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

    running = {"driver": None}

    def on_grader_death(signum, frame):
        # Without a PID namespace (rlimits mode) the submission's processes would outlive
        # the grader: kill them first.
        if running["driver"] is not None:
            kill_submission(running["driver"], uid)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_grader_death)
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
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
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            drive(folder, *fds, uid)
        running["driver"] = child
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
        running["driver"] = None
        shutil.rmtree(folder, ignore_errors=True)
        try:
            control.send(json.dumps({"status": os.waitstatus_to_exitcode(status)}).encode())
        except OSError:
            return  # the grading process is gone


def main(argv: list[str]) -> None:
    if len(argv) != 3 or argv[0] != "--zygote":
        raise SystemExit("usage: ... ROOT --zygote FD UID|none")
    zygote(int(argv[1]), None if argv[2] == "none" else int(argv[2]))
