"""Block-sparse attention on the GPU (spla_cuda/kernels/attention_tc.cu) against dense
masked attention in float64: forward (tensor cores for float16/bfloat16, exact
float32 on the CUDA cores), log-sum-exp, backward, the PyTorch autograd wrapper,
and the checks made before a launch.

Skipped, with the reason, where CuPy or a CUDA GPU is missing. PyTorch is used for
bfloat16 operands and for the float64 autograd reference of the backward (those
tests skip without it).
"""

import itertools
import zlib

import numpy as np
import pytest

cupy = pytest.importorskip("cupy", reason="the GPU tests need CuPy: pip install 'spla[cuda]'")
try:
    _GPUS = cupy.cuda.runtime.getDeviceCount()
except cupy.cuda.runtime.CUDARuntimeError:
    _GPUS = 0
if not _GPUS:
    pytest.skip("the GPU tests need an NVIDIA GPU; CuPy sees none", allow_module_level=True)

import scipy.sparse as sp  # noqa: E402

import spla  # noqa: E402

from spla import attention as at  # noqa: E402
import spla_cuda.attention as gpu_attention  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:
    torch = None

pytestmark = pytest.mark.gpu
needs_torch = pytest.mark.skipif(torch is None, reason="needs PyTorch")

# max |error| / max(1, max |reference|): float32 products and softmax with 16-bit
# operands (inputs rounded first, so only the kernel's roundings count: P and the
# output rounded to the dtype).
# "tf32": float32 operands with precision="tf32" (inputs rounded to TF32 first, so the
# products are exact and only P's rounding to TF32 and float32 sums count).
TOL = {"float16": 4e-3, "bfloat16": 3e-2, "float32": 5e-5, "tf32": 2e-3}


def rounded(x, dtype):
    """Host float64 values rounded to ``dtype`` (what the GPU sees); "tf32": float32
    rounded to TF32's 10-bit mantissa, to nearest with ties away from zero (cvt.rna)."""
    if dtype == "tf32":
        bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
        return ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32).astype(np.float64)
    if dtype == "bfloat16":
        return torch.from_numpy(x).to(torch.bfloat16).to(torch.float64).numpy()
    return x.astype(dtype).astype(np.float64)


def to_gpu(x, dtype, as_torch):
    if dtype == "bfloat16" or as_torch:
        t = torch.from_numpy(np.ascontiguousarray(x)).cuda()
        return t.to({"float16": torch.float16, "bfloat16": torch.bfloat16,
                     "float32": torch.float32}[dtype])
    return cupy.asarray(x.astype(dtype))


def to_host(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64).cpu().numpy()
    return cupy.asnumpy(x).astype(np.float64)


def dense_mask(P):
    """The element pattern's mask, from its own structure (not through block_pattern)."""
    if isinstance(P, spla.banded_array):
        n = P.shape[0]
        i, j = np.indices(P.shape)
        return np.isin(j - i, P.offsets) & (j < n)
    indptr, indices = np.asarray(P.indptr), np.asarray(P.indices)   # spla or SciPy CSR
    M = np.zeros(P.shape, dtype=bool)
    rows = np.repeat(np.arange(P.shape[0]), np.diff(indptr))
    M[rows, indices] = True
    return M


def reference(Q, K, V, M, scale):
    S = np.where(M, (Q @ np.swapaxes(K, -1, -2)) * scale, -np.inf)
    mx = S.max(axis=-1, keepdims=True, initial=-np.inf)
    safe = np.where(np.isfinite(mx), mx, 0)
    E = np.where(M, np.exp(S - safe), 0)
    tot = E.sum(axis=-1, keepdims=True)
    out = np.where(tot > 0, (E @ V) / np.where(tot > 0, tot, 1), 0)
    with np.errstate(divide="ignore"):
        lse = np.log(tot[..., 0]) + safe[..., 0]
    return out, lse


def make_pattern(kind, n, causal):
    if kind == "local":
        return at.local_pattern(n, 256 if n > 500 else 6, causal)
    if kind == "wide":
        return at.local_pattern(n, 1024 if n > 500 else 70, causal)
    if kind == "strided":
        return at.strided_pattern(n, 128 if n > 500 else 3, causal)
    if kind == "global_local":
        G = np.unique(np.r_[0, np.arange(0, n, max(1, n // 5))])
        return at.global_local_pattern(n, 64 if n > 500 else 4, G, causal)
    # random CSR with empty rows (every third row empty)
    rng = np.random.default_rng(n)
    nnz = min(n * n, 20 * n)
    r, c = rng.integers(0, n, nnz), rng.integers(0, n, nnz)
    keep = (r % 3 != 0) & ((c <= r) if causal else True)
    return sp.csr_array((np.ones(int(keep.sum())), (r[keep], c[keep])), shape=(n, n))


def check_forward(kind, n, causal, d, dtype, as_torch=False, big=False, heads=(2, 3), dv=None,
                  precision=None, scale=None, rise=None):
    """The forward against the float64 reference. ``rise``: the scores of query i
    and key j are rise * j (plus noise of unit size) in log2 units, so that a
    row's maximum climbs by rise per key (tile after tile, by 64 rise)."""
    rng = np.random.default_rng(zlib.crc32(repr((kind, n, causal, d, dtype)).encode()))
    dv = d if dv is None else dv
    vals = "tf32" if precision == "tf32" and dtype == "float32" else dtype
    Q = rounded(rng.standard_normal(heads + (n, d)) * (40.0 if big else 1.0), vals)
    K = rounded(rng.standard_normal(heads + (n, d)), vals)
    V = rounded(rng.standard_normal(heads + (n, dv)), vals)
    used = 1 / np.sqrt(d) if scale is None else scale
    if rise is not None:
        Q[..., 0] = 1.0
        K[..., 0] = rounded(rise * np.arange(n) / (used * np.log2(np.e)), vals)
    P = make_pattern(kind, n, causal)
    bp = at.block_pattern(P)
    M = dense_mask(P)
    ref, ref_lse = reference(Q, K, V, M, used)
    out, lse = at.sparse_attention_forward(to_gpu(Q, dtype, as_torch), to_gpu(K, dtype, as_torch),
                                           to_gpu(V, dtype, as_torch), bp, scale=scale,
                                           precision=precision)
    if as_torch or dtype == "bfloat16":
        assert isinstance(out, torch.Tensor) and isinstance(lse, torch.Tensor)
    got, got_lse = to_host(out), to_host(lse)
    assert got.shape == ref.shape and got_lse.shape == ref_lse.shape
    assert np.all(np.isfinite(got))
    err = np.abs(got - ref).max(initial=0) / max(1.0, np.abs(ref).max(initial=0))
    assert err <= TOL[vals], (kind, n, causal, d, dtype, precision, err)
    empty = ~M.any(axis=1)
    assert np.all(got[..., empty, :] == 0)
    assert np.all(np.isneginf(got_lse[..., empty]))
    fin = ~empty
    lerr = np.abs(got_lse[..., fin] - ref_lse[..., fin]).max(initial=0)
    assert lerr <= 1e-3 * max(1.0, np.abs(ref_lse[..., fin]).max(initial=0)), lerr
    return err


KINDS = ["local", "wide", "strided", "global_local", "random"]

#: The dtypes and forward kernels the forward tests run: float32's one forward, and
#: the 16-bit dtypes through attn_fwd_tc (mma.sync; the default off Hopper),
#: attn_fwd_wg (attention_wg.cu, Hopper's wgmma; the default there), attn_fwd_wg2
#: (two query blocks per thread block) and attn_fwd_wg_pp (wg2's pairs, a producer
#: warpgroup and two ping-ponging consumers), chosen by SPLA_ATTENTION_FORWARD.
DTYPE_FWD = [("float16", "tc"), ("bfloat16", "tc"), ("float32", "default"),
             ("float16", "wg"), ("bfloat16", "wg"), ("float16", "wg2"), ("bfloat16", "wg2"),
             ("float16", "wg_pp"), ("bfloat16", "wg_pp")]
WG = ("wg", "wg2", "wg_pp")
_HOPPER = cupy.cuda.Device().compute_capability == "90"


def use_forward(fwd, dtype, monkeypatch):
    """Skip what this machine cannot run, and pick the 16-bit forward kernel ``fwd``."""
    if dtype == "bfloat16" and torch is None:
        pytest.skip("bfloat16 operands come from PyTorch here")
    if fwd in WG and not _HOPPER:
        pytest.skip("the wgmma forward needs a Hopper GPU (compute capability 9.0)")
    if fwd != "default":  # "default": float32, which has one forward
        monkeypatch.setenv("SPLA_ATTENTION_FORWARD", fwd)


@pytest.mark.parametrize("dtype,fwd", DTYPE_FWD)
@pytest.mark.parametrize("kind,causal", list(itertools.product(KINDS, [False, True])))
@pytest.mark.parametrize("n", [1, 7, 129, 1000])
def test_forward_every_pattern(kind, causal, n, dtype, fwd, monkeypatch):
    use_forward(fwd, dtype, monkeypatch)
    check_forward(kind, n, causal, 64, dtype)
    if fwd in WG and n == 1000:
        check_forward(kind, n, causal, 128, dtype)


@pytest.mark.parametrize("d", [64, 128, 1, 40, 100])
@pytest.mark.parametrize("dtype,fwd", DTYPE_FWD)
def test_forward_head_dims(d, dtype, fwd, monkeypatch):
    use_forward(fwd, dtype, monkeypatch)
    check_forward("global_local", 300, True, d, dtype)
    check_forward("local", 129, False, d, dtype)


@pytest.mark.parametrize("dtype,fwd", DTYPE_FWD)
@pytest.mark.parametrize("rise", [0.01, 0.1, 0.2])
def test_forward_rising_maxima(rise, dtype, fwd, monkeypatch):
    """Rows whose maxima climb tile after tile, by 0.64, 6.4 and 12.8 (log2 units) per
    tile of 64 keys, so that O and the row sums are rescaled on every tile. Steeper
    rises reach scores whose float32 rounding alone exceeds the float32 tolerance
    (rise 2: scores to 1,400, error 3e-4)."""
    use_forward(fwd, dtype, monkeypatch)
    check_forward("wide", 1000, False, 64, dtype, rise=rise)
    check_forward("global_local", 700, True, 128, dtype, rise=rise)


@pytest.mark.parametrize("dtype,fwd", DTYPE_FWD)
@pytest.mark.parametrize("scale", [0.3, -0.125, 0.0])
def test_forward_scale_of_any_sign(scale, dtype, fwd, monkeypatch):
    """A given scale, also negative or zero."""
    use_forward(fwd, dtype, monkeypatch)
    check_forward("wide", 1000, True, 64, dtype, scale=scale)
    check_forward("random", 129, False, 128, dtype, scale=scale)


@pytest.mark.parametrize("fwd", ["tc", "wg", "wg2", "wg_pp"])
def test_forward_value_dim_differs(fwd, monkeypatch):
    use_forward(fwd, "float16", monkeypatch)
    check_forward("local", 200, False, 64, "float16", dv=32)
    check_forward("strided", 200, True, 48, "float16", dv=128)


@pytest.mark.parametrize("dtype,fwd", DTYPE_FWD)
def test_forward_large_logits(dtype, fwd, monkeypatch):
    use_forward(fwd, dtype, monkeypatch)
    check_forward("global_local", 257, False, 64, dtype, big=True)
    check_forward("wide", 1000, True, 128, dtype, big=True)


@needs_torch
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_forward_torch_tensors(dtype):
    check_forward("local", 129, True, 64, dtype, as_torch=True)


@pytest.mark.parametrize("variant", ["scalar", "tc2", "wg", "wg_sync", "wg2", "wg_pp"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_forward_variants(variant, dtype, monkeypatch):
    """The other 16-bit forwards: the CUDA-core one (SPLA_ATTENTION_FORWARD=scalar, a
    second implementation), attn_fwd_tc2 (2 warps of 32 rows, d = 64) and attn_fwd_wg
    (Hopper's wgmma; wg_sync: its schedule without overlap; wg2 and wg_pp: two query
    blocks per thread block)."""
    if dtype == "bfloat16" and torch is None:
        pytest.skip("bfloat16 operands come from PyTorch here")
    if variant.startswith("wg") and not _HOPPER:
        pytest.skip("the wgmma forward needs a Hopper GPU (compute capability 9.0)")
    monkeypatch.setenv("SPLA_ATTENTION_FORWARD", variant)
    check_forward("global_local", 300, True, 64, dtype)
    check_forward("strided", 129, False, 128, dtype)
    check_forward("random", 1000, True, 64, dtype)
    check_forward("wide", 1000, False, 64, dtype, big=True)
    check_forward("local", 7, False, 40, dtype)
    check_forward("local", 1000, True, 64, dtype, as_torch=True)


@pytest.mark.parametrize("variant", ["tiled", "simple"])
def test_float32_kernels(variant, monkeypatch):
    """float32's two CUDA-core forwards: register-tiled (attention_f32.cu, the default)
    and the simple one (attention_tc.cu's attn_fwd_f32, SPLA_ATTENTION_F32=simple)."""
    monkeypatch.setenv("SPLA_ATTENTION_F32", variant)
    check_forward("global_local", 300, True, 64, "float32")
    check_forward("wide", 1000, False, 128, "float32")
    check_forward("random", 129, False, 40, "float32")


# -- precision="tf32": float32 operands on the tensor cores (attention_tf32.cu) -----------------


@pytest.mark.parametrize("kind,causal", list(itertools.product(KINDS, [False, True])))
@pytest.mark.parametrize("n", [1, 7, 129, 1000])
def test_tf32_every_pattern(kind, causal, n):
    check_forward(kind, n, causal, 64, "float32", precision="tf32")


@pytest.mark.parametrize("d", [64, 128, 1, 40, 100])
def test_tf32_head_dims(d):
    check_forward("global_local", 300, True, d, "float32", precision="tf32")
    check_forward("local", 129, False, d, "float32", precision="tf32")
    check_forward("random", 1000, False, d, "float32", precision="tf32", heads=(2,))


def test_tf32_value_dim_differs_and_large_logits():
    check_forward("local", 200, False, 64, "float32", dv=32, precision="tf32")
    check_forward("strided", 200, True, 48, "float32", dv=128, precision="tf32")
    check_forward("global_local", 257, False, 64, "float32", big=True, precision="tf32")
    check_forward("wide", 1000, True, 128, "float32", big=True, precision="tf32")


def test_tf32_many_blocks():
    check_forward("global_local", 4096, False, 128, "float32", heads=(1, 4), precision="tf32")


@pytest.mark.parametrize("d", [64, 128])
def test_tf32_rounds_and_exact_does_not(d):
    """On float32 values that TF32 cannot hold, precision="tf32" differs from the exact
    path by TF32's rounding (more than float32's, at most a few 1e-3) and the default
    stays exact: evidence that the flag picks the tensor-core kernel and only then."""
    rng = np.random.default_rng(d)
    n = 1000
    Q, K, V = (rng.standard_normal((2, n, d)).astype(np.float32) for _ in range(3))
    P = make_pattern("wide", n, True)
    ref, _ = reference(*(x.astype(np.float64) for x in (Q, K, V)), dense_mask(P), 1 / np.sqrt(d))
    bp = at.block_pattern(P)
    g = [cupy.asarray(x) for x in (Q, K, V)]
    errs = {}
    for precision in (None, "exact", "tf32"):
        out = at.sparse_attention(*g, bp, precision=precision)
        assert isinstance(out, cupy.ndarray) and out.dtype == np.float32
        errs[precision] = np.abs(cupy.asnumpy(out).astype(np.float64) - ref).max() / np.abs(ref).max()
    assert errs[None] <= TOL["float32"] and errs["exact"] <= TOL["float32"], errs
    assert 1e-5 < errs["tf32"] <= 1e-2, errs


def test_tf32_16bit_operands_unaffected():
    """precision="tf32" is a permission for float32; 16-bit operands run as before."""
    rng = np.random.default_rng(1)
    n = 300
    x = [cupy.asarray(rng.standard_normal((2, n, 64)).astype(np.float16)) for _ in range(3)]
    bp = at.block_pattern(at.local_pattern(n, 32))
    a, la = at.sparse_attention_forward(*x, bp)
    b, lb = at.sparse_attention_forward(*x, bp, precision="tf32")
    assert cupy.array_equal(a, b) and cupy.array_equal(la, lb)


@needs_torch
def test_tf32_torch_and_autograd():
    """torch float32 tensors: the TF32 forward, and the exact float32 backward."""
    check_forward("local", 129, True, 64, "float32", as_torch=True, precision="tf32")
    rng = np.random.default_rng(6)
    n, d = 200, 64
    P = at.global_local_pattern(n, 16, [0, 99], causal=True)
    bp = at.block_pattern(P)
    Q, K, V = (rounded(rng.standard_normal((1, 2, n, d)), "tf32") for _ in range(3))
    q, k, v = (to_gpu(x, "float32", True).requires_grad_() for x in (Q, K, V))
    out = at.sparse_attention_torch(q, k, v, bp, precision="tf32")
    assert out.requires_grad and out.dtype == torch.float32
    M = dense_mask(P)
    ref_out, _ = reference(Q, K, V, M, 1 / np.sqrt(d))
    assert np.abs(to_host(out) - ref_out).max() <= TOL["tf32"] * max(1.0, np.abs(ref_out).max())
    dO = rng.standard_normal(out.shape)
    out.backward(torch.from_numpy(dO).cuda().to(torch.float32))
    ref = torch_reference_grads(Q, K, V, dO, M, 1 / np.sqrt(d))
    for x, r in zip((q, k, v), ref):
        err = np.abs(to_host(x.grad) - r).max() / max(1.0, np.abs(r).max())
        assert err <= 5e-3, err   # out (TF32) feeds delta; the rest is float32


def test_tf32_bad_precision():
    n = 64
    bp = at.block_pattern(at.local_pattern(n, 8))
    h = cupy.zeros((2, n, 64), dtype=np.float32)
    for bad in ("TF32", "fp32", "bf16", 32, True, ""):
        with pytest.raises(ValueError, match="precision"):
            at.sparse_attention(h, h, h, bp, precision=bad)
        with pytest.raises(ValueError, match="precision"):
            at.sparse_attention_forward(h, h, h, bp, precision=bad)
        with pytest.raises(ValueError, match="precision"):
            gpu_attention.forward(h, h, h, bp, precision=bad)
    if torch is not None:
        t = torch.zeros((2, n, 64), dtype=torch.float32, device="cuda")
        with pytest.raises(ValueError, match="precision"):
            at.sparse_attention_torch(t, t, t, bp, precision="fp16")


@pytest.mark.parametrize("fwd", ["tc", "wg", "wg2", "wg_pp"])
def test_forward_large_problem(fwd, monkeypatch):
    """Many query blocks and heads, a pattern with one long row of tiles (global queries)."""
    use_forward(fwd, "float16", monkeypatch)
    check_forward("global_local", 4096, False, 64, "float16", heads=(1, 4))
    if fwd in WG:
        check_forward("global_local", 4096, True, 128, "float16", heads=(1, 2))


@pytest.mark.parametrize("variant", ["wg", "wg_sync", "wg2", "wg_pp"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("d", [64, 128])
def test_wg_forward_matches_mma_sync(d, dtype, variant):
    """attn_fwd_wg against attn_fwd_tc on one input: both accumulate in float32 and
    round P to the dtype, so they differ by accumulation order only."""
    if not _HOPPER:
        pytest.skip("the wgmma forward needs a Hopper GPU (compute capability 9.0)")
    if dtype == "bfloat16" and torch is None:
        pytest.skip("bfloat16 operands come from PyTorch here")
    rng = np.random.default_rng(d)
    n = 1000
    Q, K, V = (to_gpu(rounded(rng.standard_normal((2, n, d)), dtype), dtype, dtype == "bfloat16")
               for _ in range(3))
    bp = at.block_pattern(make_pattern("global_local", n, True))
    o1, l1 = gpu_attention.forward(Q, K, V, bp, variant="tc")
    o2, l2 = gpu_attention.forward(Q, K, V, bp, variant=variant)
    o1, l1, o2, l2 = (to_host(x) for x in (o1, l1, o2, l2))
    # relative to the largest output, as the reference checks (a few-key row can be
    # as large as a value of V, where one output rounding is a few thousandths)
    assert np.abs(o1 - o2).max() <= TOL[dtype] * max(1.0, np.abs(o1).max())
    fin = np.isfinite(l1)
    assert np.array_equal(fin, np.isfinite(l2))
    assert np.abs(l1[fin] - l2[fin]).max() <= 1e-4 * max(1.0, np.abs(l1[fin]).max())


def test_wg_tile_starts():
    """attn_fwd_wg's tile_start: a tile's first key where its 64 keys are consecutive
    (loaded by TMA), else -1 (gathered)."""
    bp = at.block_pattern(at.local_pattern(1000, 256))
    got = cupy.asnumpy(gpu_attention._tile_starts(bp))
    for t, row in enumerate(bp.tile_keys.reshape(-1, 64)):
        whole = row[0] >= 0 and np.array_equal(row, row[0] + np.arange(64))
        assert got[t] == (row[0] if whole else -1)
    assert (got >= 0).sum() > len(got) // 2 and (got < 0).any()   # both kinds occur


@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("kind", ["local", "wide", "global_local"])
@pytest.mark.parametrize("variant", ["wg", "wg_sync", "wg_pp"])
def test_wg_forward_tma_is_the_gather(variant, kind, d, monkeypatch):
    """The tiles attn_fwd_wg and attn_fwd_wg_pp load by TMA (consecutive keys) land as
    the cp.async gather lands them: the same bits with every tile gathered
    (tile_start all -1)."""
    if not _HOPPER:
        pytest.skip("the wgmma forward needs a Hopper GPU (compute capability 9.0)")
    n = 1000
    rng = np.random.default_rng(d)
    Q, K, V = (cupy.asarray(rng.standard_normal((2, 3, n, d)).astype(np.float16)) for _ in range(3))
    bp = at.block_pattern(make_pattern(kind, n, False))
    assert np.any(cupy.asnumpy(gpu_attention._tile_starts(bp)) >= 0)
    o1, l1 = gpu_attention.forward(Q, K, V, bp, variant=variant)
    gathered = cupy.full(bp.tile_keys.shape[0], -1, np.int32)
    monkeypatch.setattr(gpu_attention, "_tile_starts", lambda bp: gathered)
    o2, l2 = gpu_attention.forward(Q, K, V, bp, variant=variant)
    assert cupy.array_equal(o1, o2) and cupy.array_equal(l1, l2)


@pytest.mark.parametrize("variant", ["wg", "wg2", "wg_pp"])
def test_wg_forward_refused_off_hopper(variant):
    """variant='wg', 'wg2' or 'wg_pp' on a GPU other than Hopper: ValueError before any launch."""
    if _HOPPER:
        pytest.skip("this GPU is a Hopper; the refusal is for others")
    h = cupy.zeros((1, 64, 64), dtype=np.float16)
    with pytest.raises(ValueError, match="Hopper"):
        gpu_attention.forward(h, h, h, at.block_pattern(at.local_pattern(64, 4)), variant=variant)


@pytest.mark.parametrize("kind,n", [("local", 1000), ("wide", 4096), ("global_local", 1000),
                                    ("strided", 129), ("random", 1000), ("local", 7)])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("variant", ["wg2", "wg_pp"])
def test_wg2_is_wg_bit_for_bit(variant, kind, n, dtype, d):
    """attn_fwd_wg2 and attn_fwd_wg_pp run attn_fwd_wg's instructions on each query
    block's tiles in the block's order (only the loads are shared, and wg_pp's
    schedule differs), so out and lse are the same bits; odd query-block counts
    (n = 129: 3 blocks, n = 7: 1) included."""
    if not _HOPPER:
        pytest.skip("the wgmma forward needs a Hopper GPU (compute capability 9.0)")
    if dtype == "bfloat16" and torch is None:
        pytest.skip("bfloat16 operands come from PyTorch here")
    rng = np.random.default_rng(n + d)
    Q, K, V = (to_gpu(rounded(rng.standard_normal((3, n, d)), dtype), dtype, dtype == "bfloat16")
               for _ in range(3))
    bp = at.block_pattern(make_pattern(kind, n, False))
    o1, l1 = (to_host(x) for x in gpu_attention.forward(Q, K, V, bp, variant="wg"))
    o2, l2 = (to_host(x) for x in gpu_attention.forward(Q, K, V, bp, variant=variant))
    assert np.array_equal(o1, o2)      # float64 images of the 16-bit outputs: exact
    assert np.array_equal(l1, l2)


def test_sparse_attention_entry_point():
    rng = np.random.default_rng(0)
    Q, K, V = (rounded(rng.standard_normal((2, 130, 64)), "float16") for _ in range(3))
    P = at.local_pattern(130, 10, causal=True)
    bp = at.block_pattern(P)
    out = at.sparse_attention(*(cupy.asarray(x.astype(np.float16)) for x in (Q, K, V)), bp)
    assert isinstance(out, cupy.ndarray) and out.dtype == np.float16
    ref = at.sparse_attention(Q, K, V, P)
    assert np.abs(cupy.asnumpy(out).astype(np.float64) - ref).max() < TOL["float16"]


# -- backward -----------------------------------------------------------------------------


def torch_reference_grads(Q, K, V, dO, M, scale):
    q, k, v = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (Q, K, V))
    S = (q @ k.transpose(-1, -2)) * scale
    S = S.masked_fill(~torch.from_numpy(M), float("-inf"))
    mx = S.amax(dim=-1, keepdim=True).detach()
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    E = torch.exp(S - mx)
    tot = E.sum(dim=-1, keepdim=True)
    out = torch.where(tot > 0, (E @ v) / torch.where(tot > 0, tot, torch.ones_like(tot)),
                      torch.zeros_like(tot))
    out.backward(torch.from_numpy(dO))
    return [x.grad.numpy() for x in (q, k, v)]


#: The 16-bit backward kernels (SPLA_ATTENTION_BACKWARD): tc (attention_tc_bwd.cu, the
#: default), scalar (the CUDA-core one, float32's), wg, wg_sync and wg_rs
#: (attention_wg_bwd.cu, Hopper's wgmma).
BWD = ["tc", "scalar", "wg", "wg_sync", "wg_rs"]


@needs_torch
@pytest.mark.parametrize("path", BWD)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("kind,causal,n,d", [
    ("local", False, 129, 64), ("local", True, 1000, 64), ("strided", True, 129, 128),
    ("global_local", False, 300, 64), ("random", True, 129, 40), ("wide", False, 7, 128),
    ("global_local", True, 1, 64), ("wide", True, 1000, 128)])
def test_backward_against_torch_autograd(kind, causal, n, d, dtype, path, monkeypatch):
    """Every backward: the tensor-core one (attention_tc_bwd.cu, the default for 16-bit
    operands), the CUDA-core one (SPLA_ATTENTION_BACKWARD=scalar; float32's) and the
    wgmma one (wg, wg_sync, wg_rs; Hopper only)."""
    if dtype == "float32" and path != "scalar":
        pytest.skip("float32 has the CUDA-core backward only")
    if path.startswith("wg") and not _HOPPER:
        pytest.skip("the wgmma backward needs a Hopper GPU (compute capability 9.0)")
    monkeypatch.setenv("SPLA_ATTENTION_BACKWARD", path)
    rng = np.random.default_rng(n + d)
    heads = (2, 2)
    Q, K, V, dO = (rounded(rng.standard_normal(heads + (n, d)), dtype) for _ in range(4))
    P = make_pattern(kind, n, causal)
    bp = at.block_pattern(P)
    M = dense_mask(P)
    scale = 1 / np.sqrt(d)
    ref = torch_reference_grads(Q, K, V, dO, M, scale)
    q, k, v, do = (to_gpu(x, dtype, True) for x in (Q, K, V, dO))
    out, lse = at.sparse_attention_forward(q, k, v, bp)
    grads = at.sparse_attention_backward(do, q, k, v, bp, out, lse)
    tol = {"float16": 1e-2, "bfloat16": 6e-2, "float32": 1e-4}[dtype]
    for name, g, r in zip("QKV", grads, ref):
        assert g.shape == r.shape and g.dtype == q.dtype
        got = to_host(g)
        err = np.abs(got - r).max(initial=0) / max(1.0, np.abs(r).max(initial=0))
        assert err <= tol, (name, kind, causal, n, d, dtype, err)


@needs_torch
@pytest.mark.parametrize("variant", ["wg", "wg_sync", "wg_rs"])
@pytest.mark.parametrize("kind,causal,n", [("local", True, 1000), ("wide", False, 4096),
                                           ("global_local", True, 1000), ("strided", False, 129),
                                           ("random", False, 1000), ("local", False, 7)])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("d", [64, 128])
def test_wg_backward_matches_tc(d, dtype, kind, causal, n, variant):
    """attention_wg_bwd.cu against attention_tc_bwd.cu on one input: the same float32
    expressions for P and dS, rounded to the dtype the same way, products accumulated
    in float32 in the same k order (wgmma k16 steps for mma.sync's), so the results
    differ at most by accumulation-order rounding inside the tensor cores: within one
    rounding of the dtype at the largest gradient."""
    if not _HOPPER:
        pytest.skip("the wgmma backward needs a Hopper GPU (compute capability 9.0)")
    rng = np.random.default_rng(n + d)
    heads = (2, 2)
    Q, K, V, dO = (to_gpu(rounded(rng.standard_normal(heads + (n, d)), dtype), dtype, True)
                   for _ in range(4))
    bp = at.block_pattern(make_pattern(kind, n, causal))
    out, lse = at.sparse_attention_forward(Q, K, V, bp)
    ref = [to_host(g) for g in gpu_attention.backward(dO, Q, K, V, bp, out, lse, variant="tc")]
    got = [to_host(g) for g in gpu_attention.backward(dO, Q, K, V, bp, out, lse, variant=variant)]
    ulp = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}[dtype]
    for name, g, r in zip("QKV", got, ref):
        assert np.all(np.isfinite(g)), name
        err = np.abs(g - r).max(initial=0)
        assert err <= 2 * ulp * max(1.0, np.abs(r).max(initial=0)), (name, err)


def test_default_kernels_per_gpu(monkeypatch):
    """Without a choice (argument or environment) the 16-bit kernels are the wgmma ones
    on Hopper ("wg" forward, but "wg_pp" at head dimension 128 on a pattern whose
    longest row sets the time; "wg_sync" backward) and the mma.sync ones elsewhere."""
    monkeypatch.delenv("SPLA_ATTENTION_FORWARD", raising=False)
    monkeypatch.delenv("SPLA_ATTENTION_BACKWARD", raising=False)
    assert gpu_attention._variant(None, 64) == ("wg" if _HOPPER else "tc")
    assert gpu_attention._variant(None, 128) == ("wg" if _HOPPER else "tc")
    n = 16384
    local = at.block_pattern(at.local_pattern(n, 1024))
    glob = at.block_pattern(at.global_local_pattern(n, 256, np.arange(64)))
    for bp, BH, long_rows in [(local, 16, False), (glob, 16, True)]:
        assert gpu_attention._long_row_bound(bp, BH) == long_rows
        assert gpu_attention._variant(None, 128, bp, BH) == (("wg_pp" if long_rows else "wg")
                                                             if _HOPPER else "tc")
        assert gpu_attention._variant(None, 64, bp, BH) == ("wg" if _HOPPER else "tc")
    assert gpu_attention._bwd_variant(None) is None  # resolved on the operands' GPU
    assert gpu_attention._variant("tc", 64) == "tc"
    monkeypatch.setenv("SPLA_ATTENTION_BACKWARD", "tc")
    assert gpu_attention._bwd_variant(None) == "tc"


@needs_torch
@pytest.mark.parametrize("variant", ["tc", "wg_sync"])
@pytest.mark.parametrize("kind,causal,n,d", [("local", True, 1000, 64), ("global_local", False, 129, 128),
                                             ("random", True, 300, 64)])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_backward_torch_pointer_path_is_the_cupy_path(kind, causal, n, d, dtype, variant):
    """Contiguous torch tensors and a BlockPattern take the backward through their
    pointers (``_torch_backward``, no CuPy views): the same bits as the CuPy path on
    views of the same memory, torch tensors of the operands' dtype back."""
    if variant != "tc" and not _HOPPER:
        pytest.skip("the wgmma backward needs a Hopper GPU (compute capability 9.0)")
    rng = np.random.default_rng(n + d)
    Q, K, V, dO = (to_gpu(rounded(rng.standard_normal((2, 3, n, d)), dtype), dtype, True)
                   for _ in range(4))
    bp = at.block_pattern(make_pattern(kind, n, causal))
    out, lse = at.sparse_attention_forward(Q, K, V, bp)
    assert gpu_attention._torch_fast(Q, K, V, bp) and gpu_attention._torch_fast_grads(dO, Q, out, lse)
    fast = gpu_attention.backward(dO, Q, K, V, bp, out, lse, variant=variant)
    # the CuPy path: CuPy arrays of the same memory
    slow = gpu_attention.backward(*[_as_cupy_dtype(x, dtype) for x in (dO, Q, K, V)], bp,
                                  _as_cupy_dtype(out, dtype), cupy.from_dlpack(lse), variant=variant)
    for f, s_ in zip(fast, slow):
        assert isinstance(f, torch.Tensor) and f.dtype == Q.dtype and f.shape == Q.shape
        assert np.array_equal(cupy.asnumpy(cupy.from_dlpack(f.view(torch.int16))),
                              cupy.asnumpy(s_.view(cupy.int16)))


@pytest.mark.parametrize("variant", ["wg", "wg_sync", "wg_rs"])
@pytest.mark.parametrize("kind,causal,d", [("local", False, 64), ("wide", True, 64),
                                           ("global_local", False, 128), ("local", True, 128)])
def test_wg_backward_tma_is_the_gather(variant, kind, causal, d, monkeypatch):
    """The tiles the wgmma backward loads by TMA (consecutive keys for dQ, consecutive
    queries for dK and dV) land as the cp.async gather lands them: the same bits with
    every tile gathered (tile_start all -1)."""
    if not _HOPPER:
        pytest.skip("the wgmma backward needs a Hopper GPU (compute capability 9.0)")
    n = 1000
    rng = np.random.default_rng(d)
    Q, K, V, dO = (cupy.asarray(rng.standard_normal((2, 3, n, d)).astype(np.float16))
                   for _ in range(4))
    bp = at.block_pattern(make_pattern(kind, n, causal))
    out, lse = gpu_attention.forward(Q, K, V, bp)
    for b in (bp, gpu_attention._transposed(bp)):
        assert np.any(cupy.asnumpy(gpu_attention._tile_starts(b)) >= 0)
    got = gpu_attention.backward(dO, Q, K, V, bp, out, lse, variant=variant)
    monkeypatch.setattr(gpu_attention, "_tile_starts",
                        lambda b: cupy.full(b.tile_keys.shape[0], -1, np.int32))
    gathered = gpu_attention.backward(dO, Q, K, V, bp, out, lse, variant=variant)
    for a, b in zip(got, gathered):
        assert cupy.array_equal(a, b)


@pytest.mark.parametrize("variant", ["wg", "wg_sync", "wg_rs"])
@pytest.mark.parametrize("kind", ["local", "wide", "strided", "global_local", "random"])
@pytest.mark.parametrize("causal", [False, True])
def test_wg_backward_one_launch_is_two(variant, kind, causal, monkeypatch):
    """attn_bwd_wg (the dQ and the dK/dV blocks in one launch, d = 64) gives the bits
    of the two kernels launched one after the other, on patterns with empty rows,
    strided and gathered tiles, and a last block of 1000 - 960 rows."""
    if not _HOPPER:
        pytest.skip("the wgmma backward needs a Hopper GPU (compute capability 9.0)")
    n, d = 1000, 64
    rng = np.random.default_rng(7)
    Q, K, V, dO = (cupy.asarray(rng.standard_normal((2, 3, n, d)).astype(np.float16))
                   for _ in range(4))
    bp = at.block_pattern(make_pattern(kind, n, causal))
    out, lse = gpu_attention.forward(Q, K, V, bp)
    monkeypatch.setattr(gpu_attention, "_BWD_ONE_LAUNCH", False)
    two = gpu_attention.backward(dO, Q, K, V, bp, out, lse, variant=variant)
    monkeypatch.setattr(gpu_attention, "_BWD_ONE_LAUNCH", True)
    one = gpu_attention.backward(dO, Q, K, V, bp, out, lse, variant=variant)
    for a, b in zip(one, two):
        assert cupy.array_equal(a, b)


def _as_cupy_dtype(t, dtype):
    """A CuPy array of the torch tensor ``t``'s memory, as float16 or bfloat16 (ml-dtypes)."""
    bits = cupy.from_dlpack(t.view(torch.int16))
    if dtype == "float16":
        return bits.view(cupy.float16)
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return bits.view(ml_dtypes.bfloat16)


def test_wg_backward_refused_off_hopper():
    """variant='wg' of the backward on a GPU other than Hopper: ValueError before any launch."""
    if _HOPPER:
        pytest.skip("this GPU is a Hopper; the refusal is for others")
    h = cupy.zeros((1, 64, 64), dtype=np.float16)
    bp = at.block_pattern(at.local_pattern(64, 4))
    out, lse = at.sparse_attention_forward(h, h, h, bp)
    with pytest.raises(ValueError, match="Hopper"):
        gpu_attention.backward(h, h, h, h, bp, out, lse, variant="wg")
    with pytest.raises(ValueError, match="unknown backward kernel"):
        gpu_attention.backward(h, h, h, h, bp, out, lse, variant="nope")


@needs_torch
def test_autograd_function():
    rng = np.random.default_rng(5)
    n, d = 200, 64
    P = at.global_local_pattern(n, 16, [0, 99], causal=True)
    bp = at.block_pattern(P)
    Q, K, V = (rounded(rng.standard_normal((1, 2, n, d)), "bfloat16") for _ in range(3))
    q, k, v = (to_gpu(x, "bfloat16", True).requires_grad_() for x in (Q, K, V))
    out = gpu_attention.torch_sparse_attention(q, k, v, bp)
    assert out.requires_grad and out.dtype == torch.bfloat16
    dO = rng.standard_normal(out.shape)
    out.backward(torch.from_numpy(dO).cuda().to(torch.bfloat16))
    ref = torch_reference_grads(Q, K, V, rounded(dO, "bfloat16"), dense_mask(P), 1 / np.sqrt(d))
    for x, r in zip((q, k, v), ref):
        err = np.abs(to_host(x.grad) - r).max() / max(1.0, np.abs(r).max())
        assert err <= 6e-2


@needs_torch
@pytest.mark.parametrize("d", [64, 128])
def test_training_step_replays_in_a_cuda_graph(d):
    """A forward + backward step through the autograd wrapper is captured in a CUDA
    graph (no host copy or synchronisation on its path once the pattern's arrays are
    on the GPU) and its replay gives the eager step's gradients, for new inputs
    copied into the captured tensors too."""
    n = 1000
    bp = at.block_pattern(at.global_local_pattern(n, 128, [0, 500], causal=True))
    gen = torch.Generator(device="cuda").manual_seed(3)
    q, k, v, do = (torch.randn((2, 3, n, d), device="cuda", dtype=torch.bfloat16, generator=gen)
                   for _ in range(4))
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]

    def step():
        for x in leaves:
            x.grad = None
        gpu_attention.torch_sparse_attention(*leaves, bp).backward(do)
        return [x.grad for x in leaves]

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        eager = [g.clone() for g in step()]      # warm: the pattern's arrays reach the GPU
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        grads = step()
    graph.replay()
    torch.cuda.synchronize()
    for a, b in zip(grads, eager):
        assert torch.equal(a, b)
    with torch.no_grad():       # new values in the captured inputs
        for x in leaves + [do]:
            x.mul_(0.5)
    graph.replay()
    fresh = [x.detach().clone().requires_grad_() for x in leaves]
    gpu_attention.torch_sparse_attention(*fresh, bp).backward(do)
    torch.cuda.synchronize()
    for a, x in zip(grads, fresh):
        assert torch.equal(a, x.grad)


def test_launchers_are_checked_against_the_kernels():
    """The driver lists a kernel's parameters (cuFuncGetParamInfo), so every launcher
    the attention code makes was checked against its kernel; a parameter list that
    does not fit is a ValueError before any launch."""
    from spla_cuda import _launch
    from spla_cuda._compile import kernel

    delta = kernel("attention_tc_bwd.cu", "attn_delta<f16, 64>")
    assert _launch.kernel_param_sizes(delta.kernel.ptr) == [8, 8, 8, 8, 8, 8]
    _launch.Launcher(delta, "pppppq", "attn_delta")
    with pytest.raises(ValueError, match="the kernel's are"):
        _launch.Launcher(delta, "pppppi", "attn_delta")
    with pytest.raises(ValueError, match="the kernel's are"):
        _launch.Launcher(delta, "ppppp", "attn_delta")
    if _HOPPER:
        wg = gpu_attention._wg_kernel("f16", 64)[0]
        assert _launch.kernel_param_sizes(wg.kernel.ptr) == [8] * 11 + [256, 4, 8, 8, 8, 4]


def test_launches_from_a_thread_without_a_cuda_context():
    """torch runs a backward on its autograd worker thread, where no CUDA context may be
    current yet; the launches (driver calls) must make the GPU's context current. Both
    the torch pointer path and the general one (float32) run in a fresh thread."""
    import threading

    torch = pytest.importorskip("torch")
    n, d = 256, 64
    bp = at.block_pattern(at.local_pattern(n, 64))
    q, k, v, do = (torch.randn((2, n, d), device="cuda", dtype=torch.float16) for _ in range(4))
    out, lse = gpu_attention.forward(q, k, v, bp)
    want = gpu_attention.backward(do, q, k, v, bp, out, lse)
    torch.cuda.synchronize()
    got, errors = {}, []

    def work():
        try:
            got["fwd"] = gpu_attention.forward(q, k, v, bp)
            got["bwd"] = gpu_attention.backward(do, q, k, v, bp, out, lse)
        except Exception as err:    # reported in the test's thread
            errors.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert not errors, errors
    torch.cuda.synchronize()
    assert torch.equal(got["fwd"][0], out)
    for a, b in zip(got["bwd"], want):
        torch.testing.assert_close(a, b)
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    gpu_attention.torch_sparse_attention(*leaves, bp).backward(do)   # the autograd thread
    for leaf, b in zip(leaves, want):
        torch.testing.assert_close(leaf.grad, b)
    q32, k32, v32 = (x.float() for x in (q, k, v))
    want32 = gpu_attention.forward(q32, k32, v32, bp)[0]
    torch.cuda.synchronize()
    thread = threading.Thread(target=lambda: got.update(f32=gpu_attention.forward(q32, k32, v32, bp)))
    thread.start()
    thread.join()
    torch.testing.assert_close(got["f32"][0], want32)


# -- checks before a launch ---------------------------------------------------------------------


def test_bad_input():
    n = 64
    bp = at.block_pattern(at.local_pattern(n, 8))
    h = cupy.zeros((2, n, 64), dtype=np.float16)
    with pytest.raises(ValueError, match="head dimensions up to 128"):
        at.sparse_attention(*(cupy.zeros((2, n, 192), np.float16),) * 3, bp)
    with pytest.raises(TypeError, match="one dtype"):
        at.sparse_attention(h, h.astype(np.float32), h, bp)
    with pytest.raises(TypeError, match="float16, bfloat16 or float32"):
        at.sparse_attention(*(h.astype(np.float64),) * 3, bp)
    with pytest.raises(ValueError, match="do not fit a pattern"):
        at.sparse_attention(cupy.zeros((2, n + 1, 64), np.float16), h, h, bp)
    with pytest.raises(ValueError, match="do not fit a pattern"):
        at.sparse_attention(*(cupy.zeros((2, 32, 64), np.float16),) * 3, bp)
    with pytest.raises(ValueError, match="one head dimension"):
        at.sparse_attention(h, cupy.zeros((2, n, 32), np.float16), h, bp)
    with pytest.raises(ValueError, match="do not broadcast"):
        at.sparse_attention(h, cupy.zeros((3, n, 64), np.float16), h, bp)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        at.sparse_attention(cupy.zeros(64, np.float16), h, h, bp)
    with pytest.raises(ValueError, match="at least 1"):
        at.sparse_attention(*(cupy.zeros((2, n, 0), np.float16),) * 3, bp)
    if torch is not None:
        t = torch.zeros((2, n, 64), dtype=torch.float16)
        with pytest.raises(ValueError, match="CPU tensor"):
            at.sparse_attention(t.cuda(), t, t.cuda(), bp)
        with pytest.raises(TypeError, match="one dtype"):
            at.sparse_attention(t.cuda(), t.cuda().bfloat16(), t.cuda(), bp)
    if _GPUS > 1:
        with cupy.cuda.Device(1):
            h1 = cupy.zeros((2, n, 64), dtype=np.float16)
        with pytest.raises(ValueError, match="different GPUs"):
            at.sparse_attention(h, h1, h, bp)
    out, lse = at.sparse_attention_forward(h, h, h, bp)
    with pytest.raises(ValueError, match="one leading shape"):
        at.sparse_attention_backward(h, h, h[:1], h, bp, out, lse)
    with pytest.raises(ValueError, match="lse"):
        at.sparse_attention_backward(h, h, h, h, bp, out, lse[:1])


def test_broadcast_leading_dims_forward():
    rng = np.random.default_rng(3)
    n = 100
    Q = rounded(rng.standard_normal((2, 3, n, 64)), "float16")
    K = rounded(rng.standard_normal((1, 3, n, 64)), "float16")
    V = rounded(rng.standard_normal((3, n, 64)), "float16")
    P = at.local_pattern(n, 20)
    out = at.sparse_attention(*(cupy.asarray(x.astype(np.float16)) for x in (Q, K, V)),
                              at.block_pattern(P))
    ref, _ = reference(Q, K, V, dense_mask(P), 1 / 8)
    assert out.shape == (2, 3, n, 64)
    assert np.abs(cupy.asnumpy(out).astype(np.float64) - ref).max() <= TOL["float16"]


# -- small diagnostic cases (a failure here names the tile, row and column) -------------------


@pytest.mark.parametrize("fwd", ["tc", "wg", "wg2", "wg_pp"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("n", [64, 128])
def test_probabilities_of_small_tiles(n, causal, dtype, fwd, monkeypatch):
    """V = identity makes the output the probability matrix P itself."""
    use_forward(fwd, dtype, monkeypatch)
    rng = np.random.default_rng(n)
    d = 64
    P = at.local_pattern(n, 2 * n, causal)            # every key (lower triangle if causal)
    Q = rounded(rng.standard_normal((1, n, d)), dtype)
    K = rounded(rng.standard_normal((1, n, d)), dtype)
    V = np.zeros((1, n, 128))
    V[0, :, :n] = np.eye(n)
    M = dense_mask(P)
    ref, _ = reference(Q, K, V, M, 1 / 8)
    out, _ = at.sparse_attention_forward(*(to_gpu(x, dtype, dtype == "bfloat16") for x in (Q, K, V)),
                                         at.block_pattern(P))
    got = to_host(out)
    err = np.abs(got - ref)[0]
    i, j = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= TOL[dtype], (
        f"max error {err.max():.3g} at query {i} (warp {(i % 64) // 16}, lane row {(i % 16) % 8}), "
        f"key {j} (tile {j // 64}, column {j % 64}): got {got[0, i, j]:.4g}, want {ref[0, i, j]:.4g}")
