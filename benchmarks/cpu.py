"""CPU benchmark: spla SpMV / SpMM against SciPy, MKL and SuiteSparse:GraphBLAS.

All contenders on one matrix are timed alternately in the same run
(``timing.time_alternating``) and compared through ratios of medians. See
benchmarks/README.md for what is measured and how to read it.
"""

import datetime
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

# sparse_dot_mkl finds MKL through MKL_RT, read when it is imported: set it
# first. The `mkl` wheel puts libmkl_rt.so.3 into <env>/lib.
_MKL_RT = os.path.join(sys.prefix, "lib", "libmkl_rt.so.3")
if "MKL_RT" not in os.environ and os.path.exists(_MKL_RT):
    os.environ["MKL_RT"] = _MKL_RT

import numba  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.io  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import spla  # noqa: E402

from . import matrices, thread_settings  # noqa: E402
from .machine import cpu_model, triad  # noqa: E402
from .timing import time_alternating  # noqa: E402

TRIAD_N = 1 << 24  # 16M float64 per array: far beyond any cache
F64 = 8

TARGETS = {
    "spmv_geomean": 1.6,
    "spmv_min": 1.2,
    "triad_fraction": 0.80,
    "mkl_geomean": 1.0,
    "spmm": 5.0,
}


# -- machine ---------------------------------------------------------------------




def _lscpu_caches():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    caches = {}
    for line in out.splitlines():
        key, _, val = line.partition(":")
        if "cache" in key.lower():
            caches[key.strip()] = val.strip()
    return caches




def _threading_layer():
    triad(np.empty(4), np.ones(4), np.ones(4), 1.0)
    try:
        return numba.threading_layer()
    except ValueError:
        return "unknown"


def machine_info(peers):
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "caches": _lscpu_caches(),
        "logical_cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": _threading_layer(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "spla": getattr(spla, "__version__", "?"),
        "thread_settings": thread_settings(),
    }
    for name, p in peers.items():
        info[name] = p["info"]
    return info


# -- optional peers ----------------------------------------------------------------


def load_peers(nthreads, want=("mkl", "graphblas")):
    """Import the optional peers; returns (peers, skipped) with reasons."""
    peers, skipped = {}, {}
    rng = np.random.default_rng(1)
    As = sp.random_array((200, 150), density=0.05, format="csr", rng=rng)
    x = rng.random(150)
    X = rng.random((150, 3))
    if "mkl" in want:
        try:
            import sparse_dot_mkl as sdm

            sdm.mkl_set_num_threads(nthreads)
            ok = np.allclose(sdm.dot_product_mkl(As, x), As @ x) and np.allclose(
                sdm.dot_product_mkl(As, X), As @ X
            )
            if not ok:
                raise RuntimeError("sparse_dot_mkl self-test gave a wrong product")
            peers["mkl"] = {
                "mod": sdm,
                "info": {
                    "sparse_dot_mkl": sdm.__version__,
                    "mkl_version": sdm.mkl_get_version_string(),
                    "mkl_threads": int(sdm.mkl_get_max_threads()),
                    "mkl_interface_integer": str(np.dtype(sdm.mkl_interface_integer_dtype())),
                    "MKL_RT": os.environ.get("MKL_RT"),
                },
            }
        except Exception as e:  # ImportError, OSError (library not found), ...
            skipped["mkl"] = f"{type(e).__name__}: {e}".strip()[:300]
    if "graphblas" in want:
        try:
            import graphblas as gb

            try:
                gb.init("suitesparse", blocking=False)
            except Exception:
                pass  # already initialised
            gb.ss.config["nthreads"] = nthreads
            G = gb.io.from_scipy_sparse(As)
            ok = np.allclose(
                (G @ gb.Vector.from_dense(x)).new().to_dense(fill_value=0.0), As @ x
            ) and np.allclose(
                (G @ gb.Matrix.from_dense(X)).new().to_dense(fill_value=0.0), As @ X
            )
            if not ok:
                raise RuntimeError("python-graphblas self-test gave a wrong product")
            peers["graphblas"] = {
                "mod": gb,
                "info": {
                    "python_graphblas": gb.__version__,
                    "suitesparse_graphblas": ".".join(
                        map(str, gb.ss.about["library_version"])
                    ),
                    "graphblas_threads": int(gb.ss.config["nthreads"]),
                },
            }
        except Exception as e:
            skipped["graphblas"] = f"{type(e).__name__}: {e}".strip()[:300]
    return peers, skipped


# -- bandwidth ceiling ---------------------------------------------------------------


class Triad:
    """a = b + s c on 16M float64 (24 bytes per element: 2 reads, 1 write)."""

    def __init__(self, n=TRIAD_N):
        self.a = np.zeros(n)
        self.b = np.full(n, 1.0)
        self.c = np.full(n, 2.0)
        self.bytes = 3 * F64 * n
        triad(self.a, self.b, self.c, 3.0)

    def __call__(self):
        triad(self.a, self.b, self.c, 3.0)


def bandwidth_ceiling(repeat):
    triad = Triad()
    src, dst = triad.b, np.empty_like(triad.b)
    copy_bytes = 2 * F64 * src.size

    def npcopy():
        np.copyto(dst, src)

    res = time_alternating({"triad": triad, "numpy_copy": npcopy}, repeat)
    out = {}
    for name, nbytes in (("triad", triad.bytes), ("numpy_copy", copy_bytes)):
        r = res[name]
        out[name] = {
            "bytes": nbytes,
            "median_s": r["median"],
            "min_s": r["min"],
            "gbps": nbytes / r["median"] / 1e9,
            "gbps_best": nbytes / r["min"] / 1e9,
            "times": r["times"],
        }
    ok = np.allclose(triad.a[:1000], 7.0)
    out["triad"]["verified"] = bool(ok)
    return out, triad


# -- one matrix -------------------------------------------------------------------------


def _traffic(A, ncols):
    """Compulsory bytes of y = A x (ncols = 1) or Y = A X: matrix, x, y once each."""
    m, n = A.shape
    return (
        A.nnz * (A.data.itemsize + A.indices.itemsize)
        + (m + 1) * A.indptr.itemsize
        + n * ncols * F64
        + m * ncols * F64
    )


def _contenders(As, A, peers, operand):
    """dict name -> (callable, to_numpy) for one product ``matrix @ operand``."""
    c = {
        "spla": (lambda: A @ operand, None),
        "scipy": (lambda: As @ operand, None),
    }
    if "mkl" in peers:
        dot = peers["mkl"]["mod"].dot_product_mkl
        c["mkl"] = (lambda: dot(As, operand), None)
    if "graphblas" in peers:
        gb = peers["graphblas"]["mod"]
        G = gb.io.from_scipy_sparse(As)
        if operand.ndim == 1:
            V = gb.Vector.from_dense(operand)
        else:
            V = gb.Matrix.from_dense(np.ascontiguousarray(operand))

        def run_gb():
            r = (G @ V).new()
            r.wait()
            return r

        c["graphblas"] = (run_gb, lambda r: r.to_dense(fill_value=0.0))
    return c


def _bench_product(As, A, peers, operand, repeat, min_sample_s, extra=None):
    """Verify and time all contenders on ``As @ operand``."""
    ncols = 1 if operand.ndim == 1 else operand.shape[1]
    nbytes = _traffic(As, ncols)
    flops = 2 * As.nnz * ncols
    contenders = _contenders(As, A, peers, operand)
    ref = As @ operand

    def check(name):
        """Compare one fresh result with SciPy's; returns a record."""
        fn, to_np = contenders[name]
        try:
            got = fn()
            got = to_np(got) if to_np else np.asarray(got)
        except Exception as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}"[:300]}
        if got.shape != ref.shape:
            return {"ok": False, "error": f"shape {got.shape}, expected {ref.shape}"}
        diff = np.abs(got - ref)
        rec = {"ok": bool(np.allclose(got, ref)),
               "max_abs_err": float(np.max(diff)) if diff.size else 0.0,
               "nan": int(np.isnan(got).sum()),
               "mismatched": int((~np.isclose(got, ref)).sum())}
        return rec

    # Checked on the first call and again after the timed calls: a kernel with
    # a race can be right once and wrong later.
    checks = {name: [check(name)] for name in contenders}
    fns = {name: contenders[name][0] for name in contenders if "error" not in checks[name][0]}
    timed = dict(fns)
    if extra:
        timed.update(extra)
    res = time_alternating(timed, repeat, warmup=2, min_sample_s=min_sample_s)
    for name in fns:
        checks[name].append(check(name))
    del ref
    verified = {name: all(c["ok"] for c in cs) for name, cs in checks.items()}
    out = {"bytes": nbytes, "flops": flops, "ncols": ncols, "contenders": {}}
    t_spla = res["spla"]["median"] if "spla" in res else float("nan")
    tmin_spla = res["spla"]["min"] if "spla" in res else float("nan")
    for name in fns:
        r = res[name]
        out["contenders"][name] = {
            "median_s": r["median"],
            "min_s": r["min"],
            "mean_s": r["mean"],
            "calls_per_sample": r["number"],
            "times": r["times"],
            "gbps": nbytes / r["median"] / 1e9,
            "gflops": flops / r["median"] / 1e9,
            "over_spla": r["median"] / t_spla,  # >1: spla is faster
            "over_spla_min": r["min"] / tmin_spla,  # same from best times (noise check)
            "verified": verified[name],
            "checks": checks[name],
        }
    for name in contenders:
        if name not in fns:
            out["contenders"][name] = {"verified": False, "error": checks[name][0]["error"],
                                       "checks": checks[name]}
    for name in extra or {}:
        out[name] = {"median_s": res[name]["median"], "min_s": res[name]["min"],
                     "times": res[name]["times"]}
    return out


def bench_matrix(label, data, indices, indptr, shape, k, repeat, peers, triad=None,
                 min_sample_s=0.0, seed=0):
    t0 = time.perf_counter()
    As = sp.csr_array((data, indices, indptr), shape=shape, copy=False)
    A = spla.csr_array((data, indices, indptr), shape=shape)
    rng = np.random.default_rng(seed + 12345)
    x = rng.random(shape[1])
    rec = {
        "shape": list(shape),
        "nnz": int(As.nnz),
        **matrices.describe(indptr),
        "setup_s": time.perf_counter() - t0,
    }
    extra = {"triad": triad} if triad is not None else None
    rec["spmv"] = _bench_product(As, A, peers, x, repeat, min_sample_s, extra)
    if triad is not None:
        tri = rec["spmv"]["triad"]
        tri["gbps"] = triad.bytes / tri["median_s"] / 1e9
        rec["spmv"]["triad_fraction"] = rec["spmv"]["contenders"]["spla"]["gbps"] / tri["gbps"]
    del x
    if k > 0:
        X = rng.random((shape[1], k))  # C-ordered
        rec["spmm"] = _bench_product(As, A, peers, X, repeat, min_sample_s)
    return rec


# -- summary ------------------------------------------------------------------------------


def _geomean(vals):
    vals = [v for v in vals if v and v > 0 and math.isfinite(v)]
    return math.exp(sum(map(math.log, vals)) / len(vals)) if vals else float("nan")


def _ratio(rec, op, peer):
    c = rec.get(op, {}).get("contenders", {})
    if peer not in c or "over_spla" not in c[peer]:
        return None
    return c[peer]["over_spla"]


def _spla_ok(recs, op):
    return all(r[op]["contenders"].get("spla", {}).get("verified") for r in recs.values() if op in r)


def summarise(synth, k, ceiling):
    """Summary lines with targets; each is PASS, FAIL or N/A (not measured)."""
    lines = []
    all4 = all(c in synth for c in matrices.CLASSES)
    partial = "" if all4 else f" [partial: {', '.join(synth)}]"
    spmv_ok = _spla_ok(synth, "spmv")
    spmm_ok = _spla_ok(synth, "spmm")

    def add(name, value, target, shown, note=""):
        if value is None or not math.isfinite(value):
            status = "N/A"
        elif not (spmm_ok if name.startswith("SpMM") else spmv_ok):
            status = "FAIL (spla result wrong)"
        else:
            status = "PASS" if value >= target else "FAIL"
        lines.append({"name": name, "value": value, "target": target, "shown": shown,
                      "status": status, "note": note})

    r = {c: _ratio(synth[c], "spmv", "scipy") for c in synth}
    r = {c: v for c, v in r.items() if v is not None}
    g = _geomean(r.values()) if r else None
    gmin = _geomean([synth[c]["spmv"]["contenders"]["scipy"]["over_spla_min"] for c in r])
    add("SpMV scipy/spla, geomean of synthetic classes", g, TARGETS["spmv_geomean"],
        f"{g:.2f}x (target >= {TARGETS['spmv_geomean']}x; from best times {gmin:.2f}x)"
        f"{partial}" if r else "n/a")
    if r:
        worst = min(r, key=r.get)
        per = ", ".join(f"{c} {v:.2f}x" for c, v in r.items())
        add("SpMV scipy/spla, minimum over classes", r[worst], TARGETS["spmv_min"],
            f"{r[worst]:.2f}x on {worst} (target >= {TARGETS['spmv_min']}x each; {per})")
    else:
        add("SpMV scipy/spla, minimum over classes", None, TARGETS["spmv_min"], "n/a")

    for c in ("laplacian2d", "band33"):
        f = synth.get(c, {}).get("spmv", {}).get("triad_fraction")
        if f is not None:
            gbps = synth[c]["spmv"]["contenders"]["spla"]["gbps"]
            tri = synth[c]["spmv"]["triad"]["gbps"]
            shown = (f"{100 * f:.0f}% ({gbps:.1f} of {tri:.1f} GB/s triad in the same run; "
                     f"{100 * gbps / ceiling['triad']['gbps']:.0f}% of the run-start triad) "
                     f"(target >= {100 * TARGETS['triad_fraction']:.0f}%)")
        else:
            shown = "n/a (class not run)"
        add(f"SpMV fraction of triad bandwidth, {c}", f, TARGETS["triad_fraction"], shown)

    rm = {c: _ratio(synth[c], "spmv", "mkl") for c in synth}
    rm = {c: v for c, v in rm.items() if v is not None}
    gm = _geomean(rm.values()) if rm else None
    per = ", ".join(f"{c} {v:.2f}x" for c, v in rm.items())
    add("SpMV mkl/spla, geomean", gm, TARGETS["mkl_geomean"],
        f"{gm:.2f}x (target >= 1.0x, spla no slower than MKL; {per}){partial}" if rm
        else "n/a (MKL not available)")

    rg = {c: _ratio(synth[c], "spmv", "graphblas") for c in synth}
    rg = {c: v for c, v in rg.items() if v is not None}
    if rg:
        gg = _geomean(rg.values())
        per = ", ".join(f"{c} {v:.2f}x" for c, v in rg.items())
        lines.append({"name": "SpMV graphblas/spla, geomean (info)", "value": gg,
                      "target": None, "status": "info",
                      "shown": f"{gg:.2f}x ({per})", "note": ""})

    knote = "" if k == 16 else f" [measured with {k} columns; target is for 16]"
    for c in ("uniform", "powerlaw"):
        v = _ratio(synth[c], "spmm", "scipy") if c in synth else None
        extra = ""
        if v is not None:
            cc = synth[c]["spmm"]["contenders"]
            extra = f"; spla {cc['spla']['gflops']:.2f} GFLOP/s"
            if "mkl" in cc and "over_spla" in cc["mkl"]:
                extra += f", mkl/spla {cc['mkl']['over_spla']:.2f}x"
        add(f"SpMM ({k} cols) scipy/spla, {c}", v, TARGETS["spmm"],
            (f"{v:.2f}x (target >= {TARGETS['spmm']}x{extra}){knote}" if v is not None
             else "n/a (class not run)"))
    return lines


# -- reporting ---------------------------------------------------------------------------


PEER_ORDER = ("spla", "scipy", "mkl", "graphblas")


def _ms(s):
    return f"{1e3 * s:.3f}" if s < 0.01 else f"{1e3 * s:.2f}" if s < 1 else f"{1e3 * s:.0f}"


def _peer_names(recs):
    present = set()
    for r in recs.values():
        for op in ("spmv", "spmm"):
            present |= set(r.get(op, {}).get("contenders", {}))
    return [p for p in PEER_ORDER if p in present]


def _product_table(recs, op, k):
    peers = _peer_names(recs)
    others = [p for p in peers if p != "spla"]
    unit = "GB/s" if op == "spmv" else "GFLOP/s"
    head = ["matrix", "rows", "nnz"] + [f"{p} ms" for p in peers]
    head += [f"{p}/spla" for p in others] + [f"spla {unit}"]
    if op == "spmv":
        head += ["spla % triad"]
    else:
        head += ["spla GB/s"]
    head += ["verified"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, r in recs.items():
        if op not in r:
            continue
        c = r[op]["contenders"]
        cells = [name, f"{r['shape'][0]:,}", f"{r['nnz']:,}"]
        for p in peers:
            cells.append(_ms(c[p]["median_s"]) if p in c and "median_s" in c[p] else "-")
        for p in others:
            cells.append(f"{c[p]['over_spla']:.2f}x" if p in c and "over_spla" in c[p] else "-")
        s = c.get("spla", {})
        if op == "spmv":
            cells.append(f"{s['gbps']:.1f}" if "gbps" in s else "-")
            f = r[op].get("triad_fraction")
            cells.append(f"{100 * f:.0f}%" if f is not None else "-")
        else:
            cells.append(f"{s['gflops']:.2f}" if "gflops" in s else "-")
            cells.append(f"{s['gbps']:.1f}" if "gbps" in s else "-")
        bad = [p for p in peers if p in c and not c[p].get("verified")]
        cells.append("all" if not bad else "WRONG: " + ",".join(bad))
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def markdown(report):
    m, cfg, ceil = report["machine"], report["config"], report["ceiling"]
    out = [
        "# spla CPU benchmark",
        "",
        f"{m['date']} · {m['cpu_model']} · {m['numba_threads']} Numba threads "
        f"({m['numba_threading_layer']}) · numpy {m['numpy']}, scipy {m['scipy']}, "
        f"numba {m['numba']}, spla {m['spla']}",
    ]
    if "mkl" in m:
        out.append(f"MKL {m['mkl']['mkl_version']} via sparse_dot_mkl {m['mkl']['sparse_dot_mkl']}, "
                   f"{m['mkl']['mkl_threads']} threads")
    if "graphblas" in m:
        g = m["graphblas"]
        out.append(f"SuiteSparse:GraphBLAS {g['suitesparse_graphblas']} via python-graphblas "
                   f"{g['python_graphblas']}, {g['graphblas_threads']} threads")
    for p, why in report["skipped_peers"].items():
        out.append(f"Skipped {p}: {why}")
    out += [
        "",
        f"n = {cfg['n']:,}, {cfg['repeat']} alternating repeats, medians; SpMM with "
        f"{cfg['spmm_cols']} C-ordered dense columns. Ratios are peer time / spla time "
        "(> 1: spla faster).",
        "",
        f"Bandwidth ceiling (run start): Numba triad {ceil['triad']['gbps']:.1f} GB/s "
        f"(best {ceil['triad']['gbps_best']:.1f}), numpy copy {ceil['numpy_copy']['gbps']:.1f} GB/s "
        f"(best {ceil['numpy_copy']['gbps_best']:.1f}).",
        "",
        "## Summary",
        "",
        "| check | result | status |",
        "| --- | --- | --- |",
    ]
    for s in report["summary"]:
        out.append(f"| {s['name']} | {s['shown']} | {s['status']} |")
    k = cfg["spmm_cols"]
    if report["synthetic"]:
        out += ["", "## SpMV, synthetic", ""] + _product_table(report["synthetic"], "spmv", k)
        out += ["", f"## SpMM ({k} columns), synthetic", ""]
        out += _product_table(report["synthetic"], "spmm", k)
    if report["real"]:
        out += ["", f"## Real matrices ({report['config']['matrices_dir']}), SpMV", ""]
        out += _product_table(report["real"], "spmv", k)
        out += ["", f"## Real matrices, SpMM ({k} columns)", ""]
        out += _product_table(report["real"], "spmm", k)
        notes = {n: r["note"] for n, r in report["real"].items() if r.get("note")}
        if notes:
            out += [""] + [f"- {n}: {v}" for n, v in notes.items()]
    return "\n".join(out) + "\n"


# -- driver ------------------------------------------------------------------------------


def _print_product(label, op, rec):
    c = rec[op]["contenders"]
    parts = []
    for p in PEER_ORDER:
        if p not in c:
            continue
        if "median_s" not in c[p]:
            parts.append(f"{p} ERROR {c[p].get('error')}")
            continue
        s = f"{p} {_ms(c[p]['median_s'])} ms"
        if p != "spla":
            s += f" ({c[p]['over_spla']:.2f}x)"
        if not c[p]["verified"]:
            bad = [ch for ch in c[p]["checks"] if not ch["ok"]]
            s += " WRONG " + "; ".join(
                ch.get("error") or f"{ch['mismatched']} mismatched, {ch['nan']} NaN, "
                f"max err {ch['max_abs_err']:.3g}" for ch in bad)
        parts.append(s)
    tail = ""
    if op == "spmv":
        tail = f" | spla {c['spla']['gbps']:.1f} GB/s"
        if "triad_fraction" in rec[op]:
            tail += f", {100 * rec[op]['triad_fraction']:.0f}% of triad"
    else:
        tail = f" | spla {c['spla']['gflops']:.2f} GFLOP/s"
    print(f"  {op}: " + ", ".join(parts) + tail, flush=True)


def _read_real(path):
    M = scipy.io.mmread(str(path))
    note = ""
    if sp.issparse(M):
        M = sp.csr_array(M)
    else:
        M = sp.csr_array(np.asarray(M))
    if np.iscomplexobj(M.data):
        M = sp.csr_array((M.data.real, M.indices, M.indptr), shape=M.shape)
        note = "complex values: real part used"
    M = M.astype(np.float64)
    M.sum_duplicates()
    M.sort_indices()
    if M.nnz < np.iinfo(np.int32).max and max(M.shape) < np.iinfo(np.int32).max:
        M.indices = M.indices.astype(np.int32)
        M.indptr = M.indptr.astype(np.int32)
    return M, note


def run(args):
    nthreads = numba.get_num_threads()
    peers, skipped = load_peers(nthreads)
    for p, why in skipped.items():
        print(f"skipping {p}: {why}", flush=True)
    machine = machine_info(peers)
    print(f"CPU: {machine['cpu_model']} ({machine['logical_cpus']} logical CPUs; "
          f"L3 {machine['caches'].get('L3 cache', '?')})")
    print(f"threads: numba {nthreads} ({machine['numba_threading_layer']} layer)"
          + (f", mkl {machine['mkl']['mkl_threads']}" if "mkl" in machine else "")
          + (f", graphblas {machine['graphblas']['graphblas_threads']}"
             if "graphblas" in machine else ""))
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__}, "
          f"spla {machine['spla']}; {machine['date']}", flush=True)

    config = {
        "n": args.n, "repeat": args.repeat, "classes": args.classes,
        "spmm_cols": args.spmm_cols, "quick": args.quick, "seed": args.seed,
        "matrices_dir": str(args.matrices_dir) if args.matrices_dir else None,
        "real_repeat": args.real_repeat, "real_min_sample_s": args.real_min_sample_s,
        "argv": sys.argv[1:],
    }

    ceiling, triad = bandwidth_ceiling(max(args.repeat, 5))
    print(f"bandwidth ceiling: triad {ceiling['triad']['gbps']:.1f} GB/s "
          f"(best {ceiling['triad']['gbps_best']:.1f}), numpy copy "
          f"{ceiling['numpy_copy']['gbps']:.1f} GB/s", flush=True)

    synth = {}
    for c in args.classes:
        t0 = time.perf_counter()
        data, indices, indptr, shape = matrices.make(c, args.n, args.seed)
        gen_s = time.perf_counter() - t0
        print(f"{c}: {shape[0]:,} x {shape[1]:,}, nnz {indices.size:,} "
              f"(generated in {gen_s:.1f} s)", flush=True)
        rec = bench_matrix(c, data, indices, indptr, shape, args.spmm_cols, args.repeat,
                           peers, triad=triad, seed=args.seed)
        rec["generate_s"] = gen_s
        _print_product(c, "spmv", rec)
        _print_product(c, "spmm", rec)
        synth[c] = rec
        del data, indices, indptr

    real = {}
    if args.matrices_dir:
        files = sorted(p for p in Path(args.matrices_dir).iterdir()
                       if p.name.endswith((".mtx", ".mtx.gz")))
        if files:
            print(f"real matrices from {args.matrices_dir}: {len(files)} files", flush=True)
        for path in files:
            try:
                M, note = _read_real(path)
            except Exception as e:
                print(f"{path.name}: cannot read ({type(e).__name__}: {e})")
                real[path.name] = {"error": f"{type(e).__name__}: {e}"}
                continue
            print(f"{path.name}: {M.shape[0]:,} x {M.shape[1]:,}, nnz {M.nnz:,}"
                  + (f" ({note})" if note else ""), flush=True)
            rec = bench_matrix(path.name, M.data, M.indices, M.indptr, M.shape,
                               args.spmm_cols, args.real_repeat, peers,
                               min_sample_s=args.real_min_sample_s, seed=args.seed)
            rec["note"] = note
            _print_product(path.name, "spmv", rec)
            _print_product(path.name, "spmm", rec)
            real[path.name] = rec
        real_ok = {k: v for k, v in real.items() if "error" not in v}
    else:
        real_ok = {}

    summary = summarise(synth, args.spmm_cols, ceiling)
    if real_ok:
        rs = [r["spmv"]["contenders"]["scipy"]["over_spla"] for r in real_ok.values()]
        rm = [r["spmm"]["contenders"]["scipy"]["over_spla"] for r in real_ok.values()]
        summary.append({"name": "Real matrices scipy/spla (info)", "value": _geomean(rs),
                        "target": None, "status": "info", "note": "",
                        "shown": f"SpMV geomean {_geomean(rs):.2f}x (min {min(rs):.2f}x), "
                                 f"SpMM geomean {_geomean(rm):.2f}x (min {min(rm):.2f}x) "
                                 f"over {len(rs)} matrices"})

    report = {
        "machine": machine, "config": config, "skipped_peers": skipped,
        "ceiling": ceiling, "synthetic": synth, "real": real_ok,
        "real_errors": {k: v for k, v in real.items() if "error" in v},
        "summary": summary, "targets": TARGETS,
    }
    print("\nSUMMARY")
    for s in summary:
        print(f"  [{s['status']}] {s['name']}: {s['shown']}")
    return report
