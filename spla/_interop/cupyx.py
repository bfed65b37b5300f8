"""CuPy's SciPy-like sparse matrices (``cupyx.scipy.sparse``) from GPU spla arrays.

The other way, ``spla.csr_array(S)`` for a ``cupyx`` matrix, is the formats'
constructor. ``to_cupyx`` hands CuPy the array's own device memory when its
storage is canonical (sorted indices, no duplicates) and CuPy can take its
index dtype; otherwise CuPy gets a canonical copy, so that cupyx's in-place
canonicalisation can never rewrite this array (the policy of ``to_scipy``).
"""

FORMATS = ("csr", "csc", "coo")


def to_cupyx(A, format=None):
    """``A`` (on a GPU) as a ``cupyx.scipy.sparse`` matrix of ``format``.

    ``format`` is ``"csr"``, ``"csc"`` or ``"coo"``; by default CSC for a
    ``csc_array``, COO for a ``coo_array`` and CSR for every other format.
    """
    if format is None:
        format = A.format if A.format in FORMATS else "csr"
    if format not in FORMATS:
        raise ValueError(f"to_cupyx: format must be one of {FORMATS}, got {format!r}")
    if A.device == "cpu":
        raise ValueError("to_cupyx: this array lives on the CPU; use to_scipy(), or move it "
                         "with to_device('cuda') first")
    if A.ndim != 2:
        raise ValueError(f"to_cupyx: cupyx.scipy.sparse holds 2-D matrices, got {A.ndim}-D")
    import cupyx.scipy.sparse as csp

    C = A.tocsc() if format == "csc" else A.tocsr()
    C = C._deduped()
    make = csp.csc_matrix if format == "csc" else csp.csr_matrix
    out = make((C.data, C.indices, C.indptr), shape=C.shape)
    out.has_canonical_format = True
    return out.tocoo() if format == "coo" else out
