"""Session 15: the sparse-sparse merge kernel (``spla._kernels.elementwise.merge_blocks``)
against another version of that module, alternating in one process, on the inputs
``A - B``, ``A != B``, ``A < B`` and ``A.maximum(B)`` give it (two different uniform
patterns, n = 2,000,000, 10 a row), outputs allocated once and reused (so only the
merge is timed):

    git show c6d28b7:spla/_kernels/elementwise.py > /tmp/base_elementwise.py
    python -m benchmarks.api_paths_merge /tmp/base_elementwise.py [repeats] [float64|int64]

(a new file name for each run: Numba cannot load back the cache of a module
loaded from a path, and fails on the second run).

Per (operation, version): median and minimum wall ms, median CPU ms of the
process (all threads). The module given must define ``merge_blocks`` and
``balanced_blocks`` with this one's arguments, except that this one's
``merge_rows`` makes its own zero buffer (both take the same arguments).
"""

import importlib.util
import os
import random
import statistics
import sys
import time

import numba
import numpy as np

from spla._kernels import elementwise as K
from spla._kernels.threads import parallel_section

from .api import _pair


def _load(path):
    spec = importlib.util.spec_from_file_location("base_elementwise", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    base = _load(sys.argv[1])
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    dtype = np.dtype(sys.argv[3] if len(sys.argv) > 3 else "float64")
    A, B, _, _ = _pair(2_000_000, dtype)
    ap, ai, ad = A.indptr, A.indices, A.data
    bp, bi, bd = B.indptr, B.indices, B.data
    m = ap.size - 1
    bound = ai.size + bi.size
    n_blocks = 8 * numba.get_num_threads()
    blocks = K.balanced_blocks(ap, bp, n_blocks)
    cp = np.zeros(m + 1, np.int32)
    ci = np.zeros(bound, np.int32)
    outs = {"subtract": np.zeros(bound, dtype), "maximum": np.zeros(bound, dtype),
            "ne": np.zeros(bound, np.bool_), "lt": np.zeros(bound, np.bool_)}
    written = np.zeros(n_blocks, np.int64)
    zc = dtype.type(0)
    fns = {}
    for op, cd in outs.items():
        code = K.OPERATIONS[op]
        zo = cd.dtype.type(0)
        for name, mod in (("this", K), ("base", base)):
            def f(mod=mod, code=code, zo=zo, cd=cd):
                with parallel_section():
                    mod.merge_blocks(code, ap, ai, ad, bp, bi, bd, blocks, zc, zo, False, cp,
                                     ci, cd, written)
                return written.sum()
            fns[(op, name)] = f
    for op in outs:  # both versions give the same results
        n1 = fns[(op, "this")]()
        r1 = (ci.copy(), outs[op].copy())
        n2 = fns[(op, "base")]()
        assert n1 == n2 and np.array_equal(r1[0], ci) and np.array_equal(r1[1], outs[op]), op
    for f in fns.values():
        f()
    print(f"merge_blocks, {dtype}, {numba.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.2f}")
    rec = {k: [] for k in fns}
    rng = random.Random(0)
    for _ in range(reps):
        ks = list(fns)
        rng.shuffle(ks)
        for k in ks:
            c0, t0 = time.process_time(), time.perf_counter()
            fns[k]()
            rec[k].append((time.perf_counter() - t0, time.process_time() - c0))
    print("| op | version | wall ms median | min | CPU ms median |")
    print("|---|---|---|---|---|")
    for (op, name), v in rec.items():
        print(f"| {op} | {name} | {1e3 * statistics.median(x[0] for x in v):.1f} | "
              f"{1e3 * min(x[0] for x in v):.1f} | {1e3 * statistics.median(x[1] for x in v):.1f} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
