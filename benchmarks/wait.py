"""How spla's idle threads wait, measured where it costs (``python -m benchmarks.wait``;
issue 17, "threads compose", and issue 20, "threads first").

GNU OpenMP (Numba's ``omp`` threading layer) reads its wait settings once, when
the library loads: a setting can only be compared across fresh processes. Each
round starts one process per setting, in a shuffled order (A B C, C A B, ...),
and every process times the same workloads; the figure per setting is the
median over rounds of each process's median. Settings:

``default``
    Whatever ``import spla`` does with no variable set (the shipped behaviour).
``spin=N``
    ``GOMP_SPINCOUNT=N`` set by the user before Python starts.
``active``
    ``OMP_WAIT_POLICY=ACTIVE``: libgomp's own default (300,000 spins here), the
    behaviour before spla set anything.
``workqueue``
    ``NUMBA_THREADING_LAYER=workqueue`` (its workers sleep on a condition
    variable; launches from several Python threads are serialised by spla).

Workloads (uniform 10-per-row float64 matrices of ``benchmarks.matrices``):
``krylov`` the user's mixed loop of ``benchmarks.mixed`` (SpMV, dot, axpy, norm,
a 500 x 500 GEMM; Numba and OpenBLAS at 2 threads each, their defaults) against
the same loop on SciPy, in the same process; ``spmv`` ``A @ x`` alone;
``cg`` spla's fused ``spla.linalg.cg`` (100 iterations, 2-D Laplacian);
``add``/``sum0`` ``A + A`` and ``A.sum(axis=0)`` (the API table's rows, large
and mid-sized: a launch of a few hundred microseconds shows a wake-up most);
``small`` ``A.sum(axis=1)`` at 1,000 entries (serial: no thread involved).

The OpenBLAS settings stay at their defaults (spin ~0.1 s) throughout: spla does
not touch a pool it does not own.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

from . import SET_HERE

CHILD = "--child" in sys.argv
if CHILD:  # time as a user runs: no quiet-thread settings from ``import benchmarks``
    for _name in SET_HERE:
        os.environ.pop(_name, None)

SETTINGS = {
    "default": {},
    "active": {"OMP_WAIT_POLICY": "ACTIVE"},
    "spin=0": {"GOMP_SPINCOUNT": "0"},
    "spin=10000": {"GOMP_SPINCOUNT": "10000"},
    "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
}

GEMM = 500


def _median_time(fn, repeat, number=1):
    fn()
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        ts.append((time.perf_counter() - t0) / number)
    return statistics.median(ts)


def child(sizes, quick):
    import numba
    import numpy as np
    import scipy.sparse as sp

    import spla
    import spla.linalg

    from .matrices import laplacian2d, uniform
    from .mixed import krylov_loop

    out = {"_env": {k: os.environ.get(k) for k in
                    ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}}
    rep = 3 if quick else 7
    G = np.random.default_rng(2).random((GEMM, GEMM))
    for n in sizes:
        d, i, p, shape = uniform(n)
        A = spla.csr_array((d, i, p), shape=shape)
        S = sp.csr_array((d, i, p), shape=shape)
        x0 = np.random.default_rng(1).random(n)
        iters = 20 if n <= 500_000 else 4
        ks, kp = krylov_loop(S, x0, G, iters), krylov_loop(A, x0, G, iters)
        kt = {"scipy": [], "spla": []}
        for _ in range(rep):  # alternate inside the process too
            for name, fn in (("scipy", ks), ("spla", kp)):
                t0 = time.perf_counter()
                fn()
                kt[name].append(time.perf_counter() - t0)
        out[f"krylov {n} scipy"] = statistics.median(kt["scipy"])
        out[f"krylov {n} spla"] = statistics.median(kt["spla"])
        out[f"spmv {n}"] = _median_time(lambda: A @ x0, 5 * rep, number=1 if n > 500_000 else 10)
        out[f"add {n}"] = _median_time(lambda: A + A, rep)
        out[f"sum0 {n}"] = _median_time(lambda: A.sum(axis=0), rep)
        del A, S, d, i, p
    n_mid = 20_000  # 200,000 entries: parallel, a few hundred microseconds a call
    d, i, p, shape = uniform(n_mid)
    A = spla.csr_array((d, i, p), shape=shape)
    out[f"add {n_mid}"] = _median_time(lambda: A + A, 5 * rep, number=10)
    out[f"sum0 {n_mid}"] = _median_time(lambda: A.sum(axis=0), 5 * rep, number=10)
    x = np.random.default_rng(1).random(n_mid)
    out[f"spmv {n_mid}"] = _median_time(lambda: A @ x, 5 * rep, number=20)
    d, i, p, shape = laplacian2d(200_000)
    L = spla.csr_array((d, i, p), shape=shape)
    b = np.random.default_rng(3).random(shape[0])
    out["cg lap 2e5 x100"] = _median_time(
        lambda: spla.linalg.cg(L, b, rtol=0.0, atol=0.0, maxiter=100), rep)
    d, i, p, shape = uniform(100)
    A = spla.csr_array((d, i, p), shape=shape)
    out["small sum1 1000"] = _median_time(lambda: A.sum(axis=1), 5 * rep, number=200)
    try:
        out["_layer"] = numba.threading_layer()
    except ValueError:
        out["_layer"] = "none"
    out["_gomp_env_after"] = os.environ.get("GOMP_SPINCOUNT")
    print("RESULT " + json.dumps(out), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="*", default=[200_000, 2_000_000])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--settings", nargs="*", default=list(SETTINGS))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="write every process's figures here, one JSON line each, "
                    "as they come")
    args = ap.parse_args(argv)
    if args.child:
        child(args.sizes, args.quick)
        return
    base_env = {k: v for k, v in os.environ.items() if k not in SET_HERE}
    for k in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER"):
        base_env.pop(k, None)
    results = {s: [] for s in args.settings}
    rng = random.Random(0)
    for r in range(args.rounds):
        order = args.settings[:]
        rng.shuffle(order)
        for s in order:
            env = dict(base_env, **SETTINGS[s])
            cmd = [sys.executable, "-m", "benchmarks.wait", "--child", "--sizes",
                   *map(str, args.sizes)] + (["--quick"] if args.quick else [])
            load = os.getloadavg()[0]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not line:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                raise SystemExit(f"child {s} failed")
            res = json.loads(line[0][7:])
            res["_load"] = load
            results[s].append(res)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps({"setting": s, "env": SETTINGS[s], **res}) + "\n")
            print(f"round {r} {s} load {load:.2f} layer {res['_layer']}", flush=True)
    keys = [k for k in results[args.settings[0]][0] if not k.startswith("_")]
    print(f"\nmedian over {args.rounds} fresh processes per setting (ms; load "
          f"{min(x['_load'] for v in results.values() for x in v):.2f}-"
          f"{max(x['_load'] for v in results.values() for x in v):.2f})\n")
    print("| workload | " + " | ".join(args.settings) + " |")
    print("|---|" + "---|" * len(args.settings))
    med = {s: {k: statistics.median(x[k] for x in results[s]) for k in keys}
           for s in args.settings}
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{1e3 * med[s][k]:.3f}" for s in args.settings) + " |")
    for n in args.sizes:
        print(f"| krylov {n}: SciPy/spla | " + " | ".join(
            f"{med[s][f'krylov {n} scipy'] / med[s][f'krylov {n} spla']:.2f}x"
            for s in args.settings) + " |")


if __name__ == "__main__":
    main()
