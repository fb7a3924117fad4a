"""Glue a number a chapter computes into the chapter's text.

A chapter never types a measured number into its prose: a code cell computes it and
calls ``glue("adam_sign_bound", value, display=False)``, and the text cites it as
``{glue:text}`adam_sign_bound:.2e```. :func:`glue` works in both places a chapter runs:

- **the book's build** (``make book``): myst-nb is installed, and :func:`glue` is
  myst-nb's own ``glue``, so the built page shows the value where the text cites it;
- **a plain Jupyter kernel** (a chapter opened as a notebook with the student install:
  NumPy, matplotlib and ``book``, no myst-nb): the text's ``{glue:text}`` roles stay
  as they are, so :func:`glue` shows the value under the cell when ``display`` is
  true, as myst-nb does.

Either way every value is kept in :data:`values`, where a notebook reader looks up the
number a sentence cites (``values["adam_sign_bound"]``).

A NumPy scalar (``np.float64(0.25)`` from ``arr.max()``, ``np.bool_``) is glued as the
Python value it holds: myst-nb formats a cited value from its text form, and NumPy 2
writes that as ``np.float64(0.25)``, which no format spec such as ``:.2f`` can read.
"""

import numpy as np

try:
    from myst_nb import glue as _myst_nb_glue
except ImportError:  # the student install: no myst-nb outside the book's build
    _myst_nb_glue = None

__all__ = ["glue", "values"]

#: Every value glued in this kernel, by name.
values = {}


def glue(name, variable, display=True):
    """Record ``variable`` under ``name`` for the chapter's text (myst-nb's signature).

    The value is kept in :data:`values`. Where myst-nb is installed (the book's build,
    the instructor's environment) this then calls ``myst_nb.glue``; without it, a value
    glued with ``display`` true is shown as the cell's output.
    """
    if isinstance(variable, np.generic):
        variable = variable.item()
    values[name] = variable
    if _myst_nb_glue is not None:
        _myst_nb_glue(name, variable, display=display)
    elif display:
        from IPython.display import display as show  # only needed in a kernel

        show(variable)
