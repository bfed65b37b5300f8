"""bfloat16 N:M arrays on the CPU: ml_dtypes.bfloat16 storage, float32 products.

NumPy has no bfloat16; spla stores ``ml_dtypes.bfloat16`` values as they are (as it
stores float16) and computes products in float32. Quarter-integers in [-2, 2] are
exact in bfloat16, and so is every product and partial sum here in float32.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spla

ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml-dtypes: pip install 'spla[bfloat16]'")
BF16 = np.dtype(ml_dtypes.bfloat16)


@settings(max_examples=40, deadline=None)
@given(R=st.integers(0, 40), C=st.integers(0, 40), k=st.integers(1, 9), seed=st.integers(0, 2**32 - 1),
       xdtype=st.sampled_from([BF16, np.dtype(np.float32), np.dtype(np.float64)]))
def test_bfloat16_products_exact(R, C, k, seed, xdtype):
    rng = np.random.default_rng(seed)
    W = (rng.integers(-8, 9, (R, C)) / 4).astype(BF16)
    A = spla.nm_array(W, prune=True)
    assert A.dtype == BF16 and A.values.dtype == BF16
    D = A.toarray()
    assert D.dtype == BF16
    Df = D.astype(np.float64)
    # the kept values are W's, in 2:4 groups of the largest magnitudes
    assert np.all((Df == 0) | (Df == W.astype(np.float64)))
    X = (rng.integers(-8, 9, (C, k)) / 4).astype(xdtype)
    Y = A @ X
    assert Y.dtype == np.result_type(np.float32, xdtype if xdtype != BF16 else np.float32)
    np.testing.assert_array_equal(Y, Df @ X.astype(np.float64))
    y = A @ X[:, 0]
    np.testing.assert_array_equal(y, Df @ X[:, 0].astype(np.float64))
    S = A.tocsr()
    assert S.dtype == np.float32
    np.testing.assert_array_equal(S.toarray(), Df.astype(np.float32))


def test_bfloat16_requested_and_converted():
    W = np.array([[1.5, 0.0, -2.0, 0.25, 0.0, 3.0, 0.0, 0.0]])
    A = spla.nm_array(W, dtype=BF16, prune=True)
    assert A.dtype == BF16
    np.testing.assert_array_equal(A.toarray().astype(np.float64), [[1.5, 0, -2.0, 0, 0, 3.0, 0, 0]])
    assert A.astype(np.float32).dtype == np.float32
    assert spla.nm_array(W, prune=True).astype(BF16).dtype == BF16


def test_unsupported_dtype_names_bfloat16():
    with pytest.raises(TypeError, match="bfloat16"):
        spla.nm_array(np.eye(4, dtype=np.complex64))
