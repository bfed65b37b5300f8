"""NVRTC compilation of the CUDA C sources in ``spla_cuda/kernels``.

A kernel is named by its source file and a C++ name expression (the template
instantiation, e.g. ``csr_spmv_tasks<float, int, 128, 8>``). Each instantiation
is compiled once per process (``functools.lru_cache``) and once per machine:
CuPy keeps the compiled binary in its on-disk kernel cache (``~/.cupy/kernel_cache``),
keyed by the source text, so a later process loads it without compiling.

Prebuilt kernels: ``kernels/prebuilt`` may hold cubins for Hopper (sm_90a), one
per instantiation, named by a hash of the source text, the expression and the
options, so a cubin is used only for the exact source it was built from (any
change of the source falls back to NVRTC). The lists of the prebuilt
instantiations are committed beside them (``kernels/prebuilt/*.jsonl``, one JSON
line ``{"source": ..., "expression": ..., "options": [...]}`` per cubin), so
``python spla_cuda/_compile.py build spla_cuda/kernels/prebuilt/attention.jsonl``
(no CuPy or GPU needed, only ``nvcc``) rebuilds them after a source edit, and
``python spla_cuda/_compile.py check`` names the cubins no list line matches
under the current sources (stale) and the list lines without a cubin. A run with
``SPLA_CUDA_RECORD=LIST.jsonl`` in the environment writes such a list (one line
per instantiation compiled). ``SPLA_CUDA_PREBUILT=0`` ignores the cubins.

Headers: a source's ``#include "<name>"`` of a file in ``kernels`` (``common.cuh``,
``attention_tc_common.cuh``) is replaced by that file's text before compiling
(see ``_source``), so the hash, and CuPy's cache key, change with the header.
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

# CuPy is imported by the functions that launch kernels, so that the build step
# (nvcc, no GPU) and the stale-cubin check load this file without it.

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


#: A quoted include directive (at the start of a line, so not one quoted in a
#: comment); the name must be a file of ``kernels``.
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.MULTILINE)


@functools.lru_cache(maxsize=None)
def _source(name):
    """The text of ``kernels/<name>`` with each ``#include "<header>"`` replaced by
    the text of ``kernels/<header>`` (its ``#pragma once`` removed; headers may
    include headers; a header already pasted pastes nothing again).

    Headers are pasted rather than included so that the text, which keys both
    CuPy's kernel cache and the prebuilt cubins, changes whenever a header does;
    and so that nvcc (the build step) and NVRTC see the same single text.
    """
    return _paste(name, {name})


def _paste(name, pasted):
    def header(match):
        inc = match.group(1)
        if not (KERNELS / inc).is_file():
            raise FileNotFoundError(f"kernels/{name} includes \"{inc}\", which is not a file of {KERNELS}")
        if inc in pasted:
            return ""
        pasted.add(inc)
        return _paste(inc, pasted).replace("#pragma once", "")

    return _INCLUDE.sub(header, (KERNELS / name).read_text())


def _key(source, expression, options):
    text = "\0".join((_source(source), expression, *options, PREBUILT_ARCH))
    return f"{pathlib.Path(source).stem}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def _prebuilt(source, expression, options):
    """The prebuilt kernel of this exact source and expression, or None."""
    if os.environ.get("SPLA_CUDA_PREBUILT", "1") == "0":  # NVRTC only (for tests)
        return None
    import cupy

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
    import cupy

    module = cupy.RawModule(
        code=_source(source),
        options=("-std=c++17",) + tuple(options),
        name_expressions=(expression,),
    )
    return module.get_function(expression)


@functools.lru_cache(maxsize=None)
def _sm_count(device):
    import cupy

    return cupy.cuda.Device(device).attributes["MultiProcessorCount"]


def multiprocessors(device=None):
    """The number of multiprocessors of GPU ``device`` (the current one for None),
    read once per device (``Device.attributes`` queries every attribute)."""
    import cupy

    return _sm_count(cupy.cuda.Device().id if device is None else device)


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


def instantiations(listing):
    """The ``(source, expression, options)`` of each line of the JSON-lines file
    ``listing`` (the format ``SPLA_CUDA_RECORD`` writes)."""
    out = []
    for line in pathlib.Path(listing).read_text().splitlines():
        if line.strip():
            item = json.loads(line)
            out.append((item["source"], item["expression"], tuple(item["options"])))
    return out


def check(prebuilt=PREBUILT):
    """``(stale, missing)``: the cubins of ``prebuilt`` whose name is the key of no
    line of its ``*.jsonl`` lists under the current sources (built from an older
    source, so never loaded), and the list lines that have no cubin."""
    listed = {_key(*item): item for f in sorted(pathlib.Path(prebuilt).glob("*.jsonl"))
              for item in instantiations(f)}
    have = {p.stem for p in pathlib.Path(prebuilt).glob("*.cubin")}
    return sorted(have - listed.keys()), sorted(listed[k] for k in listed.keys() - have)


def build(listing, nvcc="nvcc"):
    """Build ``kernels/prebuilt`` cubins (sm_90a) for the instantiations in ``listing``
    (a JSON-lines file of ``SPLA_CUDA_RECORD``), one cubin per instantiation."""
    PREBUILT.mkdir(exist_ok=True)
    seen = set()
    for source, expression, options in instantiations(listing):
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
            done = subprocess.run([nvcc, "-cubin", f"-gencode=arch=compute_90a,code={PREBUILT_ARCH}",
                                   "-std=c++17", *flags, "-o", str(out), str(cu)],
                                  capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"nvcc failed on {source} {expression}:\n{done.stderr}")
        print(f"{out.name}: {source} {expression}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "build":
        build(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "check":
        stale, missing = check()
        for name in stale:
            print(f"stale (no list line matches it under the current sources): {name}.cubin")
        for item in missing:
            print(f"not built: {item}")
        sys.exit(1 if stale or missing else 0)
    else:
        sys.exit("usage: python spla_cuda/_compile.py build LIST.jsonl | check")
