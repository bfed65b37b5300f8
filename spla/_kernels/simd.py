"""Explicit AVX-512 code for the N:M kernels, as Numba intrinsics written in LLVM IR.

LLVM does not vectorise the N:M SpMV by itself: each slot reads ``x`` at a
data-dependent column, a gather it leaves scalar. For 2:4 with 2-bit positions
the gather has a cheap exact form: 16 consecutive slots belong to 8 groups,
that is 32 consecutive columns, so their 16 columns index two 16-float vectors
of ``x``, and one two-source permute (``vpermt2ps``) collects all 16 values.
The 16 positions are one 32-bit word of the packed positions.

The intrinsics here emit AVX-512F instructions. They must only be compiled
(called) on a CPU that has AVX-512F: check ``HAVE_AVX512`` first, and keep a
portable path for the others. Nothing here validates its input.
"""

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _host_has_avx512():
    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # features unknown on this host: assume none
        return False
    return bool(features.get("avx512f", False))


#: Whether this CPU runs the AVX-512F kernels (checked once, at import).
HAVE_AVX512 = _host_has_avx512()

_F32 = ir.FloatType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_V16F = ir.VectorType(_F32, 16)
_V16I = ir.VectorType(_I32, 16)

#: Accumulators of the SpMV loop: independent FMA chains that hide its latency.
_SPMV_ACC = 4
#: How far ahead of its loads the SpMV loop prefetches the values (bytes, about
#: one 4096-column row): 5 to 15% faster than the hardware prefetcher alone here.
_SPMV_PREFETCH = 8192
_PREFETCH = "llvm.prefetch.p0" if llvm.llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"


def _vconst(values, ty=_V16I):
    return ir.Constant(ty, [ty.element(v) for v in values])


def _row_pointer(context, builder, arrty, arr, row):
    """Pointer to ``arr[row, 0]`` (2-D) as an element pointer."""
    a = context.make_array(arrty)(context, builder, arr)
    zero = context.get_constant(types.intp, 0)
    return cgutils.get_item_pointer(context, builder, arrty, a, [row, zero], wraparound=False)


def _loadv(builder, elem_ptr, offset, vty):
    """Unaligned vector load of ``vty`` at ``elem_ptr + offset`` (elements)."""
    p = builder.gep(elem_ptr, [offset], inbounds=True)
    return builder.load(builder.bitcast(p, vty.as_pointer()), align=1)


def _hsum16(builder, vec):
    """Sum of the 16 lanes in a fixed tree order (halving)."""
    width = 16
    while width > 1:
        half = width // 2
        lo = builder.shuffle_vector(vec, vec, ir.Constant(ir.VectorType(_I32, half),
                                                          list(range(half))))
        hi = builder.shuffle_vector(vec, vec, ir.Constant(ir.VectorType(_I32, half),
                                                          list(range(half, width))))
        vec = builder.fadd(lo, hi)
        width = half
    return builder.extract_element(vec, _I32(0))


def _prefetch(builder, elem_ptr, offset):
    """Prefetch (read, into all cache levels) the line of ``elem_ptr + offset``;
    never faults, even past the end of the array."""
    i8p = ir.IntType(8).as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [i8p, _I32, _I32, _I32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
    p = builder.bitcast(builder.gep(elem_ptr, [offset]), i8p)
    builder.call(fn, [p, _I32(0), _I32(3), _I32(1)])


def _fma16(builder, a, b, c):
    fnty = ir.FunctionType(_V16F, [_V16F, _V16F, _V16F])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.v16f32")
    return builder.call(fn, [a, b, c])


def _permt2(builder, lo, idx, hi):
    fnty = ir.FunctionType(_V16F, [_V16F, _V16I, _V16F])
    fn = cgutils.get_or_insert_function(builder.module, fnty,
                                        "llvm.x86.avx512.vpermi2var.ps.512")
    return builder.call(fn, [lo, idx, hi])


#: Slot j of a 16-slot chunk: its 2-bit position is bits 2j of the chunk's word,
#: its group starts at column 4 (j // 2) of the chunk's 32 columns.
_SHIFTS = [2 * j for j in range(16)]
_GROUP_OFFSETS = [4 * (j // 2) for j in range(16)]


def _chunk_product(builder, vptr, pptr, xptr, c):
    """values[16c:16c+16] * x[columns of those slots] for 2:4, as a <16 x float>."""
    c16 = builder.mul(c, _I64(16))
    v = _loadv(builder, vptr, c16, _V16F)
    pw = builder.load(builder.bitcast(builder.gep(pptr, [builder.mul(c, _I64(4))],
                                                  inbounds=True), _I32.as_pointer()),
                      align=1)
    word = builder.insert_element(ir.Constant(_V16I, ir.Undefined), pw, _I32(0))
    word = builder.shuffle_vector(word, word, ir.Constant(_V16I, [0] * 16))
    idx = builder.and_(builder.lshr(word, _vconst(_SHIFTS)), _vconst([3] * 16))
    idx = builder.add(idx, _vconst(_GROUP_OFFSETS))
    x0 = builder.mul(c, _I64(32))
    xlo = _loadv(builder, xptr, x0, _V16F)
    xhi = _loadv(builder, xptr, builder.add(x0, _I64(16)), _V16F)
    return v, _permt2(builder, xlo, idx, xhi)


@intrinsic
def dot24_f32(typingctx, values, P, x, row, nchunks):
    """Sum over the first ``16 nchunks`` slots of row ``row`` of a 2:4 float32 array
    with 2-bit positions of ``values[row, s] * x[column of s]`` (AVX-512F).

    ``values`` (rows, S) float32 and ``P`` (rows, ceil(S / 4)) uint8 are
    C-contiguous, ``x`` a contiguous float32 vector of at least ``32 nchunks``
    elements; ``16 nchunks <= S``. The sum is taken in a fixed order: four
    vector accumulators, then a fixed tree over their lanes.
    """
    ok = (isinstance(values, types.Array) and values.ndim == 2 and values.layout == "C"
          and values.dtype == types.float32
          and isinstance(P, types.Array) and P.ndim == 2 and P.layout == "C"
          and P.dtype == types.uint8
          and isinstance(x, types.Array) and x.ndim == 1 and x.layout == "C"
          and x.dtype == types.float32
          and isinstance(row, types.Integer) and isinstance(nchunks, types.Integer))
    if not ok:
        return None
    sig = types.float32(values, P, x, row, nchunks)

    def codegen(context, builder, signature, args):
        vty, pty, xty, rty, nty = signature.args
        r = context.cast(builder, args[3], rty, types.intp)
        n = context.cast(builder, args[4], nty, types.int64)
        vptr = _row_pointer(context, builder, vty, args[0], r)
        pptr = _row_pointer(context, builder, pty, args[1], r)
        xarr = context.make_array(xty)(context, builder, args[2])
        xptr = xarr.data
        zero = ir.Constant(_V16F, [0.0] * 16)
        accs = [cgutils.alloca_once_value(builder, zero) for _ in range(_SPMV_ACC)]
        nblocks = builder.udiv(n, _I64(_SPMV_ACC))
        with cgutils.for_range(builder, nblocks) as loop:
            c0 = builder.mul(loop.index, _I64(_SPMV_ACC))
            for a in range(_SPMV_ACC):
                c16 = builder.mul(builder.add(c0, _I64(a)), _I64(16))
                _prefetch(builder, vptr, builder.add(c16, _I64(_SPMV_PREFETCH // 4)))
            for a, acc in enumerate(accs):
                v, g = _chunk_product(builder, vptr, pptr, xptr, builder.add(c0, _I64(a)))
                builder.store(_fma16(builder, v, g, builder.load(acc)), acc)
        done = builder.mul(nblocks, _I64(_SPMV_ACC))
        with cgutils.for_range(builder, builder.sub(n, done)) as loop:
            v, g = _chunk_product(builder, vptr, pptr, xptr, builder.add(done, loop.index))
            builder.store(_fma16(builder, v, g, builder.load(accs[0])), accs[0])
        total = builder.load(accs[0])
        for acc in accs[1:]:
            total = builder.fadd(total, builder.load(acc))
        return _hsum16(builder, total)

    return sig, codegen
