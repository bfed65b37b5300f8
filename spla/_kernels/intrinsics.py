"""Low-level helpers for the kernels that Numba does not expose.

Two kinds: Numba intrinsics (software prefetch), and the LLVM IR builders that
the SIMD intrinsics of ``simd.py`` (N:M) and ``csr_simd.py`` (CSR SpMM) share
(``ir_*``: vector loads and stores, masked or not, broadcasts, fused
multiply-adds and prefetches, for float32 and float64 vectors of any width).
"""

import platform

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# LLVM 15 and later name the intrinsics by the opaque pointer type.
_OPAQUE = llvm.llvm_version_info[0] >= 15
_PREFETCH = "llvm.prefetch.p0" if _OPAQUE else "llvm.prefetch.p0i8"
_I1 = ir.IntType(1)
_I8P = ir.IntType(8).as_pointer()
_I32 = ir.IntType(32)
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


# -- LLVM IR builders ----------------------------------------------------------------


def ir_prefetch(builder, ptr, locality=3):
    """Emit a read prefetch of the line at ``ptr`` (any pointer) into the cache
    levels that ``locality`` names (3: all, 2: L2 and beyond, 1: the outer
    ones). Never faults, even past the end of an array."""
    fnty = ir.FunctionType(ir.VoidType(), [_I8P, _I32, _I32, _I32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
    builder.call(fn, [builder.bitcast(ptr, _I8P), _I32(0), _I32(locality), _I32(1)])


def _elem_name(vty):
    e = vty.element
    if isinstance(e, ir.DoubleType):
        return "f64"
    if isinstance(e, ir.FloatType):
        return "f32"
    return f"i{e.width}"


def _masked_name(op, vty):
    v = f"v{vty.count}{_elem_name(vty)}"
    return f"llvm.masked.{op}.{v}.p0" if _OPAQUE else f"llvm.masked.{op}.{v}.p0{v}"


def ir_splat(builder, scalar, vty):
    """``vty`` with every lane ``scalar``."""
    vec = builder.insert_element(ir.Constant(vty, ir.Undefined), scalar, _I32(0))
    return builder.shuffle_vector(vec, vec,
                                  ir.Constant(ir.VectorType(_I32, vty.count), [0] * vty.count))


def ir_fma(builder, a, b, c):
    """a * b + c for float vectors of any width (one FMA instruction per register)."""
    vty = a.type
    fnty = ir.FunctionType(vty, [vty, vty, vty])
    fn = cgutils.get_or_insert_function(builder.module, fnty,
                                        f"llvm.fma.v{vty.count}{_elem_name(vty)}")
    return builder.call(fn, [a, b, c])


def ir_load(builder, elem_ptr, vty, offset=None, mask=None):
    """Unaligned load of ``vty`` at ``elem_ptr`` (+ ``offset`` elements); with a
    ``mask`` (<N x i1>) the lanes outside it read nothing and are zero."""
    p = elem_ptr if offset is None else builder.gep(elem_ptr, [offset], inbounds=True)
    p = builder.bitcast(p, vty.as_pointer())
    if mask is None:
        return builder.load(p, align=1)
    fnty = ir.FunctionType(vty, [vty.as_pointer(), _I32, ir.VectorType(_I1, vty.count), vty])
    fn = cgutils.get_or_insert_function(builder.module, fnty, _masked_name("load", vty))
    return builder.call(fn, [p, _I32(1), mask, ir.Constant(vty, [0] * vty.count)])


def ir_store(builder, vec, elem_ptr, offset=None, mask=None):
    """Unaligned store of ``vec`` at ``elem_ptr`` (+ ``offset`` elements), of the
    lanes in ``mask`` only when one is given."""
    vty = vec.type
    p = elem_ptr if offset is None else builder.gep(elem_ptr, [offset], inbounds=True)
    p = builder.bitcast(p, vty.as_pointer())
    if mask is None:
        builder.store(vec, p, align=1)
        return
    fnty = ir.FunctionType(ir.VoidType(),
                           [vty, vty.as_pointer(), _I32, ir.VectorType(_I1, vty.count)])
    fn = cgutils.get_or_insert_function(builder.module, fnty, _masked_name("store", vty))
    builder.call(fn, [vec, p, _I32(1), mask])


# -- Numba intrinsics ----------------------------------------------------------------


def _element_pointer(context, builder, signature, args, n_indices):
    """Pointer to ``array[i0, i1, ..]`` of an intrinsic whose first argument is the
    array and whose next ``n_indices`` are integer indices (the missing trailing
    ones are 0), without bounds or wraparound tests."""
    arrty = signature.args[0]
    arr = context.make_array(arrty)(context, builder, args[0])
    idx = [context.cast(builder, args[1 + k], signature.args[1 + k], types.intp)
           for k in range(n_indices)]
    idx += [context.get_constant(types.intp, 0)] * (arrty.ndim - n_indices)
    return cgutils.get_item_pointer(context, builder, arrty, arr, idx, wraparound=False)


@intrinsic
def prefetch(typingctx, array, index):
    """Hint the CPU to load the cache line of ``array[index]`` (of the first element of
    row ``index`` for a 2-D array) for reading. Never faults, even out of range."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        ir_prefetch(builder, _element_pointer(context, builder, signature, args, 1), 3)
        return context.get_dummy_value()

    return sig, codegen


def _make_prefetch_row(locality, doc):
    def typer(typingctx, array, row, col):
        if not (isinstance(array, types.Array) and array.ndim == 2
                and isinstance(row, types.Integer) and isinstance(col, types.Integer)):
            return None
        sig = types.void(array, row, col)

        def codegen(context, builder, signature, args):
            ir_prefetch(builder, _element_pointer(context, builder, signature, args, 2),
                        locality)
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


def _make_store(streaming):
    def typer(typingctx, array, index, value):
        numbers = (types.Float, types.Integer, types.Complex)
        if not (isinstance(array, types.Array) and array.ndim == 1
                and isinstance(array.dtype, numbers) and isinstance(index, types.Integer)
                and isinstance(value, numbers)):
            return None
        sig = types.void(array, index, value)

        def codegen(context, builder, signature, args):
            arrty, _, valty = signature.args
            ptr = _element_pointer(context, builder, signature, args, 1)
            val = context.cast(builder, args[2], valty, arrty.dtype)
            cplx = isinstance(arrty.dtype, types.Complex)
            # NumPy aligns complex elements only as their real parts.
            inst = builder.store(val, ptr, align=arrty.dtype.bitwidth // (16 if cplx else 8))
            if streaming and not cplx:  # complex values: a plain store
                inst.set_metadata("nontemporal", builder.module.add_metadata([_I32(1)]))
            return context.get_dummy_value()

        return sig, codegen

    return intrinsic(typer)


store = _make_store(False)
store.__doc__ = """``array[index] = value`` for a 1-D numeric array, without a bounds or
    wraparound test (the twin of ``store_streaming`` for kernels that keep the
    output in cache)."""

store_streaming = _make_store(True)
store_streaming.__doc__ = """``array[index] = value`` as a non-temporal store (``movnti``
    on x86): the line is written to memory without being read first or kept in
    cache. For outputs too large to stay in cache, written once, in order; it
    saves the read that a plain store's write-allocate makes (complex values
    get a plain store). Call
    ``store_fence`` before another thread reads what these stores wrote."""


@intrinsic
def store_fence(typingctx):
    """Make this thread's earlier non-temporal stores visible to other threads
    (``sfence`` on x86, a release fence elsewhere)."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        if _X86:
            fn = cgutils.get_or_insert_function(builder.module,
                                                ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse.sfence")
            builder.call(fn, [])
        else:
            builder.fence("release")
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def no_fence(typingctx):
    """Nothing: the twin of ``store_fence`` for kernels that use ``store``."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return sig, codegen
