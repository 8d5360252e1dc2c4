//===- Passes.td - mrope dialect passes ---------------------*- tablegen -*-===//

#ifndef MROPE_TRANSFORMS_PASSES_TD
#define MROPE_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MRopeFuseRotaryIntoAttention
    : Pass<"mrope-fuse-rotary-into-attention"> {
  let summary = "Fold mrope.apply on q and k into the attention that reads them";
  let description = [{
    Rewrites

    ```mlir
    func.func @before(%q: tensor<1x8x4x16xf32>, %k: tensor<1x8x4x16xf32>,
                      %v: tensor<1x8x4x16xf32>, %positions: tensor<3x1x4xi64>,
                      %inv_freq: tensor<8xf32>) -> tensor<1x8x4x16xf32> {
      %q_out, %k_out = mrope.apply %q, %k
          positions(%positions : tensor<3x1x4xi64>) freqs(%inv_freq : tensor<8xf32>)
          layout bhsd rotary <alloc = <vanilla>, rotary_dim = 16>
          : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>
      %0 = mrope.attention %q_out, %k_out, %v layout bhsd
          : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>
          -> tensor<1x8x4x16xf32>
      return %0 : tensor<1x8x4x16xf32>
    }
    ```

    into a single `mrope.attention` with a rotary prologue

    ```mlir
    func.func @after(%q: tensor<1x8x4x16xf32>, %k: tensor<1x8x4x16xf32>,
                     %v: tensor<1x8x4x16xf32>, %positions: tensor<3x1x4xi64>,
                     %inv_freq: tensor<8xf32>) -> tensor<1x8x4x16xf32> {
      %0 = mrope.attention %q, %k, %v
          q_positions(%positions : tensor<3x1x4xi64>)
          k_positions(%positions : tensor<3x1x4xi64>)
          freqs(%inv_freq : tensor<8xf32>) layout bhsd
          rotary <alloc = <vanilla>, rotary_dim = 16>
          : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>
          -> tensor<1x8x4x16xf32>
      return %0 : tensor<1x8x4x16xf32>
    }
    ```

    so a lowering
    can rotate each K block once and Q when its tile is loaded instead of
    spending an extra pass over q and k in memory.

    The rewrite applies when both attention inputs come from the same
    forward `mrope.apply` with the same layout and the attention has no
    rotary prologue yet. By default the rotated tensors must have no other
    users (otherwise k would be rotated twice, e.g. once more for a KV-cache
    write); `allow-recompute=true` lifts that restriction.
  }];
  let options = [
    Option<"allowRecompute", "allow-recompute", "bool", /*default=*/"false",
           "Fuse even when the rotated q/k have other users">
  ];
  let dependentDialects = ["::mlir::mrope::MRopeDialect"];
}

def MRopePrintAllocation : Pass<"mrope-print-allocation"> {
  let summary = "Report the axis each rotary pair (or KV head) reads";
  let description = [{
    Emits a remark on every op that rotates (`RotaryOpInterface`) with the
    resolved frequency allocation: one character per rotary pair (`T`, `H`,
    `W`, or `-` for NoPE), or per KV head for head-partitioned (MHRoPE)
    allocations. Useful to see what a configuration really does, e.g. that
    interleaved `[16, 24, 24]` on 64 pairs saturates to 22/21/21:

    ```
    $ mrope-opt --mrope-print-allocation model.mlir
    remark: pair axes: THWTHWTHW...T
    ```
  }];
}

#endif // MROPE_TRANSFORMS_PASSES_TD
