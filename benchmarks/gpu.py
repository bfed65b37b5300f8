"""GPU benchmark suite: spla_cuda against cuSPARSE (through CuPy and PyTorch),
cuBLAS and cuSPARSELt, in one run (``python -m benchmarks --gpu``); indexing
against ``cupyx.scipy.sparse`` (``--gpu-suites indexing``: ``gpu_indexing.py``).

Every figure is the median of CUDA-event timings taken alternately between the
contenders (each sample times ``inner`` back-to-back calls, so launch and host
overhead overlap with the GPU work as they do in a real pipeline), after warm-up;
``time_gpu(queued=True)`` queues each sample behind a spin kernel, so that it times the
GPU's work alone (the attention suite reports both).
Bandwidths count compulsory bytes: every stored value, index and row pointer, the
operand and the result, each once. Each spla result is checked against the
baseline's before it is timed.
"""

import os
import random
import statistics
import time

import numpy as np

from . import matrices

# -- timing ------------------------------------------------------------------------------


def time_gpu(contenders, repeat=15, inner=10, warmup=3, seed=0, queued=False):
    """Median and minimum seconds per call of each contender, timed alternately
    with CUDA events on the current stream.

    ``queued=True`` times the GPU's execution alone: each sample's calls are queued
    behind a spin kernel (``_spin``) that keeps the GPU busy for twice the host's time
    to issue them (measured in the warm-up) plus 0.2 ms (at most 1 s), so the host's
    work (Python, launches, allocation) overlaps the spin instead of adding to the
    sample, as it does in a training loop that stays ahead of the GPU. A sample whose
    calls were not all issued before the spin ended (a call that waits on the GPU, or
    a slow host) is counted in ``starved``: it times some host work too.
    """
    import cupy

    host = {}    # seconds to issue a sample's calls: the last warm-up call's, inner times
    for name, fn in contenders.items():
        host[name] = 1e-3
        for _ in range(warmup):
            t0 = time.perf_counter()
            fn()
            host[name] = (time.perf_counter() - t0) * inner
    cupy.cuda.Device().synchronize()
    times = {name: [] for name in contenders}
    starved = dict.fromkeys(contenders, 0)
    order = list(contenders)
    rng = random.Random(seed)
    for _ in range(repeat):
        rng.shuffle(order)
        for name in order:
            fn = contenders[name]
            start, end = cupy.cuda.Event(), cupy.cuda.Event()
            if queued:
                before = cupy.cuda.Event()
                before.record()
                t0 = time.perf_counter()
                _spin(min(2 * host[name] + 2e-4, 1.0))
            start.record()
            for _ in range(inner):
                fn()
            if queued:
                issued = time.perf_counter() - t0
            end.record()
            end.synchronize()
            if queued and issued * 1e3 > cupy.cuda.get_elapsed_time(before, start):
                starved[name] += 1
            times[name].append(cupy.cuda.get_elapsed_time(start, end) / inner / 1e3)
    return {name: {"median": statistics.median(t), "min": min(t), "starved": starved[name]}
            for name, t in times.items()}


_SPIN_SOURCE = r"""
extern "C" __global__ void spla_bench_spin(long long cycles) {
    const long long t0 = clock64();
    while (clock64() - t0 < cycles) { }
}
"""
_SPIN = {}


def _spin(seconds):
    """Keep the GPU busy for about ``seconds`` (one thread spinning on ``clock64``, on
    the current stream); the clock's rate is measured once per device."""
    import cupy

    dev = cupy.cuda.Device().id
    if dev not in _SPIN:
        kern = cupy.RawKernel(_SPIN_SOURCE, "spla_bench_spin")
        cycles = 10_000_000
        kern((1,), (1,), (np.int64(cycles),))
        a, b = cupy.cuda.Event(), cupy.cuda.Event()
        a.record()
        kern((1,), (1,), (np.int64(cycles),))
        b.record()
        b.synchronize()
        _SPIN[dev] = (kern, cycles / (cupy.cuda.get_elapsed_time(a, b) / 1e3))
    kern, rate = _SPIN[dev]
    kern((1,), (1,), (np.int64(seconds * rate),))


def copy_bandwidth():
    """Device-to-device copy bandwidth (read + write bytes per second) of 1 GiB."""
    import cupy

    a = cupy.ones(1 << 28, dtype=np.float32)
    b = cupy.empty_like(a)
    t = time_gpu({"copy": lambda: cupy.copyto(b, a)}, repeat=10, inner=5)["copy"]["median"]
    return 2 * a.nbytes / t


def _rel_err(a, b):
    import cupy

    a = cupy.asarray(a, dtype=np.float64)
    b = cupy.asarray(b, dtype=np.float64)
    return float(cupy.linalg.norm(a - b) / max(float(cupy.linalg.norm(b)), 1e-300))


def _torch_csr(A):
    import torch

    return torch.sparse_csr_tensor(
        torch.from_dlpack(A.indptr.astype(np.int64)), torch.from_dlpack(A.indices.astype(np.int64)),
        torch.from_dlpack(A.data), size=A.shape)


# -- suites --------------------------------------------------------------------------------


def _host_matrix(name, n):
    size = 2 * n if name == "laplacian2d" else n  # the generator's grid has n / 2 rows
    return matrices.make(name, size)


def _build(name, n, dtype, host=None):
    """The class ``name`` with about n rows, as a GPU spla csr_array of ``dtype``."""
    import spla

    data, indices, indptr, shape = host if host is not None else _host_matrix(name, n)
    A = spla.csr_array((data.astype(dtype), indices, indptr), shape=shape)
    return A.to_device("cuda")


def spmv_suite(n, dtypes, repeat, classes, report):
    for name in classes:
        t0 = time.perf_counter()
        host = _host_matrix(name, n)
        build_s = time.perf_counter() - t0
        for dtype in dtypes:
            _spmv_one(name, host, build_s, n, dtype, repeat, report)


def _spmv_one(name, host, build_s, n, dtype, repeat, report):
    import cupy
    import cupyx.scipy.sparse as cusparse
    import torch

    import spla

    rows = []
    A = _build(name, n, dtype, host)
    m = A.shape[0]
    x = cupy.asarray(np.random.default_rng(1).random(A.shape[1]) + 0.5, dtype=dtype)
    C = cusparse.csr_matrix((A.data, A.indices, A.indptr), shape=A.shape)
    T = _torch_csr(A)
    xt = torch.from_dlpack(x)
    check = _rel_err(A @ x, C @ x)
    contenders = {
        "spla": lambda: A @ x,
        "cusparse_cupy": lambda: C @ x,
        "cusparse_torch": lambda: torch.mv(T, xt),
    }
    from spla_cuda import csr as gpu_csr

    row_methods = ["tasks", "tasks_h64", "tasks_h256", "tasks_l2", "tasks_keep"] + [
        f"vector{lanes}" for lanes in (1, 2, 4, 8, 16, 32)]
    for method in row_methods:
        contenders[f"spla[{method}]"] = lambda method=method: gpu_csr.spmv(A, x, method)
    if name == "band33":
        B = spla.banded_array(A.to_device("cpu")).to_device("cuda")
        check_banded = _rel_err(B @ x, C @ x)
        contenders["spla_banded"] = lambda: B @ x
        from spla_cuda import banded as gpu_banded

        for method in ("rows1", "rows2", "rows4", "rows8", "vec2", "vec4"):
            if method.startswith("vec") and (
                    int(method[-1]) * np.dtype(dtype).itemsize > 16 or m % int(method[-1])):
                continue
            contenders[f"spla_banded[{method}]"] = (
                lambda method=method: gpu_banded.spmv(B, x, method))
    t = time_gpu(contenders, repeat=repeat)
    isz = np.dtype(dtype).itemsize
    csr_bytes = A.nnz * (isz + 4) + (m + 1) * 4 + (A.shape[1] + m) * isz
    row = {"class": name, "rows": m, "nnz": A.nnz, "dtype": np.dtype(dtype).name,
           "build_s": build_s, "check_rel_err": check, "times": t,
           "csr_bytes": csr_bytes}
    for k, v in t.items():
        row[f"{k}_GBps"] = csr_bytes / v["median"] / 1e9
    row["speedup_vs_cusparse_cupy"] = t["cusparse_cupy"]["median"] / t["spla"]["median"]
    row["speedup_vs_cusparse_torch"] = t["cusparse_torch"]["median"] / t["spla"]["median"]
    if name == "band33":
        banded_bytes = B.data.nbytes + (A.shape[1] + m) * isz
        row["check_banded_rel_err"] = check_banded
        row["banded_bytes"] = banded_bytes
        row["spla_banded_GBps"] = banded_bytes / t["spla_banded"]["median"] / 1e9
        row["banded_speedup_vs_cusparse_cupy"] = (
            t["cusparse_cupy"]["median"] / t["spla_banded"]["median"])
    rows.append(row)
    print("      " + ", ".join(f"{k[5:-1]} {row[k + '_GBps']:.0f}" for k in t if k.startswith("spla[")),
          flush=True)
    if name == "band33":
        print("      banded: " + ", ".join(
            f"{k[12:-1]} {banded_bytes / v['median'] / 1e9:.0f}" for k, v in t.items()
            if k.startswith("spla_banded[")), flush=True)
    print(f"  SpMV {name:12s} {np.dtype(dtype).name}: spla {row['spla_GBps']:7.0f} GB/s, "
          f"cuSPARSE(CuPy) {row['cusparse_cupy_GBps']:7.0f}, (torch) "
          f"{row['cusparse_torch_GBps']:7.0f}; x{row['speedup_vs_cusparse_cupy']:.2f} / "
          f"x{row['speedup_vs_cusparse_torch']:.2f}  (err {check:.1e})", flush=True)
    cupy.get_default_memory_pool().free_all_blocks()
    report.setdefault("spmv", []).extend(rows)


def spmm_suite(n, widths, repeat, classes, report):
    import cupy
    import cupyx.scipy.sparse as cusparse
    import torch

    for name in classes:
        A = _build(name, n, np.float32)
        C = cusparse.csr_matrix((A.data, A.indices, A.indptr), shape=A.shape)
        T = _torch_csr(A)
        for k in widths:
            X = cupy.asarray(np.random.default_rng(2).random((A.shape[1], k)), dtype=np.float32)
            Xt = torch.from_dlpack(X)
            check = _rel_err(A @ X, C @ X)
            t = time_gpu({
                "spla": lambda: A @ X,
                "cusparse_cupy": lambda: C @ X,
                "cusparse_torch": lambda: torch.mm(T, Xt),
            }, repeat=repeat, inner=3)
            flops = 2 * A.nnz * k
            row = {"class": name, "rows": A.shape[0], "nnz": A.nnz, "k": k, "times": t,
                   "check_rel_err": check}
            for c, v in t.items():
                row[f"{c}_TFLOPs"] = flops / v["median"] / 1e12
            row["speedup_vs_cusparse_torch"] = t["cusparse_torch"]["median"] / t["spla"]["median"]
            row["speedup_vs_cusparse_cupy"] = t["cusparse_cupy"]["median"] / t["spla"]["median"]
            report.setdefault("spmm", []).append(row)
            print(f"  SpMM {name:12s} k={k:4d}: spla {row['spla_TFLOPs']:.3f} TFLOP/s, "
                  f"torch {row['cusparse_torch_TFLOPs']:.3f}, cupy "
                  f"{row['cusparse_cupy_TFLOPs']:.3f}; x{row['speedup_vs_cusparse_torch']:.2f} "
                  f"vs torch (err {check:.1e})", flush=True)
        cupy.get_default_memory_pool().free_all_blocks()


#: Tilings timed beside the default in the 2:4 suite (the older mma.sp and wgmma
#: ones are in docs/gpu.md's history; ``SPARSE24_SWEEP_ALL`` times every one).
SPARSE24_SWEEP = ("wgmma_256x128x64_s4_keep1", "tma_256x128_s6", "tma_128x256_s5", "tma_128x128_s8",
                  "tma_256x128_s6_mc2", "tma_128x256_s5_mc2", "tma_128x128_s8_mc2",
                  # split K and 64-column tiles (session 19, for N = 256; not measured yet)
                  "tma_128x256_s5_sk2", "tma_256x128_s6_sk2", "tma_128x128_s8_sk3",
                  "tma_256x128_s6_skauto", "tma_128x256_s5_mc2_sk2", "tma_256x128_s6_mc2_sk2",
                  "tma_128x64_s12")
SPARSE24_SWEEP_ALL = False
#: Seconds each main contender of a 2:4 row runs back to back while the SM clock and
#: power draw are sampled (``gpu_power``; environment ``SPLA_BENCH_POWER_S``, 0: off).
SPARSE24_POWER_S = 1.5


def _sparse24_sizes(default):
    """``SPLA_BENCH_SPARSE24_SIZES`` ("MxKxN,MxKxN") or ``default``."""
    spec = os.environ.get("SPLA_BENCH_SPARSE24_SIZES", "").strip()
    if not spec:
        return default
    return [tuple(int(v) for v in item.lower().split("x")) for item in spec.split(",") if item.strip()]


def _recorded_event():
    """A CUDA event recorded on the current stream."""
    import cupy

    event = cupy.cuda.Event()
    event.record()
    return event


def sparse24_suite(sizes, repeat, report, sweep=True, dtypes=("float16", "bfloat16")):
    """2:4 products on the sparse tensor cores against cuBLAS (dense ``torch.mm``)
    and cuSPARSELt (``torch._cslt_sparse_mm`` on a compressed W), in each dtype.
    bfloat16 runs the kernels on bfloat16 bits of the same pruned W (``spmm_prepared``).
    Where NVML or ``nvidia-smi`` answers, each row also gets the median SM clock and
    power draw of each main contender run alone (``row["power"]``, ``gpu_power``)."""
    import cupy

    from .gpu_power import PowerSampler, describe

    power_s = float(os.environ.get("SPLA_BENCH_POWER_S", SPARSE24_POWER_S))
    sampler = None
    if power_s > 0:
        try:
            sampler = PowerSampler.open(cupy.cuda.Device().pci_bus_id)
        except Exception:  # noqa: BLE001 - no clock and power figures, silently
            sampler = None
    try:
        _sparse24_rows(sizes, repeat, report, sweep, dtypes, sampler, power_s, describe)
    finally:
        if sampler is not None:
            sampler.close()


def _sparse24_rows(sizes, repeat, report, sweep, dtypes, sampler, power_s, describe):
    import cupy
    import torch

    import spla
    from spla_cuda import sparse24

    for (M, K, N) in sizes:
        rng = np.random.default_rng(3)
        W = spla.prune_nm(rng.standard_normal((M, K), dtype=np.float32).astype(np.float16))
        A = spla.nm_array(W).to_device("cuda")
        values, meta = sparse24.prepare(A)
        for dtype in dtypes:
            tdt = getattr(torch, dtype)
            Wt = torch.from_dlpack(cupy.asarray(W)).to(tdt)
            Xt = torch.randn((K, N), device="cuda", dtype=torch.float32).to(tdt)
            if dtype == "float16":
                X = cupy.from_dlpack(Xt)
                spla_fn = lambda: A @ X  # noqa: E731
                name_fn = lambda name: (lambda: sparse24.spmm(A, X, name))  # noqa: E731
            else:
                vb = cupy.from_dlpack(torch.from_dlpack(values).to(tdt).view(torch.int16)).view(np.uint16)
                Xb = cupy.from_dlpack(Xt.view(torch.int16)).view(np.uint16)
                cache = {}
                spla_fn = lambda: sparse24.spmm_prepared(vb, meta, A.shape, Xb, "bf16", None, cache)  # noqa: E731
                name_fn = lambda name: (lambda: sparse24.spmm_prepared(  # noqa: E731
                    vb, meta, A.shape, Xb, "bf16", name, cache))
            dense = torch.mm(Wt, Xt)
            check = _rel_err(spla_fn(), cupy.from_dlpack(dense.float()))
            contenders = {"spla_sp24": spla_fn, "cublas_dense": lambda: torch.mm(Wt, Xt)}
            checks = {}
            if sweep:
                names = sparse24.CONFIGS if SPARSE24_SWEEP_ALL else SPARSE24_SWEEP
                for name in names:
                    if sparse24.available(name) and K % sparse24.CONFIGS[name][2] == 0:
                        contenders[f"spla_sp24[{name}]"] = name_fn(name)
                        checks[name] = _rel_err(name_fn(name)(), cupy.from_dlpack(dense.float()))
            try:
                # The direct cuSPARSELt call, without to_sparse_semi_structured's
                # per-call overhead: W compressed once, then the product.
                Wc = torch._cslt_compress(Wt)
                torch._cslt_sparse_mm(Wc, Xt)
                contenders["cusparselt"] = lambda: torch._cslt_sparse_mm(Wc, Xt)
                lt_error = None
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                lt_error = f"{type(exc).__name__}: {exc}"
            t = time_gpu(contenders, repeat=repeat, inner=5)
            flops = 2 * M * K * N
            tag = "bf16" if dtype == "bfloat16" else "f16"
            row = {"dtype": dtype, "M": M, "K": K, "N": N, "times": t, "check_rel_err": check,
                   "tiling": sparse24.choose(M, K, N, tag), "sweep_rel_err": checks,
                   "cusparselt_error": lt_error}
            for c, v in t.items():
                row[f"{c}_TFLOPs_dense_equiv"] = flops / v["median"] / 1e12
            row["speedup_vs_cublas"] = t["cublas_dense"]["median"] / t["spla_sp24"]["median"]
            if "cusparselt" in t:
                row["cusparselt_vs_cublas"] = t["cublas_dense"]["median"] / t["cusparselt"]["median"]
                row["speedup_vs_cusparselt"] = t["cusparselt"]["median"] / t["spla_sp24"]["median"]
            report.setdefault("sparse24", []).append(row)
            print(f"  2:4 {dtype} {M}x{K}x{N}: spla {row['spla_sp24_TFLOPs_dense_equiv']:.0f} TFLOP/s "
                  f"(dense-equivalent, {row['tiling']}), cuBLAS {row['cublas_dense_TFLOPs_dense_equiv']:.0f}, "
                  f"cuSPARSELt {row.get('cusparselt_TFLOPs_dense_equiv', float('nan')):.0f}; "
                  f"spla x{row['speedup_vs_cublas']:.2f} vs cuBLAS (err {check:.1e})"
                  + (f"; cuSPARSELt failed: {lt_error}" if lt_error else ""), flush=True)
            for c in t:
                if c.startswith("spla_sp24["):
                    print(f"      {c:40s} {row[c + '_TFLOPs_dense_equiv']:6.0f} TFLOP/s "
                          f"(err {checks[c[10:-1]]:.1e})", flush=True)
            if sampler is not None:
                # Each main contender alone for power_s seconds: median SM clock and
                # power draw (is float16 held back by the power limit?).
                power = {}
                for c in ("spla_sp24", "cublas_dense", "cusparselt"):
                    if c in contenders:
                        stats = sampler.measure(contenders[c], power_s, power_s / 3,
                                                _recorded_event)
                        if stats:
                            power[c] = stats
                if power:
                    row["power"] = power
                    print("      clock and power: " + "; ".join(f"{c} {describe(v)}" for c, v in power.items()),
                          flush=True)
            del Wt, Xt, dense, contenders
        del A, values, meta
        cupy.get_default_memory_pool().free_all_blocks()
        torch.cuda.empty_cache()


def run(args):
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    report = {
        "device": props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
        "date": time.strftime("%Y-%m-%d"),
        "n": args.n,
        "repeat": args.repeat,
    }
    print(f"GPU: {report['device']}", flush=True)
    report["copy_GBps"] = copy_bandwidth() / 1e9
    print(f"  copy bandwidth {report['copy_GBps']:.0f} GB/s (read + write)", flush=True)
    suites = args.gpu_suites
    if "spmv" in suites:
        spmv_suite(args.n, (np.float32, np.float64), args.repeat, args.classes, report)
    if "spmm" in suites:
        spmm_suite(args.n, (16, 128), args.repeat, ["uniform"], report)
    if "sparse24" in suites:
        sparse24_suite(_sparse24_sizes([(4096, 4096, 4096), (8192, 8192, 8192), (16384, 16384, 8192),
                                        (28672, 8192, 4096), (8192, 8192, 256)]), args.repeat, report,
                       sweep=os.environ.get("SPLA_BENCH_SPARSE24_SWEEP", "1") != "0")
    if "attention" in suites:
        from .gpu_attention import attention_suite

        attention_suite(args.repeat, report)
    if "indexing" in suites:
        from .gpu_indexing import run_suite

        run_suite(args.n if args.n <= 2_000_000 else 2_000_000, args.repeat, report)
    return report


def markdown(report):
    lines = [f"# GPU benchmark: {report['device']}, {report['date']}", "",
             f"Copy bandwidth (read + write): {report['copy_GBps']:.0f} GB/s. "
             f"n = {report['n']:,}. Medians of CUDA-event timings, alternating contenders.", ""]
    if report.get("spmv"):
        lines += ["## CSR SpMV (compulsory GB/s; speedup = cuSPARSE time / spla time)", "",
                  "| class | dtype | spla GB/s | cuSPARSE (CuPy) | cuSPARSE (torch) | vs CuPy | vs torch | spla % of copy |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in report["spmv"]:
            lines.append(
                f"| {r['class']} | {r['dtype']} | {r['spla_GBps']:.0f} | {r['cusparse_cupy_GBps']:.0f} "
                f"| {r['cusparse_torch_GBps']:.0f} | {r['speedup_vs_cusparse_cupy']:.2f}x "
                f"| {r['speedup_vs_cusparse_torch']:.2f}x | {100 * r['spla_GBps'] / report['copy_GBps']:.0f}% |")
        for dt in sorted({r["dtype"] for r in report["spmv"]}):
            sp = [r["speedup_vs_cusparse_cupy"] for r in report["spmv"] if r["dtype"] == dt]
            lines.append(f"\nGeometric mean speedup vs cuSPARSE (CuPy), {dt}: "
                         f"{float(np.exp(np.mean(np.log(sp)))):.2f}x")
        for r in report["spmv"]:
            if "spla_banded_GBps" in r:
                lines.append(
                    f"\nBanded SpMV ({r['dtype']}, 33 diagonals): {r['spla_banded_GBps']:.0f} GB/s "
                    f"of banded bytes, {r['banded_speedup_vs_cusparse_cupy']:.2f}x cuSPARSE CSR SpMV.")
    if report.get("spmm"):
        lines += ["", "## CSR SpMM, float32 (TFLOP/s)", "",
                  "| class | k | spla | cuSPARSE (torch) | cuSPARSE (CuPy) | vs torch |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for r in report["spmm"]:
            lines.append(f"| {r['class']} | {r['k']} | {r['spla_TFLOPs']:.3f} | "
                         f"{r['cusparse_torch_TFLOPs']:.3f} | {r['cusparse_cupy_TFLOPs']:.3f} | "
                         f"{r['speedup_vs_cusparse_torch']:.2f}x |")
    if report.get("sparse24"):
        lines += ["", "## 2:4 SpMM (dense-equivalent TFLOP/s = 2 M K N / time)", "",
                  "| dtype | M x K x N | spla (default tiling) | tiling | cuBLAS dense | cuSPARSELt | spla vs cuBLAS | spla vs cuSPARSELt | cuSPARSELt vs cuBLAS |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in report["sparse24"]:
            lt = r.get("cusparselt_TFLOPs_dense_equiv")
            lines.append(
                f"| {r.get('dtype', 'float16')} | {r['M']}x{r['K']}x{r['N']} | {r['spla_sp24_TFLOPs_dense_equiv']:.0f} | "
                f"{r.get('tiling', '')} | {r['cublas_dense_TFLOPs_dense_equiv']:.0f} | "
                + (f"{lt:.0f} | " if lt else "failed | ")
                + f"{r['speedup_vs_cublas']:.2f}x | {r.get('speedup_vs_cusparselt', float('nan')):.2f}x | "
                f"{r.get('cusparselt_vs_cublas', float('nan')):.2f}x |")
        sweep = [(k[len("spla_sp24["):-len("]_TFLOPs_dense_equiv")], r[k],
                  f"{r.get('dtype', 'float16')} {r['M']}x{r['K']}x{r['N']}")
                 for r in report["sparse24"] for k in r
                 if k.startswith("spla_sp24[") and k.endswith("_TFLOPs_dense_equiv")]
        if sweep:
            lines += ["", "Tilings of the sparse tensor-core kernels (mma.sp; wgmma_* on Hopper) (dense-equivalent TFLOP/s):", "",
                      "| size | tiling | TFLOP/s |", "| --- | --- | --- |"]
            lines += [f"| {size} | {name} | {v:.0f} |" for name, v, size in sweep]
        powered = [r for r in report["sparse24"] if r.get("power")]
        if powered:
            lines += ["", "SM clock and power draw, each contender alone (medians):", "",
                      "| dtype | M x K x N | contender | SM MHz | W | limit W | power-capped |",
                      "| --- | --- | --- | --- | --- | --- | --- |"]
            for r in powered:
                for c, v in r["power"].items():
                    capped = v.get("power_capped")
                    lines.append(f"| {r.get('dtype', 'float16')} | {r['M']}x{r['K']}x{r['N']} | {c} | "
                                 f"{v['sm_mhz']:.0f} | {v['power_w']:.0f} | {v.get('limit_w') or 0:.0f} | "
                                 + ("n/a" if capped is None else f"{100 * capped:.0f}%") + " |")
    if report.get("attention"):
        from .gpu_attention import markdown as attention_markdown

        lines += attention_markdown(report)
    if report.get("indexing"):
        from .gpu_indexing import markdown as indexing_markdown

        lines += indexing_markdown(report)
    return "\n".join(lines) + "\n"
