"""Assignment ``A[key] = x`` for 2-D arrays: SciPy 1.17's shaping of targets and values.

``assign(A, key, x, write, zero)`` turns a key (through ``normalize_key``) and a
value into flat batches of targets and hands them to the format:

- ``write(rows, cols, values)`` writes ``values`` (already of ``A.dtype``) at the
  targets, inserting absent entries; the last of several writes to one entry wins;
- ``zero(rows, cols)`` sets the stored entries among the targets to zero and
  inserts nothing (SciPy's first step of assigning sparse values).

Targets are ``int64`` arrays in range (the normaliser checked them). The rules
are those of SciPy's ``_IndexMixin.__setitem__``: a slice on one axis and an
index array on the other form an outer grid; two index arrays (or a boolean
mask) broadcast against each other; a dense value is cast with
``numpy.asarray(x, dtype=A.dtype)`` (so complex into a real array raises or
warns as NumPy does, NaN into an integer array raises ``ValueError``) and
broadcast to the targets' shape (``ValueError`` when it does not broadcast); a
sparse value writes its stored entries only (broadcasting a single row or
column), after zeroing every target that is stored.
"""

import numpy as np

from .keys import normalize_key


def _axis_array(entry):
    if type(entry) is range:
        return np.arange(entry.start, entry.stop, entry.step, dtype=np.int64)
    return np.atleast_1d(np.asarray(entry, dtype=np.int64))


def targets(index):
    """The broadcast (rows, cols) grids of a normalised 2-D index, as SciPy shapes
    them for a write (NumPy's ``ValueError`` when they do not broadcast, as SciPy's)."""
    row, col = index
    row_range = type(row) is range
    col_range = type(col) is range
    i = _axis_array(row)
    j = _axis_array(col)
    if row_range:
        i = i[:, None]
    if col_range:
        j = j[None, :]
        if i.ndim == 1:
            i = i[:, None]
    i, j = np.broadcast_arrays(i, j)  # ValueError when they do not broadcast, as SciPy
    return np.array(i), np.array(j)  # own, contiguous copies (the kernels take them)


def coo_targets(index):
    """The (rows, cols) grids of a normalised 2-D index as SciPy's ``coo_array``
    shapes them: an index array and a slice form the outer product in key order
    (array shape + slice length), whatever the array's dimensions."""
    row, col = index
    i = _axis_array(row) if type(row) is not int else np.array(row, np.int64)
    j = _axis_array(col) if type(col) is not int else np.array(col, np.int64)
    if type(row) is range:
        i = i.reshape(i.shape + (1,) * max(j.ndim, 1 if type(col) is range else 0))
    elif type(col) is range:
        i = i.reshape(i.shape + (1,))
    i, j = np.broadcast_arrays(i, j)
    return np.array(i), np.array(j)


def _is_sparse(x):
    from .._base import issparse

    return issparse(x)


def dense_value(x, dtype):
    """``x`` as a NumPy array of ``dtype`` (SciPy's ``np.asarray(x, dtype=...)``)."""
    if hasattr(x, "device") and getattr(x, "device", "cpu") != "cpu" and not isinstance(
            x, np.ndarray):
        raise NotImplementedError("assigning GPU values into a CPU sparse array: move them "
                                  "to the CPU first")
    return np.asarray(x, dtype=dtype)


def scalar_value(x, dtype):
    """The one value of ``x`` (SciPy's rule for ``A[i, j] = x``)."""
    if _is_sparse(x):
        x = x.toarray()
    v = dense_value(x, dtype)
    if v.size != 1:
        raise ValueError("Trying to assign a sequence to an item")
    return v.reshape(-1)[:1]


def _sparse_coo(x):
    """(shape2d, rows, cols, values) of a sparse value, duplicates summed."""
    from .._base import SparseArray

    if isinstance(x, SparseArray):
        if x.device != "cpu":
            raise NotImplementedError("assigning GPU values into a CPU sparse array: move "
                                      "them to the CPU first")
        x = x.tocoo().to_scipy()
    x = x.tocoo()
    shape2d = x.shape if x.ndim == 2 else (1, x.shape[0]) if x.ndim == 1 else None
    if shape2d is None:
        raise ValueError("shape mismatch in assignment")
    x = x.reshape(shape2d, copy=True)
    x.sum_duplicates()
    return shape2d, np.asarray(x.row, np.int64), np.asarray(x.col, np.int64), x.data


def assign(shape, dtype, key, x, write, zero, fmt=None):
    """``A[key] = x`` for a 2-D array of ``shape`` and ``dtype`` through the format's
    ``write`` and ``zero`` (see the module docstring)."""
    k = normalize_key(key, shape, fmt)
    row, col = k.index
    if type(row) is int and type(col) is int:
        v = scalar_value(x, dtype)
        if fmt == "coo":
            write(np.array([row], np.int64), np.array([col], np.int64), v, scalar=True)
        else:
            write(np.array([row], np.int64), np.array([col], np.int64), v)
        return
    i, j = coo_targets(k.index) if fmt == "coo" else targets(k.index)
    if _is_sparse(x):
        if 0 in x.shape:
            return
        if i.ndim == 1:  # inner indexing: a row of targets
            i = i[None]
            j = j[None]
        (xm, xn), r, c, values = _sparse_coo(x)
        M, N = i.shape
        broadcast_row = xm == 1 and M != 1
        broadcast_col = xn == 1 and N != 1
        if not ((broadcast_row or xm == M) and (broadcast_col or xn == N)):
            raise ValueError("shape mismatch in assignment")
        values = np.asarray(values, dtype=dtype)
        zero(i.ravel(), j.ravel())
        if values.size == 0:
            return
        if broadcast_row:
            r = np.repeat(np.arange(M, dtype=np.int64), len(r))
            c = np.tile(c, M)
            values = np.tile(values, M)
        if broadcast_col:
            r = np.repeat(r, N)
            c = np.tile(np.arange(N, dtype=np.int64), len(c))
            values = np.repeat(values, N)
        write(i[r, c], j[r, c], values)
        return
    v = dense_value(x, dtype)
    if v.squeeze().shape != i.squeeze().shape:
        v = np.broadcast_to(v, i.shape)
    if v.size == 0:
        return
    v = v.reshape(i.shape)
    write(i.ravel(), j.ravel(), np.ascontiguousarray(v).ravel())


def _dedupe_last(rows, cols, values, n_cols):
    """The targets with the last write of each entry kept, sorted by (row, col)."""
    order = np.lexsort((cols, rows))  # stable: equal entries keep their batch order
    r, c, v = rows[order], cols[order], values[order]
    if r.size:
        last = np.ones(r.size, dtype=bool)
        last[:-1] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
        r, c, v = r[last], c[last], v[last]
    return r, c, v


def coo_matches(coo_rows, coo_cols, rows, cols, n_rows):
    """Which stored COO entries are among the (sorted, unique) targets ``rows, cols``."""
    from .._dispatch import lookup

    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    offsets = lookup("find_offsets", "csr", "cpu")(
        indptr, cols, np.asarray(coo_rows, np.int64), np.asarray(coo_cols, np.int64))
    return offsets >= 0


def coo_write(A, rows, cols, values, keep_zeros=False):
    """SciPy's COO assignment: the stored entries at the targets are removed, the
    written values are appended (only the non-zero ones, unless ``keep_zeros``:
    the scalar ``A[i, j] = 0`` stores its zero as SciPy does). The last write to
    an entry wins (SciPy's COO keeps the first; NumPy and SciPy's CSR the last)."""
    m, n = A.shape
    r, c, v = _dedupe_last(rows, cols, np.asarray(values), n)
    row, col = (A.coords[0], A.coords[1])
    hit = coo_matches(row, col, r, c, m) if A.nnz and r.size else np.zeros(A.nnz, bool)
    if not keep_zeros:
        nz = v != 0
        r, c, v = r[nz], c[nz], v[nz]
    idx = A.coords[0].dtype if A.coords else np.dtype(np.int32)
    if max(m, n) > np.iinfo(idx).max:
        idx = np.dtype(np.int64)
    keep = ~hit
    coords = (np.concatenate([row[keep].astype(idx, copy=False), r.astype(idx)]),
              np.concatenate([col[keep].astype(idx, copy=False), c.astype(idx)]))
    data = np.concatenate([A.data[keep], v.astype(A.dtype, copy=False)])
    return coords, data


def _host_only(A, values):
    """Writes into COO, N:M and banded storage run on the CPU only (CSR and CSC write
    on the GPU too): ``NotImplementedError`` naming the way out."""
    if not isinstance(values, np.ndarray):
        raise NotImplementedError(
            f"writing into a {type(A).__name__} on {A.device} is not implemented (csr_array "
            "and csc_array write on the GPU); write into A.tocsr(), or on the CPU")


def assign_coo(A, key, x):
    """``A[key] = x`` for a 1-D or 2-D ``coo_array`` (new coords and data, SciPy's rules)."""
    _host_only(A, A.data)
    if A.ndim == 1:
        return _assign_coo_1d(A, key, x)
    if A.ndim != 2:
        raise NotImplementedError(
            f"assignment into a {A.ndim}-D coo_array is not implemented (1-D and 2-D are)")
    out = {}

    def write(rows, cols, values, scalar=False):
        out["result"] = coo_write(_Current(A, out), rows, cols, values, keep_zeros=scalar)

    def zero(rows, cols):
        out["result"] = coo_write(_Current(A, out), rows, cols, np.zeros(0, A.dtype)[:0]
                                  if rows.size == 0 else np.zeros(rows.size, A.dtype))

    assign(A.shape, A.dtype, key, x, write, zero, "coo")
    return out.get("result")


class _Current:
    """A's coords and data, or those of the last step of one assignment."""

    def __init__(self, A, out):
        res = out.get("result")
        self.shape, self.dtype = A.shape, A.dtype
        self.coords, self.data = res if res is not None else (A.coords, A.data)
        self.nnz = self.data.size


def _assign_coo_1d(A, key, x):
    k = normalize_key(key, A.shape, "coo")
    (entry,) = k.index
    if type(entry) is int:
        v = scalar_value(x, A.dtype)
        cols = np.array([entry], np.int64)
        keep_zeros = True
    else:
        cols = _axis_array(entry).ravel()
        shape = (len(entry),) if type(entry) is range else entry.shape
        if _is_sparse(x):
            if 0 in x.shape:
                return None
            x = x.toarray()
        v = dense_value(x, A.dtype)
        if v.shape != shape:  # SciPy's COO rule: the squeezed value broadcast to the key
            v = np.broadcast_to(v.squeeze(), shape)
        if v.size == 0:
            return None
        v = np.ascontiguousarray(v).ravel()
        keep_zeros = False
    two_d = _Flat(A)
    coords, data = coo_write(two_d, np.zeros(cols.size, np.int64), cols, v, keep_zeros)
    return (coords[1],), data


class _Flat:
    """A 1-D coo_array read as one row."""

    def __init__(self, A):
        self.shape = (1, A.shape[0])
        self.dtype = A.dtype
        self.coords = (np.zeros(A.nnz, dtype=A.coords[0].dtype), A.coords[0])
        self.data = A.data
        self.nnz = A.nnz


def assign_banded(A, key, x):
    """``A[key] = x`` for a ``banded_array``: writes inside the band go into its
    storage (a copy of the values the first time, so that arrays the caller passed
    in are never written); a non-zero value outside the band raises ``ValueError``
    naming the entry and its diagonal (zeros there change nothing and are allowed).
    Returns the new values array."""
    _host_only(A, A.data)
    offsets = np.asarray(A.offsets)
    steps = []  # (diagonal, row, values) of each step: applied once all are checked

    def place(rows, cols, values):
        off = cols - rows
        d = np.searchsorted(offsets, off)
        inside = d < offsets.size
        inside[inside] = offsets[d[inside]] == off[inside]
        outside = ~inside & (values != 0)
        if outside.any():
            t = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"banded_array: writing A[{int(rows[t])}, {int(cols[t])}] would put a non-zero "
                f"on diagonal {int(off[t])}, outside the band (offsets {offsets.tolist()}); "
                "write into A.tocsr() instead"
            )
        steps.append((d[inside], rows[inside], values[inside]))

    def write(rows, cols, values):
        place(rows, cols, np.asarray(values))

    def zero(rows, cols):
        place(rows, cols, np.zeros(rows.size, dtype=A.dtype))

    assign(A.shape, A.dtype, key, x, write, zero, "banded")
    data = A._data if getattr(A, "_owns_data", False) else A._data.copy()
    for d, rows, values in steps:
        data[d, rows] = values  # NumPy: the last write wins
    return data


def assign_nm(A, key, x):
    """``A[key] = x`` for an ``nm_array``: the written rows are checked against the
    N:M rule (at most ``n`` non-zeros in every group of ``m`` columns); a write that
    would break it raises ``ValueError`` naming the row, the group's columns and its
    count. Returns the dense result, which the caller packs (O(rows x cols))."""
    dense = A.toarray()
    _host_only(A, dense)
    touched = []

    def write(rows, cols, values):
        dense[rows, cols] = values  # NumPy: the last write wins
        touched.append(rows)

    def zero(rows, cols):
        dense[rows, cols] = 0

    assign(A.shape, A.dtype, key, x, write, zero, "nm")
    if touched:
        rows = np.unique(np.concatenate(touched))
        n, m = A.n, A.m
        cols = dense.shape[1]
        groups = -(-cols // m)
        block = np.zeros((rows.size, groups * m), dtype=bool)
        block[:, :cols] = dense[rows] != 0
        counts = block.reshape(rows.size, groups, m).sum(axis=2)
        bad = np.argwhere(counts > n)
        if bad.size:
            r, g = bad[0]
            raise ValueError(
                f"nm_array: the write would put {int(counts[r, g])} non-zeros in row "
                f"{int(rows[r])}, columns {g * m}..{min(g * m + m, cols) - 1} (group {int(g)}), "
                f"breaking the {n}:{m} rule; write into A.tocsr() instead"
            )
    return dense
