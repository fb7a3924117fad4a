"""Named mistakes: NumPy mutants of the update rules, and the diagnosis they allow.

Each assignment's update is assembled from four pieces,

* ``hyper(lr, beta1, beta2, eps, t)``: the hyperparameters and step number used,
* ``first(m, g, beta1)``: the first moment, ``m_t = beta1 m + (1 - beta1) g``,
* ``second(s, g, beta2, eps)``: Adam's ``v_t = beta2 v + (1 - beta2) g^2`` or
  AdaMax's ``u_t = max(beta2 u, |g| + eps)`` (torch's convention),
* ``step(m, s, t, lr, beta1, beta2, eps)``: what is subtracted from theta, Adam's
  ``lr m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - beta1^t)``,
  ``v_hat = v / (1 - beta2^t)`` (Kingma & Ba, 2015, Algorithm 1, as in torch.optim.Adam)
  or AdaMax's ``lr / (1 - beta1^t) m / u`` (ibid., Algorithm 2, as torch.optim.Adamax),

and a mistake replaces one or two pieces.  The correct assembly is the plain NumPy
reference of the test suite (:data:`SOLUTIONS`).  :func:`diagnose` runs every mutant
on the cases a student ran and names the mutants whose outputs the student's match.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from autograder.cases import CASES, DEFAULTS, FUNCTIONS, STATE_NAMES, get_case
from autograder.checks import compare, fixture_record, trajectory_error, usable_records
from autograder.execute import run_case
from autograder.reference import load_fixtures


@dataclass(frozen=True)
class Pieces:
    hyper: Callable
    first: Callable
    second: Callable
    step: Callable


def _same_hyper(lr, beta1, beta2, eps, t):
    return lr, beta1, beta2, eps, t


def _ewma(state, value, beta):
    return beta * state + (1 - beta) * value


def _adam_step(m, v, t, lr, beta1, beta2, eps):
    return lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)


def _adamax_step(m, u, t, lr, beta1, beta2, eps):
    return lr / (1 - beta1**t) * m / u


CORRECT = {
    "adam": Pieces(hyper=_same_hyper, first=_ewma,
                   second=lambda v, g, beta2, eps: _ewma(v, g * g, beta2), step=_adam_step),
    "adamax": Pieces(hyper=_same_hyper, first=_ewma,
                     second=lambda u, g, beta2, eps: np.maximum(beta2 * u, np.abs(g) + eps),
                     step=_adamax_step),
}


def build(assignment: str, pieces: Pieces) -> Callable:
    """A function with the student signature and defaults, assembled from ``pieces``."""
    defaults = DEFAULTS[assignment]

    def update(theta, grad, m, state, t, lr=defaults["lr"], beta1=defaults["beta1"],
               beta2=defaults["beta2"], eps=defaults["eps"]):
        lr, beta1, beta2, eps, t = pieces.hyper(lr, beta1, beta2, eps, t)
        m = pieces.first(m, grad, beta1)
        state = pieces.second(state, grad, beta2, eps)
        return theta - pieces.step(m, state, t, lr, beta1, beta2, eps), m, state

    update.__name__ = update.__qualname__ = FUNCTIONS[assignment]
    return update


#: The plain NumPy reference implementations.
SOLUTIONS = {assignment: build(assignment, pieces) for assignment, pieces in CORRECT.items()}


@dataclass(frozen=True)
class Mistake:
    name: str
    description: str
    function: Callable


def _mistakes(assignment: str, described_changes: dict[str, tuple[str, dict]]) -> dict[str, Mistake]:
    correct = CORRECT[assignment]
    return {name: Mistake(name, description, build(assignment, dataclasses.replace(correct, **changes)))
            for name, (description, changes) in described_changes.items()}


def _negated(step):
    return lambda *args: -step(*args)


_SHARED_MISTAKES = {
    "step_minus_one": ("bias correction uses t - 1 instead of the 1-based step t",
                       {"hyper": lambda lr, b1, b2, eps, t: (lr, b1, b2, eps, t - 1)}),
    "step_plus_one": ("bias correction uses t + 1 instead of the 1-based step t",
                      {"hyper": lambda lr, b1, b2, eps, t: (lr, b1, b2, eps, t + 1)}),
    "betas_swapped": ("beta1 and beta2 swapped",
                      {"hyper": lambda lr, b1, b2, eps, t: (lr, b2, b1, eps, t)}),
    "lr_twice": ("learning rate applied twice (lr * lr)",
                 {"hyper": lambda lr, b1, b2, eps, t: (lr * lr, b1, b2, eps, t)}),
    "lr_missing": ("learning rate missing from the step",
                   {"hyper": lambda lr, b1, b2, eps, t: (1.0, b1, b2, eps, t)}),
    "first_moment_weights_swapped": ("first moment weights swapped: (1 - beta1) m + beta1 g",
                                     {"first": lambda m, g, b1: _ewma(m, g, 1 - b1)}),
    "first_moment_beta_on_gradient": ("beta1 instead of 1 - beta1 on the gradient: beta1 m + beta1 g",
                                      {"first": lambda m, g, b1: b1 * m + b1 * g}),
}

MISTAKES: dict[str, dict[str, Mistake]] = {
    "adam": _mistakes("adam", {
        **_SHARED_MISTAKES,
        "eps_inside_sqrt": ("eps added inside the square root: sqrt(v_hat + eps)",
                            {"step": lambda m, v, t, lr, b1, b2, eps:
                             lr * (m / (1 - b1**t)) / np.sqrt(v / (1 - b2**t) + eps)}),
        "eps_hat_form": ("eps added to the uncorrected sqrt(v) (the Adam paper's efficient form, "
                         "lr sqrt(1 - beta2^t) / (1 - beta1^t) m / (sqrt(v) + eps)), which is not torch's rule",
                         {"step": lambda m, v, t, lr, b1, b2, eps:
                          lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)}),
        "no_eps": ("eps left out of the denominator",
                   {"step": lambda m, v, t, lr, b1, b2, eps: _adam_step(m, v, t, lr, b1, b2, 0.0)}),
        "no_bias_correction": ("no bias correction: lr m / (sqrt(v) + eps)",
                               {"step": lambda m, v, t, lr, b1, b2, eps: lr * m / (np.sqrt(v) + eps)}),
        "only_m_corrected": ("only m bias-corrected: lr m_hat / (sqrt(v) + eps)",
                             {"step": lambda m, v, t, lr, b1, b2, eps:
                              lr * (m / (1 - b1**t)) / (np.sqrt(v) + eps)}),
        "only_v_corrected": ("only v bias-corrected: lr m / (sqrt(v_hat) + eps)",
                             {"step": lambda m, v, t, lr, b1, b2, eps:
                              lr * m / (np.sqrt(v / (1 - b2**t)) + eps)}),
        "no_sqrt": ("square root missing: lr m_hat / (v_hat + eps)",
                    {"step": lambda m, v, t, lr, b1, b2, eps: lr * (m / (1 - b1**t)) / (v / (1 - b2**t) + eps)}),
        "abs_grad_in_v": ("v averages |g| instead of g^2",
                          {"second": lambda v, g, b2, eps: _ewma(v, np.abs(g), b2)}),
        "second_moment_weights_swapped": ("second moment weights swapped: (1 - beta2) v + beta2 g^2",
                                          {"second": lambda v, g, b2, eps: _ewma(v, g * g, 1 - b2)}),
        "gradient_ascent": ("sign error: the step is added (gradient ascent)",
                            {"step": _negated(_adam_step)}),
    }),
    "adamax": _mistakes("adamax", {
        **_SHARED_MISTAKES,
        "no_eps": ("eps left out: u = max(beta2 u, |g|)",
                   {"second": lambda u, g, b2, eps: np.maximum(b2 * u, np.abs(g))}),
        "eps_outside_max": ("eps added outside the max, in the step: u = max(beta2 u, |g|), m / (u + eps)",
                            {"second": lambda u, g, b2, eps: np.maximum(b2 * u, np.abs(g)),
                             "step": lambda m, u, t, lr, b1, b2, eps: _adamax_step(m, u + eps, t, lr, b1, b2, eps)}),
        "eps_accumulated": ("eps added after the max and kept in u: u = max(beta2 u, |g|) + eps",
                            {"second": lambda u, g, b2, eps: np.maximum(b2 * u, np.abs(g)) + eps}),
        "missing_abs": ("absolute value missing: u = max(beta2 u, g + eps)",
                        {"second": lambda u, g, b2, eps: np.maximum(b2 * u, g + eps)}),
        "u_ewma": ("u is an average of |g| instead of a decayed max: u = beta2 u + (1 - beta2) (|g| + eps)",
                   {"second": lambda u, g, b2, eps: _ewma(u, np.abs(g) + eps, b2)}),
        "no_bias_correction": ("no bias correction: lr m / u",
                               {"step": lambda m, u, t, lr, b1, b2, eps: lr * m / u}),
        "u_bias_corrected": ("u bias-corrected as well: lr m_hat / (u / (1 - beta2^t))",
                             {"step": lambda m, u, t, lr, b1, b2, eps:
                              _adamax_step(m, u / (1 - b2**t), t, lr, b1, b2, eps)}),
        "gradient_ascent": ("sign error: the step is added (gradient ascent)",
                            {"step": _negated(_adamax_step)}),
    }),
}


def _returns_corrected_states(assignment: str) -> Callable:
    """The correct update returning its states bias-corrected (m_hat, and Adam's v_hat),
    which the next step then takes as its m and v: the notebooks warn against it."""
    correct, defaults = SOLUTIONS[assignment], DEFAULTS[assignment]

    def update(theta, grad, m, state, t, lr=defaults["lr"], beta1=defaults["beta1"],
               beta2=defaults["beta2"], eps=defaults["eps"]):
        theta, m, state = correct(theta, grad, m, state, t, lr, beta1, beta2, eps)
        return theta, m / (1 - beta1**t), state / (1 - beta2**t) if assignment == "adam" else state

    update.__name__ = update.__qualname__ = FUNCTIONS[assignment]
    return update


for _assignment, _returned in (("adam", "m_hat and v_hat instead of m and v"), ("adamax", "m_hat instead of m")):
    MISTAKES[_assignment]["bias_corrected_states"] = Mistake(
        "bias_corrected_states", f"the states are returned bias-corrected ({_returned}); return them "
        "uncorrected: they are the input of the next step", _returns_corrected_states(_assignment))


def _same_run(assignment: str, mine: dict, theirs: dict, theta0: np.ndarray) -> bool:
    """Whether two run records agree: the same stop (error kind and step) and values."""
    my_error, their_error = mine.get("error"), theirs.get("error")
    if bool(my_error) != bool(their_error) or len(mine["theta"]) != len(theirs["theta"]):
        return False
    if my_error and (my_error["kind"], my_error["step"]) != (their_error["kind"], their_error["step"]):
        return False
    quantities = ("update", *STATE_NAMES[assignment])
    return all(d.step is None for d in compare(mine, theirs, theta0, quantities))


def first_divergence(assignment: str, outputs: dict) -> dict | None:
    """Where the outputs first leave the reference: the earliest step over the cases.

    Returns ``{"case", "step", "quantities": {quantity: first differing step or None},
    "error": the run's error or None}``, or None when every case matches throughout.
    """
    fixtures = load_fixtures(assignment)
    quantities = ("update", *STATE_NAMES[assignment])
    earliest = None
    for name, record in usable_records(assignment, outputs).items():
        reference = fixture_record(assignment, name, fixtures)
        steps = {d.quantity: d.step for d in compare(record, reference, reference["theta0"], quantities)}
        error = record.get("error")
        candidates = [step for step in steps.values() if step is not None] + ([error["step"]] if error else [])
        if candidates and (earliest is None or min(candidates) < earliest["step"]):
            earliest = {"case": name, "step": min(candidates), "quantities": steps, "error": error}
    return earliest


@functools.lru_cache(maxsize=None)
def mistake_run(assignment: str, mistake_name: str, case_name: str) -> dict:
    """A named mistake's run record on one case (cached: mutants are deterministic; do not modify)."""
    return run_case(assignment, get_case(assignment, case_name), MISTAKES[assignment][mistake_name].function)


def diagnose(assignment: str, outputs: dict) -> list[dict]:
    """The named mistakes whose outputs the submission's match on every case it ran.

    Returns ``[]`` when the outputs match the reference, else one entry per matching
    mistake, ``{"mistake": name, "description": ..., "first_divergence": ...}``
    (see :func:`first_divergence`), or a single entry with ``"mistake": None``, the
    description "no known mistake" and the structural diagnosis, ``"hint"`` and
    ``"findings"`` (see :func:`autograder.structure.structural_diagnosis`).
    """
    divergence = first_divergence(assignment, outputs)
    if divergence is None:
        return []
    fixtures = load_fixtures(assignment)
    records = usable_records(assignment, outputs)
    # Shortest cases first: most mistakes are ruled out by the first case compared.
    names = sorted(records, key=lambda name: get_case(assignment, name).steps)
    matches = [{"mistake": mistake.name, "description": mistake.description, "first_divergence": divergence}
               for mistake in MISTAKES[assignment].values()
               if all(_same_run(assignment, records[name], mistake_run(assignment, mistake.name, name),
                                fixtures[f"{name}/theta"][0])
                      for name in names)]
    if matches:
        return matches
    return [{"mistake": None, "description": "no known mistake", "first_divergence": divergence,
             **_structure(assignment, records, divergence)}]


def _structure(assignment: str, records: dict, divergence: dict) -> dict:
    """The structural diagnosis of what no named mistake explains (empty if it fails:
    the entry keeps the divergence, and grading its verdicts)."""
    from autograder.reference import load_inputs
    from autograder.structure import structural_diagnosis  # it imports this module

    diverging = sorted((step, quantity) for quantity, step in divergence["quantities"].items() if step)
    try:
        return structural_diagnosis(assignment, records, load_inputs(assignment),
                                    [quantity for _, quantity in diverging])
    except (ArithmeticError, ValueError, np.linalg.LinAlgError):  # hostile values; the hint is lost only
        return {"hint": "", "findings": []}


def format_diagnosis(entries: list[dict]) -> str:
    """The diagnosis in a sentence or two, for a test message or feedback."""
    if not entries:
        return ""
    divergence = entries[0]["first_divergence"]
    error = divergence["error"]
    details = [f"{quantity} differs from step {step}" if step else f"{quantity} is correct"
               for quantity, step in divergence["quantities"].items()
               if step or not error or error["step"] > 1]
    if error:
        details.append(f"the run stopped at step {error['step']} ({error['message']})")
    where = (f"First difference from the reference: step {divergence['step']} of case "
             f"{divergence['case']!r} ({', '.join(details)}).")
    known = [entry for entry in entries if entry["mistake"]]
    if not known:
        hint = entries[0].get("hint")
        return f"No known mistake matches. {hint + ' ' if hint else ''}{where}"
    return "Likely mistake: " + "; or ".join(entry["description"] for entry in known) + f". {where}"


def mistake_distances(assignment: str) -> dict[str, float]:
    """How far each named mistake is from the fixtures: its largest entry error over all cases."""
    fixtures = load_fixtures(assignment)
    return {name: max(trajectory_error(assignment, case.name, mistake_run(assignment, name, case.name), fixtures)
                      for case in CASES[assignment])
            for name in MISTAKES[assignment]}
