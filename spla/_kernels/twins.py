"""Second compilations of a Numba kernel from the same source.

Numba compiles a function once per signature and options, and reads module
globals as compile-time constants. ``twin`` makes a copy of a function under a
new name, with other options (``parallel=False``: the serial twins of the CSR
products, for work too small to repay waking the threads) or other globals
(the AVX2 twins of the N:M kernels, which see 8-float intrinsics where the
originals see 16-float ones). The new name keeps the two apart in Numba's
on-disk cache.
"""

import types

from numba import njit


def twin(dispatcher, name, options, doc=None, **rebind):
    """A copy of the Numba function ``dispatcher`` named ``name``, compiled with
    the ``njit`` options ``options``, seeing the globals in ``rebind`` in place
    of its module's.

    Examples
    --------
    >>> from numba import njit
    >>> @njit
    ... def scale(x):
    ...     return FACTOR * x
    >>> FACTOR = 2
    >>> triple = twin(scale, "triple", {}, FACTOR=3)
    >>> scale(1), triple(1)
    (2, 3)
    """
    f = dispatcher.py_func
    copy = types.FunctionType(f.__code__, dict(f.__globals__, **rebind), name,
                              f.__defaults__, f.__closure__)
    copy.__qualname__ = name
    copy.__doc__ = f.__doc__ if doc is None else doc
    return njit(**options)(copy)
