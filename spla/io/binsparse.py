"""binsparse files: the cross-library binary sparse format (specification v0.1).

A binsparse file is a JSON *descriptor* (format, shape, number of stored values,
the data type of every binary array) and the named binary arrays of that format,
in a *container*: an HDF5 group (``h5py``, ``pip install "spla[hdf5]"``), an NPZ
archive (NumPy) or a Zarr group (``zarr``). The descriptor sits under the
``"binsparse"`` key (an HDF5 or Zarr attribute, an NPZ entry holding the JSON
text), as the ``binsparse`` reference package writes it.

Formats
    ``CSR``, ``CSC`` (``pointers_to_1``, ``indices_1``, ``values``), ``COO`` =
    ``COOR`` and ``COOC`` (``indices_0``, ``indices_1``, ``values``), ``DCSR``,
    ``DCSC`` (read; written on request), ``CVEC``/``DVEC`` (1-D), ``DMAT`` =
    ``DMATR`` and ``DMATC`` (dense), custom level descriptors equal to one of
    these, n-D COO as a custom format of one sparse level of rank n (``coo_array``
    of 3 or more dimensions), and ``DIA``: an spla extension outside binsparse
    v0.1 (``offsets`` and the row-aligned diagonals of ``banded_array`` in
    ``values``, one row of ``shape[0]`` per diagonal) that other readers refuse;
    write a banded array with ``format="CSR"`` for them.
Types
    ``int8`` ... ``uint64``, ``float32``, ``float64``, ``bint8`` (bool),
    ``complex[float32]``/``complex[float64]``, ``iso[...]`` (one value for all),
    the ``structure`` key (``symmetric_lower`` and friends, expanded on reading)
    and ``fill`` with a zero ``fill_value``.

Everything read is validated before an spla array is built from it: a file that
is truncated, declares a shape or a count its arrays do not have, holds an index
out of range or names an unknown format or data type raises ``ValueError`` naming
the problem.
"""

import json
import os
import re
import zipfile

import numpy as np

__all__ = ["binsparse_read", "binsparse_write", "from_binsparse", "binsparse_arrays"]

#: The version written (semantic versioning, as the reference package checks it).
VERSION = "0.1.0"
_HEADER = "binsparse"

_TYPES = {
    "int8": np.dtype(np.int8), "int16": np.dtype(np.int16), "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64), "uint8": np.dtype(np.uint8), "uint16": np.dtype(np.uint16),
    "uint32": np.dtype(np.uint32), "uint64": np.dtype(np.uint64),
    "float32": np.dtype(np.float32), "float64": np.dtype(np.float64),
    "bint8": np.dtype(np.bool_),
}
_NAMES = {dt: name for name, dt in _TYPES.items()}

#: Arrays of each predefined format (the ones ``values`` aside).
_BUFFERS = {
    "CSR": ("pointers_to_1", "indices_1"), "CSC": ("pointers_to_1", "indices_1"),
    "DCSR": ("indices_0", "pointers_to_1", "indices_1"),
    "DCSC": ("indices_0", "pointers_to_1", "indices_1"),
    "COOR": ("indices_0", "indices_1"), "COOC": ("indices_0", "indices_1"),
    "CVEC": ("indices_0",), "DVEC": (), "DMATR": (), "DMATC": (), "DIA": ("offsets",),
}
_ALIASES = {"COO": "COOR", "DMAT": "DMATR", "VEC": "CVEC"}
_RANK = {"CVEC": 1, "DVEC": 1}

_STRUCTURES = ("symmetric_lower", "symmetric_upper", "hermitian_lower", "hermitian_upper",
               "skew_symmetric_lower", "skew_symmetric_upper")


def _known_formats():
    return ", ".join(sorted(set(_BUFFERS) | set(_ALIASES)))


# -- custom level descriptors equal to a predefined format ------------------------------

def _level(desc, rank, child):
    return {"level_desc": desc, "rank": rank, "level": child}


_ELEMENT = {"level_desc": "element"}
_CUSTOM = {
    "CSR": (_level("dense", 1, _level("sparse", 1, _ELEMENT)), None),
    "CSC": (_level("dense", 1, _level("sparse", 1, _ELEMENT)), (1, 0)),
    "DCSR": (_level("sparse", 1, _level("sparse", 1, _ELEMENT)), None),
    "DCSC": (_level("sparse", 1, _level("sparse", 1, _ELEMENT)), (1, 0)),
    "COOR": (_level("sparse", 2, _ELEMENT), None),
    "COOC": (_level("sparse", 2, _ELEMENT), (1, 0)),
    "DMATR": (_level("dense", 1, _level("dense", 1, _ELEMENT)), None),
    "DMATC": (_level("dense", 1, _level("dense", 1, _ELEMENT)), (1, 0)),
    "DVEC": (_level("dense", 1, _ELEMENT), None),
    "CVEC": (_level("sparse", 1, _ELEMENT), None),
}


def _normalise_level(level):
    """A custom level tree in the reference package's spelling (``level_desc``, child in
    ``level``); the specification's draft spelling (``level``, child in ``subformat``)
    is read too."""
    if not isinstance(level, dict):
        raise ValueError(f"binsparse: a custom level must be an object, got {level!r}")
    if "level_desc" in level:
        desc, child = level["level_desc"], level.get("level")
    else:
        desc, child = level.get("level"), level.get("subformat")
    if desc == "element":
        return dict(_ELEMENT)
    if desc not in ("dense", "sparse"):
        raise ValueError(f"binsparse: unknown level {desc!r} in a custom format "
                         "(spla reads element, dense and sparse levels)")
    rank = level.get("rank")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise ValueError(f"binsparse: a {desc} level needs an integer rank >= 1, got {rank!r}")
    return _level(desc, rank, _normalise_level(child))


def _custom_format(header):
    """The predefined format equal to a custom level descriptor."""
    if isinstance(header.get("format"), dict):  # the specification's draft spelling
        root = header["format"]
        transpose = root.get("swizzle", header.get("swizzle"))
    else:
        custom = header.get("custom")
        if not isinstance(custom, dict) or "level" not in custom:
            raise ValueError("binsparse: a custom format needs a 'custom' object with a "
                             "'level'")
        root, transpose = custom["level"], custom.get("transpose")
    level = _normalise_level(root)
    try:
        transpose = None if transpose is None else tuple(int(t) for t in transpose)
    except (TypeError, ValueError):
        raise ValueError(f"binsparse: a transpose must list dimensions, got {transpose!r}") \
            from None
    if transpose in ((0, 1), (0,)):
        transpose = None
    for name, (tree, perm) in _CUSTOM.items():
        if tree == level and perm == transpose:
            return name
    if (transpose is None and level["level_desc"] == "sparse" and level["level"] == _ELEMENT
            and level["rank"] > 2):
        return "COO%d" % level["rank"]  # n-D coordinates: spla's n-D coo_array
    raise ValueError(f"binsparse: the custom format {json.dumps(level)} (transpose "
                     f"{transpose}) is none that spla reads (those equal to "
                     f"{', '.join(_CUSTOM)})")


# -- data types --------------------------------------------------------------------------

def _type_name(arr, name):
    dt = np.dtype(arr.dtype)
    if dt.kind == "c":
        if dt.itemsize not in (8, 16):
            raise ValueError(f"binsparse: {name} of dtype {dt} has no binsparse type")
        return f"complex[{_NAMES[np.dtype(f'float{dt.itemsize * 4}')]}]"
    try:
        return _NAMES[dt.newbyteorder("=")]
    except KeyError:
        raise ValueError(
            f"binsparse: {name} of dtype {dt} has no binsparse v0.1 type (it has "
            f"{', '.join(_TYPES)}, complex[float32], complex[float64]); convert first, "
            "e.g. A.astype(numpy.float32)") from None


def _decode(raw, type_name, name, count=None):
    """The 1-D array ``raw`` read as binsparse type ``type_name``."""
    if not isinstance(type_name, str):
        raise ValueError(f"binsparse: the data type of {name!r} must be a string, "
                         f"got {type_name!r}")
    iso = re.fullmatch(r"iso\[(.*)\]", type_name)
    if iso:
        value = _decode(raw, iso.group(1), name)
        if value.size != 1:
            raise ValueError(f"binsparse: the iso buffer {name!r} must hold one value, "
                             f"holds {value.size}")
        if count is None:
            raise ValueError(f"binsparse: buffer {name!r} may not be iso")
        return np.full(count, value[0], dtype=value.dtype)
    cplx = re.fullmatch(r"complex\[(.*)\]", type_name)
    if cplx:
        arr = np.asarray(raw)
        if arr.dtype.kind == "c":  # in memory (the protocol): complex values as they are
            want = np.dtype(np.complex64 if cplx.group(1) == "float32" else np.complex128)
            if cplx.group(1) not in ("float32", "float64"):
                raise ValueError(f"binsparse: complex[{cplx.group(1)}] of {name!r}: complex "
                                 "values need float32 or float64 parts")
            return _check_count(arr.reshape(-1).astype(want, copy=False), name, count)
        parts = _decode(raw, cplx.group(1), name)
        if parts.dtype.kind != "f":
            raise ValueError(f"binsparse: complex[{cplx.group(1)}] of {name!r}: complex "
                             "values need float32 or float64 parts")
        if parts.size % 2:
            raise ValueError(f"binsparse: complex buffer {name!r} has an odd number "
                             f"({parts.size}) of parts")
        out = np.ascontiguousarray(parts).view(np.complex64 if parts.dtype.itemsize == 4
                                               else np.complex128)
        return _check_count(out, name, count)
    try:
        dt = _TYPES[type_name]
    except KeyError:
        raise ValueError(f"binsparse: unknown data type {type_name!r} of buffer {name!r} "
                         f"(known: {', '.join(_TYPES)}, complex[...], iso[...])") from None
    arr = np.asarray(raw)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"binsparse: buffer {name!r} holds {arr.dtype}, not numbers")
    if dt.kind == "b":
        out = arr != 0
    elif arr.dtype.newbyteorder("=") == dt:
        out = np.ascontiguousarray(arr, dtype=dt)
    elif dt.kind in "iu" and arr.dtype.kind in "iub":
        if arr.size and (int(arr.min()) < np.iinfo(dt).min or int(arr.max()) > np.iinfo(dt).max):
            raise ValueError(f"binsparse: buffer {name!r} holds values outside {type_name}")
        out = arr.astype(dt)
    elif np.can_cast(arr.dtype, dt, "same_kind"):
        out = arr.astype(dt)
    else:
        raise ValueError(f"binsparse: buffer {name!r} is stored as {arr.dtype} but "
                         f"declared {type_name}")
    return _check_count(out, name, count)


def _check_count(arr, name, count):
    if count is not None and arr.size != count:
        raise ValueError(f"binsparse: buffer {name!r} has {arr.size} elements, the descriptor "
                         f"declares {count} (truncated or inconsistent file)")
    return arr


# -- from spla (and SciPy, NumPy) to binsparse arrays ------------------------------------

def _as_host(a):
    if type(a).__module__.split(".")[0] == "cupy":
        return a.get()
    return a


def _export(A, format=None, host=True):
    """``(header, arrays)``: the binsparse descriptor (without ``data_types``) and the
    named arrays of ``A`` in ``format`` (by default the one matching ``A``'s)."""
    from .._base import SparseArray, _is_scipy_sparse
    from .._formats import registry

    if format is not None:
        if not isinstance(format, str):
            raise TypeError(f"format must be a string, got {type(format).__name__}")
        fmt = _ALIASES.get(format.upper(), format.upper())
        if fmt not in _BUFFERS:
            raise ValueError(f"binsparse: unknown format {format!r} (known: {_known_formats()})")
    else:
        fmt = None
    if _is_scipy_sparse(A):
        A = registry.from_foreign(A)
    if not isinstance(A, SparseArray):
        if type(A).__module__.split(".")[0] == "cupy":
            A = A.get()
        dense = np.asarray(A)
        if dense.dtype == object:
            raise TypeError(f"cannot write a {type(A).__name__} as binsparse")
        if dense.ndim not in (1, 2):
            raise ValueError(f"binsparse: dense arrays must be 1-D or 2-D, got {dense.ndim}-D")
        if fmt is None or fmt in ("DVEC", "DMATR", "DMATC"):
            fmt = fmt or ("DVEC" if dense.ndim == 1 else "DMATR")
            return _dense_arrays(dense, fmt)
        from .._formats.coo import coo_array
        from .._formats.compressed import csr_array

        A = coo_array(dense) if dense.ndim == 1 else csr_array(dense)
    if A.device != "cpu" and host:
        A = A.to_device("cpu")
    A = A._snap()  # one reading of the storage (another thread may write the array)
    if A.ndim == 1:
        fmt = fmt or "CVEC"
        if fmt == "DVEC":
            return _dense_arrays(_as_host(A.toarray()), fmt)
        if fmt != "CVEC":
            raise ValueError(f"binsparse: a 1-D array is written as CVEC or DVEC, not {fmt}")
        c = A._deduped()
        return _header("CVEC", A.shape, c.nnz), {"indices_0": c.coords[0], "values": c.data}
    if A.ndim != 2:
        if fmt not in (None, "COOR"):
            raise ValueError(f"binsparse: a {A.ndim}-D array is written as COO (a custom "
                             f"format of one sparse level of rank {A.ndim}), not {fmt}")
        C = A.tocoo()._deduped()  # canonical: sorted in C order, as the level requires
        header = _header("custom", A.shape, C.nnz)
        header["custom"] = {"level": _level("sparse", A.ndim, dict(_ELEMENT))}
        arrays = {f"indices_{k}": c for k, c in enumerate(C.coords)}
        arrays["values"] = C.data
        return header, arrays
    if fmt is None:
        fmt = {"csr": "CSR", "csc": "CSC", "coo": "COOR", "banded": "DIA"}.get(A.format, "CSR")
    if fmt in ("DMATR", "DMATC", "DVEC"):
        if fmt == "DVEC":
            raise ValueError("binsparse: DVEC is for 1-D arrays")
        return _dense_arrays(_as_host(A.toarray()), fmt)
    if fmt == "CVEC":
        raise ValueError("binsparse: CVEC is for 1-D arrays")
    if fmt == "DIA":
        if A.format != "banded":
            A = registry.to_format(A, "banded")
        header = _header("DIA", A.shape, int(A.data.size))
        return header, {"offsets": A.offsets, "values": A.data.reshape(-1)}
    if fmt == "COOR" and A.format == "coo":
        C = A._deduped()  # canonical COO is sorted in C order: binsparse's COOR as it is
        return _header(fmt, A.shape, C.nnz), {"indices_0": C.coords[0],
                                              "indices_1": C.coords[1], "values": C.data}
    if fmt in ("COOR", "COOC"):
        C = registry.to_format(A, "csr" if fmt == "COOR" else "csc")._deduped()
        major = np.repeat(np.arange(C.indptr.size - 1, dtype=C.indices.dtype),
                          np.diff(_as_host(C.indptr)))
        if A.device != "cpu":
            import cupy

            major = cupy.asarray(major)
        return _header(fmt, A.shape, C.nnz), {"indices_0": major, "indices_1": C.indices,
                                              "values": C.data}
    C = registry.to_format(A, "csr" if fmt in ("CSR", "DCSR") else "csc")._deduped()
    if fmt in ("CSR", "CSC"):
        return _header(fmt, A.shape, C.nnz), {"pointers_to_1": C.indptr,
                                              "indices_1": C.indices, "values": C.data}
    indptr = _as_host(C.indptr)
    nonempty = np.flatnonzero(np.diff(indptr)).astype(indptr.dtype)
    pointers = np.concatenate([indptr[:1], indptr[nonempty + 1]]) if indptr.size else indptr
    return _header(fmt, A.shape, C.nnz), {"indices_0": nonempty, "pointers_to_1": pointers,
                                          "indices_1": _as_host(C.indices),
                                          "values": _as_host(C.data)}


def _dense_arrays(dense, fmt):
    if fmt == "DVEC" and dense.ndim != 1:
        raise ValueError("binsparse: DVEC is for 1-D arrays")
    if fmt != "DVEC" and dense.ndim != 2:
        raise ValueError(f"binsparse: {fmt} is for 2-D arrays")
    values = np.ravel(dense, order="F" if fmt == "DMATC" else "C")
    return _header(fmt, dense.shape, values.size), {"values": values}


def _header(fmt, shape, nnz):
    return {"version": VERSION, "format": fmt, "shape": [int(s) for s in shape],
            "number_of_stored_values": int(nnz)}


def _descriptor(header, arrays):
    body = dict(header)
    body["data_types"] = {k: _type_name(v, k) for k, v in arrays.items()}
    from .. import __version__

    return {_HEADER: body, "original_source": f"spla, version {__version__}"}


def binsparse_arrays(A, format=None):
    """The binsparse descriptor and named arrays of ``A`` (the ``__binsparse__``
    protocol's two halves), without copies where ``A``'s storage is already binsparse's
    (canonical CSR, CSC, COO; the arrays stay on ``A``'s device).

    Parameters
    ----------
    A : spla array, SciPy sparse array or 1-D/2-D NumPy array
    format : str, optional
        A binsparse format name (``"CSR"``, ``"CSC"``, ``"COO"``, ``"COOC"``,
        ``"DCSR"``, ``"DCSC"``, ``"CVEC"``, ``"DVEC"``, ``"DMAT"``, ``"DMATC"``,
        ``"DIA"``); by default the one matching ``A``'s format.

    Returns
    -------
    descriptor : dict
        ``{"binsparse": {...}, "original_source": ...}`` as JSON would hold it.
    arrays : dict of str to array

    Examples
    --------
    >>> import numpy as np, spla
    >>> desc, arrays = spla.io.binsparse_arrays(spla.csr_array(np.eye(2)))
    >>> desc["binsparse"]["format"], sorted(arrays)
    ('CSR', ['indices_1', 'pointers_to_1', 'values'])
    """
    header, arrays = _export(A, format, host=False)
    return _descriptor(header, arrays), arrays


# -- from binsparse arrays to spla --------------------------------------------------------

def _shape(header, rank):
    shape = header.get("shape")
    if not isinstance(shape, (list, tuple)) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in shape):
        raise ValueError(f"binsparse: 'shape' must be a list of integers, got {shape!r}")
    if len(shape) != rank:
        raise ValueError(f"binsparse: format {header.get('format')!r} needs a {rank}-D shape, "
                         f"got {shape!r}")
    if any(s < 0 or s > np.iinfo(np.int64).max for s in shape):
        raise ValueError(f"binsparse: shape {shape!r} has a dimension out of range")
    return tuple(shape)


def _check_index(arr, name, bound, what):
    if arr.dtype.kind not in "iu":
        raise ValueError(f"binsparse: {name} must hold integers, got {arr.dtype}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0:
            raise ValueError(f"binsparse: {name} holds the negative index {lo}")
        if hi >= bound:
            raise ValueError(f"binsparse: {name} holds index {hi}, out of range for "
                             f"{bound} {what}")
    return arr.astype(np.int32 if bound <= np.iinfo(np.int32).max else np.int64, copy=False)


def _check_pointers(ptr, major, nnz, what):
    if ptr.dtype.kind not in "iu":
        raise ValueError(f"binsparse: pointers_to_1 must hold integers, got {ptr.dtype}")
    if ptr.size != major + 1:
        raise ValueError(f"binsparse: pointers_to_1 has {ptr.size} elements, expected "
                         f"{major + 1} ({major} {what} + 1)")
    if int(ptr[0]) != 0:
        raise ValueError(f"binsparse: pointers_to_1 must start at 0, starts at {int(ptr[0])}")
    if int(ptr[-1]) != nnz:
        raise ValueError(f"binsparse: pointers_to_1 ends at {int(ptr[-1])}, but the file "
                         f"declares {nnz} stored values")
    if ptr.size > 1 and np.any(ptr[1:] < ptr[:-1]):
        raise ValueError("binsparse: pointers_to_1 decreases")
    return ptr


def _read_header(descriptor):
    if not isinstance(descriptor, dict):
        raise ValueError("binsparse: the descriptor must be a JSON object")
    header = descriptor.get(_HEADER, descriptor if "format" in descriptor else None)
    if not isinstance(header, dict):
        raise ValueError("binsparse: the descriptor has no 'binsparse' object")
    version = header.get("version", VERSION)
    if not isinstance(version, str) or not re.fullmatch(r"0\.1(\.\d+)?([-+].*)?", version):
        raise ValueError(f"binsparse: unsupported version {version!r} (spla reads 0.1)")
    fmt = header.get("format")
    if fmt == "custom" or isinstance(fmt, dict):
        fmt = _custom_format(header)
    nd = isinstance(fmt, str) and re.fullmatch(r"COO\d+", fmt) is not None
    if not nd and (not isinstance(fmt, str) or _ALIASES.get(fmt, fmt) not in _BUFFERS):
        raise ValueError(f"binsparse: unknown format {fmt!r} (spla reads {_known_formats()} "
                         "and custom formats equal to them)")
    fmt = _ALIASES.get(fmt, fmt)
    nnz = header.get("number_of_stored_values")
    if not isinstance(nnz, int) or isinstance(nnz, bool) or nnz < 0:
        raise ValueError(f"binsparse: 'number_of_stored_values' must be a non-negative "
                         f"integer, got {nnz!r}")
    types = header.get("data_types")
    if not isinstance(types, dict):
        raise ValueError("binsparse: the descriptor has no 'data_types' object")
    buffers = tuple(f"indices_{k}" for k in range(int(fmt[3:]))) if nd else _BUFFERS[fmt]
    for name in buffers + ("values",):
        if name not in types:
            raise ValueError(f"binsparse: format {fmt} needs buffer {name!r}, which "
                             "'data_types' does not declare")
    structure = header.get("structure")
    if structure is not None and structure not in _STRUCTURES:
        raise ValueError(f"binsparse: unknown structure {structure!r} "
                         f"(known: {', '.join(_STRUCTURES)})")
    return header, fmt, nnz, types, structure


def _build(descriptor, get):
    """The spla array (NumPy array for dense formats) of a descriptor whose buffers
    ``get(name)`` returns, validated before any array is built."""
    from .._formats.banded import banded_array
    from .._formats.compressed import csc_array, csr_array
    from .._formats.coo import coo_array

    header, fmt, nnz, types, structure = _read_header(descriptor)
    nd = re.fullmatch(r"COO\d+", fmt) is not None
    shape = _shape(header, int(fmt[3:]) if nd else _RANK.get(fmt, 2))
    if nd:
        if structure is not None:
            raise ValueError("binsparse: 'structure' is for matrices")
        values = _decode(get("values"), types["values"], "values", nnz)
        coords = tuple(_check_index(_decode(get(f"indices_{k}"), types[f"indices_{k}"],
                                            f"indices_{k}", nnz),
                                    f"indices_{k}", shape[k], f"entries along axis {k}")
                       for k in range(len(shape)))
        A = coo_array((values, coords), shape=shape)
        A.sum_duplicates()
        return A
    if fmt == "DIA":
        offsets = _decode(get("offsets"), types["offsets"], "offsets")
        if offsets.dtype.kind not in "iu":
            raise ValueError(f"binsparse: offsets must hold integers, got {offsets.dtype}")
        m, n = shape
        if offsets.size and (int(offsets.min()) <= -m or int(offsets.max()) >= n):
            raise ValueError(f"binsparse: DIA offsets must lie in ({-m}, {n}) for shape "
                             f"{shape}, got {int(offsets.min())} .. {int(offsets.max())}")
        if offsets.size > 1 and np.any(np.diff(offsets.astype(np.int64)) <= 0):
            raise ValueError("binsparse: DIA offsets must be sorted and unique")
        if nnz != offsets.size * m:
            raise ValueError(f"binsparse: a DIA file of {offsets.size} diagonals and {m} rows "
                             f"stores {offsets.size * m} values, the descriptor declares {nnz}")
        values = _decode(get("values"), types["values"], "values", nnz)
        A = banded_array((values.reshape(offsets.size, m), offsets.astype(np.int64)),
                         shape=shape)
        return _with_structure(A, structure)
    fill = header.get("fill")
    if fill is True:
        fv = _decode(get("fill_value"), types.get("fill_value", "float64"), "fill_value")
        if fv.size != 1 or fv.reshape(-1)[0] != 0:
            raise ValueError("binsparse: spla arrays have a zero fill value; the file's "
                             f"fill_value is {fv.reshape(-1)[:1].tolist()}")
    elif fill not in (None, False):
        raise ValueError(f"binsparse: 'fill' must be a boolean, got {fill!r}")
    values = _decode(get("values"), types["values"], "values", nnz)
    if fmt in ("DVEC", "DMATR", "DMATC"):
        size = int(np.prod(shape, dtype=object))
        if nnz != size:
            raise ValueError(f"binsparse: a dense {fmt} of shape {shape} stores {size} values, "
                             f"the descriptor declares {nnz}")
        if structure is not None:
            raise ValueError("binsparse: 'structure' is for sparse matrix formats")
        return values.reshape(shape, order="F" if fmt == "DMATC" else "C")
    if fmt == "CVEC":
        idx = _check_index(_decode(get("indices_0"), types["indices_0"], "indices_0", nnz),
                           "indices_0", shape[0], "elements")
        if structure is not None:
            raise ValueError("binsparse: 'structure' is for matrices")
        return coo_array((values, (idx,)), shape=shape)
    m, n = shape
    rows_major = fmt in ("CSR", "DCSR", "COOR")
    major, minor = (m, n) if rows_major else (n, m)
    majors, minors = ("rows", "columns") if rows_major else ("columns", "rows")
    if fmt in ("CSR", "CSC"):
        ptr = _decode(get("pointers_to_1"), types["pointers_to_1"], "pointers_to_1")
        ptr = _check_pointers(ptr, major, nnz, majors)
        ind = _check_index(_decode(get("indices_1"), types["indices_1"], "indices_1", nnz),
                           "indices_1", minor, minors)
        idx = np.int32 if max(major, minor, nnz) <= np.iinfo(np.int32).max else np.int64
        cls = csr_array if fmt == "CSR" else csc_array
        # validated above (pointers from 0 to nnz, never decreasing; indices in range):
        # the constructor's O(nnz) checks would only repeat that
        A = cls((values, ind.astype(idx, copy=False), ptr.astype(idx, copy=False)),
                shape=shape, check=False)
        return _with_structure(A, structure)
    if fmt in ("DCSR", "DCSC"):
        outer = _decode(get("indices_0"), types["indices_0"], "indices_0")
        outer = _check_index(outer, "indices_0", major, majors)
        ptr = _decode(get("pointers_to_1"), types["pointers_to_1"], "pointers_to_1")
        ptr = _check_pointers(ptr, outer.size, nnz, f"stored {majors}")
        if outer.size > 1 and np.any(np.diff(outer.astype(np.int64)) <= 0):
            raise ValueError(f"binsparse: indices_0 of {fmt} must be sorted and unique")
        ind = _check_index(_decode(get("indices_1"), types["indices_1"], "indices_1", nnz),
                           "indices_1", minor, minors)
        full = np.zeros(major + 1, dtype=np.int64)
        full[outer.astype(np.int64) + 1] = np.diff(ptr.astype(np.int64))
        np.cumsum(full, out=full)
        idx = np.int32 if max(major, minor, nnz) <= np.iinfo(np.int32).max else np.int64
        cls = csr_array if fmt == "DCSR" else csc_array
        A = cls((values, ind.astype(idx, copy=False), full.astype(idx)), shape=shape,
                check=False)
        return _with_structure(A, structure)
    # COOR / COOC
    first = _check_index(_decode(get("indices_0"), types["indices_0"], "indices_0", nnz),
                         "indices_0", major, majors)
    second = _check_index(_decode(get("indices_1"), types["indices_1"], "indices_1", nnz),
                          "indices_1", minor, minors)
    row, col = (first, second) if rows_major else (second, first)
    A = coo_array((values, (row, col)), shape=shape)
    r, c = row.astype(np.int64), col.astype(np.int64)
    if r.size < 2 or bool(np.all((r[1:] > r[:-1]) | ((r[1:] == r[:-1]) & (c[1:] > c[:-1])))):
        A.has_canonical_format = True  # COOR as the specification orders it
    else:
        A.sum_duplicates()  # COOC (or an unordered file): spla's canonical C order
    return _with_structure(A, structure)


def _with_structure(A, structure):
    """Expand a stored triangle to the whole matrix (the ``structure`` key)."""
    if structure is None:
        return A
    m, n = A.shape
    if m != n:
        raise ValueError(f"binsparse: structure {structure!r} needs a square matrix, "
                         f"got shape {A.shape}")
    fmt = A.format
    coo = A.tocoo()._snap()
    row, col, val = (np.asarray(coo.coords[0]), np.asarray(coo.coords[1]),
                     np.asarray(coo.data))
    lower = structure.endswith("_lower")
    bad = (row < col) if lower else (row > col)
    if np.any(bad):
        k = int(np.argmax(bad))
        raise ValueError(f"binsparse: structure {structure!r} stores one triangle, but entry "
                         f"({int(row[k])}, {int(col[k])}) lies in the other")
    off = row != col
    mirrored = val[off]
    if structure.startswith("hermitian"):
        if val.dtype.kind != "c":
            raise ValueError("binsparse: a hermitian structure needs complex values")
        mirrored = np.conj(mirrored)
    elif structure.startswith("skew"):
        if val.dtype.kind == "b" or val.dtype.kind == "u":
            raise ValueError(f"binsparse: skew-symmetric values of dtype {val.dtype} cannot "
                             "be negated")
        mirrored = -mirrored
    from .._formats import registry
    from .._formats.coo import coo_array

    full = coo_array((np.concatenate([val, mirrored]),
                      (np.concatenate([row, col[off]]), np.concatenate([col, row[off]]))),
                     shape=A.shape)
    return full if fmt == "coo" else registry.to_format(full, fmt)


def from_binsparse(x, /, *, descriptor=None, device=None, copy=None):
    """An spla array from an object with the ``__binsparse__`` protocol, or from a
    ``(descriptor, arrays)`` pair.

    Parameters
    ----------
    x : object with ``__binsparse__`` and ``__binsparse_descriptor__``, or tuple
        The source; a pair ``(descriptor, arrays)`` is read directly.
    descriptor : dict, optional
        The binsparse descriptor of the format wanted (its ``"format"`` is what
        counts); by default the source's format.
    device : str, optional
        ``"cpu"`` or ``"cuda"``; by default the device of the source's arrays.
    copy : bool, optional
        ``True`` copies; ``False`` raises ``ValueError`` when the arrays cannot be
        shared (the source is not canonical, or a conversion is asked for).

    Examples
    --------
    >>> import numpy as np, spla
    >>> A = spla.csr_array(np.array([[0.0, 2.0], [3.0, 0.0]]))
    >>> spla.from_binsparse(A).toarray()
    array([[0., 2.],
           [3., 0.]])
    """
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], dict):
        desc, arrays = x
    else:
        try:
            desc = x.__binsparse_descriptor__()
            arrays = x.__binsparse__()
        except AttributeError:
            raise TypeError(f"{type(x).__name__} has no __binsparse__ protocol") from None
    if not isinstance(arrays, dict):
        raise ValueError("binsparse: __binsparse__() must return a dict of arrays")
    on_gpu = any(type(a).__module__.split(".")[0] == "cupy" for a in arrays.values())

    def get(name):
        try:
            a = arrays[name]
        except KeyError:
            raise ValueError(f"binsparse: buffer {name!r} is missing") from None
        return _as_host(a) if on_gpu else np.from_dlpack(a) if hasattr(a, "__dlpack__") \
            and not isinstance(a, np.ndarray) else a

    out = _build(desc, get)
    shared = _shares(out, arrays)
    if descriptor is not None:
        want = _read_format(descriptor)
        out = _convert(out, want)
        shared = shared and _shares(out, arrays)
    if copy is False and not shared and any(np.asarray(_as_host(a)).size
                                            for a in arrays.values()):
        raise ValueError("from_binsparse: copy=False, but the arrays cannot be used as they "
                         "are (a conversion or a canonical copy is needed)")
    if copy is True and shared:
        out = out.copy()
    target = device if device is not None else ("cuda" if on_gpu else None)
    if target is not None and hasattr(out, "to_device"):
        out = out.to_device(target)
    return out


def _shares(out, arrays):
    mine = [getattr(out, k, None) for k in ("data", "indices", "indptr")]
    mine += list(getattr(out, "coords", ()))
    theirs = [a for a in arrays.values() if isinstance(a, np.ndarray)]
    return any(isinstance(a, np.ndarray) and any(np.shares_memory(a, b) for b in theirs)
               for a in mine)


def _read_format(descriptor):
    header = descriptor.get(_HEADER, descriptor) if isinstance(descriptor, dict) else None
    if not isinstance(header, dict) or "format" not in header:
        raise TypeError("descriptor must be a binsparse descriptor with a 'format'")
    fmt = header["format"]
    if fmt == "custom" or isinstance(fmt, dict):
        fmt = _custom_format(header)
    fmt = _ALIASES.get(fmt, fmt) if isinstance(fmt, str) else fmt
    if fmt not in _BUFFERS:
        raise TypeError(f"binsparse: unsupported format {fmt!r} (spla converts to "
                        f"{_known_formats()})")
    return fmt


def _convert(A, fmt):
    from .._formats import registry
    from .._formats.coo import coo_array

    if fmt in ("DVEC", "DMATR", "DMATC"):
        return A if isinstance(A, np.ndarray) else A.toarray()
    if isinstance(A, np.ndarray):
        from .._formats.compressed import csr_array

        A = coo_array(A) if A.ndim == 1 else csr_array(A)
    name = {"CSR": "csr", "DCSR": "csr", "CSC": "csc", "DCSC": "csc", "COOR": "coo",
            "COOC": "coo", "CVEC": "coo", "DIA": "banded"}[fmt]
    return A if A.format == name else registry.to_format(A, name)


# -- containers --------------------------------------------------------------------------

def _container_kind(target):
    if isinstance(target, (str, os.PathLike)):
        suffix = os.path.splitext(os.fspath(target).rstrip("/\\"))[1].lower()
        kinds = {".h5": "hdf5", ".hdf5": "hdf5", ".npz": "npz",
                 ".zarr": "zarr"}
        if suffix not in kinds:
            raise ValueError(f"binsparse: cannot tell the container of {os.fspath(target)!r} "
                             "from its extension (.h5/.hdf5 for HDF5, .npz, .zarr)")
        return kinds[suffix]
    module = type(target).__module__.split(".")[0]
    if module == "h5py":
        return "hdf5-group"
    if module == "zarr":
        return "zarr-group"
    if hasattr(target, "write") or hasattr(target, "read"):
        return "npz"
    raise TypeError(f"binsparse: cannot read or write a {type(target).__name__}; give a path "
                    "(.h5, .npz, .zarr), an h5py or zarr group, or a binary file object")


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("binsparse HDF5 files need h5py: pip install 'spla[hdf5]'") from None
    return h5py


def _zarr():
    try:
        import zarr
    except ImportError:
        raise ImportError("binsparse Zarr groups need zarr: pip install zarr") from None
    return zarr


def binsparse_write(path_or_group, A, *, format=None, compression=None):
    """Write ``A`` to a binsparse file or group.

    Parameters
    ----------
    path_or_group : str, os.PathLike, h5py.Group, zarr.Group or binary file
        A path's extension picks the container: ``.h5``/``.hdf5`` (HDF5, needs
        ``h5py``), ``.npz`` (NumPy), ``.zarr`` (needs ``zarr``); a file object
        gets an NPZ archive. An h5py or Zarr group receives the arrays as its
        datasets and the descriptor as its ``binsparse`` attribute.
    A : spla array, SciPy sparse array, or 1-D/2-D NumPy array
        Sparse arrays are written canonical (sorted, duplicates summed);
        arrays on the GPU are copied to the host first.
    format : str, optional
        The binsparse format: CSR, CSC, COO (= COOR), COOC, DCSR, DCSC, CVEC,
        DVEC, DMAT (= DMATR), DMATC or DIA (spla's extension for banded
        arrays). By default the one matching ``A``: CSR for CSR (and N:M),
        CSC for CSC, COO for 2-D COO, CVEC for 1-D COO, DIA for banded, DMAT
        and DVEC for dense.
    compression : str, optional
        HDF5 dataset compression (``"gzip"``, ``"lzf"``); NPZ files are
        compressed when it is given.

    Examples
    --------
    >>> import io, numpy as np, spla
    >>> buf = io.BytesIO()
    >>> spla.io.binsparse_write(buf, spla.csr_array(np.array([[1.0, 0.0], [0.0, 2.0]])))
    >>> _ = buf.seek(0)
    >>> spla.io.binsparse_read(buf).toarray()
    array([[1., 0.],
           [0., 2.]])
    """
    header, arrays = _export(A, format)
    arrays = {k: np.ascontiguousarray(_as_host(v)) for k, v in arrays.items()}
    descriptor = _descriptor(header, arrays)
    for k, v in arrays.items():
        if v.dtype.kind == "b":
            arrays[k] = v.view(np.uint8)
        elif v.dtype.kind == "c":
            arrays[k] = v.view(np.float32 if v.dtype.itemsize == 8 else np.float64)
    text = json.dumps(descriptor, indent=2, sort_keys=True)
    kind = _container_kind(path_or_group)
    if kind in ("hdf5", "hdf5-group"):
        h5py = _h5py()

        def fill(group):
            for k, v in arrays.items():
                if k in group:
                    del group[k]
                group.create_dataset(k, data=v, compression=compression)
            group.attrs[_HEADER] = text

        if kind == "hdf5":
            with h5py.File(path_or_group, "w") as f:
                fill(f)
        else:
            fill(path_or_group)
    elif kind in ("zarr", "zarr-group"):
        group = (_zarr().open_group(os.fspath(path_or_group), mode="w") if kind == "zarr"
                 else path_or_group)
        for k, v in arrays.items():
            if k in group:
                del group[k]
            if hasattr(group, "create_array"):
                group.create_array(k, data=v)
            else:
                group.create_dataset(k, data=v)
        group.attrs[_HEADER] = descriptor  # the namespaced object, as the reference writes
    else:
        save = np.savez_compressed if compression else np.savez
        save(path_or_group, **{_HEADER: np.asarray(text)}, **arrays)


def binsparse_read(path_or_group):
    """Read a binsparse file or group into an spla array.

    Parameters
    ----------
    path_or_group : str, os.PathLike, h5py.Group, zarr.Group or binary file
        As in ``binsparse_write`` (the files of other binsparse writers too).

    Returns
    -------
    csr_array, csc_array, coo_array, banded_array or numpy.ndarray
        CSR and DCSR give ``csr_array``, CSC and DCSC ``csc_array``, COO/COOR/COOC
        and CVEC ``coo_array`` (1-D for CVEC), DIA ``banded_array``, DMAT and DVEC
        a NumPy array. Value and index dtypes are the file's (indices as int32
        when the shape allows, else int64).

    Raises
    ------
    ValueError
        A truncated or corrupt file, a shape or count that the arrays do not
        match, an index out of range, an unknown format, data type or structure.
    FileNotFoundError
        No file at the path.

    Examples
    --------
    >>> import io, numpy as np, spla
    >>> buf = io.BytesIO()
    >>> spla.io.binsparse_write(buf, spla.coo_array(np.array([[0, 7], [0, 0]])))
    >>> _ = buf.seek(0)
    >>> B = spla.io.binsparse_read(buf)
    >>> B.format, B.dtype, B.toarray().tolist()
    ('coo', dtype('int64'), [[0, 7], [0, 0]])
    """
    kind = _container_kind(path_or_group)
    if isinstance(path_or_group, (str, os.PathLike)) and not os.path.exists(path_or_group):
        raise FileNotFoundError(f"no binsparse file at {os.fspath(path_or_group)!r}")
    try:
        if kind in ("hdf5", "hdf5-group"):
            h5py = _h5py()
            if kind == "hdf5":
                try:
                    f = h5py.File(path_or_group, "r")
                except OSError as exc:
                    raise ValueError(f"binsparse: cannot read {os.fspath(path_or_group)!r} as "
                                     f"HDF5 (truncated or not an HDF5 file): {exc}") from None
                with f:
                    return _read_group(f, json.loads)
            return _read_group(path_or_group, json.loads)
        if kind in ("zarr", "zarr-group"):
            group = (_zarr().open_group(os.fspath(path_or_group), mode="r") if kind == "zarr"
                     else path_or_group)
            return _read_group(group, lambda v: v if isinstance(v, dict) else json.loads(v))
        try:
            archive = np.load(path_or_group, allow_pickle=False)
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise ValueError(f"binsparse: cannot read the NPZ archive (truncated or not an "
                             f"NPZ file): {exc}") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("binsparse: the file is a single NumPy array, not an NPZ archive")
        with archive:
            if _HEADER not in archive.files:
                raise ValueError("binsparse: the NPZ archive has no 'binsparse' entry")
            text = archive[_HEADER]
            descriptor = json.loads(str(text.item() if text.ndim == 0 else text))

            def get(name):
                if name not in archive.files or name == _HEADER:
                    raise ValueError(f"binsparse: the archive has no buffer {name!r}")
                return archive[name]

            return _build(descriptor, get)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"binsparse: truncated or corrupt file: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"binsparse: the descriptor is not valid JSON: {exc}") from None


def _read_group(group, parse):
    try:
        raw = group.attrs[_HEADER]
    except KeyError:
        raise ValueError("binsparse: the group has no 'binsparse' attribute") from None
    if isinstance(raw, bytes):
        raw = raw.decode()
    descriptor = parse(raw)
    if isinstance(descriptor, dict) and _HEADER not in descriptor and "format" in descriptor:
        descriptor = {_HEADER: descriptor}

    def get(name):
        if name not in group:
            raise ValueError(f"binsparse: the group has no buffer {name!r}")
        try:
            return np.asarray(group[name][...])
        except OSError as exc:
            raise ValueError(f"binsparse: cannot read buffer {name!r} (truncated file?): "
                             f"{exc}") from None

    return _build(descriptor, get)
