"""Transposed products of CSR storage in row lanes with SciPy's bits, and the fused
pair ``A x`` with ``A^T z`` in one sweep (``spla._backends.cpu.transposed``).

``A.T @ z`` of CSR storage scatters: row ``i`` adds ``a_ij z_i`` into ``y_j``. Split
into lanes of whole rows, each lane writes a window of columns; where rows are local
(stencils, bands, meshes) most of a lane's window is written by no other lane: its
*exclusive* interval. A lane scatters into the output itself there (the column's
entries added in row order from zero: SciPy's order), and skips the rest; the
columns outside every exclusive interval (the *gaps*: the seams between lanes, and
columns no lane writes) are then summed apart, each from zero in row order through
a small list of their entries (``gap_ptr``, ``gap_rows``, ``gap_k``: indices into
``data``, so the values are read where they are). Every output entry is SciPy's
sum in SciPy's order, whatever the number of lanes or threads, and nothing is
copied: a change made in place to ``data`` is seen.

``gather_scatter`` adds ``A x`` in the same sweep (each row's sum in stored order
from zero, SciPy's ``csr_matvec``), reading the matrix once for both products, and
the dot product ``z^H (A x)`` (BiCG's ``ptilde . q``, QMR's ``q . ptilde``) in lane
partial sums (fixed lanes, added in order).
"""

import numpy as np
from numba import njit, prange

from .twins import twin

U = np.uint64  # see spla._kernels.csr: unsigned indices skip the wraparound test


@njit(parallel=True, cache=True, nogil=True)
def windows(indptr, indices, blocks, lo, hi):
    """lo[l], hi[l] = the smallest and one past the largest column of the rows
    ``blocks[l]:blocks[l + 1]`` (``lo = hi = 0`` for a lane with no entries)."""
    for l in prange(blocks.size - 1):
        a = indptr[blocks[l]]
        b = indptr[blocks[l + 1]]
        if b <= a:
            lo[l] = 0
            hi[l] = 0
            continue
        first = indices[a]
        last = indices[a]
        for k in range(a, b):
            j = indices[k]
            if j < first:
                first = j
            if j > last:
                last = j
        lo[l] = first
        hi[l] = last + 1


@njit(cache=True, nogil=True)
def exclusive(lo, hi, ex_lo, ex_hi):
    """ex_lo[l]:ex_hi[l] = the longest run of columns inside lane ``l``'s window
    ``lo[l]:hi[l]`` that no other lane's window covers (empty: ``ex_lo = ex_hi``).
    The windows' ends cut the columns into segments; a segment inside one window
    only is that lane's, and adjacent ones of one lane join."""
    L = lo.size
    ends = np.unique(np.concatenate((lo, hi)))
    for l in range(L):
        ex_lo[l] = lo[l]
        ex_hi[l] = lo[l]
    run_lane = -1
    run_start = 0
    for s in range(ends.size - 1):
        a = ends[s]
        b = ends[s + 1]
        owner = -1
        count = 0
        for l in range(L):
            if lo[l] <= a and b <= hi[l] and lo[l] < hi[l]:
                owner = l
                count += 1
        if count != 1:
            owner = -1
        if owner != run_lane:
            run_lane = owner
            run_start = a
        if owner >= 0 and b - run_start > ex_hi[owner] - ex_lo[owner]:
            ex_lo[owner] = run_start
            ex_hi[owner] = b


@njit(parallel=True, cache=True, nogil=True)
def clean_rows(indptr, indices, blocks, ex_lo, ex_hi, clean, counts):
    """clean[l] = the longest run of rows of lane ``l`` whose columns all lie in its
    exclusive interval (an empty run at the lane's start if none); counts[l] = the
    number of the lane's entries outside the interval (all in its other rows)."""
    for l in prange(blocks.size - 1):
        a = U(ex_lo[l])
        width = U(ex_hi[l]) - a
        best0 = blocks[l]
        best1 = blocks[l]
        start = -1
        outside = 0
        k = U(indptr[blocks[l]])
        for i in range(blocks[l], blocks[l + 1]):
            stop = U(indptr[i + 1])
            bad = 0
            while k < stop:
                bad += U(indices[k]) - a >= width
                k += U(1)
            outside += bad
            if bad == 0:
                if start < 0:
                    start = i
                if i + 1 - start > best1 - best0:
                    best0 = start
                    best1 = i + 1
            else:
                start = -1
        clean[l, 0] = best0
        clean[l, 1] = best1
        counts[l] = outside


@njit(cache=True, nogil=True, inline="always")
def _seam_rows(indptr, indices, r0, r1, a, b, q, cols, rows, ks):
    for i in range(r0, r1):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            if j < a or j >= b:
                cols[q] = j
                rows[q] = i
                ks[q] = k
                q += 1
    return q


@njit(parallel=True, cache=True, nogil=True)
def seam_entries(indptr, indices, blocks, ex_lo, ex_hi, clean, offsets, cols, rows, ks):
    """The columns, rows and positions of each lane's entries outside its exclusive
    interval, in row order, from ``offsets[l]`` on (its clean rows have none)."""
    for l in prange(blocks.size - 1):
        q = _seam_rows(indptr, indices, blocks[l], clean[l, 0], ex_lo[l], ex_hi[l],
                       offsets[l], cols, rows, ks)
        _seam_rows(indptr, indices, clean[l, 1], blocks[l + 1], ex_lo[l], ex_hi[l], q, cols,
                   rows, ks)


#: Compile-time flags of the kernels below (their twins see True): conjugate the
#: values in the gathered product (``CONJ_X``) or in the scattered one (``CONJ_Z``).
CONJ_X = False
CONJ_Z = False


@njit(cache=True, nogil=True, inline="always")
def _scatter_rows(indptr, indices, data, z, y, r0, r1, a, width, check):
    """Rows r0:r1 of ``scatter``; ``check``: skip the columns outside a:a + width."""
    k = U(indptr[r0])
    for i in range(r0, r1):
        zi = z[i]
        stop = U(indptr[i + 1])
        while k < stop:
            j = U(indices[k])
            if not check or j - a < width:
                if CONJ_Z:
                    y[j] += np.conj(data[k]) * zi
                else:
                    y[j] += data[k] * zi
            k += U(1)


@njit(parallel=True, cache=True, nogil=True)
def scatter(indptr, indices, data, z, y, blocks, ex_lo, ex_hi, clean, zero):
    """y[j] = zero + the sum in row order of a_ij z_i (conj(a_ij) in the ``_conj``
    twin) over the rows of the lane whose exclusive interval holds ``j``; other
    entries of ``y`` untouched. The rows ``clean[l, 0]:clean[l, 1]`` of lane ``l``
    write inside its interval only and skip the test."""
    for l in prange(blocks.size - 1):
        a = U(ex_lo[l])
        width = U(ex_hi[l]) - a
        for j in range(a, a + width):
            y[j] = zero
        c0 = clean[l, 0]
        c1 = clean[l, 1]
        _scatter_rows(indptr, indices, data, z, y, blocks[l], c0, a, width, True)
        _scatter_rows(indptr, indices, data, z, y, c0, c1, a, width, False)
        _scatter_rows(indptr, indices, data, z, y, c1, blocks[l + 1], a, width, True)


@njit(parallel=True, cache=True, nogil=True)
def seams(gaps, gap_ptr, gap_rows, gap_k, data, z, y, zero):
    """y[gaps[g]] = zero + the sum in row order of data[k] z[row] (conj(data[k]) in
    the ``_conj`` twin) over the gap's entries ``gap_ptr[g]:gap_ptr[g + 1]``."""
    for g in prange(gaps.size):
        s = zero
        for q in range(gap_ptr[g], gap_ptr[g + 1]):
            if CONJ_Z:
                s += np.conj(data[gap_k[q]]) * z[gap_rows[q]]
            else:
                s += data[gap_k[q]] * z[gap_rows[q]]
        y[gaps[g]] = s


@njit(cache=True, nogil=True, inline="always")
def _gather_scatter_rows(indptr, indices, data, x, y, z, w, r0, r1, a, width, zero, d, check):
    """Rows r0:r1 of ``gather_scatter``; returns ``d`` plus their part of the dot."""
    k = U(indptr[r0])
    for i in range(r0, r1):
        zi = z[i]
        s = zero
        stop = U(indptr[i + 1])
        while k < stop:
            j = U(indices[k])
            v = data[k]
            if CONJ_X:
                s += np.conj(v) * x[j]
            else:
                s += v * x[j]
            if not check or j - a < width:
                if CONJ_Z:
                    w[j] += np.conj(v) * zi
                else:
                    w[j] += v * zi
            k += U(1)
        y[i] = s
        d += np.conj(zi) * s
    return d


@njit(parallel=True, cache=True, nogil=True)
def gather_scatter(indptr, indices, data, x, y, z, w, blocks, ex_lo, ex_hi, clean, zero,
                   part):
    """One sweep over the rows: y = A x, each row summed in stored order from zero;
    ``scatter``'s part of w = A^T z; part[l] = the lane's sum in row order of
    conj(z_i) y_i. (The ``_conj_x`` twin gathers with conj(A), ``_conj_z`` scatters
    with it.)"""
    for l in prange(blocks.size - 1):
        a = U(ex_lo[l])
        width = U(ex_hi[l]) - a
        for j in range(a, a + width):
            w[j] = zero
        c0 = clean[l, 0]
        c1 = clean[l, 1]
        d = _gather_scatter_rows(indptr, indices, data, x, y, z, w, blocks[l], c0, a, width,
                                 zero, zero, True)
        d = _gather_scatter_rows(indptr, indices, data, x, y, z, w, c0, c1, a, width, zero, d,
                                 False)
        d = _gather_scatter_rows(indptr, indices, data, x, y, z, w, c1, blocks[l + 1], a,
                                 width, zero, d, True)
        part[l] = d


def _twin(dispatcher, suffix, parallel, **flags):
    """A twin of ``dispatcher`` (serial unless ``parallel``) seeing ``flags``, with
    its inlined row helpers twinned alike (they read the flags from their globals)."""
    name = dispatcher.py_func.__name__ + suffix
    doc = None if parallel else f"Serial version of ``{dispatcher.py_func.__name__}``."
    helpers = {h.py_func.__name__: twin(h, h.py_func.__name__ + suffix,
                                        dict(cache=True, nogil=True, inline="always"), **flags)
               for h in (_scatter_rows, _gather_scatter_rows) if flags}
    return twin(dispatcher, name, dict(parallel=parallel, cache=True, nogil=True), doc=doc,
                **flags, **helpers)


scatter_serial = _twin(scatter, "_serial", False)
scatter_conj = _twin(scatter, "_conj", True, CONJ_Z=True)
scatter_conj_serial = _twin(scatter, "_conj_serial", False, CONJ_Z=True)
seams_serial = _twin(seams, "_serial", False)
seams_conj = _twin(seams, "_conj", True, CONJ_Z=True)
seams_conj_serial = _twin(seams, "_conj_serial", False, CONJ_Z=True)
gather_scatter_serial = _twin(gather_scatter, "_serial", False)
gather_scatter_conj_x = _twin(gather_scatter, "_conj_x", True, CONJ_X=True)
gather_scatter_conj_x_serial = _twin(gather_scatter, "_conj_x_serial", False, CONJ_X=True)
gather_scatter_conj_z = _twin(gather_scatter, "_conj_z", True, CONJ_Z=True)
gather_scatter_conj_z_serial = _twin(gather_scatter, "_conj_z_serial", False, CONJ_Z=True)
