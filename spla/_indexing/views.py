"""Row blocks ``A[r0:r1]`` that share A's storage: the one implementation of a
contiguous row slice.

``row_view(A, r0, r1)`` returns rows ``r0:r1`` of ``A`` (every row, every column)
as an array of A's format built on A's own storage, with no copy of the stored
entries. Two callers use it:

- ``A[r0:r1]`` (``__getitem__`` of CSR, through the CPU backend's row reads)
  copies the view's storage, because SciPy's slices are copies: writing into the
  result must not change ``A``;
- ``spla.dask`` cuts a matrix into row blocks with it, without copying, and puts
  its own column-window compaction on top.

Per format:

``csr``
    ``data[a:b]`` and ``indices[a:b]`` are views (``a, b = indptr[r0], indptr[r1]``);
    the row pointer is ``indptr[r0:r1 + 1] - a``, a new array of ``r1 - r0 + 1``
    entries (a view when ``a == 0``). Canonical storage stays known canonical.
``nm``
    Rows of the packed storage: ``values[r0:r1]`` and ``packed_positions[r0:r1]``
    (views), the full column range.
``banded``
    Rows ``r0:r1`` of a banded array are banded, with every offset shifted by
    ``r0`` (the storage is row-aligned: ``data[d, i] == A[i, i + k]``). Diagonals
    with no entry in the block are dropped. The banded layout needs C-contiguous
    diagonals, so the block's slice of each kept diagonal is copied (only the
    block's own values; nothing else of A).

CSC arrays have no contiguous rows: ``row_view`` raises ``TypeError`` for them (the
columns ``c0:c1`` of a CSC array are ``row_view(A._major(), c0, c1)`` read back
through the axis swap). The code uses the array module of A's storage, so views
of arrays on a GPU stay on the GPU. Bounds are the caller's: ``0 <= r0 <= r1 <=
A.shape[0]`` (``ValueError`` otherwise, before any storage is touched).

Examples
--------
>>> import numpy as np, spla
>>> from spla._indexing.views import row_view
>>> A = spla.csr_array(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]]))
>>> V = row_view(A, 1, 3)
>>> V.toarray()
array([[0., 2.],
       [3., 4.]])
>>> np.shares_memory(V.data, A.data)
True
"""

import numpy as np

__all__ = ["row_view"]


def _check_bounds(A, r0, r1):
    m = A.shape[0]
    if not (0 <= r0 <= r1 <= m):
        raise ValueError(f"row block {r0}:{r1} is not inside the {m} rows of the array")


def _csr_view(A, r0, r1):
    from .._formats.compressed import csr_array

    A = A._snap()  # one reading of the storage (another thread may write)
    ip = A.indptr
    if r0 == r1:
        a = b = 0
        indptr = ip[:1] * 0
    else:
        a, b = int(ip[r0]), int(ip[r1])
        indptr = ip[r0:r1 + 1] if a == 0 else ip[r0:r1 + 1] - ip[r0]
    out = csr_array._from_parts(A.data[a:b], A.indices[a:b], indptr, (r1 - r0, A.shape[1]))
    derived = A._derived
    if derived.get("canonical"):
        out._derived["canonical"] = True
    elif derived.get("sorted"):
        out._derived["sorted"] = True
    return out


def _nm_view(A, r0, r1):
    from .._formats.nm import nm_array

    return nm_array._from_parts(A.values[r0:r1], A.packed_positions[r0:r1], A.n, A.m,
                                (r1 - r0, A.shape[1]))


def _banded_view(A, r0, r1):
    from .. import _dispatch
    from .._formats.banded import banded_array

    m, n = A.shape
    rows = r1 - r0
    offs = np.asarray(A.offsets, dtype=np.int64)
    # diagonal k has entries in rows max(0, -k) <= i < min(m, n - k): a contiguous run
    # of the sorted offsets (-r1 < k < n - r0) has one in [r0, r1)
    d0 = int(np.searchsorted(offs, -r1, side="right"))
    d1 = int(np.searchsorted(offs, n - r0, side="left"))
    xp = _dispatch.array_module(A.device)
    if rows == 0 or d1 <= d0:
        return banded_array._from_parts(xp.empty((0, rows), dtype=A.dtype),
                                        np.empty(0, dtype=np.int64), (rows, n))
    data = xp.ascontiguousarray(A.data[d0:d1, r0:r1])
    return banded_array._from_parts(data, offs[d0:d1] + r0, (rows, n))


def row_view(A, r0, r1):
    """Rows ``r0:r1`` of ``A`` (``csr``, ``nm`` or ``banded``) on A's storage.

    Parameters
    ----------
    A : csr_array, nm_array or banded_array
        The array (on any device).
    r0, r1 : int
        The block's first row and the row after its last, ``0 <= r0 <= r1 <= m``.

    Returns
    -------
    SparseArray
        An array of A's format and shape ``(r1 - r0, A.shape[1])`` whose stored
        entries are views of A's (see the module docstring for ``banded``). Treat
        it as read-only: ``A[r0:r1]`` is the copy to write into.

    Examples
    --------
    >>> import numpy as np, spla
    >>> from spla._indexing.views import row_view
    >>> A = spla.csr_array(np.arange(6.0).reshape(3, 2))
    >>> row_view(A, 2, 3).toarray()
    array([[4., 5.]])
    """
    r0, r1 = int(r0), int(r1)
    _check_bounds(A, r0, r1)
    fmt = A.format
    if fmt == "csr" and A.ndim == 2:
        return _csr_view(A, r0, r1)
    if fmt == "nm":
        return _nm_view(A, r0, r1)
    if fmt == "banded":
        return _banded_view(A, r0, r1)
    raise TypeError(f"row_view takes a 2-D csr, nm or banded array, not a {A.ndim}-D "
                    f"{type(A).__name__}")
