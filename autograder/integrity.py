"""Integrity checks: forbidden imports, replaced library functions, tampered nbgrader cells.

Each finding is a dict ``{"check", "cell", "message"}`` for the report's ``integrity``
list. Findings never change the score by themselves: the instructor reads them.

* ``import``: the student's cells import a module outside :data:`ALLOWED_MODULES`
  (seen in the source, or loaded at run time, which catches ``__import__("to" + "rch")``);
* ``replaced``: the cells rebound a NumPy, ``math`` or builtin name (``np.allclose =
  lambda *a: True``);
* ``metadata``: an nbgrader cell's points, grade id or flags differ from the released
  notebook's, or its checksum does not match its own content (nbgrader's
  ``compute_checksum``);
* ``test-cell``: a test cell (or another locked cell) was deleted or its source changed.
"""

from __future__ import annotations

import ast
import sys

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


def _imported_modules(tree: ast.AST) -> list[str]:
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
        elif isinstance(node, ast.Call):
            function = node.func
            name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")
            if name in ("__import__", "import_module") and node.args:
                argument = node.args[0]
                modules.append(argument.value if isinstance(argument, ast.Constant)
                               and isinstance(argument.value, str) else "<computed name>")
    return modules


def import_findings(cells: list[dict], runtime_modules: list[str] = ()) -> list[dict]:
    """Forbidden imports in the run cells' source, then those only seen at run time.

    At run time, standard-library modules are not reported: NumPy and the allowed
    modules load many of them lazily; the source check covers direct imports.
    """
    findings, seen = [], set()
    for cell in cells:
        try:
            tree = ast.parse(cell["source"])
        except SyntaxError:
            continue
        for module in _imported_modules(tree):
            top = module.split(".")[0]
            if top not in ALLOWED_MODULES and (cell["id"], top) not in seen:
                seen.add((cell["id"], top))
                findings.append(finding("import", cell["id"], f"imports {module}, which is not allowed "
                                        f"(allowed: {', '.join(sorted(ALLOWED_MODULES - {'__future__'}))})"))
    named = {top for _, top in seen}
    for module in runtime_modules:
        if module not in ALLOWED_MODULES and module not in named and module not in sys.stdlib_module_names \
                and not module.startswith("_"):
            findings.append(finding("import", None, f"loaded module {module} at run time, which is not allowed"))
    return findings


def replaced_findings(replaced: list[str]) -> list[dict]:
    return [finding("replaced", None, f"the notebook replaced {name}; the checks ran in a separate "
                    "process, so this could not change the grade") for name in replaced]


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
