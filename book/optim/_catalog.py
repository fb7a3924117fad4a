"""What the cheat sheet says about each optimizer, kept next to its code.

Each family module ends with ``CATALOG = (Entry(...), ...)``, one entry per factory
it defines. The cheat sheet page is generated from these entries plus what is
computed, never typed: the hyperparameters and defaults (from the factory's
signature), the state memory per parameter (counted from the state ``init``
returns) and the measured agreement with the reference (from the committed
verification record).
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    """One optimizer's row of the cheat sheet.

    Attributes:
        factory: the name of the factory in `book.optim` (``"adam"``).
        family: the cheat sheet's family, e.g. ``"C. The Adam family"``.
        rule: the update rule at step t, one LaTeX line per equation, in the
            factory's own symbols (``g_t``, ``m_t``, ``\\theta_t``, ``\\eta``...).
        reference: what the implementation is verified against, as importable code
            (``"torch.optim.Adam"``, ``"pytorch_optimizer.Lion"``,
            ``"schedulefree.AdamWScheduleFree"``), or ``"paper"`` for a direct
            transcription of the paper's algorithm box (tests/).
        paper: authors, year and title, as a reader would cite them.
        year: the paper's year.
        bibkey: the key of the paper in references.bib.
        chapter: the book's page that teaches it (``"chapters/adam"``).
        flops: the order of the work per step for n parameters (``"O(n)"``, or for
            a matrix of m x n ``"O(mn(m+n)) every k steps"``).
        notes: differences from the paper or the reference, in one sentence each.
    """

    factory: str
    family: str
    rule: tuple[str, ...]
    reference: str
    paper: str
    year: int
    bibkey: str
    chapter: str
    flops: str = "O(n)"
    notes: tuple[str, ...] = ()
