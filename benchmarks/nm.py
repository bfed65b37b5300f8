"""python -m benchmarks.nm: N:M structured sparse products against dense BLAS and CSR.

For a size x size float32 Gaussian weight matrix pruned to 2:4 and to 1:4
(``spla.nm_array(W, prune=True)``), times ``A @ X`` for dense operands of 1, 16,
256 and 4096 columns (1 column: SpMV, as a vector) for

- ``nm``: spla's N:M kernels;
- ``dense``: NumPy ``W_pruned @ X`` (BLAS GEMV/GEMM on the dense pruned matrix);
- ``csr``: spla ``csr_array`` SpMM/SpMV of the same matrix.

Every contender's result is checked against the dense one. Timing alternates
the contenders (``benchmarks.timing``): ``--repeat`` rounds (default 21) for
operands up to 256 columns, ``--repeat-large`` (default 1: "one run each") at
4096 columns, after the kernels were compiled on a small operand. Storage (``nbytes``) is
reported against dense. Writes JSON and Markdown (default
``benchmarks/out/nm.json`` and ``.md``). On a shared machine run it under
``flock /tmp/spla-cpu.lock python -m benchmarks.nm``.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

import spla

from .timing import time_alternating

ROOT = Path(__file__).resolve().parent.parent
PATTERNS = ((2, 4), (1, 4))


def _machine():
    from .cpu import machine_info

    return machine_info({})


def _once_each(contenders, repeat):
    """``repeat`` alternating timed calls each (the kernels are already compiled)."""
    times = {k: [] for k in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: {"median": statistics.median(v), "min": min(v), "times": v, "number": 1}
            for k, v in times.items()}


def _check(results, ref):
    scale = float(np.abs(ref).max()) or 1.0
    return {name: float(np.abs(np.asarray(r, dtype=np.float64) - ref).max() / scale)
            for name, r in results.items()}


def bench(size, cols, repeat, repeat_large, seed):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((size, size)).astype(np.float32)
    out = {"size": size, "dtype": "float32", "patterns": {}}
    for n, m in PATTERNS:
        A = spla.nm_array(W, n=n, m=m, prune=True)
        D = A.toarray()
        C = spla.csr_array(A)
        key = f"{n}:{m}"
        rec = {
            "nbytes": {"nm": A.nbytes, "dense": int(D.nbytes), "csr": C.nbytes},
            "nnz": C.nnz,
            "products": {},
        }
        rec["nbytes"]["nm_over_dense"] = A.nbytes / D.nbytes
        print(f"{key}: nbytes nm {A.nbytes / 2**20:.1f} MiB, dense {D.nbytes / 2**20:.1f} MiB, "
              f"csr {C.nbytes / 2**20:.1f} MiB", flush=True)
        # Compile (or load) every kernel on a small operand first.
        for k in (1, 16):
            Xs = rng.standard_normal((size, k)).astype(np.float32)
            A @ Xs, C @ Xs, A @ Xs[:, 0], C @ Xs[:, 0]
        for k in cols:
            if k == 1:
                X = rng.standard_normal(size).astype(np.float32)
            else:
                X = rng.standard_normal((size, k)).astype(np.float32)
            contenders = {"nm": lambda: A @ X, "dense": lambda: D @ X, "csr": lambda: C @ X}
            ref = D.astype(np.float64) @ X.astype(np.float64)
            errs = _check({name: fn() for name, fn in contenders.items()}, ref)
            if k >= 1024:
                t = _once_each(contenders, repeat_large)
            else:
                t = time_alternating(contenders, repeat)
            flops = 2.0 * C.nnz * k
            entry = {
                "cols": k,
                "median_s": {nm: t[nm]["median"] for nm in contenders},
                "min_s": {nm: t[nm]["min"] for nm in contenders},
                "times": {nm: t[nm]["times"] for nm in contenders},
                "rel_error": errs,
                "dense_over_nm": t["dense"]["median"] / t["nm"]["median"],
                "csr_over_nm": t["csr"]["median"] / t["nm"]["median"],
                "nm_gflops": flops / t["nm"]["median"] / 1e9,
                "dense_gflops": 2.0 * size * size * k / t["dense"]["median"] / 1e9,
            }
            rec["products"][str(k)] = entry
            print(f"  {key} k={k:5d}: nm {entry['median_s']['nm'] * 1e3:9.2f} ms  dense "
                  f"{entry['median_s']['dense'] * 1e3:9.2f} ms  csr "
                  f"{entry['median_s']['csr'] * 1e3:9.2f} ms  dense/nm "
                  f"{entry['dense_over_nm']:.2f}  csr/nm {entry['csr_over_nm']:.2f}  "
                  f"err {max(errs.values()):.1e}", flush=True)
        out["patterns"][key] = rec
    return out


def targets(res):
    p = res["patterns"].get("2:4", {}).get("products", {})
    lines = []

    def add(name, value, target):
        if value is None:
            lines.append({"target": name, "value": None, "goal": target, "status": "N/A"})
        else:
            lines.append({"target": name, "value": round(value, 3), "goal": target,
                          "status": "PASS" if value >= target else "FAIL"})

    add("2:4 SpMV vs dense GEMV (dense/nm)", p.get("1", {}).get("dense_over_nm"), 1.5)
    for k in ("16", "256", "4096"):
        add(f"2:4 SpMM k={k} vs CSR SpMM (csr/nm)", p.get(k, {}).get("csr_over_nm"), 2.0)
    add("2:4 SpMM k=4096 vs dense BLAS (dense/nm), at least", p.get("4096", {}).get("dense_over_nm"), 1.0)
    add("2:4 SpMM k=4096 vs dense BLAS (dense/nm), aim", p.get("4096", {}).get("dense_over_nm"), 1.5)
    return lines


def markdown(report):
    mch = report["machine"]
    res = report["results"]
    out = [
        "# N:M structured sparsity benchmark",
        "",
        f"{mch.get('cpu_model')}, {mch.get('numba_threads')} Numba threads "
        f"({mch.get('numba_threading_layer')}), NumPy {mch.get('numpy')}, Numba "
        f"{mch.get('numba')}, {mch.get('date')}. {res['size']} x {res['size']} float32 "
        "Gaussian weights; median times (ms); ratios > 1 mean nm is faster.",
        "",
        "| pattern | cols | nm | dense BLAS | CSR | dense/nm | csr/nm | nm GFLOP/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, rec in res["patterns"].items():
        for k, e in rec["products"].items():
            ms = e["median_s"]
            out.append(
                f"| {key} | {k} | {ms['nm'] * 1e3:.2f} | {ms['dense'] * 1e3:.2f} | "
                f"{ms['csr'] * 1e3:.2f} | {e['dense_over_nm']:.2f} | {e['csr_over_nm']:.2f} | "
                f"{e['nm_gflops']:.1f} |"
            )
    out += ["", "| pattern | nm nbytes | dense nbytes | CSR nbytes | nm / dense |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for key, rec in res["patterns"].items():
        b = rec["nbytes"]
        out.append(f"| {key} | {b['nm']:,} | {b['dense']:,} | {b['csr']:,} | "
                   f"{b['nm_over_dense']:.3f} |")
    out += ["", "| target | value | goal | status |", "| --- | ---: | ---: | --- |"]
    for t in report["targets"]:
        out.append(f"| {t['target']} | {t['value']} | {t['goal']} | {t['status']} |")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.nm", description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--cols", default="1,16,256,4096", help="comma-separated operand widths")
    # 21, not 7: on the shared 2-core hosts single SpMV samples (~2 ms) ranged
    # from 1.4 to 3.8 ms in one run, and a median of 7 moved by 30% between runs.
    ap.add_argument("--repeat", type=int, default=21,
                    help="rounds for operands up to 256 columns (default 21)")
    ap.add_argument("--repeat-large", type=int, default=1, help="rounds at 4096 columns")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "nm.json"))
    ap.add_argument("--markdown", default=str(ROOT / "benchmarks" / "out" / "nm.md"))
    args = ap.parse_args(argv)
    cols = [int(c) for c in args.cols.split(",") if c.strip()]
    report = {"machine": _machine(), "config": vars(args)}
    report["results"] = bench(args.size, cols, args.repeat, args.repeat_large, args.seed)
    report["targets"] = targets(report["results"])
    for t in report["targets"]:
        print(f"{t['status']:4s} {t['target']}: {t['value']} (goal {t['goal']})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(args.markdown).write_text(markdown(report))
    print(f"wrote {args.out} and {args.markdown}")


if __name__ == "__main__":
    main()
