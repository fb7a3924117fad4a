"""Machinery shared by every optimizer: the `Optimizer` record, parameter trees,
torch-style hyperparameter validation, and the step loop that runs an update kernel
over each parameter array.

A *kernel* computes one parameter array's update. It reads the old arrays and writes
every result into fresh output arrays (``out``) with in-place ufuncs, so a step
allocates its outputs once and never mutates its inputs. When every hyperparameter is
a scalar, the loop feeds the kernel cache-sized slices of large arrays, so the
kernel's scratch arrays stay small and the step streams through memory once.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

# Elements per slice of a large array, so that a kernel's scratch arrays stay small.
# Measured on the Adam benchmark (1e7 float32, 2 cores): 2**18 fastest with two
# threads (25-27 ms against 34-41 ms for 2**15); on one thread 2**15..2**18 are
# within 10 % of each other.
CHUNK = 1 << 18
# Arrays of at least _MIN_CHUNKS_PER_THREAD slices per thread are split among
# threads, one per usable core, created on first use.
_WORKERS = (
    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
)
_MIN_CHUNKS_PER_THREAD = 2
_POOL: ThreadPoolExecutor | None = None


class Optimizer(NamedTuple):
    """A pure optimizer: ``state = init(params)``; ``params, state = step(params, grads, state)``.

    ``params`` and ``grads`` are a NumPy array or a dict of NumPy arrays with the same
    keys; ``step`` returns new arrays and leaves its arguments untouched.
    """

    name: str
    hyperparams: dict[str, Any]
    init: Callable
    step: Callable

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.hyperparams.items())
        return f"{self.name}({args})"


# --- hyperparameters --------------------------------------------------------------


def real(name: str, value):
    """`value` as a Python float, or as a float64 array when it is batched.

    Arrays let one call race many settings: they broadcast against the parameters.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, np.ndarray):
        return float(value)
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            return float(array) if array.ndim == 0 else array.astype(np.float64)
    raise TypeError(
        f"{name} must be a real number or an array of real numbers, got {value!r}"
    )


def flag(name: str, value) -> bool:
    """A boolean option; arrays are refused because an option switches code paths."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def betas_pair(betas) -> tuple:
    """The two entries of ``betas``, each a scalar or an array, as given."""
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return betas[0], betas[1]


def at_least_zero(x):
    """``0 <= x``, torch's usual test (NaN fails it)."""
    return 0.0 <= x


def not_negative(x):
    """``not x < 0``, the test torch.optim.SGD uses (NaN passes it)."""
    return ~(x < 0.0)


def in_unit_interval(x):
    return (0.0 <= x) & (x <= 1.0)


def beta_range(x):
    return (0.0 <= x) & (x < 1.0)


def require(value, as_given, is_valid: Callable, message: str) -> None:
    """Raise ``ValueError(message.format(v))`` for the first element ``v`` of ``value``
    that fails ``is_valid``, as torch does for a scalar hyperparameter.

    ``as_given`` is the value the caller passed: a scalar is quoted as typed (torch
    prints ``-1`` for the integer -1); an array is quoted by its offending element.
    """
    valid = np.asarray(is_valid(np.asarray(value)))
    if valid.all():
        return
    offending = as_given if np.ndim(value) == 0 else np.asarray(value)[~valid][0].item()
    raise ValueError(message.format(offending))


def hyperparameters(given: dict[str, Any], checks: list[tuple]) -> dict[str, Any]:
    """Convert each given hyperparameter with `real`, then run torch's checks, in
    torch's order: ``checks`` lists ``(name, is_valid, message)``."""
    args = {name: real(name, value) for name, value in given.items()}
    for name, is_valid, message in checks:
        require(args[name], given[name], is_valid, message)
    return args


def is_active(value) -> bool:
    """Whether a scalar-or-array hyperparameter such as weight_decay is nonzero anywhere."""
    return bool(np.any(value != 0))


# --- parameter trees --------------------------------------------------------------


def flatten(tree, what: str) -> tuple[list | None, list[np.ndarray]]:
    """(keys, arrays) of an array (keys None) or a dict of arrays."""
    if isinstance(tree, np.ndarray):
        return None, [tree]
    if isinstance(tree, Mapping):
        if not tree:
            raise ValueError(f"{what} is an empty dict: there is nothing to optimize")
        for key, leaf in tree.items():
            if not isinstance(leaf, np.ndarray):
                raise TypeError(
                    f"{what}[{key!r}] must be a NumPy array, got {type(leaf).__name__}"
                )
        return list(tree), list(tree.values())
    raise TypeError(
        f"{what} must be a NumPy array or a dict of NumPy arrays, got {type(tree).__name__}"
    )


def unflatten(keys: list | None, leaves: list):
    return leaves[0] if keys is None else dict(zip(keys, leaves))


def leaves_like(keys: list | None, tree, what: str) -> list[np.ndarray]:
    """The arrays of `tree` in the order of `keys`, which must be exactly its keys."""
    tree_keys, leaves = flatten(tree, what)
    if (keys is None) != (tree_keys is None) or (
        keys is not None and set(keys) != set(tree_keys)
    ):
        raise ValueError(
            f"{what} must have the same structure as params: "
            f"params keys {keys}, {what} keys {tree_keys}"
        )
    return leaves if keys is None else [tree[key] for key in keys]


def _label(keys: list | None, index: int) -> str:
    return "params" if keys is None else f"params[{keys[index]!r}]"


def check_broadcast(param: np.ndarray, label: str, batched: dict[str, np.ndarray]) -> None:
    """Each batched hyperparameter must broadcast to the parameter's own shape."""
    for name, value in batched.items():
        try:
            fits = np.broadcast_shapes(value.shape, param.shape) == param.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"hyperparameter {name} of shape {value.shape} does not broadcast "
                f"to {label} of shape {param.shape}"
            )


# --- the optimizer ------------------------------------------------------------------

Kernel = Callable[[np.ndarray, np.ndarray, dict, dict, dict], None]


def make_optimizer(
    name: str,
    hyperparams: dict[str, Any],
    kernel_args: dict[str, Any],
    state_type: type,
    buffers: dict[str, Callable[[np.ndarray], np.ndarray]],
    kernel: Kernel,
    schedule: Callable[[Any, int], tuple[dict, dict]] | None = None,
    initial: dict[str, Any] | None = None,
    elementwise: bool = True,
) -> Optimizer:
    """Build an `Optimizer` around a per-array update kernel.

    Args:
        hyperparams: what the optimizer reports (torch's names and values).
        kernel_args: the flat arguments the kernel reads (``beta1``, ``beta2``, ...).
        state_type: the NamedTuple of the state; ``step`` plus the fields below.
        buffers: per-parameter state arrays in use, each with its initializer. The
            other array fields of `state_type` stay None.
        kernel: ``kernel(param, grad, state, out, args)`` writes the new parameter to
            ``out["param"]`` and each new buffer to ``out[buffer]``.
        schedule: ``schedule(state, step) -> (new_fields, extra_args)`` for state that
            is one value for all parameters (NAdam's ``mu_product``).
        initial: initial values of those shared fields.
        elementwise: whether each element's update depends on that element alone.
            False for rules that read a whole array (a norm, a matrix product, a row
            mean): the kernel then gets the whole arrays, never slices, and
            ``kernel(param, grad, state, args)`` *returns* the dict of new arrays
            (``"param"`` and each buffer), whose buffers may have any shape
            (Adafactor's row and column factors, Shampoo's preconditioners).
    """
    batched = {k: v for k, v in kernel_args.items() if isinstance(v, np.ndarray)}
    # Which weight decay the kernels apply, decided once rather than on every step.
    decay = is_active(kernel_args["weight_decay"])
    decoupled = kernel_args.get("decoupled_weight_decay", False)
    kernel_args = {
        **kernel_args,
        "l2_decay": decay and not decoupled,
        "decoupled_decay": decay and decoupled,
    }
    fields = list(buffers)
    fitting_shapes = set()  # parameter shapes already checked against `batched`

    def check(param, keys, index):
        if param.dtype.kind != "f":
            raise TypeError(
                f"{_label(keys, index)} must be a floating-point array, got dtype "
                f"{param.dtype} (convert it with .astype(float))"
            )
        if batched and param.shape not in fitting_shapes:
            check_broadcast(param, _label(keys, index), batched)
            fitting_shapes.add(param.shape)

    def init(params):
        keys, leaves = flatten(params, "params")
        for index, param in enumerate(leaves):
            check(param, keys, index)
        state = dict.fromkeys(state_type._fields)
        state.update(initial or {}, step=0)
        for field, make in buffers.items():
            state[field] = unflatten(keys, [make(param) for param in leaves])
        return state_type(**state)

    def step(params, grads, state):
        if not isinstance(state, state_type):
            raise TypeError(
                f"state must be the {state_type.__name__} returned by this optimizer's "
                f"init or step, got {type(state).__name__}"
            )
        keys, leaves = flatten(params, "params")
        grad_leaves = leaves_like(keys, grads, "grads")
        buffer_leaves = [
            leaves_like(keys, getattr(state, field), f"state.{field}") for field in fields
        ]
        count = state.step + 1
        new_fields, extra_args = schedule(state, count) if schedule else ({}, {})
        args = {**kernel_args, **extra_args, "step": count}
        cast_args = {}  # the args in each parameter dtype
        new_params, new_buffers = [], [[] for _ in fields]
        for index, (param, grad) in enumerate(zip(leaves, grad_leaves)):
            check(param, keys, index)
            old = {field: arrays[index] for field, arrays in zip(fields, buffer_leaves)}
            shaped_like_param = old if elementwise else {}
            if grad.shape != param.shape or any(
                a.shape != param.shape for a in shaped_like_param.values()
            ):
                _shape_error(keys, index, param, grad, shaped_like_param)
            if param.dtype not in cast_args:
                cast_args[param.dtype] = _in_dtype(args, param.dtype) if batched else args
            run = _run_kernel if elementwise else _run_whole_array_kernel
            out = run(kernel, param, grad, old, cast_args[param.dtype])
            new_params.append(out["param"])
            for new, field in zip(new_buffers, fields):
                new.append(out[field])
        new_fields.update((f, unflatten(keys, new)) for f, new in zip(fields, new_buffers))
        return unflatten(keys, new_params), state._replace(step=count, **new_fields)

    return Optimizer(name, dict(hyperparams), init, step)


def state_size(optimizer: Optimizer, params) -> int:
    """How many numbers ``optimizer`` keeps for ``params``: the elements of every array
    in the state ``init`` returns, nested tuples and dicts included (the step count and
    other Python scalars are not per-parameter memory)."""

    def count(value):
        if isinstance(value, np.ndarray):
            return value.size
        if isinstance(value, Mapping):
            return sum(count(v) for v in value.values())
        if isinstance(value, (tuple, list)):
            return sum(count(v) for v in value)
        return 0

    return count(optimizer.init(params))


def _shape_error(keys, index, param, grad, old: dict):
    for what, array in [("grads", grad), *old.items()]:
        if array.shape != param.shape:
            raise ValueError(
                f"{what} for {_label(keys, index)} has shape {array.shape}, "
                f"expected {param.shape}"
            )


def _in_dtype(args: dict, dtype) -> dict:
    """Batched hyperparameters in the parameters' dtype, so float32 stays float32."""
    return {
        key: value.astype(dtype) if isinstance(value, np.ndarray) else value
        for key, value in args.items()
    }


def _in_param_dtype(param, grad, old: dict):
    """grad and the old buffers in the parameter's dtype (float32 stays float32)."""
    dtype = param.dtype
    if grad.dtype != dtype:
        grad = grad.astype(dtype)
    for field, array in old.items():
        if array.dtype != dtype:
            old[field] = array.astype(dtype)
    return grad, old


def _run_whole_array_kernel(kernel, param, grad, old: dict, args: dict) -> dict:
    """Let a non-elementwise `kernel` compute one array's update from whole arrays."""
    grad, old = _in_param_dtype(param, grad, old)
    out = kernel(param, grad, old, args)
    missing = {"param", *old} - set(out)
    if missing:
        raise RuntimeError(f"kernel {kernel.__name__} returned no {sorted(missing)}")
    return out


def _run_kernel(kernel: Kernel, param, grad, old: dict, args: dict) -> dict:
    """Allocate the outputs of one array's update and let `kernel` fill them."""
    grad, old = _in_param_dtype(param, grad, old)
    out = {"param": np.empty_like(param)}
    for field in old:
        out[field] = np.empty_like(param)
    if param.size <= CHUNK or any(isinstance(v, np.ndarray) for v in args.values()):
        kernel(param, grad, old, out, args)
        return out
    # reshape(-1) of the fresh outputs is a view, so the slices write into them.
    param, grad = param.reshape(-1), grad.reshape(-1)
    old = {field: array.reshape(-1) for field, array in old.items()}
    flat_out = {field: array.reshape(-1) for field, array in out.items()}

    def run_slices(first: int, stop: int) -> None:
        for start in range(first, stop, CHUNK):
            part = slice(start, min(start + CHUNK, stop))
            kernel(
                param[part],
                grad[part],
                {field: array[part] for field, array in old.items()},
                {field: array[part] for field, array in flat_out.items()},
                args,
            )

    # Slices are independent and NumPy releases the GIL inside ufuncs, so large arrays
    # are split among threads, one contiguous run of slices each; the numbers do not
    # depend on the split.
    chunks = -(-param.size // CHUNK)
    workers = min(_WORKERS, chunks // _MIN_CHUNKS_PER_THREAD)
    if workers <= 1:
        run_slices(0, param.size)
        return out
    bounds = [CHUNK * (chunks * i // workers) for i in range(workers)] + [param.size]
    futures = [_pool().submit(run_slices, a, b) for a, b in zip(bounds, bounds[1:])]
    for future in futures:
        future.result()
    return out


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="book.optim")
    return _POOL


# --- pieces of update rules shared by several kernels -------------------------------


def lerp(start, end, weight, out):
    """``out = start + weight * (end - start)`` in torch.lerp's two-sided form
    (``end - (end - start) * (1 - weight)`` once weight reaches 0.5)."""
    np.subtract(end, start, out=out)
    if not isinstance(weight, np.ndarray):
        if weight < 0.5:
            out *= weight
            out += start
        else:
            out *= 1 - weight
            np.subtract(end, out, out=out)
    else:
        np.copyto(out, np.where(weight < 0.5, start + weight * out, end - out * (1 - weight)))
    return out


def add_square(average, grad, decay, out, scratch):
    """``out = decay * average + (1 - decay) * grad**2``, torch's
    ``average.mul_(decay).addcmul_(grad, grad, value=1 - decay)``."""
    np.multiply(average, decay, out=out)
    np.multiply(grad, 1 - decay, out=scratch)
    scratch *= grad
    out += scratch
    return out


def addcdiv(param, value, numerator, denominator, out):
    """``out = param + value * numerator / denominator``, torch's ``addcdiv``.

    ``out`` may be `denominator` itself (it is read before it is overwritten).
    """
    np.divide(numerator, denominator, out=out)
    out *= value
    out += param
    return out


def direction(param, grad, args):
    """The gradient the update follows: negated to maximize, plus coupled (L2) weight
    decay ``weight_decay * param`` as torch adds it to the gradient."""
    if args["maximize"]:
        grad = np.negative(grad)
    if args["l2_decay"]:
        grad = np.multiply(param, args["weight_decay"]) + grad
    return grad


def decoupled_decay(param, args):
    """The parameter after decoupled weight decay ``param * (1 - lr * weight_decay)``
    (Loshchilov & Hutter), or the parameter itself when that decay is off. With
    ``args["fixed_decay"]`` (pytorch_optimizer's option) lr is taken as 1:
    ``param * (1 - weight_decay)``."""
    if not args["decoupled_decay"]:
        return param
    rate = 1.0 if args.get("fixed_decay") else args["lr"]
    return param * (1 - rate * args["weight_decay"])
