"""The ground truth: ``torch.optim.Adam`` / ``Adamax`` trajectories on the fixture cases.

For each case of :data:`autograder.cases.CASES` the optimizer runs on one parameter
tensor, ``p.grad`` set to the case's gradient before every ``step()``; after each step
the parameter and the optimizer state are recorded.  The fixtures are computed on the
CPU in float64 with ``foreach=False`` under ``torch.set_default_dtype(torch.float64)``
(otherwise torch keeps its step counter in float32).

``python -m autograder fixtures`` draws each case's inputs (:meth:`Case.generate_inputs`),
runs torch on them and writes ``autograder/fixtures/<assignment>.npz``: the inputs
(``<case>/input/theta``, ``<case>/input/grads`` of shape ``(steps, *shape)`` and the
initial states ``<case>/input/<state>``), and the expected trajectories (``<case>/theta``
of shape ``(steps + 1, *shape)`` starting with theta0, and ``<case>/<state>`` of shape
``(steps, *shape)``, ``<state>`` being torch's ``exp_avg`` as ``m`` and ``exp_avg_sq`` as
``v`` or ``exp_inf`` as ``u``), and ``<assignment>.json`` (torch and NumPy versions, the
case list and a digest of each case's stored inputs).

``--check`` reruns torch on the *stored* inputs and compares with the stored
expectations, so it does not depend on the CPU that drew the inputs (see
:mod:`autograder.cases`); grading feeds the same stored inputs (:func:`load_inputs`).
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
#: Largest grading error (:mod:`autograder.checks`) that torch rerun on the stored inputs
#: may have against the stored trajectories.  Not bit-exactness: torch's CPU kernels round
#: differently per ISA.  Measured on the stored inputs (torch 2.13, AVX-512 machine): AVX2
#: and AVX-512 kernels reproduce the fixtures bit for bit, ``ATEN_CPU_CAPABILITY=default``
#: differs in ~6000 entries by a grading error of 3.5e-13 (raw relative 2.7e-13); NumPy's
#: SIMD choice no longer matters.  1e-10 leaves a factor ~300 for other CPUs and is 3e7
#: times below ``checks.TOLERANCE``: rounding noise, far below what grading resolves.
FIXTURE_TOLERANCE = 1e-10


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


def torch_trajectory(assignment: str, case: Case, inputs: dict[str, np.ndarray], device: str = "cpu",
                     dtype: str = "float64", read_updates: bool = False) -> dict:
    """Run torch.optim on ``inputs`` with ``case``'s hyperparameters; return float64 NumPy
    arrays ``theta`` (with theta0) and the states.

    The initial states of ``inputs`` are zero (torch starts from zero states).

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


def inputs_digest(inputs: dict[str, np.ndarray]) -> str:
    """SHA-256 of one case's stored inputs, so that a changed fixture file is noticed."""
    digest = hashlib.sha256()
    for name, array in sorted(inputs.items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()


def input_key(case_name: str, name: str) -> str:
    """The npz key of one stored input of a case (``name``: theta, grads or a state)."""
    return f"{case_name}/input/{name}"


def compute_fixtures(assignment: str, inputs: dict[str, dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], dict]:
    """The fixture arrays -- ``inputs`` and torch's trajectories on them, ``"<case>/..."`` keys --
    and their JSON metadata."""
    import torch

    arrays, cases = {}, []
    for case in CASES[assignment]:
        case_inputs = inputs[case.name]
        arrays.update({input_key(case.name, name): array for name, array in case_inputs.items()})
        for quantity, values in torch_trajectory(assignment, case, case_inputs).items():
            arrays[f"{case.name}/{quantity}"] = values
        cases.append({"name": case.name, "shape": list(case.shape), "steps": case.steps,
                      "hyperparameters": case.hyperparameters(assignment),
                      "inputs_sha256": inputs_digest(case_inputs)})
    metadata = {"assignment": assignment, "torch": torch.__version__, "numpy": np.__version__,
                "device": "cpu", "dtype": "float64", "cases": cases}
    return arrays, metadata


def fixture_paths(assignment: str) -> tuple[Path, Path]:
    return FIXTURE_DIR / f"{assignment}.npz", FIXTURE_DIR / f"{assignment}.json"


def _read_fixture_file(assignment: str) -> dict[str, np.ndarray]:
    """Every array of ``<assignment>.npz``: the stored inputs and the expected trajectories."""
    npz_path, _ = fixture_paths(assignment)
    if not npz_path.exists():
        raise FileNotFoundError(f"no fixtures at {npz_path}; run `python -m autograder fixtures`")
    with np.load(npz_path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def load_fixtures(assignment: str) -> dict[str, np.ndarray]:
    """The committed expected trajectories of ``assignment`` (no torch needed)."""
    return {key: array for key, array in _read_fixture_file(assignment).items() if "/input/" not in key}


def load_inputs(assignment: str) -> dict[str, dict[str, np.ndarray]]:
    """The stored inputs of every case: ``{case: {"theta", "grads", <first state>, <second state>}}``.

    What grading feeds a submission and what ``--check`` feeds torch (no torch needed).
    """
    inputs: dict[str, dict[str, np.ndarray]] = {}
    for key, array in _read_fixture_file(assignment).items():
        case_name, _, name = key.partition("/input/")
        if name:
            inputs.setdefault(case_name, {})[name] = array
    return inputs


def write_fixtures(assignment: str) -> None:
    """Draw new inputs from the case definitions, run torch on them and write both."""
    inputs = {case.name: case.generate_inputs(assignment) for case in CASES[assignment]}
    arrays, metadata = compute_fixtures(assignment, inputs)
    npz_path, json_path = fixture_paths(assignment)
    FIXTURE_DIR.mkdir(exist_ok=True)
    np.savez_compressed(npz_path, **arrays)
    json_path.write_text(json.dumps(metadata, indent=1) + "\n")


def fresh_run_error(assignment: str, case_name: str, fresh: dict, committed: dict) -> float:
    """The grading error (:func:`autograder.checks.trajectory_error`) of a fresh run against the fixture."""
    from autograder.checks import fixture_record, trajectory_error  # it imports this module

    record = {**fixture_record(assignment, case_name, fresh), "error": None, "mutated": None}
    return trajectory_error(assignment, case_name, record, committed)


def check_fixtures(assignment: str) -> list[str]:
    """Differences between the committed fixtures and torch rerun on their stored inputs (empty: none)."""
    npz_path, json_path = fixture_paths(assignment)
    if not npz_path.exists() or not json_path.exists():
        return [f"{assignment}: fixture files missing in {FIXTURE_DIR}"]
    inputs = load_inputs(assignment)
    names = [case.name for case in CASES[assignment]]
    if sorted(inputs) != sorted(names):
        return [f"{assignment}: stored inputs for cases {sorted(inputs)}, but the cases are {names}"]
    arrays, metadata = compute_fixtures(assignment, inputs)
    problems = []
    committed_metadata = json.loads(json_path.read_text())
    for key in ("cases", "torch"):
        if committed_metadata.get(key) != metadata[key]:
            problems.append(f"{assignment}: metadata {key!r} differs from the stored inputs and the case list")
    committed = _read_fixture_file(assignment)
    if sorted(committed) != sorted(arrays):
        return problems + [f"{assignment}: arrays {sorted(set(committed) ^ set(arrays))} missing or extra"]
    for name in names:
        error = fresh_run_error(assignment, name, arrays, committed)
        if not error <= FIXTURE_TOLERANCE:
            problems.append(f"{assignment}: {name}: torch rerun on the stored inputs differs from the stored "
                            f"trajectory by {error:.3g} (more than {FIXTURE_TOLERANCE:g})")
    return problems


def run(args) -> int:
    for assignment in args.assignment or sorted(CASES):
        if args.check:
            problems = check_fixtures(assignment)
            for problem in problems:
                print(problem)
            if problems:
                return 1
            print(f"{assignment}: fixtures match torch {metadata_torch_version(assignment)} rerun on their "
                  f"stored inputs (grading error <= {FIXTURE_TOLERANCE:g})")
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
                        help="rerun torch on the stored inputs and compare with the stored trajectories; write nothing")
    parser.add_argument("--assignment", action="append", choices=sorted(CASES),
                        help="only this assignment (repeatable; default: all)")
    parser.set_defaults(func=run)


def torch_record(assignment: str, case: Case, device: str = "cpu", dtype: str = "float64") -> dict:
    """A torch run on ``case``'s stored inputs as a run record of :mod:`autograder.execute`
    (updates read exactly)."""
    trajectory = torch_trajectory(assignment, case, load_inputs(assignment)[case.name], device, dtype,
                                  read_updates=True)
    return {**trajectory, "theta": trajectory["theta"][1:], "error": None, "mutated": None}
