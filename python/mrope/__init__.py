"""mrope: multimodal rotary position embeddings, compiled with MLIR.

    import mrope
    config = mrope.from_hf("Qwen/Qwen2.5-VL-7B-Instruct/config.json")
    ids = mrope.position_ids(config, input_ids, attention_mask,
                             image_grid_thw=grids)
    q_rot, k_rot = mrope.apply_rotary(config, q, k, ids.position_ids)

Every call builds mrope IR, lowers it with the project's CPU pipeline and
runs the JIT-compiled code (cached per shape). ``mrope.reference`` is an
independent NumPy implementation of the Hugging Face formulas.
"""

from .config import RopeConfig, from_hf, paper
from .errors import CompileError, ConfigError, GPUError, InputError, MRopeError
from .ops import (PositionIds, apply_rotary, attention, attention_scaling, cos_sin,
                  decode_positions, inv_freq, position_ids)
from .runtime import (Module, bfloat16_bits_to_float32, compile,  # noqa: A004
                      float32_to_bfloat16_bits)
from ._build_config import VERSION as __version__

__all__ = [
    "RopeConfig", "from_hf", "paper", "PositionIds", "position_ids", "decode_positions",
    "inv_freq", "attention_scaling", "cos_sin", "apply_rotary", "attention", "Module", "compile",
    "float32_to_bfloat16_bits", "bfloat16_bits_to_float32", "MRopeError", "ConfigError",
    "CompileError", "InputError", "GPUError",
]
