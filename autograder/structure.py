"""Structural diagnosis: which line of a wrong update is at fault, and what its error looks like.

The named catalogue of :mod:`autograder.diagnosis` recognises known mistakes whole.  For
any other wrong function, this module checks the three lines of an update separately,
each *given the student's own inputs*, with the correct rule (:data:`CORRECT`):

* ``m_t`` from the student's own ``m_{t-1}`` and the case's gradient ``g_t``,
* ``v_t`` (``u_t``) from the student's own ``v_{t-1}`` (``u_{t-1}``) and ``g_t``,
* the update ``theta_t - theta_{t-1}`` from the ``m_t`` and ``v_t`` (``u_t``) returned
  at the same step.

A line that differs is at fault whatever the others do; a quantity that differs from
the reference while its own line is right only inherits another line's error.  The
error of a faulty line is then characterised (its *nature*, see :data:`NATURES`) by
looking at its ratio to the correct value, and by fitting a few generic forms of the
line (which weights, which function of the gradient, a max or a sum), never by
matching whole mistakes.  The hint describes the student's line, never the correct
formula.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from autograder.cases import STATE_NAMES, get_case
from autograder.checks import TOLERANCE, entry_errors
from autograder.diagnosis import CORRECT
from autograder.execute import quiet

#: What a faulty line's error can look like.
NATURES = ("sign", "constant_factor", "t_factor", "shift", "missing_term", "wrong_quantity",
           "wrong_weight", "eps", "power", "precision", "other")
#: Cases in the order their lines are characterised: distinct hyperparameter values
#: first (the ``zeros`` case has beta1 = 1 - beta1 = 0.5), eps-dominated ones last.
CASE_ORDER = ("default_long", "scalar", "mixed_scales", "zeros", "tiny_gradients")
#: An entry whose scale (the second state, or the update's denominator) is below this
#: many eps is dominated by eps: errors there point at eps, not at the formula.
EPS_RANGE = 1e3
#: Relative spread under which a ratio counts as constant (eps and rounding blur ratios) ...
SAME = 1e-2
#: ... and how close a fitted weight or factor must be to a named value (0.999 is not 1).
NAMED = 1e-4
#: A fitted weight this much smaller than the correct one is a term left out (an exact fit
#: of a missing term gives a weight at rounding level).
MISSING = 1e-6


@dataclass(frozen=True)
class Run:
    """A case's inputs and the student's values, each state with its starting value first."""

    g: np.ndarray       # (k, *shape) gradients of steps 1..k
    t: np.ndarray       # (k, 1, ...) step numbers, broadcastable against g
    m: np.ndarray       # (k + 1, *shape)
    s: np.ndarray       # (k + 1, *shape): v or u
    theta: np.ndarray   # (k + 1, *shape)
    hyper: dict

    @property
    def update(self) -> np.ndarray:
        return np.diff(self.theta, axis=0)


@dataclass(frozen=True)
class Finding:
    """A line that is wrong given the student's own inputs (``quantity``: m, v, u or update),
    from ``step`` of ``case``."""

    quantity: str
    nature: str
    detail: str
    step: int
    case: str


def make_run(assignment: str, case_name: str, record: dict, case_inputs: dict) -> Run:
    """The arrays of one (usable) run record, aligned with the case's inputs."""
    first, second = STATE_NAMES[assignment]
    k = len(record["theta"])
    grads = np.asarray(case_inputs["grads"], dtype=np.float64)[:k]

    def with_start(name):
        return np.concatenate([np.asarray(case_inputs[name], dtype=np.float64)[None], record[name]])

    return Run(g=grads, t=np.arange(1.0, k + 1).reshape(k, *[1] * (grads.ndim - 1)),
               m=with_start(first), s=with_start(second), theta=with_start("theta"),
               hyper=get_case(assignment, case_name).hyperparameters(assignment))


def _hyper(run: Run) -> tuple:
    return run.hyper["lr"], run.hyper["beta1"], run.hyper["beta2"], run.hyper["eps"]


def correct_update(assignment: str, run: Run, m: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The correct update (a change of theta) from the states ``m`` and ``s`` of each step."""
    lr, beta1, beta2, eps = _hyper(run)
    return -CORRECT[assignment].step(m, s, run.t, lr, beta1, beta2, eps)


def expected_lines(assignment: str, run: Run) -> dict[str, np.ndarray]:
    """Each returned quantity as the correct rule computes it from the student's own inputs."""
    first, second = STATE_NAMES[assignment]
    lr, beta1, beta2, eps = _hyper(run)
    pieces = CORRECT[assignment]
    return {first: pieces.first(run.m[:-1], run.g, beta1),
            second: pieces.second(run.s[:-1], run.g, beta2, eps),
            "update": correct_update(assignment, run, run.m[1:], run.s[1:])}


def got_lines(assignment: str, run: Run) -> dict[str, np.ndarray]:
    """What the student returned, in the form of :func:`expected_lines`."""
    first, second = STATE_NAMES[assignment]
    return {first: run.m[1:], second: run.s[1:], "update": run.update}


def line_errors(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Grading errors of ``got``; entries whose expectation is not finite are not judged."""
    judged = np.isfinite(expected)
    errors = entry_errors(got, np.where(judged, expected, 0.0))  # unjudged entries must not set the scale
    return np.where(judged, np.nan_to_num(errors, nan=np.inf), 0.0)  # a NaN returned is wrong


def first_wrong_step(got: np.ndarray, expected: np.ndarray) -> int | None:
    """The first (1-based) step at which a line leaves the grading tolerance, or None."""
    bad = (line_errors(got, expected) > TOLERANCE).reshape(len(got), -1).any(axis=1)
    return int(np.argmax(bad)) + 1 if bad.any() else None


def matches(got: np.ndarray, candidate: np.ndarray) -> bool:
    """Whether a candidate form reproduces a line (on most entries, all within tolerance)."""
    return np.isfinite(candidate).mean() > 0.5 and first_wrong_step(got, candidate) is None


# ---- naming numbers, the way the notebook writes them -------------------------------

def _constants(run: Run) -> dict[str, float]:
    lr, beta1, beta2, _ = _hyper(run)
    return {"beta1": beta1, "beta2": beta2, "1 - beta1": 1 - beta1, "1 - beta2": 1 - beta2, "1": 1.0,
            "lr": lr, "1/lr": 1 / lr, "2": 2.0, "1/2": 0.5, "1/(1 - beta1)": 1 / (1 - beta1),
            "1/(1 - beta2)": 1 / (1 - beta2)}


def _close(x: float, y: float) -> bool:
    return abs(x - y) <= NAMED * abs(y)


def names_of(value: float, run: Run) -> list[str]:
    """The hyperparameter expressions ``value`` equals in this case (e.g. "1 - beta1")."""
    return [name for name, constant in _constants(run).items() if _close(value, constant)]


def _about(value: float, run: Run) -> str:
    names = names_of(value, run)
    return f"about {value:.3g}" + (f" (the size of {' or '.join(names)})" if names else "")


def _power_text(base: str, power: float) -> str:
    texts = {1: base, -1: f"1/{base}", 0.5: f"sqrt{base}", -0.5: f"1/sqrt{base}"}
    return texts.get(power) or (f"{base}^{power:g}" if power > 0 else f"1/{base}^{-power:g}")


def t_factor_candidates(run: Run) -> dict[str, np.ndarray]:
    """Named factors that change with t, as bias corrections applied wrongly produce."""
    _, beta1, beta2, _ = _hyper(run)
    t = run.t.ravel()
    betas = {"beta1": beta1, "beta2": beta2}
    powers = (1, -1, 0.5, -0.5, 2, -2)
    candidates = {}
    for name, beta in betas.items():
        for power in powers:
            candidates[_power_text(f"(1 - {name}^t)", power)] = (1 - beta**t) ** power
            candidates[_power_text(f"(1 - {name})^t", power)] = ((1 - beta) ** t) ** power
        for shift in (-1, 1):
            ratio = (1 - beta ** (t + shift)) / (1 - beta**t)
            for power in (1, 0.5):
                candidates[_power_text(f"((1 - {name}^(t{shift:+d}))/(1 - {name}^t))", power)] = ratio**power
    for p1 in (1, -1, 0.5, -0.5, 1.5, -1.5):
        for p2 in (1, -1, 0.5, -0.5, 1.5, -1.5):
            candidates[f"{_power_text('(1 - beta1^t)', p1)} * {_power_text('(1 - beta2^t)', p2)}"] = \
                (1 - beta1**t) ** p1 * (1 - beta2**t) ** p2
    return candidates


# ---- what a faulty line's error looks like ------------------------------------------

def _scale(assignment: str, run: Run, quantity: str, expected: np.ndarray) -> np.ndarray:
    """The size eps competes with in a line: the second state, or the update's denominator."""
    if quantity == "update":
        _, _, beta2, _ = _hyper(run)
        own = np.abs(run.s[1:])
        return np.sqrt(own / (1 - beta2**run.t)) if assignment == "adam" else own
    return np.abs(expected)


def wrong_far_from_eps(assignment, run, quantity, got, expected) -> bool:
    """Whether a line is wrong where eps cannot explain it (m has no eps: anywhere)."""
    wrong = line_errors(got, expected) > TOLERANCE
    if quantity != STATE_NAMES[assignment][0]:
        wrong &= _scale(assignment, run, quantity, expected) >= EPS_RANGE * run.hyper["eps"]
    return bool(wrong.any())


def per_step_factor(got, expected, clean) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """``(steps, factor, several)``: the steps with judgeable entries, the factor got / expected
    at each of them (None if it differs between the entries of a step), and whether
    those steps have several entries."""
    usable = clean & np.isfinite(expected) & (expected != 0) & np.isfinite(got)
    flat_usable = usable.reshape(len(usable), -1)
    steps = flat_usable.any(axis=1)
    if not steps.any():
        return None
    ratio = np.where(usable, got / np.where(usable, expected, 1.0), np.nan).reshape(len(usable), -1)[steps]
    factor = np.nanmedian(ratio, axis=1)
    spread = np.nanmax(np.abs(ratio - factor[:, None]) / np.abs(factor[:, None]))
    # A factor must stand out of its own spread: a 1% error that varies by 1% is no factor.
    if not spread <= min(SAME, 0.1 * np.abs(factor - 1).max()):
        return None
    return np.flatnonzero(steps) + 1, factor, np.median(flat_usable[steps].sum(axis=1)) >= 2


def _ratio_nature(run, got, expected, clean) -> tuple[str, str] | None:
    """A sign, a constant factor or a factor that changes with t only, from got / expected."""
    found = per_step_factor(got, expected, clean)
    if found is None:
        return None
    steps, factor, several = found
    constant = float(np.median(factor))
    if np.all(np.abs(factor - constant) <= 0.1 * np.abs(factor - 1).max()):
        if _close(constant, -1.0):
            return "sign", "it has the wrong sign: check the signs in that line"
        if _close(constant, 1.0):
            return None  # right where the ratio is defined: the error is elsewhere
        return "constant_factor", (f"it is off by a constant factor of {_about(constant, run)}: look for a "
                                   "factor that is missing, doubled or misplaced")
    if not several:
        return None  # with one entry per step every ratio "depends on t only"
    named = [name for name, candidate in t_factor_candidates(run).items()
             if np.all(np.abs(factor - candidate[steps - 1]) <= SAME * np.abs(candidate[steps - 1]))]
    like = f"like {named[0]}" if named else \
        f"from about {factor[0]:.3g} at step {steps[0]} to {factor[-1]:.3g} at step {steps[-1]}"
    return "t_factor", (f"it is off by a factor that changes with t, {like}: check where and how "
                        "the bias correction is applied")


def _features(run: Run) -> dict[str, np.ndarray]:
    """Functions of the step's inputs a state could be built from, as the hint names them."""
    g, m = run.g, run.m[1:]
    return {"the gradient g": g, "|g|": np.abs(g), "g^2": g * g, "the new m": m, "m^2": m * m}


def _weights_nature(run, quantity, a, b, expected_a, expected_b) -> tuple[str, str]:
    """Tell what is off in ``a * previous + b * feature`` against the correct weights."""
    if _close(a, expected_a) and _close(b, -expected_b):
        return "sign", "the new gradient term has the wrong sign"
    if abs(b) <= MISSING * abs(expected_b):
        return "missing_term", f"{quantity} does not take in the new gradient at all"
    if abs(a) <= MISSING * abs(expected_a):
        return "missing_term", f"{quantity} does not carry over its previous value (no memory of the past steps)"
    if _close(a / expected_a, b / expected_b):
        factor = a / expected_a
        return ("sign", "it has the wrong sign") if _close(factor, -1.0) else \
            ("constant_factor", f"it is off by a constant factor of {_about(factor, run)}")
    if _close(a, expected_a):
        if _close(b, 1.0):
            return "missing_term", "the new gradient term enters with weight 1: a factor is missing there"
        return "wrong_weight", f"the new gradient term is off by a factor of {_about(b / expected_b, run)}"
    if _close(a + b, 1.0):
        return "wrong_weight", f"it averages at the wrong rate: its previous value is weighted {_about(a, run)}"
    if _close(a, 1.0):
        return "wrong_weight", "its previous value is not decayed at all"
    return "wrong_weight", f"its previous value is weighted {_about(a, run)} (the new term {_about(b, run)})"


def _linear_nature(assignment, run, quantity, got, prev) -> tuple[str, str] | None:
    """Fit ``got = a * previous + b * feature`` exactly, for each candidate feature."""
    first = STATE_NAMES[assignment][0]
    _, beta1, beta2, _ = _hyper(run)
    beta = beta1 if quantity == first else beta2
    # AdaMax's u keeps |g| + eps: eps is the eps analysis's business, |g| the feature.
    expected_feature = "the gradient g" if quantity == first else {"adam": "g^2", "adamax": "|g|"}[assignment]
    weights = 1.0 / (np.abs(got) + 1e-3 * np.abs(got).max() + 1e-300).ravel()
    for feature_name, feature in _features(run).items():
        if feature_name == "the new m" and quantity == first:
            continue  # m built from itself says nothing
        design = np.stack([prev.ravel(), feature.ravel()], axis=1) * weights[:, None]
        if not np.isfinite(design).all():
            continue
        (a, b), *_ = np.linalg.lstsq(design, got.ravel() * weights, rcond=None)
        if not matches(got, a * prev + b * feature):
            continue
        if feature_name != expected_feature and abs(b) > MISSING * (1 - beta):  # b = 0 fits any feature
            return "wrong_quantity", (f"{quantity} behaves like an average of {feature_name}: check which "
                                      f"quantity your {quantity} is built from")
        if assignment == "adamax" and quantity != first:
            return ("missing_term", f"{quantity} does not carry over its previous value") if abs(a) < MISSING else \
                ("other", f"{quantity} adds up its two terms instead of keeping the larger one")
        return _weights_nature(run, quantity, a, b, beta, 1 - beta)
    return None


def _max_nature(run, quantity, got, prev) -> tuple[str, str] | None:
    """AdaMax's ``u``: which decay and which function of the inputs the max is taken of."""
    _, beta1, beta2, eps = _hyper(run)
    g, m = run.g, run.m[1:]
    decays = {"beta2": beta2, "beta1": beta1, "1": 1.0, "1 - beta2": 1 - beta2, "1 - beta1": 1 - beta1}
    terms = {"|g|": np.abs(g), "g^2": g * g, "|m|": np.abs(m), "m^2": m * m}
    for term_name, term in terms.items():
        for decay_name, decay in decays.items():
            if not matches(got, np.maximum(decay * prev, term + eps)):
                continue
            if term_name != "|g|":
                return "wrong_quantity", (f"{quantity} behaves like a max over {term_name}: check what it keeps "
                                          "the max of")
            if decay_name == "1":
                return "wrong_weight", "its previous value is not decayed before the max"
            return "wrong_weight", f"its previous value is decayed by {decay_name} before the max"
    return None


def _growth_nature(assignment, run, quantity, got, prev) -> tuple[str, str] | None:
    """Where the previous value is zero a state is its new term alone: the power of |g| it
    grows with tells what it is built from, whatever the form of the line."""
    expected_power = 2 if (assignment, quantity) == ("adam", "v") else 1
    usable = (prev == 0) & (got != 0) & (np.abs(run.g) >= EPS_RANGE * run.hyper["eps"]) & np.isfinite(got)
    if usable.sum() < 3:
        return None
    log_g, log_got = np.log(np.abs(run.g[usable])), np.log(np.abs(got[usable]))
    design = np.stack([np.ones_like(log_g), log_g], axis=1)
    coefficients = np.linalg.lstsq(design, log_got, rcond=None)[0]
    power = float(coefficients[1])
    if np.abs(design @ coefficients - log_got).max() > SAME or abs(power - expected_power) < 0.05:
        return None
    return "wrong_quantity", f"{quantity} grows like |g|^{power:.2g}: check which quantity it is built from"


def _offset_nature(assignment, run, got, expected) -> tuple[str, str] | None:
    """The update as if its denominator held a different eps: a constant offset explains it."""
    eps = run.hyper["eps"]
    denominator = _scale(assignment, run, "update", expected) + (eps if assignment == "adam" else 0.0)
    wrong = (line_errors(got, expected) > TOLERANCE) & (got != 0)
    if not wrong.any():
        return None
    offset = float(np.median(denominator[wrong] * (expected[wrong] / got[wrong] - 1)))
    if not np.isfinite(offset) or not matches(got, expected * denominator / (denominator + offset)):
        return None
    return "eps", (f"it behaves as if its denominator held an extra {offset:.2g} (eps is {eps:g} in this case): "
                   "check how and where eps enters")


def _precision_nature(run, got, expected) -> tuple[str, str] | None:
    """Wrong by no more than the float32 rounding of theta: the arithmetic, not the formula."""
    wrong = line_errors(got, expected) > TOLERANCE
    rounding = 2 * np.spacing(np.abs(run.theta[1:]).astype(np.float32)).astype(np.float64)
    if not np.all(np.abs(got - expected)[wrong] <= np.nan_to_num(rounding[wrong], posinf=0.0)):
        return None
    return "precision", ("it is off by no more than single-precision rounding of theta: compute in float64 "
                         "(NumPy's default)")


def _update_nature(assignment, run, got) -> tuple[str, str] | None:
    """The update: computed from the previous step's states, or from the gradient instead of m."""
    eps = run.hyper["eps"]
    m_old, m_new, s_old, s_new = run.m[:-1], run.m[1:], run.s[:-1], run.s[1:]
    memoryless = CORRECT[assignment].second(np.zeros_like(run.g), run.g, 0.0, eps)
    shifted = {"the previous step's m and second state": (m_old, s_old), "the previous step's m": (m_old, s_new),
               "the previous step's second state": (m_new, s_old)}
    for name, (m, s) in shifted.items():
        if matches(got, correct_update(assignment, run, m, s)):
            return "shift", f"it looks computed from {name}, one step late: check the order of your lines"
    if matches(got, correct_update(assignment, run, run.g, s_new)):
        return "wrong_quantity", "it follows the raw gradient rather than the first moment"
    if matches(got, correct_update(assignment, run, m_new, memoryless)):
        return "wrong_quantity", "its denominator follows the current gradient only, not the second state"
    return None


def _power_nature(assignment, run, got, expected, clean) -> tuple[str, str] | None:
    """The error grows as a power of m or of the second state: a misplaced power or root."""
    usable = clean & np.isfinite(expected) & (expected != 0) & (got != 0) & (run.m[1:] != 0)
    if usable.sum() < 3:
        return None
    log_ratio = np.log(np.abs(got[usable] / expected[usable]))
    scale = _scale(assignment, run, "update", expected)[usable]
    design = np.stack([np.ones_like(log_ratio), np.log(np.abs(run.m[1:][usable])), np.log(scale)], axis=1)
    if not np.isfinite(design).all():
        return None
    coefficients, *_ = np.linalg.lstsq(design, log_ratio, rcond=None)
    if np.abs(design @ coefficients - log_ratio).max() > SAME:
        return None
    second = STATE_NAMES[assignment][1]
    powered = [name for name, power in zip(("m", second), coefficients[1:]) if abs(power) > 0.05]
    if not powered:
        return None
    return "power", (f"it scales with {' and '.join(powered)} with the wrong power: check the powers and "
                     "square roots in it")


def line_nature(assignment: str, run: Run, quantity: str, got: np.ndarray, expected: np.ndarray) -> tuple[str, str]:
    """``(nature, detail)`` of a line that is wrong far from eps on one run (see :data:`NATURES`):
    the first analysis that recognises it, the most specific first."""
    first, second = STATE_NAMES[assignment]
    clean = (_scale(assignment, run, quantity, expected) >= EPS_RANGE * run.hyper["eps"]) | (quantity == first)
    if quantity == "update":
        analyses = [lambda: _precision_nature(run, got, expected),
                    lambda: _offset_nature(assignment, run, got, expected),
                    lambda: _update_nature(assignment, run, got),
                    lambda: _ratio_nature(run, got, expected, clean),
                    lambda: _power_nature(assignment, run, got, expected, clean)]
    else:
        prev = run.m[:-1] if quantity == first else run.s[:-1]
        analyses = [lambda: _ratio_nature(run, got, expected, clean),
                    lambda: _linear_nature(assignment, run, quantity, got, prev)]
        if assignment == "adamax" and quantity == second:
            analyses += [lambda: _max_nature(run, quantity, got, prev)]
        analyses += [lambda: _growth_nature(assignment, run, quantity, got, prev)]
    for analysis in analyses:
        found = analysis()
        if found:
            return found
    return "other", "it differs in a way that is not a simple factor: compare that line with the notebook's formula"


# ---- findings over the cases, and the hint ------------------------------------------

def _case_rank(name: str) -> int:
    return CASE_ORDER.index(name) if name in CASE_ORDER else len(CASE_ORDER)


#: What a line wrong only where eps matters is told.
EPS_DETAIL = ("it is right wherever the values are large and wrong only where they are tiny (close to eps): "
              "check how and where eps enters")


def _characterise(assignment: str, quantity: str, wrong: list[tuple]) -> Finding:
    """A faulty line's finding from the runs where it is wrong, ``(case, run, step, got,
    expected)`` in :data:`CASE_ORDER`: eps if it is wrong only near eps in all of them,
    else the nature recognised on the first run that shows one."""
    if not any(wrong_far_from_eps(assignment, run, quantity, got, expected) for _, run, _, got, expected in wrong):
        return Finding(quantity, "eps", EPS_DETAIL, wrong[0][2], wrong[0][0])
    first = None
    for case_name, run, step, got, expected in wrong:
        if not wrong_far_from_eps(assignment, run, quantity, got, expected):
            continue  # only an eps effect in this case: the formula's error shows elsewhere
        finding = Finding(quantity, *line_nature(assignment, run, quantity, got, expected), step, case_name)
        if finding.nature != "other":
            return finding
        first = first or finding
    return first


def findings(assignment: str, records: dict, inputs: dict) -> list[Finding]:
    """The lines wrong given the student's own inputs, earliest step first."""
    order = [*STATE_NAMES[assignment], "update"]
    wrong: dict[str, list[tuple]] = {quantity: [] for quantity in order}
    for case_name in sorted(records, key=_case_rank):
        if not len(records[case_name]["theta"]):
            continue  # stopped at step 1: nothing returned to analyse
        run = make_run(assignment, case_name, records[case_name], inputs[case_name])
        got, expected = got_lines(assignment, run), expected_lines(assignment, run)
        for quantity in order:
            step = first_wrong_step(got[quantity], expected[quantity])
            if step is not None:
                wrong[quantity].append((case_name, run, step, got[quantity], expected[quantity]))
    found = [_characterise(assignment, quantity, runs) for quantity, runs in wrong.items() if runs]
    return sorted(found, key=lambda finding: (finding.step, order.index(finding.quantity)))


def _label(quantity: str) -> str:
    return "your update of theta" if quantity == "update" else f"your {quantity}"


def _given(assignment: str, quantity: str) -> str:
    if quantity == "update":
        return "from the {} and {} you return at that step".format(*STATE_NAMES[assignment])
    return f"from your own previous {quantity}"


def hint(assignment: str, faults: list[Finding], diverging: list[str]) -> str:
    """What a student can act on: the faulty lines and what their errors look like, then
    the quantities that only inherit them.  ``diverging``: the quantities that leave the
    reference in the run, earliest first."""
    if not faults:
        return "" if not diverging else (
            f"Each step is consistent with the values you returned before, yet {_label(diverging[0])} "
            "drifts away from the reference: small differences add up, or your function keeps values "
            "between calls.")
    sentences = [f"{_label(f.quantity).capitalize()} is wrong from step {f.step} of case {f.case!r} even when "
                 f"computed {_given(assignment, f.quantity)}: {f.detail}." for f in faults]
    faulty = {f.quantity for f in faults}
    inherited = [_label(quantity) for quantity in diverging if quantity not in faulty]
    if inherited:
        sentences.append(f"{' and '.join(inherited).capitalize()} {'is' if len(inherited) == 1 else 'are'} "
                         "right given your other values: it only inherits the error above.")
    return " ".join(sentences)


def structural_diagnosis(assignment: str, records: dict, inputs: dict, diverging: list[str]) -> dict:
    """``{"hint", "findings": [Finding as a dict]}`` for usable run records (see
    :func:`autograder.checks.usable_records`) and the cases' stored inputs; ``diverging`` as
    for :func:`hint`.  Quiet: it runs inside nbgrader test cells, where stderr fails a cell."""
    with quiet():
        faults = findings(assignment, records, inputs)
    return {"hint": hint(assignment, faults, diverging), "findings": [asdict(finding) for finding in faults]}
