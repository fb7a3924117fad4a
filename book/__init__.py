"""The book's own NumPy code: optimizers (`book.optim`), test landscapes, theory,
plots and widgets. Import the submodule you need (``from book import optim``); this
package imports nothing itself, so a student's install needs only NumPy and matplotlib.
"""
