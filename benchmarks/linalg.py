"""spla.linalg against scipy.sparse.linalg: ``python -m benchmarks.linalg``.

Every case times spla and SciPy alternately in one run (``timing.time_alternating``,
medians compared), float64:

1. Thread policy on the 2-D Laplacian (``--grid`` k: n = k^2): SciPy's ``gmres``
   (restart 30) on SciPy's CSR; the same ``gmres`` driven by spla's products with
   BLAS left alone (policy ``"leave"``) and with BLAS on one thread (the default
   policy); SciPy's ``cg`` against
   ``spla.linalg.cg`` (fused kernels). A fixed number of iterations
   (``--iters``, ``rtol`` = 0 so that no run stops early). spla's ``gmres`` is
   its own loop (fused modified Gram-Schmidt; the CGS2 variant beside it);
   "BLAS 1" is SciPy's loop on spla's products with BLAS on one thread (what
   ``spla.linalg.gmres`` was before session 12); SciPy's ``bicgstab`` against
   spla's (fused passes), ``--iters`` / 2 iterations (two products each). The
   SpMV share of SciPy's time and the Amdahl limit of the speed-up (if only the
   products got faster) are printed beside each figure, with the speed-up of the
   vector work alone.
2. ``eigsh(A, k=6, which="LA", tol=1e-8)`` on the Laplacian of ``--eig-grid`` and
   on bcsstk13 (tests/data).
3. ``spsolve`` on the Laplacian of ``--solve-grid`` and on cryg2500 (real,
   unsymmetric): SciPy's SuperLU, spla's SuperLU path, and PARDISO when installed.
4. ``spsolve_triangular`` on the lower triangle of the Laplacian of ``--grid``.

The issue's sizes are ``--grid 1000 --iters 500 --eig-grid 1000 --solve-grid 500``;
the defaults are smaller so that a run fits on 2 shared cores. Writes
``benchmarks/out/linalg.json``. Run under the lock on a shared machine:
``flock /tmp/spla-cpu.lock python -m benchmarks.linalg``.
"""

import argparse
import datetime
import json
import platform
from pathlib import Path

import numba
import numpy as np
import scipy
import scipy.io
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import spla
import spla.linalg as L

from .machine import cpu_model
from .timing import time_alternating

OUT = Path(__file__).resolve().parent / "out"
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def laplacian(k):
    T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(k, k))
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


def report(title, res, base, rows):
    print(f"\n{title}")
    b = res[base]["median"]
    for name, v in res.items():
        line = (f"  {name:28s} median {v['median'] * 1e3:10.2f} ms  min {v['min'] * 1e3:10.2f} ms"
                f"  speed-up vs {base}: {b / v['median']:5.2f}x")
        print(line)
        rows.append({"case": title, "name": name, "median_s": v["median"], "min_s": v["min"],
                     "speedup": b / v["median"]})


def with_policy(policy, fn):
    def run():
        old = L.set_blas_policy(policy)
        try:
            fn()
        finally:
            L.set_blas_policy(old)
    return run


def krylov(args, rows):
    S = laplacian(args.grid)
    A = spla.csr_array(S)
    n = S.shape[0]
    b = np.ones(n)
    it = args.iters
    spmv = time_alternating({"scipy_spmv": lambda: S @ b, "spla_spmv": lambda: A @ b},
                            repeat=15)
    report(f"SpMV, 2-D Laplacian n={n}", spmv, "scipy_spmv", rows)
    kw = dict(rtol=0.0, atol=0.0, maxiter=it)
    gm = dict(restart=30, maxiter=max(1, it // 30))
    bkw = dict(rtol=0.0, atol=0.0, maxiter=max(1, it // 2))  # two products per iteration
    from spla.linalg import _gmres, _isolve

    def gmres_variant(gs):
        def run():
            old, _gmres.ORTHOGONALIZATION = _gmres.ORTHOGONALIZATION, gs
            try:
                L.gmres(A, b, rtol=0.0, atol=0.0, **gm)
            finally:
                _gmres.ORTHOGONALIZATION = old
        return run

    res = time_alternating({
        "scipy.gmres(scipy csr)": lambda: sla.gmres(S, b, rtol=0.0, atol=0.0, **gm),
        "scipy.gmres(spla), BLAS left": with_policy(
            "leave", lambda: sla.gmres(A, b, rtol=0.0, atol=0.0, **gm)),
        "scipy.gmres(spla), BLAS 1": lambda: _isolve._scipy_gmres(A, b, rtol=0.0, atol=0.0,
                                                                   **gm),
        "spla.linalg.gmres (MGS)": lambda: L.gmres(A, b, rtol=0.0, atol=0.0, **gm),
        "spla.linalg.gmres CGS2": gmres_variant("cgs2"),
        "scipy.bicgstab": lambda: sla.bicgstab(S, b, **bkw),
        "spla.linalg.bicgstab": lambda: L.bicgstab(A, b, **bkw),
        "scipy.cg": lambda: sla.cg(S, b, **kw),
        "spla.linalg.cg": lambda: L.cg(A, b, **kw),
        "spla.linalg.cg, BLAS left": with_policy("leave", lambda: L.cg(A, b, **kw)),
    }, repeat=args.repeat, warmup=2)
    nmv = gm["maxiter"] * gm["restart"]
    title = (f"gmres(restart 30, {nmv} products), bicgstab ({bkw['maxiter']} iterations) and cg "
             f"({it} iterations), n={n}")
    report(title, res, "scipy.gmres(scipy csr)", rows)
    s_mv, p_mv = spmv["scipy_spmv"]["median"], spmv["spla_spmv"]["median"]
    for solver, count, base, ours in (
            ("gmres", nmv, "scipy.gmres(scipy csr)", "spla.linalg.gmres (MGS)"),
            ("bicgstab", 2 * bkw["maxiter"], "scipy.bicgstab", "spla.linalg.bicgstab"),
            ("cg", it, "scipy.cg", "spla.linalg.cg")):
        total = res[base]["median"]
        share = min(1.0, count * s_mv / total)
        amdahl = 1.0 / ((1 - share) + share * p_mv / s_mv)
        speedup = total / res[ours]["median"]
        # the rest of spla's time (vector work) against the rest of SciPy's
        rest = (total - count * s_mv) / max(res[ours]["median"] - count * p_mv, 1e-12)
        print(f"  {solver}: SpMV share of SciPy's time {share:.0%}; Amdahl limit with spla's SpMV "
              f"alone {amdahl:.2f}x; {ours} {speedup:.2f}x (its vector work {rest:.2f}x "
              "faster than SciPy's)")
        rows.append({"case": title, "name": f"{solver} SpMV share / Amdahl", "share": share,
                     "amdahl": amdahl, "speedup": speedup, "vector_work_speedup": rest})


def eigen(args, rows):
    cases = [(f"2-D Laplacian n={args.eig_grid ** 2}", laplacian(args.eig_grid)),
             ("bcsstk13", sp.csr_array(scipy.io.mmread(DATA / "bcsstk13.mtx.gz")))]
    for name, S in cases:
        A = spla.csr_array(S)
        v0 = np.ones(S.shape[0])
        kw = dict(k=6, which="LA", tol=1e-8, v0=v0, return_eigenvectors=False)
        res = time_alternating({"scipy.eigsh": lambda: sla.eigsh(S, **kw),
                                "spla.linalg.eigsh": lambda: L.eigsh(A, **kw)},
                               repeat=args.repeat, warmup=1)
        report(f"eigsh k=6 LA tol=1e-8, {name}", res, "scipy.eigsh", rows)


def direct(args, rows):
    cases = [(f"2-D Laplacian n={args.solve_grid ** 2}", laplacian(args.solve_grid)),
             ("cryg2500", sp.csr_array(scipy.io.mmread(DATA / "cryg2500.mtx.gz")))]
    for name, S in cases:
        A = spla.csr_array(S)
        Sc = S.tocsc()
        b = np.ones(S.shape[0])
        contenders = {"scipy.spsolve(csc)": lambda: sla.spsolve(Sc, b),
                      "spla superlu": lambda: L.spsolve(A, b, solver="superlu")}
        if L.pardiso_available():
            contenders["spla pardiso"] = lambda: L.spsolve(A, b, solver="pardiso")
        res = time_alternating(contenders, repeat=args.repeat, warmup=1)
        report(f"spsolve, {name}", res, "scipy.spsolve(csc)", rows)
    S = laplacian(args.grid)
    Lo = sp.csr_array(sp.tril(S, format="csr"))
    A = spla.csr_array(Lo)
    b = np.ones(S.shape[0])
    rng = np.random.default_rng(0)
    n = 200_000
    R = sp.random_array((n, n), density=8 / n, rng=rng, format="csr")
    Rl = sp.csr_array(sp.tril(R, -1) + sp.eye_array(n))
    Ar = spla.csr_array(Rl)
    br = np.ones(n)
    res = time_alternating({
        "scipy lap": lambda: sla.spsolve_triangular(Lo, b),
        "spla lap": lambda: L.spsolve_triangular(A, b),
        "scipy random": lambda: sla.spsolve_triangular(Rl, br),
        "spla random": lambda: L.spsolve_triangular(Ar, br),
    }, repeat=args.repeat, warmup=2)
    report(f"spsolve_triangular, lower Laplacian n={S.shape[0]} and random n={n} (8/row)",
           res, "scipy lap", rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", type=int, default=500)
    p.add_argument("--iters", type=int, default=150)
    p.add_argument("--eig-grid", type=int, default=150)
    p.add_argument("--solve-grid", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", choices=["krylov", "eigen", "direct"], default=None)
    args = p.parse_args(argv)
    rows = []
    print(f"{cpu_model()}, {numba.config.NUMBA_NUM_THREADS} Numba threads, "
          f"numpy {np.__version__}, scipy {scipy.__version__}, spla {spla.__version__}, "
          f"PARDISO {'yes' if L.pardiso_available() else 'no'}")
    for name, fn in (("krylov", krylov), ("eigen", eigen), ("direct", direct)):
        if args.only in (None, name):
            fn(args, rows)
    OUT.mkdir(exist_ok=True)
    (OUT / "linalg.json").write_text(json.dumps({
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": {"cpu": cpu_model(), "python": platform.python_version()},
        "args": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
