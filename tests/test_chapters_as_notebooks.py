"""Every chapter runs as a plain notebook with the student install.

A reader may open a chapter (MyST markdown with a jupytext header) as a notebook and
run it. That kernel has NumPy, matplotlib, ipywidgets and ``book``, but none of what
only the book's build or the grader brings: myst-nb, Sphinx, Jupyter Book, torch,
nbgrader. Each chapter is converted with jupytext and executed with nbclient in a
kernel where those packages cannot be imported (a ``sitecustomize`` on the kernel's
PYTHONPATH blocks them), with the live ipywidgets layer of book.widgets as a notebook
user gets it (``BOOK_WIDGETS`` unset).
"""

import json
import os
import re
import subprocess
import sys
import textwrap

import jupytext
import nbformat
import pytest
from book_pages import ROOT, toc_pages
from nbclient import NotebookClient

import book.glue

# What the student install lacks, though the test's own environment has it.
NOT_IN_STUDENT_INSTALL = ("myst_nb", "sphinx", "jupyter_book", "torch", "nbgrader",
                          "autograder")

BLOCKER = textwrap.dedent(f"""\
    # Written by tests/test_chapters_as_notebooks.py: this kernel has the student install.
    import sys

    class _NotInStudentInstall:
        blocked = {NOT_IN_STUDENT_INSTALL!r}

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in self.blocked:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, _NotInStudentInstall())
    """)

# A chapter cites a glued value as {glue}`name`, {glue:text}`name:.3f`, {glue:md}`name`.
CITED = re.compile(r"\{glue(?::\w+)?\}`([\w-]+)")

CHAPTERS = [page for page in toc_pages() if page.startswith("chapters/")]

# Same limit per cell as the book's build (_config.yml, execute.timeout).
CELL_TIMEOUT = 300


@pytest.fixture(scope="module")
def student_env(tmp_path_factory):
    """The environment of a kernel that has only the student install's packages."""
    folder = tmp_path_factory.mktemp("student-site")
    (folder / "sitecustomize.py").write_text(BLOCKER)
    env = {key: value for key, value in os.environ.items() if key != "BOOK_WIDGETS"}
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(ROOT)])
    return env


def test_the_student_kernel_cannot_import_what_the_build_brings(student_env):
    code = textwrap.dedent(f"""\
        import importlib
        import book.glue
        for name in {NOT_IN_STUDENT_INSTALL!r}:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError:
                continue
            raise SystemExit(f"{{name}} is importable")
        assert book.glue._myst_nb_glue is None
        """)
    result = subprocess.run([sys.executable, "-c", code], env=student_env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def glued_names_cell():
    """A last cell that prints the names glued in the kernel, as JSON."""
    return nbformat.v4.new_code_cell(
        "import json as _json\nfrom book import glue as _glue\n"
        "print(_json.dumps(sorted(_glue.values)))")


def stderr_of(cell):
    return "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream" and out.get("name") == "stderr")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_as_a_notebook(chapter, student_env):
    source = ROOT / f"{chapter}.md"
    notebook = jupytext.read(source)
    notebook.cells.append(glued_names_cell())
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(source.parent)}})
    # A failing cell raises CellExecutionError, naming the cell and its traceback.
    client.execute(env=student_env)

    noisy = {index: stderr_of(cell)[:300] for index, cell in enumerate(notebook.cells)
             if stderr_of(cell)}
    assert not noisy, f"cells that print on stderr (warnings a reader would see): {noisy}"
    glued = set(json.loads(notebook.cells[-1].outputs[-1]["text"]))
    cited = set(CITED.findall(source.read_text()))
    assert cited <= glued, f"cited but never glued in a plain kernel: {sorted(cited - glued)}"


def test_glue_without_myst_nb_shows_a_displayed_value_and_keeps_every_value(
        monkeypatch, capsys):
    monkeypatch.setattr(book.glue, "_myst_nb_glue", None)
    monkeypatch.setattr(book.glue, "values", {})
    book.glue.glue("hidden", 1.25, display=False)
    book.glue.glue("shown", 2.5)
    # Outside a kernel IPython's display prints the value; in a kernel it is the output.
    assert capsys.readouterr().out.split() == ["2.5"]
    assert book.glue.values == {"hidden": 1.25, "shown": 2.5}
