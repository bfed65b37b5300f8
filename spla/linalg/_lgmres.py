"""``lgmres`` and ``gcrotmk``: SciPy 1.17's iterations for spla arrays on the CPU, whose
Arnoldi steps run as spla's fused Gram-Schmidt kernels (``spla/_kernels/krylov.py``).

Both methods spend their time in SciPy's ``_fgmres``: per column, one product, then
modified Gram-Schmidt against the GCROT vectors ``C`` and against the Arnoldi
basis, as one BLAS ``dot`` and one ``axpy`` per vector (about six vector passes
each, with temporaries), and at the end of a cycle linear combinations of the
basis as chains of ``axpy``. Here the vectors ``C`` and the basis are the rows of
one block, so that the projection on both is one kernel call: ``mgsg_column``
(MGS's coefficients from plain dots and the rows' Gram matrix, two
sweeps over the rows per column; for short-row CSR matrices the column's product is
computed in the first sweep, see ``_fused_product``), else the two-step MGS kernel
``mgs2f_column`` (one vectorised parallel sweep per two rows), both giving MGS's
coefficients up to rounding; the combinations are ``combine_rows`` passes (``dx`` and
``A dx`` of ``lgmres`` in one, ``combine2_rows``). The
small dense parts (the QR update of the Hessenberg matrix with ``qr_insert``, the
``lstsq`` solve, GCROT's truncation) and every stopping test, ``info`` value and
callback are SciPy's. Any other ``A`` (SciPy matrices, operators, GPU and Dask
arrays) goes to SciPy's functions with spla's products.

The default (``ORTHOGONALIZATION = "fused"``, session 18) runs ``lgmres`` on a CSR
matrix of short reach (banded, stencils) without preconditioner with one sweep over
the basis per column (``_fgmres_fused``, ``krylov.lgmres_sweep``: MGS through the rows'
Gram matrix fused with the next column's product and its dots), and every other cycle
(``gcrotmk``'s, preconditioned ones, other matrices) with ``mgsg_column``; see
docs/linalg.md.
"""

import numpy as np
from numpy.linalg import LinAlgError

from . import _convert
from ._gmres import _spla_cpu

__all__ = ["lgmres", "gcrotmk"]

#: Below this length the Gram-Schmidt sweeps and combinations run serially.
PARALLEL_MIN = 50_000
#: How the Arnoldi step orthogonalises: "fused" (the default: ``_fgmres_fused`` where
#: it applies, else "mgsg"), "mgsg" (``krylov.mgsg_column``, MGS's coefficients through
#: the rows' Gram matrix, two sweeps per column; cycles with GCROT's vectors ``C`` too
#: unless ``GRAM_WITH_C`` is off, then "mgs2f"), "mgs2f" (``krylov.mgs2f_column``,
#: two-step MGS with one vectorised loop per sweep on Numba's threads, Numba
#: ``combine_rows``/``scale_vec``; see docs/linalg.md), "blas" (SciPy's MGS, one
#: BLAS ``dot`` and ``axpy`` per vector, in place, on one BLAS thread under spla's
#: policy) or "mgs2" (``krylov.mgs2_column``, the strict fused two-step MGS of ``gmres``).
ORTHOGONALIZATION = "fused"
#: With "mgsg" (or "fused"), whether cycles with GCROT's vectors ``C`` also take
#: ``mgsg_column`` (the Gram entries of ``C`` and ``v0`` from one product per cycle),
#: else "mgs2f".
GRAM_WITH_C = True
#: With "mgsg" (or "fused"), whether ``mgsg_column`` computes the column's CSR product
#: itself (its first sweep, chunk by chunk) where ``_fused_product`` allows it.
FUSE_PRODUCT = True
#: "fused" applies (``krylov.lgmres_sweep``) where at least this share of A's row
#: blocks lies inside the sweep's chunks (banded matrices); else it runs "mgsg".
FUSED_MIN_INSIDE = 0.75


#: Whether the basis blocks of at least ``SMALL_PAGES_MIN`` bytes are mapped with base
#: pages (an anonymous mapping advised ``MADV_NOHUGEPAGE``) rather than NumPy's
#: allocation, which advises transparent huge pages above 4 MiB; see ``_scratch_block``.
SMALL_PAGES = True
SMALL_PAGES_MIN = 1 << 21


def _scratch_block(rows, n, dtype):
    """An uninitialised C-ordered ``(rows, n)`` array of ``dtype``, unmapped when the
    last reference to it goes.

    From ``SMALL_PAGES_MIN`` bytes on (with ``SMALL_PAGES``) it is an anonymous
    ``mmap`` advised ``MADV_NOHUGEPAGE`` where the platform has the advice: a fresh
    basis block is first touched during the solve, and on two threads huge-page faults
    were the costly kind on the VM measured (docs/linalg.md, session 19: with free
    page reporting, memory freed seconds earlier comes back from the host; the
    benchmark's 68 MB block first written by two threads took 74-138 ms with huge
    pages, 22-37 ms with base pages)."""
    dtype = np.dtype(dtype)
    nbytes = rows * n * dtype.itemsize
    if not SMALL_PAGES or nbytes < SMALL_PAGES_MIN:
        return np.empty((rows, n), dtype=dtype)
    import mmap

    buf = mmap.mmap(-1, nbytes)
    advice = getattr(mmap, "MADV_NOHUGEPAGE", None)
    if advice is not None:
        try:
            buf.madvise(advice)
        except OSError:  # a kernel without transparent huge pages refuses the advice
            pass
    return np.frombuffer(buf, dtype=dtype, count=rows * n).reshape(rows, n)


class _Arnoldi:
    """Kernels and scratch for one solve of length ``n`` and dtype ``dtype``."""

    def __init__(self, n, dtype):
        from .._kernels import krylov

        self.n, self.dtype = n, dtype
        parallel = n >= PARALLEL_MIN
        if ORTHOGONALIZATION not in ("blas", "mgs2", "mgs2f", "mgsg", "fused"):
            raise ValueError(f"unknown ORTHOGONALIZATION {ORTHOGONALIZATION!r}")
        self.mgsg = self.sweep = None
        if ORTHOGONALIZATION in ("mgsg", "fused"):
            self.mgsg = krylov.MGSG_PARALLEL if parallel else krylov.MGSG_SERIAL
            none = np.zeros(0, dtype=np.int32)
            self.no_product = (none, none, np.zeros(0, dtype=dtype), np.zeros(0, dtype=dtype))
        if ORTHOGONALIZATION == "fused":
            self.sweep = (krylov.LGMRES_SWEEP_PARALLEL if parallel
                          else krylov.LGMRES_SWEEP_SERIAL)
        self.combine2_kernel = None
        if ORTHOGONALIZATION in ("mgs2f", "mgsg", "fused"):
            self.mgs, self.combine_kernel, self.scale_kernel = (
                krylov.MGS2F_PARALLEL if parallel else krylov.MGS2F_SERIAL)
            self.combine2_kernel = (krylov.COMBINE2_PARALLEL if parallel
                                    else krylov.COMBINE2_SERIAL)
        else:
            self.mgs = krylov.MGS2_PARALLEL if parallel else krylov.MGS2_SERIAL
            gs = krylov.GS_PARALLEL if parallel else krylov.GS_SERIAL
            self.scale_kernel, self.combine_kernel = gs[3], gs[4]
        self.part = np.zeros((krylov.nchunks(n), 4), dtype=dtype)
        self.fchunks = krylov.fchunks(n)
        self.blocks = {}
        #: Rows to allocate for a block at its first use (``block``), per name: the most
        #: the solve can ask for, so that a block that grows between cycles (``lgmres``'s
        #: augmentation vectors) is allocated and first touched once per solve.
        self.reserve = {}
        self.blas = ORTHOGONALIZATION == "blas"
        if self.blas:
            from scipy.linalg import get_blas_funcs

            self.axpy, self.dot, self.nrm2, self.scal, self.gemv = get_blas_funcs(
                ["axpy", "dot", "nrm2", "scal", "gemv"], (np.empty(0, dtype=dtype),))

    def block(self, name, rows):
        """A C-ordered ``(rows, n)`` scratch block, the same memory every cycle of the
        solve (``_scratch_block``: released with the solve), of at least
        ``reserve[name]`` rows. Its contents are dead once the cycle's combinations are
        taken."""
        B = self.blocks.get(name)
        if B is None or B.shape[0] < rows:
            rows_alloc = max(rows, self.reserve.get(name, 0))
            B = self.blocks[name] = _scratch_block(rows_alloc, self.n, self.dtype)
        return B[:rows]

    def gram(self, rows):
        """The ``(rows, rows)`` scratch of the basis rows' Gram entries (``mgsg``)."""
        G = self.blocks.get("G")
        if G is None or G.shape[0] < rows:
            G = self.blocks["G"] = np.zeros((rows, rows), dtype=self.dtype)
            self.gpart = np.zeros((self.part.shape[0], rows), dtype=self.dtype)
        return G

    def fused_operands(self, A):
        """A's CSR arrays and reach for ``lgmres_sweep`` (None where it does not apply:
        not CSR, another dtype, or rows reaching far outside their chunk)."""
        from .._kernels import krylov

        if (self.sweep is None or getattr(A, "format", None) != "csr"
                or not getattr(A, "_row_major", False) or A.dtype != self.dtype):
            return None
        lo, hi, inside = krylov.block_reach(A.indptr, A.indices, self.n)
        if inside < FUSED_MIN_INSIDE * len(lo):
            return None
        return A.indptr, A.indices, A.data, lo, hi, np.zeros(len(lo), dtype=np.bool_)

    def project(self, W, rows, w, h, G=None, product=None):
        """Modified Gram-Schmidt of ``w`` (in place) against ``W[:rows]``; ``h[:rows]``
        gets the coefficients; returns ``(|w| before, |w| after)``. With ``G`` (the
        rows' Gram entries, see ``gram``), through ``mgsg_column``, which also
        fills ``G[rows, :rows]`` for the normalised ``w``; ``product``
        ``(indptr, indices, data, z)`` (with ``G`` only) has it compute ``w = A @ z``
        first, chunk by chunk (see ``_fused_product``)."""
        if G is not None:
            if product is None:
                product = self.no_product
            before, after = self.mgsg(W, rows, w, h, G, self.gpart, *product)
            return np.sqrt(before), np.sqrt(after)
        if not self.blas:
            before, after = self.mgs(W, rows, w, h, self.part)
            return np.sqrt(before), np.sqrt(after)
        before = self.nrm2(w)
        axpy, dot, n = self.axpy, self.dot, self.n
        for i in range(rows):
            a = dot(W[i], w)
            h[i] = a
            axpy(W[i], w, n, -a)  # in place: w is contiguous and of BLAS's dtype
        return before, self.nrm2(w)

    def combine(self, rows, coeffs, out):
        """``out += sum_k coeffs[k] rows[k]`` (in order of k) for a C-ordered block ``rows``."""
        m = len(coeffs)
        if not m:
            return out
        coeffs = np.ascontiguousarray(coeffs, dtype=self.dtype)
        if self.blas:  # one gemv on one thread: out += rows[:m]^T coeffs, in place
            self.gemv(1.0, rows[:m].T, coeffs, beta=1.0, y=out, overwrite_y=True)
        else:
            self.combine_kernel(rows, m, coeffs, out)
        return out

    def combine2(self, rows, c1, out1, c2, out2):
        """``combine(rows, c1, out1)`` and ``combine(rows, c2, out2)``, the same sums,
        in one pass over the rows where the kernel exists."""
        if self.combine2_kernel is None or not len(c1) or not len(c2):
            self.combine(rows, c1, out1)
            self.combine(rows, c2, out2)
            return
        c1 = np.ascontiguousarray(c1, dtype=self.dtype)
        c2 = np.ascontiguousarray(c2, dtype=self.dtype)
        self.combine2_kernel(rows, len(c1), c1, out1, len(c2), c2, out2)

    def scale(self, w, a):
        """``w *= a`` in place."""
        if self.blas:
            self.scal(a, w)
        else:
            self.scale_kernel(w, a)


def _product_into(A, dtype):
    """``f(v, out)`` writing ``A @ v`` into ``out`` (a row of the basis block: no
    fresh vector and no copy of it per column), or None where A's product would be
    another dtype or A is not CSR (then ``A @ v`` and a copy)."""
    from .._dtypes import compute_dtype, result_dtype

    if getattr(A, "format", None) != "csr" or not getattr(A, "_row_major", False):
        return None
    if result_dtype(A.dtype, dtype) != dtype or compute_dtype(dtype) != dtype:
        return None
    from .._backends.cpu import csr as csr_cpu

    major = A._major()

    def product_into(v, out):
        csr_cpu.matvec(major, v, out=out)

    product_into.csr = _fused_product(major, dtype)
    return product_into


#: Largest relative spread of the stored entries per row among ``krylov.CHUNK``-row
#: chunks for which ``_fused_product`` lets ``mgsg_column`` compute the product.
FUSED_PRODUCT_SPREAD = 0.25


def _fused_product(major, dtype):
    """``(indptr, indices, data)`` of CSR ``major`` when ``mgsg_column`` may compute the
    column's product itself (``FUSE_PRODUCT`` on): ``A`` of the solve's dtype, of short
    rows gathered near the diagonal (where the CPU backend's ``matvec`` runs
    ``spmv_short_rows``: stencils, banded matrices) and with about as many entries in
    each ``krylov.CHUNK``-row chunk (the kernel splits chunks, not entries, among the
    threads); else None."""
    from .._backends.cpu import csr as csr_cpu
    from .._kernels import csr as csr_kernels
    from .._kernels import krylov

    n = major.shape[0]
    if not FUSE_PRODUCT or major.data.dtype != dtype or major.shape[1] != n or n == 0:
        return None
    if major.nnz >= csr_kernels.SHORT_ROW * n:
        return None
    if csr_cpu._prefetch_distance(major, n * dtype.itemsize) != 0:
        return None
    indptr = major.indptr
    edges = np.append(np.arange(0, n, krylov.CHUNK), n)
    per_row = np.diff(indptr[edges]) / np.diff(edges)
    mean = major.nnz / n
    if mean == 0 or np.abs(per_row - mean).max() > FUSED_PRODUCT_SPREAD * mean:
        return None
    return indptr, major.indices, major.data


def _qr_append(Q, R, hcur, j):
    """The QR factors of the Hessenberg matrix with column ``j`` (``hcur``, j + 2
    entries) appended: ``Q`` grown by one row and column, SciPy's ``qr_insert``."""
    from scipy.linalg import qr_insert

    Q2 = np.zeros((j + 2, j + 2), dtype=Q.dtype, order="F")
    Q2[:j + 1, :j + 1] = Q
    Q2[j + 1, j + 1] = 1
    R2 = np.zeros((j + 2, j), dtype=R.dtype, order="F")
    R2[:j + 1, :] = R
    return qr_insert(Q2, R2, hcur, j, which="col", overwrite_qru=True, check_finite=False)


def _fgmres(ar, matvec, v0, m, atol, lpsolve=None, rpsolve=None, C=None, outer_v=(),
            prepend_outer_v=False, product_into=None):
    """SciPy's ``_fgmres`` (flexible GMRES with GCROT projection or LGMRES augmentation).

    ``C``: the GCROT vectors (a sequence of rows, or None); ``product_into``: see
    ``_product_into`` (used without a left preconditioner). Returns
    ``(Q, R, B, V, Z, y, res)``: ``V`` the basis as the rows of a block, ``Z``
    a function ``Z(y, out)`` that adds ``sum_j y_j z_j`` to ``out`` in SciPy's order
    (``Z(y, out, q, out_v)`` also adds ``sum_j q_j v_j`` to ``out_v``, in the same pass).
    """
    n, dtype = ar.n, ar.dtype
    nc = 0 if C is None else len(C)
    n_outer = len(outer_v)
    m = m + n_outer
    W = ar.block("W", nc + m + 1)
    if nc:
        for i, c in enumerate(C):  # straight into the block (no stacked copy first)
            W[i] = c
    W[nc] = v0
    # z_j: rows of V without a right preconditioner (the Krylov columns), else copies
    direct = rpsolve is None and not prepend_outer_v
    Z = ar.block("Z", n_outer if direct else m)
    B = np.zeros((nc, m), dtype=dtype)
    Q = np.ones((1, 1), dtype=dtype)
    R = np.zeros((1, 0), dtype=dtype)
    eps = np.finfo(dtype).eps
    h = np.zeros(nc + m + 1, dtype=dtype)
    # MGS through the Gram matrix needs the Gram entries of the rows given (GCROT's C
    # and v0; none without C): one product of those rows (BLAS, one thread under spla's
    # policy); the later rows' entries come from mgsg_column
    G = None
    if ar.mgsg is not None and (not nc or GRAM_WITH_C):
        G = ar.gram(nc + m + 2)
        if nc:
            P = W[:nc + 1]
            G[:nc + 1, :nc + 1] = (P.conj() if np.iscomplexobj(P) else P) @ P.T
    from scipy.linalg import lstsq

    res = np.nan
    breakdown = False
    for j in range(m):
        # L A Z = C B + V H
        w = None
        if prepend_outer_v and j < n_outer:
            z, w = outer_v[j]
        elif prepend_outer_v and j == n_outer:
            z = v0 if rpsolve is None else rpsolve(v0)
        elif not prepend_outer_v and j >= m - n_outer:
            z, w = outer_v[j - (m - n_outer)]
        else:
            z = W[nc + j] if rpsolve is None else rpsolve(W[nc + j])
        if direct:
            if j >= m - n_outer:
                Z[j - (m - n_outer)] = z
        else:
            Z[j] = z
        row = W[nc + j + 1]
        product = None
        if w is None:
            if product_into is not None and lpsolve is None:
                if (G is not None and product_into.csr is not None and z.dtype == dtype
                        and z.ndim == 1 and z.flags.c_contiguous):
                    product = product_into.csr + (z,)  # computed by the projection
                else:
                    product_into(z, row)
                w = row
            else:
                w = matvec(z)
                if lpsolve is not None:
                    w = lpsolve(w)
        if w is not row:
            row[:] = w
        rows = nc + j + 1
        w_norm, after = ar.project(W, rows, row, h, G, product)
        B[:, j] = h[:nc]
        hcur = np.zeros(j + 2, dtype=dtype)
        hcur[:j + 1] = h[nc:rows]
        hcur[j + 1] = after
        with np.errstate(over="ignore", divide="ignore"):
            alpha = 1 / hcur[-1]
        if np.isfinite(alpha):
            ar.scale(row, dtype.type(alpha))
        if not (hcur[-1] > eps * w_norm):
            breakdown = True
        Q, R = _qr_append(Q, R, hcur, j)
        res = abs(Q[0, -1])
        if res < atol or breakdown:
            break
    if not np.isfinite(R[j, j]):
        raise LinAlgError()
    y, _, _, _ = lstsq(R[:j + 1, :j + 1], Q[0, :j + 1].conj())
    cols = j + 1

    def zsum(coeffs, out, q=None, out_v=None):
        """``out += sum_j coeffs[j] z_j`` over the ``cols`` columns, in order; with ``q``,
        also ``out_v += sum_j q_j v_j`` (the rows of V), the Krylov columns of both in
        one pass over the basis rows."""
        V = W[nc:nc + cols + 1]
        if not direct:
            if q is not None:
                ar.combine(V, q, out_v)
            return ar.combine(Z, coeffs[:cols], out)
        krylov = min(cols, m - n_outer)
        if q is None:
            ar.combine(W[nc:], coeffs[:krylov], out)
        else:
            ar.combine2(V, coeffs[:krylov], out, q, out_v)
        return ar.combine(Z, coeffs[krylov:cols], out)

    return Q, R, B[:, :cols], W[nc:nc + cols + 1], zsum, y, res


def _fgmres_fused(ar, operands, product_into, v0, m, atol, outer_v):
    """``_fgmres`` for LGMRES without preconditioner and with the augmentation vectors
    last: one ``lgmres_sweep`` per column (MGS through the Gram matrix, fused with
    the next column's product and dots). The same results up to rounding."""
    from scipy.linalg import lstsq

    n, dtype = ar.n, ar.dtype
    n_outer = len(outer_v)
    m = m + n_outer
    krylov_cols = m - n_outer
    W = ar.block("W", m + 1)
    W[0] = v0
    Z = ar.block("Z", n_outer)
    Q = np.ones((1, 1), dtype=dtype)
    R = np.zeros((1, 0), dtype=dtype)
    eps = np.finfo(dtype).eps
    G = ar.gram(m + 2)
    h = np.zeros(m + 2, dtype=dtype)
    hn = np.zeros(m + 2, dtype=dtype)
    # per-chunk partial sums, rows padded by a cache line: the threads add into their
    # chunks' rows once per block, and rows sharing a line made them wait on each other
    part = np.zeros((ar.fchunks, m + 10), dtype=dtype)
    part2 = np.zeros((ar.fchunks, m + 10), dtype=dtype)
    indptr, indices, data, lo, hi, done = operands
    none = np.zeros(0, dtype=dtype)

    def outer_w(i):
        z, w = outer_v[i]
        return w if w is not None else np.asarray(ar.matvec(z), dtype=dtype)

    # column 0's vector and its coefficient
    if krylov_cols > 0:
        product_into(W[0], W[1])
    else:
        W[1] = outer_w(0)
    h[0] = np.vdot(W[0], W[1])
    w_norm = np.sqrt(np.vdot(W[1], W[1]).real)
    a_row = a_w = 1.0
    res = np.nan
    alpha = 1.0
    breakdown = False
    for j in range(m):
        if j >= krylov_cols:
            Z[j - krylov_cols] = outer_v[j - krylov_cols][0]
        given = none
        mode = 0
        if j + 1 < m:
            mode = 1 if j + 1 < krylov_cols else 2
            if mode == 2:
                given = outer_w(j + 1 - krylov_cols)
        after, nxt = ar.sweep(W, j + 1, h, a_row, a_w, G, indptr, indices, data, lo, hi,
                              given, mode, done, part, part2, hn)
        hcur = np.zeros(j + 2, dtype=dtype)
        hcur[:j + 1] = h[:j + 1]
        hcur[j + 1] = np.sqrt(after)
        with np.errstate(over="ignore", divide="ignore"):
            alpha = 1 / hcur[-1]
        if not (hcur[-1] > eps * w_norm):
            breakdown = True
        Q, R = _qr_append(Q, R, hcur, j)
        res = abs(Q[0, -1])
        if res < atol or breakdown:
            break
        w_norm = np.sqrt(nxt)
        h, hn = hn, h
        a_row = float(alpha.real)  # 1 / |w|: real, held in the solve's dtype
        a_w = a_row if mode == 1 else 1.0
    if np.isfinite(alpha):  # the last row, normalised (the next sweep did the others)
        ar.scale(W[j + 1], dtype.type(alpha))
    if not np.isfinite(R[j, j]):
        raise LinAlgError()
    y, _, _, _ = lstsq(R[:j + 1, :j + 1], Q[0, :j + 1].conj())
    cols = j + 1

    def zsum(coeffs, out, q=None, out_v=None):
        """``out += sum_j coeffs[j] z_j`` over the ``cols`` columns, in order; with ``q``,
        also ``out_v += sum_j q_j v_j`` (``_fgmres``'s ``zsum``)."""
        k = min(cols, krylov_cols)
        if q is None:
            ar.combine(W, coeffs[:k], out)
        else:
            ar.combine2(W[:cols + 1], coeffs[:k], out, q, out_v)
        return ar.combine(Z, coeffs[k:cols], out)

    return Q, R, np.zeros((0, cols), dtype=dtype), W[:cols + 1], zsum, y, res


def lgmres(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=1000, M=None, callback=None,
           inner_m=30, outer_k=3, outer_v=None, store_outer_Av=True, prepend_outer_v=False):
    """Solve ``A @ x = b`` with LGMRES (``scipy.sparse.linalg.lgmres``).

    For a square spla array on the CPU, SciPy's iteration with spla's products
    and fused Gram-Schmidt kernels (see the module's notes); anything else goes
    to SciPy's function with spla's products. Arguments, iteration and results
    are SciPy's.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        The ``(n, n)`` matrix.
    b : ndarray, shape (n,) or (n, 1)
        Right-hand side.
    x0 : ndarray, optional
        Starting guess (zeros by default).
    rtol, atol : float
        Converged when ``norm(b - A @ x) <= max(rtol * norm(b), atol)``.
    maxiter : int
        Outer iterations.
    M : spla array, SciPy sparse array, ndarray or LinearOperator, optional
        Preconditioner (approximate inverse of ``A``).
    callback : callable, optional
        ``callback(xk)`` before each outer iteration.
    inner_m, outer_k, outer_v, store_outer_Av, prepend_outer_v
        As in SciPy (inner GMRES steps, augmentation vectors kept, the list of
        ``(v, A v)`` pairs, modified in place).

    Returns
    -------
    x : ndarray
        The solution (as far as it got).
    info : int
        0 on convergence, else the number of outer iterations done.

    Raises
    ------
    ValueError
        If ``A`` is not square, ``b`` does not match it or is not finite, or
        ``atol`` is invalid.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[3.0, 2.0, 0.0], [1.0, -1.0, 0.0], [0.0, 5.0, 1.0]]))
    >>> x, info = spla.linalg.lgmres(A, np.array([2.0, 4.0, -1.0]), atol=1e-10)
    >>> info, np.allclose(A @ x, [2.0, 4.0, -1.0])
    (0, True)
    """
    if not _spla_cpu(A):
        from ._isolve import _scipy_lgmres

        return _scipy_lgmres(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M,
                             callback=callback, inner_m=inner_m, outer_k=outer_k,
                             outer_v=outer_v, store_outer_Av=store_outer_Av,
                             prepend_outer_v=prepend_outer_v)
    _convert.check_callback("lgmres", callback)
    from ._threads import solver_threads

    psolve, x, b = _convert.krylov_system(A, M, x0, b)
    with solver_threads(True):
        return _lgmres(A, psolve, x, b, rtol, atol, maxiter, callback, inner_m, outer_k,
                       outer_v, store_outer_Av, prepend_outer_v)


def _lgmres(A, psolve, x, b, rtol, atol, maxiter, callback, inner_m, outer_k, outer_v,
            store_outer_Av, prepend_outer_v):
    from scipy.sparse.linalg._isolve.iterative import _get_atol_rtol

    if not np.isfinite(b).all():
        raise ValueError("RHS must contain only finite numbers")

    def matvec(v):
        return A @ v

    if outer_v is None:
        outer_v = []
    b_norm = np.linalg.norm(b)
    atol, rtol = _get_atol_rtol("lgmres", b_norm, atol, rtol)
    if b_norm == 0:
        return b, 0
    ar = None
    product_into = False  # not yet decided (the basis dtype comes with the first residual)
    ptol_max_factor = 1.0
    for k_outer in range(maxiter):
        r_outer = matvec(x) - b
        if callback is not None:
            callback(x)
        if ar is None:
            if np.iscomplexobj(r_outer) and not np.iscomplexobj(x):
                x = x.astype(r_outer.dtype)
            ar = _Arnoldi(len(b), np.result_type(x, r_outer))
            # at most max(outer_k, len(outer_v)) augmentation columns per cycle
            k_max = max(outer_k, len(outer_v))
            direct = psolve is None and not prepend_outer_v  # see _fgmres
            ar.reserve = {"W": inner_m + k_max + 1,
                          "Z": k_max if direct else inner_m + k_max}
        r_norm = np.linalg.norm(r_outer)
        if r_norm <= max(atol, rtol * b_norm):
            break
        v0 = -(r_outer if psolve is None else psolve(r_outer))
        inner_res_0 = np.linalg.norm(v0)
        if inner_res_0 == 0:
            raise RuntimeError("Preconditioner returned a zero vector; "
                               f"|v| ~ {r_norm:.1g}, |M v| = 0")
        v0 = v0 * (1.0 / inner_res_0)
        ptol = min(ptol_max_factor, max(atol, rtol * b_norm) / r_norm)
        try:
            if product_into is False:
                product_into = _product_into(A, ar.dtype)
                operands = None
                if product_into is not None and psolve is None and not prepend_outer_v:
                    operands = ar.fused_operands(A)
                    ar.matvec = matvec
            if operands is not None:
                Q, R, B, V, zsum, y, pres = _fgmres_fused(ar, operands, product_into, v0,
                                                          inner_m, ptol, outer_v)
            else:
                Q, R, B, V, zsum, y, pres = _fgmres(ar, matvec, v0, inner_m,
                                                    lpsolve=psolve, atol=ptol,
                                                    outer_v=outer_v,
                                                    prepend_outer_v=prepend_outer_v,
                                                    product_into=product_into)
            y *= inner_res_0
            if not np.isfinite(y).all():
                raise LinAlgError()
        except LinAlgError:
            return x, k_outer + 1
        if pres > ptol:
            ptol_max_factor = min(1.0, 1.5 * ptol_max_factor)
        else:
            ptol_max_factor = max(1e-16, 0.25 * ptol_max_factor)
        dx = np.zeros(len(b), dtype=ar.dtype)
        if store_outer_Av:  # A dx = V (H y) taken in the same pass as dx (kept if nx > 0)
            q = Q.dot(R.dot(y))
            ax = np.zeros(len(b), dtype=ar.dtype)
            zsum(y, dx, q, ax)
        else:
            zsum(y, dx)
        nx = np.linalg.norm(dx)
        if nx > 0:
            if store_outer_Av:
                outer_v.append((dx / nx, ax / nx))
            else:
                outer_v.append((dx / nx, None))
        while len(outer_v) > outer_k:
            del outer_v[0]
        x += dx
    else:
        return x, maxiter
    return x, 0


def gcrotmk(A, b, x0=None, *, rtol=1e-5, atol=0., maxiter=1000, M=None, callback=None,
            m=20, k=None, CU=None, discard_C=False, truncate="oldest"):
    """Solve ``A @ x = b`` with flexible GCROT(m, k) (``scipy.sparse.linalg.gcrotmk``).

    For a square spla array on the CPU, SciPy's iteration with spla's products
    and fused Gram-Schmidt kernels (the projection on the kept vectors ``C`` and
    on the Arnoldi basis in one sweep per two vectors); anything else goes to
    SciPy's function with spla's products. Arguments, iteration and results are
    SciPy's.

    Parameters
    ----------
    A : spla array, SciPy sparse array, ndarray or LinearOperator
        The ``(n, n)`` matrix.
    b : ndarray, shape (n,) or (n, 1)
        Right-hand side.
    x0 : ndarray, optional
        Starting guess (zeros by default).
    rtol, atol : float
        Converged when ``norm(b - A @ x) <= max(rtol * norm(b), atol)``.
    maxiter : int
        Outer iterations.
    M : spla array, SciPy sparse array, ndarray or LinearOperator, optional
        Preconditioner (applied on the right, flexible).
    callback : callable, optional
        ``callback(xk)`` before each outer iteration.
    m, k, CU, discard_C, truncate
        As in SciPy (inner steps, vectors kept, the ``(c, u)`` list modified in
        place, and how it is truncated: ``"oldest"`` or ``"smallest"``).

    Returns
    -------
    x : ndarray
        The solution (as far as it got).
    info : int
        0 on convergence, else the number of outer iterations done.

    Raises
    ------
    ValueError
        If ``A`` is not square, ``b`` does not match it or is not finite,
        ``atol`` is invalid or ``truncate`` unknown.

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[3.0, 2.0, 0.0], [1.0, -1.0, 0.0], [0.0, 5.0, 1.0]]))
    >>> x, info = spla.linalg.gcrotmk(A, np.array([2.0, 4.0, -1.0]), atol=1e-10)
    >>> info, np.allclose(A @ x, [2.0, 4.0, -1.0])
    (0, True)
    """
    if not _spla_cpu(A):
        from ._isolve import _scipy_gcrotmk

        return _scipy_gcrotmk(A, b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M,
                              callback=callback, m=m, k=k, CU=CU, discard_C=discard_C,
                              truncate=truncate)
    _convert.check_callback("gcrotmk", callback)
    from ._threads import solver_threads

    given_x0 = x0 is not None
    psolve, x, b = _convert.krylov_system(A, M, x0, b)
    with solver_threads(True):
        return _gcrotmk(A, psolve, x, b, given_x0, rtol, atol, maxiter, callback, m, k, CU,
                        discard_C, truncate)


def _gcrotmk(A, psolve, x, b, given_x0, rtol, atol, maxiter, callback, m, k, CU, discard_C,
             truncate):
    from scipy.linalg import qr, solve, svd
    from scipy.sparse.linalg._isolve.iterative import _get_atol_rtol

    if not np.isfinite(b).all():
        raise ValueError("RHS must contain only finite numbers")
    if truncate not in ("oldest", "smallest"):
        raise ValueError(f"Invalid value for 'truncate': {truncate!r}")

    def matvec(v):
        return A @ v

    n = len(b)
    if CU is None:
        CU = []
    if k is None:
        k = m
    r = b - matvec(x) if given_x0 else b.copy()
    dtype = np.result_type(x, r)
    ar = _Arnoldi(n, dtype)
    # GCROT's vectors and the Arnoldi basis: nc + ml + 1 = m + max(k, len(CU)) + 1 rows
    ar.reserve = {"W": m + max(k, len(CU)) + 1, "Z": 0 if psolve is None else m + k}
    product_into = _product_into(A, dtype)
    b_norm = np.linalg.norm(b)
    atol, rtol = _get_atol_rtol("gcrotmk", b_norm, atol, rtol)
    if b_norm == 0:
        return b, 0
    if discard_C:
        CU[:] = [(None, u) for c, u in CU]
    if CU:  # reorthogonalise the vectors given (SciPy's pivoted QR)
        CU.sort(key=lambda cu: cu[0] is not None)
        Cm = np.empty((n, len(CU)), dtype=r.dtype, order="F")
        us = []
        j = 0
        while CU:
            c, u = CU.pop(0)
            if c is None:
                c = matvec(u)
            Cm[:, j] = c
            j += 1
            us.append(u)
        Qc, Rc, P = qr(Cm, overwrite_a=True, mode="economic", pivoting=True)
        del Cm
        cs = list(Qc.T)
        new_us = []
        for j in range(len(cs)):  # U := U P R^-1 by back substitution
            u = us[P[j]]
            for i in range(j):
                u = u - Rc[i, j] * new_us[i]
            if abs(Rc[j, j]) < 1e-12 * abs(Rc[0, 0]):
                break
            u = u * (1.0 / Rc[j, j])
            new_us.append(u)
        CU[:] = list(zip(cs, new_us))[::-1]
    if CU:
        for c, u in CU:
            yc = np.vdot(c, r)
            x = x + yc * u
            r = r - yc * c
    j_outer = 0
    for j_outer in range(maxiter):
        if callback is not None:
            callback(x)
        beta = np.linalg.norm(r)
        beta_tol = max(atol, rtol * b_norm)
        if beta <= beta_tol and (j_outer > 0 or CU):
            r = b - matvec(x)
            beta = np.linalg.norm(r)
        if beta <= beta_tol:
            j_outer = -1
            break
        ml = m + max(k - len(CU), 0)
        C = [c for c, u in CU] if CU else None
        try:
            Q, R, B, V, zsum, y, pres = _fgmres(ar, matvec, r / beta, ml, rpsolve=psolve,
                                                atol=max(atol, rtol * b_norm) / beta, C=C,
                                                product_into=product_into)
            y *= beta
        except LinAlgError:
            break
        # ux = (Z - U B) y; cx = V H y (= A ux)
        ux = zsum(y, np.zeros(n, dtype=dtype))
        by = B.dot(y)
        if CU:
            U = np.array([u for c, u in CU], dtype=dtype).reshape(len(CU), n)
            ar.combine(U, -by, ux)
        with np.errstate(invalid="ignore"):
            hy = Q.dot(R.dot(y))
        cx = ar.combine(V, hy, np.zeros(n, dtype=dtype))
        try:
            alpha = 1 / np.linalg.norm(cx)
            if not np.isfinite(alpha):
                raise FloatingPointError()
        except (FloatingPointError, ZeroDivisionError):
            continue
        cx *= alpha
        ux *= alpha
        gamma = np.vdot(cx, r)
        r -= gamma * cx
        x += gamma * ux
        if truncate == "oldest":
            while len(CU) >= k and CU:
                del CU[0]
        elif len(CU) >= k and CU:
            D = solve(R[:-1, :].T, B.T).T
            W, sigma, Vs = svd(D)
            new_CU = []
            for j, w in enumerate(W[:, :k - 1].T):
                c, u = CU[0]
                c = c * w[0]
                u = u * w[0]
                for (cp, up), wp in zip(CU[1:], w[1:]):
                    c = c + wp * cp
                    u = u + wp * up
                for cp, up in new_CU:
                    a = np.vdot(cp, c)
                    c = c - a * cp
                    u = u - a * up
                a = np.linalg.norm(c)
                c = c * (1.0 / a)
                u = u * (1.0 / a)
                new_CU.append((c, u))
            CU[:] = new_CU
        CU.append((cx, ux))
    CU.append((None, x.copy()))
    if discard_C:
        CU[:] = [(None, uz) for cz, uz in CU]
    return x, j_outer + 1
