"""book.network: gradients against finite differences and torch autograd, loss and
accuracy on cases known by hand, initialisation, batched runs, input errors."""

from __future__ import annotations

import numpy as np
import pytest

from book import network

SIZES = (5, 7, 6, 3)


def small_case(seed=0, examples=9, runs=()):
    rng = np.random.default_rng(seed)
    params = network.init(SIZES, 11 if not runs else list(range(11, 11 + runs[0])))
    # non-zero biases, so their gradients and the ReLU boundaries are exercised
    params = {key: value + 0.1 * rng.normal(size=value.shape) for key, value in params.items()}
    X = rng.normal(size=runs + (examples, SIZES[0]))
    y = rng.integers(0, SIZES[-1], size=runs + (examples,))
    return params, X, y


def test_gradients_match_central_differences():
    params, X, y = small_case()
    _, grads = network.loss_and_grads(params, X, y)
    h = 1e-6
    for key, value in params.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus = {**params, key: value.copy()}
            minus = {**params, key: value.copy()}
            plus[key][index] += h
            minus[key][index] -= h
            numeric[index] = (network.loss(plus, X, y) - network.loss(minus, X, y)) / (2 * h)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-6, atol=1e-9, err_msg=key)


def torch_loss_and_grads(params, X, y):
    torch = pytest.importorskip("torch")
    tensors = {key: torch.tensor(value, dtype=torch.float64, requires_grad=True) for key, value in params.items()}
    a = torch.tensor(X, dtype=torch.float64)
    depth = len(params) // 2
    for l in range(1, depth + 1):
        a = a @ tensors[f"W{l}"] + tensors[f"b{l}"]
        if l < depth:
            a = torch.relu(a)
    loss = torch.nn.functional.cross_entropy(a, torch.tensor(y))
    loss.backward()
    return loss.item(), {key: t.grad.numpy() for key, t in tensors.items()}


def test_loss_and_gradients_match_torch_autograd():
    for seed in range(3):
        params, X, y = small_case(seed, examples=17)
        loss, grads = network.loss_and_grads(params, X, y)
        torch_loss, torch_grads = torch_loss_and_grads(params, X, y)
        np.testing.assert_allclose(loss, torch_loss, rtol=1e-13)
        for key in params:
            np.testing.assert_allclose(grads[key], torch_grads[key], rtol=1e-11, atol=1e-15, err_msg=key)


def test_batched_runs_equal_the_runs_one_by_one():
    params, X, y = small_case(runs=(4,))
    loss, grads = network.loss_and_grads(params, X, y)
    assert loss.shape == (4,)
    for r in range(4):
        one = {key: value[r] for key, value in params.items()}
        loss_r, grads_r = network.loss_and_grads(one, X[r], y[r])
        np.testing.assert_allclose(loss[r], loss_r, rtol=1e-14)
        for key in params:
            np.testing.assert_allclose(grads[key][r], grads_r[key], rtol=1e-12, atol=1e-15)
    # inputs shared by every run broadcast against the run axis
    shared_loss, shared_grads = network.loss_and_grads(params, X[0], y[0])
    assert shared_grads["W1"].shape == params["W1"].shape
    one = {key: value[2] for key, value in params.items()}
    np.testing.assert_allclose(shared_loss[2], network.loss(one, X[0], y[0]), rtol=1e-14)


def test_loss_and_accuracy_on_a_case_known_by_hand():
    # one layer, identity weights: the logits are the inputs
    params = {"W1": np.eye(3), "b1": np.zeros((1, 3))}
    X = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    y = np.array([1, 0, 1])
    expected_loss = np.mean([np.log(3), np.log(np.exp(2) + 2) - 2, np.log(2 + np.e)])
    np.testing.assert_allclose(network.loss(params, X, y), expected_loss, rtol=1e-15)
    # row 0 ties (argmax picks class 0, not its label 1), row 1 right, row 2 wrong
    assert network.accuracy(params, X, y) == pytest.approx(1 / 3)
    loss, acc = network.evaluate(params, X, y)
    assert (loss, acc) == (network.loss(params, X, y), network.accuracy(params, X, y))


def test_huge_logits_do_not_overflow():
    params = {"W1": 1e4 * np.eye(2), "b1": np.zeros((1, 2))}
    X, y = np.array([[1.0, -1.0]]), np.array([1])
    loss, grads = network.loss_and_grads(params, X, y)
    np.testing.assert_allclose(loss, 2e4, rtol=1e-15)
    assert all(np.isfinite(g).all() for g in grads.values())


def test_initialisation_is_seeded_and_scaled():
    a, b, c = network.init((64, 512, 512, 10), 0), network.init((64, 512, 512, 10), 0), network.init((64, 512, 512, 10), 1)
    assert all(np.array_equal(a[key], b[key]) for key in a)
    assert not np.array_equal(a["W1"], c["W1"])
    assert [a[key].shape for key in a] == [(64, 512), (1, 512), (512, 512), (1, 512), (512, 10), (1, 10)]
    np.testing.assert_allclose(a["W2"].var(), 2 / 512, rtol=0.02)  # He for a ReLU layer
    np.testing.assert_allclose(a["W3"].var(), 2 / (512 + 10), rtol=0.05)  # Glorot before the softmax
    assert all(not a[f"b{l}"].any() for l in (1, 2, 3))
    stacked = network.init((4, 3, 2), [5, 6])
    assert stacked["W1"].shape == (2, 4, 3)
    assert np.array_equal(stacked["W2"][1], network.init((4, 3, 2), 6)["W2"])


def test_he_initialisation_keeps_the_activations_scale():
    X = np.random.default_rng(0).normal(size=(2000, 256))
    params = network.init((256,) * 6 + (10,), 3)
    a = X
    for l in range(1, 6):
        a = np.maximum(a @ params[f"W{l}"] + params[f"b{l}"], 0)
    # mean square of a ReLU layer's output is its input's variance: stays near 1
    assert 0.7 < np.mean(a**2) < 1.4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p, X, y: (p, X[:, :4], y), r"X must have shape \(\.\.\., examples, 5\)"),
        (lambda p, X, y: (p, X, y[:-1]), r"y must have shape \(9,\)"),
        (lambda p, X, y: (p, X, y + 3), r"labels must lie in 0\.\.2"),
        (lambda p, X, y: (p, X, y.astype(float)), "y must hold integer class labels"),
        (lambda p, X, y: ({**p, "b2": np.zeros(6)}, X, y), "W2 of shape .* and b2 of shape .* do not form a layer"),
        (lambda p, X, y: ({**p, "W2": np.zeros((4, 6))}, X, y), "W2 takes 4 inputs but layer 1 gives 7"),
        (lambda p, X, y: ({k: v for k, v in p.items() if k != "b3"}, X, y), "params must hold W1, b1"),
        (lambda p, X, y: (p, np.stack([X, X]), np.stack([y, y])), r"X's leading axes \(2,\) do not broadcast"),
    ],
)
def test_bad_input_is_refused_clearly(change, message):
    params, X, y = change(*small_case())
    with pytest.raises(ValueError, match=message):
        network.loss_and_grads(params, X, y)


def test_bad_sizes_and_seeds_are_refused():
    with pytest.raises(ValueError, match="sizes must list at least two positive integer widths"):
        network.init((5,), 0)
    with pytest.raises(ValueError, match="sizes must list"):
        network.init((5, 0, 3), 0)
    with pytest.raises(ValueError, match="seed must be an integer or a 1-D sequence"):
        network.init((5, 3), [[1, 2]])
    with pytest.raises(TypeError, match="params must be a dict"):
        network.forward(np.zeros((5, 3)), np.zeros((2, 5)))
