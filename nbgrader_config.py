"""nbgrader configuration of the course kept in this repository.

Run stock nbgrader from the repository root (or copy this file into another course
directory): the instructor notebooks are ``solutions/source/<assignment>/`` and the
student release is ``exercises/<assignment>/``, which ``python -m autograder release``
regenerates.
"""

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades, OverwriteKernelspec

from autograder.nbgrader_preprocessors import HideHiddenTests, LinkBook, RestoreTestCells

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

c.CourseDirectory.source_directory = "solutions/source"
c.CourseDirectory.release_directory = "exercises"

# A cell gets this many seconds before nbgrader interrupts it and moves on; the hidden
# checks take well under a second, so only a runaway submission hits it.
c.Execute.timeout = 60

# Feedback must not show hidden test source, which nbgrader's default feedback does.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]

# exercises/ is committed, so generate_assignment would skip it ("Skipping existing
# assignment") and never enter the assignment in the gradebook, and autograde would then
# fail for every student: regenerate it (equal to the committed release, tested).
c.GenerateAssignment.force = True

# The notebooks link their chapter as {book_url}/chapters/<a>.html: the release links the
# published book (_config.yml's book_url). First, so the checksums and the gradebook hold
# the released text.
c.GenerateAssignment.preprocessors = [LinkBook, *GenerateAssignment.class_traits()["preprocessors"].default()]

# Stock autograde's sanitizing, with OverwriteCells replaced: it warns that the checksum of
# every test cell with hidden tests changed, in every submission (upstream nbgrader #1961).
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreTestCells,
                                      CheckCellMetadata]
