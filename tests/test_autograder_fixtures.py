"""The committed fixtures carry their inputs and are what torch computes on them; judging needs no torch."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from autograder import reference
from autograder.cases import CASES, STATE_NAMES
from autograder.reference import check_fixtures, fixture_paths, inputs_digest, load_inputs


@pytest.mark.parametrize("assignment", sorted(CASES))
def test_committed_fixtures_equal_a_torch_run_on_their_inputs(assignment):
    assert check_fixtures(assignment) == []


@pytest.mark.parametrize("assignment", sorted(CASES))
def test_fixture_metadata_describes_the_cases(assignment):
    metadata = json.loads(fixture_paths(assignment)[1].read_text())
    assert metadata["dtype"] == "float64" and metadata["device"] == "cpu"
    assert [case["name"] for case in metadata["cases"]] == [case.name for case in CASES[assignment]]
    inputs = load_inputs(assignment)
    assert [case["inputs_sha256"] for case in metadata["cases"]] == [
        inputs_digest(inputs[case.name]) for case in CASES[assignment]]


@pytest.mark.parametrize("assignment", sorted(CASES))
def test_stored_inputs_are_drawn_from_the_case_definitions(assignment):
    """What each case describes holds for its stored inputs: redrawn here they agree up to the
    last bits that depend on the CPU's SIMD kernels, and their exact zeros are the same."""
    stored = load_inputs(assignment)
    assert list(stored) == [case.name for case in CASES[assignment]]
    for case in CASES[assignment]:
        drawn = case.generate_inputs(assignment)
        assert list(stored[case.name]) == ["theta", "grads", *STATE_NAMES[assignment]]
        for name, array in stored[case.name].items():
            assert array.dtype == np.float64 and array.shape == drawn[name].shape, (case.name, name)
            np.testing.assert_allclose(array, drawn[name], rtol=1e-13, atol=0, err_msg=f"{case.name}/{name}")
            assert np.array_equal(array == 0, drawn[name] == 0), (case.name, name)


@pytest.fixture
def fixture_copy(tmp_path, monkeypatch):
    """The committed fixture files copied to a temporary folder that the reference module uses."""
    for path in reference.FIXTURE_DIR.iterdir():
        shutil.copy(path, tmp_path)
    monkeypatch.setattr(reference, "FIXTURE_DIR", tmp_path)
    return tmp_path


def rewrite_array(assignment, key, change):
    npz_path = fixture_paths(assignment)[0]
    with np.load(npz_path) as data:
        arrays = {name: data[name] for name in data.files}
    arrays[key] = change(arrays[key].copy())
    np.savez_compressed(npz_path, **arrays)


def test_the_check_finds_a_changed_expectation(fixture_copy):
    def nudge(m):
        m[-1, 0] *= 1 + 1e-8  # far below the grading tolerance, far above rounding noise
        return m

    rewrite_array("adamax", "tiny_gradients/m", nudge)
    [problem] = check_fixtures("adamax")
    assert "tiny_gradients: torch rerun on the stored inputs differs" in problem


def test_the_check_finds_changed_inputs(fixture_copy):
    def flip(grads):
        grads[3, 0] = -grads[3, 0]
        return grads

    rewrite_array("adam", reference.input_key("scalar", "grads"), flip)
    problems = check_fixtures("adam")
    assert "adam: metadata 'cases' differs from the stored inputs and the case list" in problems
    assert any(problem.startswith("adam: scalar: torch rerun") for problem in problems)


def test_fixtures_command_checks(capsys):
    import argparse

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
        "from autograder.reference import load_inputs\n"
        "check('adam', 'long_run', SOLUTIONS['adam'])\n"
        "diagnose('adamax', run_submission('adamax', MISTAKES['adamax']['no_eps'].function, load_inputs('adamax')))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True)
