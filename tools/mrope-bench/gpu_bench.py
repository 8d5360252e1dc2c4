#!/usr/bin/env python3
"""GPU benchmark of the compiled rotary kernels (runs on the GPU machine, from
the bundle tools/mrope-bench/gpu_bundle.py builds).

    python3 gpu_bench.py [--reps 7] [--json]

For every configuration of manifest.json (design/PERF.md's S0: T = 16384,
32 q + 8 kv heads, D = 128, bf16, contiguous / interleaved / MHRoPE; and the
decode sizes T = 1, 16, 256), on random q, k (bf16) and positions:

- checks our output against PyTorch running the Hugging Face formulas
  (torch_peer.py) on the same inputs: every element within one bf16 ulp of
  the value (cos/sin differ in the last f32 bits: CUDA's cosf vs our
  polynomial), and reports the fraction of identical elements;
- times with CUDA events, `--reps` repetitions of `iters` back-to-back calls
  each (inputs of S0: 336 MB of q and k, well past L2), median and min-max:
    ours          our kernel, launched into PyTorch's stream
                  (mropeCudaUseStream: no per-call synchronization)
    probe         in-place read-modify-write of the same bytes (q.mul_(1),
                  k.mul_(1)): what the memory system does for this traffic
    torch         eager PyTorch, HF formulas (cos/sin from positions + apply)
    torch.compile the same function through torch.compile (Inductor)
- reports GB/s (q and k read and written, positions read) and % of the
  device's peak HBM bandwidth, and each ratio.
The decode rows also give the host wall time of one synchronous call.
"""

import argparse
import ctypes
import json
import os
import statistics
import time

import torch

import torch_peer as hf
from gpu_common import descriptor, peak_bandwidth, timed

HERE = os.path.dirname(os.path.abspath(__file__))

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--only", default="",
                        help="run the configurations whose name contains this "
                             "(e.g. t16384 for S0 only)")
    args = parser.parse_args()

    if not torch.cuda.is_available():
        raise SystemExit("gpu_bench: PyTorch sees no CUDA device")
    manifest = json.load(open(os.path.join(HERE, "manifest.json")))
    runtime = ctypes.CDLL(os.path.join(HERE, "libmrope_cuda_runtime.so"))
    lib = ctypes.CDLL(os.path.join(HERE, "libmrope_gpu_bench.so"))
    device = torch.cuda.get_device_name()
    peak = peak_bandwidth(device)
    torch.manual_seed(0)
    stream = torch.cuda.current_stream()
    runtime.mropeCudaUseStream(ctypes.c_void_p(stream.cuda_stream))
    compiled = None if args.no_compile else torch.compile(hf.rotate)
    print(f"# {device}, torch {torch.__version__}, peak {peak and peak / 1e12} TB/s, "
          f"bundle for {manifest['chip']}")
    failures, rows = 0, []
    for cfg in manifest["configs"]:
        if args.only not in cfg["name"]:
            continue
        tokens, alloc = cfg["tokens"], cfg["allocation"]
        hq, hk, dim = cfg["q_heads"], cfg["kv_heads"], cfg["head_dim"]
        q = torch.randn(tokens, hq, dim, device="cuda").to(torch.bfloat16)
        k = torch.randn(tokens, hk, dim, device="cuda").to(torch.bfloat16)
        pos = torch.randint(0, 4096, (3, tokens), device="cuda", dtype=torch.int64)
        inv_freq = 1.0 / (cfg["theta"] ** (torch.arange(0, dim, 2, dtype=torch.int64,
                                                         device="cuda").float() / dim))
        fn = getattr(lib, cfg["function"])
        qd, kd, pd = descriptor(q), descriptor(k), descriptor(pos)

        def ours():
            fn(ctypes.byref(qd), ctypes.byref(kd), ctypes.byref(pd))

        # HF layout [1, H, T, D]: views of the packed [T, H, D] tensors.
        def torch_rotate(rotate=hf.rotate):
            return rotate(q.permute(1, 0, 2)[None], k.permute(1, 0, 2)[None], pos,
                          inv_freq, alloc)

        # Correctness, on the first inputs.
        want_q, want_k = (t[0].permute(1, 0, 2) for t in torch_rotate())
        ours()
        torch.cuda.synchronize()
        worst, identical, total = 0.0, 0, 0
        for got, want in ((q, want_q), (k, want_k)):
            g, w = got.float(), want.float()
            ulp = torch.clamp(w.abs(), min=2.0 ** -126) * 2.0 ** -7
            worst = max(worst, float(((g - w).abs() / ulp).max()))
            identical += int((got.view(torch.int16) == want.view(torch.int16)).sum())
            total += got.numel()
        ok = worst <= 1.0
        failures += not ok

        iters = 20 if tokens >= 4096 else 200
        row = {"name": cfg["name"], "allocation": alloc, "tokens": tokens,
               "max_diff_bf16_ulps": worst, "identical": identical / total, "ok": ok}
        bytes_moved = 2 * (q.numel() + k.numel()) * 2 + pos.numel() * 8
        for label, f in (("ours", ours),
                         ("probe", lambda: (q.mul_(1.0), k.mul_(1.0))),
                         ("torch", torch_rotate),
                         ("torch_compile", (lambda: torch_rotate(compiled)) if compiled else None)):
            if f is None:
                row[label + "_ms"] = None
                continue
            try:
                med, lo, hi = timed(f, iters, args.reps)
            except Exception as e:  # a peer that fails (e.g. Inductor) is reported, not fatal
                if label == "ours":
                    raise
                print(f"# {cfg['name']}: {label} failed: {type(e).__name__}: {e}"[:300])
                row[label + "_ms"] = None
                continue
            row[label + "_ms"], row[label + "_min_ms"], row[label + "_max_ms"] = med, lo, hi
        row["gb_per_s"] = bytes_moved / (row["ours_ms"] * 1e-3) / 1e9
        row["percent_of_peak"] = 100 * row["gb_per_s"] * 1e9 / peak if peak else None
        row["ratio_vs_probe"] = row["probe_ms"] / row["ours_ms"]
        row["speedup_vs_torch"] = (row["torch_ms"] / row["ours_ms"]
                                   if row["torch_ms"] else None)
        row["speedup_vs_torch_compile"] = (row["torch_compile_ms"] / row["ours_ms"]
                                           if row["torch_compile_ms"] else None)
        if tokens <= 256:  # host wall time of one synchronous call
            runtime.mropeCudaUseOwnStreams()
            walls = []
            for _ in range(200):
                start = time.perf_counter()
                ours()
                walls.append((time.perf_counter() - start) * 1e6)
            row["sync_call_us"] = statistics.median(walls)
            runtime.mropeCudaUseStream(ctypes.c_void_p(stream.cuda_stream))
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            tc = row["torch_compile_ms"]
            print(f"{cfg['name']:28s} ours {row['ours_ms'] * 1e3:9.1f} us "
                  f"[{row['ours_min_ms'] * 1e3:.1f}-{row['ours_max_ms'] * 1e3:.1f}]  "
                  f"{row['gb_per_s']:7.0f} GB/s "
                  f"({row['percent_of_peak'] or 0:5.1f}% peak, {row['ratio_vs_probe']:.2f}x probe)  "
                  + (f"torch {row['torch_ms'] * 1e3:9.1f} us ({row['speedup_vs_torch']:.1f}x)  "
                     if row["torch_ms"] else "torch failed  ")
                  + (f"compile {tc * 1e3:9.1f} us ({row['speedup_vs_torch_compile']:.1f}x)  "
                     if tc else "")
                  + (f"sync call {row['sync_call_us']:.1f} us  " if "sync_call_us" in row else "")
                  + f"check {'ok' if ok else 'FAIL'} (max {worst:.2f} ulp, "
                    f"{100 * row['identical']:.2f}% identical)", flush=True)
    print(f"{len(rows) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
