"""spla's reductions, conversions and value maps against SciPy, in one run.

Each case is ``(name, spla call, SciPy call)`` on the same matrix (the uniform
10-per-row matrix of ``matrices.uniform``, float64 values in [0.5, 1.5) or
int64 ones, int32 indices), timed alternately (``timing.time_alternating``);
the figure to compare is the median, and the ratio is SciPy's median over
spla's. spla is called through its CPU entry points over raw storage
(``spla._backends.cpu.reduce``/``convert``/``values``), the functions that the
array methods dispatch to. Run from the repository root:

```
python -m benchmarks.api_reduce                 # n = 2,000,000, 5 repeats
python -m benchmarks.api_reduce --n 100 --cases max_axis1 abs   # 1,000 entries
flock /tmp/spla-cpu.lock python -m benchmarks.api_reduce        # on a shared machine
```

SciPy's ``argmax(axis=1)`` loops over the rows in Python (seconds at n = 2M):
it gets fewer repeats (``--slow-repeat``).
"""

import argparse
import json
import os
import time

import numba
import numpy as np
import scipy
import scipy.sparse as sp

from spla._backends.cpu import convert, reduce, values

from . import matrices
from .machine import cpu_model
from .timing import time_alternating


def _cases(A, S, coo, Ai, Si):
    """name -> (spla callable, SciPy callable)."""
    r, c, d, shape = coo
    return {
        "sum_axis0": (lambda: reduce.sum_(*A, axis=0), lambda: S.sum(axis=0)),
        "sum_axis0_int64": (lambda: reduce.sum_(*Ai, axis=0), lambda: Si.sum(axis=0)),
        "max_axis1": (lambda: reduce.minmax(*A, "max", axis=1), lambda: S.max(axis=1)),
        "max_axis1_int64": (lambda: reduce.minmax(*Ai, "max", axis=1),
                            lambda: Si.max(axis=1)),
        "argmax_axis1": (lambda: reduce.argminmax(*A, "argmax", axis=1),
                         lambda: S.argmax(axis=1)),
        "tocsc": (lambda: convert.csr_tocsc(*A), lambda: S.tocsc()),
        "tocoo": (lambda: convert.csr_tocoo(*A), lambda: S.tocoo()),
        "coo_tocsr": (lambda: convert.coo_tocsr(r, c, d, shape),
                      lambda: sp.coo_array((d, (r, c)), shape=shape).tocsr()),
        "abs": (lambda: values.map_values(np.abs, *A), lambda: abs(S)),
        "power2": (lambda: values.map_values(np.power, *A, 2), lambda: S.power(2)),
        "gt_scalar": (lambda: values.compare_scalar(*A, ">", 0.5), lambda: S > 0.5),
        # the array classes know whether they are canonical, as SciPy's do
        # (``has_canonical_format``), and pass it on: no check of the rows
        "gt_scalar_canonical": (lambda: values.compare_scalar(*A, ">", 0.5, canonical=True),
                                lambda: S > 0.5),
        "max_axis1_canonical": (lambda: reduce.minmax(*A, "max", axis=1, canonical=True),
                                lambda: S.max(axis=1)),
        "nonzero": (lambda: convert.nonzero(*A), lambda: S.nonzero()),
        "count_nonzero_axis0": (lambda: reduce.count_nonzero(*A, axis=0),
                                lambda: S.count_nonzero(axis=0)),
        "canonicalize_shuffled": (
            lambda: convert.canonicalize(*A_shuffled[0]),
            lambda: _scipy_sum_duplicates(A_shuffled[0])),
    }


A_shuffled = []


def _scipy_sum_duplicates(args):
    data, indices, indptr, shape = args
    M = sp.csr_array((data.copy(), indices.copy(), indptr), shape=shape)
    M.sum_duplicates()
    return M


SLOW = {"argmax_axis1"}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2_000_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--slow-repeat", type=int, default=2)
    p.add_argument("--cases", nargs="*", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/out/api_reduce.json")
    args = p.parse_args(argv)

    data, indices, indptr, shape = matrices.uniform(args.n, args.seed)
    A = (data, indices, indptr, shape)
    S = sp.csr_array((data, indices, indptr), shape=shape)
    Ai = (np.ones(data.size, np.int64), indices, indptr, shape)
    Si = sp.csr_array(Ai[:3], shape=shape)
    rng = np.random.default_rng(args.seed + 1)
    rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
    perm = rng.permutation(data.size)
    coo = (rows[perm], indices[perm].astype(np.int64), data[perm], shape)
    # rows of A with their entries shuffled (unsorted, as after a COO build without sorting)
    key = rows * 1.0 + rng.random(rows.size)
    order = np.argsort(key, kind="stable")
    A_shuffled.append((data[order], indices[order], indptr, shape))
    del rows, perm, key, order

    cases = _cases(A, S, coo, Ai, Si)
    names = args.cases or list(cases)
    results = {}
    print(f"# spla vs SciPy {scipy.__version__}: reductions, conversions, value maps")
    print(f"# CPU: {cpu_model()}, {os.cpu_count()} cores, Numba threads "
          f"{numba.get_num_threads()}, n = {args.n:,}, nnz = {data.size:,}")
    print(f"{'case':<24}{'SciPy ms':>12}{'spla ms':>12}{'ratio':>8}")
    for name in names:
        spla_fn, scipy_fn = cases[name]
        repeat = args.slow_repeat if name in SLOW else args.repeat
        t = time_alternating({"spla": spla_fn, "scipy": scipy_fn}, repeat=repeat,
                             warmup=2 if name not in SLOW else 1,
                             min_sample_s=0.05 if data.size < 100_000 else 0.0)
        s_ms = t["scipy"]["median"] * 1e3
        o_ms = t["spla"]["median"] * 1e3
        results[name] = {"scipy_ms": s_ms, "spla_ms": o_ms, "ratio": s_ms / o_ms,
                         "scipy_min_ms": t["scipy"]["min"] * 1e3,
                         "spla_min_ms": t["spla"]["min"] * 1e3, "repeat": repeat}
        print(f"{name:<24}{s_ms:>12.2f}{o_ms:>12.2f}{s_ms / o_ms:>8.2f}", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"cpu": cpu_model(), "n": args.n, "nnz": int(data.size),
                   "threads": numba.get_num_threads(), "date": time.strftime("%Y-%m-%d"),
                   "results": results}, f, indent=1)
    return results


if __name__ == "__main__":
    main()
