"""Readers racing a writer (issue 18): a reader sees the array before or after each
write, never a mixture of two storages, never a crash.

CSR and CSC keep their storage as one tuple ``(data, indices, indptr, shape, device,
derived)`` that a write replaces in one assignment, and every operation reads it once
(``_snap()`` / ``_major()``). Two tests hold that:

- ``test_a_swap_at_any_storage_read_is_seen_before_or_after`` is deterministic: the
  storage tuple is replaced by one that swaps in the "after" storage at its k-th read,
  for every k an operation makes, so a second read of the storage after the first
  would see the other storage (and a mixed answer).
- ``test_readers_racing_inserting_writes_see_before_or_after`` is the stress test:
  large arrays, a writer inserting entries (nnz changes at each write) and six
  reader threads, every reader result checked against the answers after each write.
"""

import hashlib
import sys
import threading

import numpy as np
import pytest

import spla

# -- the deterministic test: a storage tuple that swaps itself out at its k-th read ----
# (each entry of READS is ONE operation: two would see two states legitimately)


class _Tripwire(tuple):
    """A storage tuple that installs ``after`` in ``owner`` at its ``at``-th read."""

    def __new__(cls, storage, owner, after, at):
        t = super().__new__(cls, storage)
        t.owner, t.after, t.at, t.reads = owner, after, at, 0
        return t

    def _touch(self):
        self.reads += 1
        if self.reads == self.at:
            self.owner._storage = self.after

    def __getitem__(self, k):
        self._touch()
        return super().__getitem__(k)

    def __iter__(self):
        self._touch()
        return super().__iter__()


def _two_storages(fmt, seed):
    """Two arrays of one shape and nnz whose data, indices and indptr all differ, so
    that any mixture of their arrays is valid storage with a different answer."""
    rng = np.random.default_rng(seed)
    m, n, nnz = 23, 17, 60
    out = []
    for _ in range(2):
        major, minor = (m, n) if fmt == "csr" else (n, m)
        counts = np.bincount(rng.integers(0, major, nnz), minlength=major)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        indices = rng.integers(0, minor, nnz).astype(np.int32)  # duplicates, unsorted
        data = rng.integers(1, 50, nnz).astype(np.float64)
        cls = spla.csr_array if fmt == "csr" else spla.csc_array
        out.append(cls((data, indices, indptr), shape=(m, n)))
    return out


def _key(r):
    if isinstance(r, tuple):
        return tuple(_key(x) for x in r)
    if isinstance(r, spla.SparseArray) or hasattr(r, "tocsr"):
        r = r.toarray()
    if isinstance(r, np.ndarray):
        return ("dense", r.shape, r.dtype.str, r.tobytes())
    return ("scalar", repr(r))


_X = np.arange(1.0, 18.0)
_Y = np.arange(1.0, 24.0)
_PROBE = [(0, 0)]  # the point "A[i, j]" reads: set by the test where the storages differ
# fixed second operands (``A + A`` reads the array twice, legitimately: once an operand)
_B = spla.csr_array(np.triu(np.arange(23 * 17, dtype=float).reshape(23, 17) % 7))
_BT = spla.csr_array(np.triu(np.arange(17 * 23, dtype=float).reshape(17, 23) % 5))

READS = {
    "A @ x": lambda A: A @ _X,
    "A @ X": lambda A: A @ np.stack([_X, 2 * _X], axis=1),
    "y @ A": lambda A: _Y @ A,
    "A.T @ y": lambda A: A.T @ _Y,
    "sum": lambda A: A.sum(),
    "sum axis 0": lambda A: A.sum(axis=0),
    "sum axis 1": lambda A: A.sum(axis=1),
    "mean": lambda A: A.mean(axis=1),
    "max": lambda A: A.max(axis=1),
    "argmax": lambda A: A.argmax(axis=0),
    "count_nonzero": lambda A: A.count_nonzero(axis=0),
    "toarray": lambda A: A.toarray(),
    "toarray F": lambda A: A.toarray(order="F"),
    "A[3]": lambda A: A[3],
    "A[2:9]": lambda A: A[2:9].toarray(),
    "A[:, 4]": lambda A: A[:, 4],
    "A[i, j]": lambda A: A[_PROBE[0]],
    "fancy": lambda A: A[[1, 4, 4, 20], [0, 3, 3, 16]],
    "tocsc": lambda A: A.tocsc(),
    "tocsr": lambda A: A.tocsr(),
    "tocoo": lambda A: A.tocoo(),
    "T": lambda A: A.T.toarray(),
    "copy": lambda A: A.copy(),
    "abs": lambda A: abs(A),
    "neg": lambda A: -A,
    "A * 3": lambda A: A * 3,
    "A / 2": lambda A: A / 2,
    "astype": lambda A: A.astype(np.float32),
    "A > 20": lambda A: A > 20,
    "A + B": lambda A: A + _B,
    "B - A": lambda A: _B - A,
    "multiply B": lambda A: A.multiply(_B),
    "A - dense": lambda A: A - np.ones(A.shape, np.uint8),
    "A + dense": lambda A: A + np.ones(A.shape),
    "multiply x": lambda A: A.multiply(_X),
    "A @ B.T": lambda A: A @ _BT,
    "B.T @ A": lambda A: _BT @ A,
    "diagonal": lambda A: A.diagonal(1),
    "nonzero": lambda A: A.nonzero(),
    "canonical": lambda A: A.has_canonical_format,
    "sorted": lambda A: A.has_sorted_indices,
    "deduped": lambda A: A._deduped(),
    "to_scipy": lambda A: A.to_scipy(),
    "from A": lambda A: spla.csr_array(A),
    "reshape": lambda A: A.reshape((17, 23)),
    "nbytes": lambda A: A.nbytes,
    "str": lambda A: str(A),
    "kron": lambda A: spla.kron(A, _B[:2, :3]),
    "hstack": lambda A: spla.hstack([A, _B]),
    "triu": lambda A: spla.triu(A, 1),
}



# multi-read sites outside the formats (issue 18): each reads one snapshot
def _npz(A):
    import io

    buf = io.BytesIO()
    spla.save_npz(buf, A)
    buf.seek(0)
    return spla.load_npz(buf).toarray()


def _arrays(pair):
    header, arrays = pair
    return tuple((k, np.asarray(v)) for k, v in sorted(arrays.items()))


def _dask(A):
    import spla.dask

    return spla.dask.from_spla(A, 7).compute().toarray()


_RNG = np.random.default_rng(18)
_Q, _K, _V = _RNG.standard_normal((23, 4)), _RNG.standard_normal((17, 4)), _RNG.standard_normal((17, 3))
_W = _RNG.standard_normal((17, 4, 2))

SITES = {
    "save_npz": _npz,
    "find": lambda A: spla.find(A),
    "norm(A, 1)": lambda A: spla.linalg.norm(A, 1),
    "norm axis": lambda A: spla.linalg.norm(A, axis=1),
    "binsparse": lambda A: _arrays(spla.io.binsparse_arrays(A)),
    "binsparse COOR": lambda A: _arrays(spla.io.binsparse_arrays(A, "COOR")),
    "dask": _dask,
    "attention": lambda A: spla.ml.attention.sparse_attention(_Q, _K, _V, A),
    "moe": lambda A: spla.ml.moe.moe_apply(_Q, A, _W),
    "to_torch": lambda A: A.to_torch().to_dense().numpy(),
    "to_torch coo": lambda A: A.to_torch(layout="coo").to_dense().numpy(),
    "to_pydata": lambda A: A.to_pydata().todense(),
    "to_pydata coo": lambda A: A.to_pydata(format="coo").todense(),
}
READS.update(SITES)
# the same on canonical storage (where no canonical copy is made, the array itself is read)
READS.update({f"{k} (canonical)": v for k, v in SITES.items()})

@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("name", sorted(READS))
def test_a_swap_at_any_storage_read_is_seen_before_or_after(fmt, name):
    op = READS[name]
    before, after = _two_storages(fmt, seed=len(name))
    if name.endswith("(canonical)"):
        for X in (before, after):
            X.sum_duplicates()
    diff = np.argwhere(before.toarray() != after.toarray())
    _PROBE[0] = tuple(int(k) for k in diff[0])
    expected = {_key(op(before.copy())), _key(op(after.copy()))}
    assert len(expected) == 2 or name in ("canonical", "sorted", "nbytes", "tocsr")

    def fresh(at):
        A = type(before)._from_parts(*before.copy()._storage[:4])
        new = after.copy()._storage
        A._storage = _Tripwire(A._storage, A, new, at)
        return A, new

    A, _ = fresh(at=0)  # count the reads of one undisturbed run
    op(A)
    reads = A._storage.reads  # 0 for A.tocsr() of a CSR array (itself)
    for at in range(1, reads + 2):
        A, new = fresh(at)
        got = _key(op(A))
        assert got in expected, f"{name}: a swap at storage read {at} of {reads} was seen"
        # whatever the reader derived from the old storage is not kept for the new one
        if A._storage is new:
            assert _key(op(A)) == _key(op(after.copy())), \
                f"{name}: state derived from the old storage outlived the swap at read {at}"


# -- the same for COO, N:M and banded arrays (storage tuples of their own) ----------------


def _dense_nm(rng, m, n):
    """A dense (m, n) array that is 2:4 sparse (two values in every group of four)."""
    d = np.zeros((m, n))
    for i in range(m):
        for g in range(n // 4):
            d[i, 4 * g + rng.choice(4, 2, replace=False)] = rng.integers(1, 50, 2)
    return d


def _two_other_storages(fmt, seed):
    """Two arrays of ``fmt`` of one shape and storage sizes whose arrays all differ, so
    that any mixture of their storage arrays is valid storage with another answer."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(2):
        if fmt == "coo":  # duplicates and unsorted entries
            m, n, nnz = 23, 17, 60
            data = rng.integers(1, 50, nnz).astype(np.float64)
            out.append(spla.coo_array((data, (rng.integers(0, m, nnz), rng.integers(0, n, nnz))),
                                      shape=(m, n)))
        elif fmt == "nm":
            out.append(spla.nm_array(_dense_nm(rng, 23, 16), n=2, m=4))
        else:  # banded: the offsets differ too
            offsets = [-2, 0, 3] if k == 0 else [-1, 1, 4]
            data = rng.integers(1, 50, (3, 23)).astype(np.float64)
            out.append(spla.banded_array((data, offsets), shape=(23, 17)))
    return out


def _other_reads(fmt):
    reads = {
        "A @ x": lambda A: A @ np.arange(1.0, A.shape[1] + 1),
        "A @ X": lambda A: A @ np.ones((A.shape[1], 2)),
        "y @ A": lambda A: np.arange(1.0, A.shape[0] + 1) @ A,
        "sum": lambda A: A.sum(),
        "sum axis 0": lambda A: A.sum(axis=0),
        "sum axis 1": lambda A: A.sum(axis=1),
        "max": lambda A: A.max(axis=1),
        "count_nonzero": lambda A: A.count_nonzero(),
        "toarray": lambda A: A.toarray(),
        "A[3]": lambda A: A[3],
        "A[2:9]": lambda A: A[2:9].toarray(),
        "A[i, j]": lambda A: A[_PROBE[0]],
        "tocsr": lambda A: A.tocsr(),
        "tocsc": lambda A: A.tocsc(),
        "tocoo": lambda A: A.tocoo(),
        "T": lambda A: A.T.toarray(),
        "copy": lambda A: A.copy(),
        "abs": lambda A: abs(A),
        "neg": lambda A: -A,
        "A * 3": lambda A: A * 3,
        "astype": lambda A: A.astype(np.float32),
        "A + B": lambda A: A + spla.csr_array(np.ones(A.shape)),
        "A - dense": lambda A: A - np.ones(A.shape, np.uint8),
        "multiply x": lambda A: A.multiply(np.arange(1.0, A.shape[1] + 1)),
        "to_scipy": lambda A: A.to_scipy(),
        "from A": lambda A: spla.csr_array(A),
        "str": lambda A: str(A),
        "repr": lambda A: repr(A),
        "nnz": lambda A: A.nnz,
        "nbytes": lambda A: A.nbytes,
    }
    reads.update({"save_npz": _npz, "dask": _dask,
                  "binsparse": lambda A: _arrays(spla.io.binsparse_arrays(A))})
    if fmt == "coo":
        reads.update({
            "to_torch coo": lambda A: A.to_torch(layout="coo").to_dense().numpy(),
            "to_pydata coo": lambda A: A.to_pydata(format="coo").todense(),
            "find": lambda A: spla.find(A),
            "A > 20": lambda A: A > 20,
            "diagonal": lambda A: A.diagonal(1),
            "nonzero": lambda A: A.nonzero(),
            "reshape": lambda A: A.reshape((17, 23)),
            "transpose": lambda A: A.transpose(),
            "deduped": lambda A: A._deduped(),
            "coo from A": lambda A: spla.coo_array(A),
            "row": lambda A: A.row,
        })
    elif fmt == "banded":
        reads.update({
            "diagonal": lambda A: A.diagonal(1),
            "to_lapack": lambda A: A.to_lapack(),
            "bandwidth": lambda A: A.bandwidth,
            "attention": lambda A: spla.ml.attention.sparse_attention(_Q, _K, _V, A),
            "banded from A": lambda A: spla.banded_array(A),
        })
    else:
        reads.update({
            "positions": lambda A: A.positions,
            "nm from A": lambda A: spla.nm_array(A),
        })
    return reads


_OTHER = [(fmt, name) for fmt in ("coo", "nm", "banded") for name in sorted(_other_reads(fmt))]
#: reads whose answer the two storages of the test share (nothing to tell apart)
_SAME = {(f, n) for f in ("coo", "nm") for n in ("repr", "nnz", "nbytes")} | {
    ("nm", "count_nonzero"), ("banded", "nbytes")}


@pytest.mark.parametrize(("fmt", "name"), _OTHER)
def test_coo_nm_banded_a_swap_at_any_storage_read_is_seen_before_or_after(fmt, name):
    op = _other_reads(fmt)[name]
    before, after = _two_other_storages(fmt, seed=len(name))
    diff = np.argwhere(before.toarray() != after.toarray())
    _PROBE[0] = tuple(int(k) for k in diff[0])
    expected = {_key(op(before.copy())), _key(op(after.copy()))}
    assert len(expected) == 2 or (fmt, name) in _SAME

    def fresh(at):
        A = before.copy()
        new = after.copy()._storage
        A._storage = _Tripwire(A._storage, A, new, at)
        return A, new

    A, _ = fresh(at=0)  # count the reads of one undisturbed run
    tripwire = A._storage
    op(A)  # (count_nonzero of COO sums duplicates in place, as SciPy: a write)
    reads = tripwire.reads
    assert reads >= 1 or name == "tocoo"
    for at in range(1, reads + 2):
        A, new = fresh(at)
        got = _key(op(A))
        assert got in expected, f"{fmt} {name}: a swap at storage read {at} of {reads} was seen"
        if A._storage is new:
            assert _key(op(A)) == _key(op(after.copy())), \
                f"{fmt} {name}: state derived from the old storage outlived the swap at read {at}"


def test_coo_writes_swap_the_whole_storage():
    A = spla.coo_array((np.array([1.0, 2.0, 0.0]), ([1, 1, 0], [0, 0, 2])), shape=(2, 3))
    old = A._storage
    assert not A.has_canonical_format and old[4] == {"canonical": False}
    A.sum_duplicates()  # new arrays and flag, one assignment; the old storage unchanged
    assert A._storage is not old and A.has_canonical_format and old[1].size == 3
    held = A._storage
    A.eliminate_zeros()
    assert A._storage is not held and A.nnz == 1 and A.has_canonical_format
    held = A._storage
    A[0, 1] = 5.0
    assert A._storage is not held and held[1].size == 1 and A.nnz == 2
    for setter in ("data", "coords", "has_canonical_format"):
        held = A._storage
        setattr(A, setter, getattr(A, setter))
        assert A._storage is not held and A._derived is not held[4]
    A.row = A.row
    A.col = A.col
    np.testing.assert_array_equal(A.toarray(), [[0, 5, 0], [3, 0, 0]])
    # pickles and copies keep the storage and the flag
    import copy
    import pickle
    for B in (pickle.loads(pickle.dumps(A)), copy.deepcopy(A), copy.copy(A)):
        np.testing.assert_array_equal(B.toarray(), A.toarray())
        assert B.has_canonical_format == A.has_canonical_format


def test_nm_and_banded_writes_swap_the_storage_and_its_cache():
    import pickle

    A = spla.nm_array(np.array([[1.0, 0, 0, 2, 0, 3, 0, 0]]), n=2, m=4)
    base = A._slot_bases()
    old = A._storage
    assert old[-1]["slot_base"] is base
    A[0, 3] = 7.0  # repacked: new arrays and a new cache, one assignment
    assert A._storage is not old and "slot_base" not in A._derived
    assert old[0][0].tolist() == [1.0, 2.0, 0.0, 3.0]  # the old storage is left as it was
    np.testing.assert_array_equal(A.toarray(), [[1, 0, 0, 7, 0, 3, 0, 0]])
    B = pickle.loads(pickle.dumps(A))
    np.testing.assert_array_equal(B.toarray(), A.toarray())
    assert (B.n, B.m) == (2, 4)

    D = spla.banded_array((np.ones((2, 3)), [-1, 0]), shape=(3, 3))
    D._derived["probe"] = 1
    old = D._storage
    D[1, 0] = 4.0  # the first write copies the values (the caller's stay as they were)
    assert D._storage is not old and "probe" not in D._derived
    assert old[0][0, 1] == 1.0 and D.data[0, 1] == 4.0
    held = D._storage
    D[2, 1] = 5.0  # later writes go into the values it owns, with a new cache
    assert D._storage is not held and D.data is held[0]
    np.testing.assert_array_equal(D.toarray(), [[1, 0, 0], [4, 1, 0], [0, 5, 1]])
    E = pickle.loads(pickle.dumps(D))
    np.testing.assert_array_equal(E.toarray(), D.toarray())


def test_writes_swap_the_storage_and_its_cache_together():
    A = spla.csr_array(np.eye(4))
    old = A._storage
    assert A.has_canonical_format and old[5]["canonical"] is True
    A[0, 3] = 2.0  # an insertion: new arrays, a new cache, one assignment
    assert A._storage is not old and A._derived is not old[5]
    assert old[0].size == 4 and A.nnz == 5  # the old storage is left as it was
    held = A._storage
    A[0, 3] = 5.0  # overwrite in place: same arrays, a new cache
    assert A._storage[0] is held[0] and A._storage[5] is not held[5]
    np.testing.assert_array_equal(A.toarray()[0], [1, 0, 0, 5])
    A.sum_duplicates()
    A.eliminate_zeros()
    A.sort_indices()
    A.data = A.data * 2
    np.testing.assert_array_equal(A.toarray()[0], [2, 0, 0, 10])


@pytest.mark.parametrize("make", [spla.csr_array, spla.csc_array, spla.coo_array,
                                  spla.banded_array, spla.nm_array])
def test_in_place_scaling_leaves_nothing_derived_from_the_old_values(make):
    A = make(np.eye(4))
    A._derived["from the values"] = object()
    old = A._storage
    A *= 3
    assert "from the values" not in A._derived and A._storage is not old
    A /= 2
    np.testing.assert_array_equal(A.toarray(), 1.5 * np.eye(4))
    if hasattr(A, "has_canonical_format"):
        assert A.has_canonical_format  # the structure flags stay


# -- the stress test: one writer inserting entries, six readers --------------------------


def _digest(r):
    h = hashlib.blake2b(digest_size=16)

    def feed(x):
        if isinstance(x, tuple):
            for y in x:
                feed(y)
        elif isinstance(x, spla.SparseArray) and x.ndim == 2:
            c = x.tocsr()
            for a in (c.data, c.indices, c.indptr):
                h.update(np.ascontiguousarray(a).tobytes())
            h.update(repr(x.shape).encode())
        elif isinstance(x, spla.SparseArray):
            h.update(x.toarray().tobytes())
        elif isinstance(x, np.ndarray):
            h.update(np.ascontiguousarray(x).tobytes())
        else:
            h.update(repr(x).encode())

    feed(r)
    return h.hexdigest()


def _stress_reads(x):
    return {
        "A @ x": lambda A: A @ x,
        "A.T @ x": lambda A: A.T @ x,
        "sum": lambda A: A.sum(axis=1),
        "slice": lambda A: A[9_990:10_010].toarray(),
        "A[i]": lambda A: A[10_000],
        "tocsc": lambda A: A.tocsc(),
        "A * 2": lambda A: A * 2,
    }


def _race(A, reads, plans, write, readers=6):
    """Run ``write(A, plan)`` for every plan in one thread while ``readers`` threads
    call the reads on ``A``; every reader result must match the answer of one state
    of the array (before the first write or after some write). Returns the number of
    reader results."""
    answers = {name: {_digest(op(A))} for name, op in reads.items()}
    done = threading.Event()
    seen, errors = [], []

    def writer():
        try:
            for plan in plans:
                write(A, plan)
                for name, op in reads.items():  # the answers after this write
                    answers[name].add(_digest(op(A)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(("writer", repr(exc)))
        finally:
            done.set()

    def reader(k):
        names = sorted(reads)
        i = k
        try:
            while not done.is_set():
                name = names[i % len(names)]
                seen.append((name, _digest(reads[name](A))))
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append((f"reader {k}", repr(exc)))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: the widest window for a tear
    try:
        threads = [threading.Thread(target=reader, args=(k,)) for k in range(readers)]
        threads.append(threading.Thread(target=writer))
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors
    assert len(seen) >= readers
    torn = sorted({name for name, d in seen if d not in answers[name]})
    assert not torn, f"reader results that match no state of the array: {torn}"
    return len(seen)


def _write(A, plan):
    rows, cols, vals = plan
    A[rows, cols] = vals


@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_readers_racing_inserting_writes_see_before_or_after(fmt):
    n, nnz, writes, batch = 20_000, 200_000, 40, 400
    rng = np.random.default_rng(18)
    cls = spla.csr_array if fmt == "csr" else spla.coo_array
    A = cls((rng.standard_normal(nnz), (rng.integers(0, n, nnz), rng.integers(0, n, nnz))),
            shape=(n, n))
    reads = _stress_reads(rng.standard_normal(n))
    # the writes: new entries only (every write changes nnz and moves the rows), many
    # of them in the rows the readers slice
    plans = []
    for _ in range(writes):
        rows = np.concatenate([rng.integers(9_990, 10_010, batch // 4),
                               rng.integers(0, n, batch - batch // 4)])
        plans.append((rows, rng.integers(0, n, batch), rng.standard_normal(batch)))
    _race(A, reads, plans, _write)
    assert A.nnz > nnz  # the writes inserted entries


def test_readers_racing_coo_canonicalisation_see_before_or_after():
    """sum_duplicates and eliminate_zeros swap the whole COO storage (new arrays of
    another length) while readers run."""
    n, nnz = 20_000, 200_000
    rng = np.random.default_rng(19)
    A = spla.coo_array((rng.integers(-1, 2, nnz).astype(np.float64),
                        (rng.integers(0, n, nnz), rng.integers(0, 64, nnz))), shape=(n, 64))
    x = rng.standard_normal(64)
    reads = {"A @ x": lambda A: A @ x, "sum": lambda A: A.sum(axis=0),
             "tocsr": lambda A: A.tocsr(), "nnz": lambda A: A.nnz,
             "slice": lambda A: A[9_990:10_010].toarray()}
    steps = ["sum", "zeros"]

    def write(A, step):
        if step == "sum":
            A.sum_duplicates()
        else:
            A.eliminate_zeros()

    _race(A, reads, steps, write)
    assert A.has_canonical_format


def test_readers_racing_nm_writes_see_before_or_after():
    rng = np.random.default_rng(20)
    R, C = 512, 512
    dense = _dense_nm(rng, R, C)
    A = spla.nm_array(dense, n=2, m=4)
    x = rng.standard_normal(C)
    reads = {"A @ x": lambda A: A @ x, "A @ X": lambda A: A @ np.ones((C, 3)),
             "sum": lambda A: A.sum(axis=1), "A[i]": lambda A: A[500],
             "tocsr": lambda A: A.tocsr(), "A * 2": lambda A: A * 2,
             "toarray": lambda A: A.toarray()[490:510]}
    stored = np.argwhere(dense != 0)
    plans = []
    for _ in range(12):  # overwrites of stored entries (the 2:4 rule holds): repacked
        pick = stored[rng.integers(0, len(stored), 50)]
        plans.append((pick[:, 0], pick[:, 1], rng.standard_normal(50)))
    _race(A, reads, plans, _write, readers=4)
