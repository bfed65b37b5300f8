"""Exactness check of every 2:4 tensor-core tiling on quarter-integers, float16 and bfloat16
(run on a GPU: `python benchmarks/sparse24_exact.py [TILING ...]`, with the repository on PYTHONPATH)."""
import sys, time
import numpy as np, cupy
import spla
from spla_cuda import sparse24

def bits(a):
    import ml_dtypes
    return np.ascontiguousarray(np.asarray(a, np.float32).astype(ml_dtypes.bfloat16).view(np.uint16))

names = sys.argv[1:] or list(sparse24.TMA) + ["wgmma_256x128x64_s4_keep1"]
for (M, K, N) in [(256, 128, 128), (300, 96, 136), (1000, 1056, 520), (4096, 4096, 4096), (2048, 8192, 256)]:
    rng = np.random.default_rng(M + K + N)
    A = spla.nm_array((rng.integers(-8, 9, (M, K)) / 4).astype(np.float16), prune=True)
    X = (rng.integers(-8, 9, (K, N)) / 4).astype(np.float16)
    ref = A.toarray().astype(np.float64) @ X.astype(np.float64)
    G = A.to_device("cuda")
    values, meta = sparse24.prepare(G)
    for name in names:
        if K % sparse24.CONFIGS[name][2]:
            continue
        for tag in ("f16", "bf16"):
            t = time.perf_counter()
            try:
                if tag == "f16":
                    Y = sparse24.spmm(G, cupy.asarray(X), name)
                else:
                    Y = sparse24.spmm_prepared(cupy.asarray(bits(cupy.asnumpy(values))), meta, G.shape,
                                               cupy.asarray(bits(X)), "bf16", name)
                Y = cupy.asnumpy(Y)
                bad = np.count_nonzero(Y != ref)
                print(f"{M}x{K}x{N} {name} {tag}: wrong {bad} of {Y.size}, max err {np.abs(Y - ref).max():.3g} "
                      f"({time.perf_counter() - t:.2f} s)", flush=True)
            except Exception as e:
                print(f"{M}x{K}x{N} {name} {tag}: {type(e).__name__}: {e}", flush=True)
                raise

# bfloat16 end to end: ml_dtypes on the host, CuPy on the device
import ml_dtypes
rng = np.random.default_rng(1)
W = (rng.integers(-8, 9, (300, 256)) / 4).astype(ml_dtypes.bfloat16)
X = (rng.integers(-8, 9, (256, 72)) / 4).astype(ml_dtypes.bfloat16)
A = spla.nm_array(W, prune=True)
G = A.to_device("cuda")
Xg = cupy.asarray(X)
print("bf16 e2e:", G.dtype, Xg.dtype, sparse24.supports(G, Xg), flush=True)
Y = G @ Xg
ref = A.toarray().astype(np.float64) @ X.astype(np.float64)
print("bf16 e2e wrong:", np.count_nonzero(cupy.asnumpy(Y) != ref), Y.dtype, flush=True)
y = G @ cupy.asarray(X[:, 0])
print("bf16 spmv wrong:", np.count_nonzero(cupy.asnumpy(y) != ref[:, 0]), y.dtype, flush=True)
print("bf16 toarray ok:", bool((cupy.asnumpy(G.toarray()).astype(np.float32) == A.toarray().astype(np.float32)).all()), flush=True)
print("bf16 tocsr:", G.tocsr(), flush=True)
