"""Where spla's ``lgmres``/``gcrotmk`` time goes on one and two threads, and the bandwidth bound.

``python -m benchmarks.lgmres_threads [--grid 500] [--repeat 5] [--probe-only]
[--kinds mgsg,fused]``

Three parts, each alternating its contenders in one process (medians; the load average
is printed before and after each part):

1. Probes at 1 and 2 Numba threads: a compute-bound loop (does the second thread run at
   all, i.e. is a second core free?), an empty parallel region (fork/join and wake-up
   cost), a read of a 30-row basis block of ``n`` float64 (the Gram-Schmidt passes'
   stream), a triad on three ``n``-vectors and on three 64 MB arrays (past any cache),
   ``mgsg_column`` (with the CSR product) and ``lgmres_sweep`` at 30 rows and the CSR
   product of the benchmarks.linalg matrix.
2. The solves of ``benchmarks.linalg --methods lgmres,gcrotmk`` (n = grid^2,
   convection-diffusion, 150 products): spla at 1 and 2 Numba threads (wall and CPU
   time, and the wall time of each part: product, projection, the one-sweep columns,
   scale, combinations, the rest), ``lgmres`` once per ``_lgmres.ORTHOGONALIZATION`` of
   ``--kinds``, and SciPy with 1 and 2 BLAS threads. Beside each: the CPU time other
   processes took per second of the run (``other``: the machine's busy time from
   /proc/stat less this process's; 1.0 is a whole core, which on this 2-core machine
   leaves the second thread nothing).
3. A byte model of spla's solve (per column: the product's CSR arrays and two vectors;
   ``mgsg_column`` reads its ``r`` rows twice and w three times, plus the product's
   arrays and z when it computes the product itself; ``lgmres_sweep`` its ``r`` rows
   once, writes the previous row, reads and writes w, writes the next vector and reads
   the product's arrays; ``mgs2f_column`` about ``2.5 r``;
   scale two vectors; each combination its rows and two vectors) and the
   effective bandwidth each run reached, against the probes' and against what 1.5x
   SciPy's two-thread time would need.
"""

import benchmarks  # noqa: F401  (the baselines' quiet thread settings, before NumPy loads BLAS)

import argparse
import os
import time

import numba
import numpy as np
import scipy.sparse.linalg as sla
from numba import njit, prange
from threadpoolctl import threadpool_limits

import spla
import spla.linalg as L
from spla._backends.cpu import csr as csr_cpu
from spla._kernels import krylov
from spla._kernels.threads import parallel_section
from spla.linalg import _lgmres

from .linalg import convection_diffusion
from .machine import cpu_model

CH = krylov.CHUNK
U = np.uint64


@njit(parallel=True, cache=True)
def _compute(x, reps):
    for c in prange(x.size):
        s = x[c]
        for _ in range(reps):
            s = s * 0.999999 + 1e-7
        x[c] = s


@njit(parallel=True, cache=True)
def _empty(x):
    for c in prange(2):
        x[c] += 1.0


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def _read_rows(V, part):
    m, n = V.shape
    nch = (n + CH - 1) // CH
    for c in prange(nch):
        lo = U(c * CH)
        hi = U(min(c * CH + CH, n))
        s = 0.0
        for k in range(m):
            v = V[k]
            for i in range(lo, hi):
                s += v[i]
        part[c] = s


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def _triad(a, b, c, s):
    n = a.size
    nch = (n + CH - 1) // CH
    for ch in prange(nch):
        lo = U(ch * CH)
        hi = U(min(ch * CH + CH, n))
        for i in range(lo, hi):
            a[i] = b[i] + s * c[i]


def _load():
    return f"load average {os.getloadavg()[0]:.2f}"


def _med(xs):
    return float(np.median(xs))


def probes(n, S, repeat):
    """Part 1: ``{name: (bytes moved or None, {threads: [seconds]})}``."""
    rng = np.random.default_rng(0)
    m = 30
    V = np.ascontiguousarray(np.linalg.qr(rng.standard_normal((n, m + 1)))[0].T)
    part = np.zeros(krylov.nchunks(max(n, 8 << 20)))
    a, b, c = (rng.standard_normal(n) for _ in range(3))
    big = [rng.standard_normal(8 << 20) for _ in range(3)]
    x16 = np.ones(16)
    w0 = rng.standard_normal(n)
    w = np.empty(n)
    h = np.zeros(m + 1)
    G = np.zeros((m + 1, m + 1))
    gpart = np.zeros((krylov.nchunks(n), m + 1))
    A = spla.csr_array(S)
    major = A._major()
    out = np.empty(n)
    mg = krylov.MGSG_PARALLEL
    fused = _lgmres._fused_product(major, V.dtype)
    product = (fused + (V[m - 1],)) if fused is not None else (
        np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0), np.zeros(0))
    Vs = V.copy()
    lo, hi, _ = krylov.block_reach(major.indptr, major.indices, n)
    done = np.zeros(len(lo), dtype=np.bool_)
    spart = np.zeros((krylov.fchunks(n), m + 10))
    spart2 = np.zeros((krylov.fchunks(n), m + 10))
    hn = np.zeros(m + 2)
    Gs = np.zeros((m + 2, m + 2))

    def mgsg():
        w[:] = w0
        mg(V, m, w, h, G, gpart, *product)

    def sweep():  # rows scaled by 1 and h = 0: the same column every call
        krylov.LGMRES_SWEEP_PARALLEL(Vs, m - 1, h, 1.0, 1.0, Gs, major.indptr, major.indices,
                                     major.data, lo, hi, np.zeros(0), 1, done, spart, spart2,
                                     hn)

    def reset():
        w[:] = w0

    csr_bytes = S.nnz * 12 + (n + 1) * 4
    nnz_bytes = csr_bytes + 2 * n * 8
    tests = {
        "compute-bound loop (16 items)": (None, lambda: _compute(x16, 300_000)),
        "empty parallel region": (None, lambda: _empty(x16)),
        f"read {m} rows of n (basis)": (m * n * 8, lambda: _read_rows(V[:m], part)),
        "triad, 3 n-vectors": (3 * n * 8, lambda: _triad(a, b, c, 2.0)),
        "triad, 3 x 64 MB": (3 * big[0].nbytes, lambda: _triad(big[0], big[1], big[2], 2.0)),
        "w reset (copy of n)": (2 * n * 8, reset),
        # rows twice, z, w written, read and written, the reset; the CSR arrays
        f"mgsg_column, {m} rows, product (+ reset)": ((2 * m + 7) * n * 8 + csr_bytes, mgsg),
        # rows once, the previous row written, w read and written, the next one written
        f"lgmres_sweep, {m - 1} rows, product": ((m - 1 + 5) * n * 8 + csr_bytes, sweep),
        "CSR product": (nnz_bytes, lambda: csr_cpu.matvec(major, w0, out=out)),
    }
    with parallel_section():
        for _, f in tests.values():
            f()
    res = {k: {1: [], 2: []} for k in tests}
    previous = numba.get_num_threads()
    try:
        for _ in range(repeat):
            for t in (1, 2):
                numba.set_num_threads(t)
                for k, (_, f) in tests.items():
                    ts = []
                    for _ in range(5):
                        t0 = time.perf_counter()
                        f()
                        ts.append(time.perf_counter() - t0)
                    res[k][t].append(min(ts))
    finally:
        numba.set_num_threads(previous)
    return {k: (tests[k][0], res[k]) for k in tests}


class _Split:
    """Wall time per part of spla's solve (wrappers around ``_lgmres``'s pieces) and the
    bytes its passes move (the model of the module's notes)."""

    def __init__(self, n, nnz):
        self.n, self.nnz = n, nnz
        self.t = {}
        self.bytes = 0.0
        self.saved = {}

    def _add(self, key, dt, nbytes):
        self.t[key] = self.t.get(key, 0.0) + dt
        self.bytes += nbytes

    def install(self):
        A = _lgmres._Arnoldi
        split = self
        v = self.n * 8
        self.saved = {"project": A.project, "scale": A.scale, "combine": A.combine,
                      "combine2": A.combine2, "product_into": _lgmres._product_into}
        project, scale, combine, combine2 = A.project, A.scale, A.combine, A.combine2
        product_into = _lgmres._product_into

        def p(ar, W, rows, w, h, G=None, product=None):
            t0 = time.perf_counter()
            r = project(ar, W, rows, w, h, G, product)
            factor = 2.0 if G is not None else 2.5
            nbytes = (factor * rows + 3) * v
            if product is not None:  # the product inside mgsg_column's first sweep
                nbytes += split.nnz * 12 + (split.n + 1) * 4 + v
            split._add("project" if product is None else "project+product",
                       time.perf_counter() - t0, nbytes)
            return r

        def s(ar, w, a):
            t0 = time.perf_counter()
            scale(ar, w, a)
            split._add("scale", time.perf_counter() - t0, 2 * v)

        def c(ar, rows, coeffs, out):
            t0 = time.perf_counter()
            r = combine(ar, rows, coeffs, out)
            split._add("combine", time.perf_counter() - t0, (len(coeffs) + 2) * v)
            return r

        def pi(A_, dtype):
            f = product_into(A_, dtype)
            if f is None:
                return None

            def g(z, out):
                t0 = time.perf_counter()
                f(z, out)
                split._add("product", time.perf_counter() - t0,
                           split.nnz * 12 + (split.n + 1) * 4 + 2 * v)
            g.csr = f.csr  # the arrays for the product inside mgsg_column's first sweep
            return g

        def c2(ar, rows, c1, out1, c2_, out2):
            t0 = time.perf_counter()
            combine2(ar, rows, c1, out1, c2_, out2)
            split._add("combine", time.perf_counter() - t0,
                       (max(len(c1), len(c2_)) + 4) * v)

        init = A.__init__
        self.saved["init"] = init

        def i(ar, n, dtype):
            init(ar, n, dtype)
            sweep = ar.sweep
            if sweep is None:
                return

            def sw(V, m, h, a_row, a_w, G, indptr, indices, data, *rest):
                t0 = time.perf_counter()
                r = sweep(V, m, h, a_row, a_w, G, indptr, indices, data, *rest)
                mode = rest[3]
                nbytes = (m + 3) * v + (2 * v if mode else 0)
                if mode == 1:
                    nbytes += split.nnz * 12 + (split.n + 1) * 4
                elif mode == 2:
                    nbytes += v  # the given vector read
                split._add("sweep", time.perf_counter() - t0, nbytes)
                return r
            ar.sweep = sw

        A.project, A.scale, A.combine, A.combine2, A.__init__ = p, s, c, c2, i
        _lgmres._product_into = pi

    def uninstall(self):
        A = _lgmres._Arnoldi
        A.project, A.scale, A.combine, A.combine2, A.__init__ = (
            self.saved["project"], self.saved["scale"], self.saved["combine"],
            self.saved["combine2"], self.saved["init"])
        _lgmres._product_into = self.saved["product_into"]


def _busy_seconds():
    """The machine's busy CPU seconds so far (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")


def solves(S, repeat, kinds=("mgsg",)):
    """Part 2 and 3: per method, ``{contender: {"wall": [...], "cpu": [...], "other":
    [...], parts}}``; ``lgmres``'s spla side once per ``_lgmres.ORTHOGONALIZATION`` of
    ``kinds`` (``"spla fused 2"``: "fused" on two threads), ``gcrotmk``'s with the
    default."""
    n = S.shape[0]
    A = spla.csr_array(S)
    b = np.ones(n)
    z = dict(rtol=0.0, atol=0.0)
    calls = {"lgmres": lambda m, M: m.lgmres(M, b, maxiter=5, **z),
             "gcrotmk": lambda m, M: m.gcrotmk(M, b, maxiter=7, **z)}
    out = {}
    previous = numba.get_num_threads()
    default = _lgmres.ORTHOGONALIZATION
    for name, call in calls.items():
        split = _Split(n, S.nnz)

        def spla_run(t, kind):
            def run():
                numba.set_num_threads(t)
                _lgmres.ORTHOGONALIZATION = kind
                try:
                    call(L, A)
                finally:
                    numba.set_num_threads(previous)
                    _lgmres.ORTHOGONALIZATION = default
            return run

        def scipy_run(t):
            def run():
                with threadpool_limits(limits=t, user_api="blas"):
                    call(sla, S)
            return run

        runs = {}
        ks = kinds if name == "lgmres" else (default,)  # "fused" is lgmres's alone
        for kind in ks:
            label = "spla" if kind == default and len(ks) == 1 else f"spla {kind}"
            runs[f"{label} 1"] = spla_run(1, kind)
            runs[f"{label} 2"] = spla_run(2, kind)
        runs["scipy 1"] = scipy_run(1)
        runs["scipy 2"] = scipy_run(2)
        for f in runs.values():
            f()
        res = {k: {"wall": [], "cpu": [], "other": [], "parts": [], "bytes": 0.0}
               for k in runs}
        print(f"  {name}: {_load()} before", flush=True)
        for _ in range(repeat):
            for k, f in runs.items():
                spla_side = k.startswith("spla")
                if spla_side:
                    split.t, split.bytes = {}, 0.0
                    split.install()
                try:
                    b0 = _busy_seconds()
                    c0 = time.process_time()
                    t0 = time.perf_counter()
                    f()
                    wall = time.perf_counter() - t0
                    cpu = time.process_time() - c0
                    busy = _busy_seconds() - b0
                finally:
                    if spla_side:
                        split.uninstall()
                res[k]["wall"].append(wall)
                res[k]["cpu"].append(cpu)
                res[k]["other"].append(max(0.0, busy - cpu) / wall)
                if spla_side:
                    res[k]["parts"].append(dict(split.t))
                    res[k]["bytes"] = split.bytes
        print(f"  {name}: {_load()} after", flush=True)
        out[name] = res
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", type=int, default=500)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--probe-only", action="store_true")
    p.add_argument("--no-probes", action="store_true")
    p.add_argument("--kinds", default="mgsg,fused",
                   help="lgmres's _lgmres.ORTHOGONALIZATION values to time (comma-separated)")
    args = p.parse_args(argv)
    S = convection_diffusion(args.grid)
    n = S.shape[0]
    print(f"{cpu_model()}, {os.cpu_count()} CPUs, Numba {numba.__version__} "
          f"({numba.config.NUMBA_NUM_THREADS} threads), n = {n}, {_load()}")
    bw = {}
    if not args.no_probes:
        print("\n1. probes (min of 5 calls per sample, median of samples; 1 -> 2 Numba threads)")
        pr = probes(n, S, args.repeat)
        for k, (nbytes, r) in pr.items():
            t1, t2 = _med(r[1]), _med(r[2])
            gb = ""
            if nbytes:
                bw[k] = (nbytes / t1 / 1e9, nbytes / t2 / 1e9)
                gb = f"  {bw[k][0]:6.1f} -> {bw[k][1]:6.1f} GB/s"
            print(f"  {k:40s} {t1 * 1e6:9.1f} -> {t2 * 1e6:9.1f} us  {t1 / t2:5.2f}x{gb}")
        print(f"  ({_load()})")
        if args.probe_only:
            return
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    print(f"\n2. solves (median of {args.repeat}, alternated; parts: wall ms inside spla's run; "
          "other: other processes' CPU seconds per second of the run)")
    res = solves(S, args.repeat, kinds)
    for name, r in res.items():
        for k, v in r.items():
            wall, cpu = _med(v["wall"]), _med(v["cpu"])
            line = (f"  {name:8s} {k:14s} wall {wall * 1e3:7.1f} ms  cpu {cpu * 1e3:7.1f} ms"
                    f"  other {_med(v['other']):4.2f}")
            if v["parts"]:
                keys = sorted({p for d in v["parts"] for p in d})
                parts = {p: _med([d.get(p, 0.0) for d in v["parts"]]) for p in keys}
                rest = wall - sum(parts.values())
                line += "  |" + "".join(f" {p} {t * 1e3:6.1f}" for p, t in parts.items())
                line += f" rest {rest * 1e3:6.1f}"
                line += f"  | {v['bytes'] / 1e9:5.2f} GB, {v['bytes'] / wall / 1e9:5.1f} GB/s"
            print(line)
            print(f"  {'':8s} {'':14s} walls " + " ".join(
                f"{t * 1e3:.0f}/{o:.1f}" for t, o in zip(v["wall"], v["other"])))
        s1, s2 = _med(r["scipy 1"]["wall"]), _med(r["scipy 2"]["wall"])
        for k in r:
            if not (k.startswith("spla") and k.endswith(" 2")):
                continue
            one = k[:-2] + " 1"
            line = (f"  {name:8s} SciPy (2 BLAS threads) / {k} = "
                    f"{s2 / _med(r[k]['wall']):4.2f}x; SciPy 1 BLAS thread / {one} "
                    f"= {s1 / _med(r[one]['wall']):4.2f}x; 1.5x needs "
                    f"{r[k]['bytes'] / (s2 / 1.5) / 1e9:5.1f} GB/s over the modelled bytes")
            if bw:
                line += (f" (probes at 2 threads: basis read "
                         f"{bw['read 30 rows of n (basis)'][1]:5.1f}, 64 MB triad "
                         f"{bw['triad, 3 x 64 MB'][1]:5.1f} GB/s)")
            print(line)


if __name__ == "__main__":
    main()
