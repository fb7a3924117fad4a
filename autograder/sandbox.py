"""Run one untrusted command under resource limits, inside bubblewrap when it works.

Isolation (``bwrap`` mode, Linux with bubblewrap):

* the file system is read-only; ``/tmp`` is a small private tmpfs and the working
  directory; the home directory, the source checkout, the output directory, the
  submissions and ``autograder/fixtures`` are hidden behind empty tmpfs mounts, and only
  the Python installation and the ``autograder``/``book`` packages are bound back;
* no network (``--unshare-net``), own PID/IPC/UTS namespaces, so a fork bomb or a
  stray ``kill`` only reaches the sandbox; the sandbox dies with its parent;
* :mod:`autograder.runner` sets the rlimits below and then switches to an unprivileged
  uid of its own before any student code runs (``RLIMIT_NPROC`` does not bind root).

Resource limits (both modes, set by the runner): CPU seconds, ``RLIMIT_DATA`` for
memory (not ``RLIMIT_AS``, which NumPy/OpenBLAS thread stacks exhaust), process count,
file size, no core dumps; BLAS pools limited to one thread. The parent enforces a
wall-clock limit (killing the whole process group) and keeps only the first
``output_bytes`` of stdout/stderr while draining the rest, so printing megabytes
neither blocks the child nor fills the grader's memory.

Without a working ``bwrap`` the same command runs in ``rlimits`` mode, and the report
says so: the limits hold, but the file system and network are not isolated, and when
the grader runs as root the runner switches uid only if the Python installation is
readable by other users (otherwise the process-count limit, which root ignores, is
void). Results come back on a dedicated pipe, never through the student's stdout: the
command reads a JSON request on stdin, to which :func:`run` adds ``"result_fd"``, the
descriptor to write the results to, and ``"uid"``.
"""

from __future__ import annotations

import functools
import json
import os
import selectors
import shutil
import signal
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
    wall_seconds: float
    output: str
    output_bytes: int
    result: bytes | None
    result_overflow: bool = False
    warnings: list[str] = field(default_factory=list)

    def exit_description(self) -> str:
        """A sentence for the report: how the process ended."""
        if self.timed_out:
            return f"stopped after the wall-clock limit of {self.wall_seconds:.0f} s"
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


def bwrap_args(*, expose: list[Path], hide: list[Path], limits: Limits) -> list[str]:
    """The bubblewrap command line (without the command itself).

    ``hide`` paths that contain an ``expose`` path (the home directory holding the Python
    installation, the checkout holding the packages) are hidden first, the exposed
    paths bound back read-only, and then ``hide`` paths inside them hidden again.
    """
    args = ["bwrap", *_namespace_args(), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    exposed = _existing(expose)
    hidden = _existing(hide)
    covering = [path for path in hidden if any(path in exposed_path.parents for exposed_path in exposed)]
    for path in covering:
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
    args += ["--size", str(limits.file_bytes), "--tmpfs", "/tmp", "--chdir", "/tmp", "--"]
    return args


def run(command: list[str], request: dict, *, limits: Limits, expose: list[Path] = (),
        hide: list[Path] = (), mode: str = "auto") -> Outcome:
    """Run ``command`` in the sandbox, sending it ``request`` (JSON) on stdin.

    ``mode`` is ``"auto"`` (bwrap when usable), ``"bwrap"`` (fail if unusable) or
    ``"rlimits"`` (no namespaces; for platforms without bubblewrap). The request gets
    ``"result_fd"`` and ``"uid"`` (the uid to switch to, or None to stay).
    """
    if mode not in ("auto", "bwrap", "rlimits"):
        raise ValueError(f"unknown sandbox mode {mode!r}; expected auto, bwrap or rlimits")
    warnings = []
    if mode != "rlimits":
        problem = probe_bwrap()
        if problem is None:
            mode = "bwrap"
        elif mode == "bwrap":
            raise RuntimeError(f"sandbox mode bwrap requested but unusable: {problem}")
        else:
            mode = "rlimits"
            warnings.append(f"no bubblewrap sandbox ({problem})")
    argv = list(command)
    uid = sandbox_uid() if os.geteuid() == 0 else None
    if mode == "bwrap":
        argv = bwrap_args(expose=list(expose), hide=list(hide), limits=limits) + argv
        cwd = None
    else:
        warnings.append("resource limits only: the file system and network were not isolated")
        if uid is not None and not all(_readable_by_others(path) for path in expose):
            warnings.append("ran as root: the Python installation is not readable by other users, so the "
                            "process-count limit (which root ignores) did not apply")
            uid = None
        cwd = tempfile.mkdtemp(prefix="autograder-")
        if uid is not None:
            os.chown(cwd, uid, uid)

    result_read, result_write = os.pipe()
    os.set_inheritable(result_write, True)
    stdin = json.dumps({**request, "result_fd": result_write, "uid": uid}).encode("utf-8")
    started = time.monotonic()
    try:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, pass_fds=(result_write,),
                                   env=CHILD_ENV, cwd=cwd, start_new_session=True)
    finally:
        os.close(result_write)
    try:
        outcome = _collect(process, stdin, result_read, limits, started)
    finally:
        os.close(result_read)
        if cwd is not None:
            shutil.rmtree(cwd, ignore_errors=True)
    outcome.mode = mode
    outcome.warnings = warnings
    return outcome


def _readable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can reach and read ``path``."""
    path = Path(path).resolve()
    folders = [*reversed(path.parents), path]
    return all(folder.stat().st_mode & 0o005 == 0o005 for folder in folders if folder.exists())


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _collect(process: subprocess.Popen, stdin: bytes, result_read: int, limits: Limits,
             started: float) -> Outcome:
    """Feed stdin, drain stdout and the result pipe until both close or time runs out."""
    try:
        process.stdin.write(stdin)
        process.stdin.close()
    except BrokenPipeError:
        pass  # the child died before reading its input; its exit status says why
    output, output_total = bytearray(), 0
    result, result_overflow = bytearray(), False
    deadline = started + limits.wall_seconds
    timed_out = False
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout.fileno(), selectors.EVENT_READ, "output")
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
    if timed_out or result_overflow:
        _kill(process)
    try:
        returncode = process.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(process)
        returncode = process.wait()
    # Sandbox helpers left behind in rlimits mode share the process group.
    _kill(process)
    process.stdout.close()
    wall = time.monotonic() - started
    return Outcome(mode="", returncode=returncode, timed_out=timed_out, wall_seconds=wall,
                   output=output.decode("utf-8", errors="replace"), output_bytes=output_total,
                   result=None if result_overflow or timed_out else bytes(result),
                   result_overflow=result_overflow)
