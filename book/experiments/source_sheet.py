"""The hand-typed cheat sheet of the book's sources, transcribed as data to check it.

The sources (the notes the book grew from) end with a table of optimizers: a family, a
formula, a citation per row. Each row is kept here as a `SheetRow`: which
`book.optim` factory (and options) implements it, the citation as the sheet gives it,
and, where transcribed, its formula as NumPy (`sheet_rule`), so that
`book.experiments.cheatsheet` can *measure* whether the sheet's rule is the verified one. The
words that explain a difference (`SheetRow.differences`) are typed; whether there is
a difference is computed (`formula_gap`) and tests/test_cheatsheet.py checks that the
two agree.

The sheet writes ``w_{t+1} = w_t + v_t``; its ``s`` is torch's second moment (``v``),
and ``beta_2`` stands for every decay of a squared gradient (RMSProp's ``alpha``,
AdaDelta's ``rho``). Its hyperparameters carry no values, so a transcribed rule runs
with the factory's defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from book import optim
from book.optim._orthogonal import newton_schulz


class SheetRow(NamedTuple):
    """One row of the sources' sheet.

    Attributes:
        name: the row's name in the sheet (``"AMSGrad"``).
        family: the sheet's family (``"C. Adam Family"``).
        factory: the `book.optim` factory that implements the row (present or not yet).
        options: the factory's options that make it this row (``{"amsgrad": True}``).
        cited: the sheet's citation, the authors as it names them (``"Kingma & Ba"``).
        year: the year the sheet gives.
        differences: what the sheet's formula says that the verified rule does not,
            in words, one sentence each; empty where the rules agree.
        arxiv: the arXiv identifier the sheet's link gives (``"2502.06615"``), where it
            is transcribed; `book.experiments.cheatsheet.citation_difference` compares it with the
            paper's in references.bib.
    """

    name: str
    family: str
    factory: str
    options: dict
    cited: str
    year: int
    differences: tuple[str, ...] = ()
    arxiv: str = ""


ROWS = (
    SheetRow("SGD", "A. Baselines", "sgd", {}, "Nesterov (textbook)", 2004),
    SheetRow("SGD + Momentum", "A. Baselines", "sgd", {"momentum": 0.9}, "Polyak", 1964),
    SheetRow("Nesterov (NAG)", "A. Baselines", "sgd", {"momentum": 0.9, "nesterov": True},
             "Nesterov", 1983, (
                 "The sheet takes the gradient at the look-ahead point "
                 r"$w_t + \beta_1 v_{t-1}$ (Sutskever et al.'s form); torch's rule evaluates "
                 "it at the current parameters, which are the sheet's look-ahead points: "
                 "the same method in shifted coordinates.",)),
    SheetRow("AdaGrad", "B. Adaptive (diagonal)", "adagrad", {}, "Duchi, Hazan, Singer", 2011),
    SheetRow("RMSProp", "B. Adaptive (diagonal)", "rmsprop", {}, "Hinton, Tieleman", 2012),
    SheetRow("AdaDelta", "B. Adaptive (diagonal)", "adadelta", {}, "Zeiler", 2012),
    SheetRow("Adam", "C. Adam Family", "adam", {}, "Kingma & Ba", 2014),
    SheetRow("AdamW", "C. Adam Family", "adamw", {}, "Loshchilov & Hutter", 2017),
    SheetRow("AMSGrad", "C. Adam Family", "adam", {"amsgrad": True},
             "Reddi, Kale, Kumar", 2018, (
                 r"The sheet divides by $\sqrt{\bar s_t}$, the running maximum without bias "
                 r"correction; torch divides by $\sqrt{\bar s_t / (1-\beta_2^t)}$, so the "
                 "sheet's first steps are larger by up to "
                 r"$1/\sqrt{1-\beta_2}$.",)),
    SheetRow("AdaMax", "C. Adam Family", "adamax", {}, "Kingma & Ba", 2014, (
        r"The sheet adds $\epsilon$ after the maximum, $u_t + \epsilon$; torch puts it "
        r"inside, $\max(\beta_2 u_{t-1}, \lvert g_t \rvert + \epsilon)$: the two differ once "
        r"a decayed maximum meets gradients near $\epsilon$.",)),
    SheetRow("Nadam", "C. Adam Family", "nadam", {}, "Dozat", 2016, (
        r"The sheet weighs the momentum by a constant $\beta_1$ and corrects it with "
        r"$1-\beta_1^t$; torch follows Dozat's schedule $\mu_t$ (in `nadam`'s rule "
        r"above), whose first values are near $\beta_1 / 2$.",)),
    SheetRow("RAdam", "C. Adam Family", "radam", {}, "Liu et al.", 2019, (
        r"The sheet (like the paper) rectifies once $\rho_t > 4$, torch once "
        r"$\rho_t > 5$; and the sheet adds $\epsilon$ to $\sqrt{\hat s_t}$, torch to "
        r"$\sqrt{s_t}$.",)),
    SheetRow("Yogi", "C. Adam Family", "yogi", {}, "Zaheer et al.", 2018, (
        r"The sheet's $m$ and $s$ start from 0 (its bias corrections assume it); "
        r"book.optim, like the reference, starts both from $10^{-6}$ "
        "(initial_accumulator), which is all that separates the two rules.",)),
    SheetRow("AdaBelief", "C. Adam Family", "adabelief", {}, "Zhuang et al.", 2020, (
        r"The sheet leaves out the $\epsilon$ that the paper adds to $s_t$ at every "
        r"step; with $\epsilon = 10^{-16}$ it matters wherever $(g_t - m_t)^2$ is that "
        "small.",)),
    SheetRow("AdaFactor", "C. Adam Family", "adafactor", {}, "Shazeer & Stern", 2018),
    SheetRow("LARS", "D. Layer-wise Scaling", "lars", {}, "You et al.", 2017, (
        r"The sheet has neither the momentum nor the trust coefficient of the paper's "
        r"algorithm (book.optim's defaults: 0.9 and 0.001), and divides by "
        r"$\lVert g_t + \lambda w_t \rVert$ where the paper divides by "
        r"$\lVert g_t \rVert + \lambda \lVert w_t \rVert$.",)),
    SheetRow("LAMB", "D. Layer-wise Scaling", "lamb", {}, "You et al.", 2019),
    SheetRow("Lion", "E. Sign-based", "lion", {}, "Chen et al.", 2023),
    SheetRow("Adan", "F. Modern Variants", "adan", {}, "Xie et al.", 2022, (
        r"The sheet's moments use decays ($\beta_1$ weighs $m_{t-1}$) but it weighs the "
        r"gradient difference by $1-\beta_2$, the paper's convention in which "
        r"$\beta_2 = 0.08$ is a weight; with decays (0.98, 0.92, 0.99) that weight is "
        r"$\beta_2$. It also has no bias corrections and a first difference "
        r"$d_1 = g_1$ where book.optim's is 0: each of the three changes the steps.",)),
    SheetRow("Sophia", "F. Modern Variants", "sophia", {}, "Liu et al.", 2023),
    SheetRow("Shampoo", "G. Matrix Preconditioning", "shampoo", {}, "Gupta et al.", 2018),
    SheetRow("Muon", "H. Muon Family", "muon", {}, "Jordan et al.", 2024, (
        "The sheet's Muon has neither weight decay nor a Nesterov step; torch.optim.Muon's "
        "defaults, which book.optim keeps, have both (weight_decay 0.1, nesterov=True). "
        "Its momentum sums gradients where torch averages them, which Newton-Schulz's "
        "normalisation makes the same.",)),
    SheetRow("Moonlight", "H. Muon Family", "muon", {"adjust_lr_fn": "match_rms_adamw"},
             "MoonLight Team", 2025),
    SheetRow("NorMuon", "H. Muon Family", "normuon", {}, "Li et al.", 2025),
    # The sheet links arXiv 2502.06615 under another title ("REG: A Simple and Effective
    # Optimizer for Large Model Training"); the paper is arXiv 2510.03691.
    SheetRow("REG", "H. Muon Family", "reg", {}, "Liu et al.", 2025, arxiv="2502.06615"),
    SheetRow("MARS-M", "H. Muon Family", "mars_m", {}, "Liu, Yuan, Gu", 2025),
)


# --- the sheet's formulas, transcribed -----------------------------------------------
# Each takes the gradient function, the start, the number of steps and the factory's
# hyperparameters, and returns the parameters after every step.


def _sgd(grad, w, steps, hp):
    out = []
    for _ in range(steps):
        w = w - hp["lr"] * grad(w)
        out.append(w)
    return out


def _momentum(grad, w, steps, hp):
    m, out = np.zeros_like(w), []
    for _ in range(steps):
        m = hp["momentum"] * m + grad(w)
        w = w - hp["lr"] * m
        out.append(w)
    return out


def nesterov_points(grad, w, steps, hp):
    """The sheet's NAG: (its iterates w_t, its look-ahead points w_t + beta1 v_t)."""
    mu, v = hp["momentum"], np.zeros_like(w)
    iterates, look_ahead = [], []
    for _ in range(steps):
        v = mu * v - hp["lr"] * grad(w + mu * v)
        w = w + v
        iterates.append(w)
        look_ahead.append(w + mu * v)
    return iterates, look_ahead


def _nesterov(grad, w, steps, hp):
    return nesterov_points(grad, w, steps, hp)[0]


def _adagrad(grad, w, steps, hp):
    s, out = np.zeros_like(w), []
    for _ in range(steps):
        g = grad(w)
        s = s + g * g
        w = w - hp["lr"] * g / (np.sqrt(s) + hp["eps"])
        out.append(w)
    return out


def _rmsprop(grad, w, steps, hp):
    beta2, s, out = hp["alpha"], np.zeros_like(w), []
    for _ in range(steps):
        g = grad(w)
        s = beta2 * s + (1 - beta2) * g * g
        w = w - hp["lr"] * g / (np.sqrt(s) + hp["eps"])
        out.append(w)
    return out


def _adadelta(grad, w, steps, hp):
    beta2, eps = hp["rho"], hp["eps"]
    s, u, out = np.zeros_like(w), np.zeros_like(w), []
    for _ in range(steps):
        g = grad(w)
        s = beta2 * s + (1 - beta2) * g * g
        v = -np.sqrt(u + eps) / np.sqrt(s + eps) * g
        u = beta2 * u + (1 - beta2) * v * v
        w = w + v
        out.append(w)
    return out


def _adam_like(step_of):
    """A sheet rule of the Adam family: `step_of(t, g, w, m_hat, s_hat, memory, hp)` gives
    v_t (memory: a dict the rule may keep extra state in)."""

    def rule(grad, w, steps, hp):
        beta1, beta2 = hp["betas"]
        m, s, memory, out = np.zeros_like(w), np.zeros_like(w), {}, []
        for t in range(1, steps + 1):
            g = grad(w)
            m = beta1 * m + (1 - beta1) * g
            s = beta2 * s + (1 - beta2) * g * g
            m_hat, s_hat = m / (1 - beta1**t), s / (1 - beta2**t)
            w = w + step_of(t, g, w, m_hat, s_hat, memory, hp)
            out.append(w)
        return out

    return rule


def _adam_step(t, g, w, m_hat, s_hat, memory, hp):
    return -hp["lr"] * m_hat / (np.sqrt(s_hat) + hp["eps"])


def _adamw_step(t, g, w, m_hat, s_hat, memory, hp):
    return _adam_step(t, g, w, m_hat, s_hat, memory, hp) - hp["lr"] * hp["weight_decay"] * w


def _amsgrad_step(t, g, w, m_hat, s_hat, memory, hp):
    s = s_hat * (1 - hp["betas"][1] ** t)
    memory["s_bar"] = np.maximum(memory.get("s_bar", s), s)
    return -hp["lr"] * m_hat / (np.sqrt(memory["s_bar"]) + hp["eps"])


def _adamax_step(t, g, w, m_hat, s_hat, memory, hp):
    memory["u"] = np.maximum(hp["betas"][1] * memory.get("u", 0.0), np.abs(g))
    return -hp["lr"] * m_hat / (memory["u"] + hp["eps"])


def _nadam_step(t, g, w, m_hat, s_hat, memory, hp):
    beta1 = hp["betas"][0]
    m_tilde = beta1 * m_hat + (1 - beta1) * g / (1 - beta1**t)
    return -hp["lr"] * m_tilde / (np.sqrt(s_hat) + hp["eps"])


def rectified(t, beta2, threshold=4.0):
    """RAdam's (rho_t > threshold, r_t) at step t; the sheet's threshold is 4."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
    if rho_t <= threshold:
        return False, 1.0
    r_t = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
    return True, np.sqrt(r_t)


def _radam_step(t, g, w, m_hat, s_hat, memory, hp):
    on, r_t = rectified(t, hp["betas"][1])
    if on:
        return -hp["lr"] * r_t * m_hat / (np.sqrt(s_hat) + hp["eps"])
    return -hp["lr"] * m_hat


def _yogi_step(t, g, w, m_hat, s_hat, memory, hp):
    beta2 = hp["betas"][1]
    s = memory.get("s", np.zeros_like(g))
    memory["s"] = s = s - (1 - beta2) * np.sign(s - g * g) * g * g
    return -hp["lr"] * m_hat / (np.sqrt(s / (1 - beta2**t)) + hp["eps"])


def _adabelief_step(t, g, w, m_hat, s_hat, memory, hp):
    beta1, beta2 = hp["betas"]
    m = m_hat * (1 - beta1**t)
    s = beta2 * memory.get("s", np.zeros_like(g)) + (1 - beta2) * (g - m) ** 2
    memory["s"] = s
    return -hp["lr"] * m_hat / (np.sqrt(s / (1 - beta2**t)) + hp["eps"])


def _lamb_step(t, g, w, m_hat, s_hat, memory, hp):
    u = m_hat / (np.sqrt(s_hat) + hp["eps"]) + hp["weight_decay"] * w
    q = np.linalg.norm(w) / (np.linalg.norm(u) + hp["eps"])
    return -hp["lr"] * q * u


def _lion(grad, w, steps, hp):
    beta1, beta2 = hp["betas"]
    m, out = np.zeros_like(w), []
    for _ in range(steps):
        g = grad(w)
        w = w - hp["lr"] * np.sign(beta1 * m + (1 - beta1) * g)
        m = beta2 * m + (1 - beta2) * g
        out.append(w)
    return out


def _lars(grad, w, steps, hp):
    decay, out = hp["weight_decay"], []
    for _ in range(steps):
        d = grad(w) + decay * w
        w = w - hp["lr"] * np.linalg.norm(w) / (np.linalg.norm(d) + 1e-8) * d
        out.append(w)
    return out


def _adan(grad, w, steps, hp):
    """The sheet's Adan, with g_0 = 0 (it leaves d_1 open) and the betas as given."""
    beta1, beta2, beta3 = hp["betas"]
    m, u, n, previous = (np.zeros_like(w) for _ in range(4))
    out = []
    for _ in range(steps):
        g = grad(w)
        d = g - previous
        m = beta1 * m + (1 - beta1) * g
        u = beta2 * u + (1 - beta2) * d
        n = beta3 * n + (1 - beta3) * (g + (1 - beta2) * d) ** 2
        p = m + (1 - beta2) * u
        w = w - hp["lr"] * p / (np.sqrt(n) + hp["eps"]) - hp["lr"] * hp["weight_decay"] * w
        previous = g
        out.append(w)
    return out


def _muon(grad, w, steps, hp):
    """The sheet's Muon, with book.optim's Newton-Schulz iteration (the sheet names
    NS_5 without its coefficients)."""
    m, out = np.zeros_like(w), []
    for _ in range(steps):
        m = hp["momentum"] * m + grad(w)
        w = w - hp["lr"] * newton_schulz(m, hp["ns_coefficients"], hp["ns_steps"], hp["eps"])
        out.append(w)
    return out


RULES: dict[str, Callable] = {
    "SGD": _sgd,
    "SGD + Momentum": _momentum,
    "Nesterov (NAG)": _nesterov,
    "AdaGrad": _adagrad,
    "RMSProp": _rmsprop,
    "AdaDelta": _adadelta,
    "Adam": _adam_like(_adam_step),
    "AdamW": _adam_like(_adamw_step),
    "AMSGrad": _adam_like(_amsgrad_step),
    "AdaMax": _adam_like(_adamax_step),
    "Nadam": _adam_like(_nadam_step),
    "RAdam": _adam_like(_radam_step),
    "Yogi": _adam_like(_yogi_step),
    "AdaBelief": _adam_like(_adabelief_step),
    "LARS": _lars,
    "LAMB": _adam_like(_lamb_step),
    "Lion": _lion,
    "Adan": _adan,
    "Muon": _muon,
}

# The problem both rules run on: a diagonal quadratic whose gradients span 1e-8 (below
# every default eps) to 1e2, from a start of ones, over STEPS steps. One row of a
# matrix, so that the layer-wise rules (LARS) treat it as a weight matrix.
CURVATURES = np.array([[1e-8, 1e-4, 1e-2, 1.0, 1e2]])
STEPS = 200
# Relative gaps below this are rounding: the same rule, computed in another order.
SAME_RULE = 1e-12


def quadratic_gradient(w):
    return CURVATURES * w


def hyperparameters(row: SheetRow) -> dict:
    """The factory's defaults with the row's options: what both rules run with."""
    factory = getattr(optim, row.factory)
    defaults = {name: p.default for name, p in inspect.signature(factory).parameters.items()}
    return {**defaults, **row.options}


def book_run(row: SheetRow, steps: int = STEPS) -> list[np.ndarray]:
    """book.optim's parameters after every step of the row's configuration."""
    opt = getattr(optim, row.factory)(**row.options)
    w = np.ones_like(CURVATURES)
    state, out = opt.init(w), []
    for _ in range(steps):
        w, state = opt.step(w, quadratic_gradient(w), state)
        out.append(w)
    return out


def relative_gap(path, reference) -> float:
    """The largest |a - b| / |b| over steps and coordinates (b never 0 here)."""
    return max(float(np.max(np.abs(a - b) / np.abs(b))) for a, b in zip(path, reference))


def formula_gap(row: SheetRow) -> float | None:
    """How far the sheet's rule runs from book.optim's on the quadratic: the largest
    relative difference of the parameters over STEPS steps; None when the sheet's
    formula is not transcribed or the factory is not in book.optim."""
    if row.name not in RULES or not hasattr(optim, row.factory):
        return None
    sheet = RULES[row.name](quadratic_gradient, np.ones_like(CURVATURES), STEPS,
                            hyperparameters(row))
    return relative_gap(sheet, book_run(row))


def nesterov_look_ahead_gap() -> float:
    """The sheet's NAG against ``optim.sgd(nesterov=True)`` compared where the two rules
    are the same: torch's parameters against the sheet's look-ahead points."""
    row = next(row for row in ROWS if row.name == "Nesterov (NAG)")
    _, look_ahead = nesterov_points(quadratic_gradient, np.ones_like(CURVATURES), STEPS,
                                    hyperparameters(row))
    return relative_gap(look_ahead, book_run(row))
