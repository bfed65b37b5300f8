"""Where the time of two GPU indexing reads goes (``python -m benchmarks.gpu_index_parts
[n] [repeat]``; n = 200,000 rows and 5 samples by default): the step-1 row slice
``A[lo:hi]`` (``spla._indexing.gpu.row_slice``) against the same rows read by the
row kernels (an index array) and cupyx; and ``A[:, cols]`` with 200k random
columns (repeats: the sorted column map) against a permutation (no repeats: no
sort), ``A[rows]`` of the same output size, cupyx, and the repeat step on its own:
``spla_cuda.index._column_lists`` by counting (lists of at most 32 positions) and
by ``cupy.argsort`` (the path for longer lists), beside ``cupy.argsort`` of int64
and of int32 keys.

The matrix and the keys are ``benchmarks.gpu_indexing``'s (uniform, 10 entries per
row, float64). Timing: ``gpu_indexing.time_calls`` (host wall time between device
synchronisations, alternating, median). ``--cpu`` runs the same cases with NumPy
and SciPy (a dry run of the script's logic, not a measurement of the GPU paths).
"""

import sys

import numpy as np

from .gpu_indexing import cpu_backend, gpu_backend, time_calls
from .matrices import uniform


def cases(n, be, seed=5):
    """(name, call) of the reads and pieces, on ``n`` rows."""
    import spla

    xp = be.xp
    d, i, p, shape = uniform(n)
    A = spla.csr_array((d, i, p), shape=shape).to_device(be.device)
    C = be.sparse.csr_matrix((xp.asarray(d), xp.asarray(i), xp.asarray(p)), shape=shape)
    rng = np.random.default_rng(seed)
    k = min(200_000, n)
    rows, cols = xp.asarray(rng.integers(0, n, k)), xp.asarray(rng.integers(0, n, k))
    perm = xp.asarray(rng.permutation(n)[:k])
    lo, hi = min(100_000, n // 20), min(1_100_000, n // 2)
    slice_keys = xp.arange(lo, hi, dtype=np.int64)
    cols32 = cols.astype(np.int32)

    yield "A[lo:hi] slice path", lambda: A[lo:hi]
    yield "A[lo:hi] as row keys (kernels)", lambda: A[slice_keys]
    yield "cupyx C[lo:hi]", lambda: C[lo:hi]
    yield f"A[rows] {k}", lambda: A[rows]
    yield f"A[:, cols] {k} (repeats)", lambda: A[:, cols]
    yield f"A[:, perm] {k} (no repeats)", lambda: A[:, perm]
    yield "cupyx C[:, cols] (repeats)", lambda: C[:, cols]
    yield "cupyx C[:, perm] (no repeats)", lambda: C[:, perm]
    yield f"argsort {k} int64 keys", lambda: xp.argsort(cols)
    yield f"argsort {k} int32 keys", lambda: xp.argsort(cols32)
    if be.device == "cpu":
        yield "column lists (stable argsort)", lambda: xp.argsort(cols, kind="stable")
        return
    from spla_cuda.index import _column_lists  # select's step for a column asked for twice

    cnt = xp.bincount(cols, minlength=n).astype(np.int32)
    cursor = xp.empty(n, dtype=np.uint32)
    yield "column lists: counting, insertion sorts", lambda: _column_lists(cols, n, cnt, cursor, True)
    yield "column lists: argsort of int32 keys", lambda: _column_lists(cols, n, cnt, cursor, False)

def main(argv):
    cpu = "--cpu" in argv
    args = [a for a in argv if a != "--cpu"]
    n = int(args[0]) if args else 200_000
    repeat = int(args[1]) if len(args) > 1 else 5
    be = cpu_backend() if cpu else gpu_backend()
    named = dict(cases(n, be))
    res = time_calls({name: (None, call) for name, call in named.items()}, be.sync, repeat)
    width = max(map(len, named))
    print(f"n = {n}, {repeat} samples, {'CPU dry run' if cpu else 'GPU'}; median (min) ms")
    for name, t in res.items():
        print(f"{name:<{width}}  {1e3 * t['median']:9.3f} ({1e3 * t['min']:.3f})")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
