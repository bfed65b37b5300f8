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


def host_values(x, device="cpu"):
    """The value ``x`` of a write into an array on ``device``, on the host.

    GPU values (CuPy arrays and scalars, ``cupyx.scipy.sparse`` matrices, spla arrays
    on a GPU) written into a GPU array are copied to the host here: targets are
    shaped and deduplicated there, then the written values go to the device with
    them, so CuPy values are cast and broadcast exactly as NumPy values. Written
    into a CPU array they raise ``TypeError``, as NumPy and SciPy do for CuPy
    arrays (no copy between devices behind the caller's back): pass ``x.get()``.
    """
    top = type(x).__module__.split(".")[0]
    on_gpu = top in ("cupy", "cupyx")
    if not on_gpu and top == "spla":
        on_gpu = getattr(x, "device", "cpu") != "cpu"
    if not on_gpu:
        return x
    if device == "cpu":
        raise TypeError(
            f"cannot write a GPU {type(x).__name__} into a sparse array on the CPU (no "
            "implicit copy between devices, as NumPy and SciPy); pass x.get() "
            "(x.to_device('cpu') for an spla array), or move the array with "
            "A.to_device('cuda')")
    if top == "spla":
        return x.to_device("cpu")
    return x.get()


def dense_value(x, dtype):
    """``x`` as a NumPy array of ``dtype`` (SciPy's ``np.asarray(x, dtype=...)``)."""
    return np.asarray(host_values(x), dtype=dtype)


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
        x = host_values(x).tocoo().to_scipy()
    x = x.tocoo()
    shape2d = x.shape if x.ndim == 2 else (1, x.shape[0]) if x.ndim == 1 else None
    if shape2d is None:
        raise ValueError("shape mismatch in assignment")
    x = x.reshape(shape2d, copy=True)
    x.sum_duplicates()
    return shape2d, np.asarray(x.row, np.int64), np.asarray(x.col, np.int64), x.data


def assign(shape, dtype, key, x, write, zero, fmt=None, device="cpu"):
    """``A[key] = x`` for a 2-D array of ``shape`` and ``dtype`` on ``device`` through
    the format's ``write`` and ``zero`` (see the module docstring; GPU values as
    ``host_values`` says)."""
    x = host_values(x, device)
    k = normalize_key(key, shape, fmt, device)
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


def coo_hits(row, col, rows, cols, shape, xp):
    """Which stored COO entries (``row``, ``col`` on ``xp``'s device) are among the
    sorted, unique host targets ``rows, cols``: one binary search of the entries'
    flat positions among the targets' (the array-module form of ``coo_matches``)."""
    m, n = shape
    if row.size == 0 or rows.size == 0:
        return xp.zeros(row.size, dtype=bool)
    if m * n >= 2 ** 63:  # flat positions would overflow int64: match on the host
        host = (row, col) if xp is np else (xp.asnumpy(row), xp.asnumpy(col))
        return xp.asarray(coo_matches(host[0], host[1], rows, cols, m))
    wanted = xp.asarray(rows * n + cols)  # sorted
    keys = row.astype(np.int64) * n + col.astype(np.int64)
    pos = xp.minimum(xp.searchsorted(wanted, keys), wanted.size - 1)
    return wanted[pos] == keys


def coo_write(A, rows, cols, values, keep_zeros=False, xp=None):
    """SciPy's COO assignment: the stored entries at the targets are removed, the
    written values are appended (only the non-zero ones, unless ``keep_zeros``:
    the scalar ``A[i, j] = 0`` stores its zero as SciPy does). The last write to
    an entry wins (SciPy's COO keeps the first; NumPy and SciPy's CSR the last).

    Targets and values are host arrays; ``xp=None`` matches the stored entries with
    the CPU kernel, an array module (CuPy for GPU storage) with ``coo_hits`` on the
    storage's device. Returns the new ``(coords, data)`` on that device."""
    m, n = A.shape
    r, c, v = _dedupe_last(rows, cols, np.asarray(values), n)
    row, col = (A.coords[0], A.coords[1])
    if xp is None:
        xp = np
        hit = coo_matches(row, col, r, c, m) if A.nnz and r.size else np.zeros(A.nnz, bool)
    else:
        hit = coo_hits(row, col, r, c, (m, n), xp)
    if not keep_zeros:
        nz = v != 0
        r, c, v = r[nz], c[nz], v[nz]
    idx = A.coords[0].dtype if A.coords else np.dtype(np.int32)
    if max(m, n) > np.iinfo(idx).max:
        idx = np.dtype(np.int64)
    keep = ~hit
    coords = (xp.concatenate([row[keep].astype(idx, copy=False), xp.asarray(r.astype(idx))]),
              xp.concatenate([col[keep].astype(idx, copy=False), xp.asarray(c.astype(idx))]))
    data = xp.concatenate([A.data[keep], xp.asarray(v.astype(A.dtype, copy=False))])
    return coords, data


def _module(A, xp):
    """``xp`` when given (tests run the array-module path with NumPy), else None on
    the CPU (its kernels) or the array module of A's device."""
    if xp is not None or A.device == "cpu":
        return xp
    from .._dispatch import array_module

    return array_module(A.device)


def assign_coo(A, key, x, xp=None):
    """``A[key] = x`` for a 1-D or 2-D ``coo_array`` (new coords and data, SciPy's
    rules), on the device of its storage (``xp``: see ``coo_write``)."""
    xp = _module(A, xp)
    x = host_values(x, A.device)
    if A.ndim == 1:
        return _assign_coo_1d(A, key, x, xp)
    if A.ndim != 2:
        raise NotImplementedError(
            f"assignment into a {A.ndim}-D coo_array is not implemented (1-D and 2-D are)")
    out = {}

    def write(rows, cols, values, scalar=False):
        out["result"] = coo_write(_Current(A, out), rows, cols, values, scalar, xp)

    def zero(rows, cols):
        out["result"] = coo_write(_Current(A, out), rows, cols,
                                  np.zeros(rows.size, A.dtype), False, xp)

    assign(A.shape, A.dtype, key, x, write, zero, "coo", device=A.device)
    return out.get("result")


class _Current:
    """A's coords and data, or those of the last step of one assignment."""

    def __init__(self, A, out):
        res = out.get("result")
        self.shape, self.dtype = A.shape, A.dtype
        self.coords, self.data = res if res is not None else (A.coords, A.data)
        self.nnz = self.data.size


def _assign_coo_1d(A, key, x, xp):
    k = normalize_key(key, A.shape, "coo", A.device)
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
    two_d = _Flat(A, np if xp is None else xp)
    coords, data = coo_write(two_d, np.zeros(cols.size, np.int64), cols, v, keep_zeros, xp)
    return (coords[1],), data


class _Flat:
    """A 1-D coo_array read as one row."""

    def __init__(self, A, xp):
        self.shape = (1, A.shape[0])
        self.dtype = A.dtype
        self.coords = (xp.zeros(A.nnz, dtype=A.coords[0].dtype), A.coords[0])
        self.data = A.data
        self.nnz = A.nnz


def assign_banded(A, key, x):
    """``A[key] = x`` for a ``banded_array``: writes inside the band go into its
    storage (a copy of the values the first time, so that arrays the caller passed
    in are never written); a non-zero value outside the band raises ``ValueError``
    naming the entry and its diagonal (zeros there change nothing and are allowed).
    Every target is checked on the host first; then one scatter of the last write
    of each entry, on the device of the storage (NumPy or CuPy). Returns the new
    values array."""
    from .._dispatch import array_module

    offsets = np.asarray(A.offsets)
    steps = []  # (diagonal, row, values) of each step: applied once all are checked

    def place(rows, cols, values):
        # the last write to a repeated target is the one that counts (a zero outside
        # the band after a non-zero there leaves the array banded, as in NumPy)
        rows, cols, values = _dedupe_last(rows, cols, values, A.shape[1])
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
        steps.append((d[inside].astype(np.int64), rows[inside], values[inside]))

    def write(rows, cols, values):
        place(rows, cols, np.asarray(values))

    def zero(rows, cols):
        place(rows, cols, np.zeros(rows.size, dtype=A.dtype))

    assign(A.shape, A.dtype, key, x, write, zero, "banded", device=A.device)
    data = A.data if getattr(A, "_owns_data", False) else A.data.copy()
    if steps:
        d, rows, values = (np.concatenate(part) for part in zip(*steps))
        d, rows, values = _dedupe_last(d, rows, values, A.shape[0])
        if d.size:
            xp = array_module(A.device)
            data[xp.asarray(d), xp.asarray(rows)] = xp.asarray(values)
    return data


def assign_nm(A, key, x):
    """``A[key] = x`` for an ``nm_array``: the new packed storage ``(values,
    packed_positions)`` (see ``nm_write``), on the device of the array; a write that
    would break the N:M rule raises ``ValueError`` naming the row, the group's
    columns and its count."""
    steps = []

    def write(rows, cols, values):
        steps.append((rows, cols, np.asarray(values)))

    def zero(rows, cols):
        steps.append((rows, cols, np.zeros(rows.size, dtype=A.dtype)))

    assign(A.shape, A.dtype, key, x, write, zero, "nm", device=A.device)
    return nm_write(A.values, A.packed_positions, A.n, A.m, A.shape, steps)


def pack_positions(pos, m, xp):
    """Unpacked positions ``(rows, S)`` as ``nm_array`` stores them (2-bit fields
    for ``m == 4``, else uint8), on ``xp``'s device."""
    if m != 4:
        return xp.ascontiguousarray(pos, dtype=np.uint8)
    R, S = pos.shape
    out = xp.zeros((R, -(-S // 4)), dtype=np.uint8)
    for i in range(4):
        field = pos[:, i::4].astype(np.uint8)
        out[:, :field.shape[1]] |= field << np.uint8(2 * i)
    return out


def nm_write(values, packed, n, m, shape, steps):
    """N:M storage after the write steps ``[(rows, cols, values), ...]`` (host
    arrays, in order: the last write to an element wins): ``(values, packed)``, new
    arrays on the device of ``values`` (NumPy or CuPy), or the given ones when
    nothing is written.

    Only the groups that a write touches change: each is unpacked into a dense
    block of ``m`` elements, the writes go in, its non-zeros are counted (more than
    ``n`` raises ``ValueError`` naming the first such row and group) and it is
    repacked canonically (the non-zeros and the lowest free positions, sorted), as
    ``nm_array`` packs dense input. O(touched groups x m) work plus one copy of the
    storage.

    Examples
    --------
    >>> import numpy as np, spla
    >>> from spla._indexing.assign import nm_write
    >>> A = spla.nm_array(np.array([[1.0, 0, 0, 2]]))
    >>> v, p = nm_write(A.values, A.packed_positions, 2, 4, A.shape,
    ...                 [(np.array([0]), np.array([3]), np.array([0.0]))])
    >>> v  # group [1, 0, 0, 0]: its non-zero, then the lowest free position
    array([[1., 0.]])
    >>> spla.nm_array((v, A.positions), shape=(1, 4)).toarray()
    array([[1., 0., 0., 0.]])
    """
    from .._dispatch import array_module, device_of
    from .._formats.nm import unpack_positions

    if not steps:
        return values, packed
    R, C = shape
    S = values.shape[1]
    G = S // n
    r, c, v = (np.concatenate(part) for part in zip(*steps))
    r, c, v = _dedupe_last(r.astype(np.int64), c.astype(np.int64), v.astype(values.dtype), C)
    if r.size == 0:
        return values, packed
    xp = array_module(device_of(values))
    groups, which = np.unique(r * G + c // m, return_inverse=True)
    k = groups.size
    g_row, g_col = groups // G, groups % G
    slots = g_col[:, None] * n + np.arange(n)  # (k, n): the slots of each touched group
    at = (xp.asarray(np.broadcast_to(g_row[:, None], slots.shape)), xp.asarray(slots))
    pos = unpack_positions(packed, m, S)  # a new array: written below
    block = xp.zeros((k, m), dtype=values.dtype)
    block[xp.arange(k)[:, None], pos[at].astype(np.int64)] = values[at]
    block[xp.asarray(which.reshape(-1)), xp.asarray(c % m)] = xp.asarray(v)
    nonzero = block != 0  # NaN counts as a non-zero, as in nm_array
    counts = nonzero.sum(axis=1)
    bad = counts > n
    if bool(bad.any()):
        t = int(xp.argmax(bad))
        row, g, count = int(g_row[t]), int(g_col[t]), int(counts[t])
        raise ValueError(
            f"nm_array: the write would put {count} non-zeros in row {row}, columns "
            f"{g * m}..{min(g * m + m, C) - 1} (group {g}), breaking the {n}:{m} rule; "
            "write into A.tocsr() instead"
        )
    # the non-zeros first, then the free positions, each in position order; keep n
    # of them and sort: the canonical packing of nm_array's dense input
    rank = (~nonzero).astype(np.int64) * m + xp.arange(m, dtype=np.int64)
    chosen = xp.sort(xp.argsort(rank, axis=1)[:, :n], axis=1)
    new_values = values.copy()
    new_values[at] = xp.take_along_axis(block, chosen, axis=1)
    pos[at] = chosen.astype(np.uint8)
    return new_values, pack_positions(pos, m, xp)
