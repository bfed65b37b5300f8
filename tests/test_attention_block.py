"""spla.attention.block_pattern and the forward (with log-sum-exp) and backward on
the CPU, against dense float64 references built from the element masks."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla import attention as at

from test_attention import dense_attention, mask_of, patterns

relaxed = settings(deadline=None, max_examples=60)


def dense_lse(Q, K, M, scale):
    S = np.where(M, (Q @ np.swapaxes(K, -1, -2)) * scale, -np.inf)
    mx = S.max(axis=-1, keepdims=True, initial=-np.inf)
    safe = np.where(np.isfinite(mx), mx, 0)
    tot = np.exp(S - safe).sum(axis=-1)
    with np.errstate(divide="ignore"):
        return np.log(tot) + safe[..., 0]


def dense_grads(dO, Q, K, V, M, scale):
    """Gradients of dense masked attention (float64, no sparse code involved)."""
    S = np.where(M, (Q @ np.swapaxes(K, -1, -2)) * scale, -np.inf)
    mx = S.max(axis=-1, keepdims=True, initial=-np.inf)
    E = np.where(M, np.exp(S - np.where(np.isfinite(mx), mx, 0)), 0)
    tot = E.sum(axis=-1, keepdims=True)
    P = np.where(tot > 0, E / np.where(tot > 0, tot, 1), 0)
    O = P @ V
    dV = np.swapaxes(P, -1, -2) @ dO
    dP = dO @ np.swapaxes(V, -1, -2)
    dS = P * (dP - (dO * O).sum(axis=-1, keepdims=True))
    return scale * dS @ K, scale * np.swapaxes(dS, -1, -2) @ Q, dV


@st.composite
def random_csr(draw, max_n=40):
    """A CSR pattern with empty rows, duplicates, explicit zeros, int32 or int64 indices."""
    m = draw(st.integers(0, max_n))
    n = draw(st.integers(0, max_n))
    nnz = draw(st.integers(0, m * n)) if m and n else 0
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    r, c = rng.integers(0, max(m, 1), nnz), rng.integers(0, max(n, 1), nnz)
    vals = rng.choice([0.0, 1.0, -2.0], nnz)
    A = sp.csr_array((vals, (r, c)), shape=(m, n))   # sums duplicates
    idx = draw(st.sampled_from([np.int32, np.int64]))
    A = sp.csr_array((A.data, A.indices.astype(idx), A.indptr.astype(idx)), shape=(m, n))
    M = np.zeros((m, n), bool)
    M[r, c] = True
    return A, M


BLOCKS = st.sampled_from([(64, 64), (8, 32), (3, 32), (16, 64)])


@relaxed
@given(pm=patterns(max_n=150), blocks=BLOCKS, causal=st.booleans())
def test_block_pattern_equals_the_element_pattern(pm, blocks, causal):
    P, M = pm
    n = M.shape[0]
    if causal:
        M = M & np.tril(np.ones((n, n), bool))
    bp = at.block_pattern(P, causal=causal, block_q=blocks[0], block_k=blocks[1])
    assert bp.shape == M.shape and bp.nnz == M.sum()
    C = bp.tocsr()
    assert C.has_canonical_format
    assert np.array_equal(C.toarray() != 0, M)
    _check_tiles(bp, M)
    T = bp.transposed()     # what the GPU backward's dK/dV kernel walks
    assert (T.block_q, T.block_k) == blocks and T.nnz == bp.nnz
    assert np.array_equal(T.tocsr().toarray() != 0, M.T)
    _check_tiles(T, M.T)


def _check_tiles(bp, M):
    """Every tile's keys exist, ascending; full tiles are full; every kept element is in a tile."""
    m, n = M.shape
    BQ, BK = bp.block_q, bp.block_k
    assert bp.tile_ptr[0] == 0 and bp.tile_ptr[-1] == bp.ntiles
    assert np.all(np.diff(bp.tile_ptr) >= 0)
    covered = np.zeros_like(M)
    for b in range(bp.tile_ptr.size - 1):
        r0, r1 = b * BQ, min(m, (b + 1) * BQ)
        seen = []
        for t in range(bp.tile_ptr[b], bp.tile_ptr[b + 1]):
            keys = bp.tile_keys[t]
            valid = keys[keys >= 0]
            assert valid.size and np.all(np.diff(valid) > 0) and valid[-1] < n
            assert np.all(keys[valid.size:] == -1)
            seen.extend(valid.tolist())
            if bp.tile_mask[t] < 0:
                assert valid.size == BK and M[r0:r1][:, valid].all()
            covered[r0:r1, valid] = True
        assert len(seen) == len(set(seen))   # no key in two tiles of a block
    assert not (M & ~covered).any()
    assert sorted(np.argsort(-np.diff(bp.tile_ptr), kind="stable")) == sorted(bp.order)
    assert np.array_equal(np.sort(bp.order), np.arange(bp.tile_ptr.size - 1))


@relaxed
@given(pm=random_csr(), blocks=BLOCKS)
def test_block_pattern_of_any_csr(pm, blocks):
    A, M = pm
    bp = at.block_pattern(A, block_q=blocks[0], block_k=blocks[1])
    assert np.array_equal(bp.tocsr().toarray() != 0, M)
    _check_tiles(bp, M)
    assert np.array_equal(bp.transposed().tocsr().toarray() != 0, M.T)
    _check_tiles(bp.transposed(), M.T)
    bp2 = at.block_pattern(spla.csr_array(A), block_q=blocks[0], block_k=blocks[1])
    assert np.array_equal(bp2.tile_keys, bp.tile_keys) and np.array_equal(bp2.masks, bp.masks)


def test_block_pattern_tiles_of_known_patterns():
    # a window of w = 128 over 64-row blocks: key blocks b-1, b, b+1 full, b-2, b+2 partial
    bp = at.block_pattern(at.local_pattern(1024, 256))
    assert np.diff(bp.tile_ptr).max() == 5 and bp.nfull == 3 * 16 - 2
    # strided keys are packed: 1024 / 8 = 128 keys -> 2 full tiles per query block
    bp = at.block_pattern(at.strided_pattern(1024, 8))
    assert np.all(np.diff(bp.tile_ptr) == 2) and bp.nfull == bp.ntiles
    assert bp.tile_density() == 1.0
    # global tokens 0..63 form one full tile for every query block
    bp = at.block_pattern(at.global_local_pattern(512, 0, np.arange(64)))
    assert np.all(bp.tile_keys[bp.tile_ptr[:-1]] == np.arange(64)) and bp.tile_mask[0] == -1
    assert at.block_pattern(bp) is bp


def test_block_pattern_validation():
    P = at.local_pattern(10, 2)
    with pytest.raises(ValueError, match="block_k"):
        at.block_pattern(P, block_k=48)
    with pytest.raises(ValueError, match="block_k"):
        at.block_pattern(P, block_k=16)
    with pytest.raises(ValueError, match="block_q"):
        at.block_pattern(P, block_q=0)
    with pytest.raises(TypeError, match="pattern"):
        at.block_pattern(np.ones((4, 4)))


@relaxed
@given(pm=patterns(max_n=70), seed=st.integers(0, 2**32 - 1), lead=st.sampled_from([(), (2,), (1, 3)]),
       blocks=BLOCKS, d=st.integers(1, 9), big=st.booleans())
def test_forward_and_lse_with_a_block_pattern(pm, seed, lead, blocks, d, big):
    P, M = pm
    n = M.shape[0]
    rng = np.random.default_rng(seed)
    Q, K, V = (rng.standard_normal(lead + (n, d)) for _ in range(3))
    if big:
        Q *= 300.0   # logits in the thousands: exp overflows without the max
    bp = at.block_pattern(P, block_q=blocks[0], block_k=blocks[1])
    scale = 1 / np.sqrt(d)
    ref = dense_attention(Q, K, V, M)
    np.testing.assert_allclose(at.sparse_attention(Q, K, V, bp), ref, rtol=1e-9, atol=1e-9)
    out, lse = at.sparse_attention_forward(Q, K, V, bp)
    assert out.dtype == lse.dtype == np.float64 and lse.shape == lead + (n,)
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lse, dense_lse(Q, K, M, scale), rtol=1e-12, atol=1e-9)
    assert np.all(np.isneginf(lse[..., ~M.any(axis=1)]))


@relaxed
@given(pm=patterns(max_n=40), seed=st.integers(0, 2**32 - 1), d=st.integers(1, 6),
       scale=st.sampled_from([None, 0.3]))
def test_backward_matches_the_dense_gradient(pm, seed, d, scale):
    P, M = pm
    n = M.shape[0]
    rng = np.random.default_rng(seed)
    Q, K, V, dO = (rng.standard_normal((2, n, d)) for _ in range(4))
    out, lse = at.sparse_attention_forward(Q, K, V, P, scale=scale)
    got = at.sparse_attention_backward(dO, Q, K, V, at.block_pattern(P), out, lse, scale=scale)
    ref = dense_grads(dO, Q, K, V, M, 1 / np.sqrt(d) if scale is None else scale)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-10)


def test_backward_against_finite_differences():
    rng = np.random.default_rng(1)
    n, d = 9, 3
    P = at.global_local_pattern(n, 2, [4], causal=True)
    Q, K, V, dO = (rng.standard_normal((n, d)) for _ in range(4))
    out, lse = at.sparse_attention_forward(Q, K, V, P)
    grads = at.sparse_attention_backward(dO, Q, K, V, P, out, lse)
    eps = 1e-6
    for which, g in enumerate(grads):
        X = [Q, K, V][which]
        num = np.zeros_like(X)
        for idx in np.ndindex(X.shape):
            args = [Q.copy(), K.copy(), V.copy()]
            args[which][idx] += eps
            up = (at.sparse_attention(*args, P) * dO).sum()
            args[which][idx] -= 2 * eps
            down = (at.sparse_attention(*args, P) * dO).sum()
            num[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)


def test_backward_sums_broadcast_operands():
    rng = np.random.default_rng(2)
    P = at.local_pattern(12, 4)
    Q = rng.standard_normal((3, 12, 4))
    K, V = rng.standard_normal((12, 4)), rng.standard_normal((1, 12, 4))
    dO = rng.standard_normal((3, 12, 4))
    out, lse = at.sparse_attention_forward(Q, K, V, P)
    dQ, dK, dV = at.sparse_attention_backward(dO, Q, K, V, P, out, lse)
    assert dQ.shape == Q.shape and dK.shape == K.shape and dV.shape == V.shape
    M = mask_of(P)
    ref = dense_grads(dO, Q, np.broadcast_to(K, Q.shape), np.broadcast_to(V, Q.shape), M, 0.5)
    np.testing.assert_allclose(dK, ref[1].sum(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dV, ref[2].sum(0, keepdims=True), rtol=1e-9, atol=1e-12)


def test_precision_tf32_on_the_cpu():
    """precision="tf32" is a permission for the GPU's float32 kernel: the CPU path
    computes as before; other values raise ValueError before any work."""
    rng = np.random.default_rng(0)
    Q, K, V = (rng.standard_normal((2, 9, 4)) for _ in range(3))
    P = at.local_pattern(9, 2, causal=True)
    for fn in (at.sparse_attention, at.sparse_attention_forward):
        exact = fn(Q, K, V, P)
        for precision in ("tf32", "exact", None):
            got = fn(Q, K, V, P, precision=precision)
            for a, b in zip(*(x if isinstance(x, tuple) else (x,) for x in (exact, got))):
                assert np.array_equal(a, b)
        for bad in ("TF32", "fp32", "", 32, True, ["tf32"]):
            with pytest.raises(ValueError, match="precision"):
                fn(Q, K, V, P, precision=bad)
