//===- MRopeBase.td - mrope dialect definition --------------*- tablegen -*-===//
//
// The mrope dialect: multimodal rotary position embeddings as IR.
//
//===----------------------------------------------------------------------===//

#ifndef MROPE_BASE_TD
#define MROPE_BASE_TD

include "mlir/IR/OpBase.td"

def MRope_Dialect : Dialect {
  let name = "mrope";
  let cppNamespace = "::mlir::mrope";
  let summary = "Multimodal rotary position embeddings (MRoPE and variants)";
  let description = [{
    The `mrope` dialect describes multimodal rotary position embeddings as a
    small set of independent choices, each carried by its own attribute or op:

    1. *position design* (`#mrope.design`): how `[3, B, N]` position ids are
       built from text runs, image grids and video grids (Qwen2-VL, Qwen2.5-VL
       absolute time, Qwen3-VL, spatial reset, VideoRoPE, ...);
    2. *frequency allocation* (`#mrope.alloc`): which position axis (t, h, w or
       none) each rotary pair, or each KV head, reads;
    3. *pair layout* and *partial rotary* (`#mrope.rotary`): NeoX halves vs
       GPT-J adjacent pairs, and how many channels rotate;
    4. *scaling* (`#mrope.scaling`): how `inv_freq` and the attention scaling
       are derived (linear, dynamic NTK, YaRN, LongRoPE, Llama-3).

    Ops construct positions (`mrope.position_ids`, `mrope.rope_index`,
    `mrope.decode_positions`), frequencies (`mrope.inv_freq`), HF-style tables
    (`mrope.cos_sin`), apply the rotation to q and k (`mrope.apply`) and run
    attention with an optional fused rotary prologue (`mrope.attention`).
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  // Ops whose results have no elements become tensor.empty.
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

class MRope_Op<string mnemonic, list<Trait> traits = []>
    : Op<MRope_Dialect, mnemonic, traits>;

#endif // MROPE_BASE_TD
