"""How far spla's two slowest indexing reads are from the machine's limits
(issue 19: ``A[mask]`` of 10% of the rows and 200,000 points ``A[rows, cols]`` on
the uniform 10-per-row float64 matrix, n = 2,000,000).

``python -m benchmarks.index_limits [-n N] [--repeat R]`` prints, for each read:

- spla's and SciPy's median wall times, alternating in one process, and their
  ratio; the median CPU time per call (``time.process_time``: all threads) and the
  minor page faults per call (``getrusage``), which load on a shared machine
  changes much less than wall time;
- the machine's figures measured in the same run with Numba kernels on the same
  threads: streaming bandwidth (a parallel copy, read + write bytes) and the rate
  of independent random cache-line reads (a parallel gather from a 256 MiB array);
- a lower bound of each read's time from those figures: ``A[mask]`` moves at least
  the bytes of the mask, the row pointers, the cache lines of the selected rows'
  indices and values, and the output (written, plus the write-allocate read); a
  point of ``A[rows, cols]`` is a chain of dependent random reads (row pointer,
  then the row's indices, then its value if it is stored), so 200,000 points need
  at least two random line reads each and a third for each stored one (random
  points of this matrix are nearly all absent).

The bound over spla's time says how much of the machine spla uses; the bound
over SciPy's time / 2 says whether 2x SciPy is reachable at all.
"""

import argparse
import resource
import statistics
import time

import numba
import numpy as np
import scipy.sparse as sp
from numba import njit, prange

import spla

from .matrices import uniform

LINE = 64


@njit(parallel=True, cache=True, nogil=True)
def _copy(src, dst, pieces):
    n = src.size
    for p in prange(pieces):
        for k in range(n * p // pieces, n * (p + 1) // pieces):
            dst[k] = src[k]


@njit(parallel=True, cache=True, nogil=True)
def _gather(big, idx, out, pieces):
    n = idx.size
    for p in prange(pieces):
        for t in range(n * p // pieces, n * (p + 1) // pieces):
            out[t] = big[idx[t]]


def _median_time(fn, repeat):
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def machine(repeat):
    """(copy bytes/s read + write, independent random line reads/s)."""
    threads = numba.get_num_threads()
    pieces = 4 * threads
    src = np.ones(1 << 25)  # 256 MiB
    dst = np.empty_like(src)
    t_copy = _median_time(lambda: _copy(src, dst, pieces), repeat)
    idx = np.random.default_rng(1).integers(0, src.size // 8, 1 << 21) * 8  # line starts
    out = np.empty(idx.size)
    t_gather = _median_time(lambda: _gather(src, idx, out, pieces), repeat)
    return 2 * src.nbytes / t_copy, idx.size / t_gather


def _alternate(fns, repeat):
    """Median wall s, CPU s and minor faults per call of each callable, alternating."""
    for f in fns.values():
        f()
        f()
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    faults = {k: [] for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            t1, c1 = time.perf_counter(), time.process_time()
            r1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            wall[k].append(t1 - t0)
            cpu[k].append(c1 - c0)
            faults[k].append(r1 - r0)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k]),
                statistics.median(faults[k])) for k in fns}


def _lines(starts, ends, itemsize):
    """Cache lines covered by the byte ranges [starts, ends) * itemsize."""
    a = (starts * itemsize) // LINE
    b = (np.maximum(ends, starts + 1) * itemsize - 1) // LINE
    return int(np.sum(b - a + 1))


def mask_bytes(indptr, indices, data, mask):
    """Bytes ``A[mask]`` moves at least: mask and row pointers read, the selected
    rows' index and value lines read, the output written (and read for allocation)."""
    rows = np.flatnonzero(mask)
    lo, hi = indptr[rows].astype(np.int64), indptr[rows + 1].astype(np.int64)
    nnz = int(np.sum(hi - lo))
    read = mask.nbytes + indptr.nbytes
    read += LINE * (_lines(lo, hi, indices.itemsize) + _lines(lo, hi, data.itemsize))
    write = nnz * (indices.itemsize + data.itemsize) + (rows.size + 1) * indptr.itemsize
    return read + 2 * write


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.index_limits")
    p.add_argument("-n", type=int, default=2_000_000)
    p.add_argument("--repeat", type=int, default=15)
    args = p.parse_args(argv)
    n = args.n
    d, i, ptr, shape = uniform(n)
    A = spla.csr_array((d, i, ptr), shape=shape)
    S = sp.csr_array((d, i, ptr), shape=shape)
    rng = np.random.default_rng(5)
    k = min(200_000, n)
    rows, cols = rng.integers(0, n, k), rng.integers(0, n, k)  # the api suite's draws
    mask = rng.random(n) < 0.1
    bw, rand = machine(args.repeat)
    import os

    print(f"n = {n:,}, {numba.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.2f}; copy {bw / 1e9:.1f} GB/s (read + write), "
          f"{rand / 1e6:.1f} M random line reads/s")
    res = _alternate({"spla": lambda: A[mask], "scipy": lambda: S[mask]}, args.repeat)
    need = mask_bytes(A.indptr, A.indices, A.data, mask)
    bound = need / bw
    _show("A[mask] 10% rows", res, bound, f"{need / 1e6:.0f} MB at the copy bandwidth")
    res = _alternate({"spla": lambda: A[rows, cols], "scipy": lambda: S[rows, cols]},
                     args.repeat)
    lines = 2 * k + int(np.count_nonzero(S[rows, cols]))  # (no explicit zeros here)
    bound = lines / rand
    _show(f"A[rows, cols] {k // 1000}k", res, bound, f"{lines:,} random line reads")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def _show(name, res, bound, why):
    (ws, cs, fs), (wt, ct, ft) = res["spla"], res["scipy"]
    print(f"{name}: spla {1e3 * ws:.2f} ms (CPU {1e3 * cs:.2f} ms, {fs:.0f} faults), "
          f"SciPy {1e3 * wt:.2f} ms (CPU {1e3 * ct:.2f} ms, {ft:.0f} faults): "
          f"{wt / ws:.2f}x; lower bound {1e3 * bound:.2f} ms ({why}): spla at "
          f"{100 * bound / ws:.0f}% of it, 2x SciPy needs {1e3 * wt / 2:.2f} ms "
          f"({'below' if wt / 2 < bound else 'above'} the bound)")


if __name__ == "__main__":
    main()
