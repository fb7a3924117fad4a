"""Run untrusted code under resource limits, inside bubblewrap when it works.

Each grading process starts one **sandbox**: a Python process (:mod:`autograder.runner`
in zygote mode) that imports NumPy and the grading core once, inside bubblewrap. Each
submission then runs in a process forked from it, which sets its rlimits, switches to
the sandbox's unprivileged uid and works in a fresh 0700 folder of the sandbox's
``/tmp``. Importing NumPy once per grading process instead of once per submission
divides the cost of a submission by about two. After each submission every process
of that uid is killed and its folder removed, so nothing of it survives into the next.

Isolation (``bwrap`` mode, Linux with bubblewrap):

* the file system is read-only; ``/tmp`` is a small private tmpfs; the home directory,
  the source checkout, the output directory, the submissions and ``autograder/fixtures``
  are hidden behind empty tmpfs mounts, and only the Python installation and the
  ``autograder``/``book`` packages are bound back;
* no network (``--unshare-net``), own PID/IPC/UTS namespaces; the sandbox dies with its
  grading process;
* student code runs as an unprivileged uid (``RLIMIT_NPROC`` does not bind root), one
  per grading process, so a fork bomb cannot starve a concurrent sandbox and a stray
  ``kill`` reaches only the submission's own processes.

Resource limits (both modes, per submission): CPU seconds, ``RLIMIT_DATA`` for memory
(not ``RLIMIT_AS``, which NumPy/OpenBLAS thread stacks exhaust), process count, file
size, no core dumps; BLAS pools limited to one thread. The grading process enforces a
wall-clock limit and keeps only the first ``output_bytes`` of stdout/stderr while
draining the rest, so printing megabytes neither blocks the child nor fills memory.

Without a working ``bwrap`` the sandbox runs in ``rlimits`` mode, and the report says
so: the limits hold, but the file system and network are not isolated, and when the
grader runs as root the child switches uid only if the Python installation is readable
by other users (otherwise the process-count limit, which root ignores, is void, and
only the child's process group is killed at the end).

Protocol: the grading process sends a ``run`` packet on a Unix ``SOCK_SEQPACKET``
socket with three descriptors (a file holding the JSON request, the output pipe and the
result pipe); the forked child reads the request and writes its results, as
:mod:`autograder.wire` JSON, to the result pipe, never through the student's stdout.
A ``kill`` packet stops the submission; the sandbox answers each ``run`` with
``{"status": exit code}`` once every process of the submission is gone.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Environment of the sandboxed process: nothing inherited from the grader.
CHILD_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "PYTHONDONTWRITEBYTECODE": "1",
}
#: Capabilities the sandbox process keeps when the grader runs as root (see ``bwrap_args``).
ZYGOTE_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
#: First uid handed to sandboxes; each grading process uses its own (see ``sandbox_uid``).
UID_BASE = 40000
UID_SPAN = 20000


@dataclass(frozen=True)
class Limits:
    """Per-submission limits. Memory is the data segment (heap + anonymous mmaps)."""

    wall_seconds: float = 30.0
    cpu_seconds: int = 30
    memory_bytes: int = 1 << 30
    processes: int = 64
    file_bytes: int = 16 << 20
    output_bytes: int = 64 << 10
    result_bytes: int = 64 << 20

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Outcome:
    """What happened to the sandboxed process."""

    mode: str
    returncode: int | None
    timed_out: bool
    wall_limit: float
    wall_seconds: float
    output: str
    output_bytes: int
    result: bytes | None
    result_overflow: bool = False
    warnings: list[str] = field(default_factory=list)

    def exit_description(self) -> str:
        """A sentence for the report: how the process ended."""
        if self.timed_out:
            return f"stopped after the wall-clock limit of {self.wall_limit:g} s"
        code = self.returncode
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            reason = {"SIGXCPU": " (CPU time limit)", "SIGKILL": " (killed)",
                      "SIGXFSZ": " (file size limit)", "SIGSEGV": " (crashed)"}.get(name, "")
            return f"killed by {name}{reason}"
        return f"exited with status {code}"


def sandbox_uid() -> int:
    """An unprivileged uid for this grading process's sandboxes.

    ``RLIMIT_NPROC`` counts processes per uid, so concurrent sandboxes (one per grading
    process) get different uids and a fork bomb in one cannot starve another.
    """
    return UID_BASE + os.getpid() % UID_SPAN


@functools.lru_cache(maxsize=1)
def probe_bwrap() -> str | None:
    """``None`` when bubblewrap can build our sandbox here, else the reason it cannot."""
    if not sys.platform.startswith("linux"):
        return "bubblewrap needs Linux"
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian package bubblewrap)"
    try:
        probe = subprocess.run(["bwrap", *_namespace_args(), "--ro-bind", "/", "/", "--proc", "/proc",
                                "--dev", "/dev", "--", "/bin/true"],
                               capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap failed to start: {error}"
    if probe.returncode != 0:
        return "bwrap cannot create namespaces here: " + probe.stderr.decode(errors="replace").strip()
    return None


def _namespace_args() -> list[str]:
    return ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session"]


def _existing(paths) -> list[Path]:
    """Resolved, existing, de-duplicated paths, parents before children."""
    resolved = {Path(path).resolve() for path in paths if path and Path(path).exists()}
    return sorted(resolved, key=lambda path: len(path.parts))


def bwrap_args(*, expose: list[Path], hide: list[Path], tmp_bytes: int) -> list[str]:
    """The bubblewrap command line (without the command itself).

    ``hide`` paths that contain an ``expose`` path (the home directory holding the Python
    installation, the checkout holding the packages) are hidden first, the exposed
    paths bound back read-only, and then ``hide`` paths inside them hidden again.
    """
    args = ["bwrap", *_namespace_args(), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    if os.geteuid() == 0:
        # The sandbox's own process keeps only what it needs to hand each submission a uid
        # and a folder and to clean up after it (no CAP_SYS_ADMIN: nothing can be remounted).
        args += ["--cap-drop", "ALL"] + [arg for cap in ZYGOTE_CAPABILITIES for arg in ("--cap-add", cap)]
    exposed = _existing(expose)
    hidden = _existing(hide)
    # The private /tmp comes first: a checkout that lives under /tmp (a CI clone) is then
    # bound back on top of it like any other exposed path under a hiding tmpfs.
    args += ["--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    covering = [Path("/tmp").resolve()]
    covering += [path for path in hidden if any(path in exposed_path.parents for exposed_path in exposed)]
    for path in covering[1:]:
        args += ["--tmpfs", str(path)]
    for path in exposed:
        # bwrap would create the folders leading to the bind inside a hiding tmpfs as 0700,
        # closed to the unprivileged uid the student code runs as.
        for folder in reversed(path.parents):
            if any(hiding in folder.parents for hiding in covering):
                args += ["--perms", "0755", "--dir", str(folder)]
        args += ["--ro-bind", str(path), str(path)]
    for path in hidden:
        if not any(path in exposed_path.parents for exposed_path in exposed):
            args += ["--tmpfs", str(path)]
    args += ["--chdir", "/tmp", "--"]
    return args


def _readable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can reach and read ``path``."""
    path = Path(path).resolve()
    folders = [*reversed(path.parents), path]
    return all(folder.stat().st_mode & 0o005 == 0o005 for folder in folders if folder.exists())


class SandboxError(RuntimeError):
    """The sandbox process itself failed (not the submission)."""


class Sandbox:
    """A zygote process that runs submissions (see the module docstring)."""

    def __init__(self, *, expose: list[Path], hide: list[Path], mode: str = "auto", tmp_bytes: int = 64 << 20):
        if mode not in ("auto", "bwrap", "rlimits"):
            raise ValueError(f"unknown sandbox mode {mode!r}; expected auto, bwrap or rlimits")
        self.warnings = []
        if mode != "rlimits":
            problem = probe_bwrap()
            if problem is None:
                mode = "bwrap"
            elif mode == "bwrap":
                raise SandboxError(f"sandbox mode bwrap requested but unusable: {problem}")
            else:
                mode = "rlimits"
                self.warnings.append(f"no bubblewrap sandbox ({problem})")
        self.mode = mode
        uid = sandbox_uid() if os.geteuid() == 0 else None
        if mode == "rlimits":
            self.warnings.append("resource limits only: the file system and network were not isolated")
            if uid is not None and not all(_readable_by_others(path) for path in expose):
                self.warnings.append("ran as root: the Python installation is not readable by other users, so "
                                     "the process-count limit (which root ignores) did not apply")
                uid = None
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [sys.executable, "-I", "-m", "autograder.runner", "--zygote", str(theirs.fileno()),
                "none" if uid is None else str(uid)]
        if mode == "bwrap":
            argv = bwrap_args(expose=list(expose), hide=list(hide), tmp_bytes=tmp_bytes) + argv
        try:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, pass_fds=(theirs.fileno(),),
                                            env=CHILD_ENV, start_new_session=True)
        finally:
            theirs.close()
        ready = self._receive(timeout=60)
        if ready != {"ready": True}:
            stderr = self.process.stderr.read().decode(errors="replace") if self.process.poll() is not None else ""
            self.close()
            raise SandboxError(f"the sandbox did not start: {stderr.strip()[-2000:]}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.control.close()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.process.stderr.close()

    def _receive(self, timeout: float):
        """The sandbox's next packet (JSON), or None on timeout or when it is gone."""
        self.control.settimeout(max(timeout, 0.01))
        try:
            packet = self.control.recv(1 << 16)
        except (socket.timeout, OSError):
            return None
        return json.loads(packet) if packet else None

    def run(self, request: dict, limits: Limits) -> Outcome:
        """Run one submission: ``request`` goes to :func:`autograder.runner.grade`."""
        output_read, output_write = os.pipe()
        result_read, result_write = os.pipe()
        with tempfile.TemporaryFile() as request_file:
            request_file.write(json.dumps({"request": request, "limits": limits.as_dict()}).encode("utf-8"))
            request_file.seek(0)
            started = time.monotonic()
            try:
                socket.send_fds(self.control, [b"run"], [request_file.fileno(), output_write, result_write])
            except OSError as error:
                raise SandboxError(f"the sandbox is gone ({error})") from None
            finally:
                os.close(output_write)
                os.close(result_write)
        try:
            outcome = _collect(output_read, result_read, limits, started + limits.wall_seconds)
        finally:
            os.close(output_read)
            os.close(result_read)
        if outcome.timed_out or outcome.result_overflow:
            self.control.send(b"kill")
        status = self._receive(timeout=started + limits.wall_seconds + 10 - time.monotonic())
        if status is None:
            raise SandboxError("the sandbox did not report how the submission ended")
        outcome.returncode = status["status"]
        outcome.wall_seconds = time.monotonic() - started
        outcome.mode, outcome.warnings = self.mode, list(self.warnings)
        return outcome


_SANDBOXES: dict[tuple, Sandbox] = {}


def sandbox_for(*, expose: list[Path], hide: list[Path], mode: str, tmp_bytes: int) -> Sandbox:
    """This process's sandbox for these settings, started on first use (or after it died)."""
    key = (tuple(expose), tuple(hide), mode, tmp_bytes)
    sandbox = _SANDBOXES.get(key)
    if sandbox is None or not sandbox.alive():
        if sandbox is not None:
            sandbox.close()
        sandbox = _SANDBOXES[key] = Sandbox(expose=expose, hide=hide, mode=mode, tmp_bytes=tmp_bytes)
    return sandbox


def close_all() -> None:
    """Stop this process's sandboxes."""
    while _SANDBOXES:
        _SANDBOXES.popitem()[1].close()


atexit.register(close_all)


def _collect(output_read: int, result_read: int, limits: Limits, deadline: float) -> Outcome:
    """Drain the output and result pipes until both close or the deadline passes."""
    output, output_total = bytearray(), 0
    result, result_overflow = bytearray(), False
    timed_out = False
    with selectors.DefaultSelector() as selector:
        selector.register(output_read, selectors.EVENT_READ, "output")
        selector.register(result_read, selectors.EVENT_READ, "result")
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(timeout=min(remaining, 1.0)):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fd)
                elif key.data == "output":
                    output_total += len(chunk)
                    output += chunk[: max(0, limits.output_bytes - len(output))]
                elif len(result) + len(chunk) > limits.result_bytes:
                    result_overflow = True
                    selector.unregister(key.fd)
                else:
                    result += chunk
    return Outcome(mode="", returncode=None, timed_out=timed_out, wall_limit=limits.wall_seconds, wall_seconds=0.0,
                   output=output.decode("utf-8", errors="replace"), output_bytes=output_total,
                   result=None if result_overflow or timed_out else bytes(result),
                   result_overflow=result_overflow)
