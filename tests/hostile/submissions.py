"""Builders of submitted notebooks for the grading tests: the released notebook with a
given answer, written in nbgrader's ``submitted/<student>/<assignment>/`` layout."""

from __future__ import annotations

import copy
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
HEADERS = {
    "adam": "def adam_update(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):\n",
    "adamax": "def adamax_update(theta, grad, m, u, t, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8):\n",
}
BODIES = {
    "adam": (HERE / "correct_body.cell").read_text(),
    "adamax": ("    m = beta1 * m + (1 - beta1) * grad\n"
               "    u = np.maximum(beta2 * u, np.abs(grad) + eps)\n"
               "    return theta - lr / (1 - beta1**t) * m / u, m, u\n"),
}


def correct_answer(assignment: str) -> str:
    return HEADERS[assignment] + BODIES[assignment]


def mutant_answer(assignment: str) -> str:
    """A classic mistake: eps inside the square root (Adam) or no bias correction (AdaMax)."""
    if assignment == "adam":
        return correct_answer("adam").replace("np.sqrt(v_hat) + eps", "np.sqrt(v_hat + eps)")
    return correct_answer("adamax").replace("lr / (1 - beta1**t)", "lr")


def hostile_answer(name: str, **paths) -> str:
    text = (HERE / f"{name}.cell").read_text()
    for key, value in paths.items():
        text = text.replace("{" + key.upper() + "}", str(value))
    return text


def released(assignment: str) -> dict:
    return json.loads((REPO / "exercises" / assignment / f"{assignment}.ipynb").read_text())


def notebook_with(assignment: str, answer: str, extra_cells=()) -> dict:
    """The released notebook with ``answer`` in the answer cell and ``extra_cells``
    (student code cells, without nbgrader metadata) right after it."""
    notebook = copy.deepcopy(released(assignment))
    cells = []
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == f"{assignment}_update":
            cell["source"] = answer
            cells.append(cell)
            cells += [{"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
                       "execution_count": None} for source in extra_cells]
        else:
            cells.append(cell)
    notebook["cells"] = cells
    return notebook


def write_submission(root: Path, student: str, assignment: str, notebook) -> Path:
    """``root/<student>/<assignment>/<assignment>.ipynb`` (``notebook``: dict, or raw text)."""
    path = root / student / assignment / f"{assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook))
    return path
