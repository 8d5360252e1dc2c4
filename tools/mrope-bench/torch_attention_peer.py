#!/usr/bin/env python3
"""PyTorch peer for `mrope-bench --attention`: the attention Hugging Face
runs, timed on the benchmark's own inputs.

    torch_attention_peer.py DIR SEQ CAUSAL THREADS REPS [QSEQ]

DIR holds q.bin ([8, QSEQ, 128] bf16; QSEQ defaults to SEQ), k.bin and v.bin
([2, SEQ, 128] bf16) written by mrope-bench (no rotary: the peer of the
"no-rotary" variant). With QSEQ < SEQ (decode) the queries are the last QSEQ
tokens: the causal mask is aligned bottom-right, as in mrope.attention and
Hugging Face's KV-cache decoding.
With torch >= 2.0 each timed call is `F.scaled_dot_product_attention` (the
SDPA path of Hugging Face models, a fused flash-attention kernel on CPU);
older torch runs Hugging Face's `eager_attention_forward` in bf16
(repeat_kv, q k^T * scale + causal mask, softmax in f32 cast back to bf16,
times v). The output of the first call is written to out.bin ([8, SEQ, 128]
bf16) for mrope-bench to check against double precision, and one JSON line
{"torch_ms": median, "min_ms", "max_ms", "impl", "threads", "version"} is
printed.
"""

import json
import os
import sys
import time

import numpy as np
import torch

Q_HEADS, KV_HEADS, DIM = 8, 2, 128


def future_keys(q, k):
    """True where query i (of the last q.shape[2] tokens) may not see key j."""
    q_seq, kv_seq = q.shape[2], k.shape[2]
    return torch.ones(q_seq, kv_seq, dtype=torch.bool).triu(1 + kv_seq - q_seq)


def eager(q, k, v, causal):
    """transformers' eager_attention_forward (bf16 in, bf16 out)."""
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    weights = torch.matmul(q, k.transpose(2, 3)) * (DIM ** -0.5)
    if causal:
        future = future_keys(q, k)
        mask = torch.zeros(future.shape, dtype=q.dtype)
        mask.masked_fill_(future, torch.finfo(q.dtype).min)
        weights = weights + mask
    weights = torch.softmax(weights, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(weights, v)


def sdpa(q, k, v, causal):
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    if causal and q.shape[2] != k.shape[2]:
        # is_causal aligns top-left; decoding needs bottom-right.
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=~future_keys(q, k))
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)


def main():
    directory, seq, causal = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "causal"
    threads, reps = int(sys.argv[4]), int(sys.argv[5])
    q_seq = int(sys.argv[6]) if len(sys.argv) > 6 else seq
    torch.set_num_threads(threads)

    def load(name, heads, tokens):
        bits = np.fromfile(os.path.join(directory, name), dtype=np.int16)
        return torch.from_numpy(bits.reshape(1, heads, tokens, DIM)).view(torch.bfloat16)

    q = load("q.bin", Q_HEADS, q_seq)
    k, v = load("k.bin", KV_HEADS, seq), load("v.bin", KV_HEADS, seq)
    has_sdpa = hasattr(torch.nn.functional, "scaled_dot_product_attention")
    attend = sdpa if has_sdpa else eager
    times = []
    with torch.no_grad():
        for rep in range(reps + 1):
            start = time.perf_counter()
            out = attend(q, k, v, causal)
            elapsed = (time.perf_counter() - start) * 1e3
            if rep == 0:  # the first call warms up and gives the output
                out[0].contiguous().view(torch.int16).numpy().tofile(
                    os.path.join(directory, "out.bin"))
            else:
                times.append(elapsed)
    times.sort()
    print(json.dumps({"torch_ms": times[len(times) // 2], "min_ms": times[0],
                      "max_ms": times[-1], "impl": "sdpa" if has_sdpa else "eager-bf16",
                      "threads": torch.get_num_threads(), "version": torch.__version__}))


if __name__ == "__main__":
    main()
