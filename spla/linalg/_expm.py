"""``expm_multiply`` for spla arrays: SciPy's algorithm for a *sparse* ``A`` with fused passes.

``scipy.sparse.linalg.expm_multiply`` (Al-Mohy and Higham 2011, SciPy 1.17)
treats a sparse matrix and a ``LinearOperator`` differently: for a sparse matrix
it builds ``A - mu I`` and takes its exact 1-norm; for an operator it estimates
that norm with ``onenormest`` (extra block products) and applies the shift as a
sum operator at every product. spla used to hand SciPy an operator, so it paid
the estimate, and a choice of ``(m*, s)`` that could differ from SciPy's for the
same sparse matrix. This module follows SciPy's sparse path: the exact trace and
the exact 1-norm of ``A - mu I`` (one pass over canonical CSR, no shifted matrix
built), SciPy's own parameter selection (``_fragment_3_1`` with
``LazyOperatorNormInfo``; when it needs norms of powers they are estimated over
spla's SpMM, as SciPy does), and the Taylor loops of
``_expm_multiply_simple_core`` / ``_expm_multiply_interval_core_*`` with spla's
product followed by one fused pass per term (``spla/_kernels/expm.py``).
"""

import numpy as np
import scipy.sparse.linalg as sla

__all__ = ["spla_expm_multiply"]

#: Below this many block entries (``n * k``) the fused passes run serially.
PARALLEL_MIN = 32_768
_WORK_DTYPES = (np.float32, np.float64, np.complex64, np.complex128)


class _ShiftedOperator(sla.LinearOperator):
    """``scale * (A - mu I)`` over spla's products (for SciPy's estimates of ``|A^p|_1``)."""

    def __init__(self, A, mu, scale, dtype):
        super().__init__(dtype=dtype, shape=A.shape)
        self.A, self.mu, self.scale = A, mu, scale

    def _matvec(self, x):
        x = x.reshape(-1)
        return self.scale * (self.A @ x - self.mu * x)

    def _matmat(self, X):
        return self.scale * (self.A @ X - self.mu * X)

    def _rmatvec(self, x):
        x = x.reshape(-1)
        return np.conj(self.scale) * (self.A.rmatvec(x) - np.conj(self.mu) * x)

    def _rmatmat(self, X):
        return np.conj(self.scale) * (self.A.rmatmat(X) - np.conj(self.mu) * X)


class _Taylor:
    """The shifted products and fused passes of one ``expm_multiply`` call."""

    def __init__(self, A, mu, dtype, n, k, vector):
        from .._kernels import expm

        self.A, self.n, self.k, self.vector = A, n, k, vector
        self.dtype = dtype
        self.real = np.finfo(dtype).dtype.type
        self.mu = dtype.type(mu)
        self.kernels = expm.PARALLEL if n * k >= PARALLEL_MIN else expm.SERIAL
        self.part = np.zeros((expm.nchunks(n), 2))

    def product(self, X):
        """``A @ X`` for an ``(n, k)`` block, as a C-ordered ``(n, k)`` block of ``dtype``."""
        Y = self.A @ (X[:, 0] if self.vector else X)
        Y = np.asarray(Y)
        if Y.dtype != self.dtype:
            Y = Y.astype(self.dtype)
        return np.ascontiguousarray(Y).reshape(self.n, self.k)

    def inf_norm(self, X):
        return float(np.abs(X).sum(axis=1).max(initial=0.0))

    def simple_core(self, B, t, m_star, s, tol):
        """SciPy's ``_expm_multiply_simple_core`` on a block ``B`` (not modified)."""
        taylor_term, _, _, scale_norm = self.kernels
        F = np.array(B, dtype=self.dtype, order="C", copy=True)
        eta = np.exp(t * self.mu / float(s))
        term = B
        c1 = self.inf_norm(B)
        for _ in range(s):
            for j in range(m_star):
                coeff = self.real(t / float(s * (j + 1)))
                Y = self.product(term)
                c2, f_norm = taylor_term(Y.reshape(-1), term.reshape(-1), F.reshape(-1), self.k,
                                         coeff, self.mu, self.part)
                term = Y
                if c1 + c2 <= tol * f_norm:
                    break
                c1 = c2
            c1 = scale_norm(F.reshape(-1), self.k, self.dtype.type(eta), self.part)
            # the next cycle's first term is A (eta F): taylor_term reads each entry of
            # its B before writing the same entry of F, so B may be F itself
            term = F
        return F

    def interval_core(self, X, h, m_star, s, q, tol, core):
        """SciPy's ``_expm_multiply_interval_core_1`` (``core == 1``) or ``_2``, in place on X."""
        _, power_term, add_scaled, _ = self.kernels
        d = q // s
        if core == 1:
            cycles, last_d = s, d
        else:
            j = q // d
            cycles, last_d = j + 1, q - d * j
        K = [None] * (m_star + 1)
        K_norm = [0.0] * (m_star + 1)
        for i in range(cycles):
            K[0] = X[i * d].reshape(self.n, self.k)
            K[0] = np.ascontiguousarray(K[0], dtype=self.dtype)
            high_p = 0
            effective_d = d if (core == 1 or i < cycles - 1) else last_d
            for kk in range(1, effective_d + 1):
                F = K[0].copy()
                c1 = self.inf_norm(F)
                for p in range(1, m_star + 1):
                    if p == high_p + 1:
                        Y = self.product(K[p - 1])
                        K_norm[p] = power_term(Y.reshape(-1), K[p - 1].reshape(-1), self.k,
                                               self.real(h), self.mu, self.real(p), self.part)
                        K[p] = Y
                        high_p = p
                    coeff = self.real(float(pow(kk, p)))
                    f_norm = add_scaled(F.reshape(-1), coeff, K[p].reshape(-1), self.k,
                                        self.part)
                    c2 = coeff * K_norm[p]
                    if c1 + c2 <= tol * f_norm:
                        break
                    c1 = c2
                X[kk + i * d] = (np.exp(kk * h * self.mu) * F).reshape(X.shape[1:])
        return X


def _norm_info(A, mu, t, A_1_norm, dtype):
    """SciPy's ``LazyOperatorNormInfo`` of ``t (A - mu I)`` (norms of powers over spla's SpMM)."""
    from scipy.sparse.linalg._expm_multiply import LazyOperatorNormInfo

    return LazyOperatorNormInfo(_ShiftedOperator(A, mu, t, dtype), A_1_norm=t * A_1_norm, ell=2)


def _fragment(info, n0, tol):
    """SciPy's choice of ``(m*, s)`` (``_fragment_3_1``; ``(0, 1)`` for a zero norm)."""
    from scipy.sparse.linalg._expm_multiply import _fragment_3_1

    if info.onenorm() == 0:
        return 0, 1
    return _fragment_3_1(info, n0, tol, ell=2)


def spla_expm_multiply(A, B, start, stop, num, endpoint, traceA):
    """``expm_multiply`` of a square CPU spla ``A`` (``B`` a dense vector or block)."""
    from .._kernels import expm

    n = A.shape[0]
    if B.ndim not in (1, 2):
        raise ValueError("expected B to be like a matrix or a vector")
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"shapes of matrices A {A.shape} and B {B.shape} are incompatible")
    vector = B.ndim == 1
    n0 = 1 if vector else B.shape[1]
    tol = 2.0 ** -53
    if traceA is None:
        traceA = A.diagonal().sum()
    mu = traceA / float(n)
    adtype = np.result_type(A.dtype, mu)
    interval = not all(arg is None for arg in (start, stop, num, endpoint))
    # SciPy's F starts as B and is promoted by the sums and by eta (a NumPy scalar)
    eta_type = np.result_type(np.exp(1.0 * mu))
    dtype = np.result_type(adtype, B.dtype, eta_type)
    if interval:
        dtype = np.result_type(dtype, A.dtype, B.dtype, float)
    if dtype.type not in _WORK_DTYPES:
        return None
    C = A.tocsr()
    if not C.has_canonical_format:
        C = C._deduped()
    A_1_norm = float(expm.shifted_onenorm(C.indptr, C.indices, C.data.astype(adtype), n,
                                          adtype.type(mu)))
    if A.dtype.kind not in "fc":
        A = A.astype(adtype)
    k = max(n0, 1)
    Bw = np.ascontiguousarray(B, dtype=dtype).reshape(n, k)
    taylor = _Taylor(A, mu, dtype, n, k, vector)
    if not interval:
        m_star, s = _fragment(_norm_info(A, mu, 1.0, A_1_norm, adtype), n0, tol)
        F = taylor.simple_core(Bw, 1.0, m_star, s, tol)
        if m_star == 0:  # SciPy's F is then eta * B in B's dtype promoted by eta
            F = F.astype(np.result_type(B.dtype, eta_type), copy=False)
        return F.reshape(B.shape)
    kwargs = {"retstep": True}
    if num is not None:
        kwargs["num"] = num
    if endpoint is not None:
        kwargs["endpoint"] = endpoint
    samples, step = np.linspace(start, stop, **kwargs)
    if len(samples) < 2:
        raise ValueError("at least two time points are required")
    q = len(samples) - 1
    h, t_0, t = step, samples[0], samples[q] - samples[0]
    X = np.empty((len(samples),) + B.shape, dtype=dtype)
    info = _norm_info(A, mu, t, A_1_norm, adtype)
    m_star, s = _fragment(info, n0, tol)
    X[0] = taylor.simple_core(Bw, t_0, m_star, s, tol).reshape(B.shape)
    if q <= s:
        if info.onenorm() != 0:
            info.set_scale(1.0 / q)
        m_star, s = _fragment(info, n0, tol)
        info.set_scale(1)
        for kk in range(q):
            Xk = np.ascontiguousarray(X[kk]).reshape(n, k)
            X[kk + 1] = taylor.simple_core(Xk, h, m_star, s, tol).reshape(B.shape)
        return X
    return taylor.interval_core(X, h, m_star, s, q, tol, 1 if q % s == 0 else 2)
