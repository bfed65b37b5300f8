"""The host side of spla_cuda's indexing reads: the C types of ``kernels/index.cu``'s
instantiations and the list of them to prebuild.

NumPy only (importable without CuPy), so that the list of the kernels
(``instantiations``, for ``python spla_cuda/_compile.py build``) can be written on
a machine without a GPU.
"""

import numpy as np

#: Index dtypes of the storage and of the results, as the kernels spell them.
INDEX_CTYPES = {np.dtype(np.int32): "int", np.dtype(np.int64): "long long"}
#: Values moved as bytes, by size (complex128 as two 8-byte words).
CARRIERS = {1: "unsigned char", 2: "unsigned short", 4: "unsigned int", 8: "unsigned long long",
            16: "idx_b16"}
#: Values summed by the point reads (duplicates of non-canonical storage), by dtype.
ARITH_CTYPES = {np.dtype(t): c for t, c in (
    (np.bool_, "bool"), (np.int8, "signed char"), (np.uint8, "unsigned char"),
    (np.int16, "short"), (np.uint16, "unsigned short"), (np.int32, "int"),
    (np.uint32, "unsigned int"), (np.int64, "long long"), (np.uint64, "unsigned long long"),
    (np.float32, "float"), (np.float64, "double"), (np.complex64, "complex<float>"),
    (np.complex128, "complex<double>"))}


def carrier(dtype):
    """The C type that moves a value of ``dtype`` as bytes."""
    return CARRIERS[np.dtype(dtype).itemsize]


def instantiations(index_types=("int", "long long")):
    """Every name expression of ``kernels/index.cu`` that ``spla_cuda.index`` can
    compile, in a fixed order: each storage and result index type, value size (the
    copies) and value type (the point reads).

    Examples
    --------
    >>> instantiations(["int"])[:3]
    ['idx_rows_count<int>', 'idx_select_count<int>', 'idx_rows_fill<int, int, unsigned char>']
    >>> len(instantiations())
    91
    """
    out = []
    carriers = list(CARRIERS.values())
    values = sorted(set(ARITH_CTYPES.values()) | set(carriers) - {"idx_b16"})
    for I in index_types:
        out += [f"idx_rows_count<{I}>", f"idx_select_count<{I}>"]
        for O in INDEX_CTYPES.values():
            for V in carriers:
                out += [f"idx_rows_fill<{I}, {O}, {V}>", f"idx_rows_fill_balanced<{I}, {O}, {V}>",
                        f"idx_select_fill<{I}, {O}, {V}>"]
        out += [f"idx_points<{I}, {V}>" for V in values]
    return out + ["idx_column_map<long long>"]
