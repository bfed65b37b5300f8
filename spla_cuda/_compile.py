"""NVRTC compilation of the CUDA C sources in ``spla_cuda/kernels``.

A kernel is named by its source file and a C++ name expression (the template
instantiation, e.g. ``csr_spmv_tasks<float, int, 128, 8>``). Each instantiation
is compiled once per process (``functools.lru_cache``) and once per machine:
CuPy keeps the compiled binary in its on-disk kernel cache (``~/.cupy/kernel_cache``),
keyed by the source text, so a later process loads it without compiling.
"""

import functools
import pathlib

import cupy
import numpy as np

KERNELS = pathlib.Path(__file__).with_name("kernels")

#: The C++ type of each dtype, as the kernels spell it.
CTYPES = {
    np.dtype(np.float16): "half_bits",
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
    np.dtype(np.complex64): "complex<float>",
    np.dtype(np.complex128): "complex<double>",
    np.dtype(np.int32): "int",
    np.dtype(np.int64): "long long",
}


def ctype(dtype):
    """The C++ spelling of ``dtype`` (``TypeError`` for one the kernels lack)."""
    try:
        return CTYPES[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"spla_cuda has no kernels for dtype {np.dtype(dtype).name}") from None


@functools.lru_cache(maxsize=None)
def _source(name):
    # The shared header is pasted in rather than included, so that CuPy's cache
    # key (the source text) changes whenever the header does.
    common = (KERNELS / "common.cuh").read_text().replace("#pragma once", "")
    return (KERNELS / name).read_text().replace('#include "common.cuh"', common)


@functools.lru_cache(maxsize=None)
def kernel(source, expression, options=()):
    """The compiled kernel ``expression`` of ``kernels/<source>``."""
    module = cupy.RawModule(
        code=_source(source),
        options=("-std=c++17",) + tuple(options),
        name_expressions=(expression,),
    )
    return module.get_function(expression)


def blocks(items, per_block):
    """Number of blocks of ``per_block`` items that cover ``items`` (at least 1)."""
    return max(1, -(-int(items) // int(per_block)))


def vector_width(dtype, k):
    """Values per 16-byte load for rows of ``k`` values: the largest power of two
    that divides ``k`` with ``itemsize * width <= 16``."""
    width = max(1, 16 // np.dtype(dtype).itemsize)
    while width > 1 and k % width:
        width //= 2
    return width


def lanes_per_row(k, width):
    """Lanes that share a row of ``k`` columns, ``width`` per lane: a power of two <= 32."""
    need = -(-int(k) // width)
    lanes = 1
    while lanes < need and lanes < 32:
        lanes *= 2
    return lanes
