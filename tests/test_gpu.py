"""The GPU backend (spla_cuda) against the dense float64 reference.

The same properties as on the CPU, run on arrays moved with ``to_device("cuda")``.
Skipped, with the reason, where CuPy or a CUDA GPU is missing (CI has neither);
run them on a GPU machine with ``python -m pytest tests/test_gpu.py``.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

cupy = pytest.importorskip("cupy", reason="the GPU tests need CuPy: pip install 'spla[cuda]'")
try:
    _GPUS = cupy.cuda.runtime.getDeviceCount()
except cupy.cuda.runtime.CUDARuntimeError:
    _GPUS = 0
if not _GPUS:
    pytest.skip("the GPU tests need an NVIDIA GPU; CuPy sees none", allow_module_level=True)

import spla  # noqa: E402
import spla_cuda.csr  # noqa: E402
from spla import attention  # noqa: E402
from spla.testing.strategies import banded_arrays, csr_arrays, dense_operands  # noqa: E402
from spla.testing._strategies_nm import nm_arrays  # noqa: E402

from _util import assert_product, max_terms, ref_dense  # noqa: E402

pytestmark = pytest.mark.gpu
# The plan_sizes fixture patches module constants once per test, which is what
# every example of the test should see.
CHEAP = settings(max_examples=max(25, settings.default.max_examples // 4),
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                        HealthCheck.data_too_large])
GPU_OPERAND_DTYPES = st.sampled_from([np.float32, np.float64, np.complex64, np.complex128])
WIDTHS = st.sampled_from([1, 2, 3, 4, 5, 8, 16, 17, 32, 33, 64, 128, 130])


def _host(a):
    return cupy.asnumpy(a)


@pytest.fixture(params=["default", "tiny"])
def plan_sizes(request, monkeypatch):
    """Run with the real plan constants and with tiny ones, which make the small
    matrices hypothesis draws take the long-row (segment + fix-up) path."""
    if request.param == "tiny":
        monkeypatch.setattr(spla_cuda.csr, "H", 2)
        monkeypatch.setattr(spla_cuda.csr, "SEG", 3)
        monkeypatch.setattr(spla_cuda.csr, "ROWS", 3)
    return request.param


# -- CSR ---------------------------------------------------------------------------------


SPMV_METHODS = st.sampled_from([None, "tasks", "tasks_l2", "tasks_keep", "vector1", "vector2", "vector8", "vector32"])


@CHEAP
@given(A=csr_arrays(), dtype=GPU_OPERAND_DTYPES, method=SPMV_METHODS, data=st.data())
def test_csr_spmv(plan_sizes, A, dtype, method, data):
    x = data.draw(dense_operands(A.shape[1], dtype=dtype))
    G = A.to_device("cuda")
    assert G.device == "cuda" and isinstance(G.data, cupy.ndarray)
    y = spla_cuda.csr.spmv(G, cupy.asarray(x), method) if method else G @ cupy.asarray(x)
    assert isinstance(y, cupy.ndarray) and y.dtype == np.result_type(A.dtype, x.dtype)
    D = ref_dense(A)
    assert_product(_host(y), D, np.abs(D), x, max(1, max_terms(A)), "GPU SpMV")


@CHEAP
@given(A=csr_arrays(), dtype=GPU_OPERAND_DTYPES, k=WIDTHS, layout=st.sampled_from("CF"),
       data=st.data())
def test_csr_spmm(plan_sizes, A, dtype, k, layout, data):
    X = data.draw(dense_operands(A.shape[1], k, dtype=dtype, layout=layout))
    Y = A.to_device("cuda") @ cupy.asarray(X, order=layout)
    D = ref_dense(A)
    assert_product(_host(Y), D, np.abs(D), X, max(1, max_terms(A)), "GPU SpMM")


@pytest.mark.parametrize("length", [0, 1, 129, 4095, 4096, 4097, 20000])
def test_csr_one_long_row_among_empty_ones(length):
    rng = np.random.default_rng(length)
    m, n = 300, 20001
    counts = np.zeros(m, dtype=np.int64)
    counts[150] = length
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = rng.integers(0, n, length)
    data = rng.standard_normal(length)
    A = spla.csr_array((data, indices, indptr), shape=(m, n))
    x = rng.standard_normal(n)
    X = rng.standard_normal((n, 8))
    G = A.to_device("cuda")
    D = ref_dense(A)
    assert_product(_host(G @ cupy.asarray(x)), D, np.abs(D), x, max(1, length), "long row SpMV")
    assert_product(_host(G @ cupy.asarray(X)), D, np.abs(D), X, max(1, length), "long row SpMM")


def test_csr_power_law_rows_and_same_bits_twice():
    rng = np.random.default_rng(7)
    m = n = 20000
    counts = np.minimum((rng.pareto(1.2, m) + 1).astype(np.int64), n)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = rng.integers(0, n, int(indptr[-1]))
    A = spla.csr_array((rng.standard_normal(indices.size), indices, indptr), shape=(m, n))
    x = rng.standard_normal(n).astype(np.float32)
    G = A.astype(np.float32).to_device("cuda")
    D = ref_dense(A)
    for method in ("tasks", "vector1", "vector8", None):
        y1 = _host(spla_cuda.csr.spmv(G, cupy.asarray(x), method))
        y2 = _host(spla_cuda.csr.spmv(G, cupy.asarray(x), method))
        np.testing.assert_array_equal(y1, y2)  # fixed summation order: the same bits
        assert_product(y1, D, np.abs(D), x, int(counts.max()), f"power-law SpMV {method}")


@CHEAP
@given(A=csr_arrays(), B=st.data())
def test_csr_other_operations_match_the_cpu(A, B):
    G = A.to_device("cuda")
    D = ref_dense(A)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(A.shape[0])
    tol = dict(rtol=1e-4, atol=1e-4) if A.dtype in (np.float32, np.complex64) else \
        dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(_host(G.T @ cupy.asarray(x)), D.T @ x, **tol)
    np.testing.assert_allclose(_host(G.toarray()), D, **tol)
    np.testing.assert_allclose(_host(G.sum(axis=0)), D.sum(axis=0), **tol)
    np.testing.assert_allclose(_host(G.sum(axis=1)), D.sum(axis=1), **tol)
    np.testing.assert_allclose(complex(G.sum()), D.sum(), **tol)
    np.testing.assert_allclose(_host(G.diagonal()), np.diagonal(D), **tol)
    np.testing.assert_allclose(_host((G + G).toarray()), 2 * D, **tol)
    np.testing.assert_allclose(_host((G - G * 0.5).toarray()), 0.5 * D, **tol)
    np.testing.assert_allclose(_host(G.multiply(G).toarray()), D * D, **tol)
    np.testing.assert_allclose(_host((G @ G.T).toarray()), D @ D.T, **tol)
    back = G.to_device("cpu")
    assert back.device == "cpu"
    np.testing.assert_array_equal(back.data, A.data)
    np.testing.assert_array_equal(back.indices, A.indices)


def test_csr_from_cupy_inputs():
    rng = np.random.default_rng(1)
    D = rng.standard_normal((7, 5)) * (rng.random((7, 5)) < 0.4)
    A = spla.csr_array(cupy.asarray(D))
    assert A.device == "cuda"
    np.testing.assert_array_equal(_host(A.toarray()), D)
    r, c = np.nonzero(D)
    B = spla.csr_array((cupy.asarray(np.r_[D[r, c], 1.0]),
                        (cupy.asarray(np.r_[r, r[0]]), cupy.asarray(np.r_[c, c[0]]))), shape=D.shape)
    E = D.copy()
    E[r[0], c[0]] += 1.0
    np.testing.assert_allclose(_host(B.toarray()), E)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", None])
def test_cupyx_matrices_both_ways(fmt):
    import cupyx.scipy.sparse as csp

    rng = np.random.default_rng(4)
    D = rng.standard_normal((9, 6)) * (rng.random((9, 6)) < 0.4)
    G = spla.csr_array(D).to_device("cuda")
    S = G.to_cupyx(fmt)
    assert isinstance(S, {"csr": csp.csr_matrix, "csc": csp.csc_matrix, "coo": csp.coo_matrix,
                          None: csp.csr_matrix}[fmt])
    np.testing.assert_array_equal(_host(S.toarray()), D)
    if fmt in ("csr", None):
        assert S.data.data.ptr == G.data.data.ptr  # canonical storage is shared
    back = spla.csr_array(S)
    assert back.device == "cuda"
    np.testing.assert_array_equal(_host(back.toarray()), D)
    # duplicates: CuPy gets a canonical copy, the spla array is left as it was
    B = spla.csr_array((cupy.asarray([1.0, 2.0, 3.0]), cupy.asarray([1, 1, 0]),
                        cupy.asarray([0, 2, 3])), shape=(2, 3))
    np.testing.assert_array_equal(_host(B.to_cupyx(fmt).toarray()), [[0, 3, 0], [3, 0, 0]])
    assert B.nnz == 3
    np.testing.assert_array_equal(_host(B.data), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="format"):
        G.to_cupyx("dia")


def test_operands_on_another_device_raise():
    A = spla.csr_array(np.eye(3))
    G = A.to_device("cuda")
    with pytest.raises(ValueError, match="device"):
        G @ np.ones(3)
    with pytest.raises(ValueError, match="device"):
        A @ cupy.ones(3)
    with pytest.raises(ValueError, match="device"):
        G + A
    with pytest.raises(ValueError, match="CPU"):
        G.to_scipy()


# -- banded --------------------------------------------------------------------------------


@CHEAP
@given(A=banded_arrays(), dtype=GPU_OPERAND_DTYPES, k=st.sampled_from([None, 1, 3, 4, 16, 33]),
       data=st.data())
def test_banded_products(A, dtype, k, data):
    X = data.draw(dense_operands(A.shape[1], k, dtype=dtype))
    G = A.to_device("cuda")
    Y = G @ cupy.asarray(X)
    D = A.toarray().astype(np.complex128 if A.dtype.kind == "c" else np.float64)
    assert_product(_host(Y), D, np.abs(D), X, max(1, A.offsets.size), "GPU banded")
    np.testing.assert_array_equal(_host(G.toarray()), A.toarray())
    np.testing.assert_array_equal(_host(G.tocsr().toarray()), A.toarray())


# -- N:M -------------------------------------------------------------------------------------


@CHEAP
@given(A=nm_arrays(), dtype=st.sampled_from([np.float16, np.float32, np.float64]),
       k=st.sampled_from([None, 1, 2, 4, 7, 8, 16, 40]), data=st.data())
def test_nm_products_cuda_cores(A, dtype, k, data):
    shape = A.shape[1] if k is None else (A.shape[1], k)
    X = data.draw(hnp.arrays(np.float64, shape, elements=st.integers(-8, 8).map(lambda v: v / 4)))
    X = X.astype(dtype)
    G = A.to_device("cuda")
    Y = G @ cupy.asarray(X)
    assert Y.dtype == spla._dtypes.result_dtype(A.dtype, X.dtype)
    D = A.toarray().astype(np.float64)
    assert_product(_host(Y), D, np.abs(D), X, max(1, A.values.shape[1]), "GPU N:M")
    np.testing.assert_array_equal(_host(G.toarray()), A.toarray())
    np.testing.assert_array_equal(_host(G.tocsr().toarray()), A.tocsr().toarray())


def _bf16_bits(a):
    """bfloat16 bits (uint16) of a float array whose values bfloat16 holds exactly."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32).astype(ml_dtypes.bfloat16).view(np.uint16))


def _sp24_product(G, X, config, dtype):
    """G @ X on the tensor cores, float16 through the array, bfloat16 through its bits."""
    if dtype == "f16":
        Xg = cupy.asarray(X)
        assert spla_cuda.sparse24.supports(G, Xg)
        return spla_cuda.sparse24.spmm(G, Xg, config) if config else G @ Xg
    values, meta = spla_cuda.sparse24.prepare(G)  # float16 values or their bits (uint16)
    vb = cupy.asarray(_bf16_bits(_host(values).view(np.float16)))
    return spla_cuda.sparse24.spmm_prepared(vb, meta, G.shape, cupy.asarray(_bf16_bits(X)), "bf16",
                                            config)


@settings(max_examples=80)
@given(M=st.integers(1, 300), k_tiles=st.integers(1, 5),
       N=st.sampled_from([8, 16, 24, 136, 264]), seed=st.integers(0, 2**32 - 1),
       unsorted=st.booleans(), config=st.sampled_from([None] + sorted(spla_cuda.sparse24.CONFIGS)),
       dtype=st.sampled_from(["f16", "bf16"]))
def test_sparse24_tensor_cores(M, k_tiles, N, seed, unsorted, config, dtype):
    if config and not spla_cuda.sparse24.available(config):
        return  # a Hopper-only tiling on another GPU: nothing to check here
    bk = spla_cuda.sparse24.CONFIGS[config][2] if config else 32
    K = k_tiles * bk
    rng = np.random.default_rng(seed)
    W = rng.integers(-8, 9, (M, K)).astype(np.float16) / np.float16(4)
    A = spla.nm_array(W, prune=True)
    if unsorted:  # the same matrix stored with the two slots of every group swapped
        S = A.values.shape[1]
        swap = np.arange(S) ^ 1
        A = spla.nm_array((A.values[:, swap], A.positions[:, swap]), shape=A.shape)
    X = (rng.integers(-8, 9, (K, N)) / 4).astype(np.float16)
    Y = _sp24_product(A.to_device("cuda"), X, config, dtype)
    assert Y.dtype == np.float32
    D = A.toarray().astype(np.float64)
    # Quarter-integers in [-2, 2] (exact in float16 and bfloat16): every product and
    # partial sum is exact in float32.
    np.testing.assert_array_equal(_host(Y), D @ X.astype(np.float64))


_PIPELINED = [c for c in sorted(spla_cuda.sparse24.CONFIGS) if c.startswith(("wgmma", "tma"))]


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
@pytest.mark.parametrize("config", _PIPELINED)
@pytest.mark.parametrize("M, k_tiles, N", [(300, 17, 264), (256, 40, 128), (1, 13, 8), (513, 9, 392)])
def test_sparse24_wgmma_many_k_tiles(config, M, k_tiles, N, dtype):
    """More K tiles than pipeline stages, several times over: every stage is
    refilled and its barriers go through several phases (the pipelined tilings'
    hand-over between loads and products); with the persistent version 7, blocks
    of several output tiles each (513 x 392: 15 to 20 tiles)."""
    if not spla_cuda.sparse24.available(config):
        pytest.skip(f"{config} needs a Hopper GPU")
    K = k_tiles * spla_cuda.sparse24.CONFIGS[config][2]
    rng = np.random.default_rng(M + k_tiles + N)
    A = spla.nm_array((rng.integers(-8, 9, (M, K)) / 4).astype(np.float16), prune=True)
    X = (rng.integers(-8, 9, (K, N)) / 4).astype(np.float16)
    Y = _sp24_product(A.to_device("cuda"), X, config, dtype)
    # Quarter-integers: sums of at most 1,280 products of 1/16 steps are exact in float32.
    np.testing.assert_array_equal(_host(Y), A.toarray().astype(np.float64) @ X.astype(np.float64))


def test_sparse24_version7_on_many_tiles_per_block():
    """A product with far more output tiles than multiprocessors: every block of the
    persistent grid walks many tiles, and the pipeline runs on across them."""
    if not spla_cuda.sparse24.available("tma_128x128_s8"):
        pytest.skip("version 7 needs a Hopper GPU")
    rng = np.random.default_rng(11)
    M, K, N = 2048, 1056, 2056  # K % 64 == 32, N % 128 == 8: partial tiles at two edges
    A = spla.nm_array((rng.integers(-8, 9, (M, K)) / 4).astype(np.float16), prune=True)
    X = (rng.integers(-8, 9, (K, N)) / 4).astype(np.float16)
    ref = A.toarray().astype(np.float64) @ X.astype(np.float64)
    G = A.to_device("cuda")
    for config in spla_cuda.sparse24.TMA:
        for dtype in ("f16", "bf16"):
            np.testing.assert_array_equal(_host(_sp24_product(G, X, config, dtype)), ref,
                                          err_msg=f"{config} {dtype}")


_SPLIT = sorted(spla_cuda.sparse24.TMA_SPLIT)


def test_sparse24_auto_splits():
    """The split count fills the resident slots in whole waves, and only when that
    shortens the busiest slot's K loop."""
    auto = spla_cuda.sparse24.auto_splits
    assert auto(64, 128, 132) == 2          # 8192 x 8192 x 256 in 128 x 256 tiles
    assert auto(128, 128, 132) == 1         # 128 x 128 tiles: one wave already
    assert auto(2048, 128, 132) == 1        # many tiles: no split
    assert auto(10, 3, 132) == 3            # at most one split per K tile
    assert auto(1, 1, 132) == 1


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
@pytest.mark.parametrize("config", _SPLIT)
@pytest.mark.parametrize("M, K, N", [(1024, 8192, 256), (300, 96, 264), (520, 64 * 45 + 32, 136),
                                     (1, 32, 8)])
def test_sparse24_split_k_exact(config, M, K, N, dtype):
    """Split K: every split's partial tile is added into C once (uneven K ranges, a
    last K tile of 32 columns, more splits asked for than K tiles, row and column
    edges). Quarter-integers: every partial sum is exact in float32 in any order."""
    if not spla_cuda.sparse24.available(config):
        pytest.skip(f"{config} needs a Hopper GPU")
    rng = np.random.default_rng(M + K + N)
    A = spla.nm_array((rng.integers(-8, 9, (M, K)) / 4).astype(np.float16), prune=True)
    X = (rng.integers(-8, 9, (K, N)) / 4).astype(np.float16)
    Y = _sp24_product(A.to_device("cuda"), X, config, dtype)
    np.testing.assert_array_equal(_host(Y), A.toarray().astype(np.float64) @ X.astype(np.float64))


@pytest.mark.parametrize("config", _SPLIT)
def test_sparse24_split_k_random_values(config):
    """Random values: within float32 accumulation error of the float64 product; with
    two splits (0 + p0 + p1, commutative) the same bits on every call."""
    if not spla_cuda.sparse24.available(config):
        pytest.skip(f"{config} needs a Hopper GPU")
    rng = np.random.default_rng(4)
    M, K, N = 1024, 4096, 256
    A = spla.nm_array(rng.standard_normal((M, K)).astype(np.float16), prune=True)
    X = rng.standard_normal((K, N)).astype(np.float16)
    G = A.to_device("cuda")
    Xg = cupy.asarray(X)
    Y = _host(spla_cuda.sparse24.spmm(G, Xg, config))
    ref = A.toarray().astype(np.float64) @ X.astype(np.float64)
    err = np.linalg.norm(Y - ref) / np.linalg.norm(ref)
    assert err < 1e-5, err
    if spla_cuda.sparse24.TMA_SPLIT[config] == 2:
        np.testing.assert_array_equal(_host(spla_cuda.sparse24.spmm(G, Xg, config)), Y)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_nm_half_end_to_end_and_pytorch_round_trip(dtype):
    """``nm_array(W).to_device("cuda") @ X`` for float16 and bfloat16 (ml_dtypes on
    the host, CuPy on the device), on the tensor cores, exact on quarter-integers; the
    same with X a PyTorch CUDA tensor returns a tensor (DLPack, no copy)."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    dt = np.dtype(np.float16) if dtype == "float16" else np.dtype(ml_dtypes.bfloat16)
    rng = np.random.default_rng(7)
    W = (rng.integers(-8, 9, (300, 256)) / 4).astype(dt)
    X = (rng.integers(-8, 9, (256, 72)) / 4).astype(dt)
    A = spla.nm_array(W, prune=True)
    assert A.dtype == dt
    G = A.to_device("cuda")
    Xg = cupy.asarray(X)
    assert spla_cuda.sparse24.supports(G, Xg)
    ref = A.toarray().astype(np.float64) @ X.astype(np.float64)
    Y = G @ Xg
    assert isinstance(Y, cupy.ndarray) and Y.dtype == np.float32
    np.testing.assert_array_equal(_host(Y), ref)
    np.testing.assert_array_equal(_host(G @ Xg[:, 3]), ref[:, 3])          # CUDA-core SpMV
    np.testing.assert_array_equal(_host(G.toarray()).astype(np.float64), A.toarray().astype(np.float64))
    S = G.tocsr()
    assert S.dtype == np.float32
    np.testing.assert_array_equal(_host(S.toarray()), A.toarray().astype(np.float32))
    torch = pytest.importorskip("torch")
    T = torch.from_dlpack(cupy.asarray(X.view(np.int16))).view(getattr(torch, dtype))
    Yt = G @ T
    assert isinstance(Yt, torch.Tensor) and Yt.is_cuda and Yt.dtype == torch.float32
    np.testing.assert_array_equal(Yt.cpu().numpy(), ref)
    with pytest.raises(ValueError, match="CPU tensor"):
        G @ T.cpu()


def test_pytorch_operand_of_csr():
    torch = pytest.importorskip("torch")
    A = spla.csr_array(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]], dtype=np.float32)).to_device("cuda")
    y = A @ torch.tensor([1.0, 2.0, 3.0], device="cuda")
    assert isinstance(y, torch.Tensor) and y.is_cuda
    np.testing.assert_array_equal(y.cpu().numpy(), [7.0, 6.0])


def test_sparse24_random_values_within_float32_accumulation():
    rng = np.random.default_rng(3)
    M, K, N = 512, 1024, 256
    A = spla.nm_array(rng.standard_normal((M, K)).astype(np.float16), prune=True)
    X = rng.standard_normal((K, N)).astype(np.float16)
    Y = _host(A.to_device("cuda") @ cupy.asarray(X))
    ref = A.toarray().astype(np.float64) @ X.astype(np.float64)
    err = np.linalg.norm(Y - ref) / np.linalg.norm(ref)
    assert err < 1e-5, err


def test_nm_scaled_on_the_gpu_stays_nm_and_prepared():
    """``G * s`` and ``-G`` of a GPU 2:4 array stay N:M on the GPU; the 2:4 float16
    ones are laid out for the tensor cores again and multiply exactly."""
    rng = np.random.default_rng(5)
    W = (rng.integers(-8, 9, (64, 64)) / 4).astype(np.float16)
    A = spla.nm_array(W, prune=True)
    G = A.to_device("cuda")
    X = (rng.integers(-8, 9, (64, 16)) / 4).astype(np.float16)
    for B, ref in ((G * 2, A.toarray().astype(np.float64) * 2), (-G, -A.toarray().astype(np.float64)),
                   (G / 4, A.toarray().astype(np.float64) / 4)):
        assert B.format == "nm" and B.device == "cuda" and B.dtype == np.float16
        assert spla_cuda.sparse24.supports(B, cupy.asarray(X))
        np.testing.assert_array_equal(_host(B @ cupy.asarray(X)), ref @ X.astype(np.float64))


# -- attention ---------------------------------------------------------------------------------


@st.composite
def _patterns(draw):
    n = draw(st.integers(0, 40))
    kind = draw(st.sampled_from(["local", "strided", "global"]))
    causal = draw(st.booleans())
    if kind == "local":
        return attention.local_pattern(n, draw(st.integers(0, 8)), causal=causal)
    if kind == "strided":
        return attention.strided_pattern(n, draw(st.integers(1, 6)), causal=causal)
    g = draw(st.lists(st.integers(0, max(0, n - 1)), max_size=3, unique=True)) if n else []
    return attention.global_local_pattern(n, draw(st.integers(0, 6)), g, causal=causal)


@CHEAP
@given(P=_patterns(), d=st.integers(1, 70), dv=st.sampled_from([1, 16, 33, 64, 200]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1))
def test_attention_matches_the_cpu(P, d, dv, dtype, seed):
    rng = np.random.default_rng(seed)
    n = P.shape[0]
    Q, K = (rng.standard_normal((2, n, d)).astype(dtype) for _ in range(2))
    V = rng.standard_normal((2, n, dv)).astype(dtype)
    G = P.to_device("cuda")
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    S_cpu = attention.sddmm(Q[0], K[0], P)
    S_gpu = attention.sddmm(cupy.asarray(Q[0]), cupy.asarray(K[0]), G)
    assert S_gpu.format == S_cpu.format and S_gpu.device == "cuda"
    np.testing.assert_allclose(_host(S_gpu.toarray()), S_cpu.toarray(), **tol)
    np.testing.assert_allclose(_host(attention.softmax(S_gpu).toarray()),
                               attention.softmax(S_cpu).toarray(), **tol)
    out = attention.sparse_attention(cupy.asarray(Q), cupy.asarray(K), cupy.asarray(V), G)
    np.testing.assert_allclose(_host(out), attention.sparse_attention(Q, K, V, P), **tol)
    with pytest.raises(ValueError, match="CuPy"):
        attention.sddmm(Q[0], K[0], G)


# -- issue 18 item 13 (hardening) ---------------------------------------------------------


def test_to_device_cuda_ordinal_that_does_not_exist_raises_naming_the_count():
    A = spla.csr_array(np.eye(3))
    with pytest.raises(ValueError, match=f"has {_GPUS} GPU"):
        A.to_device(f"cuda:{_GPUS}")
    with pytest.raises(ValueError, match=f"has {_GPUS} GPU"):
        A.to_device("cuda:99")


@pytest.mark.parametrize("ordinal", range(_GPUS))
def test_to_device_cuda_ordinal_keeps_the_ordinal(ordinal):
    for A in (spla.csr_array(np.eye(3)), spla.csr_array(np.eye(3)).T,
              spla.banded_array(np.eye(3)), spla.nm_array(np.eye(4))):
        G = A.to_device(f"cuda:{ordinal}")
        arr = G.values if A.format == "nm" else G.data
        assert arr.device.id == ordinal
        assert G.to_device(f"cuda:{ordinal}") is G
        np.testing.assert_array_equal(G.to_device("cpu").toarray(), A.toarray())


def test_nm_array_from_cupy_array_lives_on_the_gpu():
    W = np.array([[1.0, 0.0, 0.0, 2.0, 0.0, 3.0, 0.0, 0.0]])
    A = spla.nm_array(cupy.asarray(W))
    assert A.device == "cuda"
    np.testing.assert_array_equal(_host(A @ cupy.ones(8)), [6.0])
    P = spla.nm_array((cupy.asarray([[1.0, 2.0]]), cupy.asarray([[0, 3]])), shape=(1, 4))
    assert P.device == "cuda"
    np.testing.assert_array_equal(P.to_device("cpu").toarray(), [[1.0, 0.0, 0.0, 2.0]])


def test_sparse_attention_float16_follows_numpy_promotion_on_the_gpu():
    rng = np.random.default_rng(0)
    Q, K, V = (cupy.asarray(rng.standard_normal((6, 4)).astype(np.float16)) for _ in range(3))
    P = attention.local_pattern(6, 2).to_device("cuda")
    out = attention.sparse_attention(Q, K, V, P)
    assert out.dtype == np.float16
    ref = attention.sparse_attention(*(_host(a).astype(np.float32) for a in (Q, K, V)),
                                     attention.local_pattern(6, 2))
    np.testing.assert_allclose(_host(out).astype(np.float32), ref, rtol=2e-3, atol=2e-3)
