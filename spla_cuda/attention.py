"""GPU implementations of the sparse-attention workloads (``kernels/attention.cu``).

One warp per query row: the lanes split the feature dimension, so every row of
Q, K and V is read with coalesced loads. ``sparse_attention`` is fused: scores,
their running maximum, ``exp`` and the weighted sum of V happen in one pass over
a row's keys (online softmax); the scores never reach memory. Banded patterns
run it through their CSR form (built on the GPU once per pattern).
"""

import math
import os

import cupy
import numpy as np

from spla._dispatch import register
from spla._dtypes import BFLOAT16
from spla._formats.banded import banded_array

from ._compile import blocks, ctype, kernel, multiprocessors
from ._launch import ensure_context, launcher
from ._tma import SWIZZLE_128B, TMA_UINT16, aligned_bytes, tensor_map
from .interop import is_torch

THREADS = 256
#: Widest value dimension of the fused kernel: 32 lanes x 8 columns.
MAX_FUSED_DV = 256


def _real(dt, what):
    if dt.kind == "c":
        raise TypeError(f"{what} on the GPU supports real dtypes (float32, float64), got {dt.name}")
    return dt


def _offsets(P):
    off = getattr(P, "_cuda_offsets", None)
    if off is None:
        off = P._cuda_offsets = cupy.asarray(P.offsets, dtype=np.int64)
    return off


@register("sddmm", "csr", "cuda")
def sddmm_csr(Q, K, P, dt):
    _real(dt, "sddmm")
    m, d = Q.shape
    Q = cupy.ascontiguousarray(Q, dtype=dt)
    K = cupy.ascontiguousarray(K, dtype=dt)
    out = cupy.zeros(P.nnz, dtype=dt)
    if P.nnz and d:
        k = kernel("attention.cu", f"sddmm_csr<{ctype(dt)}, {ctype(P.indptr.dtype)}>")
        k((blocks(m * 32, THREADS),), (THREADS,),
          (P.indptr, P.indices, Q, K, out, np.int64(m), np.int64(d)))
    return P._with_data(out)


@register("sddmm", "banded", "cuda")
def sddmm_banded(Q, K, P, dt):
    _real(dt, "sddmm")
    m, n = P.shape
    d = Q.shape[1]
    Q = cupy.ascontiguousarray(Q, dtype=dt)
    K = cupy.ascontiguousarray(K, dtype=dt)
    out = cupy.zeros((P.offsets.size, m), dtype=dt)
    if out.size and d:
        k = kernel("attention.cu", f"sddmm_banded<{ctype(dt)}>")
        k((blocks(m * 32, THREADS),), (THREADS,),
          (_offsets(P), np.int32(P.offsets.size), Q, K, out, np.int64(m), np.int64(n),
           np.int64(d)))
    return banded_array._from_parts(out, P.offsets.copy(), P.shape)


@register("softmax", "csr", "cuda")
def softmax_csr(P):
    out = cupy.empty_like(P.data)
    m = P.shape[0]
    if out.size:
        k = kernel("attention.cu", f"softmax_csr<{ctype(P.dtype)}, {ctype(P.indptr.dtype)}>")
        k((blocks(m * 32, THREADS),), (THREADS,), (P.indptr, P.data, out, np.int64(m)))
    return P._with_data(out)


@register("softmax", "banded", "cuda")
def softmax_banded(P):
    m, n = P.shape
    out = cupy.empty_like(P.data)
    if out.size:
        k = kernel("attention.cu", f"softmax_banded<{ctype(P.dtype)}>")
        k((blocks(m * 32, THREADS),), (THREADS,),
          (_offsets(P), np.int32(P.offsets.size), P.data, out, np.int64(m), np.int64(n)))
    return banded_array._from_parts(out, P.offsets.copy(), P.shape)


def _attend(Q, K, V, P, scale):
    """Q (B, m, d), K (B, n, d), V (B, n, dv), contiguous, one dtype."""
    B, m, d = Q.shape
    n, dv = V.shape[1], V.shape[2]
    dt = Q.dtype
    out = cupy.zeros((B, m, dv), dtype=dt)
    if out.size == 0 or P.nnz == 0:
        return out
    if dv > MAX_FUSED_DV:
        raise ValueError(
            f"sparse_attention on the GPU supports value dimensions up to {MAX_FUSED_DV}, "
            f"got {dv}; split V into column blocks")
    per_lane = 1
    while 32 * per_lane < dv:
        per_lane *= 2
    k = kernel("attention.cu",
               f"attend_csr<{ctype(dt)}, {ctype(P.indptr.dtype)}, {per_lane}>")
    k((blocks(B * m * 32, THREADS),), (THREADS,),
      (P.indptr, P.indices, Q, K, V, out, np.int64(B), np.int64(m), np.int64(n),
       np.int64(d), np.int64(dv), dt.type(scale)))
    return out


@register("sparse_attention", "csr", "cuda")
def sparse_attention_csr(Q, K, V, P, scale):
    return _attend(Q, K, V, P, scale)


@register("sparse_attention", "banded", "cuda")
def sparse_attention_banded(Q, K, V, P, scale):
    csr = getattr(P, "_cuda_csr", None)
    if csr is None:
        csr = P._cuda_csr = P.tocsr()
    return _attend(Q, K, V, csr, scale)


# -- block-sparse attention (spla.attention.block_pattern) on the tensor cores ----------------
#
# attention_tc.cu: float16/bfloat16 forward on the tensor cores (mma.sync m16n8k16,
# float32 accumulation and online softmax), exact float32 forward on the CUDA
# cores, and a first backward (CUDA cores, float32 accumulation). Operands are
# CuPy arrays or CUDA PyTorch tensors (viewed through DLPack, no copies when
# they are contiguous with head dimension 64 or 128); results come back as the
# same kind.

#: Head dimensions the kernels are built for; others are padded with zeros to the next.
HEAD_DIMS = (64, 128)
_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
#: (source, expression, options, GPU): the kernels (``kernel`` keeps one per source,
#: expression and options) whose shared-memory limit is raised on that GPU; each
#: expression has one size
_RAISED = set()


def _tc_kernel(expression, smem):
    return _tc_kernel_in("attention_tc.cu", expression, smem)


def _tc_kernel_in(source, expression, smem, options=()):
    """The kernel ``expression`` of ``source``, its shared-memory limit raised to
    ``smem`` on the current GPU (the limit is an attribute of each GPU's loaded
    function, so it is raised once per kernel and GPU)."""
    k = kernel(source, expression, options)
    if smem > 48 * 1024:
        key = (source, expression, options, cupy.cuda.runtime.getDevice())
        if key not in _RAISED:
            try:
                k.max_dynamic_shared_size_bytes = smem
            except AttributeError:
                cupy.cuda.driver.funcSetAttribute(
                    k.kernel.ptr, _CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem)
            _RAISED.add(key)
    return k


class _Operand:
    """A CuPy view of a CuPy array or CUDA torch tensor; 16-bit floats as uint16 bits."""

    def __init__(self, x, name, what):
        self.torch = False
        if is_torch(x):
            import torch

            if not x.is_cuda:
                raise ValueError(f"{what}: {name} is a PyTorch CPU tensor; the GPU kernels need "
                                 "CUDA tensors (tensor.cuda())")
            self.torch = True
            self.device = x.device.index if x.device.index is not None else torch.cuda.current_device()
            names = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32"}
            if x.dtype not in names:
                raise TypeError(f"{what}: {name} has dtype {x.dtype}; the GPU kernels take "
                                "float16, bfloat16 or float32")
            self.kind = names[x.dtype]
            x = x.detach()
            if self.kind != "float32":
                x = x.view(torch.int16)
            arr = cupy.from_dlpack(x)
            self.arr = arr.view(cupy.uint16) if self.kind != "float32" else arr
        elif isinstance(x, cupy.ndarray):
            self.device = x.device.id
            dt = x.dtype
            if dt == np.float16:
                self.kind, self.arr = "float16", x.view(cupy.uint16)
            elif BFLOAT16 is not None and dt == BFLOAT16:
                self.kind, self.arr = "bfloat16", x.view(cupy.uint16)
            elif dt == np.float32:
                self.kind, self.arr = "float32", x
            else:
                raise TypeError(f"{what}: {name} has dtype {dt.name}; the GPU kernels take "
                                "float16, bfloat16 or float32")
        else:
            raise TypeError(f"{what}: {name} must be a CuPy array or a CUDA torch.Tensor on the "
                            f"GPU path, got {type(x).__name__}")
        if self.arr.ndim < 2:
            raise ValueError(f"{what}: {name} needs at least 2 dimensions (..., rows, head_dim), "
                             f"got shape {tuple(self.arr.shape)}")
        self.shape = tuple(self.arr.shape)


def _wrap(arr, kind, as_torch):
    """A kernel result (uint16 bits or float32) as CuPy of the right dtype or as torch."""
    if as_torch:
        import torch

        if kind == "float32" or arr.dtype == np.float32:
            return torch.from_dlpack(arr)
        t = torch.from_dlpack(arr.view(cupy.int16))
        return t.view(torch.float16 if kind == "float16" else torch.bfloat16)
    if arr.dtype == np.float32:
        return arr
    if kind == "float16":
        return arr.view(cupy.float16)
    if BFLOAT16 is None:
        raise TypeError("bfloat16 results need ml-dtypes: pip install 'spla[bfloat16]'")
    return arr.view(BFLOAT16)


def _block(pattern, what):
    from spla.ml.attention import BLOCK_K, BLOCK_Q, BlockPattern, block_pattern

    if isinstance(pattern, BlockPattern) and (pattern.block_q, pattern.block_k) == (BLOCK_Q, BLOCK_K):
        return pattern
    cached = getattr(pattern, "_spla_block_pattern", None)
    if cached is None:
        try:
            cached = block_pattern(pattern)
        except TypeError as e:
            raise TypeError(f"{what}: {e}") from None
        try:
            pattern._spla_block_pattern = cached
        except AttributeError:
            pass
    return cached


def _pattern_store(bp):
    """The dict in which a BlockPattern keeps what the GPU code derives from it (its
    arrays per device, ``_parts``, ``_tile_starts``, ``_pair_parts``; ``_long_row_bound``'s
    counts), made on first use."""
    if bp._device_parts is None:
        bp._device_parts = {}
    return bp._device_parts


def _parts(bp):
    """The pattern's arrays on the current GPU (copied once per device)."""
    dev = cupy.cuda.Device().id
    store = _pattern_store(bp)
    if dev not in store:
        masks = bp.masks if bp.masks.size else np.zeros((1, bp.block_q, bp.block_k // 32), np.uint32)
        keys = bp.tile_keys if bp.tile_keys.size else np.full((1, bp.block_k), -1, np.int32)
        tmask = bp.tile_mask if bp.tile_mask.size else np.full(1, -1, np.int32)
        store[dev] = tuple(cupy.asarray(a) for a in (bp.tile_ptr, keys, tmask, masks, bp.order))
    return store[dev]


def _tile_starts(bp):
    """The wgmma kernels' ``tile_start`` on the current GPU (copied once per device):
    per tile of the pattern its first key (query, for a transposed pattern) where its
    64 are consecutive (the kernels load those by TMA), else -1 (gathered)."""
    store = _pattern_store(bp)
    key = ("starts", cupy.cuda.Device().id)
    if key not in store:
        keys = bp.tile_keys if bp.tile_keys.size else np.full((1, bp.block_k), -1, np.int32)
        first = keys[:, 0]
        whole = (first >= 0) & np.all(keys == first[:, None] + np.arange(keys.shape[1]), axis=1)
        store[key] = cupy.asarray(np.where(whole, first, -1).astype(np.int32))
    return store[key]


#: The tensor maps of the wgmma kernels' two gathered operands (K and V; Q and dO for
#: the dK/dV blocks) by (addresses, rows, head dimension), the only things a map
#: depends on: a training step's new tensors each miss once, and the forward and the
#: backward share K's and V's.
_TILE_MAPS = {}


def _tile_maps(a_ptr, b_ptr, rows, Dp):
    """The two CUtensorMaps of the wgmma kernels' TMA copies (K's and V's, or Q's
    and dO's, ``rows x Dp`` row-major 16-bit arrays at ``a_ptr``, ``b_ptr``; boxes
    of 64 x 64, 128-byte swizzle) as the 256 bytes of attention_wg.cu's ``TmaPair``,
    a by-value kernel parameter (``_launch`` code ``T``): the launch carries them,
    so no copy to the GPU precedes it. The addresses are 16-byte aligned, as the
    maps (and the cp.async copies) need: ``_prepare`` and ``_torch_fast`` see to it."""
    key = (a_ptr, b_ptr, rows, Dp)
    maps = _TILE_MAPS.get(key)
    if maps is None:
        if len(_TILE_MAPS) >= 64:
            _TILE_MAPS.clear()
        pair = aligned_bytes(256)   # cuTensorMapEncodeTiled writes to 64-byte aligned memory
        for i, ptr in enumerate((a_ptr, b_ptr)):
            tensor_map(ptr, TMA_UINT16, 2, rows, Dp, 64, 64, SWIZZLE_128B, out=pair[128 * i:128 * (i + 1)])
        maps = _TILE_MAPS[key] = pair.tobytes()
    return maps


def _pair_parts(bp):
    """attn_fwd_wg2's pair arrays (``BlockPattern.pair_tiles``) on the current GPU:
    (pair_ptr, pair_tiles, pair_order), copied once per device."""
    store = _pattern_store(bp)
    key = ("pairs", cupy.cuda.Device().id)
    if key not in store:
        pair_ptr, pair_tiles, order = bp.pair_tiles()
        if not pair_tiles.size:
            pair_tiles = np.full((1, 2), -1, np.int32)
        store[key] = tuple(cupy.asarray(a) for a in (pair_ptr, pair_tiles, order))
    return store[key]


def _addresses(bp, dev, name, arrays):
    """``(blocks, addresses)``: the device addresses of the pattern's arrays
    ``arrays(bp)`` (``_parts``, ``_pair_parts``; the first is the pointer array
    whose size less one is the grid's second dimension) on GPU ``dev``, the current
    one, as the launches take them (``_launch``); cached in the pattern's store."""
    store = _pattern_store(bp)
    key = (name, dev)
    got = store.get(key)
    if got is None:
        parts = arrays(bp)
        got = store[key] = (parts[0].size - 1, tuple(a.data.ptr for a in parts))
    return got


def _tiles_at(bp, dev):
    """(query blocks, addresses of ``_parts``: tile_ptr, tile_keys, tile_mask, masks, order)."""
    return _addresses(bp, dev, "tiles@", _parts)


def _pairs_at(bp, dev):
    """(pairs of query blocks, addresses of ``_pair_parts``: pair_ptr, pair_tiles, pair_order)."""
    return _addresses(bp, dev, "pairs@", _pair_parts)


def _starts_at(bp, dev):
    """The address of ``_tile_starts(bp)`` on GPU ``dev``, the current one."""
    return _addresses(bp, dev, "starts@", lambda b: (_tile_starts(b),))[1][0]


def _prepare(ops, names, what, pattern, same_lead=False):
    """Checks (before any launch) and the operands as (BH, rows, Dp) contiguous slices."""
    kinds = {o.kind for o in ops}
    if len(kinds) > 1:
        raise TypeError(f"{what}: " + ", ".join(f"{n} is {o.kind}" for n, o in zip(names, ops))
                        + "; all operands need one dtype")
    devices = {(o.device) for o in ops}
    if len(devices) > 1:
        raise ValueError(f"{what}: the operands are on different GPUs "
                         + ", ".join(f"{n}: cuda:{o.device}" for n, o in zip(names, ops)))
    bp = _block(pattern, what)
    Q, K, V = ops[:3]
    m, n = bp.shape
    d, dv = Q.shape[-1], V.shape[-1]
    if Q.shape[-2] != m or K.shape[-2] != n or V.shape[-2] != n:
        raise ValueError(f"{what}: Q {Q.shape}, K {K.shape}, V {V.shape} do not fit a pattern of "
                         f"shape {bp.shape} (needs Q with {m} rows, K and V with {n} rows)")
    if K.shape[-1] != d:
        raise ValueError(f"{what}: Q and K need one head dimension, got {Q.shape} and {K.shape}")
    if d == 0 or dv == 0:
        raise ValueError(f"{what}: head dimensions must be at least 1, got d = {d}, dv = {dv}")
    if max(d, dv) > HEAD_DIMS[-1]:
        raise ValueError(f"{what}: the GPU kernels take head dimensions up to {HEAD_DIMS[-1]}, "
                         f"got d = {d}, dv = {dv}")
    try:
        lead = np.broadcast_shapes(*(o.shape[:-2] for o in ops))
    except ValueError:
        raise ValueError(f"{what}: the leading (batch, head) dimensions of "
                         + ", ".join(f"{n} {o.shape}" for n, o in zip(names, ops))
                         + " do not broadcast") from None
    if same_lead and any(o.shape[:-2] != lead for o in ops):
        raise ValueError(f"{what}: the backward needs one leading shape for "
                         + ", ".join(f"{n} {o.shape}" for n, o in zip(names, ops)))
    Dp = next(h for h in HEAD_DIMS if h >= max(d, dv))
    BH = int(np.prod(lead)) if lead else 1
    flat = []
    with cupy.cuda.Device(ops[0].device), _stream(ops):
        ensure_context(ops[0].device)   # inside the guard: the thread keeps its device
        for o in ops:
            rows = o.shape[-2]
            a = cupy.broadcast_to(o.arr, lead + o.shape[-2:]).reshape(BH, rows, o.shape[-1]) \
                if o.shape[:-2] != lead else o.arr.reshape(BH, rows, o.shape[-1])
            if o.shape[-1] != Dp:
                p = cupy.zeros((BH, rows, Dp), dtype=a.dtype)
                p[..., :o.shape[-1]] = a
                a = p
            a = cupy.ascontiguousarray(a)
            if a.data.ptr % 16:  # cp.async copies 16-byte pieces
                a = a.copy()
            flat.append(a)
    return bp, lead, BH, d, dv, Dp, kinds.pop(), flat


def _fwd_smem(kind, Dp):
    if kind == "float32":
        return (3 * 64 * (Dp + 1) + 64 * 65 + 64) * 4
    return 5 * 64 * (Dp + 8) * 2


def _stream(ops):
    """PyTorch's current stream for torch operands (so that the kernels order with
    PyTorch's work), else CuPy's."""
    if ops[0].torch:
        import torch

        return cupy.cuda.ExternalStream(torch.cuda.current_stream(ops[0].device).cuda_stream,
                                        ops[0].device)
    return cupy.cuda.get_current_stream()


def _torch_fast(Q, K, V, pattern):
    """Whether the launch can take the torch tensors' pointers as they are: CUDA
    tensors of one device, dtype and shape, contiguous, 16-byte aligned, head
    dimension 64 or 128, a 64 x 64 BlockPattern that fits."""
    from spla.ml.attention import BlockPattern

    if not (is_torch(Q) and is_torch(K) and is_torch(V)) or type(pattern) is not BlockPattern:
        return False
    import torch

    shape = Q.shape
    return (Q.is_cuda and K.shape == shape and V.shape == shape and len(shape) >= 2
            and shape[-1] in HEAD_DIMS and Q.dtype == K.dtype == V.dtype
            and Q.dtype in (torch.float16, torch.bfloat16) and Q.device == K.device == V.device
            and pattern.shape == (shape[-2], shape[-2]) and pattern.block_q == 64
            and pattern.block_k == 64 and Q.is_contiguous() and K.is_contiguous()
            and V.is_contiguous() and not (Q.data_ptr() % 16 or K.data_ptr() % 16
                                           or V.data_ptr() % 16))


def _torch_stream_ptr(dev):
    """The handle of PyTorch's current stream on GPU ``dev``, on which the launches
    of torch operands go (so that they order with PyTorch's work). PyTorch's own
    compiled code reads it with ``torch._C._cuda_getCurrentRawStream``, 1-2 us
    cheaper than making a ``torch.cuda.Stream``; the public call where that is gone."""
    import torch

    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
    return raw(dev) if raw is not None else torch.cuda.current_stream(dev).cuda_stream


def _torch_forward(Q, K, V, bp, scale, variant=None):
    """The forward of contiguous torch tensors through their pointers (no CuPy
    views: the host work per call is a few attribute reads and one launch)."""
    import torch

    shape = Q.shape
    m, D = shape[-2], shape[-1]
    BH = Q.numel() // (m * D) if m * D else 0
    out = torch.empty(shape, dtype=Q.dtype, device=Q.device)
    lse = torch.empty(shape[:-1], dtype=torch.float32, device=Q.device)
    if out.numel() == 0:
        return out, lse
    scale = (1.0 / math.sqrt(D)) if scale is None else float(scale)
    dev = Q.get_device()
    kind = "float16" if Q.dtype == torch.float16 else "bfloat16"
    with cupy.cuda.Device(dev):
        ensure_context(dev)
        _launch_forward(kind, _variant(variant, D, bp, BH), None, bp, BH, m, m, D,
                        (Q.data_ptr(), K.data_ptr(), V.data_ptr(), out.data_ptr(), lse.data_ptr()),
                        scale, dev, _torch_stream_ptr(dev))
    return out, lse


_TAGS = {"float16": "f16", "bfloat16": "bf16", "float32": "float"}
#: ``_launch`` parameter codes of the forward kernels: Q, K, V, O, lse and the
#: pattern's five arrays (tile_ptr, tile_keys, tile_mask, masks, order) ...
_FWD_TILES = "p" * 10
#: ... and after each kernel's own parameters, the slices' strides and the scale
_FWD_TAIL = "qqqf"


def _launch_forward(kind, variant, precision, bp, BH, m, n, Dp, ptrs, scale, dev, stream):
    """Launch the forward kernel of ``kind`` ("float16", "bfloat16", "float32"),
    ``variant`` (16-bit, from ``_variant``) and ``precision`` (float32) on the
    current GPU ``dev`` and ``stream``: ``ptrs`` are the device addresses of q, k, v
    ((BH, m or n, Dp) contiguous, 16-byte aligned), out (as q) and lse ((BH, m)
    float32)."""
    tag = _TAGS[kind]
    q, k, v, o, lse = ptrs
    tail = (m * Dp, n * Dp, n * Dp, np.float32(scale * _LOG2E))
    if variant in ("wg2", "wg_pp"):
        kern, threads, smem = _wg2_kernel(tag, Dp) if variant == "wg2" else _wg_pp_kernel(tag, Dp)
        nqb, pairs = _pairs_at(bp, dev)     # the grid runs over pairs of query blocks
        pair_ptr, pair_tiles, pair_order = pairs
        tile_keys, tile_mask, masks = _tiles_at(bp, dev)[1][1:4]
        args = (q, k, v, o, lse, pair_ptr, pair_tiles, tile_keys, tile_mask, masks, pair_order)
        if variant == "wg_pp":
            sig = "p" * 12 + "Ti" + _FWD_TAIL
            args += (_starts_at(bp, dev), _tile_maps(k, v, BH * n, Dp), m)
        else:
            sig = "p" * 11 + "i" + _FWD_TAIL
            args += (m,)
        name = f"attention forward {variant}, d = {Dp}"
        launcher(kern, sig, name)(BH, nqb, threads, smem, stream, args + tail)
        return
    nqb, tiles = _tiles_at(bp, dev)
    args = (q, k, v, o, lse) + tiles
    if kind == "float32" and precision == "tf32":
        smem = _tf32_smem(Dp)
        kern = _tc_kernel_in("attention_tf32.cu", f"attn_fwd_tf32<{Dp}>", smem)
        threads, sig, args = 128, _FWD_TILES + "i" + _FWD_TAIL, args + (m,)
    elif kind == "float32" and os.environ.get("SPLA_ATTENTION_F32", "tiled") != "simple":
        smem = (3 * 64 * (Dp + 1) + 64 * 65 + 3 * 64) * 4
        kern = _tc_kernel_in("attention_f32.cu", f"attn_fwd_f32_rt<{Dp}>", smem)
        threads, sig, args = 256, _FWD_TILES + "ii" + _FWD_TAIL, args + (m, n)
    elif kind == "float32" or variant == "scalar":
        smem = _fwd_smem("float32", Dp)
        kern = _tc_kernel(f"attn_fwd_f32<{tag}, {Dp}>", smem)
        threads, sig, args = 256, _FWD_TILES + "ii" + _FWD_TAIL, args + (m, n)
    elif variant == "tc2":
        smem = _fwd_smem(kind, Dp)
        kern = _tc_kernel_in("attention_tc2.cu", f"attn_fwd_tc2<{tag}, {Dp}>", smem)
        threads, sig, args = 64, _FWD_TILES + "i" + _FWD_TAIL, args + (m,)
    elif variant in ("wg", "wg_sync"):
        kern, threads, smem = _wg_kernel(tag, Dp, variant)
        sig = _FWD_TILES + "pTi" + _FWD_TAIL
        args += (_starts_at(bp, dev), _tile_maps(k, v, BH * n, Dp), m)
    else:
        smem = _fwd_smem(kind, Dp)
        kern = _tc_kernel(f"attn_fwd_tc<{tag}, {Dp}>", smem)
        threads, sig, args = 128, _FWD_TILES + "i" + _FWD_TAIL, args + (m,)
    name = f"attention forward {variant or kind}, d = {Dp}"
    launcher(kern, sig, name)(BH, nqb, threads, smem, stream, args + tail)


#: The 16-bit forward kernels ``variant`` (or ``SPLA_ATTENTION_FORWARD``) may name.
FORWARD_VARIANTS = ("tc", "tc2", "scalar", "wg", "wg_sync", "wg2", "wg_pp")


def _variant(variant, Dp, bp=None, BH=1):
    """The 16-bit forward kernel on the current GPU: "tc" (attn_fwd_tc, the default off
    Hopper), "tc2" (attn_fwd_tc2, 2 warps of 32 rows; head dimension 64 only, "tc"
    otherwise), "scalar" (the CUDA-core attn_fwd_f32), "wg" (attn_fwd_wg of
    attention_wg.cu: Hopper's wgmma, sm_90a only; the default on Hopper at head
    dimension 64, the same bits as "tc") or "wg_sync" (the same with each
    P V product waited on at once instead of overlapping the next tile's softmax) or
    "wg2" (attn_fwd_wg2: two query blocks per thread block, one warpgroup each,
    loading the key tiles they share once; sm_90a only, not the default) or "wg_pp"
    (attn_fwd_wg_pp: wg2's pairs with a producer warpgroup filling an mbarrier ring
    and the two consumer warpgroups ping-ponging; sm_90a only, the default on Hopper at
    head dimension 128 on patterns with long rows); ``SPLA_ATTENTION_FORWARD`` picks
    when ``variant`` is None. ``bp`` and ``BH`` (the pattern and the number of
    (batch x head) slices) inform the default (``_default_forward``)."""
    v = variant or os.environ.get("SPLA_ATTENTION_FORWARD") or _default_forward(Dp, bp, BH)
    if v not in FORWARD_VARIANTS:
        raise ValueError(f"unknown forward kernel {v!r}; choose one of {', '.join(FORWARD_VARIANTS)}")
    return "tc" if v == "tc2" and Dp != 64 else v


def _default_forward(Dp, bp=None, BH=1):
    """The forward kernel without a choice: "tc" off Hopper; on Hopper "wg" (all give
    "tc"'s bits), but "wg_pp" at head dimension 128 where the pattern's longest row of
    tiles sets the time (``_long_row_bound``). On an H100 (session 21, bfloat16, the
    suite's shapes) "wg" with its TMA loads ran 1.04-1.08x "wg_pp" on local windows at
    d = 128, and 0.72x on global + local (non-causal: 64 global queries attend to all
    16,384 keys), where "wg_pp"'s consumers, which leave the loads to a producer, take
    a tile in 0.92 us against "wg"'s 1.29 us."""
    if not _hopper():
        return "tc"
    return "wg_pp" if Dp == 128 and bp is not None and _long_row_bound(bp, BH) else "wg"


def _long_row_bound(bp, BH):
    """Whether a query block's tiles (one thread block takes them one after another)
    outnumber half of an SM's share of all the grid's tiles: then that row's latency,
    not the GPU's throughput, sets the forward's time."""
    store = _pattern_store(bp)
    if "row_tiles" not in store:
        counts = np.diff(bp.tile_ptr)
        store["row_tiles"] = (int(counts.max(initial=0)), int(counts.sum()))
    longest, total = store["row_tiles"]
    return 2 * longest * multiprocessors() > total * BH


def _hopper():
    """Whether the current GPU is a Hopper (compute capability 9.0), where the 16-bit
    kernels default to the wgmma ones (attention_wg.cu, attention_wg_bwd.cu)."""
    dev = cupy.cuda.Device().id
    cc = _CC.get(dev)
    if cc is None:
        cc = _CC[dev] = cupy.cuda.Device(dev).compute_capability
    return cc == "90"


_CC = {}


def _wg_stages(Dp, variant):
    """Depth of attn_fwd_wg's ring: 4 (two tiles ahead) for "wg" at d = 64, where 3
    blocks of 4 stages fit an SM; 3 (one ahead) at d = 128 and for "wg_sync"."""
    return 4 if variant == "wg" and Dp == 64 else 3


def _wg_smem(Dp, stages):
    """Shared memory of attn_fwd_wg (attention_wg.cu's WgConfig): the stages of a K
    and a V tile of 64 rows, 1 KiB to align the swizzled tiles, 64 bytes of
    mbarriers."""
    return stages * 2 * 64 * Dp * 2 + 1024 + 64


def _wg_kernel(tag, Dp, variant="wg"):
    """(kernel, threads, shared memory) of attn_fwd_wg ("wg": overlapped, "wg_sync":
    not); ``ValueError`` on a GPU other than compute capability 9.0 (wgmma is an
    sm_90a instruction)."""
    cc = cupy.cuda.Device().compute_capability
    if cc != "90":
        raise ValueError(f"the wgmma forward (variant='wg') needs a Hopper GPU (compute "
                         f"capability 9.0); this one is {cc[:-1]}.{cc[-1]}")
    stages = _wg_stages(Dp, variant)
    smem = _wg_smem(Dp, stages)
    overlap = "true" if variant == "wg" else "false"
    kern = _tc_kernel_in("attention_wg.cu", f"attn_fwd_wg<{tag}, {Dp}, {overlap}, {stages}>",
                         smem, options=("-arch=sm_90a",))
    return kern, 128, smem


#: Depth of attn_fwd_wg2's ring: one block of 256 threads per SM (its registers),
#: so 4 stages fit at either head dimension (132 KiB at d = 128).
_WG2_STAGES = 4


def _wg2_kernel(tag, Dp):
    """(kernel, threads, shared memory) of attn_fwd_wg2 (256 threads: two warpgroups,
    one per query block of a pair); ``ValueError`` off Hopper, as ``_wg_kernel``."""
    cc = cupy.cuda.Device().compute_capability
    if cc != "90":
        raise ValueError(f"the wgmma forward (variant='wg2') needs a Hopper GPU (compute "
                         f"capability 9.0); this one is {cc[:-1]}.{cc[-1]}")
    smem = _wg_smem(Dp, _WG2_STAGES)
    kern = _tc_kernel_in("attention_wg.cu", f"attn_fwd_wg2<{tag}, {Dp}, {_WG2_STAGES}>",
                         smem, options=("-arch=sm_90a",))
    return kern, 256, smem


#: Depth of attn_fwd_wg_pp's ring per head dimension: one block of 384 threads per
#: SM (its registers), so the ring takes what shared memory the two Q tiles leave
#: (attention_wg.cu's WgPpConfig: 145 KiB at d = 64, 193 KiB at d = 128).
_WG_PP_STAGES = {64: 8, 128: 5}


def _wg_pp_smem(Dp, stages):
    """Shared memory of attn_fwd_wg_pp (attention_wg.cu's WgPpConfig): the ring of
    K and V tiles, the consumers' two Q tiles, 2 mbarriers a stage, 1 KiB of
    alignment slack."""
    tile = 64 * Dp * 2
    return (2 * stages + 2) * tile + 2 * stages * 8 + 1024


def _wg_pp_kernel(tag, Dp):
    """(kernel, threads, shared memory) of attn_fwd_wg_pp (384 threads: a producer
    warpgroup and two consumer warpgroups, one per query block of a pair);
    ``ValueError`` off Hopper, as ``_wg_kernel``."""
    cc = cupy.cuda.Device().compute_capability
    if cc != "90":
        raise ValueError(f"the wgmma forward (variant='wg_pp') needs a Hopper GPU (compute "
                         f"capability 9.0); this one is {cc[:-1]}.{cc[-1]}")
    stages = _WG_PP_STAGES[Dp]
    smem = _wg_pp_smem(Dp, stages)
    kern = _tc_kernel_in("attention_wg.cu", f"attn_fwd_wg_pp<{tag}, {Dp}, {stages}>",
                         smem, options=("-arch=sm_90a",))
    return kern, 384, smem


#: The values of ``precision``: None and "exact" (float32 operands run exactly on the
#: CUDA cores), "tf32" (float32 operands run on the tensor cores in TF32).
PRECISIONS = (None, "exact", "tf32")


def _precision(precision, what):
    if not (precision is None or isinstance(precision, str)) or precision not in PRECISIONS:
        raise ValueError(f"{what}: precision must be None, 'exact' or 'tf32', got {precision!r}")
    return precision


def _tf32_smem(Dp):
    return 5 * 64 * (Dp + 4) * 4


def forward(Q, K, V, pattern, scale=None, variant=None, precision=None):
    """``(out, lse)`` of block-sparse attention on the GPU (see
    ``spla.attention.sparse_attention_forward``); ``variant`` picks the 16-bit
    kernel (see ``_variant``); ``precision="tf32"`` runs float32 operands on the
    tensor cores in TF32 (``attention_tf32.cu``; 16-bit operands are unaffected)."""
    _precision(precision, "sparse_attention")
    if _torch_fast(Q, K, V, pattern):
        return _torch_forward(Q, K, V, pattern, scale, variant)
    what = "sparse_attention"
    ops = [_Operand(x, n, what) for x, n in ((Q, "Q"), (K, "K"), (V, "V"))]
    bp, lead, BH, d, dv, Dp, kind, (q, k, v) = _prepare(ops, ("Q", "K", "V"), what, pattern)
    m, n = bp.shape
    scale = (1.0 / math.sqrt(d)) if scale is None else float(scale)
    dev = ops[0].device
    with cupy.cuda.Device(dev), _stream(ops):
        out = cupy.empty((BH, m, Dp), dtype=q.dtype)
        lse = cupy.empty((BH, m), dtype=np.float32)
        if out.size:
            fv = _variant(variant, Dp, bp, BH) if kind != "float32" else None
            _launch_forward(kind, fv, precision, bp, BH, m, n, Dp,
                            (q.data.ptr, k.data.ptr, v.data.ptr, out.data.ptr, lse.data.ptr),
                            scale, dev, cupy.cuda.get_current_stream().ptr)
        if Dp != dv:
            out = out[..., :dv]
        out = out.reshape(lead + (m, dv))
        lse = lse.reshape(lead + (m,))
    as_torch = ops[0].torch
    return _wrap(out, kind, as_torch), (_wrap(lse, "float32", True) if as_torch else lse)


_LOG2E = 1.4426950408889634


def backward(dO, Q, K, V, pattern, out, lse, scale=None, variant=None):
    """``(dQ, dK, dV)`` of block-sparse attention on the GPU (see
    ``spla.attention.sparse_attention_backward``); ``variant`` picks the 16-bit
    kernels (see ``_bwd_variant``)."""
    what = "sparse_attention_backward"
    bwd = _bwd_variant(variant)
    if bwd != "scalar" and _torch_fast(Q, K, V, pattern) and _torch_fast_grads(dO, Q, out, lse):
        return _torch_backward(dO, Q, K, V, pattern, out, lse, scale, bwd)
    names = ("Q", "K", "V", "out", "dO")
    ops = [_Operand(x, nm, what) for x, nm in zip((Q, K, V, out, dO), names)]
    bp, lead, BH, d, dv, Dp, kind, (q, k, v, o, do) = _prepare(ops, names, what, pattern,
                                                               same_lead=True)
    m, n = bp.shape
    if ops[3].shape != lead + (m, dv) or ops[4].shape != lead + (m, dv):
        raise ValueError(f"{what}: out {ops[3].shape} and dO {ops[4].shape} must have the "
                         f"output's shape {lead + (m, dv)}")
    if is_torch(lse):
        lse = cupy.from_dlpack(lse.detach())
    lse = cupy.ascontiguousarray(cupy.asarray(lse, dtype=np.float32)).reshape(-1)
    if lse.size != BH * m:
        raise ValueError(f"{what}: lse has {lse.size} values, expected {lead + (m,)}")
    scale = (1.0 / math.sqrt(d)) if scale is None else float(scale)
    tag = _TAGS[kind]
    dev = ops[0].device
    with cupy.cuda.Device(dev), _stream(ops):
        stream = cupy.cuda.get_current_stream().ptr
        if kind != "float32" and bwd != "scalar":
            bwd = _bwd_variant_here(bwd)
            grads = tuple(cupy.zeros((BH, rows, Dp), dtype=np.uint16) for rows in (m, n, n))
            if grads[0].size and grads[1].size:
                scratch = cupy.empty((2, BH * m), dtype=np.float32)
                _backward_tc(tag, bp, BH, m, n, Dp, tuple(x.data.ptr for x in (q, k, v, o, do, lse)),
                             tuple(g.data.ptr for g in grads), (scratch[0].data.ptr, scratch[1].data.ptr),
                             scale, bwd, dev, stream)
            dq, dk, dv_ = grads
        else:
            dq = cupy.zeros((BH, m, Dp), dtype=q.dtype)
            dk32 = cupy.zeros((BH, n, Dp), dtype=np.float32)
            dv32 = cupy.zeros((BH, n, Dp), dtype=np.float32)
            if dq.size and dk32.size:
                nqb, tiles = _tiles_at(bp, dev)
                smem = (4 * 64 * (Dp + 1) + 2 * 64 * 65 + 128) * 4
                kern = _tc_kernel(f"attn_bwd<{tag}, {Dp}>", smem)
                launcher(kern, "p" * 14 + "iiqqqqf", f"attn_bwd<{tag}, {Dp}>")(
                    BH, nqb, 256, smem, stream,
                    tuple(x.data.ptr for x in (q, k, v, o, do, lse, dq, dk32, dv32)) + tiles
                    + (m, n, m * Dp, n * Dp, n * Dp, m * Dp, np.float32(scale)))
            if kind == "float32":
                dk, dv_ = dk32, dv32
            else:
                dk = cupy.empty(dk32.shape, dtype=np.uint16)
                dv_ = cupy.empty(dv32.shape, dtype=np.uint16)
                conv = launcher(kernel("attention_tc.cu", f"to_dtype<{tag}>"), "ppq", f"to_dtype<{tag}>")
                for src, dst in ((dk32, dk), (dv32, dv_)):
                    if src.size:
                        conv(min(blocks(src.size, 256), 4096), 1, 256, 0, stream,
                             (src.data.ptr, dst.data.ptr, src.size))
        res = []
        for g, rows, width in ((dq, m, d), (dk, n, d), (dv_, n, dv)):
            if Dp != width:
                g = g[..., :width]
            res.append(_wrap(g.reshape(lead + (rows, width)), kind, ops[0].torch))
    return tuple(res)


#: The 16-bit backward kernels ``variant`` (or ``SPLA_ATTENTION_BACKWARD``) may name.
BACKWARD_VARIANTS = ("tc", "scalar", "wg", "wg_sync", "wg_rs")


def _bwd_variant(variant):
    """The 16-bit backward named by ``variant`` (or ``SPLA_ATTENTION_BACKWARD``), None
    for the GPU's default ("wg_sync" on Hopper, "tc" elsewhere): "tc"
    (attention_tc_bwd.cu, mma.sync), "scalar" (the first, CUDA-core atomicAdd
    backward), "wg" (attention_wg_bwd.cu: the tc kernels with their products on
    Hopper's wgmma, sm_90a only), "wg_sync" (the same with each tile's dV, dK and dQ
    products waited on within the tile instead of overlapping the next tile's) or
    "wg_rs" ("wg" with the A operand of S and dP in registers, the forward's product
    form, instead of shared memory; d = 64, "wg_sync" at d = 128)."""
    v = variant or os.environ.get("SPLA_ATTENTION_BACKWARD")
    if v is None:
        return None
    if v not in BACKWARD_VARIANTS:
        raise ValueError(f"unknown backward kernel {v!r}; choose one of {', '.join(BACKWARD_VARIANTS)}")
    return v


def _bwd_variant_here(bwd):
    """The 16-bit backward to launch on the current GPU: ``bwd`` (from ``_bwd_variant``)
    or, for None, the GPU's default ("wg_sync" on Hopper, "tc" elsewhere); a wgmma
    variant off Hopper is a ``ValueError`` before any launch."""
    bwd = bwd or ("wg_sync" if _hopper() else "tc")
    if bwd.startswith("wg"):
        _wg_bwd_check()
    return bwd


def _wg_bwd_check():
    cc = cupy.cuda.Device().compute_capability
    if cc != "90":
        raise ValueError(f"the wgmma backward (variant='wg') needs a Hopper GPU (compute "
                         f"capability 9.0); this one is {cc[:-1]}.{cc[-1]}")


#: The wgmma backward at d = 64 launches its dQ and dK/dV blocks together (attn_bwd_wg):
#: the same bits as two launches (attn_bwd_dq_wg, attn_bwd_dkv_wg), level with them on
#: local windows and 1.41x faster on global + local, where the few long rows of the
#: dK/dV kernel (the global keys) set its time (an H100, session 22). At d = 128 the
#: one-launch kernel spills (255 registers), so there it is two. False: two launches
#: at d = 64 too (tests compare both).
_BWD_ONE_LAUNCH = True


def _wg_bwd_config(Dp, variant):
    """(overlap, stages, A in registers) of attention_wg_bwd.cu's kernels: at d = 64
    "wg" and "wg_rs" overlap with 4 stages (two tiles ahead; 83 KiB, 2 blocks an SM),
    "wg_sync" does not, 3 stages; at d = 128 none overlaps (the overlapped dK/dV
    kernel spills: 64 + 64 accumulators, S, dP and the operands in flight), 2 stages
    (98 KiB, 2 blocks an SM), and none keeps A in registers (no room)."""
    if Dp == 64 and variant in ("wg", "wg_rs"):
        return True, 4, variant == "wg_rs"
    return False, 3 if Dp == 64 else 2, False


def _wg_bwd_smem(Dp, stages):
    """Shared memory of attention_wg_bwd.cu (WgBwdConfig): two own 64-row tiles, the
    stages of two gathered tiles and of 64 lse and 64 delta values, 64 bytes of
    mbarriers, 1 KiB of alignment."""
    return (2 + 2 * stages) * 64 * Dp * 2 + stages * 512 + 64 + 1024


def _transposed(bp):
    """The block pattern of the pattern's transpose, 64 x 64 tiles (cached on ``bp``)."""
    if (bp.block_q, bp.block_k) == (64, 64):
        return bp.transposed()
    from spla.ml.attention import block_pattern

    return block_pattern(bp.tocsr()).transposed()


#: ``_launch`` parameter codes of attention_wg_bwd.cu's pattern arguments: the
#: pattern's five arrays, its tile starts and the TmaPair of its gathered operands
_BWD_WG_TILES = "p" * 6 + "T"


def _backward_tc(tag, bp, BH, m, n, Dp, operands, grads, scratch, scale, variant, dev, stream):
    """Launch the 16-bit backward on the tensor cores (attention_tc_bwd.cu; variant
    "wg", "wg_sync" or "wg_rs": the dQ and dK/dV kernels of attention_wg_bwd.cu, in one
    launch at d = 64 (``_BWD_ONE_LAUNCH``), after the same attn_delta) on the current
    GPU ``dev`` and ``stream``: ``operands`` (q, k, v, o, do, lse) and ``grads`` (dq,
    dk, dv; every row is written) are the device addresses of (BH, rows, Dp) buffers
    (lse: BH * m float32), ``scratch`` those of two float32 buffers of BH * m values
    (delta and lse in log2 units)."""
    q, k, v, o, do, lse = operands
    dq, dk, dv = grads
    delta, l2 = scratch
    expr = f"attn_delta<{tag}, {Dp}>"
    launcher(kernel("attention_tc_bwd.cu", expr), "pppppq", expr)(
        blocks(BH * m * (Dp // 8), 256), 1, 256, 0, stream, (o, do, lse, delta, l2, BH * m))
    sizes = (m, n, np.float32(scale))
    if variant.startswith("wg"):
        overlap, stages, a_regs = _wg_bwd_config(Dp, variant)
        smem = _wg_bwd_smem(Dp, stages)
        b = {True: "true", False: "false"}
        tmpl = f"<{tag}, {Dp}, {b[overlap]}, {stages}, {b[a_regs]}>"
        opts = ("-arch=sm_90a",)
        # each kernel's pattern arrays, tile starts and tensor maps: dQ walks the
        # pattern's keys (K, V), dK/dV the transposed pattern's queries (Q, dO)
        bt = _transposed(bp)
        nqb, dq_tiles = _tiles_at(bp, dev)
        nkb, dkv_tiles = _tiles_at(bt, dev)
        dq_tiles += (_starts_at(bp, dev), _tile_maps(k, v, BH * n, Dp))
        dkv_tiles += (_starts_at(bt, dev), _tile_maps(q, do, BH * m, Dp))
        if _BWD_ONE_LAUNCH and Dp == 64:
            # grid rows 0 .. nkb - 1: dK/dV blocks, then dQ blocks
            expr = "attn_bwd_wg" + tmpl
            kern = _tc_kernel_in("attention_wg_bwd.cu", expr, smem, opts)
            launcher(kern, "p" * 9 + _BWD_WG_TILES * 2 + "iiif", expr)(
                BH, nkb + nqb, 128, smem, stream,
                (q, k, v, do, l2, delta, dq, dk, dv) + dq_tiles + dkv_tiles + (nkb,) + sizes)
            return
        expr = "attn_bwd_dq_wg" + tmpl
        kern = _tc_kernel_in("attention_wg_bwd.cu", expr, smem, opts)
        launcher(kern, "p" * 7 + _BWD_WG_TILES + "iif", expr)(
            BH, nqb, 128, smem, stream, (q, k, v, do, l2, delta, dq) + dq_tiles + sizes)
        expr = "attn_bwd_dkv_wg" + tmpl
        kern = _tc_kernel_in("attention_wg_bwd.cu", expr, smem, opts)
        launcher(kern, "p" * 8 + _BWD_WG_TILES + "iif", expr)(
            BH, nkb, 128, smem, stream, (q, k, v, do, l2, delta, dk, dv) + dkv_tiles + sizes)
        return
    smem = 6 * 64 * (Dp + 8) * 2
    nqb, tiles = _tiles_at(bp, dev)
    expr = f"attn_bwd_dq_tc<{tag}, {Dp}>"
    kern = _tc_kernel_in("attention_tc_bwd.cu", expr, smem)
    launcher(kern, "p" * 12 + "iif", expr)(
        BH, nqb, 128, smem, stream, (q, k, v, do, l2, delta, dq) + tiles + sizes)
    nkb, tiles = _tiles_at(_transposed(bp), dev)
    smem_kv = smem + 4 * 64 * 4
    expr = f"attn_bwd_dkv_tc<{tag}, {Dp}>"
    kern = _tc_kernel_in("attention_tc_bwd.cu", expr, smem_kv)
    launcher(kern, "p" * 13 + "iif", expr)(
        BH, nkb, 128, smem_kv, stream, (q, k, v, do, l2, delta, dk, dv) + tiles + sizes)


def _torch_fast_grads(dO, Q, out, lse):
    """With ``_torch_fast`` of Q, K, V: whether dO, out and lse can be taken by their
    pointers too (contiguous, aligned, Q's shape and dtype; lse float32 of Q's leading
    shape and rows)."""
    import torch

    return (is_torch(dO) and is_torch(out) and is_torch(lse)
            and dO.shape == Q.shape and out.shape == Q.shape and dO.dtype == out.dtype == Q.dtype
            and dO.device == out.device == lse.device == Q.device
            and lse.dtype == torch.float32 and lse.shape == Q.shape[:-1]
            and dO.is_contiguous() and out.is_contiguous() and lse.is_contiguous()
            and not (dO.data_ptr() % 16 or out.data_ptr() % 16))


def _torch_backward(dO, Q, K, V, bp, out, lse, scale, variant):
    """The 16-bit backward of contiguous torch tensors through their pointers (as
    ``_torch_forward``: no CuPy views; the gradients and scratch are torch tensors
    allocated on PyTorch's current stream, not zero-filled)."""
    import torch

    shape = Q.shape
    m, D = shape[-2], shape[-1]
    BH = Q.numel() // (m * D) if m * D else 0
    # every kernel writes all rows of its blocks (no block returns early), so no zero fill
    dq, dk, dv = torch.empty_like(Q), torch.empty_like(Q), torch.empty_like(Q)
    if dq.numel() == 0:
        return dq, dk, dv
    scale = (1.0 / math.sqrt(D)) if scale is None else float(scale)
    scratch = torch.empty((2, BH * m), dtype=torch.float32, device=Q.device)
    at = scratch.data_ptr()
    tag = "f16" if Q.dtype == torch.float16 else "bf16"
    dev = Q.get_device()
    with cupy.cuda.Device(dev):
        ensure_context(dev)
        variant = _bwd_variant_here(variant)
        _backward_tc(tag, bp, BH, m, m, D, tuple(x.data_ptr() for x in (Q, K, V, out, dO, lse)),
                     (dq.data_ptr(), dk.data_ptr(), dv.data_ptr()), (at, at + 4 * BH * m),
                     scale, variant, dev, _torch_stream_ptr(dev))
    return dq, dk, dv


_TORCH_FUNCTION = None


def torch_function():
    """The ``torch.autograd.Function`` of block-sparse attention (built on first use)."""
    global _TORCH_FUNCTION
    if _TORCH_FUNCTION is None:
        import torch

        class SparseAttentionFunction(torch.autograd.Function):
            @staticmethod
            def forward(ctx, q, k, v, pattern, scale, precision=None):
                out, lse = forward(q, k, v, pattern, scale, precision=precision)
                ctx.save_for_backward(q, k, v, out, lse)
                ctx.pattern, ctx.scale = pattern, scale
                return out

            @staticmethod
            def backward(ctx, dout):
                q, k, v, out, lse = ctx.saved_tensors
                dq, dk, dv = backward(dout.contiguous(), q, k, v, ctx.pattern, out, lse, ctx.scale)
                return dq, dk, dv, None, None, None

        _TORCH_FUNCTION = SparseAttentionFunction
    return _TORCH_FUNCTION


def torch_sparse_attention(q, k, v, pattern, scale=None, precision=None):
    """Block-sparse attention of CUDA torch tensors with autograd (forward and backward
    on the GPU kernels; ``precision="tf32"`` applies to the float32 forward, the
    backward of float32 operands stays exact)."""
    _precision(precision, "sparse_attention_torch")
    return torch_function().apply(q, k, v, pattern, scale, precision)
