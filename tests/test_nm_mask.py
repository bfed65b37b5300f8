"""nm_mask and prune_nm: optimality (brute force), the tie rule, the N:M bound, axes."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import spla
from spla.testing._strategies_nm import nm_pairs

# A quarter of the profile's examples: these properties build many small arrays and
# the whole suite must stay within a few minutes (ci: 75, thorough: 750).
CHEAP = settings(max_examples=max(20, settings.default.max_examples // 4))

SMALL_PAIRS = st.sampled_from([(1, 2), (2, 4), (1, 4), (3, 4), (1, 3), (2, 5), (2, 6), (3, 6)])
ELEMENTS = st.one_of(st.integers(-4, 4).map(float), st.floats(-10, 10, allow_subnormal=False))


@st.composite
def matrices_and_pairs(draw, pairs=SMALL_PAIRS, max_rows=4, max_groups=3):
    n, m = draw(pairs)
    rows = draw(st.integers(0, max_rows))
    cols = draw(st.integers(0, max_groups * m))
    W = draw(hnp.arrays(np.float64, (rows, cols), elements=ELEMENTS))
    return W, n, m


def _groups(a, m):
    """Consecutive groups of m along the last axis of a 1-D array (last one partial)."""
    return [a[i:i + m] for i in range(0, a.size, m)]


@CHEAP
@given(matrices_and_pairs())
def test_mask_is_optimal_by_brute_force(case):
    W, n, m = case
    mask = spla.nm_mask(W, n, m)
    assert mask.shape == W.shape and mask.dtype == bool
    for row, keep in zip(W, mask):
        for g, k in zip(_groups(row, m), _groups(keep, m)):
            assert k.sum() == min(n, g.size)
            kept = math.fsum(float(v) ** 2 for v in g[k])
            best = max(
                math.fsum(float(g[i]) ** 2 for i in c)
                for c in itertools.combinations(range(g.size), min(n, g.size))
            )
            assert kept == best


@CHEAP
@given(matrices_and_pairs(pairs=nm_pairs(), max_rows=3, max_groups=2))
def test_tie_rule_lower_index_wins(case):
    W, n, m = case
    mask = spla.nm_mask(W, n, m)
    for row, keep in zip(np.abs(W), mask):
        for g, k in zip(_groups(row, m), _groups(keep, m)):
            for i in np.flatnonzero(k):
                for j in np.flatnonzero(~k):
                    assert g[i] > g[j] or (g[i] == g[j] and i < j)


@CHEAP
@given(matrices_and_pairs(pairs=nm_pairs(), max_rows=4, max_groups=3))
def test_pruned_copy_has_at_most_n_per_group(case):
    W, n, m = case
    P = spla.prune_nm(W, n, m)
    assert P.shape == W.shape and P.dtype == W.dtype
    np.testing.assert_array_equal(P, np.where(spla.nm_mask(W, n, m), W, 0.0))
    for row in P:
        for g in _groups(row, m):
            assert np.count_nonzero(g) <= n
    assert P is not W
    # Pruning an N:M array changes nothing.
    np.testing.assert_array_equal(spla.prune_nm(P, n, m), P)


@CHEAP
@given(matrices_and_pairs(max_rows=3), st.sampled_from([0, 1, -1, -2]))
def test_axis(case, axis):
    W, n, m = case
    got = spla.nm_mask(W, n, m, axis=axis)
    if axis % 2 == 1:
        np.testing.assert_array_equal(got, spla.nm_mask(W, n, m))
    else:
        np.testing.assert_array_equal(got, spla.nm_mask(W.T, n, m).T)


def test_examples_and_ties():
    np.testing.assert_array_equal(spla.nm_mask(np.ones(8)), [1, 1, 0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(spla.nm_mask(np.array([1.0, -1.0, 1.0, 1.0]), 3, 4),
                                  [1, 1, 1, 0])
    # Partial last group (5 columns, 2:4): the lone fifth element is kept.
    np.testing.assert_array_equal(spla.nm_mask(np.array([[1.0, 2, 3, 4, 0.5]])),
                                  [[0, 0, 1, 1, 1]])
    # NaN counts as the largest magnitude.
    np.testing.assert_array_equal(spla.nm_mask(np.array([np.nan, 1.0, 2.0, 3.0])),
                                  [1, 0, 0, 1])
    # Integer, float16 and 3-D input.
    np.testing.assert_array_equal(spla.prune_nm(np.array([3, -7, 1, 2])), [3, -7, 0, 0])
    h = spla.prune_nm(np.array([1, 2, 3, 4], dtype=np.float16), 1, 2)
    assert h.dtype == np.float16
    np.testing.assert_array_equal(h, [0, 2, 0, 4])
    W = np.random.default_rng(0).standard_normal((2, 3, 8))
    np.testing.assert_array_equal(spla.nm_mask(W, axis=1)[:, :, 0],
                                  spla.nm_mask(W[:, :, 0], axis=1))


@pytest.mark.parametrize("n, m", [(0, 4), (4, 4), (5, 4), (1, 17), (2, 1), (-1, 2)])
def test_bad_n_m(n, m):
    with pytest.raises(ValueError, match="1 <= n < m <= 16"):
        spla.nm_mask(np.ones((2, 8)), n, m)


def test_bad_input():
    with pytest.raises(ValueError, match="at least one dimension"):
        spla.nm_mask(np.float64(1.0))
    with pytest.raises(ValueError, match="out of bounds"):
        spla.nm_mask(np.ones((2, 4)), axis=2)
    with pytest.raises(TypeError):
        spla.nm_mask(np.array(["a", "b"], dtype=object))
    with pytest.raises(TypeError):
        spla.nm_mask(np.ones(4), 2.5, 4)
