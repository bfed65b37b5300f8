"""One Arnoldi column's Gram-Schmidt: BLAS MGS (one and all threads) against spla's kernels.

``python -m benchmarks.gram_schmidt [-n 250000] [-m 10,30] [--repeat 15]``; with
``--solves``: one-thread CPU time of whole ``lgmres``/``gcrotmk`` runs (see ``solves``).

For each basis size ``m`` (float64 rows of length ``n``, orthonormal, C order): the
modified Gram-Schmidt of SciPy's ``_fgmres`` (BLAS ``dot`` and in-place ``axpy`` per
row) with BLAS on one thread and on all of them (threadpoolctl), spla's strict
``mgs2_column`` and the vectorised ``mgs2f_column`` (parallel and serial), and a copy of
the basis block (``np.copyto``, the bandwidth reference: bytes read + written).
Every sample first restores ``w`` (a 2-vector copy, timed alone as "reset" and
subtracted). Alternated medians; the effective bandwidth counts the basis read once
(``m n 8`` bytes), the floor of any Gram-Schmidt of one column.
"""

import argparse
import os
import time

import numpy as np
from scipy.linalg import get_blas_funcs
from threadpoolctl import threadpool_limits

from spla._kernels import krylov

from .timing import time_alternating


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=250_000)
    p.add_argument("-m", default="10,30")
    p.add_argument("--repeat", type=int, default=15)
    args = p.parse_args(argv)
    n = args.n
    print(f"n={n}, float64, load average {os.getloadavg()[0]:.2f} (alternated medians)")
    rng = np.random.default_rng(0)
    for m in (int(v) for v in args.m.split(",")):
        W = np.empty((m + 1, n))
        W[:m] = np.linalg.qr(rng.standard_normal((n, m)))[0].T
        w0 = rng.standard_normal(n)
        w = W[m]
        h = np.zeros(m + 1)
        part = np.zeros((krylov.nchunks(n), 4))
        dot, axpy = get_blas_funcs(["dot", "axpy"], (w0,))
        dst = np.empty((m, n))

        def reset():
            np.copyto(w, w0)

        def blas_mgs():
            reset()
            for i in range(m):
                a = dot(W[i], w)
                h[i] = a
                axpy(W[i], w, n, -a)

        def blas1():
            with threadpool_limits(limits=1, user_api="blas"):
                blas_mgs()

        def kernel(fn):
            def run():
                reset()
                fn(W, m, w, h, part)
            return run

        contenders = {
            "reset": reset,
            "copy of the basis": lambda: np.copyto(dst, W[:m]),
            "BLAS MGS, 1 thread": blas1,
            "BLAS MGS, all threads": blas_mgs,
            "mgs2_column (strict)": kernel(krylov.MGS2_PARALLEL),
            "mgs2f_column": kernel(krylov.MGS2F_PARALLEL[0]),
            "mgs2f_column serial": kernel(krylov.MGS2F_SERIAL[0]),
        }
        res = time_alternating(contenders, repeat=args.repeat, warmup=2)
        cpu = {}
        for name, fn in contenders.items():  # CPU time of all threads, 5 calls
            t0 = time.process_time()
            for _ in range(5):
                fn()
            cpu[name] = (time.process_time() - t0) / 5
        t_reset = res["reset"]["median"]
        basis = m * n * 8
        print(f"\nm={m}: basis {basis / 1e6:.0f} MB")
        base = res["BLAS MGS, all threads"]["median"] - t_reset
        for name, r in res.items():
            t = r["median"] - (0 if name in ("reset", "copy of the basis") else t_reset)
            moved = 2 * basis if name == "copy of the basis" else basis
            print(f"  {name:24s} median {t * 1e3:8.2f} ms  min {r['min'] * 1e3:8.2f} ms"
                  f"  cpu {cpu[name] * 1e3:8.2f} ms  {moved / t / 1e9:6.1f} GB/s"
                  + ("" if name in ("reset", "copy of the basis")
                     else f"  {base / t:5.2f}x BLAS all threads"))


def solves(grid=500, iters=150, repeat=3):
    """One-thread CPU time (``time.process_time``, load-robust) of whole ``lgmres`` and
    ``gcrotmk`` runs (benchmarks.linalg's cases): SciPy with one BLAS thread against
    spla with one Numba thread, per ``_lgmres.ORTHOGONALIZATION``."""
    import numba
    import scipy.sparse.linalg as sla

    import spla
    import spla.linalg as L
    from spla.linalg import _lgmres

    from .linalg import convection_diffusion

    S = convection_diffusion(grid)
    A = spla.csr_array(S)
    b = np.ones(S.shape[0])
    z = dict(rtol=0.0, atol=0.0)
    calls = {"lgmres": lambda m, M: m.lgmres(M, b, maxiter=max(1, iters // 30), **z),
             "gcrotmk": lambda m, M: m.gcrotmk(M, b, maxiter=max(1, iters // 20), **z)}
    print(f"\nwhole solves, n={grid * grid}, one thread each (CPU seconds, median of {repeat};"
          f" load average {os.getloadavg()[0]:.2f})")
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            for name, call in calls.items():
                runs = {"scipy": lambda: call(sla, S)}
                for ortho in ("blas", "mgs2f"):
                    def run(ortho=ortho):
                        old = _lgmres.ORTHOGONALIZATION
                        _lgmres.ORTHOGONALIZATION = ortho
                        try:
                            call(L, A)
                        finally:
                            _lgmres.ORTHOGONALIZATION = old
                    runs[f"spla {ortho}"] = run
                cpu = {k: [] for k in runs}
                for fn in runs.values():
                    fn()  # warm-up (compilation)
                for _ in range(repeat):
                    for k, fn in runs.items():
                        t0 = time.process_time()
                        fn()
                        cpu[k].append(time.process_time() - t0)
                med = {k: float(np.median(v)) for k, v in cpu.items()}
                print(f"  {name:8s} " + "  ".join(
                    f"{k} {v * 1e3:7.1f} ms ({med['scipy'] / v:4.2f}x)" for k, v in med.items()))
    finally:
        numba.set_num_threads(previous)


if __name__ == "__main__":
    import sys

    if "--solves" in sys.argv:
        solves()
    else:
        main()
