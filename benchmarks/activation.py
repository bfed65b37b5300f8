"""python -m benchmarks.activation: activation-sparse GEMV against dense GEMV.

For an ``m x n`` float32 Gaussian weight matrix and activation vectors ``h`` with a
fraction ``alpha`` of non-zeros (random positions, seeded), times

- ``dense``: NumPy ``W @ h`` (BLAS GEMV over all of W, row-major W);
- ``sparse_F``: ``spla.activation_matvec(W_F, h)`` with W stored column-major
  (the layout it is meant for: each active column is one contiguous read);
- ``sparse_C``: ``spla.activation_matvec(W, h)`` with the row-major W (gathers).

at densities 50%, 25%, 10%, 5%, 2% and 1% (``--densities``), and reports the
speedups ``dense / sparse`` beside the notes' ideal ``1 / alpha``. A batched row
times ``spla.activation_matmul`` against dense GEMM for ``--batch`` vectors that
share their active units (a layer whose neurons are off for the whole batch).
Every result is checked against a float64 reference. Timing alternates the
contenders (``benchmarks.timing``), medians of ``--repeat`` rounds. JSON and
Markdown go to ``benchmarks/out/activation.json`` and ``.md``; on a shared machine
run it as ``flock /tmp/spla-cpu.lock python -m benchmarks.activation``.
``python -m benchmarks.plot_activation`` draws the speedup plot from the JSON.
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np

import spla

from .timing import time_alternating

ROOT = Path(__file__).resolve().parent.parent
DENSITIES = (0.5, 0.25, 0.1, 0.05, 0.02, 0.01)


def _machine():
    from .cpu import machine_info

    return machine_info({})


def _err(y, ref):
    return float(np.abs(y.astype(np.float64) - ref).max() / (np.abs(ref).max() or 1.0))


def bench(m, n, densities, repeat, batch, seed):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((m, n)).astype(np.float32)
    WF = np.asfortranarray(W)
    W64 = W.astype(np.float64)
    rows = []
    for alpha in densities:
        nnz = max(1, int(round(alpha * n)))
        h = np.zeros(n, dtype=np.float32)
        h[rng.choice(n, nnz, replace=False)] = rng.standard_normal(nnz).astype(np.float32)
        contenders = {
            "dense": lambda: W @ h,
            "sparse_F": lambda: spla.activation_matvec(WF, h),
            "sparse_C": lambda: spla.activation_matvec(W, h),
        }
        ref = W64 @ h.astype(np.float64)
        errs = {k: _err(f(), ref) for k, f in contenders.items()}
        t = time_alternating(contenders, repeat)
        med = {k: t[k]["median"] for k in contenders}
        row = {
            "density": nnz / n, "nnz": nnz, "ideal": n / nnz,
            "median_s": med, "min_s": {k: t[k]["min"] for k in contenders},
            "times": {k: t[k]["times"] for k in contenders},
            "speedup_F": med["dense"] / med["sparse_F"],
            "speedup_C": med["dense"] / med["sparse_C"],
            "speedup_F_from_min": t["dense"]["min"] / t["sparse_F"]["min"],
            "rel_error": errs,
            "sparse_F_GBps": m * nnz * 4 / med["sparse_F"] / 1e9,
            "dense_GBps": m * n * 4 / med["dense"] / 1e9,
        }
        rows.append(row)
        print(f"alpha {row['density']:6.3f}: dense {med['dense'] * 1e3:8.3f} ms  sparse_F "
              f"{med['sparse_F'] * 1e3:8.3f} ms ({row['speedup_F']:5.2f}x)  sparse_C "
              f"{med['sparse_C'] * 1e3:8.3f} ms ({row['speedup_C']:5.2f}x)  ideal "
              f"{row['ideal']:6.1f}x  err {max(errs.values()):.1e}", flush=True)
    batched = []
    if batch:
        for alpha in (0.5, 0.1, 0.01):
            nnz = max(1, int(round(alpha * n)))
            H = np.zeros((n, batch), dtype=np.float32)
            units = rng.choice(n, nnz, replace=False)
            H[units] = rng.standard_normal((nnz, batch)).astype(np.float32)
            contenders = {"dense": lambda: W @ H, "sparse_F": lambda: spla.activation_matmul(WF, H)}
            ref = W64 @ H.astype(np.float64)
            errs = {k: _err(f(), ref) for k, f in contenders.items()}
            t = time_alternating(contenders, repeat)
            med = {k: t[k]["median"] for k in contenders}
            r = {"density": nnz / n, "batch": batch, "ideal": n / nnz, "median_s": med,
                 "speedup_F": med["dense"] / med["sparse_F"], "rel_error": errs}
            batched.append(r)
            print(f"batch {batch} alpha {r['density']:5.3f}: dense {med['dense'] * 1e3:8.3f} ms  "
                  f"sparse_F {med['sparse_F'] * 1e3:8.3f} ms ({r['speedup_F']:5.2f}x)  "
                  f"ideal {r['ideal']:6.1f}x", flush=True)
    return {"m": m, "n": n, "dtype": "float32", "rows": rows, "batched": batched}


def markdown(report):
    mch, res = report["machine"], report["results"]
    out = [
        "# Activation-sparse GEMV",
        "",
        f"{mch.get('cpu_model')}, {mch.get('numba_threads')} Numba threads "
        f"({mch.get('numba_threading_layer')}), NumPy {mch.get('numpy')}, Numba "
        f"{mch.get('numba')}, OpenBLAS threads {mch.get('OPENBLAS_NUM_THREADS') or 'default'}, "
        f"{mch.get('date')}, load average at start {mch.get('load_average')}. "
        f"W {res['m']} x {res['n']} float32; "
        "medians of alternating runs (ms); speedup = dense / sparse.",
        "",
        "| density alpha | dense GEMV | sparse (W col-major) | sparse (W row-major) | "
        "speedup col-major | (from minima) | speedup row-major | ideal 1/alpha | col-major GB/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in res["rows"]:
        ms = r["median_s"]
        out.append(f"| {r['density']:.0%} | {ms['dense'] * 1e3:.3f} | {ms['sparse_F'] * 1e3:.3f} | "
                   f"{ms['sparse_C'] * 1e3:.3f} | {r['speedup_F']:.2f}x | {r['speedup_F_from_min']:.2f}x | "
                   f"{r['speedup_C']:.2f}x | "
                   f"{r['ideal']:.0f}x | {r['sparse_F_GBps']:.1f} |")
    if res["batched"]:
        out += ["", "| batch | density of the union | dense GEMM ms | activation_matmul ms | "
                "speedup | ideal |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in res["batched"]:
            ms = r["median_s"]
            out.append(f"| {r['batch']} | {r['density']:.0%} | {ms['dense'] * 1e3:.3f} | "
                       f"{ms['sparse_F'] * 1e3:.3f} | {r['speedup_F']:.2f}x | {r['ideal']:.0f}x |")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.activation",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--m", type=int, default=4096, help="rows of W (outputs)")
    ap.add_argument("--n", type=int, default=8192, help="columns of W (activations)")
    ap.add_argument("--densities", default=",".join(str(d) for d in DENSITIES))
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--batch", type=int, default=16, help="vectors of the batched row (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "activation.json"))
    ap.add_argument("--markdown", default=str(ROOT / "benchmarks" / "out" / "activation.md"))
    args = ap.parse_args(argv)
    dens = [float(d) for d in args.densities.split(",") if d.strip()]
    if not all(0 < d <= 1 for d in dens) or args.m < 1 or args.n < 1 or args.repeat < 1:
        ap.error("need densities in (0, 1], --m, --n, --repeat >= 1")
    report = {"machine": _machine(), "config": vars(args)}
    report["machine"]["OPENBLAS_NUM_THREADS"] = os.environ.get("OPENBLAS_NUM_THREADS")
    report["machine"]["load_average"] = os.getloadavg()
    report["results"] = bench(args.m, args.n, dens, args.repeat, args.batch, args.seed)
    for p in (args.out, args.markdown):
        Path(p).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    Path(args.markdown).write_text(markdown(report))
    print(f"wrote {args.out} and {args.markdown}")


if __name__ == "__main__":
    main()
