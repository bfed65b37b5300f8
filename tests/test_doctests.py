"""Every docstring example in spla runs (the examples are documentation that must
stay true). One test per module, so a failure names the module."""

import doctest
import importlib
import pkgutil

import pytest

import spla

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(spla.__path__, prefix="spla.")
    # spla.dask needs Dask (the test extra installs it; skipped below otherwise)
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name == "spla.dask" or name.startswith("spla.dask."):
        pytest.importorskip("dask", reason="spla.dask's examples need Dask")
    if name == "spla._interop.torch":
        pytest.importorskip("torch", reason="the PyTorch examples need torch")
    if name == "spla._interop.pydata":
        pytest.importorskip("sparse", reason="the pydata/sparse examples need sparse")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
