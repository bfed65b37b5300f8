"""spla.attention against dense references built from the formulas of the notes."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla import attention as at
from spla.testing import assert_allclose

relaxed = settings(deadline=None)


# -- dense references ----------------------------------------------------------------------


def local_mask(n, w, causal):
    i, j = np.indices((n, n))
    M = np.abs(i - j) <= w / 2
    return M & (j <= i) if causal else M


def strided_mask(n, s, causal):
    i, j = np.indices((n, n))
    M = j % s == 0
    return M & (j <= i) if causal else M


def global_local_mask(n, w, G, causal):
    i, j = np.indices((n, n))
    G = np.asarray(G, dtype=np.int64)
    M = (np.abs(i - j) <= w / 2) | np.isin(i, G) | np.isin(j, G)
    return M & (j <= i) if causal else M


def dense_attention(Q, K, V, M, scale=None):
    """Masked softmax attention in float64, stable (max subtracted), empty rows -> 0."""
    scale = 1 / np.sqrt(Q.shape[-1]) if scale is None else scale
    S = (Q @ np.swapaxes(K, -1, -2)) * scale
    S = np.where(M, S, -np.inf)
    mx = S.max(axis=-1, keepdims=True, initial=-np.inf)
    mx = np.where(np.isfinite(mx), mx, 0)
    E = np.where(M, np.exp(S - mx), 0)
    tot = E.sum(axis=-1, keepdims=True)
    return np.where(tot > 0, (E @ V) / np.where(tot > 0, tot, 1), 0)


def mask_of(P):
    if isinstance(P, spla.banded_array):
        M = np.zeros(P.shape, dtype=bool)
        for k in P.offsets:
            for i in range(P.shape[0]):
                if 0 <= i + k < P.shape[1]:
                    M[i, i + k] = True
        return M
    C = spla.csr_array(P)
    M = np.zeros(C.shape, dtype=bool)
    for i in range(C.shape[0]):
        M[i, C.indices[C.indptr[i]:C.indptr[i + 1]]] = True
    return M


@st.composite
def patterns(draw, max_n=24):
    n = draw(st.integers(0, max_n))
    causal = draw(st.booleans())
    kind = draw(st.sampled_from(["local", "strided", "global_local"]))
    if kind == "local":
        w = draw(st.integers(0, 2 * max_n + 2))
        return at.local_pattern(n, w, causal), local_mask(n, w, causal)
    if kind == "strided":
        s = draw(st.integers(1, max_n + 2))
        return at.strided_pattern(n, s, causal), strided_mask(n, s, causal)
    w = draw(st.integers(0, 2 * max_n + 2))
    G = draw(st.lists(st.integers(0, n - 1), max_size=4)) if n else []
    return at.global_local_pattern(n, w, G, causal), global_local_mask(n, w, G, causal)


# -- patterns --------------------------------------------------------------------------------


@relaxed
@given(n=st.integers(0, 40), w=st.integers(0, 90), causal=st.booleans())
def test_local_pattern(n, w, causal):
    P = at.local_pattern(n, w, causal)
    assert isinstance(P, spla.banded_array) and P.shape == (n, n)
    assert np.array_equal(P.toarray() != 0, local_mask(n, w, causal))
    h = w // 2
    if n > 2 * h:  # a query away from both ends has the documented count
        i = h
        assert mask_of(P)[i].sum() == (h + 1 if causal else 2 * h + 1)


@relaxed
@given(n=st.integers(0, 40), s=st.integers(1, 45), causal=st.booleans())
def test_strided_pattern(n, s, causal):
    P = at.strided_pattern(n, s, causal)
    assert isinstance(P, spla.csr_array) and P.has_canonical_format
    M = strided_mask(n, s, causal)
    assert np.array_equal(P.toarray() != 0, M)
    counts = np.diff(P.indptr)
    i = np.arange(n)
    assert np.array_equal(counts, i // s + 1 if causal else np.full(n, -(-n // s)))


@relaxed
@given(data=st.data(), n=st.integers(0, 40), w=st.integers(0, 20), causal=st.booleans())
def test_global_local_pattern(data, n, w, causal):
    G = data.draw(st.lists(st.integers(0, n - 1), max_size=6)) if n else []
    P = at.global_local_pattern(n, w, G, causal)
    assert isinstance(P, spla.csr_array) and P.has_canonical_format
    assert np.array_equal(P.toarray() != 0, global_local_mask(n, w, G, causal))
    counts = np.diff(P.indptr)
    for g in set(G):
        assert counts[g] == (g + 1 if causal else n)


def test_pattern_validation():
    with pytest.raises(ValueError, match="window"):
        at.local_pattern(4, -1)
    with pytest.raises(ValueError, match="stride"):
        at.strided_pattern(4, 0)
    with pytest.raises(TypeError, match="n must be an integer"):
        at.local_pattern(4.5, 2)
    with pytest.raises(ValueError, match="out of range"):
        at.global_local_pattern(4, 2, [4])
    with pytest.raises(ValueError, match="out of range"):
        at.global_local_pattern(4, 2, [-1])
    with pytest.raises(TypeError, match="integers"):
        at.global_local_pattern(4, 2, [0.5])


# -- SDDMM and softmax -------------------------------------------------------------------------


@relaxed
@given(pm=patterns(), d=st.integers(0, 5), dtype=st.sampled_from(
    ["float32", "float64", "complex64", "complex128"]), seed=st.integers(0, 999))
def test_sddmm_equals_sampled_dense_product(pm, d, dtype, seed):
    P, M = pm
    n = P.shape[0]
    rng = np.random.default_rng(seed)
    Q = rng.integers(-4, 5, (n, d)).astype(dtype)
    K = rng.integers(-4, 5, (n, d)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        Q = (Q + 1j * rng.integers(-4, 5, (n, d))).astype(dtype)
        K = (K - 1j * rng.integers(-4, 5, (n, d))).astype(dtype)
    S = at.sddmm(Q, K, P)
    assert type(S) is type(P) and S.dtype == np.dtype(dtype)
    assert S.nnz == P.nnz
    assert_allclose(S.toarray(), np.where(M, Q @ K.T, 0))


def test_sddmm_keeps_csr_structure_and_rectangular():
    rng = np.random.default_rng(0)
    P = sp.random_array((7, 9), density=0.3, rng=1)
    Q, K = rng.standard_normal((7, 3)), rng.standard_normal((9, 3))
    S = at.sddmm(Q, K, P)
    assert isinstance(S, spla.csr_array) and S.nnz == P.nnz
    assert_allclose(S.toarray(), np.where(P.toarray() != 0, Q @ K.T, 0))
    B = spla.banded_array((np.ones((2, 7)), [-1, 3]), shape=(7, 9))
    Sb = at.sddmm(Q, K, B)
    assert_allclose(Sb.toarray(), np.where(mask_of(B), Q @ K.T, 0))


@relaxed
@given(pm=patterns(), seed=st.integers(0, 999), big=st.booleans())
def test_softmax_equals_dense(pm, seed, big):
    P, M = pm
    n = P.shape[0]
    rng = np.random.default_rng(seed)
    Q, K = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
    if big:
        Q *= 1e3  # logits of ~1e3: exp overflows without the max subtracted
    S = at.sddmm(Q, K, P)
    R = at.softmax(S)
    assert type(R) is type(P)
    expected = dense_attention(Q, K, np.eye(n), M, scale=1.0)
    assert_allclose(R.toarray(), expected, atol=1e-15)
    rows = M.any(axis=1)
    assert_allclose(R.toarray().sum(axis=1)[rows], np.ones(rows.sum()))


def test_softmax_empty_rows_and_minus_inf():
    S = spla.csr_array((np.array([1.0, -np.inf, -np.inf, 5.0]), np.array([0, 0, 1, 2]),
                        np.array([0, 1, 1, 3, 4])), shape=(4, 3))
    R = at.softmax(S)
    assert_allclose(R.toarray(), np.array([[1.0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1.0]]))
    with pytest.raises(TypeError, match="real"):
        at.softmax(S.astype("complex128"))


# -- sparse attention --------------------------------------------------------------------------


@relaxed
@given(pm=patterns(), d=st.integers(1, 5), dv=st.integers(1, 4), lead=st.sampled_from(
    [(), (2,), (2, 3)]), seed=st.integers(0, 999), big=st.booleans())
def test_sparse_attention_equals_dense(pm, d, dv, lead, seed, big):
    P, M = pm
    n = P.shape[0]
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal(lead + (n, d))
    K = rng.standard_normal(lead + (n, d))
    V = rng.standard_normal(lead + (n, dv))
    if big:
        Q *= 3e3  # logits up to ~1e4: a softmax without the max subtracted overflows
    out = at.sparse_attention(Q, K, V, P)
    assert out.shape == lead + (n, dv)
    assert np.all(np.isfinite(out))
    assert_allclose(out, dense_attention(Q, K, V, M), rtol=1e-10, atol=1e-12)


def test_sparse_attention_one_key_per_row_and_broadcast_and_float32():
    rng = np.random.default_rng(0)
    n, d = 150, 8  # several row blocks
    Q, K, V = rng.standard_normal((n, d)), rng.standard_normal((n, d)), rng.standard_normal((n, 5))
    Qb = np.array([[800.0], [-800.0]])  # logits +-800: exp overflows, naively inf / inf
    Kb = np.array([[1.0], [1.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(Qb @ Kb.T)
        naive = naive / naive.sum(axis=1, keepdims=True)
    assert np.isnan(naive[0]).all()
    got = at.sparse_attention(Qb, Kb, np.array([[1.0], [3.0]]), at.local_pattern(2, 2), scale=1.0)
    assert_allclose(got, np.array([[2.0], [2.0]]))
    P = at.local_pattern(n, 0)  # one key per query: attention returns V
    assert_allclose(at.sparse_attention(Q * 1e6, K, V, P), V)
    Ph = rng.standard_normal((4, 1, n, d))  # heads broadcast against one K, V
    out = at.sparse_attention(Ph, K, V, at.local_pattern(n, 6, causal=True))
    assert out.shape == (4, 1, n, 5)
    assert_allclose(out, dense_attention(Ph, K, V, local_mask(n, 6, True)))
    f = at.sparse_attention(Q.astype("float32"), K.astype("float32"), V.astype("float32"),
                            at.strided_pattern(n, 7))
    assert f.dtype == np.float32
    assert_allclose(f, dense_attention(Q, K, V, strided_mask(n, 7, False)), rtol=1e-4, atol=1e-5)
    scaled = at.sparse_attention(Q, K, V, P := at.global_local_pattern(n, 10, [0, 99]), scale=0.3)
    assert_allclose(scaled, dense_attention(Q, K, V, mask_of(P), scale=0.3))
    # a banded pattern whose offsets are not contiguous (no sliding window)
    B = spla.banded_array((np.ones((3, n)), [-70, 0, 3]), shape=(n, n))
    assert_allclose(at.sparse_attention(Ph, K, V, B), dense_attention(Ph, K, V, mask_of(B)))
    # a CSR pattern with empty rows, duplicates and explicit zeros
    C = spla.csr_array((np.array([0.0, 1.0, 1.0]), np.array([2, 2, 0]),
                        np.array([0, 0, 3] + [3] * (n - 2))), shape=(n, n))
    got = at.sparse_attention(Q, K, V, C)
    assert_allclose(got, dense_attention(Q, K, V, mask_of(C)))
    assert np.all(got[0] == 0)


def test_sparse_attention_validation():
    Q = np.ones((4, 2))
    P = at.local_pattern(4, 2)
    with pytest.raises(ValueError, match="do not fit"):
        at.sparse_attention(Q, Q, np.ones((3, 2)), P)
    with pytest.raises(ValueError, match="last dimension"):
        at.sparse_attention(Q, np.ones((4, 3)), Q, P)
    with pytest.raises(ValueError, match="broadcast"):
        at.sparse_attention(np.ones((2, 4, 2)), np.ones((3, 4, 2)), Q, P)
    with pytest.raises(TypeError, match="real"):
        at.sparse_attention(Q + 1j, Q, Q, P)
    with pytest.raises(TypeError, match="pattern"):
        at.sparse_attention(Q, Q, Q, np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"\(\.\.\., n, d\)"):
        at.sparse_attention(np.ones(4), Q, Q, P)
    with pytest.raises(ValueError, match="do not fit"):
        at.sddmm(Q, np.ones((5, 2)), P)


# -- linear attention ----------------------------------------------------------------------------


def naive_linear(fq, fk, V, causal):
    A = fq @ np.swapaxes(fk, -1, -2)
    if causal:
        A = np.tril(A)
    den = A.sum(axis=-1, keepdims=True)
    return np.where(den != 0, (A @ V) / np.where(den != 0, den, 1), 0)


@relaxed
@given(n=st.integers(1, 40), d=st.integers(1, 6), dv=st.integers(1, 4),
       fmap=st.sampled_from(["elu", "relu", "random"]), causal=st.booleans(),
       lead=st.sampled_from([(), (2,), (2, 2)]), chunk=st.integers(1, 16),
       seed=st.integers(0, 999))
def test_linear_attention_equals_naive(n, d, dv, fmap, causal, lead, chunk, seed):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal(lead + (n, d))
    K = rng.standard_normal(lead + (n, d))
    V = rng.standard_normal(lead + (n, dv))
    D = 16
    out = at.linear_attention(Q, K, V, fmap, causal=causal, num_features=D, seed=seed,
                              chunk=chunk)
    W = at.random_projection(d, D, seed) if fmap == "random" else None
    fq, fk = at.feature_map(Q, fmap, W), at.feature_map(K, fmap, W)
    assert out.shape == lead + (n, dv)
    assert_allclose(out, naive_linear(fq, fk, V, causal), rtol=1e-9, atol=1e-12)


def test_linear_attention_float32_and_validation():
    rng = np.random.default_rng(0)
    Q, K, V = (rng.standard_normal((30, 4)).astype("float32") for _ in range(3))
    out = at.linear_attention(Q, K, V, causal=True)
    assert out.dtype == np.float32
    ref = naive_linear(at.feature_map(Q.astype(float)), at.feature_map(K.astype(float)), V, True)
    assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="feature map"):
        at.linear_attention(Q, K, V, "softmax")
    with pytest.raises(ValueError, match="causal"):
        at.linear_attention(Q[:5], K, V, causal=True)
    with pytest.raises(ValueError, match="projection"):
        at.feature_map(Q, "random")
    with pytest.raises(ValueError, match="feature map"):
        at.feature_map(Q, "tanh")
    with pytest.raises(ValueError, match="num_features"):
        at.linear_attention(Q, K, V, "random", num_features=0)


def test_random_features_error_shrinks_with_D():
    n, d = 32, 8
    errors = []
    features = [16, 64, 256, 1024]
    for D in features:
        errs = []
        for seed in range(12):
            rng = np.random.default_rng(1000 + seed)
            Q = 0.7 * rng.standard_normal((n, d))
            K = 0.7 * rng.standard_normal((n, d))
            W = at.random_projection(d, D, seed)
            exact = np.exp(Q @ K.T / np.sqrt(d))
            approx = at.feature_map(Q, "random", W) @ at.feature_map(K, "random", W).T
            errs.append(np.linalg.norm(approx - exact) / np.linalg.norm(exact))
        errors.append(float(np.mean(errs)))
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    # Monte Carlo: error ~ 1 / sqrt(D), i.e. about 8x smaller from 16 to 1024
    assert errors[-1] < errors[0] / 4, errors
