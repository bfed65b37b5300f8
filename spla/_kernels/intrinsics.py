"""Low-level helpers for the kernels that Numba does not expose."""

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# LLVM 15 and later name the intrinsic by the opaque pointer type.
_PREFETCH = "llvm.prefetch.p0" if llvm.llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"


@intrinsic
def prefetch(typingctx, array, index):
    """Hint the CPU to load the cache line of ``array[index]`` (of the first element of
    row ``index`` for a 2-D array) for reading. Never faults, even out of range."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        arrty, idxty = signature.args
        arr = context.make_array(arrty)(context, builder, args[0])
        first = context.cast(builder, args[1], idxty, types.intp)
        zero = context.get_constant(types.intp, 0)
        ptr = cgutils.get_item_pointer(
            context, builder, arrty, arr, [first] + [zero] * (arrty.ndim - 1), wraparound=False
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
        # (address, rw = read, locality = keep in all levels, cache = data)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


def _make_prefetch_row(locality, doc):
    def typer(typingctx, array, row, col):
        if not (isinstance(array, types.Array) and array.ndim == 2
                and isinstance(row, types.Integer) and isinstance(col, types.Integer)):
            return None
        sig = types.void(array, row, col)

        def codegen(context, builder, signature, args):
            arrty, rowty, colty = signature.args
            arr = context.make_array(arrty)(context, builder, args[0])
            i = context.cast(builder, args[1], rowty, types.intp)
            j = context.cast(builder, args[2], colty, types.intp)
            ptr = cgutils.get_item_pointer(context, builder, arrty, arr, [i, j],
                                           wraparound=False)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(locality), i32(1)])
            return context.get_dummy_value()

        return sig, codegen

    typer.__doc__ = doc
    return intrinsic(typer)


prefetch_row = _make_prefetch_row(3, """Hint the CPU to load the cache line of
    ``array[row, col]`` of a 2-D array for reading, without creating a view (views
    of a shared array touch its reference count, an atomic that two threads would
    fight over). Never faults.""")

prefetch_row_l2 = _make_prefetch_row(2, """``prefetch_row`` into L2 and the outer
    levels only (``prefetcht1`` on x86): for data needed a little later, which
    should not evict what L1 holds now.""")
