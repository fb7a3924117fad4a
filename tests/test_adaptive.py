"""Tests of book.experiments.adaptive: the drivers and the Adam/AdaMax conventions of Part II."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from book import landscapes, optim, runner
from book.experiments import adaptive

BETAS = (0.9, 0.999)


def stream(seed, steps=60, width=4, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal((steps, width))


def adam_updates(grads, **hyper):
    return adaptive.updates(adaptive.replay(optim.adam(**hyper), grads).params)


# --- replay and updates ------------------------------------------------------------


def test_replay_matches_a_hand_loop():
    grads = stream(0, steps=20)
    opt = optim.adam(lr=0.01)
    record = adaptive.replay(opt, grads, x0=np.ones(4))
    x, state = np.ones(4), opt.init(np.ones(4))
    for k, g in enumerate(grads):
        x, state = opt.step(x, g, state)
        np.testing.assert_array_equal(record.params[k + 1], x)
        np.testing.assert_array_equal(record.buffers["exp_avg_sq"][k], state.exp_avg_sq)
    assert record.params.shape == (21, 4)
    assert set(record.buffers) == {"exp_avg", "exp_avg_sq"}  # amsgrad's buffer is None
    np.testing.assert_array_equal(adaptive.updates(record.params), np.diff(record.params, axis=0))


@pytest.mark.parametrize(
    "grads, x0, message",
    [(np.zeros((0, 3)), None, "T >= 1"), (np.float64(1.0), None, "T >= 1"), (np.zeros((5, 3)), np.zeros(2), "x0 has shape")],
)
def test_replay_rejects_bad_shapes(grads, x0, message):
    with pytest.raises(ValueError, match=message):
        adaptive.replay(optim.adam(), grads, x0)


# --- learning-rate races -----------------------------------------------------------


def test_lr_race_equals_separate_runs():
    bowl = landscapes.quadratic(kappa=30, angle=0.4)
    lrs = np.array([0.01, 0.05, 0.2, 3.0])  # the last one diverges
    race = adaptive.lr_race(lambda lr: optim.adagrad(lr=lr), bowl, lrs, 300)
    for k, lr in enumerate(lrs):
        alone = runner.trajectory(optim.adagrad(lr=float(lr)), bowl, bowl.default_start, 300)
        np.testing.assert_allclose(race.path[:, k], alone.path, rtol=1e-12, atol=0)
    counts = race.steps_to(1e-6)
    assert counts.shape == (4,)
    lr, steps = adaptive.fastest(lrs, counts)
    assert steps == counts[counts >= 0].min() and lr == lrs[np.argmin(np.where(counts >= 0, counts, 10**9))]
    assert adaptive.best_learning_rate(lambda lr: optim.adagrad(lr=lr), bowl, lrs, 300, 1e-6) == (lr, steps)


def test_fastest_when_nothing_arrives():
    lr, steps = adaptive.fastest([0.1, 0.2], [-1, -1])
    assert np.isnan(lr) and steps == -1


@pytest.mark.parametrize("lrs", [[], [0.1, -0.1], [[0.1]], [0.0]])
def test_lr_race_rejects_bad_learning_rates(lrs):
    with pytest.raises(ValueError, match="lrs must be"):
        adaptive.lr_race(lambda lr: optim.sgd(lr=lr), landscapes.beale(), lrs, 10)


# --- Adam conventions --------------------------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 1e-9, 1e4])
def test_eps_hat_form_equals_torch_form_with_rescaled_eps(scale):
    grads = stream(1, scale=scale)
    t = np.arange(1, len(grads) + 1)[:, None]
    reference = adam_updates(grads, lr=1e-3)
    rescaled = adaptive.adam_eps_hat(grads, lr=1e-3, betas=BETAS, eps_hat=1e-8 * np.sqrt(1 - BETAS[1] ** t))
    np.testing.assert_allclose(rescaled, reference, rtol=1e-9)


def test_eps_hat_form_with_constant_eps_differs_on_tiny_gradients():
    grads = stream(2, scale=1e-9)
    difference = np.abs(adaptive.adam_eps_hat(grads, eps_hat=1e-8) - adam_updates(grads)) / np.abs(adam_updates(grads))
    assert difference.max() > 0.5


@pytest.mark.parametrize("scale", [1.0, 1e-9])
def test_optax_form_with_zero_eps_root_equals_torch_form(scale):
    grads = stream(3, scale=scale)
    np.testing.assert_allclose(adaptive.adam_optax(grads, learning_rate=0.01), adam_updates(grads, lr=0.01), rtol=1e-9)


def test_optax_eps_root_changes_the_steps_on_tiny_gradients():
    grads = stream(3, scale=1e-9)
    with_root = adaptive.adam_optax(grads, learning_rate=0.01, eps_root=1e-8)
    assert np.max(np.abs(with_root / adam_updates(grads, lr=0.01) - 1)) > 0.5


# --- AdaMax conventions ------------------------------------------------------------


def test_paper_adamax_equals_torch_adamax_without_eps():
    grads = stream(4)
    torch_form = adaptive.updates(adaptive.replay(optim.adamax(eps=0.0), grads).params)
    np.testing.assert_allclose(adaptive.adamax_paper(grads), torch_form, rtol=1e-12)


def test_paper_adamax_gives_nan_on_leading_zeros_and_torch_does_not():
    grads = np.vstack([np.zeros((3, 2)), stream(5, steps=10, width=2)])
    paper = adaptive.adamax_paper(grads)
    assert np.isnan(paper[:3]).all() and np.isfinite(paper[3:]).all()
    torch_form = adaptive.updates(adaptive.replay(optim.adamax(), grads).params)
    assert np.isfinite(torch_form).all() and (torch_form[:3] == 0).all()


def test_lp_moment_at_p2_is_adams_root_second_moment():
    grads, beta2 = stream(6), 0.99
    v = adaptive.replay(optim.adam(betas=(0.9, beta2**2)), grads).buffers["exp_avg_sq"]
    np.testing.assert_allclose(adaptive.lp_moment(grads, beta2, 2), np.sqrt(v), rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), p=st.sampled_from([1, 3, 16, 200, 5000]), beta2=st.floats(0.5, 0.9999))
def test_lp_moment_is_sandwiched_around_the_max_recursion(seed, p, beta2):
    grads = stream(seed, steps=40, width=3)
    u = adaptive.replay(optim.adamax(eps=0.0, betas=(0.9, beta2)), grads).buffers["exp_inf"]
    lp = adaptive.lp_moment(grads, beta2, p)
    t = np.arange(1, 41)[:, None]
    factor = (1 - beta2**p) ** (1.0 / p)
    assert np.all(lp >= factor * u * (1 - 1e-12))
    assert np.all(lp <= factor * u * t ** (1.0 / p) * (1 + 1e-12))


def test_lp_moment_tends_to_the_max_recursion():
    grads = stream(7)
    u = adaptive.replay(optim.adamax(eps=0.0), grads).buffers["exp_inf"]
    gaps = [np.max(np.abs(adaptive.lp_moment(grads, 0.999, p) - u) / u) for p in (4, 64, 1024)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-2


def test_lp_moment_rejects_p_below_one():
    with pytest.raises(ValueError, match="p must be >= 1"):
        adaptive.lp_moment(stream(8), 0.999, 0.5)


# --- text helpers ------------------------------------------------------------------


def test_count_label_and_markdown_table():
    assert adaptive.count_label(12, 100) == "12"
    assert adaptive.count_label(-1, 100) == "more than 100"
    table = adaptive.markdown_table(["a", "b"], [["x", 0.123456], [3, 2.0]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x | 0.123 |", "| 3 | 2 |"]


def test_markdown_table_escapes_a_pipe_inside_a_cell():
    from markdown_it import MarkdownIt

    table = adaptive.markdown_table(["stream", "largest |step| / lr"], [["a|b", 1.0]])
    html = MarkdownIt("commonmark").enable("table").render(table)
    assert html.count("<th>") == 2 and html.count("<td>") == 2
    assert "<th>largest |step| / lr</th>" in html and "<td>a|b</td>" in html


# --- quoted step-count claims ------------------------------------------------------


def test_check_step_claim_reads_counts_and_verdict_off_the_races():
    bowl = landscapes.quadratic(kappa=10)
    methods = {"gd": lambda lr: optim.sgd(lr=lr), "adagrad": lambda lr: optim.adagrad(lr=lr)}
    shared, grid, tols = [0.02, 0.1], [0.01, 0.05, 0.15], (1e-3, 1e-6)
    gd_counts = {tol: adaptive.lr_race(methods["gd"], bowl, shared, 2000).steps_to(tol) for tol in tols}
    # Quote exactly what gradient descent does at lr 0.1 and tol 1e-3, and an AdaGrad
    # count far from anything it does: a match for one method only.
    quoted = {"gd": int(gd_counts[1e-3][1]), "adagrad": 10**6}
    claim = adaptive.check_step_claim(quoted, methods, bowl, shared, grid, 2000, tols)
    for tol in tols:
        np.testing.assert_array_equal(claim.counts["gd", tol], gd_counts[tol])
        grid_counts = adaptive.lr_race(methods["adagrad"], bowl, grid, 2000).steps_to(tol)
        assert claim.best["adagrad", tol] == adaptive.fastest(grid, grid_counts)
    assert (0.1, 1e-3) in claim.matches["gd"] and claim.matches["adagrad"] == []
    assert not claim.reproduced
    quoted["adagrad"] = int(claim.counts["adagrad", 1e-3][1])
    assert quoted["adagrad"] > 0
    assert adaptive.check_step_claim(quoted, methods, bowl, shared, grid, 2000, tols).reproduced


def test_check_step_claim_rejects_mismatched_methods():
    with pytest.raises(ValueError, match="same methods"):
        adaptive.check_step_claim({"a": 10}, {"b": optim.sgd}, landscapes.beale(), [0.1], [0.1], 10, (1e-3,))
