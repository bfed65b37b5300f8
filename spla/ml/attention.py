"""Sparse and linear attention on spla's sparse formats.

Masks (n x n; ``M[i, j] = 1`` means query ``i`` attends to key ``j``):

- local (sliding window): ``|i - j| <= window / 2`` -> a ``banded_array``;
- strided: ``j mod stride == 0`` -> a ``csr_array``;
- global + local: local, or ``i`` in ``G``, or ``j`` in ``G`` -> a ``csr_array``.

With ``causal=True`` every mask is intersected with ``j <= i``.

Attention restricted to a mask ``M`` is ``softmax(Q K^T * scale on M) V``: the
scores are computed only at the stored positions of the pattern (SDDMM), the
softmax runs over each row's stored positions, and the weighted sum reads only
those rows of ``V``: O(n c d) time and O(n c) memory (O(c) per row when fused, as
``sparse_attention`` does) for ``c`` connections per query, against O(n^2 d) for
dense masked attention.

``linear_attention`` replaces ``exp(q . k)`` by a kernel ``phi(q) . phi(k)`` and
computes ``phi(Q) (phi(K)^T V)`` in O(n D d) without forming any n x n array.

Everything here is real-valued (float32 or float64; integers become float64),
except ``sddmm``, which also takes complex operands.
"""

import math
import operator

import numpy as np

from .. import _dispatch
from .._device import is_gpu_array
from .._dtypes import result_dtype
from .._formats.banded import banded_array
from .._formats.compressed import csr_array

__all__ = [
    "BlockPattern",
    "block_pattern",
    "feature_map",
    "global_local_pattern",
    "linear_attention",
    "local_pattern",
    "random_projection",
    "sddmm",
    "softmax",
    "sparse_attention",
    "sparse_attention_backward",
    "sparse_attention_forward",
    "sparse_attention_torch",
    "strided_pattern",
]


# -- patterns ------------------------------------------------------------------------


def _count(value, name, minimum=0):
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def local_pattern(n, window, causal=False):
    """Sliding-window mask ``|i - j| <= window / 2`` as a ``banded_array``.

    Parameters
    ----------
    n : int
        Sequence length (the mask is n x n).
    window : int
        Window width ``w >= 0``; query ``i`` sees keys ``i - h .. i + h`` with
        ``h = w // 2``.
    causal : bool
        Keep only ``j <= i`` (keys ``i - h .. i``).

    Returns
    -------
    banded_array
        float64 ones on the diagonals ``-h .. h`` (``-h .. 0`` when causal) that
        fit in the matrix.

    Notes
    -----
    Connections per query: ``2 h + 1`` (``= w + 1`` for even ``w``, ``w`` for odd
    ``w``), ``h + 1`` when causal; fewer for the ``h`` queries nearest each end,
    and never more than ``n``. nnz about ``n (2 h + 1)``.

    Examples
    --------
    >>> from spla import attention
    >>> P = attention.local_pattern(5, 2)
    >>> P.offsets, P.toarray().astype(int)
    (array([-1,  0,  1]), array([[1, 1, 0, 0, 0],
           [1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 1, 1, 1],
           [0, 0, 0, 1, 1]]))
    """
    n = _count(n, "n")
    h = _count(window, "window") // 2
    top = 0 if causal else h
    offsets = np.arange(-h, top + 1, dtype=np.int64)
    offsets = offsets[(offsets > -n) & (offsets < n)]
    return banded_array._from_parts(np.ones((offsets.size, n)), offsets, (n, n))


def _csr_from_counts(n, counts, cols, ncols=None):
    from .._dtypes import index_dtype_for

    ncols = n if ncols is None else ncols
    idx = index_dtype_for(max(n, ncols, cols.size))
    indptr = np.zeros(n + 1, dtype=idx)
    np.cumsum(counts, out=indptr[1:])
    return csr_array._from_parts(np.ones(cols.size), cols.astype(idx), indptr, (n, ncols), True)


def strided_pattern(n, stride, causal=False):
    """Strided mask ``j mod stride == 0`` as a ``csr_array``.

    Parameters
    ----------
    n : int
        Sequence length.
    stride : int
        ``s >= 1``: every query attends to keys ``0, s, 2 s, ...``.
    causal : bool
        Keep only ``j <= i``.

    Returns
    -------
    csr_array
        float64 ones, canonical (sorted rows).

    Notes
    -----
    Connections per query: ``ceil(n / s)``; causal: ``i // s + 1`` for query
    ``i``. No row is empty (key 0 is always in).

    Examples
    --------
    >>> from spla import attention
    >>> attention.strided_pattern(4, 2).toarray().astype(int)
    array([[1, 0, 1, 0],
           [1, 0, 1, 0],
           [1, 0, 1, 0],
           [1, 0, 1, 0]])
    """
    n = _count(n, "n")
    s = _count(stride, "stride", 1)
    i = np.arange(n, dtype=np.int64)
    if causal:
        counts = i // s + 1
    else:
        counts = np.full(n, -(-n // s), dtype=np.int64)
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    cols = (np.arange(total, dtype=np.int64) - starts) * s
    return _csr_from_counts(n, counts, cols)


def global_local_pattern(n, window, global_tokens, causal=False):
    """Global + local mask as a ``csr_array``: ``|i - j| <= window / 2``, or ``i`` in
    ``G``, or ``j`` in ``G`` (then ``j <= i`` as well when causal).

    Parameters
    ----------
    n : int
        Sequence length.
    window : int
        Local window width (as in ``local_pattern``).
    global_tokens : array_like of int
        The global tokens ``G`` (indices in ``[0, n)``; duplicates ignored).
    causal : bool
        Keep only ``j <= i``.

    Returns
    -------
    csr_array
        float64 ones, canonical.

    Notes
    -----
    Connections per query: ``n`` for a global query (``i + 1`` when causal); for
    the others, their local window plus the global tokens outside it: at most
    ``2 h + 1 + |G|`` (``h + 1 + |{g in G: g < i - h}|`` when causal). nnz is
    about ``n (2 h + 1 + 2 |G|)``.

    Examples
    --------
    >>> from spla import attention
    >>> attention.global_local_pattern(5, 0, [0]).toarray().astype(int)
    array([[1, 1, 1, 1, 1],
           [1, 1, 0, 0, 0],
           [1, 0, 1, 0, 0],
           [1, 0, 0, 1, 0],
           [1, 0, 0, 0, 1]])
    """
    import scipy.sparse as sp

    n = _count(n, "n")
    h = _count(window, "window") // 2
    G = np.asarray(global_tokens)
    if G.dtype == object or (G.size and G.dtype.kind not in "iu"):
        raise TypeError(f"global_tokens must hold integers, got dtype {G.dtype.name}")
    G = np.unique(G.reshape(-1).astype(np.int64))
    if G.size and (G[0] < 0 or G[-1] >= n):
        bad = int(G[0] if G[0] < 0 else G[-1])
        raise ValueError(f"global token {bad} is out of range for n = {n}")
    rows, cols = [], []
    i = np.arange(n, dtype=np.int64)
    hh = min(h, max(n - 1, 0))
    for k in range(-hh, hh + 1):
        lo, hi = max(0, -k), min(n, n - k)
        rows.append(i[lo:hi])
        cols.append(i[lo:hi] + k)
    if G.size:
        rows.append(np.repeat(i, G.size))
        cols.append(np.tile(G, n))
        rows.append(np.repeat(G, n))
        cols.append(np.tile(i, G.size))
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    if causal:
        keep = c <= r
        r, c = r[keep], c[keep]
    M = sp.coo_array((np.ones(r.size), (r, c)), shape=(n, n)).tocsr()
    M.sum_duplicates()
    M.sort_indices()
    counts = np.diff(M.indptr)
    return _csr_from_counts(n, counts, M.indices.astype(np.int64))


# -- block-sparse patterns ----------------------------------------------------------------

#: Query rows and keys per tile of ``block_pattern`` (what the GPU kernels are built for).
BLOCK_Q = 64
BLOCK_K = 64


class BlockPattern:
    """A sparsity pattern cut into (query block x key tile) tiles for the fused kernels.

    Built by ``block_pattern``; see there. Attributes (NumPy arrays, read-only by
    convention):

    ``shape`` (m, n); ``block_q``, ``block_k``; ``tile_ptr`` (int32, ``nqb + 1``):
    the tiles of query block ``b`` are ``tile_ptr[b]:tile_ptr[b + 1]``;
    ``tile_keys`` (int32, ``(ntiles, block_k)``): the keys of each tile, ascending,
    ``-1`` where a tile has fewer than ``block_k``; ``tile_mask`` (int32,
    ``ntiles``): ``-1`` for a full tile (every query of the block attends to every
    key of the tile), else the index of its element mask in ``masks`` (uint32,
    ``(npartial, block_q, block_k // 32)``; bit ``s % 32`` of word ``s // 32`` of
    row ``r``: query ``b * block_q + r`` attends to key ``tile_keys[t, s]``);
    ``order`` (int32, ``nqb``): the query blocks by decreasing tile count (the
    launch order of the GPU kernels); ``nnz``: the element pattern's count.
    """

    def __init__(self, shape, block_q, block_k, tile_ptr, tile_keys, tile_mask, masks, nnz):
        self.shape = (int(shape[0]), int(shape[1]))
        self.block_q, self.block_k = int(block_q), int(block_k)
        self.tile_ptr, self.tile_keys, self.tile_mask, self.masks = (
            tile_ptr, tile_keys, tile_mask, masks)
        self.nnz = int(nnz)
        counts = np.diff(tile_ptr)
        self.order = np.argsort(-counts, kind="stable").astype(np.int32)
        self._csr = None
        self._transposed = None
        self._device_parts = None
        self._pairs = None

    @property
    def ntiles(self):
        return int(self.tile_keys.shape[0])

    @property
    def nfull(self):
        return int(np.count_nonzero(self.tile_mask < 0))

    def __repr__(self):
        return (f"<BlockPattern {self.shape[0]}x{self.shape[1]}, nnz={self.nnz}, "
                f"{self.ntiles} tiles of {self.block_q}x{self.block_k} "
                f"({self.nfull} full, {self.ntiles - self.nfull} partial)>")

    def tile_density(self):
        """Fraction of the visited tiles' elements that the pattern keeps (1.0: no waste)."""
        visited = self.ntiles * self.block_q * self.block_k
        return self.nnz / visited if visited else 1.0

    def tocsr(self):
        """The element pattern, rebuilt from the tiles, as a canonical ``csr_array``
        of float64 ones (equal to the pattern it was built from)."""
        if self._csr is None:
            self._csr = _tiles_to_csr(self)
        return self._csr

    def pair_tiles(self):
        """The tiles of query blocks ``2p`` and ``2p + 1`` merged, for the GPU kernel
        that runs both blocks in one thread block (``attn_fwd_wg2``), built once.

        Returns ``(pair_ptr, pair_tiles, pair_order)``: entries
        ``pair_ptr[p]:pair_ptr[p + 1]`` (int32, ``npairs + 1``) of ``pair_tiles``
        (int32, ``(nentries, 2)``) are pair ``p``'s steps, ``(ta, tb)``: the tile of
        block ``2p`` and of block ``2p + 1`` at that step, or ``-1`` where the block
        has none. A step with both holds two tiles with the same keys (loaded once).
        Each block's tiles appear once, in their order, so a block's products and
        their rounding are those of a walk of its own tiles; where the heads of the
        two lists differ, the one whose first key is smaller (block ``2p`` on a tie)
        comes first. An odd last block pairs with none. ``pair_order`` (int32): the
        pairs by decreasing step count (the launch order).
        """
        if self._pairs is None:
            self._pairs = _pair_tiles(self)
        return self._pairs

    def transposed(self):
        """``block_pattern`` of the element pattern's transpose (keys as rows: per key
        block, the packed queries that attend to it), built once; the GPU backward's
        dK/dV kernel walks it."""
        if self._transposed is None:
            self._transposed = block_pattern(_tiles_to_csr(self, transpose=True),
                                             block_q=self.block_q, block_k=self.block_k)
        return self._transposed


def _pair_tiles(bp):
    """``BlockPattern.pair_tiles``: a merge of the two blocks' tile lists per pair."""
    ptr = bp.tile_ptr.astype(np.int64)
    nqb = ptr.size - 1
    npairs = -(-nqb // 2)
    first = bp.tile_keys[:, 0].tolist() if bp.ntiles else []
    keys = bp.tile_keys
    counts = np.zeros(npairs, dtype=np.int64)
    out = []
    for p in range(npairs):
        a0, a1 = int(ptr[2 * p]), int(ptr[2 * p + 1])
        b0, b1 = (int(ptr[2 * p + 1]), int(ptr[2 * p + 2])) if 2 * p + 1 < nqb else (0, 0)
        ia, ib, n0 = a0, b0, len(out)
        while ia < a1 or ib < b1:
            if ia < a1 and ib < b1:
                fa, fb = first[ia], first[ib]
                if fa == fb and np.array_equal(keys[ia], keys[ib]):
                    out.append((ia, ib))
                    ia += 1
                    ib += 1
                elif fa <= fb:
                    out.append((ia, -1))
                    ia += 1
                else:
                    out.append((-1, ib))
                    ib += 1
            elif ia < a1:
                out.append((ia, -1))
                ia += 1
            else:
                out.append((-1, ib))
                ib += 1
        counts[p] = len(out) - n0
    pair_ptr = np.zeros(npairs + 1, dtype=np.int64)
    np.cumsum(counts, out=pair_ptr[1:])
    pair_tiles = np.array(out, dtype=np.int32).reshape(-1, 2)
    order = np.argsort(-counts, kind="stable").astype(np.int32)
    return pair_ptr.astype(np.int32), pair_tiles, order


def _tile_elements(bp):
    """Rows and columns (int64, in tile order) of the pattern's kept elements."""
    m, n = bp.shape
    BQ, BK = bp.block_q, bp.block_k
    nt = bp.ntiles
    if nt == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    keep = np.empty((nt, BQ, BK), dtype=bool)
    full = bp.tile_mask < 0
    keep[full] = (bp.tile_keys[full] >= 0)[:, None, :]
    part = ~full
    if part.any():
        words = bp.masks[bp.tile_mask[part]]                       # (p, BQ, BK // 32)
        bits = (words[..., None] >> np.arange(32, dtype=np.uint32)) & 1
        keep[part] = bits.reshape(words.shape[0], BQ, BK).astype(bool)
    qb = np.repeat(np.arange(bp.tile_ptr.size - 1), np.diff(bp.tile_ptr))
    t, r, s = np.nonzero(keep)
    rows = qb[t].astype(np.int64) * BQ + r
    cols = bp.tile_keys[t, s].astype(np.int64)
    ok = (rows < m) & (cols >= 0)
    return rows[ok], cols[ok]


def _tiles_to_csr(bp, transpose=False):
    """The element pattern (or its transpose) as a canonical csr_array of ones."""
    import scipy.sparse as sp

    m, n = bp.shape
    rows, cols = _tile_elements(bp)
    if transpose:
        rows, cols, m, n = cols, rows, n, m
    A = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(m, n))
    A.sort_indices()
    return _csr_from_counts(m, np.diff(A.indptr), A.indices.astype(np.int64), n)


def _pattern_coo(P):
    """Rows and columns (int64) of a pattern's stored positions, row-major, no duplicates."""
    P = P._snap()  # one reading of the storage
    m, n = P.shape
    if isinstance(P, banded_array):
        off = P.offsets.astype(np.int64)
        i = np.arange(m, dtype=np.int64)
        rows = np.repeat(i, off.size)
        cols = (i[:, None] + off[None, :]).reshape(-1)
        ok = (cols >= 0) & (cols < n)
        return rows[ok], cols[ok]
    indptr = np.asarray(P.indptr, dtype=np.int64)
    rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(indptr))
    return rows, np.asarray(P.indices, dtype=np.int64)


def _block_chunk(rows, cols, qb0, qb1, m, n, block_q, block_k):
    """Tiles of query blocks ``qb0:qb1`` from their entries (sorted by row): tiles
    per block, tile keys, which tiles are full, the partial tiles' bit masks."""
    nq = qb1 - qb0
    nkb = -(-n // block_k)
    words = block_k // 32
    qb = rows // block_q - qb0
    present = np.zeros((nq, nkb * block_k), dtype=bool)
    present[qb, cols] = True
    # A key block all of whose keys some query of the block needs becomes a tile of
    # its own (aligned: contiguous keys, often full); the keys of the other key
    # blocks are packed, ascending, into shared tiles.
    per_kb = present.reshape(nq, nkb, block_k).sum(axis=2)
    dense_kb = per_kb == block_k
    ndense = dense_kb.sum(axis=1)
    sparse_keys = present & ~np.repeat(dense_kb, block_k, axis=1)
    nsparse = sparse_keys.sum(axis=1)
    tiles_per = ndense + -(-nsparse // block_k)
    tstart = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(tiles_per, out=tstart[1:])
    ntiles = int(tstart[-1])
    tile_of = np.zeros((nq, nkb * block_k), dtype=np.int32)
    slot_of = np.zeros((nq, nkb * block_k), dtype=np.int32)
    keys = np.arange(nkb * block_k, dtype=np.int64)
    # dense key blocks: tile = block start + rank among the block's dense key blocks
    dq, dk = np.nonzero(dense_kb)
    drank = np.cumsum(dense_kb, axis=1)[dq, dk] - 1
    dtile = tstart[dq] + drank
    tile_keys = np.full((ntiles, block_k), -1, dtype=np.int32)
    tile_keys[dtile] = (dk[:, None] * block_k + np.arange(block_k)).astype(np.int32)
    tile_of.reshape(nq, nkb, block_k)[dq, dk] = dtile[:, None]
    slot_of.reshape(nq, nkb, block_k)[dq, dk] = np.arange(block_k, dtype=np.int32)
    # sparse keys: packed after the block's dense tiles
    sq, sc = np.nonzero(sparse_keys)
    srank = np.cumsum(sparse_keys, axis=1)[sq, sc] - 1
    stile = tstart[sq] + ndense[sq] + srank // block_k
    sslot = srank % block_k
    tile_keys[stile, sslot] = keys[sc].astype(np.int32)
    tile_of[sq, sc] = stile
    slot_of[sq, sc] = sslot
    etile = tile_of[qb, cols]
    eslot = slot_of[qb, cols]
    count = np.bincount(etile, minlength=ntiles)
    tile_qb = np.repeat(np.arange(nq, dtype=np.int64), tiles_per) + qb0
    rows_in = np.minimum(block_q, m - tile_qb * block_q)
    full = count == rows_in * block_k
    part_id = np.cumsum(~full) - 1
    npart = int(np.count_nonzero(~full))
    masks = np.zeros((npart, block_q, words), dtype=np.uint32)
    if npart:
        sel = ~full[etile]
        slot = eslot[sel].astype(np.int64)
        word = (part_id[etile[sel]] * block_q + rows[sel] % block_q) * words + slot // 32
        bit = np.left_shift(1, slot % 32).astype(np.float64)
        # Bits within a word are distinct (no duplicate positions): their sum is their OR.
        summed = np.bincount(word, weights=bit, minlength=masks.size)
        masks = summed.astype(np.uint64).astype(np.uint32).reshape(masks.shape)
    return tiles_per, tile_keys, full, masks


def block_pattern(pattern, causal=False, block_q=BLOCK_Q, block_k=BLOCK_K):
    """A block-sparse description of an attention pattern, for the fused GPU kernels.

    The queries are cut into blocks of ``block_q`` rows. The keys that any query
    of a block attends to are packed, ascending, into tiles of ``block_k`` keys;
    each (query block, key tile) pair is **full** (every query of the block
    attends to every key of the tile: no mask arithmetic) or **partial** (its
    ``block_q x block_k`` element mask is kept as bits). Tiles no query needs are
    never formed, so a kernel visits only non-empty tiles, and the results equal
    those of the element pattern exactly. Key tiles need not be contiguous: the
    keys ``0, s, 2 s, ...`` of a strided pattern pack into dense tiles.

    Parameters
    ----------
    pattern : BlockPattern, banded_array, csr_array or SciPy sparse, shape (m, n)
        The element pattern (its stored positions, whatever their values), e.g.
        from ``local_pattern``, ``strided_pattern`` or ``global_local_pattern``.
    causal : bool
        Also keep only ``j <= i``.
    block_q, block_k : int
        Tile shape; the GPU kernels need 64 and 64 (the defaults); ``block_k``
        must be a multiple of 32.

    Returns
    -------
    BlockPattern
        Its ``tocsr()`` gives back the element pattern (intersected with
        ``j <= i`` when ``causal``). ``spla.attention.sparse_attention`` takes it
        on the CPU and, with CuPy arrays or CUDA PyTorch tensors, on the GPU.

    Examples
    --------
    >>> from spla import attention
    >>> bp = attention.block_pattern(attention.local_pattern(256, 128))
    >>> bp
    <BlockPattern 256x256, nnz=28864, 10 tiles of 64x64 (4 full, 6 partial)>
    >>> (bp.tocsr().toarray() == attention.local_pattern(256, 128).toarray()).all()
    np.True_
    >>> attention.block_pattern(attention.strided_pattern(256, 4))   # keys 0, 4, 8, ... packed
    <BlockPattern 256x256, nnz=16384, 4 tiles of 64x64 (4 full, 0 partial)>
    """
    if isinstance(pattern, BlockPattern):
        if not causal and (pattern.block_q, pattern.block_k) == (block_q, block_k):
            return pattern
        pattern = pattern.tocsr()
    block_q = _count(block_q, "block_q", 1)
    block_k = _count(block_k, "block_k", 32)
    if block_k % 32:
        raise ValueError(f"block_k must be a multiple of 32, got {block_k}")
    P = _as_pattern(pattern, "block_pattern")
    if P.device != "cpu":
        P = P.to_device("cpu")
    m, n = P.shape
    rows, cols = _pattern_coo(P)
    if causal:
        keep = cols <= rows
        rows, cols = rows[keep], cols[keep]
    nnz = rows.size
    nqb = -(-m // block_q)
    # Query blocks in chunks, so that a chunk's (query block x key) presence map
    # stays small; rows are sorted, so a chunk's entries are contiguous.
    chunk = max(1, (1 << 24) // max(n, 1))
    bounds = np.searchsorted(rows, np.arange(0, nqb + chunk, chunk) * block_q)
    parts = [_block_chunk(rows[bounds[k]:bounds[k + 1]], cols[bounds[k]:bounds[k + 1]],
                          k * chunk, min(nqb, (k + 1) * chunk), m, n, block_q, block_k)
             for k in range(-(-nqb // chunk))]
    tiles_per = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    tile_ptr = np.zeros(nqb + 1, dtype=np.int64)
    np.cumsum(tiles_per, out=tile_ptr[1:])
    tile_keys = (np.concatenate([p[1] for p in parts]) if parts
                 else np.zeros((0, block_k), np.int32))
    full = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, bool)
    masks = (np.concatenate([p[3] for p in parts]) if parts
             else np.zeros((0, block_q, block_k // 32), np.uint32))
    tile_mask = np.full(full.size, -1, dtype=np.int32)
    tile_mask[~full] = np.arange(masks.shape[0], dtype=np.int32)
    return BlockPattern((m, n), block_q, block_k, tile_ptr.astype(np.int32), tile_keys,
                        tile_mask, masks, nnz)


# -- SDDMM and softmax -----------------------------------------------------------------


def _as_pattern(pattern, what):
    """A banded_array as it is, anything else as a canonical csr_array (on the CPU)."""
    from .._base import SparseArray, _is_scipy_sparse

    if isinstance(pattern, BlockPattern):
        P = pattern.tocsr()
    elif isinstance(pattern, banded_array):
        P = pattern._snap()  # one reading of the storage (another thread may write)
    elif isinstance(pattern, SparseArray) or _is_scipy_sparse(pattern):
        P = (pattern if isinstance(pattern, csr_array) else csr_array(pattern))._snap()
        if not P.has_canonical_format:
            P = P.copy()
            P.sum_duplicates()
    else:
        raise TypeError(
            f"{what}: pattern must be a banded_array, a csr_array or a SciPy sparse array, "
            f"got {type(pattern).__name__}"
        )
    return P


def _dense(x, name, what, ndim=None, real=True, device="cpu"):
    """``x`` as an array of ``device`` (NumPy or CuPy), checked; never moved between devices."""
    on_gpu = is_gpu_array(x)
    if device == "cpu" and on_gpu:
        raise ValueError(
            f"{what}: {name} is a CuPy (GPU) array but the pattern is on the CPU; "
            "move the pattern with .to_device('cuda') or the array with .get()")
    if device != "cpu" and not on_gpu:
        raise ValueError(
            f"{what}: {name} is not a CuPy array but the pattern is on the GPU; "
            "move it with cupy.asarray() or the pattern with .to_device('cpu')")
    a = _dispatch.array_module(device).asarray(x)
    if a.dtype == object:
        raise TypeError(f"{what}: {name} must be a numeric array")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{what}: {name} must be {ndim}-D, got shape {a.shape}")
    if ndim is None and a.ndim < 2:
        raise ValueError(f"{what}: {name} must have shape (..., n, d), got shape {a.shape}")
    if real and a.dtype.kind == "c":
        raise TypeError(f"{what}: {name} must be real, got dtype {a.dtype.name}")
    if a.dtype.kind not in "biufc":
        raise TypeError(f"{what}: unsupported dtype {a.dtype.name} for {name}")
    return a


def sddmm(Q, K, pattern):
    """``Q @ K.T`` computed only at the stored positions of ``pattern``.

    Parameters
    ----------
    Q : array_like, shape (m, d)
    K : array_like, shape (n, d)
    pattern : banded_array, csr_array or SciPy sparse, shape (m, n)
        Only its structure is used (every stored position, zeros included).

    Returns
    -------
    banded_array or csr_array
        In the pattern's format (banded stays banded; any other becomes a canonical
        CSR), with the pattern's structure and values ``Q[i] . K[j]`` (no complex
        conjugation). Dtype: NumPy's promotion of ``Q`` and ``K`` (float32, float64,
        complex64, complex128). Banded padding is 0.

    Notes
    -----
    O(nnz d) time, O(nnz) memory: O(n c d) and O(n c) for ``c`` connections per query.

    Examples
    --------
    >>> import numpy as np
    >>> from spla import attention
    >>> Q = np.arange(6.0).reshape(3, 2); K = np.ones((3, 2))
    >>> S = attention.sddmm(Q, K, attention.local_pattern(3, 0))
    >>> S.toarray()
    array([[1., 0., 0.],
           [0., 5., 0.],
           [0., 0., 9.]])
    """
    P = _as_pattern(pattern, "sddmm")
    Q = _dense(Q, "Q", "sddmm", 2, real=False, device=P.device)
    K_ = _dense(K, "K", "sddmm", 2, real=False, device=P.device)
    m, n = P.shape
    if Q.shape[0] != m or K_.shape[0] != n:
        raise ValueError(
            f"sddmm: Q {Q.shape} and K {K_.shape} do not fit a pattern of shape {P.shape} "
            f"(needs Q with {m} rows and K with {n} rows)"
        )
    if Q.shape[1] != K_.shape[1]:
        raise ValueError(
            f"sddmm: Q and K must have the same number of columns, got {Q.shape} and {K_.shape}")
    dt = result_dtype(Q.dtype, K_.dtype)
    return _dispatch.lookup("sddmm", P.format, P.device)(Q, K_, P, dt)


def softmax(S):
    """Row-wise softmax over the stored entries of a sparse array.

    Each row's maximum is subtracted before ``exp`` (no overflow for large
    logits); the stored entries of a row then sum to 1. **A row with no stored
    entries gives zeros** (it stays empty), and so does a row whose entries are
    all ``-inf``. Unstored positions are not part of the softmax (they are
    ``-inf``, not 0).

    Parameters
    ----------
    S : banded_array, csr_array or SciPy sparse
        Real-valued scores (e.g. from ``sddmm``).

    Returns
    -------
    banded_array or csr_array
        Same format and structure as ``S`` (any non-banded input becomes a
        canonical CSR; duplicates are summed first), same dtype.

    Examples
    --------
    >>> import numpy as np, spla
    >>> from spla import attention
    >>> S = spla.csr_array(np.array([[1000.0, 1000.0], [0.0, 0.0]]))
    >>> attention.softmax(S).toarray()
    array([[0.5, 0.5],
           [0. , 0. ]])
    """
    P = _as_pattern(S, "softmax")
    if P.dtype.kind == "c":
        raise TypeError(f"softmax: scores must be real, got dtype {P.dtype.name}")
    return _dispatch.lookup("softmax", P.format, P.device)(P)


def _check_precision(precision, what):
    """``precision`` if it is None, "exact" or "tf32", else ValueError."""
    if not (precision is None or isinstance(precision, str)) or precision not in (None, "exact", "tf32"):
        raise ValueError(f"{what}: precision must be None, 'exact' or 'tf32', got {precision!r}")
    return precision


def sparse_attention(Q, K, V, pattern, scale=None, precision=None):
    """``softmax(Q K^T * scale on the pattern) V``, fused: never stores the scores.

    Parameters
    ----------
    Q : array_like, shape (..., m, d)
    K : array_like, shape (..., n, d)
    V : array_like, shape (..., n, dv)
        Leading (batch, head, ...) dimensions broadcast against each other.
    pattern : banded_array, csr_array, SciPy sparse or BlockPattern, shape (m, n)
        Which keys each query attends to (its stored positions, whatever their
        values); e.g. from ``local_pattern``, ``strided_pattern`` or
        ``global_local_pattern``. Shared by every batch element. With a
        ``BlockPattern`` (``block_pattern``) and CuPy arrays or CUDA PyTorch
        tensors, the fused tensor-core kernel runs (see
        ``sparse_attention_forward``).
    scale : float, optional
        Multiplies the scores; ``1 / sqrt(d)`` by default.
    precision : {None, "exact", "tf32"}, optional
        ``"tf32"`` lets float32 operands on the GPU (with a ``BlockPattern``) run
        on the tensor cores in TF32 (10-bit mantissa products, float32
        accumulation); None and ``"exact"`` (the default) compute float32 exactly.
        It is a permission: the CPU path and 16-bit operands ignore it.

    Returns
    -------
    ndarray, shape (..., m, dv)
        NumPy's promotion of the inputs' dtypes where it is a float type of
        16 or 32 bits (float16 inputs compute in float32 and return float16;
        float32 ones return float32), float64 otherwise. A query with no
        connections gives a row of zeros.

    Notes
    -----
    Each query's scores, their maximum, ``exp`` and the weighted sum of ``V`` run
    in float64, on one thread: O(n c (d + dv)) time and O(c) scratch per query for
    ``c`` connections per query, against O(n^2 d) time and O(n^2) memory for dense
    masked attention. Large logits do not overflow (the row maximum is subtracted).

    Examples
    --------
    >>> import numpy as np
    >>> from spla import attention
    >>> rng = np.random.default_rng(0)
    >>> Q, K, V = (rng.standard_normal((2, 6, 4)) for _ in range(3))   # 2 heads
    >>> out = attention.sparse_attention(Q, K, V, attention.local_pattern(6, 2))
    >>> out.shape
    (2, 6, 4)
    """
    _check_precision(precision, "sparse_attention")
    if isinstance(pattern, BlockPattern) and _on_gpu(Q, K, V):
        from spla_cuda import attention as _gpu

        return _gpu.forward(Q, K, V, pattern, scale, precision=precision)[0]
    P = _as_pattern(pattern, "sparse_attention")
    Q = _dense(Q, "Q", "sparse_attention", device=P.device)
    K_ = _dense(K, "K", "sparse_attention", device=P.device)
    V = _dense(V, "V", "sparse_attention", device=P.device)
    m, n = P.shape
    if Q.shape[-2] != m or K_.shape[-2] != n or V.shape[-2] != n:
        raise ValueError(
            f"sparse_attention: Q {Q.shape}, K {K_.shape}, V {V.shape} do not fit a pattern "
            f"of shape {P.shape} (needs Q with {m} rows, K and V with {n} rows)"
        )
    d = Q.shape[-1]
    if K_.shape[-1] != d:
        raise ValueError(
            f"sparse_attention: Q and K must share the last dimension, got {Q.shape} and {K_.shape}")
    try:
        lead = np.broadcast_shapes(Q.shape[:-2], K_.shape[:-2], V.shape[:-2])
    except ValueError:
        raise ValueError(
            f"sparse_attention: the leading dimensions of Q {Q.shape}, K {K_.shape} and "
            f"V {V.shape} do not broadcast"
        ) from None
    # NumPy's promotion of the inputs gives the result's dtype; the kernels compute in
    # float32 (float16 and float32 inputs) or float64 (everything else).
    promoted = np.result_type(Q.dtype, K_.dtype, V.dtype)
    dt = np.dtype(np.float32) if promoted in (np.float16, np.float32) else np.dtype(np.float64)
    out_dt = promoted if promoted == np.float16 else dt
    if scale is None:
        scale = 1.0 / math.sqrt(d) if d else 1.0
    scale = float(scale)
    B = int(np.prod(lead)) if lead else 1
    dv = V.shape[-1]

    xp = _dispatch.array_module(P.device)

    def flat(a, rows):
        a = xp.broadcast_to(a, lead + a.shape[-2:])
        return xp.ascontiguousarray(a.reshape((B, rows, a.shape[-1])), dtype=dt)

    Qf, Kf, Vf = flat(Q, m), flat(K_, n), flat(V, n)
    out = _dispatch.lookup("sparse_attention", P.format, P.device)(Qf, Kf, Vf, P, scale)
    return out.reshape(lead + (m, dv)).astype(out_dt, copy=False)


# -- forward with log-sum-exp, and the backward ------------------------------------------


def _on_gpu(*arrays):
    """Whether any operand is a CuPy array or a CUDA PyTorch tensor."""
    for a in arrays:
        if is_gpu_array(a):
            return True
        if type(a).__module__.split(".")[0] == "torch" and getattr(a, "is_cuda", False):
            return True
    return False


def _unbroadcast(g, shape):
    """Sum ``g`` over the leading dimensions that broadcasting added to ``shape``."""
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(k for k, s in enumerate(shape[:-2]) if s == 1 and g.shape[k] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _cpu_attention(Q, K, V, pattern, scale, dO=None, what="sparse_attention_forward"):
    """float64 forward (out, lse) or backward (dQ, dK, dV) on the CPU through CSR
    products; leading dimensions broadcast."""
    import scipy.sparse as sp

    P = _as_pattern(pattern, what)
    if isinstance(P, banded_array):
        P = csr_array(P)
    arrays = [_dense(a, name, what) for a, name in ((Q, "Q"), (K, "K"), (V, "V"))]
    Q, K_, V = (np.asarray(a, dtype=np.float64) for a in arrays)
    m, n = P.shape
    if Q.shape[-2] != m or K_.shape[-2] != n or V.shape[-2] != n or Q.shape[-1] != K_.shape[-1]:
        raise ValueError(f"{what}: Q {Q.shape}, K {K_.shape}, V {V.shape} do not fit a pattern "
                         f"of shape {P.shape}")
    lead = np.broadcast_shapes(Q.shape[:-2], K_.shape[:-2], V.shape[:-2])
    d = Q.shape[-1]
    scale = (1.0 / math.sqrt(d) if d else 1.0) if scale is None else float(scale)
    B = int(np.prod(lead)) if lead else 1
    Qb = np.broadcast_to(Q, lead + Q.shape[-2:]).reshape(B, m, d)
    Kb = np.broadcast_to(K_, lead + K_.shape[-2:]).reshape(B, n, d)
    Vb = np.broadcast_to(V, lead + V.shape[-2:]).reshape(B, n, V.shape[-1])
    indptr = np.asarray(P.indptr, dtype=np.int64)
    indices = np.asarray(P.indices, dtype=np.int64)
    rows = np.repeat(np.arange(m), np.diff(indptr))
    starts = indptr[:-1][np.diff(indptr) > 0]
    nonempty = np.diff(indptr) > 0

    def csr(data):
        return sp.csr_array((data, indices, indptr), shape=(m, n))

    def probabilities(b):
        s = np.einsum("ij,ij->i", Qb[b][rows], Kb[b][indices]) * scale
        lse = np.full(m, -np.inf)
        if s.size:
            mx = np.maximum.reduceat(s, starts)
            tot = np.add.reduceat(np.exp(s - np.repeat(mx, np.diff(indptr)[nonempty])), starts)
            lse[nonempty] = mx + np.log(tot)
        return np.exp(s - lse[rows]), lse

    if dO is None:
        out = np.empty((B, m, V.shape[-1]))
        lse = np.empty((B, m))
        for b in range(B):
            p, lse[b] = probabilities(b)
            out[b] = csr(p) @ Vb[b]
        return out.reshape(lead + out.shape[1:]), lse.reshape(lead + (m,))
    dO = np.broadcast_to(np.asarray(_dense(dO, "dO", what), dtype=np.float64),
                         lead + (m, V.shape[-1])).reshape(B, m, V.shape[-1])
    dQ, dK, dV = np.empty_like(Qb), np.empty_like(Kb), np.empty_like(Vb)
    for b in range(B):
        p, _ = probabilities(b)
        Pm = csr(p)
        o = Pm @ Vb[b]
        delta = np.einsum("ij,ij->i", dO[b], o)
        dp = np.einsum("ij,ij->i", dO[b][rows], Vb[b][indices])
        dS = csr(p * (dp - delta[rows]))
        dQ[b] = scale * (dS @ Kb[b])
        dK[b] = scale * (dS.T @ Qb[b])
        dV[b] = Pm.T @ dO[b]
    return (_unbroadcast(dQ.reshape(lead + (m, d)), Q.shape),
            _unbroadcast(dK.reshape(lead + (n, d)), K_.shape),
            _unbroadcast(dV.reshape(lead + dV.shape[1:]), V.shape))


def sparse_attention_forward(Q, K, V, pattern, scale=None, precision=None):
    """``sparse_attention`` that also returns each query's log-sum-exp (for the backward).

    Parameters
    ----------
    Q : array_like, CuPy array or CUDA torch.Tensor, shape (..., m, d)
    K : same kind, shape (..., n, d)
    V : same kind, shape (..., n, dv)
    pattern : BlockPattern, banded_array, csr_array or SciPy sparse, shape (m, n)
        On the GPU a ``BlockPattern`` (other patterns go through
        ``block_pattern``).
    scale : float, optional
        ``1 / sqrt(d)`` by default.
    precision : {None, "exact", "tf32"}, optional
        ``"tf32"``: float32 operands on the GPU run on the tensor cores in TF32
        (``mma.sync`` m16n8k8, float32 accumulation and softmax; relative errors
        around 1e-3 instead of 1e-6). The default is exact; the CPU path and
        16-bit operands ignore it. Any other value raises ``ValueError``.

    Returns
    -------
    out : array, shape (..., m, dv)
    lse : array, shape (..., m)
        ``log(sum_j exp(scale * q_i . k_j))`` over query ``i``'s keys; ``-inf`` for
        a query with no keys (whose output row is 0).

    Notes
    -----
    On the CPU everything runs in float64 (CSR products) and returns float64.
    On the GPU (CuPy arrays or CUDA PyTorch tensors, which come back as the same
    kind without copies) float16 and bfloat16 operands run on the tensor cores
    (``mma.sync`` m16n8k16, float32 accumulation and softmax) and ``out`` has
    their dtype; float32 operands run exactly in float32 (in TF32 on the tensor
    cores with ``precision="tf32"``); ``lse`` is float32.

    Examples
    --------
    >>> import numpy as np
    >>> from spla import attention
    >>> rng = np.random.default_rng(0)
    >>> Q, K, V = (rng.standard_normal((2, 6, 4)) for _ in range(3))
    >>> out, lse = attention.sparse_attention_forward(Q, K, V, attention.local_pattern(6, 2))
    >>> out.shape, lse.shape
    ((2, 6, 4), (2, 6))
    """
    _check_precision(precision, "sparse_attention_forward")
    if _on_gpu(Q, K, V):
        from spla_cuda import attention as _gpu

        return _gpu.forward(Q, K, V, pattern, scale, precision=precision)
    return _cpu_attention(Q, K, V, pattern, scale)


def sparse_attention_backward(dO, Q, K, V, pattern, out, lse, scale=None):
    """Gradients ``dQ, dK, dV`` of ``sparse_attention`` for the output gradient ``dO``.

    Parameters
    ----------
    dO : array, shape (..., m, dv)
        Gradient of the loss with respect to the output.
    Q, K, V, pattern, scale
        As given to ``sparse_attention_forward``.
    out, lse : arrays
        What ``sparse_attention_forward`` returned (the GPU path recomputes the
        probabilities from ``lse``; the CPU path recomputes both in float64).

    Returns
    -------
    dQ, dK, dV : arrays shaped like Q, K and V
        On the GPU in the operands' dtype (accumulated in float32); on the CPU
        float64, summed over broadcast leading dimensions.

    Notes
    -----
    With ``P = softmax(scale Q K^T on the pattern)``: ``dV = P^T dO``,
    ``dS = P * (dO V^T - rowsum(dO * out))`` on the pattern,
    ``dQ = scale dS K`` and ``dK = scale dS^T Q``.

    Examples
    --------
    >>> import numpy as np
    >>> from spla import attention
    >>> rng = np.random.default_rng(0)
    >>> Q, K, V, dO = (rng.standard_normal((6, 4)) for _ in range(4))
    >>> P = attention.local_pattern(6, 2)
    >>> out, lse = attention.sparse_attention_forward(Q, K, V, P)
    >>> [g.shape for g in attention.sparse_attention_backward(dO, Q, K, V, P, out, lse)]
    [(6, 4), (6, 4), (6, 4)]
    """
    if _on_gpu(dO, Q, K, V):
        from spla_cuda import attention as _gpu

        return _gpu.backward(dO, Q, K, V, pattern, out, lse, scale)
    return _cpu_attention(Q, K, V, pattern, scale, dO=dO, what="sparse_attention_backward")


def sparse_attention_torch(q, k, v, pattern, scale=None, precision=None):
    """Block-sparse attention of CUDA PyTorch tensors with autograd.

    A ``torch.autograd.Function``: the forward is ``sparse_attention_forward``'s
    GPU kernel, the backward ``sparse_attention_backward``'s, so it trains.
    Needs CuPy and PyTorch.

    Parameters
    ----------
    q, k, v : torch.Tensor on a CUDA device, shapes (..., m, d), (..., n, d), (..., n, dv)
        float16, bfloat16 or float32, one dtype; ``d, dv <= 128``.
    pattern : BlockPattern or any pattern ``block_pattern`` takes, shape (m, n)
    scale : float, optional
        ``1 / sqrt(d)`` by default.
    precision : {None, "exact", "tf32"}, optional
        ``"tf32"`` runs the forward of float32 tensors on the tensor cores in
        TF32 (see ``sparse_attention_forward``); their backward stays exact.

    Returns
    -------
    torch.Tensor, shape (..., m, dv)

    Examples
    --------
    >>> from spla import attention
    >>> bp = attention.block_pattern(attention.local_pattern(1024, 256, causal=True))
    >>> # out = attention.sparse_attention_torch(q, k, v, bp); out.sum().backward()
    """
    from spla_cuda.attention import torch_sparse_attention

    _check_precision(precision, "sparse_attention_torch")
    return torch_sparse_attention(q, k, v, pattern, scale, precision)


# -- linear attention -------------------------------------------------------------------

_FEATURE_MAPS = ("elu", "relu", "random")


def random_projection(d, num_features, seed=None):
    """The Gaussian projection ``W`` (``num_features x d``, i.i.d. N(0, 1)) of the
    ``"random"`` feature map.

    Parameters
    ----------
    d : int
        Head dimension.
    num_features : int
        Number of random features ``D >= 1``.
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    ndarray, shape (num_features, d), float64

    Examples
    --------
    >>> from spla import attention
    >>> attention.random_projection(4, 8, seed=0).shape
    (8, 4)
    """
    d = _count(d, "d")
    D = _count(num_features, "num_features", 1)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((D, d))


def _default_num_features(d):
    return max(16, int(math.ceil(d * math.log(max(d, 2)))))


def feature_map(X, kind="elu", projection=None):
    """The feature map ``phi`` of ``linear_attention``, applied to the last axis of ``X``.

    Parameters
    ----------
    X : array_like, shape (..., d)
    kind : {"elu", "relu", "random"}
        ``"elu"``: ``elu(x) + 1`` (positive); ``"relu"``: ``max(x, 0)``;
        ``"random"``: positive random features of the softmax kernel,
        ``phi(x) = exp(W x' - |x'|^2 / 2) / sqrt(D)`` with ``x' = x / d**(1/4)``,
        so that ``E[phi(q) . phi(k)] = exp(q . k / sqrt(d))`` (Choromanski et al.,
        "Rethinking attention with Performers", 2021).
    projection : ndarray, shape (D, d)
        ``W`` for ``"random"`` (see ``random_projection``).

    Returns
    -------
    ndarray, shape (..., d) or (..., D) for ``"random"``

    Examples
    --------
    >>> import numpy as np
    >>> from spla import attention
    >>> attention.feature_map(np.array([-1.0, 0.0, 2.0]), "elu")
    array([0.36787944, 1.        , 3.        ])
    """
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"feature_map: X must be real, got dtype {X.dtype.name}")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    if kind == "elu":
        return np.where(X > 0, X + 1, np.exp(np.minimum(X, 0)))
    if kind == "relu":
        return np.maximum(X, 0)
    if kind == "random":
        return _random_features(X, projection, None)
    raise ValueError(f"unknown feature map {kind!r}; choose from {_FEATURE_MAPS}")


_phi = feature_map  # linear_attention's parameter of the same name shadows it


def _random_features(X, W, stabilise):
    """phi(X) for the random map; ``stabilise`` subtracts, inside ``exp``, the maximum
    over the last axis ("row") or over the last two axes ("block"), a factor that
    cancels in linear attention's ratio."""
    if W is None:
        raise ValueError("feature map 'random' needs a projection (see random_projection)")
    W = np.asarray(W)
    d = X.shape[-1]
    if W.ndim != 2 or W.shape[1] != d:
        raise ValueError(f"projection must have shape (D, {d}), got {W.shape}")
    Xs = X / (d ** 0.25 if d else 1.0)
    z = Xs @ W.T.astype(X.dtype, copy=False) - 0.5 * np.sum(Xs * Xs, axis=-1, keepdims=True)
    if stabilise == "row":
        z = z - z.max(axis=-1, keepdims=True)
    elif stabilise == "block":
        z = z - z.max(axis=(-2, -1), keepdims=True)
    return np.exp(z) / math.sqrt(W.shape[0])


def linear_attention(Q, K, V, feature_map="elu", causal=False, num_features=None, seed=None,
                     chunk=128):
    """Linear attention ``phi(Q) (phi(K)^T V) / (phi(Q) (phi(K)^T 1))`` in O(n D dv).

    Parameters
    ----------
    Q : array_like, shape (..., m, d)
    K : array_like, shape (..., n, d)
    V : array_like, shape (..., n, dv)
        Leading dimensions broadcast. Real (float32 stays float32, else float64).
    feature_map : {"elu", "relu", "random"}
        ``phi`` (see ``spla.attention.feature_map``).
    causal : bool
        Query ``i`` sees keys ``j <= i`` only (needs ``m == n``): prefix sums of
        ``phi(K_j) V_j^T`` computed chunk by chunk.
    num_features : int, optional
        ``D`` for ``"random"``; ``max(16, ceil(d ln d))`` by default.
    seed : int or numpy.random.Generator, optional
        Seed of the random projection (``random_projection(d, D, seed)``).
    chunk : int
        Rows per chunk of the causal form (time O(n chunk D + n D dv), memory
        O(chunk^2 + D dv) per batch element).

    Returns
    -------
    ndarray, shape (..., m, dv)
        A query whose denominator is 0 (possible with ``"relu"``) gives zeros.

    Notes
    -----
    No n x n array is formed: O(n D dv) time and O(D dv) state (``D = d`` for
    ``"elu"`` and ``"relu"``). For ``"random"`` the result approximates softmax
    attention; the error of ``phi(Q) phi(K)^T`` against ``exp(Q K^T / sqrt(d))``
    shrinks like ``1 / sqrt(D)``. The maxima subtracted inside the random
    features' ``exp`` (per query row, per key block) cancel in the ratio.

    Examples
    --------
    >>> import numpy as np
    >>> from spla import attention
    >>> rng = np.random.default_rng(0)
    >>> Q, K, V = (rng.standard_normal((8, 4)) for _ in range(3))
    >>> attention.linear_attention(Q, K, V, causal=True).shape
    (8, 4)
    """
    what = "linear_attention"
    Q = _dense(Q, "Q", what)
    K_ = _dense(K, "K", what)
    V = _dense(V, "V", what)
    m, d = Q.shape[-2:]
    n = K_.shape[-2]
    if K_.shape[-1] != d:
        raise ValueError(
            f"{what}: Q and K must share the last dimension, got {Q.shape} and {K_.shape}")
    if V.shape[-2] != n:
        raise ValueError(f"{what}: K {K_.shape} and V {V.shape} must have the same number of rows")
    if causal and m != n:
        raise ValueError(f"{what}: causal attention needs as many queries as keys, got {m} and {n}")
    try:
        lead = np.broadcast_shapes(Q.shape[:-2], K_.shape[:-2], V.shape[:-2])
    except ValueError:
        raise ValueError(
            f"{what}: the leading dimensions of Q {Q.shape}, K {K_.shape} and V {V.shape} "
            "do not broadcast"
        ) from None
    chunk = _count(chunk, "chunk", 1)
    dt = np.result_type(Q.dtype, K_.dtype, V.dtype)
    dt = np.dtype(np.float32) if dt == np.float32 else np.dtype(np.float64)
    Q, K_, V = (a.astype(dt, copy=False) for a in (Q, K_, V))
    if feature_map == "random":
        if num_features is None:
            D = _default_num_features(d)
        else:
            D = _count(num_features, "num_features", 1)
        W = random_projection(d, D, seed)
        fq = _random_features(Q, W, "row")
        fk = _random_features(K_, W, "block")
    elif feature_map in ("elu", "relu"):
        fq = _phi(Q, feature_map)
        fk = _phi(K_, feature_map)
    else:
        raise ValueError(f"unknown feature map {feature_map!r}; choose from {_FEATURE_MAPS}")
    fq = np.broadcast_to(fq, lead + fq.shape[-2:])
    fk = np.broadcast_to(fk, lead + fk.shape[-2:])
    V = np.broadcast_to(V, lead + V.shape[-2:])
    if not causal:
        kv = np.swapaxes(fk, -1, -2) @ V                     # (..., D, dv)
        z = fk.sum(axis=-2)                                  # (..., D)
        num = fq @ kv
        den = np.einsum("...nD,...D->...n", fq, z)
        return _divide(num, den).astype(dt, copy=False)
    D = fq.shape[-1]
    dv = V.shape[-1]
    out = np.empty(lead + (m, dv), dtype=dt)
    state = np.zeros(lead + (D, dv), dtype=dt)
    zsum = np.zeros(lead + (D,), dtype=dt)
    for c0 in range(0, m, chunk):
        c1 = min(m, c0 + chunk)
        q, k, v = fq[..., c0:c1, :], fk[..., c0:c1, :], V[..., c0:c1, :]
        A = np.tril(q @ np.swapaxes(k, -1, -2))              # intra-chunk, j <= i
        num = q @ state + A @ v
        den = np.einsum("...nD,...D->...n", q, zsum) + A.sum(axis=-1)
        out[..., c0:c1, :] = _divide(num, den)
        state += np.swapaxes(k, -1, -2) @ v
        zsum += k.sum(axis=-2)
    return out


def _divide(num, den):
    """num / den[..., None], with zeros where den is 0."""
    safe = np.where(den == 0, 1, den)
    return np.where((den == 0)[..., None], 0, num / safe[..., None])
