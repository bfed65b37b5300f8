"""The prebuilt cubins of ``spla_cuda/kernels/prebuilt`` against the current sources.

A cubin is loaded only when its name is the hash of the current source text
(headers pasted in), expression and options; an edit of a kernel source or a
header committed without a rebuild silently falls back to NVRTC on the GPU. These
tests catch that on any machine: they load ``spla_cuda/_compile.py`` on its own
(no CuPy, no GPU, no ``nvcc``) and compare the cubins with the committed lists
``prebuilt/*.jsonl``. The fix for a failure is in ``docs/gpu.md`` (rebuild with
``python spla_cuda/_compile.py build <list>``, delete the stale cubins).
"""

import importlib.util
import pathlib
import re

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[1] / "spla_cuda" / "_compile.py"


def _load():
    spec = importlib.util.spec_from_file_location("spla_cuda_compile_alone", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


comp = _load()
LISTS = sorted(comp.PREBUILT.glob("*.jsonl"))
CUBINS = sorted(comp.PREBUILT.glob("*.cubin"))


def test_compile_module_loads_without_cupy():
    # the build step and these tests need no CuPy; the launchers import it themselves
    assert not hasattr(comp, "cupy")


def test_every_cubin_is_listed_and_current():
    stale, missing = comp.check()
    assert not stale, (
        f"{len(stale)} prebuilt cubins match no line of prebuilt/*.jsonl under the current "
        f"sources (a source or header changed without a rebuild, or a list lacks them): {stale}")
    assert not missing, f"list lines without a cubin (run _compile.py build): {missing}"


@pytest.mark.skipif(not CUBINS, reason="no prebuilt cubins in this checkout")
def test_every_listed_cubin_holds_exactly_its_kernel():
    # _prebuilt loads a cubin only if it holds exactly one kernel
    assert LISTS
    for listing in LISTS:
        for source, expression, options in comp.instantiations(listing):
            path = comp.PREBUILT / f"{comp._key(source, expression, options)}.cubin"
            names = set(re.findall(rb"\.text\.(_Z[0-9A-Za-z_]+)\x00", path.read_bytes()))
            name = expression.split("<")[0].strip()
            assert len(names) == 1, (path.name, names)
            assert names.pop().startswith(f"_Z{len(name)}{name}I".encode()), (path.name, expression)


def test_sources_have_every_header_pasted():
    for cu in sorted(comp.KERNELS.glob("*.cu")):
        text = comp._source(cu.name)
        assert not comp._INCLUDE.search(text), cu.name
        assert "#pragma once" not in text, cu.name
    common = (comp.KERNELS / "attention_tc_common.cuh").read_text().replace("#pragma once", "")
    for name in ("attention_tc.cu", "attention_tc2.cu", "attention_tc_bwd.cu"):
        assert comp._source(name).count(common) == 1, name
        assert "__device__ __forceinline__ void cp_async16" not in (comp.KERNELS / name).read_text()


def test_paste_nests_pastes_once_and_names_a_missing_header(tmp_path, monkeypatch):
    (tmp_path / "a.cuh").write_text('#pragma once\n#include "b.cuh"\nint a;\n')
    (tmp_path / "b.cuh").write_text("#pragma once\nint b;\n")
    (tmp_path / "k.cu").write_text('// "#include "b.cuh"" in a comment stays\n'
                                   '#include "a.cuh"\n#include "b.cuh"\n#include <x.h>\nint k;\n')
    (tmp_path / "bad.cu").write_text('#include "nope.cuh"\n')
    monkeypatch.setattr(comp, "KERNELS", tmp_path)
    assert comp._paste("k.cu", {"k.cu"}) == ('// "#include "b.cuh"" in a comment stays\n'
                                             "\n\nint b;\n\nint a;\n\n\n#include <x.h>\nint k;\n")
    with pytest.raises(FileNotFoundError, match="nope.cuh"):
        comp._paste("bad.cu", {"bad.cu"})
