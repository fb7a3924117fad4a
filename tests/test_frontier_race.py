"""Tests of book.experiments.frontier_race: the matrices/rest combinator, state sizes, the evaluated
race on landscapes, the cached network race and the verdict helpers."""

import numpy as np
import pytest

from book import cache, landscapes, network, optim, race, training
from book.experiments import frontier_race


def _params():
    return network.init((5, 4, 3), 0)


def _grads(seed):
    rng = np.random.default_rng(seed)
    return {key: rng.normal(size=value.shape) for key, value in _params().items()}


def test_split_gives_matrices_to_one_optimizer_and_the_rest_to_the_other():
    params = _params()
    muon, adamw = optim.muon(lr=0.02, weight_decay=0.0), optim.adamw(lr=1e-3)
    split = frontier_race.matrices_and_rest(muon, adamw)
    matrices = {key: params[key] for key in ("W1", "W2")}
    rest = {key: params[key] for key in ("b1", "b2")}
    state, muon_state, adamw_state = split.init(params), muon.init(matrices), adamw.init(rest)
    for t in range(5):
        grads = _grads(t)
        params, state = split.step(params, grads, state)
        matrices, muon_state = muon.step(matrices, {k: grads[k] for k in matrices}, muon_state)
        rest, adamw_state = adamw.step(rest, {k: grads[k] for k in rest}, adamw_state)
    assert list(params) == list(_params())  # the keys keep their order
    for key in matrices:
        np.testing.assert_array_equal(params[key], matrices[key])
    for key in rest:
        np.testing.assert_array_equal(params[key], rest[key])


def test_split_rule_and_errors():
    params = _params()
    assert [key for key, value in params.items() if frontier_race.is_weight_matrix(key, value)] == ["W1", "W2"]
    split = frontier_race.matrices_and_rest(optim.sgd(lr=1.0), optim.sgd(lr=0.0), is_matrix=lambda key, p: key == "b1")
    new, _ = split.step(params, _grads(0), split.init(params))
    assert not np.array_equal(new["b1"], params["b1"])
    for key in ("W1", "W2", "b2"):
        np.testing.assert_array_equal(new[key], params[key])
    # Every array on one side: the other optimizer has no state and no work.
    only = frontier_race.matrices_and_rest(optim.sgd(lr=0.1), optim.adam(), is_matrix=lambda key, p: True)
    assert only.init(params).rest is None
    with pytest.raises(TypeError, match="book.optim optimizers"):
        frontier_race.matrices_and_rest(optim.sgd(lr=0.1), "adam")
    with pytest.raises(TypeError, match="dict of arrays"):
        split.init(params["W1"])
    with pytest.raises(TypeError, match="SplitState"):
        split.step(params, _grads(0), optim.sgd(lr=0.1).init(params))


def test_state_size_counts_buffers():
    params = _params()
    n = sum(value.size for value in params.values())
    assert optim.state_size(optim.adam(), params) == 2 * n
    assert optim.state_size(optim.lion(), params) == n
    assert optim.state_size(optim.sgd(lr=0.1), params) == 0
    assert optim.state_size(optim.sgd(lr=0.1, momentum=0.9), params) == n
    split = frontier_race.matrices_and_rest(optim.lion(), optim.adam())
    matrices = params["W1"].size + params["W2"].size
    assert optim.state_size(split, params) == matrices + 2 * (n - matrices)


def test_gap_curves_batched_equal_separate_runs_and_race_tune():
    bowl = landscapes.quadratic(kappa=10, angle=np.radians(30))
    lrs = np.array([0.01, 0.05, 0.15, 0.3])
    make = lambda lr: optim.adam(lr=lr)
    batched = frontier_race.gap_curves(make, bowl, lrs, 200)
    separate = frontier_race.gap_curves(make, bowl, lrs, 200, batched=False)
    np.testing.assert_allclose(batched, separate, rtol=1e-12, atol=1e-300)
    ours = frontier_race.tuned(lrs, batched, 1e-6)
    theirs = race.tune(bowl, lrs, 200, 1e-6, contestants={"Adam": make})["Adam"]
    np.testing.assert_array_equal(ours.counts, theirs.counts)
    assert (ours.best_lr, ours.best_count, ours.median_count) == (theirs.best_lr, theirs.best_count, theirs.median_count)


def test_gap_curves_score_the_evaluated_point():
    bowl = landscapes.quadratic(kappa=10)
    make = lambda lr: optim.schedule_free_adamw(lr=lr)
    gaps = frontier_race.gap_curves(make, bowl, np.array([0.1]), 20)
    opt = make(0.1)
    x = np.array(bowl.default_start, dtype=float)
    state = opt.init(x)
    for _ in range(20):
        x, state = opt.step(x, bowl.grad(x), state)
    expected = bowl.value(optim.eval_params(opt, x, state)) - bowl.min_value
    assert gaps[-1, 0] == pytest.approx(expected, rel=1e-12)
    assert gaps[-1, 0] != pytest.approx(bowl.value(x) - bowl.min_value, rel=1e-6)  # y is not x


def test_gap_curves_feed_sophia_hutchinson_estimates():
    kron = landscapes.kronecker_quadratic(3, 4, kappa_rows=4, kappa_cols=4)
    make = lambda lr: optim.sophia(lr=lr, update_period=3)
    gaps = frontier_race.gap_curves(make, kron, np.array([0.5]), 7, batched=False, seed=5)
    opt, w = make(0.5), kron.default_start.copy()
    state = opt.init(w)
    for t in range(7):
        extra = {"hessian": optim.hutchinson(lambda v: kron.hvp(w, v), w, seed=[5, t])} if t % 3 == 0 else {}
        w, state = opt.step(w, kron.grad(w), state, **extra)
    assert gaps[-1, 0] == pytest.approx(kron.value(w) - kron.min_value, rel=1e-12)


def test_gap_curves_mark_divergence_and_check_arguments():
    bowl = landscapes.quadratic(kappa=10)
    gaps = frontier_race.gap_curves(lambda lr: optim.sgd(lr=lr), bowl, np.array([0.1, 1e3]), 50)
    assert np.isfinite(gaps[:, 0]).all() and np.isinf(gaps[-1, 1])
    result = frontier_race.tuned(np.array([0.1, 1e3]), gaps, 1e-3)
    assert result.counts[1] == -1 and result.best_lr == 0.1
    with pytest.raises(ValueError, match="lrs must be"):
        frontier_race.gap_curves(lambda lr: optim.sgd(lr=lr), bowl, np.array([0.1, -1.0]), 5)
    with pytest.raises(ValueError, match="tol must be positive"):
        frontier_race.tuned(np.array([0.1, 1e3]), gaps, 0.0)


def test_network_race_matches_training_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path))
    lrs, seeds = [1e-2, 3e-2], [0, 1]
    options = dict(seeds=seeds, steps=6, batch_size=16, record_every=3)
    split = lambda lr: frontier_race.matrices_and_rest(optim.muon(lr=lr, weight_decay=0.0), optim.adamw(lr=lr))
    result = frontier_race.network_race({"Adam": lambda lr: optim.adam(lr=lr)}, {"Muon": split}, lrs, **options)
    adam = training.train(lambda lr: optim.adam(lr=lr), np.array([lrs]), seed=seeds, steps=6, batch_size=16, record_every=3)
    np.testing.assert_array_equal(result["Adam"]["batch_loss"], adam.batch_loss)
    np.testing.assert_array_equal(result["Adam"]["recorded"], adam.recorded)
    for k, lr in enumerate(lrs):
        for s, seed in enumerate(seeds):
            one = training.train(split, lr, seed=seed, steps=6, batch_size=16, record_every=3)
            np.testing.assert_array_equal(result["Muon"]["batch_loss"][:, k, s], one.batch_loss)
            np.testing.assert_array_equal(result["Muon"]["test_accuracy"][:, k, s], one.test_accuracy)
    assert len(list(tmp_path.glob("frontier-network-race-*.npz"))) == 1
    # A second call reads the file: with training unable to run, it still answers.
    monkeypatch.setattr(training, "train", None)
    again = frontier_race.network_race({"Adam": lambda lr: optim.adam(lr=lr)}, {"Muon": split}, lrs, **options)
    np.testing.assert_array_equal(again["Muon"]["batch_loss"], result["Muon"]["batch_loss"])
    assert cache.directory() == tmp_path


def test_speedup_and_verdicts():
    assert frontier_race.speedup(50, 100) == 2.0
    assert frontier_race.speedup(100, 50) == 0.5
    assert frontier_race.speedup(50, -1) == np.inf
    assert frontier_race.speedup(-1, 50) == 0.0
    assert np.isnan(frontier_race.speedup(-1, -1))
    assert frontier_race.claim_verdict(True) == race.verdict(True) == "reproduced"
    assert frontier_race.claim_verdict(False) == "not reproduced"
    assert frontier_race.claim_verdict(None) == frontier_race.UNDECIDED


def test_contestants_take_only_a_learning_rate():
    for name, make in {**frontier_race.ELEMENTWISE, **frontier_race.WHOLE_ARRAY}.items():
        opt = make(0.01)
        inner = opt.hyperparams.get("optimizer", opt)
        assert inner.hyperparams["lr"] == 0.01, name
        assert inner.hyperparams.get("weight_decay", 0.0) == 0.0, name


def test_gap_curves_take_a_dict_of_matrices():
    factorisation = landscapes.matrix_factorization(4, 3, rank=2, kappa=10)
    lrs = np.array([0.01, 0.1])
    make = lambda lr: optim.adam(lr=lr)
    batched = frontier_race.gap_curves(make, factorisation, lrs, 30)
    separate = frontier_race.gap_curves(make, factorisation, lrs, 30, batched=False)
    np.testing.assert_allclose(batched, separate, rtol=1e-12)
    assert batched[0, 0] == pytest.approx(factorisation.value(factorisation.default_start) - factorisation.min_value)
    assert batched[-1, 1] < batched[0, 1]
