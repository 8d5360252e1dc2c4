"""A Qwen2.5-VL batch through the mrope Python package: position ids from the
processor's tensors, decode positions, and rotary on bf16-sized q/k, checked
against the NumPy reference.

    PYTHONPATH=build/python_packages build/pyenv/bin/python python/examples/demo.py
"""

import numpy as np

import mrope
from mrope import reference

config = mrope.from_hf({
    "model_type": "qwen2_5_vl", "hidden_size": 3584, "num_attention_heads": 28,
    "num_key_value_heads": 4, "rope_theta": 1000000.0,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vision_config": {"spatial_merge_size": 2, "tokens_per_second": 2},
})
print("config:", config.allocation, config.design, f"theta={config.theta:g}")

VS, VE, IMG, VID, PAD = 151652, 151653, 151655, 151656, 151643
row0 = [1, 2, VS] + [IMG] * 6 + [VE, 3, 4, VS] + [VID] * 8 + [VE, 5]  # image 1x4x6, video 2x4x4
row1 = [PAD] * (len(row0) - 5) + [7, 8, 9, 10, 11]                     # text only, left padded
input_ids = np.array([row0, row1])
mask = (input_ids != PAD).astype(np.int64)
ids = mrope.position_ids(config, input_ids, mask, image_grid_thw=[[1, 4, 6]],
                         video_grid_thw=[[2, 4, 4]], second_per_grid_ts=[0.5])
print("position_ids (t, h, w rows of sequence 0):")
for name, row in zip("thw", ids.position_ids[:, 0]):
    print(f"  {name}: {' '.join(str(v) for v in row)}")
print("rope_deltas:", ids.rope_deltas[:, 0].tolist(),
      " next 3 decode positions:", mrope.decode_positions(ids.next_positions, 3)[0].tolist())

rng = np.random.default_rng(0)
tokens = input_ids.shape[1]
q = rng.standard_normal((2, 28, tokens, 128)).astype(np.float32)
k = rng.standard_normal((2, 4, tokens, 128)).astype(np.float32)
q_rot, k_rot = mrope.apply_rotary(config, q, k, ids.position_ids)
ref_q, ref_k = reference.apply_rotary(q, k, ids.position_ids, mrope.inv_freq(config),
                                      "contiguous", [16, 24, 24])
print(f"rotary q[2,28,{tokens},128] k[2,4,{tokens},128] f32: max |ours - NumPy reference| = "
      f"{max(np.abs(q_rot - ref_q).max(), np.abs(k_rot - ref_k).max()):.2e}")
