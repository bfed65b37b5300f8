"""Where the spread of the small-N 2:4 product comes from (issue 22).

``python -m benchmarks.sparse24_spread [--shape M K N] [--rounds R]``

Session 11 measured the same 2:4 kernel on 8192 x 8192 x 256 at 592/704, then
741/766, then 450/617 TFLOP/s (float16/bfloat16) on one H200, against cuBLAS's
532-586. One product there takes about 50 us, so three things can move a figure
that the kernel does not: the host (a Python call that takes longer than the
kernel leaves the GPU idle between launches), the clocks (a GPU that idled
between measurements starts below its boost clock), and the order of the
contenders. This script separates them, for spla's default tiling and cuBLAS
(``torch.mm``), and cuSPARSELt when PyTorch has it:

* for float16 also the user's ``A @ X`` (spla's dispatch on the host);
* host microseconds per call: ``calls`` launches without synchronising, timed
  on the host clock (if this is above the GPU time, back-to-back launches
  cannot keep the GPU busy);
* GPU time per call for 1, 5 and 50 back-to-back launches between two CUDA
  events (one launch shows launch gaps and clock ramp-up; 50 show the kernel);
* a CUDA graph of 50 launches of each contender (no host work at all);
* ``rounds`` alternating rounds of the 50-launch measurement, each round's
  TFLOP/s printed, so that a bimodal or drifting distribution shows;
* the SM clock and power that ``nvidia-smi`` reports before and after.

Every product is checked against the dense float32 product first.
"""

import argparse
import json
import statistics
import subprocess
import time

import numpy as np


def _smi():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=clocks.sm,clocks.max.sm,power.draw,"
                              "temperature.gpu", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        out = f"nvidia-smi failed: {exc}"
    return out


def _event_time(fn, inner):
    import cupy

    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    for _ in range(inner):
        fn()
    end.record()
    end.synchronize()
    return cupy.cuda.get_elapsed_time(start, end) / inner / 1e3


def _host_time(fn, calls):
    import cupy

    cupy.cuda.Device().synchronize()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    t1 = time.perf_counter()
    cupy.cuda.Device().synchronize()
    return (t1 - t0) / calls


def _graph_time_cupy(fn, launches, repeat):
    """Seconds per launch of a CuPy-launched ``fn`` replayed from a CUDA graph
    captured on a side stream."""
    import cupy

    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        fn()  # the memory pool holds the output block before the capture
        stream.synchronize()
        stream.begin_capture()
        for _ in range(launches):
            fn()
        graph = stream.end_capture()
        graph.launch(stream)
        stream.synchronize()
        times = []
        for _ in range(repeat):
            start, end = cupy.cuda.Event(), cupy.cuda.Event()
            start.record(stream)
            graph.launch(stream)
            end.record(stream)
            end.synchronize()
            times.append(cupy.cuda.get_elapsed_time(start, end) / launches / 1e3)
    return statistics.median(times)


def _graph_time_torch(fn, launches, repeat):
    """The same for a PyTorch-launched ``fn``, captured with ``torch.cuda.graph``."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(launches):
            fn()
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / launches / 1e3)
    return statistics.median(times)


def main():
    import cupy
    import torch

    import spla
    from spla_cuda import sparse24

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=3, default=[8192, 8192, 256])
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--json", help="write the measurements here")
    p.add_argument("--tilings", nargs="*", default=[],
                   help="tilings timed beside the default (spla[NAME])")
    args = p.parse_args()
    M, K, N = args.shape
    flops = 2 * M * K * N
    device = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    device = device.decode() if isinstance(device, bytes) else str(device)
    print(f"device: {device}; shape {M} x {K} x {N}; smi before: {_smi()}", flush=True)
    rng = np.random.default_rng(3)
    W = spla.prune_nm(rng.standard_normal((M, K), dtype=np.float32).astype(np.float16))
    A = spla.nm_array(W).to_device("cuda")
    values, meta = sparse24.prepare(A)
    report = {"device": device, "shape": [M, K, N], "dtypes": {}}
    for dtype in ("float16", "bfloat16"):
        tdt = getattr(torch, dtype)
        tag = "f16" if dtype == "float16" else "bf16"
        Wt = torch.from_dlpack(cupy.asarray(W)).to(tdt)
        Xt = torch.randn((K, N), device="cuda", dtype=torch.float32).to(tdt)
        vals = values if dtype == "float16" else cupy.from_dlpack(
            torch.from_dlpack(values).to(tdt).view(torch.int16)).view(np.uint16)
        X = cupy.from_dlpack(Xt.view(torch.int16)).view(np.uint16)
        cache = {}
        name = sparse24.choose(M, K, N, tag)
        contenders = {
            "spla": lambda: sparse24.spmm_prepared(vals, meta, (M, K), X, tag, None, cache),
            "cublas": lambda: torch.mm(Wt, Xt),
        }
        for extra in args.tilings:
            contenders[f"spla[{extra}]"] = (
                lambda extra=extra: sparse24.spmm_prepared(vals, meta, (M, K), X, tag, extra, cache))
        if dtype == "float16":  # the user's call, with spla's dispatch on the host
            Xh = cupy.from_dlpack(Xt)
            contenders["spla A@X"] = lambda: A @ Xh
        try:
            Wc = torch._cslt_compress(Wt)
            torch._cslt_sparse_mm(Wc, Xt)
            contenders["cusparselt"] = lambda: torch._cslt_sparse_mm(Wc, Xt)
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            print(f"  cuSPARSELt unavailable: {type(exc).__name__}: {exc}")
        ref = torch.mm(Wt.float(), Xt.float())
        got = torch.from_dlpack(contenders["spla"]())
        err = float((got - ref).norm() / ref.norm())
        print(f"{dtype}: tiling {name}, relative error against the float32 product {err:.1e}",
              flush=True)
        if not err < 1e-2:
            raise SystemExit(f"wrong product ({err})")
        row = {"tiling": name, "rel_err": err}
        for who, fn in contenders.items():
            for _ in range(20):
                fn()
        cupy.cuda.Device().synchronize()
        row["host_us_per_call"] = {w: 1e6 * _host_time(f, args.calls) for w, f in contenders.items()}
        row["gpu_us_inner"] = {w: {i: 1e6 * statistics.median(_event_time(f, i) for _ in range(15))
                                   for i in (1, 5, 50)}
                               for w, f in contenders.items()}
        row["graph_us"], row["graph_error"] = {}, {}
        for w, f in contenders.items():
            try:
                timer = _graph_time_cupy if w.startswith("spla") else _graph_time_torch
                row["graph_us"][w] = 1e6 * timer(f, 50, 15)
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                row["graph_error"][w] = f"{type(exc).__name__}: {exc}"[:300]
        rounds = {w: [] for w in contenders}
        order = list(contenders)
        for r in range(args.rounds):
            order = order[1:] + order[:1]
            for w in order:
                rounds[w].append(_event_time(contenders[w], 50))
        row["rounds_tflops"] = {w: [flops / t / 1e12 for t in ts] for w, ts in rounds.items()}
        row["smi_after"] = _smi()
        report["dtypes"][dtype] = row
        print("  host us/call: " + ", ".join(f"{w} {v:.1f}" for w, v in row["host_us_per_call"].items()))
        for w, d in row["gpu_us_inner"].items():
            print(f"  {w:10s} GPU us/call, 1/5/50 back to back: "
                  + " / ".join(f"{d[i]:.1f}" for i in (1, 5, 50))
                  + (f"; graph {row['graph_us'][w]:.1f}" if w in row["graph_us"] else
                     f"; graph failed: {row['graph_error'][w]}"))
        for w, tf in row["rounds_tflops"].items():
            q = np.percentile(tf, [0, 25, 50, 75, 100])
            print(f"  {w:10s} TFLOP/s over {args.rounds} rounds: min {q[0]:.0f} q1 {q[1]:.0f} "
                  f"median {q[2]:.0f} q3 {q[3]:.0f} max {q[4]:.0f}")
            print("    " + " ".join(f"{t:.0f}" for t in tf))
        sp, cb = statistics.median(rounds["spla"]), statistics.median(rounds["cublas"])
        print(f"  spla / cuBLAS (median of rounds): {cb / sp:.2f}x; smi after: {row['smi_after']}",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
