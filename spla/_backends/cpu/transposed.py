"""The cached transpose of CSR storage, and the policy that builds it.

``A.T @ x`` of a CSR array (and ``A @ x`` of a CSC array, ``x @ A``, ``rmatvec``
and ``rmatmat``) is a scatter through A's rows. On an array that makes many such
products (the transposed products of ``lsqr``, ``lsmr``, ``bicg``, ``qmr``), spla
keeps the structure of the transpose in the array's derived state (``A._derived``,
forgotten on every write like every other derived entry) and runs a gather on it
(``spla._kernels.transposed``). The values are not copied: they are read through
a permutation, so writes into ``A.data`` in place are seen at once.

Policy (``set_transpose_cache``):

- ``"auto"`` (default): the first transposed product of an array scatters; the
  second builds the transpose (one parallel counting sort, about the cost of
  three products) and every later one gathers. ``spla.linalg``'s solvers that
  make transposed products ask for it before their first product.
- ``"always"``: the first transposed product builds it.
- ``"never"``: never built; cached ones are not used.

Memory: ``t_indptr`` (n + 1 entries), ``t_indices`` and ``perm`` (one index
each per stored entry, int32 where they fit): for a float64 CSR array with
int32 indices, about as much again as ``A.indices`` and ``A.indptr`` plus 4
bytes per entry, i.e. 2/3 of ``A.nbytes``. ``drop_transpose(A)`` frees it.

Results are bit for bit those of the scatter (the gather sums each of the
scatter's lanes in the same order), so a product gives the same bits before and
after the cache is built, with any number of threads.
"""

import threading

import numpy as np

from ..._kernels import transposed as TK
from ..._kernels.partition import num_chunks, row_blocks
from ..._kernels.threads import parallel_section
from . import convert as convert_ops

__all__ = ["set_transpose_cache", "drop_transpose"]

#: The key of the cached transpose in ``A._derived``; its value is
#: ``(t_indptr, t_indices, perm, blocks)``.
KEY = "transpose"
#: The key of the count of transposed products made without the cache.
COUNT_KEY = "transposed_products"

_MODES = ("auto", "always", "never")
_mode = "auto"
_lock = threading.Lock()
#: Transposed products made before ``"auto"`` builds the cache.
AUTO_AFTER = 1


def set_transpose_cache(mode):
    """Choose when spla keeps the transpose of a CSR or CSC array for its
    transposed products; returns the previous mode.

    Parameters
    ----------
    mode : {"auto", "always", "never"}
        ``"auto"`` (the default): built on an array's second transposed product
        (``A.T @ x``, ``x @ A``, ``A.rmatvec``; ``A @ x`` of a CSC array), or
        before the first one by the ``spla.linalg`` solvers that make many
        (``lsqr``, ``lsmr``, ``bicg``, ``qmr``). ``"always"``: built on the first.
        ``"never"``: never built nor used (each transposed product scatters,
        and no memory is added).

    Returns
    -------
    str
        The mode before the call.

    Notes
    -----
    The transpose costs about ``A.indices`` and ``A.indptr`` again plus 4 bytes
    per stored entry (8 with int64 indices); the values are not copied. It is
    dropped by every write into the array, by :func:`drop_transpose`, and with
    the array. Results are the same bits with or without it.

    Examples
    --------
    >>> import spla
    >>> previous = spla.set_transpose_cache("never")
    >>> previous
    'auto'
    >>> spla.set_transpose_cache(previous)
    'never'
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
    for a new array (in ``"auto"``: the second one builds it again).

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.random_array((300, 200), density=0.05, rng=0, format="csr")
    >>> x = np.ones(300)
    >>> y1, y2 = A.T @ x, A.T @ x        # the second product builds the transpose
    >>> spla.drop_transpose(A) > 0
    True
    >>> spla.drop_transpose(A)
    0
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
    """The transpose's structure of CSR storage ``A``: ``(t_indptr, t_indices,
    perm, blocks)``, ``perm[q]`` the position in A of the q-th transposed entry."""
    m, n = A.shape
    nnz = int(A.indptr[-1])
    pos_dtype = np.int32 if nnz <= np.iinfo(np.int32).max else np.int64
    positions = np.arange(nnz, dtype=pos_dtype)
    perm, t_indices, t_indptr, _ = convert_ops.transpose(positions, A.indices[:nnz], A.indptr,
                                                         (m, n))
    blocks = row_blocks(t_indptr, num_chunks(n, nnz))
    return t_indptr, t_indices, perm, blocks


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
    if not want and _mode == "auto":
        count = derived.get(COUNT_KEY) or 0
        if count < AUTO_AFTER:
            derived[COUNT_KEY] = count + 1
            return None
    cached = _build(A)
    derived[KEY] = cached
    return cached


def prepare(A):
    """Build the cached transpose of spla array ``A`` now (CSR or CSC storage on
    the CPU, mode not ``"never"``): for solvers that will make many transposed
    products. Anything else is left alone."""
    if _mode == "never" or getattr(A, "format", None) not in ("csr", "csc"):
        return
    if A.device != "cpu" or A.ndim != 2:
        return
    major = A._major()
    get(major, want=True)


def rmatvec(cached, data, x, y, bounds, small):
    """y = A.T @ x through the cached transpose (``data``, ``x``, ``y`` in the
    compute dtype, ``bounds`` the scatter's lanes)."""
    t_indptr, t_indices, perm, blocks = cached
    zero = y.dtype.type(0)
    if small:
        TK.gather_lanes_serial(t_indptr, t_indices, perm, data, x, y, bounds, blocks, zero)
    else:
        with parallel_section():
            TK.gather_lanes(t_indptr, t_indices, perm, data, x, y, bounds, blocks, zero)
    return y


def rmatmat(cached, data, X, Y, bounds, small):
    """Y = A.T @ X through the cached transpose (X C-contiguous, compute dtype)."""
    t_indptr, t_indices, perm, blocks = cached
    zero = Y.dtype.type(0)
    if small:
        TK.gather_lanes_mat_serial(t_indptr, t_indices, perm, data, X, Y, bounds, blocks, zero)
    else:
        with parallel_section():
            TK.gather_lanes_mat(t_indptr, t_indices, perm, data, X, Y, bounds, blocks, zero)
    return Y
