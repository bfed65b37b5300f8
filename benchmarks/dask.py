"""python -m benchmarks.dask: SpMV and CG on a 2-D Laplacian, one process against
Dask with two single-threaded worker processes (``spla.dask``).

Contenders, timed alternately (benchmarks.timing), medians compared:

- ``spla``: one process, ``A @ x`` / ``spla.linalg.cg`` with 2 Numba threads;
- ``dask matvec``: ``spla.dask.matvec(Ad, xd)`` on a vector already distributed in
  row chunks, result persisted on the workers (the product inside a solver);
- ``dask A @ x``: ``(Ad @ x).compute()`` with a NumPy ``x``: ships ``x`` to the
  workers and the result back (the product as a user calls it once);
- ``dask cg``: ``spla.linalg.cg(Ad, b)``, vectors distributed.

The workers build their own rows (``spla.dask.from_row_blocks``): the matrix is
never in the client. CG runs a fixed number of iterations (``rtol=0``), so the
figure is the time per iteration. Each worker gets one Numba thread, the single
process two: both use the machine's two cores.
"""

import argparse
import datetime
import functools
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from .machine import cpu_model
from .timing import time_alternating

OUT = Path(__file__).resolve().parent / "out"


def laplacian_rows(k, r0, r1):
    """Rows ``r0:r1`` of the 5-point Laplacian of a ``k x k`` grid, as a csr_array
    (built directly, without the rest of the matrix)."""
    import spla

    n = k * k
    rows = np.arange(r0, r1, dtype=np.int64)
    i, j = rows // k, rows % k
    cols = [rows - k, rows - 1, rows, rows + 1, rows + k]
    ok = [i > 0, j > 0, np.ones_like(i, dtype=bool), j < k - 1, i < k - 1]
    vals = [-1.0, -1.0, 4.0, -1.0, -1.0]
    mask = np.stack(ok, axis=1)
    C = np.stack(cols, axis=1)[mask]
    V = np.broadcast_to(np.array(vals), mask.shape)[mask]
    indptr = np.zeros(r1 - r0 + 1, dtype=np.int64)
    np.cumsum(mask.sum(axis=1), out=indptr[1:])
    idx = np.int32 if n < 2**31 else np.int64
    return spla.csr_array((V, C.astype(idx), indptr.astype(idx)), shape=(r1 - r0, n))


def run(k, chunks, repeat, cg_iters, client):
    import dask
    import dask.array as da
    import distributed

    import spla
    import spla.dask as sd

    n = k * k
    t0 = time.perf_counter()
    A = laplacian_rows(k, 0, n)
    build_single = time.perf_counter() - t0
    rows = tuple(len(r) for r in np.array_split(np.arange(n), chunks))
    t0 = time.perf_counter()
    Ad = sd.from_row_blocks(functools.partial(laplacian_rows, k), (n, n), rows).persist()
    distributed.wait(Ad)
    build_dask = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    xd = da.from_array(x, chunks=(rows,)).persist()
    distributed.wait(xd)
    windows = sd.column_windows(Ad)

    def dask_matvec():
        y = sd.matvec(Ad, xd, windows=windows).persist()
        distributed.wait(y)

    spmv = time_alternating({
        "spla": lambda: A @ x,
        "dask matvec": dask_matvec,
        "dask A @ x": lambda: (Ad @ x).compute(),
    }, repeat=repeat, warmup=2)
    np.testing.assert_allclose((Ad @ x).compute(), A @ x, rtol=1e-12)

    b = np.ones(n)

    def cg_single():
        return spla.linalg.cg(A, b, rtol=0.0, maxiter=cg_iters)

    def cg_dask():
        xs, info = spla.linalg.cg(Ad, b, rtol=0.0, maxiter=cg_iters)
        distributed.wait(xs)
        return xs, info

    cg = time_alternating({"spla": cg_single, "dask": cg_dask},
                          repeat=max(2, repeat // 2), warmup=1)
    x1, _ = cg_single()
    x2, _ = cg_dask()
    err = float(np.max(np.abs(x2.compute() - x1)) / np.max(np.abs(x1)))
    return {
        "k": k, "n": n, "nnz": A.nnz, "chunks": len(rows),
        "matrix_bytes": A.nbytes,
        "build_single_s": build_single, "build_dask_s": build_dask,
        "spmv": {name: {key: v[key] for key in ("median", "min")} for name, v in spmv.items()},
        "cg_iterations": cg_iters,
        "cg": {name: {key: v[key] / cg_iters for key in ("median", "min")}
               for name, v in cg.items()},
        "cg_max_relative_difference": err,
    }


def markdown(meta, results):
    lines = [
        "## spla.dask: SpMV and CG on a 2-D Laplacian, one process against 2 Dask workers",
        "",
        f"{meta['date']} · {meta['cpu']} · {meta['cores']} cores shared with other users "
        f"(runs under flock) · dask {meta['dask']} · numpy {meta['numpy']} · "
        f"numba {meta['numba']} · spla {meta['spla']}",
        "",
        "5-point Laplacian of a k x k grid, float64, CSR. One process: 2 Numba threads. "
        "Dask: LocalCluster of 2 worker processes x 1 thread (1 Numba thread each), the "
        "rows built on the workers. Medians of alternating repeats (min in brackets). "
        "CG: seconds per iteration over a fixed number of iterations.",
        "",
        "| n (rows) | nnz | chunks | SpMV spla | SpMV dask matvec (distributed x) | "
        "SpMV dask `(Ad @ x).compute()` | CG/iter spla | CG/iter dask | dask/spla CG |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def ms(d):
        return f"{d['median'] * 1e3:.1f} ms ({d['min'] * 1e3:.1f})"

    for r in results:
        s, c = r["spmv"], r["cg"]
        lines.append(
            f"| {r['n']:,} | {r['nnz']:,} | {r['chunks']} | {ms(s['spla'])} | "
            f"{ms(s['dask matvec'])} | {ms(s['dask A @ x'])} | {ms(c['spla'])} | "
            f"{ms(c['dask'])} | {c['dask']['median'] / c['spla']['median']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.dask", description=__doc__.split("\n")[0])
    p.add_argument("--k", type=int, nargs="+", default=[300, 2828],
                   help="grid sides (n = k^2 rows); default 300 (90,000 rows: overhead-bound) "
                        "and 2828 (8.0 million rows)")
    p.add_argument("--chunks", type=int, default=2, help="row chunks (default 2, one per worker)")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--cg-iters", type=int, default=30)
    p.add_argument("--quick", action="store_true", help="k = 100 and 600, 3 repeats")
    args = p.parse_args(argv)
    if args.quick:
        args.k, args.repeat = [100, 600], 3

    import dask
    import distributed
    import numba

    import spla

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        env={"NUMBA_NUM_THREADS": "1",
             "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                            os.environ.get("PYTHONPATH", "")])},
        memory_limit="10GiB",
    )
    client = distributed.Client(cluster)
    try:
        results = []
        for k in args.k:
            print(f"k = {k} (n = {k * k:,}) ...", flush=True)
            results.append(run(k, args.chunks, args.repeat, args.cg_iters, client))
    finally:
        client.close()
        cluster.close()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "numba": numba.__version__, "dask": dask.__version__,
        "spla": spla.__version__, "numba_threads_single": numba.get_num_threads(),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "dask.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    md = markdown(meta, results)
    (OUT / "dask.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
