"""The committed fixtures are what torch computes, and judging needs no torch."""

import json
import subprocess
import sys

import pytest

from autograder.cases import CASES
from autograder.reference import check_fixtures, fixture_paths, inputs_digest


@pytest.mark.parametrize("assignment", sorted(CASES))
def test_committed_fixtures_equal_a_fresh_torch_run(assignment):
    assert check_fixtures(assignment) == []


@pytest.mark.parametrize("assignment", sorted(CASES))
def test_fixture_metadata_describes_the_cases(assignment):
    metadata = json.loads(fixture_paths(assignment)[1].read_text())
    assert metadata["dtype"] == "float64" and metadata["device"] == "cpu"
    assert [case["name"] for case in metadata["cases"]] == [case.name for case in CASES[assignment]]
    assert [case["inputs_sha256"] for case in metadata["cases"]] == [
        inputs_digest(assignment, case) for case in CASES[assignment]]


def test_fixtures_command_checks(capsys):
    import argparse

    from autograder import reference

    parser = argparse.ArgumentParser()
    reference.register(parser.add_subparsers())
    args = parser.parse_args(["fixtures", "--check", "--assignment", "adamax"])
    assert args.func(args) == 0
    assert "adamax: fixtures match torch" in capsys.readouterr().out


def test_checking_a_submission_does_not_import_torch():
    program = (
        "import sys\n"
        "from autograder.checks import check, judge\n"
        "from autograder.diagnosis import SOLUTIONS, MISTAKES, diagnose\n"
        "from autograder.execute import run_submission\n"
        "check('adam', 'long_run', SOLUTIONS['adam'])\n"
        "diagnose('adamax', run_submission('adamax', MISTAKES['adamax']['no_eps'].function))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True)
