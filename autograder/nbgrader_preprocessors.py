"""nbgrader preprocessors that ``nbgrader_config.py`` plugs into stock nbgrader.

Stock ``nbgrader generate_feedback`` renders the autograded notebook, in which every
test cell holds its full source again, hidden tests included, and every failed test
shows a traceback that quotes those hidden lines (and the checker's own code).
:class:`HideHiddenTests` removes both, keeping the error's type and message: the
diagnosis a student is meant to read.

Stock ``nbgrader autograde`` warns "Attribute 'checksum' for cell ... has changed!" for
every test cell with hidden tests, in every submission (upstream nbgrader #1961): it
compares the submitted cell, released without its hidden tests, with the checksum of the
source cell, which has them. :class:`RestoreTestCells` warns only when the submitted
cell differs from what was released, which is what a student's edit looks like.

A student has no copy of the book next to the notebook: :class:`LinkBook` points the
notebooks' links to the book at where it is published.
"""

from nbformat.notebooknode import NotebookNode
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor, OverwriteCells
from traitlets import Unicode, default

from autograder.release import BOOK_URL_FIELD, book_url


class LinkBook(NbGraderPreprocessor):
    """Release preprocessor: ``{book_url}`` in a markdown cell becomes the published book's
    address (``book_url`` of the checkout's ``_config.yml``, or ``LinkBook.url``)."""

    url = Unicode(help="Where the book is published, e.g. https://example.org/book").tag(config=True)

    @default("url")
    def _url_default(self):
        return book_url()

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown" and BOOK_URL_FIELD in cell.source:
            cell.source = cell.source.replace(BOOK_URL_FIELD, self.url.rstrip("/"))
        return cell, resources


class HideHiddenTests(ClearHiddenTests):
    """Feedback preprocessor: drop ``### BEGIN/END HIDDEN TESTS`` regions and, in the
    cells that had one, shorten each error output to ``Name: message``."""

    def preprocess_cell(self, cell, resources, cell_index):
        source_before = cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.source != source_before:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


class RestoreTestCells(OverwriteCells):
    """Autograde preprocessor: nbgrader's OverwriteCells (locked cells restored from the
    source), warning about a changed checksum only when the cell is not as released."""

    def preprocess_cell(self, cell, resources, cell_index):
        self._as_released = self._is_as_released(cell)
        return super().preprocess_cell(cell, resources, cell_index)

    def _is_as_released(self, cell) -> bool:
        """Whether ``cell`` equals its source cell with the hidden tests taken out."""
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        try:
            source = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
        except MissingEntry:
            return False
        released = NotebookNode(cell_type=source.cell_type, source=source.source, metadata={})
        ClearHiddenTests(parent=self, enforce_metadata=False).preprocess_cell(released, {}, 0)
        return cell.source == released.source

    def report_change(self, name, attr, old, new):
        if attr == "checksum" and self._as_released:
            self.log.debug("cell %s is as released (its hidden tests were not released); restored", name)
            return
        if attr == "checksum":
            self.log.warning("cell %s differs from the released one (edited?): restored from the source", name)
            return
        super().report_change(name, attr, old, new)
