"""python -m benchmarks.api: spla's array API against SciPy, alternating in one run.

Each case is a named ``(setup, spla_call, scipy_call)`` triple: ``setup(n, dtype)``
builds what both calls need (cached, so cases on the same matrices share them),
and each call takes that object. Every repeat runs spla and SciPy once, in a
shuffled order (``benchmarks.timing.time_alternating``); the table shows medians
and the ratio SciPy / spla (above 1: spla is faster). Nothing is written unless
``--json PATH`` is given.

The matrices are issue 17's: uniform, 10 random columns per row, n x n
(n = 2,000,000 by default), float64 and int64. Operations that the array
classes do not reach yet call the CPU backend on the raw storage.
"""

import argparse
import functools
import json
import statistics
from collections import namedtuple

import numpy as np
import scipy.sparse as sp

from .matrices import uniform
from .timing import time_alternating

Case = namedtuple("Case", "name setup spla scipy dtypes")


@functools.lru_cache(maxsize=4)
def _raw(n, dtype, seed):
    data, indices, indptr, shape = uniform(n, seed=seed)
    if np.dtype(dtype).kind in "iu":
        rng = np.random.default_rng(seed + 100)  # non-zero, as stored entries should be
        data = rng.integers(1, 1000, data.size) * rng.choice(np.array([-1, 1]), data.size)
    return data.astype(dtype), indices, indptr, shape


def pair(n, dtype):
    """A and B (two uniform matrices) as raw storage, spla and SciPy arrays."""
    import spla

    a, b = _raw(n, dtype, 0), _raw(n, dtype, 1)
    s = {"a": a, "b": b,
         "SA": sp.csr_array(a[:3], shape=a[3]), "SB": sp.csr_array(b[:3], shape=b[3])}
    if np.dtype(dtype).kind in "fc":  # spla arrays store floats only until issue 17's dtypes land
        s["A"] = spla.csr_array(a[:3], shape=a[3])
        s["B"] = spla.csr_array(b[:3], shape=b[3])
    return s


def _binop(op, x, y, result_dtype):
    from spla._backends.cpu.elementwise import binop

    return binop(op, x, y, result_dtype, canonical=True, check=False)


def _same(s, op, bool_result=False):
    dt = np.dtype(bool) if bool_result else s["a"][0].dtype
    return _binop(op, s["a"], s["a"], dt)


def _two(s, op, bool_result=False):
    dt = np.dtype(bool) if bool_result else s["a"][0].dtype
    return _binop(op, s["a"], s["b"], dt)


def _class_or_raw(method, op):
    """spla's array operator where the class has it (float storage), else the backend."""
    def call(s, second):
        if "A" in s:
            return method(s["A"], s[second])
        return _binop(op, s["a"], s[second.lower()], s["a"][0].dtype)
    return call


BOTH = (np.float64, np.int64)

CASES = [
    Case("A + A", pair, lambda s: _class_or_raw(lambda x, y: x + y, "add")(s, "A"),
         lambda s: s["SA"] + s["SA"], BOTH),
    Case("A - B", pair, lambda s: _class_or_raw(lambda x, y: x - y, "subtract")(s, "B"),
         lambda s: s["SA"] - s["SB"], BOTH),
    Case("A.multiply(B)", pair,
         lambda s: _class_or_raw(lambda x, y: x.multiply(y), "multiply")(s, "B"),
         lambda s: s["SA"].multiply(s["SB"]), BOTH),
    Case("A != B", pair, lambda s: _two(s, "ne", True), lambda s: s["SA"] != s["SB"], BOTH),
    Case("A < B", pair, lambda s: _two(s, "lt", True), lambda s: s["SA"] < s["SB"], BOTH),
    Case("maximum(A, B)", pair, lambda s: _two(s, "maximum"),
         lambda s: s["SA"].maximum(s["SB"]), BOTH),
]


def run(cases=None, n=2_000_000, dtypes=None, repeat=7, out=print):
    """Time ``cases`` (default: all); returns a list of result rows."""
    rows = []
    for case in cases or CASES:
        for dtype in dtypes or case.dtypes:
            if np.dtype(dtype) not in [np.dtype(d) for d in case.dtypes]:
                continue
            s = case.setup(n, np.dtype(dtype))
            t = time_alternating({"spla": lambda: case.spla(s), "scipy": lambda: case.scipy(s)},
                                 repeat=repeat)
            row = {"case": case.name, "dtype": np.dtype(dtype).name, "n": n,
                   "spla_ms": 1e3 * t["spla"]["median"], "scipy_ms": 1e3 * t["scipy"]["median"],
                   "spla_min_ms": 1e3 * t["spla"]["min"], "scipy_min_ms": 1e3 * t["scipy"]["min"]}
            row["speedup"] = row["scipy_ms"] / row["spla_ms"]
            rows.append(row)
            out(f"| {row['case']:<14} | {row['dtype']:<7} | {row['spla_ms']:9.1f} | "
                f"{row['scipy_ms']:9.1f} | {row['speedup']:5.2f}x |")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.api", description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=2_000_000, help="rows and columns (default 2e6)")
    p.add_argument("--repeat", type=int, default=7, help="alternating repeats (median shown)")
    p.add_argument("--dtype", action="append", help="only these dtypes (float64, int64)")
    p.add_argument("-k", dest="select", help="only cases whose name contains this")
    p.add_argument("--json", help="write the rows to this file")
    args = p.parse_args(argv)
    cases = [c for c in CASES if not args.select or args.select in c.name]
    print(f"n = {args.n:,}, {args.repeat} alternating repeats, medians")
    print("| case           | dtype   | spla ms   | SciPy ms  | ratio  |")
    print("|----------------|---------|-----------|-----------|--------|")
    rows = run(cases, args.n, args.dtype, args.repeat)
    if rows:
        print(f"geometric mean ratio: {statistics.geometric_mean(r['speedup'] for r in rows):.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
