"""Gradient clipping against torch.nn.utils.clip_grad_norm_ and clip_grad_value_."""

import numpy as np
import pytest
import torch

from autograder.reference import float64_default
from book import clipping

SHAPES = {"W1": (5, 3), "b1": (3,), "W2": (3, 2), "scalar": ()}


def gradients(scale, seed):
    rng = np.random.default_rng(seed)
    return {key: np.asarray(scale * rng.standard_normal(shape)) for key, shape in SHAPES.items()}


def torch_clip(grads, clip, *args, **kwargs):
    """torch's in-place clipping on parameters whose .grad is `grads`: (new grads, return value)."""
    with float64_default():
        params = {}
        for key, grad in grads.items():
            params[key] = torch.zeros(grad.shape, requires_grad=True)
            params[key].grad = torch.tensor(grad)
        returned = clip(list(params.values()), *args, **kwargs)
        return {key: p.grad.numpy().copy() for key, p in params.items()}, returned


# Gradient scales below, near and far above the threshold; zero gradients too.
CASES = [(scale, seed) for scale in (0.0, 1e-7, 0.3, 1.0, 50.0, 1e8) for seed in (0, 1)]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, np.inf])
@pytest.mark.parametrize("scale, seed", CASES)
def test_clip_grad_norm_matches_torch(scale, seed, norm_type):
    grads = gradients(scale, seed)
    before = {key: value.copy() for key, value in grads.items()}
    ours, total = clipping.clip_grad_norm(grads, max_norm=1.5, norm_type=norm_type)
    theirs, torch_total = torch_clip(grads, torch.nn.utils.clip_grad_norm_, 1.5, norm_type)
    np.testing.assert_allclose(total, torch_total.item(), rtol=1e-12, atol=0)
    for key in SHAPES:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12, atol=0)
        np.testing.assert_array_equal(grads[key], before[key])  # inputs untouched


def test_clipped_norm_is_capped_with_torchs_eps_and_the_direction_kept():
    grads = gradients(10.0, 3)
    clipped, total = clipping.clip_grad_norm(grads, max_norm=2.0)
    after = clipping.global_norm(clipped)
    np.testing.assert_allclose(after, 2.0 * total / (total + 1e-6), rtol=1e-14)
    assert after < 2.0
    for key in SHAPES:
        np.testing.assert_allclose(clipped[key] * total, grads[key] * after, rtol=1e-12)


def test_single_array_and_batched_runs_are_clipped_by_their_own_norm():
    rng = np.random.default_rng(4)
    batch = rng.standard_normal((3, 4, 6)) * np.array([0.1, 1.0, 10.0, 100.0])[None, :, None]
    clipped, totals = clipping.clip_grad_norm(batch, 1.0, batch_dims=2)
    assert totals.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            alone, total = clipping.clip_grad_norm(batch[i, j], 1.0)
            theirs, torch_total = torch_clip({"g": batch[i, j]}, torch.nn.utils.clip_grad_norm_, 1.0)
            np.testing.assert_allclose(clipped[i, j], alone, rtol=1e-15)
            np.testing.assert_allclose(alone, theirs["g"], rtol=1e-12)
            np.testing.assert_allclose(totals[i, j], torch_total.item(), rtol=1e-12)


@pytest.mark.parametrize("scale, seed", CASES)
def test_clip_grad_value_matches_torch(scale, seed):
    grads = gradients(scale, seed)
    ours = clipping.clip_grad_value(grads, 0.7)
    theirs, _ = torch_clip(grads, torch.nn.utils.clip_grad_value_, 0.7)
    for key in SHAPES:
        np.testing.assert_array_equal(ours[key], theirs[key])
    np.testing.assert_array_equal(clipping.clip_grad_value(grads["W1"], 0.7), theirs["W1"])


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")  # inf * 0, as torch
def test_a_non_finite_norm_scales_by_nan_or_is_refused_with_torchs_message():
    grads = {"a": np.array([1.0, np.inf]), "b": np.array([2.0])}
    ours, total = clipping.clip_grad_norm(grads, 1.0)
    theirs, torch_total = torch_clip(grads, torch.nn.utils.clip_grad_norm_, 1.0)
    assert np.isinf(total) and torch_total.isinf()
    for key in grads:
        np.testing.assert_array_equal(ours[key], theirs[key])
    with pytest.raises(RuntimeError) as torch_error:
        torch_clip(grads, torch.nn.utils.clip_grad_norm_, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError) as our_error:
        clipping.clip_grad_norm(grads, 1.0, error_if_nonfinite=True)
    assert str(our_error.value) == str(torch_error.value)


@pytest.mark.parametrize("call, message", [
    (lambda: clipping.clip_grad_norm(np.ones(3), -1.0), "max_norm must be a non-negative number"),
    (lambda: clipping.clip_grad_norm(np.ones(3), float("nan")), "max_norm must be a non-negative number"),
    (lambda: clipping.clip_grad_norm(np.ones(3), 1.0, norm_type=0), "norm_type must be a positive number or inf"),
    (lambda: clipping.clip_grad_norm(np.ones(3), 1.0, batch_dims=-1), "batch_dims must be a non-negative integer"),
    (lambda: clipping.clip_grad_norm({"a": np.ones((2, 3)), "b": np.ones((3, 3))}, 1.0, batch_dims=1),
     "every gradient must share the same 1 leading batch axes"),
    (lambda: clipping.clip_grad_norm({}, 1.0), "grads is an empty dict"),
    (lambda: clipping.clip_grad_value(np.ones(3), -0.5), "clip_value must be a non-negative number"),
])
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()
