"""Mixed workloads: spla's parallel kernels beside BLAS and Dask on the same cores
(``python -m benchmarks.mixed``; issue 17, "threads compose").

A kernel timed alone says nothing about a program in which spla's Numba pool,
OpenBLAS's pool and Dask's worker threads take turns on the same two cores: a
pool whose threads keep spinning after a call takes the cores from the next
one. Three workloads, each timed for every contender in one run, alternating
(``timing.time_alternating``), medians compared:

``krylov``
    A Krylov-like loop written in user code (no spla.linalg policy around it):
    per iteration ``y = A @ x``, ``np.dot``, an axpy, ``np.linalg.norm``, a
    scaling, and a dense GEMM (``np.dot`` of two 500 x 500 matrices).
``api``
    The new elementwise API between dense GEMMs: ``A.multiply(B)``, ``abs(A)``,
    ``A + A``, ``A.sum(axis=1)``, ``A[rows]`` (n / 10 random rows), ``A.tocsc()``,
    each followed by one 500 x 500 GEMM.
``solvers``
    ``scipy.sparse.linalg.gmres`` (restart 20, 40 iterations) and ``cg``
    (100 iterations) with ``rtol=0``: on SciPy's CSR; on the spla array handed
    to SciPy directly (no policy); through ``spla.linalg`` (BLAS limited to one
    thread while the solver runs) and with ``set_blas_policy("leave")``. ``cg``
    runs on the 2-D Laplacian of about n rows (SPD), ``gmres`` on the uniform
    matrix; ``lobpcg`` (8 vectors, 20 iterations, the smallest eigenvalues) on the
    Laplacian: SciPy's on SciPy's CSR and on the spla array, ``spla.linalg``'s
    own loop (its block work on Numba's threads, BLAS on one) with the policy,
    with ``"leave"`` and with Numba limited to one thread.
``dask``
    ``(Ad @ x).compute()`` on Dask's threaded scheduler (2 workers, 8 row
    blocks) with 2 Numba threads per worker (4 threads on the cores) and with 1
    (a pool whose threads call ``numba.set_num_threads(1)`` when they start),
    against ``A @ x`` in one thread of spla and of SciPy.

Contenders of ``krylov`` and ``api``: SciPy's arrays and spla's with Numba at 2
or 1 threads and OpenBLAS at 2 or 1 threads, set through threadpoolctl
(spla registers Numba's pool with it: ``{"numba": 1, "blas": 2}``). The
matrices are the uniform 10-per-row ones of ``benchmarks.matrices`` (float64).

``--json PATH`` writes every median. The machine state (``uptime`` load, the
threading layers, BLAS threads) is printed with every table: on a shared
machine compare only ratios within one table, and repeat a surprising one.
"""

import argparse
import concurrent.futures as cf
import json
import os
import platform
import sys
import warnings

from . import SET_HERE

# A mixed workload is timed as a user runs it: with the thread pools' own
# defaults (OpenBLAS's worker spins ~0.1 s after a call, GNU OpenMP's ~300,000
# rounds), not the quiet settings that ``import benchmarks`` makes for kernels
# timed alone; ``--quiet-threads`` keeps those. Before NumPy or Numba load a pool.
if "--quiet-threads" not in sys.argv:
    for _name in SET_HERE:
        os.environ.pop(_name, None)

import numba  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as sla  # noqa: E402
from threadpoolctl import ThreadpoolController, threadpool_info  # noqa: E402

import spla  # noqa: E402
import spla.linalg  # noqa: E402

from .machine import cpu_model  # noqa: E402
from .matrices import laplacian2d, uniform  # noqa: E402
from .timing import time_alternating  # noqa: E402

GEMM = 500

#: (numba threads, BLAS threads) of the spla contenders.
SETTINGS = ((2, 2), (1, 2), (2, 1), (1, 1))


def load():
    """The 1-minute load average (the machine's state beside every table)."""
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return float("nan")


def machine_line():
    layer = f"not launched yet ({numba.config.THREADING_LAYER})"
    try:
        layer = numba.threading_layer()
    except ValueError:
        pass
    blas = [f"{i['internal_api']} {i['num_threads']} threads ({i.get('threading_layer', '')})"
            for i in threadpool_info() if i["user_api"] == "blas"]
    return (f"spla {spla.__version__}, SciPy {scipy.__version__}, NumPy {np.__version__}, "
            f"Numba {numba.__version__} (layer {layer}, {numba.config.NUMBA_NUM_THREADS} "
            f"threads), BLAS: {'; '.join(blas)}; {cpu_model()}, {platform.machine()}, "
            f"{os.cpu_count()} CPUs, "
            + ", ".join(f"{k}={os.environ.get(k, '-')}" for k in
                        ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_THREAD_TIMEOUT")))


def _limited(ctl, numba_threads, blas_threads, fn):
    """``fn`` run with Numba and BLAS limited (threadpoolctl; the limit is set and
    restored around each call)."""
    limits = {"blas": blas_threads}
    if numba_threads is not None:
        limits["numba"] = numba_threads

    def run():
        with ctl.limit(limits=limits):
            return fn()
    return run


def _contenders(ctl, spla_fn, scipy_fn):
    out = {"scipy": _limited(ctl, None, 2, scipy_fn),
           "scipy blas1": _limited(ctl, None, 1, scipy_fn)}
    for nt, bt in SETTINGS:
        out[f"spla numba{nt} blas{bt}"] = _limited(ctl, nt, bt, spla_fn)
    return out


def krylov_loop(M, x0, G, iters):
    """The user's loop: sparse product, BLAS-1 vector work, a dense GEMM."""
    def run():
        x = x0.copy()
        acc = 0.0
        for _ in range(iters):
            y = M @ x
            a = np.dot(x, y)
            y -= a * x  # axpy
            nrm = np.linalg.norm(y)
            x = y / nrm
            acc += float(np.dot(G, G)[0, 0])  # the dense work between products
        return acc
    return run


def api_mix(A, B, rows, G):
    """The elementwise API of sparse arrays between dense GEMMs."""
    def run():
        out = []
        for op in (lambda: A.multiply(B), lambda: abs(A), lambda: A + A,
                   lambda: A.sum(axis=1), lambda: A[rows], lambda: A.tocsc()):
            r = op()
            out.append(r.shape)
            del r
            np.dot(G, G)
        return out
    return run


def _table(title, res, base, out):
    b = res[base]["median"]
    out(f"\n### {title} (load before {res['_load'][0]:.2f}, after {res['_load'][1]:.2f})\n")
    out("| contender | median ms | min ms | vs " + base + " |")
    out("|---|---|---|---|")
    for name, v in res.items():
        if name.startswith("_"):
            continue
        out(f"| {name} | {1e3 * v['median']:.1f} | {1e3 * v['min']:.1f} | "
            f"{b / v['median']:.2f}x |")


def _timed(contenders, repeat):
    before = load()
    res = time_alternating(contenders, repeat=repeat, warmup=2)
    res = {k: {"median": v["median"], "min": v["min"]} for k, v in res.items()}
    res["_load"] = (before, load())
    return res


def run_krylov(n, ctl, repeat, iters, out):
    d, i, p, shape = uniform(n)
    A = spla.csr_array((d, i, p), shape=shape)
    S = sp.csr_array((d, i, p), shape=shape)
    x0 = np.random.default_rng(1).random(n)
    G = np.random.default_rng(2).random((GEMM, GEMM))
    res = _timed(_contenders(ctl, krylov_loop(A, x0, G, iters), krylov_loop(S, x0, G, iters)),
                 repeat)
    _table(f"krylov, n = {n:,}, {iters} iterations (SpMV + dot/axpy/norm + GEMM {GEMM})",
           res, "scipy", out)
    return res


def run_api(n, ctl, repeat, out):
    d, i, p, shape = uniform(n)
    d2, i2, p2, _ = uniform(n, seed=7)
    A = spla.csr_array((d, i, p), shape=shape)
    B = spla.csr_array((d2, i2, p2), shape=shape)
    S = sp.csr_array((d, i, p), shape=shape)
    T = sp.csr_array((d2, i2, p2), shape=shape)
    rows = np.random.default_rng(5).integers(0, n, max(1, n // 10))
    G = np.random.default_rng(2).random((GEMM, GEMM))
    res = _timed(_contenders(ctl, api_mix(A, B, rows, G), api_mix(S, T, rows, G)), repeat)
    _table(f"api, n = {n:,} (multiply, abs, A + A, sum(axis=1), A[rows], tocsc, "
           f"each + GEMM {GEMM})", res, "scipy", out)
    return res


def run_solvers(n, ctl, repeat, out):
    results = {}
    d, i, p, shape = uniform(n)
    A = spla.csr_array((d, i, p), shape=shape)
    S = sp.csr_array((d, i, p), shape=shape)
    b = np.random.default_rng(3).random(n)
    kw = dict(rtol=0.0, atol=0.0, restart=20, maxiter=2)

    def leave(fn):
        def run():
            old = spla.linalg.set_blas_policy("leave")
            try:
                return fn()
            finally:
                spla.linalg.set_blas_policy(old)
        return run

    g = {
        "scipy gmres(S)": lambda: sla.gmres(S, b, **kw),
        "scipy gmres(A_spla)": lambda: sla.gmres(A, b, **kw),
        "spla.linalg.gmres (policy)": lambda: spla.linalg.gmres(A, b, **kw),
        "spla.linalg.gmres (leave)": leave(lambda: spla.linalg.gmres(A, b, **kw)),
        "scipy gmres(A_spla), blas1": _limited(ctl, None, 1, lambda: sla.gmres(A, b, **kw)),
        "scipy gmres(A_spla), numba1": _limited(ctl, 1, 2, lambda: sla.gmres(A, b, **kw)),
    }
    results["gmres"] = _timed(g, repeat)
    _table(f"gmres, uniform n = {n:,}, restart 20, 40 iterations", results["gmres"],
           "scipy gmres(S)", out)
    del A, S
    d, i, p, shape = laplacian2d(n)
    L = spla.csr_array((d, i, p), shape=shape)
    LS = sp.csr_array((d, i, p), shape=shape)
    b = np.random.default_rng(3).random(shape[0])
    ck = dict(rtol=0.0, atol=0.0, maxiter=100)
    c = {
        "scipy cg(S)": lambda: sla.cg(LS, b, **ck),
        "scipy cg(A_spla)": lambda: sla.cg(L, b, **ck),
        "spla.linalg.cg": lambda: spla.linalg.cg(L, b, **ck),
        "scipy cg(A_spla), blas1": _limited(ctl, None, 1, lambda: sla.cg(L, b, **ck)),
        "scipy cg(A_spla), numba1": _limited(ctl, 1, 2, lambda: sla.cg(L, b, **ck)),
    }
    results["cg"] = _timed(c, repeat)
    _table(f"cg, 2-D Laplacian n = {shape[0]:,}, 100 iterations", results["cg"],
           "scipy cg(S)", out)
    X = np.random.default_rng(4).standard_normal((shape[0], 8))
    lk = dict(tol=1e-30, maxiter=20, largest=False)  # 20 iterations every run

    def unconverged(fn):  # the warning that tol was not reached, expected here
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return fn()
        return run

    e = {
        "scipy lobpcg(S)": unconverged(lambda: sla.lobpcg(LS, X, **lk)),
        "scipy lobpcg(A_spla)": unconverged(lambda: sla.lobpcg(L, X, **lk)),
        "spla.linalg.lobpcg (policy)": unconverged(lambda: spla.linalg.lobpcg(L, X, **lk)),
        "spla.linalg.lobpcg (leave)": leave(unconverged(lambda: spla.linalg.lobpcg(L, X, **lk))),
        "spla.linalg.lobpcg, numba1": _limited(ctl, 1, 2, unconverged(
            lambda: spla.linalg.lobpcg(L, X, **lk))),
    }
    results["lobpcg"] = _timed(e, repeat)
    _table(f"lobpcg, 2-D Laplacian n = {shape[0]:,}, 8 vectors, 20 iterations",
           results["lobpcg"], "scipy lobpcg(S)", out)
    return results


def run_dask(n, ctl, repeat, out, blocks=8):
    import dask

    import spla.dask as sd

    d, i, p, shape = uniform(n)
    A = spla.csr_array((d, i, p), shape=shape)
    S = sp.csr_array((d, i, p), shape=shape)
    Ad = sd.from_spla(A, row_chunks=-(-n // blocks))
    x = np.random.default_rng(1).random(n)
    pools = {
        2: cf.ThreadPoolExecutor(2),
        1: cf.ThreadPoolExecutor(2, initializer=numba.set_num_threads, initargs=(1,)),
    }
    try:
        def dask_mv(nt):
            def run():
                with dask.config.set(scheduler="threads", pool=pools[nt]):
                    return (Ad @ x).compute()
            return run

        np.testing.assert_allclose(dask_mv(1)(), A @ x, rtol=1e-12)
        res = _timed({
            "scipy A @ x": lambda: S @ x,
            "spla A @ x (numba 2)": lambda: A @ x,
            "dask threads 2 x numba 2": dask_mv(2),
            "dask threads 2 x numba 1": dask_mv(1),
        }, repeat)
    finally:
        for pool in pools.values():
            pool.shutdown()
    _table(f"dask threaded scheduler, n = {n:,}, {blocks} row blocks, 2 workers", res,
           "scipy A @ x", out)
    return res


WORKLOADS = ("krylov", "api", "solvers", "dask")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.mixed",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, action="append",
                    help="rows (repeatable; default 200,000 and 2,000,000)")
    ap.add_argument("--repeat", type=int, default=5, help="alternating repeats (median shown)")
    ap.add_argument("--iters", type=int, default=20, help="iterations of the krylov loop")
    ap.add_argument("--only", action="append", choices=WORKLOADS,
                    help="only these workloads (repeatable)")
    ap.add_argument("--json", help="write the medians here")
    ap.add_argument("--quiet-threads", action="store_true",
                    help="keep the quiet pool settings of benchmarks/__init__.py "
                         "(idle BLAS/OpenMP threads sleep at once)")
    args = ap.parse_args(argv)
    sizes = args.n or [200_000, 2_000_000]
    which = args.only or list(WORKLOADS)
    ctl = ThreadpoolController()
    A = spla.csr_array(np.eye(4))
    A @ np.ones(4)  # Numba's layer launched before it is reported
    print(machine_line())
    results = {}
    for n in sizes:
        for w in which:
            fn = {"krylov": lambda: run_krylov(n, ctl, args.repeat, args.iters, print),
                  "api": lambda: run_api(n, ctl, args.repeat, print),
                  "solvers": lambda: run_solvers(n, ctl, args.repeat, print),
                  "dask": lambda: run_dask(n, ctl, args.repeat, print)}[w]
            results[f"{w} n={n}"] = fn()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_line(), "results": results}, f, indent=1,
                      default=float)
    return results


if __name__ == "__main__":
    main()
