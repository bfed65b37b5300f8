"""Maps over the stored values of a sparse array, in parallel.

``parallel_map`` runs a NumPy ufunc (or a ``numba.vectorize`` ufunc, or any
elementwise function) over contiguous pieces of ``data`` on a small pool of
Python threads: NumPy's ufunc loops release the GIL, so the pieces run at the
same time, and the ufunc keeps NumPy's exact semantics (dtype resolution,
NaN handling, warnings, errors). Small inputs take one call on the calling
thread.

The Numba kernels here keep the entries of a CSR structure where a mask is
true (the ``eliminate_zeros`` that SciPy runs after a comparison with a
scalar), in two passes over row blocks: count per block, then copy (each
block writing its rows' new starts as it goes).
"""

import concurrent.futures
import threading

import numba
import numpy as np
from numba import njit, prange

from .twins import twin

#: Unsigned loop bounds: no wrap-around tests on the accesses (see ``convert.py``).
U = np.uint64

#: Arrays with fewer elements than this are mapped by one call on the calling
#: thread (waking a pool thread costs tens of microseconds).
MAP_SERIAL_MAX = 1 << 16
#: Pieces start on multiples of this many elements (whole cache lines, whole
#: pages for 8-byte values).
MAP_ALIGN = 4096
#: A function that is not a ufunc (``lambda v: v ** 2``) maps this many values
#: a call (a multiple of ``MAP_ALIGN``; 256 KB of float64, within the L2 cache).
MAP_CHUNK = 8 * MAP_ALIGN

_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def _executor(n):
    """A thread pool of ``n`` workers, kept between calls (rebuilt when ``n`` changes)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != n:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=n,
                                                          thread_name_prefix="spla-map")
            _pool_size = n
        return _pool


def piece_bounds(n, pieces):
    """Boundaries of ``pieces`` contiguous pieces of ``range(n)``, aligned to ``MAP_ALIGN``."""
    bounds = [0]
    for p in range(1, pieces):
        b = (n * p // pieces) // MAP_ALIGN * MAP_ALIGN
        bounds.append(max(b, bounds[-1]))
    bounds.append(n)
    return bounds


def parallel_map(func, data, *args, threads=None, empty=np.empty, **kwargs):
    """``func(data, *args, **kwargs)`` computed piece by piece on several threads.

    Parameters
    ----------
    func : callable
        A NumPy ufunc (pieces are written in place through ``out=``) or any
        elementwise function of the array (pieces are assigned).
    data : 1-D ndarray
    *args, **kwargs
        Further arguments of ``func``: scalars (or 0-d arrays), the same for
        every piece.
    threads : int, optional
        Number of pieces; default ``numba.get_num_threads()``.
    empty : callable, optional
        ``empty(n, dtype)`` allocates the output when the map runs in pieces
        (the CPU backend passes its pool of reused buffers).

    Returns
    -------
    ndarray
        What ``func(data, *args, **kwargs)`` returns, of its dtype.

    Examples
    --------
    >>> import numpy as np
    >>> parallel_map(np.power, np.arange(5.0), 2)
    array([ 0.,  1.,  4.,  9., 16.])
    >>> parallel_map(np.greater, np.array([0.2, 0.7]), 0.5)
    array([False,  True])
    """
    data = np.asarray(data)
    if data.ndim != 1:
        raise ValueError(f"data must be 1-D, got {data.ndim} dimensions")
    n = data.size
    threads = max(1, numba.get_num_threads() if threads is None else int(threads))
    if n < MAP_SERIAL_MAX or threads == 1:
        return np.asarray(func(data, *args, **kwargs))
    first = np.asarray(func(data[:1], *args, **kwargs))
    if first.shape != (1,):
        raise ValueError(f"{func!r} is not elementwise: it maps 1 value to shape {first.shape}")
    out = empty(n, first.dtype)
    bounds = piece_bounds(n, threads)
    is_ufunc = isinstance(func, np.ufunc) and func.nout == 1 and "out" not in kwargs

    def run(p):
        lo, hi = bounds[p], bounds[p + 1]
        if hi <= lo:
            return
        if is_ufunc:
            func(data[lo:hi], *args, out=out[lo:hi], **kwargs)
            return
        # Any other function returns a new array: map sub-pieces that fit in the
        # cache, so that its temporaries are reused warm memory, not fresh
        # pages as large as the piece (which cost more than the map itself).
        for start in range(lo, hi, MAP_CHUNK):
            stop = min(hi, start + MAP_CHUNK)
            out[start:stop] = func(data[start:stop], *args, **kwargs)

    pool = _executor(threads)
    futures = [pool.submit(run, p) for p in range(1, threads)]
    run(0)
    for f in futures:
        f.result()
    return out


# ---------------------------------------------------------------------------
# Keeping the entries where a mask is true
# ---------------------------------------------------------------------------


@njit(parallel=True, cache=True, nogil=True)
def count_kept(indptr, mask, blocks, counts):
    """counts[b + 1] = number of entries in the rows of block b whose mask is true."""
    for b in prange(blocks.size - 1):
        c = 0
        for k in range(U(indptr[blocks[b]]), U(indptr[blocks[b + 1]])):
            c += mask[k]
        counts[b + 1] = c


@njit(parallel=True, cache=True, nogil=True)
def fill_kept(indptr, indices, values, mask, blocks, starts, new_indptr, out_indices,
              out_values):
    """Copy the entries whose mask is true, block b from position starts[b], and
    write the new row starts of its rows (new_indptr[m] is the caller's)."""
    for b in prange(blocks.size - 1):
        p = U(starts[b])
        for i in range(blocks[b], blocks[b + 1]):
            new_indptr[i] = p
            for k in range(U(indptr[i]), U(indptr[i + 1])):
                if mask[k]:
                    out_indices[p] = indices[k]
                    out_values[p] = values[k]
                    p += U(1)


@njit(parallel=True, cache=True, nogil=True)
def fill_kept_indices(indptr, indices, mask, blocks, starts, new_indptr, out_indices):
    """``fill_kept`` without values (a comparison's kept values are all True)."""
    for b in prange(blocks.size - 1):
        p = U(starts[b])
        for i in range(blocks[b], blocks[b + 1]):
            new_indptr[i] = p
            for k in range(U(indptr[i]), U(indptr[i + 1])):
                if mask[k]:
                    out_indices[p] = indices[k]
                    p += U(1)


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


SERIAL = {f.py_func.__name__: _serial_twin(f)
          for f in (count_kept, fill_kept, fill_kept_indices)}
