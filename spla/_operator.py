"""The linear-operator protocol of ``scipy.sparse.linalg`` for spla arrays.

``scipy.sparse.linalg.aslinearoperator`` accepts any object with ``shape`` and
``matvec`` (and reads ``rmatvec``, ``rmatmat`` and ``dtype`` when present), so
every solver and eigensolver of SciPy (``cg``, ``gmres``, ``eigsh``, ``svds``,
``lsqr``, ...) runs on an object that has them. :class:`OperatorMixin` gives
spla's arrays those methods, each one product with spla's kernels:
``matvec``/``matmat`` are ``A @ x`` and ``rmatvec``/``rmatmat`` are
``A^H @ x``, computed as ``conj(A.T @ conj(x))`` so that the conjugate matrix
is never built.

This module imports nothing from spla (``spla._base`` imports it): the mixin
needs only ``self.shape``, ``self.dtype``, ``self.T`` and ``self @ x``.
"""

import numpy as np

__all__ = ["OperatorMixin"]


def _as_operand(x):
    """``x`` unchanged if it is an array of some library, else a NumPy array."""
    return x if hasattr(x, "ndim") and hasattr(x, "shape") else np.asarray(x)


class OperatorMixin:
    """``matvec``, ``rmatvec``, ``matmat``, ``rmatmat``: SciPy's operator protocol.

    The shapes follow ``scipy.sparse.linalg.LinearOperator``: ``matvec`` takes a
    vector of shape ``(N,)`` or ``(N, 1)`` and returns ``(M,)`` or ``(M, 1)``;
    ``matmat`` takes ``(N, K)`` and returns ``(M, K)``; the ``r`` variants apply
    the conjugate transpose. Vectors stay on the array's device (CuPy arrays for
    GPU storage).

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> A.matvec(np.array([1.0, 1.0]))
    array([3., 3.])
    >>> A.rmatvec(np.array([1.0, 1.0]))
    array([1., 5.])
    >>> from scipy.sparse.linalg import aslinearoperator
    >>> aslinearoperator(A).shape
    (2, 2)
    """

    __slots__ = ()

    def _check_vector(self, x, n, what):
        x = _as_operand(x)
        if x.shape not in ((n,), (n, 1)):
            raise ValueError(
                f"{what}: dimension mismatch: operator {self.shape} needs a vector of shape "
                f"({n},) or ({n}, 1), got {x.shape}"
            )
        return x

    def _check_matrix(self, X, n, what):
        X = _as_operand(X)
        if X.ndim != 2:
            raise ValueError(f"{what}: expected a 2-D array, got {X.ndim}-D with shape {X.shape}")
        if X.shape[0] != n:
            raise ValueError(
                f"{what}: dimension mismatch: operator {self.shape} needs {n} rows, "
                f"got shape {X.shape}"
            )
        return X

    def _adjoint_product(self, x):
        """``A^H @ x`` without building ``conj(A)``."""
        if self.dtype.kind == "c":
            return (self.T @ x.conj()).conj()
        return self.T @ x

    def matvec(self, x):
        """``A @ x`` for a vector ``x`` of shape ``(N,)`` or ``(N, 1)``."""
        x = self._check_vector(x, self.shape[1], "matvec")
        y = self @ x.reshape(-1)
        return y.reshape(-1, 1) if x.ndim == 2 else y

    def rmatvec(self, x):
        """``A^H @ x`` (conjugate transpose) for ``x`` of shape ``(M,)`` or ``(M, 1)``."""
        x = self._check_vector(x, self.shape[0], "rmatvec")
        y = self._adjoint_product(x.reshape(-1))
        return y.reshape(-1, 1) if x.ndim == 2 else y

    def matmat(self, X):
        """``A @ X`` for a dense ``(N, K)`` matrix ``X`` (one SpMM)."""
        return self @ self._check_matrix(X, self.shape[1], "matmat")

    def rmatmat(self, X):
        """``A^H @ X`` for a dense ``(M, K)`` matrix ``X``."""
        return self._adjoint_product(self._check_matrix(X, self.shape[0], "rmatmat"))
