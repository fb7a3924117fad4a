"""One Adam step on 1e7 float32 parameters: book.optim (NumPy) against torch.optim.Adam.

Both run on the CPU in this process, from the same arrays: torch with ``foreach=True``
(its multi-tensor path) and its default thread count, book.optim as it is: pure,
allocating the new parameters and moments on every step, with the slices of a large
array split among one thread per core. Each is timed over several
steps, taking turns, and reported by its median.

Bandwidth counts the bytes an Adam step has to move at least: read the parameters,
gradient, exp_avg and exp_avg_sq, write the parameters, exp_avg and exp_avg_sq,
7 arrays x 4 bytes x n. Extra passes over memory, and the page faults of freshly
allocated outputs, show up as a lower figure.

Run: ``python -m benchmarks adam`` (or ``python -m benchmarks.bench_adam``).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from book import optim
from book.optim import _base

SIZE = 10_000_000
ROUNDS = 15
BYTES_PER_STEP = 7 * 4 * SIZE


def numpy_stepper(params, grads):
    opt = optim.adam(lr=1e-3)
    state = opt.init(params)
    current = {"params": params, "state": state}

    def step():
        current["params"], current["state"] = opt.step(current["params"], grads, current["state"])

    return step, current


def torch_stepper(params, grads):
    tensor = torch.from_numpy(params.copy())
    tensor.grad = torch.from_numpy(grads)
    opt = torch.optim.Adam([tensor], lr=1e-3, foreach=True)

    def step():
        opt.step()

    return step, tensor


def median_times(candidates, rounds=ROUNDS):
    """Median wall-clock seconds per call of each candidate; they take turns each round
    so that load from other processes hits them alike."""
    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, function in candidates.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    rng = np.random.default_rng(0)
    params = rng.normal(size=SIZE).astype(np.float32)
    grads = rng.normal(size=SIZE).astype(np.float32)
    numpy_step, numpy_result = numpy_stepper(params, grads)
    torch_step, torch_result = torch_stepper(params, grads)
    times = median_times({"numpy": numpy_step, "torch": torch_step})

    # Same number of steps from the same start: the two must agree.
    worst = np.abs(numpy_result["params"] - torch_result.numpy()).max()
    print(f"Adam step, {SIZE:.0e} float32 parameters, median of {ROUNDS} steps")
    print(f"  threads: torch {torch.get_num_threads()}, book.optim {_base._WORKERS}")
    for name, seconds in times.items():
        bandwidth = BYTES_PER_STEP / seconds / 1e9
        print(f"  {name:6s} {seconds * 1e3:8.2f} ms   {bandwidth:6.2f} GB/s")
    print(f"  ratio numpy/torch: {times['numpy'] / times['torch']:.2f}")
    print(f"  max |numpy - torch| after {ROUNDS} steps: {worst:.2e}")


if __name__ == "__main__":
    main()
