"""SciPy's own sparse test battery, run against spla's arrays (the acceptance test of
the SciPy array API).

``scipy/sparse/tests/test_base.py`` builds its per-format test classes from
mixins (``_TestCommon``, ``_TestArithmetic``, ...) and a ``spcreator``, the
array constructor under test. Here the same mixins run with ``spla.csr_array``
and ``spla.csc_array`` as ``spcreator``, over every dtype of SciPy's
``supported_dtypes`` that Numba compiles (all but long double). The reading
classes of indexing (``_TestGetSet``, ``_TestSlicing``, ``_TestFancyIndexing``,
``_TestFancyMultidim``) run too; the writing classes (``_TestSlicingAssign``,
``_TestFancyIndexingAssign``, ``_TestFancyMultidimAssign``) belong to the
writing half of the indexing issue, and ``_TestSolve`` to the linalg issue.

Two lists below say which tests do not pass, each with its reason:

- ``EXCLUDED``: tests of SciPy internals that do not apply to spla (never a
  missing feature); they are skipped.
- ``NOT_YET``: tests of features spla does not have yet; they run as strict
  expected failures, so a test that starts to pass fails the suite until it is
  taken off the list, and the list only shrinks.

The module is skipped when SciPy was installed without its tests.
"""

import types
import warnings

import numpy as np
import pytest

test_base = pytest.importorskip(
    "scipy.sparse.tests.test_base", reason="this SciPy was installed without its tests"
)

import spla  # noqa: E402

#: SciPy's ``supported_dtypes`` without the long doubles, which Numba cannot compile.
DTYPES = [
    dt for dt in test_base.supported_dtypes
    if np.dtype(dt) not in (np.dtype(np.longdouble), np.dtype(np.clongdouble))
    or np.dtype(np.longdouble) == np.dtype(np.float64)
]

_ISSPARSE = ("checks its results with SciPy's issparse/isinstance against SciPy's own classes "
             "(scipy.sparse._base._spbase), which an spla array is not")

#: Tests of SciPy internals that do not apply to spla arrays, with the reason.
EXCLUDED = {
    "test_small_multiplication": _ISSPARSE,
    "test_elementwise_multiply_broadcast": _ISSPARSE,
    "test_minmax_container_type": _ISSPARSE + " (spla returns its own coo_array)",
    "test_nanminmax": _ISSPARSE + " (spla returns its own coo_array)",
    "test_expm": "calls scipy.sparse.linalg.expm, which accepts only SciPy's own classes "
                 "(spla.linalg's functions are tested in tests/test_linalg*.py)",
    "test_inv": "calls scipy.sparse.linalg.inv, which accepts only SciPy's own classes "
                "(spla.linalg.inv is tested in tests/test_linalg*.py)",
    "test_dtype_check": "SciPy refuses float16; spla stores float16 input as float32 (its "
                        "array API issue keeps float16 accepted where it was)",
}

#: Tests of features spla does not have yet (strict expected failures), with the reason.
NOT_YET = {}


@pytest.fixture(autouse=True)
def _numba_dtypes(monkeypatch):
    """SciPy's tests loop over ``supported_dtypes``: without the long doubles here."""
    monkeypatch.setattr(test_base, "supported_dtypes", DTYPES)


def _own_copy(func):
    """A copy of a test function that marks can be added to without changing
    SciPy's original (which the other battery shares)."""
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__,
                              func.__defaults__, func.__closure__)
    copy.__dict__.update({k: list(v) if isinstance(v, list) else v
                          for k, v in func.__dict__.items()})
    copy.__qualname__ = func.__qualname__
    return copy


def _battery(name, creator):
    bases = (
        test_base._TestCommon,
        test_base._TestInplaceArithmetic,
        test_base._TestArithmetic,
        test_base._TestMinMax,
        test_base._TestGetNnzAxis,
        # indexing, reading (and _TestGetSet's setters; the writing classes are below)
        test_base._TestGetSet,
        test_base._TestSlicing,
        test_base._TestFancyIndexing,
        test_base._TestFancyMultidim,
    )

    @classmethod
    def spcreator(cls, *args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=test_base.SparseEfficiencyWarning)
            return creator(*args, **kwargs)

    @classmethod
    def init_class(cls):
        cls.dat = np.array([[1, 0, 0, 2], [3, 0, 1, 0], [0, 2, 0, 0]], "d")
        cls.datsp = cls.spcreator(cls.dat)
        cls.checked_dtypes = list(DTYPES)
        cls.dat_dtypes = {dt: cls.dat.astype(dt) for dt in cls.checked_dtypes}
        cls.datsp_dtypes = {dt: cls.spcreator(cls.dat.astype(dt)) for dt in cls.checked_dtypes}
        cls.is_array_test = True

    namespace = {
        "spcreator": spcreator,
        "init_class": init_class,
        "math_dtypes": [np.bool_, np.int_, np.float64, np.complex128],
        "__module__": __name__,
    }
    cls = type(name, bases, namespace)
    for test in [t for t in dir(cls) if t.startswith("test_")]:
        reason = EXCLUDED.get(test)
        if reason is not None:
            setattr(cls, test, pytest.mark.skip(reason=reason)(_own_copy(getattr(cls, test))))
            continue
        reason = NOT_YET.get((name, test), NOT_YET.get(test))
        if reason is not None:
            mark = pytest.mark.xfail(strict=True, reason=reason)
            setattr(cls, test, mark(_own_copy(getattr(cls, test))))
    cls.init_class()
    return cls


TestSplaCSR = _battery("TestSplaCSR", spla.csr_array)
TestSplaCSC = _battery("TestSplaCSC", spla.csc_array)


# -- Writing (issue 19): SciPy's assignment classes --------------------------------------------
# (``_TestGetSet``'s setters run in the battery above, with its reader.)

WRITE_BASES = (
    test_base._TestSlicingAssign,
    test_base._TestFancyIndexingAssign,
    test_base._TestFancyMultidimAssign,
)

#: Writing tests that do not apply to spla arrays or wait for another feature, with the reason.
WRITE_EXCLUDED = {}
WRITE_NOT_YET = {}


def _write_battery(name, creator):
    @classmethod
    def spcreator(cls, *args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=test_base.SparseEfficiencyWarning)
            return creator(*args, **kwargs)

    @classmethod
    def init_class(cls):
        cls.dat = np.array([[1, 0, 0, 2], [3, 0, 1, 0], [0, 2, 0, 0]], "d")
        cls.datsp = cls.spcreator(cls.dat)
        cls.checked_dtypes = list(DTYPES)
        cls.dat_dtypes = {dt: cls.dat.astype(dt) for dt in cls.checked_dtypes}
        cls.datsp_dtypes = {dt: cls.spcreator(cls.dat.astype(dt)) for dt in cls.checked_dtypes}
        cls.is_array_test = True

    namespace = {"spcreator": spcreator, "init_class": init_class,
                 "math_dtypes": [np.bool_, np.int_, np.float64, np.complex128],
                 "__module__": __name__}
    for attr in ("asdense", "bsr_container", "coo_container", "csc_container", "csr_container",
                 "dia_container", "dok_container", "lil_container"):
        namespace[attr] = test_base._TestCommon.__dict__[attr]
    cls = type(name, WRITE_BASES, namespace)
    for test in [t for t in dir(cls) if t.startswith("test_")]:
        if test in WRITE_EXCLUDED:
            mark = pytest.mark.skip(reason=WRITE_EXCLUDED[test])
        elif test in WRITE_NOT_YET:
            mark = pytest.mark.xfail(strict=True, reason=WRITE_NOT_YET[test])
        else:
            continue
        setattr(cls, test, mark(_own_copy(getattr(cls, test))))
    cls.init_class()
    return cls


TestSplaCSRWrite = _write_battery("TestSplaCSRWrite", spla.csr_array)
TestSplaCSCWrite = _write_battery("TestSplaCSCWrite", spla.csc_array)
