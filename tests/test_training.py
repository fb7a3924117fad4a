"""book.training and book.cache: minibatch training that reproduces, the options of
train, the arrival rule, and a cache that recomputes whenever its result could change."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest

from book import cache, data, network, optim, race, training

SPLIT = data.digits()
SMALL = dict(steps=40, batch_size=16, sizes=(64, 16, 10), split=SPLIT)


def adam(lr):
    return optim.adam(lr=lr)


def test_training_reduces_the_loss_and_learns_the_digits():
    history = training.train(lambda lr: optim.sgd(lr=lr, momentum=0.9), 0.05, steps=300, batch_size=64, seed=0, split=SPLIT)
    initial = network.loss(network.init((64, 64, 10), 0), SPLIT.X_train, SPLIT.y_train)
    assert history.train_loss[0] == initial
    assert history.train_loss[-1] < initial / 20
    assert history.test_accuracy[-1] > 0.9  # chance is 0.1
    np.testing.assert_array_equal(history.train_loss[-1], network.loss(history.params, SPLIT.X_train, SPLIT.y_train))


def test_seeds_reproduce_exactly_and_differ_from_each_other():
    a = training.train(adam, 1e-2, seed=3, **SMALL)
    b = training.train(adam, 1e-2, seed=3, **SMALL)
    c = training.train(adam, 1e-2, seed=4, **SMALL)
    for x, y in zip(a.to_arrays().values(), b.to_arrays().values()):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.batch_loss, c.batch_loss)


def test_batched_runs_equal_single_runs():
    grid = np.array([[1e-3, 1e-2]])
    batched = training.train(adam, grid, seed=[5, 6, 7], **SMALL)
    assert batched.test_accuracy.shape == (5, 2, 3)
    assert batched.params["W1"].shape == (2, 3, 64, 16)
    for i, lr in enumerate(grid[0]):
        for j, seed in enumerate([5, 6, 7]):
            single = training.train(adam, lr, seed=seed, **SMALL)
            np.testing.assert_allclose(batched.batch_loss[:, i, j], single.batch_loss, rtol=1e-10)
            np.testing.assert_allclose(batched.params["W2"][i, j], single.params["W2"], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(batched.grad_norm["b1"][:, i, j], single.grad_norm["b1"], rtol=1e-9)


def manual_run(schedule, seed, l2=0.0, steps=SMALL["steps"], batch_size=SMALL["batch_size"]):
    """A plain loop: a new Adam per step, its state carried over."""
    params = network.init(SMALL["sizes"], seed)
    batches = training._minibatches(seed, len(SPLIT.y_train), steps + 1, batch_size)
    state = None
    for t in range(steps):
        _, grads = network.loss_and_grads(params, SPLIT.X_train[batches[t]], SPLIT.y_train[batches[t]])
        grads = {key: g + l2 * params[key] for key, g in grads.items()}
        opt = optim.adam(lr=schedule[t])
        state = opt.init(params) if state is None else state
        params, state = opt.step(params, grads, state)
    return params


def test_a_schedule_makes_new_optimizers_that_keep_the_state():
    schedule = np.geomspace(1e-2, 1e-4, SMALL["steps"])
    history = training.train(adam, schedule, seed=1, **SMALL)
    expected = manual_run(schedule, 1)
    for key in expected:
        np.testing.assert_allclose(history.params[key], expected[key], rtol=1e-12, atol=1e-15)
    # a constant schedule is the constant learning rate
    constant = training.train(adam, np.full(SMALL["steps"], 1e-3), seed=1, **SMALL)
    np.testing.assert_array_equal(constant.params["W1"], training.train(adam, 1e-3, seed=1, **SMALL).params["W1"])


def test_schedules_per_grid_point():
    schedules = np.stack([np.full(SMALL["steps"], 1e-3), np.geomspace(1e-2, 1e-4, SMALL["steps"])], axis=1)
    history = training.train(adam, schedules, seed=[2], **SMALL)
    expected = manual_run(schedules[:, 1], 2)
    np.testing.assert_allclose(history.params["W2"][1, 0], expected["W2"], rtol=1e-10, atol=1e-13)


def test_l2_in_the_loss_is_torchs_coupled_weight_decay_and_not_adamw():
    coupled = training.train(lambda lr: optim.adam(lr=lr, weight_decay=0.1), 1e-2, seed=0, **SMALL)
    in_loss = training.train(adam, 1e-2, seed=0, l2=0.1, **SMALL)
    decoupled = training.train(lambda lr: optim.adamw(lr=lr, weight_decay=10.0), 1e-2, seed=0, **SMALL)
    np.testing.assert_allclose(in_loss.params["W1"], coupled.params["W1"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(in_loss.params["W1"], manual_run(np.full(40, 1e-2), 0, l2=0.1)["W1"], rtol=1e-12, atol=1e-15)
    assert not np.allclose(in_loss.params["W1"], decoupled.params["W1"])
    # the recorded gradient norm includes the L2 term
    plain = training.train(adam, 1e-2, seed=0, **SMALL)
    assert in_loss.grad_norm["W1"][0] > plain.grad_norm["W1"][0]


def test_grad_transform_changes_what_the_optimizer_sees_not_what_is_recorded():
    seen = []

    def zero(grads):
        seen.append(sorted(grads))
        return {key: np.zeros_like(g) for key, g in grads.items()}

    history = training.train(lambda lr: optim.sgd(lr=lr), 0.1, seed=0, grad_transform=zero, **SMALL)
    start = network.init(SMALL["sizes"], 0)
    assert all(np.array_equal(history.params[key], start[key]) for key in start)
    assert seen[0] == ["W1", "W2", "b1", "b2"] and len(seen) == SMALL["steps"] + 1
    assert (history.grad_norm["W1"] > 0).all() and (history.update_ratio["W1"] == 0).all()


def test_records_every_k_steps_and_the_update_ratio_of_sgd():
    history = training.train(lambda lr: optim.sgd(lr=lr), 0.1, seed=0, record_every=15, **SMALL)
    np.testing.assert_array_equal(history.recorded, [0, 15, 30, 40])
    assert history.test_loss.shape == history.test_accuracy.shape == (4,)
    assert history.batch_loss.shape == (40,)
    start = network.init(SMALL["sizes"], 0)
    # plain SGD moves each array by lr * its gradient
    for key in ("W1", "W2"):
        np.testing.assert_allclose(history.update_ratio[key][0] * np.linalg.norm(start[key]),
                                   0.1 * history.grad_norm[key][0], rtol=1e-12)
    # a zero bias gives an infinite ratio, recorded as such rather than hidden
    assert np.isinf(history.update_ratio["b1"][0])


def test_a_diverging_run_is_recorded_without_warnings(recwarn):
    history = training.train(lambda lr: optim.sgd(lr=lr), 1e3, seed=0, **SMALL)
    assert history.train_loss[-1] > 1e100 or not np.isfinite(history.train_loss[-1])
    assert training.arrival(history.batch_loss, 1.0, 5) == -1
    assert len(recwarn) == 0


def test_history_round_trips_through_flat_arrays():
    history = training.train(adam, 1e-2, seed=0, **SMALL)
    again = training.History.from_arrays(history.to_arrays())
    for field in training.History._fields:
        a, b = getattr(history, field), getattr(again, field)
        if isinstance(a, dict):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        else:
            np.testing.assert_array_equal(a, b)


def test_arrival_is_the_step_from_which_the_trailing_mean_stays_below():
    losses = np.array([5.0, 4.0, 0.5, 3.0, 0.4, 0.3, 0.2, 0.1])
    # trailing means of 2 after updates 2..8: 4.5 2.25 1.75 1.7 0.35 0.25 0.15
    assert training.arrival(losses, 1.0, 2) == 6
    assert training.arrival(losses, 1.0, 1) == 5  # update 3 dips below once, update 4 rises again
    assert training.arrival(losses, 0.05, 2) == -1
    assert training.arrival(losses, 10.0, 3) == 3  # below from the first full window
    both = training.arrival(np.stack([losses, losses[::-1]], axis=1), 1.0, 2)
    np.testing.assert_array_equal(both, [6, -1])
    with pytest.raises(ValueError, match="window must be an integer between 1 and 8"):
        training.arrival(losses, 1.0, 9)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (dict(lrs=np.ones((7,))), ValueError, r"lrs must be a number or an array whose first axis is the 40 steps"),
        (dict(batch_size=0), ValueError, "batch_size must be an integer between 1 and 1438"),
        (dict(batch_size=5000), ValueError, "batch_size must be an integer between 1 and 1438"),
        (dict(steps=0), ValueError, "steps must be an integer >= 1"),
        (dict(seed=[[1, 2]]), ValueError, "seed must be an integer or a 1-D sequence of integers"),
        (dict(seed=0.5), ValueError, "seed must be an integer"),
        (dict(record_every=0), ValueError, "record_every must be an integer >= 1"),
        (dict(l2=-1.0), ValueError, "l2 must be >= 0"),
        (dict(sizes=(63, 10)), ValueError, r"X must have shape \(\.\.\., examples, 63\)"),
        (dict(lrs=-0.1), ValueError, "Invalid learning rate: -0.1"),
        (dict(momentun=0.9), TypeError, "unexpected keyword argument 'momentun'"),
    ],
)
def test_bad_input_is_refused_clearly(options, error, message):
    arguments = dict(lrs=1e-2, steps=40, batch_size=16, seed=0, split=SPLIT) | options
    lrs = arguments.pop("lrs")
    with pytest.raises(error, match=message):
        training.train(adam, lrs, **arguments)


def test_unknown_optimizer_option_in_make_is_the_optimizers_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'betas2'"):
        training.train(lambda lr: optim.adam(lr=lr, betas2=0.9), 1e-2, seed=0, **SMALL)


# --- the cache ------------------------------------------------------------------------


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def counting(value):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.array(value), "y": np.arange(3.0)}

    return compute, calls


def test_cache_computes_once_and_keys_on_settings(cache_dir):
    compute, calls = counting(1.5)
    first = cache.cached("demo", {"a": 1}, compute)
    again = cache.cached("demo", {"a": 1}, compute)
    assert len(calls) == 1 and again["x"] == first["x"] == 1.5
    np.testing.assert_array_equal(again["y"], [0.0, 1.0, 2.0])
    cache.cached("demo", {"a": 2}, compute)
    assert len(calls) == 2
    assert cache.key("demo", {"a": 1}) != cache.key("demo", {"a": 2}) != cache.key("other", {"a": 2})
    assert len(list(cache_dir.glob("demo-*.npz"))) == 2 and not list(cache_dir.glob("*.tmp"))


def test_a_change_to_the_code_that_decides_the_result_invalidates_it(cache_dir, tmp_path, monkeypatch):
    package = tmp_path / "book"
    package.mkdir()
    for source in cache.SOURCES:
        origin = cache._PACKAGE / source
        (shutil.copytree if origin.is_dir() else shutil.copy)(origin, package / source)
    monkeypatch.setattr(cache, "_PACKAGE", package)
    compute, calls = counting(2.0)
    cache.cached("demo", {}, compute)
    cache.cached("demo", {}, compute)
    assert len(calls) == 1
    with open(package / "training.py", "a") as file:
        file.write("\n# an edit\n")
    cache.cached("demo", {}, compute)
    assert len(calls) == 2
    (package / "optim" / "_new_rule.py").write_text("x = 1\n")  # a new optimizer module counts too
    cache.cached("demo", {}, compute)
    assert len(calls) == 3
    (package / "plotting.py").write_text("# not a source of the result\n")
    cache.cached("demo", {}, compute)
    assert len(calls) == 3


def test_cache_keeps_the_most_recently_used_files_of_a_name(cache_dir, monkeypatch):
    monkeypatch.setattr(cache, "KEEP", 2)
    compute, calls = counting(1.0)
    for a in range(3):
        cache.cached("demo", {"a": a}, compute)
        time.sleep(0.01)  # distinct modification times
    cache.cached("other", {}, compute)
    assert len(list(cache_dir.glob("demo-*.npz"))) == 2 and len(list(cache_dir.glob("other-*.npz"))) == 1
    cache.cached("demo", {"a": 1}, compute)  # a hit: now the most recent
    time.sleep(0.01)
    assert len(calls) == 4
    cache.cached("demo", {"a": 3}, compute)
    cache.cached("demo", {"a": 1}, compute)
    assert len(calls) == 5  # {"a": 1} was kept, {"a": 2} removed
    cache.cached("demo", {"a": 2}, compute)
    assert len(calls) == 6


def test_code_hash_is_part_of_the_key(monkeypatch):
    before = cache.key("demo", {})
    monkeypatch.setattr(cache, "source_hash", lambda sources=cache.SOURCES: "changed")
    assert cache.key("demo", {}) != before


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "other key"])
def test_a_corrupt_cache_file_is_recomputed_not_trusted(cache_dir, damage):
    compute, calls = counting(3.0)
    cache.cached("demo", {"a": 1}, compute)
    (path,) = cache_dir.glob("demo-*.npz")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        content = bytearray(path.read_bytes())
        content[100:140] = b"\xff" * 40  # inside the stored array data: the zip CRC fails
        path.write_bytes(bytes(content))
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a valid file with another key's result under this name
        other, _ = counting(-1.0)
        cache.cached("demo", {"a": 2}, other)
        (other_path,) = set(cache_dir.glob("demo-*.npz")) - {path}
        shutil.copy(other_path, path)
    assert cache.cached("demo", {"a": 1}, compute)["x"] == 3.0
    assert len(calls) == 2
    cache.cached("demo", {"a": 1}, compute)
    assert len(calls) == 2  # the recomputed file replaced the damaged one


def test_concurrent_writers_leave_one_whole_file(cache_dir):
    results, barrier = [], threading.Barrier(4)

    def compute():
        barrier.wait()  # every writer computes before any has stored
        return {"x": np.arange(100_000.0)}

    threads = [threading.Thread(target=lambda: results.append(cache.cached("demo", {}, compute))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(np.array_equal(r["x"], np.arange(100_000.0)) for r in results)
    assert len(list(cache_dir.iterdir())) == 1  # no temporary file left behind
    assert cache.cached("demo", {}, lambda: pytest.fail("recomputed"))["x"].size == 100_000


def test_cache_directory(monkeypatch):
    monkeypatch.delenv("BOOK_CACHE_DIR", raising=False)
    assert cache.directory() == cache._PACKAGE.parent / "_build" / ".cache"
    monkeypatch.setenv("BOOK_CACHE_DIR", "/somewhere/else")
    assert str(cache.directory()) == "/somewhere/else"


def test_bad_names_and_reserved_arrays_are_refused(cache_dir):
    with pytest.raises(ValueError, match="name must be letters, digits"):
        cache.cached("../escape", {}, dict)
    with pytest.raises(ValueError, match="may not have an array named '__key__'"):
        cache.cached("demo", {}, lambda: {"__key__": np.zeros(1)})


def test_race_is_cached_and_equals_train(cache_dir, monkeypatch):
    contestants = {name: race.CONTESTANTS[name] for name in ("momentum", "Adam")}
    options = dict(seeds=[0, 1], steps=20, batch_size=16, sizes=(64, 8, 10), record_every=10)
    results = training.race(contestants, [1e-3, 1e-2], **options)
    direct = training.train(contestants["Adam"], 1e-2, steps=20, batch_size=16, seed=1, sizes=(64, 8, 10),
                            split=SPLIT, record_every=10)
    np.testing.assert_allclose(results["Adam"].test_loss[:, 1, 1], direct.test_loss, rtol=1e-10)
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("not read from the cache"))
    again = training.race(contestants, [1e-3, 1e-2], **options)
    np.testing.assert_array_equal(again["momentum"].batch_loss, results["momentum"].batch_loss)
    # another contestant's hyperparameters are another key
    with pytest.raises(pytest.fail.Exception, match="not read from the cache"):
        training.race({"momentum": lambda lr: optim.sgd(lr=lr, momentum=0.5)}, [1e-3, 1e-2], **options)
