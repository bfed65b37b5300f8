"""CPU implementations of the N:M (``nm_array``) operations.

Products decide the result dtype (NumPy's promotion; float16 becomes float32),
cast the values and the operand to it, pad the operand with zero rows up to
``ceil(cols / m) * m`` when the column count is not a multiple of ``m`` (the
format's padding rule), and call one kernel of ``spla._kernels.nm``.

float16: Numba has no float16 arithmetic, so float16 values are converted to
float32 here, once per call (``values.astype(float32)``), and the product is
computed and returned in float32.

float32 products run SIMD kernels (``spla._kernels.simd``) where the CPU has
AVX-512F or AVX2 (``_SIMD``): SpMV for 2:4 and 1:4, SpMM for every n:m (X packed
by column tile into an aligned copy, ``_packed_operand``). Everything else, and
every CPU with neither, runs the portable kernels.
"""

import numba
import numpy as np

from ..._dispatch import register
from ..._dtypes import HALF_DTYPES, index_dtype_for, result_dtype
from ..._formats.compressed import csr_array
from ..._kernels import nm as K
from ..._kernels import simd
from ..._kernels.threads import parallel_section
from . import memory

#: Bytes of the panel of X (slot block x column tile) that SpMM keeps in L2.
_PANEL_BYTES = 1 << 18
#: Widest column tile of SpMM (elements): the tile of Y a row works on stays in L1.
_K_TILE = 256
#: Rows per SpMM task, at most (the tasks are (row block) x (column tile)).
_ROW_BLOCK = 64
#: Bytes of the panel of X (slot block x column tile) that the SIMD SpMM
#: keeps in L1 while every row of a row block uses it.
_L1_PANEL_BYTES = 1 << 15
#: Widest column tile of the SIMD SpMM: eight vector registers per row, of 16
#: floats (AVX-512) or 8 (AVX2).
_SIMD_K_TILE = {"avx512": 128, "avx2": 64}
#: Rows per SIMD SpMM task, at most: each task reads its column tile of X
#: (all its rows) once, so larger blocks read X fewer times, while the task's
#: tile of Y (rows x tile width) should stay in L2: 128 KiB for either ISA.
#: AVX2, 4096 x 4096 2:4 times 4096 columns on a Zen 3, 2 threads, three runs
#: of 4-8 alternating calls: 512 rows 949 / 942 / 871 ms against 1042 / 923 /
#: 967 for 256 (X, 64 MiB, then comes from memory half as often); no change at
#: 256 and 1024 columns, where the packed X stays in L3.
_SIMD_ROW_BLOCK = {"avx512": 256, "avx2": 512}
#: The SIMD kernels the float32 products use: "avx512", "avx2" (``spla._kernels.simd``)
#: or None (the portable kernels), the best this CPU runs. Tests set it to
#: exercise each path the CPU supports.
_SIMD = simd.ISA
_SPMV_SIMD = {"avx512": K.spmv_n4_f32_avx512, "avx2": K.spmv_n4_f32_avx2}
_SPMM_SIMD = {"avx512": K.spmm_f32_avx512, "avx2": K.spmm_f32_avx2}


def _cast(a, dtype):
    return a if a.dtype == dtype else a.astype(dtype)


def _padded_rows(A, X, dtype):
    """X (C-contiguous, ``dtype``) with zero rows appended up to ``G m`` rows."""
    C = A.shape[1]
    rows = -(-C // A.m) * A.m
    if rows == C:
        return np.ascontiguousarray(X, dtype=dtype)
    out = np.zeros((rows,) + X.shape[1:], dtype=dtype)
    out[:C] = X
    return out


def _bits(A):
    return 2 if A.m == 4 else 8


@register("matvec", "nm", "cpu")
def matvec(A, x):
    dt = result_dtype(A.dtype, x.dtype)
    R = A.shape[0]
    if R == 0 or A.values.shape[1] == 0:
        return np.zeros(R, dtype=dt)
    values = _cast(A.values, dt)
    xp = _padded_rows(A, x, dt)
    y = np.empty(R, dtype=dt)
    if _SIMD and A.n <= 2 and A.m == 4 and dt == np.float32:
        values = np.ascontiguousarray(values)
        P = np.ascontiguousarray(A.packed_positions)
        with parallel_section():
            _SPMV_SIMD[_SIMD](values, P, A.n, A._slot_bases(), xp, y)
        return y
    kernel = K.spmv_b2 if _bits(A) == 2 else K.spmv_b8
    with parallel_section():
        kernel(values, A.packed_positions, A._slot_bases(), xp, y, dt.type(0))
    return y


def spmm_blocking(R, K_cols, m, n, itemsize, threads=None):
    """(row_block, k_tile, slot_block) of the SpMM kernel for these sizes."""
    threads = threads or max(1, numba.get_num_threads())
    k_tile = min(K_cols, _K_TILE)
    # The slots of a block cover slot_block * m / n columns of X, k_tile wide each.
    slot_block = int(_PANEL_BYTES * n / (m * k_tile * itemsize))
    slot_block = max(4, slot_block - slot_block % 4)
    n_kt = -(-K_cols // k_tile)
    # Enough tasks to keep every thread busy (four per thread), rows in blocks.
    want_rb = max(1, -(-4 * threads // n_kt))
    row_block = max(1, min(_ROW_BLOCK, -(-R // want_rb)))
    return row_block, k_tile, slot_block


def spmm_simd_blocking(R, K_cols, m, n, threads=None, isa="avx512"):
    """(row_block, k_tile, slot_block) of the SIMD SpMM kernel of ``isa`` (float32)."""
    threads = threads or max(1, numba.get_num_threads())
    k_tile = min(K_cols, _SIMD_K_TILE[isa])
    row_bytes = -(-k_tile // 16) * 64  # one tile of an X row, in whole vectors
    slot_block = _L1_PANEL_BYTES * n // (m * row_bytes)
    slot_block = max(16, slot_block - slot_block % 16)
    n_kt = -(-K_cols // k_tile)
    want_rb = max(1, -(-4 * threads // n_kt))
    row_block = max(1, min(_SIMD_ROW_BLOCK[isa], -(-R // want_rb)))
    return row_block, k_tile, slot_block


#: Operands smaller than this (elements) are packed by NumPy on the calling
#: thread; larger ones by every thread (4096 x 4096: 24-36 ms on one thread).
_SERIAL_PACK_MAX = 1 << 18


def _packed_operand(A, X, k_tile):
    """X as float32 for the SIMD SpMM, packed by column tile: (tiles, G m, ld)
    with tile ``t`` holding columns ``t k_tile`` to ``t k_tile + k_tile - 1``, zero
    rows appended up to ``G m`` rows, ``ld`` the tile width rounded up to whole
    64-byte lines, the first element on a 64-byte boundary.

    A tile's rows are contiguous, so the panel of X a slot block reads spans a
    few pages (rows of a wide X, 16 KiB apart, would each take a TLB entry).
    Large operands are packed by every thread (``spla._kernels.nm.pack_column_tiles``):
    4096 x 4096 in 14-15 ms against 24-36 ms for NumPy on one thread (Zen 3).
    """
    C, Kc = X.shape
    rows = -(-C // A.m) * A.m
    n_kt = -(-Kc // k_tile)
    ld = -(-k_tile // 16) * 16
    # On a cache line, so that no vector load straddles two (unaligned, the
    # AVX-512 loads ran about 1.5x slower); pages mapped by this thread (the
    # kernel's threads would fault them in at once, see ``memory``).
    out = memory.empty_output((n_kt, rows, ld), np.float32, aligned=True)
    if X.size < _SERIAL_PACK_MAX:
        for t in range(n_kt):
            k0 = t * k_tile
            w = min(Kc, k0 + k_tile) - k0
            out[t, :C, :w] = X[:, k0:k0 + w]
            out[t, :C, w:] = 0
            out[t, C:] = 0
        return out
    with parallel_section():
        K.pack_column_tiles(X.astype(np.float32, copy=False), k_tile, out)
    return out


@register("matmat", "nm", "cpu")
def matmat(A, X):
    dt = result_dtype(A.dtype, X.dtype)
    R, Kc = A.shape[0], X.shape[1]
    if Kc == 0 or R == 0 or A.values.shape[1] == 0:
        return np.zeros((R, Kc), dtype=dt)
    if Kc == 1:
        return matvec(A, X[:, 0]).reshape(R, 1)
    values = _cast(A.values, dt)
    # The kernel's offsets into a column tile of X are 32-bit.
    isa = _SIMD
    if isa and dt == np.float32 and (X.shape[0] + A.m) * _SIMD_K_TILE[isa] < 2**31:
        row_block, k_tile, slot_block = spmm_simd_blocking(R, Kc, A.m, A.n, isa=isa)
        Xa = _packed_operand(A, X, k_tile)
        Y = memory.empty_output((R, Kc), dt, zero=True)
        base = A._slot_bases().astype(np.int32)
        with parallel_section():
            _SPMM_SIMD[isa](np.ascontiguousarray(values),
                              np.ascontiguousarray(A.packed_positions), _bits(A), A.m, base, Xa, Y,
                              row_block, k_tile, slot_block)
        return Y
    Xp = _padded_rows(A, X, dt)
    Y = memory.empty_output((R, Kc), dt, zero=True)
    row_block, k_tile, slot_block = spmm_blocking(R, Kc, A.m, A.n, dt.itemsize)
    with parallel_section():
        K.spmm(values, A.packed_positions, _bits(A), A._slot_bases(), Xp, Y,
               row_block, k_tile, slot_block)
    return Y


@register("toarray", "nm", "cpu")
def toarray(A, order, out):
    R, C = A.shape
    n, m = A.n, A.m
    G = A.values.shape[1] // n if n else 0
    groups = np.zeros((R, G, m), dtype=A.dtype)
    pos = A.positions.reshape(R, G, n).astype(np.intp)
    np.put_along_axis(groups, pos, A.values.reshape(R, G, n), axis=-1)
    dense = groups.reshape(R, G * m)[:, :C]
    if out is None:
        return np.array(dense, order=order or "C")
    if not isinstance(out, np.ndarray) or out.shape != A.shape or out.dtype != A.dtype:
        raise ValueError(f"out must be a NumPy array of shape {A.shape} and dtype {A.dtype}")
    out[...] = dense
    return out


@register("tocsr", "nm", "cpu")
def tocsr(A):
    R, C = A.shape
    n, m = A.n, A.m
    G = A.values.shape[1] // n
    dt = np.dtype(np.float32) if A.dtype in HALF_DTYPES else A.dtype
    pos = A.positions.reshape(R, G, n).astype(np.int64)
    vals = A.values.reshape(R, G, n)
    order = np.argsort(pos, axis=-1, kind="stable")  # canonical rows: sorted columns
    pos = np.take_along_axis(pos, order, axis=-1)
    vals = np.take_along_axis(vals, order, axis=-1)
    cols = (np.arange(G, dtype=np.int64) * m)[None, :, None] + pos
    keep = (vals != 0) & (cols < C)
    counts = keep.reshape(R, G * n).sum(axis=1)
    nnz = int(counts.sum())
    idx = index_dtype_for(max(C, nnz, R))
    indptr = np.zeros(R + 1, dtype=idx)
    np.cumsum(counts, out=indptr[1:])
    return csr_array._from_parts(vals[keep].astype(dt), cols[keep].astype(idx), indptr,
                                 (R, C), True)

