#!/usr/bin/env python3
"""GPU benchmark of the compiled flash-attention kernel (runs on the GPU
machine, from the bundle tools/mrope-bench/gpu_bundle.py builds).

    python3 gpu_attention_bench.py [--reps 7] [--json] [--only s2048]

For each sequence length of manifest.json's attention configurations (S =
2k, 8k, 16k; bhsd, 32 q + 8 kv heads, D = 128, bf16), causal and not, on
random inputs:

- checks, in the same run: our attention without rotary against float64
  softmax(Q K^T / sqrt(D)) V on 64 sampled query rows of every head, within
  the bound test/GPU/Inputs/attention_check.py derives (P rounded to bf16
  for P V, the output rounding); the fused rotary variant equal to
  mrope.apply followed by the same attention, bit for bit;
- times with CUDA events (median and min-max of --reps runs):
    plain       our attention kernel, no rotary (cp.async, 2 stages)
    plain_1stage  the same with synchronous staging (attention-stages=1);
                must equal plain bit for bit
    fused       rotary fused (q rotated in registers, k once by the rotary
                kernel on a copy)
    separate    mrope.apply (in place) + the plain attention
    sdpa        PyTorch scaled_dot_product_attention on the same bf16 q and
                the KV heads repeated to 32 (GQA expanded outside the timing),
                flash backend where this torch has one
- reports TFLOP/s (4 S^2 D per head, halved for causal: S (S + 1) / 2
  pairs), the fused variant's cost over plain, and ours vs SDPA;
- f32 activations (the 3xTF32 kernel), causal and not: checked against
  float64 on sampled rows (P stays f32: only the output rounding and
  1e-5 * max|v|), timed against SDPA on the same f32 tensors (whatever
  backend this torch picks for f32: flash kernels take 16-bit only);
- decode: one new token against a cache of 2k and 16k keys (split-KV),
  checked against float64, timed against SDPA, GB/s of the cache read and
  % of the device's peak bandwidth;
- batched decode over packed sequences with their own caches
  (kv_cu_seqlens; 16 sequences over 64k keys, 64 over 256k, lengths drawn
  between a quarter and 1.75x the mean): checked per sequence against
  float64, timed against SDPA on the caches padded to the longest with a
  key-padding mask (the form a batch without varlen support takes) and
  against one SDPA call per sequence; GB/s of the caches and % of peak;
  and the same batch in a paged cache (pages of 16 shuffled over the pool,
  block_table), checked the same way, timed against the contiguous call.
Ends with "N passed, M failed" (the checks).
"""

import argparse
import ctypes
import json
import math
import os

import torch
import torch.nn.functional as F

from gpu_common import descriptor, peak_bandwidth, timed

HERE = os.path.dirname(os.path.abspath(__file__))


def flash_sdpa():
    """SDPA restricted to the flash backend where this torch can say so."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        return lambda: sdpa_kernel(SDPBackend.FLASH_ATTENTION), "flash"
    except ImportError:
        pass
    if hasattr(torch.backends.cuda, "sdp_kernel"):
        return (lambda: torch.backends.cuda.sdp_kernel(
            enable_flash=True, enable_math=False, enable_mem_efficient=False), "flash")
    import contextlib
    return contextlib.nullcontext, "default"


def expand_kv(t, q_heads):
    """KV heads repeated to the query heads, for SDPA (outside the timing)."""
    return t.repeat_interleave(q_heads // t.shape[1], 1)


def time_all(row, fns, iters, reps, label):
    """Times each (name, fn) into row[name + "_ms" / "_min_ms" / "_max_ms"];
    a failing peer ("sdpa") is reported and recorded as None, ours raise."""
    for name, fn in fns:
        try:
            row[name + "_ms"], row[name + "_min_ms"], row[name + "_max_ms"] = \
                timed(fn, iters, reps)
        except Exception as e:
            if name != "sdpa":
                raise
            print(f"# {label}: sdpa failed: {type(e).__name__}: {e}"[:300])
            row["sdpa_ms"] = None


def add_bandwidth(row, cache_bytes):
    """row["gb_per_s"] of our kernel reading `cache_bytes` (K and V) and its
    percent of the device's peak (None for a device not in the table)."""
    row["gb_per_s"] = cache_bytes / (row["ours_ms"] * 1e-3) / 1e9
    peak = peak_bandwidth(torch.cuda.get_device_name())
    row["percent_of_peak"] = 100 * row["gb_per_s"] * 1e9 / peak if peak else None


def check_plain(out, q, k, v, causal, rows=64, unit=2.0 ** -8):
    """Sampled rows of every head against float64 (causal bottom-right, as
    mrope.attention); returns the worst error / bound (<= 1 passes). `unit`:
    the roundoff of P for P V (bf16; f32 keeps P, 2^-24 is the output's)."""
    seq, dim, kv_seq = q.shape[2], q.shape[3], k.shape[2]
    group = q.shape[1] // k.shape[1]
    idx = torch.linspace(0, seq - 1, min(rows, seq), device=q.device).long()
    rows = len(idx)
    qd = q[0, :, idx].double()                                  # [H, R, D]
    kd = k[0].double().repeat_interleave(group, 0)              # [H, S, D]
    vd = v[0].double().repeat_interleave(group, 0)
    s = qd @ kd.transpose(1, 2) / math.sqrt(dim)                # [H, R, S]
    visible = torch.ones(rows, kv_seq, dtype=torch.bool, device=q.device)
    if causal:
        visible = (torch.arange(kv_seq, device=q.device)[None, :]
                   <= idx[:, None] + (kv_seq - seq))
    s = s.masked_fill(~visible, float("-inf"))
    want = torch.softmax(s, dim=-1) @ vd                        # [H, R, D]
    vmax = (vd.abs()[:, None, :, :] * visible[None, :, :, None]).amax(dim=2)
    u = unit
    bound = u * (vmax * (1 + 2 * u) + want.abs()) + 1e-5 * vmax
    err = (out[0, :, idx].double() - want).abs()
    return float((err / bound).max()), bool(torch.isfinite(out).all())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-compile", action="store_true", help="(for run.sh; unused)")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_attention_bench: PyTorch sees no CUDA device")
    manifest = json.load(open(os.path.join(HERE, "manifest.json")))
    runtime = ctypes.CDLL(os.path.join(HERE, "libmrope_cuda_runtime.so"))
    libs = {}
    stream = torch.cuda.current_stream()
    runtime.mropeCudaUseStream(ctypes.c_void_p(stream.cuda_stream))
    backend, backend_name = flash_sdpa()
    device = torch.cuda.get_device_name()
    print(f"# {device}, torch {torch.__version__}, SDPA backend {backend_name}, "
          f"bundle for {manifest['chip']}")
    torch.manual_seed(0)
    groups, decode, varlen, f32 = {}, [], [], []
    for cfg in manifest.get("attention_configs", []):
        if cfg["variant"] == "decode":
            decode.append(cfg)
            continue
        if cfg["variant"] == "f32":
            f32.append(cfg)
            continue
        if cfg["variant"] == "varlen_decode":
            varlen.append(cfg)
            continue
        groups.setdefault((cfg["seq"], cfg["causal"]), {})[cfg["variant"]] = cfg
    passed = failed = 0
    for (seq, causal), variants in groups.items():
        label = f"s{seq}_{'causal' if causal else 'full'}"
        if args.only not in label:
            continue
        cfg = variants["plain"]
        hq, hk, dim = cfg["q_heads"], cfg["kv_heads"], cfg["head_dim"]
        q = torch.randn(1, hq, seq, dim, device="cuda").to(torch.bfloat16)
        k = torch.randn(1, hk, seq, dim, device="cuda").to(torch.bfloat16)
        v = torch.randn(1, hk, seq, dim, device="cuda").to(torch.bfloat16)
        pos = torch.randint(0, 4096, (3, 1, seq), device="cuda", dtype=torch.int64)
        fns = {}
        for name, c in variants.items():
            library = c.get("library", "libmrope_gpu_bench.so")
            if library not in libs:
                libs[library] = ctypes.CDLL(os.path.join(HERE, library))
            fns[name] = getattr(libs[library], c["function"])

        def call(variant, qq, kk, out):
            fns[variant](*[ctypes.byref(descriptor(t)) for t in (qq, kk, v, pos, out)])

        # Checks, on fresh inputs.
        out_plain, out_fused, out_sep = (torch.empty_like(q) for _ in range(3))
        call("plain", q, k, out_plain)
        out_1stage = torch.empty_like(q)
        call("plain_1stage", q, k, out_1stage)
        call("fused", q, k, out_fused)
        q_sep, k_sep = q.clone(), k.clone()
        call("separate", q_sep, k_sep, out_sep)
        torch.cuda.synchronize()
        ratio, finite = check_plain(out_plain, q, k, v, causal)
        identical = bool(torch.equal(out_fused.view(torch.int16), out_sep.view(torch.int16)))
        # The two staging forms do the same arithmetic in the same order.
        stages_agree = bool(torch.equal(out_plain.view(torch.int16),
                                        out_1stage.view(torch.int16)))
        ok = finite and ratio <= 1.0 and identical and stages_agree
        passed += ok
        failed += not ok

        # Timing.
        iters = max(1, int(2e4 / seq))
        row = {"name": label, "seq": seq, "causal": causal, "plain_error_vs_bound": ratio,
               "fused_equals_separate": identical, "one_stage_equals_two": stages_agree,
               "ok": ok}
        k_exp, v_exp = expand_kv(k, hq), expand_kv(v, hq)
        out = torch.empty_like(q)

        def sdpa():
            with backend():
                return F.scaled_dot_product_attention(q, k_exp, v_exp, is_causal=causal)

        time_all(row, (("plain", lambda: call("plain", q, k, out)),
                       ("plain_1stage", lambda: call("plain_1stage", q, k, out)),
                       ("fused", lambda: call("fused", q, k, out)),
                       ("separate", lambda: call("separate", q_sep, k_sep, out)),
                       ("sdpa", sdpa)), iters, args.reps, label)
        pairs = seq * (seq + 1) / 2 if causal else seq * seq
        flops = 4 * hq * pairs * dim
        for name in ("plain", "plain_1stage", "fused", "separate", "sdpa"):
            if row.get(name + "_ms"):
                row[name + "_tflops"] = flops / (row[name + "_ms"] * 1e-3) / 1e12
        row["fused_over_plain_percent"] = 100 * (row["fused_ms"] / row["plain_ms"] - 1)
        row["fused_vs_separate"] = row["separate_ms"] / row["fused_ms"]
        row["plain_vs_sdpa"] = (row["sdpa_ms"] / row["plain_ms"]) if row.get("sdpa_ms") else None
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            sd = row.get("sdpa_ms")
            print(f"{label:18s} plain {row['plain_ms']:8.3f} ms {row['plain_tflops']:6.1f} TFLOP/s "
                  f"(1-stage {row['plain_1stage_tflops']:6.1f})  "
                  f"fused {row['fused_ms']:8.3f} ms ({row['fused_over_plain_percent']:+.1f}% vs plain, "
                  f"{row['fused_vs_separate']:.2f}x separate)  "
                  + (f"sdpa {sd:8.3f} ms {row['sdpa_tflops']:6.1f} TFLOP/s "
                     f"(ours {row['plain_vs_sdpa']:.2f}x)  " if sd else "sdpa failed  ")
                  + f"check {'ok' if ok else 'FAIL'} (plain {ratio:.2f} of the bound, fused "
                    f"{'==' if identical else '!='} separate, 1-stage "
                    f"{'==' if stages_agree else '!='} 2-stage)", flush=True)
    runs = ([(cfg, lambda c: run_f32(c, libs, args)) for cfg in f32]
            + [(cfg, lambda c: run_decode(c, libs, backend, args)) for cfg in decode]
            + [(cfg, lambda c: run_varlen_decode(c, libs, args)) for cfg in varlen])
    for cfg, run in runs:
        if args.only not in cfg["name"]:
            continue
        ok = run(cfg)
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def call_checked(cfg, libs, q_seq, dtype, causal, unit):
    """cfg's function (q, k, v, positions, out) run once on random q of
    q_seq tokens and k, v of cfg["seq"] (bhsd, `dtype`), checked against
    float64: (the call, q, k, v, worst error / bound, ok)."""
    seq, hq, hk, dim = cfg["seq"], cfg["q_heads"], cfg["kv_heads"], cfg["head_dim"]
    library = cfg["library"]
    if library not in libs:
        libs[library] = ctypes.CDLL(os.path.join(HERE, library))
    fn = getattr(libs[library], cfg["function"])
    q = torch.randn(1, hq, q_seq, dim, device="cuda").to(dtype)
    k = torch.randn(1, hk, seq, dim, device="cuda").to(dtype)
    v = torch.randn(1, hk, seq, dim, device="cuda").to(dtype)
    pos = torch.zeros(3, 1, seq, device="cuda", dtype=torch.int64)
    out = torch.empty_like(q)
    args_ = [ctypes.byref(descriptor(t)) for t in (q, k, v, pos, out)]
    fn(*args_)
    torch.cuda.synchronize()
    ratio, finite = check_plain(out, q, k, v, causal, unit=unit)
    return (lambda: fn(*args_)), q, k, v, ratio, finite and ratio <= 1.0


def run_f32(cfg, libs, args):
    """f32 attention (3xTF32) checked against float64 and timed against
    SDPA on the same f32 tensors; TFLOP/s."""
    seq, hq, dim, causal = cfg["seq"], cfg["q_heads"], cfg["head_dim"], cfg["causal"]
    call, q, k, v, ratio, ok = call_checked(cfg, libs, seq, torch.float32, causal,
                                            unit=2.0 ** -24)
    k_exp, v_exp = expand_kv(k, hq), expand_kv(v, hq)

    def sdpa():
        return F.scaled_dot_product_attention(q, k_exp, v_exp, is_causal=causal)

    row = {"name": cfg["name"], "seq": seq, "causal": causal, "error_vs_bound": ratio,
           "ok": ok}
    time_all(row, (("ours", call), ("sdpa", sdpa)), max(1, int(1e4 / seq)), args.reps,
             cfg["name"])
    flops = 4 * hq * (seq * (seq + 1) / 2 if causal else seq * seq) * dim
    for name in ("ours", "sdpa"):
        if row.get(name + "_ms"):
            row[name + "_tflops"] = flops / (row[name + "_ms"] * 1e-3) / 1e12
    report(row, args, lambda sd: (
        f"{cfg['name']:26s} ours {row['ours_ms']:8.3f} ms {row['ours_tflops']:6.1f} TFLOP/s  "
        + (f"sdpa f32 {sd:8.3f} ms {row['sdpa_tflops']:6.1f} TFLOP/s "
           f"(ours {row['ours_vs_sdpa']:.2f}x)  " if sd else "sdpa failed  ")))
    return ok


def report(row, args, describe):
    """Prints `row` (with ours_vs_sdpa) as JSON, or describe(sdpa_ms) and the
    check."""
    row["ours_vs_sdpa"] = (row["sdpa_ms"] / row["ours_ms"]) if row.get("sdpa_ms") else None
    if args.json:
        print(json.dumps(row), flush=True)
        return
    print(describe(row.get("sdpa_ms")) + f"check {'ok' if row['ok'] else 'FAIL'} "
          f"({row['error_vs_bound']:.2f} of the bound)", flush=True)


def run_decode(cfg, libs, backend, args):
    """One new token against a cache of cfg["seq"] keys: checked against
    float64, timed against SDPA; GB/s of the K and V cache read."""
    seq, hq, hk, dim = cfg["seq"], cfg["q_heads"], cfg["kv_heads"], cfg["head_dim"]
    call, q, k, v, ratio, ok = call_checked(cfg, libs, 1, torch.bfloat16, True,
                                            unit=2.0 ** -8)
    k_exp, v_exp = expand_kv(k, hq), expand_kv(v, hq)

    def sdpa():
        with backend():  # one token sees every cached key: no mask
            return F.scaled_dot_product_attention(q, k_exp, v_exp)

    row = {"name": cfg["name"], "cache": seq, "error_vs_bound": ratio, "ok": ok}
    time_all(row, (("ours", call), ("sdpa", sdpa)), 200, args.reps, cfg["name"])
    add_bandwidth(row, 2 * hk * seq * dim * 2)
    report(row, args, lambda sd: (
        f"decode, {seq:6d} keys  ours {row['ours_ms'] * 1e3:8.1f} us "
        f"{row['gb_per_s']:7.0f} GB/s ({row['percent_of_peak'] or 0:4.1f}% peak)  "
        + (f"sdpa {sd * 1e3:8.1f} us (ours {row['ours_vs_sdpa']:.2f}x)  "
           if sd else "sdpa failed  ")))
    return ok



def cache_lengths(seqs, keys, generator):
    """`seqs` cache lengths summing to `keys`, each between a quarter and
    1.75x the mean (seeded)."""
    mean = keys / seqs
    raw = torch.empty(seqs).uniform_(0.25 * mean, 1.75 * mean, generator=generator)
    lengths = (raw / raw.sum() * keys).floor().long().clamp(min=1)
    lengths[-1] += keys - int(lengths.sum())
    return lengths


def check_sequences(out, q, k, v, bounds):
    """Batched decode output [N, Hq, D] against float64 per sequence (keys
    k[bounds[n]:bounds[n + 1]]): (worst error / bound, ok)."""
    ratio, finite = 0.0, bool(torch.isfinite(out).all())
    for n in range(len(bounds) - 1):  # each sequence: one query row per head
        lo, hi = bounds[n], bounds[n + 1]
        seq_out = out[n:n + 1].transpose(0, 1)[None]            # [1, Hq, 1, D]
        r, f = check_plain(seq_out, q[n:n + 1].transpose(0, 1)[None],
                           k[lo:hi].transpose(0, 1)[None], v[lo:hi].transpose(0, 1)[None], True)
        ratio, finite = max(ratio, r), finite and f
    return ratio, finite and ratio <= 1.0


def paged_variant(cfg, libs, q, k, v, lengths, cu, kv_cu):
    """The same batch in a paged cache (cfg's page_size, its pages shuffled
    over the pool, block_table): run once and checked per sequence against
    float64 like the packed call; returns the call to time and the check, or
    None when the bundle has no paged variant."""
    if "paged_function" not in cfg:
        return None
    page, max_pages, pool_pages = cfg["page_size"], cfg["max_pages"], cfg["pool_pages"]
    seqs, hk, dim = cfg["sequences"], cfg["kv_heads"], cfg["head_dim"]
    pages_of = [-(-int(n) // page) for n in lengths.tolist()]
    if max(pages_of) > max_pages or sum(pages_of) > pool_pages:
        print(f"# {cfg['name']}: the drawn lengths need more pages than the bundle's "
              f"({max(pages_of)} > {max_pages} or {sum(pages_of)} > {pool_pages})")
        return {"ok": False, "call": lambda: None}
    order = torch.randperm(pool_pages, generator=torch.Generator().manual_seed(seqs))
    table = torch.zeros(seqs, max_pages, dtype=torch.int32)
    k_pool = torch.zeros(pool_pages, page, hk, dim, dtype=torch.bfloat16, device="cuda")
    v_pool = torch.zeros_like(k_pool)
    bounds, used = kv_cu.tolist(), 0
    for n in range(seqs):
        ids = order[used:used + pages_of[n]]
        used += pages_of[n]
        table[n, :pages_of[n]] = ids.to(torch.int32)
        for j, page_id in enumerate(ids.tolist()):
            lo = bounds[n] + j * page
            hi = min(lo + page, bounds[n + 1])
            k_pool[page_id, :hi - lo] = k[lo:hi]
            v_pool[page_id, :hi - lo] = v[lo:hi]
    table = table.cuda()
    out = torch.empty_like(q)
    fn = getattr(libs[cfg["library"]], cfg["paged_function"])
    args_ = [ctypes.byref(descriptor(t)) for t in (q, k_pool.view(-1, hk, dim),
                                                   v_pool.view(-1, hk, dim), cu, kv_cu,
                                                   table, out)]
    fn(*args_)
    torch.cuda.synchronize()
    ratio, ok = check_sequences(out, q, k, v, bounds)
    if not ok:
        print(f"# {cfg['name']}: paged output FAILS its check ({ratio:.2f} of the bound)")
    return {"ok": ok, "call": lambda: fn(*args_)}


def run_varlen_decode(cfg, libs, args):
    """One new token per packed sequence against its own cache
    (kv_cu_seqlens): checked per sequence against float64; timed against
    SDPA on padded caches with a key-padding mask and against one SDPA call
    per sequence; GB/s of the caches read."""
    seqs, keys = cfg["sequences"], cfg["keys"]
    hq, hk, dim = cfg["q_heads"], cfg["kv_heads"], cfg["head_dim"]
    library = cfg["library"]
    if library not in libs:
        libs[library] = ctypes.CDLL(os.path.join(HERE, library))
    fn = getattr(libs[library], cfg["function"])
    lengths = cache_lengths(seqs, keys, torch.Generator().manual_seed(seqs))
    kv_cu = torch.zeros(seqs + 1, dtype=torch.int32)
    kv_cu[1:] = lengths.cumsum(0)
    cu = torch.arange(seqs + 1, dtype=torch.int32, device="cuda")
    kv_cu = kv_cu.cuda()
    q = torch.randn(seqs, hq, dim, device="cuda").to(torch.bfloat16)
    k = torch.randn(keys, hk, dim, device="cuda").to(torch.bfloat16)
    v = torch.randn(keys, hk, dim, device="cuda").to(torch.bfloat16)
    out = torch.empty_like(q)
    args_ = [ctypes.byref(descriptor(t)) for t in (q, k, v, cu, kv_cu, out)]
    fn(*args_)
    torch.cuda.synchronize()
    bounds = kv_cu.tolist()
    ratio, ok = check_sequences(out, q, k, v, bounds)
    paged = paged_variant(cfg, libs, q, k, v, lengths, cu, kv_cu)
    if paged is not None:
        ok = ok and paged["ok"]

    # Peers: the caches padded to the longest, [N, Hq, 1, max] with a mask
    # (GQA expanded outside the timing); one SDPA call per sequence.
    longest = int(lengths.max())
    kp = torch.zeros(seqs, hk, longest, dim, device="cuda", dtype=torch.bfloat16)
    vp = torch.zeros_like(kp)
    for n in range(seqs):
        lo, hi = bounds[n], bounds[n + 1]
        kp[n, :, :hi - lo] = k[lo:hi].transpose(0, 1)
        vp[n, :, :hi - lo] = v[lo:hi].transpose(0, 1)
    kp, vp = expand_kv(kp, hq), expand_kv(vp, hq)
    valid = (torch.arange(longest, device="cuda")[None, :]
             < lengths.cuda()[:, None])[:, None, None, :]        # [N, 1, 1, max]
    qb = q[:, :, None, :]                                         # [N, Hq, 1, D]
    per_seq = [(q[n:n + 1].transpose(0, 1)[None],
                expand_kv(k[bounds[n]:bounds[n + 1]].transpose(0, 1)[None], hq),
                expand_kv(v[bounds[n]:bounds[n + 1]].transpose(0, 1)[None], hq))
               for n in range(seqs)]

    def sdpa_padded():
        return F.scaled_dot_product_attention(qb, kp, vp, attn_mask=valid)

    def sdpa_loop():
        for qs, ks, vs in per_seq:
            F.scaled_dot_product_attention(qs, ks, vs)

    row = {"name": cfg["name"], "sequences": seqs, "keys": keys, "longest": longest,
           "error_vs_bound": ratio, "ok": ok}
    timings = [("ours", lambda: fn(*args_)), ("sdpa", sdpa_padded)]
    if paged is not None:
        timings.append(("ours_paged", paged["call"]))
        row["paged_ok"] = paged["ok"]
    time_all(row, timings, 100, args.reps, cfg["name"])
    try:
        row["sdpa_loop_ms"], _, _ = timed(sdpa_loop, 20, args.reps)
    except Exception as e:
        print(f"# {cfg['name']}: sdpa per sequence failed: {type(e).__name__}: {e}"[:300])
        row["sdpa_loop_ms"] = None
    add_bandwidth(row, 2 * hk * keys * dim * 2)
    for peer in ("sdpa", "sdpa_loop"):
        row[f"ours_vs_{peer}"] = (row[peer + "_ms"] / row["ours_ms"]) \
            if row.get(peer + "_ms") else None
    # The paged cache's cost over the contiguous packed one (page lookups).
    row["paged_vs_packed"] = (row["ours_paged_ms"] / row["ours_ms"]) \
        if row.get("ours_paged_ms") else None
    if args.json:
        print(json.dumps(row), flush=True)
    else:
        def peer(name, label):
            ms = row.get(name + "_ms")
            return (f"{label} {ms * 1e3:8.1f} us (ours {row['ours_vs_' + name]:.2f}x)  "
                    if ms else f"{label} failed  ")
        print(f"varlen decode, {seqs} seqs / {keys} keys  ours {row['ours_ms'] * 1e3:8.1f} us "
              f"{row['gb_per_s']:7.0f} GB/s ({row['percent_of_peak'] or 0:4.1f}% peak)  "
              + peer("sdpa", "sdpa padded+mask") + peer("sdpa_loop", "sdpa per seq")
              + (f"paged {row['ours_paged_ms'] * 1e3:8.1f} us ({row['paged_vs_packed']:.2f}x "
                 f"packed)  " if row.get("ours_paged_ms") else "")
              + f"check {'ok' if ok else 'FAIL'} ({ratio:.2f} of the bound)", flush=True)
    return ok

if __name__ == "__main__":
    raise SystemExit(main())
