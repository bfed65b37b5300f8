"""SIMD row tiles for CSR SpMM, as a Numba intrinsic written in LLVM IR.

``Y[i, j0:j0+w] = sum over the entries k of a row segment of data[k] *
X[indices[k], j0:j0+w]``: the tile of Y stays in vector registers while the
segment's entries are added into it, one broadcast value times one row
segment of X each. Numba's own loop over eight scalar accumulators is not
vectorised by LLVM (scalar ``vmulsd``/``vaddsd``, a load and an add per column
and entry); here each entry costs one broadcast and, per four float64 or eight
float32 columns, one load and one fused multiply-add. On matrices whose
gathers miss the caches the fewer instructions also let the processor keep
more rows of X in flight.

The vectors are 32 bytes (AVX2; LLVM splits or widens them for other CPUs), a
tile is ``TILE_VECTORS`` of them: 16 float64 or 32 float32 columns. Entries
alternate between two sets of accumulators (8 vector registers in all), so
that the additions into one column form two independent chains: the sum over
a segment is taken in a fixed order, entries ``lo, lo + 2, ...`` and ``lo + 1,
lo + 3, ...`` apart, then added, so results are the same bits run after run.

Nothing here validates its input. Numba's cache keys the kernels that use this
intrinsic on the source of ``csr.py`` only: after changing this file, clear
``spla/_kernels/__pycache__`` (or touch ``csr.py``).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .intrinsics import ir_fma, ir_load, ir_prefetch, ir_splat, ir_store

#: Bytes per vector register of the tile.
VECTOR_BYTES = 32
#: Vectors per tile (per accumulator set).
TILE_VECTORS = 4
#: Bytes of a row tile of Y: 16 float64 or 32 float32 columns.
TILE_BYTES = TILE_VECTORS * VECTOR_BYTES
#: Most cache lines of a gathered row of X that one prefetch covers: 256 bytes
#: (16 float64 or 32 float32 columns, as a tile; a row 64-byte aligned or not).
#: Only the lines the row spans are prefetched, each once (before: always five,
#: repeating the last; 16-column float64 SpMM on 2M x 2M matrices, Zen 3, 2
#: threads: 5-8% faster, e.g. uniform 282 ms against 307).
PREFETCH_LINES = 5
_SETS = 2

_I8 = ir.IntType(8)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def _make_row_tile(masked):
    def typer(typingctx, indices, data, X, out, out_row, lo, hi, j0, width, first, ahead,
              last):
        floats = (types.float32, types.float64)
        ok = (isinstance(indices, types.Array) and indices.ndim == 1
              and isinstance(indices.dtype, types.Integer)
              and isinstance(data, types.Array) and data.ndim == 1 and data.dtype in floats
              and all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C"
                      and a.dtype == data.dtype for a in (X, out))
              and all(isinstance(i, types.Integer)
                      for i in (out_row, lo, hi, j0, width, ahead, last))
              and isinstance(first, types.Boolean))
        if not ok:
            return None
        sig = types.void(indices, data, X, out, out_row, lo, hi, j0, width, first, ahead, last)

        def codegen(context, builder, signature, args):
            ity, dty, xty, oty = signature.args[:4]
            ints = {name: context.cast(builder, args[i], signature.args[i], types.int64)
                    for i, name in ((4, "row"), (5, "lo"), (6, "hi"), (7, "j0"), (8, "width"),
                                    (10, "ahead"), (11, "last"))}
            first = args[9]
            ftype = context.get_value_type(dty.dtype)
            elem = "f64" if dty.dtype == types.float64 else "f32"
            L = VECTOR_BYTES // (8 if elem == "f64" else 4)
            vty = ir.VectorType(ftype, L)
            zero = ir.Constant(vty, [0.0] * L)

            iarr = context.make_array(ity)(context, builder, args[0])
            darr = context.make_array(dty)(context, builder, args[1])
            xarr = context.make_array(xty)(context, builder, args[2])
            oarr = context.make_array(oty)(context, builder, args[3])
            itemsize = _I64(8 if elem == "f64" else 4)
            istride = builder.extract_value(iarr.strides, 0)
            dstride = builder.extract_value(darr.strides, 0)
            ldx = builder.udiv(builder.extract_value(xarr.strides, 0), itemsize)
            ldo = builder.udiv(builder.extract_value(oarr.strides, 0), itemsize)
            i8p = _I8.as_pointer()
            ibase = builder.bitcast(iarr.data, i8p)
            dbase = builder.bitcast(darr.data, i8p)
            iel = context.get_value_type(ity.dtype)
            signed = ity.dtype.signed

            def column(k):
                p = builder.gep(ibase, [builder.mul(k, istride)], inbounds=True)
                c = builder.load(builder.bitcast(p, iel.as_pointer()))
                if iel.width < 64:
                    c = builder.sext(c, _I64) if signed else builder.zext(c, _I64)
                return c

            def value(k):
                p = builder.gep(dbase, [builder.mul(k, dstride)], inbounds=True)
                return builder.load(builder.bitcast(p, ftype.as_pointer()))

            optr = builder.gep(oarr.data, [builder.add(builder.mul(ints["row"], ldo),
                                                       ints["j0"])], inbounds=True)
            xptr = xarr.data
            masks = [None] * TILE_VECTORS
            if masked:
                wsplat = ir_splat(builder, ints["width"], ir.VectorType(_I64, L))
                masks = [builder.icmp_unsigned(
                    "<", ir.Constant(ir.VectorType(_I64, L), list(range(t * L, t * L + L))),
                    wsplat) for t in range(TILE_VECTORS)]

            acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(TILE_VECTORS)]
                   for _ in range(_SETS)]
            with builder.if_then(builder.not_(first)):
                for t in range(TILE_VECTORS):
                    builder.store(ir_load(builder, optr, vty, _I64(t * L), masks[t]),
                                  acc[0][t])

            # Lines of X's row (its first PREFETCH_LINES), prefetched for the
            # entry ``ahead`` places on, in the first tile of a row (j0 == 0).
            row_bytes = builder.mul(builder.extract_value(oarr.shape, 1), itemsize)
            n_lines = PREFETCH_LINES
            do_prefetch = builder.and_(builder.icmp_unsigned("==", ints["j0"], _I64(0)),
                                       builder.icmp_unsigned("!=", ints["ahead"], _I64(0)))

            def add_entry(k, s):
                c = column(k)
                v = value(k)
                vb = ir_splat(builder, v, vty)
                xrow = builder.gep(xptr, [builder.add(builder.mul(c, ldx), ints["j0"])],
                                   inbounds=True)
                for t in range(TILE_VECTORS):
                    xv = ir_load(builder, xrow, vty, _I64(t * L), masks[t])
                    a = acc[s][t]
                    builder.store(ir_fma(builder, vb, xv, builder.load(a)), a)

            def prefetch_for(k):
                future = column(builder.add(k, ints["ahead"]))
                start = builder.bitcast(builder.gep(xptr, [builder.mul(future, ldx)],
                                                    inbounds=False), i8p)
                # The lines the row spans, at most n_lines: each once.
                addr = builder.ptrtoint(start, _I64)
                first_line = builder.and_(addr, _I64(-64))
                last_line = builder.and_(builder.add(addr, builder.sub(row_bytes, _I64(1))),
                                         _I64(-64))
                span = builder.sub(last_line, first_line)  # 64 (lines - 1)
                # Locality 1: into L2 (prefetcht2), leaving L1's miss buffers to
                # the demand loads; 3-8% faster than into L1 on a Zen 3.
                ir_prefetch(builder, start, 1)
                for q in range(1, n_lines):
                    with builder.if_then(builder.icmp_unsigned("<=", _I64(64 * q), span)):
                        ir_prefetch(builder, builder.gep(start, [_I64(64 * q)]), 1)

            lo, hi = ints["lo"], ints["hi"]
            pairs = builder.udiv(builder.sub(hi, lo), _I64(2))
            with cgutils.for_range(builder, pairs) as loop:
                k = builder.add(lo, builder.mul(loop.index, _I64(2)))
                with builder.if_then(builder.and_(do_prefetch,
                                                  builder.icmp_unsigned("<", k, ints["last"]))):
                    prefetch_for(k)
                    prefetch_for(builder.add(k, _I64(1)))
                add_entry(k, 0)
                add_entry(builder.add(k, _I64(1)), 1)
            k_end = builder.add(lo, builder.mul(pairs, _I64(2)))
            with builder.if_then(builder.icmp_unsigned("<", k_end, hi)):
                add_entry(k_end, 0)
            for t in range(TILE_VECTORS):
                total = builder.fadd(builder.load(acc[0][t]), builder.load(acc[1][t]))
                ir_store(builder, total, optr, _I64(t * L), masks[t])
            return context.get_dummy_value()

        return sig, codegen

    typer.__name__ = "row_tile_masked" if masked else "row_tile"
    typer.__doc__ = f"""``out[out_row, j0:j0+w] (+)= sum over lo <= k < hi of data[k] *
    X[indices[k], j0:j0+w]`` for float32 or float64, with ``w`` = ``width`` columns
    {"(at most" if masked else "(exactly"} one tile of ``TILE_BYTES`` bytes).

    ``first`` starts from zero, else from what ``out`` holds. ``X`` and ``out``
    are C-contiguous, ``X`` at least as wide as ``out`` (wider when its rows are
    padded); ``indices`` and ``data`` any 1-D arrays. Where ``ahead``
    is not zero and ``j0`` is zero, the rows of X that entries ``k + ahead`` and
    ``k + 1 + ahead`` gather (their first ``PREFETCH_LINES`` lines) are
    prefetched for every even step ``k < last``: ``last + ahead + 1`` must not
    pass the end of ``indices``."""
    return intrinsic(typer)


#: A full tile (``width`` columns of ``TILE_BYTES``): no masks.
row_tile = _make_row_tile(False)
#: Any ``width`` up to a tile: masked loads and stores.
row_tile_masked = _make_row_tile(True)
