// Decode: one new token of 32 query heads against 4096 cached keys in 8 KV
// heads is split into 8 key ranges (flash-decoding); the combine kernel
// reads each range's partial row with 16-byte loads, weights it by 2^(m_s -
// M) (ex2), and writes 8 bf16 channels per thread in one 16-byte store.
// Both kernels assemble for sm_90a.
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" -o %t.mlir
// RUN: %python %S/../Tools/Inputs/extract_ptx.py mrope_attention_combine < %t.mlir > %t.combine.ptx
// RUN: FileCheck %s < %t.combine.ptx
// RUN: %ptxas -arch=sm_90a %t.combine.ptx -o %t.combine.cubin
// RUN: %python %S/../Tools/Inputs/extract_ptx.py mrope_attention < %t.mlir > %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin

// CHECK: .visible .entry mrope_attention_combine(
// CHECK-NOT: .local
// CHECK-NOT: call
// CHECK: ld.global.v4.b32
// CHECK: ex2.approx.f32
// CHECK: st.global.v4.b32
// CHECK: ret;

func.func @decode(%q: tensor<1x32x1x128xbf16>, %k: tensor<1x8x4096x128xbf16>,
                  %v: tensor<1x8x4096x128xbf16>) -> tensor<1x32x1x128xbf16> {
  %0 = mrope.attention %q, %k, %v layout bhsd causal
      : tensor<1x32x1x128xbf16>, tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16> -> tensor<1x32x1x128xbf16>
  return %0 : tensor<1x32x1x128xbf16>
}
