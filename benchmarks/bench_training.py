"""Training the digits network with book.training: one run, and many runs batched.

The chapter "Training a network" needs one training (64-64-10, a few hundred steps) to
take well under a second, and its race (11 optimizers x 8 learning rates x 3 seeds) to
fit its build budget. Times are CPU seconds of this process, best of `REPEATS`; BLAS
runs on one thread inside `train` (see ``book.training._one_blas_thread``).

Run: ``python -m benchmarks.bench_training`` (or ``python -m benchmarks`` for all).
"""

import time

import numpy as np

from book import data, optim, training

STEPS, BATCH = 300, 64
REPEATS = 5
LRS = np.geomspace(1e-3, 3.0, 8)
SEEDS = [0, 1, 2]


def best_time(run):
    times = []
    for _ in range(REPEATS):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def main():
    split = data.digits()
    adam = lambda lr: optim.adam(lr=lr)  # noqa: E731
    one = dict(steps=STEPS, batch_size=BATCH, split=split)
    single = best_time(lambda: training.train(adam, 1e-2, seed=0, record_every=STEPS, **one))
    recorded = best_time(lambda: training.train(adam, 1e-2, seed=0, record_every=25, **one))
    batched = best_time(lambda: training.train(adam, LRS[None], seed=SEEDS, record_every=STEPS, **one))
    looped = best_time(lambda: [training.train(adam, lr, seed=seed, record_every=STEPS, **one)
                                for lr in LRS for seed in SEEDS])
    runs = len(LRS) * len(SEEDS)
    print(f"one training, 64-64-10, {STEPS} steps of {BATCH}, Adam (CPU time)")
    print(f"  measured at start and end only:            {1e3 * single:7.1f} ms")
    print(f"  test/train loss recorded every 25 steps:   {1e3 * recorded:7.1f} ms")
    print(f"{runs} runs (8 learning rates x 3 seeds)")
    print(f"  batched in one train call:                 {1e3 * batched:7.1f} ms")
    print(f"  {runs} separate train calls:                  {1e3 * looped:7.1f} ms  ratio {looped / batched:5.2f}")


if __name__ == "__main__":
    main()
