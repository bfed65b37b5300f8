"""``A[key]`` for every format, with the results of SciPy 1.17's sparse arrays.

CSR and CSC (``getitem_compressed``) read through the axis swap: a selection of
rows and columns becomes a selection of major and minor slices of the CSR
reading of the storage (``_major()``), answered by the ``"getitem_select"``,
``"getitem_points"`` and ``"getitem_scalar"`` entries of the dispatch table.
Results are those of ``scipy.sparse.csr_array`` / ``csc_array``:

- ``A[i, j]``: a NumPy scalar of ``A.dtype`` (duplicates summed);
- ``A[i]``, ``A[i, :]``, ``A[:, j]``, ``A[i, cols]``: a 1-D ``coo_array``;
- slices, index arrays and 1-D boolean masks on either axis (``A[1:3]``,
  ``A[[0, 2]]``, ``A[rows, 2:5]``, ``A[np.ix_(r, c)]``): a 2-D array of A's
  format;
- two index arrays that broadcast to 1-D (``A[rows, cols]``, a 2-D boolean
  mask): a dense NumPy array; to 2-D (not of the outer ``ix_`` form): a
  sparse array of A's format built from the values;
- ``None`` axes reshape the result as SciPy does (a sparse result of another
  shape becomes a ``coo_array``); results of more than two dimensions raise
  ``IndexError`` as SciPy's CSR does (``coo_array`` has them).

COO (``getitem_coo``) answers every key with a ``coo_array`` of any number of
dimensions (a NumPy scalar when every axis gets an integer), by filtering its
coordinates, as SciPy's ``coo_array``; duplicates are summed only in a scalar.
N:M and banded arrays answer through CSR.

Arrays whose storage is on a GPU answer on the GPU, through the ``"cuda"``
entries of the same table (``spla_cuda.index``), with results on the GPU: sparse
results are arrays with CuPy storage, dense ones CuPy arrays, and a scalar read
a 0-d CuPy array (not a NumPy scalar: reading it to the host is the caller's
choice). A 2-D ``coo_array`` on a GPU reads through its GPU CSR and returns
``coo_array`` results; where the CPU gives a ``coo_array`` of picked entries
(``A[rows, cols]``) the GPU one holds the non-zero picked values (explicitly
stored zeros are not kept). n-D COO on a GPU raises ``NotImplementedError``. No
read copies storage between devices behind the caller's back. On a GPU the
common key forms with integer index arrays (``A[rows]``, ``A[rows, cols]``,
``A[ix_(r, c)]``, ``A[rows, a:b]``, ``A[a:b, cols]``, a CuPy row mask, ``A[i, j]``)
skip ``normalize_key`` (``_getitem_gpu``): their arrays, NumPy or CuPy, go to the
kernels as they are, which resolve negative indices and check bounds on the
device, so a CuPy key is never copied to the host.
"""

import numpy as np

from .. import _dispatch
from .keys import as_index_array, normalize_key

_CPU = "cpu"
_INTP = np.dtype(np.intp)
_ALL = slice(None)


def _on_gpu(A):
    raise NotImplementedError(
        f"indexing a {A.ndim}-D {type(A).__name__} on {A.device} is not implemented yet; "
        "index A.to_device('cpu') (reads do not copy between devices behind your back)"
    )


def _package(res, shape):
    """SciPy's last step: the core result reshaped to the requested shape."""
    if isinstance(res, np.ndarray):
        return res if res.shape == shape else res.reshape(shape)
    if isinstance(res, np.generic):
        return res if shape == () else np.reshape(res, shape)
    if not hasattr(res, "format"):  # a dense CuPy array (or a 0-d one: a GPU scalar)
        return res if res.shape == shape else res.reshape(shape)
    # a sparse array
    if res.shape == shape:
        return res
    if len(shape) == 1 and res.format in ("csr", "csc") and 1 in res.shape:
        return _line_to_1d(res, shape)
    res = res if res.format == "coo" else res.tocoo()
    return res.reshape(shape)


def _line_to_1d(res, shape):
    """A 1 x k or k x 1 CSR/CSC array as the 1-D coo_array of shape ``(k,)``, without
    the full COO conversion (one column of a tall array has few entries)."""
    from .._formats.coo import coo_array

    indptr, indices = res.indptr, res.indices
    xp = _dispatch.array_module(res.device)
    if indptr.size == 2:  # one major slice: its minor indices are the coordinates
        coords = indices.copy()
    else:  # one minor position: the coordinate is the major slice of each entry
        coords = (xp.searchsorted(indptr, xp.arange(indices.size, dtype=indptr.dtype), "right")
                  - 1).astype(indices.dtype, copy=False)
    out = coo_array._from_parts(res.data, (coords,), shape,
                                bool(res._derived.get("canonical")))
    return out


# ---------------------------------------------------------------------------
# CSR and CSC
# ---------------------------------------------------------------------------


def _plain_index(x):
    """Whether ``x`` is a 1-D, C-contiguous, non-empty ``intp`` array (the key form
    of the short paths: the kernels resolve and check it themselves)."""
    return (type(x) is np.ndarray and x.dtype == _INTP and x.ndim == 1 and x.size > 0
            and x.flags.c_contiguous)


def getitem_compressed(A, key):
    """``A[key]`` for a ``csr_array`` or ``csc_array`` (see the module docstring)."""
    if type(A._data) is np.ndarray:
        # short paths for the common key forms; anything unusual (an index out of
        # range, duplicates) falls through to the general path and its errors
        if type(key) is tuple and len(key) == 2:
            i, j = key
            if type(i) is int and type(j) is int:  # the scalar read
                m, n = A._shape
                if -m <= i < m and -n <= j < n:
                    if i < 0:
                        i += m
                    if j < 0:
                        j += n
                    if not A._row_major:
                        i, j = j, i
                    return _dispatch.lookup("getitem_scalar", "csr", _CPU)(A, i, j)
            elif _plain_index(i) and _plain_index(j) and i.size == j.size:  # points
                if not A._row_major:
                    i, j = j, i
                out = _dispatch.lookup("getitem_points_unchecked", "csr", _CPU)(
                    A._major(), i, j)
                if out is not None:
                    return out
            elif type(i) is slice and i == _ALL:
                if _plain_index(j):  # A[:, cols]
                    return _read_compressed(A, range(A._shape[0]),
                                            as_index_array(j, A._shape[1]))
                n = A._shape[1]
                if type(j) is int and A._row_major and -n <= j < n:  # one column of CSR
                    return _dispatch.lookup("getitem_column", "csr", _CPU)(
                        A, j + n if j < 0 else j)
        elif A._row_major:
            if _plain_index(key):  # rows
                out = _dispatch.lookup("getitem_rows_unchecked", "csr", _CPU)(A, key)
                if out is not None:
                    return out
            elif (type(key) is np.ndarray and key.dtype == np.bool_ and key.ndim == 1
                  and key.shape[0] == A._shape[0]):  # a row mask
                return _dispatch.lookup("getitem_row_mask", "csr", _CPU)(A, key)
    elif len(A._shape) == 2:
        out = _getitem_gpu(A, key)
        if out is not None:
            return out
    k = normalize_key(key, A._shape, A.format, A.device)
    if len(k.shape) > 2:
        raise IndexError(
            f"Indexing that leads to >2D is not supported by {A.format} format. "
            "Try converting to COO format"
        )
    return _package(_read_compressed(A, *k.index), k.shape)


def _device_index(x):
    """``x`` when it is an integer index array of 1 or 2 dimensions, NumPy or CuPy
    (the GPU kernels resolve and check it themselves, as int64), else None;
    uint64 keys, whose largest values int64 cannot hold, go the general way."""
    if type(x) is np.ndarray or type(x).__module__.split(".")[0] == "cupy":
        if x.dtype.kind in "iu" and x.dtype != np.uint64 and x.ndim in (1, 2):
            return x
    return None


def _getitem_gpu(A, key):
    """``A[key]`` for the common key forms of a 2-D CSR/CSC array on a GPU, or None
    for the others: the index arrays go to the kernels as they are (a CuPy array
    stays on the device), which resolve negative indices and check bounds there
    (``spla_cuda.index``); the rest take ``normalize_key`` and its host copies."""
    m, n = A._shape
    device = A.device
    rows = cols = None
    if type(key) is tuple:
        if len(key) != 2:
            return None
        i, j = key
        if type(i) is int and type(j) is int:
            if not (-m <= i < m and -n <= j < n):
                return None  # the general path raises SciPy's error
            i, j = A._swap((i + m if i < 0 else i, j + n if j < 0 else j))
            return _dispatch.lookup("getitem_scalar", "csr", device)(A._major(), i, j)
        ri, cj = _device_index(i), _device_index(j)
        if ri is not None and cj is not None:
            if ri.ndim == 1 and cj.ndim == 1 and ri.size == cj.size and ri.size:
                major, minor = A._swap((ri, cj))
                return _dispatch.lookup("getitem_points", "csr", device)(
                    A._major(), major, minor, minor_first=not A._row_major)
            if ri.ndim == 2 and ri.shape[1] == 1 and cj.ndim == 2 and cj.shape[0] == 1:
                rows, cols = ri, cj  # the outer (ix_) form
            else:
                return None
        elif ri is not None and ri.ndim == 1 and type(j) is slice:
            rows, cols = ri, range(*j.indices(n))
        elif cj is not None and cj.ndim == 1 and type(i) is slice:
            rows, cols = range(*i.indices(m)), cj
        else:
            return None
    else:
        ri = _device_index(key)
        if ri is not None and ri.ndim == 1:
            rows, cols = ri, range(n)
        elif (A._row_major and type(key).__module__.split(".")[0] == "cupy"
              and key.dtype == np.bool_ and key.ndim == 1 and key.shape[0] == m):
            return _dispatch.lookup("getitem_row_mask", "csr", device)(A, key)
        else:
            return None
    major, minor = A._swap((rows, cols))
    out = _dispatch.lookup("getitem_select", "csr", device)(
        A._major(), major, minor, minor_first=not A._row_major)
    return A._from_major(out)


def _axis_selection(idx):
    if type(idx) is int:
        return range(idx, idx + 1)
    if type(idx) is range:
        return idx
    return np.ascontiguousarray(idx.ravel(), dtype=np.intp)


def _read_compressed(A, r, c):
    device = _CPU if type(A._data) is np.ndarray else A.device
    if type(r) is int and type(c) is int:
        i, j = A._swap((r, c))
        return _dispatch.lookup("getitem_scalar", "csr", device)(A, i, j)
    if isinstance(r, np.ndarray) and isinstance(c, np.ndarray) and not (
        r.ndim == 2 and r.shape[1] == 1 and (c.ndim == 1 or c.shape[0] == 1)
    ):
        # inner indexing: one value per broadcast pair
        rb, cb = np.broadcast_arrays(r, c)
        if rb.size == 0:
            return type(A)(np.atleast_2d(rb).shape, dtype=A.dtype).to_device(device)
        major, minor = A._swap((rb, cb))
        values = _dispatch.lookup("getitem_points", "csr", device)(
            A._major(), np.ascontiguousarray(major.ravel()), np.ascontiguousarray(minor.ravel()))
        if rb.ndim == 1:
            return values
        return type(A)(values.reshape(rb.shape))
    rows, cols = _axis_selection(r), _axis_selection(c)
    major, minor = A._swap((rows, cols))
    out = _dispatch.lookup("getitem_select", "csr", device)(A._major(), major, minor)
    return A._from_major(out)


# ---------------------------------------------------------------------------
# COO (any number of dimensions)
# ---------------------------------------------------------------------------


def getitem_coo(A, key):
    """``A[key]`` for a ``coo_array`` (see the module docstring)."""
    from .._formats.coo import coo_array

    k = normalize_key(key, A.shape, "coo", A.device)
    if type(A.data) is not np.ndarray and str(A.device) != "cpu":
        return _getitem_coo_gpu(A, key, k)
    data = A.data
    coords = [np.asarray(co) for co in A.coords]
    keep = None
    kept = []  # (axis, new coordinate or None for "as stored") of the range axes
    arrays = []  # (axis, index array) of the array axes
    for ax, idx in enumerate(k.index):
        co = coords[ax]
        n = A.shape[ax]
        if type(idx) is int:
            sel = co == idx
            keep = sel if keep is None else keep & sel
        elif type(idx) is range:
            if idx.step == 1 and idx.start == 0 and idx.stop == n:
                kept.append((ax, None))
                continue
            start, step = idx.start, idx.step
            if step > 0:
                sel = (co >= start) & (co < idx.stop)
                off = co.astype(np.int64) - start
            else:
                sel = (co <= start) & (co > idx.stop)
                off = start - co.astype(np.int64)
            if abs(step) != 1:
                q, rem = np.divmod(off, abs(step))
                sel &= rem == 0
                off = q
            keep = sel if keep is None else keep & sel
            kept.append((ax, off))
        else:
            arrays.append((ax, idx))
    if keep is None:
        pick = None
    else:
        pick = np.flatnonzero(keep)
    if k.shape == ():
        values = data if pick is None else data[pick]
        return values.sum().astype(A.dtype, copy=False)

    def taken(values):
        return values if pick is None else values[pick]

    new_data = taken(data)
    new_coords = [taken(coords[ax] if off is None else off) for ax, off in kept]
    if arrays:
        ent, pos = _match_coordinates(
            [taken(coords[ax]) for ax, _ in arrays], [idx for _, idx in arrays],
            [A.shape[ax] for ax, _ in arrays])
        new_data = new_data[ent]
        new_coords = [co[ent] for co in new_coords]
        arr_coords = list(np.unravel_index(pos, k.array_shape))
        pos_list = k.arr_int_pos
        if len(pos_list) == pos_list[-1] - pos_list[0] + 1:
            at = pos_list[0]
            new_coords = new_coords[:at] + arr_coords + new_coords[at:]
        else:
            new_coords = arr_coords + new_coords
    if k.none_pos:
        zeros = np.zeros(new_data.size, dtype=np.int64)
        for at in k.none_pos:
            new_coords.insert(at, zeros.copy())
    shape = k.shape
    idx = np.int32 if max(shape, default=0) <= np.iinfo(np.int32).max else np.int64
    new_coords = tuple(np.ascontiguousarray(co, dtype=idx) for co in new_coords)
    return coo_array._from_parts(np.ascontiguousarray(new_data), new_coords, shape, False)


def _getitem_coo_gpu(A, key, k):
    """``A[key]`` for a 2-D ``coo_array`` on a GPU: read through its GPU CSR, the
    result as SciPy's COO gives it (a ``coo_array`` unless it is a scalar)."""
    from .._formats.coo import _index_dtype, coo_array

    if A.ndim != 2:
        _on_gpu(A)
    res = A.tocsr()[key]
    if hasattr(res, "format"):
        return res if res.format == "coo" else res.tocoo()
    if res.ndim == 0:
        return res
    xp = _dispatch.array_module(A.device)
    nz = xp.nonzero(res)
    idx = _index_dtype(res.shape)
    return coo_array._from_parts(res[nz], tuple(c.astype(idx) for c in nz), res.shape, True)


def _match_coordinates(entry_coords, index_arrays, dims):
    """Pairs (stored entry, index position) whose coordinates agree on every array axis.

    ``entry_coords``: the stored entries' coordinates on those axes; ``index_arrays``:
    the (broadcastable) index arrays. Returns ``(entry, position)`` arrays, by entry
    then increasing position. O((nnz + P) log P) time, no nnz x P table.
    """
    bcast = np.broadcast_arrays(*index_arrays)
    wanted = [b.ravel() for b in bcast]
    if not entry_coords[0].size or not wanted[0].size:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    if float(np.prod([max(d, 1) for d in dims], dtype=np.float64)) < 2.0 ** 62:
        key_e = np.ravel_multi_index([e.astype(np.int64) for e in entry_coords], dims)
        key_w = np.ravel_multi_index([w.astype(np.int64) for w in wanted], dims)
    else:  # too many positions for one int64: number the distinct tuples instead
        both = np.stack([np.concatenate([e.astype(np.int64), w.astype(np.int64)])
                         for e, w in zip(entry_coords, wanted)])
        _, ids = np.unique(both, axis=1, return_inverse=True)
        ids = ids.ravel()
        key_e, key_w = ids[:entry_coords[0].size], ids[entry_coords[0].size:]
    order = np.argsort(key_w, kind="stable")
    sorted_w = key_w[order]
    lo = np.searchsorted(sorted_w, key_e, "left")
    hi = np.searchsorted(sorted_w, key_e, "right")
    counts = hi - lo
    ent = np.repeat(np.arange(key_e.size), counts)
    starts = np.cumsum(counts) - counts
    pos = order[lo[ent] + (np.arange(ent.size) - starts[ent])]
    return ent, pos


# ---------------------------------------------------------------------------
# every other format, and iteration
# ---------------------------------------------------------------------------


def getitem_via_csr(A, key):
    """``A[key]`` for formats without reads of their own (N:M, banded): through CSR
    (on the device of the storage)."""
    return A.tocsr()[key]


def iterate(A):
    """``iter(A)``: ``A[0]``, ``A[1]``, ... (rows as 1-D ``coo_array``; scalars of a 1-D
    array), as SciPy's sparse arrays iterate."""
    for i in range(A.shape[0]):
        yield A[i]
