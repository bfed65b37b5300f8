"""``solve_banded``: a banded matrix handed to LAPACK (``gbsv``, or ``gtsv`` for a
tridiagonal one) through ``scipy.linalg.solve_banded``."""

import numpy as np

from .._device import is_gpu_array

__all__ = ["solve_banded"]


def solve_banded(A, b, *, check_finite=True):
    """Solve ``A @ x = b`` for a square banded ``A`` with LAPACK (partial pivoting).

    Parameters
    ----------
    A : banded_array, or anything ``spla.banded_array`` accepts
        Square ``(n, n)`` matrix. Its band ``(l, u) = A.bandwidth`` is what LAPACK
        factorises: O(n l (l + u)) time, O(n (2 l + u + 1)) memory.
    b : array_like, shape (n,) or (n, k)
        Right-hand side(s).
    check_finite : bool, default True
        Check that ``A`` and ``b`` hold only finite numbers (``ValueError`` otherwise).

    Returns
    -------
    x : ndarray, shape of ``b``
        Dtype: NumPy's promotion of ``A.dtype`` and ``b.dtype`` (at least float32).

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``A`` is singular (an exactly zero pivot).
    ValueError
        If ``A`` is not square, or ``b`` does not have ``n`` rows or is not 1-D or 2-D.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.banded_array(np.array([[4.0, 1.0, 0.0],
    ...                                 [1.0, 4.0, 1.0],
    ...                                 [0.0, 1.0, 4.0]]))
    >>> x = spla.linalg.solve_banded(A, np.array([5.0, 6.0, 5.0]))
    >>> np.allclose(x, [1.0, 1.0, 1.0])
    True
    """
    import scipy.linalg

    from .._formats.banded import banded_array

    if not isinstance(A, banded_array):
        A = banded_array(A)
    if A.device != "cpu":
        raise ValueError("solve_banded needs A on the CPU; use A.to_device('cpu') first")
    m, n = A.shape
    if m != n:
        raise ValueError(f"solve_banded: A must be square, got shape {A.shape}")
    if is_gpu_array(b):
        raise ValueError("solve_banded: b is a CuPy (GPU) array; move it to the CPU first")
    b = np.asarray(b)
    if b.dtype == object:
        raise TypeError("solve_banded: b must be a numeric array")
    if b.ndim not in (1, 2):
        raise ValueError(f"solve_banded: b must be 1-D or 2-D, got shape {b.shape}")
    if b.shape[0] != n:
        raise ValueError(
            f"solve_banded: b has {b.shape[0]} rows but A is {A.shape} (needs {n})"
        )
    if b.dtype.kind in "biu":
        b = b.astype(np.float64)
    ab, (l, u) = A.to_lapack()
    if n == 1:
        # SciPy divides by ab[u, 0] for a 1 x 1 system: check the pivot ourselves.
        if ab[u, 0] == 0:
            raise np.linalg.LinAlgError("singular matrix")
    dt = np.result_type(ab.dtype, b.dtype, np.float32)
    return scipy.linalg.solve_banded((l, u), ab.astype(dt, copy=False), b.astype(dt, copy=False),
                                     check_finite=check_finite)
