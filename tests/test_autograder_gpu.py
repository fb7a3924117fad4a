"""validate-gpu: the same code path on the CPU (no record written), and a clear refusal
without CUDA."""

import argparse
from pathlib import Path

import pytest
import torch

from autograder import gpu
from autograder.cases import CASES, STATE_NAMES


def parse(argv):
    parser = argparse.ArgumentParser()
    gpu.register(parser.add_subparsers())
    return parser.parse_args(argv)


def records():
    return sorted(gpu.VALIDATION_DIR.glob("*.json"))


def test_validation_on_the_cpu_path(capsys):
    before = records()
    args = parse(["validate-gpu", "--device", "cpu"])
    assert args.func(args) == 0
    assert records() == before  # only a CUDA device writes a record
    record = gpu.json.loads(capsys.readouterr().out)
    assert record["device"] == "cpu" and record["cuda"] is None
    for assignment, entry in record["assignments"].items():
        assert set(entry["cases"]) == {case.name for case in CASES[assignment]}
        for per_dtype in entry["cases"].values():
            assert per_dtype["float64"]["grading_error"] < 1e-9
            assert 0 < per_dtype["float32"]["grading_error"] <= entry["largest_grading_error"]
            assert set(per_dtype["float32"]) == {"grading_error", "update", *STATE_NAMES[assignment]}
        assert entry["window_ok"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_without_cuda_the_command_refuses(capsys):
    before = records()
    args = parse(["validate-gpu"])
    assert args.func(args) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert records() == before


def test_slug():
    assert gpu.slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"


def test_readme_states_the_gpu_validation_measured():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    statement = readme.split("GPU validation:", 1)[1].split("\n\n", 1)[0]
    devices = [gpu.json.loads(path.read_text())["device"] for path in records()]
    if devices:
        assert "not yet validated" not in statement
        assert all(device in statement for device in devices)
    else:
        assert "not yet validated on a GPU" in statement
