"""Sphinx configuration of spla's documentation site.

Build it from the repository root with::

    python -m pip install ".[docs]"
    python -m sphinx -W -b html docs docs/_build/html

``SPLA_DOCS_GALLERY=0`` skips running the gallery's examples (their pages are
then built from the source alone, without plots); the default runs them.
``SPLA_DOCS_QUICK=1`` runs them on smaller inputs (the CI build).
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Document the spla of this checkout (also when it is not installed). A copy of
# docs/ built elsewhere (tests/test_docs_site.py) documents the spla on sys.path.
if (ROOT / "spla" / "__init__.py").exists():
    sys.path.insert(0, str(ROOT))

import spla  # noqa: E402

project = "spla"
author = "the spla developers"
copyright = "the spla developers"
version = release = spla.__version__ if hasattr(spla, "__version__") else "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["api/_templates"]
exclude_patterns = [
    "_build",
    "api/_templates",
    "gallery/GALLERY_HEADER.rst",
    "auto_gallery/*.ipynb",
    "**.ipynb_checkpoints",
]

# -- API reference: autosummary stubs from the docstrings (numpydoc format) ---
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "alphabetical"}
autodoc_typehints = "none"
numpydoc_show_class_members = False   # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# Public names that no section of api/*.rst lists yet (a function added since)
# go to api/unsorted.rst, written here, so that the reference stays complete.
API_MODULES = ("spla", "spla.linalg", "spla.io", "spla.testing", "spla.testing.strategies",
               "spla.ml.attention", "spla.ml.moe", "spla.ml.prune", "spla.ml.theory",
               "spla.ml.activation", "spla.ml.masks", "spla.dask")


def _listed_in_api_pages():
    listed, module, in_summary = set(), None, False
    for page in sorted((HERE / "api").glob("*.rst")):
        for line in page.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(".. currentmodule::"):
                module = stripped.split("::", 1)[1].strip()
                in_summary = False
            elif stripped.startswith(".. autosummary::"):
                in_summary = True
            elif in_summary and line.startswith("   ") and stripped and not stripped.startswith(":"):
                listed.add(f"{module}.{stripped}")
            elif stripped and not line.startswith(" "):
                in_summary = False
    return listed


def foreign_name(obj):
    """What a public name re-exported from NumPy is (``"numpy.int8"``, a
    constant's value), or None for spla's own objects (and SciPy's, which
    spla.linalg re-exports and whose docstrings build here)."""
    import numbers

    import numpy as np

    if obj is None:
        return "None (numpy.newaxis)"
    if isinstance(obj, (numbers.Number, np.generic)):
        return repr(obj)
    if isinstance(obj, np.dtype):
        return f"numpy.dtype('{obj}')"
    module = getattr(obj, "__module__", None) or ""
    if module == "numpy" or module.startswith("numpy.") or (
            isinstance(obj, type) and issubclass(obj, np.generic)):
        return f"numpy.{getattr(obj, '__name__', '?')}"
    return None


def _write_unsorted_api_page():
    import importlib
    import types

    listed = _listed_in_api_pages()
    lines = ["Other public names", "==================", "",
             "Public names that the sections of this reference do not list yet.", ""]
    count = 0
    foreign = []
    for modname in API_MODULES:
        try:
            module = importlib.import_module(modname)
        except ImportError as exc:
            raise RuntimeError(f"the API reference imports {modname}, which failed ({exc}): "
                               "install the docs extra, pip install '.[docs]'") from exc
        names = []
        for n in getattr(module, "__all__", ()):
            obj = getattr(module, n)
            if isinstance(obj, types.ModuleType) or f"{modname}.{n}" in listed:
                continue
            if foreign_name(obj) is not None:
                foreign.append((f"{modname}.{n}", foreign_name(obj)))
            else:
                names.append(n)
        if names:
            count += len(names)
            lines += [f"``{modname}``", "-" * (len(modname) + 4), "",
                      f".. currentmodule:: {modname}", "", ".. autosummary::",
                      "   :toctree: generated/", "   :nosignatures:", ""]
            lines += [f"   {n}" for n in names] + [""]
    if foreign:
        count += len(foreign)
        lines += ["Re-exported from NumPy", "----------------------", "",
                  "NumPy's own names and constants, which NumPy documents.", "",
                  ".. list-table::", "   :header-rows: 1", "",
                  "   * - name", "     - is"]
        for name, what in foreign:
            lines += [f"   * - ``{name}``", f"     - ``{what}``"]
        lines += [""]
    if not count:
        lines += ["None: every public name is in one of the sections.", ""]
    text = "\n".join(lines)
    target = HERE / "api" / "unsorted.rst"
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


_write_unsorted_api_page()

# -- Markdown user guide (MyST) ---------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = [
    # The user-guide pages are GitHub Markdown: some of their headings skip a level.
    "myst.header",
]

# -- Gallery: examples run at build time, plots measured on the building machine -
_run_gallery = os.environ.get("SPLA_DOCS_GALLERY", "1") != "0"
sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_gallery",
    "filename_pattern": r"/plot_",
    "plot_gallery": _run_gallery,
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "min_reported_time": 1,
    "show_memory": False,
    "show_signature": False,
}

intersphinx_mapping = {}  # offline builds: no inventories fetched

# -- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "spla"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path = []
html_show_sourcelink = False
html_copy_source = False
