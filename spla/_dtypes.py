"""Value and index dtypes that spla supports, and the rules that pick them."""

import functools

import numpy as np

#: Value dtypes that every format and kernel supports.
VALUE_DTYPES = (
    np.dtype(np.float32),
    np.dtype(np.float64),
    np.dtype(np.complex64),
    np.dtype(np.complex128),
)

#: Index dtypes that kernels are compiled for.
INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))

_INT32_MAX = np.iinfo(np.int32).max


def native(dtype):
    """``dtype`` in the machine's byte order (``>f8`` becomes ``float64`` on x86).

    Every byte order is accepted on input; spla stores and computes in native order.
    """
    dt = np.dtype(dtype)
    return dt.newbyteorder("=") if dt.byteorder in ("<", ">") else dt


def value_dtype(dtype, *, what="values"):
    """Return the spla value dtype for an explicitly requested ``dtype``.

    Raises ``TypeError`` naming the dtype when spla has no kernels for it.
    """
    dt = native(dtype)
    if dt not in VALUE_DTYPES:
        names = ", ".join(d.name for d in VALUE_DTYPES)
        raise TypeError(f"unsupported dtype {dt.name!r} for {what}; spla supports {names}")
    return dt


def default_value_dtype(dtype, *, what="values"):
    """Return the value dtype that input of ``dtype`` is stored as when no dtype is given.

    Supported dtypes are kept. Booleans and integers become float64 and float16 becomes
    float32, as NumPy would promote them in arithmetic with a float; anything else
    (strings, objects, datetimes) raises ``TypeError``.
    """
    dt = native(dtype)
    if dt in VALUE_DTYPES:
        return dt
    if dt.kind in "biu":
        return np.dtype(np.float64)
    if dt == np.float16:
        return np.dtype(np.float32)
    return value_dtype(dt, what=what)


def result_dtype(*operands):
    """NumPy's promotion of ``operands`` (dtypes, arrays or Python scalars), checked
    to be a dtype that spla's kernels support."""
    if len(operands) == 2 and isinstance(operands[0], np.dtype) and isinstance(operands[1], np.dtype):
        return _promote_dtypes(operands[0], operands[1])
    return _supported(np.result_type(*operands))


@functools.lru_cache(maxsize=256)
def _promote_dtypes(a, b):
    return _supported(np.result_type(a, b))


def _supported(dt):
    if dt.kind in "biu":
        dt = np.dtype(np.float64)
    elif dt == np.float16:
        dt = np.dtype(np.float32)
    return value_dtype(dt, what="the result")


def index_dtype_for(*maxvals):
    """int32 when every value in ``maxvals`` fits in it, int64 otherwise."""
    if all(int(v) <= _INT32_MAX for v in maxvals):
        return np.dtype(np.int32)
    return np.dtype(np.int64)
