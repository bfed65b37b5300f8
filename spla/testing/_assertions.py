"""Comparison of sparse and dense arrays."""

import numpy as np

from .._device import is_gpu_array

_RTOL = {"e": 1e-2, "f": 1e-5, "d": 1e-12, "g": 1e-12}


def to_dense(a):
    """A NumPy array from an spla array, a SciPy sparse array, a CuPy array or an array-like."""
    from .._base import SparseArray

    if isinstance(a, SparseArray):
        return a.to_device("cpu").toarray()
    if hasattr(a, "toarray") and hasattr(a, "nnz"):  # SciPy sparse
        return a.toarray()
    if is_gpu_array(a):
        return a.get()
    return np.asarray(a)


def default_tolerance(*dtypes):
    """Relative tolerance for the least precise of ``dtypes``: 1e-2 for float16,
    1e-5 for float32/complex64, 1e-12 for float64/complex128."""
    chars = [np.dtype(d).char.lower() for d in dtypes]
    precision = {"e": 0, "f": 1, "d": 2, "g": 3}
    kinds = [c for c in chars if c in precision]
    if not kinds:
        return _RTOL["d"]
    return _RTOL[min(kinds, key=precision.get)]


def _real_char(dtype):
    dt = np.dtype(dtype)
    if dt.kind == "c":
        return np.dtype(dt.char.lower()).char
    return dt.char


def assert_allclose(actual, desired, rtol=None, atol=0.0, err_msg="", check_shape=True):
    """Assert that two arrays are equal within tolerance, whatever their kind.

    Each argument may be an spla array (any format or device), a SciPy sparse
    array or matrix, a CuPy array, or anything NumPy accepts. Both are made dense
    and compared with ``numpy.testing.assert_allclose``.

    Parameters
    ----------
    rtol : float, optional
        Relative tolerance; by default one that fits the less precise dtype of the
        two (see ``default_tolerance``).
    atol : float
        Absolute tolerance.
    check_shape : bool
        Also require equal shapes (NumPy would otherwise broadcast).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, spla
    >>> A = spla.csr_array(np.eye(3))
    >>> spla.testing.assert_allclose(A, sp.eye_array(3))
    >>> spla.testing.assert_allclose(A @ np.ones(3), np.ones(3))
    """
    a = to_dense(actual)
    d = to_dense(desired)
    if check_shape and a.shape != d.shape:
        raise AssertionError(f"shapes differ: {a.shape} != {d.shape}. {err_msg}")
    if not check_shape:
        a, d = np.broadcast_arrays(a, d)
    if rtol is None:
        chars = [_real_char(x.dtype) for x in (a, d) if x.dtype.kind in "fc"]
        rtol = default_tolerance(*chars) if chars else 1e-12
    np.testing.assert_allclose(a, d, rtol=rtol, atol=atol, err_msg=err_msg)
