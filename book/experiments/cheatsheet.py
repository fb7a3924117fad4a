"""The cheat sheet of `book.optim`, generated from the library itself.

One row per factory exported by `book.optim`. What a row says comes from three places,
none of them typed into the page:

- the factory's `book.optim._catalog.Entry` (family, update rule as LaTeX, reference,
  paper, chapter, FLOPs, notes), kept next to its code in the module's ``CATALOG``;
- the factory itself: hyperparameters and defaults from its signature, the state
  memory per parameter counted from the arrays ``init`` returns on several shapes;
- the verification record ``book/optim/verification.json`` (written by
  ``python -m tests.optim_verification --write``, checked by make test): the reference's
  package and version and the largest relative error measured against it.

Rendered as a Markdown table for the page, a CSV file, and the comparison with the
sources' hand-typed sheet (`book.experiments.source_sheet`). Imports neither torch nor any
reference package.
"""

from __future__ import annotations

import base64
import csv
import importlib
import inspect
import io
import json
import pkgutil
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from book import optim
from book.experiments import source_sheet
from book.optim._catalog import Entry

# Parameter shapes whose state is counted: enough distinct (m, k) to fit every term
# of MATRIX_TERMS exactly, and vectors for VECTOR_TERMS.
MATRIX_SHAPES = [(2, 3), (3, 5), (5, 2), (4, 7), (7, 4), (6, 6), (3, 8), (9, 2), (1, 5)]
VECTOR_SIZES = [3, 5, 8, 13]
# Each term: (its LaTeX, its plain text, its value for an m x k matrix / a vector of n).
MATRIX_TERMS = [("n", "n", lambda m, k: m * k), ("m^2", "m^2", lambda m, k: m * m),
                ("k^2", "k^2", lambda m, k: k * k), ("m", "m", lambda m, k: m),
                ("k", "k", lambda m, k: k), ("1", "1", lambda m, k: 1)]
VECTOR_TERMS = [("n", "n", lambda n: n), ("n^2", "n^2", lambda n: n * n),
                ("1", "1", lambda n: 1)]


# --- what book.optim holds -------------------------------------------------------------


def is_factory(obj) -> bool:
    """An exported function that builds an optimizer: it takes hyperparameters, never
    the parameters themselves (``eval_params``, ``hutchinson`` take ``params``)."""
    return inspect.isfunction(obj) and "params" not in inspect.signature(obj).parameters


def factories() -> list[str]:
    """Every factory `book.optim` exports, in its ``__all__`` order."""
    return [name for name in optim.__all__ if is_factory(getattr(optim, name))]


@cache
def catalog() -> dict[str, Entry]:
    """Every CATALOG entry of the modules of `book.optim`, by factory name."""
    entries = {}
    for info in pkgutil.iter_modules(optim.__path__):
        module = importlib.import_module(f"{optim.__name__}.{info.name}")
        for entry in getattr(module, "CATALOG", ()):
            if entry.factory in entries:
                raise ValueError(f"two CATALOG entries for {entry.factory}")
            entries[entry.factory] = entry
    return entries


@cache
def verification() -> dict[str, dict]:
    """The committed verification record, by factory name."""
    text = resources.files(optim).joinpath("verification.json").read_text()
    return json.loads(text)["optimizers"]


# --- hyperparameters and state memory ---------------------------------------------------


def hyperparameters(name: str) -> list[tuple[str, object]]:
    """(name, default) of each hyperparameter, from the factory's signature; a required
    argument (Lookahead's inner optimizer) has the default `inspect.Parameter.empty`."""
    return [(p.name, p.default)
            for p in inspect.signature(getattr(optim, name)).parameters.values()]


def hyperparameters_text(name: str) -> str:
    return ", ".join(p if default is inspect.Parameter.empty else f"{p}={default!r}"
                     for p, default in hyperparameters(name))


def wraps_an_optimizer(name: str) -> bool:
    """Whether the factory takes another optimizer (a required argument)."""
    return any(default is inspect.Parameter.empty for _, default in hyperparameters(name))


def build(name: str, **options) -> optim.Optimizer:
    """The factory with its defaults and `options`; an inner optimizer it requires is
    SGD without momentum, which keeps no state, so what is counted is the wrapper's."""
    required = {p: optim.sgd() for p, default in hyperparameters(name)
                if default is inspect.Parameter.empty and p not in options}
    return getattr(optim, name)(**required, **options)


def _fit(terms, shapes, counts) -> tuple[int, ...] | None:
    """Integer coefficients of `terms` that give every count exactly, or None."""
    basis = np.array([[value(*shape) for _, _, value in terms] for shape in shapes], float)
    coefficients, *_ = np.linalg.lstsq(basis, np.array(counts, float), rcond=None)
    rounded = np.rint(coefficients).astype(int)
    return tuple(int(c) for c in rounded) if np.array_equal(basis @ rounded, counts) else None


def _expression(terms, coefficients, latex: bool) -> str:
    parts = []
    for (tex, text, _), c in zip(terms, coefficients):
        symbol = tex if latex else text
        if c:
            parts.append(symbol if c == 1 and symbol != "1" else
                         str(c) if symbol == "1" else f"{c}{symbol}")
    return " + ".join(parts) or "0"


class Memory(NamedTuple):
    """State memory per parameter, counted: for an m x k matrix (n = mk elements) and
    for a vector of n; a coefficient list is None where init refuses that shape."""

    matrix: tuple[int, ...] | None
    vector: tuple[int, ...] | None

    def text(self, markdown: bool = False) -> str:
        """``"2n"``; ``"n + m + k (vector: n)"`` where the two differ; with `markdown`,
        each expression as math."""
        matrix = self.matrix and _expression(MATRIX_TERMS, self.matrix, markdown)
        vector = self.vector and _expression(VECTOR_TERMS, self.vector, markdown)
        if markdown:
            matrix, vector = (x and f"${x}$" for x in (matrix, vector))
        if matrix is None:
            return f"{vector} (vectors only)" if vector else "refuses these shapes"
        if vector is None:
            return f"{matrix} (matrices only)"
        return matrix if matrix == vector else f"{matrix} (vector: {vector})"


def _counts(opt, shapes):
    try:
        return [optim.state_size(opt, np.zeros(shape)) for shape in shapes]
    except ValueError:  # shapes the optimizer refuses (Muon: 2-D only)
        return None


def state_memory(name: str, **options) -> Memory:
    """The state memory of `name` with `options`, counted from ``init``."""
    return count_memory(build(name, **options))


def count_memory(opt: optim.Optimizer) -> Memory:
    """The state memory of an optimizer: the elements of the arrays ``init`` returns
    for each shape of MATRIX_SHAPES and VECTOR_SIZES, fitted exactly by the terms."""
    matrix = _counts(opt, MATRIX_SHAPES)
    vector = _counts(opt, [(n,) for n in VECTOR_SIZES])
    return Memory(matrix and _fit(MATRIX_TERMS, MATRIX_SHAPES, matrix),
                  vector and _fit(VECTOR_TERMS, [(n,) for n in VECTOR_SIZES], vector))


def option_variants(name: str) -> list[dict]:
    """One option changed at a time: each False flag set True, each hyperparameter
    whose default is 0 set to 0.5 (momentum), each string option left as it is."""
    variants = []
    for p, default in hyperparameters(name):
        if isinstance(default, bool):
            variants.append({p: not default})
        elif isinstance(default, (int, float)) and default == 0:
            variants.append({p: 0.5})
    return variants


def memory_by_option(name: str) -> list[tuple[str, Memory]]:
    """(options, memory): the defaults' first, then each single-option change that
    counts differently (Adam's amsgrad, SGD's momentum)."""
    found = {state_memory(name): ["defaults"]}
    for options in option_variants(name):
        try:
            memory = state_memory(name, **options)
        except (ValueError, TypeError):  # an option that needs another (nesterov)
            continue
        if "defaults" not in found.get(memory, []):
            found.setdefault(memory, []).extend(f"{k}={v!r}" for k, v in options.items())
    return [(" or ".join(options), memory) for memory, options in found.items()]


def memory_text(by_option: list[tuple[str, Memory]], markdown: bool = False,
                wraps: bool = False) -> str:
    """The memory column from `memory_by_option`: ``"2n; 3n with amsgrad=True"`` (math
    and code in Markdown); `wraps`: the factory wraps another optimizer."""
    parts = []
    for options, memory in by_option:
        text = memory.text(markdown)
        if options != "defaults":
            text += f" with `{options}`" if markdown else f" with {options}"
        parts.append(text)
    text = "; ".join(parts)
    return text + " + the inner optimizer's" if wraps else text


# --- the rows -------------------------------------------------------------------------


class Row(NamedTuple):
    factory: str
    entry: Entry
    hyperparameters: str
    memory: str
    memory_markdown: str
    reference: str
    version: str
    max_relative_error: float | None


def rows() -> list[Row]:
    """One row per exported factory, ordered by family and then as `book.optim` lists
    them. A factory without a CATALOG entry is an error; one without a verification
    record has no version or error (the record's test fails for it)."""
    entries, record = catalog(), verification()
    missing = [name for name in factories() if name not in entries]
    if missing:
        raise ValueError(f"book.optim exports factories without a CATALOG entry: {missing}")
    order = {name: index for index, name in enumerate(factories())}
    built = []
    for name in sorted(order, key=lambda n: (entries[n].family, order[n])):
        measured = record.get(name, {})
        packages = measured.get("packages", {})
        version = ", ".join(f"{package} {v}" for package, v in packages.items())
        by_option, wraps = memory_by_option(name), wraps_an_optimizer(name)
        built.append(Row(name, entries[name], hyperparameters_text(name),
                         memory_text(by_option, wraps=wraps),
                         memory_text(by_option, markdown=True, wraps=wraps),
                         entries[name].reference, version, measured.get("max_relative_error")))
    return built


def error_text(error: float | None) -> str:
    return "not recorded" if error is None else f"{error:.1e}"


def _cell(text: str) -> str:
    """A Markdown table cell: a ``|`` would split it."""
    return str(text).replace("|", "\\|")


def _math(lines) -> str:
    """LaTeX lines as inline math for a table cell, one per line. A ``|`` would end
    the cell, so norms and absolute values are written with ``\\Vert`` and ``\\vert``."""
    return "<br>".join("$" + line.replace("\\|", "\\Vert ").replace("|", "\\vert ") + "$"
                       for line in lines)


def markdown_table(table_rows: list[Row], published: set[str]) -> str:
    """The page's table: one row per factory, rule as math, a link to its chapter
    where that chapter is among the `published` pages (docnames)."""
    header = ["Optimizer", "Family", "Update rule at step $t$", "Hyperparameters (defaults)",
              "State per parameter", "Work per step", "Verified against (max. rel. error)",
              "Paper"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table_rows:
        entry = row.entry
        cells = [
            f"[`{row.factory}`](/{entry.chapter}.md)" if entry.chapter in published
            else f"`{row.factory}`",
            entry.family,
            _math(entry.rule),
            f"`{row.hyperparameters}`",
            row.memory_markdown,
            entry.flops,
            f"`{row.reference}` {row.version} ({error_text(row.max_relative_error)})",
            f"{entry.paper} {{footcite:p}}`{entry.bibkey}`",
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


# --- the CSV export ---------------------------------------------------------------------

CSV_COLUMNS = ["factory", "family", "rule", "hyperparameters", "state_memory", "flops",
               "reference", "reference_version", "max_relative_error", "paper", "year",
               "chapter", "notes"]


def csv_text(table_rows: list[Row]) -> str:
    """The table as CSV, one line per factory (the rule's LaTeX lines joined by " ; ")."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in table_rows:
        entry = row.entry
        writer.writerow({
            "factory": row.factory, "family": entry.family, "rule": " ; ".join(entry.rule),
            "hyperparameters": row.hyperparameters, "state_memory": row.memory,
            "flops": entry.flops, "reference": row.reference,
            "reference_version": row.version,
            "max_relative_error": "" if row.max_relative_error is None
            else repr(row.max_relative_error),
            "paper": entry.paper, "year": entry.year,
            "chapter": entry.chapter, "notes": " ".join(entry.notes),
        })
    return out.getvalue()


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def download_link(text: str, filename: str = "book-optim-cheat-sheet.csv") -> str:
    """An HTML link that downloads `text` as a CSV file, with no server behind it."""
    data = base64.b64encode(text.encode()).decode()
    return (f'<a class="cheat-sheet-download" download="{filename}" '
            f'href="data:text/csv;base64,{data}">Download the table as CSV ({filename})</a>')


# --- the sources' sheet, compared -------------------------------------------------------


class SheetComparison(NamedTuple):
    row: source_sheet.SheetRow
    in_library: bool
    memory: Memory | None  # of the row's configuration, counted; None when not in the library
    formula_gap: float | None
    citation: str  # "" when the book cites the same authors and year


def citation_difference(row: source_sheet.SheetRow, entry: Entry) -> str:
    """What differs between the sheet's citation and the entry's, or "" when the
    entry's paper text gives the sheet's first author the sheet's year and, where the
    row records the sheet's arXiv link, references.bib gives the paper the same one."""
    first_author = re.split(r"[ ,&]", row.cited)[0]
    cited = re.search(rf"\b{re.escape(first_author)}\b[^();]*\((\d{{4}})\)", entry.paper)
    if cited and int(cited.group(1)) == row.year:
        said = []
    elif cited:
        said = [f"the sheet dates it {row.year}; book.optim cites {cited.group(1)}"]
    else:
        said = [f"the sheet cites {row.cited} ({row.year}); book.optim cites {entry.paper}"]
    if row.arxiv:
        paper = bib_arxiv(entry.bibkey)
        if paper != row.arxiv:
            said.append(f"the sheet links arXiv {row.arxiv}; references.bib gives the paper "
                        f"as arXiv {paper}" if paper else
                        f"the sheet links arXiv {row.arxiv}; references.bib gives no arXiv "
                        "identifier for the paper")
    return "; ".join(said)


def bib_arxiv(bibkey: str) -> str:
    """The arXiv identifier (``"2510.03691"``) of `bibkey`'s entry in the repository's
    references.bib, or "" when the entry names none or the file is not there."""
    path = Path(__file__).resolve().parents[2] / "references.bib"
    if not path.is_file():
        return ""
    entry = re.search(r"@\w+\{" + re.escape(bibkey) + r",(.*?)\n\}", path.read_text(),
                      re.DOTALL)
    found = entry and re.search(r"arXiv[:\s]*(\d{4}\.\d{4,5})", entry.group(1))
    return found.group(1) if found else ""


def sheet_comparisons() -> list[SheetComparison]:
    entries = catalog()
    found = []
    for row in source_sheet.ROWS:
        present = row.factory in factories()
        found.append(SheetComparison(
            row, present,
            state_memory(row.factory, **row.options) if present else None,
            source_sheet.formula_gap(row) if present else None,
            citation_difference(row, entries[row.factory]) if present else ""))
    return found


def comparison_table(comparisons: list[SheetComparison]) -> str:
    header = ["Sheet's row", "Factory", "State per parameter", "Gap (max. relative)",
              "What differs"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for c in comparisons:
        row = c.row
        if not c.in_library:
            cells = [row.name, f"not yet in book.optim (`{row.factory}`)", "", "", ""]
        else:
            options = ", ".join(f"{k}={v!r}" for k, v in row.options.items())
            gap = ("formula not transcribed" if c.formula_gap is None else
                   f"{c.formula_gap:.1e}" + (" (same rule)"
                                             if c.formula_gap < source_sheet.SAME_RULE else ""))
            said = list(row.differences) + ([f"Citation: {c.citation}."] if c.citation else [])
            agreed = "formula not compared" if c.formula_gap is None else "nothing"
            cells = [row.name, f"`{row.factory}({options})`", c.memory.text(markdown=True), gap,
                     " ".join(said) or agreed]
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    return "\n".join(lines)


def hidden_cost_table(table_rows: list[Row]) -> str:
    """Memory and work per step of every factory: the costs a formula hides."""
    lines = ["| Optimizer | State per parameter (counted) | Work per step |", "|---|---|---|"]
    lines += [f"| `{row.factory}` | {_cell(row.memory)} | {_cell(row.entry.flops)} |"
              for row in table_rows]
    return "\n".join(lines)
