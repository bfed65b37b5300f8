"""The dtype policy of spla: which value dtypes arrays store, which dtype results
take, and in which dtype kernels compute.

Three separate questions, answered here once for every format and backend:

- **storage**: what a format may hold. CSR, CSC and COO hold every dtype that
  SciPy's sparse arrays hold (``VALUE_DTYPES``: bool, the signed and unsigned
  integers, float32/64, complex64/128) in native byte order; a format with
  narrower storage (N:M, banded) states its own set and answers everything else
  through CSR.
- **results**: NumPy's promotion of the operands (``result_dtype``), as SciPy
  uses it: an int32 matrix times an int64 vector is int64, a bool matrix times a
  bool vector is bool.
- **computation**: the dtype a kernel accumulates in (``compute_dtype`` and
  ``accumulator_dtype``): float32 and complex64 products accumulate in double
  and round once; integer products wrap as NumPy's do; bool products count in
  int64 and test for non-zero (a logical OR of ANDs, as NumPy's bool matmul).
"""

import functools

import numpy as np

#: Value dtypes of SciPy's sparse arrays that Numba compiles (all of SciPy's
#: ``supported_dtypes`` but long double).
VALUE_DTYPES = tuple(
    np.dtype(t)
    for t in (
        np.bool_,
        np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64,
        np.float32, np.float64,
        np.complex64, np.complex128,
    )
)

#: The floating and complex subset: what products with SIMD kernels run in.
FLOAT_DTYPES = (
    np.dtype(np.float32),
    np.dtype(np.float64),
    np.dtype(np.complex64),
    np.dtype(np.complex128),
)

try:  # bfloat16: NumPy has none; ml_dtypes (JAX's, TensorFlow's) supplies it
    import ml_dtypes as _ml_dtypes

    #: ``ml_dtypes.bfloat16`` when ml-dtypes is installed (``pip install 'spla[bfloat16]'``), else None.
    BFLOAT16 = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml-dtypes is optional
    BFLOAT16 = None

#: The 16-bit float dtypes: stored as they are where a format allows (N:M), computed
#: and returned as float32.
HALF_DTYPES = tuple(d for d in (np.dtype(np.float16), BFLOAT16) if d is not None)

#: Index dtypes that kernels are compiled for.
INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))

_INT32_MAX = np.iinfo(np.int32).max


def native(dt):
    """``dt`` in the machine's byte order (big-endian input is stored native)."""
    dt = np.dtype(dt)
    return dt if dt.isnative else dt.newbyteorder("=")


def value_dtype(dtype, *, what="values", allowed=VALUE_DTYPES):
    """The storage dtype for an explicitly requested ``dtype`` (native byte order).

    Raises ``TypeError`` naming the dtype when the format cannot store it.

    Examples
    --------
    >>> from spla._dtypes import value_dtype
    >>> value_dtype(">f8"), value_dtype(bool)
    (dtype('float64'), dtype('bool'))
    """
    try:
        dt = native(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype") from None
    if dt not in allowed:
        names = ", ".join(d.name for d in allowed)
        raise TypeError(f"unsupported dtype {dt.name!r} for {what}; spla supports {names}")
    return dt


def default_value_dtype(dtype, *, what="values", allowed=VALUE_DTYPES):
    """The storage dtype of input of ``dtype`` when no dtype is requested.

    Supported dtypes are kept (in native byte order), float16 and bfloat16 become
    float32 (SciPy's sparse arrays store neither), anything else raises ``TypeError``.
    """
    dt = native(dtype)
    if dt in allowed:
        return dt
    if dt in HALF_DTYPES and np.dtype(np.float32) in allowed:
        return np.dtype(np.float32)
    return value_dtype(dt, what=what, allowed=allowed)


def result_dtype(*operands):
    """NumPy's promotion of ``operands`` (dtypes, arrays or Python scalars), checked
    to be a dtype that spla's kernels support."""
    if len(operands) == 2 and isinstance(operands[0], np.dtype) and isinstance(operands[1], np.dtype):
        return _promote_dtypes(operands[0], operands[1])
    return _supported(np.result_type(*operands))


@functools.lru_cache(maxsize=512)
def _promote_dtypes(a, b):
    return _supported(np.result_type(a, b))


def _supported(dt):
    if dt in HALF_DTYPES:
        dt = np.dtype(np.float32)
    return value_dtype(dt, what="the result")


@functools.lru_cache(maxsize=64)
def compute_dtype(dt):
    """The dtype a product of result dtype ``dt`` runs in: bool counts in int64."""
    dt = np.dtype(dt)
    return np.dtype(np.int64) if dt == np.bool_ else dt


@functools.lru_cache(maxsize=64)
def accumulator_dtype(dt):
    """The dtype partial sums of ``dt`` work accumulate in: float32 and complex64 in
    double, everything else in itself."""
    dt = np.dtype(dt)
    if dt == np.float32:
        return np.dtype(np.float64)
    if dt == np.complex64:
        return np.dtype(np.complex128)
    return dt


def finish(result, dt):
    """A result computed in ``compute_dtype(dt)`` as ``dt`` (bool: non-zero)."""
    if dt == np.bool_ and result.dtype != np.bool_:
        return result != 0
    return result


@functools.lru_cache(maxsize=64)
def sum_dtype(dt):
    """The dtype of a sum of ``dt`` values, as NumPy and SciPy choose it: bool and
    signed integers narrower than the platform integer sum in it, unsigned ones in
    its unsigned twin."""
    dt = np.dtype(dt)
    if dt.kind == "b" or (dt.kind == "i" and dt.itemsize < np.dtype(np.int_).itemsize):
        return np.dtype(np.int_)
    if dt.kind == "u" and dt.itemsize < np.dtype(np.uint).itemsize:
        return np.dtype(np.uint)
    return dt


def index_dtype_for(*maxvals):
    """int32 when every value in ``maxvals`` fits in it, int64 otherwise."""
    if all(int(v) <= _INT32_MAX for v in maxvals):
        return np.dtype(np.int32)
    return np.dtype(np.int64)
