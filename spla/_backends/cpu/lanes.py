"""Row lanes of CSR storage for transposed products with SciPy's bits
(``spla._kernels.lanes``): the plan, kept per storage, and the products through it.

A plan splits the rows into ``LANES`` lanes of about equal rows + entries, finds
each lane's exclusive interval of columns (written by no other lane) and lists
the entries of the other columns (the seams) by column. It depends on the
structure only (the values are read from ``data`` at each product), and lives in
the storage's derived state (``A._derived``), dropped with it by every write
through spla. Matrices whose seams hold more than ``SEAM_MAX_FRACTION`` of the
entries (random, power-law: every lane writes everywhere) get no plan (None).
"""

import contextlib

import numpy as np

from ..._kernels import lanes as LK
from ..._kernels.partition import row_blocks
from ..._kernels.threads import parallel_section

#: Lanes of a plan. Fixed, so that the fused dot product of ``gather_scatter``
#: (added by lanes) does not depend on the number of threads; the products
#: themselves have SciPy's bits with any number of lanes.
LANES = 8
#: Largest share of the entries that may lie on the seams for a plan to be used.
SEAM_MAX_FRACTION = 1 / 8
KEY = "exact_lanes"


def _build(indptr, indices, n):
    blocks = np.ascontiguousarray(row_blocks(indptr, LANES), dtype=np.int64)
    lanes = blocks.size - 1
    lo = np.empty(lanes, dtype=np.int64)
    hi = np.empty(lanes, dtype=np.int64)
    ex_lo = np.empty(lanes, dtype=np.int64)
    ex_hi = np.empty(lanes, dtype=np.int64)
    clean = np.empty((lanes, 2), dtype=np.int64)
    counts = np.empty(lanes, dtype=np.int64)
    with parallel_section():
        LK.windows(indptr, indices, blocks, lo, hi)
        LK.exclusive(lo, hi, ex_lo, ex_hi)
        if not (ex_hi > ex_lo).any():
            # every lane's window covers the others' (random, power-law columns): all
            # entries are on the seams; decided without the second pass
            return None
        LK.clean_rows(indptr, indices, blocks, ex_lo, ex_hi, clean, counts)
        offsets = np.zeros(lanes + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        count = int(offsets[-1])
        if count > SEAM_MAX_FRACTION * int(indptr[-1]):
            return None
        cols = np.empty(count, dtype=np.int64)
        rows = np.empty(count, dtype=np.int64)
        ks = np.empty(count, dtype=np.int64)
        LK.seam_entries(indptr, indices, blocks, ex_lo, ex_hi, clean, offsets, cols, rows, ks)
    order = np.argsort(cols, kind="stable")  # each column's entries stay in row order
    # the gaps: the columns outside every exclusive interval (they are disjoint)
    owned = np.flatnonzero(ex_hi > ex_lo)
    owned = owned[np.argsort(ex_lo[owned])]
    starts = np.concatenate(([0], ex_hi[owned]))
    stops = np.concatenate((ex_lo[owned], [n]))
    gaps = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in zip(starts, stops)
                           if b > a] or [np.empty(0, dtype=np.int64)])
    gap_ptr = np.zeros(gaps.size + 1, dtype=np.int64)
    if count:
        per_gap = np.bincount(np.searchsorted(gaps, cols[order]), minlength=gaps.size)
        np.cumsum(per_gap, out=gap_ptr[1:])
    return blocks, ex_lo, ex_hi, clean, gaps, gap_ptr, rows[order], ks[order]


def plan(A):
    """The lane plan of CSR storage ``A`` (a snapshot), or None (no entries, or
    seams too wide)."""
    key = (A.shape, int(A.indptr[-1]))
    cached = A._derived.get(KEY)
    if cached is None or cached[0] != key:
        built = _build(A.indptr, A.indices, A.shape[1]) if key[1] else None
        cached = A._derived[KEY] = (key, built)
    return cached[1]


def values(A, dt):
    """A's stored values in the compute dtype ``dt``."""
    data = A.data
    return data if data.dtype == dt else data.astype(dt)


def _kernel(name, conj, small):
    return getattr(LK, name + conj + ("_serial" if small else ""))


def rmatvec(A, p, data, z, y, conj, small):
    """``y = A.T @ z`` (``conj``: ``A^H z``) through plan ``p``; ``z``, ``y``
    contiguous in ``data``'s dtype."""
    blocks, ex_lo, ex_hi, clean, gaps, gap_ptr, gap_rows, gap_k = p
    zero = y.dtype.type(0)
    c = "_conj" if conj and data.dtype.kind == "c" else ""
    with contextlib.nullcontext() if small else parallel_section():
        _kernel("scatter", c, small)(A.indptr, A.indices, data, z, y, blocks, ex_lo, ex_hi,
                                     clean, zero)
        _kernel("seams", c, small)(gaps, gap_ptr, gap_rows, gap_k, data, z, y, zero)
    return y


def both(A, p, data, x, y, z, w, conj_x, conj_z, part, small):
    """One sweep: ``y = A x`` and ``w = A.T z`` (conjugated as asked; at most one of
    ``conj_x``, ``conj_z``), each with SciPy's bits; returns ``z^H y`` summed by
    lanes (``part``: ``LANES`` scratch entries of the dtype)."""
    blocks, ex_lo, ex_hi, clean, gaps, gap_ptr, gap_rows, gap_k = p
    zero = y.dtype.type(0)
    cplx = data.dtype.kind == "c"
    cx = "_conj_x" if conj_x and cplx else ""
    cz = "_conj_z" if conj_z and cplx else ""
    with contextlib.nullcontext() if small else parallel_section():
        _kernel("gather_scatter", cx or cz, small)(A.indptr, A.indices, data, x, y, z, w,
                                                   blocks, ex_lo, ex_hi, clean, zero, part)
        _kernel("seams", "_conj" if cz else "", small)(gaps, gap_ptr, gap_rows, gap_k, data,
                                                       z, w, zero)
    total = zero
    for v in part[:blocks.size - 1]:
        total += v
    return total
