"""spla.activation_matvec / activation_matmul against dense float64 products, and
spla.theory.relu_sparsity (Theorem 7) against sampling."""

import doctest
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import spla
import spla.ml.activation
from spla import theory

from _util import assert_within

DTYPES = [np.float32, np.float64, np.int64, np.complex128]
LAYOUTS = ["C", "F", "strided"]


@st.composite
def operands(draw, batched=False):
    m = draw(st.integers(0, 40))
    n = draw(st.integers(0, 40))
    b = draw(st.integers(0, 5)) if batched else None
    wdt = draw(st.sampled_from(DTYPES))
    hdt = draw(st.sampled_from(DTYPES))
    layout = draw(st.sampled_from(LAYOUTS))
    density = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W = (rng.integers(-8, 9, size=(m, n)) / 4.0).astype(wdt)
    if layout == "F":
        W = np.asfortranarray(W)
    elif layout == "strided":
        W = np.ascontiguousarray(np.repeat(np.repeat(W, 2, 0), 2, 1))[::2, ::2]
    shape = (n,) if b is None else (n, b)
    h = rng.integers(-8, 9, size=shape) / 4.0 * (rng.random(shape) < density)
    h = h.astype(hdt)
    if draw(st.booleans()) and h.size:     # a non-contiguous view of h
        h = np.repeat(h, 2, axis=0)[::2]
    return W, h


def _check(W, h, y):
    W64 = W.astype(np.complex128 if W.dtype.kind == "c" else np.float64)
    h64 = h.astype(np.complex128 if h.dtype.kind == "c" else np.float64)
    ref = W64 @ h64
    mag = np.abs(W64) @ np.abs(h64)
    dt = np.result_type(W.dtype, h.dtype)
    dt = np.dtype(np.float64) if dt.kind in "iu" else dt
    assert y.dtype == dt and y.shape == ref.shape
    assert_within(y, ref, mag, max(1, W.shape[1]), dt, what="activation product")


@given(operands())
def test_activation_matvec_equals_dense(case):
    W, h = case
    _check(W, h, spla.activation_matvec(W, h))


@given(operands(batched=True))
def test_activation_matmul_equals_dense(case):
    W, H = case
    _check(W, H, spla.activation_matmul(W, H))


def test_only_active_columns_are_read():
    # inf / NaN in columns where h is 0 never reach the result: they are not read
    W = np.array([[1.0, np.inf, 2.0], [3.0, np.nan, 4.0]])
    h = np.array([1.0, 0.0, -1.0])
    for Wl in (W, np.asfortranarray(W), W[:, ::1]):
        np.testing.assert_array_equal(spla.activation_matvec(Wl, h), [-1.0, -1.0])
    np.testing.assert_array_equal(spla.activation_matmul(W, h[:, None]), [[-1.0], [-1.0]])
    # and NaN in h counts as non-zero
    assert np.isnan(spla.activation_matvec(W, np.array([np.nan, 0.0, 0.0]))).all()


def test_activation_edges():
    assert spla.activation_matvec(np.zeros((3, 0)), np.zeros(0)).shape == (3,)
    assert spla.activation_matvec(np.zeros((0, 4)), np.ones(4)).shape == (0,)
    np.testing.assert_array_equal(spla.activation_matvec(np.ones((2, 3), np.float32),
                                                         np.zeros(3, np.float32)), [0, 0])
    assert spla.activation_matvec(np.ones((2, 3), np.float32), np.ones(3, np.float32)).dtype \
        == np.float32
    assert spla.activation_matmul(np.ones((2, 3)), np.zeros((3, 0))).shape == (2, 0)
    # a larger product goes through every row block of both kernels
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3000, 257))
    h = rng.standard_normal(257) * (rng.random(257) < 0.3)
    for Wl in (W, np.asfortranarray(W)):
        np.testing.assert_allclose(spla.activation_matvec(Wl, h), W @ h, rtol=1e-12, atol=1e-12)


def test_activation_validation():
    W = np.ones((2, 3))
    with pytest.raises(ValueError, match="activation_matmul"):
        spla.activation_matvec(W, np.ones((3, 2)))
    with pytest.raises(ValueError, match="fit"):
        spla.activation_matvec(W, np.ones(4))
    with pytest.raises(ValueError, match="2-D"):
        spla.activation_matvec(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="2-D"):
        spla.activation_matmul(W, np.ones(3))
    with pytest.raises(TypeError, match="numeric"):
        spla.activation_matvec(W, np.array(["a", "b", "c"]))
    with pytest.raises(TypeError, match="dense"):
        spla.activation_matvec(spla.csr_array(W), np.ones(3))


def test_array_module_dispatch_without_cupy():
    # NumPy input never imports CuPy, and the module is chosen from the input's type.
    code = ("import sys, numpy as np, spla; "
            "spla.activation_matvec(np.ones((2, 2)), np.ones(2)); "
            "spla.activation_matmul(np.ones((2, 2)), np.ones((2, 1))); "
            "assert 'cupy' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
    assert spla.activation._namespace("t", np.ones(2)) is np


def test_cupy_inputs_run_on_the_gpu():
    cp = pytest.importorskip("cupy")
    try:
        cp.cuda.runtime.getDeviceCount()
    except Exception:  # pragma: no cover - machine without a GPU
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(1)
    W = rng.standard_normal((64, 48))
    h = rng.standard_normal(48) * (rng.random(48) < 0.2)
    H = rng.standard_normal((48, 3)) * (rng.random((48, 1)) < 0.2)
    y = spla.activation_matvec(cp.asarray(W), cp.asarray(h))
    Y = spla.activation_matmul(cp.asarray(W), cp.asarray(H))
    assert isinstance(y, cp.ndarray) and isinstance(Y, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(y), W @ h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cp.asnumpy(Y), W @ H, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="devices"):
        spla.activation_matvec(cp.asarray(W), h)


# -- Theorem 7: ReLU sparsity ------------------------------------------------------------


@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (-1.0, 1.0), (0.5, 2.0), (-0.3, 0.1),
                                       (2.0, 1.0), (-3.0, 1.5)])
def test_relu_sparsity_matches_sampling(mu, sigma):
    rng = np.random.default_rng(int(1000 * (mu + 10) + 10 * sigma))
    n = 400_000
    z = rng.normal(mu, sigma, size=n)
    zeros = np.mean(np.maximum(z, 0.0) == 0.0)
    p = theory.relu_sparsity(mu, sigma)
    se = np.sqrt(p * (1 - p) / n)
    assert abs(zeros - p) < 4 * se + 1e-12, (zeros, p, se)


def test_relu_sparsity_properties():
    assert theory.relu_sparsity(0.0, 1.0) == 0.5
    assert theory.relu_sparsity(1.0, 1.0) + theory.relu_sparsity(-1.0, 1.0) == pytest.approx(1.0)
    assert theory.relu_sparsity(-1.0, 1.0) == pytest.approx(0.8413447460685429, rel=1e-14)
    # sigma = 0: a constant pre-activation
    assert theory.relu_sparsity(0.0, 0.0) == 1.0 and theory.relu_sparsity(-1.0, 0.0) == 1.0
    assert theory.relu_sparsity(1e-9, 0.0) == 0.0
    out = theory.relu_sparsity(np.array([-1.0, 0.0, 1.0]), np.array([[1.0], [2.0]]))
    assert out.shape == (2, 3) and np.all(np.diff(out, axis=1) < 0)   # falls as mu rises
    with pytest.raises(ValueError, match="sigma"):
        theory.relu_sparsity(0.0, -1.0)
    with pytest.raises(ValueError, match="NaN"):
        theory.relu_sparsity(float("nan"), 1.0)
    with pytest.raises(TypeError, match="real"):
        theory.relu_sparsity("a", 1.0)
    with pytest.raises(ValueError, match="broadcast"):
        theory.relu_sparsity(np.ones(2), np.ones(3))


def test_relu_activations_then_activation_matvec():
    """The pipeline of the notes: a ReLU layer of Gaussian pre-activations gives density
    alpha = 1 - Phi(-mu/sigma), and activation_matvec reads that fraction of W's
    columns; the result equals the dense product."""
    rng = np.random.default_rng(7)
    n, mu, sigma = 20_000, -1.2, 1.0
    h = np.maximum(rng.normal(mu, sigma, n), 0.0)
    alpha = np.count_nonzero(h) / n
    want = 1 - theory.relu_sparsity(mu, sigma)
    assert abs(alpha - want) < 4 * np.sqrt(want * (1 - want) / n)
    W = np.asfortranarray(rng.standard_normal((64, n)))
    np.testing.assert_allclose(spla.activation_matvec(W, h), W @ h, rtol=1e-10, atol=1e-10)


def test_doctests():
    assert doctest.testmod(spla.activation, optionflags=doctest.ELLIPSIS).failed == 0
    assert doctest.testmod(theory, optionflags=doctest.ELLIPSIS).failed == 0
