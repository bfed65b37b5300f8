"""spla's own LOBPCG loop (``spla.linalg.lobpcg``).

The algorithm is Knyazev's LOBPCG as SciPy's ``scipy.sparse.linalg.lobpcg`` runs it
(the same steps, tests, warnings, histories and restarts; see SciPy's
documentation). What differs is the work on the tall-skinny ``(n, k)`` blocks:

* while every column is active, the loop allocates no block (a preconditioner's
  result and the products aside): ``X``, ``AX``, ``P``, ``AP`` (and ``BX``, ``BP``)
  live in buffers allocated once per solve and rotated, where SciPy's loop makes
  several new blocks every iteration;
* Gram blocks are BLAS products on views (SciPy's ``X.T.conj()`` copies a real
  block before every product);
* every block pass is cut into one row slab per Numba thread (``_Rows``), each a
  one-thread BLAS call, run at once on a small thread pool;
* the residual ``AX - BX diag(lambda)`` and its column norms are one Numba pass
  (``spla._kernels.lobpcg.residual``).

BLAS runs on one thread (``solver_threads``), as for every solver of spla.linalg.
Cases delegated to SciPy's own ``lobpcg`` (on spla's operators): the dense
fallback (``n - sizeY < 5 k``), ``X`` of a non-inexact dtype, a ``Y`` that is not
2-D, and operators whose dtype differs from ``X``'s (SciPy then promotes the
iterates as NumPy does).
"""

import warnings

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve, cholesky, eigh, inv

from .._kernels import lobpcg as _k


def _gh(V, W):
    """``V^H W`` without copying a real ``V``."""
    if np.iscomplexobj(V):
        return V.conj().T @ W
    return V.T @ W


def _rep_nonherm(Mx, name, stacklevel=5):
    from scipy.linalg import norm

    nmd = norm(Mx - Mx.T.conj(), 1)
    t = 10 * np.finfo(Mx.dtype).eps
    t = max(t, t * norm(Mx, 1))
    if nmd > t:
        warnings.warn(f"Matrix {name} of the type {Mx.dtype} is not Hermitian: "
                      f"condition: {nmd} < {t} fails.", UserWarning, stacklevel=stacklevel)


def _gram_eigh(gA, gB, verbosityLevel):
    """Rayleigh-Ritz on the Gram pair (gA, gB), after SciPy's Hermitian check when verbose."""
    if verbosityLevel:
        _rep_nonherm(gA, "gramA", stacklevel=6)
        _rep_nonherm(gB, "gramB", stacklevel=6)
    return eigh(gA, gB, check_finite=False)


def _indices(lam, num, largest):
    order = np.argsort(lam)
    return order[:-num - 1:-1] if largest else order[:num]


def _mm(op):
    if op is None:
        return None
    if callable(op):
        return op
    return lambda v: op @ v


def _check(out, like, what, which):
    if out.shape != like.shape:
        raise ValueError(f"The shape {like.shape} of the {what} not preserved\n"
                         f"and changed to {out.shape} after multiplying by the "
                         f"{which} matrix.\n")
    return out


class _Rows:
    """The rows of the blocks cut into one slab per thread; ``map(fn)`` runs
    ``fn(lo, hi)`` on every slab at once (the first on the calling thread), each a
    one-thread BLAS call on its rows. OpenBLAS's own threads split these skinny
    products badly, so the block work is shared out here instead. Slabs are fixed
    for a solve and partial Gram matrices are added in slab order."""

    def __init__(self, n):
        import numba

        parts = max(1, min(numba.get_num_threads(), n // MIN_ROWS))
        b = np.linspace(0, n, parts + 1).astype(np.int64)
        self.ranges = list(zip(b[:-1].tolist(), b[1:].tolist()))
        self.pool = None
        if parts > 1:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(parts - 1, thread_name_prefix="spla-lobpcg")

    def map(self, fn):
        if self.pool is None:
            return [fn(*self.ranges[0])]
        futs = [self.pool.submit(fn, lo, hi) for lo, hi in self.ranges[1:]]
        first = [fn(*self.ranges[0])]
        return first + [f.result() for f in futs]

    def gram(self, pairs):
        """``[V^H W for V, W in pairs]``."""
        res = self.map(lambda lo, hi: [_gh(V[lo:hi], W[lo:hi]) for V, W in pairs])
        out = res[0]
        for r in res[1:]:
            for i, g in enumerate(r):
                out[i] += g
        return out

    def dot(self, V, C, out=None):
        """``V @ C`` into ``out`` (C-ordered, allocated when None)."""
        if out is None:
            out = np.empty((V.shape[0], C.shape[1]), np.result_type(V, C))
        self.map(lambda lo, hi: np.dot(V[lo:hi], C, out=out[lo:hi]))
        return out

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()


#: Fewest rows per slab of ``_Rows``.
MIN_ROWS = 32768


class _Rot:
    """Three buffers of one shape: the next block goes into one that is neither the
    current block nor the best one kept for the end."""

    def __init__(self, shape, dtype):
        self.bufs = [np.empty(shape, dtype) for _ in range(3)]

    def free(self, *busy):
        for b in self.bufs:
            if not any(b is x for x in busy):
                return b
        raise AssertionError("no free buffer")


def lobpcg_fast(A, X, B, M, Y, tol, maxiter, largest, verbosityLevel,
                retLambdaHistory, retResidualNormsHistory, restartControl):
    """The loop; the arguments are SciPy's, already checked by ``supported``."""
    n, k = X.shape
    dt = X.dtype
    if maxiter is None:
        maxiter = 20
    if retLambdaHistory:
        lamHist = np.zeros((maxiter + 3, k), dtype=dt)
    if retResidualNormsHistory:
        resHist = np.zeros((maxiter + 3, k), dtype=dt)
    sizeY = 0 if Y is None else Y.shape[1]
    if verbosityLevel:
        aux = ("Solving " + ("standard" if B is None else "generalized")
               + " eigenvalue problem with" + ("out" if M is None else "")
               + " preconditioning\n\n" + f"matrix size {n}\n" + f"block size {k}\n\n")
        if Y is None:
            aux += "No constraints\n\n"
        else:
            aux += f"{sizeY} constraint{'s' if sizeY > 1 else ''}\n\n"
        print(aux)
    rtol = tol
    if rtol is None or rtol <= 0.0:
        rtol = np.sqrt(np.finfo(dt).eps) * n
    A, B, M = _mm(A), _mm(B), _mm(M)
    X = np.array(X, order="C", copy=True)  # SciPy overwrites a C-ordered X; spla does not

    if Y is not None:
        BY = Y if B is None else _check(B(Y), Y, "constraint", "secondary")
        try:
            YBY = cho_factor(_gh(Y, BY), overwrite_a=True)
        except LinAlgError as e:
            raise ValueError("Linearly dependent constraints") from e

        def constrain(V):
            V -= Y @ cho_solve(YBY, _gh(BY, V))
    # B-orthonormalise X
    if Y is not None:
        constrain(X)
    BX = X if B is None else B(X)
    if B is not None and BX.shape != X.shape:
        raise ValueError(f"The shape {X.shape} of the orthogonalized matrix not preserved\n"
                         f"and changed to {BX.shape} after multiplying by the secondary "
                         f"matrix.\n")
    try:
        Ci = inv(cholesky(_gh(X, BX), overwrite_a=True), overwrite_a=True)
    except LinAlgError:
        if verbosityLevel:
            warnings.warn("Cholesky has failed.", UserWarning, stacklevel=3)
        raise ValueError("Linearly dependent initial approximations") from None
    X = X @ Ci
    if B is not None:
        BX = np.ascontiguousarray(BX @ Ci)
    else:
        BX = X
    AX = _check(A(X), X, "initial approximations", "primary")
    lam, E = eigh(_gh(X, AX), check_finite=False)
    ii = _indices(lam, k, largest)
    lam = lam[ii]
    if retLambdaHistory:
        lamHist[0, :] = lam
    E = np.asarray(E[:, ii])

    xs = _Rot((n, k), dt)
    axs = _Rot((n, k), dt)
    bxs = _Rot((n, k), dt) if B is not None else None
    X = np.dot(X, E, out=xs.bufs[0])
    AX = np.dot(np.ascontiguousarray(AX, dtype=dt), E, out=axs.bufs[0])
    if B is not None:
        BX = np.dot(BX, E, out=bxs.bufs[0])
    else:
        BX = X
    R = np.empty((n, k), dt)
    R2 = np.empty((n, k), dt)
    rdt = np.finfo(dt).dtype
    part = np.empty((_k.nchunks(n), k), np.float64)
    ps = _Rot((n, k), dt)
    aps = _Rot((n, k), dt)
    bps = _Rot((n, k), dt) if B is not None else None
    tmp = np.empty((n, k), dt)
    rows = _Rows(n)
    try:
        return _loop(**locals())
    finally:
        rows.close()


def _loop(A, X, B, M, Y, maxiter, largest, verbosityLevel, retLambdaHistory,
          retResidualNormsHistory, restartControl, n, k, dt, rtol, lam, E, xs, axs, bxs, AX, BX,
          R, R2, rdt, part, ps, aps, bps, tmp, rows, lamHist=None, resHist=None,
          constrain=None, **_):
    def residual(AX, BX, lam):
        sq = _k.residual(AX, BX, lam.astype(rdt), R, part)
        return np.sqrt(sq).astype(rdt)

    active = np.ones(k, dtype=bool)
    P = AP = BP = aP = aAP = aBP = None
    smallest = np.abs(np.finfo(dt).max)
    bestIt = maxiter
    bestX = X
    it = -1
    restart = True
    forced = False
    explicit = False
    while it < maxiter:
        it += 1
        res = residual(AX, BX, lam)
        if retResidualNormsHistory:
            resHist[it, :] = res
        rn = np.sum(np.abs(res)) / k
        if rn < smallest:
            smallest = rn
            bestIt = it
            bestX = X
        elif rn > 2 ** restartControl * smallest:
            forced = True
            AX[...] = _check(A(X), X, "restarted iterate", "primary")
            if B is not None:
                BX[...] = _check(B(X), X, "restarted iterate", "secondary")
        active &= res > rtol
        cb = int(active.sum())
        if verbosityLevel:
            print(f"iteration {it}")
            print(f"current block size: {cb}")
            print(f"eigenvalue(s):\n{lam}")
            print(f"residual norm(s):\n{res}")
        if cb == 0:
            break
        allact = cb == k
        aR = R if allact else np.ascontiguousarray(R[:, active])
        if it > 0:
            aP = P if allact else np.ascontiguousarray(P[:, active])
            aAP = AP if allact else np.ascontiguousarray(AP[:, active])
            if B is not None:
                aBP = BP if allact else np.ascontiguousarray(BP[:, active])
        if M is not None:
            aR = np.array(M(aR), dtype=dt, order="C")
        if Y is not None:
            constrain(aR)
        # B-orthogonalise R to X, then B-orthonormalise it
        G = rows.gram([(BX, aR)])[0]
        tmpc = tmp if allact else np.empty_like(aR)

        def orth(lo, hi):
            r = aR[lo:hi]
            r -= np.dot(X[lo:hi], G, out=tmpc[lo:hi])
            return _gh(r, r) if B is None else None

        parts = rows.map(orth)
        if B is None:
            RBR = parts[0]
            for g in parts[1:]:
                RBR += g
            aBR = aR
        else:
            aBR = np.ascontiguousarray(B(aR))
            if aBR.shape != aR.shape:
                raise ValueError(f"The shape {aR.shape} of the orthogonalized matrix not "
                                 f"preserved\nand changed to {aBR.shape} after multiplying "
                                 f"by the secondary matrix.\n")
            RBR = rows.gram([(aR, aBR)])[0]
        try:
            Ci = inv(cholesky(RBR, overwrite_a=True), overwrite_a=True)
            ok = True
        except LinAlgError:
            ok = False
            if verbosityLevel:
                warnings.warn("Cholesky has failed.", UserWarning, stacklevel=4)
        if not ok:
            warnings.warn(f"Failed at iteration {it} with accuracies {res}\n not reaching "
                          f"the requested tolerance {rtol}.", UserWarning, stacklevel=4)
            break
        aR = rows.dot(aR, Ci, out=R2 if aR is R else None)
        aBR = aR if B is None else rows.dot(aBR, Ci)
        aAR = np.ascontiguousarray(_check(A(aR), aR, "residuals", "primary"))
        if it > 0:
            try:
                Ci = inv(cholesky(rows.gram([(aP, aP if B is None else aBP)])[0],
                                  overwrite_a=True), overwrite_a=True)
                ok = True
            except LinAlgError:
                ok = False
                if verbosityLevel:
                    warnings.warn("Cholesky has failed.", UserWarning, stacklevel=4)
            if ok:
                # into the free buffers of the rotation (no new block) when all are active
                sides = [(aP, ps.free(P)), (aAP, aps.free(AP))]
                if B is not None:
                    sides.append((aBP, bps.free(BP)))
                sides = [(V, o if allact else np.empty_like(V)) for V, o in sides]
                rows.map(lambda lo, hi: [np.dot(V[lo:hi], Ci, out=o[lo:hi])
                                         for V, o in sides])
                aP, aAP = sides[0][1], sides[1][1]
                if B is not None:
                    aBP = sides[2][1]
                restart = forced
            else:
                restart = True
        myeps = 1 if aAR.dtype == np.float32 else np.sqrt(np.finfo(aR.dtype).eps)
        if not (res.max() > myeps and not explicit):
            explicit = True
        if B is None:
            BX = X
            aBR = aR
            if not restart:
                aBP = aP
        gdt = aAR.dtype
        pairs = {"XAR": (X, aAR), "RAR": (aR, aAR)}
        if explicit:
            pairs.update(XAX=(X, AX), XBX=(X, BX), RBR=(aR, aBR), XBR=(X, aBR))
        if not restart:
            pairs.update(XAP=(X, aAP), RAP=(aR, aAP), PAP=(aP, aAP), XBP=(X, aBP),
                         RBP=(aR, aBP))
            if explicit:
                pairs.update(PBP=(aP, aBP))
        g = dict(zip(pairs, rows.gram(list(pairs.values()))))
        gXAR, gRAR = g["XAR"], g["RAR"]
        if explicit:
            gRAR = (gRAR + gRAR.T.conj()) / 2
            gXAX = (g["XAX"] + g["XAX"].T.conj()) / 2
            gXBX, gRBR, gXBR = g["XBX"], g["RBR"], g["XBR"]
        else:
            gXAX = np.diag(lam).astype(gdt)
            gXBX = np.eye(k, dtype=gdt)
            gRBR = np.eye(cb, dtype=gdt)
            gXBR = np.zeros((k, cb), dtype=gdt)
        if not restart:
            gXAP, gRAP, gPAP, gXBP, gRBP = (g[x] for x in ("XAP", "RAP", "PAP", "XBP", "RBP"))
            if explicit:
                gPAP = (gPAP + gPAP.T.conj()) / 2
                gPBP = g["PBP"]
            else:
                gPBP = np.eye(cb, dtype=gdt)
            gA = np.block([[gXAX, gXAR, gXAP], [gXAR.T.conj(), gRAR, gRAP],
                           [gXAP.T.conj(), gRAP.T.conj(), gPAP]])
            gB = np.block([[gXBX, gXBR, gXBP], [gXBR.T.conj(), gRBR, gRBP],
                           [gXBP.T.conj(), gRBP.T.conj(), gPBP]])
            try:
                lam, E = _gram_eigh(gA, gB, verbosityLevel)
            except LinAlgError as e:
                if verbosityLevel:
                    warnings.warn(f"eigh failed at iteration {it} \nwith error {e} causing "
                                  f"a restart.\n", UserWarning, stacklevel=4)
                restart = True
        if restart:
            gA = np.block([[gXAX, gXAR], [gXAR.T.conj(), gRAR]])
            gB = np.block([[gXBX, gXBR], [gXBR.T.conj(), gRBR]])
            try:
                lam, E = _gram_eigh(gA, gB, verbosityLevel)
            except LinAlgError as e:
                warnings.warn(f"eigh failed at iteration {it} with error\n{e}\n",
                              UserWarning, stacklevel=4)
                break
        ii = _indices(lam, k, largest)
        lam = lam[ii]
        E = E[:, ii]
        if retLambdaHistory:
            lamHist[it + 1, :] = lam
        EX = np.ascontiguousarray(E[:k])
        ER = np.ascontiguousarray(E[k:k + cb])
        EP = None if restart else np.ascontiguousarray(E[k + cb:])

        sides = [(X, aR, aP, xs.free(X, bestX), ps.free(aP)),
                 (AX, aAR, aAP, axs.free(AX), aps.free(aAP))]
        if B is not None:
            sides.append((BX, aBR, aBP, bxs.free(BX), bps.free(aBP)))

        def update(lo, hi):
            t = tmp[lo:hi]
            for V, aV_R, aV_P, Vn, Pn in sides:
                Pn = Pn[lo:hi]
                Vn = Vn[lo:hi]
                np.dot(aV_R[lo:hi], ER, out=Pn)
                if not restart:
                    Pn += np.dot(aV_P[lo:hi], EP, out=t)
                np.dot(V[lo:hi], EX, out=Vn)
                Vn += Pn

        rows.map(update)
        X, P = sides[0][3], sides[0][4]
        AX, AP = sides[1][3], sides[1][4]
        if B is not None:
            BX, BP = sides[2][3], sides[2][4]
        else:
            BX = X

    res = residual(AX, BX, lam)
    if retLambdaHistory:
        lamHist[it + 1, :] = lam
    if retResidualNormsHistory:
        resHist[it + 1, :] = res
    rn = np.sum(np.abs(res)) / k
    if rn < smallest:
        smallest = rn
        bestIt = it + 1
        bestX = X
    if np.max(np.abs(res)) > rtol:
        warnings.warn(f"Exited at iteration {it} with accuracies \n{res}\nnot reaching the "
                      f"requested tolerance {rtol}.\nUse iteration {bestIt} instead with "
                      f"accuracy \n{smallest}.\n", UserWarning, stacklevel=4)
    if verbosityLevel:
        print(f"Final iterative eigenvalue(s):\n{lam}")
        print(f"Final iterative residual norm(s):\n{res}")

    X = np.array(bestX)
    if Y is not None:
        constrain(X)
    AX = _check(A(X), X, "postprocessing iterate", "primary")
    gXAX = _gh(X, AX)
    BX = X if B is None else _check(B(X), X, "postprocessing iterate", "secondary")
    gXBX = _gh(X, BX)
    if verbosityLevel:
        _rep_nonherm(gXAX, "gramA")
        _rep_nonherm(gXBX, "gramB")
    gXAX = (gXAX + gXAX.T.conj()) / 2
    gXBX = (gXBX + gXBX.T.conj()) / 2
    try:
        lam, E = eigh(gXAX, gXBX, check_finite=False)
    except LinAlgError as e:
        raise ValueError("eigh has failed in lobpcg postprocessing") from e
    ii = _indices(lam, k, largest)
    lam = lam[ii]
    E = np.asarray(E[:, ii])
    X = X @ E
    AX = np.ascontiguousarray(AX @ E, dtype=dt)
    BX = X if B is None else np.ascontiguousarray(BX @ E, dtype=dt)
    R = np.empty((n, k), dt)
    res = residual(AX, np.ascontiguousarray(BX, dtype=dt), lam)
    if retLambdaHistory:
        lamHist[bestIt + 1, :] = lam
        lamHist = [np.squeeze(h) for h in np.vsplit(lamHist[:bestIt + 2], bestIt + 2)]
    if retResidualNormsHistory:
        resHist[bestIt + 1, :] = res
        resHist = [np.squeeze(h) for h in np.vsplit(resHist[:bestIt + 2], bestIt + 2)]
    if np.max(np.abs(res)) > rtol:
        warnings.warn(f"Exited postprocessing with accuracies \n{res}\nnot reaching the "
                      f"requested tolerance {rtol}.", UserWarning, stacklevel=4)
    if verbosityLevel:
        print(f"Final postprocessing eigenvalue(s):\n{lam}")
        print(f"Final residual norm(s):\n{res}")
    out = [lam, X]
    if retLambdaHistory:
        out.append(lamHist)
    if retResidualNormsHistory:
        out.append(resHist)
    return tuple(out)


def supported(A, X, B, M, Y):
    """True where ``lobpcg_fast`` reproduces SciPy; else SciPy's loop runs."""
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        return False
    if X.dtype not in (np.float32, np.float64, np.complex64, np.complex128):
        return False
    if Y is not None and (not isinstance(Y, np.ndarray) or Y.ndim != 2
                          or Y.dtype != X.dtype):
        return False
    n, k = X.shape
    if n - (0 if Y is None else Y.shape[1]) < 5 * k:
        return False
    for op in (A, B, M):
        if op is None:
            continue
        d = getattr(op, "dtype", None)
        if d is None or np.dtype(d) != X.dtype:
            return False
    return True
