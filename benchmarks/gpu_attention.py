"""GPU attention suite (``python -m benchmarks --gpu --gpu-suites attention``):
spla's block-sparse attention (``spla.attention.block_pattern`` + the fused
kernels of ``spla_cuda/kernels/attention_tc.cu``) against PyTorch's
``flex_attention`` (``torch.compile``d, with the block mask of the same pattern)
and dense ``scaled_dot_product_attention`` over every key (causal where the
pattern is), both sides in one run, CUDA-event medians of alternating samples.

The issue's shapes: 1 batch, 16 heads, sequence length 16,384, head dimension 64
and 128; sliding windows w = 256 and 1024 (``|i - j| <= w / 2``), global + local
(w = 256, tokens 0..63 global), strided (``j mod 128 == 0``); causal and not;
float16 and bfloat16; forward, and forward + backward. Every spla output is
checked against flex_attention's before it is timed.

flex_attention's mask: by default one ``mask_mod`` per pattern kind and causality
(``_mask_mod``), written with Python constants as a flex user writes it, so
``torch.compile`` specialises flex's kernels to each pattern (compiled once per
pattern, dtype and head dimension). ``SPLA_BENCH_FLEX_MASK=shared`` uses instead
the earlier single mask function of every pattern (parameters in 0-d tensors set in
place: compiled once per dtype and head dimension, but each mask evaluation reads
the tensors and evaluates every pattern's terms), and ``both`` times the two
(``flex`` per pattern, ``flex_shared``). The per-pattern masks raise torch._dynamo's
recompile limits, which 8 masks x dtypes exceed.

Passes: ``fwd``; ``fwd+bwd`` (forward and ``.backward``, each step starting with the
inputs' ``.grad`` set to None, as ``optimizer.zero_grad()`` leaves them, so that the
step's gradients are handed over rather than added to the last step's: until session
24 they were added: three elementwise kernels over Q, K and V in every contender's
step, 288 MiB of traffic at L = 16,384, d = 64, some 0.09 ms at an H100's 3.35 TB/s);
``bwd``, the backward
alone (``_backward_alone``): median(forward + backward) minus median(forward on
inputs that require gradients), alternated in one run, and also
``torch.autograd.grad(out, (q, k, v), dout, retain_graph=True)`` on a kept graph
where the contender allows it (spla: ``sparse_attention_torch``'s backward, i.e.
its ``attention_tc_bwd.cu`` kernels; flex: its compiled backward; SDPA:
FlashAttention's/cuDNN's). spla's gradients are checked against flex's first. float32 forward rows also time
``precision="tf32"`` (``spla_tf32``, the tensor-core TF32 kernel) beside the exact one.

Every row is timed twice: as above, where a sample starts while the GPU is idle, so
the host's time to issue the first call (and, where the host is slower than the GPU,
every call) adds to it; and queued (``time_gpu(queued=True)``), each sample's calls
queued behind a spin kernel, which times the GPU's work alone. At L = 16,384 a
forward + backward step of either library takes the host 0.3-0.5 ms (PyTorch's
autograd, the launches), as long as the kernels' GPU time, so the first figure
mixes host and GPU; the second is what a training loop that runs ahead of the GPU
sees.

The default grid (``_grid``) keeps the run within about five minutes on an H200;
``SPLA_BENCH_ATTENTION=full`` times every combination, ``SPLA_BENCH_ATTENTION=quick``
a few rows at sequence length ``SPLA_BENCH_ATTENTION_L`` (a smoke test), and rows
past ``SPLA_BENCH_ATTENTION_BUDGET_S`` seconds (300 by default, counted from the start
of the suite) are reported as skipped.
"""

import os
import time

import numpy as np

from .gpu import time_gpu

L = int(os.environ.get("SPLA_BENCH_ATTENTION_L", "16384"))
H, B = 16, 1
PATTERNS = ("local256", "local1024", "global_local256", "strided128")


def _grid():
    """(pattern, causal, d, dtype, pass) tuples timed by default or with ``full``."""
    mode = os.environ.get("SPLA_BENCH_ATTENTION", "")
    if mode == "quick":
        return [("local256", False, 64, "float32", "fwd"), ("local256", True, 64, "bfloat16", "bwd"),
                ("local256", True, 64, "bfloat16", "fwd+bwd"), ("local256", True, 64, "bfloat16", "fwd")]
    full = mode == "full"
    rows = []
    for d in (64, 128):
        for dtype in ("float16", "bfloat16"):
            for pattern in PATTERNS:
                for causal in (False, True):
                    fwd = full or d == 64 or dtype == "bfloat16"
                    bwd = full or (d == 64 and dtype == "bfloat16")
                    if fwd:
                        rows.append((pattern, causal, d, dtype, "fwd"))
                    if bwd:
                        rows.append((pattern, causal, d, dtype, "fwd+bwd"))
                        rows.append((pattern, causal, d, dtype, "bwd"))
    for pattern in ("local256", "local1024"):
        rows.append((pattern, False, 64, "float32", "fwd"))
    return rows


def _spla_pattern(name, causal):
    from spla import attention as at

    if name.startswith("local"):
        P = at.local_pattern(L, int(name[5:]))
    elif name.startswith("global_local"):
        P = at.global_local_pattern(L, int(name[12:]), np.arange(64))
    else:
        P = at.strided_pattern(L, int(name[7:]))
    return at.block_pattern(P, causal=causal)


def _mask_mod(name, causal):
    """flex_attention's mask_mod for one pattern, as a flex user writes it: the
    pattern's own test with Python constants (no tensors, no other pattern's terms)."""
    if name.startswith("local"):
        half = int(name[5:]) // 2
        if causal:
            def mask_mod(b, h, q, kv):
                return (kv <= q) & (q - kv <= half)
        else:
            def mask_mod(b, h, q, kv):
                return (q - kv).abs() <= half
    elif name.startswith("global_local"):
        half, nglob = int(name[12:]) // 2, 64
        if causal:
            def mask_mod(b, h, q, kv):
                return (kv <= q) & ((q - kv <= half) | (q < nglob) | (kv < nglob))
        else:
            def mask_mod(b, h, q, kv):
                return ((q - kv).abs() <= half) | (q < nglob) | (kv < nglob)
    else:
        stride = int(name[7:])
        if causal:
            def mask_mod(b, h, q, kv):
                return (kv <= q) & (kv % stride == 0)
        else:
            def mask_mod(b, h, q, kv):
                return kv % stride == 0
    mask_mod.__name__ = f"mask_{name}{'_causal' if causal else ''}"
    return mask_mod


def _per_pattern_block_mask(name, causal):
    from torch.nn.attention.flex_attention import create_block_mask

    return create_block_mask(_mask_mod(name, causal), None, None, L, L, device="cuda")


def _raise_recompile_limits(torch, n):
    """Let torch.compile keep ``n`` specialisations of flex_attention (one per mask
    function; the default limit, 8, would fall back to eager flex_attention)."""
    cfg = torch._dynamo.config
    for attr in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                 "accumulated_recompile_limit"):
        if hasattr(cfg, attr):
            setattr(cfg, attr, max(getattr(cfg, attr), n))


class _FlexMask:
    """One mask_mod for every pattern; its parameters are 0-d tensors set in place
    (``SPLA_BENCH_FLEX_MASK=shared`` or ``both``)."""

    def __init__(self, torch):
        dev = "cuda"
        # plain closure variables (not attributes): what torch.compile traces most simply
        half = torch.zeros((), dtype=torch.int64, device=dev)
        nglob = torch.zeros((), dtype=torch.int64, device=dev)
        stride = torch.ones((), dtype=torch.int64, device=dev)
        use_stride = torch.zeros((), dtype=torch.bool, device=dev)
        causal = torch.zeros((), dtype=torch.bool, device=dev)
        self.half, self.glob, self.stride, self.use_stride, self.causal = (
            half, nglob, stride, use_stride, causal)

        def mask_mod(b, h, q, kv):
            local = (q - kv).abs() <= half
            glob = (q < nglob) | (kv < nglob)
            strided = use_stride & (kv % stride == 0)
            return ((local & ~use_stride) | glob | strided) & ((kv <= q) | ~causal)

        self.mask_mod = mask_mod

    def set(self, name, causal):
        """Point the mask function at pattern ``name`` (flex_attention reads these
        tensors when it runs: set them before every call for that pattern)."""
        if name.startswith("local"):
            half, glob, stride, use = int(name[5:]) // 2, 0, 1, False
        elif name.startswith("global_local"):
            half, glob, stride, use = int(name[12:]) // 2, 64, 1, False
        else:
            half, glob, stride, use = 0, 0, int(name[7:]), True
        self.half.fill_(half)
        self.glob.fill_(glob)
        self.stride.fill_(stride)
        self.use_stride.fill_(use)
        self.causal.fill_(causal)

    def block_mask(self, name, causal):
        from torch.nn.attention.flex_attention import create_block_mask

        self.set(name, causal)
        return create_block_mask(self.mask_mod, None, None, L, L, device="cuda")


def _flex_modes():
    mode = os.environ.get("SPLA_BENCH_FLEX_MASK", "per_pattern")
    if mode not in ("per_pattern", "shared", "both"):
        raise ValueError(f"SPLA_BENCH_FLEX_MASK={mode!r}: choose per_pattern, shared or both")
    return {"per_pattern": ("flex",), "shared": ("flex_shared",), "both": ("flex", "flex_shared")}[mode]


def _rel(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm())


def _backward_alone(torch, F, sa, q, k, v, dout, bp, causal, flex, flexes, repeat, row):
    """Seconds of each contender's backward alone, two ways (both recorded in ``row``):

    1. ``fwd+bwd`` minus ``fwd``, timed alternately in one run, where ``fwd`` is the
       forward on inputs that require gradients (the forward of a training step, which
       saves what the backward needs). This is the figure returned (``<c>_ms``).
    2. ``torch.autograd.grad(out, (q, k, v), dout, retain_graph=True)`` on a graph kept
       from one forward (``<c>_grad_ms``), for each contender where it runs (a compiled
       backward with donated buffers refuses ``retain_graph``: reported, not hidden).

    spla's gradients are compared with flex_attention's first (a fresh forward each).
    """
    qg, kg, vg = (x.detach().clone().requires_grad_() for x in (q, k, v))
    fwds = {"spla": lambda: sa.torch_sparse_attention(qg, kg, vg, bp)}
    for fk, bm in flexes.items():
        fwds[fk] = (lambda bm: lambda: flex(qg, kg, vg, block_mask=bm))(bm)
    fwds["sdpa_dense"] = lambda: F.scaled_dot_product_attention(qg, kg, vg, is_causal=causal)
    ref_kind = next(iter(flexes), None)
    if ref_kind is not None:
        try:
            mine = torch.autograd.grad(fwds["spla"](), (qg, kg, vg), dout)
            theirs = torch.autograd.grad(fwds[ref_kind](), (qg, kg, vg), dout)
            for nm, a, b in zip("qkv", mine, theirs):
                row[f"rel_err_d{nm}_vs_flex"] = _rel(a, b)
            del mine, theirs
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            row["grad_check_error"] = f"{type(exc).__name__}: {exc}"[:300]

    def step(fwd):
        def run():
            qg.grad = kg.grad = vg.grad = None   # as zero_grad(set_to_none=True) leaves them
            fwd().backward(dout)
        return run

    contenders = {}
    for c, fwd in fwds.items():
        contenders[f"{c}:fwd"] = fwd
        contenders[f"{c}:fwd+bwd"] = step(fwd)
    both = time_gpu(contenders, repeat=repeat, inner=3, warmup=2)
    queued = time_gpu(contenders, repeat=repeat, inner=3, warmup=1, queued=True)
    row["bwd_method"] = "median(fwd+bwd) - median(fwd), alternated in one run"
    t, tq = {}, {}
    for c in fwds:
        fb, f = both[f"{c}:fwd+bwd"], both[f"{c}:fwd"]
        row[f"{c}_fwd_ms"] = f["median"] * 1e3
        row[f"{c}_fwdbwd_ms"] = fb["median"] * 1e3
        t[c] = {"median": fb["median"] - f["median"], "min": fb["min"] - f["min"]}
        fb, f = queued[f"{c}:fwd+bwd"], queued[f"{c}:fwd"]
        tq[c] = {"median": fb["median"] - f["median"], "min": fb["min"] - f["min"],
                 "starved": fb["starved"] + f["starved"]}
    grads = {}
    for c, fwd in fwds.items():
        try:
            out = fwd()
            g = (lambda out: lambda: torch.autograd.grad(out, (qg, kg, vg), dout, retain_graph=True))(out)
            g()
            g()
            grads[c] = g
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            row[f"{c}_grad_error"] = f"{type(exc).__name__}: {exc}"[:200]
    if grads:
        for c, v_ in time_gpu(grads, repeat=repeat, inner=3, warmup=1).items():
            row[f"{c}_grad_ms"] = v_["median"] * 1e3
    del grads, contenders
    return t, tq


def attention_suite(repeat, report):
    import cupy
    import torch
    import torch.nn.functional as F
    from torch.nn.attention.flex_attention import flex_attention

    from spla_cuda import attention as sa

    rows = _grid()
    flex_kinds = _flex_modes()
    _raise_recompile_limits(torch, 256)
    flex = torch.compile(flex_attention, dynamic=False)
    shared = _FlexMask(torch) if "flex_shared" in flex_kinds else None
    patterns, block_masks = {}, {}
    t_build = time.perf_counter()
    for (pname, causal, *_rest) in rows:
        if (pname, causal) not in patterns:
            t0 = time.perf_counter()
            patterns[(pname, causal)] = _spla_pattern(pname, causal)
            t1 = time.perf_counter()
            bms = {}
            if "flex" in flex_kinds:
                bms["flex"] = _per_pattern_block_mask(pname, causal)
            if shared is not None:
                bms["flex_shared"] = shared.block_mask(pname, causal)
            block_masks[(pname, causal)] = bms
            bp = patterns[(pname, causal)]
            print(f"  pattern {pname}{' causal' if causal else ''}: {bp!r}, tile density "
                  f"{bp.tile_density():.2f}, spla's built in {t1 - t0:.1f} s, flex's block "
                  f"mask(s) in {time.perf_counter() - t1:.1f} s", flush=True)
    report["attention_pattern_build_s"] = time.perf_counter() - t_build
    report["attention_flex_mask"] = list(flex_kinds)
    report["attention_shape"] = {"B": B, "H": H, "L": L}
    gen = torch.Generator(device="cuda").manual_seed(0)
    tensors = {}
    budget = float(os.environ.get("SPLA_BENCH_ATTENTION_BUDGET_S", "300"))
    for (pname, causal, d, dtype, which) in rows:
        if time.perf_counter() - t_build > budget:
            report.setdefault("attention", []).append(
                {"pattern": pname, "causal": causal, "d": d, "dtype": dtype, "pass": which,
                 "error": f"skipped: the suite's time budget ({budget:.0f} s) is spent"})
            continue
        t_row = time.perf_counter()
        tdt = getattr(torch, dtype)
        if (d, dtype) not in tensors:
            tensors.clear()
            torch.cuda.empty_cache()
            tensors[(d, dtype)] = [torch.randn((B, H, L, d), device="cuda", dtype=tdt, generator=gen)
                                   for _ in range(4)]
        q, k, v, dout = tensors[(d, dtype)]
        bp, bms = patterns[(pname, causal)], block_masks[(pname, causal)]
        if shared is not None:
            shared.set(pname, causal)
        row = {"pattern": pname, "causal": causal, "d": d, "dtype": dtype, "pass": which,
               "tiles": bp.ntiles, "full_tiles": bp.nfull, "tile_density": bp.tile_density(),
               "nnz_per_head": bp.nnz}
        try:
            got = sa.forward(q, k, v, bp)[0]
        except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
            row["error"] = f"spla: {type(exc).__name__}: {exc}"[:300]
            print(f"  {pname} causal={causal} d={d} {dtype} {which}: FAILED {row['error']}", flush=True)
            report.setdefault("attention", []).append(row)
            continue
        flexes = {}
        for fk in flex_kinds:
            try:
                ref = flex(q, k, v, block_mask=bms[fk])
                row[f"rel_err_vs_{fk}"] = _rel(got, ref)
                flexes[fk] = bms[fk]
                del ref
            except Exception as exc:  # noqa: BLE001 - reported, spla and SDPA still timed
                row[f"{fk}_error"] = f"{type(exc).__name__}: {exc}"[:300]
                print(f"  {fk} failed: {row[f'{fk}_error']}", flush=True)
        if "rel_err_vs_flex" not in row and "rel_err_vs_flex_shared" in row:
            row["rel_err_vs_flex"] = row["rel_err_vs_flex_shared"]
        del got

        def flex_call(bm):
            return lambda: flex(q, k, v, block_mask=bm)

        if which == "fwd":
            contenders = {"spla": lambda: sa.forward(q, k, v, bp)}
            contenders.update({fk: flex_call(bm) for fk, bm in flexes.items()})
            contenders["sdpa_dense"] = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            if d == 64 and dtype != "float32":
                # the 2-warp variant (attention_tc2.cu), checked against the default first
                try:
                    alt = sa.forward(q, k, v, bp, variant="tc2")[0]
                    main = sa.forward(q, k, v, bp)[0]
                    row["tc2_rel_err_vs_tc"] = _rel(alt, main)
                    contenders["spla_tc2"] = lambda: sa.forward(q, k, v, bp, variant="tc2")
                    del alt, main
                except Exception as exc:  # noqa: BLE001 - reported, not hidden
                    row["tc2_error"] = f"{type(exc).__name__}: {exc}"[:300]
            if dtype == "float32":
                # the TF32 tensor-core forward (precision="tf32"), checked against the exact one
                try:
                    alt = sa.forward(q, k, v, bp, precision="tf32")[0]
                    main = sa.forward(q, k, v, bp)[0]
                    row["tf32_rel_err_vs_exact"] = _rel(alt, main)
                    contenders["spla_tf32"] = lambda: sa.forward(q, k, v, bp, precision="tf32")
                    del alt, main
                except Exception as exc:  # noqa: BLE001 - reported, not hidden
                    row["tf32_error"] = f"{type(exc).__name__}: {exc}"[:300]
        elif which == "fwd+bwd":
            qg, kg, vg = (x.detach().clone().requires_grad_() for x in (q, k, v))

            def no_grads():
                qg.grad = kg.grad = vg.grad = None   # as zero_grad(set_to_none=True) leaves them

            def spla_step():
                no_grads()
                sa.torch_sparse_attention(qg, kg, vg, bp).backward(dout)

            def flex_step(bm):
                def run():
                    no_grads()
                    flex(qg, kg, vg, block_mask=bm).backward(dout)
                return run

            def sdpa_step():
                no_grads()
                F.scaled_dot_product_attention(qg, kg, vg, is_causal=causal).backward(dout)

            contenders = {"spla": spla_step}
            contenders.update({fk: flex_step(bm) for fk, bm in flexes.items()})
            contenders["sdpa_dense"] = sdpa_step
        else:
            contenders = None
        try:
            if which == "bwd":
                t, tq = _backward_alone(torch, F, sa, q, k, v, dout, bp, causal, flex, flexes, repeat, row)
            else:
                t = time_gpu(contenders, repeat=repeat, inner=3, warmup=2)
                tq = time_gpu(contenders, repeat=repeat, inner=3, warmup=1, queued=True)
        except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
            row["error"] = f"{type(exc).__name__}: {exc}"[:300]
            print(f"  {pname} causal={causal} d={d} {dtype} {which}: FAILED {row['error']}", flush=True)
            report.setdefault("attention", []).append(row)
            continue
        row["times"], row["times_queued"] = t, tq
        for c, v_ in t.items():
            row[f"{c}_ms"] = v_["median"] * 1e3
        for c, v_ in tq.items():
            row[f"{c}_queued_ms"] = v_["median"] * 1e3
        row["starved_samples"] = {c: v_["starved"] for c, v_ in tq.items() if v_["starved"]}
        fbase = "flex" if "flex" in t else ("flex_shared" if "flex_shared" in t else None)
        row["flex_baseline"] = fbase
        row["speedup_vs_flex"] = (t[fbase]["median"] / t["spla"]["median"]) if fbase else float("nan")
        if "flex_shared" in t:
            row["speedup_vs_flex_shared"] = t["flex_shared"]["median"] / t["spla"]["median"]
        row["speedup_vs_sdpa"] = t["sdpa_dense"]["median"] / t["spla"]["median"]
        if fbase:
            row["queued_speedup_vs_flex"] = tq[fbase]["median"] / tq["spla"]["median"]
        if "spla_tc2" in t and fbase:
            row["tc2_speedup_vs_flex"] = t[fbase]["median"] / t["spla_tc2"]["median"]
        if "spla_tf32" in t and fbase:
            row["tf32_speedup_vs_flex"] = t[fbase]["median"] / t["spla_tf32"]["median"]
        if which == "fwd":
            # visited tiles' tensor-core work: 2 products of 64 x 64 x d per (head, tile)
            flops = 4 * 64 * 64 * d * bp.ntiles * B * H
            row["spla_TFLOPs_visited"] = flops / t["spla"]["median"] / 1e12
        row["row_s"] = time.perf_counter() - t_row
        report.setdefault("attention", []).append(row)
        extra = ""
        if "flex_shared_ms" in row and fbase == "flex":
            extra += f"; flex shared mask {row['flex_shared_ms']:.3f} ms"
        if fbase:
            extra += (f"; queued (GPU time): spla {row['spla_queued_ms']:.3f} ms, flex "
                      f"{row[f'{fbase}_queued_ms']:.3f} ms, x{row['queued_speedup_vs_flex']:.2f}")
            if row["starved_samples"]:
                extra += f" (starved samples {row['starved_samples']})"
        if "spla_tc2_ms" in row:
            extra += f"; tc2 {row['spla_tc2_ms']:.3f} ms"
        if "spla_tf32_ms" in row:
            extra += (f"; tf32 {row['spla_tf32_ms']:.3f} ms "
                      f"(err vs exact {row.get('tf32_rel_err_vs_exact', float('nan')):.1e})")
        if "rel_err_dq_vs_flex" in row:
            extra += "; grad err vs flex " + "/".join(f"{row[f'rel_err_d{c}_vs_flex']:.1e}" for c in "qkv")
        if which == "bwd":
            extra += "; autograd.grad on a kept graph: " + ", ".join(
                f"{c} {row[f'{c}_grad_ms']:.3f} ms" if f"{c}_grad_ms" in row else f"{c} failed"
                for c in t)
        print(f"  {pname:16s} causal={int(causal)} d={d:3d} {dtype:8s} {which:7s}: spla "
              f"{row['spla_ms']:.3f} ms, flex {row.get(f'{fbase}_ms', float('nan')):.3f} ms, dense SDPA "
              f"{row['sdpa_dense_ms']:.3f} ms; x{row['speedup_vs_flex']:.2f} vs flex "
              f"(err vs flex {row.get('rel_err_vs_flex', float('nan')):.1e}){extra} "
              f"[{row['row_s']:.1f} s]", flush=True)
    tensors.clear()
    if os.environ.get("SPLA_BENCH_ATTENTION", "") != "quick":
        _full_tile_rate(report, repeat, budget, t_build)
    cupy.get_default_memory_pool().free_all_blocks()
    torch.cuda.empty_cache()


def _all_keys_pattern(n):
    """A BlockPattern in which every query attends to every key (all tiles full),
    built directly (no element pattern)."""
    from spla.ml.attention import BlockPattern

    nb = n // 64
    keys = np.arange(n, dtype=np.int32).reshape(nb, 64)
    return BlockPattern((n, n), 64, 64, np.arange(0, nb * nb + 1, nb, dtype=np.int32),
                        np.tile(keys, (nb, 1)), np.full(nb * nb, -1, np.int32),
                        np.zeros((0, 64, 2), np.uint32), n * n)


def _full_tile_rate(report, repeat, budget, t_start, n=8192):
    """The kernel on full tiles only (every key, so dense SDPA does the same work):
    TFLOP/s of spla's forward against dense SDPA's (FlashAttention / cuDNN)."""
    import torch
    import torch.nn.functional as F

    from spla_cuda import attention as sa

    bp = _all_keys_pattern(n)
    for d in (64, 128):
        for dtype in ("float16", "bfloat16"):
            if time.perf_counter() - t_start > budget:
                return
            q, k, v = (torch.randn((1, H, n, d), device="cuda", dtype=getattr(torch, dtype))
                       for _ in range(3))
            try:
                got = sa.forward(q, k, v, bp)[0]
                ref = F.scaled_dot_product_attention(q, k, v)
                err = float((got.float() - ref.float()).norm() / ref.float().norm())
                contenders = {"spla": lambda: sa.forward(q, k, v, bp),
                              "sdpa_dense": lambda: F.scaled_dot_product_attention(q, k, v)}
                if d == 64:
                    alt = sa.forward(q, k, v, bp, variant="tc2")[0]
                    err_tc2 = float((alt.float() - ref.float()).norm() / ref.float().norm())
                    contenders["spla_tc2"] = lambda: sa.forward(q, k, v, bp, variant="tc2")
                t = time_gpu(contenders, repeat=repeat, inner=3, warmup=2)
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                report.setdefault("attention_full_tiles", []).append(
                    {"n": n, "d": d, "dtype": dtype, "error": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            flops = 4 * n * n * d * H
            row = {"n": n, "d": d, "dtype": dtype, "rel_err_vs_sdpa": err,
                   "spla_TFLOPs": flops / t["spla"]["median"] / 1e12,
                   "sdpa_TFLOPs": flops / t["sdpa_dense"]["median"] / 1e12, "times": t}
            if "spla_tc2" in t:
                row["spla_tc2_TFLOPs"] = flops / t["spla_tc2"]["median"] / 1e12
                row["tc2_rel_err_vs_sdpa"] = err_tc2
            report.setdefault("attention_full_tiles", []).append(row)
            print(f"  full tiles n={n} d={d} {dtype}: spla {row['spla_TFLOPs']:.0f} TFLOP/s, dense "
                  f"SDPA {row['sdpa_TFLOPs']:.0f} TFLOP/s (err {err:.1e})"
                  + (f", tc2 {row['spla_tc2_TFLOPs']:.0f} TFLOP/s (err {err_tc2:.1e})"
                     if "spla_tc2" in t else ""), flush=True)


def markdown(report):
    rows = report.get("attention") or []
    if not rows and not report.get("attention_full_tiles"):
        return []
    shape = report.get("attention_shape", {"B": B, "H": H, "L": L})
    kinds = report.get("attention_flex_mask", ["flex_shared"])
    lines = ["", f"## Block-sparse attention (B = {shape['B']}, H = {shape['H']}, L = {shape['L']:,}; "
             "ms, CUDA-event medians)", "",
             "flex_attention's mask: " + (" and ".join(
                 {"flex": "one mask_mod per pattern (Python constants)",
                  "flex_shared": "one shared mask_mod (0-d tensor parameters)"}[k] for k in kinds))
             + "; `vs flex` divides by the first. Pass `bwd`: the backward alone, as the "
             "median of forward + backward minus the median of the forward (inputs requiring "
             "gradients), alternated in one run; the last column times "
             "`torch.autograd.grad(..., retain_graph=True)` on a kept graph instead. `queued`: the "
             "GPU's time alone (each sample's calls queued behind a spin kernel, `time_gpu(queued="
             "True)`), spla / flex and flex / spla; * marks a row with starved samples.", "",
             "| pattern | causal | d | dtype | pass | spla | flex_attention | flex (shared mask) | dense SDPA "
             "| vs flex | queued spla / flex | queued vs flex | vs SDPA | tiles (full) | err vs flex "
             "| other spla kernel |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    nan = float("nan")
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['pattern']} | {r['causal']} | {r['d']} | {r['dtype']} | {r['pass']} "
                         f"| failed: {r['error']} | | | | | | | | | | |")
            continue
        if r["pass"] == "bwd":
            err = "d(q,k,v) " + "/".join(f"{r.get(f'rel_err_d{c}_vs_flex', nan):.1e}" for c in "qkv")
        else:
            err = f"{r.get('rel_err_vs_flex', nan):.1e}"
        if r["pass"] == "bwd":
            other = "autograd.grad, kept graph: " + ", ".join(
                f"{c.replace('sdpa_dense', 'SDPA')} " + (f"{r[c + '_grad_ms']:.3f}" if c + "_grad_ms" in r
                                                         else "failed")
                for c in ("spla", "flex", "flex_shared", "sdpa_dense") if c + "_ms" in r)
        elif "spla_tc2_ms" in r:
            other = f"tc2 {r['spla_tc2_ms']:.3f} ({r.get('tc2_speedup_vs_flex', nan):.2f}x flex)"
        elif "spla_tf32_ms" in r:
            other = (f"tf32 {r['spla_tf32_ms']:.3f} ({r.get('tf32_speedup_vs_flex', nan):.2f}x flex, "
                     f"err vs exact {r.get('tf32_rel_err_vs_exact', nan):.1e})")
        else:
            other = r.get("tc2_error", r.get("tf32_error", ""))
        flex_queued = r.get(f"{r.get('flex_baseline')}_queued_ms", nan)
        queued = f"{r.get('spla_queued_ms', nan):.3f} / {flex_queued:.3f}"
        lines.append(
            f"| {r['pattern']} | {r['causal']} | {r['d']} | {r['dtype']} | {r['pass']} | "
            f"{r['spla_ms']:.3f} | {r.get('flex_ms', nan):.3f} | {r.get('flex_shared_ms', nan):.3f} | "
            f"{r['sdpa_dense_ms']:.3f} | {r['speedup_vs_flex']:.2f}x | "
            f"{queued} | {r.get('queued_speedup_vs_flex', nan):.2f}x{'*' if r.get('starved_samples') else ''} | "
            f"{r['speedup_vs_sdpa']:.2f}x | "
            f"{r['tiles']} ({r['full_tiles']}) | {err} | {other} |")
    full = report.get("attention_full_tiles") or []
    if full:
        lines += ["", "Full tiles only (every key; the same work as dense SDPA), forward TFLOP/s:", "",
                  "| n | d | dtype | spla | dense SDPA | err vs SDPA | spla tc2 |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in full:
            if "error" in r:
                lines.append(f"| {r['n']} | {r['d']} | {r['dtype']} | failed: {r['error']} | | | |")
            else:
                lines.append(f"| {r['n']} | {r['d']} | {r['dtype']} | {r['spla_TFLOPs']:.0f} | "
                             f"{r['sdpa_TFLOPs']:.0f} | {r['rel_err_vs_sdpa']:.1e} | "
                             + (f"{r['spla_tc2_TFLOPs']:.0f} |" if "spla_tc2_TFLOPs" in r else " |"))
    return lines
