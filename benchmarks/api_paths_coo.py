"""Session 12: COO->CSR of shuffled triplets, the direct scatter (main) against the
buckets of rows and SciPy, alternating (`python -m benchmarks.api_paths_coo [repeats]`)."""
import sys, time, statistics, random
import numpy as np, scipy.sparse as sp
import spla
from spla._backends.cpu import convert
from .matrices import uniform

def main():
    n = 2_000_000
    d, i, p, shape = uniform(n)
    S = sp.csr_array((d, i, p), shape=shape)
    C = S.tocoo()
    order = np.random.default_rng(3).permutation(C.nnz)
    row, col, val = C.row[order], C.col[order], C.data[order]
    del C
    BIG = 1 << 62
    saved = convert.BUCKET_MIN_NNZ
    def old():
        convert.BUCKET_MIN_NNZ = BIG
        try:
            return spla.csr_array((val, (row, col)), shape=shape)
        finally:
            convert.BUCKET_MIN_NNZ = saved
    def new():
        convert.BUCKET_MIN_NNZ = 1 << 21  # the bucket path (off by default since session 13)
        try:
            return spla.csr_array((val, (row, col)), shape=shape)
        finally:
            convert.BUCKET_MIN_NNZ = saved
    def scipy_():
        return sp.coo_array((val, (row, col)), shape=shape).tocsr()
    a, b = old(), new()
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data)
    del a, b
    fns = {"spla direct scatter (main)": old, "spla buckets (this branch)": new, "scipy": scipy_}
    times = {k: [] for k in fns}
    rng = random.Random(0)
    for r in range(int(sys.argv[1]) if len(sys.argv) > 1 else 7):
        ks = list(fns); rng.shuffle(ks)
        for k in ks:
            t0 = time.perf_counter(); fns[k](); times[k].append(time.perf_counter() - t0)
    for k, v in times.items():
        print(f"{k:28s} median {1e3*statistics.median(v):8.1f} ms  min {1e3*min(v):8.1f} ms  scipy/this (median) {statistics.median(times['scipy'])/statistics.median(v):.2f}x")


if __name__ == "__main__":
    main()
