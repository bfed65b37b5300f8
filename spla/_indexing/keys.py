"""Index keys: SciPy's accepted keys turned into one normalised form.

``normalize_key(key, shape, fmt)`` validates an indexing key for an array of
``shape`` (1-D, 2-D, or n-D for COO) with the rules and errors of SciPy 1.17's
sparse arrays (``scipy/sparse/_index.py``), before any kernel sees it, and
returns a :class:`Key`. Reading (``__getitem__``) and writing
(``__setitem__``) both start from it.

The normalised form (stable: the writing half depends on it)
-----------------------------------------------------------
``Key(index, shape, array_shape, arr_int_pos, none_pos)``:

``index``
    A tuple with exactly one entry per axis of the array (``len(index) ==
    len(shape_of_array)``; an ``Ellipsis`` and missing trailing axes became
    full ranges, ``None`` entries were removed). Each entry is one of

    - a Python ``int`` with ``0 <= i < n`` (negative values resolved; NumPy
      integers, 0-d integer arrays and ``True``/``False`` as SciPy reads them);
    - a Python ``range`` with the resolved ``start, stop, step`` of a slice
      (``range(*s.indices(n))``): never out of bounds, ``len()`` is its length;
      ``is_full(r, n)`` tells a whole axis;
    - a NumPy array of dtype ``numpy.intp`` with ``ndim >= 1`` (1 or 2 for CSR
      and CSC), every value in ``0 <= v < n`` (negatives resolved, bounds
      checked): an integer array or list of any integer dtype, or the
      ``nonzero()`` of a boolean mask. A k-D boolean mask (dense, SciPy sparse
      or spla sparse) covers k consecutive axes and gives k 1-D arrays, in C
      order of the mask. Arrays are not broadcast against each other here
      (``array_shape`` is their broadcast shape); they may be read-only and may
      be the caller's own array: never write into them.

``shape``
    The shape of the indexed result (SciPy's ``new_shape``), ``None`` axes
    included as 1: the shape a read returns and a write's value broadcasts to.

``array_shape``
    The broadcast shape of the array entries of ``index`` (None when there
    are none). Integer entries do not take part.

``arr_int_pos``
    Positions (axes of the array) of the integer and array entries, as SciPy's.

``none_pos``
    Positions in ``shape`` of the axes that ``None`` inserted.

Errors (those of SciPy 1.17): ``IndexError`` for too many indices, more than
one ``Ellipsis``, an integer out of range (``index (7) out of range``), index
arrays whose values fall outside ``[-n, n)``, index arrays of more than two
dimensions for CSR/CSC, boolean masks of the wrong shape, arrays that do not
broadcast, sparse non-boolean keys, and (unlike SciPy, which lets a float
array through to its C code) index arrays of float, complex, object or string
dtype; ``ValueError`` for an inexact scalar such as ``1.0``
(``Inexact indices into sparse matrices are not allowed``, as SciPy);
``TypeError`` for slices with non-integer bounds.

Examples
--------
>>> from spla._indexing.keys import normalize_key
>>> k = normalize_key((-1, slice(None, None, 2)), (4, 5))
>>> k.index, k.shape
((3, range(0, 5, 2)), (3,))
>>> normalize_key(([0, -1], None), (4, 5), "coo").shape
(2, 1, 5)
"""

import operator
from typing import NamedTuple

import numpy as np

__all__ = ["Key", "normalize_key", "is_full", "as_index_array", "isintlike"]


class Key(NamedTuple):
    """A validated index key (see the module docstring)."""

    index: tuple
    shape: tuple
    array_shape: tuple
    arr_int_pos: tuple
    none_pos: tuple


def is_full(r, n):
    """Whether the normalised entry ``r`` is the whole axis of length ``n`` in order."""
    return type(r) is range and r.step == 1 and r.start == 0 and r.stop == n


def isintlike(x):
    """SciPy's test of a scalar integer index: True for integers (Python, NumPy,
    0-d integer arrays, bools); raises ``ValueError`` for an integral float such as
    ``1.0``; False for everything else."""
    if np.ndim(x) != 0:
        return False
    try:
        operator.index(x)
    except (TypeError, ValueError):
        try:
            loose = bool(int(x) == x)
        except (TypeError, ValueError, OverflowError):
            return False
        if loose:
            raise ValueError("Inexact indices into sparse matrices are not allowed")
        return False
    return True


def _is_sparse(obj):
    if isinstance(obj, (np.ndarray, list, tuple, int, np.generic)):
        return False
    from .._base import SparseArray, _is_scipy_sparse

    return isinstance(obj, SparseArray) or _is_scipy_sparse(obj)


def _boolean_index(idx, ndim):
    """The key entry as a boolean array-like when it is one (else None); SciPy's
    peek at the first element of a nested list avoids converting other lists."""
    if not hasattr(idx, "ndim"):
        try:
            first = next(iter(idx), None)
            for _ in range(ndim):
                if isinstance(first, bool):
                    break
                first = next(iter(first), None)
            else:
                return None
        except TypeError:
            return None
        idx = np.asanyarray(idx)
    dtype = getattr(idx, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind == "b":
        return idx
    return None


def _mask_nonzero(mask):
    """The coordinates of the true entries of a dense or sparse boolean mask, C order."""
    if _is_sparse(mask):
        if hasattr(mask, "to_device") and getattr(mask, "device", "cpu") != "cpu":
            raise NotImplementedError("a sparse boolean mask on a GPU cannot index yet")
        coords = mask.nonzero()
        coords = tuple(np.asarray(c, dtype=np.intp) for c in coords)
        if coords and coords[0].size:
            order = np.lexsort(coords[::-1])
            coords = tuple(c[order] for c in coords)
            # a mask with duplicate stored coordinates names each position once
            flat = np.ravel_multi_index(coords, mask.shape)
            keep = np.ones(flat.size, dtype=bool)
            keep[1:] = flat[1:] != flat[:-1]
            if not keep.all():
                coords = tuple(c[keep] for c in coords)
        return coords
    return tuple(np.asarray(c, dtype=np.intp) for c in np.nonzero(np.asarray(mask)))


def as_index_array(idx, n, fmt=None):
    """An integer index array for an axis of length ``n``: ``numpy.intp``, values
    in ``[0, n)`` (negative ones resolved), bounds checked. ``fmt`` other than
    ``"coo"`` allows only 1-D and 2-D arrays, as SciPy."""
    try:
        ix = np.asarray(idx)
    except (ValueError, TypeError, MemoryError) as exc:
        raise IndexError("invalid index") from exc
    if (fmt != "coo" and ix.ndim not in (1, 2)) or (fmt == "coo" and ix.ndim == 0):
        raise IndexError(f"Index dimension must be 1 or 2. Got {ix.ndim}")
    if ix.size == 0:
        return np.zeros(ix.shape, dtype=np.intp)
    if ix.dtype.kind not in "iu":
        raise IndexError(
            f"arrays used as indices must be of integer (or boolean) type, not {ix.dtype}"
        )
    hi = ix.max()
    if hi >= n:
        raise IndexError(f"index ({hi}) out of range")
    if ix.dtype.kind == "u":
        return ix.astype(np.intp, copy=False)
    lo = ix.min()
    if lo < 0:
        if lo < -n:
            raise IndexError(f"index ({lo}) out of range")
        ix = ix.astype(np.intp, copy=True)
        ix[ix < 0] += n
        return ix
    return ix.astype(np.intp, copy=False)


def _on_gpu(idx):
    return type(idx).__module__.split(".")[0] in ("cupy", "cupyx")


def host_key(key, device="cpu"):
    """``key`` with its CuPy index arrays and masks copied to the host, for an array
    on a GPU ``device`` (keys are checked and shaped on the host). For an array on
    the CPU they raise ``TypeError``, as NumPy and SciPy do (no copy between devices
    behind the caller's back)."""
    parts = key if isinstance(key, tuple) else (key,)
    if not any(_on_gpu(p) for p in parts):
        return key
    if device == "cpu":
        raise TypeError("cannot index a sparse array on the CPU with a GPU (CuPy) array: "
                        "pass idx.get(), or move the array with A.to_device('cuda')")
    parts = tuple(p.get() if _on_gpu(p) else p for p in parts)
    return parts if isinstance(key, tuple) else parts[0]


def normalize_key(key, shape, fmt=None, device="cpu"):
    """Validate ``key`` for an array of ``shape`` and return its :class:`Key`.

    Parameters
    ----------
    key : object
        Anything ``A[key]`` accepts in SciPy: ints, slices, ``None``,
        ``Ellipsis``, integer or boolean arrays and lists, sparse boolean masks,
        and tuples of those.
    shape : tuple of int
        The shape of the indexed array.
    fmt : str, optional
        The format name; ``"coo"`` allows index arrays of any dimension.
    device : str or Device, optional
        Where the indexed array lives: CuPy index arrays are accepted (copied to the
        host) for arrays on a GPU (see ``host_key``).

    Returns
    -------
    Key

    Examples
    --------
    >>> import numpy as np
    >>> from spla._indexing.keys import normalize_key
    >>> k = normalize_key(np.array([True, False, True]), (3, 2))
    >>> k.index[0], k.index[1], k.shape
    (array([0, 2]), range(0, 2), (2, 2))
    """
    ndim = len(shape)
    key = host_key(key, device)
    if key is Ellipsis:
        return Key(tuple(range(n) for n in shape), tuple(shape), None, (), ())
    if not isinstance(key, tuple):
        key = (key,)

    # pass 1: expand the ellipsis, spot boolean masks, count the axes used
    first = []
    ellipsis_at = None
    used = 0
    for pos, idx in enumerate(key):
        if idx is Ellipsis:
            if ellipsis_at is not None:
                raise IndexError("an index can only have a single ellipsis")
            ellipsis_at = pos
        elif idx is None:
            first.append(None)
        elif isinstance(idx, slice) or isintlike(idx):
            first.append(idx)
            used += 1
        elif (mask := _boolean_index(idx, ndim)) is not None:
            first.append(mask)
            used += mask.ndim
        elif _is_sparse(idx):
            raise IndexError(
                "Indexing with sparse matrices is not supported except boolean "
                "indexing where matrix and index are equal shapes."
            )
        else:
            try:
                first.append(np.asarray(idx))
            except (ValueError, TypeError) as exc:
                raise IndexError("invalid index") from exc
            used += 1
    if used > ndim:
        raise IndexError(
            "Too many indices for array or tuple index out of range. "
            f"Key {list(key) if len(key) == 1 else key} needs {used}D. Array is {ndim}D"
        )
    fill = [slice(None)] * (ndim - used)
    if fill:
        if ellipsis_at is None:
            first.extend(fill)
        else:
            # the position among the non-Ellipsis entries before it
            first = first[:ellipsis_at] + fill + first[ellipsis_at:]

    # pass 2: resolve each entry against its axis
    out_shape = []
    index = []
    array_axes = []
    none_pos = []
    arr_int_pos = []
    axis = 0
    for pos, idx in enumerate(first):
        if idx is None:
            none_pos.append(len(out_shape))
            out_shape.append(1)
        elif isinstance(idx, slice):
            r = range(*idx.indices(shape[axis]))
            index.append(r)
            out_shape.append(len(r))
            axis += 1
        elif isintlike(idx):
            n = shape[axis]
            i = operator.index(idx)
            if not -n <= i < n:
                raise IndexError(f"index ({i}) out of range")
            index.append(int(i + n if i < 0 else i))
            arr_int_pos.append(axis)
            axis += 1
        elif idx.dtype.kind == "b":
            stop = axis + idx.ndim
            expected = tuple(shape[axis:stop])
            if tuple(idx.shape) != expected:
                raise IndexError(f"bool index {pos} has shape {expected} instead of {idx.shape}")
            index.extend(_mask_nonzero(idx))
            array_axes.extend(range(axis, stop))
            arr_int_pos.extend(range(axis, stop))
            axis = stop
        else:
            index.append(as_index_array(idx, shape[axis], fmt))
            array_axes.append(axis)
            arr_int_pos.append(axis)
            axis += 1

    array_shape = None
    if array_axes:
        shapes = [index[a].shape for a in array_axes]
        try:
            array_shape = shapes[0] if len(shapes) == 1 else tuple(np.broadcast_shapes(*shapes))
        except ValueError:
            listed = " ".join(str(s) for s in shapes)
            raise IndexError(
                "shape mismatch: indexing arrays could not be broadcast together with "
                f"shapes {listed}"
            ) from None
        if len(arr_int_pos) != arr_int_pos[-1] - arr_int_pos[0] + 1:
            out_shape = list(array_shape) + out_shape  # not adjacent: to the front
        else:
            at = arr_int_pos[0]
            out_shape = out_shape[:at] + list(array_shape) + out_shape[at:]
    return Key(tuple(index), tuple(out_shape), array_shape, tuple(arr_int_pos), tuple(none_pos))
