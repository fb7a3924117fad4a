"""The visible tests teach: each failing check names the idea a mistake breaks, never the answer.

The visible-test cell of each released notebook is run, as a student would run it, against
the correct solutions (it passes, silently) and against the named mistakes of
``autograder.diagnosis`` and the uncatalogued ones of ``tests/structural_mistakes.py``:
the first failing check must stop the cell with an AssertionError whose message names
the idea involved (a keyword per mistake) and holds no formula or code of the solution.
"""

import ast
import contextlib
import io
import re
import warnings

import nbformat
import numpy as np
import pytest

from autograder.diagnosis import MISTAKES, SOLUTIONS
from autograder.release import RELEASE_DIR
from autograder_solutions import valid_solutions
from structural_mistakes import MISTAKES as STRUCTURAL_MISTAKES

ASSIGNMENTS = ["adam", "adamax"]

T = "t as given"
EPS = r"\beps\b"
LR = r"\blr\b"
#: mistake -> a pattern its message must hold: the idea the mistake breaks, in the hint's words.
IDEAS = {
    "adam": {
        "step_minus_one": T, "step_plus_one": T, "betas_swapped": "beta1 \\(not beta2\\)",
        "lr_twice": LR, "lr_missing": LR,
        "first_moment_weights_swapped": "weights", "first_moment_beta_on_gradient": "weights",
        "eps_inside_sqrt": EPS, "eps_hat_form": EPS, "no_eps": EPS,
        "no_bias_correction": "bias correction applied to both moments",
        "only_m_corrected": "bias correction applied to both moments",
        "only_v_corrected": "bias correction applied to both moments",
        "no_sqrt": "square root", "abs_grad_in_v": "squares", "second_moment_weights_swapped": "weights",
        "gradient_ascent": "uphill", "bias_corrected_states": "without bias correction",
    },
    "adamax": {
        "step_minus_one": T, "step_plus_one": T, "betas_swapped": "beta1 \\(not beta2\\)",
        "lr_twice": LR, "lr_missing": LR,
        "first_moment_weights_swapped": "weights", "first_moment_beta_on_gradient": "weights",
        "no_eps": EPS, "eps_outside_max": EPS, "eps_accumulated": EPS,
        "missing_abs": "absolute values", "u_ewma": "maximum \\(not an average\\)",
        "no_bias_correction": "bias correction applied to m", "u_bias_corrected": "only to m",
        "gradient_ascent": "uphill", "bias_corrected_states": "without bias correction",
    },
}
#: Shares of the named mistakes the visible tests stop (caught) and stop with a message
#: naming the idea (named). Measured: 18 of 18 Adam and 16 of 16 AdaMax, both ways; the
#: cell they replace caught all 18 Adam mistakes but named the idea for 2 (lr only).
CAUGHT_FLOOR = NAMED_FLOOR = 1.0
#: Measured: 31 of 31 Adam and 30 of 30 AdaMax mistakes outside the catalogue are caught;
#: the floor leaves room for new ones there that only the hidden tests can tell.
STRUCTURAL_CAUGHT_FLOOR = 0.9

#: Solution formulas and code that no message may show.
FORMULA = re.compile(r"sqrt\s*\(|\*\*|\^|\b1\s*-\s*beta|beta[12]\s*\*|\*\s*(m|v|u|g|grad)\b|[+/]\s*\(?eps\b"
                     r"|\bnp\.|\bmax\s*\(|_hat\b|=\s*(beta|m|v|u)\b|\+=|\*=")


def visible_cell(assignment):
    notebook = nbformat.read(RELEASE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
    [cell] = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == "visible_tests"]
    return cell


def silenced(function):
    """``function`` with NumPy's floating-point warnings off: a mistake may warn (0/0), the
    cell's own code must not."""
    def update(*args, **kwargs):
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)
    return update


def run_visible_tests(assignment, function):
    """Run the released visible-test cell on ``function``: ("passed" | "failed" | the
    exception's name, its message or the printed text, what went to stderr)."""
    namespace = {"np": np, f"{assignment}_update": silenced(function)}
    stdout, stderr = io.StringIO(), io.StringIO()
    code = compile(visible_cell(assignment).source, f"<{assignment} visible tests>", "exec")
    with warnings.catch_warnings(), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        warnings.simplefilter("error")  # a warning of the cell's own code fails the run
        try:
            exec(code, namespace)
        except AssertionError as error:
            return "failed", str(error), stderr.getvalue()
        except Exception as error:  # noqa: BLE001 - reported as what a student would see
            return type(error).__name__, str(error), stderr.getvalue()
    return "passed", stdout.getvalue(), stderr.getvalue()


def in_place(assignment):
    """The correct update written with in-place operations on its inputs."""
    correct = SOLUTIONS[assignment]

    def update(theta, grad, m, state, t, **hyperparameters):
        new_theta, new_m, new_state = correct(theta, grad, m, state, t, **hyperparameters)
        for array, new in ((theta, new_theta), (m, new_m), (state, new_state)):
            array[...] = new
        return theta, m, state

    return update


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def outcomes(request):
    """assignment and {mistake: run_visible_tests outcome} for the named mistakes."""
    assignment = request.param
    return assignment, {name: run_visible_tests(assignment, mistake.function)
                        for name, mistake in MISTAKES[assignment].items()}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_visible_cell_is_locked_numpy_and_ungraded(assignment):
    cell = visible_cell(assignment)
    metadata = cell.metadata.nbgrader
    assert metadata.locked and not metadata.grade and not metadata.solution and "points" not in metadata
    assert not re.search(r"^\s*(import|from)\s", cell.source, re.M), "the cell uses the notebook's numpy only"
    for hidden in ["autograder", "torch", "HIDDEN TESTS", 'check("']:
        assert hidden not in cell.source


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_correct_solutions_pass_silently(assignment):
    for name, function in valid_solutions(assignment).items():
        assert run_visible_tests(assignment, function) == ("passed", "visible tests passed\n", ""), name


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_in_place_updates_are_told_they_changed_an_input(assignment):
    result = run_visible_tests(assignment, in_place(assignment))
    assert result[:2] == ("failed", f"{assignment}_update changed its input theta: leave the inputs as they are "
                                    "(no in-place operations on them)")


def test_named_mistakes_get_a_hint_about_their_idea(outcomes):
    assignment, results = outcomes
    assert set(IDEAS[assignment]) <= set(MISTAKES[assignment]), "a keyword for a mistake no longer catalogued"
    caught = [name for name, (outcome, _, _) in results.items() if outcome != "passed"]
    named = [name for name, (outcome, message, _) in results.items()
             if outcome == "failed" and name in IDEAS[assignment] and re.search(IDEAS[assignment][name], message)]
    report = "\n".join(f"{name}: {outcome}: {message}" for name, (outcome, message, _) in results.items())
    total = len(results)
    print(f"{assignment}: visible tests catch {len(caught)}/{total} named mistakes, "
          f"{len(named)}/{total} with the idea involved\n{report}")
    assert len(caught) >= CAUGHT_FLOOR * total, report
    assert len(named) >= NAMED_FLOOR * total, f"add the idea of a new mistake to IDEAS, or improve its hint\n{report}"


def test_named_mistakes_stop_at_one_assertion(outcomes):
    """The student's function raises nothing the cell does not turn into a hint."""
    assignment, results = outcomes
    for name, (outcome, message, _) in results.items():
        assert outcome == "failed" and message, f"{name}: {outcome}: {message}"


def test_structural_mistakes_are_caught():
    lines, rates = [], []
    for assignment in ASSIGNMENTS:
        results = {name: run_visible_tests(assignment, function)
                   for name, (function, _) in STRUCTURAL_MISTAKES[assignment].items()}
        missed = [name for name, (outcome, _, _) in results.items() if outcome == "passed"]
        rates.append(1 - len(missed) / len(results))
        lines.append(f"{assignment}: {len(results) - len(missed)}/{len(results)} caught, missed {missed}")
    print("\n".join(lines))
    assert min(rates) >= STRUCTURAL_CAUGHT_FLOOR, "\n".join(lines)


def test_no_message_shows_the_solution(outcomes):
    assignment, results = outcomes
    messages = [message for _, message, _ in results.values()]
    messages.append(run_visible_tests(assignment, in_place(assignment))[1])
    # Every string the cell can show, whether or not a mistake above reached it.
    tree = ast.parse(visible_cell(assignment).source)
    messages += [node.value for node in ast.walk(tree)
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    for message in messages:
        assert not FORMULA.search(message), f"{message!r} shows {FORMULA.search(message).group()!r}"
