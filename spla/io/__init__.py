"""Matrix Market files (``.mtx``, also gzip- or bzip2-compressed) through SciPy's reader
and writer, with spla's checks around them; binsparse files (HDF5, NPZ, Zarr) through
``binsparse_read`` / ``binsparse_write`` (``spla.io.binsparse``).

``mmread`` and ``mmwrite`` read and write whole files; ``spla.dask.read_matrix_market``
reads one in row blocks with the parser of ``spla.io._mmchunks``, which gives the
same answers as ``mmread``.
"""

import errno
import io
import os
import tempfile
import warnings

import numpy as np
import scipy.io

from .._formats.compressed import csr_array
from .binsparse import binsparse_arrays, binsparse_read, binsparse_write

__all__ = ["LossyWriteWarning", "binsparse_arrays", "binsparse_read", "binsparse_write",
           "mmread", "mmwrite"]

_FIELDS = ("real", "complex", "integer", "pattern")
_SYMMETRIES = ("general", "symmetric", "skew-symmetric", "hermitian")


class LossyWriteWarning(UserWarning):
    """``mmwrite`` was asked for a field or symmetry that changes the matrix written
    (fractional values in an ``integer`` file, a non-symmetric matrix written as
    ``symmetric``, ...)."""


def mmread(path):
    """Read a Matrix Market file into a ``csr_array``.

    Coordinate and array files of every field and symmetry are read: symmetric,
    skew-symmetric and Hermitian files are expanded to both triangles, ``pattern``
    files get the value 1.0, and ``integer`` files become float64. Coordinates that
    are not integers, and sizes beyond int64, raise as in ``scipy.io.mmread``.

    Examples
    --------
    >>> import io, spla
    >>> text = b"%%MatrixMarket matrix coordinate real general\\n2 2 1\\n1 2 5.0\\n"
    >>> spla.io.mmread(io.BytesIO(text)).toarray()
    array([[0., 5.],
           [0., 0.]])
    """
    m = scipy.io.mmread(path, spmatrix=False)
    return csr_array(m)


def mmwrite(path, A, comment="", field=None, precision=None, symmetry=None):
    """Write ``A`` to a Matrix Market file.

    Parameters
    ----------
    path : str, os.PathLike or binary file-like
        A path gets the extension ``.mtx`` when it has none other (as in SciPy).
        The file is written to a temporary file in the same directory, which
        is renamed into place only once it is complete: a write that fails part
        way (disk full, file-size limit) raises and leaves any earlier file at
        ``path`` as it was. A missing directory, a directory at ``path`` and an
        unwritable place raise ``OSError``. A file-like object must be open in
        binary mode; it is written directly.
    A : spla array, SciPy sparse array or matrix, or 2-D array_like (lists too)
        Sparse input is written in coordinate format with its stored entries
        (duplicates summed first); dense input in array format.
    comment : str
        Written after the banner, each line prefixed with ``%`` (UTF-8).
    field : {None, "real", "complex", "integer", "pattern"}
        By default the field follows the dtype. ``"integer"`` truncates
        fractional values and ``"real"`` drops imaginary parts: both warn with
        ``LossyWriteWarning`` when that changes a value. ``"pattern"`` writes the
        structure only (sparse input).
    precision : int, optional
        Significant digits of the values (SciPy's default: enough to round-trip).
    symmetry : {None, "general", "symmetric", "skew-symmetric", "hermitian"}
        ``None`` means ``"general"``. The other symmetries write the lower
        triangle only: a matrix that does not have that symmetry is changed,
        and ``LossyWriteWarning`` says so.

    Raises
    ------
    ValueError
        An unknown field or symmetry, or ``A`` is not 2-D.
    TypeError
        ``comment`` is not a string, ``A`` cannot be read as an array, or
        ``path`` is a text stream.
    OSError
        The file cannot be written (its directory is missing, ``path`` is a
        directory, no permission, disk full, ...).

    Examples
    --------
    >>> import io, numpy as np, spla
    >>> buf = io.BytesIO()
    >>> spla.io.mmwrite(buf, spla.csr_array(np.array([[1.0, 0.0], [2.0, 3.0]])))
    >>> print(buf.getvalue().decode())
    %%MatrixMarket matrix coordinate real general
    %
    2 2 3
    1 1 1
    2 1 2
    2 2 3
    <BLANKLINE>
    """
    if field is not None and field not in _FIELDS:
        raise ValueError(f"Invalid field {field!r}; must be one of: {', '.join(_FIELDS)}")
    if symmetry is None:
        symmetry = "general"
    if symmetry not in _SYMMETRIES:
        raise ValueError(f"Invalid symmetry {symmetry!r}; must be one of: "
                         f"{', '.join(_SYMMETRIES)}")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise TypeError(f"comment must be a str, not {type(comment).__name__}")
    if isinstance(path, io.TextIOBase):
        raise TypeError("mmwrite writes bytes: open the stream in binary mode ('wb')")
    A = _as_writable(A)
    if field is None and A.dtype.kind in "fc":
        field = "complex" if A.dtype.kind == "c" else "real"
    _warn_if_lossy(A, field, symmetry)

    def write(stream):
        if getattr(A, "nnz", None) == 0 and field is not None:
            # SciPy writes every matrix without entries with the field "real",
            # whatever its dtype or the field asked for.
            _write_empty(stream, A.shape, field, symmetry, comment)
        else:
            scipy.io.mmwrite(stream, A, comment=comment, field=field, precision=precision,
                             symmetry=symmetry)

    if hasattr(path, "write"):
        write(path)
    else:
        _write_atomically(path, write)


def _as_writable(A):
    """``A`` as a SciPy COO array (sparse input) or a 2-D NumPy array (dense input)."""
    from .._base import SparseArray, _is_scipy_sparse

    if isinstance(A, SparseArray):
        return A.tocsr().to_scipy().tocoo()  # canonical: to_scipy sums duplicates
    if _is_scipy_sparse(A):
        if A.ndim != 2:
            raise ValueError(f"mmwrite writes 2-D matrices, got a {A.ndim}-D SciPy array")
        return A
    try:
        D = np.asarray(A)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"mmwrite cannot write {type(A).__name__}: {exc}") from None
    if D.dtype.kind not in "biufc":
        raise TypeError(f"mmwrite cannot write values of dtype {D.dtype}")
    if D.ndim != 2:
        raise ValueError(f"mmwrite writes 2-D matrices, got an array of shape {D.shape}")
    if not D.dtype.isnative:
        D = D.astype(D.dtype.newbyteorder("="))
    return D


def _warn_if_lossy(A, field, symmetry):
    values = A.data if hasattr(A, "nnz") else A
    if field in ("integer", "real") and values.dtype.kind == "c" and np.any(values.imag != 0):
        warnings.warn(f"field={field!r} drops the imaginary parts of complex values",
                      LossyWriteWarning, stacklevel=3)
        values = values.real
    if field == "integer" and values.dtype.kind in "fc":
        real = values.real
        if not np.all(np.isfinite(real)) or np.any(real != np.trunc(real)):
            warnings.warn("field='integer' changes values that are not integers (fractions "
                          "are truncated, inf and nan are not integers)",
                          LossyWriteWarning, stacklevel=3)
    if symmetry != "general" and not _has_symmetry(A, symmetry):
        warnings.warn(f"symmetry={symmetry!r} writes the lower triangle only, and this "
                      f"matrix is not {symmetry}: the file holds a different matrix",
                      LossyWriteWarning, stacklevel=3)


def _has_symmetry(A, symmetry):
    m, n = A.shape
    if m != n:
        return False
    T = A.T
    mirror = {"symmetric": T, "skew-symmetric": -T,
              "hermitian": T.conj() if A.dtype.kind == "c" else T}[symmetry]
    if hasattr(A, "nnz"):
        diff = (A.tocsr() - mirror.tocsr())
        diff.eliminate_zeros()
        return diff.nnz == 0
    return bool(np.array_equal(A, mirror))


def _write_empty(stream, shape, field, symmetry, comment):
    lines = [f"%%MatrixMarket matrix coordinate {field} {symmetry}"]
    lines += [f"%{line}" for line in comment.splitlines()] or ["%"]
    lines.append(f"{shape[0]} {shape[1]} 0")
    stream.write(("\n".join(lines) + "\n").encode("utf-8"))


def _write_atomically(path, write):
    """Call ``write`` on a temporary file beside ``path`` and rename it to ``path``
    (with ``.mtx`` appended when it has no extension), or remove it on failure."""
    target = os.fsdecode(os.fspath(path))
    if not target:
        raise FileNotFoundError(errno.ENOENT, "mmwrite: empty path", target)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "mmwrite: the path is a directory", target)
    if not target.endswith(".mtx"):
        target += ".mtx"
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "mmwrite: the path is a directory", target)
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, "mmwrite: no such directory", directory)
    try:
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".",
                               suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no other way to read it; restored at once
    os.umask(mask)
    return mask
