"""``A.T @ x`` (and ``A.T @ X``): SciPy against spla's scatter and spla's cached
transpose, alternating in one process (medians, bests, and CPU seconds per call
of all threads together: a load-robust measure of the work).

    python -m benchmarks.transpose [--grid 1000] [--n 1000000] [--rounds 30] [--k 0]

The cached transpose's gather gives SciPy's bits (checked); the uncached
scatter runs in four lanes above 32768 stored entries (spla's default, which
``A.sum(axis=0)`` also uses) and is checked against SciPy to rounding.
"""

import argparse
import os
import time

import numpy as np
import scipy.sparse as sp

import spla


def _bits(a):
    return np.ascontiguousarray(a).tobytes()


def laplacian(grid):
    T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(grid, grid))
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


def random_matrix(n, per_row, seed=0):
    return sp.csr_array(sp.random_array((n, n), density=per_row / n, rng=seed, format="csr"))


def run(name, S, rounds, k):
    A_never = spla.csr_array(S)
    A_cache = spla.csr_array(S)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(S.shape[0]) if k == 0 else rng.standard_normal((S.shape[0], k))
    St = S.T
    ref = St @ x
    previous = spla.set_transpose_cache("never")
    np.testing.assert_allclose(A_never.T @ x, ref, rtol=1e-12, atol=1e-12)
    A_never.T @ x  # compile
    spla.set_transpose_cache("auto")
    t0 = time.perf_counter()
    A_cache.T @ x
    y = A_cache.T @ x  # builds
    build = time.perf_counter() - t0
    assert _bits(y) == _bits(ref), "cached: not SciPy's bits"
    times = {"scipy": [], "spla scatter": [], "spla cached": []}
    cpu = {key: [] for key in times}
    for _ in range(rounds):
        for label in times:
            if label == "spla scatter":
                spla.set_transpose_cache("never")
            c0, t0 = time.process_time(), time.perf_counter()
            if label == "scipy":
                St @ x
            elif label == "spla scatter":
                A_never.T @ x
            else:
                A_cache.T @ x
            times[label].append(time.perf_counter() - t0)
            cpu[label].append(time.process_time() - c0)
            spla.set_transpose_cache("auto")
    spla.set_transpose_cache(previous)
    med = {key: 1e3 * float(np.median(v)) for key, v in times.items()}
    best = {key: 1e3 * float(np.min(v)) for key, v in times.items()}
    cpu_med = {key: 1e3 * float(np.median(v)) for key, v in cpu.items()}
    print(f"{name}: n={S.shape[0]} nnz={S.nnz} k={k} rounds={rounds}; first two products "
          f"(scatter + build + gather) {1e3 * build:.1f} ms; load {os.getloadavg()[0]:.2f}")
    for key, v in med.items():
        print(f"  {key:13s} {v:8.2f} ms median   scipy/this {med['scipy'] / v:5.2f}x"
              f"   best {best[key]:8.2f} ms   scipy/this {best['scipy'] / best[key]:5.2f}x"
              f"   cpu {cpu_med[key]:8.2f} ms")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--grid", type=int, default=1000)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--per-row", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--k", type=int, default=0)
    a = p.parse_args()
    run("2-D Laplacian", laplacian(a.grid), a.rounds, a.k)
    run("random", random_matrix(a.n, a.per_row), a.rounds, a.k)


if __name__ == "__main__":
    main()
