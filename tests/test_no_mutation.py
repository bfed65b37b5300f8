"""No operation modifies its operands: sparse storage and dense operands are
bitwise the same before and after."""

import io

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import spla
from spla.testing import strategies as sst

from _util import assert_storage_unchanged, scaled_examples, storage


def _operations(A, B, x, y, X, D):
    """Every operation of A with same-shape B, x (n,), y (m,), X (n, k), D (m, n)."""
    ops = {
        "A @ x": lambda: A @ x, "A @ X": lambda: A @ X, "y @ A": lambda: y @ A,
        "A.T @ y": lambda: A.T @ y, "X.T @ A.T": lambda: X.T @ A.T, "A @ A.T": lambda: A @ A.T,
        "A.T @ A": lambda: A.T @ A, "A @ B.T": lambda: A @ B.T,
        "A + B": lambda: A + B, "A - B": lambda: A - B, "A.T + B.T": lambda: A.T + B.T,
        "A.multiply(B)": lambda: A.multiply(B), "A * 2": lambda: A * 2, "A / 2": lambda: A / 2,
        "-A": lambda: -A, "A + 0": lambda: A + 0, "A + D": lambda: A + D,
        "D - A": lambda: D - A, "A * D": lambda: A * D, "A.multiply(x)": lambda: A.multiply(x),
        "sum": lambda: (A.sum(), A.sum(0), A.sum(1), A.T.sum(0)),
        "diagonal": lambda: [A.diagonal(k) for k in range(-2, 3)],
        "toarray": lambda: (A.toarray(), A.toarray(order="F"), A.T.toarray()),
        "tocsc": lambda: A.tocsc().tocsr(), "T.tocsr": lambda: A.T.tocsr(),
        "astype": lambda: A.astype(np.complex128), "conj": lambda: A.conj(),
        "copy": lambda: A.copy(), "sum_duplicates": lambda: A.copy().sum_duplicates(),
        "eliminate_zeros": lambda: A.copy().eliminate_zeros(), "count_nonzero": A.count_nonzero,
        "has_canonical_format": lambda: A.has_canonical_format,
        "csr_array(A)": lambda: spla.csr_array(A, dtype=np.complex64),
        "csc_array(A)": lambda: spla.csc_array(A),
        "mmwrite": lambda: spla.io.mmwrite(io.BytesIO(), A),
        "scipy @ A": lambda: A.to_scipy() @ B.T, "A @ scipy": lambda: A @ B.T.to_scipy(),
        "A + scipy": lambda: A + B.to_scipy(), "assert_allclose": lambda: (
            spla.testing.assert_allclose(A, A.to_scipy())),
    }
    return ops


@scaled_examples(1 / 3)
@given(sst.csr_arrays(max_side=8), st.data())
def test_operations_leave_operands_alone(A, data):
    m, n = A.shape
    B = data.draw(sst.csr_arrays(shape=(m, n)), label="B")
    x = data.draw(sst.dense_operands(n), label="x")
    y = data.draw(sst.dense_operands(m), label="y")
    X = data.draw(sst.dense_operands(n, st.integers(0, 3)), label="X")
    D = data.draw(sst.dense_operands(m, n), label="D")
    saved_a, saved_b = storage(A), storage(B)
    dense = {"x": x, "y": y, "X": X, "D": D}
    dense_saved = {k: (v.copy(), v.strides) for k, v in dense.items()}
    for name, op in _operations(A, B, x, y, X, D).items():
        op()
        assert_storage_unchanged(A, saved_a), name
        assert_storage_unchanged(B, saved_b), name
        for k, v in dense.items():
            np.testing.assert_array_equal(v, dense_saved[k][0], err_msg=f"{name} changed {k}")
            assert v.strides == dense_saved[k][1]
