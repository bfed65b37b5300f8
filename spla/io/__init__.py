"""Matrix Market files (``.mtx``, also gzip- or bzip2-compressed) through SciPy's reader."""

import scipy.io

from ._formats.compressed import csr_array


def mmread(path):
    """Read a Matrix Market file into a ``csr_array``.

    Coordinate and array files of every field and symmetry are read: symmetric,
    skew-symmetric and Hermitian files are expanded to both triangles, ``pattern``
    files get the value 1.0, and ``integer`` files become float64.

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
    """Write ``A`` (any spla, SciPy or dense 2-D array) to a Matrix Market file.

    Sparse arrays are written in coordinate format with their stored entries
    (duplicates summed first). ``field``, ``precision`` and ``symmetry`` are
    passed to ``scipy.io.mmwrite``; by default the field follows the dtype and
    the symmetry is ``"general"``.
    """
    from ._base import SparseArray

    if isinstance(A, SparseArray):
        A = A.tocsr().sum_duplicates().to_scipy().tocoo()
    if field is None and A.dtype.kind in "fc":
        field = "complex" if A.dtype.kind == "c" else "real"
    if getattr(A, "nnz", None) == 0 and field is not None:
        # SciPy writes every matrix without entries with the field "real",
        # whatever its dtype or the field asked for.
        _write_empty(path, A.shape, field, symmetry or "general", comment)
        return
    scipy.io.mmwrite(path, A, comment=comment, field=field, precision=precision,
                     symmetry=symmetry if symmetry is not None else "general")


def _write_empty(path, shape, field, symmetry, comment):
    lines = [f"%%MatrixMarket matrix coordinate {field} {symmetry}"]
    lines += [f"%{line}" for line in comment.splitlines()] or ["%"]
    lines.append(f"{shape[0]} {shape[1]} 0")
    text = ("\n".join(lines) + "\n").encode("ascii")
    if hasattr(path, "write"):
        path.write(text)
    else:
        with open(path, "wb") as f:
            f.write(text)
