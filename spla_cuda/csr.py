"""GPU implementations of the CSR operations (CuPy storage).

Products run spla's own kernels (``kernels/csr.cu``), balanced by stored
entries through a *plan* built once per matrix and kept on the array. The plan is
computed on the host (``spla._kernels.cuda_csr.csr_plan``, NumPy) from a copy of
``indptr`` (8 bytes a row for int64 indices: 16 MB, a few milliseconds over PCIe, at
2,000,000 rows) and 1024 sampled column indices, then uploaded, so that the first
product of a fresh process runs no runtime-compiled CuPy kernel:

- every row longer than ``H`` entries is cut into segments of ``SEG`` entries,
  one warp (one block for SpMM) per segment, and a fix-up kernel adds each row's
  segments in order, so no warp waits on a long row;
- the other rows run one of two kernels, chosen from the plan (``spmv_method``):
  the *task* kernel (rows cut into tasks of at most ``2 * H`` entries and
  ``ROWS`` rows, one warp per task, products staged in shared memory with
  coalesced loads, one lane per row summing them) when the gathers of x are
  scattered, and the *vector* kernel (L lanes per row, L from the mean row
  length) when they stay near the diagonal.

Every sum runs in a fixed order: the same bits from run to run. SpMM uses the
same tasks and segments. Transposed products, SpGEMM, ``toarray``, ``diagonal``
and the transpose go through ``cupyx.scipy.sparse`` (cuSPARSE, 32-bit indices);
addition, elementwise products and canonicalisation are CuPy array operations
(a sort of the entries' keys and segment sums). docs/gpu.md has the figures.
"""

import cupy
import cupyx.scipy.sparse as cusparse
import numpy as np

from spla._backends import array_module as xpa
from spla._dispatch import register
from spla._dtypes import result_dtype
from spla._formats.compressed import csr_array
from spla._kernels.cuda_csr import H, ROWS, SEG, WARPS, csr_plan, sample_positions

from ._compile import blocks, ctype, kernel, lanes_per_row, multiprocessors, vector_width


class _Plan:
    """Task and segment arrays of one matrix (see the module docstring): computed on
    the host by ``csr_plan`` and uploaded (a few host-to-device copies)."""

    def __init__(self, A, threshold):
        self.H = threshold
        indptr = cupy.asnumpy(A.indptr)
        p = csr_plan(indptr, A.shape, threshold, _sampled_indices(A, indptr), ROWS, SEG)
        self.n_tasks, self.n_long, self.n_seg = p.n_tasks, p.n_long, p.n_seg
        #: Mean length of the rows the task and vector kernels handle.
        self.mean_short = p.mean_short
        self.scattered = p.scattered
        self.task_rows = cupy.asarray(p.task_rows)
        self.long_rows = cupy.asarray(p.long_rows)
        if self.n_long:
            self.seg_ptr = cupy.asarray(p.seg_ptr)
            self.seg_lo = cupy.asarray(p.seg_lo)
            self.seg_hi = cupy.asarray(p.seg_hi)


def _sampled_indices(A, indptr):
    """The column indices at ``sample_positions(nnz)`` on the host (None without
    entries), gathered by one prebuilt kernel: ``csr_plan`` decides from them
    whether the gathers of x are scattered (random, power-law, graph matrices)
    or stay near the diagonal (stencils, bands)."""
    nnz = int(indptr[-1])
    if nnz == 0 or A.shape[0] == 0:
        return None
    pos = sample_positions(nnz)
    out = cupy.empty(pos.size, dtype=A.indices.dtype)
    k = kernel("csr.cu", f"csr_sample<{ctype(A.indices.dtype)}>")
    k((blocks(pos.size, 256),), (256,), (A.indices, cupy.asarray(pos), np.int64(pos.size), out))
    return cupy.asnumpy(out)


def plan(A, threshold=None):
    """The plan of ``A`` for the long-row threshold (default ``H``), built on
    first use and kept on the array."""
    threshold = threshold or H
    plans = A._derived.setdefault("cuda_plans", {})
    if threshold not in plans:
        plans[threshold] = _Plan(A, threshold)
    return plans[threshold]


def _cast(a, dtype):
    return a if a.dtype == dtype else a.astype(dtype)


def _names(A, dt):
    return ctype(dt), ctype(A.indptr.dtype)


def spmv_method(p):
    """The short-row kernel for a plan (measured on the H100, docs/gpu.md):
    ``"tasks"`` when the gathers of x are scattered (they come from L2 at random,
    and staging a whole task keeps the most of them in flight); otherwise
    ``"vector<L>"`` with about four entries per lane."""
    if p.scattered:
        return "tasks"
    lanes = 1
    while lanes < 32 and 8 * lanes <= p.mean_short:
        lanes *= 2
    return f"vector{lanes}"


@register("matvec", "csr", "cuda")
def matvec(A, x):
    return spmv(A, x)


def spmv(A, x, method=None):
    """y = A @ x; ``method`` forces the short-row kernel (for benchmarks):
    ``"tasks"``, ``"tasks_h<H>"`` (another long-row threshold), ``"tasks_l2"``
    (gathers cached in L2 only), ``"tasks_keep"`` (gathers marked evict-last in
    L2) or ``"vector<L>"``; by default ``spmv_method``
    picks it."""
    dt = result_dtype(A.dtype, x.dtype)
    m = A.shape[0]
    y = cupy.empty(m, dtype=dt)
    if m == 0:
        return y
    data = _cast(A.data, dt)
    x = cupy.ascontiguousarray(x, dtype=dt)
    p = plan(A)
    method = method or spmv_method(p)
    if method.startswith("tasks_h"):
        p = plan(A, int(method[len("tasks_h"):]))
    T, I = _names(A, dt)
    if method.startswith("tasks"):
        l2 = {"tasks_l2": 1, "tasks_keep": 2}.get(method, 0)
        k = kernel("csr.cu", f"csr_spmv_tasks<{T}, {I}, {p.H}, {WARPS}, {l2}>")
        k((blocks(p.n_tasks, WARPS),), (WARPS * 32,),
          (A.indptr, A.indices, data, x, y, p.task_rows, np.int64(p.n_tasks)))
    else:
        lanes = int(method[len("vector"):])
        k = kernel("csr.cu", f"csr_spmv_vector<{T}, {I}, {lanes}>")
        grid = min(blocks(m * lanes, 256), 16 * multiprocessors())
        k((grid,), (256,), (A.indptr, A.indices, data, x, y, np.int64(m), np.int64(p.H)))
    if p.n_long:
        partial = cupy.empty(p.n_seg, dtype=dt)
        seg = kernel("csr.cu", f"csr_spmv_segments<{T}, {I}>")
        seg((blocks(p.n_seg, 8),), (256,),
            (A.indices, data, x, p.seg_lo, p.seg_hi, np.int64(p.n_seg), partial))
        fix = kernel("csr.cu", f"csr_spmv_fixup<{T}, {I}>")
        fix((blocks(p.n_long, 256),), (256,),
            (p.long_rows, p.seg_ptr, partial, np.int64(p.n_long), y))
    return y


@register("matmat", "csr", "cuda")
def matmat(A, X):
    dt = result_dtype(A.dtype, X.dtype)
    m, K = A.shape[0], X.shape[1]
    if m == 0 or K == 0:
        return cupy.zeros((m, K), dtype=dt)
    data = _cast(A.data, dt)
    X = cupy.ascontiguousarray(X, dtype=dt)  # row-major: each entry reads a row of X
    Y = cupy.empty((m, K), dtype=dt)
    p = plan(A)
    T, I = _names(A, dt)
    V = vector_width(dt, K)
    G = lanes_per_row(K, V)
    k = kernel("csr.cu", f"csr_spmm_tasks<{T}, {I}, {G}, {V}, {WARPS}>")
    k((blocks(p.n_tasks, WARPS),), (WARPS * 32,),
      (A.indptr, A.indices, data, X, Y, p.task_rows, np.int64(p.n_tasks), np.int64(K),
       np.int32(p.H)))
    if p.n_long:
        partial = cupy.empty((p.n_seg, K), dtype=dt)
        threads = min(256, 32 * blocks(-(-K // V), 32))
        seg = kernel("csr.cu", f"csr_spmm_segments<{T}, {I}, {V}>")
        seg((p.n_seg,), (threads,),
            (A.indices, data, X, p.seg_lo, p.seg_hi, np.int64(p.n_seg), np.int64(K), partial))
        fix = kernel("csr.cu", f"csr_spmm_fixup<{T}, {I}>")
        fix((p.n_long,), (min(256, 32 * blocks(K, 32)),),
            (p.long_rows, p.seg_ptr, partial, np.int64(p.n_long), np.int64(K), Y))
    return Y


# -- through cupyx.scipy.sparse (cuSPARSE) ------------------------------------------


def to_cupyx(A, dtype=None, canonical=False):
    """``cupyx.scipy.sparse.csr_matrix`` sharing A's arrays where it can
    (a canonical copy when ``canonical`` and A has duplicates or unsorted rows)."""
    if A.indices.dtype != np.int32:
        if max(A.shape + (A.nnz,)) > np.iinfo(np.int32).max:
            raise NotImplementedError(
                "this operation runs through cuSPARSE (cupyx.scipy.sparse), which needs "
                "32-bit indices; the array is too large for them")
    data = A.data if dtype is None else _cast(A.data, dtype)
    S = cusparse.csr_matrix(
        (data, A.indices.astype(np.int32, copy=False), A.indptr.astype(np.int32, copy=False)),
        shape=A.shape)
    if canonical and not A.has_canonical_format:
        data, indices, indptr = _summed(A, data)
        S = cusparse.csr_matrix((data, indices.astype(np.int32), indptr.astype(np.int32)),
                                shape=A.shape)
    return S


def _summed(A, data):
    """Canonical storage of A with values ``data``: every row's columns sorted and
    duplicates summed (explicit zeros kept). Built here rather than by cupyx, whose
    ``sum_duplicates`` trusts a cached canonical flag."""
    return _coo_to_canonical(entry_rows(A), A.indices, data, A.shape, A.indptr.dtype)


def _keys(rows, cols, n):
    return rows.astype(np.int64) * n + cols.astype(np.int64)


def _coo_to_canonical(rows, cols, data, shape, index_dtype=None):
    """(data, indices, indptr) of the COO triplets, sorted, duplicates summed."""
    m, n = shape
    idx = index_dtype or (np.int32 if max(m, n, data.size) <= np.iinfo(np.int32).max
                          else np.int64)
    if data.size == 0:
        return data.copy(), cupy.zeros(0, dtype=idx), cupy.zeros(m + 1, dtype=idx)
    if data.dtype == np.bool_:
        # SciPy sums bool duplicates in bool (an or): as integers, then != 0
        summed, indices, indptr = _coo_to_canonical(rows, cols, data.astype(np.int32),
                                                    shape, idx)
        return summed != 0, indices, indptr
    if data.dtype.kind in "iu" and data.dtype.itemsize < 4:
        # atomic adds take 32- and 64-bit words: narrow integers wrap the same way
        wide = np.int32 if data.dtype.kind == "i" else np.uint32
        summed, indices, indptr = _coo_to_canonical(rows, cols, data.astype(wide), shape, idx)
        return summed.astype(data.dtype), indices, indptr
    keys = _keys(rows, cols, n)
    order = cupy.argsort(keys)
    keys = keys[order]
    first = cupy.empty(keys.size, dtype=bool)
    first[:1] = True
    first[1:] = keys[1:] != keys[:-1]
    segment = cupy.cumsum(first) - 1
    unique = keys[first]
    values = data[order]
    # cupy.add.at (atomic adds) adds real numbers: one pass per part.
    if values.dtype.kind in "iu":
        # integers: differences of running sums, exact (wrapping as NumPy's sums do)
        starts = cupy.flatnonzero(first)
        running = cupy.concatenate([cupy.zeros(1, dtype=values.dtype),
                                    cupy.cumsum(values, dtype=values.dtype)])
        ends = cupy.concatenate([starts[1:], cupy.array([values.size], dtype=starts.dtype)])
        summed = running[ends] - running[starts]
    elif values.dtype.kind == "c":
        real = cupy.zeros(unique.size, dtype=values.real.dtype)
        imag = cupy.zeros(unique.size, dtype=values.real.dtype)
        cupy.add.at(real, segment, cupy.ascontiguousarray(values.real))
        cupy.add.at(imag, segment, cupy.ascontiguousarray(values.imag))
        summed = (real + 1j * imag).astype(values.dtype)
    else:
        summed = cupy.zeros(unique.size, dtype=values.dtype)
        cupy.add.at(summed, segment, values)
    indptr = cupy.searchsorted(unique // n if n else unique, cupy.arange(m + 1),
                               side="left").astype(idx)
    return summed, (unique % n if n else unique).astype(idx), indptr


def _without_zeros(data, indices, indptr, shape):
    C = csr_array._from_parts(data, indices, indptr, shape, True)
    return eliminate_zeros(C) if C.nnz and not bool(data.all()) else C


def from_cupyx(S, canonical=None):
    S = S.tocsr()
    return csr_array._from_parts(S.data, S.indices, S.indptr, S.shape, canonical)


def _empty(shape, dt):
    """An all-zero CSR array of ``shape`` (cuSPARSE faults on empty operands: spla
    never hands it one)."""
    return csr_array._from_parts(cupy.zeros(0, dt), cupy.zeros(0, np.int32),
                                 cupy.zeros(shape[0] + 1, np.int32), shape, True)


def _is_empty(*arrays):
    return any(a.nnz == 0 or 0 in a.shape for a in arrays)


@register("rmatvec", "csr", "cuda")
def rmatvec(A, x):
    dt = result_dtype(A.dtype, x.dtype)
    if _is_empty(A):
        return cupy.zeros(A.shape[1], dtype=dt)
    return to_cupyx(A, dt).T @ cupy.ascontiguousarray(x, dtype=dt)


@register("rmatmat", "csr", "cuda")
def rmatmat(A, X):
    dt = result_dtype(A.dtype, X.dtype)
    n, k = A.shape[1], X.shape[1]
    if k == 0 or _is_empty(A):
        return cupy.zeros((n, k), dtype=dt)
    return cupy.ascontiguousarray(to_cupyx(A, dt).T @ cupy.ascontiguousarray(X, dtype=dt))


def entry_rows(A):
    """The row of every stored entry (int64)."""
    return _rows_of(A.indptr, A.nnz)


def _canonical_result(S):
    """A canonical spla array of a cupyx result, without stored zeros."""
    S = S.tocsr()
    if S.nnz == 0:
        return _empty(S.shape, S.dtype)
    rows = _rows_of(S.indptr, S.nnz)
    return _without_zeros(*_coo_to_canonical(rows, S.indices, S.data, S.shape), S.shape)


@register("spgemm", "csr", "cuda")
def spgemm(A, B):
    dt = result_dtype(A.dtype, B.dtype)
    if _is_empty(A, B):
        return _empty((A.shape[0], B.shape[1]), dt)
    return _canonical_result(to_cupyx(A, dt, True) @ to_cupyx(B, dt, True))


@register("add", "csr", "cuda")
def add(A, B, sign):
    dt = result_dtype(A.dtype, B.dtype)
    if dt == np.bool_:
        # bool + is an or and bool - an exclusive or (SciPy's): as int8, then != 0
        C = add(A.astype(np.int8), B.astype(np.int8), sign)
        return _without_zeros(C.data != 0, C.indices, C.indptr, C.shape)
    rows = cupy.concatenate([entry_rows(A), entry_rows(B)])
    cols = cupy.concatenate([A.indices.astype(np.int64), B.indices.astype(np.int64)])
    b = _cast(B.data, dt)
    data = cupy.concatenate([_cast(A.data, dt), b if sign == 1 else -b])
    return _without_zeros(*_coo_to_canonical(rows, cols, data, A.shape), A.shape)


#: Elementwise operations of two sparse arrays with ``f(0, 0) == 0``, computed over
#: the union of the two arrays' stored positions.
_UNION_OPS = {
    "maximum": cupy.maximum, "minimum": cupy.minimum,
    "ne": cupy.not_equal, "lt": cupy.less, "gt": cupy.greater,
}


def _union(A, B, dt):
    """(rows, cols, a, b): the union of the stored positions of A and B (canonical,
    sorted by row then column) and both arrays' values there (zero where one has none)."""
    n = A.shape[1]
    a_data, a_idx, a_ptr = _summed(A, _cast(A.data, dt))
    b_data, b_idx, b_ptr = _summed(B, _cast(B.data, dt))
    a_keys = _keys(_rows_of(a_ptr, a_idx.size), a_idx, n)
    b_keys = _keys(_rows_of(b_ptr, b_idx.size), b_idx, n)
    keys = cupy.unique(cupy.concatenate([a_keys, b_keys]))
    a = cupy.zeros(keys.size, dtype=dt)
    b = cupy.zeros(keys.size, dtype=dt)
    a[cupy.searchsorted(keys, a_keys)] = a_data
    b[cupy.searchsorted(keys, b_keys)] = b_data
    return keys // n, keys % n, a, b


def _elementwise_union(A, B, op):
    dt = result_dtype(A.dtype, B.dtype)
    func = _UNION_OPS[op]
    out_dt = np.dtype(np.bool_) if op in ("ne", "lt", "gt") else dt
    if A.shape[1] == 0 or (A.nnz == 0 and B.nnz == 0):
        return _empty(A.shape, out_dt)
    rows, cols, a, b = _union(A, B, dt)
    data = func(a, b).astype(out_dt, copy=False)
    idx = np.int32 if max(A.shape + (data.size,)) <= np.iinfo(np.int32).max else np.int64
    indptr = cupy.searchsorted(rows, cupy.arange(A.shape[0] + 1)).astype(idx)
    return _without_zeros(data, cols.astype(idx), indptr, A.shape)


@register("elementwise", "csr", "cuda")
def elementwise(A, B, op):
    """``op`` of two CSR arrays of one shape on the GPU: add, subtract and multiply,
    and over the union of the stored positions maximum, minimum and the comparisons
    with ``f(0, 0) == 0`` (``!=``, ``<``, ``>``; the others are their negations)."""
    if op in ("add", "subtract"):
        return add(A, B, 1 if op == "add" else -1)
    if op == "multiply":
        return multiply(A, B)
    if op in _UNION_OPS:
        return _elementwise_union(A, B, op)
    raise NotImplementedError(
        f"spla has no GPU kernel for the elementwise {op!r} of two sparse arrays yet; "
        "move the arrays with .to_device('cpu')"
    )


@register("multiply", "csr", "cuda")
def multiply(A, B):
    dt = result_dtype(A.dtype, B.dtype)
    n = A.shape[1]
    a_data, a_idx, a_ptr = _summed(A, _cast(A.data, dt))
    b_data, b_idx, b_ptr = _summed(B, _cast(B.data, dt))
    a_keys = _keys(_rows_of(a_ptr, a_idx.size), a_idx, n)
    b_keys = _keys(_rows_of(b_ptr, b_idx.size), b_idx, n)
    if a_keys.size == 0 or b_keys.size == 0:
        return _empty(A.shape, dt)
    at = cupy.minimum(cupy.searchsorted(b_keys, a_keys), b_keys.size - 1)
    match = b_keys[at] == a_keys
    rows = a_keys[match] // n
    data = a_data[match] * b_data[at[match]]
    indptr = cupy.searchsorted(rows, cupy.arange(A.shape[0] + 1)).astype(a_ptr.dtype)
    return _without_zeros(data, a_idx[match], indptr, A.shape)


def _rows_of(indptr, nnz):
    return cupy.searchsorted(indptr, cupy.arange(nnz), side="right") - 1


@register("add_dense", "csr", "cuda")
def add_dense(A, dense, sign):
    dt = result_dtype(A.dtype, dense.dtype)
    try:
        shape = np.broadcast_shapes(dense.shape, A.shape)
    except ValueError:
        shape = None
    if shape != A.shape:
        raise ValueError(f"add: dense operand {dense.shape} does not broadcast to {A.shape}")
    out = cupy.empty(A.shape, dtype=dt)
    out[...] = dense
    if sign == -1:
        cupy.negative(out, out=out)  # in the result dtype (unsigned D would wrap)
    return out + toarray(A, None, None).astype(dt, copy=False)


@register("multiply_dense", "csr", "cuda")
def multiply_dense(A, dense):
    dt = result_dtype(A.dtype, dense.dtype)
    D = cupy.broadcast_to(_cast(dense, dt), A.shape)
    rows = entry_rows(A)
    data = _cast(A.data, dt) * D[rows, A.indices]
    C = A._with_data(data)
    return eliminate_zeros(C) if C.nnz and not bool(data.all()) else C


#: The value dtypes cuSPARSE takes; the others run as CuPy array operations
#: (``spla._backends.array_module``).
_CUSPARSE_DTYPES = frozenset(map(np.dtype, (np.float32, np.float64, np.complex64,
                                            np.complex128)))


def _canonical_parts(A):
    if A.has_canonical_format:
        return A.data, A.indices, A.indptr
    return _summed(A, A.data)


@register("toarray", "csr", "cuda")
def toarray(A, order, out):
    if _is_empty(A):
        dense = cupy.zeros(A.shape, dtype=A.dtype, order=order or "C")
    elif A.dtype not in _CUSPARSE_DTYPES:
        data, indices, indptr = _canonical_parts(A)
        dense = xpa.to_dense(indptr, indices, data, A.shape, order, cupy)
    else:
        dense = to_cupyx(A, None, True).toarray(order=order or "C")
    if out is None:
        return dense
    if not isinstance(out, cupy.ndarray) or out.shape != A.shape or out.dtype != A.dtype:
        raise ValueError(f"out must be a CuPy array of shape {A.shape} and dtype {A.dtype}")
    out[...] = dense
    return out


@register("transpose", "csr", "cuda")
def transpose(A):
    if _is_empty(A):
        return _empty(A.shape[::-1], A.dtype)
    if A.dtype not in _CUSPARSE_DTYPES:
        data, indices, indptr = xpa.transpose(A.indptr, A.indices, A.data, A.shape, cupy)
        return csr_array._from_parts(data, indices, indptr, A.shape[::-1],
                                     True if A._derived.get("canonical") else None)
    S = to_cupyx(A, None, True).T.tocsr()
    return from_cupyx(S, True if A._derived.get("canonical") else None)


@register("is_canonical", "csr", "cuda")
def is_canonical(A):
    if A.nnz < 2:
        return True
    rows = entry_rows(A)
    same_row = rows[1:] == rows[:-1]
    return not bool(cupy.any(same_row & (A.indices[1:] <= A.indices[:-1])))


@register("eliminate_zeros", "csr", "cuda")
def eliminate_zeros(A):
    keep = A.data != 0
    rows = entry_rows(A)
    counts = cupy.bincount(rows[keep], minlength=A.shape[0]) if A.nnz else \
        cupy.zeros(A.shape[0], np.int64)
    indptr = cupy.concatenate([cupy.zeros(1, np.int64), cupy.cumsum(counts)]).astype(A.indptr.dtype)
    return csr_array._from_parts(A.data[keep], A.indices[keep], indptr, A.shape, A._derived.get("canonical"))


def _accumulate(positions, values, size, dt):
    """``out[positions[k]] += values[k]`` in ``dt`` (atomic adds for floating point,
    complex by parts; integers through a sort and running sums, exact)."""
    values = _cast(values, dt)
    if dt.kind in "iu":
        if values.size == 0:
            return cupy.zeros(size, dtype=dt)
        order = cupy.argsort(positions)
        running = cupy.concatenate([cupy.zeros(1, dtype=dt), cupy.cumsum(values[order], dtype=dt)])
        bounds = cupy.searchsorted(positions[order], cupy.arange(size + 1))
        return running[bounds[1:]] - running[bounds[:-1]]
    if dt.kind == "c":
        real = cupy.zeros(size, dtype=values.real.dtype)
        imag = cupy.zeros(size, dtype=values.real.dtype)
        cupy.add.at(real, positions, cupy.ascontiguousarray(values.real))
        cupy.add.at(imag, positions, cupy.ascontiguousarray(values.imag))
        return (real + 1j * imag).astype(dt)
    out = cupy.zeros(size, dtype=dt)
    if positions.size:
        cupy.add.at(out, positions, values)
    return out


def _sum_dtype(dtype):
    """NumPy's accumulator dtype of ``sum`` (int64 for bool and small ints)."""
    return np.sum(np.zeros(1, dtype=dtype)).dtype


@register("sum", "csr", "cuda")
def sum_(A, axis):
    dt = _sum_dtype(A.dtype)
    if axis is None:
        return A.data.sum(dtype=dt)
    if axis == 1:
        return _accumulate(entry_rows(A), A.data, A.shape[0], dt)
    return _accumulate(A.indices, A.data, A.shape[1], dt)


@register("diagonal", "csr", "cuda")
def diagonal(A, k):
    m, n = A.shape
    length = max(0, min(m, n - k)) if k >= 0 else max(0, min(m + k, n))
    if _is_empty(A) or length == 0:
        return cupy.zeros(length, dtype=A.dtype)
    if A.dtype not in _CUSPARSE_DTYPES:
        data, indices, indptr = _canonical_parts(A)
        return xpa.diagonal(indptr, indices, data, A.shape, k, cupy)
    return to_cupyx(A, None, True).diagonal(k)


@register("sum_duplicates", "csr", "cuda")
def sum_duplicates(A):
    return csr_array._from_parts(*_summed(A, A.data), A.shape, True)
