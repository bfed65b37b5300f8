"""spla.linalg on CuPy-backed spla arrays (cupyx.scipy.sparse.linalg driven by spla's GPU
products) against SciPy on the host. Skipped without CuPy and an NVIDIA GPU."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

cupy = pytest.importorskip("cupy", reason="the GPU tests need CuPy: pip install 'spla[cuda]'")
try:
    _GPUS = cupy.cuda.runtime.getDeviceCount()
except cupy.cuda.runtime.CUDARuntimeError:
    _GPUS = 0
if not _GPUS:
    pytest.skip("the GPU tests need an NVIDIA GPU; CuPy sees none", allow_module_level=True)

import spla  # noqa: E402
import spla.linalg as L  # noqa: E402

pytestmark = pytest.mark.gpu


def system(n=200, dtype="float64"):
    T = sp.diags_array([-1.0, 4.0, -1.0], offsets=[-1, 0, 1], shape=(n, n))
    S = sp.csr_array(T.astype(dtype))
    return S, spla.csr_array(S).to_device("cuda"), np.arange(1.0, n + 1).astype(dtype)


@pytest.mark.parametrize("name", ["cg", "gmres", "cgs", "minres"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_krylov_on_gpu(name, dtype):
    S, A, b = system(dtype=dtype)
    rtol = 1e-6 if dtype == "float32" else 1e-10
    x, info = getattr(L, name)(A, cupy.asarray(b), rtol=rtol)
    assert info == 0 and isinstance(x, cupy.ndarray)
    x = cupy.asnumpy(x)
    if name == "minres":
        # MINRES stops on its own estimate (||r|| against ||A|| ||x||), far from
        # ||r|| <= rtol ||b||: compare with SciPy's MINRES on the same system (CuPy's
        # and SciPy's residuals agreed to 4 digits on an H100, session 11).
        xs = sla.minres(S, b, rtol=rtol)[0]
        np.testing.assert_allclose(x, xs, rtol=1e-4 if dtype == "float32" else 1e-8)
    else:
        np.testing.assert_allclose(x, sla.spsolve(S.tocsc().astype("d"), b),
                                   rtol=1e-4 if dtype == "float32" else 1e-8)


@pytest.mark.parametrize("name", ["lsqr", "lsmr"])
def test_least_squares_on_gpu(name):
    S, A, b = system()
    kwargs = {} if name == "lsqr" else {"atol": 1e-12, "btol": 1e-12}  # CuPy's lsqr has none
    x = getattr(L, name)(A, cupy.asarray(b), **kwargs)[0]
    np.testing.assert_allclose(cupy.asnumpy(x), sla.spsolve(S.tocsc(), b), rtol=1e-6)


def test_eigsh_svds_on_gpu():
    S, A, _ = system()
    w = L.eigsh(A, k=3, which="LA", return_eigenvectors=False)
    ws = sla.eigsh(S, k=3, which="LA", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(cupy.asnumpy(w)), np.sort(ws), rtol=1e-8)
    s = L.svds(A, k=3, return_singular_vectors=False)
    np.testing.assert_allclose(np.sort(cupy.asnumpy(s)), np.sort(ws), rtol=1e-8)


def test_direct_solvers_on_gpu():
    S, A, b = system()
    ref = sla.spsolve(S.tocsc(), b)
    bd = cupy.asarray(b)
    np.testing.assert_allclose(cupy.asnumpy(L.spsolve(A, bd)), ref, rtol=1e-10)
    np.testing.assert_allclose(cupy.asnumpy(L.factorized(A)(bd)), ref, rtol=1e-10)
    np.testing.assert_allclose(cupy.asnumpy(L.splu(A).solve(bd)), ref, rtol=1e-10)
    Lo = sp.csr_array(sp.tril(S))
    x = L.spsolve_triangular(spla.csr_array(Lo).to_device("cuda"), bd)
    np.testing.assert_allclose(cupy.asnumpy(x), sla.spsolve_triangular(Lo, b), rtol=1e-10)


def test_gpu_errors_name_the_missing_function():
    _, A, b = system()
    with pytest.raises(NotImplementedError, match="bicgstab"):
        L.bicgstab(A, cupy.asarray(b))
    with pytest.raises(NotImplementedError, match="sigma"):
        L.eigsh(A, k=2, sigma=0.0)


def test_option_cupy_lacks_raises():
    S, A, b = system()
    with pytest.raises(NotImplementedError, match="'damp'"):
        L.lsqr(A, cupy.asarray(b), damp=0.5)
