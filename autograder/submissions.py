"""Find the submissions to grade in a folder or a zip file, and say what was left out.

Accepted layouts (a folder, or the same inside a ``.zip``):

* **nbgrader**: ``[submitted/]<student>/<assignment>/<assignment>.ipynb``; the student
  id is the folder name. nbgrader's ``timestamp.txt`` is expected and not reported.
* **Canvas** (the "Download submissions" zip): ``<lastfirst>_<studentid>_<submissionid>_<filename>``,
  with ``<lastfirst>_late_<studentid>_...`` for late submissions; Canvas appends ``-1``,
  ``-2``... to the file name of a resubmission. The student id is ``<studentid>``.
* **Moodle** ("Download all submissions"): ``<Full Name>_<participantid>_assignsubmission_file_/<filename>``
  folders, or the flat form ``<Full Name>_<participantid>_assignsubmission_file_<filename>``.
  The student id is ``<participantid>``.
* anything else: ``<student>.ipynb`` or ``<student>/<file>.ipynb``, the id being the
  file or folder name (reported, since the name is a guess).

Student ids are reduced to ``[A-Za-z0-9._@-]`` so they are safe folder names (and
prefixed with ``student_`` if they would take the name of one of the grader's files). Nothing is
dropped silently: every file that is not graded (not a notebook, a notebook of another
assignment, an older duplicate, an unreadable or oversized file) and every notebook
graded under a name other than ``<assignment>.ipynb`` gets an entry in the intake log
(:class:`Intake`), printed by the grader and written to ``intake.json``. When a student
has several notebooks, the one named ``<assignment>.ipynb`` wins, then the latest
(Canvas submission id, then modification time, then path).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

#: Larger files are not read (a notebook with outputs stays far below this).
MAX_NOTEBOOK_BYTES = 20 << 20
NBGRADER_FILES = {"timestamp.txt"}
SYSTEM_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", ".ipynb_checkpoints"}

_CANVAS = re.compile(r"^(?P<name>[A-Za-z0-9-]+?)(?P<late>_late)?_(?P<id>\d+)_(?P<submission>\d+)_(?P<file>.+)$")
_MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assignsubmission_\w+?_?$")
_MOODLE_FLAT = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assignsubmission_file_(?P<file>.+)$")


@dataclass
class Submission:
    """One student's notebook (its bytes) and where it came from."""

    student: str
    notebook: bytes
    origin: str
    late: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Intake:
    """What was found: graded submissions and a log of everything else."""

    submissions: list[Submission] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)

    def note(self, path: str, issue: str, student: str | None = None) -> None:
        self.log.append({"file": path, "student": student, "issue": issue})

    def summary(self) -> str:
        lines = [f"{len(self.submissions)} submission(s) found"]
        lines += [f"  {entry['file']}: {entry['issue']}" for entry in self.log]
        return "\n".join(lines)


@dataclass
class _Candidate:
    student: str
    path: str
    read: object  # () -> bytes
    late: bool
    order: tuple
    notes: list[str]


#: Names of the grader's own files in the output folder, which no student folder may take.
RESERVED_IDS = {"grades.csv", "intake.json", "gradebook.db"}


def safe_id(raw: str) -> str:
    """``raw`` reduced to characters that are safe in a folder name ('' when none are)."""
    student = re.sub(r"[^A-Za-z0-9._@-]+", "_", raw).strip("._")
    return f"student_{student}" if student.lower() in RESERVED_IDS else student


def _entries(source: Path):
    """``(relative posix path, size, mtime, read)`` for every file of a folder or zip."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() or path.is_symlink():
                stat = path.lstat()
                yield (path.relative_to(source).as_posix(), stat.st_size, stat.st_mtime,
                       lambda path=path: path.read_bytes() if not path.is_symlink() else b"")
        return
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{source} is neither a folder nor a readable zip file ({error})") from None
    for info in archive.infolist():
        if not info.is_dir():
            yield (info.filename, info.file_size, 0.0, lambda info=info: archive.read(info))


def _identify(parts: tuple[str, ...], assignments: set[str]):
    """``(student, file name, late, submission number, note)`` or ``None`` if unrecognised."""
    name = parts[-1]
    if len(parts) >= 2:
        folder = _MOODLE_FOLDER.match(parts[-2])
        if folder:
            return folder["id"], name, False, 0, None
    flat = _MOODLE_FLAT.match(name)
    if flat:
        return flat["id"], flat["file"], False, 0, None
    canvas = _CANVAS.match(name)
    if canvas:
        return canvas["id"], canvas["file"], bool(canvas["late"]), int(canvas["submission"]), None
    if len(parts) >= 3 and parts[-2] in assignments:
        return parts[-3], name, False, 0, None
    if len(parts) >= 2 and parts[-2] != "submitted":
        return parts[-2], name, False, 0, "student id taken from the folder name"
    return PurePosixPath(name).stem, name, False, 0, "student id taken from the file name"


def discover(source: Path, assignment: str, other_assignments=()) -> Intake:
    """All submissions of ``assignment`` under ``source`` (folder or zip), one per student."""
    source = Path(source)
    if not source.exists():
        raise ValueError(f"submissions not found: {source} does not exist")
    intake = Intake()
    candidates: dict[str, list[_Candidate]] = {}
    for path, size, mtime, read in _entries(source):
        parts = tuple(part for part in PurePosixPath(path).parts if part not in ("", ".", "..", "/"))
        if any(part in SYSTEM_NAMES or part.startswith("._") for part in parts):
            intake.note(path, "ignored: operating-system or Jupyter metadata")
            continue
        if parts[-1] in NBGRADER_FILES:
            continue
        student_raw, file_name, late, number, guess = _identify(parts, {assignment, *other_assignments})
        student = safe_id(student_raw)
        stem, suffix = PurePosixPath(file_name).stem, PurePosixPath(file_name).suffix.lower()
        in_other_folder = len(parts) >= 3 and parts[-2] in other_assignments and parts[-2] != assignment
        if suffix != ".ipynb":
            intake.note(path, "not graded: not a notebook (.ipynb)", student or None)
        elif in_other_folder or stem in other_assignments and stem != assignment:
            intake.note(path, "not graded: a notebook of another assignment", student or None)
        elif not student:
            intake.note(path, "not graded: no student id in the name")
        elif size > MAX_NOTEBOOK_BYTES:
            intake.note(path, f"not graded: larger than {MAX_NOTEBOOK_BYTES >> 20} MiB", student)
        else:
            notes = [guess] if guess else []
            if stem != assignment:
                notes.append(f"renamed: graded {file_name!r} as {assignment}.ipynb")
            order = (stem == assignment, number, mtime, path)
            candidates.setdefault(student, []).append(_Candidate(student, path, read, late, order, notes))
    for student, found in sorted(candidates.items()):
        found.sort(key=lambda candidate: candidate.order, reverse=True)
        chosen = found[0]
        for older in found[1:]:
            intake.note(older.path, f"not graded: duplicate, {chosen.path} was graded instead", student)
        for note in chosen.notes:
            intake.note(chosen.path, note, student)
        intake.submissions.append(Submission(student, chosen.read(), chosen.path, chosen.late, chosen.notes))
    return intake
