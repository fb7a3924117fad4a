"""pytorch_optimizer's Shampoo, SOAP and SophiaH as ground truth for book.optim:
float64, CPU; and the comparison that VERIFY reports."""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np
import torch

from autograder.reference import float64_default
from book.optim._kronecker import inverse_root

TINY = 1e-300  # only lets exact zeros match


def reference_run(cls, kwargs: dict, params: dict, grad_steps: list[dict], hessians=None):
    """Run pytorch_optimizer's `cls` from `params` over `grad_steps`; ``hessians[t]``
    (a dict like params, or None) is passed as ``step(hessian=...)`` at step t + 1.

    Returns (params after each step, as a list of dicts; final state per key).
    """
    with float64_default():
        tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
        optimizer = cls(list(tensors.values()), **kwargs)
        history = []
        for t, grads in enumerate(grad_steps):
            for key, tensor in tensors.items():
                tensor.grad = torch.tensor(grads[key], dtype=torch.float64)
            if hessians is not None and hessians[t] is not None:
                optimizer.step(hessian=[torch.tensor(hessians[t][k]) for k in tensors])
            else:
                optimizer.step()
            history.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
        state = {key: dict(optimizer.state[tensor]) for key, tensor in tensors.items()}
    return history, state


def numpy_run(opt, params: dict, grad_steps: list[dict], hessians=None):
    """The same run with a book.optim optimizer: (params after each step, state)."""
    state = opt.init(params)
    history = []
    for t, grads in enumerate(grad_steps):
        extra = {} if hessians is None or hessians[t] is None else {"hessian": hessians[t]}
        params, state = opt.step(params, grads, state, **extra)
        history.append(params)
    return history, state


def relative_error(history: list[dict], expected: list[dict]) -> float:
    """max over steps, arrays and elements of |ours - ref| / max(|ref|, tiny)."""
    return max(
        float(np.max(np.abs(ours[key] - ref[key]) / np.maximum(np.abs(ref[key]), TINY)))
        for ours, ref in zip(history, expected, strict=True)
        for key in ref
    )


def as_array(value):
    return value.detach().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


@contextlib.contextmanager
def numpy_linear_algebra():
    """Let the reference take its linear algebra from NumPy, as book.optim does:
    torch.linalg.eigh and torch.linalg.qr (SOAP), Shampoo's compute_power_svd, and
    the products (torch.tensordot, Tensor.__matmul__, Tensor.addmm_). Its control
    flow, conventions and elementwise arithmetic stay the reference's.

    Why: torch's BLAS and LAPACK (MKL) round differently from NumPy's (OpenBLAS),
    and may choose different eigenvectors inside a repeated eigenvalue; on the
    stress gradients the Kronecker statistics are too ill-conditioned for float64
    (condition numbers above 1e16), so a difference of one rounding there changes
    the eigenvectors and inverse roots at the 1e-3 level. Both answers are valid.
    """

    def eigh(matrix):
        values, vectors = np.linalg.eigh(as_array(matrix))
        return torch.from_numpy(values), torch.from_numpy(vectors)

    def qr(matrix):
        q, r = np.linalg.qr(as_array(matrix))
        return torch.from_numpy(q), torch.from_numpy(r)

    def power_svd(matrix, power):
        return torch.from_numpy(inverse_root(as_array(matrix), power))

    def tensordot(a, b, dims):
        return torch.from_numpy(np.tensordot(as_array(a), as_array(b), axes=dims))

    def matmul(a, b):
        return torch.from_numpy(as_array(a) @ as_array(b))

    def addmm_(self, a, b):
        self.copy_(torch.from_numpy(as_array(self) + as_array(a) @ as_array(b)))
        return self

    with (
        mock.patch.object(torch.linalg, "eigh", eigh),
        mock.patch.object(torch.linalg, "qr", qr),
        mock.patch.object(torch, "tensordot", tensordot),
        mock.patch.multiple(torch.Tensor, __matmul__=matmul, addmm_=addmm_),
        mock.patch("pytorch_optimizer.optimizer.shampoo.compute_power_svd", power_svd),
    ):
        yield
