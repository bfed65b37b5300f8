"""Session 13: COO->CSR of 20 M shuffled triplets, the direct scatter against the buckets of
rows, each with and without NumPy's huge-page advice, alternating; per call: time, minor page
faults (thousands) and the process's AnonHugePages (``python -m benchmarks.api_paths_coo_faults
[repeats]``; Linux). The figures behind ``convert.BUCKET_MIN_NNZ``."""
import sys, time, statistics, random, resource
import numpy as np, scipy.sparse as sp

import spla
from spla._backends.cpu import convert
from .matrices import uniform
from numpy._core.multiarray import _set_madvise_hugepage


def main():
    saved = convert.BUCKET_MIN_NNZ
    n = 2_000_000
    d, i, p, shape = uniform(n)
    S = sp.csr_array((d, i, p), shape=shape)
    C = S.tocoo(); order = np.random.default_rng(3).permutation(C.nnz)
    row, col, val = C.row[order], C.col[order], C.data[order]
    del C, S, d, i, p
    def mk(bucket, hp):
        def f():
            _set_madvise_hugepage(hp)
            convert.BUCKET_MIN_NNZ = (1 << 21) if bucket else (1 << 62)
            try:
                return spla.csr_array((val, (row, col)), shape=shape)
            finally:
                convert.BUCKET_MIN_NNZ = saved
                _set_madvise_hugepage(True)
        return f
    fns = {f"{'bucket' if b else 'direct'} hp={hp}": mk(b, hp) for b in (0, 1) for hp in (True, False)}
    def thp():
        for l in open('/proc/self/smaps_rollup'):
            if l.startswith('AnonHugePages'): return int(l.split()[1])
    rec = {k: [] for k in fns}
    rng = random.Random(0)
    for r in range(int(sys.argv[1]) if len(sys.argv) > 1 else 7):
        ks = list(fns); rng.shuffle(ks)
        for k in ks:
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter(); out = fns[k](); t = time.perf_counter() - t0
            f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            h = thp(); del out
            rec[k].append((t, f1 - f0, h))
    for k, v in rec.items():
        ts = [x[0] for x in v]
        print(f"{k:16s} median {1e3*statistics.median(ts):7.1f} min {1e3*min(ts):7.1f} ms | " +
              " ".join(f"{1e3*t:.0f}/{fl//1000}k/{h//1024}M" for t, fl, h in v))


if __name__ == "__main__":
    main()
