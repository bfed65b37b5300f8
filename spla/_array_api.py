"""The Array API standard's functions that make sense for sparse 2-D arrays.

``A.__array_namespace__()`` is the ``spla`` module, so code written against the
standard (``xp = array_api_compat.array_namespace(A)``) calls these. They take the
standard's signatures (positional-only arrays, keyword-only options) and keep
SciPy's sparse semantics where the standard leaves room:

- functions that map zero to zero (``abs``, ``negative``, ``sqrt``, ``sin``, ``isnan``,
  ...) and elementwise products, sums and comparisons whose result is zero where both
  operands are zero give sparse arrays; an operand that is dense gives what the
  operator gives (``add(A, dense)`` is dense, ``multiply(A, dense)`` sparse);
- reductions (``sum``, ``max``, ``min``, ``mean``, ``count_nonzero``, ``argmax``,
  ``argmin``) return NumPy arrays or scalars (``keepdims`` as the standard says);
- ``asarray``, ``zeros`` and ``eye`` build ``csr_array`` (``coo_array`` for other
  numbers of dimensions), ``astype`` keeps the format.

Functions that would fill the array (``ones``, ``full``, ``exp``, ``cos``,
``isfinite``, ...) are left out on purpose: they are dense by nature. Dense
operands (NumPy arrays) pass through to the same operators, so ``spla.add(x, y)``
of two NumPy arrays is ``x + y``. The list is in docs/api.md.
"""

import operator

import numpy as np

from ._base import SparseArray

__array_api_version__ = "2023.12"

_DTYPES = {
    "bool": np.dtype(np.bool_),
    "int8": np.dtype(np.int8), "int16": np.dtype(np.int16), "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64), "uint8": np.dtype(np.uint8), "uint16": np.dtype(np.uint16),
    "uint32": np.dtype(np.uint32), "uint64": np.dtype(np.uint64),
    "float32": np.dtype(np.float32), "float64": np.dtype(np.float64),
    "complex64": np.dtype(np.complex64), "complex128": np.dtype(np.complex128),
}

e, inf, nan, pi = np.e, np.inf, np.nan, np.pi
newaxis = None

# NumPy's answers for dtypes (spla arrays hold NumPy dtypes).
result_type = np.result_type
can_cast = np.can_cast
finfo = np.finfo
iinfo = np.iinfo
isdtype = np.isdtype


def _sparse(x):
    return isinstance(x, SparseArray)


# -- creation ------------------------------------------------------------------------

def asarray(obj, /, *, dtype=None, device=None, copy=None):
    """``obj`` as an spla array: spla arrays as they are, SciPy, pydata/sparse and
    PyTorch sparse arrays in their format, dense input as ``csr_array`` (2-D) or
    ``coo_array`` (other dimensions).

    ``copy=False`` raises ``ValueError`` when a copy cannot be avoided (a dtype
    change, or dense input, which is always packed anew).

    Examples
    --------
    >>> import numpy as np, spla
    >>> spla.asarray(np.eye(2), dtype=spla.float32).format
    'csr'
    """
    from ._formats import registry
    from ._formats.compressed import csr_array
    from ._formats.coo import coo_array

    if _sparse(obj):
        out = obj
    elif registry.foreign_converter(obj) is not None or _is_foreign_sparse(obj):
        out = registry.from_foreign(obj)
    else:
        if copy is False:
            raise ValueError("asarray: copy=False, but dense input is always packed into new "
                             "sparse storage")
        dense = obj if type(obj).__module__.split(".")[0] == "cupy" else np.asarray(obj)
        out = (csr_array(dense, dtype=dtype) if dense.ndim == 2
               else coo_array(np.asarray(dense), dtype=dtype))
        copy = False
    if dtype is not None and np.dtype(dtype) != out.dtype:
        if copy is False:
            raise ValueError(f"asarray: copy=False, but {out.dtype} -> {np.dtype(dtype)} "
                             "needs a copy")
        out = out.astype(dtype)
    elif copy and out is obj:
        out = out.copy()
    if device is not None:
        out = out.to_device(device)
    return out


def _is_foreign_sparse(obj):
    from ._base import _is_scipy_sparse

    return _is_scipy_sparse(obj)


def zeros(shape, *, dtype=None, device=None):
    """An all-zero sparse array (nothing stored): ``csr_array`` for 2-D shapes,
    ``coo_array`` otherwise.

    Examples
    --------
    >>> import spla
    >>> spla.zeros((2, 3)).nnz
    0
    """
    from ._formats.compressed import csr_array
    from ._formats.coo import coo_array

    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(operator.index(s) for s in shape)
    dt = np.float64 if dtype is None else dtype
    out = csr_array(shape, dtype=dt) if len(shape) == 2 else coo_array(shape, dtype=dt)
    return out if device is None else out.to_device(device)


def eye(n_rows, n_cols=None, /, *, k=0, dtype=None, device=None):
    """Ones on diagonal ``k`` of an ``n_rows x n_cols`` ``csr_array``.

    Examples
    --------
    >>> import spla
    >>> spla.eye(2, 3, k=1).toarray()
    array([[0., 1., 0.],
           [0., 0., 1.]])
    """
    from ._construct import eye_array

    out = eye_array(n_rows, n_cols, k=k, dtype=np.float64 if dtype is None else dtype,
                    format="csr")
    return out if device is None else out.to_device(device)


# -- elementwise ---------------------------------------------------------------------

def _unary(name, method, doc):
    def f(x, /):
        if _sparse(x):
            return method(x)
        return getattr(np, name)(x)

    f.__name__ = name
    f.__qualname__ = name
    f.__doc__ = doc
    return f


abs = _unary("abs", operator.abs, "Elementwise absolute value (sparse in, sparse out).")
negative = _unary("negative", operator.neg, "Elementwise ``-x``.")
positive = _unary("positive", operator.pos, "Elementwise ``+x``.")
conj = _unary("conj", lambda x: x.conj(), "Complex conjugate.")
real = _unary("real", lambda x: x.real, "Real part.")
imag = _unary("imag", lambda x: x.imag, "Imaginary part.")
square = _unary("square", lambda x: x.power(2), "Elementwise ``x ** 2``.")

# The standard's names of the ufuncs that keep zero at zero.
_FIXED_AT_ZERO = {
    "sqrt": "sqrt", "sin": "sin", "tan": "tan", "asin": "arcsin", "atan": "arctan",
    "sinh": "sinh", "tanh": "tanh", "asinh": "arcsinh", "atanh": "arctanh",
    "sign": "sign", "expm1": "expm1", "log1p": "log1p", "floor": "floor", "ceil": "ceil",
    "trunc": "trunc", "round": "rint",
}
for _std, _np in _FIXED_AT_ZERO.items():
    globals()[_std] = _unary(_np, (lambda m: lambda x: getattr(x, m)())(_np),
                             f"Elementwise ``{_np}`` (zero stays zero: sparse out).")
    globals()[_std].__name__ = globals()[_std].__qualname__ = _std


def isnan(x, /):
    """Where ``x`` is NaN (a sparse bool array for sparse ``x``)."""
    if _sparse(x):
        return x != x
    return np.isnan(x)


def isinf(x, /):
    """Where ``x`` is infinite (a sparse bool array for sparse ``x``)."""
    if _sparse(x):
        return abs(x) == np.inf
    return np.isinf(x)


def _binary(name, op, doc):
    def f(x1, x2, /):
        return op(x1, x2)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


add = _binary("add", operator.add, "``x1 + x2``.")
subtract = _binary("subtract", operator.sub, "``x1 - x2``.")
multiply = _binary("multiply", operator.mul, "Elementwise ``x1 * x2`` (sparse if either is).")
divide = _binary("divide", operator.truediv, "``x1 / x2``.")
equal = _binary("equal", operator.eq, "``x1 == x2``.")
not_equal = _binary("not_equal", operator.ne, "``x1 != x2``.")
less = _binary("less", operator.lt, "``x1 < x2``.")
less_equal = _binary("less_equal", operator.le, "``x1 <= x2``.")
greater = _binary("greater", operator.gt, "``x1 > x2``.")
greater_equal = _binary("greater_equal", operator.ge, "``x1 >= x2``.")


def maximum(x1, x2, /):
    """Elementwise maximum."""
    if _sparse(x1):
        return x1.maximum(x2)
    if _sparse(x2):
        return x2.maximum(x1)
    return np.maximum(x1, x2)


def minimum(x1, x2, /):
    """Elementwise minimum."""
    if _sparse(x1):
        return x1.minimum(x2)
    if _sparse(x2):
        return x2.minimum(x1)
    return np.minimum(x1, x2)


def pow(x1, x2, /):
    """``x1 ** x2`` for a sparse ``x1`` and a non-zero scalar ``x2`` (sparse out)."""
    return x1 ** x2


# -- reductions ------------------------------------------------------------------------

def _axis(axis, ndim):
    if isinstance(axis, tuple):
        norm = tuple(sorted(a % ndim if -ndim <= a < ndim else a for a in axis))
        if norm == tuple(range(ndim)):
            return None
        if len(norm) == 1:
            return norm[0]
        raise ValueError(f"axis {axis} is not a valid set of axes for {ndim} dimensions")
    return axis


def _keep(result, x, axis, keepdims):
    if not keepdims:
        return result
    if axis is None:
        return np.asarray(result).reshape((1,) * x.ndim)
    axis = axis % x.ndim
    shape = list(x.shape)
    shape[axis] = 1
    return np.asarray(result).reshape(shape)


def _reduction(name, doc, takes_dtype):
    def f(x, /, *, axis=None, dtype=None, keepdims=False, **kw):
        if not _sparse(x):
            kwargs = {"axis": axis, "keepdims": keepdims}
            if takes_dtype:
                kwargs["dtype"] = dtype
            return getattr(np, name)(x, **kwargs)
        ax = _axis(axis, x.ndim)
        if name == "mean" and (0 in x.shape if ax is None else x.shape[ax] == 0):
            # the standard's NaN for a mean over nothing (SciPy divides by zero)
            shape = () if ax is None else tuple(d for i, d in enumerate(x.shape)
                                                if i != ax % x.ndim)
            kind = np.dtype(dtype) if dtype is not None else (
                x.dtype if x.dtype.kind in "fc" else np.dtype(np.float64))
            out = np.full(shape, np.nan, dtype=kind)
            return _keep(out if shape else out[()], x, ax, keepdims)
        if takes_dtype:
            out = getattr(x, name)(axis=ax, dtype=dtype)
        else:
            if dtype is not None:
                raise TypeError(f"{name}() takes no dtype")
            out = getattr(x, name)(axis=ax)
        if isinstance(out, SparseArray):
            out = out.toarray()
        return _keep(out, x, ax, keepdims)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


sum = _reduction("sum", "Sum over ``axis`` (all axes by default).\n\n"
                 "Examples\n--------\n>>> import numpy as np, spla\n"
                 ">>> spla.sum(spla.eye(3), axis=0, keepdims=True)\n"
                 "array([[1., 1., 1.]])\n", True)
mean = _reduction("mean", "Mean over ``axis`` (implicit zeros count); NaN over an empty "
                  "axis, as the standard says (SciPy's ``A.mean()`` divides by zero).", True)


def _minmax(name):
    def f(x, /, *, axis=None, keepdims=False):
        if not _sparse(x):
            return getattr(np, name)(x, axis=axis, keepdims=keepdims)
        ax = _axis(axis, x.ndim)
        out = getattr(x, name)(axis=ax)
        if isinstance(out, SparseArray):
            out = out.toarray()
        return _keep(out, x, ax, keepdims)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``{name}`` over ``axis`` (implicit zeros count, as in SciPy)."
    return f


max = _minmax("max")
min = _minmax("min")
argmax = _minmax("argmax")
argmin = _minmax("argmin")


def count_nonzero(x, /, *, axis=None, keepdims=False):
    """Number of non-zero values (stored zeros do not count) over ``axis``."""
    if not _sparse(x):
        return np.count_nonzero(x, axis=axis, keepdims=keepdims)
    ax = _axis(axis, x.ndim)
    return _keep(x.count_nonzero(axis=ax), x, ax, keepdims)


def nonzero(x, /):
    """Indices of the non-zero values, one array per dimension."""
    if _sparse(x):
        return x.nonzero()
    return np.nonzero(x)


def _install_dtypes(namespace):
    namespace.update(_DTYPES)


_install_dtypes(globals())

#: What ``spla`` exports from here (names that shadow builtins, ``abs``, ``sum``,
#: ``max``, ``min``, ``round``, ``pow``, ``bool``, and the constants stay out of
#: ``spla.__all__``).
NAMES = (
    "__array_api_version__", "e", "inf", "nan", "pi", "newaxis",
    "result_type", "can_cast", "finfo", "iinfo", "isdtype",
    "asarray", "zeros", "eye",
    "abs", "negative", "positive", "conj", "real", "imag", "square",
    *_FIXED_AT_ZERO, "isnan", "isinf",
    "add", "subtract", "multiply", "divide", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal", "maximum", "minimum", "pow",
    "sum", "mean", "max", "min", "argmax", "argmin", "count_nonzero", "nonzero",
    *_DTYPES,
)
SHADOWING = ("abs", "sum", "max", "min", "round", "pow", "bool",
             "e", "pi", "inf", "nan", "newaxis")  # short constants: attributes only
