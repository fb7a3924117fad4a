"""Run the grader's own parsing of untrusted data in a forked, resource-limited process.

Reading a notebook (JSON), taking its code apart (``ast``) and checking it are the
grader's code, but their cost is set by the submission: a 19 MB answer cell of
``x = [1, 1, ...]`` once took a grading process to 9 GB and 200 s. :func:`call` runs
such a function in a child process with a memory, CPU and wall-clock limit and a cap on
the size of its result, so a submission can cost its own grade, never the grader.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """What one call may use beyond the memory the grading process already holds."""

    memory_bytes: int = 1 << 30
    cpu_seconds: int = 20
    wall_seconds: float = 30.0
    result_bytes: int = 16 << 20


class ChildFailed(RuntimeError):
    """The call ran out of its budget, raised or died; the message says which, for the report."""


def _data_segment_bytes() -> int:
    """This process's data segment now (``VmData``), which ``RLIMIT_DATA`` counts."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def die_with_parent() -> None:
    """Make this process end when its parent does, even by SIGKILL (also a pool initializer)."""
    from autograder.runner import PR_SET_PDEATHSIG, prctl

    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _child(function, args, budget: Budget, write: int) -> None:
    try:
        die_with_parent()
        memory = _data_segment_bytes() + budget.memory_bytes
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (budget.cpu_seconds, budget.cpu_seconds))
        try:
            data = json.dumps({"result": function(*args)}).encode("utf-8")
        except MemoryError:
            data = json.dumps({"limit": "memory"}).encode("utf-8")
        except Exception as error:  # noqa: BLE001 - reported by the parent
            data = json.dumps({"failed": f"{type(error).__name__}: {error}"[:2000]}).encode("utf-8")
        with os.fdopen(write, "wb") as channel:
            channel.write(data)
    finally:
        os._exit(0)


def call(function, *args, budget: Budget = Budget(), what: str = "reading the notebook"):
    """``function(*args)`` computed in a limited child process; its result must be JSON.

    Raises :class:`ChildFailed` with a sentence for the report when the child runs out
    of memory, CPU time or wall-clock time, sends too much, raises or dies.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _child(function, args, budget, write)
    os.close(write)
    data, too_large, deadline = bytearray(), False, time.monotonic() + budget.wall_seconds
    with selectors.DefaultSelector() as selector:
        selector.register(read, selectors.EVENT_READ)
        while not too_large:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(timeout=remaining):
                break
            chunk = os.read(read, 1 << 20)
            if not chunk:
                break
            data += chunk
            too_large = len(data) > budget.result_bytes
    os.close(read)
    timed_out = time.monotonic() >= deadline
    if timed_out or too_large:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        raise ChildFailed(f"{what} took longer than {budget.wall_seconds:g} s")
    if too_large:
        raise ChildFailed(f"{what} produced more than {budget.result_bytes >> 20} MB")
    code = os.waitstatus_to_exitcode(status)
    try:
        message = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        reason = "CPU time" if code == -signal.SIGXCPU else f"the process ended with status {code}"
        raise ChildFailed(f"{what} ran out of resources ({reason})") from None
    if message.get("limit") == "memory":
        raise ChildFailed(f"{what} needed more than {budget.memory_bytes >> 20} MB of memory")
    if "failed" in message:
        raise ChildFailed(f"{what} failed ({message['failed']})")
    return message["result"]
