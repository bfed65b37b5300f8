"""Device check of the wgmma forwards (spla_cuda/kernels/attention_wg.cu, variants
"wg", "wg2": two query blocks per thread block, the key tiles they share loaded
once, and "wg_pp": wg2's pairs with a producer warpgroup and two ping-ponging
consumer warpgroups) against the mma.sync forward (attention_tc.cu, variant="tc", the default) and
flex_attention. Run on a Hopper GPU from the repository root:

    PYTHONPATH=. python benchmarks/attention_wg_check.py

1. Exactness: wg, wg_sync (the same kernel without the overlap of a tile's P V
   product with the next softmax), wg2 and tc against a dense masked float64 reference (every pattern
   kind, causal or not, lengths that are not multiples of 64, d = 64 and 128,
   float16 and bfloat16, large logits, empty rows), wg against tc, and wg2 and
   wg_pp against wg bit for bit (a failure if not).
2. Full tiles (every key, n = 8192): TFLOP/s of wg, wg_sync, wg2, wg_pp, tc and dense SDPA.
3. The shapes of ``python -m benchmarks --gpu --gpu-suites attention`` (B = 1,
   H = 16, L = 16,384; local w = 256 / 1024, global + local, strided; causal or
   not), forward: wg, wg2, wg_pp, tc and flex_attention (per-pattern mask_mod, as the
   suite), CUDA-event medians of alternating samples, TFLOP/s on the visited tiles.
   local w = 1024 at d = 64 and 128 (bfloat16) first, then the other bfloat16
   rows, then float16; rows past SPLA_WG_CHECK_BUDGET_S seconds
   (default 180, from the start) are listed as skipped.

SPLA_WG_CHECK_VARIANTS (comma-separated, default "wg,wg_sync,wg2,wg_pp") picks the
wgmma variants. Each first runs a small case in a child process (a kernel fault
would leave this process's CUDA context unusable); one that faults there is left
out. A failing configuration prints its error and the run goes on; the exit status
is 1 if any check failed.
"""

import itertools
import os
import sys
import time
import traceback

import numpy as np

from benchmarks._attention_check import check_pattern, dense_mask, elapsed, error_line, run_check

BUDGET = float(os.environ.get("SPLA_WG_CHECK_BUDGET_S", "180"))
TOL = {"float16": 4e-3, "bfloat16": 3e-2}
FAILURES = []
#: The wgmma variants this run uses: those whose canary (a child process) ran.
LIVE = [v for v in os.environ.get("SPLA_WG_CHECK_VARIANTS", "wg,wg_sync,wg2,wg_pp").split(",") if v]


def exactness():
    import torch

    from spla import attention as at
    from spla_cuda import attention as sa

    cases = [  # kind, n, causal, d, dtype, logit scale
        ("local", 1000, False, 64, "float16", 1), ("local", 1000, True, 128, "bfloat16", 1),
        ("wide", 2055, True, 64, "bfloat16", 1), ("wide", 2055, False, 128, "float16", 1),
        ("strided", 1000, True, 64, "float16", 1), ("strided", 2055, False, 128, "bfloat16", 1),
        ("global_local", 1000, False, 128, "float16", 1), ("global_local", 2055, True, 64, "bfloat16", 1),
        ("random", 1000, True, 64, "float16", 1), ("random", 1000, False, 128, "bfloat16", 1),
        ("global_local", 257, False, 64, "float16", 40), ("wide", 1000, True, 128, "bfloat16", 40),
        ("local", 7, False, 64, "float16", 1), ("local", 129, True, 128, "bfloat16", 1),
        ("local", 1, False, 64, "bfloat16", 1),
    ]
    print("== exactness: max|err| / max(1, max|ref|) against float64; lse abs err; wg vs tc")
    for kind, n, causal, d, dtype, big in cases:
        name = f"{kind:12s} n={n:4d} causal={int(causal)} d={d:3d} {dtype:8s}{' x40' if big > 1 else ''}"
        try:
            tdt = getattr(torch, dtype)
            g = torch.Generator(device="cuda").manual_seed(n * 7 + d)
            q, k, v = (torch.randn((2, n, d), device="cuda", generator=g) for _ in range(3))
            q = (q * big).to(tdt)
            k, v = k.to(tdt), v.to(tdt)
            P = check_pattern(kind, n, causal)
            bp = at.block_pattern(P)
            M = torch.from_numpy(dense_mask(P)).cuda()
            Q, K, V = (x.double() for x in (q, k, v))
            S = torch.where(M, Q @ K.transpose(-1, -2) / np.sqrt(d), -torch.inf)
            mx = S.amax(-1, keepdim=True)
            safe = torch.where(torch.isfinite(mx), mx, 0)
            E = torch.where(M, torch.exp(S - safe), 0)
            tot = E.sum(-1, keepdim=True)
            ref = torch.where(tot > 0, (E @ V) / torch.where(tot > 0, tot, 1), 0)
            ref_lse = torch.log(tot[..., 0]) + safe[..., 0]
            scale = max(1.0, float(ref.abs().max()))
            fin = torch.isfinite(ref_lse)
            lse_tol = 1e-3 * max(1.0, float(ref_lse[fin].abs().max()) if bool(fin.any()) else 1.0)
            out, words = {}, []
            for var in LIVE + ["tc"]:
                try:
                    o, l = sa.forward(q, k, v, bp, variant=var)
                    o, l = o.double(), l.double()
                except Exception as exc:  # noqa: BLE001 - printed, the other variants go on
                    words.append(f"{var} {error_line(exc)}")
                    if var != "tc":
                        FAILURES.append(f"{name} ({var})")
                    continue
                out[var] = o
                diff = (o - ref).abs()
                e = float(diff.max()) / scale
                le = float((l[fin] - ref_lse[fin]).abs().max()) if bool(fin.any()) else 0.0
                finite = bool(torch.isfinite(o).all())
                empty_ok = bool((o[:, ~fin[0]] == 0).all()) and bool(torch.isneginf(l[~fin]).all())
                ok = finite and empty_ok and e <= TOL[dtype] and le <= lse_tol
                word = f"{var} {e:.2e} (lse {le:.1e})"
                if not ok:
                    h, r, c = np.unravel_index(int(diff.argmax()), tuple(diff.shape))
                    word += (f" FAIL{'' if finite else ' non-finite'}{'' if empty_ok else ' empty-rows'}"
                             f" [max at head {h} row {r} (block row {r % 64}) col {c}]")
                    if var != "tc":
                        FAILURES.append(f"{name} ({var})")
                words.append(word)
            if "wg" in out and "tc" in out:
                words.append(f"|wg - tc| {float((out['wg'] - out['tc']).abs().max()):.1e}")
            for var in ("wg2", "wg_pp"):
                if "wg" in out and var in out:
                    same = bool(torch.equal(out["wg"], out[var]))
                    words.append(f"{var} == wg bits" if same else
                                 f"{var} != wg FAIL (max {float((out['wg'] - out[var]).abs().max()):.1e})")
                    if not same:
                        FAILURES.append(f"{name} ({var} not bit-identical to wg)")
            print(f"  {name}: " + ", ".join(words), flush=True)
        except Exception as exc:  # noqa: BLE001 - printed, the run goes on
            print(f"  FAIL {name}: {error_line(exc)}", flush=True)
            FAILURES.append(name)
            if len(FAILURES) == 1:
                traceback.print_exc(limit=4)


def full_tiles():
    import torch
    import torch.nn.functional as F

    from benchmarks.gpu import time_gpu
    from benchmarks.gpu_attention import _all_keys_pattern
    from spla_cuda import attention as sa

    n, H = 8192, 16
    bp = _all_keys_pattern(n)
    print(f"== full tiles (every key, n = {n}, H = {H}): forward TFLOP/s (CUDA-event medians)")
    for d in (64, 128):
        for dtype in ("bfloat16", "float16"):
            try:
                q, k, v = (torch.randn((1, H, n, d), device="cuda", dtype=getattr(torch, dtype))
                           for _ in range(3))
                ref = F.scaled_dot_product_attention(q, k, v)
                errs, calls = {}, {}
                for var in LIVE + ["tc"]:
                    got = sa.forward(q, k, v, bp, variant=var)[0]
                    errs[var] = float((got.float() - ref.float()).norm() / ref.float().norm())
                    calls[var] = (lambda var: lambda: sa.forward(q, k, v, bp, variant=var))(var)
                calls["SDPA"] = lambda: F.scaled_dot_product_attention(q, k, v)
                t = time_gpu(calls, repeat=7, inner=3, warmup=2)
                fl = 4 * n * n * d * H
                print(f"  d={d:3d} {dtype:8s}: " + ", ".join(f"{c} {fl / t[c]['median'] / 1e12:4.0f}" for c in t)
                      + " TFLOP/s; rel err vs SDPA " + ", ".join(f"{c} {e:.1e}" for c, e in errs.items()),
                      flush=True)
                for var in LIVE:
                    if errs[var] > 2e-2:
                        FAILURES.append(f"full tiles d={d} {dtype} {var} (rel err {errs[var]:.1e})")
                del q, k, v, ref
            except Exception as exc:  # noqa: BLE001
                print(f"  d={d} {dtype}: FAILED {error_line(exc)}", flush=True)


def suite_shapes():
    import torch
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    from benchmarks import gpu_attention as ga
    from benchmarks.gpu import time_gpu
    from spla_cuda import attention as sa

    L, H, B = ga.L, ga.H, ga.B
    ga._raise_recompile_limits(torch, 256)
    flex = torch.compile(flex_attention, dynamic=False)
    rows = [(p, c, d, dt) for dt in ("bfloat16", "float16") for d in (64, 128)
            for p in ga.PATTERNS for c in (False, True)]
    first = [r for r in rows if r[0] == "local1024" and r[3] == "bfloat16"]   # the target row
    rows = first + [r for r in rows if r not in first]
    print(f"== attention suite shapes (B = {B}, H = {H}, L = {L:,}), forward ms and TFLOP/s on the "
          "visited tiles; x = flex time / spla time")
    patterns, masks, tensors = {}, {}, {}
    skipped = []
    gen = torch.Generator(device="cuda").manual_seed(0)
    if not LIVE:
        print("  no wgmma variant ran its canary: nothing to time")
        return
    wv = next((v for v in LIVE if v in ("wg", "wg_sync")), None)  # "wg", or "wg_sync" if only that ran
    vs = [v for v in (wv, "wg2", "wg_pp") if v is not None and v in LIVE] + ["tc"]
    speed = {c: [] for c in vs}
    for (pname, causal, d, dtype) in rows:
        tag = f"{pname:15s} c={int(causal)} d={d:3d} {dtype[:4]}"
        if elapsed() > BUDGET:
            skipped.append(f"{pname}/{int(causal)}/{d}/{dtype[:4]}")
            continue
        t_row = time.perf_counter()
        try:
            if (pname, causal) not in patterns:
                patterns[(pname, causal)] = ga._spla_pattern(pname, causal)
                masks[(pname, causal)] = create_block_mask(ga._mask_mod(pname, causal), None, None,
                                                           L, L, device="cuda")
            bp, bm = patterns[(pname, causal)], masks[(pname, causal)]
            if (d, dtype) not in tensors:
                tensors.clear()
                torch.cuda.empty_cache()
                tensors[(d, dtype)] = [torch.randn((B, H, L, d), device="cuda", dtype=getattr(torch, dtype),
                                                   generator=gen) for _ in range(3)]
            q, k, v = tensors[(d, dtype)]
            tc = sa.forward(q, k, v, bp, variant="tc")[0]
            ref = flex(q, k, v, block_mask=bm)
            errs = []
            for c in vs[:-1]:
                got = sa.forward(q, k, v, bp, variant=c)[0]
                e_tc = float((got.float() - tc.float()).norm() / tc.float().norm())
                e_fx = float((got.float() - ref.float()).norm() / ref.float().norm())
                errs.append(f"{c}~tc {e_tc:.0e} {c}~flex {e_fx:.0e}")
                if e_tc > 1e-2 or e_fx > 2e-2:
                    FAILURES.append(f"{tag} {c} (rel err vs tc {e_tc:.1e}, vs flex {e_fx:.1e})")
                del got
            del tc, ref
            calls = {c: (lambda c: lambda: sa.forward(q, k, v, bp, variant=c))(c) for c in vs}
            calls["flex"] = lambda: flex(q, k, v, block_mask=bm)
            t = time_gpu(calls, repeat=7, inner=3, warmup=2)
            ms = {c: t[c]["median"] * 1e3 for c in t}
            fl = 4 * 64 * 64 * d * bp.ntiles * B * H
            tf = {c: fl / t[c]["median"] / 1e12 for c in vs}
            for c in vs:
                speed[c].append(ms["flex"] / ms[c])
            print(f"  {tag}: " + " | ".join(f"{c} {ms[c]:.3f} ({tf[c]:3.0f} TF/s) x{ms['flex'] / ms[c]:.2f}"
                                            for c in vs)
                  + f" | flex {ms['flex']:.3f} | err " + ", ".join(errs)
                  + f" [{time.perf_counter() - t_row:.0f}s]", flush=True)
        except Exception as exc:  # noqa: BLE001
            print(f"  {tag}: FAILED {error_line(exc)}", flush=True)
    tensors.clear()
    if skipped:
        print(f"  skipped (budget {BUDGET:.0f} s spent): " + ", ".join(skipped))
    for c in vs:
        if speed[c]:
            s = np.array(speed[c])
            print(f"  {c}: x flex min {s.min():.2f}, median {np.median(s):.2f}, max {s.max():.2f} "
                  f"over {s.size} rows", flush=True)


def canary(variant):
    """Child-process mode: two small forwards of ``variant`` per dtype and head
    dimension (global + local, causal, n = 300; local w = 1024, n = 2055, whose
    pairs have more tiles than wg_pp's ring has stages), against attn_fwd_tc. Exit
    0: close; 1: not close; 3: it raised (a kernel fault leaves the CUDA context
    unusable, hence the separate process)."""
    try:
        import torch

        from spla import attention as at
        from spla_cuda import attention as sa

        worst = 0.0
        for (d, dtype), (kind, n) in itertools.product(((64, "float16"), (128, "bfloat16")),
                                                       (("global_local", 300), ("wide", 2055))):
            g = torch.Generator(device="cuda").manual_seed(d)
            q, k, v = (torch.randn((2, n, d), device="cuda", generator=g).to(getattr(torch, dtype))
                       for _ in range(3))
            bp = at.block_pattern(check_pattern(kind, n, kind == "global_local"))
            a = sa.forward(q, k, v, bp, variant=variant)[0].float()
            b = sa.forward(q, k, v, bp, variant="tc")[0].float()
            torch.cuda.synchronize()
            worst = max(worst, float((a - b).abs().max()) / max(1.0, float(b.abs().max())))
        print(f"canary {variant}: max |{variant} - tc| / max(1, max |tc|) = {worst:.1e}", flush=True)
        sys.exit(0 if worst <= 3e-2 else 1)
    except Exception as exc:  # noqa: BLE001
        print(f"canary {variant}: {error_line(exc)}", flush=True)
        sys.exit(3)


if __name__ == "__main__":
    run_check(__file__, "forward", canary, LIVE, FAILURES, [exactness, full_tiles, suite_shapes])
