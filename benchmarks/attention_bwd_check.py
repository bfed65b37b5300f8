"""Device check of the wgmma backward (spla_cuda/kernels/attention_wg_bwd.cu, variants
"wg", "wg_sync" and "wg_rs" of ``spla_cuda.attention.backward``) against the mma.sync backward
(attention_tc_bwd.cu, "tc", the default) and flex_attention's backward. Run on a
Hopper GPU from the repository root:

    PYTHONPATH=. python benchmarks/attention_bwd_check.py

1. Canaries: each wgmma variant first runs a small backward in a child process (a
   kernel fault would leave this process's CUDA context unusable); one that faults
   there is left out of the rest.
2. Exactness: dQ, dK, dV of wg, wg_sync and tc against float64 autograd of the dense
   masked attention (every pattern kind, causal or not, lengths that are not
   multiples of 64, d = 64 and 128, float16 and bfloat16, large logits, empty
   rows); each wgmma variant against tc: max |diff| / max(1, max |tc|) and the
   fraction of bit-identical values (the same roundings of P and dS and the same
   k order make bit-identical results likely but not required: a failure only
   past two roundings of the dtype).
3. The shapes of ``python -m benchmarks --gpu --gpu-suites attention`` (B = 1,
   H = 16, L = 16,384; local w = 256 / 1024, global + local, strided; causal or
   not): the backward alone. spla: one ``backward`` call (attn_delta + the dQ and
   dK/dV kernels) of each variant; flex: median(forward + backward) minus
   median(forward) of the compiled flex_attention (per-pattern mask_mod, as the
   suite), and the same for spla tc through its autograd wrapper (calibration:
   the suite's method for spla). CUDA-event medians of alternating samples.
   bfloat16 d = 64 rows first (the suite's backward rows; local w = 1024 first),
   then bfloat16 d = 128, then float16; rows past SPLA_BWD_CHECK_BUDGET_S seconds
   (default 300, from the start) are listed as skipped.

A failing configuration prints its error and the run goes on; the exit status is 1
if any check failed.
"""

import os
import sys
import time
import traceback

import numpy as np

from benchmarks._attention_check import check_pattern, dense_mask, elapsed, error_line, run_check

BUDGET = float(os.environ.get("SPLA_BWD_CHECK_BUDGET_S", "300"))
#: max |err| / max(1, max |ref|) against float64 (those of tests/test_attention_gpu.py)
TOL = {"float16": 1e-2, "bfloat16": 6e-2}
#: one rounding of the dtype (the wg vs tc bound is two of them at the largest value)
ULP = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}
FAILURES = []
#: wg_rs: wg with S's and dP's A operand in registers (the forward's product form), d = 64;
#: if wg fails and wg_rs passes, the shared-memory A descriptor is at fault
LIVE = ["wg", "wg_sync", "wg_rs"]


def _ref_grads(torch, q, k, v, do, M, scale):
    """float64 autograd of the dense masked attention (rows with no keys: output 0)."""
    Q, K, V = (x.detach().double().requires_grad_() for x in (q, k, v))
    S = torch.where(M, Q @ K.transpose(-1, -2) * scale, -torch.inf)
    mx = S.amax(-1, keepdim=True).detach()
    mx = torch.where(torch.isfinite(mx), mx, 0)
    E = torch.where(M, torch.exp(S - mx), 0)
    tot = E.sum(-1, keepdim=True)
    out = torch.where(tot > 0, (E @ V) / torch.where(tot > 0, tot, 1), 0)
    out.backward(do.double())
    return [x.grad for x in (Q, K, V)]


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
        ("global_local", 257, False, 64, "float16", 8), ("wide", 1000, True, 128, "bfloat16", 8),
        ("local", 7, False, 64, "float16", 1), ("local", 129, True, 128, "bfloat16", 1),
        ("local", 1, False, 64, "bfloat16", 1),
    ]
    print("== exactness: dQ dK dV, max|err| / max(1, max|ref|) against float64 autograd; "
          "each wg variant against tc (max diff relative, fraction of identical bits)")
    for kind, n, causal, d, dtype, big in cases:
        name = f"{kind:12s} n={n:4d} causal={int(causal)} d={d:3d} {dtype:8s}{f' x{big}' if big > 1 else ''}"
        try:
            tdt = getattr(torch, dtype)
            g = torch.Generator(device="cuda").manual_seed(n * 7 + d)
            q, k, v, do = (torch.randn((2, n, d), device="cuda", generator=g) for _ in range(4))
            q = (q * big).to(tdt)
            k, v, do = k.to(tdt), v.to(tdt), do.to(tdt)
            P = check_pattern(kind, n, causal)
            bp = at.block_pattern(P)
            M = torch.from_numpy(dense_mask(P)).cuda()
            ref = _ref_grads(torch, q, k, v, do, M, 1 / np.sqrt(d))
            out, lse = sa.forward(q, k, v, bp, variant="tc")
            got, words = {}, []
            for var in ["tc"] + LIVE:
                try:
                    gr = [x.double() for x in sa.backward(do, q, k, v, bp, out, lse, variant=var)]
                    torch.cuda.synchronize()
                except Exception as exc:  # noqa: BLE001 - printed, the other variants go on
                    words.append(f"{var} {error_line(exc)}")
                    FAILURES.append(f"{name} ({var})")
                    continue
                got[var] = gr
                errs = []
                ok = True
                for nm, a, r in zip("QKV", gr, ref):
                    e = float((a - r).abs().max()) / max(1.0, float(r.abs().max()))
                    fin = bool(torch.isfinite(a).all())
                    ok = ok and fin and e <= TOL[dtype]
                    errs.append(f"{e:.1e}" + ("" if fin else " non-finite"))
                words.append(f"{var} " + "/".join(errs) + ("" if ok else " FAIL"))
                if not ok:
                    FAILURES.append(f"{name} ({var} vs float64)")
            for var in LIVE:
                if var in got and "tc" in got:
                    parts = []
                    for nm, a, b in zip("QKV", got[var], got["tc"]):
                        rel = float((a - b).abs().max()) / max(1.0, float(b.abs().max()))
                        same = float((a == b).double().mean()) if a.numel() else 1.0
                        parts.append(f"d{nm} {rel:.0e} ({same:.4f} same)")
                        if rel > 2 * ULP[dtype]:
                            FAILURES.append(f"{name} ({var} vs tc: d{nm} {rel:.1e})")
                    words.append(f"{var}~tc " + " ".join(parts))
            print(f"  {name}: " + ", ".join(words), flush=True)
        except Exception as exc:  # noqa: BLE001 - printed, the run goes on
            print(f"  FAIL {name}: {error_line(exc)}", flush=True)
            FAILURES.append(name)
            if len(FAILURES) == 1:
                traceback.print_exc(limit=4)


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
    first = [r for r in rows if r[0] == "local1024" and r[2] == 64 and r[3] == "bfloat16"]
    rows = first + [r for r in rows if r not in first]
    print(f"== attention suite shapes (B = {B}, H = {H}, L = {L:,}): the backward alone, ms; "
          "x = flex bwd / spla bwd; TF/s: 5 products of 64 x 64 x d per visited tile "
          "(the dense backward's count; spla's kernels run 7: S and dP in both)")
    vs = ["tc"] + LIVE
    speed = {c: [] for c in vs}
    patterns, masks, tensors, skipped = {}, {}, {}, []
    gen = torch.Generator(device="cuda").manual_seed(0)
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
                                                   generator=gen) for _ in range(4)]
            q, k, v, do = tensors[(d, dtype)]
            out, lse = sa.forward(q, k, v, bp, variant="tc")
            tc = sa.backward(do, q, k, v, bp, out, lse, variant="tc")
            errs = []
            for c in LIVE:
                got = sa.backward(do, q, k, v, bp, out, lse, variant=c)
                e = max(float((a.float() - b.float()).norm() / b.float().norm()) for a, b in zip(got, tc))
                same = min(float((a == b).float().mean()) for a, b in zip(got, tc))
                errs.append(f"{c}~tc {e:.0e} ({same:.3f} same)")
                if e > 1e-2:
                    FAILURES.append(f"{tag} {c} (rel err vs tc {e:.1e})")
                del got
            del tc
            qg, kg, vg = (x.detach().clone().requires_grad_() for x in (q, k, v))
            calls = {c: (lambda c: lambda: sa.backward(do, q, k, v, bp, out, lse, variant=c))(c) for c in vs}
            calls["flex:fwd"] = lambda: flex(qg, kg, vg, block_mask=bm)
            calls["flex:fwd+bwd"] = lambda: flex(qg, kg, vg, block_mask=bm).backward(do)
            calls["spla:fwd"] = lambda: sa.torch_sparse_attention(qg, kg, vg, bp)
            calls["spla:fwd+bwd"] = lambda: sa.torch_sparse_attention(qg, kg, vg, bp).backward(do)
            t = time_gpu(calls, repeat=7, inner=3, warmup=2)
            ms = {c: t[c]["median"] * 1e3 for c in t}
            flex_bwd = ms["flex:fwd+bwd"] - ms["flex:fwd"]
            tc_sub = ms["spla:fwd+bwd"] - ms["spla:fwd"]
            fl = 5 * 2 * 64 * 64 * d * bp.ntiles * B * H
            for c in vs:
                speed[c].append(flex_bwd / ms[c])
            print(f"  {tag}: " + " | ".join(f"{c} {ms[c]:.3f} ({fl / ms[c] / 1e9:3.0f} TF/s) x{flex_bwd / ms[c]:.2f}"
                                            for c in vs)
                  + f" | flex {flex_bwd:.3f} (x{flex_bwd / tc_sub:.2f} vs spla tc by the suite's "
                  f"subtraction, {tc_sub:.3f}) | err " + ", ".join(errs)
                  + f" [{time.perf_counter() - t_row:.0f}s]", flush=True)
            del qg, kg, vg, out, lse
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
    """Child-process mode: one small backward of ``variant`` per dtype and head
    dimension, against tc. Exit 0: close; 1: not close; 3: it raised."""
    try:
        import torch

        from spla import attention as at
        from spla_cuda import attention as sa

        worst = 0.0
        for d, dtype in ((64, "float16"), (128, "bfloat16"), (64, "bfloat16"), (128, "float16")):
            g = torch.Generator(device="cuda").manual_seed(d)
            q, k, v, do = (torch.randn((2, 300, d), device="cuda", generator=g).to(getattr(torch, dtype))
                           for _ in range(4))
            bp = at.block_pattern(check_pattern("global_local", 300, True))
            out, lse = sa.forward(q, k, v, bp, variant="tc")
            a = sa.backward(do, q, k, v, bp, out, lse, variant=variant)
            b = sa.backward(do, q, k, v, bp, out, lse, variant="tc")
            torch.cuda.synchronize()
            for x, y in zip(a, b):
                worst = max(worst, float((x.float() - y.float()).abs().max()) / max(1.0, float(y.float().abs().max())))
        print(f"canary {variant}: max |{variant} - tc| / max(1, max |tc|) over dQ dK dV = {worst:.1e}", flush=True)
        sys.exit(0 if worst <= 2 * ULP["bfloat16"] else 1)
    except Exception as exc:  # noqa: BLE001
        print(f"canary {variant}: {error_line(exc)}", flush=True)
        sys.exit(3)


if __name__ == "__main__":
    run_check(__file__, "backward", canary, LIVE, FAILURES, [exactness, suite_shapes])
