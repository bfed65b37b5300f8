"""Sparse constructors against SciPy: ``python -m benchmarks.api_construct``.

Each case is (name, spla call, SciPy call) on the uniform 10-per-row float64
matrix of ``benchmarks.matrices`` (n = 2,000,000 by default: 20 M entries),
held by spla and SciPy over the same arrays. Calls alternate in one run
(``timing.time_alternating``); the table gives the medians and SciPy / spla.
Where SciPy's default result is COO and spla's is CSR (spla has no COO format
yet), both sides are asked for ``format="csr"`` so they build the same thing,
and ``random_array`` is also timed against SciPy's default COO.

On a shared machine run it under the lock:
``flock /tmp/spla-cpu.lock python -m benchmarks.api_construct``.
"""

import argparse
import platform

import numba
import numpy as np
import scipy
import scipy.sparse as sp

import spla

from .machine import cpu_model
from .matrices import uniform
from .timing import time_alternating

#: The issue's targets: spla at least this many times faster than SciPy.
TARGET = 1.8


def cases(n):
    data, indices, indptr, shape = uniform(n)
    A = spla.csr_array((data, indices, indptr), shape=shape)
    S = sp.csr_array((data, indices, indptr), shape=shape)
    small_n = max(2, int(round(n ** 0.5)))
    d2, i2, p2, s2 = uniform(small_n, seed=1)
    A2, S2 = spla.csr_array((d2, i2, p2), shape=s2), sp.csr_array((d2, i2, p2), shape=s2)
    d3, i3, p3, s3 = uniform(100, seed=2)
    A3, S3 = spla.csr_array((d3, i3, p3), shape=s3), sp.csr_array((d3, i3, p3), shape=s3)
    density = 10.0 / n  # 5e-6 at n = 2,000,000: 20 M entries, as in the issue
    yield "hstack([A, A])", lambda: spla.hstack([A, A]), lambda: sp.hstack([S, S])
    yield "vstack([A, A])", lambda: spla.vstack([A, A]), lambda: sp.vstack([S, S])
    yield ("block_diag([A, A]) csr", lambda: spla.block_diag([A, A], format="csr"),
           lambda: sp.block_diag([S, S], format="csr"))
    yield ("tril(A) csr", lambda: spla.tril(A, format="csr"),
           lambda: sp.tril(S, format="csr"))
    yield ("triu(A, 1) csr", lambda: spla.triu(A, 1, format="csr"),
           lambda: sp.triu(S, 1, format="csr"))
    yield (f"kron(A{small_n}, A100) csr", lambda: spla.kron(A2, A3, format="csr"),
           lambda: sp.kron(S2, S3, format="csr"))
    yield (f"random_array(({n}, {n}), {density:g}) csr",
           lambda: spla.random_array((n, n), density=density, format="csr", rng=1),
           lambda: sp.random_array((n, n), density=density, format="csr", rng=1))
    yield (f"random_array(({n}, {n}), {density:g}) default (SciPy coo)",
           lambda: spla.random_array((n, n), density=density, rng=1),
           lambda: sp.random_array((n, n), density=density, rng=1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("-k", default=None, help="only cases whose name contains this")
    args = parser.parse_args(argv)
    print(f"# Constructors, uniform 10-per-row float64, n = {args.n:,}")
    print(f"{cpu_model()}, {numba.get_num_threads()} Numba threads, NumPy {np.__version__}, "
          f"SciPy {scipy.__version__}, Python {platform.python_version()}; "
          f"medians of {args.repeat} alternating rounds\n")
    print("| case | spla (s) | SciPy (s) | SciPy / spla | target |")
    print("|---|---:|---:|---:|---:|")
    for name, ours, theirs in cases(args.n):
        if args.k and args.k not in name:
            continue
        res = time_alternating({"spla": ours, "scipy": theirs}, repeat=args.repeat, warmup=2)
        a, b = res["spla"]["median"], res["scipy"]["median"]
        print(f"| {name} | {a:.4f} | {b:.4f} | {b / a:.2f}x | {TARGET}x |", flush=True)


if __name__ == "__main__":
    main()
