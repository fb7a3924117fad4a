"""Every process of a grading run ends with the grader, even when it is killed (SIGKILL):
pool workers, their sandboxes (bubblewrap, zygote, driver, student's process) and any
process a submission started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostile.submissions import REPO, correct_answer, notebook_with, write_submission

#: Leaves a process of its own behind, then sleeps in the function.
ANSWER = "import os, time\nif os.fork() == 0:\n    time.sleep(600)\n" + \
    correct_answer("adam").replace("    m = beta1", "    time.sleep(600)\n    m = beta1")


def _descendants(pid: int) -> set[int]:
    """The processes below ``pid`` now (from /proc's children lists)."""
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sandbox", ["auto", "rlimits"])
def test_sigkill_of_the_grader_ends_every_process_it_started(tmp_path, sandbox):
    submitted = tmp_path / "submitted"
    for index in range(4):
        write_submission(submitted, f"student{index}", "adam", notebook_with("adam", ANSWER))
    grader = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", str(submitted), "--assignment", "adam", "--out",
         str(tmp_path / "out"), "--jobs", "2", "--timeout", "300", "--sandbox", sandbox],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # Wait until both grading processes run a submission (a student's process sleeps).
        deadline, started = time.monotonic() + 120, set()
        while time.monotonic() < deadline and len(started) < 8:
            time.sleep(0.5)
            started = _descendants(grader.pid)
        assert len(started) >= 8, f"only {len(started)} processes started"
        time.sleep(1)
        started = _descendants(grader.pid)
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(map(_alive, started)):
            time.sleep(0.2)
        survivors = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in started if _alive(pid)}
        assert not survivors, survivors
    finally:
        if grader.poll() is None:
            grader.kill()
