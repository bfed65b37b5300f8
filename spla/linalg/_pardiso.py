"""Intel MKL PARDISO (the optional ``pypardiso`` package) behind ``spsolve`` and
``factorized``: a multithreaded supernodal LU for real matrices.

A symmetric matrix (equal to its transpose, values included: checked in one
O(nnz) pass) is factorised as PARDISO's real symmetric indefinite type (``mtype
-2``, Bunch-Kaufman pivoting) from its upper triangle: half the factor of the LU
(``mtype 11``) that every other matrix gets, about 1.7x faster on the 2-D
Laplacian.

PARDISO takes 1-based CSR of float64 values; ``pypardiso`` converts spla's
(canonical, zero-copy) CSR storage. It is chosen by ``solver="auto"`` when it is
installed, ``A`` is real and has at least ``PARDISO_MIN_NNZ`` stored entries
(below that SuperLU's single-core factorisation finishes before PARDISO's
threads pay); SuperLU stays the fallback.
"""

import importlib.util
import os

import numpy as np

from . import _convert

PARDISO_MIN_NNZ = 50_000

_MISSING = ("the 'pardiso' solver needs the pypardiso package (Intel MKL PARDISO): "
            "pip install \"spla[pardiso]\"")


def available():
    """True when ``pypardiso`` can be imported."""
    return importlib.util.find_spec("pypardiso") is not None


def _is_real(A):
    return np.dtype(A.dtype).kind in "biuf"


def choose(A, b, solver, what):
    """Whether ``what`` runs PARDISO for ``A`` (``solver`` is "auto", "superlu" or "pardiso")."""
    if solver == "superlu":
        return False
    if solver == "pardiso":
        if not available():
            raise ValueError(f"{what}: {_MISSING}")
        if not _is_real(A) or (b is not None and np.iscomplexobj(b) and not _convert.is_spla(b)):
            raise ValueError(f"{what}: PARDISO (pypardiso) solves real systems only; use "
                             "solver='superlu' for complex ones")
        return True
    return (available() and _is_real(A) and getattr(A, "nnz", 0) >= PARDISO_MIN_NNZ
            and (b is None or _convert.is_spla(b) or not np.iscomplexobj(b)))


def _csr64(A):
    """Canonical SciPy CSR float64 storage of ``A`` (shared with spla when it can)."""
    if _convert.is_spla(A):
        S = _convert.scipy_view(A, "csr")
    else:
        S = A.tocsr()
        if not S.has_canonical_format:
            S = S.copy()
            S.sum_duplicates()
    if S.dtype != np.float64:
        S = S.astype(np.float64)
    if S.shape[0] and not np.diff(S.indptr).all():
        # PARDISO crashes on an empty row; SciPy calls such a matrix singular.
        raise _singular()
    return S


_REAL_UNSYMMETRIC, _REAL_SYMMETRIC_INDEFINITE = 11, -2


def _is_symmetric(S):
    """Whether canonical CSR ``S`` equals its transpose (structure and values)."""
    if S.shape[0] != S.shape[1]:
        return False
    T = S.T.tocsr()  # canonical: SciPy's CSC -> CSR conversion sorts the columns
    return (np.array_equal(S.indptr, T.indptr) and np.array_equal(S.indices, T.indices)
            and np.array_equal(S.data, T.data))


def _upper_with_diagonal(S):
    """The upper triangle of ``S`` with every diagonal entry stored (PARDISO's
    symmetric types need the diagonal in the structure, zero or not)."""
    import scipy.sparse as sp

    n = S.shape[0]
    indptr, indices = S.indptr, S.indices
    rows = np.repeat(np.arange(n, dtype=indices.dtype), np.diff(indptr))
    keep = indices >= rows
    if np.count_nonzero(indices[keep] == rows[keep]) == n:
        # every diagonal entry stored (the usual case): the kept entries of canonical
        # CSR are canonical CSR of the upper triangle, no sort needed
        counts = np.bincount(rows[keep], minlength=n)
        new_indptr = np.zeros(n + 1, dtype=indptr.dtype)
        np.cumsum(counts, out=new_indptr[1:])
        U = sp.csr_array((S.data[keep], indices[keep], new_indptr), shape=S.shape)
        U.has_sorted_indices = True
        U.has_canonical_format = True
        return U
    coo = S.tocoo()
    keep = coo.row <= coo.col
    diagonal = np.zeros(n, dtype=bool)
    diagonal[coo.row[coo.row == coo.col]] = True
    missing = np.flatnonzero(~diagonal)
    rows = np.concatenate([coo.row[keep], missing])
    cols = np.concatenate([coo.col[keep], missing])
    vals = np.concatenate([coo.data[keep], np.zeros(len(missing))])
    U = sp.csr_array((vals, (rows, cols)), shape=S.shape)
    U.sum_duplicates()
    return U


_MKL_RT = []


def _new_solver():
    """A fresh ``PyPardisoSolver`` (one per factorisation: each holds its own handle).

    pypardiso's constructor searches the whole environment for ``libmkl_rt`` (a
    recursive glob, ~0.3 s here) unless ``PYPARDISO_MKL_RT`` names it: the path
    found by the first constructor is handed to the later ones.
    """
    from pypardiso import PyPardisoSolver

    from ._threads import invalidate

    if _MKL_RT and "PYPARDISO_MKL_RT" not in os.environ:
        os.environ["PYPARDISO_MKL_RT"] = _MKL_RT[0]
        try:
            return PyPardisoSolver()
        finally:
            os.environ.pop("PYPARDISO_MKL_RT", None)
    solver = PyPardisoSolver()
    invalidate()  # MKL's thread pool is loaded now
    path = getattr(solver.libmkl, "_name", None)
    if path and not _MKL_RT:
        _MKL_RT.append(path)
    return solver


def _singular():
    return np.linalg.LinAlgError("PARDISO: matrix is exactly singular (an empty row)")


class Factorization:
    """A PARDISO LU factorisation of ``A``, reused for any number of right-hand sides.

    Parameters
    ----------
    A : spla array or SciPy sparse array
        Square real matrix (float64 is what PARDISO computes in).

    Attributes
    ----------
    symmetric : bool
        Whether ``A`` equals its transpose, and so was factorised as PARDISO's
        symmetric indefinite type from its upper triangle.

    Examples
    --------
    >>> import numpy as np, spla
    >>> if spla.linalg.pardiso_available():
    ...     f = spla.linalg.PardisoFactorization(spla.csr_array(np.array([[2.0, 1.0], [1.0, 3.0]])))
    ...     ok = np.allclose(f.solve(np.array([3.0, 4.0])), [1.0, 1.0])
    ... else:
    ...     ok = True
    >>> ok
    True
    """

    def __init__(self, A, _factorize=True):
        if not available():
            raise ValueError(f"PardisoFactorization: {_MISSING}")
        _convert.check_square(A, "PardisoFactorization")
        if not _is_real(A):
            raise ValueError("PardisoFactorization: PARDISO (pypardiso) factorises real "
                             "matrices only")
        self.shape = tuple(A.shape)
        S = _csr64(A)
        self.symmetric = _is_symmetric(S)
        self._A = _upper_with_diagonal(S) if self.symmetric else S
        self._solver = _new_solver()
        self._solver.set_matrix_type(
            _REAL_SYMMETRIC_INDEFINITE if self.symmetric else _REAL_UNSYMMETRIC)
        # (``_factorize=False``: the first solve runs PARDISO's phase 13, analysis,
        # factorisation and solve in one call; for one-shot ``spsolve``)
        if self.shape[0] and _factorize:
            self._solver.factorize(self._A)

    def solve(self, b):
        """``x`` with ``A @ x = b`` for ``b`` of shape ``(n,)`` or ``(n, k)``."""
        sparse_b = _convert.is_spla(b) or _convert.sp.issparse(b)
        if sparse_b:
            b = b.toarray()
        b = np.asarray(b)
        if b.ndim not in (1, 2) or b.shape[0] != self.shape[0]:
            raise ValueError(f"solve: matrix - rhs dimension mismatch ({self.shape} - {b.shape})")
        if np.iscomplexobj(b):
            x = self.solve(b.real) + 1j * self.solve(b.imag)
        elif b.size == 0:
            x = np.zeros(b.shape)
        else:
            x = self._solver.solve(self._A, np.asfortranarray(b, dtype=np.float64))
            x = x.reshape(b.shape)
        if sparse_b:
            from .._formats.compressed import csr_array

            return csr_array(np.atleast_2d(x.T).T if x.ndim == 1 else x)
        return x

    def free(self):
        """Release PARDISO's memory for this factorisation."""
        self._solver.free_memory(everything=True)


def solve(A, b):
    """``spsolve`` with PARDISO: one factorisation, one solve, memory released."""
    # One real dense right-hand side block: one PARDISO call (phase 13) instead of a
    # factorisation (phase 12, which also copies A for pypardiso's bookkeeping) and
    # a solve (phase 33, which compares A with that copy) - one index conversion less.
    one_call = not (_convert.is_spla(b) or _convert.sp.issparse(b)) and not np.iscomplexobj(b)
    f = Factorization(A, _factorize=not one_call)
    try:
        x = f.solve(b)
    finally:
        f.free()
    vector = np.ndim(b) == 1 or (np.ndim(b) == 2 and b.shape[1] == 1)
    if vector and not (_convert.is_spla(b) or _convert.sp.issparse(b)):
        return x.ravel()  # SciPy's spsolve returns (n,) for b of shape (n, 1)
    return x
