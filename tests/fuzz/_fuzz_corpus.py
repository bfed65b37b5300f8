"""The hostile corpus: inputs a careless or malicious caller could pass to every public
constructor, operator and reader of spla.

Each ``Case`` builds its arguments (``make``) and names the call (``call``); the
runner (``_fuzz_runner``) executes it in a subprocess under a memory limit and
accepts only two outcomes:

- a clean refusal: an exception of one of ``allowed`` (ValueError, TypeError,
  IndexError, OverflowError by default; OSError for paths), raised by spla, or
- a result that passes ``check``: spla arrays must hold storage that passes the
  full structural validation and densify to SciPy's answer when SciPy has one.

Anything else is a failure: a crash (segfault, abort), a hang, a runaway
allocation (MemoryError where the input is small), another exception type
(KeyError, AttributeError, SystemError, Numba's TypingError, ...), or a change
to the caller's arrays (every NumPy array among the arguments, and the storage
of every spla array among them, is compared with a copy taken before the call).

The fixed corpus is deterministic. ``random_cases(count, seed)`` adds seeded
random storage corruptions (the thorough profile runs 10^4 of them).
"""

import dataclasses
import io
import os
import tempfile

import numpy as np

#: Clean refusals. NotImplementedError is SciPy's own answer to ``A + s`` for a
#: non-zero scalar ``s``.
CLEAN = (ValueError, TypeError, IndexError, OverflowError, NotImplementedError)
PATHS = CLEAN + (OSError,)


@dataclasses.dataclass
class Case:
    entry: str  # the public entry point (for the counts of the report)
    label: str
    make: object  # () -> (args, kwargs)
    call: object  # (*args, **kwargs) -> result
    allowed: tuple = CLEAN
    reference: object = None  # (*args, **kwargs) -> dense ndarray, or raises
    huge: bool = False  # MemoryError is an acceptable refusal (the input needs the memory)

    @property
    def name(self):
        return f"{self.entry}: {self.label}"


# -- raw material ----------------------------------------------------------------------

I64 = np.iinfo(np.int64)
I32 = np.iinfo(np.int32)

VALUE_DTYPES = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                "uint64", "float16", "float32", "float64", "longdouble", "complex64",
                "complex128", "clongdouble", ">f8", ">f4", ">c16", "<f8", "object", "U3",
                "datetime64[s]", "timedelta64[s]", "V8"]
INDEX_DTYPES = ["int8", "uint8", "int16", "int32", "uint32", "int64", "uint64", ">i8",
                ">i4", "float64", "bool", "object", "float32", "complex64"]


def _arr(values, dtype):
    try:
        return np.array(values).astype(dtype)
    except (TypeError, ValueError):
        return np.array(values, dtype=object)


def _variants(a):
    """Layouts of one array: contiguous, strided view, read-only, big-endian."""
    out = [("contiguous", a)]
    if a.size:
        big = np.empty(2 * a.size, dtype=a.dtype)
        big[::2] = a
        out.append(("strided", big[::2]))
    ro = a.copy()
    ro.flags.writeable = False
    out.append(("read-only", ro))
    if a.dtype.kind in "iufc" and a.dtype.itemsize > 1:
        out.append(("byte-swapped", a.astype(a.dtype.newbyteorder())))
    return out


# Valid CSR storage of the 3 x 4 matrix with a duplicate, an explicit zero and an
# empty row, and the hostile changes to it.
_DATA = [1.0, 2.0, 0.0, 3.0]
_INDICES = [0, 3, 1, 1]
_INDPTR = [0, 2, 2, 4]
_SHAPE = (3, 4)

STORAGE_MUTATIONS = {
    "valid": (_DATA, _INDICES, _INDPTR, _SHAPE),
    "indptr too short": (_DATA, _INDICES, [0, 2, 4], _SHAPE),
    "indptr too long": (_DATA, _INDICES, [0, 2, 2, 4, 4], _SHAPE),
    "indptr empty": (_DATA, _INDICES, [], _SHAPE),
    "indptr[0] != 0": (_DATA, _INDICES, [1, 2, 2, 4], _SHAPE),
    "indptr[-1] > nnz": (_DATA, _INDICES, [0, 2, 2, 5], _SHAPE),
    "indptr[-1] < nnz": (_DATA, _INDICES, [0, 2, 2, 3], _SHAPE),
    "indptr decreasing": (_DATA, _INDICES, [0, 3, 1, 4], _SHAPE),
    "indptr negative": (_DATA, _INDICES, [0, -2, 2, 4], _SHAPE),
    "indptr int64 max": (_DATA, _INDICES, [0, 2, I64.max, 4], _SHAPE),
    "indptr int64 min": (_DATA, _INDICES, [0, I64.min, 2, 4], _SHAPE),
    "indices out of range": (_DATA, [0, 4, 1, 1], _INDPTR, _SHAPE),
    "indices negative": (_DATA, [0, -1, 1, 1], _INDPTR, _SHAPE),
    "indices int32 max": (_DATA, [0, I32.max, 1, 1], _INDPTR, _SHAPE),
    "indices int64 max": (_DATA, [0, I64.max, 1, 1], _INDPTR, _SHAPE),
    "indices int64 min": (_DATA, [0, I64.min, 1, 1], _INDPTR, _SHAPE),
    "data shorter": (_DATA[:3], _INDICES, _INDPTR, _SHAPE),
    "data longer": (_DATA + [5.0], _INDICES, _INDPTR, _SHAPE),
    "indices shorter": (_DATA, _INDICES[:3], _INDPTR, _SHAPE),
    "nan and inf data": ([np.nan, np.inf, -np.inf, 0.0], _INDICES, _INDPTR, _SHAPE),
    "shape too small": (_DATA, _INDICES, _INDPTR, (3, 3)),
    "shape rows mismatch": (_DATA, _INDICES, _INDPTR, (4, 4)),
    "shape inferred": (_DATA, _INDICES, _INDPTR, None),
    "shape negative": (_DATA, _INDICES, _INDPTR, (3, -4)),
    "shape float": (_DATA, _INDICES, _INDPTR, (3.0, 4.0)),
    "shape 3-D": (_DATA, _INDICES, _INDPTR, (3, 4, 1)),
    "shape 1-D": (_DATA, _INDICES, _INDPTR, (3,)),
    "shape beyond int64": (_DATA, _INDICES, _INDPTR, (3, 2**70)),
    "shape int64 max": (_DATA, _INDICES, _INDPTR, (3, 2**63 - 1)),
    "shape string": (_DATA, _INDICES, _INDPTR, "3x4"),
    "shape None entries": (_DATA, _INDICES, _INDPTR, (None, 4)),
    "2-D data": ([[1.0, 2.0], [0.0, 3.0]], _INDICES, _INDPTR, _SHAPE),
    "2-D indices": (_DATA, [[0, 3], [1, 1]], _INDPTR, _SHAPE),
    "scalar data": (1.0, _INDICES, _INDPTR, _SHAPE),
    "empty everything": ([], [], [0], (0, 0)),
    "0 x n": ([], [], [0], (0, 5)),
    "n x 0": ([], [], [0, 0, 0], (2, 0)),
    "n x 0 with entries": ([1.0], [0], [0, 1, 1], (2, 0)),
    "huge rows few entries": ([1.0], [0], None, (2**20, 3)),
}


def _storage_case(cls_name, label, data, indices, indptr, shape, ddt, idt, layout):
    import scipy.sparse as sp

    def make():
        d = _arr(data, ddt)
        ind = _arr(indices, idt)
        ptr = np.r_[0, np.ones(shape[0], np.int64)] if indptr is None else _arr(indptr, idt)
        if layout != "contiguous":
            d, ind, ptr = (dict(_variants(a)).get(layout, a) for a in (d, ind, ptr))
        kw = {} if shape is None else {"shape": shape}
        return (d, ind, ptr), kw

    def call(storage, **kw):
        import spla

        return getattr(spla, cls_name)(storage, **kw)

    def reference(storage, **kw):
        cls = sp.csr_array if cls_name == "csr_array" else sp.csc_array
        S = cls(storage, **kw)
        S.check_format(full_check=True)
        return S.toarray()

    return Case(cls_name, f"{label} [data {ddt}, index {idt}, {layout}]", make, call,
                reference=reference, huge=label.startswith("huge"))


def _constructor_cases():
    cases = []
    for cls_name in ("csr_array", "csc_array"):
        for label, (data, indices, indptr, shape) in STORAGE_MUTATIONS.items():
            combos = [("float64", "int32", "contiguous"), ("float64", "int64", "contiguous")]
            if label == "valid":
                combos += [(d, "int32", "contiguous") for d in VALUE_DTYPES]
                combos += [("float64", i, "contiguous") for i in INDEX_DTYPES]
                combos += [("float64", "int64", lay) for lay in ("strided", "read-only",
                                                                 "byte-swapped")]
                combos += [("complex64", "int32", lay) for lay in ("strided", "byte-swapped")]
            elif label in ("indices out of range", "indptr decreasing", "indices negative",
                           "indices int64 max"):
                combos += [("float32", i, "contiguous") for i in ("uint64", "int8", "uint32")]
            for ddt, idt, layout in combos:
                cases.append(_storage_case(cls_name, label, data, indices, indptr, shape,
                                           ddt, idt, layout))
    cases += _coo_cases() + _dense_cases() + _other_input_cases()
    return cases


def _coo_cases():
    import scipy.sparse as sp

    coo = {
        "valid with duplicates": ([1.0, 2.0, 3.0], ([0, 0, 2], [1, 1, 3]), (3, 4)),
        "shape inferred": ([1.0, 2.0], ([0, 5], [1, 2]), None),
        "row out of range": ([1.0], ([3], [0]), (3, 4)),
        "col negative": ([1.0], ([0], [-1]), (3, 4)),
        "lengths differ": ([1.0, 2.0], ([0], [0, 1]), (3, 4)),
        "three index arrays": ([1.0], ([0], [0], [0]), (3, 4)),
        "one index array": ([1.0], ([0],), (3, 4)),
        "ij array (2, nnz)": ([1.0, 2.0], np.array([[0, 2], [1, 3]]), (3, 4)),
        "ij array (3, nnz)": ([1.0, 2.0], np.array([[0, 2], [1, 3], [0, 0]]), (3, 4)),
        "indices without indptr": ([1.0, 2.0], np.array([0, 1]), None),
        "list indices without indptr": ([1.0, 2.0], [0, 1], None),
        "float coordinates": ([1.0], ([0.5], [1.0]), (3, 4)),
        "index int64 max": ([1.0], ([I64.max], [0]), None),
        "shape beyond int64": ([1.0], ([0], [0]), (2**64, 2)),
        "empty": ([], ([], []), (0, 0)),
        "empty shape inferred": ([], ([], []), None),
        "2-D data": ([[1.0]], ([0], [0]), (3, 4)),
        "string data": (["a"], ([0], [0]), (3, 4)),
        "scalar coordinates": ([1.0], (0, 0), (3, 4)),
    }
    cases = []
    for cls_name in ("csr_array", "csc_array", "coo_array"):
        for label, (data, coords, shape) in coo.items():
            for idt in ("int32", "int64", "uint64"):
                def make(data=data, coords=coords, shape=shape, idt=idt):
                    if isinstance(coords, tuple):
                        c = tuple(np.asarray(x).astype(idt) if np.asarray(x).dtype.kind in "iu"
                                  else np.asarray(x) for x in coords)
                    elif isinstance(coords, np.ndarray):
                        c = coords.astype(idt)
                    else:
                        c = coords
                    kw = {} if shape is None else {"shape": shape}
                    return ((np.asarray(data), c),), kw

                def call(arg, cls_name=cls_name, **kw):
                    import spla

                    return getattr(spla, cls_name)(arg, **kw)

                def reference(arg, cls_name=cls_name, **kw):
                    return getattr(sp, cls_name)(arg, **kw).toarray()

                cases.append(Case(cls_name, f"COO {label} [{idt}]", make, call,
                                  reference=reference))
    return cases


DENSE_INPUTS = {
    "2x3 float": lambda: np.arange(6.0).reshape(2, 3),
    "fortran": lambda: np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "strided": lambda: np.arange(24.0).reshape(4, 6)[::2, ::2],
    "read-only": lambda: _readonly(np.eye(3)),
    "big-endian": lambda: np.eye(3).astype(">f8"),
    "big-endian complex": lambda: (np.eye(3) * 1j).astype(">c8"),
    "bool": lambda: np.eye(3, dtype=bool),
    "uint64 max": lambda: np.array([[0, np.iinfo(np.uint64).max]], dtype=np.uint64),
    "int8": lambda: np.array([[-128, 0], [127, 1]], dtype=np.int8),
    "float16": lambda: np.eye(2, dtype=np.float16),
    "longdouble": lambda: np.eye(2, dtype=np.longdouble),
    "nan inf": lambda: np.array([[np.nan, 0.0], [np.inf, -np.inf]]),
    "object": lambda: np.array([[1, None]], dtype=object),
    "strings": lambda: np.array([["a", "b"]]),
    "datetime": lambda: np.zeros((2, 2), dtype="datetime64[s]"),
    "1-D": lambda: np.ones(3),
    "3-D": lambda: np.ones((2, 2, 2)),
    "0-D": lambda: np.float64(3.0),
    "0 x 0": lambda: np.zeros((0, 0)),
    "0 x 5": lambda: np.zeros((0, 5)),
    "5 x 0": lambda: np.zeros((5, 0)),
    "ragged list": lambda: [[1.0, 2.0], [3.0]],
    "nested list": lambda: [[1.0, 0.0], [0.0, 2.0]],
    "tuple of tuples": lambda: ((1.0, 0.0), (0.0, 2.0)),
    "None": lambda: None,
    "string": lambda: "matrix",
    "dict": lambda: {"a": 1},
    "generator": lambda: (x for x in range(3)),
    "masked": lambda: np.ma.masked_array(np.eye(2), mask=[[0, 1], [0, 0]]),
    "matrix": lambda: np.asmatrix(np.eye(2)),
}


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _dense_cases():
    import scipy.sparse as sp

    cases = []
    for cls_name in ("csr_array", "csc_array", "coo_array", "banded_array", "nm_array"):
        for label, build in DENSE_INPUTS.items():
            def make(build=build):
                return (build(),), {}

            def call(arg, cls_name=cls_name):
                import spla

                if cls_name == "nm_array":
                    return spla.nm_array(arg, prune=True)
                return getattr(spla, cls_name)(arg)

            def reference(arg, cls_name=cls_name):
                if cls_name == "nm_array":
                    raise NotImplementedError  # pruned: no SciPy reference
                a = np.asarray(arg)
                if a.dtype.kind not in "biufc":
                    raise TypeError
                if cls_name == "coo_array":  # SciPy's COO takes 1-D and n-D input too
                    return sp.coo_array(a).toarray()
                if a.ndim != 2:
                    raise TypeError
                return sp.csr_array(a).toarray()

            cases.append(Case(cls_name, f"dense {label}", make, call, reference=reference))
    return cases


def _other_input_cases():
    import scipy.sparse as sp

    inputs = {
        "scipy coo with duplicates": lambda: sp.coo_array(([1.0, 2.0], ([0, 0], [1, 1])),
                                                          shape=(2, 2)),
        "scipy dia": lambda: sp.dia_array(np.eye(3)),
        "scipy bsr": lambda: sp.bsr_array(np.eye(4), blocksize=(2, 2)),
        "scipy lil": lambda: sp.lil_array(np.eye(3)),
        "scipy dok": lambda: sp.dok_array(np.eye(3)),
        "scipy int8": lambda: sp.csr_array(np.eye(3, dtype=np.int8)),
        "scipy 1-D": lambda: sp.coo_array(np.ones(3)),
        "scipy matrix": lambda: sp.csr_matrix(np.eye(2)),
        "scipy unsorted int64": lambda: _unsorted_scipy(),
        "spla csr": lambda: _spla("csr_array", np.eye(3)),
        "spla banded": lambda: _spla("banded_array", np.eye(3)),
        "spla nm": lambda: _spla("nm_array", np.eye(4)),
        "spla csc": lambda: _spla("csc_array", np.eye(3)),
    }
    cases = []
    for cls_name in ("csr_array", "csc_array", "coo_array", "banded_array", "nm_array"):
        for label, build in inputs.items():
            for dtype in (None, "float32", "complex128", "int64", ">f8", "float16"):
                def make(build=build, dtype=dtype):
                    return (build(),), ({} if dtype is None else {"dtype": dtype})

                def call(arg, cls_name=cls_name, **kw):
                    import spla

                    return getattr(spla, cls_name)(arg, **kw)

                def reference(arg, **kw):
                    a = arg.toarray() if hasattr(arg, "toarray") else np.asarray(arg)
                    if a.ndim != 2:
                        raise ValueError
                    return a.astype(kw["dtype"]) if "dtype" in kw else a

                cases.append(Case(cls_name, f"{label} [dtype {dtype}]", make, call,
                                  reference=reference))
    # nm and banded raw storage
    nm_storage = {
        "valid": ([[1.0, 2.0]], [[0, 3]], (1, 4)),
        "positions out of range": ([[1.0, 2.0]], [[0, 4]], (1, 4)),
        "positions negative": ([[1.0, 2.0]], [[0, -1]], (1, 4)),
        "positions repeated": ([[1.0, 2.0]], [[1, 1]], (1, 4)),
        "values too narrow": ([[1.0]], [[0]], (1, 4)),
        "shapes differ": ([[1.0, 2.0]], [[0, 1, 2]], (1, 4)),
        "no shape": ([[1.0, 2.0]], [[0, 3]], None),
        "float positions": ([[1.0, 2.0]], [[0.0, 3.0]], (1, 4)),
        "padding slot nonzero": ([[1.0, 2.0]], [[0, 3]], (1, 3)),
        "1-D values": ([1.0, 2.0], [0, 3], (1, 4)),
        "shape beyond int64": ([[1.0, 2.0]], [[0, 3]], (1, 2**65)),
        "uint64 max position": ([[1.0, 2.0]], [[0, 2**64 - 1]], (1, 4)),
    }
    for label, (vals, pos, shape) in nm_storage.items():
        def make(vals=vals, pos=pos, shape=shape):
            p = np.array(pos, dtype=np.uint64) if label == "uint64 max position" else np.array(pos)
            return ((np.array(vals), p),), ({} if shape is None else {"shape": shape})

        def call(arg, **kw):
            import spla

            return spla.nm_array(arg, **kw)

        cases.append(Case("nm_array", f"packed {label}", make, call))
    banded_storage = {
        "valid": ([[1.0, 2.0, 3.0]], [0], (3, 3)),
        "offsets unsorted": ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [1, 0], (3, 3)),
        "offsets repeated": ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [0, 0], (3, 3)),
        "offset out of range": ([[1.0, 2.0, 3.0]], [7], (3, 3)),
        "offset int64 max": ([[1.0, 2.0, 3.0]], [2**63 - 1], (3, 3)),
        "offset int64 min": ([[1.0, 2.0, 3.0]], [-(2**63)], (3, 3)),
        "data too short": ([[1.0]], [0], (3, 3)),
        "offsets count differs": ([[1.0, 2.0, 3.0]], [0, 1], (3, 3)),
        "float offsets": ([[1.0, 2.0, 3.0]], [0.5], (3, 3)),
        "3-D data": ([[[1.0]]], [0], (3, 3)),
        "no shape": ([[1.0, 2.0, 3.0]], [0], None),
        "0 x 0": (np.zeros((0, 0)), [], (0, 0)),
        "shape beyond int64": ([[1.0, 2.0, 3.0]], [0], (3, 2**64)),
    }
    for label, (data, offsets, shape) in banded_storage.items():
        def make(data=data, offsets=offsets, shape=shape):
            return ((np.array(data), np.array(offsets)),), ({} if shape is None else
                                                             {"shape": shape})

        def call(arg, **kw):
            import spla

            return spla.banded_array(arg, **kw)

        cases.append(Case("banded_array", f"storage {label}", make, call))
    return cases


def _unsorted_scipy():
    import scipy.sparse as sp

    S = sp.csr_array((np.array([1.0, 2.0, 3.0]), np.array([2, 0, 2], np.int64),
                      np.array([0, 3], np.int64)), shape=(1, 3))
    S.has_sorted_indices = False
    return S


def _spla(name, dense):
    import spla

    return getattr(spla, name)(dense)


# -- operators on valid arrays with hostile operands ------------------------------------

def _operands():
    """Valid spla arrays of edge-case shapes and storage."""
    import spla

    dup = spla.csr_array((np.array([1.0, 2.0, 0.0, 3.0]), np.array([0, 3, 1, 1]),
                          np.array([0, 2, 2, 4])), shape=(3, 4))
    return {
        "csr dup int32": lambda: dup.copy(),
        "csr int64": lambda: spla.csr_array((np.array([1.0, 2.0]), np.array([0, 3], np.int64),
                                             np.array([0, 1, 1, 2], np.int64)), shape=(3, 4)),
        "csc complex64": lambda: spla.csc_array(np.array([[1j, 0, 2, 0], [0, 0, 0, 0],
                                                          [0, 3, 0, 1]], np.complex64)),
        "banded": lambda: spla.banded_array(np.array([[1.0, 2, 0, 0], [3, 4, 5, 0],
                                                      [0, 6, 7, 8]])),
        "nm 2:4": lambda: spla.nm_array(np.array([[1.0, 0, 2, 0], [0, 0, 0, 0], [3, 4, 0, 0]])),
        "csr 0x0": lambda: spla.csr_array(np.zeros((0, 0))),
        "csr 0x4": lambda: spla.csr_array(np.zeros((0, 4))),
        "csr 3x0": lambda: spla.csr_array(np.zeros((3, 0))),
    }


OPERAND_VALUES = {
    "vector n": lambda m, n: np.arange(n, dtype=float),
    "vector m": lambda m, n: np.arange(m, dtype=float),
    "vector n+1": lambda m, n: np.ones(n + 1),
    "matrix n x 2": lambda m, n: np.ones((n, 2)),
    "matrix n x 2 fortran": lambda m, n: np.asfortranarray(np.ones((n, 2))),
    "matrix n x 2 strided": lambda m, n: np.ones((n, 4))[:, ::2],
    "matrix m x n": lambda m, n: np.arange(m * n, dtype=float).reshape(m, n),
    "matrix m x n uint8": lambda m, n: np.ones((m, n), np.uint8),
    "matrix m x n bool": lambda m, n: np.ones((m, n), bool),
    "matrix m x n big-endian": lambda m, n: np.ones((m, n), ">f8"),
    "matrix m x n read-only": lambda m, n: _readonly(np.ones((m, n))),
    "row 1 x n": lambda m, n: np.ones((1, n)),
    "column m x 1": lambda m, n: np.ones((m, 1)),
    "stack 2 x n x 3": lambda m, n: np.ones((2, n, 3)),
    "4-D": lambda m, n: np.ones((1, 1, n, 1)),
    "0-D": lambda m, n: np.array(2.0),
    "python int": lambda m, n: 3,
    "python zero": lambda m, n: 0,
    "bool True": lambda m, n: True,
    "complex scalar": lambda m, n: 2j,
    "nan": lambda m, n: float("nan"),
    "huge int": lambda m, n: 2**70,
    "numpy uint64": lambda m, n: np.uint64(2**64 - 1),
    "string": lambda m, n: "x",
    "None": lambda m, n: None,
    "list n": lambda m, n: [1.0] * n,
    "object array": lambda m, n: np.array([None] * n, dtype=object),
    "string array": lambda m, n: np.array(["a"] * n),
    "datetime vector": lambda m, n: np.zeros(n, dtype="datetime64[s]"),
    "float16 vector": lambda m, n: np.ones(n, np.float16),
    "longdouble vector": lambda m, n: np.ones(n, np.longdouble),
    "int64 max vector": lambda m, n: np.full(n, I64.max),
    "scipy m x n": lambda m, n: _scipy_eyeish(m, n),
    "scipy n x m": lambda m, n: _scipy_eyeish(n, m),
    "scipy wrong": lambda m, n: _scipy_eyeish(m + 1, n),
    "spla m x n": lambda m, n: _spla("csr_array", np.ones((m, n))),
    "spla n x m": lambda m, n: _spla("csr_array", np.ones((n, m))),
    "spla wrong": lambda m, n: _spla("csr_array", np.ones((m + 1, n + 1))),
}


def _scipy_eyeish(m, n):
    import scipy.sparse as sp

    return sp.csr_array(np.eye(m, n))


OPERATORS = {
    "A @ B": lambda A, B: A @ B,
    "B @ A": lambda A, B: B @ A,
    "A + B": lambda A, B: A + B,
    "B + A": lambda A, B: B + A,
    "A - B": lambda A, B: A - B,
    "B - A": lambda A, B: B - A,
    "A * B": lambda A, B: A * B,
    "A / B": lambda A, B: A / B,
    "A.multiply(B)": lambda A, B: A.multiply(B),
}

METHOD_ARGS = {
    "sum(axis)": ("sum", [None, 0, 1, -1, -2, 2, -3, 1.0, True, "0", (0, 1), (0, 0), (),
                          [0], np.int64(1), 2**64]),
    "diagonal(k)": ("diagonal", [0, 1, -1, 5, -5, 2**63, 2**64, -(2**64), 1.5, "1", None,
                                 True, np.uint64(2**64 - 1)]),
    "toarray(order)": ("toarray", [None, "C", "F", "c", "K", "A", "X", 1, b"C"]),
    "astype(dtype)": ("astype", ["float32", "complex128", ">f8", "int64", "bool", "float16",
                                 object, "U3", None, "not a dtype"]),
    "to_device(device)": ("to_device", ["cpu", "cpu:0", "gpu", "cuda:x", "", None, 0]),
    "asformat(format)": ("asformat", ["csr", "csc", "banded", "nm", "coo", "", None, 3]),
}


def _operator_cases():
    cases = []
    for aname, build_a in _operands().items():
        for bname, build_b in OPERAND_VALUES.items():
            for opname, op in OPERATORS.items():
                def make(build_a=build_a, build_b=build_b):
                    A = build_a()
                    return (A, build_b(*A.shape)), {}

                def reference(A, B, op=op, aname=aname):
                    import scipy.sparse as sp

                    finite = (not isinstance(B, (float, np.ndarray)) or np.asarray(B).dtype.kind
                              not in "fc" or bool(np.all(np.isfinite(B))))
                    if aname.startswith("nm") and not finite:
                        # N:M stores zeros in its empty slots, and SciPy too gives
                        # nan * (stored 0) = nan: the dense reference has no such slots.
                        raise NotImplementedError
                    S = sp.csr_array(A.toarray())
                    if hasattr(B, "to_scipy"):
                        B = B.to_scipy()
                    r = op(S, B)
                    return r.toarray() if hasattr(r, "toarray") else np.asarray(r)

                cases.append(Case(opname.replace("B", "operand"), f"{aname} with {bname}",
                                  make, op, reference=reference))
        for mname, (method, values) in METHOD_ARGS.items():
            for v in values:
                def make(build_a=build_a, v=v):
                    return (build_a(), v), {}

                def call(A, v, method=method):
                    return getattr(A, method)(v)

                def reference(A, v, method=method):
                    import scipy.sparse as sp

                    if method in ("to_device", "asformat", "astype"):
                        raise NotImplementedError
                    r = getattr(sp.csr_array(A.toarray()), method)(v)
                    return np.asarray(r)

                cases.append(Case(f"A.{mname}", f"{aname} with {v!r}", make, call,
                                  reference=reference))
    return cases


# -- readers and writers -----------------------------------------------------------------

_GOOD = b"%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n3 2 2.5\n"
MM_FILES = {
    "valid": _GOOD,
    "truncated entries": _GOOD[:-5],
    "truncated header": b"%%MatrixMarket matrix coord",
    "no size line": b"%%MatrixMarket matrix coordinate real general\n%c\n",
    "empty file": b"",
    "binary junk": bytes(range(256)) * 4,
    "too many entries": _GOOD + b"2 2 1.0\n",
    "too few entries": b"%%MatrixMarket matrix coordinate real general\n3 3 5\n1 1 1.0\n",
    "index zero": b"%%MatrixMarket matrix coordinate real general\n3 3 1\n0 1 1.0\n",
    "index too large": b"%%MatrixMarket matrix coordinate real general\n3 3 1\n4 1 1.0\n",
    "negative index": b"%%MatrixMarket matrix coordinate real general\n3 3 1\n-1 1 1.0\n",
    "float index": b"%%MatrixMarket matrix coordinate real general\n3 3 1\n1.5 1 1.0\n",
    "missing value": b"%%MatrixMarket matrix coordinate real general\n3 3 1\n1 1\n",
    "extra field": b"%%MatrixMarket matrix coordinate real general\n3 3 1\n1 1 1.0 7\n",
    "bad value": b"%%MatrixMarket matrix coordinate real general\n3 3 1\n1 1 x\n",
    "integer with fraction": b"%%MatrixMarket matrix coordinate integer general\n3 3 1\n1 1 1.5\n",
    "complex missing imag": b"%%MatrixMarket matrix coordinate complex general\n3 3 1\n1 1 1.0\n",
    "pattern with value": b"%%MatrixMarket matrix coordinate pattern general\n3 3 1\n1 1 1.0\n",
    "unknown field": b"%%MatrixMarket matrix coordinate bogus general\n3 3 0\n",
    "unknown symmetry": b"%%MatrixMarket matrix coordinate real bogus\n3 3 0\n",
    "symmetric upper entry": b"%%MatrixMarket matrix coordinate real symmetric\n3 3 1\n1 3 1.0\n",
    "skew diagonal": b"%%MatrixMarket matrix coordinate real skew-symmetric\n3 3 1\n2 2 1.0\n",
    "size 10^20": b"%%MatrixMarket matrix coordinate real general\n100000000000000000000 2 0\n",
    "size int64 max": b"%%MatrixMarket matrix coordinate real general\n9223372036854775807 2 0\n",
    "size negative": b"%%MatrixMarket matrix coordinate real general\n-3 3 0\n",
    "size float": b"%%MatrixMarket matrix coordinate real general\n3.5 3 0\n",
    "nnz huge": b"%%MatrixMarket matrix coordinate real general\n3 3 9223372036854775807\n1 1 1\n",
    "array format": b"%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n",
    "array truncated": b"%%MatrixMarket matrix array real general\n2 2\n1\n2\n",
    "vector object": b"%%MatrixMarket vector coordinate real general\n3 1\n1 1.0\n",
    "gzip junk": b"\x1f\x8b" + b"\x00" * 40,
    "bz2 junk": b"BZh9" + b"\x00" * 40,
    "crlf lines": _GOOD.replace(b"\n", b"\r\n"),
    "comments between entries": _GOOD.replace(b"1 1 1.0\n", b"1 1 1.0\n% note\n"),
    "latin-1 comment": _GOOD.replace(b"3 3 2", b"% caf\xe9\n3 3 2"),
    "nul bytes": _GOOD.replace(b"1 1 1.0", b"1 1\x00 1.0"),
}


def _reader_cases():
    cases = []
    for label, content in MM_FILES.items():
        def make(content=content):
            d = tempfile.mkdtemp(prefix="spla-fuzz-")
            path = os.path.join(d, "m.mtx")
            with open(path, "wb") as f:
                f.write(content)
            return (path,), {}

        def mmread(path):
            import spla

            return spla.io.mmread(path)

        def dask_read(path):
            import spla.dask

            return spla.dask.read_matrix_market(path, row_chunks=2, segment_bytes=16).compute()

        def mmread_stream(path):
            import spla

            with open(path, "rb") as f:
                return spla.io.mmread(io.BytesIO(f.read()))

        for entry, fn in (("spla.io.mmread", mmread), ("spla.io.mmread(stream)", mmread_stream),
                          ("spla.dask.read_matrix_market", dask_read)):
            cases.append(Case(entry, label, make, fn, allowed=PATHS,
                              huge=label in ("size int64 max", "nnz huge")))
    return cases


def _writer_cases():
    import spla  # noqa: F401  (the builders below run in the worker)

    targets = {
        "missing directory": lambda d: os.path.join(d, "missing", "a.mtx"),
        "a directory": lambda d: d,
        "a directory named .mtx": lambda d: _mkdir(os.path.join(d, "sub.mtx")),
        "under a file": lambda d: os.path.join(_touch(os.path.join(d, "f")), "a.mtx"),
        "empty string": lambda d: "",
        "nul in name": lambda d: os.path.join(d, "a\x00.mtx"),
        "very long name": lambda d: os.path.join(d, "a" * 5000 + ".mtx"),
        "ok": lambda d: os.path.join(d, "ok.mtx"),
        "ok without extension": lambda d: os.path.join(d, "ok"),
        "text stream": lambda d: io.StringIO(),
        "bytes stream": lambda d: io.BytesIO(),
        "closed stream": lambda d: _closed(),
        "int": lambda d: 3,
        "None": lambda d: None,
    }
    matrices = {
        "csr": lambda: _spla("csr_array", np.array([[1.5, 0.0], [2.0, 3.0]])),
        "empty": lambda: _spla("csr_array", np.zeros((2, 3))),
        "list": lambda: [[1.0, 0.0], [0.0, 2.0]],
        "dense complex": lambda: np.array([[1j, 0.0], [0.0, 2.0]]),
        "big-endian dense": lambda: np.eye(2).astype(">f8"),
        "1-D": lambda: np.ones(3),
        "object": lambda: np.array([[None]], dtype=object),
        "string": lambda: "abc",
    }
    options = {
        "defaults": {},
        "bogus field": {"field": "bogus"},
        "bogus symmetry": {"symmetry": "bogus"},
        "integer field": {"field": "integer"},
        "pattern field": {"field": "pattern"},
        "symmetric": {"symmetry": "symmetric"},
        "unicode comment": {"comment": "température ✓\nsecond"},
        "bytes comment": {"comment": b"x"},
        "negative precision": {"precision": -3},
        "string precision": {"precision": "3"},
    }
    cases = []
    for tname, target in targets.items():
        for mname, mat in matrices.items():
            opts = options if (tname, mname) in (("ok", "csr"), ("ok", "empty"),
                                                 ("bytes stream", "csr")) else {"defaults": {}}
            for oname, kw in opts.items():
                def make(target=target, mat=mat, kw=kw):
                    d = tempfile.mkdtemp(prefix="spla-fuzz-")
                    os.chdir(d)  # a relative path that escapes the checks lands here
                    return (target(d), mat()), dict(kw)

                def call(path, A, **kw):
                    import warnings

                    import spla

                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        return spla.io.mmwrite(path, A, **kw)

                cases.append(Case("spla.io.mmwrite", f"{mname} to {tname} ({oname})", make,
                                  call, allowed=PATHS))
    return cases


def _mkdir(path):
    os.makedirs(path, exist_ok=True)
    return path


def _touch(path):
    open(path, "wb").close()
    return path


def _closed():
    b = io.BytesIO()
    b.close()
    return b


# -- functions of the namespace ----------------------------------------------------------

def _function_cases():
    import scipy.sparse as sp

    inputs = {
        "csc (2^62, 4)": lambda: _spla_storage("csc_array", (2**62, 4)),
        "csr (4, 2^62)": lambda: _spla_storage("csr_array", (4, 2**62)),
        "csr 0x0": lambda: _spla("csr_array", np.zeros((0, 0))),
        "dense 0 x 3": lambda: np.zeros((0, 3)),
        "scipy": lambda: sp.csr_array(np.eye(3)),
        "list": lambda: [[1.0, 0.0]],
        "None": lambda: None,
        "string": lambda: "x",
    }
    cases = []
    for label, build in inputs.items():
        def make(build=build):
            return (build(),), {}

        def sparsity(A):
            import spla

            s = spla.sparsity(A)
            if not isinstance(s, float):
                raise AssertionError(f"sparsity returned {type(s).__name__}")
            shape = np.shape(A) if not hasattr(A, "nnz") else A.shape
            if np.isnan(s) != (int(shape[0]) * int(shape[1]) == 0):
                raise AssertionError(f"sparsity {s} for shape {shape}")
            return s

        cases.append(Case("spla.sparsity", label, make, sparsity, allowed=CLEAN))
    return cases


def _spla_storage(name, shape):
    import spla

    major = shape[1] if name == "csc_array" else shape[0]
    return getattr(spla, name)((np.ones(1), np.zeros(1, np.int64),
                                np.r_[0, np.ones(major, np.int64)]), shape=shape)


# -- the corpus ------------------------------------------------------------------------------

def fixed_cases():
    """The deterministic corpus (built in the worker and in the parent alike)."""
    return (_constructor_cases() + _operator_cases() + _reader_cases() + _writer_cases()
            + _function_cases())


def random_cases(count, seed=0):
    """``count`` seeded random corruptions of CSR/CSC storage: random lengths, indices
    from a pool of extremes, random dtypes, then products and conversions of whatever
    construction accepts."""
    import scipy.sparse as sp

    pool = np.array([0, 1, 2, 3, -1, -2, 4, 5, I32.max, I32.min, I64.max, I64.min, 2**31,
                     2**32, 7], dtype=np.int64)
    dtypes = ["int32", "int64", "uint32", "uint64", "int8", ">i4", ">i8"]
    vdtypes = ["float64", "float32", "complex128", "int64", "bool", ">f8", "float16"]
    cases = []
    rng = np.random.default_rng(seed)
    for k in range(count):
        cls_name = "csr_array" if rng.random() < 0.5 else "csc_array"
        m, n = int(rng.integers(0, 5)), int(rng.integers(0, 5))
        nnz = int(rng.integers(0, 7))
        valid = rng.random() < 0.4
        if valid:
            counts = rng.multinomial(nnz, [1 / m] * m) if m else np.zeros(0, int)
            if not m:
                nnz = 0
            indptr = np.r_[0, np.cumsum(counts)]
            major_minor = n if cls_name == "csr_array" else m
            indices = rng.integers(0, max(major_minor, 1), nnz) if major_minor else \
                np.zeros(nnz, int)
            if not major_minor:
                nnz, indices, indptr = 0, np.zeros(0, int), np.zeros(len(indptr), int)
        else:
            indices = rng.choice(pool, size=nnz)
            indptr = np.sort(rng.choice(pool, size=int(rng.integers(0, 6))))
            if rng.random() < 0.5 and indptr.size:
                indptr[0] = 0
            if rng.random() < 0.5 and indptr.size:
                indptr[-1] = nnz
            if rng.random() < 0.3:
                rng.shuffle(indptr)
        data = rng.standard_normal(int(rng.integers(max(nnz - 1, 0), nnz + 2)) if rng.random()
                                   < 0.2 else nnz)
        ddt = vdtypes[int(rng.integers(len(vdtypes)))]
        idt = dtypes[int(rng.integers(len(dtypes)))]
        pdt = dtypes[int(rng.integers(len(dtypes)))] if rng.random() < 0.3 else idt
        shape = None if rng.random() < 0.15 else (m, n)
        if shape is not None and cls_name == "csc_array":
            shape = (n, m)

        def make(data=data, indices=indices, indptr=indptr, ddt=ddt, idt=idt, pdt=pdt,
                 shape=shape):
            storage = (data.astype(ddt), _cast_wrap(indices, idt), _cast_wrap(indptr, pdt))
            return (storage,), ({} if shape is None else {"shape": shape})

        def call(storage, cls_name=cls_name, **kw):
            import spla

            A = getattr(spla, cls_name)(storage, **kw)
            if max(A.shape) > 10**6:
                # An inferred huge shape: nothing whose output (a dense vector, the
                # transpose's indptr) needs one entry per row or column, as in SciPy.
                # A + A must not: it merges the stored entries (issue 18 item 4).
                return (A, A.sum(), A + A)
            x = np.ones(A.shape[1])
            y = np.ones(A.shape[0])
            return (A, A @ x, y @ A, A.T.toarray(), A.sum(axis=0), A + A, A.tocsr().tocsc())

        def reference(storage, cls_name=cls_name, **kw):
            cls = sp.csr_array if cls_name == "csr_array" else sp.csc_array
            d, i, p = storage
            if not d.dtype.isnative:  # SciPy refuses non-native byte order
                d = d.astype(d.dtype.newbyteorder("="))
            S = cls((d, i.astype(np.int64), p.astype(np.int64)), **kw)
            S.check_format(full_check=True)
            return S.toarray()

        cases.append(Case(cls_name, f"random storage #{k} (seed {seed})", make, call,
                          reference=reference))
    return cases


def _cast_wrap(a, dtype):
    """``a`` cast to ``dtype`` with C wraparound (hostile on purpose)."""
    with np.errstate(all="ignore"):
        return a.astype(dtype)


# -- the runner's own checks: each must be reported as a failure ----------------------

def _segfault():
    import ctypes

    return ctypes.string_at(0)


def _abort():
    os.abort()


def _hang():
    import time

    while True:
        time.sleep(0.05)


def _runaway():
    return np.ones(1 << 34)  # 128 GiB


def _keyerror():
    return {}["missing"]


def _mutate(a):
    a[0] = 99.0


SELF_TEST = {
    "segfault": ("crash", _segfault),
    "abort": ("crash", _abort),
    "hang": ("hang", _hang),
    "runaway allocation": ("memory", _runaway),
    "unexpected exception": ("unexpected", _keyerror),
    "argument mutated": ("mutated", _mutate),
}


def _self_test_cases():
    cases = []
    for label, (_, fn) in SELF_TEST.items():
        def make(label=label):
            return ((np.zeros(3),) if label == "argument mutated" else ()), {}

        cases.append(Case("selftest", label, make, fn))
    cases.append(Case("selftest", "clean refusal", lambda: ((), {}), _refuse))
    return cases


def _refuse():
    raise ValueError("refused")


_CACHE = {}


def select(selection, random_count=0, seed=0):
    """The list of cases a run indexes: ``"fixed"`` (the fixed corpus followed by
    ``random_count`` random cases) or ``"selftest"``."""
    key = (selection, random_count, seed)
    if key not in _CACHE:
        if selection == "selftest":
            _CACHE[key] = _self_test_cases()
        elif selection == "fixed":
            _CACHE[key] = fixed_cases() + random_cases(random_count, seed)
        else:
            raise ValueError(f"unknown selection {selection!r}")
    return _CACHE[key]
