"""nbgrader configuration of the course kept in this repository.

Run stock nbgrader from the repository root (or copy this file into another course
directory): the instructor notebooks are ``solutions/source/<assignment>/`` and the
student release is ``exercises/<assignment>/``, which ``python -m autograder release``
regenerates.
"""

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import GetGrades

from autograder.nbgrader_preprocessors import HideHiddenTests

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

c.CourseDirectory.source_directory = "solutions/source"
c.CourseDirectory.release_directory = "exercises"

# A cell gets this many seconds before nbgrader interrupts it and moves on; the hidden
# checks take well under a second, so only a runaway submission hits it.
c.Execute.timeout = 60

# Feedback must not show hidden test source, which nbgrader's default feedback does.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
