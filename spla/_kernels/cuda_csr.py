"""The host side of spla_cuda's CSR products: the plan, and the kernels to prebuild.

NumPy only (importable without CuPy), so that a fresh process builds the plan of
its first GPU product without a single runtime-compiled CuPy kernel, and so that
the CPU test suite checks it.

The plan of a CSR matrix with ``m`` rows, row pointer ``indptr`` and long-row
threshold ``h``:

- a row is *long* when it holds more than ``h`` entries; ``long_rows`` lists
  the long rows in increasing order;
- ``task_rows`` cuts the rows into *tasks* of consecutive rows: a task starts
  at row 0, at every row whose index is a multiple of ``rows`` (at most
  ``rows`` rows a task), at every long row and at the row after a long row (a
  long row is a task of its own), and at every row whose first entry
  ``indptr[i]`` lies in another window of ``h`` entries (``indptr[i] // h``)
  than the first entry of the row before. ``task_rows`` holds the first row of
  every task and ends with ``m``. A task of short rows therefore holds fewer
  than ``2 h`` entries, which is what the task kernels stage in shared memory;
- every long row is cut into *segments* of ``seg`` entries (the last one
  shorter): row ``long_rows[k]`` owns the segments ``seg_ptr[k] ..
  seg_ptr[k+1] - 1``, and segment ``s`` covers the entries ``seg_lo[s] ..
  seg_hi[s] - 1``;
- ``mean_short`` is the mean length of the rows that are not long (0.0 when
  there are none), and ``scattered`` tells whether the column indices wander
  far from the diagonal: of the entries at ``sample_positions(nnz)`` (1024
  evenly spaced stored entries, all of them when there are fewer), more than
  a quarter lie more than 32768 columns away from ``row * n / m``.

The GPU side (``spla_cuda/csr.py``) copies ``indptr`` and the sampled column
indices to the host, calls :func:`csr_plan` and uploads the arrays.
"""

from typing import NamedTuple

import numpy as np

#: Long-row threshold: a row with more entries is split into segments.
H = 128
#: Most rows in one task (one per lane).
ROWS = 32
#: Entries per segment of a long row.
SEG = 4096
#: Warps per block of the task kernels.
WARPS = 8
#: Stored entries sampled to decide whether the gathers are scattered.
SAMPLE = 1024
#: Distance from the diagonal (in columns) beyond which a sampled entry is "far".
FAR = 32768


class Plan(NamedTuple):
    """The plan of one CSR matrix (host arrays; see the module docstring)."""

    task_rows: np.ndarray  #: first row of every task, then m (indptr's dtype)
    long_rows: np.ndarray  #: the long rows (indptr's dtype)
    seg_ptr: np.ndarray  #: segments of each long row (int64, n_long + 1 entries)
    seg_lo: np.ndarray  #: first entry of each segment (int64)
    seg_hi: np.ndarray  #: one past the last entry of each segment (int64)
    mean_short: float  #: mean length of the rows that are not long
    scattered: bool  #: whether the sampled column indices wander from the diagonal

    @property
    def n_tasks(self):
        return int(self.task_rows.size - 1)

    @property
    def n_long(self):
        return int(self.long_rows.size)

    @property
    def n_seg(self):
        return int(self.seg_lo.size)


def sample_positions(nnz):
    """The stored entries whose column indices decide ``scattered``: ``min(nnz,
    1024)`` evenly spaced positions from 0 to ``nnz - 1`` (int64), the same as
    ``linspace(0, nnz - 1, num).astype(int64)`` in NumPy and CuPy.

    Examples
    --------
    >>> sample_positions(5)
    array([0, 1, 2, 3, 4])
    >>> sample_positions(2047)[:4]
    array([0, 2, 4, 6])
    """
    nnz = int(nnz)
    if nnz < 0:
        raise ValueError(f"sample_positions: nnz must be >= 0, got {nnz}")
    return np.linspace(0, nnz - 1, num=min(nnz, SAMPLE)).astype(np.int64)


def _check(indptr, shape, threshold, rows, seg):
    if not isinstance(indptr, np.ndarray) or indptr.ndim != 1 or indptr.dtype.kind != "i":
        raise TypeError("csr_plan: indptr must be a 1-D NumPy signed integer array (on the host)")
    m, n = (int(s) for s in shape)
    if m < 0 or n < 0:
        raise ValueError(f"csr_plan: invalid shape {tuple(shape)}")
    if indptr.size != m + 1:
        raise ValueError(f"csr_plan: indptr has {indptr.size} entries, "
                         f"a {m}-row matrix needs {m + 1}")
    for name, value in (("threshold", threshold), ("rows", rows), ("seg", seg)):
        if int(value) < 1:
            raise ValueError(f"csr_plan: {name} must be >= 1, got {value}")
    return m, n


def csr_plan(indptr, shape, threshold=H, sample=None, rows=ROWS, seg=SEG):
    """The plan of the CSR matrix with row pointer ``indptr`` and ``shape``.

    Parameters
    ----------
    indptr : numpy.ndarray
        The row pointer (host memory), int32 or int64.
    shape : tuple of int
        ``(m, n)``.
    threshold : int
        Rows with more entries are long rows (``h`` in the module docstring).
    sample : numpy.ndarray, optional
        The column indices of the entries at ``sample_positions(indptr[-1])``;
        ``None`` (or no stored entry) gives ``scattered=False``.
    rows, seg : int
        Most rows a task; entries a segment.

    Returns
    -------
    Plan

    Examples
    --------
    >>> import numpy as np
    >>> p = csr_plan(np.array([0, 1, 2, 10, 11]), (4, 4), threshold=4, rows=32, seg=3)
    >>> p.task_rows, p.long_rows
    (array([0, 2, 3, 4]), array([2]))
    >>> p.seg_ptr, p.seg_lo, p.seg_hi
    (array([0, 3]), array([2, 5, 8]), array([ 5,  8, 10]))
    >>> p.mean_short
    1.0
    """
    m, n = _check(indptr, shape, threshold, rows, seg)
    h, rows, seg = int(threshold), int(rows), int(seg)
    idx = indptr.dtype
    lengths = np.diff(indptr)
    long_ = lengths > h
    first = np.zeros(m, dtype=bool)
    if m:
        # indptr[i] // h; a shift when h is a power of two (the default: 8x faster)
        window = indptr[:-1] >> (h.bit_length() - 1) if h & (h - 1) == 0 else indptr[:-1] // h
        np.not_equal(window[1:], window[:-1], out=first[1:])
        first[1:] |= long_[1:]
        first[1:] |= long_[:-1]
        first[::rows] = True
    task_rows = np.empty(int(np.count_nonzero(first)) + 1, dtype=idx)
    task_rows[:-1] = np.flatnonzero(first)
    task_rows[-1] = m
    long_at = np.flatnonzero(long_)
    long_rows = long_at.astype(idx)
    n_long = long_rows.size
    short = m - n_long
    long_nnz = int(lengths[long_].sum(dtype=np.int64)) if n_long else 0
    short_nnz = int(indptr[-1]) - long_nnz if m else 0
    mean_short = short_nnz / short if short else 0.0
    lo = indptr[long_at].astype(np.int64)
    hi = indptr[long_at + 1].astype(np.int64)
    per_row = (hi - lo + seg - 1) // seg
    seg_ptr = np.zeros(n_long + 1, dtype=np.int64)
    np.cumsum(per_row, out=seg_ptr[1:])
    owner = np.repeat(np.arange(n_long, dtype=np.int64), per_row)
    step = np.arange(owner.size, dtype=np.int64) - seg_ptr[owner]
    seg_lo = lo[owner] + step * seg
    seg_hi = np.minimum(seg_lo + seg, hi[owner])
    scattered = _scattered(indptr, (m, n), sample)
    return Plan(task_rows, long_rows, seg_ptr, seg_lo, seg_hi, float(mean_short), scattered)


def _scattered(indptr, shape, sample):
    m, n = shape
    nnz = int(indptr[-1]) if m else 0
    if sample is None or nnz <= 0 or m == 0:
        return False
    pos = sample_positions(nnz)
    sample = np.asarray(sample)
    if sample.shape != pos.shape:
        raise ValueError(f"csr_plan: the sample holds {sample.shape} column indices, "
                         f"sample_positions({nnz}) asks for {pos.size}")
    rows = np.searchsorted(indptr, pos, side="right") - 1
    far = np.abs(sample - rows * (n / m)) > FAR
    return bool(far.mean() > 0.25)


# -- the kernel instantiations the dispatch can pick (for the prebuilt cubins) -----------

#: C++ spellings of the CSR kernels' value and index dtypes (as ``spla_cuda._compile.CTYPES``).
VALUE_CTYPES = {"float32": "float", "float64": "double",
                "complex64": "complex<float>", "complex128": "complex<double>"}
INDEX_CTYPES = {"int32": "int", "int64": "long long"}
#: Lanes per row of the vector SpMV kernel (``spla_cuda.csr.spmv_method``).
VECTOR_LANES = (1, 2, 4, 8, 16, 32)


def instantiations(values=tuple(VALUE_CTYPES), indices=tuple(INDEX_CTYPES)):
    """Every ``(expression)`` of ``kernels/csr.cu`` that ``spla_cuda.csr``'s default
    dispatch (``spmv`` without a forced method, ``matmat``, the plan) can compile
    for the given value and index dtype names, in a fixed order: a superset of
    what a run picks (SpMM's lanes ``G`` and vector width ``V`` over all their
    values). ``kernels/prebuilt/csr.jsonl`` is this list.

    Examples
    --------
    >>> instantiations(["float64"], ["int32"])[:2]
    ['csr_sample<int>', 'csr_spmv_tasks<double, int, 128, 8, 0>']
    """
    out = []
    for i in indices:
        I = INDEX_CTYPES[i]
        out.append(f"csr_sample<{I}>")
        for v in values:
            T = VALUE_CTYPES[v]
            out.append(f"csr_spmv_tasks<{T}, {I}, {H}, {WARPS}, 0>")
            out += [f"csr_spmv_vector<{T}, {I}, {L}>" for L in VECTOR_LANES]
            out += [f"csr_spmv_segments<{T}, {I}>", f"csr_spmv_fixup<{T}, {I}>"]
            widest = 16 // np.dtype(v).itemsize  # spla_cuda._compile.vector_width
            widths = [w for w in (1, 2, 4, 8, 16) if w <= widest]
            out += [f"csr_spmm_tasks<{T}, {I}, {G}, {V}, {WARPS}>"
                    for V in widths for G in VECTOR_LANES]
            out += [f"csr_spmm_segments<{T}, {I}, {V}>" for V in widths]
            out.append(f"csr_spmm_fixup<{T}, {I}>")
    return out
