"""Gradient clipping: by the global norm and by value, on an array or a dict of arrays.

Both functions return new arrays and leave their inputs untouched, so they fit a
training loop as a gradient transform (``lambda g: clip_grad_norm(g, 1.0)[0]``). They
follow ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``, which clip a
model's ``.grad`` tensors in place; the differences are written down in each docstring.

Leading ``batch_dims`` axes index independent runs (a race of many starts or learning
rates in one array): each run's gradient is then clipped by its own norm.
"""

import numbers

import numpy as np

from book.optim._base import flatten, unflatten

__all__ = ["clip_grad_norm", "clip_grad_value", "global_norm"]

#: Added to the total norm in the clipping coefficient, as torch does.
EPS = 1e-6


def _batch_dims(batch_dims, leaves):
    if not isinstance(batch_dims, numbers.Integral) or batch_dims < 0:
        raise ValueError(f"batch_dims must be a non-negative integer, got {batch_dims!r}")
    shapes = {leaf.shape[:batch_dims] for leaf in leaves}
    if any(leaf.ndim < batch_dims for leaf in leaves) or len(shapes) != 1:
        raise ValueError(
            f"every gradient must share the same {batch_dims} leading batch axes, "
            f"got shapes {[leaf.shape for leaf in leaves]}"
        )
    return batch_dims


def _norm_type(norm_type):
    if not (isinstance(norm_type, numbers.Real) and norm_type > 0):
        raise ValueError(f"norm_type must be a positive number or inf, got {norm_type!r}")
    return float(norm_type)


def _vector_norm(x, p, axes):
    """The p-norm over ``axes``, as ``torch.linalg.vector_norm`` computes it."""
    magnitude = np.abs(x)
    if p == np.inf:
        return magnitude.max(axis=axes, initial=0.0)
    if p == 2.0:
        return np.sqrt(np.sum(magnitude * magnitude, axis=axes))
    return np.sum(magnitude**p, axis=axes) ** (1.0 / p)


def global_norm(grads, norm_type=2.0, batch_dims=0):
    """The p-norm of all gradients viewed as one vector: the p-norm of the arrays' own
    p-norms, in torch's order (``torch.nn.utils.get_total_norm``). Shape: the batch axes."""
    p = _norm_type(norm_type)
    _, leaves = flatten(grads, "grads")
    b = _batch_dims(batch_dims, leaves)
    norms = [_vector_norm(leaf, p, tuple(range(b, leaf.ndim))) for leaf in leaves]
    return _vector_norm(np.stack(norms, axis=-1), p, -1)


def clip_grad_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False, batch_dims=0):
    """Scale all gradients together so that their global norm is at most ``max_norm``:

    .. math::
        N = \\Big\\| \\big(\\|g_1\\|_p, \\dots, \\|g_k\\|_p\\big) \\Big\\|_p, \\qquad
        g_i \\leftarrow g_i \\cdot \\min\\!\\Big(1, \\frac{c}{N + 10^{-6}}\\Big),

    the rule of Pascanu, Mikolov and Bengio (2013) with torch's :math:`10^{-6}`. The
    direction of the whole gradient is kept; only its length is capped at :math:`c`
    (a little under it: the clipped norm is :math:`cN/(N + 10^{-6})`). Returns
    ``(clipped, N)``, the new gradients and the total norm before clipping, which
    ``torch.nn.utils.clip_grad_norm_`` returns too.

    Differences from torch: new arrays instead of in-place ``.grad``; a ``max_norm`` or
    ``norm_type`` that is negative, zero (norm type) or NaN raises ``ValueError`` (torch
    accepts it: a negative ``max_norm`` flips every gradient); the non-finite total norm
    that ``error_if_nonfinite`` refuses raises ``ValueError`` with torch's message where
    torch raises ``RuntimeError``; ``batch_dims`` clips each run of a batch separately.
    """
    if not (isinstance(max_norm, numbers.Real) and max_norm >= 0):
        raise ValueError(f"max_norm must be a non-negative number, got {max_norm!r}")
    keys, leaves = flatten(grads, "grads")
    total = global_norm(grads, norm_type, batch_dims)
    if error_if_nonfinite and not np.all(np.isfinite(total)):
        raise ValueError(
            f"The total norm of order {float(norm_type)} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    # Multiplying by a coefficient of exactly 1 below the threshold, as torch does.
    coefficient = np.minimum(float(max_norm) / (total + EPS), 1.0)
    # np.asarray: NumPy turns 0-d results into scalars, and a tree holds arrays.
    clipped = [
        np.asarray(leaf * coefficient.reshape(coefficient.shape + (1,) * (leaf.ndim - batch_dims)))
        for leaf in leaves
    ]
    return unflatten(keys, clipped), total


def clip_grad_value(grads, clip_value):
    """Clip every gradient entry to :math:`[-c, c]`:
    :math:`g \\leftarrow \\min(\\max(g, -c), c)`, as ``torch.nn.utils.clip_grad_value_``.

    Unlike norm clipping this changes the gradient's direction whenever some entries are
    cut and others are not. Differences from torch: new arrays instead of in-place
    ``.grad``; a negative or NaN ``clip_value`` raises ``ValueError`` (torch would set
    every entry to it).
    """
    if not (isinstance(clip_value, numbers.Real) and clip_value >= 0):
        raise ValueError(f"clip_value must be a non-negative number, got {clip_value!r}")
    keys, leaves = flatten(grads, "grads")
    c = float(clip_value)
    return unflatten(keys, [np.asarray(np.minimum(np.maximum(leaf, -c), c)) for leaf in leaves])
