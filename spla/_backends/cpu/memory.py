"""Memory of the CPU products: outputs, and gathered operands laid out on cache lines.

**Outputs.** A fresh NumPy array's pages are mapped on first write. When two
threads of a parallel kernel take those page faults at once, they ran up to
ten times slower on this project's 2-core VMs than one thread taking them in
a row (a 256 MB SpMM output: 30 ms when touched by one thread, 250 to 350 ms
when faulted inside the kernel after another library had freed a large
buffer). ``empty_output`` touches the pages of large outputs on the calling
thread first; the SpMM of every format allocates its output with it.

**Gathered operands.**
A CSR SpMM gathers one row of X per stored entry. NumPy puts large arrays 16
bytes past a page boundary, so a row of 16 float64 (128 bytes) spans three
64-byte lines instead of two, and a random gather moves half as many bytes
again as it uses. ``gathered_rows`` copies X into rows that start on a line
and are padded to whole lines (two lines per row here). On matrices whose
gathers miss the caches that is 30% off the product (2,000,000 rows, 10
random entries per row, 16 columns: 300 ms to 215 ms on a 2-core AMD EPYC).

The copy goes into one buffer kept by the module and reused by later calls:
the first touch of fresh memory (page faults) costs more than the copy itself,
and as much as the copy saves. The buffer grows to the largest operand seen,
up to ``KEEP_BYTES``; larger operands get a buffer of their own, freed after the
call. A call that finds the buffer in use by another thread gets its own too.
``free_workspace()`` (public as ``spla.free_workspace``) gives the kept buffer
back to the allocator.

**Reused outputs.** The results of the O(nnz) array operations (value maps such
as ``abs`` and ``power``, structure copies, ``tocoo``'s rows) are new arrays of
the operand's size. Fresh pages cost the kernel's zeroing of every page on top
of the operation's own writes (n = 2e6, 160 MB of float64: ``np.abs`` into a
fresh array 24 ms of CPU, into a reused one 14 ms; ``benchmarks.api_first_touch``).
``pooled_empty`` hands out large outputs from buffers that earlier results
gave back: an array from it keeps its buffer's *lease* alive (through its
``base``), and when the last array over the lease is gone the buffer returns to
the pool, which keeps free buffers up to ``POOL_KEEP_BYTES`` in all (the rest go
back to the allocator). A buffer is reused for a request of 80% to 100% of its
size. ``free_workspace()`` empties the pool too.
"""

import contextlib
import threading
import weakref

import numpy as np
from numba import njit, prange

#: Alignment and padding unit of the rows: one cache line.
LINE = 64
#: Largest scratch buffer kept between calls (bytes).
KEEP_BYTES = 1 << 30
#: Outputs from this size on (bytes) are touched by the calling thread first.
TOUCH_MIN_BYTES = 8 << 20
_PAGE = 4096

_lock = threading.Lock()
_kept = None

#: Outputs from this size on (bytes) come from ``pooled_empty``'s pool.
POOL_MIN_BYTES = 8 << 20
#: Most bytes of free buffers the pool keeps (0: no pool, every output fresh).
POOL_KEEP_BYTES = 1 << 30
#: Pool buffers are whole multiples of this (a huge page).
_POOL_UNIT = 2 << 20
# Free buffers (1-D uint8 arrays); an RLock: a lease may die, and give its buffer
# back, inside the garbage collector while this thread holds the lock.
_pool = []
_pool_lock = threading.RLock()


def free_workspace():
    """Release the scratch buffer that spla's CPU products keep between calls.

    CSR SpMM with a large dense operand (``A @ X``) copies ``X`` into a buffer
    whose rows start on cache lines, and keeps that buffer (at most 1 GiB) for
    the next call. This frees it; the next such product allocates it again.

    It also empties the pool of reused outputs: large results of value maps
    (``abs``, ``power``), structure copies, ``tocoo`` and COO -> CSR take their
    memory from buffers that earlier, dropped results gave back (at most
    ``POOL_KEEP_BYTES``, 1 GiB, of free buffers are kept).

    Examples
    --------
    >>> import spla
    >>> spla.free_workspace()
    """
    global _kept
    with _lock:
        _kept = None
    with _pool_lock:
        _pool.clear()


class _Lease:
    """Holds a pool buffer while arrays use it: NumPy arrays made from it keep it
    (their ``base``) alive; its finaliser gives the buffer back to the pool."""

    __slots__ = ("__array_interface__", "__weakref__")


def _give_back(buf):
    with _pool_lock:
        held = sum(b.nbytes for b in _pool)
        if held + buf.nbytes <= POOL_KEEP_BYTES:
            _pool.append(buf)


def _take(nbytes):
    """The smallest free buffer of nbytes to nbytes / 0.8 bytes, removed from the pool."""
    with _pool_lock:
        best = -1
        for k, b in enumerate(_pool):
            if nbytes <= b.nbytes and 4 * b.nbytes <= 5 * nbytes + 4 * _POOL_UNIT and (
                    best < 0 or b.nbytes < _pool[best].nbytes):
                best = k
        return _pool.pop(best) if best >= 0 else None


def pooled_empty(n, dtype):
    """``np.empty(n, dtype)``, from a reused buffer of the pool when it is at least
    ``POOL_MIN_BYTES`` (see the module docstring). The contents are undefined.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._backends.cpu.memory import pooled_empty
    >>> a = pooled_empty(3 << 20, np.float64)
    >>> a.shape, a.dtype, a.flags.c_contiguous
    ((3145728,), dtype('float64'), True)
    """
    dtype = np.dtype(dtype)
    n = int(n)
    nbytes = n * dtype.itemsize
    if nbytes < POOL_MIN_BYTES or POOL_KEEP_BYTES <= 0 or dtype.hasobject:
        return np.empty(n, dtype=dtype)
    buf = _take(nbytes)
    if buf is None:
        buf = np.empty(-(-nbytes // _POOL_UNIT) * _POOL_UNIT, dtype=np.uint8)
    lease = _Lease()
    lease.__array_interface__ = {"shape": (buf.nbytes,), "typestr": "|u1", "version": 3,
                                 "data": (buf.ctypes.data, False)}
    fin = weakref.finalize(lease, _give_back, buf)
    fin.atexit = False
    return np.asarray(lease)[:nbytes].view(dtype)


def empty_output(shape, dtype, zero=False, aligned=False):
    """``np.empty(shape, dtype)`` (``np.zeros`` with ``zero``), its pages already
    mapped (one write per page, on this thread) when it is ``TOUCH_MIN_BYTES``
    or larger. Without ``zero`` the contents are undefined, as for ``np.empty``.
    With ``aligned`` the array starts on a cache line (``LINE`` bytes): a
    C-contiguous view of a slightly larger buffer."""
    if aligned:
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        buf = np.zeros(nbytes + LINE, np.uint8) if zero else np.empty(nbytes + LINE, np.uint8)
        off = -buf.ctypes.data % LINE
        out = buf[off:off + nbytes].view(dtype).reshape(shape)
    else:
        out = np.zeros(shape, dtype=dtype) if zero else np.empty(shape, dtype=dtype)
    if out.nbytes >= TOUCH_MIN_BYTES:
        out.reshape(-1)[::max(1, _PAGE // out.itemsize)] = 0
    return out


def _lines_per_row(offset, row_bytes):
    """Average number of cache lines a row of ``row_bytes`` spans when row 0
    starts ``offset`` bytes into a line and rows follow each other."""
    if row_bytes == 0:
        return 0.0
    total = 0
    for i in range(LINE):
        start = (offset + i * row_bytes) % LINE
        total += (start + row_bytes - 1) // LINE + 1
    return total / LINE


def padded_width(k, itemsize):
    """Elements per row of the line-aligned copy: ``k`` rounded up to whole lines."""
    return -(-k * itemsize // LINE) * LINE // itemsize


def saves_lines(X, itemsize, threshold=0.8):
    """Whether gathering rows from a line-aligned, padded copy of the C-contiguous
    ``X`` touches at most ``threshold`` times the lines that gathering from ``X``
    does (0.67 for rows of 16 float64 16 bytes past a line)."""
    k = X.shape[1]
    here = _lines_per_row(X.ctypes.data % LINE, k * itemsize)
    aligned = padded_width(k, itemsize) * itemsize / LINE
    return here > 0 and aligned <= threshold * here


@njit(parallel=True, cache=True, nogil=True)
def _copy_rows(X, out):
    k = X.shape[1]
    for i in prange(X.shape[0]):
        for j in range(k):
            out[i, j] = X[i, j]


@contextlib.contextmanager
def gathered_rows(X, dtype):
    """Context manager giving ``X`` (any layout) as a C-contiguous ``(n, ld)`` array
    of ``dtype`` whose first ``k`` columns are ``X``, each row starting on a cache
    line, ``ld`` = ``padded_width``. The array lives in the scratch buffer until
    the context exits; the padding is not initialised."""
    global _kept
    n, k = X.shape
    dtype = np.dtype(dtype)
    ld = padded_width(k, dtype.itemsize)
    nbytes = n * ld * dtype.itemsize
    keep = nbytes + LINE <= KEEP_BYTES and _lock.acquire(blocking=False)
    try:
        if keep:
            if _kept is None or _kept.size < nbytes + LINE:
                _kept = None  # release the smaller buffer before taking a larger one
                _kept = np.empty(nbytes + LINE, dtype=np.uint8)
            buf = _kept
        else:
            buf = np.empty(nbytes + LINE, dtype=np.uint8)
        off = -buf.ctypes.data % LINE
        out = buf[off:off + nbytes].view(dtype).reshape(n, ld)
        if X.dtype == dtype and X.flags.c_contiguous:
            _copy_rows(X, out)
        else:
            out[:, :k] = X
        yield out
    finally:
        if keep:
            _lock.release()
