"""spla.linalg against scipy.sparse.linalg: ``python -m benchmarks.linalg``.

Every case times spla and SciPy alternately in one run (``timing.time_alternating``,
medians compared), float64:

1. Thread policy on the 2-D Laplacian (``--grid`` k: n = k^2): SciPy's ``gmres``
   (restart 30) on SciPy's CSR; the same ``gmres`` driven by spla's products with
   BLAS left alone (policy ``"leave"``) and with BLAS on one thread (the default
   policy); SciPy's ``cg`` against
   ``spla.linalg.cg`` (fused kernels). A fixed number of iterations
   (``--iters``, ``rtol`` = 0 so that no run stops early). spla's ``gmres`` is
   its own loop (two-step fused modified Gram-Schmidt; the one-row MGS and CGS2
   variants beside it);
   "BLAS 1" is SciPy's loop on spla's products with BLAS on one thread (what
   ``spla.linalg.gmres`` was before session 12); SciPy's ``bicgstab`` against
   spla's (fused passes), ``--iters`` / 2 iterations (two products each); the same
   for ``cgs`` (two products per iteration) and ``tfqmr`` (``--iters`` half steps,
   one product each) and ``minres`` (``--iters`` iterations). The
   SpMV share of SciPy's time and the Amdahl limit of the speed-up (if only the
   products got faster) are printed beside each figure, with the speed-up of the
   vector work alone.
2. ``eigsh(A, k=6, which="LA", tol=1e-8)`` on the Laplacian of ``--eig-grid`` and
   on bcsstk13 (tests/data); spla's default against SciPy and against spla with the
   other kernel sets of ``--eig-kernels``, then one profiled run of each side (products,
   restarts, where the time goes). ``--eig-passes-n`` first times the Gram-Schmidt pair
   of a step (spla's passes against BLAS ``dgemv`` on one and two threads).
3. ``spsolve`` on the Laplacian of ``--solve-grid`` and on cryg2500 (real,
   unsymmetric): SciPy's SuperLU, spla's SuperLU path, and PARDISO when installed.
4. ``spsolve_triangular`` on the lower triangle of the Laplacian of ``--grid``.
5. ``--methods all`` (or a comma-separated list; runs instead of 1-4): every other
   iterative method (``METHODS``: bicg ... lsmr, eigsh, eigs (LM), eigs_lr (LR), svds,
   lobpcg, expm_multiply)
   on the Laplacian of ``--grid`` or an unsymmetric convection-diffusion stencil, a
   fixed amount of work each (``--iters``; ARPACK capped at ``--arpack-restarts``),
   SciPy on SciPy's CSR against ``spla.linalg`` on spla's CSR (``--scipy-blas1``
   adds SciPy with BLAS on one thread). Prints the products made, their share of
   SciPy's time (counted and timed by ``Counting``) and the Amdahl limit with
   spla's product speed-up measured in the same run.

The issue's sizes are ``--grid 1000 --iters 500 --eig-grid 1000 --solve-grid 500``;
the defaults are smaller so that a run fits on 2 shared cores. Writes
``benchmarks/out/linalg.json``. Run under the lock on a shared machine:
``flock /tmp/spla-cpu.lock python -m benchmarks.linalg``.
"""

import argparse
import contextlib
import datetime
import json
import platform
import time
import warnings
from pathlib import Path

import numba
import numpy as np
import scipy
import scipy.io
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import spla
import spla.linalg as L
from spla._backends.cpu import transposed
from spla.linalg._threads import solver_threads

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
        "spla.linalg.gmres (MGS2)": lambda: L.gmres(A, b, rtol=0.0, atol=0.0, **gm),
        "spla.linalg.gmres MGS": gmres_variant("mgs"),
        "spla.linalg.gmres CGS2": gmres_variant("cgs2"),
        "scipy.bicgstab": lambda: sla.bicgstab(S, b, **bkw),
        "spla.linalg.bicgstab": lambda: L.bicgstab(A, b, **bkw),
        "scipy.cg": lambda: sla.cg(S, b, **kw),
        "spla.linalg.cg": lambda: L.cg(A, b, **kw),
        "spla.linalg.cg, BLAS left": with_policy("leave", lambda: L.cg(A, b, **kw)),
        "scipy.cgs": lambda: sla.cgs(S, b, **bkw),
        "spla.linalg.cgs": lambda: L.cgs(A, b, **bkw),
        "scipy.tfqmr": lambda: sla.tfqmr(S, b, **kw),
        "spla.linalg.tfqmr": lambda: L.tfqmr(A, b, **kw),
        "scipy.minres": lambda: sla.minres(S, b, rtol=0.0, maxiter=it),
        "spla.linalg.minres": lambda: L.minres(A, b, rtol=0.0, maxiter=it),
    }, repeat=args.repeat, warmup=2)
    nmv = gm["maxiter"] * gm["restart"]
    title = (f"gmres(restart 30, {nmv} products), bicgstab and cgs ({bkw['maxiter']} iterations), "
             f"cg, tfqmr and minres ({it} iterations), n={n}")
    report(title, res, "scipy.gmres(scipy csr)", rows)
    s_mv, p_mv = spmv["scipy_spmv"]["median"], spmv["spla_spmv"]["median"]
    for solver, count, base, ours in (
            ("gmres", nmv, "scipy.gmres(scipy csr)", "spla.linalg.gmres (MGS2)"),
            ("cgs", 2 * bkw["maxiter"], "scipy.cgs", "spla.linalg.cgs"),
            ("tfqmr", it, "scipy.tfqmr", "spla.linalg.tfqmr"),
            ("minres", it, "scipy.minres", "spla.linalg.minres"),
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


def gs_passes(args, rows):
    """The classical Gram-Schmidt pair of spla's Lanczos step (``h = V w``, then
    ``w -= V^T h`` with ``|w|^2``) over a basis of ``--eig-passes-m`` rows: spla's fused
    Numba passes (``lanczos.STEP_PARALLEL``, 2 and 1 Numba threads) against BLAS ``dgemv``
    (one and two threads, threadpoolctl), alternating, ``REPS`` pairs per timed call (so
    that switching threads is not timed); bytes = two reads of the basis per pair."""
    from threadpoolctl import ThreadpoolController
    from scipy.linalg import blas

    from benchmarks.index_limits import machine
    from spla._kernels import lanczos

    reps = 20
    copy_bw, _ = machine(5)
    print(f"  copy bandwidth (read + write, {numba.get_num_threads()} threads): "
          f"{copy_bw / 1e9:.1f} GB/s")
    cgs_dots, cgs_sub_norm = lanczos.STEP_PARALLEL[:2]
    threads = numba.get_num_threads()
    controller = ThreadpoolController()
    for n in args.eig_passes_n:
        m = args.eig_passes_m
        rng = np.random.default_rng(0)
        V = rng.standard_normal((m + 1, n))
        w = rng.standard_normal(n)
        part = np.zeros((lanczos.step_chunks(n), m + 2))
        rpart = np.zeros(lanczos.step_chunks(n))

        def spla_pair(t):
            def run():
                numba.set_num_threads(t)
                try:
                    for _ in range(reps):
                        cgs_dots(V, m, w, part)
                        h = part[:, :m].sum(axis=0)
                        cgs_sub_norm(V, m, w, h, rpart)
                finally:
                    numba.set_num_threads(threads)
            return run

        def blas_pair(t):
            def run():
                with controller.limit(limits=t, user_api="blas"):
                    for _ in range(reps):
                        h = blas.dgemv(1.0, V[:m].T, w, trans=1)
                        blas.ddot(w, w)
                        blas.dgemv(-1.0, V[:m].T, h, beta=1.0, y=w, overwrite_y=1)
                        blas.ddot(w, w)
            return run

        res = time_alternating({"BLAS dgemv 1 thread": blas_pair(1),
                                "BLAS dgemv 2 threads": blas_pair(2),
                                f"spla passes {threads} threads": spla_pair(threads),
                                "spla passes 1 thread": spla_pair(1)},
                               repeat=args.repeat * 3, warmup=1)
        nbytes = reps * 2 * m * n * 8
        for name, r in res.items():
            print(f"    {name}: {r['median'] * 1e3 / reps:.3f} ms per pair, "
                  f"{nbytes / r['median'] / 1e9:.1f} GB/s ({nbytes / r['median'] / copy_bw:.0%} "
                  "of copy)")
        report(f"CGS pair h = V w, w -= V^T h, m = {m}, n = {n} ({reps} pairs per sample)",
               res, "BLAS dgemv 1 thread", rows)


def eigen(args, rows):
    if args.eig_passes_n:
        gs_passes(args, rows)
    cases = [(f"2-D Laplacian n={args.eig_grid ** 2}", laplacian(args.eig_grid)),
             ("bcsstk13", sp.csr_array(scipy.io.mmread(DATA / "bcsstk13.mtx.gz")))]
    for name, S in cases:
        A = spla.csr_array(S)
        # a random start: ones is symmetric on the Laplacian's grid, so a Krylov method
        # sees only the symmetric eigenvectors, and ARPACK then misses the copies of the
        # double eigenvalues that spla's Lanczos finds (different answers, not comparable)
        v0 = np.random.default_rng(0).uniform(-1.0, 1.0, S.shape[0])
        kw = dict(k=6, which="LA", tol=1e-8, v0=v0, return_eigenvectors=False)
        gap = np.abs(np.sort(sla.eigsh(S, **kw)) - np.sort(L.eigsh(A, **kw))).max()
        print(f"  eigsh {name}: largest difference between SciPy's and spla's eigenvalues "
              f"{gap:.1e}")
        contenders = {"scipy.eigsh": lambda: sla.eigsh(S, **kw),
                      "spla.linalg.eigsh": lambda: L.eigsh(A, **kw)}
        for kernels in args.eig_kernels:
            contenders[f"spla KERNELS={kernels}"] = _with_kernels(kernels, A, kw)
        res = time_alternating(contenders, repeat=args.repeat, warmup=1)
        report(f"eigsh k=6 LA tol=1e-8, {name}", res, "scipy.eigsh", rows)
        eigen_profile(name, S, A, kw, rows)


def _with_kernels(kernels, A, kw):
    """``L.eigsh(A, **kw)`` with ``_lanczos.KERNELS = kernels`` for the call."""
    from spla.linalg import _lanczos

    def run():
        old = _lanczos.KERNELS
        _lanczos.KERNELS = kernels
        try:
            return L.eigsh(A, **kw)
        finally:
            _lanczos.KERNELS = old
    return run


def eigen_profile(name, S, A, kw, rows):
    """One more (untimed above) run of each side, counting products and restarts: ARPACK's
    products through a counting operator (its own time = total - products), spla's from
    ``_lanczos.PROFILE`` (products, steps' vector work incl. Python, small eigh, restarts)."""
    from spla.linalg import _lanczos

    calls = [0, 0.0]

    def mv(x):
        t0 = time.perf_counter()
        y = S @ x
        calls[1] += time.perf_counter() - t0
        calls[0] += 1
        return y

    op = sla.LinearOperator(S.shape, matvec=mv, dtype=S.dtype)
    t0 = time.perf_counter()
    sla.eigsh(op, **kw)
    t_scipy = time.perf_counter() - t0
    prof = {}
    _lanczos.PROFILE = prof
    try:
        t0 = time.perf_counter()
        L.eigsh(A, **kw)
        t_spla = time.perf_counter() - t0
    finally:
        _lanczos.PROFILE = None
    per = 1e3 / max(prof["products"], 1)
    print(f"    profile {name}: ARPACK {calls[0]} products, {t_scipy * 1e3:.0f} ms "
          f"(products {calls[1] * 1e3:.0f} ms, the rest {(t_scipy - calls[1]) * 1e3:.0f} ms = "
          f"{(t_scipy - calls[1]) * 1e3 / max(calls[0], 1):.3f} ms per product)")
    print(f"    profile {name}: spla {prof['products']} products, {prof['restarts']} restarts, "
          f"{t_spla * 1e3:.0f} ms: products {prof['product'] * 1e3:.0f} ms, steps "
          f"{prof['step'] * 1e3:.0f} ms ({prof['step'] * per:.3f} ms per product), small eigh "
          f"{prof['eigh'] * 1e3:.0f} ms, restarts {prof['restart'] * 1e3:.0f} ms")
    rows.append({"case": f"eigsh profile, {name}", "arpack_products": calls[0],
                 "arpack_s": t_scipy, "arpack_product_s": calls[1], "spla_s": t_spla,
                 **{f"spla_{key}": v for key, v in prof.items()}})


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


# --- every other iterative method (``--methods``) --------------------------------------------

#: methods timed by ``--methods all`` (cg and gmres have their own case above)
METHODS = ("bicg", "bicgstab", "cgs", "qmr", "tfqmr", "minres", "lgmres", "gcrotmk", "lsqr",
           "lsmr", "eigsh", "eigs", "eigs_lr", "svds", "lobpcg", "expm_multiply")


def convection_diffusion(k, c=0.1):
    """Unsymmetric 5-point stencil on a k x k grid (central-differenced convection, cell
    Peclet number c): ``kronsum(T, T)`` with ``T = tridiag(-1 - c, 2, -1 + c)``."""
    T = sp.diags_array([-1.0 - c, 2.0, -1.0 + c], offsets=[-1, 0, 1], shape=(k, k))
    return sp.csr_array(sp.kronsum(T, T, format="csr"))


class Counting(sla.LinearOperator):
    """SciPy operator over ``M`` (SciPy sparse or spla) that counts and times its products.

    Used in one untimed run per method and side to get the number of products each
    solver makes and the seconds spent in them (the SpMV share of the run)."""

    def __init__(self, M):
        super().__init__(dtype=M.dtype, shape=M.shape)
        self.M = M
        self.spla = not isinstance(M, sla.LinearOperator) and not sp.issparse(M)
        self.counts = {"matvec": 0, "rmatvec": 0, "matmat": 0, "rmatmat": 0}
        self.seconds = dict.fromkeys(self.counts, 0.0)
        self.columns = dict.fromkeys(self.counts, 0)

    def _timed(self, kind, fn, x):
        t0 = time.perf_counter()
        y = fn(x)
        self.seconds[kind] += time.perf_counter() - t0
        self.counts[kind] += 1
        self.columns[kind] += x.shape[1] if x.ndim == 2 else 1
        return y

    def _vec(self, x):
        return x.reshape(-1) if x.ndim == 2 else x

    def _matvec(self, x):
        return self._timed("matvec", lambda v: self.M @ self._vec(v), x)

    def _rmatvec(self, x):
        f = (lambda v: self.M.rmatvec(self._vec(v))) if self.spla else (
            lambda v: self.M.T @ self._vec(v))
        return self._timed("rmatvec", f, x)

    def _matmat(self, X):
        return self._timed("matmat", lambda V: self.M @ V, X)

    def _rmatmat(self, X):
        f = (lambda V: self.M.rmatmat(V)) if self.spla else (lambda V: self.M.T @ V)
        return self._timed("rmatmat", f, X)

    def total_seconds(self):
        return sum(self.seconds.values())

    def summary(self):
        return ", ".join(f"{v} {k}" for k, v in self.counts.items() if v)


def _quiet(fn):
    """Run ``fn`` and swallow ARPACK's no-convergence error (a capped run is the measurement)."""
    def run():
        try:
            return fn()
        except sla.ArpackNoConvergence:
            return None
    return run


def method_cases(args):
    """``{name: (matrix, call)}``: ``call(module, A)`` runs the method with module's function.

    Every case does a fixed amount of work: ``rtol = atol = 0`` (or ARPACK/LOBPCG with
    ``maxiter`` capped below convergence), so SciPy and spla iterate alike."""
    k, it = args.grid, args.iters
    n = k * k
    lap, cd = laplacian(k), convection_diffusion(k)
    b = np.ones(n)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 6))
    v0 = np.ones(n)
    z = dict(rtol=0.0, atol=0.0)
    cases = {
        "bicg": (cd, lambda m, A: m.bicg(A, b, maxiter=it, **z)),
        "bicgstab": (cd, lambda m, A: m.bicgstab(A, b, maxiter=it, **z)),
        # cgs on the Laplacian: on the unsymmetric stencil its iterates diverge (norm 1e23 at
        # 150 iterations) and rounding decides when it reports a breakdown
        "cgs": (lap, lambda m, A: m.cgs(A, b, maxiter=it, **z)),
        "qmr": (cd, lambda m, A: m.qmr(A, b, maxiter=it, **z)),
        "tfqmr": (cd, lambda m, A: m.tfqmr(A, b, maxiter=it, **z)),
        "minres": (lap, lambda m, A: m.minres(A, b, maxiter=it, rtol=0.0)),
        # lgmres: maxiter restarts of inner_m 30 products (plus outer_k augmentation)
        "lgmres": (cd, lambda m, A: m.lgmres(A, b, maxiter=max(1, it // 30), **z)),
        # gcrotmk: maxiter restarts of m 20 products
        "gcrotmk": (cd, lambda m, A: m.gcrotmk(A, b, maxiter=max(1, it // 20), **z)),
        "lsqr": (cd, lambda m, A: m.lsqr(A, b, atol=0.0, btol=0.0, conlim=0.0, iter_lim=it)),
        "lsmr": (cd, lambda m, A: m.lsmr(A, b, atol=0.0, btol=0.0, conlim=0.0, maxiter=it)),
        "lobpcg": (lap, lambda m, A: m.lobpcg(A, X, tol=1e-30, maxiter=max(1, it // 5),
                                                largest=True)),
    }

    def eigsh(m, A):
        # ARPACK's maxiter counts implicit restarts (about ncv - k products each); the
        # Laplacian's top eigenvalues are clustered, so the cap is reached before tol
        try:
            return m.eigsh(A, k=6, which="LA", tol=1e-8, v0=v0, ncv=20,
                           maxiter=args.arpack_restarts, return_eigenvectors=False)
        except sla.ArpackNoConvergence:
            return None

    def eigs(which):
        # eigs k=6 on the convection-diffusion stencil (a real spectrum, clustered at both
        # ends): maxiter caps the restarts as for eigsh, so both sides do similar work
        def call(m, A):
            try:
                return m.eigs(A, k=6, which=which, tol=1e-8, v0=v0, ncv=20,
                              maxiter=args.arpack_restarts, return_eigenvectors=False)
            except sla.ArpackNoConvergence:
                return None
        return call

    def svds(m, A):
        try:
            return m.svds(A, k=6, tol=1e-8, v0=v0, ncv=20, maxiter=args.arpack_restarts,
                          return_singular_vectors=False)
        except sla.ArpackNoConvergence:
            return None

    lap_t = sp.csr_array(-0.25 * lap)  # expm(-A / 4) b: the norm of A / 4 sets the work
    trace = float(lap_t.trace())  # given, so that the counting operator makes no estimate

    cases["eigsh"] = (lap, eigsh)
    cases["eigs"] = (cd, eigs("LM"))
    cases["eigs_lr"] = (cd, eigs("LR"))
    cases["svds"] = (cd, svds)
    cases["expm_multiply"] = (lap_t, lambda m, A: m.expm_multiply(A, b, traceA=trace))
    return cases


def _speedups(S, A, rows, title_n):
    """SciPy's and spla's products alone, alternated: ``{kind: (scipy_s, spla_s)}``
    (``"rmatvec held"``: spla's ``A^H x`` with the transpose kept, as inside the solvers
    that hold it)."""
    n = S.shape[0]
    x = np.ones(n)
    X = np.random.default_rng(1).standard_normal((n, 6))
    St = S.T  # SciPy's rmatvec on CSR: the transpose (CSC) product
    Ah = spla.csr_array(S)  # its own storage, to hold the transpose apart from A's
    hold = transposed.prepare(Ah)
    try:
        res = time_alternating({
            "scipy matvec": lambda: S @ x, "spla matvec": lambda: A @ x,
            "scipy rmatvec": lambda: St @ x, "spla rmatvec": lambda: A.rmatvec(x),
            "spla rmatvec held": lambda: Ah.rmatvec(x),
            "scipy matmat(6)": lambda: S @ X, "spla matmat(6)": lambda: A @ X,
        }, repeat=15, warmup=2)
    finally:
        transposed.release(hold)
    report(f"products alone, {title_n}", res, "scipy matvec", rows)
    out = {kind: (res[f"scipy {kind}"]["median"], res[f"spla {kind}"]["median"])
           for kind in ("matvec", "rmatvec", "matmat(6)")}
    out["rmatvec held"] = (res["scipy rmatvec"]["median"], res["spla rmatvec held"]["median"])
    return out


#: Methods whose spla.linalg solver keeps A's transpose for the solve (transposed.held).
HOLDS = ("bicg", "qmr", "lsqr", "lsmr")


def _blas1(fn):
    """SciPy's run with BLAS on one thread (the thread policy spla applies, given to SciPy)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return fn()


def methods(args, rows):
    """Each method of ``--methods``: SciPy on SciPy's CSR against spla.linalg on spla's CSR."""
    names = METHODS if args.methods == "all" else [m.strip() for m in args.methods.split(",")]
    bad = [m for m in names if m not in METHODS]
    if bad:
        raise SystemExit(f"--methods: unknown {bad}; choose from {', '.join(METHODS)} or all")
    cases = method_cases(args)
    n = args.grid ** 2
    spla_of = {}
    speed = {}
    for name in names:
        S = cases[name][0]
        key = id(S)
        if key not in spla_of:
            spla_of[key] = spla.csr_array(S)
            label = "Laplacian" if S is cases["minres"][0] else (
                "convection-diffusion" if S is cases["bicg"][0] else "Laplacian / -4")
            speed[key] = _speedups(S, spla_of[key], rows, f"{label} n={n}")
    print(f"\nmethods, n={n}, --iters {args.iters}, ARPACK restarts {args.arpack_restarts}"
          f" (median of {args.repeat}, alternated; share and limit from SciPy's run)")
    head = (f"  {'method':14s} {'scipy ms':>10s} {'spla ms':>10s} {'ratio':>6s} {'share':>6s}"
            f" {'limit':>6s}  {'in-run s':>8s}"
            + (f" {'sp1 ms':>9s} {'ratio1':>6s}" if args.scipy_blas1 else "") + "  products")
    print(head)
    for name in names:
        S, call = cases[name]
        A = spla_of[id(S)]
        with warnings.catch_warnings():
            # lobpcg warns that the capped run did not converge (that is the measurement)
            warnings.simplefilter("ignore", UserWarning)
            contenders = {"scipy": lambda: call(sla, S), "spla": lambda: call(L, A)}
            if args.scipy_blas1:
                contenders["scipy1"] = lambda: _blas1(lambda: call(sla, S))
            res = time_alternating(contenders, repeat=args.repeat, warmup=1)
            # one untimed run per side with counting operators (after the warm-up, so that
            # no compilation is counted): products, and the seconds spent in them
            cs, cp = Counting(S), Counting(A)
            t0 = time.perf_counter()
            call(sla, cs)
            t_scipy_counted = time.perf_counter() - t0
            # spla's side as its solver runs it: BLAS on one thread, and the transpose kept
            # where spla.linalg's solver keeps it (bicg, qmr, lsqr, lsmr hold it for the
            # solve; without the hold every rmatvec here was the uncached scatter)
            with solver_threads(True), (transposed.held(A) if name in HOLDS
                                        else contextlib.nullcontext()):
                call(sla, cp)
        ts, tp = res["scipy"]["median"], res["spla"]["median"]
        share = min(1.0, cs.total_seconds() / t_scipy_counted)
        # spla's product speed-up s over this method's mix of products (isolated timings)
        sp_t = speed[id(S)]
        scipy_prod = spla_prod = 0.0
        for kind, cnt in cs.counts.items():
            if not cnt:
                continue
            if kind.endswith("vec"):
                a, b_ = sp_t["rmatvec held" if kind == "rmatvec" and name in HOLDS else kind]
                scipy_prod, spla_prod = scipy_prod + cnt * a, spla_prod + cnt * b_
            else:  # blocks: the 6-column SpMM's time per column (A^H blocks alike)
                a, b_ = sp_t["matmat(6)"]
                cols = cs.columns[kind]
                scipy_prod, spla_prod = scipy_prod + cols * a / 6, spla_prod + cols * b_ / 6
        s = scipy_prod / spla_prod if spla_prod else 1.0
        amdahl = 1.0 / ((1 - share) + share / s)
        in_run = (cs.total_seconds() / cp.total_seconds()) if cp.total_seconds() else 0.0
        print(f"  {name:14s} {ts * 1e3:10.1f} {tp * 1e3:10.1f} {ts / tp:5.2f}x {share:6.0%}"
              f" {amdahl:5.2f}x  {in_run:7.2f}x"
              + (f" {res['scipy1']['median'] * 1e3:9.1f} {res['scipy1']['median'] / tp:5.2f}x"
                 if args.scipy_blas1 else "")
              + f"  {cs.summary()}"
              + ("" if cs.counts == cp.counts else f" (spla: {cp.summary()})"))
        rows.append({"case": f"methods n={n}", "name": name, "scipy_median_s": ts,
                     "spla_median_s": tp, "scipy_min_s": res["scipy"]["min"],
                     "spla_min_s": res["spla"]["min"], "speedup": ts / tp,
                     "spmv_share": share, "product_speedup": s, "amdahl": amdahl,
                     "product_speedup_in_run": in_run, "products": cs.counts,
                     "products_spla": cp.counts,
                     "scipy_blas1_median_s": res.get("scipy1", {}).get("median"),
                     "samples_s": {k: v["times"] for k, v in res.items()}})
    print("  ratio = SciPy / spla wall time; share = seconds in SciPy's products / SciPy's run;"
          " limit = 1 / (1 - share + share / s), s = spla's product speed-up measured alone"
          " above; in-run s = the same speed-up inside the two counted runs"
          + ("; sp1 = SciPy with BLAS on one thread (threadpoolctl), ratio1 = sp1 / spla"
             if args.scipy_blas1 else ""))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", type=int, default=500)
    p.add_argument("--iters", type=int, default=150)
    p.add_argument("--eig-grid", type=int, default=150)
    p.add_argument("--eig-passes-n", type=int, nargs="*", default=[],
                   help="--only eigen: first time the Gram-Schmidt pair of the Lanczos step "
                        "(spla's passes against BLAS dgemv) at these vector lengths")
    p.add_argument("--eig-kernels", nargs="*", default=["blas"],
                   help="--only eigen: also time spla's eigsh with these _lanczos.KERNELS "
                        "(default: blas, session 14's one-thread gemv passes)")
    p.add_argument("--eig-passes-m", type=int, default=20,
                   help="basis rows of --eig-passes-n (ncv: 20 for eigsh's default)")
    p.add_argument("--solve-grid", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", choices=["krylov", "eigen", "direct", "methods"], default=None)
    p.add_argument("--methods", default=None,
                   help="comma-separated methods (or 'all') to time against SciPy on the "
                        f"Laplacian / convection-diffusion of --grid: {', '.join(METHODS)}")
    p.add_argument("--scipy-blas1", action="store_true",
                   help="--methods: also time SciPy with BLAS on one thread (spla's policy)")
    p.add_argument("--arpack-restarts", type=int, default=10,
                   help="maxiter (implicit restarts) of eigsh and svds in --methods")
    args = p.parse_args(argv)
    rows = []
    print(f"{cpu_model()}, {numba.config.NUMBA_NUM_THREADS} Numba threads, "
          f"numpy {np.__version__}, scipy {scipy.__version__}, spla {spla.__version__}, "
          f"PARDISO {'yes' if L.pardiso_available() else 'no'}")
    if args.methods is not None and args.only is None:
        args.only = "methods"
    if args.only == "methods" and args.methods is None:
        args.methods = "all"
    for name, fn in (("krylov", krylov), ("eigen", eigen), ("direct", direct)):
        if args.only in (None, name):
            fn(args, rows)
    if args.only == "methods":
        methods(args, rows)
    OUT.mkdir(exist_ok=True)
    (OUT / "linalg.json").write_text(json.dumps({
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": {"cpu": cpu_model(), "python": platform.python_version()},
        "args": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
