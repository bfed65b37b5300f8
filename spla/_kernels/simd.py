"""Explicit SIMD code for the N:M kernels, as Numba intrinsics written in LLVM IR.

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

Two instruction sets: AVX-512F (16-float vectors; ``vpermt2ps`` gathers 16
slots of 2:4 from 32 columns at once) and AVX2 with FMA (8-float vectors; no
two-source permute, so x is laid out once per call by group,
``avx2_gather_order``, and the 8 slots of 16 columns take two in-lane
permutes, ``vpermilps``, and a blend; the SpMV takes four rows per call, which
share every vector of x they load). The SpMV intrinsics use instructions of their set and
must only be compiled (called) where ``HAVE_AVX512`` / ``HAVE_AVX2`` says so.
The SpMM intrinsics are plain LLVM vector IR of a chosen width (16 floats for
AVX-512, 8 for AVX2, so that the tile of Y fits the register file) and
compile anywhere. ``ISA`` names the best set of this CPU; the kernels keep a
portable path for CPUs with neither. Nothing here validates its input.

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

from .intrinsics import ir_fma, ir_load, ir_prefetch, ir_splat, ir_store


def _host_has(*names):
    """Whether Numba compiles for a CPU with every feature in ``names``."""
    # Numba compiles for another CPU when NUMBA_CPU_NAME is set (e.g. "generic",
    # for caches shared between machines): then only what it is told it has.
    if numba.config.CPU_NAME not in (None, "host"):
        told = (numba.config.CPU_FEATURES or "").split(",")
        return all(f"+{name}" in told for name in names)
    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # features unknown on this host: assume none
        return False
    return all(features.get(name, False) for name in names)


#: Whether this CPU runs the AVX-512F kernels (checked once, at import).
HAVE_AVX512 = _host_has("avx512f")
#: Whether this CPU runs the AVX2 kernels (AVX2 and FMA; every AVX-512 CPU has them).
HAVE_AVX2 = _host_has("avx2", "fma")
#: The instruction set the N:M float32 kernels use here: "avx512", "avx2" or None.
ISA = "avx512" if HAVE_AVX512 else "avx2" if HAVE_AVX2 else None

_F32 = ir.FloatType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_V16F = ir.VectorType(_F32, 16)
_V16I = ir.VectorType(_I32, 16)
_V8F = ir.VectorType(_F32, 8)
_V8I = ir.VectorType(_I32, 8)

#: Chunks of 16 slots per pass of the SpMV loop, each into accumulators of its own:
#: independent FMA chains that hide its latency.
_SPMV_ACC = 4
#: How far ahead of its loads the SpMV loop prefetches the values (bytes): about
#: one 4096-column row with AVX-512 (5 to 15% faster than the hardware
#: prefetcher alone on a Zen 5), four with AVX2 (a Zen 3, where one core streams
#: at most ~18 GB/s: median 1.40 ms against 1.61 for 8 KiB over nine runs of a
#: 4096 x 4096 2:4 SpMV from DRAM).
_SPMV_PREFETCH = {"avx512": 8192, "avx2": 32768}


def _vconst(values, ty=_V16I):
    return ir.Constant(ty, [ty.element(v) for v in values])


def _row_pointer(context, builder, arrty, arr, row):
    """Pointer to ``arr[row, 0]`` (2-D) as an element pointer."""
    a = context.make_array(arrty)(context, builder, arr)
    zero = context.get_constant(types.intp, 0)
    return cgutils.get_item_pointer(context, builder, arrty, a, [row, zero], wraparound=False)


def _hsum(builder, vec):
    """Sum of the lanes of a float vector in a fixed tree order (halving)."""
    width = vec.type.count
    while width > 1:
        half = width // 2
        lo = builder.shuffle_vector(vec, vec, ir.Constant(ir.VectorType(_I32, half),
                                                          list(range(half))))
        hi = builder.shuffle_vector(vec, vec, ir.Constant(ir.VectorType(_I32, half),
                                                          list(range(half, width))))
        vec = builder.fadd(lo, hi)
        width = half
    return builder.extract_element(vec, _I32(0))


def _permt2(builder, lo, idx, hi):
    """AVX-512F ``vpermt2ps``: lane i is lane ``idx[i] & 31`` of lo ++ hi."""
    fnty = ir.FunctionType(_V16F, [_V16F, _V16I, _V16F])
    fn = cgutils.get_or_insert_function(builder.module, fnty,
                                        "llvm.x86.avx512.vpermi2var.ps.512")
    return builder.call(fn, [lo, idx, hi])


def _permil8(builder, vec, idx):
    """AVX ``vpermilps``: lane i is lane ``idx[i] & 3`` of the 128-bit half of
    ``vec`` that lane i is in (the bits above are ignored)."""
    fnty = ir.FunctionType(_V8F, [_V8F, _V8I])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.avx.vpermilvar.ps.256")
    return builder.call(fn, [vec, idx])


#: Slot j of a 16-slot chunk: its 2-bit position is bits 2j of the chunk's word,
#: its group starts at column 4 (j // n) of the chunk's 64 / n columns.
_SHIFTS = [2 * j for j in range(16)]
_GROUP_OFFSETS = {n: [4 * (j // n) for j in range(16)] for n in (1, 2)}


def _chunk_word(builder, pptr, c):
    """The 32-bit word of the 2-bit positions of chunk ``c`` (slots 16c .. 16c + 15)."""
    return builder.load(builder.bitcast(builder.gep(pptr, [builder.mul(c, _I64(4))],
                                                    inbounds=True), _I32.as_pointer()),
                        align=1)


def _chunk_product(builder, vptr, pptr, xptr, c, n=2):
    """values[16c:16c+16] and x at the columns of those slots, for n:4 with n = 2
    (32 columns: one two-source permute) or n = 1 (64 columns: two permutes and
    a select on bit 5 of the index), as one pair of <16 x float> (AVX-512F)."""
    c16 = builder.mul(c, _I64(16))
    v = ir_load(builder, vptr, _V16F, c16)
    word = ir_splat(builder, _chunk_word(builder, pptr, c), _V16I)
    idx = builder.and_(builder.lshr(word, _vconst(_SHIFTS)), _vconst([3] * 16))
    idx = builder.add(idx, _vconst(_GROUP_OFFSETS[n]))
    x0 = builder.mul(c, _I64(64 // n))
    xs = [ir_load(builder, xptr, _V16F, builder.add(x0, _I64(16 * i))) for i in range(4 // n)]
    g = _permt2(builder, xs[0], idx, xs[1])
    if n == 1:
        hi = _permt2(builder, xs[2], idx, xs[3])
        upper = builder.icmp_unsigned(">=", idx, _vconst([32] * 16))
        g = builder.select(upper, hi, g)
    return [(v, g)]


def avx2_gather_order(n):
    """Where the AVX2 SpMV wants each column of a block of ``32 / n`` columns (the
    columns of 8 slots of n:4, ``8 / n`` groups of 4): ``x[order]`` lists the
    block as ``4 / n`` vectors of 8 floats, vector k holding group k in its low
    128 bits and group ``k + 4 / n`` in its high 128 bits."""
    per = 4 // n  # vectors per block
    order = []
    for k in range(per):
        for half in range(2):
            group = k + half * per
            order.extend(range(4 * group, 4 * group + 4))
    return order


def _x_vectors8(builder, xptr, c, h, n):
    """The ``4 / n`` vectors of x (in ``avx2_gather_order``) that half ``h`` of
    chunk ``c`` reads: its ``32 / n`` columns."""
    per = 4 // n
    x0 = builder.add(builder.mul(c, _I64(64 // n)), _I64(8 * per * h))
    return [ir_load(builder, xptr, _V8F, builder.add(x0, _I64(8 * k))) for k in range(per)]


def _gather8(builder, word, xs, h, n):
    """x at the columns of the 8 slots of half ``h`` of a chunk, as <8 x float>,
    from that half's vectors ``xs`` (``_x_vectors8``) and the chunk's positions
    ``word`` (splat to <8 x i32>). Slot j is lane j; its group sits in lane j's
    128-bit half of one of ``xs``, where an in-lane permute (``vpermilps``,
    which reads only the low 2 bits of each index: the 2-bit position itself,
    no masking) picks its column; constant blends then take each lane from its
    vector."""
    per = 4 // n
    # Lane j (slot j of the half) reads group j // n, which is in vector
    # (j // n) % per, in lane j's 128-bit half (lanes 0-3: groups 0 .. per-1;
    # lanes 4-7: groups per .. 2 per - 1).
    source = [(j // n) % per for j in range(8)]
    idx = builder.lshr(word, _vconst(_SHIFTS[8 * h:8 * h + 8], _V8I))
    parts = [_permil8(builder, xv, idx) for xv in xs]
    g = parts[0]
    for k in range(1, per):
        g = builder.shuffle_vector(
            g, parts[k], ir.Constant(ir.VectorType(_I32, 8),
                                     [8 + j if source[j] == k else j for j in range(8)]))
    return g


def _chunk_product8(builder, vptr, pptr, xptr, c, n=2):
    """The same as ``_chunk_product`` with AVX2: two pairs of <8 x float>, one per
    half chunk of 8 slots, with ``x`` in ``avx2_gather_order`` (``_gather8``)."""
    word = ir_splat(builder, _chunk_word(builder, pptr, c), _V8I)
    pairs = []
    for h in range(2):
        v = ir_load(builder, vptr, _V8F, builder.add(builder.mul(c, _I64(16)), _I64(8 * h)))
        pairs.append((v, _gather8(builder, word, _x_vectors8(builder, xptr, c, h, n), h, n)))
    return pairs


def _spmv_operands_ok(values, P, x, row, nchunks):
    """Whether the Numba types fit the SpMV intrinsics: C-contiguous float32
    ``values`` (2-D), uint8 ``P`` (2-D) and float32 ``x`` (1-D); integer counts."""
    return (isinstance(values, types.Array) and values.ndim == 2 and values.layout == "C"
            and values.dtype == types.float32
            and isinstance(P, types.Array) and P.ndim == 2 and P.layout == "C"
            and P.dtype == types.uint8
            and isinstance(x, types.Array) and x.ndim == 1 and x.layout == "C"
            and x.dtype == types.float32
            and isinstance(row, types.Integer) and isinstance(nchunks, types.Integer))


def _make_dot(n_per_group, isa="avx512"):
    """The SpMV row intrinsic of n:4 float32 arrays (2-bit positions), n = 1 or 2,
    for AVX-512F (``isa="avx512"``) or AVX2 (``"avx2"``)."""
    chunk = _chunk_product if isa == "avx512" else _chunk_product8
    vf = _V16F if isa == "avx512" else _V8F

    def typer(typingctx, values, P, x, row, nchunks):
        if not _spmv_operands_ok(values, P, x, row, nchunks):
            return None
        sig = types.float32(values, P, x, row, nchunks)

        def codegen(context, builder, signature, args):
            vty, pty, xty, rty, nty = signature.args
            r = context.cast(builder, args[3], rty, types.intp)
            n = context.cast(builder, args[4], nty, types.int64)
            vptr = _row_pointer(context, builder, vty, args[0], r)
            pptr = _row_pointer(context, builder, pty, args[1], r)
            xptr = context.make_array(xty)(context, builder, args[2]).data
            zero = ir.Constant(vf, [0.0] * vf.count)
            # One accumulator per product of a block (one per chunk for AVX-512,
            # one per half chunk for AVX2): independent FMA chains.
            parts = 1 if isa == "avx512" else 2
            accs = [cgutils.alloca_once_value(builder, zero)
                    for _ in range(parts * _SPMV_ACC)]

            def add_chunk(c, a):
                # Chunk a of a block adds its products into the accumulators
                # parts a, parts a + 1, ...: a fixed order of additions.
                for h, (v, g) in enumerate(chunk(builder, vptr, pptr, xptr, c, n_per_group)):
                    acc = accs[parts * a + h]
                    builder.store(ir_fma(builder, v, g, builder.load(acc)), acc)

            nblocks = builder.udiv(n, _I64(_SPMV_ACC))
            ahead = _I64(_SPMV_PREFETCH[isa] // 4)  # in floats
            with cgutils.for_range(builder, nblocks) as loop:
                c0 = builder.mul(loop.index, _I64(_SPMV_ACC))
                for a in range(_SPMV_ACC):
                    c16 = builder.mul(builder.add(c0, _I64(a)), _I64(16))
                    ir_prefetch(builder, builder.gep(vptr, [builder.add(c16, ahead)]))
                for a in range(_SPMV_ACC):
                    add_chunk(builder.add(c0, _I64(a)), a)
            done = builder.mul(nblocks, _I64(_SPMV_ACC))
            with cgutils.for_range(builder, builder.sub(n, done)) as loop:
                add_chunk(builder.add(done, loop.index), 0)
            total = builder.load(accs[0])
            for acc in accs[1:]:
                total = builder.fadd(total, builder.load(acc))
            return _hsum(builder, total)

        return sig, codegen

    typer.__name__ = f"dot{n_per_group}4_f32_{isa}"
    typer.__doc__ = f"""Sum over the first ``16 nchunks`` slots of row ``row`` of a
    {n_per_group}:4 float32 array with 2-bit positions of ``values[row, s] * x[column
    of s]`` ({"AVX-512F" if isa == "avx512" else "AVX2"}).

    ``values`` (rows, S) float32 and ``P`` (rows, ceil(S / 4)) uint8 are
    C-contiguous, ``x`` a contiguous float32 vector of at least
    ``{64 // n_per_group} nchunks`` elements{"" if isa == "avx512" else
    ", each block of " + str(32 // n_per_group) + " in ``avx2_gather_order``"};
    ``16 nchunks <= S``. The sum is taken in a fixed order: four (AVX-512) or
    eight (AVX2) vector accumulators, then a fixed tree over their lanes."""
    return intrinsic(typer)


dot24_f32 = _make_dot(2)
dot14_f32 = _make_dot(1)
dot24_f32_avx2 = _make_dot(2, "avx2")
dot14_f32_avx2 = _make_dot(1, "avx2")


def _make_dot_rows(n_per_group, rows=4, accs_per_row=2, prefetch=0):
    """The AVX2 SpMV intrinsic of ``rows`` consecutive rows of an n:4 float32 array
    (2-bit positions), n = 1 or 2.

    Slot s of every row belongs to the same group s // n, so the slots at one
    offset of consecutive rows read the same vectors of x: loaded once, they
    serve every row, which leaves about half the loads of ``rows`` calls of the
    one-row intrinsic (the one-row loop is limited by loads on a Zen 3, not by
    arithmetic). ``prefetch``: how far ahead (bytes) each row's values are
    prefetched, one line per row and chunk (0: none).
    """

    def typer(typingctx, values, P, x, row0, nchunks):
        if not _spmv_operands_ok(values, P, x, row0, nchunks):
            return None
        out = types.UniTuple(types.float32, rows)
        sig = out(values, P, x, row0, nchunks)

        def codegen(context, builder, signature, args):
            vty, pty, xty, rty, nty = signature.args
            r0 = context.cast(builder, args[3], rty, types.intp)
            n = context.cast(builder, args[4], nty, types.int64)
            rowp = [builder.add(r0, context.get_constant(types.intp, i)) for i in range(rows)]
            vptrs = [_row_pointer(context, builder, vty, args[0], r) for r in rowp]
            pptrs = [_row_pointer(context, builder, pty, args[1], r) for r in rowp]
            xptr = context.make_array(xty)(context, builder, args[2]).data
            zero = ir.Constant(_V8F, [0.0] * 8)
            # Accumulator h % accs_per_row of a row takes the products of half h
            # of every chunk: a fixed order of additions, and shorter chains.
            accs = [[cgutils.alloca_once_value(builder, zero) for _ in range(accs_per_row)]
                    for _ in range(rows)]
            with cgutils.for_range(builder, n) as loop:
                c = loop.index
                c16 = builder.mul(c, _I64(16))
                if prefetch:
                    ahead = builder.add(c16, _I64(prefetch // 4))  # in floats
                    for vp in vptrs:
                        ir_prefetch(builder, builder.gep(vp, [ahead]))
                words = [ir_splat(builder, _chunk_word(builder, p, c), _V8I) for p in pptrs]
                for h in range(2):
                    xs = _x_vectors8(builder, xptr, c, h, n_per_group)
                    for i in range(rows):
                        g = _gather8(builder, words[i], xs, h, n_per_group)
                        v = ir_load(builder, vptrs[i], _V8F, builder.add(c16, _I64(8 * h)))
                        acc = accs[i][h % accs_per_row]
                        builder.store(ir_fma(builder, v, g, builder.load(acc)), acc)
            sums = []
            for i in range(rows):
                total = builder.load(accs[i][0])
                for acc in accs[i][1:]:
                    total = builder.fadd(total, builder.load(acc))
                sums.append(_hsum(builder, total))
            return context.make_tuple(builder, out, sums)

        return sig, codegen

    typer.__name__ = f"dot_rows{n_per_group}4_f32_avx2"
    typer.__doc__ = f"""For each of the {rows} rows ``row0 .. row0 + {rows - 1}`` of a
    {n_per_group}:4 float32 array with 2-bit positions, the sum over its first
    ``16 nchunks`` slots of ``values[row, s] * x[column of s]`` (AVX2), as a
    tuple of {rows} float32.

    ``values`` (rows, S) float32 and ``P`` (rows, ceil(S / 4)) uint8 are
    C-contiguous, ``x`` a contiguous float32 vector of at least
    ``{64 // n_per_group} nchunks`` elements, each block of {32 // n_per_group}
    in ``avx2_gather_order``; ``16 nchunks <= S``. Each sum is taken in a fixed
    order: {accs_per_row} vector accumulators, then a fixed tree over their lanes."""
    return intrinsic(typer)


#: How far ahead of its loads (bytes) the multi-row SpMV prefetches each row's
#: values, in each of the four streams. On the Zen 3, 4096 x 4096, medians of
#: alternating calls: with the matrix partly in L3, 2:4 1.00 ms against 1.02
#: without, 1:4 0.55 against 0.56-0.63 (4 KiB and 1 KiB ahead were slower than
#: none); with the L3 flushed by GEMV and CSR calls in between, 2:4 1.42-1.87
#: against 1.34-1.90, 1:4 0.88-1.03 against 0.97-1.06. Prefetching the same
#: line of the next quad was slower than both.
_SPMV_ROWS_PREFETCH = 16384
dot_rows24_f32_avx2 = _make_dot_rows(2, prefetch=_SPMV_ROWS_PREFETCH)
dot_rows14_f32_avx2 = _make_dot_rows(1, prefetch=_SPMV_ROWS_PREFETCH)


# ---------------------------------------------------------------------------
# SpMM: one row of Y, a tile of up to W T columns (W floats per vector), kept in
# T vector registers while the row's slots are added into it
# (y_tile += v[s] * X[column of s, tile]).
# ---------------------------------------------------------------------------


def _load_positions16(builder, pptr, s, bits):
    """Positions of the 16 slots ``s .. s + 15`` (``s`` a multiple of 16) as <16 x i32>."""
    if bits == 8:
        v16b = ir.VectorType(ir.IntType(8), 16)
        return builder.zext(ir_load(builder, pptr, v16b, s), _V16I)
    pw = builder.load(builder.bitcast(builder.gep(pptr, [builder.lshr(s, _I64(2))],
                                                  inbounds=True), _I32.as_pointer()), align=1)
    word = ir_splat(builder, pw, _V16I)
    return builder.and_(builder.lshr(word, _vconst(_SHIFTS)), _vconst([3] * 16))


def _position(builder, pptr, s, bits):
    """Position of slot ``s`` (i64)."""
    if bits == 8:
        return builder.zext(builder.load(builder.gep(pptr, [s], inbounds=True)), _I64)
    byte = builder.zext(builder.load(builder.gep(pptr, [builder.lshr(s, _I64(2))],
                                                 inbounds=True)), _I64)
    shift = builder.shl(builder.and_(s, _I64(3)), _I64(1))
    return builder.and_(builder.lshr(byte, shift), _I64(3))


def _make_spmm_row(T, bits, full=False, W=16):
    """The SpMM row intrinsic for tiles of up to ``W T`` columns (exactly ``W T``
    with ``full``: no masks), ``W``-float vectors (16: AVX-512, 8: AVX2) and
    ``bits``-bit positions (2: four per byte, m = 4; 8: one uint8 per slot)."""
    vf = ir.VectorType(_F32, W)
    vi = ir.VectorType(_I32, W)
    # Independent accumulator sets (slot i of a chunk goes to set i % sets):
    # enough FMA chains in flight to cover the FMA latency, few enough that the
    # sets x T accumulators stay in registers (32 of AVX-512, 16 of AVX2).
    if W == 16:
        sets = 4 if T == 1 else 2
    else:
        sets = 4 if T <= 2 else 2 if T <= 4 else 1

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
            wsplat = ir_splat(builder, builder.trunc(width, _I32), vi)
            # Only the last vector of Y can be partial. X needs no masks at all:
            # its tile rows are zero-padded to whole 64-byte lines, which covers
            # every vector that starts inside the width (masked loads cost
            # several micro-ops on Zen).
            masks = [None if full or t < T - 1 else
                     builder.icmp_unsigned("<", _vconst(range(W * t, W * t + W), vi), wsplat)
                     for t in range(T)]
            acc = [[cgutils.alloca_once_value(builder, ir.Constant(vf, [0.0] * W))
                    for _ in range(T)] for _ in range(sets)]
            for t in range(T):
                builder.store(ir_load(builder, yptr, vf, builder.add(j0, _I64(W * t)), masks[t]),
                              acc[0][t])
            # Element offsets into X of 16 slots, decoded with vector instructions
            # and read back one by one: fewer instructions than 16 scalar decodes.
            offs = cgutils.alloca_once(builder, _V16I)
            offs_i32 = builder.bitcast(offs, _I32.as_pointer())
            ldx_v = ir_splat(builder, builder.trunc(ldx, _I32), _V16I)
            xj_v = ir_splat(builder, builder.trunc(xj, _I32), _V16I)

            def add_slot(s, xoff, k):
                vb = ir_splat(builder, builder.load(builder.gep(vptr, [s], inbounds=True)), vf)
                for t in range(T):
                    xv = ir_load(builder, xptr, vf, builder.add(xoff, _I64(W * t)))
                    a = acc[k % sets][t]
                    builder.store(ir_fma(builder, vb, xv, builder.load(a)), a)

            n16 = builder.udiv(builder.sub(s1, s0), _I64(16))
            with cgutils.for_range(builder, n16) as loop:
                s = builder.add(s0, builder.mul(loop.index, _I64(16)))
                col = builder.add(ir_load(builder, bptr, _V16I, s),
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
                ir_store(builder, total, yptr, builder.add(j0, _I64(W * t)), masks[t])
            return context.get_dummy_value()

        return sig, codegen

    typer.__name__ = f"spmm_row{T}_b{bits}_f32_w{W}" + ("_full" if full else "")
    typer.__doc__ = (
        f"Y[row, j0:j0+width] += sum over slots s0 <= s < s1 of values[row, s] * "
        f"X[column of s, xj:xj+width], width <= {W * T}, {bits}-bit positions, float32 "
        f"({W}-float vectors): X is one column tile of the operand, with the padded rows "
        "and fewer than 2**31 elements, each row readable (unmasked) up to column "
        f"``xj + ceil(width / {W}) * {W}``. ``s0`` is a multiple of 16; ``base`` is int32; "
        "values, P, base, X and Y are C-contiguous.")
    return intrinsic(typer)


# 16-float vectors (AVX-512): tiles of up to 128 columns.
spmm_row1_b2, spmm_row2_b2, spmm_row3_b2, spmm_row4_b2 = (
    _make_spmm_row(T, 2) for T in range(1, 5))
spmm_row1_b8, spmm_row2_b8, spmm_row3_b8, spmm_row4_b8 = (
    _make_spmm_row(T, 8) for T in range(1, 5))
spmm_full4_b2, spmm_full8_b2 = _make_spmm_row(4, 2, True), _make_spmm_row(8, 2, True)
spmm_full4_b8, spmm_full8_b8 = _make_spmm_row(4, 8, True), _make_spmm_row(8, 8, True)

# 8-float vectors (AVX2, 16 registers): tiles of up to 64 columns.
spmm8_row1_b2, spmm8_row2_b2, spmm8_row3_b2, spmm8_row4_b2 = (
    _make_spmm_row(T, 2, W=8) for T in range(1, 5))
spmm8_row1_b8, spmm8_row2_b8, spmm8_row3_b8, spmm8_row4_b8 = (
    _make_spmm_row(T, 8, W=8) for T in range(1, 5))
spmm8_full4_b2, spmm8_full8_b2 = _make_spmm_row(4, 2, True, 8), _make_spmm_row(8, 2, True, 8)
spmm8_full4_b8, spmm8_full8_b8 = _make_spmm_row(4, 8, True, 8), _make_spmm_row(8, 8, True, 8)
