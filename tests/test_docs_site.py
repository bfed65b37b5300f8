"""The documentation site builds with warnings as errors, documents everything
public, has no broken internal links, and renders in a browser.

The site is built once per session from a copy of ``docs/`` (so that the
build's generated files never land in the checkout), with the gallery's
examples run on small inputs (``SPLA_DOCS_QUICK=1``): the same code as the
full build, a fraction of its time. Skipped, saying why, when the ``docs``
extra is not installed; the browser checks are skipped when no headless
Chromium is found (Debian's ``chromium`` package, or ``SPLA_CHROMIUM`` naming
the binary).
"""

import importlib
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

for _mod in ("sphinx", "numpydoc", "myst_parser", "pydata_sphinx_theme", "sphinx_gallery",
             "matplotlib", "dask"):
    pytest.importorskip(_mod, reason=f"the docs site needs {_mod} (pip install '.[docs]')")

# The public modules: each name of their __all__ has a page api/generated/<module>.<name>.html
# (docs/conf.py lists those that no section of docs/api/*.rst names on api/unsorted.rst).
DOCUMENTED = ("spla", "spla.linalg", "spla.io", "spla.testing", "spla.testing.strategies",
              "spla.ml.attention", "spla.ml.moe", "spla.ml.prune", "spla.ml.theory",
              "spla.ml.activation", "spla.ml.masks", "spla.dask")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site into a temporary directory; return the HTML directory."""
    tmp = tmp_path_factory.mktemp("docs_site")
    src = tmp / "src"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns(
        "_build", "auto_gallery", "generated", "sg_execution_times.rst", "__pycache__"))
    html = tmp / "html"
    env = dict(os.environ, SPLA_DOCS_QUICK="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
           "-d", str(tmp / "doctrees"), str(src), str(html)]
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (
        f"sphinx-build -W failed ({proc.returncode}):\n{proc.stderr[-8000:]}\n{proc.stdout[-2000:]}")
    return html


def test_site_builds_with_warnings_as_errors(site):
    assert (site / "index.html").is_file()
    assert (site / "api" / "index.html").is_file()
    # the user guide pages that exist, rendered from Markdown
    for page in sorted(DOCS.glob("*.md")):
        assert (site / f"{page.stem}.html").is_file(), f"user guide page {page.name} not built"
    # the gallery ran: every example has its page and at least one figure
    examples = sorted(p.stem for p in (DOCS / "gallery").glob("plot_*.py"))
    assert len(examples) >= 4
    for name in examples:
        assert (site / "auto_gallery" / f"{name}.html").is_file(), name
        figures = list((site / "_images").glob(f"sphx_glr_{name}_0*.png"))
        assert figures, f"the gallery example {name} made no figure"


def _public(modname):
    module = importlib.import_module(modname)
    names = []
    for name in module.__all__:
        obj = getattr(module, name)
        if type(obj).__name__ == "module":  # spla.linalg etc.: documented as modules
            continue
        names.append(name)
    return names


def _is_numpys(obj):
    """NumPy's names and constants that spla re-exports (docs/conf.py's
    ``foreign_name`` tables them instead of giving them pages)."""
    import numbers

    import numpy as np

    module = getattr(obj, "__module__", None) or ""
    return (obj is None or isinstance(obj, (numbers.Number, np.generic, np.dtype))
            or module == "numpy" or module.startswith("numpy.")
            or (isinstance(obj, type) and issubclass(obj, np.generic)))


@pytest.mark.parametrize("modname", DOCUMENTED)
def test_every_public_name_has_an_api_page(site, modname):
    """spla's own public names have a page; NumPy's names that spla re-exports
    are in the table of api/unsorted (NumPy documents them)."""
    generated = site / "api" / "generated"
    module = importlib.import_module(modname)
    unsorted = (site / "api" / "unsorted.html").read_text(encoding="utf-8")
    missing = []
    for n in _public(modname):
        if (generated / f"{modname}.{n}.html").is_file():
            continue
        if _is_numpys(getattr(module, n)) and f"{modname}.{n}</span>" in unsorted:
            continue
        missing.append(n)
    assert not missing, f"public names of {modname} without an API page: {missing}"


def test_csr_array_page_documents_its_methods(site):
    text = (site / "api" / "generated" / "spla.csr_array.html").read_text(encoding="utf-8")
    for method in ("toarray", "to_scipy", "sum_duplicates", "astype", "to_device"):
        assert f'id="spla.csr_array.{method}"' in text, f"csr_array.{method} not documented"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and attrs.get("rel") == "preconnect"):
                self.links.append((tag, key, attrs[key]))


def _parse(path, cache):
    if path not in cache:
        parser = _Links()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = parser
    return cache[path]


def test_no_broken_internal_links(site):
    """Every relative href/src resolves to a file of the site, and every
    #fragment into one of its HTML pages names an id there."""
    cache = {}
    broken = []
    # _static holds the theme's files, among them a Jinja template named .html
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)
    assert len(pages) > 50
    checked = 0
    for page in pages:
        for tag, key, link in _parse(page, cache).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: <{tag} {key}={link!r}> (no file)")
                continue
            if parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in _parse(target, cache).ids:
                    broken.append(f"{page.relative_to(site)}: <{tag} {key}={link!r}> (no anchor)")
    assert checked > 1000
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:50])


def _chromium():
    for name in (os.environ.get("SPLA_CHROMIUM"), "chromium", "chromium-browser",
                 "google-chrome", "google-chrome-stable"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.parametrize("page", ["index.html", "api/generated/spla.csr_array.html"])
def test_page_renders_in_headless_chromium(site, page, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no headless Chromium (apt-get install chromium, or set SPLA_CHROMIUM)")
    import numpy as np
    from matplotlib.image import imread

    shot = tmp_path / (page.replace("/", "_") + ".png")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--hide-scrollbars", "--no-first-run", "--window-size=1280,1600",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           (site / page).as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and shot.is_file(), (
        f"chromium failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    image = imread(shot)
    assert image.shape[0] >= 1000 and image.shape[1] >= 1000, image.shape
    rgb = (np.asarray(image)[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    # a blank page is one colour; a rendered one has text and the theme's colours
    colours = np.unique(rgb[:: 7], axis=0).shape[0]
    dark = np.mean(rgb.mean(axis=1) < 128)
    assert colours > 50, f"{page}: screenshot has only {colours} colours (blank?)"
    assert 0.005 < dark < 0.9, f"{page}: {dark:.1%} of the screenshot is dark (blank?)"
