"""The ground truth: ``torch.optim.Adam`` / ``Adamax`` trajectories on the fixture cases.

For each case of :data:`autograder.cases.CASES` the optimizer runs on one parameter
tensor, ``p.grad`` set to the case's gradient before every ``step()``; after each step
the parameter and the optimizer state are recorded.  The fixtures are computed on the
CPU in float64 with ``foreach=False`` under ``torch.set_default_dtype(torch.float64)``
(otherwise torch keeps its step counter in float32).

``python -m autograder fixtures`` writes ``autograder/fixtures/<assignment>.npz``
(arrays ``<case>/theta`` of shape ``(steps + 1, *shape)`` starting with theta0, and
``<case>/<state>`` of shape ``(steps, *shape)``, ``<state>`` being torch's ``exp_avg`` as
``m`` and ``exp_avg_sq`` as ``v`` or ``exp_inf`` as ``u``) and ``<assignment>.json``
(torch and NumPy versions, the case list and a digest of each case's inputs);
``--check`` verifies that the committed files equal a fresh computation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import numpy as np

from autograder.cases import CASES, STATE_NAMES, Case

FIXTURE_DIR = Path(__file__).with_name("fixtures")
#: torch's names of the two optimizer states, in the order of ``STATE_NAMES``.
TORCH_STATES = {"adam": ("exp_avg", "exp_avg_sq"), "adamax": ("exp_avg", "exp_inf")}


@contextlib.contextmanager
def float64_default():
    """Run torch with float64 as default dtype (torch's step counters follow it)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def torch_trajectory(assignment: str, case: Case, device: str = "cpu", dtype: str = "float64",
                     read_updates: bool = False) -> dict:
    """Run torch.optim on ``case``; return float64 NumPy arrays ``theta`` (with theta0) and the states.

    With ``read_updates`` the parameter is set to zero before every step, so that it
    holds exactly minus torch's update afterwards (the update of Adam and AdaMax does
    not depend on the parameter without weight decay); ``theta`` is then theta0 plus
    the running sum of those updates in float64.  This reads a float32 run's updates
    without the rounding of a float32 theta, which is larger than the updates of the
    tiny-gradient cases.
    """
    import torch

    optimizer_class = {"adam": torch.optim.Adam, "adamax": torch.optim.Adamax}[assignment]
    hyper = case.hyperparameters(assignment)
    inputs = case.inputs(assignment)
    torch_dtype = getattr(torch, dtype)
    with float64_default():
        param = torch.tensor(inputs["theta"], dtype=torch_dtype, device=device, requires_grad=True)
        grads = torch.tensor(inputs["grads"], dtype=torch_dtype, device=device)
        optimizer = optimizer_class([param], lr=hyper["lr"], betas=(hyper["beta1"], hyper["beta2"]),
                                    eps=hyper["eps"], foreach=False)
        thetas, states = [param.detach().clone()], {name: [] for name in TORCH_STATES[assignment]}
        for grad in grads:
            if read_updates:
                with torch.no_grad():
                    param.zero_()
            param.grad = grad.clone()
            optimizer.step()
            thetas.append(param.detach().clone())
            for name in states:
                states[name].append(optimizer.state[param][name].detach().clone())
    to_numpy = lambda tensors: torch.stack(tensors).to("cpu", torch.float64).numpy()  # noqa: E731
    theta = to_numpy(thetas)
    if read_updates:
        theta = inputs["theta"] + np.concatenate([np.zeros((1, *case.shape)), np.cumsum(theta[1:], axis=0)])
    result = {"theta": theta}
    for ours, theirs in zip(STATE_NAMES[assignment], TORCH_STATES[assignment]):
        result[ours] = to_numpy(states[theirs])
    return result


def inputs_digest(assignment: str, case: Case) -> str:
    """SHA-256 of a case's inputs, so a change in NumPy's random streams is noticed."""
    digest = hashlib.sha256()
    for name, array in sorted(case.inputs(assignment).items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()


def compute_fixtures(assignment: str) -> tuple[dict[str, np.ndarray], dict]:
    """The fixture arrays (``"<case>/<quantity>"`` keys) and their JSON metadata."""
    import torch

    arrays, cases = {}, []
    for case in CASES[assignment]:
        for quantity, values in torch_trajectory(assignment, case).items():
            arrays[f"{case.name}/{quantity}"] = values
        cases.append({"name": case.name, "shape": list(case.shape), "steps": case.steps,
                      "hyperparameters": case.hyperparameters(assignment),
                      "inputs_sha256": inputs_digest(assignment, case)})
    metadata = {"assignment": assignment, "torch": torch.__version__, "numpy": np.__version__,
                "device": "cpu", "dtype": "float64", "cases": cases}
    return arrays, metadata


def fixture_paths(assignment: str) -> tuple[Path, Path]:
    return FIXTURE_DIR / f"{assignment}.npz", FIXTURE_DIR / f"{assignment}.json"


def load_fixtures(assignment: str) -> dict[str, np.ndarray]:
    """The committed expected trajectories of ``assignment`` (no torch needed)."""
    npz_path, _ = fixture_paths(assignment)
    if not npz_path.exists():
        raise FileNotFoundError(f"no fixtures at {npz_path}; run `python -m autograder fixtures`")
    with np.load(npz_path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def write_fixtures(assignment: str) -> None:
    arrays, metadata = compute_fixtures(assignment)
    npz_path, json_path = fixture_paths(assignment)
    FIXTURE_DIR.mkdir(exist_ok=True)
    np.savez_compressed(npz_path, **arrays)
    json_path.write_text(json.dumps(metadata, indent=1) + "\n")


def check_fixtures(assignment: str) -> list[str]:
    """Differences between the committed fixtures and a fresh computation (empty: equal)."""
    arrays, metadata = compute_fixtures(assignment)
    npz_path, json_path = fixture_paths(assignment)
    if not npz_path.exists() or not json_path.exists():
        return [f"{assignment}: fixture files missing in {FIXTURE_DIR}"]
    problems = []
    committed_metadata = json.loads(json_path.read_text())
    for key in ("cases", "torch"):
        if committed_metadata.get(key) != metadata[key]:
            problems.append(f"{assignment}: metadata {key!r} differs from a fresh computation")
    committed = load_fixtures(assignment)
    if sorted(committed) != sorted(arrays):
        problems.append(f"{assignment}: arrays {sorted(set(committed) ^ set(arrays))} missing or extra")
    for key in sorted(set(committed) & set(arrays)):
        if not np.array_equal(committed[key], arrays[key]):
            problems.append(f"{assignment}: {key} differs from a fresh computation")
    return problems


def run(args) -> int:
    for assignment in args.assignment or sorted(CASES):
        if args.check:
            problems = check_fixtures(assignment)
            for problem in problems:
                print(problem)
            if problems:
                return 1
            print(f"{assignment}: fixtures match torch {metadata_torch_version(assignment)}")
        else:
            write_fixtures(assignment)
            print(f"{assignment}: wrote {fixture_paths(assignment)[0]}")
    return 0


def metadata_torch_version(assignment: str) -> str:
    return json.loads(fixture_paths(assignment)[1].read_text())["torch"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("fixtures", help="regenerate (or --check) the torch reference fixtures",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="verify the committed fixtures equal a fresh computation; write nothing")
    parser.add_argument("--assignment", action="append", choices=sorted(CASES),
                        help="only this assignment (repeatable; default: all)")
    parser.set_defaults(func=run)


def torch_record(assignment: str, case: Case, device: str = "cpu", dtype: str = "float64") -> dict:
    """A torch run as a run record of :mod:`autograder.execute` (updates read exactly)."""
    trajectory = torch_trajectory(assignment, case, device, dtype, read_updates=True)
    return {**trajectory, "theta": trajectory["theta"][1:], "error": None, "mutated": None}
