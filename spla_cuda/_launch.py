"""Kernel launches with their arguments packed by ``struct`` into one host buffer,
given to the driver's ``cuLaunchKernel`` (CuPy's ``driver.launchKernel``).

Why not CuPy's ``RawKernel.__call__``: it converts every argument to a C value on
every launch, one Python object per argument. The attention kernels take up to 27
arguments (pointers, the pattern's arrays, tensor maps, sizes), and that took 10-21
us of host time a launch on an H100's host (session 23), a real share of a training
step whose GPU work takes a few hundred microseconds. A ``Launcher`` is made once per
kernel and parameter list; a launch is one ``Struct.pack_into`` and one driver call.

The parameter list is a string with one code per parameter:

====  ======================================================  =====
code  C parameter                                             bytes
====  ======================================================  =====
``p`` a device address (``const T*``), passed as an ``int``   8
``i`` ``int``                                                 4
``q`` ``long long`` (``i64``)                                 8
``f`` ``float``                                               4
``T`` ``TmaPair`` (two ``CUtensorMap``), passed as 256 bytes  256
====  ======================================================  =====

``cuLaunchKernel`` reads each parameter through its own pointer, with the size the
kernel declares, so the buffer's layout is the launcher's own (each value at a
multiple of its size's alignment). What must agree with the kernel is the number
of parameters and their sizes: where the driver has ``cuFuncGetParamInfo`` (CUDA
12.4 and later) a ``Launcher`` checks both once, so a code string that does not
fit its kernel is a ``ValueError`` before any launch, not a kernel reading wrong
arguments. ``struct`` refuses what does not fit a code (a negative address, an
``int`` beyond 32 bits, a map of another length) with ``struct.error``.

CuPy is imported on first use, so the layout can be built and tested without it.
"""

import ctypes
import functools
import struct
import threading

import numpy as np

#: code: (struct format, size, alignment) of each parameter kind
CODES = {"p": ("Q", 8, 8), "i": ("i", 4, 4), "q": ("q", 8, 8), "f": ("f", 4, 4),
         "T": ("256s", 256, 64)}
_CUDA_ERROR_INVALID_VALUE = 1


def layout(signature):
    """``(format, offsets)``: the ``struct`` format (little-endian, explicit padding)
    of the parameters ``signature`` names and each one's offset in the buffer.

    >>> layout("pif")
    ('<Qif', [0, 8, 12])
    >>> layout("piT")[1]
    [0, 8, 64]
    """
    fmt, offsets, at = ["<"], [], 0
    for code in signature:
        try:
            spec, size, align = CODES[code]
        except KeyError:
            raise ValueError(f"unknown parameter code {code!r} in {signature!r}; "
                             f"the codes are {', '.join(CODES)}") from None
        pad = -at % align
        if pad:
            fmt.append(f"{pad}x")
        at += pad
        offsets.append(at)
        fmt.append(spec)
        at += size
    return "".join(fmt), offsets


@functools.lru_cache(maxsize=None)
def _param_info():
    """The driver's ``cuFuncGetParamInfo`` through ctypes, or None (an older driver)."""
    try:
        fn = ctypes.CDLL("libcuda.so.1").cuFuncGetParamInfo
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t),
                   ctypes.POINTER(ctypes.c_size_t)]
    return fn


def kernel_param_sizes(function_ptr):
    """The sizes in bytes of the parameters of the ``CUfunction`` at ``function_ptr``
    (the driver's own list), or None where the driver cannot say."""
    info = _param_info()
    if info is None:
        return None
    sizes, offset, size = [], ctypes.c_size_t(), ctypes.c_size_t()
    for index in range(4096):
        err = info(ctypes.c_void_p(function_ptr), index, ctypes.byref(offset), ctypes.byref(size))
        if err == _CUDA_ERROR_INVALID_VALUE:    # past the last parameter
            return sizes
        if err:
            return None
        sizes.append(size.value)
    return None


class Launcher:
    """Launches of one compiled kernel (a CuPy ``RawKernel``, as ``_compile.kernel``
    returns, or a ``Function``) whose parameters are ``signature`` (see the module's
    table): ``launcher(grid_x, grid_y, threads, shared_mem, stream, values)`` with
    ``values`` a tuple of one value a parameter. Safe to share between threads (a
    launch holds the launcher's lock)."""

    def __init__(self, function, signature, name="kernel"):
        function = getattr(function, "kernel", function)    # a RawKernel's Function here
        fmt, offsets = layout(signature)
        sizes = kernel_param_sizes(function.ptr)
        want = [CODES[c][1] for c in signature]
        if sizes is not None and sizes != want:
            raise ValueError(f"{name}: the parameter list {signature!r} has sizes {want}, the "
                             f"kernel's are {sizes}")
        self.signature, self.name = signature, name
        self._function = function           # keeps the module loaded
        self._ptr = function.ptr
        self._struct = struct.Struct(fmt)
        raw = np.zeros(self._struct.size + 64, dtype=np.uint8)
        start = (-raw.ctypes.data) % 64
        self._buffer = raw[start:start + self._struct.size]
        base = self._buffer.ctypes.data
        self._params = np.array([base + o for o in offsets] or [0], dtype=np.uint64)
        self._params_ptr = self._params.ctypes.data if offsets else 0
        self._lock = threading.Lock()
        self._launch = None     # CuPy's driver.launchKernel, looked up on the first launch

    def __call__(self, grid_x, grid_y, threads, shared_mem, stream, values):
        if self._launch is None:
            from cupy.cuda import driver

            self._launch = driver.launchKernel
        with self._lock:    # the driver has read the buffer when launchKernel returns
            self._struct.pack_into(self._buffer, 0, *values)
            self._launch(self._ptr, grid_x, grid_y, 1, threads, 1, 1, shared_mem, stream,
                         self._params_ptr, 0)

    def __repr__(self):
        return f"<Launcher {self.name} ({self.signature})>"


_LAUNCHERS = {}


def launcher(function, signature, name="kernel"):
    """The ``Launcher`` of ``function`` (a CuPy ``RawKernel``, whose ``kernel`` is the
    ``Function`` of the current GPU, or a ``Function``) with parameters ``signature``
    (made once per function and list)."""
    function = getattr(function, "kernel", function)
    key = (function.ptr, signature)
    got = _LAUNCHERS.get(key)
    if got is None:
        got = _LAUNCHERS[key] = Launcher(function, signature, name)
    return got


def ensure_context(device):
    """Make GPU ``device``'s primary context current on this thread if none is.

    The CUDA runtime makes a context current lazily, on a thread's first runtime
    call that needs one; the driver's calls (``cuLaunchKernel``, a module load) need
    one already. A thread can reach spla's launches without any such call: torch's
    autograd worker runs a backward whose tensors come from PyTorch's caching
    allocator (no ``cudaMalloc``), and its device guard skips ``cudaSetDevice`` for
    the device the thread already names. Since CUDA 12 ``cudaSetDevice`` makes the
    primary context current at once; checking first costs a fraction of a
    microsecond.
    """
    from cupy.cuda import driver, runtime

    if driver.ctxGetCurrent() == 0:
        runtime.setDevice(device)
