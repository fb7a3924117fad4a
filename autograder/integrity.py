"""Integrity checks: forbidden imports, replaced library functions, tampered nbgrader cells.

Each finding is a dict ``{"check", "cell", "message"}`` for the report's ``integrity``
list. Findings never change the score by themselves: the instructor reads them.

* ``import``, ``reference``, ``dynamic`` (:func:`code_findings`): read by the grader in
  the source of the cells it runs: imports outside :data:`ALLOWED_MODULES`, use of the
  book's own optimizers, and code hidden from this reading (``exec``, computed names);
* ``replaced``: the student's process says its cells rebound a NumPy, ``math`` or
  builtin name (``np.allclose = lambda *a: True``): its own word, so advisory;
* ``protocol``: the student's process broke the grading protocol (see
  :mod:`autograder.runner`), or the sandbox's reply was malformed;
* ``metadata``: an nbgrader cell's points, grade id or flags differ from the released
  notebook's, or its checksum does not match its own content (nbgrader's
  ``compute_checksum``);
* ``test-cell``: a test cell (or another locked cell) was deleted or its source changed.
"""

from __future__ import annotations

import ast

from autograder.extract import cell_id, cell_source, nbgrader_metadata

#: Top-level modules a submission may import: NumPy, the book's own package, plotting
#: and small pure-Python parts of the standard library.
ALLOWED_MODULES = frozenset({
    "numpy", "math", "book", "matplotlib", "cmath", "functools", "itertools", "operator",
    "typing", "collections", "dataclasses", "numbers", "copy", "warnings", "abc", "enum",
    "__future__",
})
#: nbgrader flags compared with the released notebook.
FLAGS = ("grade", "solution", "locked")


def finding(check: str, cell: str | None, message: str) -> dict:
    return {"check": check, "cell": cell, "message": message}


#: Of the book's package, what a notebook may use: the landscapes it plots (the other
#: modules, ``book.optim`` above all, hold the book's own optimizers).
BOOK_ALLOWED = frozenset({"book", "book.landscapes"})
#: Calls that run code the grader cannot read in the source, or reach past the
#: namespace a function normally sees.
DYNAMIC_CALLS = frozenset({"exec", "eval", "compile", "__import__", "import_module", "globals", "vars",
                           "locals", "breakpoint", "_getframe", "getframe"})
#: Attributes that reach interpreter internals (frames, code objects, other modules).
INTERNAL_ATTRIBUTES = frozenset({"__builtins__", "__import__", "__globals__", "__code__", "__closure__",
                                 "__subclasses__", "__bases__", "__mro__", "__dict__", "__loader__", "__spec__",
                                 "f_back", "f_globals", "f_locals", "f_builtins", "tb_frame", "gi_frame",
                                 "cr_frame", "modules"})


def _called_name(call: ast.Call) -> str:
    """``f`` of ``f(...)`` or ``x.f(...)``; '' for other callees."""
    function = call.func
    return function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")


def _imported_modules(tree: ast.AST) -> list[str]:
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules += [f"{node.module}.{alias.name}" if node.module == "book" else node.module
                        for alias in node.names]
        elif isinstance(node, ast.Call):
            name = _called_name(node)
            if name in ("__import__", "import_module") and node.args:
                argument = node.args[0]
                modules.append(argument.value if isinstance(argument, ast.Constant)
                               and isinstance(argument.value, str) else "<computed name>")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "book":
            modules.append(f"book.{node.attr}")
    return modules


def _dynamic_uses(tree: ast.AST) -> list[str]:
    """What in ``tree`` runs unreadable code or reaches interpreter internals."""
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _called_name(node)
            if name in DYNAMIC_CALLS:
                uses.append(f"{name}()")
            elif name in ("getattr", "setattr", "delattr") and len(node.args) >= 2 \
                    and not isinstance(node.args[1], ast.Constant):
                uses.append(f"{name}() with a computed name")
        elif isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
            uses.append(f".{node.attr}")
        elif isinstance(node, ast.Name) and node.id in INTERNAL_ATTRIBUTES - {"modules"}:
            uses.append(node.id)
    return uses


def _allowed(module: str) -> bool:
    top = module.split(".")[0]
    if top == "book":
        return ".".join(module.split(".")[:2]) in BOOK_ALLOWED
    return top in ALLOWED_MODULES


def code_findings(cells: list[dict]) -> list[dict]:
    """What the grader reads in the source of the cells it runs (never their own account).

    * ``import``: a module outside :data:`ALLOWED_MODULES` (the sandbox does not hold it);
    * ``reference``: the book's own optimizers (``book.optim`` and the other book modules
      but the landscapes): a student may read the book, the instructor should know;
    * ``dynamic``: ``exec``/``eval``/``compile``, computed imports or attribute names,
      frames and other interpreter internals, which hide what the code does from this
      check. The sandbox holds no reference implementation, so none of these can compute
      the answer; the grade reflects what the function returned.
    """
    findings, seen = [], set()
    for cell in cells:
        try:
            tree = ast.parse(cell["source"])
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for module in _imported_modules(tree):
            if _allowed(module):
                continue
            check = "reference" if module.split(".")[0] == "book" else "import"
            key = (cell["id"], check, module if check == "reference" else module.split(".")[0])
            if key in seen:
                continue
            seen.add(key)
            if check == "reference":
                message = (f"uses {module}, the book's own implementation; it is not available when grading, "
                           "so the grade reflects the notebook's own code")
            else:
                message = (f"imports {module}, which is not allowed "
                           f"(allowed: {', '.join(sorted(ALLOWED_MODULES - {'__future__', 'book'}))}, "
                           "book.landscapes)")
            findings.append(finding(check, cell["id"], message))
        uses = sorted(set(_dynamic_uses(tree)))
        if uses:
            findings.append(finding("dynamic", cell["id"], f"uses {', '.join(uses[:10])}: code the grader cannot "
                                    "read in the source; the grade reflects only what the function returned"))
    return findings


def replaced_findings(replaced: list[str]) -> list[dict]:
    """Findings for the names the student's process says its cells replaced (its own word)."""
    return [finding("replaced", None, f"the notebook replaced {name} (as its own process reports); the checks "
                    "ran in a separate process, so this could not change the grade") for name in replaced]


def _points(metadata: dict):
    try:
        return float(metadata.get("points", 0))
    except (TypeError, ValueError):
        return metadata.get("points")


def _checksum_matches(cell: dict) -> bool:
    import nbformat
    from nbgrader.utils import compute_checksum

    try:
        return compute_checksum(nbformat.from_dict(cell)) == nbgrader_metadata(cell).get("checksum")
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def metadata_findings(submitted: dict, released: dict | None) -> list[dict]:
    """Compare the submitted notebook's nbgrader cells with the released notebook's.

    Without a released notebook, each locked cell's own checksum is verified instead.
    """
    findings = []
    cells = {}
    for index, cell in enumerate(submitted["cells"], start=1):
        if nbgrader_metadata(cell) is not None:
            key = cell_id(cell, index)
            if key in cells:
                findings.append(finding("metadata", key, f"grade id {key!r} appears more than once"))
            cells[key] = cell
    if released is None:
        for key, cell in cells.items():
            metadata = nbgrader_metadata(cell)
            if "checksum" in metadata and not _checksum_matches(cell):
                what = "test cell" if metadata.get("grade") and not metadata.get("solution") else "locked cell"
                findings.append(finding("metadata", key, f"the {what}'s nbgrader checksum does not match its "
                                        "content, points or flags: it was edited"))
        return findings
    released_cells = {cell_id(cell, index): cell for index, cell in enumerate(released["cells"], start=1)
                      if nbgrader_metadata(cell) is not None}
    for key, original in released_cells.items():
        expected = nbgrader_metadata(original)
        is_test = bool(expected.get("grade")) and not expected.get("solution")
        kind = "test cell" if is_test else ("answer cell" if expected.get("solution") else "locked cell")
        if key not in cells:
            findings.append(finding("test-cell" if is_test else "metadata", key, f"the {kind} {key!r} was deleted"))
            continue
        actual = nbgrader_metadata(cells[key])
        if expected.get("grade") and _points(actual) != _points(expected):
            findings.append(finding("metadata", key, f"points changed from {expected.get('points')!r} "
                                    f"to {actual.get('points')!r}"))
        changed = [flag for flag in FLAGS if bool(actual.get(flag)) != bool(expected.get(flag))]
        if changed:
            findings.append(finding("metadata", key, f"nbgrader flags changed: {', '.join(changed)}"))
        if (is_test or expected.get("locked")) and cell_source(cells[key]).strip() != cell_source(original).strip():
            findings.append(finding("test-cell" if is_test else "metadata", key,
                                    f"the {kind} {key!r} was edited"))
    for key in cells.keys() - released_cells.keys():
        findings.append(finding("metadata", key, f"grade id {key!r} is not in the released notebook"))
    return findings
