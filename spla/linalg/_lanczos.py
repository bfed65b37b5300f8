"""spla's symmetric eigensolver: thick-restart Lanczos with full reorthogonalisation.

``eigsh(A, k, which=..., v0=..., ncv=..., maxiter=..., tol=...)`` for a real
symmetric float64 spla array on the CPU, with SciPy's arguments, errors and
results (eigenvalues in SciPy's order, ``ArpackNoConvergence`` with the
converged pairs when ``maxiter`` restarts do not suffice). The method is the
thick-restart Lanczos of Wu and Simon (2000), which keeps the Ritz vectors of
the wanted end at each restart (mathematically the implicitly restarted
Lanczos of ARPACK with exact shifts):

* a cycle extends the basis ``V[:q]`` (``q`` kept Ritz vectors, ``q = 0`` at the
  start) to ``ncv`` orthonormal vectors, one product ``A v_j`` per step, and
  ``A V = V T + beta v_ncv e^T`` with ``T`` tridiagonal but for the arrow of
  the kept vectors;
* each step after the product is one Numba call (``lanczos.step`` of
  ``spla/_kernels/lanczos.py``): the three-term recurrence, then a classical
  Gram-Schmidt pass against the whole basis read as one block (the coefficients,
  then the subtraction with ``|w|^2``; row blocks over Numba's threads), repeated
  when it cancels more than ``1 - 1/sqrt(2)`` of ``|w|`` (Daniel, Gragg, Kaufman and
  Stewart), and the normalisation; no BLAS call runs between the products;
* after a cycle, the Ritz pairs of ``T`` (LAPACK on an ``ncv x ncv`` matrix)
  give the residual bounds ``|beta y_ncv|``; a pair has converged when its bound
  is at most ``tol * max(eps^(2/3), |theta|)`` (ARPACK's test); the restart keeps
  the ``q`` best Ritz vectors, ``V[:q] = V Y`` in one pass over the basis.

Breakdown (an invariant subspace: ``|w|`` cancels to rounding) continues with a
random vector orthogonal to the basis, as ARPACK does.
"""

import math
import time

import numpy as np

__all__ = ["lanczos_eigsh"]

#: ``which`` values of the symmetric solver (SciPy's ``_SEUPD_WHICH``).
WHICH = ("LM", "SM", "LA", "SA", "BE")
#: Problems of at most this order are solved densely (``numpy.linalg.eigh``).
DENSE_MAX = 128
#: The vector work of a step: ``"fused"`` (the default, session 15): one call of
#: ``lanczos.step`` per step, its passes over row blocks on Numba's threads from
#: ``STEP_PARALLEL_MIN`` entries; ``"blas"``: the Gram-Schmidt passes as one-thread BLAS
#: gemv (spla's BLAS policy holds during the solve); ``"numba"``: session 14's fused sweeps
#: (strict order, parallel from ``PARALLEL_MIN``). Measurements: docs/linalg.md.
KERNELS = "fused"
#: With ``KERNELS = "fused"``: the restart's rotation ``V[:q] = V Y`` and the Ritz
#: vectors by ``"blas"`` dgemm (one thread) or by the ``"numba"`` sweeps.
ROTATE = "blas"
#: With ``KERNELS = "numba"``, vectors at least this long run the parallel sweeps.
PARALLEL_MIN = 50_000
#: With ``KERNELS = "fused"``, vectors at least this long run the parallel step.
STEP_PARALLEL_MIN = 20_000
#: The DGKS threshold: a second Gram-Schmidt pass when ``|w|`` falls below this
#: fraction of its value before the pass.
DGKS = 0.7071067811865476
#: A random vector (after an invariant subspace) is accepted when two Gram-Schmidt
#: passes leave at least this fraction of its squared norm.
RANDOM_MIN = 1e-8
#: A dict to collect a profile of the next solves in (``benchmarks/linalg.py``): seconds in
#: the products, the steps' vector work, the small eigenproblems and the restarts, and the
#: counts of products and restarts (added up over solves). None: no profile.
PROFILE = None


def blas_free(n):
    """Whether a solve of order ``n`` makes no BLAS call that could start BLAS threads
    (the serial fused step, and the Numba rotation below ``STEP_PARALLEL_MIN``; the
    ``ncv x ncv`` eigenproblems stay below BLAS's threading sizes), so that the caller
    can skip the BLAS thread limit (threadpoolctl costs ~30 us to 1 ms per solve, which
    is a tenth of a solve at n = 2,000)."""
    return KERNELS == "fused" and n < STEP_PARALLEL_MIN


def _check_args(n, k, which, ncv, maxiter, v0):
    """SciPy's errors, in SciPy's order; returns ``(ncv, maxiter)``."""
    if which not in WHICH:
        raise ValueError(f"which must be one of {' '.join(WHICH)}")
    if maxiter is None:
        maxiter = n * 10
    if maxiter <= 0:
        raise ValueError(f"maxiter must be positive, maxiter={maxiter}")
    if ncv is None:
        ncv = max(2 * k + 1, 20)
    ncv = min(ncv, n)
    if ncv > n or ncv <= k:
        raise ValueError(f"ncv must be k<ncv<=n, ncv={ncv}")
    if v0 is not None:
        v0 = np.asarray(v0)
        if v0.shape != (n,):
            raise ValueError(f"v0 must have shape ({n},), got {v0.shape}")
    return ncv, int(maxiter)


def _wanted(theta, which, k):
    """Indices of the ``k`` most wanted of the Ritz values ``theta`` (most wanted first;
    for ``"BE"``: ``k - k // 2`` from the top, ``k // 2`` from the bottom)."""
    if which == "BE":
        up = np.argsort(-theta, kind="stable")
        hi = k - k // 2
        lo = k // 2
        return np.concatenate([up[:hi], up[len(up) - lo:][::-1]]) if lo else up[:hi]
    key = {"LA": -theta, "SA": theta, "LM": -np.abs(theta), "SM": np.abs(theta)}[which]
    return np.argsort(key, kind="stable")[:k]


def _scipy_order(w, which, vectors):
    """Permutation giving SciPy's order: ascending with eigenvectors; without them,
    ARPACK's ``dseupd`` order, from the least to the most wanted (ascending for
    ``"LA"``, ``"BE"``; descending for ``"SA"``; by ascending ``|w|`` for ``"LM"``,
    descending for ``"SM"``)."""
    if vectors or which in ("LA", "BE"):
        return np.argsort(w, kind="stable")
    key = {"SA": -w, "LM": np.abs(w), "SM": -np.abs(w)}[which]
    return np.argsort(key, kind="stable")


def _dense(dense, k, which, return_eigenvectors):
    theta, Y = np.linalg.eigh(np.asarray(dense(), dtype=np.float64))
    idx = _wanted(theta, which, k)
    order = _scipy_order(theta[idx], which, return_eigenvectors)
    idx = idx[order]
    if return_eigenvectors:
        return theta[idx], np.ascontiguousarray(Y[:, idx])
    return theta[idx]


class _Basis:
    """The Lanczos basis ``V`` (rows) with the fused kernels and their scratch."""

    def __init__(self, n, ncv):
        from .._kernels import krylov, lanczos

        self.n = n
        big = n >= PARALLEL_MIN
        (self.local_step, self.sub_dots, self.dots, self.sub_norm, self.scale, self.rotate,
         self.ritz_vectors) = lanczos.LANCZOS_PARALLEL if big else lanczos.LANCZOS_SERIAL
        self.step = None
        if KERNELS == "blas":
            # BLAS's register-blocked gemv/gemm, in place, one thread under spla's policy
            self.sub_dots, self.dots, self.sub_norm, self.scale, self.rotate, \
                self.ritz_vectors = _blas_kernels()
        chunks = krylov.nchunks(n)
        if KERNELS == "fused":
            # one call per step (lanczos.step), the restart's rotation and the Ritz
            # vectors by ROTATE
            self.dots, self.sub_norm, _, self.step = (
                lanczos.STEP_PARALLEL if n >= STEP_PARALLEL_MIN else lanczos.STEP_SERIAL)[:4]
            if ROTATE == "blas" and not blas_free(n):
                *_, self.rotate, self.ritz_vectors = _blas_kernels()
            chunks = lanczos.step_chunks(n)
        self.V = np.empty((ncv + 1, n))
        self.part = np.zeros((chunks, ncv + 2))
        self.rpart = np.zeros(chunks)
        self.h = np.zeros(ncv + 2)

    def project(self, m, w):
        """One classical Gram-Schmidt pass of ``w`` against ``V[:m]`` (two reads of the
        block); returns ``(coefficients, |w|^2 before, |w|^2 after)``."""
        self.dots(self.V, m, w, self.part)
        sums = self.part[:, :m + 1].sum(axis=0)
        h = sums[:m].copy()
        self.sub_norm(self.V, m, w, h, self.rpart)
        return h, sums[m], self.rpart.sum()

    def cgs2(self, m, w):
        """``w`` orthogonalised twice against ``V[:m]``; returns
        ``(coefficients, |w|^2 before, |w|^2 after)``."""
        h, before, _ = self.project(m, w)
        h2, _, after = self.project(m, w)
        return h + h2, before, after

    def random_orthogonal(self, m, rng):
        """A random unit vector orthogonal to ``V[:m]``, written into ``V[m]``;
        False if none could be found (the basis spans the space)."""
        w = self.V[m]
        for _ in range(3):
            w[:] = rng.uniform(low=-1.0, high=1.0, size=self.n)
            _, before, after = self.cgs2(m, w)
            # two passes leave ~eps * |before| / |after| of the basis in w
            if after > RANDOM_MIN * before:
                self.scale(w, 1.0 / math.sqrt(after))
                return True
        return False


def _blas_kernels():
    """The block passes of ``_Basis`` through BLAS (same signatures and results as the
    Numba kernels: the sums land in the first row of ``part``, zeros below)."""
    from scipy.linalg import blas

    def _store(part, m, h, ww):
        part[:, :m + 1] = 0.0
        if m:
            part[0, :m] = h
        part[0, m] = ww

    def dots(V, m, w, part):
        h = blas.dgemv(1.0, V[:m].T, w, trans=1) if m else None
        _store(part, m, h, blas.ddot(w, w))

    def sub_dots(V, m, w, vj, alpha, part):
        blas.daxpy(vj, w, a=-alpha)
        dots(V, m, w, part)

    def sub_norm(V, m, w, h, part):
        if m:
            blas.dgemv(-1.0, V[:m].T, h, beta=1.0, y=w, overwrite_y=1)
        part[:] = 0.0
        part[0] = blas.ddot(w, w)

    def scale(w, a):
        blas.dscal(a, w)

    buf = []

    def rotate(V, m, Y, q):
        rotate_blas(blas.dgemm, V, m, Y, q, buf)

    def ritz_vectors(V, m, Y, X):
        X[:] = blas.dgemm(1.0, V[:m].T, Y[:m]).T

    return sub_dots, dots, sub_norm, scale, rotate, ritz_vectors


#: Columns of the basis per ``gemm`` of ``rotate_blas``.
ROTATE_CHUNK = 2048


def rotate_blas(gemm, V, m, Y, q, buf):
    """``V[:q] = Y[:m, :q]^T V[:m]`` in place by BLAS ``gemm`` over blocks of
    ``ROTATE_CHUNK`` columns, each block's product written to a small buffer (kept in
    ``buf``, a list holding at most one array) and copied back while in cache. One
    ``gemm`` of the whole basis into a fresh ``(n, q)`` array and its copy back took
    1.3x longer (one thread, n = 90,000 and 250,000, q = 10: the fresh array's pages
    and a second pass over it from memory; session 16)."""
    n = V.shape[1]
    cs = min(ROTATE_CHUNK, n)
    if not buf or buf[0].size < q * cs or buf[0].dtype != V.dtype:
        buf[:] = [np.empty(q * cs, dtype=V.dtype)]
    flat = buf[0]
    Vt = V[:m].T
    Yq = np.asfortranarray(Y[:m, :q])
    for lo in range(0, n, cs):
        hi = min(lo + cs, n)
        c = flat[:q * (hi - lo)].reshape(q, hi - lo)
        gemm(1.0, Vt[lo:hi], Yq, c=c.T, overwrite_c=1)
        V[:q, lo:hi] = c


def lanczos_eigsh(matvec, n, k=6, which="LM", v0=None, ncv=None, maxiter=None, tol=0,
                  return_eigenvectors=True, rng=None, dense=None):
    """Thick-restart Lanczos for ``k`` eigenpairs of a real symmetric operator of order ``n``.

    ``matvec(v)`` returns ``A v`` (float64, length ``n``); ``dense()`` returns
    ``A`` as a dense array, used instead of Lanczos when ``n <= DENSE_MAX``.
    The other arguments and the results are those of
    ``scipy.sparse.linalg.eigsh`` without ``sigma`` and ``M``: eigenvalues in
    SciPy's order, ``ArpackNoConvergence`` (with the converged pairs) after
    ``maxiter`` restarts, ``ArpackError`` for a zero ``v0`` or ``which="BE"``
    with ``k = 1``. ``k`` must satisfy ``0 < k < n`` (checked by the caller).
    """
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence
    from scipy.sparse.linalg._eigen.arpack.arpack import _SAUPD_ERRORS

    ncv, maxiter = _check_args(n, k, which, ncv, maxiter, v0)
    if which == "BE" and k == 1:
        raise ArpackError(-13, infodict=_SAUPD_ERRORS["d"])
    if n <= DENSE_MAX and dense is not None:
        return _dense(dense, k, which, return_eigenvectors)
    rng = np.random.default_rng(rng)
    tol = float(tol)
    eps = np.finfo(np.float64).eps
    if tol <= 0:
        tol = eps
    eps23 = eps ** (2.0 / 3.0)
    m = ncv
    basis = _Basis(n, m)
    V = basis.V
    part = basis.part
    if v0 is not None:
        V[0] = np.asarray(v0, dtype=np.float64)
    else:
        V[0] = rng.uniform(low=-1.0, high=1.0, size=n)
    basis.dots(V, 0, V[0], part)
    nrm2 = part[:, 0].sum()
    if not nrm2 > 0:
        raise ArpackError(-9, infodict=_SAUPD_ERRORS["d"])
    basis.scale(V[0], 1.0 / math.sqrt(nrm2))

    T = np.zeros((m, m))
    start = 0
    cycles = 0
    rpart = basis.rpart
    step = basis.step
    hbuf = basis.h
    dgks2 = DGKS * DGKS
    prof = PROFILE
    if prof is not None:
        for key in ("product", "step", "eigh", "restart", "products", "restarts"):
            prof.setdefault(key, 0)
        matvec = _timed(matvec, prof)
    while True:
        beta = 0.0
        if prof is not None:
            t_cycle = time.perf_counter()
            t_products = prof["product"]
        for j in range(start, m):
            y = np.asarray(matvec(V[j]), dtype=np.float64)
            w = V[j + 1]
            if step is not None:
                # the whole step in one call: recurrence, Gram-Schmidt, DGKS, normalisation
                prev = T[j - 1, j] if j > 0 else 0.0
                alpha, before, after = step(V, j, np.ascontiguousarray(y), prev,
                                            j > 0 and j == start, dgks2, hbuf, part, rpart)
                T[j, j] = alpha
                if after > dgks2 * before and after > 0:
                    beta = math.sqrt(after)
                else:
                    beta = 0.0
                    if not basis.random_orthogonal(j + 1, rng):
                        w[:] = 0.0
                if j + 1 < m:
                    T[j, j + 1] = T[j + 1, j] = beta
                continue
            if j > 0 and j == start:
                # first step after a restart: w couples to every kept vector (the arrow)
                w[:] = y
                h, before, after = basis.project(j + 1, w)
                alpha = h[j]
            else:
                # three-term recurrence, then one pass against the whole basis
                prev = T[j - 1, j] if j > 0 else 0.0
                basis.local_step(w, y, V[j - 1] if j > 0 else V[j], prev, V[j], rpart)
                alpha = rpart.sum()
                basis.sub_dots(V, j + 1, w, V[j], alpha, part)
                sums = part[:, :j + 2].sum(axis=0)
                h = sums[:j + 1].copy()
                before = sums[j + 1]
                basis.sub_norm(V, j + 1, w, h, rpart)
                after = rpart.sum()
                alpha += h[j]
            if after < (DGKS * DGKS) * before:
                # DGKS: the pass cancelled most of w, repeat it once
                h, before, after = basis.project(j + 1, w)
                alpha += h[j]
            T[j, j] = alpha
            if after > (DGKS * DGKS) * before and after > 0:
                beta = math.sqrt(after)
                basis.scale(w, 1.0 / beta)
            else:
                # invariant subspace: continue with a random direction (beta = 0)
                beta = 0.0
                if not basis.random_orthogonal(j + 1, rng):
                    w[:] = 0.0
            if j + 1 < m:
                T[j, j + 1] = T[j + 1, j] = beta
        if prof is not None:
            t0 = time.perf_counter()
            prof["step"] += t0 - t_cycle - (prof["product"] - t_products)
        theta, Y = np.linalg.eigh(T)
        if prof is not None:
            t1 = time.perf_counter()
            prof["eigh"] += t1 - t0
        want = _wanted(theta, which, k)
        bounds = np.abs(beta * Y[m - 1, :])
        ok = bounds <= tol * np.maximum(eps23, np.abs(theta))
        if ok[want].all():
            return _finish(basis, m, theta, Y, want, which, return_eigenvectors)
        cycles += 1
        if cycles >= maxiter:
            done = want[ok[want]]
            vals, vecs = _finish(basis, m, theta, Y, done, which, True)
            raise ArpackNoConvergence(
                f"No convergence ({cycles} iterations, "
                f"{len(done)}/{k} eigenvectors converged)", vals, vecs)
        nconv = int(ok[want].sum())
        q = _keep(m, k, nconv)
        keep = _wanted(theta, which, q)
        s = beta * Y[m - 1, keep]
        Yk = np.ascontiguousarray(Y[:, keep])
        basis.rotate(V, m, Yk, q)
        if prof is not None:
            prof["restarts"] += 1
            prof["restart"] += time.perf_counter() - t1
        V[q] = V[m]
        T[:] = 0.0
        T[np.arange(q), np.arange(q)] = theta[keep]
        T[q, :q] = s
        T[:q, q] = s
        start = q


def _timed(matvec, prof):
    """``matvec`` that adds its seconds and calls to ``prof``."""

    def timed(x):
        t0 = time.perf_counter()
        y = matvec(x)
        prof["product"] += time.perf_counter() - t0
        prof["products"] += 1
        return y

    return timed


def _keep(m, k, nconv):
    """How many Ritz vectors a restart keeps: ARPACK's choice (``dsaup2``), the ``k``
    wanted plus one per converged wanted pair up to half of the remaining room;
    for ``k <= 2`` half of the basis and at least one vector more than wanted (with
    ``k = 1``, ``ncv = 3`` and ``which="LM"``, keeping one vector converged to ``1.547``
    beside an unseen ``-1.557``: a low-degree filter cannot tell ``t`` from ``-t``).
    Keeping more (a quarter or a half of the room from the start) saved products
    but cost more time in the restarts and the longer Gram-Schmidt passes (2-D
    Laplacian, n = 22,500 and 90,000; session 14). In session 15, at least half of
    the room (``q >= (m + k) / 2``) took 1,546 products against 1,054 (n = 22,500,
    k = 6, LA, tol 1e-8, ncv 20), and a gap-ratio rule (the ``q`` maximising
    ``(m - q) sqrt(gap) / cost`` of a Chebyshev filter, after Yamazaki et al. 2010)
    2,262: the restart with exact shifts of ARPACK's choice was the best of three."""
    if k <= 2:
        return max(min(k + 1, m - 1), m // 2)
    return max(k, min(m - 1, k + min(nconv, (m - k) // 2)))


def _finish(basis, m, theta, Y, idx, which, return_eigenvectors):
    order = _scipy_order(theta[idx], which, return_eigenvectors)
    idx = idx[order]
    if not return_eigenvectors:
        return theta[idx]
    Yw = np.ascontiguousarray(Y[:, idx])
    X = np.empty((len(idx), basis.n))
    basis.ritz_vectors(basis.V, m, Yw, X)
    return theta[idx], np.ascontiguousarray(X.T)
