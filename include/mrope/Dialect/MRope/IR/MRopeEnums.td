//===- MRopeEnums.td - mrope enumerations -------------------*- tablegen -*-===//

#ifndef MROPE_ENUMS_TD
#define MROPE_ENUMS_TD

include "mlir/IR/EnumAttr.td"

class MRope_I32Enum<string name, string summary, list<I32EnumAttrCase> cases>
    : I32EnumAttr<name, summary, cases> {
  let cppNamespace = "::mlir::mrope";
  let genSpecializedAttr = 0;
}

def MRope_Axis : MRope_I32Enum<"Axis", "position axis read by a rotary pair", [
  I32EnumAttrCase<"T", 0, "t">,
  I32EnumAttrCase<"H", 1, "h">,
  I32EnumAttrCase<"W", 2, "w">,
  I32EnumAttrCase<"NoPE", 3, "nope">
]>;

def MRope_AllocationKind : MRope_I32Enum<"AllocationKind",
    "frequency allocation: which axis each rotary pair or KV head reads", [
  // Standard 1-D RoPE: every pair reads the t row.
  I32EnumAttrCase<"Vanilla", 0, "vanilla">,
  // Qwen2-VL / Qwen2.5-VL: contiguous T, H, W bands of `section` pairs.
  I32EnumAttrCase<"Contiguous", 1, "contiguous">,
  // Qwen3-VL / Qwen3.5 MRoPE-I: T,H,W,T,H,W... with saturation.
  I32EnumAttrCase<"Interleaved", 2, "interleaved">,
  // MHRoPE: whole KV heads per axis, leftover heads NoPE.
  I32EnumAttrCase<"HeadPartitioned", 3, "head_partitioned">,
  // VideoRoPE: pair 0 T, then H/W alternating, the low-frequency tail T.
  I32EnumAttrCase<"VideoRoPE", 4, "videorope">,
  // HoPE: the VideoRoPE map with the T pairs NoPE.
  I32EnumAttrCase<"HoPE", 5, "hope">,
  // MM-RoPE (Lumos-1): T,T,H,W,H,W,H,W repeating.
  I32EnumAttrCase<"MMRoPE", 6, "mmrope">,
  // GRAPE canonical interleaved: T,H,W repeating over every pair.
  I32EnumAttrCase<"GrapeInterleaved", 7, "grape_interleaved">,
  // An explicit per-pair map (T/H/W/- characters), e.g. from a probe.
  I32EnumAttrCase<"Explicit", 8, "explicit">
]>;

def MRope_PairLayout : MRope_I32Enum<"PairLayout",
    "which channels form a rotary pair", [
  // Pair j = channels (j, j + D/2): rotate_half, HF Qwen, vLLM is_neox_style.
  I32EnumAttrCase<"NeoX", 0, "neox">,
  // Pair j = channels (2j, 2j + 1): GPT-J, vLLM is_neox_style=False.
  I32EnumAttrCase<"GPTJ", 1, "gptj">
]>;

def MRope_AnglePrecision : MRope_I32Enum<"AnglePrecision",
    "how the rotary angle pos * inv_freq is formed before cos/sin", [
  // fp32(pos * inv_freq), then cos/sin: bit-for-bit the Hugging Face and
  // vLLM formula (and the golden data). Its error grows with the position:
  // half an f32 ulp of the angle, 0.03 rad at position 10^6.
  I32EnumAttrCase<"Reference", 0, "reference">,
  // The exact product pos * inv_freq (two f32 words), reduced modulo 2*pi in
  // f32 arithmetic to a two-word angle in [-pi, pi]: cos/sin accurate to
  // about 1 f32 ulp for any position below 2^24.
  I32EnumAttrCase<"Exact", 1, "exact">
]>;

def MRope_TensorLayout : MRope_I32Enum<"TensorLayout",
    "dimension order of q/k/v activations", [
  I32EnumAttrCase<"BHSD", 0, "bhsd">,
  I32EnumAttrCase<"BSHD", 1, "bshd">,
  // Packed variable-length sequences: [tokens, heads, head_dim].
  I32EnumAttrCase<"THD", 2, "thd">
]>;

def MRope_ScalingKind : MRope_I32Enum<"ScalingKind",
    "RoPE scaling (HF rope_type)", [
  I32EnumAttrCase<"Default", 0, "default">,
  I32EnumAttrCase<"Linear", 1, "linear">,
  I32EnumAttrCase<"Dynamic", 2, "dynamic">,
  I32EnumAttrCase<"YaRN", 3, "yarn">,
  I32EnumAttrCase<"LongRoPE", 4, "longrope">,
  I32EnumAttrCase<"Llama3", 5, "llama3">
]>;

def MRope_ScalingConvention : MRope_I32Enum<"ScalingConvention",
    "which transformers release's scaling formulas to follow", [
  // transformers 4.49: YaRN ignores mscale and uses max_position_embeddings.
  I32EnumAttrCase<"HF449", 0, "hf449">,
  // transformers 4.57 and 5.x (identical for every scaling type).
  I32EnumAttrCase<"HF457", 1, "hf457">
]>;

def MRope_PositionDesign : MRope_I32Enum<"PositionDesign",
    "how [3, N] position ids are built from text and visual blocks", [
  I32EnumAttrCase<"Vanilla", 0, "vanilla">,
  // Qwen2-VL (and the paper's `mrope` with temporal_stride).
  I32EnumAttrCase<"MRoPE", 1, "mrope">,
  // Qwen2.5-VL: temporal index floor(tau * second_per_grid * tokens_per_second).
  I32EnumAttrCase<"AbsoluteTime", 2, "absolute_time">,
  // Qwen3-VL / Qwen3.5: per-frame blocks (T = 1) separated by timestamp text.
  I32EnumAttrCase<"Qwen3VL", 3, "qwen3vl">,
  // The paper's MRoPE-I positions with h, w restarting at 0 per block.
  I32EnumAttrCase<"SpatialReset", 4, "spatial_reset">,
  I32EnumAttrCase<"VideoRoPE", 5, "videorope">,
  I32EnumAttrCase<"HoPE", 6, "hope">,
  I32EnumAttrCase<"CircleRoPE", 7, "circlerope">,
  I32EnumAttrCase<"V2PE", 8, "v2pe">,
  // Omni-RoPE and IL-RoPE share this position design.
  I32EnumAttrCase<"OmniRoPE", 9, "omnirope">,
  I32EnumAttrCase<"MMRoPE", 10, "mmrope">
]>;

def MRope_CompatMode : MRope_I32Enum<"CompatMode",
    "which implementation's quirks position construction reproduces", [
  // transformers 4.49 / vLLM / Qwen reference code: float second_per_grid.
  I32EnumAttrCase<"Reference", 0, "reference">,
  // transformers 4.52-4.57: second_per_grid truncated to int before use.
  I32EnumAttrCase<"HF457", 1, "hf457">,
  // transformers 5.x unified 3-D positions: advance max(H, W), fill 0,
  // deltas from the unpadded length, int-truncated second_per_grid.
  I32EnumAttrCase<"HF5", 2, "hf5">
]>;

def MRope_SegmentKind : MRope_I32Enum<"SegmentKind",
    "kind of a run of tokens in a statically described sequence", [
  I32EnumAttrCase<"Text", 0, "text">,
  I32EnumAttrCase<"Image", 1, "image">,
  I32EnumAttrCase<"Video", 2, "video">,
  // Padding (attention_mask == 0): positioned with the fill value.
  I32EnumAttrCase<"Pad", 3, "pad">
]>;

#endif // MROPE_ENUMS_TD
