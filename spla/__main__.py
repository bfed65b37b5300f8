"""A short tour of spla: ``python -m spla``.

Builds three example matrices, multiplies them with a vector (SpMV) and with a
16-column block (SpMM) in spla and in SciPy, and prints the times, the speedup
and the largest difference between the two results.
"""

import argparse
import platform
import time

import numpy as np
import scipy.sparse as sp

import spla


def _uniform(n, per_row, rng):
    indptr = np.arange(0, per_row * n + 1, per_row, dtype=np.int32)
    indices = np.sort(rng.integers(0, n, size=(n, per_row), dtype=np.int32), axis=1).ravel()
    return sp.csr_array((rng.standard_normal(per_row * n), indices, indptr), shape=(n, n))


def _laplacian(k):
    t = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(k, k))
    return sp.kronsum(t, t, format="csr")


def _power_law(n, rng):
    lengths = np.minimum((rng.pareto(1.2, n) + 1) * 10 / 6, n).astype(np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = rng.integers(0, n, size=int(indptr[-1]), dtype=np.int32)
    return sp.csr_array((rng.standard_normal(indices.size), indices, indptr), shape=(n, n))


def _median_time(func, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _alternate(funcs, repeat):
    """Median time of each function, timed in alternation so noise hits both alike."""
    times = [[] for _ in funcs]
    for _ in range(repeat):
        for i, f in enumerate(funcs):
            t0 = time.perf_counter()
            f()
            times[i].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m spla", description=__doc__)
    parser.add_argument("--n", type=int, default=400_000, help="rows of the example matrices")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    import numba

    rng = np.random.default_rng(0)
    print(f"spla {spla.__version__}: sparse arrays with Numba kernels "
          f"({numba.get_num_threads()} threads, {platform.processor() or platform.machine()})")
    print("Compiling kernels on first use (cached afterwards)...", flush=True)
    t0 = time.perf_counter()
    warm = spla.csr_array(_uniform(100, 3, rng))
    warm @ np.ones(100)
    warm @ np.ones((100, 16))
    print(f"  ready in {time.perf_counter() - t0:.1f} s\n")

    k = int(np.sqrt(args.n))
    examples = {
        "uniform random, 10 per row": _uniform(args.n, 10, rng),
        f"2-D Laplacian, {k} x {k} grid": _laplacian(k),
        "power-law row lengths": _power_law(args.n, rng),
    }
    header = f"{'matrix':32s} {'op':7s} {'SciPy':>9s} {'spla':>9s} {'speedup':>8s} {'max |diff|':>11s}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name, S in examples.items():
        A = spla.csr_array(S)
        x = rng.standard_normal(A.shape[1])
        X = rng.standard_normal((A.shape[1], 16))
        for op, operand in (("SpMV", x), ("SpMM16", X)):
            A @ operand  # warm up
            t_scipy, t_spla = _alternate([lambda: S @ operand, lambda: A @ operand], args.repeat)
            ref = S @ operand
            diff = float(np.max(np.abs(A @ operand - ref))) if ref.size else 0.0
            scale = float(np.max(np.abs(ref))) if ref.size else 1.0
            worst = max(worst, diff / scale)
            print(f"{name:32s} {op:7s} {t_scipy * 1e3:7.2f}ms {t_spla * 1e3:7.2f}ms "
                  f"{t_scipy / t_spla:7.2f}x {diff:11.2e}")
    print()
    A = spla.csr_array(examples[f"2-D Laplacian, {k} x {k} grid"])
    print(f"{A!r}")
    print(f"sparsity {spla.sparsity(A):.6f}, storage {A.nbytes / 1e6:.1f} MB, "
          f"A.T @ x, A @ A, A + A, A.sum(), A.diagonal() all available")
    verdict = "agree" if worst < 1e-12 else "DISAGREE"
    print(f"spla and SciPy {verdict} (largest relative difference {worst:.1e}).")
    return 0 if worst < 1e-12 else 1


if __name__ == "__main__":
    raise SystemExit(main())
