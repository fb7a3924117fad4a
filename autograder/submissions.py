"""Find the submissions to grade in a folder or a zip file, and say what was left out.

Accepted layouts (a folder, or the same inside a ``.zip``):

* **nbgrader**: ``[submitted/]<student>/<assignment>/<file>.ipynb``; the student id is the
  folder above the *outermost* assignment folder (so a folder a student makes inside
  their own submission cannot name somebody else). nbgrader's ``timestamp.txt`` is
  expected and not reported.
* **Canvas** (the "Download submissions" zip): ``<lastfirst>[_late]_<studentid>_<submissionid>_<filename>``.
  Canvas strips everything but letters and digits from ``<lastfirst>``, so the pattern is
  anchored on a name without underscores and the student's own ``<filename>`` cannot
  move the id. Canvas appends ``-1``, ``-2``... to the file name of a resubmission.
* **Moodle** ("Download all submissions"): ``<Full Name>_<participantid>_assignsubmission_file_/<filename>``
  folders, or the flat form ``<Full Name>_<participantid>_assignsubmission_file_<filename>``
  (Moodle writes an underscore in a name as a space, so the name has none either).
* anything else: ``<student>.ipynb`` or ``<student>/<file>.ipynb``, the id being the
  file or folder name (reported, since the name is a guess).

The format is decided per archive from its top-level names (looking through one
folder that wraps everything). In a Canvas or Moodle archive only that LMS's names
are read (the two patterns never both match one name); a file whose name does not
follow it is logged and not attributed to anybody, rather than guessed.

**Student ids** are kept as written, NFC-normalised, without control characters:
``josé`` and ``josè`` are two students and ``张伟`` is an id. Only the output folder
gets a safe name (:func:`folder_name`); report.json and grades.csv carry the id.

**Several files for one student.** Files are grouped by who claims the id: the Canvas
or Moodle name, or the folder (or file) the id was read from. From one claimant's
files one notebook is graded: the one named ``<assignment>.ipynb`` (Canvas's ``-1``
counts as the same name), then the latest (Canvas submission id, modification time,
path); so a Canvas resubmission is graded and the earlier upload is logged as
superseded. When two claimants name one id (two Canvas names with one id, a folder
``alice`` beside ``submitted/alice``), nothing decides silently which upload counts:
each claimant's notebook is graded into its own folder, and the conflict is written
in the intake log, in report.json's ``conflict`` and in grades.csv (identical
notebooks are graded once, still flagged).

**Every student who submitted anything gets a row**, graded or not: a
:class:`Submission` whose ``problem`` says, in words an instructor can act on, why
it cannot be graded (no notebook, a symbolic link, an unreadable or damaged file, a
notebook too large). Symbolic links are never followed. A notebook over
``MAX_NOTEBOOK_BYTES`` is graded without its saved outputs; nothing over
``MAX_READ_BYTES`` is read. Everything not graded is logged (:class:`Intake`),
printed by the grader (through :func:`printable`) and written to ``intake.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

#: A larger notebook is graded without its saved outputs (its code must fit this).
MAX_NOTEBOOK_BYTES = 20 << 20
#: Nothing larger is read at all.
MAX_READ_BYTES = 200 << 20
NBGRADER_FILES = {"timestamp.txt"}
SYSTEM_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", ".ipynb_checkpoints"}
#: Names of the grader's own files in the output folder, which no student folder may take.
RESERVED_IDS = {"grades.csv", "intake.json", "gradebook.db"}

_CANVAS = re.compile(r"^(?P<name>[^_/]+)(?P<late>_late)?_(?P<id>\d+)_(?P<submission>\d+)_(?P<file>.+)$")
_MOODLE_FOLDER = re.compile(r"^(?P<name>[^_/]+)_(?P<id>\d+)_assignsubmission_[a-z]+_?$")
_MOODLE_FLAT = re.compile(r"^(?P<name>[^_/]+)_(?P<id>\d+)_assignsubmission_file_(?P<file>.+)$")
_CANVAS_COPY = re.compile(r"-\d+$")
#: Right-to-left overrides and isolates: they make a printed id read as another one.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_READ_ERRORS = (OSError, zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError)


@dataclass
class Submission:
    """One student's notebook (its bytes) and where it came from.

    ``problem`` is set, and ``notebook`` empty, when nothing can be graded; the
    grader then writes a zero report with that reason.
    """

    student: str
    notebook: bytes
    origin: str
    late: bool = False
    notes: list[str] = field(default_factory=list)
    problem: str | None = None
    folder: str = ""
    conflict: str | None = None
    name: str = ""  # the student's name where the LMS gives one (Canvas's lastfirst, Moodle's full name)


@dataclass
class Intake:
    """What was found: submissions (graded or with a problem) and a log of everything else."""

    submissions: list[Submission] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)

    def note(self, path: str, issue: str, student: str | None = None) -> None:
        self.log.append({"file": path, "student": student, "issue": issue})

    def summary(self) -> str:
        problems = sum(submission.problem is not None for submission in self.submissions)
        lines = [f"{len(self.submissions)} submission(s) found"
                 + (f", {problems} of them cannot be graded (a zero with the reason)" if problems else "")]
        lines += [f"  {printable(entry['file'])}: {printable(entry['issue'])}" for entry in self.log]
        return "\n".join(lines)


def printable(text: str) -> str:
    """``text`` with control and format characters escaped (``\\x1b``), safe on a terminal."""
    return "".join(char.encode("unicode_escape").decode("ascii")
                   if unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp")
                   else char for char in text)


def student_id(raw: str) -> str:
    """The id as written: NFC, without control characters, bidi overrides or outer spaces."""
    text = unicodedata.normalize("NFC", raw)
    return "".join(char for char in text if char not in _BIDI_CONTROLS
                   and unicodedata.category(char) not in ("Cc", "Zl", "Zp")).strip()


def folder_name(student: str, variant: str = "") -> str:
    """A safe folder name for ``student``'s reports.

    The id itself when it is plain ``[A-Za-z0-9._@-]`` and not a grader file name;
    otherwise an ASCII slug, ``~`` (never in a plain id) and a hash of the id, so two
    ids never share a folder. ``variant`` (an upload's path) gives each of several
    conflicting uploads of one id its own folder.
    """
    ascii_text = unicodedata.normalize("NFKD", student).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9._@-]+", "_", ascii_text).strip("._")[:60]
    if slug and slug == student and slug.lower() not in RESERVED_IDS and not variant:
        return slug
    digest = hashlib.sha256(f"{student}\0{variant}".encode()).hexdigest()[:10]
    return f"{slug or 'student'}~{digest}"


# --- what the source holds -----------------------------------------------------------------


@dataclass
class _Entry:
    path: str  # as in the folder or zip (for the log)
    parts: tuple[str, ...]
    kind: str  # "file", "symlink" or "special"
    size: int
    mtime: float
    read: Callable[[], bytes]  # at most MAX_READ_BYTES + 1 bytes


def _read_file(path: Path) -> bytes:
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, "rb") as stream:
        return stream.read(MAX_READ_BYTES + 1)


def _folder_entries(source: Path):
    """Every file, symbolic link and special file under ``source``; links are not followed."""
    for root, folders, files in os.walk(source):  # os.walk lists linked folders, never enters them
        folders.sort()
        for name in sorted(folders + files):
            path = Path(root, name)
            info = path.lstat()
            if stat.S_ISDIR(info.st_mode):
                continue
            kind = "symlink" if stat.S_ISLNK(info.st_mode) else "file" if stat.S_ISREG(info.st_mode) else "special"
            yield (path.relative_to(source).as_posix(), kind, info.st_size, info.st_mtime,
                   lambda path=path: _read_file(path))


def _zip_entries(source: Path):
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{source} is neither a folder nor a readable zip file ({error})") from None

    def read(info):
        with archive.open(info) as stream:
            return stream.read(MAX_READ_BYTES + 1)

    for info in archive.infolist():
        if not info.is_dir():
            kind = "symlink" if stat.S_ISLNK(info.external_attr >> 16) else "file"
            yield info.filename, kind, info.file_size, 0.0, lambda info=info: read(info)


def _entries(source: Path) -> list[_Entry]:
    found = _folder_entries(source) if source.is_dir() else _zip_entries(source)
    return [_Entry(path, tuple(part for part in PurePosixPath(path).parts if part not in ("", ".", "..", "/")),
                   kind, size, mtime, read) for path, kind, size, mtime, read in found]


# --- who each file belongs to ----------------------------------------------------------------


@dataclass
class _Claim:
    student: str  # as read from the name
    claimant: str  # who claims the id: a Canvas/Moodle name or the folder the id came from
    file_name: str
    late: bool = False
    number: int = 0  # Canvas submission id
    guess: str | None = None
    assignment_folder: str | None = None
    copies: bool = False  # Canvas: "<name>-1.ipynb" is a resubmission of "<name>.ipynb"
    name: str = ""  # the student's name in a Canvas or Moodle file name


def _lms_claim(top: tuple[str, ...]) -> tuple[str, _Claim] | None:
    """``(LMS, claim)`` for a path (relative to the archive's top) named by Canvas or Moodle."""
    if len(top) >= 2 and (folder := _MOODLE_FOLDER.match(top[0])):
        return "Moodle", _Claim(folder["id"], f"Moodle: {folder['name']}", top[-1], name=folder["name"])
    if len(top) == 1 and (canvas := _CANVAS.match(top[0])):
        return "Canvas", _Claim(canvas["id"], f"Canvas: {canvas['name']}", canvas["file"],
                                late=bool(canvas["late"]), number=int(canvas["submission"]), copies=True,
                                name=canvas["name"])
    if len(top) == 1 and (flat := _MOODLE_FLAT.match(top[0])):
        return "Moodle", _Claim(flat["id"], f"Moodle: {flat['name']}", flat["file"], name=flat["name"])
    return None


def _plain_claim(parts: tuple[str, ...], assignments: set[str]) -> _Claim:
    """The student of an nbgrader tree, or a guess from the folder or file name."""
    for index in range(1, len(parts) - 1):
        if parts[index] in assignments:
            return _Claim(parts[index - 1], "/".join(parts[:index]), parts[-1], assignment_folder=parts[index])
    if len(parts) >= 2 and parts[-2] not in assignments | {"submitted"}:
        return _Claim(parts[-2], "/".join(parts[:-1]), parts[-1], guess="student id taken from the folder name")
    return _Claim(PurePosixPath(parts[-1]).stem, "/".join(parts), parts[-1],
                  guess="student id taken from the file name")


def _tops(entries: list[_Entry]) -> list[tuple[str, ...]]:
    """Each path from the archive's top, looking through one folder that wraps everything."""
    firsts = {entry.parts[0] for entry in entries}
    wrapped = (len(firsts) == 1 and all(len(entry.parts) > 1 for entry in entries)
               and not _MOODLE_FOLDER.match(next(iter(firsts))))
    return [entry.parts[1:] if wrapped else entry.parts for entry in entries]


def _claims(entries: list[_Entry], assignments: set[str], intake: Intake):
    """``(entry, claim)`` for each entry that can be attributed; the others are logged."""
    lms = [_lms_claim(top) for top in _tops(entries)]
    formats = sorted({found[0] for found in lms if found})
    for entry, found in zip(entries, lms):
        if found:
            yield entry, found[1]
            continue
        claim = _plain_claim(entry.parts, assignments)
        if claim.guess and formats:  # a stray name among Canvas/Moodle names: guessing could misattribute
            intake.note(entry.path, f"not graded: the name does not follow the {' or '.join(formats)} pattern of "
                                    "this download, so it is not attributed to any student")
        else:
            yield entry, claim


# --- choosing what is graded -----------------------------------------------------------------


@dataclass
class _Group:
    """The files of one claimant of one student id."""

    notebooks: list[tuple[tuple, _Entry, _Claim]] = field(default_factory=list)  # (order, entry, claim)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (path, file name, why)
    others: list[tuple[str, str]] = field(default_factory=list)  # (path, file name) of files not notebooks


def _sort_into(group: _Group, entry: _Entry, claim: _Claim, student: str, assignment: str, others: set[str],
               intake: Intake) -> None:
    """Put ``entry`` among its claimant's notebooks, problems or other files (logging the last two)."""
    name = PurePosixPath(claim.file_name)
    notebook = name.suffix.lower() == ".ipynb"
    stem = _CANVAS_COPY.sub("", name.stem) if claim.copies else name.stem
    if claim.assignment_folder in others or stem in others:
        intake.note(entry.path, f"not graded: a {'notebook' if notebook else 'file'} of another assignment", student)
    elif entry.kind != "file":
        why = ("a symbolic link, not a file: not graded (copy the real file in and grade again)"
               if entry.kind == "symlink" else "not a regular file: not graded")
        intake.note(entry.path, why, student)
        group.problems.append((entry.path, claim.file_name, why))
    elif not notebook:
        intake.note(entry.path, "not graded: not a notebook (.ipynb)", student)
        if not claim.guess:
            group.others.append((entry.path, claim.file_name))
    elif entry.size > MAX_READ_BYTES:
        why = f"larger than {MAX_READ_BYTES >> 20} MiB, so it was not read: ask for a smaller notebook"
        intake.note(entry.path, f"not graded: {why}", student)
        group.problems.append((entry.path, claim.file_name, why))
    else:
        group.notebooks.append(((stem == assignment, claim.number, entry.mtime, entry.path), entry, claim))


def _stripped_text(data: bytes) -> str | int | None:
    """The notebook without saved outputs and attachments as text, its size in bytes when
    that is over the limit, or ``None`` if it is not a notebook."""
    try:
        notebook = json.loads(data)
        for cell in notebook["cells"]:
            cell.pop("attachments", None)
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError):
        return None
    text = json.dumps(notebook, ensure_ascii=False)
    size = len(text.encode("utf-8"))
    return size if size > MAX_NOTEBOOK_BYTES else text


def _without_outputs(data: bytes) -> tuple[bytes | None, str]:
    """``(notebook without its saved outputs, '')`` or ``(None, why not)``.

    Up to :data:`MAX_READ_BYTES` of untrusted JSON is parsed, so in a limited process
    (:mod:`autograder.limited`), never in the grader's own.
    """
    from autograder import limited

    budget = limited.Budget(memory_bytes=4 << 30, result_bytes=4 * MAX_NOTEBOOK_BYTES)
    try:
        stripped = limited.call(_stripped_text, data, budget=budget, what="removing its saved outputs")
    except limited.ChildFailed as error:
        return None, f"{len(data) >> 20} MiB, and {error}: ask for a notebook without saved outputs"
    if stripped is None:
        return None, (f"{len(data) >> 20} MiB and not a readable notebook (at most "
                      f"{MAX_NOTEBOOK_BYTES >> 20} MiB is graded as it is)")
    if isinstance(stripped, int):
        return None, (f"{stripped >> 20} MiB even without its saved outputs, over the "
                      f"{MAX_NOTEBOOK_BYTES >> 20} MiB limit: ask for a notebook without large data in its code")
    return stripped.encode("utf-8"), ""


def _load(entry: _Entry) -> tuple[bytes | None, str]:
    """``(notebook bytes, note or '')`` or ``(None, why it cannot be graded)``."""
    try:
        data = entry.read()
    except _READ_ERRORS as error:
        return None, (f"the file could not be read ({type(error).__name__}: {error}): "
                      "collect or download this submission again")
    if len(data) > MAX_READ_BYTES:
        return None, f"larger than {MAX_READ_BYTES >> 20} MiB, so it was not read: ask for a smaller notebook"
    if len(data) <= MAX_NOTEBOOK_BYTES:
        return data, ""
    stripped, why = _without_outputs(data)
    if stripped is None:
        return None, why
    return stripped, f"graded without its saved outputs (the notebook is {len(data) >> 20} MiB with them)"


def _settle(student: str, group: _Group, assignment: str, intake: Intake) -> Submission | None:
    """The one submission of a claimant: its preferred notebook, else a row saying why none."""
    if not group.notebooks:
        if not group.problems:
            return None
        return Submission(student, b"", group.problems[0][0],
                          problem="; ".join(f"{name}: {why}" for _, name, why in group.problems))
    group.notebooks.sort(key=lambda found: found[0], reverse=True)
    (exact, *_), entry, claim = group.notebooks[0]
    for _, older, _ in group.notebooks[1:]:
        intake.note(older.path, f"not graded: the same student's {entry.path} was graded instead", student)
    notes = [claim.guess] if claim.guess else []
    if not exact:
        notes.append(f"renamed: graded {claim.file_name!r} as {assignment}.ipynb")
    data, note = _load(entry)
    for text in notes:
        intake.note(entry.path, text, student)
    if data is None:
        intake.note(entry.path, f"not graded: {note}", student)
        return Submission(student, b"", entry.path, claim.late, notes, problem=f"{claim.file_name}: {note}",
                          name=claim.name)
    if note:
        intake.note(entry.path, note, student)
        notes.append(note)
    return Submission(student, data, entry.path, claim.late, notes, name=claim.name)


def _no_notebook(student: str, claimants: dict[str, _Group]) -> Submission | None:
    """The row of a student who sent files, none of them a notebook."""
    files = [found for group in claimants.values() for found in group.others]
    if not files:
        return None
    names = ", ".join(name for _, name in files[:5]) + (", ..." if len(files) > 5 else "")
    return Submission(student, b"", files[0][0], problem=f"no notebook (.ipynb) was submitted, only: {names}")


def _flag_conflict(student: str, found: list[Submission], intake: Intake) -> list[Submission]:
    """Several claimants of one id: each distinct upload is graded into its own folder, all flagged."""
    found = sorted(found, key=lambda submission: submission.origin)
    conflict = (f"{len(found)} uploads claim student {student} ({', '.join(s.origin for s in found)}); "
                "each distinct one is graded separately: decide which counts")
    kept, seen = [], {}
    for submission in found:
        twin = seen.get(submission.notebook) if submission.problem is None else None
        if twin:
            intake.note(submission.origin, f"not graded separately: the same notebook as {twin.origin}", student)
            continue
        if submission.problem is None:
            seen[submission.notebook] = submission
        submission.conflict = conflict
        submission.folder = folder_name(student, submission.origin if kept else "")
        intake.note(submission.origin, f"conflict: {conflict}", student)
        kept.append(submission)
    return kept


def discover(source: Path, assignment: str, other_assignments=()) -> Intake:
    """The submissions of ``assignment`` under ``source`` (folder or zip): one per student,
    more where uploads conflict, a row with a problem where nothing can be graded."""
    source = Path(source)
    if not source.exists():
        raise ValueError(f"submissions not found: {source} does not exist")
    intake = Intake()
    others = set(other_assignments) - {assignment}
    entries = []
    for entry in _entries(source):
        if not entry.parts or entry.parts[-1] in NBGRADER_FILES:
            continue
        if any(part in SYSTEM_NAMES or part.startswith("._") for part in entry.parts):
            intake.note(entry.path, "ignored: operating-system or Jupyter metadata")
        else:
            entries.append(entry)
    groups: dict[str, dict[str, _Group]] = {}
    for entry, claim in _claims(entries, {assignment, *others}, intake):
        student = student_id(claim.student)
        if not student:
            intake.note(entry.path, "not graded: no student id in the name")
            continue
        group = groups.setdefault(student, {}).setdefault(claim.claimant, _Group())
        _sort_into(group, entry, claim, student, assignment, others, intake)
    for student, claimants in sorted(groups.items()):
        found = [submission for _, group in sorted(claimants.items())
                 if (submission := _settle(student, group, assignment, intake))]
        found = found or [submission for submission in [_no_notebook(student, claimants)] if submission]
        if len(found) > 1:
            found = _flag_conflict(student, found, intake)
        elif found:
            found[0].folder = folder_name(student)
        intake.submissions += found
    return intake
