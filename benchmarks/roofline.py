"""Memory roofline of this machine for the value maps of ``benchmarks.api``:
``python -m benchmarks.roofline``.

Streams of the sizes of the n = 2,000,000 uniform matrix (20 M float64 values,
20 M int32 column indices, 2 M + 1 int32 row pointers) through the simplest
Numba kernels, on 1 and 2 threads, into output pages already touched and into
freshly allocated ones (the kernel then also pays the page faults and the
kernel's zeroing of every new page, as every spla and SciPy result does).
The composites time exactly the bytes ``abs(A)`` moves with and without a copy
of the structure, so that a value map can be compared with the fastest loop
over the same bytes. Timings alternate between cases; medians are shown.
"""

import argparse
import statistics
import time

import numba
import numpy as np
from numba import njit, prange

U = np.uint64


@njit(parallel=True, cache=True, nogil=True)
def _copy(src, dst, pieces):
    n = src.size
    for p in prange(pieces):
        for k in range(U(n * p // pieces), U(n * (p + 1) // pieces)):
            dst[k] = src[k]


@njit(parallel=True, cache=True, nogil=True)
def _abs(src, dst, pieces):
    n = src.size
    for p in prange(pieces):
        for k in range(U(n * p // pieces), U(n * (p + 1) // pieces)):
            dst[k] = abs(src[k])


@njit(parallel=True, cache=True, nogil=True)
def _read(src, pieces):
    n = src.size
    s = 0.0
    for p in prange(pieces):
        t = 0.0
        for k in range(U(n * p // pieces), U(n * (p + 1) // pieces)):
            t += src[k]
        s += t
    return s


@njit(parallel=True, cache=True, nogil=True)
def _fill(dst, pieces):
    n = dst.size
    for p in prange(pieces):
        for k in range(U(n * p // pieces), U(n * (p + 1) // pieces)):
            dst[k] = 1


def cases(n, threads):
    rng = np.random.default_rng(0)
    nnz = 10 * n
    data = rng.random(nnz) + 0.5
    indices = rng.integers(0, n, nnz).astype(np.int32)
    indptr = np.arange(0, nnz + 1, 10, dtype=np.int32)
    out_f = np.empty_like(data)
    out_i = np.empty_like(indices)
    out_p = np.empty_like(indptr)
    for a in (out_f, out_i, out_p):
        a.fill(0)
    t = threads

    def abs_fresh_struct():
        _abs(data, np.empty_like(data), t)
        _copy(indices, np.empty_like(indices), t)
        _copy(indptr, np.empty_like(indptr), t)

    def abs_touched_struct():
        _abs(data, out_f, t)
        _copy(indices, out_i, t)
        _copy(indptr, out_p, t)

    mb = 1e-6
    f8, i4, p4 = data.nbytes * mb, indices.nbytes * mb, indptr.nbytes * mb
    return {
        "read f8": (lambda: _read(data, t), f8),
        "write f8 fresh": (lambda: _fill(np.empty_like(data), t), f8),
        "write f8 touched": (lambda: _fill(out_f, t), f8),
        "copy f8 touched": (lambda: _copy(data, out_f, t), 2 * f8),
        "copy f8 fresh": (lambda: _copy(data, np.empty_like(data), t), 2 * f8),
        "copy i4 touched": (lambda: _copy(indices, out_i, t), 2 * i4),
        "copy i4 fresh": (lambda: _copy(indices, np.empty_like(indices), t), 2 * i4),
        "abs f8 fresh (no structure)": (lambda: _abs(data, np.empty_like(data), t), 2 * f8),
        "abs + structure, fresh": (abs_fresh_struct, 2 * (f8 + i4 + p4)),
        "abs + structure, touched": (abs_touched_struct, 2 * (f8 + i4 + p4)),
        "NumPy abs + copies (SciPy's way)": (
            lambda: (np.abs(data), indices.copy(), indptr.copy()), 2 * (f8 + i4 + p4)),
    }


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.roofline",
                                description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=2_000_000)
    p.add_argument("--repeat", type=int, default=9)
    p.add_argument("--threads", type=int, action="append",
                   help="thread counts (default 1 and the machine's)")
    args = p.parse_args(argv)
    all_threads = args.threads or sorted({1, numba.config.NUMBA_NUM_THREADS})
    print(f"n = {args.n:,}, Numba {numba.__version__}, threads {all_threads}")
    print("| case | threads | MB moved | median ms | min ms | GB/s (median) |")
    print("|---|---|---|---|---|---|")
    for threads in all_threads:
        numba.set_num_threads(threads)
        table = cases(args.n, threads)
        times = {k: [] for k in table}
        for fn, _ in table.values():
            fn()
            fn()
        for r in range(args.repeat):
            names = list(table)
            if r % 2:
                names.reverse()
            for name in names:
                t0 = time.perf_counter()
                table[name][0]()
                times[name].append(time.perf_counter() - t0)
        for name, (_, mb) in table.items():
            med = statistics.median(times[name])
            print(f"| {name} | {threads} | {mb:.0f} | {1e3 * med:.1f} | "
                  f"{1e3 * min(times[name]):.1f} | {mb / 1e3 / med:.1f} |")


if __name__ == "__main__":
    main()
