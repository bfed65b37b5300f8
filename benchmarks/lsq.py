"""``lsqr`` and ``lsmr``: SciPy against spla.linalg, alternating in one process, with
wall-clock medians and CPU seconds (all threads of the process together; with
``--threads 1`` a load-robust measure of the work, for a shared machine).

    python -m benchmarks.lsq [--grid 500] [--iters 100] [--repeat 5] [--threads 0]

The problem is ``benchmarks.linalg``'s: the convection-diffusion stencil of
``--grid``, b = ones, atol = btol = conlim = 0 so that both sides make ``--iters``
iterations. ``--threads N`` sets Numba's threads and BLAS's (threadpoolctl) to N
for both sides (0: the defaults). The SpMV share is SciPy's seconds in its products
(``A @ v`` and ``A.T @ u`` timed alone on SciPy's CSR) times the iterations over
its run.
"""

import argparse
import os
import time

import numba
import numpy as np
import scipy.sparse.linalg as sla

import spla
import spla.linalg as L

from .linalg import convection_diffusion


def _timed(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--grid", type=int, default=500)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    S = convection_diffusion(a.grid)
    A = spla.csr_array(S)
    n = S.shape[0]
    b = np.ones(n)
    it = a.iters
    z = dict(atol=0.0, btol=0.0, conlim=0.0)
    cases = {
        "lsqr": (lambda: sla.lsqr(S, b, iter_lim=it, **z), lambda: L.lsqr(A, b, iter_lim=it, **z)),
        "lsmr": (lambda: sla.lsmr(S, b, maxiter=it, **z), lambda: L.lsmr(A, b, maxiter=it, **z)),
    }
    limits = None
    numba_threads = numba.get_num_threads()
    if a.threads:
        from threadpoolctl import threadpool_limits

        numba.set_num_threads(a.threads)
        limits = threadpool_limits(limits=a.threads)
    try:
        _run(a, S, A, b, cases)
    finally:
        # in the reverse order: the limiter saw Numba's pool (a threadpoolctl pool
        # once spla registers it) already at a.threads and would restore that
        if limits is not None:
            limits.restore_original_limits()
        numba.set_num_threads(numba_threads)


def _run(a, S, A, b, cases):
    n, it = S.shape[0], a.iters
    v = np.ones(n)
    St = S.T
    prod = []
    for _ in range(max(5, a.repeat)):
        w0, _c = _timed(lambda: S @ v)
        w1, _c = _timed(lambda: St @ b)
        prod.append(w0 + w1)
    prod_s = float(np.median(prod))
    print(f"convection-diffusion n={n} nnz={S.nnz}, {it} iterations, threads "
          f"{a.threads or 'default'}, load {os.getloadavg()[0]:.2f} (1 min)")
    print(f"  {'method':6s} {'scipy ms':>10s} {'spla ms':>10s} {'ratio':>6s}   {'scipy cpu':>10s}"
          f" {'spla cpu':>10s} {'ratio':>6s}   {'share':>6s}")
    for name, (fs, fp) in cases.items():
        fs(), fp()  # warm up, compile
        res = {"scipy": [], "spla": []}
        for _ in range(a.repeat):
            res["scipy"].append(_timed(fs))
            res["spla"].append(_timed(fp))
        ws, cs = np.median(np.array(res["scipy"]), axis=0)
        wp, cp = np.median(np.array(res["spla"]), axis=0)
        share = min(1.0, it * prod_s / ws)
        print(f"  {name:6s} {1e3 * ws:10.1f} {1e3 * wp:10.1f} {ws / wp:5.2f}x   {1e3 * cs:10.1f}"
              f" {1e3 * cp:10.1f} {cs / cp:5.2f}x   {100 * share:5.0f}%")
    print(f"  load {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
