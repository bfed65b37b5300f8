"""The cached transpose of CSR storage, and the policy that builds it.

``A.T @ x`` of a CSR array (and ``A @ x`` of a CSC array, ``x @ A``, ``rmatvec``
and ``rmatmat``) is a scatter through A's rows, which does not scale with
threads. With a transpose of the storage at hand (``t_indptr``, ``t_indices``,
``t_data``: one parallel counting sort, about the cost of three products), the
same product is a gather (``spla._kernels.transposed``) that gives the scatter's
result bit for bit. It lives in the array's derived state (``A._derived``), and
every write through spla forgets it like every other derived entry.

The transpose holds a copy of the values: a change made in place to the NumPy
array ``A.data`` (``A.data *= 2``, or to the array ``A`` was built from) is not
seen by a transposed product that reads a transpose built before it. SciPy's
arrays see such changes, so by default spla keeps the transpose only while
nothing but spla can change the values:

- ``"solvers"`` (default): ``spla.linalg``'s solvers that make a transposed
  product per iteration (``lsqr``, ``lsmr``, ``bicg``, ``qmr``) build it before
  their first product and drop it when they return (unless it was there
  before). Other transposed products scatter.
- ``"auto"``: besides, the second transposed product of an array builds it and
  it is kept until a write through spla or :func:`drop_transpose`. After
  changing ``A.data`` in place, call ``drop_transpose(A)``.
- ``"never"``: never built; a kept one is not used.

Memory: ``t_indptr`` (n + 1 entries), ``t_indices`` and ``t_data`` (one each per
stored entry): as much again as A's storage.

Results are bit for bit those of the scatter (one lane, A's row order, as
SciPy's loop), so a product gives the same bits with or without the transpose.
"""

import threading

import numpy as np

from ..._kernels import transposed as TK
from ..._kernels.partition import num_chunks, row_blocks
from ..._kernels.threads import parallel_section
from . import convert as convert_ops

__all__ = ["set_transpose_cache", "drop_transpose"]

#: The key of the cached transpose in ``A._derived``; its value is
#: ``(t_indptr, t_indices, t_data, blocks)``.
KEY = "transpose"
#: The key of the count of transposed products made without the cache.
COUNT_KEY = "transposed_products"

_MODES = ("solvers", "auto", "never")
_mode = "solvers"
_lock = threading.Lock()
#: Transposed products made before ``"auto"`` builds the cache.
AUTO_AFTER = 1


def set_transpose_cache(mode):
    """Choose when spla keeps the transpose of a CSR or CSC array for its
    transposed products; returns the previous mode.

    Parameters
    ----------
    mode : {"solvers", "auto", "never"}
        ``"solvers"`` (the default): only for the duration of a solve by the
        ``spla.linalg`` solvers that make a transposed product per iteration
        (``lsqr``, ``lsmr``, ``bicg``, ``qmr``). ``"auto"``: besides, an array's
        second transposed product (``A.T @ x``, ``x @ A``, ``A.rmatvec``;
        ``A @ x`` of a CSC array) builds it, and it is kept. ``"never"``: never
        built nor used.

    Returns
    -------
    str
        The mode before the call.

    Notes
    -----
    The transpose costs as much memory as the array's storage again. It is
    dropped by every write through spla (indexing, ``setdiag``, assigning
    ``A.data``, ...), by :func:`drop_transpose`, and with the array. It holds a
    copy of the values: with ``"auto"``, a change made in place to the NumPy
    array ``A.data`` is not seen until ``drop_transpose(A)``. Results are the
    same bits with or without it.

    Examples
    --------
    >>> import spla
    >>> previous = spla.set_transpose_cache("auto")
    >>> previous
    'solvers'
    >>> spla.set_transpose_cache(previous)
    'auto'
    """
    global _mode
    if mode not in _MODES:
        raise ValueError(f"set_transpose_cache: mode must be one of {_MODES}, got {mode!r}")
    with _lock:
        previous, _mode = _mode, mode
    return previous


def drop_transpose(A):
    """Free the transpose that spla keeps for ``A``'s transposed products;
    returns the number of bytes released (0 when none was kept).

    The next transposed products follow :func:`set_transpose_cache`'s mode as
    for a new array (with ``"auto"``: the second one builds it again). Call it
    after changing ``A.data`` in place when the mode is ``"auto"``.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.random_array((300, 200), density=0.05, rng=0, format="csr")
    >>> x = np.ones(300)
    >>> previous = spla.set_transpose_cache("auto")
    >>> y1, y2 = A.T @ x, A.T @ x        # the second product builds the transpose
    >>> spla.drop_transpose(A) > 0
    True
    >>> spla.drop_transpose(A)
    0
    >>> _ = spla.set_transpose_cache(previous)
    """
    derived = getattr(A, "_derived", None)
    if derived is None:
        raise TypeError(f"drop_transpose: expected an spla array, got {type(A).__name__}")
    cached = derived.get(KEY)
    derived[KEY] = None
    derived[COUNT_KEY] = 0
    if cached is None:
        return 0
    return int(sum(a.nbytes for a in cached))


def _build(A):
    """The transpose of CSR storage ``A``: ``(t_indptr, t_indices, t_data, blocks)``."""
    m, n = A.shape
    nnz = int(A.indptr[-1])
    t_data, t_indices, t_indptr, _ = convert_ops.transpose(A.data[:nnz], A.indices[:nnz],
                                                           A.indptr, (m, n))
    blocks = row_blocks(t_indptr, num_chunks(n, nnz))
    return t_indptr, t_indices, t_data, blocks


def get(A, want=False, count=True):
    """The cached transpose of CSR storage ``A`` when the policy says to use it
    (building it if the policy says so now), else None. ``want``: build it now
    (a solver asks); ``count``: the product counts towards building it (column
    sums do not: they use a transpose kept already, never build one)."""
    if _mode == "never":
        return None
    derived = A._derived
    cached = derived.get(KEY)
    if cached is not None or not (want or count):
        return cached
    if not want and _mode == "solvers":
        return None
    if not want:  # "auto"
        count = derived.get(COUNT_KEY) or 0
        if count < AUTO_AFTER:
            derived[COUNT_KEY] = count + 1
            return None
    cached = _build(A)
    derived[KEY] = cached
    return cached


def prepare(A):
    """Build the cached transpose of spla array ``A`` now, for a solver that will
    make many transposed products (CSR or CSC storage on the CPU, mode not
    ``"never"``); anything else is left alone. Returns True when the solver
    should drop it when it returns (it was built here, and the mode is
    ``"solvers"``)."""
    if _mode == "never" or getattr(A, "format", None) not in ("csr", "csc"):
        return False
    if A.device != "cpu" or A.ndim != 2 or A.nnz == 0:
        return False
    major = A._major()
    if major._derived.get(KEY) is not None:
        return False
    get(major, want=True)
    return _mode == "solvers"


def rmatvec(cached, data, x, y, small):
    """y = A.T @ x through the cached transpose (``x``, ``y`` in the compute dtype,
    ``data`` A's values cast to it)."""
    t_indptr, t_indices, t_data, blocks = cached
    t_data = t_data if t_data.dtype == data.dtype else t_data.astype(data.dtype)
    zero = y.dtype.type(0)
    if small:
        TK.gather_serial(t_indptr, t_indices, t_data, x, y, blocks, zero)
    else:
        with parallel_section():
            TK.gather(t_indptr, t_indices, t_data, x, y, blocks, zero)
    return y


def rmatmat(cached, data, X, Y, small):
    """Y = A.T @ X through the cached transpose (X C-contiguous, compute dtype)."""
    t_indptr, t_indices, t_data, blocks = cached
    t_data = t_data if t_data.dtype == data.dtype else t_data.astype(data.dtype)
    zero = Y.dtype.type(0)
    if small:
        TK.gather_mat_serial(t_indptr, t_indices, t_data, X, Y, blocks, zero)
    else:
        with parallel_section():
            TK.gather_mat(t_indptr, t_indices, t_data, X, Y, blocks, zero)
    return Y


def release(A):
    """Drop the cached transpose of spla array ``A`` (a solver's, when it returns)."""
    if getattr(A, "format", None) in ("csr", "csc"):
        drop_transpose(A)
