"""The cached transpose of CSR storage, and the policy that builds it.

``A.T @ x`` of a CSR array (and ``A @ x`` of a CSC array, ``x @ A``, ``rmatvec``
and ``rmatmat``) is a scatter through A's rows, which does not scale with
threads. With a transpose of the storage at hand (``t_indptr``, ``t_indices``,
``t_data``: one parallel counting sort, about the cost of three products), the
same product is a gather (``spla._kernels.transposed``), one output entry per
transposed row, as parallel as an SpMV. It lives in the array's derived state
(``A._derived``, the last item of the storage tuple), so every write through spla
forgets it with the storage it was built from.

The gather adds the entries of each column in A's row order, as SciPy's loop
does: its results are SciPy's bits, and those of spla's scatter in one lane.
Above ``csr._SCATTER_PARALLEL_MIN_NNZ`` stored entries spla's uncached scatter
runs in four lanes (added in a fixed order), which rounds differently in the
last bits; so a product gives the same bits with or without the transpose only
within one policy (below).

The transpose holds a copy of the values: a change made in place to the NumPy
array ``A.data`` (``A.data *= 2``, or to the array ``A`` was built from) is not
seen by a transposed product that reads a transpose built before it. SciPy's
arrays see such changes, so by default spla keeps the transpose only while
nothing but spla can change the values:

- ``"solvers"`` (default): ``spla.linalg``'s solvers that make a transposed
  product per iteration (``lsqr``, ``lsmr``, ``bicg``, ``qmr``) build it before
  their first product (``prepare``) and drop it when they return (``release``;
  unless it was there before). Other transposed products scatter, in four lanes
  above the parallel size.
- ``"auto"``: besides, the second transposed product of an array builds it and
  it is kept until a write through spla or :func:`drop_transpose`; the first one
  scatters in one lane, so that every transposed product of the array has the
  same bits. After changing ``A.data`` in place, call ``drop_transpose(A)``.
- ``"never"``: never built; a kept one is not used.

Column sums (``A.sum(axis=0)`` of CSR) always scatter, in four lanes above the
parallel size, and never build nor read the transpose.

Before any of this, a matrix-vector transposed product (``A.T @ x``, ``x @ A``,
``rmatvec``) of storage with a lane plan (``spla._backends.cpu.lanes``: rows local
enough that lanes of rows write mostly their own columns) scatters in those lanes,
with SciPy's bits in every mode, reading the values where they are; such an array
never builds the transpose through ``"auto"``, and ``bicg``/``qmr`` sweep it once
for both of their products instead of holding the transpose.

Memory: ``t_indptr`` (n + 1 entries), ``t_indices`` and ``t_data`` (one each per
stored entry): as much again as A's storage.

Solvers hold the transpose through ``prepare(A)``, which returns a hold (None
when there is nothing to hold: not CSR/CSC on the CPU, no entries, mode
``"never"``), and ``release(hold)`` (None is fine) when they return, in a
``finally``. Holds are counted, so two solves of one array at once share one
transpose, dropped when the last one returns.
"""

import contextlib
import threading

from ..._kernels import transposed as TK
from ..._kernels.partition import num_chunks, row_blocks
from ..._kernels.threads import parallel_section
from . import convert as convert_ops

__all__ = ["set_transpose_cache", "drop_transpose"]

#: The key of the cached transpose in ``A._derived``; its value is
#: ``(t_indptr, t_indices, t_data, blocks)``.
KEY = "transpose"
#: The key of the count of transposed products made without the cache ("auto").
COUNT_KEY = "transposed_products"
#: The keys of the solvers' holds on the transpose, and of the mark that a solver
#: built it (so that the last release drops it).
HOLDS_KEY = "transpose_holds"
OWNED_KEY = "transpose_for_solvers"

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
    array ``A.data`` is not seen until ``drop_transpose(A)``. A product through
    it has SciPy's bits (each column's entries added in row order); without it,
    products of more than 32768 stored entries scatter in four lanes and may
    differ from those in the last bits (``"auto"`` scatters an array's first
    product in one lane, so that all of its products agree). Matrix-vector
    products of an array whose rows are local (stencils, bands: a lane plan)
    scatter in row lanes with SciPy's bits in every mode and build nothing.

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
    with _lock:
        cached = derived.get(KEY)
        derived[KEY] = None
        derived[COUNT_KEY] = 0
        derived.pop(OWNED_KEY, None)
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


def lookup(A):
    """``(cached, one_lane)`` for a transposed product of CSR storage ``A`` (a
    snapshot): the transpose to gather on (built now when ``"auto"`` says so), or
    None; ``one_lane``: scatter in one lane (``"auto"``'s first product, so that
    its bits are the gather's)."""
    mode = _mode
    if mode == "never":
        return None, False
    derived = A._derived
    cached = derived.get(KEY)
    if cached is not None:
        return cached, False
    if mode != "auto":
        return None, False
    count = derived.get(COUNT_KEY) or 0
    if count < AUTO_AFTER:
        derived[COUNT_KEY] = count + 1
        return None, True
    cached = derived[KEY] = _build(A)
    return cached, False


class _Hold:
    """A solver's hold on the transpose in one derived-state cache."""

    __slots__ = ("derived",)

    def __init__(self, derived):
        self.derived = derived


def prepare(A):
    """Build (or share) the transpose of spla array ``A`` for a solver that will
    make many transposed products; returns a hold to pass to :func:`release`
    when the solve ends, or None where there is nothing to hold (not CSR or CSC
    storage on the CPU, no stored entries, mode ``"never"``)."""
    if _mode == "never" or getattr(A, "format", None) not in ("csr", "csc"):
        return None
    if A.device != "cpu" or A.ndim != 2:
        return None
    major = A._major()  # a snapshot: the transpose goes into its storage's cache
    if major.nnz == 0:
        return None
    derived = major._derived
    with _lock:  # two solves starting together build it once
        if derived.get(KEY) is None:
            derived[KEY] = _build(major)
            derived[OWNED_KEY] = True
        derived[HOLDS_KEY] = (derived.get(HOLDS_KEY) or 0) + 1
    return _Hold(derived)


def release(hold):
    """End a solver's hold (from :func:`prepare`; None does nothing): the last
    hold drops a transpose that a solver built, unless the mode is ``"auto"``. A
    write through spla during the solve emptied the cache already. (An spla array
    instead of a hold releases one hold on its current storage.)"""
    if hold is None or isinstance(hold, bool):
        return
    if isinstance(hold, _Hold):
        derived = hold.derived
    elif getattr(hold, "format", None) in ("csr", "csc") and getattr(hold, "ndim", 0) == 2:
        derived = hold._major()._derived
    else:
        raise TypeError(f"release: expected a hold from prepare, got {type(hold).__name__}")
    with _lock:
        holds = (derived.get(HOLDS_KEY) or 0) - 1
        if holds > 0:
            derived[HOLDS_KEY] = holds
            return
        derived.pop(HOLDS_KEY, None)
        if derived.pop(OWNED_KEY, False) and _mode != "auto":
            derived[KEY] = None
            derived[COUNT_KEY] = 0



@contextlib.contextmanager
def held(A):
    """``with held(A):`` keeps A's transpose for the statements inside: ``prepare``
    before them, ``release`` after (also when they raise)."""
    hold = prepare(A)
    try:
        yield
    finally:
        release(hold)

def _values(cached, dt):
    t_data = cached[2]
    return t_data if t_data.dtype == dt else t_data.astype(dt)


def rmatvec(cached, x, y, small):
    """``y = A.T @ x`` through the cached transpose (``x``, ``y`` contiguous in the
    compute dtype)."""
    t_indptr, t_indices, _, blocks = cached
    t_data = _values(cached, y.dtype)
    zero = y.dtype.type(0)
    if small:
        TK.gather_serial(t_indptr, t_indices, t_data, x, y, blocks, zero)
    else:
        with parallel_section():
            TK.gather(t_indptr, t_indices, t_data, x, y, blocks, zero)
    return y


def rmatmat(cached, X, Y, small):
    """``Y = A.T @ X`` through the cached transpose (C-contiguous, compute dtype)."""
    t_indptr, t_indices, _, blocks = cached
    t_data = _values(cached, Y.dtype)
    zero = Y.dtype.type(0)
    if small:
        TK.gather_mat_serial(t_indptr, t_indices, t_data, X, Y, blocks, zero)
    else:
        with parallel_section():
            TK.gather_mat(t_indptr, t_indices, t_data, X, Y, blocks, zero)
    return Y
