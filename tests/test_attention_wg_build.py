"""Build check of the wgmma attention forward (spla_cuda/kernels/attention_wg.cu) with
``nvcc`` for sm_90a, no GPU needed (skipped without ``nvcc``): each instantiation
the launcher uses (spla_cuda/attention.py, ``_wg_kernel``, ``_wg2_kernel``,
``_wg_pp_kernel``) compiles from the text
NVRTC is given (``_compile._source``: the header pasted in, no include left),
without register spills, and without ptxas having to serialise the wgmma
products or inject warpgroup fences or waits of its own (notes C7514, C7517,
C7519), which would mean a register of a product in flight is touched outside
the kernel's own fences.
"""

import importlib.util
import pathlib
import re
import shutil
import subprocess

import pytest

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="needs nvcc (the CUDA toolkit)")

_spec = importlib.util.spec_from_file_location(
    "_spla_compile", pathlib.Path(__file__).parents[1] / "spla_cuda" / "_compile.py")
comp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(comp)

# (head dimension, overlap, stages) of variant "wg" and "wg_sync" (attention._wg_stages)
CONFIGS = [(64, "true", 4), (128, "true", 3), (64, "false", 3), (128, "false", 3)]
# variant "wg2": attn_fwd_wg2<tag, d, attention._WG2_STAGES>
# variant "wg_pp": attn_fwd_wg_pp<tag, d, attention._WG_PP_STAGES[d]>
PP_STAGES = {64: 8, 128: 5}
EXPRESSIONS = ([f"attn_fwd_wg<{{tag}}, {d}, {o}, {s}>" for d, o, s in CONFIGS]
               + [f"attn_fwd_wg2<{{tag}}, {d}, 4>" for d in (64, 128)]
               + [f"attn_fwd_wg_pp<{{tag}}, {d}, {s}>" for d, s in PP_STAGES.items()])


def test_source_has_no_include_left():
    src = comp._source("attention_wg.cu")
    assert not re.search(r"^[ \t]*#[ \t]*include", src, re.MULTILINE)


@pytest.mark.parametrize("tag", ["f16", "bf16"])
@pytest.mark.parametrize("template", EXPRESSIONS)
def test_builds_without_spills(tag, template, tmp_path):
    expr = template.format(tag=tag)
    cu = tmp_path / "k.cu"
    cu.write_text(comp._source("attention_wg.cu")
                  + f"\nstatic void* const spla_wg_check = (void*)&{expr};\n")
    done = subprocess.run([NVCC, "-cubin", "-gencode=arch=compute_90a,code=sm_90a", "-std=c++17",
                           "-Xptxas", "-v", "-o", str(tmp_path / "k.cubin"), str(cu)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    report = done.stderr
    spills = [int(x) for x in re.findall(r"(\d+) bytes spill stores", report)]
    assert spills and max(spills) == 0, report
    # C7512/C7513: ptxas serialised the wgmma products (too few registers; an operand
    # register written while a product runs); C7514/C7517/C7519: fences or waits it
    # had to inject; C7520: a wgmma under a branch it could not prove warp-uniform
    assert not re.search(r"C75(12|13|14|17|19|20)", report), report


def test_pp_stages_are_the_launchers():
    if importlib.util.find_spec("cupy") is None:
        pytest.skip("spla_cuda.attention imports CuPy")
    from spla_cuda import attention

    assert attention._WG_PP_STAGES == PP_STAGES


# The wgmma backward (attention_wg_bwd.cu): the (overlap, stages, A in registers) of
# attention._wg_bwd_config for "wg", "wg_sync" and "wg_rs" at each head dimension.
BWD_CONFIGS = [(64, "true", 4, "false"), (64, "false", 3, "false"), (64, "true", 4, "true"),
               (128, "false", 2, "false")]
BWD_EXPRESSIONS = ([f"{k}<{{tag}}, {d}, {o}, {s}, {a}>" for k in ("attn_bwd_dq_wg", "attn_bwd_dkv_wg")
                    for d, o, s, a in BWD_CONFIGS]
                   # both in one launch (attention._BWD_ONE_LAUNCH): d = 64 only
                   + [f"attn_bwd_wg<{{tag}}, {d}, {o}, {s}, {a}>" for d, o, s, a in BWD_CONFIGS if d == 64])


def test_bwd_configs_are_the_launchers():
    spec = importlib.util.find_spec("cupy")
    if spec is None:
        pytest.skip("spla_cuda.attention imports CuPy")
    from spla_cuda import attention

    b = {True: "true", False: "false"}
    got = {(d, b[o], s, b[a]) for d in (64, 128) for v in ("wg", "wg_sync", "wg_rs")
           for o, s, a in [attention._wg_bwd_config(d, v)]}
    assert got == set(BWD_CONFIGS)


def test_bwd_source_has_no_include_left():
    src = comp._source("attention_wg_bwd.cu")
    assert not re.search(r"^[ \t]*#[ \t]*include", src, re.MULTILINE)


@pytest.mark.parametrize("tag", ["f16", "bf16"])
@pytest.mark.parametrize("template", BWD_EXPRESSIONS)
def test_bwd_builds_without_spills(tag, template, tmp_path):
    expr = template.format(tag=tag)
    cu = tmp_path / "k.cu"
    cu.write_text(comp._source("attention_wg_bwd.cu")
                  + f"\nstatic void* const spla_wg_check = (void*)&{expr};\n")
    done = subprocess.run([NVCC, "-cubin", "-gencode=arch=compute_90a,code=sm_90a", "-std=c++17",
                           "-Xptxas", "-v", "-o", str(tmp_path / "k.cubin"), str(cu)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    report = done.stderr
    spills = [int(x) for x in re.findall(r"(\d+) bytes spill stores", report)]
    assert spills and max(spills) == 0, report
    # C7513: ptxas serialised the wgmma pipeline (an operand register written while a
    # product runs); C7514/C7517/C7519: fences or waits it had to inject
    assert not re.search(r"C75(13|14|17|19)", report), report
