"""spla.linalg.solve_banded: residuals on random banded systems, singular systems,
bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spla
from spla.linalg import solve_banded

relaxed = settings(deadline=None)


def banded_system(n, l, u, dtype, seed, k=None):
    rng = np.random.default_rng(seed)
    offs = np.arange(-l, u + 1)
    offs = offs[(offs > -n) & (offs < n)]
    data = rng.standard_normal((offs.size, n))
    if np.dtype(dtype).kind == "c":
        data = data + 1j * rng.standard_normal((offs.size, n))
    data[offs == 0] += 2.0 * (l + u + 1)  # diagonally dominant: well conditioned
    A = spla.banded_array((data.astype(dtype), offs), shape=(n, n))
    shape = (n,) if k is None else (n, k)
    b = rng.standard_normal(shape).astype(dtype if np.dtype(dtype).kind == "c" else "float64")
    return A, b


@relaxed
@given(n=st.integers(1, 30), l=st.integers(0, 4), u=st.integers(0, 4),
       dtype=st.sampled_from(["float32", "float64", "complex64", "complex128"]),
       k=st.one_of(st.none(), st.integers(1, 3)), seed=st.integers(0, 2**16))
def test_residual(n, l, u, dtype, k, seed):
    A, b = banded_system(n, l, u, dtype, seed, k)
    x = solve_banded(A, b)
    assert x.shape == b.shape
    r = A.toarray() @ x - b
    tol = 1e-4 if np.dtype(dtype).itemsize <= 8 and dtype != "complex128" else 1e-10
    assert np.linalg.norm(r) <= tol * (1 + np.linalg.norm(b))


def test_matches_dense_solve_and_accepts_dense_input():
    A, b = banded_system(50, 3, 2, "float64", 1, 4)
    expected = np.linalg.solve(A.toarray(), b)
    np.testing.assert_allclose(solve_banded(A, b), expected, rtol=1e-10)
    np.testing.assert_allclose(solve_banded(A.toarray(), b), expected, rtol=1e-10)
    np.testing.assert_allclose(solve_banded(A.tocsr(), b[:, 0]), expected[:, 0], rtol=1e-10)


@pytest.mark.parametrize(
    "dense",
    [
        np.zeros((1, 1)),
        np.diag([1.0, 0.0, 2.0]),                       # l = u = 0
        np.array([[1.0, 2.0], [2.0, 4.0]]),             # tridiagonal path (gtsv)
        np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 3.0, 1.0]]),
        np.triu(np.ones((4, 4)), 0) - np.eye(4),        # zero diagonal, upper band
    ],
)
def test_singular_raises_linalgerror(dense):
    A = spla.banded_array(dense, offsets=np.arange(-(dense.shape[0] - 1), dense.shape[0])
                          if dense.any() else [0])
    with pytest.raises(np.linalg.LinAlgError):
        solve_banded(A, np.ones(dense.shape[0]))


def test_bad_input_raises():
    A, b = banded_system(5, 1, 1, "float64", 0)
    with pytest.raises(ValueError, match="square"):
        solve_banded(spla.banded_array(np.ones((2, 3))), np.ones(2))
    with pytest.raises(ValueError, match="rows"):
        solve_banded(A, np.ones(4))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        solve_banded(A, np.ones((5, 2, 2)))
    with pytest.raises(TypeError):
        solve_banded(A, np.array(["a"] * 5, dtype=object))
    with pytest.raises(ValueError):
        solve_banded(A, np.full(5, np.nan))
    assert solve_banded(A, np.ones((5, 0))).shape == (5, 0)
    x = solve_banded(A, np.arange(5))  # integers become float64
    assert x.dtype == np.float64
