"""Tensor maps (``CUtensorMap``) for the Hopper kernels' bulk tensor copies (TMA):
encoded on the host by the driver's ``cuTensorMapEncodeTiled`` through ctypes (CuPy
does not expose it), used by the 2:4 GEMM (``sparse24.py``) and the attention
kernels (``attention.py``)."""

import ctypes
import functools

import numpy as np

#: CUtensorMapDataType codes
TMA_UINT16, TMA_UINT32 = 1, 2
#: CUtensorMapSwizzle codes
SWIZZLE_NONE, SWIZZLE_64B, SWIZZLE_128B = 0, 2, 3
_L2_PROMOTION_128B = 2


@functools.lru_cache(maxsize=None)
def _encode_tiled():
    """The driver's ``cuTensorMapEncodeTiled`` (libcuda, through ctypes)."""
    fn = ctypes.CDLL("libcuda.so.1").cuTensorMapEncodeTiled
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p,
                   ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64),
                   ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32),
                   ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return fn


@functools.lru_cache(maxsize=256)
def _layout(dtype_code, itemsize, rows, cols, box_cols, box_rows):
    """The ctypes arrays of a map's shape (dims, strides, box, element strides),
    made once per shape: only the address differs between the maps of a shape."""
    u64, u32 = ctypes.c_uint64, ctypes.c_uint32
    return ((u64 * 2)(cols, rows), (u64 * 1)(cols * itemsize), (u32 * 2)(box_cols, box_rows),
            (u32 * 2)(1, 1))


def aligned_bytes(nbytes):
    """A NumPy ``uint8`` buffer of ``nbytes`` at a 64-byte aligned address (a
    ``CUtensorMap``'s alignment)."""
    buf = np.zeros(nbytes + 64, dtype=np.uint8)
    off = (-buf.ctypes.data) % 64
    return buf[off:off + nbytes]


def tensor_map(ptr, dtype_code, itemsize, rows, cols, box_cols, box_rows, swizzle, out=None):
    """The 128-byte ``CUtensorMap`` of a row-major 2-D array (``rows x cols``
    elements at device address ``ptr``, rows contiguous) read in boxes of
    ``box_rows x box_cols`` elements, as a NumPy ``uint8`` array: written into
    ``out`` (128 bytes at a 64-byte aligned address, see ``aligned_bytes``) if
    given, else a new array."""
    target = aligned_bytes(128) if out is None else out
    dims, strides, box, ones = _layout(dtype_code, itemsize, rows, cols, box_cols, box_rows)
    err = _encode_tiled()(target.ctypes.data, dtype_code, 2, ctypes.c_void_p(ptr), dims, strides, box,
                          ones, 0, swizzle, _L2_PROMOTION_128B, 0)
    if err:
        raise RuntimeError(f"cuTensorMapEncodeTiled failed with CUDA error {err} "
                           f"({rows} x {cols} array, box {box_rows} x {box_cols})")
    return target if out is not None else target.copy()
