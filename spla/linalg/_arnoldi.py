"""spla's nonsymmetric eigensolver: Krylov-Schur (Stewart 2001) with full reorthogonalisation.

``eigs(A, k, which=..., v0=..., ncv=..., maxiter=..., tol=...)`` for a square
float64 or complex128 spla array on the CPU (standard problem: no ``M``,
``sigma``, ``Minv``, ``OPinv``), with SciPy's arguments, errors and results.
The method is Stewart's Krylov-Schur restart of the Arnoldi process (G. W.
Stewart, "A Krylov-Schur algorithm for large eigenproblems", SIAM J. Matrix
Anal. Appl. 23, 2001), mathematically ARPACK's implicitly restarted Arnoldi
with exact shifts:

* a cycle extends the orthonormal basis ``V[:q]`` (``q`` kept Schur vectors,
  ``q = 0`` at the start) to ``m = ncv`` vectors, one product ``A v_j`` per
  step, keeping ``A V_m = V_m H + v_m b^T`` with ``H`` (``m x m``) upper
  Hessenberg but for the kept block (quasi-triangular) and its spike row;
* each step removes from ``A v_j`` its components along ``v_j`` and ``v_{j-1}``,
  orthogonalises the rest against the whole basis by classical Gram-Schmidt
  (``h = V w``, ``w -= V^T h``) and repeats that pass once when it cancelled more
  than ``1 - 1/sqrt(2)`` of ``|w|`` (Daniel, Gragg, Kaufman and Stewart). The passes
  are BLAS ``gemv`` on one thread (``KERNELS = "blas"``, the default); for real
  matrices ``KERNELS = "fused"`` makes the whole step one Numba call
  (``lanczos.arnoldi_step``, row blocks over Numba's threads; opt-in);
* after a cycle the Ritz pairs of ``H`` (LAPACK, ``m x m``) give the residual
  bounds ``|beta y_m|``; a pair has converged when its bound is at most
  ``tol * max(eps^(2/3), |theta|)`` (ARPACK's test). Otherwise ``H`` is brought
  to real Schur form (``gees``), the wanted Ritz values are moved to the
  leading block (``trsen``, complex-conjugate pairs kept together as 2 x 2
  blocks), the basis is rotated onto the leading ``q`` Schur vectors by ``gemm``
  (``V[:q] = Z[:, :q]^T V``, over column blocks) and the factorisation is
  truncated there.

Real matrices are handled in real arithmetic (real Schur form); complex ones in
complex arithmetic (complex Schur form). An invariant subspace (``|w|`` cancels
to rounding twice) continues with a random vector orthogonal to the basis, as
ARPACK does.
"""

import math

import numba
import numpy as np

__all__ = ["arnoldi_eigs"]

#: ``which`` values of the nonsymmetric solver (SciPy's ``_NEUPD_WHICH``).
WHICH = ("LM", "SM", "LR", "SR", "LI", "SI")
#: Problems of at most this order are solved densely (``scipy.linalg.eig``).
DENSE_MAX = 128
#: The DGKS threshold: a second Gram-Schmidt pass when ``|w|`` falls below this
#: fraction of its norm before the pass (ARPACK's ``dnaitr`` uses 0.717).
DGKS = 0.7071067811865476
#: A random vector (after an invariant subspace) is accepted when two Gram-Schmidt
#: passes leave at least this fraction of its norm.
RANDOM_MIN = 1e-4
#: Before the Gram-Schmidt pass against the whole basis, ``A v_j`` loses its components
#: along the last ``LOCAL`` basis vectors (``v_j``, ``v_{j-1}``: nearly all of it for a
#: near-normal operator, whose Hessenberg matrix is nearly tridiagonal) in a pass over
#: those rows only. The DGKS test then measures the cancellation of the whole-basis pass
#: on that remainder, which rarely triggers a second pass; measured against ``|A v_j|``
#: (``LOCAL = 0``, ARPACK's ``dnaitr``) it triggers nearly every step, and a second pass
#: reads the whole basis twice more.
LOCAL = 2
#: The vector work of a step for real (float64) matrices: ``"fused"`` (the default since
#: session 16): one Numba call per step (``lanczos.arnoldi_step`` of
#: ``spla/_kernels/lanczos.py``: the local projection, the whole-basis pass with its DGKS
#: repeat, the normalisation; row blocks over Numba's threads) for vectors of at least
#: ``STEP_PARALLEL_MIN`` entries when Numba has more than one thread (on one thread it
#: took 1.1-1.3x the time of the BLAS passes; on two, quiet, 0.75-0.88x: docs/linalg.md);
#: else, and with ``"blas"``, the passes as one-thread BLAS ``gemv`` (session 15; complex
#: matrices always take this path).
KERNELS = "fused"
#: With ``KERNELS = "fused"``, vectors at least this long run the parallel fused step.
STEP_PARALLEL_MIN = 20_000


def _check_args(n, k, which, ncv, maxiter, v0):
    """SciPy's errors after ``k`` (``which``, ``maxiter``, ``ncv``), in SciPy's order;
    returns ``(ncv, maxiter)``."""
    if not isinstance(which, str) or which not in WHICH:
        raise ValueError(f"Parameter which must be one of {' '.join(WHICH)}")
    if maxiter is None:
        maxiter = n * 10
    if maxiter <= 0:
        raise ValueError(f"maxiter must be positive, maxiter={maxiter}")
    if ncv is None:
        ncv = max(2 * k + 1, 20)
    ncv = min(int(ncv), n)
    if ncv > n or ncv <= k + 1:
        raise ValueError(f"ncv must be k+1<ncv<=n, ncv={ncv}")
    if v0 is not None:
        v0 = np.asarray(v0)
        if v0.shape != (n,):
            raise ValueError(f"v0 must have shape ({n},), got {v0.shape}")
    return ncv, int(maxiter)


def _order(theta, which, complex_=False):
    """Indices of the Ritz values ``theta`` (complex), most wanted first.

    ``LI``/``SI`` rank by ``|imag|`` for a real matrix (ARPACK's ``dneupd``: conjugate
    pairs together) and by the signed imaginary part for a complex one (``zneupd``).
    Ties of the primary key break as ARPACK's ``dngets`` pre-sort does: ``LM`` and
    ``SM`` by the real part, ``LR``, ``SR``, ``LI`` and ``SI`` by the modulus
    (largest for ``L*``, smallest for ``S*``); then positive imaginary parts first."""
    re, im, mod = theta.real, theta.imag, np.abs(theta)
    aim = im if complex_ else np.abs(im)
    first, second = {
        "LM": (-mod, -re), "SM": (mod, re), "LR": (-re, -mod), "SR": (re, mod),
        "LI": (-aim, -mod), "SI": (aim, mod)}[which]
    return np.lexsort((-im, second, first))


def _scipy_order(count, vectors):
    """Permutation of ``count`` selected eigenvalues (most wanted first) giving SciPy's
    order: most wanted first with eigenvectors, least wanted first without them (ARPACK's
    ``zneupd`` always, ``dneupd`` unless it returns a ``k + 1``-st value, which SciPy's
    wrapper then re-sorts most wanted first)."""
    idx = np.arange(count)
    return idx if vectors else idx[::-1]


def _dense(dense, k, which, return_eigenvectors, dtype):
    from scipy.linalg import eig

    D = np.asarray(dense(), dtype=dtype)
    if return_eigenvectors:
        theta, Y = eig(D)
    else:
        theta = eig(D, right=False)
    theta = theta.astype(np.complex128)
    idx = _order(theta, which, np.dtype(dtype).kind == "c")[:k]
    idx = idx[_scipy_order(len(idx), return_eigenvectors)]
    if not return_eigenvectors:
        return theta[idx]
    X = np.asarray(Y[:, idx], dtype=np.complex128)
    X /= np.linalg.norm(X, axis=0)
    return theta[idx], X


class _Basis:
    """The Arnoldi basis ``V`` (rows, ``ncv + 1`` of them) and its BLAS passes."""

    def __init__(self, n, ncv, dtype):
        from scipy.linalg import blas

        self.n = n
        self.dtype = np.dtype(dtype)
        self.complex = self.dtype.kind == "c"
        self.gemv, self.gemm, self.nrm2, self.scal = blas.get_blas_funcs(
            ("gemv", "gemm", "nrm2", "scal"), dtype=self.dtype)
        self.trans = 2 if self.complex else 1
        self.V = np.empty((ncv + 1, n), dtype=self.dtype)
        self.second_passes = 0  # DGKS passes made (a diagnostic for benchmarks)
        self._rbuf = []  # rotate's buffer
        self.step = None
        if (KERNELS == "fused" and not self.complex and n >= STEP_PARALLEL_MIN
                and numba.get_num_threads() > 1):
            from .._kernels import lanczos

            self.step = lanczos.STEP_PARALLEL[5]
            chunks = lanczos.step_chunks(n)
            self.h = np.zeros(ncv + 2)
            self.g = np.zeros(ncv + 2)
            self.part = np.zeros((chunks, ncv + 2))
            self.rpart = np.zeros(chunks)

    def project(self, m, w):
        """One classical Gram-Schmidt pass of ``w`` against ``V[:m]`` (two reads of the
        block); returns the coefficients ``h = V[:m]^H w``."""
        Vt = self.V[:m].T  # Fortran-ordered (n, m) view: no copy
        h = self.gemv(1.0, Vt, w, trans=self.trans)
        self.gemv(-1.0, Vt, h, beta=1.0, y=w, overwrite_y=1)
        return h

    def project_local(self, m, w):
        """``w`` less its components along the last ``LOCAL`` basis vectors ``V[m - LOCAL:m]``
        (a pass over those rows only); returns ``(lo, coefficients)``."""
        lo = max(m - LOCAL, 0)
        Vt = self.V[lo:m].T
        c = self.gemv(1.0, Vt, w, trans=self.trans)
        self.gemv(-1.0, Vt, c, beta=1.0, y=w, overwrite_y=1)
        return lo, c

    def orthogonalise(self, m, w):
        """``w`` made orthogonal to ``V[:m]``: its components along the last ``LOCAL``
        vectors removed first, then one pass against the whole basis, a second one when
        that pass cancelled most of what the first step left. Returns
        ``(h, |w| after, ok)``; ``ok`` is False when ``w`` cancelled to rounding (an
        invariant subspace)."""
        if LOCAL:
            lo, c = self.project_local(m, w)
        before = self.nrm2(w)
        h = self.project(m, w)
        if LOCAL:
            h[lo:m] += c
        after = self.nrm2(w)
        if after < DGKS * before:
            self.second_passes += 1
            h = h + self.project(m, w)
            before, after = after, self.nrm2(w)
            if after < DGKS * before:
                return h, after, False
        return h, after, after > 0

    def random_orthogonal(self, m, rng):
        """A random unit vector orthogonal to ``V[:m]``, written into ``V[m]``;
        False if none could be found (the basis spans the space)."""
        w = self.V[m]
        for _ in range(3):
            w[:] = _random(rng, self.n, self.dtype)
            before = self.nrm2(w)
            self.project(m, w)
            self.project(m, w)
            after = self.nrm2(w)
            if after > RANDOM_MIN * before:
                self.scal(1.0 / after, w)
                return True
        return False

    def rotate(self, m, Z, q):
        """``V[:q] = Z[:m, :q]^T V[:m]`` (the kept Schur vectors), ``gemm`` over column
        blocks (``_lanczos.rotate_blas``)."""
        from ._lanczos import rotate_blas

        rotate_blas(self.gemm, self.V, m, np.asarray(Z, dtype=self.dtype), q, self._rbuf)

    def ritz_vectors(self, m, Y):
        """``V[:m]^T Y`` (``Y`` complex, ``m x k``) as a complex ``(n, k)`` array."""
        Vt = self.V[:m].T
        if self.complex:
            return self.gemm(1.0, Vt, np.asarray(Y, dtype=self.dtype))
        X = np.empty((self.n, Y.shape[1]), dtype=np.complex128)
        X.real = self.gemm(1.0, Vt, np.ascontiguousarray(Y.real))
        X.imag = self.gemm(1.0, Vt, np.ascontiguousarray(Y.imag))
        return X


def _random(rng, n, dtype):
    """SciPy's random starting vector: uniform in [-1, 1) (real and imaginary parts)."""
    if np.dtype(dtype).kind == "c":
        return rng.uniform(low=-1.0, high=1.0, size=[n, 2]).view(np.complex128).ravel()
    return rng.uniform(low=-1.0, high=1.0, size=n)


def _schur_eigenvalues(T, complex_):
    """Eigenvalues on the diagonal of the Schur form ``T`` in diagonal order, and the
    block each belongs to (a 2 x 2 block of a real Schur form: a conjugate pair)."""
    m = T.shape[0]
    if complex_:
        return np.diag(T).astype(np.complex128), np.arange(m)
    ev = np.diag(T).astype(np.complex128)
    block = np.arange(m)
    i = 0
    while i < m - 1:
        if T[i + 1, i] != 0.0:
            a, b, c, d = T[i, i], T[i, i + 1], T[i + 1, i], T[i + 1, i + 1]
            re = 0.5 * (a + d)
            disc = 0.25 * (a - d) ** 2 + b * c
            im = math.sqrt(max(-disc, 0.0))
            ev[i], ev[i + 1] = complex(re, im), complex(re, -im)
            block[i + 1] = i
            i += 2
        else:
            i += 1
    return ev, block


def _keep_count(m, k, nconv):
    """How many Schur vectors a restart keeps (before keeping conjugate pairs together):
    ARPACK's choice (``dnaup2``), the ``k`` wanted plus one per converged wanted pair up
    to half of the remaining room; for ``k = 1`` half of the basis (at least 2)."""
    p = k + min(nconv, (m - k) // 2)
    if p == 1:
        p = m // 2 if m >= 6 else (2 if m > 3 else 1)
    return max(1, min(p, m - 1))


def _restart(H, m, beta, which, q_want, complex_):
    """Schur form of ``H[:m, :m]`` with the ``q`` most wanted Ritz values leading
    (conjugate pairs together); returns ``(T, Z, q)``."""
    from scipy.linalg import lapack

    dtype = np.complex128 if complex_ else np.float64
    gees, trsen, trsen_lwork = lapack.get_lapack_funcs(("gees", "trsen", "trsen_lwork"),
                                                       dtype=np.dtype(dtype))
    res = gees(lambda *a: None, np.array(H[:m, :m], dtype=dtype, order="F"), sort_t=0)
    if res[-1] != 0:
        raise np.linalg.LinAlgError(f"gees failed in the Krylov-Schur restart (info {res[-1]})")
    T, Z = res[0], res[-3]
    ev, block = _schur_eigenvalues(T, complex_)
    select = np.zeros(m, dtype=np.int32)
    count = 0
    last = None
    for i in _order(ev, which, complex_):
        if count >= q_want:
            break
        b = block[i]
        if select[b]:
            continue
        members = [b, b + 1] if (b + 1 < m and block[b + 1] == b) else [b]
        select[members] = 1
        count += len(members)
        last = members
    if count >= m and last is not None and len(last) == 2:
        select[last] = 0  # a pair that does not fit leaves the kept block
        count -= 2
    if count == 0:
        return T, Z, 0
    lw = trsen_lwork(select, T)
    if complex_:
        res = trsen(select, T, Z, lwork=max(int(lw[0].real), 1))
    else:
        res = trsen(select, T, Z, lwork=max(int(lw[0]), 1), liwork=max(int(lw[1]), 1))
    if res[-1] != 0:
        raise np.linalg.LinAlgError(f"trsen failed in the Krylov-Schur restart (info {res[-1]})")
    return res[0], res[1], count


def arnoldi_eigs(matvec, n, k=6, dtype=np.float64, which="LM", v0=None, ncv=None,
                 maxiter=None, tol=0, return_eigenvectors=True, rng=None, dense=None):
    """Krylov-Schur for ``k`` eigenpairs of a square operator of order ``n``.

    ``matvec(v)`` returns ``A v`` (``dtype``, float64 or complex128, length ``n``);
    ``dense()`` returns ``A`` as a dense array, used instead of Arnoldi when
    ``n <= DENSE_MAX``. The other arguments and the results are those of
    ``scipy.sparse.linalg.eigs`` without ``sigma`` and ``M``: complex eigenvalues
    (and unit eigenvectors), ``ArpackNoConvergence`` (with the converged pairs)
    after ``maxiter`` restarts, ``ArpackError`` for a zero ``v0``. ``k`` must
    satisfy ``0 < k < n - 1`` (checked by the caller).
    """
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence
    from scipy.sparse.linalg._eigen.arpack.arpack import _NAUPD_ERRORS

    dtype = np.dtype(dtype)
    complex_ = dtype.kind == "c"
    ncv, maxiter = _check_args(n, k, which, ncv, maxiter, v0)
    if n <= DENSE_MAX and dense is not None:
        return _dense(dense, k, which, return_eigenvectors, dtype)
    rng = np.random.default_rng(rng)
    tol = float(tol)
    eps = np.finfo(np.float64).eps
    if tol <= 0:
        tol = eps
    eps23 = eps ** (2.0 / 3.0)
    m = ncv
    basis = _Basis(n, m, dtype)
    V = basis.V
    if v0 is not None:
        V[0] = np.asarray(v0, dtype=dtype)
    else:
        V[0] = _random(rng, n, dtype)
    nrm = basis.nrm2(V[0])
    if not nrm > 0:
        raise ArpackError(-9, infodict=_NAUPD_ERRORS["z" if complex_ else "d"])
    basis.scal(1.0 / nrm, V[0])

    H = np.zeros((m + 1, m), dtype=dtype)  # A V[:m]^T = V[:m+1]^T H
    start = 0
    cycles = 0
    step = basis.step
    if step is not None:
        hbuf, gbuf, part, rpart = basis.h, basis.g, basis.part, basis.rpart
        dgks2 = DGKS * DGKS
    while True:
        for j in range(start, m):
            w = V[j + 1]
            if step is not None:
                # the whole step in one call: local projection, Gram-Schmidt, DGKS, w / |w|
                y = np.ascontiguousarray(matvec(V[j]), dtype=np.float64)
                after, ok, passes = step(V, j, y, dgks2, hbuf, gbuf, part, rpart)
                basis.second_passes += passes - 1
                H[:j + 1, j] = hbuf[:j + 1]
                if ok:
                    H[j + 1, j] = math.sqrt(after)
                else:
                    H[j + 1, j] = 0.0
                    if not basis.random_orthogonal(j + 1, rng):
                        w[:] = 0.0
                continue
            w[:] = matvec(V[j])
            h, beta, ok = basis.orthogonalise(j + 1, w)
            H[:j + 1, j] = h
            if ok:
                H[j + 1, j] = beta
                basis.scal(1.0 / beta, w)
            else:
                # invariant subspace: continue with a random direction (coupling 0)
                H[j + 1, j] = 0.0
                if not basis.random_orthogonal(j + 1, rng):
                    w[:] = 0.0
        beta = H[m, m - 1]
        theta, Y = np.linalg.eig(H[:m, :m])
        theta = theta.astype(np.complex128)
        order = _order(theta, which, complex_)
        want = order[:k]
        bounds = np.abs(beta * Y[m - 1, :])
        ok = bounds <= tol * np.maximum(eps23, np.abs(theta))
        if ok[want].all():
            return _finish(basis, m, theta, Y, want, which, return_eigenvectors)
        cycles += 1
        if cycles > maxiter:  # ARPACK's count: the first cycle and maxiter restarts
            done = want[ok[want]]
            vals, vecs = _finish(basis, m, theta, Y, done, which, True)
            raise ArpackNoConvergence(
                f"No convergence ({cycles} iterations, "
                f"{len(done)}/{k} eigenvectors converged)", vals, vecs)
        nconv = int(ok[want].sum())
        T, Z, q = _restart(H, m, beta, which, _keep_count(m, k, nconv), complex_)
        if q == 0:
            q = 1  # cannot happen with 0 < k < m - 1; kept as a guard
        spike = beta * Z[m - 1, :q]
        basis.rotate(m, Z, q)
        V[q] = V[m]
        H[:] = 0.0
        H[:q, :q] = T[:q, :q]
        H[q, :q] = spike
        start = q


def _finish(basis, m, theta, Y, idx, which, return_eigenvectors):
    idx = idx[_scipy_order(len(idx), return_eigenvectors)]
    if not return_eigenvectors:
        return theta[idx]
    X = basis.ritz_vectors(m, Y[:, idx])
    norms = np.linalg.norm(X, axis=0)
    norms[norms == 0] = 1.0
    X /= norms
    return theta[idx], X
