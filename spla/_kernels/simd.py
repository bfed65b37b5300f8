"""Explicit AVX-512 code for the N:M kernels, as Numba intrinsics written in LLVM IR.

LLVM does not vectorise the N:M SpMV by itself: each slot reads ``x`` at a
data-dependent column, a gather it leaves scalar. For 2:4 with 2-bit positions
the gather has a cheap exact form: 16 consecutive slots belong to 8 groups,
that is 32 consecutive columns, so their 16 columns index two 16-float vectors
of ``x``, and one two-source permute (``vpermt2ps``) collects all 16 values.
The 16 positions are one 32-bit word of the packed positions.

For SpMM, a row's tile of Y (up to 128 columns, eight vectors) stays in
registers while the slots of a block are added into it, one broadcast value
times one row segment of X each; the columns of 16 slots are decoded at once
with vector instructions.

The intrinsics here emit AVX-512F instructions. They must only be compiled
(called) where ``HAVE_AVX512``; the kernels keep a portable path for the
others. Nothing here validates its input.

Numba's cache keys the kernels that use these intrinsics on the source of
``nm.py`` only: after changing this file, clear ``spla/_kernels/__pycache__``
(or touch ``nm.py``) so that they are compiled again.
"""

import llvmlite.binding as llvm
import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _host_has_avx512():
    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # features unknown on this host: assume none
        return False
    if not features.get("avx512f", False):
        return False
    # Numba compiles for another CPU when NUMBA_CPU_NAME is set (e.g. "generic",
    # for caches shared between machines): then only if told it has AVX-512F.
    if numba.config.CPU_NAME not in (None, "host"):
        return "+avx512f" in (numba.config.CPU_FEATURES or "")
    return True


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
#: its group starts at column 4 (j // n) of the chunk's 64 / n columns.
_SHIFTS = [2 * j for j in range(16)]
_GROUP_OFFSETS = {n: [4 * (j // n) for j in range(16)] for n in (1, 2)}


def _chunk_product(builder, vptr, pptr, xptr, c, n=2):
    """values[16c:16c+16] and x at the columns of those slots, for n:4 with n = 2
    (32 columns: one two-source permute) or n = 1 (64 columns: two permutes and
    a select on bit 5 of the index), as two <16 x float>."""
    c16 = builder.mul(c, _I64(16))
    v = _loadv(builder, vptr, c16, _V16F)
    pw = builder.load(builder.bitcast(builder.gep(pptr, [builder.mul(c, _I64(4))],
                                                  inbounds=True), _I32.as_pointer()),
                      align=1)
    word = _splat16(builder, pw, _V16I)
    idx = builder.and_(builder.lshr(word, _vconst(_SHIFTS)), _vconst([3] * 16))
    idx = builder.add(idx, _vconst(_GROUP_OFFSETS[n]))
    x0 = builder.mul(c, _I64(64 // n))
    xs = [_loadv(builder, xptr, builder.add(x0, _I64(16 * i)), _V16F) for i in range(4 // n)]
    g = _permt2(builder, xs[0], idx, xs[1])
    if n == 1:
        hi = _permt2(builder, xs[2], idx, xs[3])
        upper = builder.icmp_unsigned(">=", idx, _vconst([32] * 16))
        g = builder.select(upper, hi, g)
    return v, g


def _make_dot(n_per_group):
    """The SpMV row intrinsic of n:4 float32 arrays (2-bit positions), n = 1 or 2."""

    def typer(typingctx, values, P, x, row, nchunks):
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
            xptr = context.make_array(xty)(context, builder, args[2]).data
            zero = ir.Constant(_V16F, [0.0] * 16)
            accs = [cgutils.alloca_once_value(builder, zero) for _ in range(_SPMV_ACC)]
            nblocks = builder.udiv(n, _I64(_SPMV_ACC))
            with cgutils.for_range(builder, nblocks) as loop:
                c0 = builder.mul(loop.index, _I64(_SPMV_ACC))
                for a in range(_SPMV_ACC):
                    c16 = builder.mul(builder.add(c0, _I64(a)), _I64(16))
                    _prefetch(builder, vptr, builder.add(c16, _I64(_SPMV_PREFETCH // 4)))
                for a, acc in enumerate(accs):
                    v, g = _chunk_product(builder, vptr, pptr, xptr, builder.add(c0, _I64(a)),
                                          n_per_group)
                    builder.store(_fma16(builder, v, g, builder.load(acc)), acc)
            done = builder.mul(nblocks, _I64(_SPMV_ACC))
            with cgutils.for_range(builder, builder.sub(n, done)) as loop:
                v, g = _chunk_product(builder, vptr, pptr, xptr, builder.add(done, loop.index),
                                      n_per_group)
                builder.store(_fma16(builder, v, g, builder.load(accs[0])), accs[0])
            total = builder.load(accs[0])
            for acc in accs[1:]:
                total = builder.fadd(total, builder.load(acc))
            return _hsum16(builder, total)

        return sig, codegen

    typer.__name__ = f"dot{n_per_group}4_f32"
    typer.__doc__ = f"""Sum over the first ``16 nchunks`` slots of row ``row`` of a
    {n_per_group}:4 float32 array with 2-bit positions of ``values[row, s] * x[column
    of s]`` (AVX-512F).

    ``values`` (rows, S) float32 and ``P`` (rows, ceil(S / 4)) uint8 are
    C-contiguous, ``x`` a contiguous float32 vector of at least
    ``{64 // n_per_group} nchunks`` elements; ``16 nchunks <= S``. The sum is
    taken in a fixed order: four vector accumulators, then a fixed tree over
    their lanes."""
    return intrinsic(typer)


dot24_f32 = _make_dot(2)
dot14_f32 = _make_dot(1)


# ---------------------------------------------------------------------------
# SpMM: one row of Y, a tile of up to 16 T columns, kept in T vector registers
# while the row's slots are added into it (y_tile += v[s] * X[column of s, tile]).
# ---------------------------------------------------------------------------

_V16B = ir.VectorType(ir.IntType(1), 16)
_MASKED_LOAD = "llvm.masked.load.v16f32.p0" if llvm.llvm_version_info[0] >= 15 \
    else "llvm.masked.load.v16f32.p0v16f32"
_MASKED_STORE = "llvm.masked.store.v16f32.p0" if llvm.llvm_version_info[0] >= 15 \
    else "llvm.masked.store.v16f32.p0v16f32"


def _masked_load(builder, elem_ptr, offset, mask):
    if mask is None:
        return _loadv(builder, elem_ptr, offset, _V16F)
    p = builder.bitcast(builder.gep(elem_ptr, [offset], inbounds=True), _V16F.as_pointer())
    fnty = ir.FunctionType(_V16F, [_V16F.as_pointer(), _I32, _V16B, _V16F])
    fn = cgutils.get_or_insert_function(builder.module, fnty, _MASKED_LOAD)
    return builder.call(fn, [p, _I32(4), mask, ir.Constant(_V16F, [0.0] * 16)])


def _masked_store(builder, vec, elem_ptr, offset, mask):
    p = builder.bitcast(builder.gep(elem_ptr, [offset], inbounds=True), _V16F.as_pointer())
    if mask is None:
        builder.store(vec, p, align=1)
        return
    fnty = ir.FunctionType(ir.VoidType(), [_V16F, _V16F.as_pointer(), _I32, _V16B])
    fn = cgutils.get_or_insert_function(builder.module, fnty, _MASKED_STORE)
    builder.call(fn, [vec, p, _I32(4), mask])


def _splat16(builder, scalar, vty):
    vec = builder.insert_element(ir.Constant(vty, ir.Undefined), scalar, _I32(0))
    return builder.shuffle_vector(vec, vec, ir.Constant(_V16I, [0] * 16))


def _load_positions16(builder, pptr, s, bits):
    """Positions of the 16 slots ``s .. s + 15`` (``s`` a multiple of 16) as <16 x i32>."""
    if bits == 8:
        v16b = ir.VectorType(ir.IntType(8), 16)
        return builder.zext(_loadv(builder, pptr, s, v16b), _V16I)
    pw = builder.load(builder.bitcast(builder.gep(pptr, [builder.lshr(s, _I64(2))],
                                                  inbounds=True), _I32.as_pointer()), align=1)
    word = _splat16(builder, pw, _V16I)
    return builder.and_(builder.lshr(word, _vconst(_SHIFTS)), _vconst([3] * 16))


def _position(builder, pptr, s, bits):
    """Position of slot ``s`` (i64)."""
    if bits == 8:
        return builder.zext(builder.load(builder.gep(pptr, [s], inbounds=True)), _I64)
    byte = builder.zext(builder.load(builder.gep(pptr, [builder.lshr(s, _I64(2))],
                                                 inbounds=True)), _I64)
    shift = builder.shl(builder.and_(s, _I64(3)), _I64(1))
    return builder.and_(builder.lshr(byte, shift), _I64(3))


def _make_spmm_row(T, bits, full=False):
    """The SpMM row intrinsic for tiles of up to ``16 T`` columns (exactly ``16 T``
    with ``full``: no masks) and ``bits``-bit positions (2: four per byte, m = 4;
    8: one uint8 per slot)."""
    # Independent accumulator sets (slot i of a chunk goes to set i % sets):
    # enough FMA chains in flight to cover the FMA latency.
    sets = 4 if T == 1 else 2

    def typer(typingctx, values, P, base, X, Y, row, s0, s1, j0, xj, width):
        ok = (isinstance(values, types.Array) and values.ndim == 2 and values.layout == "C"
              and values.dtype == types.float32
              and isinstance(P, types.Array) and P.ndim == 2 and P.layout == "C"
              and P.dtype == types.uint8
              and isinstance(base, types.Array) and base.ndim == 1 and base.layout == "C"
              and base.dtype == types.int32
              and all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C"
                      and a.dtype == types.float32 for a in (X, Y))
              and all(isinstance(i, types.Integer) for i in (row, s0, s1, j0, xj, width)))
        if not ok:
            return None
        sig = types.void(values, P, base, X, Y, row, s0, s1, j0, xj, width)

        def codegen(context, builder, signature, args):
            vty, pty, bty, xty, yty = signature.args[:5]
            ints = [context.cast(builder, a, t, types.int64)
                    for a, t in zip(args[5:], signature.args[5:])]
            r, s0, s1, j0, xj, width = ints
            vptr = _row_pointer(context, builder, vty, args[0], r)
            pptr = _row_pointer(context, builder, pty, args[1], r)
            bptr = context.make_array(bty)(context, builder, args[2]).data
            xarr = context.make_array(xty)(context, builder, args[3])
            xptr = xarr.data
            ldx = builder.udiv(builder.extract_value(xarr.strides, 0), _I64(4))
            yptr = _row_pointer(context, builder, yty, args[4], r)
            wsplat = _splat16(builder, builder.trunc(width, _I32), _V16I)
            masks = [None if full else
                     builder.icmp_unsigned("<", _vconst(range(16 * t, 16 * t + 16)), wsplat)
                     for t in range(T)]
            acc = [[cgutils.alloca_once_value(builder, ir.Constant(_V16F, [0.0] * 16))
                    for _ in range(T)] for _ in range(sets)]
            for t in range(T):
                builder.store(_masked_load(builder, yptr, builder.add(j0, _I64(16 * t)),
                                           masks[t]), acc[0][t])
            # Element offsets into X of 16 slots, decoded with vector instructions
            # and read back one by one: fewer instructions than 16 scalar decodes.
            offs = cgutils.alloca_once(builder, _V16I)
            offs_i32 = builder.bitcast(offs, _I32.as_pointer())
            ldx_v = _splat16(builder, builder.trunc(ldx, _I32), _V16I)
            xj_v = _splat16(builder, builder.trunc(xj, _I32), _V16I)

            def add_slot(s, xoff, k):
                vb = _splat16(builder, builder.load(builder.gep(vptr, [s], inbounds=True)),
                              _V16F)
                for t in range(T):
                    xv = _masked_load(builder, xptr, builder.add(xoff, _I64(16 * t)), masks[t])
                    a = acc[k % sets][t]
                    builder.store(_fma16(builder, vb, xv, builder.load(a)), a)

            n16 = builder.udiv(builder.sub(s1, s0), _I64(16))
            with cgutils.for_range(builder, n16) as loop:
                s = builder.add(s0, builder.mul(loop.index, _I64(16)))
                col = builder.add(_loadv(builder, bptr, s, _V16I),
                                  _load_positions16(builder, pptr, s, bits))
                builder.store(builder.add(builder.mul(col, ldx_v), xj_v), offs)
                for k in range(16):
                    xoff = builder.zext(builder.load(builder.gep(offs_i32, [_I32(k)])), _I64)
                    add_slot(builder.add(s, _I64(k)), xoff, k)
            rest = builder.add(s0, builder.mul(n16, _I64(16)))
            with cgutils.for_range(builder, builder.sub(s1, rest)) as loop:
                s = builder.add(rest, loop.index)
                col = builder.add(builder.sext(builder.load(builder.gep(bptr, [s], inbounds=True)),
                                               _I64), _position(builder, pptr, s, bits))
                add_slot(s, builder.add(builder.mul(col, ldx), xj), 0)
            for t in range(T):
                total = builder.load(acc[0][t])
                for k in range(1, sets):
                    total = builder.fadd(total, builder.load(acc[k][t]))
                _masked_store(builder, total, yptr, builder.add(j0, _I64(16 * t)), masks[t])
            return context.get_dummy_value()

        return sig, codegen

    typer.__name__ = f"spmm_row{T}_b{bits}_f32" + ("_full" if full else "")
    typer.__doc__ = (
        f"Y[row, j0:j0+width] += sum over slots s0 <= s < s1 of values[row, s] * "
        f"X[column of s, xj:xj+width], width <= {16 * T}, {bits}-bit positions, float32 "
        "(AVX-512F): X is one column tile of the operand, with the padded rows and "
        "fewer than 2**31 elements. ``s0`` is a multiple of 16; ``base`` is int32; "
        "values, P, base, X and Y are C-contiguous.")
    return intrinsic(typer)


spmm_row1_b2, spmm_row2_b2, spmm_row3_b2, spmm_row4_b2 = (
    _make_spmm_row(T, 2) for T in range(1, 5))
spmm_row1_b8, spmm_row2_b8, spmm_row3_b8, spmm_row4_b8 = (
    _make_spmm_row(T, 8) for T in range(1, 5))
spmm_full4_b2, spmm_full8_b2 = _make_spmm_row(4, 2, True), _make_spmm_row(8, 2, True)
spmm_full4_b8, spmm_full8_b8 = _make_spmm_row(4, 8, True), _make_spmm_row(8, 8, True)
