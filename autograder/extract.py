"""The code of a submitted notebook that the grader runs: answers and the student's helpers.

An nbgrader notebook's code cells are of three kinds (``metadata.nbgrader``):

* **answer cells** (``solution: true``): run as the student wrote them;
* **instructor cells** (``locked: true`` or ``grade: true``): visible and hidden tests,
  plotting, setup. Never run: tests belong to the grader, and plotting is not graded.
  Their top-level ``import`` statements whose names the student's code uses are kept,
  so that an answer relying on the notebook's ``import numpy as np`` still works;
* **student cells** (no nbgrader metadata): code the student added, such as helpers,
  run as written.

IPython syntax is not Python: line magics (``%timeit``), shell escapes (``!pip``) and
help queries (``np.sqrt?``) become ``pass`` and are reported; a cell magic (``%%time``)
keeps its body when the magic only times or captures it, and the whole cell is dropped
and reported otherwise (``%%bash``, ``%%writefile``...).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field

#: Most code (answer and student cells) graded: an Adam step is a few hundred bytes, and
#: parsing megabytes of code costs the grader gigabytes.
MAX_CODE_BYTES = 1 << 20
#: Cell magics whose body is ordinary Python run once.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
_IPYTHON_LINE = re.compile(r"^(\s*)(%|!|\?)|^\s*[\w.]+\?\??\s*$")


class NotebookError(ValueError):
    """The file is not a readable Jupyter notebook."""


@dataclass
class Extraction:
    """Cells to run (``[{"id", "source"}]``, in notebook order) and what was changed."""

    cells: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_notebook(text: str | bytes) -> dict:
    """Parse notebook JSON (nbformat 4), with a clear error for anything else."""
    try:
        notebook = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NotebookError(f"not a Jupyter notebook: the file is not valid JSON ({error})") from None
    except RecursionError:
        raise NotebookError("not a Jupyter notebook: its JSON is nested too deeply") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise NotebookError("not a Jupyter notebook: no list of cells")
    if notebook.get("nbformat") != 4:
        raise NotebookError(f"unsupported notebook format {notebook.get('nbformat')!r} (expected nbformat 4)")
    for cell in notebook["cells"]:
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata", {}), dict):
            raise NotebookError("not a Jupyter notebook: a cell is not an object")
    return notebook


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def nbgrader_metadata(cell: dict) -> dict | None:
    metadata = cell.get("metadata", {}).get("nbgrader")
    return metadata if isinstance(metadata, dict) else None


def cell_id(cell: dict, index: int) -> str:
    """The nbgrader grade id when there is one, else the cell's position (1-based)."""
    metadata = nbgrader_metadata(cell)
    if metadata and isinstance(metadata.get("grade_id"), str) and metadata["grade_id"]:
        return metadata["grade_id"]
    return f"cell {index}"


def cell_role(cell: dict) -> str:
    """``answer``, ``instructor`` or ``student`` (see the module docstring)."""
    metadata = nbgrader_metadata(cell)
    if metadata is None:
        return "student"
    if metadata.get("solution"):
        return "answer"
    return "instructor"


def strip_ipython(source: str, where: str) -> tuple[str | None, list[str]]:
    """Python source without IPython syntax, and notes; ``None`` drops the cell."""
    notes = []
    lines = source.split("\n")
    first = lines[0].strip()
    if first.startswith("%%"):
        magic = first[2:].split()[0] if first[2:].split() else ""
        if magic not in PYTHON_CELL_MAGICS:
            return None, [f"{where}: cell magic %%{magic} is not Python; the cell was not run"]
        notes.append(f"{where}: cell magic %%{magic} ignored, its body was run")
        lines = [""] + lines[1:]  # keep line numbers
    for number, line in enumerate(lines, start=1):
        match = _IPYTHON_LINE.match(line)
        if match:
            notes.append(f"{where}, line {number}: IPython syntax not run: {line.strip()[:80]}")
            lines[number - 1] = (match.group(1) or "") + "pass"
    return "\n".join(lines), notes


def _loaded_names(sources: list[str]) -> set[str]:
    names = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        names |= {node.value.id for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)}
    return names


def _imports_used(source: str, names: set[str]) -> str | None:
    """The top-level import statements of ``source`` that bind one of ``names``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    kept = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound = {(alias.asname or alias.name).split(".")[0] for alias in node.names}
            if bound & names:
                kept.append(ast.unparse(node))
    return "\n".join(kept) or None


def extract(notebook: dict) -> Extraction:
    """The cells of ``notebook`` to run out of kernel (see the module docstring)."""
    extraction = Extraction()
    code_cells = [(cell_id(cell, index), cell_role(cell), cell_source(cell))
                  for index, cell in enumerate(notebook["cells"], start=1) if cell.get("cell_type") == "code"]
    runnable = []
    for where, role, source in code_cells:
        if role == "instructor":
            runnable.append((where, role, source))
            continue
        python, notes = strip_ipython(source, where)
        extraction.notes += notes
        if python is not None:
            runnable.append((where, role, python))
    size = sum(len(source.encode("utf-8", errors="replace")) for _, _, source in runnable)
    if size > MAX_CODE_BYTES:  # checked before parsing, whose cost grows with the size
        raise NotebookError(f"the notebook's code cells hold {size / 1e6:.1f} MB of code; at most "
                            f"{MAX_CODE_BYTES / 1e6:.1f} MB is graded (keep data out of code cells)")
    used = _loaded_names([source for _, role, source in runnable if role != "instructor"])
    for where, role, source in runnable:
        if role == "instructor":
            source = _imports_used(source, used)
        if source and source.strip():
            extraction.cells.append({"id": where, "source": source})
    if not any(role == "answer" for _, role, _ in code_cells):
        extraction.notes.append("the notebook has no answer cell (nbgrader solution cell)")
    return extraction
