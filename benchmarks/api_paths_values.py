"""Session 12: value maps and `A > 0.5`, main's code path against this one and SciPy,
alternating (`python -m benchmarks.api_paths_values [repeats]`)."""
import sys, time, statistics, random, operator
import numpy as np, scipy.sparse as sp
import spla
from .matrices import uniform
from .roofline import _abs, _copy

def main():
    n = 2_000_000
    d, i, p, shape = uniform(n)
    A = spla.csr_array((d, i, p), shape=shape)
    S = sp.csr_array((d, i, p), shape=shape)
    cases = {
        "A > 0.5  main (_scalar_binop)": lambda: A._scalar_binop(0.5, operator.gt),
        "A > 0.5  branch": lambda: A > 0.5,
        "A > 0.5  SciPy": lambda: S > 0.5,
        "power(2) main (v ** 2 chunks)": lambda: A._apply(lambda v: v ** 2),
        "power(2) branch (np.square)": lambda: A.power(2),
        "power(2) SciPy": lambda: S.power(2),
        "abs(A)   spla": lambda: abs(A),
        "abs(A)   SciPy": lambda: abs(S),
        "abs data only, NumPy ufunc on 2 threads (= sharing)": lambda: A._apply(np.abs, copy=False),
        "loop limit: Numba abs + 2 copies, fresh, 2 threads": lambda: (_abs(d, np.empty_like(d), 2), _copy(i, np.empty_like(i), 2), _copy(p, np.empty_like(p), 2)),
    }
    for f in cases.values():
        f(); f()
    times = {k: [] for k in cases}
    rng = random.Random(0)
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    for r in range(reps):
        ks = list(cases); rng.shuffle(ks)
        for k in ks:
            t0 = time.perf_counter(); cases[k](); times[k].append(time.perf_counter() - t0)
    for k, v in times.items():
        print(f"| {k} | {1e3*statistics.median(v):.1f} | {1e3*min(v):.1f} |")


if __name__ == "__main__":
    main()
