"""Numba kernels of the sparse-sparse product C = A @ B (SpGEMM) of CSR arrays.

Gustavson's row-by-row product, with a cost of O(nnz(A) + flops + nnz(C)) and
no work per column of B: row ``i`` of C is the sum of the rows ``B[j]`` for the
entries ``A[i, j]``; its *flops* are the entries it gathers,
``sum(len(B[j]))``, an upper bound of its length. Each row accumulates in an
open-addressing hash table sized to twice its flops (a power of two, so a row of
100 products works in 256 slots that stay in L1), or, when its flops reach a
quarter of the columns, in a dense accumulator of one slot per column (stamped
with the row number, so it is never cleared). Rows of no or one product skip
the accumulator altogether: a hypersparse product costs O(nnz), not O(rows x
anything).

The caller (``spla._backends.cpu.csr.spgemm``) runs:

1. ``row_flops``: every row's flops, summed into ``fptr`` (the row offsets of an
   upper-bound layout), which also balances the row blocks by work;
2. ``estimate_ratio`` on a few sampled rows: the expected nnz(C) / flops;
3. when that ratio is low, ``spgemm_symbolic`` (the exact row counts) so that
   the output is allocated at its exact size; when it is near one (as for random
   matrices), no symbolic pass: the output is allocated at its upper bound;
4. ``spgemm_numeric``: every block of rows writes its rows one after the other
   from the block's start, drops the values that cancelled to zero (as SciPy
   does) and records each row's count; the columns of a row come in SciPy's
   order (not sorted: the reverse of their first appearance), or sorted on request;
5. ``compact_blocks``: moves every block left onto its final place when some
   row came out shorter than its room (all blocks at once; the few entries of a
   block whose place overlaps the previous block's room wait in a buffer).
"""

import numpy as np
from numba import njit, prange

from .twins import twin

#: Hash multiplier (odd; Knuth's 2^32 / golden ratio): the low bits of
#: ``col * HASH`` spread the columns of a row over its table.
HASH = np.uint64(2654435761)

#: Rows whose flops reach ``n_cols // DENSE_FRACTION`` accumulate densely.
DENSE_FRACTION = 4


@njit(parallel=True, cache=True, nogil=True)
def row_flops(a_indptr, a_indices, b_indptr, fptr):
    """fptr[i + 1] = products of row i of A @ B (sum of the lengths of the rows of B
    that row i of A selects); fptr[0] is left to the caller."""
    m = a_indptr.size - 1
    for i in prange(m):
        f = 0
        for ka in range(a_indptr[i], a_indptr[i + 1]):
            j = a_indices[ka]
            f += b_indptr[j + 1] - b_indptr[j]
        fptr[i + 1] = f


@njit(cache=True, nogil=True)
def _table_size(f):
    s = 16
    while s < 2 * f:
        s *= 2
    return s


@njit(cache=True, nogil=True)
def _count_row(i, f, a_indptr, a_indices, b_indptr, b_indices, keys, stamp):
    """Distinct columns of row i, of ``f`` products (keys: a hash table of -1's, left
    so; stamp: a dense table of column stamps, or size 0)."""
    if stamp.size:
        cnt = 0
        for ka in range(a_indptr[i], a_indptr[i + 1]):
            j = a_indices[ka]
            for kb in range(b_indptr[j], b_indptr[j + 1]):
                col = b_indices[kb]
                if stamp[col] != i:
                    stamp[col] = i
                    cnt += 1
        return cnt
    size = _table_size(f)
    mask = np.uint64(size - 1)
    cnt = 0
    for ka in range(a_indptr[i], a_indptr[i + 1]):
        j = a_indices[ka]
        for kb in range(b_indptr[j], b_indptr[j + 1]):
            col = b_indices[kb]
            h = (np.uint64(col) * HASH) & mask
            while True:
                k = keys[h]
                if k == col:
                    break
                if k == -1:
                    keys[h] = col
                    cnt += 1
                    break
                h = (h + np.uint64(1)) & mask
    for h in range(size):
        keys[h] = -1
    return cnt


@njit(cache=True, nogil=True)
def estimate_ratio(a_indptr, a_indices, b_indptr, b_indices, n_cols, fptr, samples):
    """Estimated nnz(C) / flops from ``samples`` rows picked by flop mass (0 to 1)."""
    m = fptr.size - 1
    total = fptr[m]
    if total == 0:
        return 1.0
    keys = np.empty(0, dtype=np.int64)
    stamp = np.full(0, -1, dtype=np.int64)
    acc = 0.0
    for s in range(samples):
        target = (total * (2 * s + 1)) // (2 * samples)
        lo, hi = 0, m - 1
        while lo < hi:  # the row whose flops hold ``target``
            mid = (lo + hi) >> 1
            if fptr[mid + 1] <= target:
                lo = mid + 1
            else:
                hi = mid
        f = fptr[lo + 1] - fptr[lo]
        if f * DENSE_FRACTION >= n_cols:
            if stamp.size == 0:
                stamp = np.full(n_cols, -1, dtype=np.int64)
            cnt = _count_row(lo, f, a_indptr, a_indices, b_indptr, b_indices, keys, stamp)
        else:
            size = _table_size(f)
            if keys.size < size:
                keys = np.full(size, -1, dtype=np.int64)
            cnt = _count_row(lo, f, a_indptr, a_indices, b_indptr, b_indices, keys, stamp[:0])
        acc += cnt / f
    return acc / samples


@njit(cache=True, nogil=True)
def _block_tables(fptr, r0, r1, n_cols, key_dtype_example, val_dtype_example):
    """The accumulators of one block: a hash table for its longest sparse row and,
    when some row is long, a dense one."""
    fmax = 0
    dense = False
    for i in range(r0, r1):
        f = fptr[i + 1] - fptr[i]
        if f * DENSE_FRACTION >= n_cols:
            dense = True
        elif f > fmax:
            fmax = f
    size = _table_size(fmax)
    keys = np.empty(size, dtype=key_dtype_example.dtype)
    keys[:] = -1
    vals = np.zeros(size, dtype=val_dtype_example.dtype)
    nd = n_cols if dense else 0
    stamp = np.empty(nd, dtype=np.int64)
    stamp[:] = -1
    dvals = np.zeros(nd, dtype=val_dtype_example.dtype)
    order = np.empty(max(min(max(fmax, 1), n_cols), nd), dtype=key_dtype_example.dtype)
    return keys, vals, stamp, dvals, order


@njit(parallel=True, cache=True, nogil=True)
def spgemm_symbolic(a_indptr, a_indices, b_indptr, b_indices, n_cols, fptr, blocks, counts):
    """counts[i + 1] = distinct columns of row i of A @ B (counts[0] is the caller's)."""
    for blk in prange(blocks.size - 1):
        r0, r1 = blocks[blk], blocks[blk + 1]
        keys, _, stamp, _, _ = _block_tables(fptr, r0, r1, n_cols, a_indices[:0], fptr[:0])
        for i in range(r0, r1):
            f = fptr[i + 1] - fptr[i]
            if f <= 1:
                counts[i + 1] = f
            elif f * DENSE_FRACTION >= n_cols:
                counts[i + 1] = _count_row(i, f, a_indptr, a_indices, b_indptr, b_indices,
                                           keys, stamp)
            else:
                counts[i + 1] = _count_row(i, f, a_indptr, a_indices, b_indptr, b_indices,
                                           keys, stamp[:0])


@njit(cache=True, nogil=True)
def _sort_small(a, n):
    """Sort a[:n] in place (insertion sort below 24 entries, else NumPy's sort)."""
    if n > 24:
        a[:n].sort()
        return
    for t in range(1, n):
        v = a[t]
        s = t - 1
        while s >= 0 and a[s] > v:
            a[s + 1] = a[s]
            s -= 1
        a[s + 1] = v


@njit(parallel=True, cache=True, nogil=True)
def spgemm_numeric(a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, n_cols,
                   fptr, blocks, starts, c_indices, c_data, counts, sort_rows):
    """Rows of A @ B without computed zeros: block ``b`` writes its rows one after
    the other from ``starts[b]``; counts[i + 1] = entries of row i. With
    ``sort_rows`` the columns of a row come sorted; without, in SciPy's order
    (``csr_matmat``: the reverse of the order in which they first appear)."""
    for blk in prange(blocks.size - 1):
        r0, r1 = blocks[blk], blocks[blk + 1]
        keys, vals, stamp, dvals, order = _block_tables(fptr, r0, r1, n_cols, c_indices[:0],
                                                        c_data[:0])
        pos = starts[blk]
        for i in range(r0, r1):
            f = fptr[i + 1] - fptr[i]
            begin = pos
            if f == 0:
                pass
            elif f == 1:
                for ka in range(a_indptr[i], a_indptr[i + 1]):
                    j = a_indices[ka]
                    if b_indptr[j + 1] > b_indptr[j]:
                        kb = b_indptr[j]
                        # stored first: the product of two int8 may wrap to 0
                        c_data[pos] = a_data[ka] * b_data[kb]
                        if c_data[pos] != 0:
                            c_indices[pos] = b_indices[kb]
                            pos += 1
                        break
            elif f * DENSE_FRACTION >= n_cols:
                n = 0
                for ka in range(a_indptr[i], a_indptr[i + 1]):
                    j = a_indices[ka]
                    va = a_data[ka]
                    for kb in range(b_indptr[j], b_indptr[j + 1]):
                        col = b_indices[kb]
                        if stamp[col] != i:
                            stamp[col] = i
                            dvals[col] = va * b_data[kb]
                            order[n] = col
                            n += 1
                        else:
                            dvals[col] += va * b_data[kb]
                if not sort_rows:
                    for t in range(n - 1, -1, -1):
                        col = order[t]
                        v = dvals[col]
                        if v != 0:
                            c_indices[pos] = col
                            c_data[pos] = v
                            pos += 1
                elif n * 16 >= n_cols:  # scan the stamps: sorted for free
                    for col in range(n_cols):
                        if stamp[col] == i:
                            v = dvals[col]
                            if v != 0:
                                c_indices[pos] = col
                                c_data[pos] = v
                                pos += 1
                else:
                    _sort_small(order, n)
                    for t in range(n):
                        col = order[t]
                        v = dvals[col]
                        if v != 0:
                            c_indices[pos] = col
                            c_data[pos] = v
                            pos += 1
            else:
                mask = np.uint64(_table_size(f) - 1)
                n = 0
                for ka in range(a_indptr[i], a_indptr[i + 1]):
                    j = a_indices[ka]
                    va = a_data[ka]
                    for kb in range(b_indptr[j], b_indptr[j + 1]):
                        col = b_indices[kb]
                        h = (np.uint64(col) * HASH) & mask
                        while True:
                            k = keys[h]
                            if k == col:
                                vals[h] += va * b_data[kb]
                                break
                            if k == -1:
                                keys[h] = col
                                vals[h] = va * b_data[kb]
                                order[n] = col
                                n += 1
                                break
                            h = (h + np.uint64(1)) & mask
                if sort_rows:
                    _sort_small(order, n)
                for t in range(n):
                    col = order[t] if sort_rows else order[n - 1 - t]
                    h = (np.uint64(col) * HASH) & mask
                    while keys[h] != col:
                        h = (h + np.uint64(1)) & mask
                    v = vals[h]
                    keys[h] = -1
                    if v != 0:
                        c_indices[pos] = col
                        c_data[pos] = v
                        pos += 1
            counts[i + 1] = pos - begin


@njit(cache=True, nogil=True)
def compaction_heads(blocks, starts, indptr):
    """heads[b + 1] - heads[b] = the first entries of block b whose final place
    overlaps the room of block b - 1 (where block b - 1 may not have read its
    entries yet): ``compact_blocks`` sets them aside first."""
    nb = blocks.size - 1
    heads = np.zeros(nb + 1, dtype=np.int64)
    for blk in range(nb):
        h = 0
        if blk > 0:
            prev_end = starts[blk - 1] + (indptr[blocks[blk]] - indptr[blocks[blk - 1]])
            n = indptr[blocks[blk + 1]] - indptr[blocks[blk]]
            h = min(max(prev_end - indptr[blocks[blk]], 0), n)
        heads[blk + 1] = heads[blk] + h
    return heads


@njit(parallel=True, cache=True, nogil=True)
def compact_blocks(blocks, starts, indptr, heads, c_indices, c_data, tmp_indices, tmp_data):
    """Move block b's rows from ``starts[b]`` to ``indptr[blocks[b]]`` (never right of
    it), all blocks at once: each block sets its head aside (see
    ``compaction_heads``) and moves the rest forward; once every block has moved,
    the heads are written."""
    nb = blocks.size - 1
    for blk in prange(nb):
        src = starts[blk]
        dst = indptr[blocks[blk]]
        n = indptr[blocks[blk + 1]] - dst
        h = heads[blk + 1] - heads[blk]
        if src != dst:
            for t in range(h):
                tmp_indices[heads[blk] + t] = c_indices[src + t]
                tmp_data[heads[blk] + t] = c_data[src + t]
            for t in range(h, n):
                c_indices[dst + t] = c_indices[src + t]
                c_data[dst + t] = c_data[src + t]
    for blk in prange(nb):
        dst = indptr[blocks[blk]]
        if starts[blk] != dst:
            for t in range(heads[blk + 1] - heads[blk]):
                c_indices[dst + t] = tmp_indices[heads[blk] + t]
                c_data[dst + t] = tmp_data[heads[blk] + t]


def _serial_twin(dispatcher):
    name = dispatcher.py_func.__name__
    return twin(dispatcher, name + "_serial", dict(cache=True, nogil=True),
                doc=f"Serial version of ``{name}``.")


row_flops_serial = _serial_twin(row_flops)
spgemm_symbolic_serial = _serial_twin(spgemm_symbolic)
spgemm_numeric_serial = _serial_twin(spgemm_numeric)
compact_blocks_serial = _serial_twin(compact_blocks)
