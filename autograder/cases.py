"""The fixture cases: which gradients each assignment's function is run on.

A :class:`Case` describes one trajectory: a shape, a number of steps, the
hyperparameters passed to the student's function and a seed from which the starting
point and the gradient sequence of a *new* fixture are drawn.  It holds no expected
values, so the sandboxed process that runs a submission may import this module.

The inputs are drawn once, when :mod:`autograder.reference` writes
``autograder/fixtures/<assignment>.npz``, and stored there with the expected
trajectories; checks and grading read them with
:func:`autograder.reference.load_inputs`, never redraw them: the draw goes through
``10.0 ** x``, whose last bits depend on the SIMD kernels NumPy picks for the CPU.

The cases are chosen to tell correct implementations from the usual mistakes:
long runs (bias correction late in training), gradients near ``eps`` (where ``eps``
sits), exact zeros (AdaMax's ``max``), gradients over many orders of magnitude with
sign flips, non-default ``lr``/betas/``eps`` and shapes ``(1,)``, vectors, matrices and
a 3-d array.  Cases with empty ``hyper`` call the function without keyword
arguments, so they also check the student's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Hyperparameter defaults of the student functions (equal to torch.optim's).
DEFAULTS = {
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    "adamax": {"lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}

#: Name of the student's function and of its second state, per assignment.
FUNCTIONS = {"adam": "adam_update", "adamax": "adamax_update"}
STATE_NAMES = {"adam": ("m", "v"), "adamax": ("m", "u")}


@dataclass(frozen=True)
class Case:
    """One deterministic trajectory of ``steps`` updates of an array of ``shape``.

    Gradient magnitudes are log-uniform in ``10**log10_range`` with random signs;
    a ``zero_fraction`` of the entries, the first ``zero_steps`` steps and the
    elements of ``zero_columns`` (last axis) are exactly zero.
    """

    name: str
    description: str
    shape: tuple[int, ...]
    steps: int
    seed: int
    hyper: dict = field(default_factory=dict)
    log10_range: tuple[float, float] = (-1.0, 0.5)
    zero_fraction: float = 0.0
    zero_steps: int = 0
    zero_columns: tuple[int, ...] = ()

    def generate_inputs(self, assignment: str) -> dict[str, np.ndarray]:
        """Draw a starting point, gradient sequence ``(steps, *shape)`` and zero initial states.

        Only for writing new fixtures: the result differs in its last bits between
        CPUs (see the module doc); everything else uses the stored inputs.
        """
        rng = np.random.default_rng(self.seed)
        theta0 = rng.normal(size=self.shape)
        low, high = self.log10_range
        magnitude = 10.0 ** rng.uniform(low, high, size=(self.steps, *self.shape))
        grads = np.where(rng.random(magnitude.shape) < 0.5, -magnitude, magnitude)
        grads[rng.random(grads.shape) < self.zero_fraction] = 0.0
        grads[: self.zero_steps] = 0.0
        for column in self.zero_columns:
            grads[..., column] = 0.0
        first, second = STATE_NAMES[assignment]
        return {"theta": theta0, "grads": grads, first: np.zeros(self.shape), second: np.zeros(self.shape)}

    def hyperparameters(self, assignment: str) -> dict[str, float]:
        """The hyperparameters in effect: the defaults overridden by ``hyper``."""
        return {**DEFAULTS[assignment], **self.hyper}


def _cases(assignment_seed: int, *, zeros_first: int) -> list[Case]:
    """The case list shared by both assignments (the seeds differ per assignment)."""
    seed = 1000 * assignment_seed
    return [
        Case("default_long", "300 steps with the default hyperparameters (called without keywords)",
             shape=(6,), steps=300, seed=seed + 1),
        Case("scalar", "a (1,) array with lr=1e-2, beta1=0.8, beta2=0.99",
             shape=(1,), steps=120, seed=seed + 2, hyper={"lr": 1e-2, "beta1": 0.8, "beta2": 0.99}),
        Case("tiny_gradients", "gradients of size 1e-11..1e-7, around eps, where its placement shows",
             shape=(8,), steps=150, seed=seed + 3, log10_range=(-11.0, -7.0)),
        Case("zeros", "exact zeros: whole first steps, a column that is always zero, 30% scattered; "
             "lr=5e-2, beta1=0.5, beta2=0.9, eps=1e-6",
             shape=(3, 4), steps=150, seed=seed + 4, zero_fraction=0.3, zero_steps=zeros_first,
             zero_columns=(1,), hyper={"lr": 5e-2, "beta1": 0.5, "beta2": 0.9, "eps": 1e-6}),
        Case("mixed_scales", "gradients from 1e-6 to 1e4 with sign flips in a 3-d array; "
             "lr=0.3, beta1=0.95, beta2=0.9999, eps=1e-10",
             shape=(2, 3, 2), steps=200, seed=seed + 5, log10_range=(-6.0, 4.0),
             hyper={"lr": 0.3, "beta1": 0.95, "beta2": 0.9999, "eps": 1e-10}),
    ]


CASES: dict[str, list[Case]] = {
    "adam": _cases(1, zeros_first=5),
    "adamax": _cases(2, zeros_first=20),
}


def lookup(table: dict, assignment: str, name: str, kind: str):
    """The entry of ``table[assignment]`` called ``name``, with a clear error for unknown names."""
    if assignment not in table:
        raise ValueError(f"unknown assignment {assignment!r}; expected one of {sorted(table)}")
    for entry in table[assignment]:
        if entry.name == name:
            return entry
    raise ValueError(f"unknown {kind} {name!r} for {assignment!r}; expected one of "
                     f"{[entry.name for entry in table[assignment]]}")


def get_case(assignment: str, name: str) -> Case:
    """The case called ``name`` of ``assignment``."""
    return lookup(CASES, assignment, name, "case")
