"""BlockPattern.pair_tiles (the merged tile lists of query blocks 2p and 2p + 1 that
the GPU kernel attn_fwd_wg2 walks) and a NumPy model of that kernel's walk: its
ring of K/V stages (which stage each product reads, which one each entry's load
overwrites, which products are in flight) and each warpgroup's skips, masks and
online softmax, against the dense float64 reference. No GPU needed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spla import attention as at

from test_attention import dense_attention, patterns
from test_attention_block import random_csr

relaxed = settings(deadline=None, max_examples=60)


def _tile_bits(bp, t):
    """(block_q, block_k) bool: which (query row, key slot) of tile t the pattern keeps."""
    BQ, BK = bp.block_q, bp.block_k
    if bp.tile_mask[t] < 0:
        return np.broadcast_to(bp.tile_keys[t] >= 0, (BQ, BK))
    words = bp.masks[bp.tile_mask[t]]
    return (((words[..., None] >> np.arange(32, dtype=np.uint32)) & 1)
            .reshape(BQ, BK).astype(bool))


def _check_pairs(bp):
    pair_ptr, pair_tiles, order = bp.pair_tiles()
    nqb = bp.tile_ptr.size - 1
    npairs = -(-nqb // 2)
    assert pair_ptr.dtype == pair_tiles.dtype == order.dtype == np.int32
    assert pair_ptr.shape == (npairs + 1,) and pair_ptr[0] == 0
    assert pair_tiles.shape == (pair_ptr[-1], 2)
    assert sorted(order.tolist()) == list(range(npairs))
    assert np.all(np.diff(np.diff(pair_ptr)[order]) <= 0)
    for p in range(npairs):
        ent = pair_tiles[pair_ptr[p]:pair_ptr[p + 1]]
        assert np.all((ent[:, 0] >= 0) | (ent[:, 1] >= 0))
        for w in (0, 1):
            b = 2 * p + w
            own = ent[:, w][ent[:, w] >= 0].tolist()
            want = list(range(bp.tile_ptr[b], bp.tile_ptr[b + 1])) if b < nqb else []
            assert own == want            # each block's tiles once, in its order
        both = (ent[:, 0] >= 0) & (ent[:, 1] >= 0)
        for ta, tb in ent[both]:
            assert np.array_equal(bp.tile_keys[ta], bp.tile_keys[tb])
    return pair_ptr, pair_tiles, order


def _model_wg2(Q, K, V, bp, scale, stages):
    """attn_fwd_wg2's schedule in NumPy (float64): the ring of `stages` stages holds
    key lists; each read is checked against the keys its warpgroup's tile needs,
    and no stage is overwritten while a product that reads it is in flight."""
    m, D = Q.shape
    BQ, BK = bp.block_q, bp.block_k
    ahead = stages - 2
    pair_ptr, pair_tiles, _ = bp.pair_tiles()
    out = np.zeros((m, D))
    lse = np.full(m, -np.inf)
    loads = 0
    for p in range(pair_ptr.size - 1):
        ent = pair_tiles[pair_ptr[p]:pair_ptr[p + 1]]
        ne = len(ent)
        ring = [None] * stages
        keys_of = lambda e: bp.tile_keys[ent[e][0] if ent[e][0] >= 0 else ent[e][1]]

        def load(e):
            ring[e % stages] = keys_of(e).copy()

        for j in range(min(ahead, ne)):
            load(j)
            loads += 1
        state = []
        for w in (0, 1):
            q0 = (2 * p + w) * BQ
            rows = np.arange(q0, q0 + BQ)
            Qw = np.where((rows < m)[:, None], Q[np.minimum(rows, max(m - 1, 0))] if m else 0, 0)
            state.append(dict(q=Qw, acc=np.zeros((BQ, D)), mx=np.full(BQ, -np.inf),
                              sm=np.zeros(BQ), pend=None))

        def pv(stw, stage, want):
            assert np.array_equal(ring[stage], want)          # V of the pending tile
            keys = ring[stage]
            Vt = np.where((keys >= 0)[:, None], V[np.maximum(keys, 0)], 0)
            stw["acc"] += stw["pend"][1] @ Vt
            stw["pend"] = None

        for i in range(ne):
            wstage = (i + ahead) % stages if i + ahead < ne else None
            for w in (0, 1):
                stw, it = state[w], ent[i][w]
                if it >= 0:
                    assert np.array_equal(ring[i % stages], bp.tile_keys[it])   # K of tile it
                    in_flight = {i % stages}
                    if stw["pend"] is not None:
                        in_flight.add((i - 1) % stages)
                    assert wstage not in in_flight
                    keys = ring[i % stages]
                    Kt = np.where((keys >= 0)[:, None], K[np.maximum(keys, 0)], 0)
                    S = (stw["q"] @ Kt.T) * scale
                    S = np.where(_tile_bits(bp, it), S, -np.inf)
                    new = np.maximum(stw["mx"], S.max(axis=1))
                    b = np.where(np.isfinite(new), new, 0)
                    corr = np.exp(stw["mx"] - b)
                    P = np.exp(S - b[:, None])
                    stw["sm"] = stw["sm"] * corr + P.sum(axis=1)
                    stw["mx"] = new
                    if stw["pend"] is not None:
                        pv(stw, (i - 1) % stages, stw["pend"][0])
                    stw["acc"] *= corr[:, None]
                    stw["pend"] = (bp.tile_keys[it], P)
                elif stw["pend"] is not None:
                    assert wstage != (i - 1) % stages
                    pv(stw, (i - 1) % stages, stw["pend"][0])
            if wstage is not None:
                load(i + ahead)
                loads += 1
        for w in (0, 1):
            stw = state[w]
            if stw["pend"] is not None:
                pv(stw, (ne - 1) % stages, stw["pend"][0])
            q0 = (2 * p + w) * BQ
            r = slice(q0, min(q0 + BQ, m))
            k = max(0, min(q0 + BQ, m) - q0)
            tot = stw["sm"][:k]
            out[r] = np.where(tot[:, None] > 0, stw["acc"][:k] / np.where(tot > 0, tot, 1)[:, None], 0)
            with np.errstate(divide="ignore"):
                lse[r] = np.where(tot > 0, stw["mx"][:k] + np.log(np.where(tot > 0, tot, 1)), -np.inf)
    return out, lse, loads


def _check_model(P, M, seed=0, d=8):
    bp = at.block_pattern(P)
    _check_pairs(bp)
    m, n = M.shape
    rng = np.random.default_rng(seed)
    Q, K, V = rng.standard_normal((m, d)), rng.standard_normal((n, d)), rng.standard_normal((n, d))
    scale = 1 / np.sqrt(d)
    ref = dense_attention(Q, K, V, M, scale)
    for stages in (3, 4):
        out, lse, loads = _model_wg2(Q, K, V, bp, scale, stages)
        np.testing.assert_allclose(out, ref, atol=1e-12, rtol=1e-10)
        S = np.where(M, Q @ K.T * scale, -np.inf)
        mx = S.max(axis=1, initial=-np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            want = np.where(M.any(axis=1), mx + np.log(np.exp(S - np.where(np.isfinite(mx), mx, 0)[:, None]).sum(axis=1)), -np.inf)
        np.testing.assert_allclose(lse, want, atol=1e-12, rtol=1e-10)
        assert loads == bp.pair_tiles()[1].shape[0] <= bp.ntiles
    return bp


@relaxed
@given(pm=patterns(max_n=300), seed=st.integers(0, 2**31 - 1))
def test_wg2_walk_model_matches_dense(pm, seed):
    P, M = pm
    _check_model(P, M, seed)


@relaxed
@given(pm=random_csr(max_n=200))
def test_wg2_walk_model_of_any_csr(pm):
    A, M = pm
    _check_model(A, M)


@pytest.mark.parametrize("n,w", [(1000, 256), (1000, 1024), (129, 100), (7, 4), (1, 0)])
def test_wg2_walk_model_local(n, w):
    bp = _check_model(at.local_pattern(n, w), np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= w // 2)
    assert bp.pair_tiles()[1].shape[0] <= bp.ntiles


def test_pair_tiles_share_the_loads_of_local_windows():
    """Adjacent 64-query blocks of a sliding window share all but one key tile:
    the merged walk loads about half the tiles attn_fwd_wg loads."""
    n, w = 16384, 1024
    bp = at.block_pattern(at.local_pattern(n, w))
    pair_ptr, pair_tiles, _ = _check_pairs(bp)
    both = np.count_nonzero((pair_tiles >= 0).all(axis=1))
    assert pair_tiles.shape[0] == bp.ntiles - both
    inner = np.diff(pair_ptr)[1:-1]
    per_block = np.diff(bp.tile_ptr)[2:-2]
    assert inner.max() == per_block.max() + 1     # one tile of each block is its own


def test_pair_tiles_odd_and_empty():
    bp = at.block_pattern(at.local_pattern(64 * 3 - 5, 64))     # 3 query blocks
    pair_ptr, pair_tiles, order = _check_pairs(bp)
    assert pair_ptr.size == 3
    last = pair_tiles[pair_ptr[1]:pair_ptr[2]]
    assert np.all(last[:, 1] == -1) and np.all(last[:, 0] >= 0)
    bp0 = at.block_pattern(at.local_pattern(0, 4))
    pair_ptr, pair_tiles, order = bp0.pair_tiles()
    assert pair_ptr.tolist() == [0] and pair_tiles.shape == (0, 2) and order.size == 0
