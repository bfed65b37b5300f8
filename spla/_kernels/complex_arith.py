"""Complex arithmetic written out in real operations, for use inside Numba kernels.

Numba lowers a complex ``*`` (also ``/`` and ``abs``) through a subroutine that it
compiles once per process, per signature and per kind of kernel (serial or the
body of a ``prange``), with the fast-math flags of the first kernel that needed it:
its cache key leaves the flags out (Numba 0.68, ``BaseContext.compile_subroutine``;
the general problem, flags that are not part of a callee's identity, is Numba's open
issue 7168). A ``fastmath`` kernel that multiplies complex values with ``*``
therefore hands its fused multiply-adds (and, with ``fastmath=True``, its
no-NaN/no-infinity assumptions) to every kernel of its kind compiled after it in
the process: spla's strict kernels, and the caller's own Numba code. Products
written out here are lowered inline, with the flags of the kernel they are in, and
leave Numba's subroutine alone. spla's fast-math kernels use these for every complex product
(``tests/test_complex_arith.py`` checks that none hands on its flags); its strict
kernels use them where results must equal SciPy's bit for bit.

The products are the textbook ones that NumPy's and SciPy's sparsetools loops
compute, ``(ac - bd) + (ad + bc)i``; Numba's own product adds C99's recovery of
infinities from NaN results (Annex G), which these leave out.
"""

import numpy as np
from numba import njit, types
from numba.extending import overload


def multiply(a, b):
    """``a * b``; complex (either operand): ``(ac - bd) + (ad + bc)i``, the real
    operand widened with a zero imaginary part, as NumPy and SciPy widen it."""
    raise NotImplementedError  # pragma: no cover


@overload(multiply, inline="always")
def _multiply_overload(a, b):
    if isinstance(a, types.Complex) or isinstance(b, types.Complex):
        def impl(a, b):
            ar = a.real
            ai = a.imag
            br = b.real
            bi = b.imag
            return complex(ar * br - ai * bi, ar * bi + ai * br)
        return impl

    def impl(a, b):
        return a * b
    return impl


@njit(inline="always")
def conj_multiply(a, b):
    """``conj(a) * b`` (one term of a dot product ``sum conj(a_i) b_i``): ``multiply``
    of the conjugate (the conjugate only negates a sign, so this is exactly
    ``(ac + bd) + (ad - bc)i``)."""
    return multiply(np.conj(a), b)


def times_real(z, s):
    """``z * s`` for a real ``s``: for complex ``z`` two real products, ``z.real * s`` and
    ``z.imag * s``, as BLAS's ``zdscal`` scales (Numba widens ``s`` to complex and makes
    four, and only fast math's no-NaN, no-infinity and no-signed-zero freedoms let LLVM
    drop the two with ``s``'s zero imaginary part; an infinite ``z`` then also keeps a
    finite part that the widened product would make NaN)."""
    raise NotImplementedError  # pragma: no cover


@overload(times_real, inline="always")
def _times_real_overload(z, s):
    if isinstance(z, types.Complex):
        def impl(z, s):
            return complex(z.real * s, z.imag * s)
        return impl

    def impl(z, s):
        return z * s
    return impl


@njit(inline="always")
def abs2(z):
    """``|z|^2`` as ``re^2 + im^2`` (real; for a real ``z``, ``z * z``)."""
    return z.real * z.real + z.imag * z.imag
