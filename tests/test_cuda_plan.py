"""The plan of spla_cuda's CSR products, computed on the host (spla/_kernels/cuda_csr.py).

Runs without CuPy: the NumPy plan against a reference written from the module
docstring's definition (loops over rows), against the CuPy code it replaced
(transliterated to NumPy), and its invariants (what the kernels rely on). The
GPU-side checks at the end are skipped without CuPy and a GPU.
"""

import json
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spla._kernels import cuda_csr
from spla._kernels.cuda_csr import Plan, csr_plan, instantiations, sample_positions

PREBUILT = pathlib.Path(cuda_csr.__file__).parents[2] / "spla_cuda" / "kernels" / "prebuilt"
INDEX = st.sampled_from([np.int32, np.int64])


# -- references ---------------------------------------------------------------------------


def reference_plan(indptr, shape, h, rows, seg, sample):
    """The definition of the module docstring, one row at a time."""
    m, n = shape
    ptr = [int(v) for v in indptr]
    length = [ptr[i + 1] - ptr[i] for i in range(m)]
    is_long = [length[i] > h for i in range(m)]
    task_rows = []
    for i in range(m):
        if (i % rows == 0 or is_long[i] or (i > 0 and is_long[i - 1])
                or (i > 0 and ptr[i] // h != ptr[i - 1] // h)):
            task_rows.append(i)
    task_rows.append(m)
    long_rows = [i for i in range(m) if is_long[i]]
    seg_ptr, seg_lo, seg_hi = [0], [], []
    for r in long_rows:
        for a in range(ptr[r], ptr[r + 1], seg):
            seg_lo.append(a)
            seg_hi.append(min(a + seg, ptr[r + 1]))
        seg_ptr.append(len(seg_lo))
    short = [length[i] for i in range(m) if not is_long[i]]
    mean_short = sum(short) / len(short) if short else 0.0
    nnz = ptr[-1] if m else 0
    scattered = False
    if sample is not None and nnz and m:
        far = 0
        for e, col in zip(sample_positions(nnz), sample):
            row = max(i for i in range(m) if ptr[i] <= e)  # the last row starting at or before e
            far += abs(int(col) - row * (n / m)) > cuda_csr.FAR
        scattered = far / len(sample) > 0.25
    return task_rows, long_rows, seg_ptr, seg_lo, seg_hi, mean_short, scattered


def previous_gpu_plan(indptr, shape, h, rows, seg, indices):
    """``spla_cuda.csr._Plan`` and ``_gathers_are_scattered`` as they were on the GPU
    (session 11), line for line with ``cupy`` read as ``numpy``."""
    xp = np
    m, n = shape
    starts = indptr[:-1]
    lengths = indptr[1:] - starts
    long_ = lengths > h
    first = xp.zeros(m, dtype=bool)
    if m:
        first[0] = True
        first[1:] = (starts[1:] // h != starts[:-1] // h) | long_[1:] | long_[:-1]
        first |= xp.arange(m) % rows == 0
    task_rows = xp.concatenate([xp.flatnonzero(first), xp.asarray([m])]).astype(indptr.dtype)
    long_rows = xp.flatnonzero(long_).astype(indptr.dtype)
    n_long = int(long_rows.size)
    short = m - n_long
    short_nnz = int(indptr[-1]) - int(lengths[long_].sum()) if m else 0
    mean_short = short_nnz / short if short else 0.0
    nnz = indices.size
    if nnz == 0 or m == 0:
        scattered = False
    else:
        pos = xp.linspace(0, nnz - 1, num=min(nnz, 1024)).astype(np.int64)
        rows_ = xp.searchsorted(indptr, pos, side="right") - 1
        far = xp.abs(indices[pos] - rows_ * (n / m)) > 32768
        scattered = bool(far.mean() > 0.25)
    seg_ptr = xp.zeros(1, np.int64)
    seg_lo = seg_hi = xp.zeros(0, np.int64)
    if n_long:
        lo = indptr[long_rows].astype(np.int64)
        hi = indptr[long_rows + 1].astype(np.int64)
        n_seg = (hi - lo + seg - 1) // seg
        seg_ptr = xp.concatenate([xp.zeros(1, np.int64), xp.cumsum(n_seg)])
        total = int(seg_ptr[-1])
        owner = xp.searchsorted(seg_ptr, xp.arange(total), side="right") - 1
        step = xp.arange(total, dtype=np.int64) - seg_ptr[owner]
        seg_lo = lo[owner] + step * seg
        seg_hi = xp.minimum(seg_lo + seg, hi[owner])
    return task_rows, long_rows, seg_ptr, seg_lo, seg_hi, mean_short, scattered


# -- strategies ---------------------------------------------------------------------------


@st.composite
def matrices(draw, h=None):
    """(indptr, indices, shape, h, rows, seg): row lengths with empty rows, short
    rows and long rows (all long, all empty and m = 0 included), columns near the
    diagonal or anywhere in a wide matrix."""
    h = draw(st.integers(1, 9)) if h is None else h
    kind = draw(st.sampled_from(["mixed", "empty", "all_long", "short"]))
    m = draw(st.integers(0, 60))
    if kind == "empty":
        lengths = [0] * m
    elif kind == "all_long":
        lengths = draw(st.lists(st.integers(h + 1, 4 * h + 3), min_size=m, max_size=m))
    elif kind == "short":
        lengths = draw(st.lists(st.integers(0, h), min_size=m, max_size=m))
    else:
        lengths = draw(st.lists(st.one_of(st.just(0), st.integers(0, h), st.integers(h + 1, 5 * h)),
                                min_size=m, max_size=m))
    dtype = draw(INDEX)
    indptr = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(dtype)
    nnz = int(indptr[-1])
    n = draw(st.sampled_from([max(m, 1), 10, 200_000]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        indices = rng.integers(0, n, nnz)
    else:  # near the diagonal
        rows = np.repeat(np.arange(m), lengths)
        indices = np.clip(rows * (n // max(m, 1)) + rng.integers(-3, 4, nnz), 0, n - 1)
    rows_per_task = draw(st.integers(1, 40))
    seg = draw(st.integers(1, 3 * h + 2))
    return indptr, indices.astype(dtype), (m, n), h, rows_per_task, seg


def _run(indptr, indices, shape, h, rows, seg):
    sample = indices[sample_positions(int(indptr[-1]))] if indices.size else None
    return csr_plan(indptr, shape, h, sample, rows, seg)


def _check_against(p, expected, idx_dtype):
    task_rows, long_rows, seg_ptr, seg_lo, seg_hi, mean_short, scattered = expected
    np.testing.assert_array_equal(p.task_rows, task_rows)
    np.testing.assert_array_equal(p.long_rows, long_rows)
    np.testing.assert_array_equal(p.seg_ptr, seg_ptr)
    np.testing.assert_array_equal(p.seg_lo, seg_lo)
    np.testing.assert_array_equal(p.seg_hi, seg_hi)
    assert p.mean_short == mean_short
    assert p.scattered == scattered
    assert p.task_rows.dtype == p.long_rows.dtype == idx_dtype
    assert p.seg_ptr.dtype == p.seg_lo.dtype == p.seg_hi.dtype == np.int64


# -- the plan -----------------------------------------------------------------------------


@given(matrices())
def test_plan_matches_the_definition(case):
    indptr, indices, shape, h, rows, seg = case
    p = _run(*case)
    sample = indices[sample_positions(indices.size)] if indices.size else None
    _check_against(p, reference_plan(indptr, shape, h, rows, seg, sample), indptr.dtype)
    assert (p.n_tasks, p.n_long, p.n_seg) == (p.task_rows.size - 1, p.long_rows.size, p.seg_lo.size)


@given(matrices())
def test_plan_matches_the_previous_gpu_code(case):
    indptr, indices, shape, h, rows, seg = case
    _check_against(_run(*case), previous_gpu_plan(indptr, shape, h, rows, seg, indices),
                   indptr.dtype)


@settings(max_examples=30)
@given(matrices(h=cuda_csr.H), st.integers(0, 3))
def test_plan_matches_with_the_default_constants(case, extra):
    """H = 128, ROWS = 32, SEG = 4096 with rows of up to 5 H entries, and a
    sample of 1024 out of more entries (some rows made longer by ``extra`` H)."""
    indptr, indices, shape, h, _, _ = case
    if shape[0]:
        lengths = np.diff(indptr.astype(np.int64))
        lengths[0] += extra * cuda_csr.SEG
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(indptr.dtype)
        indices = np.resize(indices if indices.size else np.zeros(1, indptr.dtype), int(indptr[-1]))
    h, rows, seg = cuda_csr.H, cuda_csr.ROWS, cuda_csr.SEG
    _check_against(_run(indptr, indices, shape, h, rows, seg),
                   previous_gpu_plan(indptr, shape, h, rows, seg, indices), indptr.dtype)


@given(matrices())
def test_plan_invariants(case):
    """What the kernels rely on: tasks cover the rows in order; a long row is a task
    of its own; a task of short rows has at most ``rows`` rows and fewer than 2 h
    entries (the shared-memory stage); segments cover each long row in order."""
    indptr, indices, (m, n), h, rows, seg = case
    p = _run(*case)
    ptr = indptr.astype(np.int64)
    t = p.task_rows.astype(np.int64)
    assert t[0] == 0 and t[-1] == m and (m == 0 or np.all(np.diff(t) > 0))
    lengths = np.diff(ptr)
    for r0, r1 in zip(t[:-1], t[1:]):
        if np.any(lengths[r0:r1] > h):
            assert r1 - r0 == 1
        else:
            assert r1 - r0 <= rows and ptr[r1] - ptr[r0] < 2 * h
    assert p.n_long == np.count_nonzero(lengths > h)
    for k, r in enumerate(p.long_rows.astype(np.int64)):
        s0, s1 = p.seg_ptr[k], p.seg_ptr[k + 1]
        lo, hi = p.seg_lo[s0:s1], p.seg_hi[s0:s1]
        assert lo[0] == ptr[r] and hi[-1] == ptr[r + 1]
        np.testing.assert_array_equal(lo[1:], hi[:-1])
        assert np.all(hi - lo <= seg) and np.all(hi > lo)
    assert p.seg_ptr[-1] == p.n_seg


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_plan_edges(dtype):
    empty = csr_plan(np.zeros(1, dtype), (0, 5), 4, None, 32, 8)  # m = 0
    assert isinstance(empty, Plan)
    assert empty.n_tasks == empty.n_long == empty.n_seg == 0 and empty.task_rows.tolist() == [0]
    assert empty.seg_ptr.tolist() == [0] and empty.mean_short == 0.0 and not empty.scattered
    zeros = csr_plan(np.zeros(6, dtype), (5, 0), 4, None, 2, 8)  # 5 x 0, no entries
    assert zeros.task_rows.tolist() == [0, 2, 4, 5] and zeros.n_long == 0
    long_ = np.array([0, 9, 18], dtype)  # every row long: one task each, 3 segments each
    p = csr_plan(long_, (2, 1000), 4, np.full(18, 999, dtype), 32, 4)
    assert p.task_rows.tolist() == [0, 1, 2] and p.long_rows.tolist() == [0, 1]
    assert p.seg_ptr.tolist() == [0, 3, 6] and p.seg_lo.tolist() == [0, 4, 8, 9, 13, 17]
    assert p.seg_hi.tolist() == [4, 8, 9, 13, 17, 18] and p.mean_short == 0.0
    assert p.scattered is False  # 999 is near row 0 * 500 at this width


def test_plan_int32_near_the_top_of_its_range():
    """Window numbers and segment bounds of an int32 row pointer near 2**31 (the plan
    computes segment bounds in int64)."""
    top = np.iinfo(np.int32).max - 10
    indptr = np.array([0, top - 9000, top - 5, top], dtype=np.int32)
    p = csr_plan(indptr, (3, 4), 128, None, 32, 4096)
    assert p.long_rows.tolist() == [0, 1] and p.task_rows.tolist() == [0, 1, 2, 3]
    assert p.seg_hi[-1] == top - 5 and p.seg_lo.dtype == np.int64
    assert p.mean_short == 5.0


def test_sample_positions_are_numpy_and_cupy_linspace():
    for nnz in [0, 1, 2, 3, 1023, 1024, 1025, 2047, 2048, 10**6 + 7, 2**40 + 3]:
        pos = sample_positions(nnz)
        assert pos.dtype == np.int64 and pos.size == min(nnz, 1024)
        if nnz:
            assert pos[0] == 0 and pos[-1] == nnz - 1 and np.all(np.diff(pos) > 0)
            exact = np.arange(pos.size) * ((nnz - 1) / max(pos.size - 1, 1))
            assert np.all(np.abs(pos - exact) <= 1)
            # CuPy's linspace: start + i * step, the last one set to stop (cupy/_creation/ranges.py)
            step = float(nnz - 1) / (pos.size - 1) if pos.size > 1 else 0.0
            cupy_like = (0 + np.arange(pos.size, dtype=np.float64) * step)
            cupy_like[-1] = nnz - 1
            np.testing.assert_array_equal(pos, cupy_like.astype(np.int64))
    with pytest.raises(ValueError, match="nnz"):
        sample_positions(-1)


def test_plan_rejects_bad_input():
    ptr = np.array([0, 1, 2])
    with pytest.raises(TypeError, match="indptr"):
        csr_plan([0, 1, 2], (2, 2))
    with pytest.raises(TypeError, match="indptr"):
        csr_plan(ptr.astype(float), (2, 2))
    with pytest.raises(TypeError, match="indptr"):
        csr_plan(ptr.astype(np.uint64), (2, 2))
    with pytest.raises(ValueError, match="3 entries"):
        csr_plan(ptr, (3, 2))
    with pytest.raises(ValueError, match="shape"):
        csr_plan(ptr, (2, -1))
    for name in ("threshold", "rows", "seg"):
        with pytest.raises(ValueError, match=name):
            csr_plan(ptr, (2, 2), **{"threshold": 4, "rows": 32, "seg": 8, name: 0})
    with pytest.raises(ValueError, match="sample"):
        csr_plan(ptr, (2, 2), 4, np.zeros(3, np.int64))


# -- the prebuilt list --------------------------------------------------------------------


def test_instantiations_are_the_committed_list():
    """``kernels/prebuilt/csr.jsonl`` (what ``python spla_cuda/_compile.py build``
    reads) is ``instantiations()``: rebuild both together."""
    lines = [json.loads(line) for line in (PREBUILT / "csr.jsonl").read_text().splitlines()]
    assert lines == [{"source": "csr.cu", "expression": e, "options": []}
                     for e in instantiations()]
    names = instantiations()
    assert len(names) == len(set(names)) == 194
    # float32 SpMM reads up to 4 values a load, complex128 one
    assert "csr_spmm_tasks<float, int, 32, 4, 8>" in names
    assert "csr_spmm_tasks<complex<double>, long long, 1, 2, 8>" not in names


# -- on the GPU (skipped without CuPy and a GPU) ------------------------------------------


def _gpu():
    cupy = pytest.importorskip("cupy", reason="needs CuPy")
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            pytest.skip("needs an NVIDIA GPU")
    except cupy.cuda.runtime.CUDARuntimeError:
        pytest.skip("needs an NVIDIA GPU")
    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_gpu_dispatch_picks_only_listed_kernels(index, monkeypatch):
    """Every kernel the default SpMV and SpMM dispatch compiles is in the prebuilt list."""
    cupy = _gpu()
    import spla
    import spla_cuda.csr as gpu

    used = set()
    real = gpu.kernel

    def recording(source, expression, options=()):
        used.add(expression)
        return real(source, expression, options)

    monkeypatch.setattr(gpu, "kernel", recording)
    rng = np.random.default_rng(0)
    m = 300
    counts = rng.integers(0, 12, m)
    counts[7] = 5000  # a long row: segments and fix-up
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(index)
    nnz = int(indptr[-1])
    band = np.repeat(np.arange(m), counts)  # near the diagonal: the vector kernels
    scattered = rng.integers(0, 10**6, nnz)  # far from it: the task kernel
    for dt in (np.float32, np.float64, np.complex64, np.complex128):
        for cols, n in ((band, m), (scattered, 10**6)):
            A = spla.csr_array((np.ones(nnz, dt), cols.astype(index), indptr), shape=(m, n))
            G = A.to_device("cuda")
            G @ cupy.ones(n, dt)
        for k in (1, 2, 3, 4, 6, 8, 16, 40, 130):  # SpMM: every vector width and lane count
            G = spla.csr_array((np.ones(nnz, dt), band.astype(index), indptr), shape=(m, m))
            G.to_device("cuda") @ cupy.ones((m, k), dt)
    assert {e for e in used if e.startswith("csr_spmv_tasks")}, "the task kernel never ran"
    assert used and used <= set(instantiations())


@pytest.mark.gpu
def test_gpu_sampled_indices():
    cupy = _gpu()
    import spla
    import spla_cuda.csr as gpu

    rng = np.random.default_rng(1)
    for index in (np.int32, np.int64):
        counts = rng.integers(0, 9, 1000)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(index)
        cols = rng.integers(0, 50_000, int(indptr[-1])).astype(index)
        A = spla.csr_array((np.ones(cols.size), cols, indptr), shape=(1000, 50_000))
        G = A.to_device("cuda")
        got = gpu._sampled_indices(G, cupy.asnumpy(G.indptr))
        np.testing.assert_array_equal(got, A.indices[sample_positions(A.nnz)])
        assert got.dtype == G.indices.dtype
