"""The book's own NumPy code. Import the submodule you need (``from book import optim``);
this package imports nothing itself, so a student's install needs only NumPy and
matplotlib (and scikit-learn for Part III's digits: the ``practice`` extra).

The library, which every chapter uses:

- `book.optim`: the optimizers, equal to their references step for step;
- `book.landscapes`: the test problems (2-D, quadratic, logistic, matrix-valued);
- `book.runner`, `book.race`: running optimizers from batches of starts, and the tuned
  race protocol; `book.convergence`, `book.theory`: measured and closed-form rates;
- `book.schedules`, `book.clipping`: learning-rate schedules and gradient clipping;
- `book.network`, `book.data`, `book.training`, `book.cache`: a NumPy MLP on the digits,
  its training, and the disk cache for expensive results;
- `book.plotting`, `book.widgets`, `book.glue`: figures, interactive figures that also
  work without a kernel, and numbers glued into the text.

`book.experiments` holds the code behind particular chapters.
"""
