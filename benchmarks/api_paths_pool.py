"""Session 14: abs, power(2) and tocoo at n = 2e6 (uniform, 10 a row), spla with
its pool of reused outputs (``memory.pooled_empty``), spla without it
(``POOL_KEEP_BYTES = 0``: every output fresh, as before) and SciPy, alternating in
shuffled order; per case the median and minimum wall time, the median CPU time
of the process (all threads) and the minor page faults per call
(``python -m benchmarks.api_paths_pool [repeats] [float64|int64]``)."""
import random
import resource
import statistics
import sys
import time

import numpy as np
import scipy.sparse as sp

import spla
from spla._backends.cpu import memory
from .matrices import uniform


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    dtype = np.dtype(sys.argv[2] if len(sys.argv) > 2 else "float64")
    d, i, p, shape = uniform(2_000_000)
    if dtype.kind in "iu":
        d = np.rint(d * 100).astype(dtype)
    A = spla.csr_array((d, i, p), shape=shape)
    S = sp.csr_array((d, i, p), shape=shape)
    keep = memory.POOL_KEEP_BYTES

    def spla_call(f, pool):
        def g():
            memory.POOL_KEEP_BYTES = keep if pool else 0
            try:
                return f()
            finally:
                memory.POOL_KEEP_BYTES = keep
        return g

    ops = {"abs(A)": abs, "A.power(2)": lambda M: M.power(2), "A.tocoo()": lambda M: M.tocoo()}
    fns = {}
    for name, op in ops.items():
        fns[f"{name} spla, pool"] = spla_call(lambda op=op: op(A), True)
        fns[f"{name} spla, fresh outputs"] = spla_call(lambda op=op: op(A), False)
        fns[f"{name} SciPy"] = lambda op=op: op(S)
    for f in fns.values():
        f()
        f()
    rec = {k: [] for k in fns}
    rng = random.Random(0)
    for _ in range(reps):
        ks = list(fns)
        rng.shuffle(ks)
        for k in ks:
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            c0 = time.process_time()
            t0 = time.perf_counter()
            out = fns[k]()
            t = time.perf_counter() - t0
            c = time.process_time() - c0
            f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            del out
            rec[k].append((t, c, f1 - f0))
    print(f"{dtype}: | case | wall ms median | min | CPU ms median | minor faults / call |")
    print("|---|---|---|---|---|")
    for k, v in rec.items():
        print(f"| {k} | {1e3 * statistics.median(x[0] for x in v):.1f} | "
              f"{1e3 * min(x[0] for x in v):.1f} | {1e3 * statistics.median(x[1] for x in v):.1f} | "
              f"{statistics.median(x[2] for x in v):.0f} |")


if __name__ == "__main__":
    main()
