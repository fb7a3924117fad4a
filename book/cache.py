"""A disk cache for the book's expensive results (a race of optimizers on a network).

A result is a flat dict of NumPy arrays, stored as one ``.npz`` file whose name is a
hash of two things: the *settings* the caller passes (anything JSON can write), and the
*source* of the code that determines the result (:data:`SOURCES`: the network, the
data, the training loop and :mod:`book.optim`; not the rest of ``book``, so editing a
chapter's plotting code does not recompute a race) with the versions of NumPy and
scikit-learn. Change any of them and the key changes.

The files live in ``$BOOK_CACHE_DIR`` if set, else in ``_build/.cache/`` of the
checkout (ignored by git, removed with the build), else in ``~/.cache/optimizer-book``
when ``book`` is installed without a checkout. A file is written to a temporary name
and renamed into place, so two processes computing the same result never leave half a
file; a file that cannot be read back completely, or that names another key, is
recomputed and replaced, never trusted. Each result name keeps its :data:`KEEP` most
recently used files: a result computed by code that has since changed is not read again
unless that code comes back, and a race's file is about 11 MB.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = ["SOURCES", "KEEP", "directory", "source_hash", "key", "cached"]

_PACKAGE = Path(__file__).resolve().parent
#: The files (relative to the ``book`` package) whose source decides a cached result.
SOURCES = ("network.py", "data.py", "training.py", "optim")
#: How many files (keys) of one result name the cache keeps, the most recently used.
KEEP = 4


def directory() -> Path:
    """Where cached results are kept (see the module's docstring)."""
    if os.environ.get("BOOK_CACHE_DIR"):
        return Path(os.environ["BOOK_CACHE_DIR"])
    checkout = _PACKAGE.parent
    if (checkout / "_toc.yml").is_file():
        return checkout / "_build" / ".cache"
    return Path.home() / ".cache" / "optimizer-book"


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def source_hash(sources=SOURCES) -> str:
    """SHA-256 over the ``.py`` files of ``sources`` (files or folders of ``book``, in a
    fixed order, each with its path) and the NumPy and scikit-learn versions."""
    digest = hashlib.sha256()
    for source in sources:
        path = _PACKAGE / source
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(_PACKAGE)).encode() + b"\0" + file.read_bytes() + b"\0")
    digest.update(json.dumps([np.__version__, _version("scikit-learn")]).encode())
    return digest.hexdigest()


def key(name: str, settings) -> str:
    """The cache key of result ``name`` computed with ``settings`` by the current code."""
    text = json.dumps({"name": name, "settings": settings, "code": source_hash()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _load(path: Path, expected_key: str):
    """The stored arrays, or None if the file is missing, unreadable or another key's."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}  # reads (and CRC-checks) every member
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
    if str(arrays.pop("__key__", None)) != expected_key:
        return None
    return arrays


def cached(name: str, settings, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()``'s dict of arrays, from the cache when this code already computed it
    with these ``settings``; computed and stored otherwise."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"name must be letters, digits, '-' and '_', got {name!r}")
    expected = key(name, settings)
    path = directory() / f"{name}-{expected[:32]}.npz"
    arrays = _load(path, expected)
    if arrays is not None:
        os.utime(path)  # most recently used: kept by _prune
        return arrays
    arrays = {field: np.asarray(value) for field, value in compute().items()}
    if "__key__" in arrays:
        raise ValueError("a cached result may not have an array named '__key__'")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, __key__=np.array(expected), **arrays)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would keep the cache from other users
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    _prune(name)
    return arrays


def _prune(name):
    """Remove all but the :data:`KEEP` most recently used files of result ``name``."""
    files = sorted(directory().glob(f"{name}-*.npz"), key=lambda f: f.stat().st_mtime, reverse=True)
    for stale in files[KEEP:]:
        stale.unlink(missing_ok=True)  # another process may have removed it already
