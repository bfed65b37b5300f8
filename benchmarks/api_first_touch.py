"""Session 14: what a fresh output costs on this machine, against a reused one
(``python -m benchmarks.api_first_touch [repeats]``; Linux).

A value map of 20 M float64 (``abs``: 160 MB read, 160 MB written) timed with
its output

- allocated by NumPy inside the call and written by one thread (SciPy's ``abs``),
- allocated fresh and written in pieces by two threads (spla's ``parallel_map``),
- allocated fresh, its pages touched by the calling thread first (one write a
  page), then written by two threads (``memory.empty_output``),
- already touched (a buffer reused between calls), one and two threads,

and plain fresh fills and copies for the bandwidth. Cases alternate in shuffled
order; per case the median wall time, the median CPU time of the process (all
threads: ``time.process_time``), the minor page faults per call and the
AnonHugePages of the process while the output lived. Run it alone: the figures
are the machine's, not spla's.
"""

import random
import resource
import statistics
import sys
import time

import numpy as np

from spla._backends.cpu import memory
from spla._kernels.convert import expand_rows as _expand
from spla._kernels.values import parallel_map

N = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000_000


def _thp_kib():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("AnonHugePages"):
                return int(line.split()[1])
    return -1


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    rng = np.random.default_rng(0)
    x = rng.random(N) - 0.5
    warm = np.empty_like(x)
    warm[:] = 0

    def touched_then_2(x):
        out = memory.empty_output(x.shape, x.dtype)
        return _pieces(np.abs, x, out)

    def populated_then_2(x):
        out = np.empty_like(x)
        _populate(out)
        return _pieces(np.abs, x, out)

    idx = np.arange(N, dtype=np.int32) // 10
    indptr = np.arange(0, N + 1, 10, dtype=np.int32)
    blocks = np.linspace(0, indptr.size - 1, 9).astype(np.int64)

    def rows_fresh_2():
        r = np.empty(N, np.int32)
        _expand(indptr, blocks, r)
        return r

    def rows_touched_2():
        r = memory.empty_output((N,), np.int32)
        _expand(indptr, blocks, r)
        return r

    def rows_populated_2():
        r = np.empty(N, np.int32)
        _populate(r)
        _expand(indptr, blocks, r)
        return r

    cases = {
        "abs: NumPy alloc, 1 thread (SciPy)": lambda: np.abs(x),
        "abs: fresh, 2 threads (parallel_map)": lambda: parallel_map(np.abs, x),
        "abs: fresh, touched by 1 thread, then 2": lambda: touched_then_2(x),
        "abs: fresh, MADV_POPULATE_WRITE, then 2": lambda: populated_then_2(x),
        "rows 80 MB: fresh, 2 threads": rows_fresh_2,
        "rows 80 MB: touched by 1 thread, then 2": rows_touched_2,
        "rows 80 MB: MADV_POPULATE_WRITE, then 2": rows_populated_2,
        "rows 80 MB: np.repeat (1 thread)": lambda: np.repeat(np.arange(N // 10, dtype=np.int32), 10),
        "abs: reused output, 1 thread": lambda: np.abs(x, out=warm),
        "abs: reused output, 2 threads": lambda: _pieces(np.abs, x, warm),
        "fill 160 MB fresh, 1 thread": lambda: np.ones(N),
        "copy 160 MB fresh, 1 thread": lambda: x.copy(),
        "copy 160 MB into reused, 1 thread": lambda: np.copyto(warm, x),
    }
    for f in cases.values():
        f()
        f()
    rec = {k: [] for k in cases}
    order = random.Random(0)
    ru = resource.getrusage
    for _ in range(reps):
        names = list(cases)
        order.shuffle(names)
        for k in names:
            f0 = ru(resource.RUSAGE_SELF).ru_minflt
            c0 = time.process_time()
            t0 = time.perf_counter()
            out = cases[k]()
            t = time.perf_counter() - t0
            c = time.process_time() - c0
            f1 = ru(resource.RUSAGE_SELF).ru_minflt
            h = _thp_kib()
            del out
            rec[k].append((t, c, f1 - f0, h))
    print("| case | wall ms median | min | CPU ms median | minor faults / call | AnonHugePages MiB |")
    print("|---|---|---|---|---|---|")
    for k, v in rec.items():
        print(f"| {k} | {1e3 * statistics.median(r[0] for r in v):.1f} | "
              f"{1e3 * min(r[0] for r in v):.1f} | {1e3 * statistics.median(r[1] for r in v):.1f} | "
              f"{statistics.median(r[2] for r in v):.0f} | "
              f"{statistics.median(r[3] for r in v) / 1024:.0f} |")


_libc = None


def _populate(a):
    """madvise(MADV_POPULATE_WRITE) over the whole pages of ``a`` (Linux >= 5.14)."""
    import ctypes

    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    start = -(-a.ctypes.data // 4096) * 4096
    end = (a.ctypes.data + a.nbytes) // 4096 * 4096
    if end > start and _libc.madvise(start, end - start, 23) != 0:
        raise OSError(ctypes.get_errno(), "madvise")


def _pieces(func, x, out, threads=2):
    """``func(x, out=out)`` in ``threads`` pieces on the map pool."""
    from spla._kernels.values import _executor, piece_bounds

    b = piece_bounds(x.size, threads)
    pool = _executor(threads)
    futs = [pool.submit(func, x[b[p]:b[p + 1]], out=out[b[p]:b[p + 1]]) for p in range(1, threads)]
    func(x[b[0]:b[1]], out=out[b[0]:b[1]])
    for f in futs:
        f.result()
    return out


if __name__ == "__main__":
    main()
