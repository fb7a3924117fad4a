"""Run untrusted code under resource limits, inside bubblewrap when it works.

Each grading process starts one **sandbox**: a Python process (:mod:`autograder.runner`
in zygote mode) that imports NumPy once, inside bubblewrap. Each submission then runs
in two processes forked from it: a driver, and the student's process, which sets its
rlimits, switches to the sandbox's unprivileged uid, works in a fresh 0700 folder of
the sandbox's ``/tmp`` and answers the driver's calls of the student's function (see
:mod:`autograder.runner` for why the reply cannot be forged). Importing NumPy once per
grading process instead of once per submission divides the cost of a submission by
about two. After each submission every process of that uid is killed and its folder
removed, so nothing of it survives into the next.

Isolation (``bwrap`` mode, Linux with bubblewrap), by construction rather than by
detection:

* the file system is an allow-list (:func:`bwrap_args`): an empty read-only root with
  the shared libraries, the interpreter and its standard library, NumPy, matplotlib and
  their dependencies, and of this project only the case runner and ``book.landscapes``
  (:func:`student_view`). The home folders, the checkout, the fixtures, ``book.optim``,
  the diagnosis catalogue, torch, the submissions and the output do not exist inside;
  ``/tmp`` is a small private tmpfs;
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
so: the limits hold and the import path is the same allow-list, but the file system and
network are not isolated (a submission could read the grader's files), and when the
grader runs as root the child switches uid only if the Python installation is readable
by other users (otherwise the process-count limit, which root ignores, is void, and
only the child's process group is killed at the end).

Protocol: the grading process sends a ``run`` packet on a Unix ``SOCK_SEQPACKET``
socket with three descriptors (a file holding the request, the output pipe and the
result pipe); the driver reads the request and writes its reply, as
:mod:`autograder.wire` JSON, to the result pipe, which the student's process never holds.
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

from autograder import wire

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
    result_bytes: int = 8 << 20  # the driver's reply is far smaller (see runner.conduct)

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


#: Distributions a submission may import besides the standard library (their
#: requirements come with them): nothing in them computes an Adam step.
STUDENT_DISTRIBUTIONS = ("numpy", "matplotlib")
#: The project's files in the sandbox: the protocol and the case runner (no expected
#: value, no reference implementation) and the landscapes a notebook may plot.
PROJECT_FILES = {"autograder": ("__init__.py", "runner.py", "execute.py", "cases.py", "wire.py"),
                 "book": ("__init__.py", "landscapes")}
#: Where the sandbox sees them: ``lib/`` (project) and ``site/`` (distributions).
VIEW_ROOT = "/grader"
#: The interpreter's first words: only the view and the standard library on its path.
BOOT = ("import sys; root = sys.argv[1]; sys.path[:0] = [root + '/lib', root + '/site']; "
        "from autograder.runner import main; main(sys.argv[2:])")


def _requirements(distribution) -> list[str]:
    """Names of the distributions ``distribution`` needs (extras left out)."""
    from packaging.requirements import Requirement

    names = []
    for text in distribution.requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(requirement.name)
    return names


def distribution_closure(names) -> list:
    """The installed distributions ``names`` and those they require, recursively (a
    requirement not installed here, e.g. one for another platform, is skipped)."""
    from importlib import metadata

    found, seen, todo = [], set(), list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(distribution)
        todo += _requirements(distribution)
    return found


def distribution_entries(names=STUDENT_DISTRIBUTIONS) -> dict[str, Path]:
    """Top-level files and folders of ``names`` and their requirements, by name.

    Metadata, ``.pth`` files (which run code at start-up) and scripts are left out.
    """
    entries = {}
    for distribution in distribution_closure(names):
        for file in distribution.files or []:
            top = file.parts[0]
            if top in ("..", "__pycache__") or top.endswith((".dist-info", ".egg-info", ".pth", ".data")):
                continue
            entries[top] = Path(distribution.locate_file(top)).resolve()
    return entries


@functools.lru_cache(maxsize=1)
def student_view() -> dict[str, Path]:
    """What the sandbox's code can import, as ``{path under the view root: host path}``."""
    import importlib.util

    view = {f"site/{name}": path for name, path in distribution_entries().items()}
    for package, files in PROJECT_FILES.items():
        folder = Path(importlib.util.find_spec(package).origin).resolve().parent
        view.update({f"lib/{package}/{name}": folder / name for name in files})
    return view


@functools.lru_cache(maxsize=1)
def interpreter() -> tuple[Path, list[Path], list[Path]]:
    """(base interpreter, files and folders it needs, folders of its own to hide).

    The interpreter of a virtual environment is the base one: it runs with ``-S``, so
    neither the environment's site-packages nor the base installation's are on its path,
    and the latter is hidden too.
    """
    executable = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    stdlib = Path(os.__file__).resolve().parent
    needed = [executable, stdlib]
    linked = subprocess.run(["ldd", str(executable)], capture_output=True, text=True).stdout
    needed += [Path(word).resolve() for line in linked.splitlines() for word in line.split()
               if word.startswith("/") and Path(word).exists()]
    hidden = [stdlib / name for name in ("site-packages", "dist-packages") if (stdlib / name).is_dir()]
    return executable, needed, hidden


#: Top-level links of a merged-/usr system, recreated in the sandbox.
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")


def system_paths() -> tuple[list[Path], list[tuple[str, str]]]:
    """(shared-library folders and the loader's cache, top-level links) for binaries to run."""
    import sysconfig

    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    folders = ["/lib64", "/usr/lib64", "/etc/ld.so.cache"]
    if multiarch:
        folders += [f"/lib/{multiarch}", f"/usr/lib/{multiarch}"]
    paths = sorted({Path(folder).resolve() for folder in folders if Path(folder).exists()})
    links = [(os.readlink(link), link) for link in SYSTEM_LINKS if Path(link).is_symlink()]
    return paths, links


def bwrap_args(*, view: dict[str, Path], tmp_bytes: int) -> list[str]:
    """The bubblewrap command line (without the command itself).

    The sandbox's root is an empty, read-only tmpfs into which only the allow-list is
    bound: shared libraries, the interpreter and its standard library, and ``view`` under
    :data:`VIEW_ROOT`. Nothing else of the host (home folders, the checkout, the
    fixtures, the submissions, the output, torch) exists inside.
    """
    args = ["bwrap", *_namespace_args(), "--dev", "/dev", "--proc", "/proc"]
    if os.geteuid() == 0:
        # The sandbox's own process keeps only what it needs to hand each submission a uid
        # and a folder and to clean up after it (no CAP_SYS_ADMIN: nothing can be remounted).
        args += ["--cap-drop", "ALL"] + [arg for cap in ZYGOTE_CAPABILITIES for arg in ("--cap-add", cap)]
    args += ["--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    system, links = system_paths()
    _, needed, hidden = interpreter()
    binds = {path: path for path in [*system, *needed]}
    binds.update({Path(VIEW_ROOT) / name: host for name, host in view.items()})
    bound = []
    for target in sorted(binds, key=lambda path: (len(path.parts), path)):
        if any(target == done or done in target.parents for done in bound):
            continue  # inside a folder bound already
        # Folders leading to a bind are made 0755, so the student's uid can pass them.
        for folder in reversed(target.parents):
            if folder != Path("/") and not any(folder == done or done in folder.parents for done in bound):
                args += ["--perms", "0755", "--dir", str(folder)]
        args += ["--ro-bind", str(binds[target]), str(target)]
        bound.append(target)
    for target, link in links:
        args += ["--symlink", target, link]
    for path in hidden:
        args += ["--tmpfs", str(path)]
    args += ["--remount-ro", "/", "--chdir", "/tmp", "--"]
    return args


@functools.lru_cache(maxsize=1)
def linked_view() -> Path:
    """The view as a folder of symbolic links, for ``rlimits`` mode (removed at exit)."""
    root = Path(tempfile.mkdtemp(prefix="grader-view-"))
    atexit.register(shutil.rmtree, root, True)
    for name, host in student_view().items():
        link = root / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(host)
    for folder in [root, *root.rglob("*")]:
        if folder.is_dir() and not folder.is_symlink():
            folder.chmod(0o755)
    return root


def _readable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can reach and read ``path``."""
    path = Path(path).resolve()
    folders = [*reversed(path.parents), path]
    return all(folder.stat().st_mode & 0o005 == 0o005 for folder in folders if folder.exists())


class SandboxError(RuntimeError):
    """The sandbox process itself failed (not the submission)."""


class Sandbox:
    """A zygote process that runs submissions (see the module docstring)."""

    def __init__(self, *, mode: str = "auto", tmp_bytes: int = 64 << 20):
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
        executable, needed, _ = interpreter()
        if mode == "rlimits":
            self.warnings.append("resource limits only: the file system and network were not isolated, so "
                                 "the submission could read the grader's files")
            if uid is not None and not all(_readable_by_others(path)
                                           for path in [*needed, *student_view().values()]):
                self.warnings.append("ran as root: the Python installation is not readable by other users, so "
                                     "the process-count limit (which root ignores) did not apply")
                uid = None
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        root = VIEW_ROOT if mode == "bwrap" else str(linked_view())
        argv = [str(executable), "-I", "-S", "-c", BOOT, root, "--zygote", str(theirs.fileno()),
                "none" if uid is None else str(uid)]
        if mode == "bwrap":
            argv = bwrap_args(view=student_view(), tmp_bytes=tmp_bytes) + argv
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
            request_file.write(wire.dumps({"request": request, "limits": limits.as_dict()}))
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


def sandbox_for(*, mode: str, tmp_bytes: int) -> Sandbox:
    """This process's sandbox for these settings, started on first use (or after it died)."""
    key = (mode, tmp_bytes)
    sandbox = _SANDBOXES.get(key)
    if sandbox is None or not sandbox.alive():
        if sandbox is not None:
            sandbox.close()
        sandbox = _SANDBOXES[key] = Sandbox(mode=mode, tmp_bytes=tmp_bytes)
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
