"""Tensor maps (``CUtensorMap``) for the Hopper kernels' bulk tensor copies (TMA):
encoded on the host by the driver's ``cuTensorMapEncodeTiled`` through ctypes (CuPy
does not expose it), used by the 2:4 GEMM (``sparse24.py``) and the attention
forward (``attention.py``)."""

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


def tensor_map(ptr, dtype_code, itemsize, rows, cols, box_cols, box_rows, swizzle):
    """The 128-byte ``CUtensorMap`` of a row-major 2-D array (``rows x cols``
    elements at device address ``ptr``, rows contiguous) read in boxes of
    ``box_rows x box_cols`` elements, as a NumPy ``uint8`` array."""
    buf = np.zeros(128 + 64, dtype=np.uint8)
    off = (-buf.ctypes.data) % 64                   # CUtensorMap is 64-byte aligned
    out = buf[off:off + 128]
    u64, u32 = ctypes.c_uint64, ctypes.c_uint32
    dims = (u64 * 2)(cols, rows)
    strides = (u64 * 1)(cols * itemsize)
    box = (u32 * 2)(box_cols, box_rows)
    ones = (u32 * 2)(1, 1)
    err = _encode_tiled()(out.ctypes.data, dtype_code, 2, ctypes.c_void_p(ptr), dims, strides, box,
                          ones, 0, swizzle, _L2_PROMOTION_128B, 0)
    if err:
        raise RuntimeError(f"cuTensorMapEncodeTiled failed with CUDA error {err} "
                           f"({rows} x {cols} array, box {box_rows} x {box_cols})")
    return out.copy()
