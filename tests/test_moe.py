"""spla.moe: top-k routing, the load-balancing loss (and the correction of the notes'
Theorem 4), sparse expert dispatch against the dense sum, parameter counts."""

import doctest
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla import moe

from _util import eps

DTYPES = [np.float32, np.float64]


@st.composite
def router_logits(draw, max_tokens=12, max_experts=9):
    """(logits, k): ties frequent (values from a small grid), some rows all equal,
    float32/float64, sometimes a non-contiguous view."""
    T = draw(st.integers(0, max_tokens))
    N = draw(st.integers(1, max_experts))
    k = draw(st.integers(1, N))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    style = draw(st.sampled_from(["grid", "normal", "equal"]))
    if style == "grid":
        L = rng.integers(-2, 3, size=(T, N)) / 2.0
    elif style == "normal":
        L = 3 * rng.standard_normal((T, N))
    else:
        L = np.full((T, N), 0.25)
    L = L.astype(dtype)
    if draw(st.booleans()):  # non-contiguous: a column-reversed view of a wider array
        wide = np.zeros((T, 2 * N), dtype=dtype)
        wide[:, ::2] = L[:, ::-1]
        L = wide[:, ::2][:, ::-1]
    return L, k


def _ref_route(L, k):
    """Top-k experts per row by (-logit, index), and float64 softmax probabilities."""
    L64 = np.asarray(L, dtype=np.float64)
    rows = []
    for r in L64:
        order = sorted(range(r.size), key=lambda j: (-r[j], j))[:k]
        z = [math.exp(v - r.max()) for v in r]
        s = math.fsum(z)
        rows.append((sorted(order), [z[j] / s for j in range(r.size)]))
    return rows


@given(router_logits(), st.booleans())
def test_topk_route_matches_reference(case, normalize):
    L, k = case
    T, N = L.shape
    G = moe.topk_route(L, k, normalize=normalize)
    assert isinstance(G, spla.csr_array) and G.shape == (T, N)
    assert G.has_canonical_format and G.nnz == T * k
    np.testing.assert_array_equal(np.diff(G.indptr), np.full(T, k))
    assert G.dtype == (np.float32 if L.dtype == np.float32 else np.float64)
    tol = 8 * eps(G.dtype) * N
    for t, (cols, p) in enumerate(_ref_route(L, k)):
        got_cols = G.indices[G.indptr[t]:G.indptr[t + 1]]
        np.testing.assert_array_equal(got_cols, cols)
        want = np.array([p[j] for j in cols])
        if normalize:
            want = want / want.sum()
        np.testing.assert_allclose(G.data[G.indptr[t]:G.indptr[t + 1]], want, rtol=tol, atol=tol)
    if normalize and T:
        np.testing.assert_allclose(G.sum(axis=1), 1.0, rtol=tol)


def test_topk_route_ties_and_edges():
    G = moe.topk_route(np.zeros((3, 5)), 2)
    np.testing.assert_array_equal(G.indices, [0, 1] * 3)          # ties: lower index
    np.testing.assert_allclose(G.data, 0.2)
    G = moe.topk_route(np.array([[1.0, 3.0, 3.0, 2.0]]), 2)
    np.testing.assert_array_equal(G.indices, [1, 2])
    G = moe.topk_route(np.array([[1.0, 3.0, 2.0, 3.0]]), 1)
    np.testing.assert_array_equal(G.indices, [1])
    # k = N keeps everything: the dense softmax
    L = np.random.default_rng(1).standard_normal((4, 3))
    D = moe.topk_route(L, 3).toarray()
    E = np.exp(L - L.max(1, keepdims=True))
    np.testing.assert_allclose(D, E / E.sum(1, keepdims=True), rtol=1e-14)
    # 0 tokens
    G = moe.topk_route(np.zeros((0, 4)), 2)
    assert G.shape == (0, 4) and G.nnz == 0
    # a probability that underflows stays stored: the structure is the routing
    G = moe.topk_route(np.array([[0.0, -1e4]]), 2)
    assert G.nnz == 2 and G.data[1] == 0.0
    # normalize=True: the softmax over the kept logits
    G = moe.topk_route(np.array([[-1e4, 1.0, 0.0]]), 2, normalize=True)
    np.testing.assert_array_equal(G.indices, [1, 2])
    np.testing.assert_allclose(G.data, [1 / (1 + math.e ** -1), 1 - 1 / (1 + math.e ** -1)],
                               rtol=1e-15)
    # integer logits
    assert moe.topk_route(np.array([[1, 2]]), 1).indices.tolist() == [1]


def test_topk_route_validation():
    with pytest.raises(ValueError, match="k"):
        moe.topk_route(np.zeros((2, 3)), 4)
    with pytest.raises(ValueError, match="k"):
        moe.topk_route(np.zeros((2, 3)), 0)
    with pytest.raises(TypeError, match="k"):
        moe.topk_route(np.zeros((2, 3)), 1.5)
    with pytest.raises(ValueError, match="2-D"):
        moe.topk_route(np.zeros(3), 1)
    with pytest.raises(ValueError, match="finite"):
        moe.topk_route(np.array([[0.0, np.nan]]), 1)
    with pytest.raises(TypeError, match="real"):
        moe.topk_route(np.zeros((2, 2), dtype=complex), 1)
    with pytest.raises(TypeError, match="dense"):
        moe.topk_route(spla.csr_array(np.eye(2)), 1)


# -- load balancing -------------------------------------------------------------------


@given(router_logits(), st.floats(0.001, 1.0))
def test_load_balancing_loss_matches_definition(case, alpha):
    L, k = case
    T, N = L.shape
    if T == 0:
        with pytest.raises(ValueError, match="token"):
            moe.load_balancing_loss(L, k)
        return
    routes = _ref_route(L, k)
    f = np.zeros(N)
    P = np.zeros(N)
    for cols, p in routes:
        f[cols] += 1.0 / (T * k)
        P += np.array(p) / T
    want = alpha * N * float(f @ P)
    got_f, got_P = moe.routing_statistics(L, k)
    np.testing.assert_allclose(got_f, f, rtol=1e-12)
    np.testing.assert_allclose(got_P, P, rtol=1e-6)
    assert moe.load_balancing_loss(L, k, alpha) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("N, k", [(2, 1), (8, 2), (64, 8)])
def test_uniform_routing_gives_alpha(N, k):
    # N tokens whose logits route token t to experts t..t+k-1 (mod N) with equal
    # probability mass over the rows: f = P = 1/N.
    T = N
    L = np.zeros((T, N))
    for t in range(T):
        L[t, [(t + j) % N for j in range(k)]] = 1.0
    f, P = moe.routing_statistics(L, k)
    np.testing.assert_allclose(f, 1 / N, rtol=1e-12)
    np.testing.assert_allclose(P, 1 / N, rtol=1e-12)
    assert moe.load_balancing_loss(L, k, alpha=0.03) == pytest.approx(0.03, rel=1e-12)


def test_theorem4_minimiser_claim_is_false():
    """The notes' Theorem 4: 'the loss is minimised at f_i = P_i = 1/N'. False."""
    alpha = 0.01
    # (a) f and P free on the simplex: N sum f P reaches 0.
    f, P = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert alpha * 2 * f @ P == 0.0 < alpha
    # (b) even for a routing that real logits produce (k = 1): three tokens lean
    # slightly to expert 0, one is sure of expert 1.
    L = np.array([[1e-3, 0.0]] * 3 + [[-30.0, 0.0]])
    f, P = moe.routing_statistics(L, 1)
    np.testing.assert_allclose(f, [0.75, 0.25])
    loss = moe.load_balancing_loss(L, 1, alpha)
    assert loss == pytest.approx(alpha * 2 * (0.75 * 0.375 + 0.25 * 0.625), rel=1e-3)
    assert loss < 0.88 * alpha                    # below the value at uniform (alpha)
    uniform = moe.load_balancing_loss(np.array([[1.0, 0.0], [0.0, 1.0]]), 1, alpha)
    assert uniform == pytest.approx(alpha) and loss < uniform
    # the minimum over this family f = (a, 1 - a), P ~ (a/2, 1 - a/2) is 2a^2 - 3a + 2
    # at a = 3/4: 7/8 of alpha.
    assert loss / alpha == pytest.approx(7 / 8, abs=1e-3)


@given(st.integers(1, 50), st.integers(0, 2**32 - 1), st.sampled_from(["dirichlet", "onehot",
                                                                          "uniform", "near"]))
def test_theorem4_what_holds_for_f_equal_P(N, seed, kind):
    """For f = P on the simplex: N sum P^2 >= 1, with equality exactly at 1/N."""
    rng = np.random.default_rng(seed)
    if kind == "dirichlet":
        P = rng.dirichlet(np.full(N, 0.5))
    elif kind == "onehot":
        P = np.zeros(N)
        P[rng.integers(N)] = 1.0
    elif kind == "uniform":
        P = np.full(N, 1.0 / N)
    else:
        P = np.full(N, 1.0 / N) + 1e-3 * rng.standard_normal(N) / N
        P = np.abs(P) / np.abs(P).sum()
    value = N * float(P @ P)
    # Cauchy-Schwarz: 1 = (sum P)^2 <= N sum P^2; the gap is N * sum (P - 1/N)^2.
    gap = N * float(((P - 1.0 / N) ** 2).sum())
    assert value == pytest.approx(1.0 + gap, abs=1e-12)
    assert value >= 1.0 - 1e-12
    if np.allclose(P, 1.0 / N, rtol=0, atol=1e-15):
        assert value == pytest.approx(1.0, abs=1e-12)
    else:
        assert value > 1.0


def test_load_balancing_validation():
    with pytest.raises(ValueError, match="alpha"):
        moe.load_balancing_loss(np.zeros((2, 2)), 1, alpha=float("nan"))
    with pytest.raises(ValueError, match="token"):
        moe.routing_statistics(np.zeros((0, 2)), 1)


# -- moe_apply ------------------------------------------------------------------------


@st.composite
def moe_cases(draw):
    L, k = draw(router_logits(max_tokens=10, max_experts=6))
    T, N = L.shape
    d_in = draw(st.integers(1, 5))
    d_out = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((T, d_in)).astype(dtype)
    if draw(st.booleans()):
        x = np.asfortranarray(x)
    W = rng.standard_normal((N, d_in, d_out)).astype(dtype)
    return L, k, x, W, draw(st.booleans())


def _dense_moe(x, G, W):
    Gd = G.toarray().astype(np.float64)
    x64 = x.astype(np.float64)
    return sum(Gd[:, [i]] * (x64 @ W[i].astype(np.float64)) for i in range(W.shape[0]))


@given(moe_cases())
def test_moe_apply_equals_dense_sum(case):
    L, k, x, W, normalize = case
    G = moe.topk_route(L, k, normalize=normalize)
    ref = _dense_moe(x, G, W)
    y = moe.moe_apply(x, G, W)
    assert y.shape == ref.shape and y.dtype == np.result_type(x.dtype, G.dtype, W.dtype)
    # experts compute in their own precision (x @ W[i]); gates add G's
    tol = 16 * eps(np.result_type(x.dtype, W.dtype)) * (x.shape[1] + k + 1)
    scale = 1 + np.abs(x).max(initial=0) * np.abs(W).max(initial=0) * x.shape[1]
    np.testing.assert_allclose(y, ref, rtol=0, atol=tol * scale)

    # Callable experts: each runs at most once, on exactly its routed tokens.
    calls = {}

    def make(i):
        def expert(xs):
            assert i not in calls, f"expert {i} called twice"
            calls[i] = xs.copy()
            return xs @ W[i]
        return expert

    y2 = moe.moe_apply(x, G, [make(i) for i in range(W.shape[0])], out_features=W.shape[2])
    np.testing.assert_allclose(y2, y, rtol=0, atol=tol * scale)
    stored = G.tocsc()
    for i in range(W.shape[0]):
        tokens = stored.indices[stored.indptr[i]:stored.indptr[i + 1]]
        if tokens.size == 0:
            assert i not in calls
        else:
            assert np.unique(tokens).size == tokens.size
            np.testing.assert_array_equal(calls[i], x[np.sort(tokens)])
    assert sum(c.shape[0] for c in calls.values()) == G.nnz == x.shape[0] * k


def test_moe_apply_general_gating_matrices():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3))
    W = rng.standard_normal((4, 3, 2))
    # duplicates (summed), unsorted, a SciPy matrix, an explicit zero gate, an empty row
    G = spla.csr_array((np.array([0.5, 0.25, 0.25, 1.0, 0.0]), np.array([2, 0, 2, 3, 1]),
                        np.array([0, 3, 3, 4, 5, 5])), shape=(5, 4))
    ref = _dense_moe(x, G, W)
    np.testing.assert_allclose(moe.moe_apply(x, G, W), ref, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(moe.moe_apply(x, G.to_scipy(), W), ref, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(moe.moe_apply(x, sp.csr_array(G.toarray()), W), ref, rtol=1e-13)
    assert np.all(moe.moe_apply(x, G, W)[[1, 4]] == 0)
    # Non-linear callables against the dense sum over all experts
    experts = [lambda t, i=i: np.tanh(t @ W[i]) for i in range(4)]
    Gr = moe.topk_route(rng.standard_normal((5, 4)), 2)
    dense = sum(Gr.toarray()[:, [i]] * np.tanh(x @ W[i]) for i in range(4))
    np.testing.assert_allclose(moe.moe_apply(x, Gr, experts), dense, rtol=1e-13, atol=1e-15)
    # Nothing routed: zeros of the right width
    Z = spla.csr_array(np.zeros((5, 4)))
    assert moe.moe_apply(x, Z, W).shape == (5, 2)
    assert moe.moe_apply(x, Z, experts, out_features=2).shape == (5, 2)
    assert moe.moe_apply(x, Z, experts).shape == (5, 2)         # probes experts[0]
    assert moe.moe_apply(x[:0], moe.topk_route(np.zeros((0, 4)), 1), W).shape == (0, 2)


def test_moe_apply_validation():
    x = np.ones((3, 2))
    G = moe.topk_route(np.zeros((3, 2)), 1)
    W = np.ones((2, 2, 4))
    with pytest.raises(ValueError, match="tokens"):
        moe.moe_apply(np.ones((4, 2)), G, W)
    with pytest.raises(ValueError, match="shape"):
        moe.moe_apply(x, G, np.ones((3, 2, 4)))
    with pytest.raises(ValueError, match="experts"):
        moe.moe_apply(x, G, [lambda t: t])
    with pytest.raises(TypeError, match="callable"):
        moe.moe_apply(x, G, [lambda t: t, 3])
    with pytest.raises(ValueError, match="expert 0"):
        moe.moe_apply(x, G, [lambda t: t[:1], lambda t: t])
    with pytest.raises(TypeError, match="sparse"):
        moe.moe_apply(x, G.toarray(), W)
    with pytest.raises(ValueError, match="2-D"):
        moe.moe_apply(np.ones(3), G, W)
    with pytest.raises(TypeError, match="real"):
        moe.moe_apply(x, G.astype(np.complex128), W)


# -- parameter counts (Theorem 3) -----------------------------------------------------


def mixtral_8x7b_counts():
    """Mixtral 8x7B from its published configuration (params.json of the release:
    dim 4096, n_layers 32, head_dim 128, hidden_dim 14336, n_heads 32, n_kv_heads 8,
    vocab_size 32000, moe: num_experts 8, num_experts_per_tok 2; untied output head)."""
    dim, layers, head_dim, hidden, heads, kv_heads, vocab, experts = (
        4096, 32, 128, 14336, 32, 8, 32000, 8)
    attention = dim * heads * head_dim + 2 * dim * kv_heads * head_dim + heads * head_dim * dim
    norms = 2 * dim
    expert = 3 * dim * hidden                       # SwiGLU: w1, w2, w3
    router = dim * experts
    shared = layers * (attention + norms) + 2 * vocab * dim + dim   # embed, head, final norm
    return dict(router_params=layers * router, expert_params=layers * expert,
                n_experts=experts, k=2, shared_params=shared)


def test_mixtral_8x7b_parameter_counts():
    c = moe.param_counts(**mixtral_8x7b_counts())
    # Published: "46.7B total parameters but only uses 12.9B parameters per token".
    assert round(c.total / 1e9) == 47 and round(c.active / 1e9) == 13
    assert c.total / 1e9 == pytest.approx(46.7, abs=0.05)
    assert c.active / 1e9 == pytest.approx(12.9, abs=0.05)
    # A naive "8 x 7B = 56B" is wrong: only the FFNs are replicated.
    assert c.total < 8 * 7.2e9


def test_param_counts_formula_and_validation():
    c = moe.param_counts(7, 100, 16, 4, 1000)
    assert c == (1000 + 7 + 1600, 1000 + 7 + 400)
    assert moe.param_counts(0, 5, 3, 3) == (15, 15)   # k = N: active = total
    with pytest.raises(ValueError, match="k"):
        moe.param_counts(1, 1, 2, 3)
    with pytest.raises(ValueError, match=">= 0"):
        moe.param_counts(-1, 1, 2, 1)
    with pytest.raises(TypeError, match="integer"):
        moe.param_counts(1.5, 1, 2, 1)


def test_doctests():
    assert doctest.testmod(moe, optionflags=doctest.ELLIPSIS).failed == 0
