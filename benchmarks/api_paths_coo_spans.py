"""Session 14: COO->CSR of 20 M shuffled triplets (n = 2e6, 10 a row): the direct
scatter, the buckets inside the output arrays (``spla._kernels.buckets``) at a few
bucket sizes, and SciPy, alternating in shuffled order; per path the median and
minimum wall time, the median CPU time of the process (``time.process_time``,
all threads) and the minor page faults per call
(``python -m benchmarks.api_paths_coo_spans [repeats] [n]``)."""
import random
import resource
import statistics
import sys
import time

import numpy as np
import scipy.sparse as sp

import spla
from spla._backends.cpu import convert
from .matrices import uniform


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
    d, i, p, shape = uniform(n)
    S = sp.csr_array((d, i, p), shape=shape)
    C = S.tocoo()
    order = np.random.default_rng(3).permutation(C.nnz)
    row, col, val = C.row[order], C.col[order], C.data[order]
    del C
    saved = (convert.BUCKET_MIN_NNZ, convert.BUCKET_ENTRIES)

    def path(bucket_min, entries):
        def f():
            convert.BUCKET_MIN_NNZ, convert.BUCKET_ENTRIES = bucket_min, entries
            try:
                return spla.csr_array((val, (row, col)), shape=shape)
            finally:
                convert.BUCKET_MIN_NNZ, convert.BUCKET_ENTRIES = saved
        return f

    fns = {"direct scatter": path(1 << 62, saved[1])}
    for e in (14, 16, 18):
        fns[f"spans, 2^{e} entries a bucket"] = path(0, 1 << e)
    fns["SciPy"] = lambda: sp.coo_array((val, (row, col)), shape=shape).tocsr()
    ref = fns["SciPy"]()
    for k, f in fns.items():
        out = f()
        assert np.array_equal(out.indptr, ref.indptr) and np.array_equal(out.indices, ref.indices)
        assert np.array_equal(out.data, ref.data), k
        f()
    del ref, out
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
    print("| path | wall ms median | min | CPU ms median | minor faults / call |")
    print("|---|---|---|---|---|")
    for k, v in rec.items():
        print(f"| {k} | {1e3 * statistics.median(x[0] for x in v):.1f} | "
              f"{1e3 * min(x[0] for x in v):.1f} | {1e3 * statistics.median(x[1] for x in v):.1f} | "
              f"{statistics.median(x[2] for x in v):.0f} |")


if __name__ == "__main__":
    main()
