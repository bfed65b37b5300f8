"""Operations on the stored values alone, written once for every format.

A format that mixes in ``DataMixin`` supplies three things:

- ``_values``: the array of its stored values (any shape: 1-D for CSR and COO,
  the diagonals for banded, the packed groups for N:M);
- ``_with_data(values, copy=True)``: an array of the same format and structure
  holding ``values`` (the structure copied unless ``copy=False``);
- ``_stores(dtype)``: whether the format can hold values of ``dtype``.

and, if it may hold duplicates, ``_deduped()`` (an equivalent array without
them). Everything else here, scaling, ``abs``, ``astype``, ``conj``, the NumPy
ufuncs with ``f(0) == 0``, ``power``, comparisons with a scalar, is written once
as ``self._with_data(op(self._values))``. A result the format cannot store (a
complex scale of an N:M array, a bool comparison of a banded one) is computed
through CSR.
"""

import operator
import warnings

import numpy as np

from ._dtypes import value_dtype

#: NumPy's unary ufuncs with ``f(0) == 0``: applied to the stored values they
#: give the whole result (SciPy's list).
UFUNCS_FIXED_AT_ZERO = (
    "sin", "tan", "arcsin", "arctan", "sinh", "tanh", "arcsinh", "arctanh",
    "rint", "sign", "expm1", "log1p", "deg2rad", "rad2deg", "floor", "ceil",
    "trunc", "sqrt",
)


def is_scalar_like(x):
    """A Python or NumPy scalar, or a 0-d array (SciPy's ``isscalarlike``)."""
    if isinstance(x, (str, bytes)):
        return False
    return np.isscalar(x) or (isinstance(x, np.ndarray) and x.ndim == 0)


#: Value maps of fewer entries run here, without the backend's dispatch (about 3 us
#: of the 30 us a small ``A > s`` costs); the backend runs these serially anyway.
_SMALL_MAP = 1 << 12


def cast_values(values, dtype, casting="unsafe"):
    """A copy of ``values`` (NumPy or CuPy) cast to ``dtype`` under NumPy's ``casting``
    rule: CuPy's ``astype`` takes no ``casting``, so the rule is checked here first
    and raises NumPy's ``TypeError``.

    Examples
    --------
    >>> import numpy as np
    >>> from spla._data import cast_values
    >>> cast_values(np.array([1.5]), np.int8)
    array([1], dtype=int8)
    """
    if type(values) is np.ndarray:
        return values.astype(dtype, casting=casting, copy=True)
    if casting != "unsafe" and not np.can_cast(values.dtype, dtype, casting):
        raise TypeError(f"Cannot cast array data from {values.dtype!r} to "
                        f"{np.dtype(dtype)!r} according to the rule {casting!r}")
    return values.astype(dtype, copy=True)


def map_values(func, values):
    """``func(values)``: the one place value maps run (the CPU backend may run
    large ones on several threads)."""
    if type(values) is np.ndarray and values.ndim == 1 and values.size < _SMALL_MAP:
        return np.asarray(func(values))  # what the backend does below its threads' size
    from . import _dispatch

    if type(values) is np.ndarray and _dispatch.has("map_values", "any", "cpu"):
        return _dispatch.lookup("map_values", "any", "cpu")(func, values)
    return func(values)


class DataMixin:
    """Value-only operations of sparse arrays (see the module docstring)."""

    def _stores(self, dtype):
        return True

    def _deduped(self):
        return self._snap()

    def _apply(self, func, *, dedupe=True, copy=True):
        """``func`` on the stored values, in this format when it can hold the result."""
        src = self._deduped() if dedupe else self._snap()
        values = map_values(func, src._values)
        if not src._stores(values.dtype):
            return func_through_csr(src, func, dedupe)
        return src._with_data(values, copy=copy)

    # -- arithmetic with scalars ---------------------------------------------------

    def _mul_scalar(self, scalar):
        scalar = scalar[()] if isinstance(scalar, np.ndarray) else scalar
        return self._apply(lambda v: v * scalar, dedupe=False)

    def _divide_scalar(self, scalar):
        """``self / scalar`` with SciPy's dtypes: true division of integers gives
        float64 (an integer scalar keeps an integer array's dtype, as in SciPy)."""
        scalar = scalar[()] if isinstance(scalar, np.ndarray) else scalar
        # Multiplied by the reciprocal, as SciPy does (same bits), but with NumPy's
        # inf/nan for a zero divisor where SciPy raises ZeroDivisionError.
        with np.errstate(divide="ignore", invalid="ignore"):
            try:
                recip = 1 / scalar  # a Python scalar stays weakly typed (NumPy's rules)
            except ZeroDivisionError:
                recip = np.divide(1, scalar)[()]
            if np.can_cast(self.dtype, np.float64):
                return self.astype(np.float64, copy=False)._mul_scalar(recip)
            result = self._mul_scalar(recip)
        if self.dtype.kind in "iu" and np.asarray(scalar).dtype.kind in "iu":
            return result.astype(self.dtype, copy=False)
        return result

    def __abs__(self):
        return self._apply(np.abs)

    def __round__(self, ndigits=0):
        return self._apply(lambda v: np.around(v, decimals=ndigits))

    def __neg__(self):
        if self.dtype.kind == "b":
            raise NotImplementedError("negating a boolean sparse array is not supported")
        return self._apply(np.negative, dedupe=False)

    def __imul__(self, other):
        if is_scalar_like(other):
            self._values[...] *= other
            self._forget_values()
            return self
        return NotImplemented

    def __itruediv__(self, other):
        if is_scalar_like(other):
            self._values[...] *= 1.0 / other
            self._forget_values()
            return self
        return NotImplemented

    def _forget_values(self):
        """After an in-place write of the values (as SciPy's, into the same arrays): a
        new derived-state cache, so that nothing derived from the old values (a GPU
        layout, a plan) is read again; the structure flags stay."""
        written = getattr(self, "_values_written", None)
        if written is not None:
            written()
        else:
            self._invalidate()

    # -- value dtype and complex parts ------------------------------------------------

    def astype(self, dtype, casting="unsafe", copy=True):
        """The array with its values cast to ``dtype`` (NumPy's ``casting`` rules).

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.csr_array(np.eye(2)).astype(np.int8).dtype
        dtype('int8')
        """
        dt = value_dtype(dtype)  # native byte order
        if dt != self.dtype:
            if not self._stores(dt):
                return self.tocsr().astype(dt, casting=casting, copy=copy)
            src = self._snap()  # values and structure from one reading of the storage
            return src._with_data(cast_values(src._values, dt, casting), copy=True)
        return self.copy() if copy else self

    def conjugate(self, copy=True):
        """Complex conjugate of every value (a copy unless ``copy=False`` and real)."""
        if self.dtype.kind == "c":
            src = self._snap()
            return src._with_data(src._values.conjugate(), copy=copy)
        return self.copy() if copy else self

    def conj(self, copy=True):
        """Same as ``conjugate``."""
        return self.conjugate(copy=copy)

    @property
    def real(self):
        """The real part, in the same format."""
        src = self._snap()
        return src._with_data(src._values.real.copy())

    @property
    def imag(self):
        """The imaginary part, in the same format (zeros stored where the values are)."""
        src = self._snap()
        return src._with_data(np.ascontiguousarray(src._values.imag))

    def power(self, n, dtype=None):
        """Elementwise power by a non-zero scalar ``n`` (``A ** n`` for sparse arrays).

        Examples
        --------
        >>> import numpy as np, spla
        >>> spla.csr_array(np.array([[2.0, 0.0], [0.0, 3.0]])).power(2).toarray()
        array([[4., 0.],
               [0., 9.]])
        """
        if not is_scalar_like(n):
            raise NotImplementedError("input is not scalar")
        if not n:
            raise NotImplementedError(
                "zero power is not supported as it would densify the matrix.\n"
                "Use `np.ones(A.shape, dtype=A.dtype)` for this case."
            )
        if dtype is not None:
            return self._apply(lambda v: v.astype(dtype, copy=False) ** n)
        if type(n) is int and n == 2 and self.dtype.kind in "fciu":
            # NumPy computes ``v ** 2`` (a Python int 2, float or complex v) as
            # ``np.square(v)``, and for integers both are ``v * v`` in v's dtype
            # (wrapping alike): the ufunc itself maps the pieces in place, without
            # the temporaries of a Python function
            return self._apply(np.square)
        return self._apply(lambda v: v ** n)

    def __pow__(self, n):
        return self.power(n)

    # -- comparisons with scalars ---------------------------------------------------------

    def _compare_scalar(self, scalar, op):
        """``op(self, scalar)`` where ``op(0, scalar)`` is False: a bool sparse array
        holding only the True entries (SciPy's ``_scalar_binopt``)."""
        src = self._deduped()
        mask = map_values(lambda v: op(v, scalar), src._values)
        result = src.tocsr() if not src._stores(np.dtype(bool)) else src
        if result is not src:
            return result._compare_scalar(scalar, op)
        out = src._with_data(mask, copy=True)
        out._drop_zeros()
        return out


def func_through_csr(array, func, dedupe):
    csr = array.tocsr()
    return csr._apply(func, dedupe=dedupe)


def ufunc_method(name):
    """The method ``A.<name>()`` for a ufunc with ``f(0) == 0``."""
    ufunc = getattr(np, name)

    def method(self):
        return self._apply(ufunc)

    method.__name__ = name
    method.__doc__ = f"Elementwise ``numpy.{name}`` of the stored values (``{name}(0) == 0``)."
    return method


for _name in UFUNCS_FIXED_AT_ZERO:
    setattr(DataMixin, _name, ufunc_method(_name))

#: Comparison operators, their symbols, and the operator that negates them.
COMPARISONS = {
    operator.eq: ("==", operator.ne),
    operator.ne: ("!=", operator.eq),
    operator.lt: ("<", operator.ge),
    operator.gt: (">", operator.le),
    operator.le: ("<=", operator.gt),
    operator.ge: (">=", operator.lt),
}


def inefficient(what, op):
    from scipy.sparse import SparseEfficiencyWarning

    symbol, negated = COMPARISONS[op]
    warnings.warn(
        f"Comparing {what} using {symbol} is inefficient. "
        f"Try using {COMPARISONS[negated][0]} instead.",
        SparseEfficiencyWarning, stacklevel=4,
    )
