// MHRoPE (head-partitioned [2, 3, 3] over 8 KV heads, 32 q heads, bshd,
// bf16) at S0: cos/sin once per axis, selected per head (see
// test/Conversion/MRopeToGPU/kernel.mlir), 16-byte accesses, no calls.
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" | %python %S/../Tools/Inputs/extract_ptx.py > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin

// CHECK: .visible .entry mrope_apply_head_partitioned(
// CHECK-NOT: call
// CHECK-NOT: .local
// CHECK: ld.global.v4.b32
// CHECK: st.global.v4.b32
// CHECK-NOT: call
// CHECK: ret;

func.func @s0_mhrope(%q: tensor<1x16384x32x128xbf16>, %k: tensor<1x16384x8x128xbf16>,
                     %pos: tensor<3x1x16384xi64>) -> (tensor<1x16384x32x128xbf16>, tensor<1x16384x8x128xbf16>) {
  %f = mrope.inv_freq theta = 1.0e6 : tensor<64xf32>
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x1x16384xi64>) freqs(%f : tensor<64xf32>) layout bshd
      rotary <alloc = <head_partitioned, section = [2, 3, 3]>, rotary_dim = 128>
      : tensor<1x16384x32x128xbf16>, tensor<1x16384x8x128xbf16>
  return %q1, %k1 : tensor<1x16384x32x128xbf16>, tensor<1x16384x8x128xbf16>
}
