"""pydata/sparse (``import sparse``) arrays: ``COO`` and ``GCXS`` both ways.

2-D ``GCXS`` arrays compressed along axis 0 are CSR and along axis 1 CSC: spla
reads their three arrays as they are (no copy when the index dtypes are int32 or
int64). ``COO`` arrays of any number of dimensions become ``coo_array``.
"""

import sys

import numpy as np


def _sparse():
    try:
        import sparse
    except ImportError:
        raise ImportError("pydata/sparse is not installed: pip install 'spla[pydata]'") from None
    return sparse


def is_pydata(obj):
    """Whether ``obj`` is a pydata/sparse array (without importing the package)."""
    mod = sys.modules.get("sparse")
    if mod is None or not type(obj).__module__.startswith("sparse"):
        return False
    base = getattr(mod, "SparseArray", None)  # another package named "sparse" has none
    return base is not None and isinstance(obj, base)


def from_pydata(x):
    """The spla array of pydata/sparse array ``x``.

    ``GCXS`` (2-D) gives ``csr_array`` (compressed axis 0) or ``csc_array``
    (compressed axis 1); ``COO`` gives ``coo_array``; other formats (``DOK``, ...)
    go through ``COO``. A non-zero ``fill_value`` raises ``ValueError``: spla arrays
    are zero where nothing is stored. ``spla.csr_array(x)``, ``spla.csc_array(x)`` and
    ``spla.coo_array(x)`` call this.

    Examples
    --------
    >>> import numpy as np, sparse, spla
    >>> x = sparse.GCXS.from_numpy(np.array([[0.0, 1.0], [2.0, 0.0]]), compressed_axes=(1,))
    >>> spla.csr_array(x).toarray()
    array([[0., 1.],
           [2., 0.]])
    >>> spla.csc_array(x).format
    'csc'
    """
    from .._formats.compressed import csc_array, csr_array
    from .._formats.coo import coo_array

    if not is_pydata(x):
        raise TypeError(f"expected a pydata/sparse array, got {type(x).__name__}")
    fill = x.fill_value
    if fill is not None and not (np.ndim(fill) == 0 and bool(fill == 0)):
        raise ValueError(f"spla arrays are zero where nothing is stored; this "
                         f"{type(x).__name__} has fill_value {fill!r}")
    if x.format == "gcxs" and x.ndim == 2:
        axes = tuple(int(a) for a in x.compressed_axes)
        cls = csr_array if axes == (0,) else csc_array
        return cls((x.data, x.indices, x.indptr), shape=tuple(x.shape))
    if x.format != "coo":
        x = x.asformat("coo")
    coords = tuple(np.asarray(c) for c in x.coords)
    out = coo_array((x.data, coords), shape=tuple(int(s) for s in x.shape))
    return out


def to_pydata(A, format=None):
    """``A`` as a pydata/sparse array: ``format="coo"`` (the default for COO arrays) or
    ``"gcxs"`` (the default for the others; CSC is compressed along axis 1).

    Examples
    --------
    >>> import numpy as np, spla
    >>> x = spla.csc_array(np.eye(2)).to_pydata()
    >>> x.format, x.compressed_axes, x.todense().tolist()
    ('gcxs', (1,), [[1.0, 0.0], [0.0, 1.0]])
    """
    sparse = _sparse()
    if A.device != "cpu":
        A = A.to_device("cpu")
    if format is None:
        format = "coo" if A.format == "coo" or A.ndim != 2 else "gcxs"
    if format not in ("coo", "gcxs"):
        raise ValueError(f"to_pydata: format must be 'coo' or 'gcxs', got {format!r}")
    if format == "coo":
        C = A.tocoo()._deduped()
        return sparse.COO(np.stack([np.asarray(c, dtype=np.intp) for c in C.coords])
                          if C.coords else np.empty((0, 0), dtype=np.intp),
                          C.data, shape=A.shape, has_duplicates=False, sorted=True)
    if A.ndim != 2:
        raise ValueError(f"to_pydata: GCXS output is 2-D here; a {A.ndim}-D array "
                         "needs format='coo'")
    C = (A if A.format in ("csr", "csc") else A.tocsr())._deduped()
    axes = (0,) if C.format == "csr" else (1,)
    return sparse.GCXS((C.data, C.indices, C.indptr), shape=A.shape, compressed_axes=axes)
