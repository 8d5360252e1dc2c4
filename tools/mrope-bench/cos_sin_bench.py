#!/usr/bin/env python3
"""`mrope.cos_sin` (the Hugging Face cos/sin tables, f32) on the CPU, against
the portable lowering of the same op, NumPy's Hugging Face formulas and the
time it takes to write the two tables.

For each allocation (contiguous [16,24,24], interleaved [24,20,20], MHRoPE
[2,3,3] with 8 KV heads; head_dim 128, theta 1e6) and two kinds of
positions -- a Qwen2-VL prompt (16 text tokens and a 256-token image,
repeated; `mrope.position_ids`) and "random" (each axis's positions drawn
independently below 2T, so no axis repeats) -- it times, on the same
positions in the same run, median and min of --reps after a warm-up:

- ours: the function `mrope.cos_sin` compiles (the CPU pipeline's vector
  form, one thread), called on preallocated tables;
- portable: the same function lowered by `--convert-mrope-to-linalg` without
  vector rows (the linalg form IREE and the GPU take) and compiled for the
  CPU the same way, called the same way;
- numpy: inv_freq x positions, cos and sin in float32, the allocation's
  channel selection and the [.., D] layout, as the Hugging Face code does;
- torch (where PyTorch is installed in the same Python): the Hugging Face
  rotary embedding's forward in PyTorch eager, float32, one thread (its
  values compared with ours: within one f32 ulp, mostly the same bits);
- write: filling two tables of the same size (the floor for any method).

and checks ours against the portable form (bit for bit) and against float64
cos/sin of the same f32 angles (within 2 f32 ulps, the bound of
python/tests/test_rotary.py). Prints ratios portable/ours, numpy/ours and
write/ours (1.0 = at the floor). Exit status 1 on a failed check.

    PYTHONPATH=build/python_packages build/pyenv/bin/python \\
        tools/mrope-bench/cos_sin_bench.py [--tokens 16384] [--reps 7]
"""

import argparse
import os
import subprocess
import sys

import numpy as np

import mrope
from mrope import ir, reference, runtime

from bench_common import timed
from positions_bench import prompt

THETA = 1.0e6
ALLOCATIONS = {
    "contiguous": ("contiguous", [16, 24, 24]),
    "interleaved": ("interleaved", [24, 20, 20]),
    "mhrope": ("head_partitioned", [2, 3, 3]),
}


def config_of(name):
    kind, section = ALLOCATIONS[name]
    if kind == "head_partitioned":
        return mrope.paper("mhrope", dim=128, base=THETA, mrope_section=section,
                           num_key_value_heads=8)
    scaling = {"type": "mrope", "mrope_section": section}
    if kind == "interleaved":
        scaling["mrope_interleaved"] = True
    return mrope.from_hf({"model_type": "qwen2_vl", "hidden_size": 4096,
                          "num_attention_heads": 32, "num_key_value_heads": 8,
                          "rope_theta": THETA, "rope_scaling": scaling})


def channel_axes(name, pairs):
    """The position axis of each pair (shared tables) or KV head (MHRoPE)."""
    kind, section = ALLOCATIONS[name]
    if kind == "head_partitioned":
        return reference.axis_of_kv_heads(section, 8)
    return reference.axis_of_pairs(kind, section, pairs)


def numpy_tables(name, positions, inv_freq):
    """The Hugging Face formulas in NumPy float32: [B, S, D] or [B, KV, S, D]."""
    freqs = positions.astype(np.float32)[..., None] * inv_freq  # [3, B, S, P]
    axes = channel_axes(name, inv_freq.shape[0])
    if ALLOCATIONS[name][0] == "head_partitioned":
        emb = np.concatenate([freqs, freqs], axis=-1)  # [3, B, S, D]
        cos, sin = np.cos(emb), np.sin(emb)
        return cos[axes].transpose(1, 0, 2, 3), sin[axes].transpose(1, 0, 2, 3)
    picked = np.take_along_axis(freqs, axes[None, None, None, :], axis=0)[0]
    emb = np.concatenate([picked, picked], axis=-1)
    return np.cos(emb), np.sin(emb)


def torch_tables(torch, name, positions, inv_freq):
    """The Hugging Face rotary embedding's forward in PyTorch eager, float32:
    freqs = inv_freq @ positions per axis, emb = cat(freqs, freqs), cos/sin,
    then the allocation -- Qwen2-VL's section split, Qwen3-VL's interleave
    (on freqs, before cat), MHRoPE's per-head axes."""
    kind, section = ALLOCATIONS[name]
    inv = torch.from_numpy(inv_freq)[None, None, :, None].expand(3, positions.shape[1], -1, 1)
    pos = torch.from_numpy(positions)[:, :, None, :].float()
    freqs = (inv @ pos).transpose(2, 3)  # [3, B, S, P]
    if kind == "interleaved":
        freqs_t = freqs[0].clone()
        for axis, offset in ((1, 1), (2, 2)):
            idx = slice(offset, section[axis] * 3, 3)
            freqs_t[..., idx] = freqs[axis, ..., idx]
        emb = torch.cat((freqs_t, freqs_t), dim=-1)
        return emb.cos(), emb.sin()
    emb = torch.cat((freqs, freqs), dim=-1)  # [3, B, S, D]
    cos, sin = emb.cos(), emb.sin()
    if kind == "contiguous":
        split = section * 2
        return (torch.cat([m[i % 3] for i, m in enumerate(cos.split(split, dim=-1))], dim=-1),
                torch.cat([m[i % 3] for i, m in enumerate(sin.split(split, dim=-1))], dim=-1))
    axes = torch.from_numpy(reference.axis_of_kv_heads(section, 8))
    return cos[axes].transpose(0, 1), sin[axes].transpose(0, 1)  # [B, KV, S, D]


def float64_tables(name, positions, inv_freq):
    """cos/sin in float64 of the same float32 angles."""
    freqs = (positions.astype(np.float32)[..., None] * inv_freq).astype(np.float64)
    axes = channel_axes(name, inv_freq.shape[0])
    if ALLOCATIONS[name][0] == "head_partitioned":
        emb = np.concatenate([freqs, freqs], axis=-1)[axes].transpose(1, 0, 2, 3)
    else:
        picked = np.take_along_axis(freqs, axes[None, None, None, :], axis=0)[0]
        emb = np.concatenate([picked, picked], axis=-1)
    return np.cos(emb), np.sin(emb)


def ulps(got, want):
    return float(np.max(np.abs(got - want) / np.spacing(np.abs(want).astype(np.float32))))


def portable_module(source):
    """`source` lowered without vector rows, compiled for the CPU."""
    mrope_opt = os.environ.get("MROPE_OPT") or mrope._build_config.MROPE_OPT
    lowered = subprocess.run([mrope_opt, "--convert-mrope-to-linalg"], input=source,
                             capture_output=True, text=True, check=True).stdout
    return runtime.compile(lowered)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    tokens = args.tokens
    ids, grids = prompt(tokens)
    position_kinds = {
        "prompt": mrope.position_ids(config_of("contiguous"), ids,
                                     image_grid_thw=grids).position_ids,
        "random": np.random.default_rng(0).integers(0, 2 * tokens, (3, 1, tokens)),
    }
    try:
        import torch
        torch.set_num_threads(1)  # the same one thread as ours
    except ImportError:
        torch = None
    print(f"T = {tokens}, f32 tables, one thread; median ms (min) of {args.reps}")
    print(f"{'allocation':<12} {'positions':<9} {'ours':>15} {'portable':>15} "
          f"{'numpy':>15} {'torch':>15} {'write':>13} {'port/ours':>9} {'np/ours':>8} "
          f"{'torch/ours':>10} {'write/ours':>10}  check")
    failed = False
    for name in ALLOCATIONS:
        config = config_of(name)
        inv_freq = mrope.inv_freq(config)
        for kind, positions in position_kinds.items():
            positions = np.ascontiguousarray(positions, np.int64)
            cos_ours, sin_ours = mrope.cos_sin(config, positions)
            table = list(cos_ours.shape)
            source = ir.cos_sin_function(config, positions.shape, table, "f32",
                                         mrope.attention_scaling(config), None)
            # Both compiled forms write into the same preallocated tables
            # (a fresh allocation would add its page faults to the time).
            compiled, portable = runtime.compile(source), portable_module(source)
            cos_o, sin_o = np.zeros(table, np.float32), np.zeros(table, np.float32)
            cos_p, sin_p = np.zeros(table, np.float32), np.zeros(table, np.float32)

            def run_ours():
                compiled.call("cos_sin", positions, cos_o, sin_o)

            def run_portable():
                portable.call("cos_sin", positions, cos_p, sin_p)

            write_c, write_s = np.empty(table, np.float32), np.empty(table, np.float32)

            def write():
                write_c.fill(0.5)
                write_s.fill(0.5)

            ours = timed(run_ours, args.reps)
            port = timed(run_portable, args.reps)
            nump = timed(lambda: numpy_tables(name, positions, inv_freq), args.reps)
            floor = timed(write, args.reps)
            peer = None
            if torch is not None:
                peer = timed(lambda: torch_tables(torch, name, positions, inv_freq), args.reps)
            assert np.array_equal(cos_o, cos_ours) and np.array_equal(sin_o, sin_ours)
            cos_ours, sin_ours = cos_o, sin_o
            want_c, want_s = float64_tables(name, positions, inv_freq)
            exact = (np.array_equal(cos_ours.view(np.uint32), cos_p.view(np.uint32))
                     and np.array_equal(sin_ours.view(np.uint32), sin_p.view(np.uint32)))
            error = max(ulps(cos_ours, want_c), ulps(sin_ours, want_s))
            ok = exact and error <= 2.0
            torch_note = ""
            if peer is not None:
                # PyTorch's cos/sin are SLEEF's, as ours: equal bits but
                # where its vector code takes the Payne-Hanek path for a
                # whole 8-lane group (a last-place difference).
                torch_c, torch_s = (t.numpy() for t in peer[2])
                differ = int(np.count_nonzero(torch_c.view(np.uint32) != cos_ours.view(np.uint32))
                             + np.count_nonzero(torch_s.view(np.uint32) != sin_ours.view(np.uint32)))
                torch_error = max(ulps(torch_c, cos_ours.astype(np.float64)),
                                  ulps(torch_s, sin_ours.astype(np.float64)))
                ok &= torch_error <= 1.0
                torch_note = f", !=torch: {differ} of {2 * cos_ours.size}"
            failed |= not ok
            check = ("ok" if ok else "MISMATCH") + \
                f" (=portable: {'yes' if exact else 'NO'}, {error:.2f} ulp{torch_note})"

            def cell(t):
                return f"{t[0] * 1e3:7.2f} ({t[1] * 1e3:5.2f})"

            torch_cell = cell(peer) if peer else "-"
            torch_ratio = f"{peer[0] / ours[0]:10.2f}" if peer else f"{'-':>10}"
            print(f"{name:<12} {kind:<9} {cell(ours):>15} {cell(port):>15} "
                  f"{cell(nump):>15} {torch_cell:>15} {cell(floor):>13} "
                  f"{port[0] / ours[0]:9.2f} {nump[0] / ours[0]:8.2f} {torch_ratio} "
                  f"{floor[0] / ours[0]:10.2f}  {check}")
    print("ours: mrope.cos_sin's compiled function; portable: the linalg form on "
          "the CPU (both into preallocated tables); numpy / torch: the HF formulas in "
          "float32 (allocating; torch eager on one thread, when installed); write: "
          "filling both tables")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
