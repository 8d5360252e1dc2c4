#!/usr/bin/env python3
"""PyTorch eager peer for mrope-bench: the Hugging Face rotary formulas,
timed on the benchmark's own inputs.

    torch_peer.py DIR TOKENS ALLOCATION REPS

DIR holds q.bin ([T, 32, 128] bf16), k.bin ([T, 8, 128] bf16) and pos.bin
([3, T] int64) written by mrope-bench. Each timed call does what the model
does per layer: the rotary embedding's forward (inv_freq x positions in f32,
cos/sin, cast to bf16, the allocation's section split/cat, interleave or
per-head selection) and `q * cos + rotate_half(q) * sin` for q and k in
bf16. The rotated q and k of the first call are written to q_out.bin and
k_out.bin ([T, H, D]) for mrope-bench to compare with its own, and one JSON
line {"torch_ms": median, "min_ms": .., "max_ms": ..} is printed.
"""

import json
import os
import sys
import time

import numpy as np
import torch

THETA, DIM, Q_HEADS, KV_HEADS = 1.0e6, 128, 32, 8
SECTIONS = {"contiguous": [16, 24, 24], "interleaved": [24, 20, 20], "mhrope": [2, 3, 3]}


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def cos_sin(positions, inv_freq, allocation):
    """HF Qwen2-VL / Qwen3-VL rotary embedding forward: [3, 1, T, D] tables
    reduced to the allocation's [1, 1, T, D] (or [1, KV, T, D] for MHRoPE)."""
    section = SECTIONS[allocation]
    inv = inv_freq[None, None, :, None].float().expand(3, 1, -1, 1)
    pos = positions[:, None, None, :].float()
    freqs = (inv @ pos).transpose(2, 3)  # [3, 1, T, D/2]
    if allocation == "interleaved":  # Qwen3-VL apply_interleaved_mrope
        freqs_t = freqs[0].clone()
        for axis, offset in ((1, 1), (2, 2)):
            idx = slice(offset, section[axis] * 3, 3)
            freqs_t[..., idx] = freqs[axis, ..., idx]
        emb = torch.cat((freqs_t, freqs_t), dim=-1)
        return emb.cos().to(torch.bfloat16)[None], emb.sin().to(torch.bfloat16)[None]
    emb = torch.cat((freqs, freqs), dim=-1)  # [3, 1, T, D]
    cos, sin = emb.cos().to(torch.bfloat16), emb.sin().to(torch.bfloat16)
    if allocation == "contiguous":  # Qwen2-VL apply_multimodal_rotary_pos_emb
        split = section * 2  # HF: mrope_section * 2, over the D channels
        cos = torch.cat([m[i % 3] for i, m in enumerate(cos.split(split, dim=-1))], dim=-1)
        sin = torch.cat([m[i % 3] for i, m in enumerate(sin.split(split, dim=-1))], dim=-1)
        return cos[:, None], sin[:, None]
    # MHRoPE: KV head g reads axis T, H or W by the head counts of the section.
    axes = [a for a, n in enumerate(section) for _ in range(n)]
    return cos[axes, 0][None], sin[axes, 0][None]  # [1, KV, T, D]


def rotate(q, k, positions, inv_freq, allocation):
    cos, sin = cos_sin(positions, inv_freq, allocation)
    if allocation == "mhrope":
        group = Q_HEADS // KV_HEADS
        q_cos, q_sin = cos.repeat_interleave(group, 1), sin.repeat_interleave(group, 1)
    else:
        q_cos, q_sin = cos, sin
    return q * q_cos + rotate_half(q) * q_sin, k * cos + rotate_half(k) * sin


def main():
    directory, tokens, allocation, reps = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

    def load(name, dtype, shape):
        return np.fromfile(os.path.join(directory, name), dtype=dtype).reshape(shape)

    q = torch.from_numpy(load("q.bin", np.int16, (tokens, Q_HEADS, DIM))).view(torch.bfloat16)
    k = torch.from_numpy(load("k.bin", np.int16, (tokens, KV_HEADS, DIM))).view(torch.bfloat16)
    positions = torch.from_numpy(load("pos.bin", np.int64, (3, tokens)))
    # HF layout [B, H, T, D]: views of the packed [T, H, D] buffers.
    q, k = q.permute(1, 0, 2)[None], k.permute(1, 0, 2)[None]
    inv_freq = 1.0 / (THETA ** (torch.arange(0, DIM, 2, dtype=torch.int64).float() / DIM))
    times = []
    for rep in range(reps + 1):
        start = time.perf_counter()
        q_out, k_out = rotate(q, k, positions, inv_freq, allocation)
        elapsed = (time.perf_counter() - start) * 1e3
        if rep == 0:  # the first call warms up and gives the outputs
            for name, t in (("q_out.bin", q_out), ("k_out.bin", k_out)):
                t[0].permute(1, 0, 2).contiguous().view(torch.int16).numpy().tofile(
                    os.path.join(directory, name))
        else:
            times.append(elapsed)
    times.sort()
    print(json.dumps({"torch_ms": times[len(times) // 2], "min_ms": times[0],
                      "max_ms": times[-1], "threads": torch.get_num_threads(),
                      "version": torch.__version__}))


if __name__ == "__main__":
    main()
