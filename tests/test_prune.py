"""spla.prune: magnitude masks (exact count, ties, optimality), the N:M re-exports,
the straight-through estimator and the cubic gradual schedule."""

import doctest
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla import prune


@st.composite
def weights(draw, max_side=7):
    """Small arrays (0-3 dims) with frequent ties, NaN sometimes, float32/float64/
    int/complex, sometimes non-contiguous."""
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.integers(0, max_side)) for _ in range(ndim))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, np.complex128]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        W = rng.integers(-3, 4, size=shape).astype(np.float64)     # many ties, zeros
    else:
        W = rng.standard_normal(shape)
    if dtype is np.complex128:
        W = W + 1j * rng.integers(-2, 3, size=shape)
    W = np.asarray(W).astype(dtype)
    if W.ndim >= 1 and W.size and draw(st.booleans()):
        W = W[..., ::-1]                                           # negative strides
    return W


def _ref_mask(W, sparsity):
    """Keep the largest |w|, the lower flat index first among ties (NaN largest)."""
    flat = np.asarray(W).reshape(-1)
    key = [float("inf") if np.isnan(abs(v)) else float(abs(v)) for v in flat]
    keep = flat.size - int(round(sparsity * flat.size))
    order = sorted(range(flat.size), key=lambda i: (-key[i], i))[:keep]
    mask = np.zeros(flat.size, dtype=bool)
    mask[order] = True
    return mask.reshape(np.shape(W))


@given(weights(), st.one_of(st.sampled_from([0.0, 1.0, 0.5, 0.25]), st.floats(0, 1)))
def test_magnitude_mask_matches_reference(W, s):
    M = prune.magnitude_mask(W, s)
    assert M.dtype == bool and M.shape == np.shape(W)
    assert int((~M).sum()) == int(round(s * np.size(W)))          # exact count
    np.testing.assert_array_equal(M, _ref_mask(W, s))
    # optimal: no kept magnitude is smaller than a dropped one
    a = np.abs(np.asarray(W, dtype=np.complex128)).real.reshape(-1)
    if M.any() and (~M).any():
        assert a[M.reshape(-1)].min() >= a[~M.reshape(-1)].max()


def test_magnitude_mask_brute_force_optimal():
    rng = np.random.default_rng(5)
    for _ in range(20):
        W = rng.integers(-3, 4, size=(2, 3)).astype(float)
        for drop in range(W.size + 1):
            M = prune.magnitude_mask(W, drop / W.size)
            removed = float((W[~M] ** 2).sum())
            best = min(float((W.reshape(-1)[list(c)] ** 2).sum())
                       for c in itertools.combinations(range(W.size), drop))
            assert removed == best


def test_magnitude_mask_ties_nan_and_rounding():
    np.testing.assert_array_equal(prune.magnitude_mask(np.ones(4), 0.5), [True, True, False, False])
    np.testing.assert_array_equal(prune.magnitude_mask(np.array([1.0, np.nan, 5.0]), 2 / 3),
                                  [False, True, False])
    # 0.29 * 100 is 28.999999999999996 in floating point: still 29 dropped
    assert (~prune.magnitude_mask(np.arange(100.0), 0.29)).sum() == 29
    assert prune.magnitude_mask(np.zeros((0, 3)), 0.5).shape == (0, 3)
    assert prune.magnitude_mask(np.float64(2.0), 1.0).shape == ()
    with pytest.raises(ValueError, match="sparsity"):
        prune.magnitude_mask(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="sparsity"):
        prune.magnitude_mask(np.ones(3), float("nan"))
    with pytest.raises(TypeError, match="sparsity"):
        prune.magnitude_mask(np.ones(3), "half")
    with pytest.raises(TypeError, match="numeric"):
        prune.magnitude_mask(np.array([None, 1]), 0.5)


def test_nm_reexports_are_the_same_functions():
    assert prune.nm_mask is spla.nm_mask and prune.prune_nm is spla.prune_nm
    W = np.array([[4.0, -1.0, 0.5, -2.0]])
    np.testing.assert_array_equal(prune.nm_mask(W), [[True, False, False, True]])


# -- straight-through estimator --------------------------------------------------------


@given(st.integers(0, 2**32 - 1), st.sampled_from([np.float32, np.float64, np.complex64]),
       st.booleans())
def test_ste_grad(seed, dtype, noncontig):
    rng = np.random.default_rng(seed)
    g = (rng.standard_normal((5, 8)) * 3).astype(dtype)
    M = rng.random((5, 8)) < 0.5
    if noncontig:
        g, M = g[:, ::2], M[:, ::2]
    ste = prune.ste_grad(g, M)
    masked = prune.ste_grad(g, M, variant="masked")
    assert ste.dtype == masked.dtype == g.dtype and ste.shape == masked.shape == g.shape
    np.testing.assert_array_equal(ste, g)
    assert ste is not g and not np.shares_memory(ste, g)
    np.testing.assert_array_equal(masked, np.where(M, g, 0))
    # 0/1 masks of any numeric dtype are accepted
    np.testing.assert_array_equal(prune.ste_grad(g, M.astype(np.float32), "masked"), masked)


def test_ste_grad_is_the_exact_gradient_of_the_masked_loss():
    """variant='masked' is dL/dW of L(M * W) for a fixed mask (finite differences);
    'ste' differs exactly at the pruned weights, where it passes the gradient on."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 6))
    y = rng.standard_normal(20)
    W = rng.standard_normal(6)
    M = prune.magnitude_mask(W, 0.5)

    def loss(w):
        r = X @ (M * w) - y
        return 0.5 * r @ r

    g_masked_w = X.T @ (X @ (M * W) - y)          # dL/d(M*W)
    fd = np.array([(loss(W + h) - loss(W - h)) / 2e-6 for h in np.eye(6) * 1e-6])
    np.testing.assert_allclose(prune.ste_grad(g_masked_w, M, "masked"), fd, rtol=1e-6, atol=1e-6)
    ste = prune.ste_grad(g_masked_w, M)
    assert np.all(fd[~M] == 0) and np.all(ste[~M] != 0)


def test_ste_grad_decay_is_sr_ste():
    rng = np.random.default_rng(2)
    g, W = rng.standard_normal((3, 8)), rng.standard_normal((3, 8))
    M = prune.nm_mask(W)
    np.testing.assert_allclose(prune.ste_grad(g, M, weights=W, decay=0.5),
                               g + 0.5 * np.where(M, 0.0, W), rtol=0, atol=0)
    np.testing.assert_array_equal(prune.ste_grad(g, M, "masked", weights=W, decay=0.5),
                                  np.where(M, g, 0.0))
    assert prune.ste_grad(g.astype(np.float32), M, weights=W, decay=0.1).dtype == np.float32
    with pytest.raises(ValueError, match="weights"):
        prune.ste_grad(g, M, decay=0.1)
    with pytest.raises(ValueError, match="decay"):
        prune.ste_grad(g, M, weights=W, decay=-1.0)
    with pytest.raises(ValueError, match="shape"):
        prune.ste_grad(g, M, weights=W[:, :4], decay=0.1)


def test_ste_grad_validation():
    g = np.ones(4)
    with pytest.raises(ValueError, match="variant"):
        prune.ste_grad(g, g > 0, variant="sr-ste")
    with pytest.raises(ValueError, match="shape"):
        prune.ste_grad(g, np.ones(3, bool))
    with pytest.raises(ValueError, match="boolean"):
        prune.ste_grad(g, np.array([0, 1, 2, 1]))
    with pytest.raises(TypeError, match="floating"):
        prune.ste_grad(np.ones(4, dtype=int), g > 0)


# -- gradual schedule -------------------------------------------------------------------


@given(st.floats(-50, 250), st.integers(0, 100), st.integers(0, 100),
       st.floats(0, 1), st.floats(0, 1))
def test_gradual_schedule_formula(t, start, length, sf, si):
    end = start + length
    s = prune.gradual_schedule(t, start, end, sf, si)
    if t <= start and not (length == 0 and t >= start):
        assert s == pytest.approx(si, abs=1e-15)
    elif t >= end:
        assert s == pytest.approx(sf, abs=1e-15)
    else:
        want = sf + (si - sf) * (1 - (t - start) / (end - start)) ** 3
        assert s == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert min(si, sf) - 1e-15 <= s <= max(si, sf) + 1e-15


def test_gradual_schedule_shape_and_arrays():
    steps = np.arange(0, 101)
    s = prune.gradual_schedule(steps, 0, 100, 0.9)
    assert s.shape == (101,) and s.dtype == np.float64
    assert s[0] == 0.0 and s[-1] == pytest.approx(0.9)
    d = np.diff(s)
    assert np.all(d >= 0) and np.all(np.diff(d) <= 1e-15)   # rising, ever more slowly
    # the cubic front-loads pruning: half of the target is reached at ~ 20.6% of the span
    assert prune.gradual_schedule(100 * (1 - 0.5 ** (1 / 3)), 0, 100, 0.9) == pytest.approx(0.45)
    assert prune.gradual_schedule(5, 5, 5, 0.7, 0.1) == 0.7      # start == end: a step
    assert prune.gradual_schedule(4, 5, 5, 0.7, 0.1) == 0.1
    with pytest.raises(ValueError, match="start <= end"):
        prune.gradual_schedule(0, 10, 5, 0.5)
    with pytest.raises(ValueError, match="final_sparsity"):
        prune.gradual_schedule(0, 0, 5, 1.5)
    with pytest.raises(TypeError, match="step"):
        prune.gradual_schedule("3", 0, 5, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        prune.gradual_schedule(float("nan"), 0, 5, 0.5)


def test_doctests():
    assert doctest.testmod(prune, optionflags=doctest.ELLIPSIS).failed == 0
