"""Session 15: where the time of the API rows near their targets goes, by phase.

``python -m benchmarks.api_paths_phases CASE [repeats] [float64|int64]`` with CASE one of

- ``binops``: ``A - B``, ``A != B``, ``A < B``, ``A.maximum(B)`` of two different
  uniform patterns; every kernel the CPU backend calls (``spla._kernels.elementwise``)
  is timed on its own (wall, CPU of the process, minor page faults), the rest of
  the call is "other" (allocation, checks, wrapping);
- ``tocsc``: the direct scatter (``convert.scatter_transpose``) against the
  buckets of columns (``convert._transpose_buckets``) at a few bucket sizes, and
  SciPy, alternating, per kernel too;
- ``hstack``: ``hstack([A, A])`` with pooled outputs, with fresh outputs
  (``POOL_KEEP_BYTES = 0``), and SciPy.

n = 2,000,000, 10 a row. Per path: median wall ms, minimum, median CPU ms of the
process (all threads: ``time.process_time``) and minor page faults a call; the
kernels' rows are the medians of their own times. Run alone: the figures are
noisy on a shared machine (the load average is printed before and after).
"""

import collections
import os
import random
import resource
import statistics
import sys
import time

import numba
import numpy as np
import scipy.sparse as sp

import spla
from spla._backends.cpu import convert, memory
from spla._kernels import convert as KC
from spla._kernels import buckets as KB
from spla._kernels import elementwise as KE

from .api import _pair

_KERNELS = {
    "binops": (KE, ("merge_blocks", "close_gaps", "close_gaps_serial", "copy_blocks",
                    "equal_arrays", "equal_chunks", "balanced_blocks")),
    "tocsc": (KC, ("count_columns", "lane_offsets", "scatter_transpose", "count_column_buckets",
                   "scatter_transpose_to_spans")),
}

_log = collections.defaultdict(list)


def _faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _timed(name, fn):
    def wrapper(*args):
        f0, c0, t0 = _faults(), time.process_time(), time.perf_counter()
        out = fn(*args)
        t1, c1, f1 = time.perf_counter(), time.process_time(), _faults()
        _log[name].append((t1 - t0, c1 - c0, f1 - f0))
        return out
    return wrapper


def _instrument(case):
    if case not in _KERNELS:
        return
    module, names = _KERNELS[case]
    for name in names:
        setattr(module, name, _timed(name, getattr(module, name)))
    if case == "tocsc":
        KB.sort_spans = _timed("sort_spans", KB.sort_spans)


def _paths(case, dtype):
    A, B, S, T = _pair(2_000_000, dtype)
    if case == "binops":
        return {
            "A - B spla": lambda: A - B, "A - B SciPy": lambda: S - T,
            "A != B spla": lambda: A != B, "A != B SciPy": lambda: S != T,
            "A < B spla": lambda: A < B, "A < B SciPy": lambda: S < T,
            "max spla": lambda: A.maximum(B), "max SciPy": lambda: S.maximum(T),
        }
    if case == "tocsc":
        saved = (convert.BUCKET_MIN_NNZ, convert.TRANSPOSE_BUCKET_ENTRIES)

        def path(bucket_min, entries):
            def f():
                convert.BUCKET_MIN_NNZ, convert.TRANSPOSE_BUCKET_ENTRIES = bucket_min, entries
                try:
                    return A.tocsc()
                finally:
                    convert.BUCKET_MIN_NNZ, convert.TRANSPOSE_BUCKET_ENTRIES = saved
            return f

        fns = {"direct scatter": path(1 << 62, saved[1])}
        for e in (13, 14, 15, 16):
            fns[f"buckets 2^{e}"] = path(0, 1 << e)
        fns["SciPy"] = lambda: S.tocsc()
        ref = S.tocsc()
        for k, f in fns.items():
            out = f()
            assert np.array_equal(out.indptr, ref.indptr), k
            assert np.array_equal(out.indices, ref.indices), k
            assert np.array_equal(out.data, ref.data), k
        return fns
    if case == "hstack":
        keep = memory.POOL_KEEP_BYTES

        def fresh():
            memory.POOL_KEEP_BYTES = 0
            try:
                return spla.hstack([A, A])
            finally:
                memory.POOL_KEEP_BYTES = keep

        return {"spla pooled": lambda: spla.hstack([A, A]), "spla fresh": fresh,
                "SciPy": lambda: sp.hstack([S, S])}
    raise SystemExit(f"unknown case {case!r}: binops, tocsc or hstack")


def main():
    case = sys.argv[1] if len(sys.argv) > 1 else "binops"
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    dtype = np.dtype(sys.argv[3] if len(sys.argv) > 3 else "float64")
    fns = _paths(case, dtype)
    for f in fns.values():
        f()
        f()
    _instrument(case)
    print(f"{case}, {dtype}, {numba.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.2f}")
    rec = {k: [] for k in fns}
    kern = {k: collections.defaultdict(list) for k in fns}
    rng = random.Random(0)
    for _ in range(reps):
        ks = list(fns)
        rng.shuffle(ks)
        for k in ks:
            _log.clear()
            f0, c0, t0 = _faults(), time.process_time(), time.perf_counter()
            out = fns[k]()
            t = time.perf_counter() - t0
            c = time.process_time() - c0
            f1 = _faults()
            del out
            rec[k].append((t, c, f1 - f0))
            for name, v in _log.items():
                kern[k][name].append(tuple(map(sum, zip(*v))))
    print("| path | wall ms median | min | CPU ms median | minor faults / call |")
    print("|---|---|---|---|---|")
    for k, v in rec.items():
        print(f"| {k} | {1e3 * statistics.median(x[0] for x in v):.1f} | "
              f"{1e3 * min(x[0] for x in v):.1f} | {1e3 * statistics.median(x[1] for x in v):.1f} | "
              f"{statistics.median(x[2] for x in v):.0f} |")
        for name, w in kern[k].items():
            print(f"|   {name} | {1e3 * statistics.median(x[0] for x in w):.1f} | "
                  f"{1e3 * min(x[0] for x in w):.1f} | "
                  f"{1e3 * statistics.median(x[1] for x in w):.1f} | "
                  f"{statistics.median(x[2] for x in w):.0f} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
