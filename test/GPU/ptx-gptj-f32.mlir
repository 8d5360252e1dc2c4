// GPT-J pairs (even/odd channels) in f32 with runtime inv_freq: a thread
// holds 4 pairs = 8 channels, loaded as two 16-byte vectors, de-interleaved
// in registers; inv_freq comes from the function's buffer.
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" | %python %S/../Tools/Inputs/extract_ptx.py > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin

// CHECK: .visible .entry mrope_apply_vanilla(
// CHECK-NOT: call
// CHECK: ld.global.v4.b32
// CHECK: mul.rn.f32
// CHECK: st.global.v4.b32
// CHECK-NOT: call
// CHECK: ret;

func.func @gptj(%q: tensor<2x8x64x64xf32>, %k: tensor<2x8x64x64xf32>, %pos: tensor<3x2x64xi32>,
                %f: tensor<32xf32>) -> (tensor<2x8x64x64xf32>, tensor<2x8x64x64xf32>) {
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x2x64xi32>) freqs(%f : tensor<32xf32>) layout bhsd
      rotary <alloc = <vanilla>, pairs = gptj, rotary_dim = 64> : tensor<2x8x64x64xf32>, tensor<2x8x64x64xf32>
  return %q1, %k1 : tensor<2x8x64x64xf32>, tensor<2x8x64x64xf32>
}
