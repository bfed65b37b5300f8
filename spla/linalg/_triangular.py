"""``spsolve_triangular``: spla's level-scheduled triangular solve (spla/_kernels/triangular.py)."""


import numpy as np

from .._kernels import triangular as _kernels
from .._kernels.threads import parallel_section
from . import _convert

__all__ = ["spsolve_triangular"]

#: The parallel path needs levels of this many rows on average and this much
#: work (stored entries times right-hand sides); below, the serial row loop wins.
MIN_ROWS_PER_LEVEL = 1024
MIN_WORK = 200_000


def _analysis(A, lower):
    """The level analysis of ``A``, kept in the array's derived-state cache (cleared
    when its storage changes): a matrix solved again (a preconditioner, many
    right-hand sides) skips it."""
    key = ("triangular_levels", bool(lower))
    A = A._snap()  # computed from, and kept with, one storage
    derived = A._derived
    result = derived.get(key)
    if result is None:
        result = derived[key] = _kernels.levels(A.indptr, A.indices, A.shape[0], lower)
    return result


def spsolve_triangular(A, b, lower=True, overwrite_A=False, overwrite_b=False,
                       unit_diagonal=False):
    """Solve ``A @ x = b`` for a sparse triangular ``A`` (``scipy.sparse.linalg.spsolve_triangular``).

    spla's kernel: rows grouped in levels of independent rows, each level
    solved in parallel when levels are wide enough (else a serial row loop);
    the level analysis is kept for the next solve with the same array.

    Parameters
    ----------
    A : spla array or SciPy sparse array, shape (n, n)
        Lower (``lower=True``) or upper triangular. Entries of the other
        triangle are ignored; duplicates are summed.
    b : array_like, shape (n,) or (n, k)
        Right-hand side(s).
    lower : bool
        Lower (default) or upper triangular.
    overwrite_A : bool
        Accepted for SciPy's signature (``A`` is never written).
    overwrite_b : bool
        Allow the solution to be written into ``b`` (when its dtype and layout allow).
    unit_diagonal : bool
        Take the diagonal as ones (stored diagonal entries are ignored).

    Returns
    -------
    x : ndarray, shape of ``b``
        Dtype: NumPy's promotion of ``A.dtype``, ``b.dtype`` and float32.

    Raises
    ------
    ValueError
        If ``A`` is not square or ``b`` does not have ``n`` rows or 1 or 2 dimensions.
    numpy.linalg.LinAlgError
        If a diagonal entry is zero (``A is singular: zero entry on diagonal.``).

    Examples
    --------
    >>> import numpy as np, spla
    >>> L = spla.csr_array(np.array([[2.0, 0.0], [1.0, 4.0]]))
    >>> spla.linalg.spsolve_triangular(L, np.array([2.0, 5.0])).tolist()
    [1.0, 1.0]
    """
    from .._formats.compressed import csr_array

    from . import _gpu

    if _gpu.is_gpu(A):
        return _gpu.call("spsolve_triangular", A, b, lower=lower, overwrite_A=overwrite_A,
                         overwrite_b=overwrite_b, unit_diagonal=unit_diagonal)
    if _convert.is_spla(A):
        _convert.require_cpu(A, "spsolve_triangular")
        C = A.tocsr()._snap()  # one reading of the storage (another thread may write)
    elif _convert.sp.issparse(A):
        C = csr_array(A.tocsr() if A.format != "csr" else A)
    else:
        raise TypeError("spsolve_triangular: A must be an spla or SciPy sparse array, got "
                        f"{type(A).__name__}")
    n, m = C.shape
    if n != m:
        raise ValueError(f"A must be a square matrix but its shape is {C.shape}.")
    b_in = b
    b = np.asanyarray(b)
    if b.dtype == object:
        raise TypeError("spsolve_triangular: b must be a numeric array")
    if b.ndim not in (1, 2):
        raise ValueError(f"b must have 1 or 2 dims but its shape is {b.shape}.")
    if b.shape[0] != n:
        raise ValueError(
            "The size of the dimensions of A must be equal to the size of the first "
            f"dimension of b but the shape of A is {C.shape} and the shape of b is {b.shape}."
        )
    dtype = np.promote_types(np.promote_types(C.dtype, np.float32), b.dtype)
    indptr, indices = C.indptr, C.indices
    data = C.data.astype(dtype, copy=False)
    inv_diag = np.ones(n, dtype=dtype)
    if not unit_diagonal:
        diag = np.empty(n, dtype=dtype)
        _kernels.diagonal(indptr, indices, data, n, diag)
        if np.any(diag == 0):
            raise np.linalg.LinAlgError("A is singular: zero entry on diagonal.")
        inv_diag = 1 / diag
    in_place = (overwrite_b and isinstance(b_in, np.ndarray) and b.dtype == dtype
                and b.flags.c_contiguous and b.flags.writeable)
    x = b if in_place else np.array(b, dtype=dtype, order="C")
    x2 = x.reshape(n, 1) if x.ndim == 1 else x
    if n == 0 or x2.shape[1] == 0:
        return x
    work = C.nnz * x2.shape[1]
    parallel = False
    if work >= MIN_WORK:
        level_ptr, order = _analysis(C, bool(lower))
        parallel = n >= MIN_ROWS_PER_LEVEL * (level_ptr.size - 1)
    if parallel and x2.shape[1] == 1:
        with parallel_section():
            _kernels.solve_levels_vector(indptr, indices, data, inv_diag, x2[:, 0], level_ptr,
                                         order, bool(lower), bool(unit_diagonal))
    elif parallel:
        with parallel_section():
            _kernels.solve_levels(indptr, indices, data, inv_diag, x2, level_ptr, order,
                                  bool(lower), bool(unit_diagonal))
    elif x2.shape[1] == 1:
        _kernels.solve_rows_vector(indptr, indices, data, inv_diag, x2[:, 0], bool(lower),
                                   bool(unit_diagonal))
    else:
        _kernels.solve_rows(indptr, indices, data, inv_diag, x2, bool(lower),
                            bool(unit_diagonal))
    return x
