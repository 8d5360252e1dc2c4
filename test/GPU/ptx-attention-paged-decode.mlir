// Batched decode against a paged KV cache (block_table, vLLM's layout with
// pages of 16 keys): 16 sequences of one token, 32 query heads over 8 KV
// heads, up to 256 pages per sequence in a pool of 4096 pages. Each staged
// key row is looked up in the sequence's block_table row (a 32-bit load,
// the page id clamped to the pool); the kernels assemble for sm_90a and sm_80
// without local memory (no spills).
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" -o %t.mlir
// RUN: %python %S/../Tools/Inputs/extract_ptx.py mrope_attention < %t.mlir > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa chip=sm_80 features=+ptx70" | %python %S/../Tools/Inputs/extract_ptx.py mrope_attention > %t80.ptx
// RUN: %ptxas -arch=sm_80 %t80.ptx -o %t80.cubin
// RUN: %python %S/../Tools/Inputs/extract_ptx.py mrope_attention_combine < %t.mlir > %t.combine.ptx
// RUN: %ptxas -arch=sm_90a %t.combine.ptx -o %t.combine.cubin

// CHECK: .visible .entry mrope_attention(
// CHECK-NOT: .local
// CHECK-NOT: call
// The page id of a staged row, clamped to the pool's 4096 pages:
// CHECK: ld.global.b32 %r{{[0-9]+}}
// CHECK: min.s32 %r{{[0-9]+}}, %r{{[0-9]+}}, 4095;
// CHECK: cp.async.cg.shared.global
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK: ret;

func.func @paged_decode(%q: tensor<16x32x128xbf16>, %k: tensor<65536x8x128xbf16>,
                        %v: tensor<65536x8x128xbf16>, %cu: tensor<17xi32>,
                        %kvcu: tensor<17xi32>, %table: tensor<16x256xi32>) -> tensor<16x32x128xbf16> {
  %0 = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<17xi32>)
      kv_cu_seqlens(%kvcu : tensor<17xi32>) block_table(%table : tensor<16x256xi32>) page_size 16
      layout thd causal
      : tensor<16x32x128xbf16>, tensor<65536x8x128xbf16>, tensor<65536x8x128xbf16> -> tensor<16x32x128xbf16>
  return %0 : tensor<16x32x128xbf16>
}
