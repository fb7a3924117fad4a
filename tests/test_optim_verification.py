"""The committed verification record, book/optim/verification.json, is current.

The cheat sheet (`book.experiments.cheatsheet`) shows the record's numbers without running torch,
so make test checks them: every exported factory has a record, each record's sources
are the code as it is now, its reference packages are the installed pins, and a rerun
of its VERIFY function stays within the recorded bound. When one fails, regenerate::

    .venv/bin/python -m tests.optim_verification --write
"""

import optim_verification as verification
import pytest

RECORD = verification.read_record()
VERIFICATIONS = verification.collect()
REGENERATE = "regenerate the record: python -m tests.optim_verification --write"


def test_every_exported_factory_has_a_record():
    assert verification.missing_factories(RECORD) == [], REGENERATE


def test_the_record_holds_exactly_the_verified_factories():
    assert sorted(RECORD) == sorted(VERIFICATIONS), REGENERATE


@pytest.mark.parametrize("name", sorted(RECORD))
def test_recorded_sources_are_the_code_now(name):
    assert verification.source_hashes(name) == RECORD[name]["sources"], REGENERATE


@pytest.mark.parametrize("name", sorted(RECORD))
def test_reference_is_the_installed_pin(name):
    recorded = RECORD[name]
    assert recorded["reference"] == VERIFICATIONS[name][1], REGENERATE
    assert verification.reference_packages(recorded["reference"]) == recorded["packages"]
    for distribution, version in recorded["packages"].items():
        assert verification.pinned_version(distribution) == version, distribution


@pytest.mark.parametrize("name", sorted(RECORD))
def test_rerun_stays_within_the_recorded_bound(name):
    """Not equality: the last bits of NumPy's SIMD kernels differ between CPUs (run with
    NPY_DISABLE_CPU_FEATURES to see), so a rerun may differ from the record slightly."""
    function = VERIFICATIONS[name][0]
    recorded = RECORD[name]
    assert recorded["max_relative_error"] <= recorded["bound"]
    assert function() <= recorded["bound"]


def test_bound_is_ten_times_the_error_rounded_up():
    assert verification.bound(6.06e-13) == 7e-12
    assert verification.bound(1e-13) == 1e-12
    assert verification.bound(0.0) == verification.BOUND_FLOOR
    assert verification.bound(3.2) == 40.0


def test_pinned_version_reads_requirements():
    assert verification.pinned_version("pytorch-optimizer") == "4.1.0"
    assert verification.pinned_version("no-such-package") is None
