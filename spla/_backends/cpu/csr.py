"""CPU implementations of the CSR operations.

Each function here is registered for one (operation, format, "cpu") entry of
the dispatch table. It receives validated spla arrays and operands, decides the
result dtype (NumPy's promotion), allocates outputs and calls one kernel from
``spla._kernels``. Arrays that spla creates use int32 indices when they fit.
"""


import numba
import numpy as np

from ..._dispatch import register
from ..._dtypes import (
    accumulator_dtype,
    compute_dtype,
    finish,
    index_dtype_for,
    result_dtype,
    sum_dtype,
)
from ..._formats.compressed import csr_array
from ..._kernels import csr as K
from ..._kernels import csr_narrow
from ..._kernels import partition
from ..._kernels import spgemm as SK
from ..._kernels.partition import merge_path_partition, num_chunks, row_blocks
from ..._kernels.threads import parallel_section
from ..._kernels.elementwise import BOOL_RESULT
from . import convert as convert_ops
from . import elementwise as elementwise_ops
from . import lanes as lanes_ops
from . import memory
from . import reduce as reduce_ops
from . import transposed as transposed_ops
from . import values as values_ops
from ..._kernels import values as values_kernels

#: Below this many stored entries a transposed product runs on one lane
#: (the per-thread output buffers would cost more than they save).
_SCATTER_PARALLEL_MIN_NNZ = 1 << 15


_accumulator_dtype = accumulator_dtype


def _cast(a, dtype):
    return a if a.dtype == dtype else a.astype(dtype)


#: Operands smaller than this stay in cache: prefetching them only costs.
_PREFETCH_MIN_OPERAND_BYTES = 1 << 21


def _gathers_are_scattered(A):
    """Whether A's column indices wander far from the diagonal (random, power-law,
    graph matrices) rather than staying near it (stencils, bands). Decided once per
    array from an evenly spaced sample of 1024 stored entries."""
    cached = A._derived.get("scattered")
    if cached is not None:
        return cached
    m, n = A.shape
    if A.nnz == 0 or m == 0:
        scattered = False
    else:
        pos = np.linspace(0, A.nnz - 1, num=min(A.nnz, 1024)).astype(np.int64)
        rows = np.searchsorted(A.indptr, pos, side="right") - 1
        near = rows * (n / m)
        far = np.abs(A.indices[pos] - near) > 32768
        scattered = bool(far.mean() > 0.25)
    A._derived["scattered"] = scattered
    return scattered


def _prefetch_distance(A, operand_bytes, distance=None):
    if operand_bytes < _PREFETCH_MIN_OPERAND_BYTES or not _gathers_are_scattered(A):
        return 0
    return K.PREFETCH_DISTANCE if distance is None else distance


#: Products that stream more bytes than this (matrix, operand and result) write
#: their result with non-temporal stores: twice the L3 of common server CPUs,
#: so the result would not stay in cache anyway, and the stores skip the read
#: of every line before its write (SpMV of the 5-point Laplacian, 1M rows,
#: 80 MB, Zen 3, 2 threads: 2-3% faster in three A/B runs of 150 rounds, 6-8%
#: in a first shorter one; no change on a random matrix, bound by its gathers).
_STREAM_MIN_BYTES = 64 << 20


def _streams_past_cache(A, data, x, y):
    """Whether the product ``y = A @ x`` moves at least ``_STREAM_MIN_BYTES``."""
    moved = data.nbytes + A.indices.nbytes + A.indptr.nbytes + x.nbytes + y.nbytes
    return moved >= _STREAM_MIN_BYTES


#: Below this many items (rows + stored entries) products run on the calling
#: thread: waking the thread pool costs more than the work.
_SERIAL_MAX_ITEMS = 1 << 17


def _partition(A):
    """Merge-path chunks of A, computed once per array (and per chunk size)."""
    key = (partition.CHUNK_ITEMS, A.shape[0], A.nnz)
    cached = A._derived.get("chunks")
    if cached is None or cached[0] != key:
        n_chunks = num_chunks(A.shape[0], A.nnz)
        cached = (key,) + tuple(merge_path_partition(A.indptr, n_chunks))
        A._derived["chunks"] = cached
    return cached[1], cached[2]


def _is_small(A, width=1):
    return (A.shape[0] + A.nnz) * width < _SERIAL_MAX_ITEMS


# -- products ---------------------------------------------------------------------


@register("matvec", "csr", "cpu")
def matvec(A, x, out=None):
    """``A @ x``; ``out``: where to write it (a contiguous vector of the compute dtype,
    not overlapping ``x``: spla's Krylov loops pass a row of their basis block)."""
    out_dt = result_dtype(A.dtype, x.dtype)
    dt = compute_dtype(out_dt)
    data = _cast(A.data, dt)
    x = np.ascontiguousarray(x, dtype=dt)
    if out is not None and (out.dtype != dt or out.shape != (A.shape[0],)
                            or not out.flags.c_contiguous):
        raise ValueError("matvec: out must be a contiguous vector of the product's dtype")
    y = np.empty(A.shape[0], dtype=dt) if out is None else out
    rows, nzs = _partition(A)
    acc = _accumulator_dtype(dt)
    carry = np.empty(rows.size - 1, dtype=acc)
    zero = acc.type(0)
    small = _is_small(A)
    distance = 0 if small else _prefetch_distance(A, x.nbytes)
    stream = not small and _streams_past_cache(A, data, x, y)
    if distance == 0 and A.nnz < K.SHORT_ROW * A.shape[0]:
        if small:
            K.spmv_short_rows_serial(A.indptr, A.indices, data, x, y, rows, nzs, carry, zero)
        else:
            kernel = K.spmv_short_rows_stream if stream else K.spmv_short_rows
            with parallel_section():
                kernel(A.indptr, A.indices, data, x, y, rows, nzs, carry, zero)
    elif small:
        K.spmv_serial(A.indptr, A.indices, data, x, y, rows, nzs, carry, 0, zero)
    else:
        kernel = K.spmv_stream if stream else K.spmv
        with parallel_section():
            kernel(A.indptr, A.indices, data, x, y, rows, nzs, carry, distance, zero)
    return finish(y, out_dt)


#: Result dtypes whose SpMM runs the SIMD row tiles (``spla._kernels.csr_simd``).
_SIMD_SPMM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: Fewest stored entries per row of X for which a line-aligned copy of X
#: (``memory.gathered_rows``) repays itself: each entry gathers a row.
_ALIGNED_COPY_MIN_ENTRIES_PER_ROW = 2


def _use_aligned_copy(A, X, dt):
    """Whether SpMM gathers from a line-aligned copy of X (``memory.gathered_rows``):
    when X is large, A's gathers scatter (they miss the caches, so every line
    counts) and there are enough of them, and either X must be copied anyway
    (another layout or dtype than ``dt``) or the copy's rows span fewer lines."""
    if X.nbytes < _PREFETCH_MIN_OPERAND_BYTES or not _gathers_are_scattered(A):
        return False
    if A.nnz < _ALIGNED_COPY_MIN_ENTRIES_PER_ROW * X.shape[0]:
        return False
    copy_needed = X.dtype != dt or not X.flags.c_contiguous
    return copy_needed or memory.saves_lines(X, dt.itemsize)


@register("matmat", "csr", "cpu")
def matmat(A, X):
    out_dt = result_dtype(A.dtype, X.dtype)
    dt = compute_dtype(out_dt)
    m, k = A.shape[0], X.shape[1]
    if k == 0 or m == 0:
        return np.zeros((m, k), dtype=out_dt)
    if k == 1 and not _is_small(A):  # one column: the SpMV, 2x faster than any SpMM tile
        return matvec(A, X[:, 0]).reshape(m, 1)
    data = _cast(A.data, dt)
    Y = memory.empty_output((m, k), dt)
    rows, nzs = _partition(A)
    carry = np.empty((rows.size - 1, k), dtype=dt)
    simd = dt in _SIMD_SPMM_DTYPES
    if _is_small(A, k):
        # Each stored entry reads one row of X: it must be contiguous for the
        # SIMD inner loop. Copying an F-ordered or strided X costs O(n k), the
        # product O(nnz k).
        X = np.ascontiguousarray(X, dtype=dt)
        if simd:
            K.spmm_simd_serial(A.indptr, A.indices, data, X, Y, rows, nzs, carry, 0)
        else:
            K.spmm_serial(A.indptr, A.indices, data, X, Y, rows, nzs, carry, 0, dt.type(0))
        return finish(Y, out_dt)
    distance = _prefetch_distance(A, X.nbytes, K.SPMM_PREFETCH_DISTANCE)
    if simd and distance == 0 and k <= csr_narrow.MAX_COLUMNS:
        # Few columns, gathers in cache: scalar accumulators beat the masked tiles.
        X = np.ascontiguousarray(X, dtype=dt)
        with parallel_section():
            csr_narrow.spmm_narrow(A.indptr, A.indices, data, X, Y, rows, nzs, carry,
                                   dt.type(0))
        return finish(Y, out_dt)
    if not simd:
        X = np.ascontiguousarray(X, dtype=dt)
        with parallel_section():
            K.spmm(A.indptr, A.indices, data, X, Y, rows, nzs, carry, distance, dt.type(0))
        return finish(Y, out_dt)
    if _use_aligned_copy(A, X, dt):
        with parallel_section(), memory.gathered_rows(X, dt) as Xg:
            K.spmm_simd(A.indptr, A.indices, data, Xg, Y, rows, nzs, carry, distance)
        return finish(Y, out_dt)
    X = np.ascontiguousarray(X, dtype=dt)
    with parallel_section():
        K.spmm_simd(A.indptr, A.indices, data, X, Y, rows, nzs, carry, distance)
    return finish(Y, out_dt)


#: Output lanes of a large transposed product. Fixed, not the thread count, so
#: that the order of additions, and the result bits, are the same with any
#: number of threads; four lanes keep the extra memory (4 outputs) and the final
#: reduction small next to the scatter itself.
_SCATTER_LANES = 4


def _scatter_lanes(A, one_lane=False):
    lanes = 1 if one_lane or A.nnz < _SCATTER_PARALLEL_MIN_NNZ else _SCATTER_LANES
    return merge_path_partition(A.indptr, lanes)


@register("rmatvec", "csr", "cpu")
def rmatvec(A, x):
    """A.T @ x: where A's rows split into lanes with narrow seams (``lanes.plan``), a
    scatter in those lanes; else a gather on the transpose that ``transposed.py``'s
    policy keeps; else ``scatter``. The first two add each column's entries in row
    order (SciPy's bits)."""
    plan = lanes_ops.plan(A) if A.nnz else None
    if plan is not None:
        out_dt = result_dtype(A.dtype, x.dtype)
        dt = compute_dtype(out_dt)
        y = np.empty(A.shape[1], dtype=dt)
        lanes_ops.rmatvec(A, plan, _cast(A.data, dt), np.ascontiguousarray(x, dtype=dt), y,
                          False, _is_small(A))
        return finish(y, out_dt)
    cached, one_lane = transposed_ops.lookup(A) if A.nnz else (None, False)
    if cached is None:
        return scatter(A, x, one_lane)
    out_dt = result_dtype(A.dtype, x.dtype)
    dt = compute_dtype(out_dt)
    x = np.ascontiguousarray(x, dtype=dt)
    y = np.empty(A.shape[1], dtype=dt)
    transposed_ops.rmatvec(cached, x, y, _is_small(A))
    return finish(y, out_dt)


def scatter(A, x, one_lane=False):
    """A.T @ x, scattering A's rows into one output buffer per lane (``one_lane``:
    one lane whatever the size, adding in A's row order)."""
    out_dt = result_dtype(A.dtype, x.dtype)
    dt = compute_dtype(out_dt)
    data = _cast(A.data, dt)
    x = np.ascontiguousarray(x, dtype=dt)
    n = A.shape[1]
    rows, nzs = _scatter_lanes(A, one_lane)
    if rows.size == 2:
        lanes = np.zeros((1, n), dtype=dt)
        K.rmatvec_serial(A.indptr, A.indices, data, x, lanes, rows, nzs)
        return finish(lanes[0], out_dt)
    lo, hi, offsets = _lane_windows(A, rows, nzs)
    buf = np.zeros(int(offsets[-1]), dtype=dt)
    y = np.empty(n, dtype=dt)
    with parallel_section():
        K.rmatvec_windows(A.indptr, A.indices, data, x, buf, offsets, lo, rows, nzs)
        K.sum_lane_windows(buf, offsets, lo, hi, y, dt.type(0))
    return finish(y, out_dt)


def _lane_windows(A, rows, nzs):
    """The columns each lane of a transposed product writes, ``lo[l]:hi[l]``, and
    the lanes' offsets in one buffer; kept on the array (the structure decides
    them). A lane needs only its window: where rows are local (stencils, bands,
    meshes) the lanes' windows barely overlap, and the buffers total about n
    entries instead of one full-width output per lane."""
    key = ("lane_windows", rows.size - 1)
    cached = A._derived.get(key)
    if cached is None:
        lo = np.empty(rows.size - 1, dtype=np.int64)
        hi = np.empty(rows.size - 1, dtype=np.int64)
        K.lane_windows(A.indptr, A.indices, rows, nzs, lo, hi)
        offsets = np.zeros(rows.size, dtype=np.int64)
        np.cumsum(hi - lo, out=offsets[1:])
        cached = A._derived[key] = (lo, hi, offsets)
    return cached


@register("rmatmat", "csr", "cpu")
def rmatmat(A, X):
    out_dt = result_dtype(A.dtype, X.dtype)
    dt = compute_dtype(out_dt)
    n, k = A.shape[1], X.shape[1]
    if k == 0 or n == 0:
        return np.zeros((n, k), dtype=out_dt)
    cached, one_lane = transposed_ops.lookup(A) if A.nnz else (None, False)
    if cached is not None:  # the gather on the kept transpose
        X = np.ascontiguousarray(X, dtype=dt)
        Y = np.empty((n, k), dtype=dt)
        transposed_ops.rmatmat(cached, X, Y, _is_small(A, k))
        return finish(Y, out_dt)
    data = _cast(A.data, dt)
    X = np.ascontiguousarray(X, dtype=dt)
    rows, nzs = _scatter_lanes(A, one_lane)
    lanes = np.zeros((rows.size - 1, n, k), dtype=dt)
    with parallel_section():
        K.rmatmat(A.indptr, A.indices, data, X, lanes, rows, nzs)
        if lanes.shape[0] == 1:
            return finish(lanes[0], out_dt)
        Y = np.empty((n, k), dtype=dt)
        K.sum_lanes(lanes.reshape(lanes.shape[0], n * k), Y.reshape(n * k))
    return finish(Y, out_dt)


# -- sparse-sparse ------------------------------------------------------------------


def _drop_computed_zeros(C):
    if C.nnz and not C.data.all():
        return eliminate_zeros(C)
    return C


def _same_index_dtype(A, B):
    """Index arrays of A and B in one dtype, so each kernel compiles once per dtype pair."""
    if A.indices.dtype == B.indices.dtype:
        return A.indptr, A.indices, B.indptr, B.indices
    return (A.indptr.astype(np.int64), A.indices.astype(np.int64),
            B.indptr.astype(np.int64), B.indices.astype(np.int64))


#: Below this many products (flops) SpGEMM runs on one thread.
_SPGEMM_PARALLEL_MIN_FLOPS = 1 << 15
#: Whether SpGEMM sorts the columns of every row. SciPy's ``csr @ csr`` does not
#: (nor does MKL's): sorting the ~100 columns of a row costs more than the product
#: of the row, so spla returns SciPy's order (``has_canonical_format`` is then
#: found out when asked, as in SciPy).
_SPGEMM_SORTED = False
#: Below this many flops the product skips the sample and the symbolic pass
#: (written at its upper bound, then compacted).
_SPGEMM_SMALL_FLOPS = 1 << 15
#: Rows sampled to estimate nnz(C) / flops.
_SPGEMM_SAMPLES = 64
#: At or above this estimated nnz(C) / flops the output is allocated at its upper
#: bound (the flops) and the symbolic pass is skipped.
_SPGEMM_ONE_PASS_RATIO = 0.8


@register("spgemm", "csr", "cpu")
def spgemm(A, B):
    """A @ B of CSR arrays (``spla._kernels.spgemm``): SciPy's result, structure
    and order of the columns within rows included (no duplicates, no values that
    cancelled to zero; columns sorted only with ``_SPGEMM_SORTED``)."""
    out_dt = result_dtype(A.dtype, B.dtype)
    dt = compute_dtype(out_dt)
    m, n = A.shape[0], B.shape[1]
    ap, ai, bp, bi = _same_index_dtype(A, B)
    ad, bd = _cast(A.data, dt), _cast(B.data, dt)
    fptr = np.empty(m + 1, dtype=np.int64)
    fptr[0] = 0
    with parallel_section():
        parallel = A.nnz >= _SPGEMM_PARALLEL_MIN_FLOPS
        (SK.row_flops if parallel else SK.row_flops_serial)(ap, ai, bp, fptr)
        np.cumsum(fptr, out=fptr)
        flops = int(fptr[-1])
        parallel = flops >= _SPGEMM_PARALLEL_MIN_FLOPS
        n_blocks = 4 * max(1, numba.get_num_threads()) if parallel else 1
        blocks = row_blocks(fptr, n_blocks)
        counts = np.empty(m + 1, dtype=np.int64)
        counts[0] = 0
        # A small product is written at its upper bound without sampling: the
        # sample costs as much as the symbolic pass there, the bound little memory.
        small = flops < _SPGEMM_SMALL_FLOPS
        ratio = 1.0 if small else SK.estimate_ratio(ap, ai, bp, bi, n, fptr, _SPGEMM_SAMPLES)
        if ratio >= _SPGEMM_ONE_PASS_RATIO and flops <= np.iinfo(np.int32).max:
            cap = flops
            starts = fptr[blocks]
        else:
            (SK.spgemm_symbolic if parallel else SK.spgemm_symbolic_serial)(
                ap, ai, bp, bi, n, fptr, blocks, counts)
            np.cumsum(counts, out=counts)
            cap = int(counts[-1])
            starts = counts[blocks]
        idx = index_dtype_for(max(n, cap))
        indices = np.empty(cap, dtype=idx)
        data = np.empty(cap, dtype=dt)
        (SK.spgemm_numeric if parallel else SK.spgemm_numeric_serial)(
            ap, ai, ad, bp, bi, bd, n, fptr, blocks, starts, indices, data, counts,
            _SPGEMM_SORTED)
        np.cumsum(counts, out=counts)
        nnz = int(counts[-1])
        if nnz < cap:
            heads = SK.compaction_heads(blocks, starts, counts)
            h = int(heads[-1])
            (SK.compact_blocks if parallel else SK.compact_blocks_serial)(
                blocks, starts, counts, heads, indices, data,
                np.empty(h, dtype=indices.dtype), np.empty(h, dtype=data.dtype))
            indices, data = _shrink(indices, nnz), _shrink(data, nnz)
    indptr = counts.astype(idx)
    C = csr_array._from_parts(data, indices, indptr, (m, n), True if _SPGEMM_SORTED else None)
    return C if out_dt == dt else C._with_data(C.data.astype(out_dt), copy_structure=False)


def _shrink(a, size):
    """``a[:size]``, in place when ``a`` owns its memory (no copy), else a copy."""
    try:
        a.resize(size, refcheck=False)
        return a
    except ValueError:
        return a[:size].copy()


@register("add", "csr", "cpu")
def add(A, B, sign):
    """A + B (sign 1) or A - B (sign -1) by merging rows (``elementwise.binop``)."""
    return _elementwise("add" if sign == 1 else "subtract", A, B)


@register("multiply", "csr", "cpu")
def multiply(A, B):
    """A * B elementwise by merging rows (``elementwise.binop``)."""
    return _elementwise("multiply", A, B)


def _elementwise(op, A, B):
    dt = np.dtype(np.bool_) if op in BOOL_RESULT else result_dtype(A.dtype, B.dtype)
    data, indices, indptr = elementwise_ops.binop(
        op, (A.data, A.indices, A.indptr, A.shape), (B.data, B.indices, B.indptr, B.shape),
        dt, canonical=A.has_canonical_format and B.has_canonical_format, check=False)
    return csr_array._from_parts(data, indices, indptr, A.shape, True)


@register("elementwise", "csr", "cpu")
def elementwise(A, B, op):
    """``op`` of two CSR arrays of one shape, as SciPy computes it, by merging rows:
    add, subtract, multiply, maximum, minimum, ne, lt, gt give canonical CSR
    arrays; divide gives SciPy's dense array for float results (``nan`` where
    both are zero) and a sparse one for integers; eq, le and ge are answered by
    the caller from their negations (their result is mostly True)."""
    if op == "divide":
        # SciPy divides in float64 whatever can be cast to it.
        a_dt = np.dtype(np.float64) if np.can_cast(A.dtype, np.float64) else A.dtype
        dt = result_dtype(a_dt, B.dtype)
        return elementwise_ops.true_divide_dense(
            (A.data, A.indices, A.indptr, A.shape), (B.data, B.indices, B.indptr, B.shape), dt)
    return _elementwise(op, A, B)


# -- with dense operands -------------------------------------------------------------


@register("add_dense", "csr", "cpu")
def add_dense(A, dense, sign):
    """A + D (sign 1) or A - D (sign -1) as a dense array; D broadcasts to A's shape."""
    dt = result_dtype(A.dtype, dense.dtype)
    try:
        shape = np.broadcast_shapes(dense.shape, A.shape)
    except ValueError:
        raise ValueError(f"add: dense operand {dense.shape} does not broadcast to {A.shape}") from None
    if shape != A.shape:
        raise ValueError(f"add: dense operand {dense.shape} does not broadcast to {A.shape}")
    out = np.empty(A.shape, dtype=dt)
    out[...] = dense
    if sign == -1:
        # Negate in the result dtype: -D in D's own dtype wraps for unsigned
        # integers and raises for booleans.
        np.negative(out, out=out)
    with parallel_section():
        K.scatter_add_dense(A.indptr, A.indices, _cast(A.data, dt), out)
    return out


@register("multiply_dense", "csr", "cpu")
def multiply_dense(A, dense):
    dt = result_dtype(A.dtype, dense.dtype)
    D = np.broadcast_to(_cast(dense, dt), A.shape)
    data = np.empty(A.nnz, dtype=dt)
    with parallel_section():
        K.scale_by_dense(A.indptr, A.indices, _cast(A.data, dt), D, data)
    # Duplicates need no summing first: (a1 + a2) d = a1 d + a2 d.
    return _drop_computed_zeros(A._with_data(data))


# -- conversions and structure ---------------------------------------------------------


@register("toarray", "csr", "cpu")
def toarray(A, order, out):
    # one read of the storage tuple (a snapshot), and no more Python than needed:
    # on small arrays this call's overhead is the whole cost (SciPy's is one C call)
    data, indices, indptr, shape = A._storage[:4]
    if out is None:
        out = np.zeros(shape, data.dtype) if order is None else np.zeros(shape, data.dtype, order)
    else:
        if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != data.dtype:
            raise ValueError(f"out must be a NumPy array of shape {shape} and dtype {data.dtype}")
        out[...] = 0
    if indptr.size + data.size <= _SERIAL_MAX_ITEMS:  # _is_small: no thread wake-up
        K.scatter_add_dense_serial(indptr, indices, data, out)
        return out
    with parallel_section():
        K.scatter_add_dense(indptr, indices, data, out)
    return out


@register("transpose", "csr", "cpu")
def transpose(A):
    """The CSR storage of A's transpose (a parallel counting sort: sorted rows)."""
    d, j, p, shape = convert_ops.transpose(A.data, A.indices, A.indptr, A.shape)
    canonical = True if A._derived.get("canonical") else None  # duplicates survive
    return csr_array._from_parts(d, j, p, shape, canonical)


@register("canonicalize", "csr", "cpu")
def canonicalize(A):
    """A canonical copy of A (rows sorted, duplicates summed), in parallel."""
    d, j, p, shape = convert_ops.canonicalize(A.data, A.indices, A.indptr, A.shape)
    return csr_array._from_parts(d, j, p, shape, True)


@register("coo_to_csr", "coo", "cpu")
def coo_to_csr(data, row, col, shape, check=True):
    """Canonical CSR storage ``(data, indices, indptr)`` of COO triplets (``check``:
    the O(nnz) range checks, which a caller that ran them skips)."""
    d, j, p, _ = convert_ops.coo_tocsr(row, col, data, shape, check=check)
    return d, j, p


@register("map_values", "any", "cpu")
def map_values(func, values):
    """``func(values)`` on all threads when the values are many (NumPy's ufuncs
    release the GIL)."""
    if values.ndim != 1:
        return func(values)
    return values_kernels.parallel_map(func, values, empty=memory.pooled_empty)


@register("expand_rows", "csr", "cpu")
def expand_rows(indptr, nnz, dtype):
    """The row of every stored entry (CSR -> COO), of ``dtype``, by all threads."""
    return convert_ops.expand_rows(indptr, nnz, dtype)


@register("copy_array", "any", "cpu")
def copy_array(a):
    """A copy of a 1-D array, made by all threads when it is large."""
    return convert_ops.parallel_copy(a) if a.ndim == 1 else a.copy()


#: Below this many rows + entries a few NumPy calls beat the Numba launches of
#: the general kernels (each launch of a many-argument kernel costs 1-3 us).
_NUMPY_MAX_ITEMS = 1 << 12


@register("keep_where", "csr", "cpu")
def keep_where(A, mask):
    """CSR storage of A's entries where ``mask`` holds, in stored order."""
    if A.shape[0] + A.nnz < _NUMPY_MAX_ITEMS:
        d, j, p = _keep_where_small(A._data, A._indices, A._indptr, np.asarray(mask, np.bool_))
        return csr_array._from_parts(d, j, p, A.shape, A._derived.get("canonical"))
    d, j, p, shape = values_ops.keep_where(A.data, A.indices, A.indptr, A.shape, mask)
    return csr_array._from_parts(d, j, p, shape, A._derived.get("canonical"))


@register("compare_scalar", "csr", "cpu")
def compare_scalar(A, op, scalar):
    """``op(A, scalar)`` (a comparison with ``op(0, scalar)`` false) of a canonical
    A: a bool CSR array of the entries where it holds."""
    d, j, p, shape = values_ops.compare_scalar(A.data, A.indices, A.indptr, A.shape, op,
                                               scalar, canonical=True)
    return csr_array._from_parts(d, j, p, shape, True)


def _keep_where_small(data, indices, indptr, mask):
    """``values.keep_where`` of a small validated array, in NumPy: a new row start
    is the number of kept positions before the old one."""
    if mask.shape != data.shape:
        raise ValueError(f"mask has shape {mask.shape}, the values {data.shape}")
    kept = np.flatnonzero(mask)
    if kept.size == mask.size:  # nothing dropped: the structure as it is
        return data.copy(), indices.copy(), indptr.copy()
    new_indptr = np.searchsorted(kept, indptr).astype(indptr.dtype, copy=False)
    return data[kept], indices[kept], new_indptr


@register("reduce", "csr", "cpu")
def reduce(A, name, **kwargs):
    """SciPy's reductions of a CSR or CSC array (``A.format`` says which): sum,
    mean, count_nonzero, min/max/nanmin/nanmax, argmin/argmax. The storage of a
    validated spla array goes in ``trusted`` (its O(1) checks are not repeated)."""
    storage = (A.data, A.indices, A.indptr, A.shape)
    fmt = A.format
    if name == "sum":
        return reduce_ops.sum_(*storage, canonical=A._derived.get("canonical"), fmt=fmt,
                               trusted=True, **kwargs)
    if name == "mean":
        return reduce_ops.mean(*storage, fmt=fmt, trusted=True, **kwargs)
    if name == "count_nonzero":
        return reduce_ops.count_nonzero(*storage, canonical=A._derived.get("canonical"),
                                        fmt=fmt, trusted=True, **kwargs)
    if name in ("max", "min", "nanmax", "nanmin"):
        return reduce_ops.minmax(*storage, name, canonical=A._derived.get("canonical"),
                                 fmt=fmt, trusted=True, **kwargs)
    if name in ("argmax", "argmin"):
        return reduce_ops.argminmax(*storage, name, canonical=A._derived.get("canonical"),
                                    fmt=fmt, trusted=True, **kwargs)
    raise ValueError(f"unknown reduction {name!r}")


@register("is_canonical", "csr", "cpu")
def is_canonical(A):
    with parallel_section():
        return K.is_canonical(A.indptr, A.indices)


@register("eliminate_zeros", "csr", "cpu")
def eliminate_zeros(A):
    m = A.shape[0]
    counts = np.zeros(m + 1, dtype=np.int64)
    with parallel_section():
        K.count_nonzero_rows(A.indptr, A.data, counts)
        indptr = np.cumsum(counts).astype(A.indptr.dtype)
        nnz = int(indptr[-1])
        indices = np.empty(nnz, dtype=A.indices.dtype)
        data = np.empty(nnz, dtype=A.dtype)
        K.drop_zeros(A.indptr, A.indices, A.data, indptr, indices, data)
    return csr_array._from_parts(data, indices, indptr, A.shape, A._derived.get("canonical"))


@register("sum", "csr", "cpu")
def sum_(A, axis):
    """Sums in NumPy's sum dtype (``sum_dtype``): bool and narrow integers widen."""
    dt = sum_dtype(A.dtype)
    if axis is None:
        return A.data.sum(dtype=dt)
    if axis == 1:
        out = np.empty(A.shape[0], dtype=dt)
        with parallel_section():
            K.row_sums(A.indptr, _cast(A.data, dt), out, _accumulator_dtype(dt).type(0))
        return out
    return scatter(A, np.ones(A.shape[0], dtype=dt))  # never the kept transpose


@register("diagonal", "csr", "cpu")
def diagonal(A, k):
    m, n = A.shape
    if k >= 0:
        length = max(0, min(m, n - k))
    else:
        length = max(0, min(m + k, n))
    out = np.empty(length, dtype=A.dtype)
    with parallel_section():
        K.diagonal(A.indptr, A.indices, A.data, k, out, A.dtype.type(0))
    return out

