"""First-call latency of the GPU CSR products: a fresh process, an empty CuPy kernel cache.

``python -m benchmarks.gpu_first_call [--rows N] [--no-prebuilt]``

Each case runs in a child process whose ``CUPY_CACHE_DIR`` is a new empty
directory, so nothing compiled earlier helps. The child imports spla and CuPy,
moves a CSR matrix to the GPU and times (wall clock, synchronised) its first
``A @ x`` (plan and kernels), its second, its first ``A @ X`` (16 columns) and
the second. It then counts the files in the kernel cache: CuPy writes one for
every kernel it compiled with NVRTC, so 0 means that the first calls ran
prebuilt cubins only. Cases: float32 and float64 values, int32 and int64
indices, random columns (the task kernel, ``scattered``) and a band (the
vector kernel), each with one long row (segments and fix-up).
``--no-prebuilt`` sets ``SPLA_CUDA_PREBUILT=0`` (NVRTC for every kernel: the
figure before prebuilt cubins).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
import numpy as np, cupy, spla
cupy.cuda.Device().synchronize()
t_import = time.perf_counter() - t0
m, dtype, index, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
rng = np.random.default_rng(0)
counts = np.full(m, 10, dtype=np.int64)
counts[m // 2] = 20000  # one long row: segments and fix-up
indptr = np.concatenate([[0], np.cumsum(counts)]).astype(index)
nnz = int(indptr[-1])
if kind == "random":
    cols = rng.integers(0, m, nnz)
else:  # a band around the diagonal
    rows = np.repeat(np.arange(m), counts)
    cols = np.clip(rows + rng.integers(-5, 6, nnz), 0, m - 1)
A = spla.csr_array((rng.standard_normal(nnz).astype(dtype), cols.astype(index), indptr),
                   shape=(m, m))
x = cupy.asarray(rng.standard_normal(m).astype(dtype))
X = cupy.asarray(rng.standard_normal((m, 16)).astype(dtype))
t = time.perf_counter(); G = A.to_device("cuda"); cupy.cuda.Device().synchronize()
t_move = time.perf_counter() - t
out = {"import_s": t_import, "to_device_s": t_move}
for name, operand in (("spmv", x), ("spmm", X)):
    for which in ("first", "second"):
        t = time.perf_counter(); y = G @ operand; cupy.cuda.Device().synchronize()
        out[f"{name}_{which}_s"] = time.perf_counter() - t
ref = A @ cupy.asnumpy(x)
out["spmv_rel_err"] = float(np.abs(cupy.asnumpy(G @ x) - ref).max() / max(np.abs(ref).max(), 1e-30))
out["device"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
print(json.dumps(out))
"""


def run_case(m, dtype, index, kind, prebuilt):
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, CUPY_CACHE_DIR=cache)
        if not prebuilt:
            env["SPLA_CUDA_PREBUILT"] = "0"
        done = subprocess.run([sys.executable, "-c", CHILD, str(m), dtype, index, kind],
                              env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(done.stderr[-4000:])
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["nvrtc_cache_files"] = sum(len(files) for _, _, files in os.walk(cache))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--no-prebuilt", action="store_true")
    args = parser.parse_args(argv)
    print(f"rows = {args.rows:,}, prebuilt cubins {'off' if args.no_prebuilt else 'on'}")
    print("| values | indices | columns | spmv 1st (s) | spmv 2nd (s) | spmm 1st (s) "
          "| spmm 2nd (s) | NVRTC cache files | device |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for dtype in ("float32", "float64"):
        for index in ("int32", "int64"):
            for kind in ("random", "band"):
                r = run_case(args.rows, dtype, index, kind, not args.no_prebuilt)
                assert r["spmv_rel_err"] < 1e-3, r
                print(f"| {dtype} | {index} | {kind} | {r['spmv_first_s']:.4f} | "
                      f"{r['spmv_second_s']:.5f} | {r['spmm_first_s']:.4f} | "
                      f"{r['spmm_second_s']:.5f} | {r['nvrtc_cache_files']} | {r['device']} |",
                      flush=True)


if __name__ == "__main__":
    main()
