"""GPU indexing suite (``python -m benchmarks --gpu --gpu-suites indexing``): spla's
reads and writes of issue 19 on CuPy-backed arrays against ``cupyx.scipy.sparse``'s
``csr_matrix`` on the same storage, alternating, in one run.

The matrix is the API suite's: uniform, 10 entries per row, float64, ``n`` rows
(2,000,000 by default; 200,000 with ``--quick``). The index arrays are CuPy
arrays for both sides (what a CuPy user holds; spla's kernels check them on the
device, ``spla_cuda/index.py``). After the reads, one line gives the range and
geometric mean of the ratios. Cases: the reads of ``benchmarks.api`` (row
slice, 200k random rows, a 10% row mask, one column, 200k random columns,
``A[rows][:, cols]``, a 2,000 x 2,000 ``ix_`` grid, 200k points, 1,000 scalar
reads in a Python loop) and the writes (1,000 scalar writes to stored entries,
``A[rows, cols] = v`` with half of the targets new), then spla-only writes into
COO, N:M (2:4) and banded arrays (``cupyx`` has no such writes: the times are
reported without a baseline).

Timing: host wall time around each call, with a device synchronisation before and
after (so launch and Python overhead count, as a user sees them); the median of
alternating samples after a warm-up. Writes run on a fresh copy per sample made
outside the timed region. Every spla result is checked against the baseline's
(on the host) before it is timed (``check`` in the report; a mismatch is printed
as ``MISMATCH`` and the baseline is not timed); a baseline that raises (an index
form cupyx does not take) is reported as ``n/a`` and spla is timed alone.

The suite's logic runs on the CPU too, with NumPy for CuPy and SciPy for cupyx
(``run_suite(n, repeat, backend=cpu_backend())``): tests/test_bench_gpu_indexing.py
runs it that way on a small matrix.
"""

import statistics
import time
import warnings

import numpy as np

from .matrices import uniform


class Backend:
    """The array module, the baseline's sparse module and the synchronisation of one
    device: CuPy and cupyx on a GPU, NumPy and SciPy for the CPU dry run."""

    def __init__(self, xp, sparse, device, sync, to_host):
        self.xp, self.sparse, self.device = xp, sparse, device
        self.sync, self.to_host = sync, to_host


def gpu_backend():
    import cupy
    import cupyx.scipy.sparse as cusparse

    return Backend(cupy, cusparse, "cuda", cupy.cuda.Device().synchronize, cupy.asnumpy)


def cpu_backend():
    import scipy.sparse as sp

    return Backend(np, sp, "cpu", lambda: None, np.asarray)


def time_calls(contenders, sync, repeat, warmup=2, min_sample_s=0.0):
    """Median and minimum seconds per call of each ``(make, call)`` contender:
    ``make()`` gives the argument of one sample outside the timed region (None:
    ``call()`` takes none); samples alternate between the contenders."""
    times = {name: [] for name in contenders}
    for _ in range(warmup):
        for make, call in contenders.values():
            call(make()) if make else call()
    for _ in range(repeat):
        for name, (make, call) in contenders.items():
            arg = make() if make else None
            sync()
            inner, t0 = 0, time.perf_counter()
            while True:
                call(arg) if make else call()
                inner += 1
                sync()
                elapsed = time.perf_counter() - t0
                if make or elapsed >= min_sample_s:
                    break
            times[name].append(elapsed / inner)
    return {name: {"median": statistics.median(t), "min": min(t)}
            for name, t in times.items()}


def _host_csr(M, be):
    """A spla or baseline result as a canonical host SciPy CSR matrix, or a host array."""
    import scipy.sparse as sp

    import spla

    if isinstance(M, spla.SparseArray):
        M = M.to_device("cpu")
        M = M.tocsr().to_scipy() if M.ndim == 2 else M.toarray()
    elif hasattr(M, "get") and be.device != "cpu":  # CuPy array or cupyx matrix
        M = M.get()
    if sp.issparse(M):
        M = sp.csr_array(M)
        M.sum_duplicates()
        return M
    return np.asarray(M)


def _same(a, b, be):
    """Whether a spla result and the baseline's hold the same values."""
    a, b = _host_csr(a, be), _host_csr(b, be)
    if hasattr(a, "nnz") != hasattr(b, "nnz"):
        a = a.toarray() if hasattr(a, "nnz") else a
        b = b.toarray() if hasattr(b, "nnz") else b
    if hasattr(a, "nnz"):
        a, b = a.reshape(1, -1) if a.ndim == 1 else a, b.reshape(1, -1) if b.ndim == 1 else b
        if a.shape != b.shape:
            a, b = a.reshape(b.shape), b
        return (abs(a - b) > 0).nnz == 0
    return np.array_equal(np.ravel(a), np.ravel(b))


def read_cases(n, be, seed=5):
    """(name, spla call, baseline call) of issue 19's reads on ``n`` rows."""
    import spla

    xp = be.xp
    d, i, p, shape = uniform(n)
    A = spla.csr_array((d, i, p), shape=shape).to_device(be.device)
    C = be.sparse.csr_matrix((xp.asarray(d), xp.asarray(i), xp.asarray(p)), shape=shape)
    rng = np.random.default_rng(seed)
    k = min(200_000, n)
    rows, cols = xp.asarray(rng.integers(0, n, k)), xp.asarray(rng.integers(0, n, k))
    mask = xp.asarray(rng.random(n) < 0.1)
    lo, hi = min(100_000, n // 20), min(1_100_000, n // 2)
    j = min(12345, n - 1)
    r2 = xp.asarray(rng.integers(0, n, min(2000, n)))
    c2 = xp.asarray(rng.integers(0, n, min(2000, n)))
    sub_rows = xp.asarray(rng.integers(0, n, min(20_000, n)))
    pts_i = rng.integers(0, n, 1000)
    pts_j = np.where(np.arange(1000) % 2 == 1, i[p[pts_i]] if i.size else 0,
                     rng.integers(0, n, 1000))  # half of the reads hit a stored entry
    pairs = [(int(a), int(b)) for a, b in zip(pts_i, pts_j)]

    def scalars(M):
        def f():
            out = None
            for a, b in pairs:
                out = M[a, b]
            return out
        return f

    yield "A[lo:hi] row slice", lambda: A[lo:hi], lambda: C[lo:hi]
    yield "A[rows] 200k", lambda: A[rows], lambda: C[rows]
    yield "A[mask] 10% rows", lambda: A[mask], lambda: C[mask]
    yield "A[:, j]", lambda: A[:, j], lambda: C[:, j]
    yield "A[:, cols] 200k", lambda: A[:, cols], lambda: C[:, cols]
    yield "A[rows][:, cols]", lambda: A[sub_rows][:, cols], lambda: C[sub_rows][:, cols]
    yield ("A[ix_(r, c)] 2000^2", lambda: A[r2[:, None], c2[None, :]],
           lambda: C[r2[:, None], c2[None, :]])
    yield "A[rows, cols] 200k", lambda: A[rows, cols], lambda: C[rows, cols]
    yield "1000 x A[i, j]", scalars(A), scalars(C)


def write_cases(n, be, seed=5):
    """(name, make spla, make baseline or None, write) of the writes on ``n`` rows:
    ``write(M)`` writes into a fresh copy ``M``."""
    import spla

    xp = be.xp
    d, i, p, shape = uniform(n)
    base = spla.csr_array((d, i, p), shape=shape).to_device(be.device)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, d.size, 1000)
    s_rows = (np.searchsorted(p, pick, side="right") - 1).tolist()
    s_cols = i[pick].tolist()

    def scalar_loop(M):
        for r, c in zip(s_rows, s_cols):
            M[r, c] = 1.0

    k = min(200_000, d.size)
    pick = rng.integers(0, d.size, k // 2)
    rows = np.concatenate([np.searchsorted(p, pick, side="right") - 1,
                           rng.integers(0, n, k - k // 2)])
    cols = np.concatenate([i[pick], rng.integers(0, n, k - k // 2)])
    g_rows, g_cols = xp.asarray(rows), xp.asarray(cols)
    vals = xp.asarray(rng.integers(1, 100, k).astype(np.float64))

    def bulk(M):
        M[g_rows, g_cols] = vals

    def make_base():
        return be.sparse.csr_matrix((xp.asarray(d), xp.asarray(i), xp.asarray(p)),
                                    shape=shape)

    yield "1,000 scalar writes (stored)", base.copy, make_base, scalar_loop
    yield "A[rows, cols] = v (half new)", base.copy, make_base, bulk
    coo = base.tocoo()
    yield "COO A[rows, cols] = v (half new)", coo.copy, None, bulk
    # 2:4 and banded arrays of n rows: writes that keep the structure
    width = 4 * 64
    nm_dense = np.zeros((min(n, 20_000), width))
    nm_dense[:, 0::4] = 1.0
    nm = spla.nm_array(nm_dense, n=2, m=4).to_device(be.device)
    q = min(200_000, nm_dense.size // 4)
    nm_r = xp.asarray(rng.integers(0, nm_dense.shape[0], q))
    nm_c = xp.asarray(rng.integers(0, width // 4, q) * 4 + 1)  # second slot of a group
    nm_v = xp.asarray(rng.random(q) + 1.0)

    def nm_write(M):
        M[nm_r, nm_c] = nm_v

    yield "N:M 2:4 A[rows, cols] = v (free slots)", nm.copy, None, nm_write
    offsets = [-1, 0, 1]
    band = np.ones((3, n))
    band[0, 0] = band[2, n - 1] = 0.0  # the positions outside the matrix
    banded = spla.banded_array((band, offsets), shape=(n, n)).to_device(be.device)
    b_r = rng.integers(1, n - 1, k)
    b_c = b_r + rng.integers(-1, 2, k)
    b_r, b_c = xp.asarray(b_r), xp.asarray(b_c)
    b_v = xp.asarray(rng.random(k))

    def band_write(M):
        M[b_r, b_c] = b_v

    yield "banded A[rows, cols] = v (in band)", banded.copy, None, band_write


def run_suite(n, repeat, report=None, backend=None, out=print):
    """Time every case; rows (dicts) appended to ``report["indexing"]``."""
    be = backend or gpu_backend()
    rows = [] if report is None else report.setdefault("indexing", [])
    out(f"  indexing on {be.device}, n = {n:,} (baseline: {be.sparse.__name__})")
    for name, ours, theirs in read_cases(n, be):
        row = {"case": name, "kind": "read", "n": n, "baseline": be.sparse.__name__}
        try:
            ref = theirs()
        except Exception as exc:  # an index form the baseline does not take
            ref, row["baseline_error"] = None, f"{type(exc).__name__}: {exc}"[:120]
        got = ours()
        if ref is not None:
            row["check"] = bool(_same(got, ref, be))
            if not row["check"]:  # reported, and the baseline is not timed
                ref, row["baseline_error"] = None, "MISMATCH: results differ"
        contenders = {"spla": (None, ours)}
        if ref is not None:
            contenders["baseline"] = (None, theirs)
        t = time_calls(contenders, be.sync, repeat, min_sample_s=0.01)
        _record(row, t, out)
        rows.append(row)
    ratios = [r["speedup"] for r in rows if "speedup" in r]
    if ratios:
        out(f"    reads: baseline / spla {min(ratios):.2f}x-{max(ratios):.2f}x, geometric mean "
            f"{float(np.exp(np.mean(np.log(ratios)))):.2f}x over {len(ratios)} cases; "
            f"{sum(1 for r in rows if r.get('check') is False)} mismatches", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SparseEfficiencyWarning and the like
        for name, make_ours, make_theirs, write in write_cases(n, be):
            row = {"case": name, "kind": "write", "n": n, "baseline": be.sparse.__name__}
            M = make_ours()
            write(M)
            if make_theirs is not None:
                ref = make_theirs()
                try:
                    write(ref)
                except Exception as exc:
                    make_theirs, row["baseline_error"] = None, \
                        f"{type(exc).__name__}: {exc}"[:120]
                else:
                    row["check"] = bool(_same(M, ref, be))
                    if not row["check"]:  # reported, and the baseline is not timed
                        make_theirs, row["baseline_error"] = None, "MISMATCH: results differ"
            contenders = {"spla": (make_ours, write)}
            if make_theirs is not None:
                contenders["baseline"] = (make_theirs, write)
            t = time_calls(contenders, be.sync, max(3, repeat // 3), warmup=1)
            _record(row, t, out)
            rows.append(row)
    return rows


def _record(row, t, out):
    row["spla_ms"] = 1e3 * t["spla"]["median"]
    if "baseline" in t:
        row["baseline_ms"] = 1e3 * t["baseline"]["median"]
        row["speedup"] = row["baseline_ms"] / row["spla_ms"]
        out(f"    {row['case']:<40} spla {row['spla_ms']:9.3f} ms  baseline "
            f"{row['baseline_ms']:9.3f} ms  {row['speedup']:6.2f}x", flush=True)
    else:
        why = row.get("baseline_error", "no baseline")
        out(f"    {row['case']:<40} spla {row['spla_ms']:9.3f} ms  ({why})", flush=True)


def markdown(report):
    """Markdown lines of the suite's table."""
    rows = report.get("indexing") or []
    if not rows:
        return []
    lines = ["", f"## Indexing, float64, n = {rows[0]['n']:,} (uniform, 10 per row; "
             f"speedup = {rows[0]['baseline']} time / spla time)", "",
             "| case | kind | spla ms | baseline ms | speedup |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        base = f"{r['baseline_ms']:.3f}" if "baseline_ms" in r else (
            "n/a" if "baseline_error" in r else "-")
        speed = f"{r['speedup']:.2f}x" if "speedup" in r else "-"
        lines.append(f"| {r['case']} | {r['kind']} | {r['spla_ms']:.3f} | {base} | {speed} |")
    return lines
