//===- Passes.td - mrope conversion passes ------------------*- tablegen -*-===//

#ifndef MROPE_CONVERSION_PASSES_TD
#define MROPE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMRopeToLinalg : Pass<"convert-mrope-to-linalg"> {
  let summary = "Lower rotary ops to portable linalg-on-tensors";
  let description = [{
    Lowers `mrope.apply`, `mrope.cos_sin` and `mrope.decode_positions` to
    `linalg.generic`,
    `tensor` slicing and `arith`/`math` ops on tensors, and the runtime
    position construction `mrope.rope_index` to `scf` loops over tensors: the
    form IREE and Torch-MLIR pipelines consume. Constant `mrope.inv_freq` and
    statically known positions are folded first.

    The frequency allocation is specialized at compile time: the pair -> axis
    map is split into a few strided runs (contiguous: 3 unit-stride runs;
    interleaved: stride-3 runs), each computing its angles from one row of
    the positions, so no per-element axis lookup is left. Angles and cos/sin
    are computed once per (token, pair), or per (KV head, token, pair) for
    head-partitioned allocations, and shared by every head.

    The rotation follows Hugging Face numerics: angles and cos/sin in f32,
    cos/sin rounded to the activation type, then `x * cos + rotate(x) * sin`
    in the activation type.

    Ops without a lowering yet (`mrope.attention`, static positions too large
    to fold) are reported as errors.
  }];
  let options = [
    Option<"vectorRows", "vector-rows", "bool", /*default=*/"false",
           "Lower mrope.apply to one loop over tokens with vector ops: the "
           "token's angles as one vector (no table in memory), cos/sin once, "
           "every head's row rotated as a vector (the CPU pipeline). Default: "
           "angle and cos/sin tables in linalg and one linalg.generic per "
           "rotated tensor (the portable form)">,
    Option<"vectorBits", "vector-bits", "int64_t", /*default=*/"0",
           "With vector-rows: rotate a row in chunks of vector-bits / 32 "
           "pairs (256: AVX2, 512: AVX-512), one loop over the heads per "
           "chunk so only the chunk's cos/sin stay in registers. 0: the "
           "whole row at once">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::vector::VectorDialect",
    "::mlir::math::MathDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // MROPE_CONVERSION_PASSES_TD
