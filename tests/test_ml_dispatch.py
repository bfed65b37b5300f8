"""The workloads reach their kernels through the dispatch table, as the formats do.

``spla.ml`` (attention, activation) asks ``spla._dispatch`` for
``(operation, format, device)``; the CPU rows live in ``spla._backends.cpu.ml``
and the GPU rows in ``spla_cuda.attention``. These tests swap a table entry for
a spy and check that the workload calls it (so no inline branch bypasses the
table), and that every GPU row has its CPU twin (read from spla_cuda's source,
which needs no GPU).
"""

import pathlib
import re

import numpy as np
import pytest

import spla
from spla import _dispatch, attention

ML_OPERATIONS = ("sddmm", "softmax", "sparse_attention")


@pytest.fixture
def spy(monkeypatch):
    """Replace one table entry by a recording wrapper around the real one."""
    calls = []

    def install(operation, fmt, device="cpu"):
        real = _dispatch.lookup(operation, fmt, device)

        def wrapper(*args, **kwargs):
            calls.append((operation, fmt, device))
            return real(*args, **kwargs)

        monkeypatch.setitem(_dispatch._IMPLEMENTATIONS, (operation, fmt, device), wrapper)
        return calls

    return install


def _patterns():
    csr = attention.local_pattern(6, 1)
    band = spla.banded_array(csr.toarray())
    return {"csr": csr.tocsr() if csr.format != "csr" else csr, "banded": band}


@pytest.mark.parametrize("fmt", ["csr", "banded"])
def test_sddmm_and_softmax_go_through_the_table(spy, fmt):
    P = _patterns()[fmt]
    assert P.format == fmt
    rng = np.random.default_rng(0)
    Q, K = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    calls = spy("sddmm", fmt)
    S = attention.sddmm(Q, K, P)
    assert calls == [("sddmm", fmt, "cpu")]
    np.testing.assert_allclose(S.toarray(), (Q @ K.T) * (P.toarray() != 0), atol=1e-12)
    calls = spy("softmax", fmt)
    W = attention.softmax(S)
    assert calls[-1] == ("softmax", fmt, "cpu")
    np.testing.assert_allclose(W.toarray().sum(axis=1), np.ones(6), atol=1e-12)


@pytest.mark.parametrize("fmt", ["csr", "banded"])
def test_sparse_attention_goes_through_the_table(spy, fmt):
    P = _patterns()[fmt]
    rng = np.random.default_rng(1)
    Q, K, V = (rng.standard_normal((2, 6, 4)) for _ in range(3))
    calls = spy("sparse_attention", fmt)
    out = attention.sparse_attention(Q, K, V, P)
    assert calls == [("sparse_attention", fmt, "cpu")]
    # the dense reference: masked softmax of the scaled scores
    scores = Q @ np.swapaxes(K, -1, -2) / 2.0
    scores = np.where(P.toarray() != 0, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(out, weights @ V, atol=1e-12)


@pytest.mark.parametrize("order", ["F", "C"])
def test_activation_goes_through_the_table(spy, order):
    W = np.asarray(np.arange(12.0).reshape(3, 4), order=order)
    h = np.array([0.0, 2.0, 0.0, -1.0])
    calls = spy("activation_matvec", "dense")
    y = spla.activation_matvec(W, h)
    assert calls == [("activation_matvec", "dense", "cpu")]
    np.testing.assert_array_equal(y, W @ h)


def test_a_device_without_entries_is_named():
    with pytest.raises(NotImplementedError, match="sddmm"):
        _dispatch.lookup("sddmm", "nm", "cpu")


def test_every_gpu_row_has_a_cpu_twin():
    source = pathlib.Path(__file__).resolve().parents[1] / "spla_cuda" / "attention.py"
    if not source.exists():
        pytest.skip("spla_cuda is not in this checkout")
    gpu_rows = set(re.findall(r'@register\("(\w+)", "(\w+)", "cuda"\)', source.read_text()))
    assert {op for op, _ in gpu_rows} == set(ML_OPERATIONS)
    for op, fmt in gpu_rows:
        assert _dispatch.has(op, fmt, "cpu"), (op, fmt)
