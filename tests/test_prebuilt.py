"""The prebuilt sm_90a cubins (spla_cuda/kernels/prebuilt) match the current sources.

A cubin is named by a hash of its kernel source (shared headers pasted in), the
template instantiation and the options (``spla_cuda._compile._key``), and is used
only when that hash matches: an edited source without a rebuild silently falls
back to NVRTC (seconds of compilation on a user's first call). Every
``prebuilt/*.jsonl`` lists the instantiations of a source; these tests check, on
the CPU without CuPy or nvcc, that each listed instantiation has its cubin under
the current sources and that no stale cubin of a listed source is left behind.
Rebuild with ``python spla_cuda/_compile.py build spla_cuda/kernels/prebuilt/<list>.jsonl``
(docs/gpu.md).
"""

import importlib.util
import json
import pathlib
import re
import runpy
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PREBUILT = ROOT / "spla_cuda" / "kernels" / "prebuilt"
LISTINGS = sorted(PREBUILT.glob("*.jsonl"))


@pytest.fixture(scope="module")
def compile_module():
    """``spla_cuda/_compile.py``'s functions without CuPy: imported on its own where
    it imports CuPy lazily, else run the way its build step runs it."""
    path = ROOT / "spla_cuda" / "_compile.py"
    spec = importlib.util.spec_from_file_location("spla_compile_alone", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return vars(module)
    except ImportError:  # a module-level "import cupy" that only its build step skips
        argv = sys.argv
        sys.argv = [str(path)]  # not "build": define, run nothing
        try:
            return runpy.run_path(str(path), run_name="__main__")
        finally:
            sys.argv = argv


def _listed(compile_module):
    """(listing, item, key) of every line of every listing."""
    out = []
    for listing in LISTINGS:
        for line in listing.read_text().splitlines():
            item = json.loads(line)
            key = compile_module["_key"](item["source"], item["expression"],
                                         tuple(item["options"]))
            out.append((listing.name, item, key))
    return out


def test_there_are_listings():
    assert any(p.name == "csr.jsonl" for p in LISTINGS)


def test_every_listed_instantiation_has_a_current_cubin(compile_module):
    missing = [f"{name}: {item['expression']} (expected {key}.cubin)"
               for name, item, key in _listed(compile_module)
               if not (PREBUILT / f"{key}.cubin").is_file()]
    assert not missing, (
        f"{len(missing)} prebuilt cubins do not match the current sources; rebuild with "
        "`python spla_cuda/_compile.py build spla_cuda/kernels/prebuilt/<list>.jsonl`:\n"
        + "\n".join(missing[:20]))


def test_no_stale_cubins_of_listed_sources(compile_module):
    listed = _listed(compile_module)
    keys = {key for _, _, key in listed}
    stems = {pathlib.Path(item["source"]).stem for _, item, _ in listed}
    stale = [p.name for p in PREBUILT.glob("*.cubin")
             if p.stem.rsplit("-", 1)[0] in stems and p.stem not in keys]
    assert not stale, f"cubins no listed instantiation builds (remove them): {stale[:20]}"


def test_each_cubin_holds_its_one_kernel(compile_module):
    """The loader (``_compile._prebuilt``) takes the one kernel a cubin holds: it must
    be there, alone, and be the function the expression names."""
    for _, item, key in _listed(compile_module):
        path = PREBUILT / f"{key}.cubin"
        if not path.is_file():
            continue  # reported by the test above
        names = set(re.findall(rb"\.text\.(_Z[0-9A-Za-z_]+)\x00", path.read_bytes()))
        function = item["expression"].split("<", 1)[0].strip()
        assert [n[:len(f"_Z{len(function)}{function}")] for n in names] == \
            [f"_Z{len(function)}{function}".encode()], (path.name, names)
