"""``python -m autograder validate-gpu``: the fixtures recomputed by torch on a GPU.

Every fixture case is rerun with ``torch.optim`` on CUDA in float32 and float64 and
compared with the CPU float64 fixtures: the largest absolute and relative difference
of each quantity (update, m, v|u), and the grading error of :mod:`autograder.checks`.
The record also holds the tolerance-window check: the largest grading error of these
runs times 10 must stay below the tolerance, and the tolerance below the smallest
distance of a named mistake divided by 10.  The record is written to
``autograder/validation/<gpu-name>.json``; without CUDA the command fails and
writes nothing.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from autograder.cases import CASES, STATE_NAMES

VALIDATION_DIR = Path(__file__).with_name("validation")
DTYPES = ("float32", "float64")


def slug(name: str) -> str:
    """A file name for a device name: ``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def differences(assignment: str, case, record: dict, fixtures: dict) -> dict:
    """Largest absolute/relative difference per quantity, and the grading error, vs the fixture."""
    from autograder.checks import fixture_record, quantity_series, trajectory_error

    reference = fixture_record(assignment, case.name, fixtures)
    result = {"grading_error": trajectory_error(assignment, case.name, record, fixtures)}
    for quantity in ("update", *STATE_NAMES[assignment]):
        got = quantity_series(record, reference["theta0"], quantity)
        expected = quantity_series(reference, reference["theta0"], quantity)
        absolute = np.abs(got - expected)
        nonzero = expected != 0
        result[quantity] = {"max_abs": float(absolute.max()),
                            "max_rel": float((absolute[nonzero] / np.abs(expected[nonzero])).max(initial=0.0))}
    return result


def validate(device: str) -> dict:
    """Recompute every fixture on ``device`` in each dtype; the validation record."""
    import torch

    from autograder.checks import TOLERANCE
    from autograder.diagnosis import mistake_distances
    from autograder.reference import load_fixtures, torch_record

    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(device)
        cuda = torch.version.cuda
    else:
        name, cuda = device, None
    record = {"device": name, "torch": torch.__version__, "cuda": cuda, "tolerance": TOLERANCE, "assignments": {}}
    for assignment in sorted(CASES):
        fixtures = load_fixtures(assignment)
        cases = {case.name: {dtype: differences(assignment, case, torch_record(assignment, case, device, dtype),
                                                fixtures)
                             for dtype in DTYPES}
                 for case in CASES[assignment]}
        largest = max(entry["grading_error"] for per_dtype in cases.values() for entry in per_dtype.values())
        distances = mistake_distances(assignment)
        closest = min(distances, key=distances.get)
        record["assignments"][assignment] = {
            "cases": cases,
            "largest_grading_error": largest,
            "closest_mistake": closest,
            "closest_mistake_distance": distances[closest],
            "window_ok": bool(10 * largest < TOLERANCE < distances[closest] / 10),
        }
    return record


def run(args) -> int:
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("validate-gpu: CUDA is not available (torch " f"{torch.__version__}); no record written. "
              "Run it on a machine with an NVIDIA GPU and a CUDA build of torch.", file=sys.stderr)
        return 2
    record = validate(args.device)
    text = json.dumps(record, indent=1) + "\n"
    windows = {a: entry["window_ok"] for a, entry in record["assignments"].items()}
    if args.device.startswith("cuda"):
        path = VALIDATION_DIR / f"{slug(record['device'])}.json"
        path.write_text(text)
        print(f"wrote {path}; tolerance window holds: {windows}")
    else:
        print(text, end="")
    return 0 if all(windows.values()) else 1


def register(subparsers) -> None:
    import argparse

    parser = subparsers.add_parser("validate-gpu", help="recompute the fixtures with torch on CUDA and record the differences",
                                   description=__doc__.splitlines()[0])
    # Internal: another device runs the same code path (for the tests); nothing is written then.
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)
