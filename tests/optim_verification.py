"""The verification record of `book.optim`: how closely each factory matches its reference.

Every test module ``tests/test_optim*.py`` that compares optimizers with a reference
exposes ``VERIFY = {factory: function() -> largest relative error}`` and
``VERIFY_REFERENCE = {factory: "torch.optim.Adam"}``. This module runs them all (torch
and the other references are allowed here, never in ``book/``) and writes the record
``book/optim/verification.json``, which the cheat sheet (`book.experiments.cheatsheet`) reads at
build time without importing torch. Per factory it holds the reference, the reference
package and its version, the largest relative error measured, the bound a rerun must
stay within, and a hash of each source file of the factory::

    .venv/bin/python -m tests.optim_verification --write   # measure and write the record
    .venv/bin/python -m tests.optim_verification           # measure and compare, write nothing

``tests/test_optim_verification.py`` checks in ``make test`` that the record is current.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata
import inspect
import json
import math
import re
import sys
import types
from pathlib import Path

from packaging.version import Version

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
RECORD = ROOT / "book" / "optim" / "verification.json"
REQUIREMENTS = ROOT / "requirements.txt"

# A rerun's error may exceed the recorded one: the last bits of NumPy's SIMD kernels
# (power, exp, sqrt) differ between CPUs, and a relative error of a value near zero
# magnifies them. Ten times the measurement (and at least BOUND_FLOOR) leaves room for
# that and still fails on any change of arithmetic, which costs orders of magnitude.
BOUND_FACTOR = 10
BOUND_FLOOR = 1e-15
# Modules that hold no arithmetic: editing them does not change what was verified.
NOT_ARITHMETIC = {"book.optim._catalog", "book.optim"}


def verify_modules() -> list[types.ModuleType]:
    """The test modules tests/test_optim*.py that define VERIFY, imported as pytest does
    (with tests/ on sys.path, so their ``from optim_reference import ...`` works)."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    modules = [importlib.import_module(path.stem)
               for path in sorted(TESTS.glob("test_optim*.py"))]
    return [module for module in modules if hasattr(module, "VERIFY")]


def collect() -> dict[str, tuple]:
    """{factory: (VERIFY function, VERIFY_REFERENCE text, module name)} of every module;
    a factory verified twice or without a reference is an error."""
    found = {}
    for module in verify_modules():
        references = getattr(module, "VERIFY_REFERENCE", {})
        for name, function in module.VERIFY.items():
            if name in found:
                raise ValueError(f"{name} is verified by both {found[name][2]} and "
                                 f"{module.__name__}")
            if name not in references:
                raise ValueError(f"{module.__name__}.VERIFY_REFERENCE has no entry for {name}")
            found[name] = (function, references[name], module.__name__)
    return found


def reference_packages(reference: str) -> dict[str, str]:
    """{distribution: installed version} of every package the reference names
    (``"torch.optim.Adam"`` -> {"torch": "2.13.0"}); empty for a transcribed paper."""
    installed = importlib.metadata.packages_distributions()
    found = {}
    for word in re.findall(r"[A-Za-z_][\w.]*", reference):
        for distribution in installed.get(word.split(".")[0], [])[:1]:
            found[distribution] = Version(importlib.metadata.version(distribution)).public
    return found


def pinned_version(distribution: str) -> str | None:
    """The version requirements.txt pins for `distribution` (``name==version``)."""
    wanted = distribution.lower().replace("_", "-")
    for line in REQUIREMENTS.read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep and name.strip().lower().replace("_", "-") == wanted:
            return version.strip()
    return None


def source_modules(module: types.ModuleType) -> set[types.ModuleType]:
    """`module` and every module of book.optim it uses, directly or not: the code whose
    arithmetic a verification measured."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in seen or current.__name__ in NOT_ARITHMETIC:
            continue
        seen.add(current)
        for value in vars(current).values():
            used = value if isinstance(value, types.ModuleType) else sys.modules.get(
                getattr(value, "__module__", None) or "")
            if used is not None and used.__name__.startswith("book.optim"):
                todo.append(used)
    return seen


def source_hashes(factory_name: str) -> dict[str, str]:
    """{path relative to the repository: sha256 of its bytes} of the factory's sources."""
    from book import optim

    module = inspect.getmodule(getattr(optim, factory_name))
    paths = sorted(Path(m.__file__).resolve() for m in source_modules(module))
    return {path.relative_to(ROOT).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in paths}


def bound(error: float) -> float:
    """BOUND_FACTOR times `error` (at least BOUND_FLOOR), rounded up to one digit."""
    value = max(BOUND_FACTOR * error, BOUND_FLOOR)
    exponent = math.floor(math.log10(value))
    return math.ceil(round(value / 10**exponent, 9)) * 10.0**exponent


def measure(name: str, function, reference: str) -> dict:
    """The record of one factory: run its VERIFY function now."""
    error = float(function())
    return {
        "reference": reference,
        "packages": reference_packages(reference),
        "max_relative_error": error,
        "bound": bound(error),
        "sources": source_hashes(name),
    }


def measure_all(names=None) -> dict[str, dict]:
    verifications = collect()
    names = sorted(verifications) if names is None else names
    return {name: measure(name, *verifications[name][:2]) for name in names}


def read_record() -> dict[str, dict]:
    return json.loads(RECORD.read_text())["optimizers"]


def write_record(record: dict[str, dict]) -> None:
    document = {
        "about": "book.optim against its references; written by "
                 "`python -m tests.optim_verification --write`, checked by "
                 "tests/test_optim_verification.py",
        "optimizers": record,
    }
    RECORD.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


def missing_factories(record: dict) -> list[str]:
    """Factories exported by book.optim without a verification."""
    from book.experiments.cheatsheet import factories

    return [name for name in factories() if name not in record]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write " + str(RECORD))
    args = parser.parse_args(argv)
    record = measure_all()
    for name, entry in record.items():
        print(f"{name:24} {entry['max_relative_error']:9.2e}  (bound {entry['bound']:.0e})  "
              f"{entry['reference']} {entry['packages']}")
    missing = missing_factories(record)
    if missing:
        print("exported by book.optim but verified by no test module:", ", ".join(missing))
    if args.write:
        write_record(record)
        print(f"wrote {RECORD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
