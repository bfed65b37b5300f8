"""Synthetic benchmark matrices, built directly as CSR storage.

Every generator takes ``(n, seed)`` and returns ``(data, indices, indptr, shape)``
with float64 ``data`` and int32 ``indices``/``indptr``; column indices are sorted
and distinct within each row (canonical CSR), so every library sees the same
matrix without a conversion step. Everything is vectorised NumPy: no COO
round trip through SciPy, which is slow at 20M entries.

Classes
    uniform      n x n, exactly 10 distinct uniformly random columns per row.
    laplacian2d  5-point 2-D Laplacian on a k x k grid, k = int(sqrt(n / 2)),
                 so n = 2,000,000 gives the 1000 x 1000 grid (10^6 rows) of
                 ../shared/ANCHORS.md.
    band33       n x n, the 33 diagonals with offsets -16..16.
    powerlaw     n x n, row lengths from a Pareto distribution (shape 1.2),
                 scaled to a mean of about 10 and capped at n; columns uniform
                 random, distinct and sorted within each row.
"""

import numpy as np

CLASSES = ("uniform", "laplacian2d", "band33", "powerlaw")

_I32 = np.int32


def _values(rng, nnz):
    # Values in [0.5, 1.5): no cancellation, so allclose checks are meaningful.
    return rng.random(nnz) + 0.5


def _indptr(lengths):
    indptr = np.empty(lengths.size + 1, dtype=np.int64)
    indptr[0] = 0
    np.cumsum(lengths, out=indptr[1:])
    if indptr[-1] > np.iinfo(_I32).max:
        raise ValueError("too many stored entries for int32 indices")
    return indptr.astype(_I32)


def _random_columns(rng, lengths, n):
    """Distinct, sorted, uniformly random column indices for rows of ``lengths``.

    Rows are sampled with replacement, then duplicates inside a row are redrawn
    until none are left. Rows longer than n / 64 (rare, heavy tail) are drawn
    without replacement directly, so the redraw loop always ends quickly.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    m = lengths.size
    dense_rows = np.flatnonzero(lengths > max(n // 64, 64))
    short = lengths.copy()
    short[dense_rows] = 0
    row = np.repeat(np.arange(m, dtype=np.int64), short)
    key = row * n + rng.integers(0, n, size=row.size, dtype=np.int64)
    del row
    kind = None
    while True:
        key.sort(kind=kind)
        kind = "stable"  # later rounds: nearly sorted, timsort is fast there
        dup = np.flatnonzero(key[1:] == key[:-1]) + 1
        if dup.size == 0:
            break
        key[dup] = (key[dup] // n) * n + rng.integers(0, n, size=dup.size, dtype=np.int64)
    cols_short = (key % n).astype(_I32)
    del key
    if dense_rows.size == 0:
        return cols_short
    # Splice the long rows in at their place.
    indptr = _indptr(lengths).astype(np.int64)
    cols = np.empty(indptr[-1], dtype=_I32)
    mask = np.ones(indptr[-1], dtype=bool)
    for r in dense_rows:
        c = np.sort(rng.choice(n, size=lengths[r], replace=False)).astype(_I32)
        cols[indptr[r]:indptr[r + 1]] = c
        mask[indptr[r]:indptr[r + 1]] = False
    cols[mask] = cols_short
    return cols


def uniform(n, seed=0, per_row=10):
    rng = np.random.default_rng(seed)
    per_row = min(per_row, n)
    lengths = np.full(n, per_row, dtype=np.int64)
    indices = _random_columns(rng, lengths, n)
    return _values(rng, indices.size), indices, _indptr(lengths), (n, n)


def _stencil(m, offsets, valid, values):
    """CSR from a (m, len(offsets)) validity mask; columns i + offset."""
    i = np.arange(m, dtype=_I32)[:, None]
    cols = i + np.asarray(offsets, dtype=_I32)[None, :]
    indices = cols[valid]
    data = np.broadcast_to(np.asarray(values, dtype=np.float64), valid.shape)[valid]
    lengths = valid.sum(axis=1)
    return np.ascontiguousarray(data), indices, _indptr(lengths)


def laplacian2d(n, seed=0):
    k = max(2, int(np.sqrt(n / 2)))
    m = k * k
    r = np.arange(m, dtype=_I32) // k
    c = np.arange(m, dtype=_I32) % k
    offsets = (-k, -1, 0, 1, k)
    valid = np.stack([r > 0, c > 0, np.ones(m, bool), c < k - 1, r < k - 1], axis=1)
    data, indices, indptr = _stencil(m, offsets, valid, (-1.0, -1.0, 4.0, -1.0, -1.0))
    return data, indices, indptr, (m, m)


def band33(n, seed=0, half=16):
    rng = np.random.default_rng(seed)
    offsets = np.arange(-half, half + 1, dtype=_I32)
    i = np.arange(n, dtype=_I32)[:, None]
    cols = i + offsets[None, :]
    valid = (cols >= 0) & (cols < n)
    indices = cols[valid]
    del cols
    lengths = valid.sum(axis=1)
    return _values(rng, indices.size), indices, _indptr(lengths), (n, n)


def powerlaw(n, seed=0, shape=1.2, mean=10.0):
    rng = np.random.default_rng(seed)
    raw = rng.pareto(shape, size=n) + 1.0  # classical Pareto, x_m = 1
    scale = mean / raw.mean()
    for _ in range(3):  # rounding and the cap shift the mean: correct twice
        lengths = np.clip(np.rint(raw * scale), 1, n).astype(np.int64)
        scale *= mean / lengths.mean()
    indices = _random_columns(rng, lengths, n)
    return _values(rng, indices.size), indices, _indptr(lengths), (n, n)


GENERATORS = {
    "uniform": uniform,
    "laplacian2d": laplacian2d,
    "band33": band33,
    "powerlaw": powerlaw,
}


def make(name, n, seed=0):
    """Build class ``name`` at size n: ``(data, indices, indptr, shape)``."""
    return GENERATORS[name](n, seed)


def describe(indptr):
    """Row-length statistics of a CSR structure."""
    lengths = np.diff(indptr)
    return {
        "row_len_mean": float(lengths.mean()) if lengths.size else 0.0,
        "row_len_max": int(lengths.max()) if lengths.size else 0,
        "empty_rows": int((lengths == 0).sum()),
    }
