"""nbgrader preprocessors that ``nbgrader_config.py`` plugs into stock nbgrader.

Stock ``nbgrader generate_feedback`` renders the autograded notebook, in which every
test cell holds its full source again, hidden tests included, and every failed test
shows a traceback that quotes those hidden lines (and the checker's own code).
:class:`HideHiddenTests` removes both, keeping the error's type and message: the
diagnosis a student is meant to read.
"""

from nbgrader.preprocessors import ClearHiddenTests


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
