"""Helpers of spla's own tests: float64 references and error bounds."""

import numpy as np


def ref_dtype(*dtypes):
    """complex128 if any dtype is complex, float64 otherwise."""
    return np.dtype(np.complex128 if any(np.dtype(d).kind == "c" for d in dtypes)
                    else np.float64)


def eps(dtype):
    """Unit roundoff scale of the precision ``dtype`` computes in (float32 or float64)."""
    dt = np.dtype(dtype)
    if dt in (np.dtype(np.float32), np.dtype(np.complex64)):
        return float(np.finfo(np.float32).eps)
    return float(np.finfo(np.float64).eps)


def tiny(dtype):
    dt = np.dtype(dtype)
    if dt in (np.dtype(np.float32), np.dtype(np.complex64)):
        return float(np.finfo(np.float32).tiny)
    return float(np.finfo(np.float64).tiny)


def rows_of(indptr):
    """Row index of every stored entry of compressed storage."""
    indptr = np.asarray(indptr, dtype=np.int64)
    return np.repeat(np.arange(indptr.size - 1), np.diff(indptr))


def ref_dense(A, absolute=False):
    """Dense float64/complex128 matrix of an spla array, built from its raw storage
    with NumPy only (duplicates summed), or of ``|A|`` entrywise with ``absolute``."""
    if A.format == "csc":
        return ref_dense(A.T, absolute).T
    m, n = A.shape
    dt = np.dtype(np.float64) if absolute else ref_dtype(A.dtype)
    D = np.zeros((m, n), dtype=dt)
    vals = A.data.astype(ref_dtype(A.dtype))
    if absolute:
        vals = np.abs(vals)
    np.add.at(D, (rows_of(A.indptr), A.indices.astype(np.int64)), vals)
    return D


def max_row_length(A):
    """Largest number of stored entries in a row (of CSR storage; columns for CSC)."""
    p = np.asarray(A.indptr, dtype=np.int64)
    return int(np.diff(p).max()) if p.size > 1 else 0


def storage(A):
    """Copies of the raw arrays of A (for checks that an operation left A alone)."""
    return (A.data.copy(), A.indices.copy(), A.indptr.copy(), A.shape)


def assert_storage_unchanged(A, saved):
    data, indices, indptr, shape = saved
    assert A.shape == shape
    assert A.data.dtype == data.dtype and A.indices.dtype == indices.dtype
    np.testing.assert_array_equal(A.data, data)
    np.testing.assert_array_equal(A.indices, indices)
    np.testing.assert_array_equal(A.indptr, indptr)


def assert_within(actual, ref, magnitude, nterms, dtype, c=8.0, what=""):
    """``|actual - ref| <= c eps(dtype) (nterms + 1) magnitude + tiny`` entrywise.

    ``ref`` is the float64/complex128 reference, ``magnitude`` the same
    computation on absolute values (e.g. ``|A| @ |x|``), ``nterms`` the largest
    number of terms summed into one result entry, ``dtype`` the result dtype
    (float32/complex64 results get float32's eps).
    """
    actual = np.asarray(actual)
    ref = np.asarray(ref)
    assert actual.shape == ref.shape, f"{what}: shape {actual.shape} != {ref.shape}"
    assert np.all(np.isfinite(actual)), f"{what}: non-finite values in {actual}"
    bound = (c * eps(dtype) * (nterms + 1) * np.asarray(magnitude, dtype=np.float64)
             + c * (nterms + 1) * tiny(dtype))
    err = np.abs(actual.astype(ref_dtype(actual.dtype, ref.dtype)) - ref)
    bad = err > bound
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: {int(bad.sum())} entries off the bound; first at {i}: "
            f"actual {actual[i]!r}, reference {ref[i]!r}, error {err[i]:.3g} > bound "
            f"{bound[i]:.3g} (dtype {np.dtype(dtype).name}, nterms {nterms})"
        )


def assert_product(actual, A_ref, A_abs, X, nterms, what="product"):
    """Check ``actual == A_ref @ X`` (float64 references of A, of |A|) within the
    product error bound for the dtype of ``actual``."""
    Xr = np.asarray(X).astype(ref_dtype(np.asarray(X).dtype))
    ref = np.matmul(A_ref, Xr)
    mag = np.matmul(A_abs, np.abs(Xr))
    assert_within(actual, ref, mag, nterms, actual.dtype, what=what)


def sparse_result_ok(C, shape):
    """A sparse result that spla built: CSR or CSC of ``shape``, canonical storage."""
    assert C.shape == shape
    assert C.format in ("csr", "csc")
    assert C.has_canonical_format


def max_terms(M):
    """Largest number of stored entries of one row of ``M`` (CSR or CSC, duplicates
    included): the number of terms summed into one entry of ``M @ x``."""
    if M.format == "csr":
        return max_row_length(M)
    return int(np.bincount(M.indices.astype(np.int64), minlength=1).max())


def max_terms_left(M):
    """Number of terms summed into one entry of ``x @ M`` (stored entries per column)."""
    return max_terms(M.T)


def fmt_view(A, fmt):
    """``A`` itself for "csr"; for "csc" the CSC array with A's storage (A's transpose)."""
    return A if fmt == "csr" else A.T


def scaled_examples(fraction, minimum=20):
    """``settings`` with a fraction of the active profile's max_examples (for
    properties that run many operations per example)."""
    from hypothesis import settings

    return settings(max_examples=max(minimum, int(settings.default.max_examples * fraction)))
