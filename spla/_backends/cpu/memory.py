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
"""

import contextlib
import threading

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


def free_workspace():
    """Release the scratch buffer that spla's CPU products keep between calls.

    CSR SpMM with a large dense operand (``A @ X``) copies ``X`` into a buffer
    whose rows start on cache lines, and keeps that buffer (at most 1 GiB) for
    the next call. This frees it; the next such product allocates it again.

    Examples
    --------
    >>> import spla
    >>> spla.free_workspace()
    """
    global _kept
    with _lock:
        _kept = None


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
