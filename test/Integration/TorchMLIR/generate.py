#!/usr/bin/env python3
"""Regenerates the Torch-MLIR imports of the Hugging Face rotary functions
used as inputs by the tests in this folder (Inputs/*.mlir).

Needs torch and torch-mlir from pip (not needed to run the tests):

    python3 -m venv /tmp/tenv
    /tmp/tenv/bin/pip install torch numpy && /tmp/tenv/bin/pip install --no-deps torch-mlir
    /tmp/tenv/bin/python test/Integration/TorchMLIR/generate.py

The functions are the Hugging Face formulas (written out here): rotate_half,
Qwen2-VL's apply_multimodal_rotary_pos_emb (section split/cat of the
per-axis cos/sin), the rotary embedding's forward (inv_freq x positions), and
Qwen3-VL's interleaved allocation, and the Qwen2-VL chain with an
attention scaling (YaRN) applied to cos/sin. Shapes are small: 1 batch, 4 q heads, 2 KV
heads, 8 tokens, head_dim 16, mrope_section [2, 3, 3].
"""

import os

import torch
from torch_mlir import fx

HERE = os.path.dirname(os.path.abspath(__file__))
SECTION = [2, 3, 3]
B, HQ, HK, S, D = 1, 4, 2, 8, 16


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class ApplyRotary(torch.nn.Module):
    """Llama/Qwen apply_rotary_pos_emb: cos/sin [B, S, D] unsqueezed at 1."""

    def forward(self, q, k, cos, sin):
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


class ApplyMultimodalRotary(torch.nn.Module):
    """Qwen2-VL apply_multimodal_rotary_pos_emb: cos/sin [3, B, S, D]."""

    def forward(self, q, k, cos, sin):
        section = SECTION * 2
        cos = torch.cat([m[i % 3] for i, m in enumerate(cos.split(section, dim=-1))],
                        dim=-1).unsqueeze(1)
        sin = torch.cat([m[i % 3] for i, m in enumerate(sin.split(section, dim=-1))],
                        dim=-1).unsqueeze(1)
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


def multimodal_cos_sin(position_ids, inv_freq):
    """Qwen2-VL rotary embedding forward: [3, B, S, D] cos and sin."""
    inv = inv_freq[None, None, :, None].float().expand(3, position_ids.shape[1], -1, 1)
    pos = position_ids[:, :, None, :].float()
    freqs = (inv @ pos).transpose(2, 3)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


class Qwen2VLRotary(torch.nn.Module):
    """The whole chain: positions and inv_freq to rotated q and k."""

    def forward(self, q, k, position_ids, inv_freq):
        cos, sin = multimodal_cos_sin(position_ids, inv_freq)
        return ApplyMultimodalRotary()(q, k, cos.to(q.dtype), sin.to(q.dtype))


# YaRN's attention factor for factor 4 (0.1 ln 4 + 1, as an f32 constant).
ATTENTION_SCALING = 1.1386294361119891


class Qwen2VLScaledRotary(torch.nn.Module):
    """The chain with the rotary embedding's attention scaling (YaRN,
    LongRoPE): `cos = emb.cos() * self.attention_scaling`, as the module's
    forward writes it, before the cast to q's dtype."""

    def forward(self, q, k, position_ids, inv_freq):
        cos, sin = multimodal_cos_sin(position_ids, inv_freq)
        cos, sin = cos * ATTENTION_SCALING, sin * ATTENTION_SCALING
        return ApplyMultimodalRotary()(q, k, cos.to(q.dtype), sin.to(q.dtype))


class Qwen3VLRotary(torch.nn.Module):
    """Qwen3-VL: interleaved allocation of the per-axis frequencies."""

    def forward(self, q, k, position_ids, inv_freq):
        inv = inv_freq[None, None, :, None].float().expand(3, position_ids.shape[1], -1, 1)
        pos = position_ids[:, :, None, :].float()
        freqs = (inv @ pos).transpose(2, 3)
        freqs_t = freqs[0]
        for axis, offset in ((1, 1), (2, 2)):
            idx = slice(offset, SECTION[axis] * 3, 3)
            freqs_t[..., idx] = freqs[axis, ..., idx]
        emb = torch.cat((freqs_t, freqs_t), dim=-1)
        cos, sin = emb.cos().to(q.dtype).unsqueeze(1), emb.sin().to(q.dtype).unsqueeze(1)
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


def main():
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    positions = torch.arange(3 * B * S, dtype=torch.int64).reshape(3, B, S)
    for dtype, suffix in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        q = torch.randn(B, HQ, S, D).to(dtype)
        k = torch.randn(B, HK, S, D).to(dtype)
        cases = {
            "apply_rotary": (ApplyRotary(), (q, k, torch.randn(B, S, D).to(dtype),
                                             torch.randn(B, S, D).to(dtype))),
            "apply_multimodal_rotary": (ApplyMultimodalRotary(),
                                        (q, k, torch.randn(3, B, S, D).to(dtype),
                                         torch.randn(3, B, S, D).to(dtype))),
            "qwen2vl_rotary": (Qwen2VLRotary(), (q, k, positions, inv_freq)),
            "qwen2vl_scaled_rotary": (Qwen2VLScaledRotary(), (q, k, positions, inv_freq)),
            "qwen3vl_rotary": (Qwen3VLRotary(), (q, k, positions, inv_freq)),
        }
        for name, (module, args) in cases.items():
            imported = fx.export_and_import(module, *args, output_type="linalg-on-tensors",
                                            func_name=name)
            path = os.path.join(HERE, "Inputs", f"{name}_{suffix}.mlir")
            with open(path, "w") as f:
                f.write(f"// Generated by test/Integration/TorchMLIR/generate.py "
                        f"(torch {torch.__version__}); do not edit.\n")
                f.write(str(imported))
            print("wrote", path)


if __name__ == "__main__":
    main()
