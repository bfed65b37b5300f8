"""``expm_multiply``, ``norm`` and ``onenormest`` for spla arrays."""

import numpy as np
import scipy.sparse.linalg as sla

from . import _convert
from ._threads import solver_threads

__all__ = ["expm_multiply", "norm", "onenormest"]


def expm_multiply(A, B, start=None, stop=None, num=None, endpoint=None, traceA=None):
    """The action of the matrix exponential, ``expm(t A) @ B`` (Al-Mohy and Higham).

    For a CPU spla ``A`` and a dense ``B``, SciPy's algorithm for a sparse matrix
    (exact trace and exact 1-norm of ``A - mu I``, SciPy's choice of the Taylor
    degree and scaling) with spla's products and one fused pass per Taylor term
    (``spla/linalg/_expm.py``); other input goes to
    ``scipy.sparse.linalg.expm_multiply`` with spla's products.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        Square ``(n, n)`` matrix.
    B : ndarray, shape (n,) or (n, k)
        The vector(s) to act on.
    start, stop, num, endpoint, traceA
        As in SciPy: a grid of ``t`` values (``t = 1`` by default).

    Returns
    -------
    ndarray
        ``expm(A) @ B``, or ``expm(t_q A) @ B`` stacked along the first axis.

    Raises
    ------
    ValueError
        If ``A`` is not square or ``B`` does not have ``n`` rows.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.diag([0.0, 1.0]))
    >>> spla.linalg.expm_multiply(A, np.ones(2)).round(6).tolist()
    [1.0, 2.718282]
    """
    if not _convert.is_spla(A):
        return sla.expm_multiply(A, B, start=start, stop=stop, num=num, endpoint=endpoint,
                                 traceA=traceA)
    _convert.check_square(A, "expm_multiply")
    if (A.device == "cpu" and A.shape[0] > 0 and not _convert.is_spla(B)
            and not _convert.sp.issparse(B) and np.asarray(B).dtype != object):
        from ._expm import spla_expm_multiply

        with solver_threads(True):
            X = spla_expm_multiply(A, np.asarray(B), start, stop, num, endpoint, traceA)
        if X is not None:
            return X
    if traceA is None:
        traceA = A.diagonal().sum()
    with solver_threads(True):
        return sla.expm_multiply(_convert.operator(A), B, start=start, stop=stop, num=num,
                                 endpoint=endpoint, traceA=traceA)


def onenormest(A, t=2, itmax=5, compute_v=False, compute_w=False):
    """Lower bound of the 1-norm of a square matrix (Higham and Tisseur's block algorithm).

    ``scipy.sparse.linalg.onenormest``: its iterations multiply blocks of ``t``
    vectors by ``A`` and ``A^H``, which run as spla SpMMs for an spla ``A``.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        Square matrix.
    t, itmax, compute_v, compute_w
        As in SciPy.

    Returns
    -------
    est : float
        The estimate (then ``v`` and ``w`` when asked).

    Raises
    ------
    ValueError
        If ``A`` is not square.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[1.0, -2.0], [3.0, 4.0]]))
    >>> float(spla.linalg.onenormest(A))
    6.0
    """
    if _convert.is_spla(A):
        _convert.check_square(A, "onenormest")
    with solver_threads(_convert.is_spla(A)):
        return sla.onenormest(_convert.operator(A), t=t, itmax=itmax, compute_v=compute_v,
                              compute_w=compute_w)


def _abs_canonical(A):
    """``|A|`` as a canonical spla csr_array (duplicates summed before the absolute value)."""
    from .._formats.compressed import csr_array

    C = A.tocsr()._deduped()  # a canonical snapshot: one reading of the storage
    return csr_array((np.abs(C.data), C.indices, C.indptr), shape=C.shape)


def norm(x, ord=None, axis=None):
    """Norm of a sparse matrix (``scipy.sparse.linalg.norm``'s orders and axes).

    The Frobenius norm, the 1- and infinity norms (and their ``-1``/``-inf``
    minima) are spla reductions of the canonical ``|A|``; the 2-norm and the
    vector norms along an axis go to SciPy over the same CSR storage.

    Parameters
    ----------
    x : spla array or SciPy sparse array
        The matrix.
    ord : {None, "fro", 1, -1, inf, -inf, 2, -2} or int, optional
        Order of the norm (Frobenius by default).
    axis : None, int or tuple of 2 ints, optional
        ``None`` or a pair: matrix norm; an int: vector norms along that axis.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        For an order SciPy does not define.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[3.0, 0.0], [-4.0, 1.0]]))
    >>> float(spla.linalg.norm(A)), float(spla.linalg.norm(A, 1)), float(spla.linalg.norm(A, np.inf))
    (5.0990195135927845, 7.0, 5.0)
    """
    if not _convert.is_spla(x):
        return sla.norm(x, ord=ord, axis=axis)
    _convert.require_cpu(x, "norm")
    matrix = axis is None or (isinstance(axis, tuple) and sorted(
        a % 2 for a in axis) == [0, 1] and len(axis) == 2)
    flip = isinstance(axis, tuple) and len(axis) == 2 and axis[0] % 2 == 1
    if matrix and ord in (None, "fro", "f", 1, -1, np.inf, -np.inf):
        if x.shape[0] == 0 or x.shape[1] == 0:
            return 0.0 if ord in (None, "fro", "f") else sla.norm(
                _convert.scipy_view(x, "csr"), ord=ord, axis=axis)
        absA = _abs_canonical(x)
        if ord in (None, "fro", "f"):
            return np.linalg.norm(absA.data)
        by = 0 if ord in (1, -1) else 1
        if flip:
            by = 1 - by
        sums = np.asarray(absA.sum(axis=by)).ravel()
        return sums.max() if ord in (1, np.inf) else sums.min()
    return sla.norm(_convert.scipy_view(x, "csr"), ord=ord, axis=axis)
