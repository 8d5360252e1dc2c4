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

def MRopeX86PackBF16Conversions : Pass<"mrope-x86-pack-bf16-conversions"> {
  let summary = "Fuse pairs of AVX512-BF16 conversions (LLVM dialect) into "
                "the two-vector vcvtne2ps2bf16";
  let description = [{
    x86vector's `avx512.cvt.packed.f32_to_bf16` becomes one
    `vcvtneps2bf16` (f32 vector to half-width bf16); two of them
    concatenated by a shuffle are what AVX512-BF16's two-source
    `vcvtne2ps2bf16` does in one instruction, but LLVM's x86 backend does
    not fuse them (it emits two conversions and an insert). This pass
    rewrites each `llvm.shufflevector` whose mask concatenates two such
    conversions of the same width into the two-source intrinsic (the first
    shuffle operand gives the low words):

    ```mlir
    llvm.func @before(%lo: vector<16xf32>, %hi: vector<16xf32>) -> vector<32xbf16> {
      %0 = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.512"(%lo) : (vector<16xf32>) -> vector<16xbf16>
      %1 = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtneps2bf16.512"(%hi) : (vector<16xf32>) -> vector<16xbf16>
      %2 = llvm.shufflevector %0, %1 [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31] : vector<16xbf16>
      llvm.return %2 : vector<32xbf16>
    }
    ```

    becomes

    ```mlir
    llvm.func @after(%lo: vector<16xf32>, %hi: vector<16xf32>) -> vector<32xbf16> {
      %0 = llvm.call_intrinsic "llvm.x86.avx512bf16.cvtne2ps2bf16.512"(%hi, %lo) : (vector<16xf32>, vector<16xf32>) -> vector<32xbf16>
      llvm.return %0 : vector<32xbf16>
    }
    ```

    The CPU form of `mrope.apply` rounds bf16 products this way
    (`avx512-bf16`); `mrope-cpu-pipeline` runs the pass after the conversion
    to the LLVM dialect. Other shuffles and conversions are left alone.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def MRopeBF16MemoryAsI16 : Pass<"mrope-bf16-memory-as-i16"> {
  let summary = "Load and store bf16 values (LLVM dialect) as their i16 bits";
  let description = [{
    Rewrites every `llvm.load` and `llvm.store` of bf16 (scalar or vector) to
    the same access of i16 bits with an `llvm.bitcast` next to it:

    ```mlir
    llvm.func @before(%arg0: vector<8xbf16>, %arg1: !llvm.ptr) {
      llvm.store %arg0, %arg1 : vector<8xbf16>, !llvm.ptr
      llvm.return
    }
    ```

    becomes

    ```mlir
    llvm.func @after(%arg0: vector<8xbf16>, %arg1: !llvm.ptr) {
      %0 = llvm.bitcast %arg0 : vector<8xbf16> to vector<8xi16>
      llvm.store %0, %arg1 : vector<8xi16>, !llvm.ptr
      llvm.return
    }
    ```

    On x86 CPUs without AVX512-BF16, LLVM legalizes a bf16 vector store by
    widening every element to f32 and rounding it back one at a time (a NaN
    check and a 16-bit store per element), and splits shuffled bf16 loads
    into single-element inserts. As i16 accesses they are plain vector
    moves; the bitcasts fold into the integer bf16 <-> f32 conversions that
    `arith-expand{include-bf16=true}` leaves. Run it after the conversion to
    the LLVM dialect (`mrope-cpu-pipeline` does).
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // MROPE_TRANSFORMS_PASSES_TD
