"""Coordinate Matrix Market files read in byte ranges (the parser of ``spla.dask``).

``read_header`` reads the banner and size line; ``segments`` streams the entries
once in pieces cut at line ends and records the rows each piece touches;
``read_rows`` builds rows ``r0:r1`` as a ``csr_array`` from the pieces that may
hold them. Each piece is parsed by NumPy's C text reader.

The answers are ``spla.io.mmread``'s (SciPy's reader): coordinates must be
integers (``1.5`` or ``1.0`` raise "Invalid integer value"), indices are
1-based and checked against the size line, values of ``integer`` files are
truncated toward zero as SciPy reads them (``1.5`` -> 1, ``-2.7`` -> -2) and
stored as float64, ``pattern`` entries get 1.0, and symmetric, skew-symmetric
and Hermitian files are expanded to both triangles.
"""

import io
import os

import numpy as np

from .._formats.compressed import csr_array

FIELDS = ("real", "double", "integer", "complex", "pattern")
SYMMETRIES = ("general", "symmetric", "skew-symmetric", "hermitian")

_INT64_MAX = int(np.iinfo(np.int64).max)


def read_header(path):
    """``(field, symmetry, shape, nnz, offset)`` of a coordinate file, ``offset``
    being the byte where the entries start."""
    with open(path, "rb") as f:
        magic = f.read(2)
        if magic in (b"\x1f\x8b", b"BZ"):
            raise ValueError(
                f"{path}: compressed Matrix Market files cannot be read in byte ranges; "
                "decompress it first or use spla.io.mmread"
            )
        f.seek(0)
        banner = f.readline().decode("ascii", "replace").split()
        if len(banner) != 5 or banner[0].lower() != "%%matrixmarket" or banner[1].lower() != "matrix":
            raise ValueError(f"{path}: not a Matrix Market file (banner {' '.join(banner)!r})")
        layout, field, symmetry = (s.lower() for s in banner[2:])
        if layout != "coordinate":
            raise ValueError(
                f"{path}: only coordinate Matrix Market files are read in byte ranges, "
                f"this one is {layout!r}; use spla.io.mmread"
            )
        if field not in FIELDS or symmetry not in SYMMETRIES:
            raise ValueError(f"{path}: unknown field or symmetry {field!r} {symmetry!r}")
        while True:
            line = f.readline()
            if not line:
                raise ValueError(f"{path}: no size line")
            s = line.strip()
            if s and not s.startswith(b"%"):
                break
        size = s.split()
        if len(size) != 3:
            raise ValueError(f"{path}: bad size line {s!r}")
        try:
            m, n, nnz = (int(v) for v in size)
        except ValueError:
            raise ValueError(f"{path}: invalid integer value in the size line {s!r}") from None
        if min(m, n, nnz) < 0:
            raise ValueError(f"{path}: negative value in the size line {s!r}")
        if max(m, n, nnz) > _INT64_MAX:
            raise OverflowError(f"{path}: the size line {s!r} holds a value larger than "
                                f"the int64 maximum {_INT64_MAX}")
        return field, symmetry, (m, n), nnz, f.tell()


def _columns(field):
    dt = [("i", np.int64), ("j", np.int64)]
    if field == "complex":
        dt += [("re", np.float64), ("im", np.float64)]
    elif field != "pattern":
        dt += [("v", np.float64)]
    return np.dtype(dt)


def parse_entries(data, field, where="entries"):
    """Entries of ``data`` (whole lines of a coordinate file) as zero-based int64
    ``(i, j)`` and the values (float64, complex128 for complex files).

    Raises ``ValueError`` naming ``where`` for a coordinate that is not an integer,
    a line with the wrong number of fields or a value that is not a number.
    """
    dt = _columns(field)
    if not data.strip():
        e = np.empty(0, dtype=dt)
    else:
        try:
            e = np.loadtxt(io.BytesIO(data), dtype=dt, comments="%", ndmin=1)
        except ValueError as exc:
            msg = str(exc)
            if "to int64" in msg:
                msg = "Invalid integer value: " + msg
            raise ValueError(f"{where}: {msg}") from None
    i = e["i"] - 1
    j = e["j"] - 1
    if field == "pattern":
        v = np.ones(e.size)
    elif field == "complex":
        v = e["re"] + 1j * e["im"]
    elif field == "integer":
        # SciPy reads the integer part of such a value: 1.5 -> 1, -1.5 -> -1.
        v = np.trunc(e["v"])
    else:
        v = e["v"]
    return i, j, v


def segments(path, start, segment_bytes, field, symmetry, shape):
    """Cut the entries into byte ranges at line ends: a list of ``(first byte, end
    byte, lowest row, highest row)`` (rows and columns for symmetric files) and
    the number of entries. Every entry is checked against ``shape``."""
    segs, count = [], 0
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        pos = start
        while pos < size:
            f.seek(pos)
            data = f.read(segment_bytes)
            if pos + len(data) < size:
                cut = data.rfind(b"\n")
                if cut < 0:
                    data += f.readline()
                else:
                    data = data[:cut + 1]
            where = f"{path}: entries between bytes {pos} and {pos + len(data)}"
            i, j, _ = parse_entries(data, field, where)
            if i.size:
                if (min(int(i.min()), int(j.min())) < 0 or int(i.max()) >= shape[0]
                        or int(j.max()) >= shape[1]):
                    raise ValueError(f"{where}: an entry lies outside the shape {shape}")
                lo, hi = int(i.min()), int(i.max())
                if symmetry != "general":
                    lo, hi = min(lo, int(j.min())), max(hi, int(j.max()))
                segs.append((pos, pos + len(data), lo, hi))
                count += i.size
            pos += len(data)
    return segs, count


def read_rows(path, segs, r0, r1, n, field, symmetry, dtype):
    """Rows ``r0:r1`` of a coordinate file, as a ``csr_array`` of shape
    ``(r1 - r0, n)`` (duplicates summed), from the byte ranges ``segs`` of
    ``segments`` that may hold them."""
    rows, cols, vals = [], [], []
    with open(path, "rb") as f:
        for a, b, lo, hi in segs:
            if hi < r0 or lo >= r1:
                continue
            f.seek(a)
            i, j, v = parse_entries(f.read(b - a), field,
                                    f"{path}: entries between bytes {a} and {b}")
            sel = (i >= r0) & (i < r1)
            rows.append(i[sel])
            cols.append(j[sel])
            vals.append(v[sel])
            if symmetry != "general":
                off = (i != j) & (j >= r0) & (j < r1)
                mv = v[off]
                if symmetry == "skew-symmetric":
                    mv = -mv
                elif symmetry == "hermitian":
                    mv = np.conj(mv)
                rows.append(j[off])
                cols.append(i[off])
                vals.append(mv)
    if rows:
        row, col, val = np.concatenate(rows) - r0, np.concatenate(cols), np.concatenate(vals)
    else:
        row = col = np.empty(0, dtype=np.int64)
        val = np.empty(0, dtype=dtype)
    if row.size and (col.min() < 0 or col.max() >= n or row.min() < 0):
        raise ValueError(f"{path}: an entry of rows {r0 + 1}..{r1} lies outside the matrix")
    return csr_array((val.astype(dtype), (row, col)), shape=(r1 - r0, n), dtype=dtype)
