"""Conversions between spla arrays and what SciPy's solvers take.

``operator(A)`` wraps an spla array as a SciPy ``LinearOperator`` whose products
(``matvec``, ``matmat`` and their adjoints) are spla's kernels (a Dask matrix of
spla blocks, as one whose products are Dask computations); ``scipy_view``
hands SciPy's direct solvers canonical CSR or CSC storage that shares spla's
memory; ``from_scipy`` turns SciPy's sparse results back into spla arrays.
"""

import numpy as np
import scipy.sparse as sp  # noqa: F401  (other linalg modules use _convert.sp)
import scipy.sparse.linalg as sla

from .._base import SparseArray, _is_scipy_sparse


def is_spla(A):
    return isinstance(A, SparseArray)


class SplaOperator(sla.LinearOperator):
    """A SciPy ``LinearOperator`` over an spla array: every product is an spla kernel.

    Unlike ``scipy.sparse.linalg.aslinearoperator`` applied to the array (which
    reads ``matvec``, ``rmatvec`` and ``rmatmat`` but not ``matmat``), it hands
    blocks of vectors to spla's SpMM, so block methods (``lobpcg``, ``svds``'s
    ``"lobpcg"`` and ``"propack"`` solvers, ``onenormest``, ``expm_multiply``)
    make one sparse pass per block.
    """

    def __init__(self, A):
        super().__init__(dtype=A.dtype, shape=A.shape)
        self.A = A

    def _matvec(self, x):
        return self.A @ (x.reshape(-1) if x.ndim == 2 else x)

    def _rmatvec(self, x):
        return self.A.rmatvec(x.reshape(-1) if x.ndim == 2 else x)

    def _matmat(self, X):
        return self.A @ X

    def _rmatmat(self, X):
        return self.A.rmatmat(X)

    def _adjoint(self):
        return _AdjointSplaOperator(self.A)


class _AdjointSplaOperator(sla.LinearOperator):
    def __init__(self, A):
        super().__init__(dtype=A.dtype, shape=(A.shape[1], A.shape[0]))
        self.A = A

    def _matvec(self, x):
        return self.A.rmatvec(x.reshape(-1) if x.ndim == 2 else x)

    def _rmatvec(self, x):
        return self.A @ (x.reshape(-1) if x.ndim == 2 else x)

    def _matmat(self, X):
        return self.A.rmatmat(X)

    def _rmatmat(self, X):
        return self.A @ X

    def _adjoint(self):
        return SplaOperator(self.A)


def require_cpu(A, what):
    if is_spla(A) and A.device != "cpu":
        raise ValueError(
            f"{what}: this function runs CPU arrays only, and A lives on {A.device!r} "
            "(CuPy has no counterpart); move it with A.to_device('cpu')"
        )


def operator(A, what="A"):
    """``A`` as SciPy's solvers should see it: spla arrays become ``SplaOperator``."""
    if is_spla(A):
        require_cpu(A, what)
        return SplaOperator(A)
    if is_sparse_dask(A):
        from ..dask import aslinearoperator

        return aslinearoperator(A)
    return A


def is_sparse_dask(A):
    """True for a Dask array of spla blocks (without importing Dask otherwise)."""
    if type(A).__module__.split(".")[0] != "dask":
        return False
    from ..dask import is_sparse_dask as check

    return check(A)


def scipy_view(A, fmt="csc"):
    """Canonical SciPy csr/csc storage of ``A``, sharing spla's memory where it can.

    SciPy's direct solvers sort indices and sum duplicates *in place*; a
    non-canonical spla array is therefore made canonical in a copy first, so
    that they never write into spla's storage.
    """
    if not is_spla(A):
        return A
    require_cpu(A, "direct solve")
    A = A._snap()  # one reading of the storage (another thread may write the array)
    if A.format not in ("csr", "csc"):
        A = A.tocsr()
    if not A.has_canonical_format:
        A = A._deduped()
    if A.format != fmt:
        A = A.asformat(fmt)
    S = A.to_scipy()
    S.has_canonical_format = True
    return S


def from_scipy(S, like=None):
    """An spla csr/csc array of SciPy sparse ``S`` (csc for a csc result, else csr)."""
    from .._formats.compressed import csc_array, csr_array

    if not _is_scipy_sparse(S):
        return S
    if S.format == "csc":
        return csc_array(S)
    return csr_array(S.tocsr() if S.format != "csr" else S)


def dense_or_sparse_rhs(b):
    """``(b for SciPy, was_sparse)``: spla right-hand sides become SciPy CSC."""
    if is_spla(b):
        return scipy_view(b, "csc"), True
    return b, _is_scipy_sparse(b)


def check_square(A, what):
    shape = getattr(A, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"{what}: A must be a 2-D matrix, got shape {shape}")
    if shape[0] != shape[1]:
        raise ValueError(f"{what}: A must be square, got shape {tuple(shape)}")


def asarray_rhs(b, n, what):
    """``b`` as a NumPy array with ``n`` rows (1-D or 2-D), else ValueError/TypeError."""
    b = np.asarray(b)
    if b.dtype == object:
        raise TypeError(f"{what}: b must be a numeric array")
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ValueError(f"{what}: shapes of A ({n}, {n}) and b {b.shape} are incompatible")
    return b


__all__ = ["SplaOperator", "operator", "scipy_view", "from_scipy", "is_spla"]


def check_callback(name, callback):
    """The ``TypeError`` of spla's own solver loops for a ``callback`` that cannot be called."""
    if callback is not None and not callable(callback):
        raise TypeError(f"{name}: callback must be callable, got {type(callback).__name__}")


def krylov_system(A, M, x0, b):
    """``(psolve, x, b)`` for spla's fused Krylov loops on a square CPU spla ``A``:
    SciPy's ``make_system`` checks and casts ``b``, ``x0`` (or ``"Mb"``) and ``M``;
    ``psolve`` is M's product, None without ``M``."""
    from scipy.sparse.linalg._isolve.utils import make_system

    if is_spla(M):
        M = operator(M, "M")
    _, Mop, x, b = make_system(SplaOperator(A), M, x0, b)
    return (None if M is None else Mop.matvec), x, b
