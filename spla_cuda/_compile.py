"""NVRTC compilation of the CUDA C sources in ``spla_cuda/kernels``.

A kernel is named by its source file and a C++ name expression (the template
instantiation, e.g. ``csr_spmv_tasks<float, int, 128, 8>``). Each instantiation
is compiled once per process (``functools.lru_cache``) and once per machine:
CuPy keeps the compiled binary in its on-disk kernel cache (``~/.cupy/kernel_cache``),
keyed by the source text, so a later process loads it without compiling.

Prebuilt kernels: ``kernels/prebuilt`` may hold cubins for Hopper (sm_90a), one
per instantiation, named by a hash of the source text, the expression and the
options, so a cubin is used only for the exact source it was built from (any
change of the source falls back to NVRTC). ``python spla_cuda/_compile.py build
LIST.jsonl`` (no CuPy or GPU needed, only ``nvcc``) builds them with ``nvcc`` from a list of instantiations, which a run
with ``SPLA_CUDA_RECORD=LIST.jsonl`` in the environment writes (one JSON line
per instantiation compiled). ``SPLA_CUDA_PREBUILT=0`` ignores them.
"""

import functools
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import numpy as np

try:
    import cupy
except ImportError:  # the build step (nvcc, no GPU) runs without CuPy
    if __name__ != "__main__":
        raise

KERNELS = pathlib.Path(__file__).with_name("kernels")
PREBUILT = KERNELS / "prebuilt"
#: The architecture of the prebuilt cubins, and the compute capability that runs them.
PREBUILT_ARCH, PREBUILT_CC = "sm_90a", "90"

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


def _key(source, expression, options):
    text = "\0".join((_source(source), expression, *options, PREBUILT_ARCH))
    return f"{pathlib.Path(source).stem}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def _prebuilt(source, expression, options):
    """The prebuilt kernel of this exact source and expression, or None."""
    if os.environ.get("SPLA_CUDA_PREBUILT", "1") == "0":  # NVRTC only (for tests)
        return None
    path = PREBUILT / f"{_key(source, expression, options)}.cubin"
    if not path.is_file() or cupy.cuda.Device().compute_capability != PREBUILT_CC:
        return None
    names = set(re.findall(rb"\.text\.(_Z[0-9A-Za-z_]+)\x00", path.read_bytes()))
    if len(names) != 1:
        return None
    return cupy.RawModule(path=str(path)).get_function(names.pop().decode())


@functools.lru_cache(maxsize=None)
def kernel(source, expression, options=()):
    """The compiled kernel ``expression`` of ``kernels/<source>``: prebuilt for this
    GPU if ``kernels/prebuilt`` has it, else compiled with NVRTC."""
    record = os.environ.get("SPLA_CUDA_RECORD")
    if record:
        with open(record, "a") as f:
            f.write(json.dumps({"source": source, "expression": expression,
                                "options": list(options)}) + "\n")
    k = _prebuilt(source, expression, options)
    if k is not None:
        return k
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


def build(listing, nvcc="nvcc"):
    """Build ``kernels/prebuilt`` cubins (sm_90a) for the instantiations in ``listing``
    (a JSON-lines file of ``SPLA_CUDA_RECORD``), one cubin per instantiation."""
    PREBUILT.mkdir(exist_ok=True)
    seen = set()
    for line in pathlib.Path(listing).read_text().splitlines():
        item = json.loads(line)
        source, expression, options = item["source"], item["expression"], tuple(item["options"])
        key = _key(source, expression, options)
        if key in seen:
            continue
        seen.add(key)
        flags = [o for o in options if not o.startswith("-arch")]
        with tempfile.TemporaryDirectory() as tmp:
            cu = pathlib.Path(tmp) / "k.cu"
            # Taking the kernel's address instantiates it, as NVRTC's name expressions do.
            cu.write_text(_source(source) + f"\nstatic void* const spla_prebuilt = (void*)&{expression};\n")
            out = PREBUILT / f"{key}.cubin"
            subprocess.run([nvcc, "-cubin", f"-gencode=arch=compute_90a,code={PREBUILT_ARCH}",
                            "-std=c++17", *flags, "-o", str(out), str(cu)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"{out.name}: {source} {expression}")


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "build":
    build(sys.argv[2])
