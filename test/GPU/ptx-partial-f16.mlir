// Qwen3.5-style partial rotary (64 of 256 channels) in f16, interleaved
// [11, 11, 10]: only the first 64 channels of each row are touched, in
// native f16x2 arithmetic.
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" | %python %S/../Tools/Inputs/extract_ptx.py > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin

// CHECK: .visible .entry mrope_apply_interleaved(
// CHECK-NOT: call
// CHECK: ld.global.v4.b32
// CHECK: .rn.f16x2
// CHECK: st.global.v4.b32
// CHECK: ret;

func.func @partial(%q: tensor<100x16x256xf16>, %k: tensor<100x4x256xf16>,
                   %pos: tensor<3x100xi64>) -> (tensor<100x16x256xf16>, tensor<100x4x256xf16>) {
  %f = mrope.inv_freq theta = 1.0e7 : tensor<32xf32>
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x100xi64>) freqs(%f : tensor<32xf32>) layout thd
      rotary <alloc = <interleaved, section = [11, 11, 10]>, rotary_dim = 64>
      : tensor<100x16x256xf16>, tensor<100x4x256xf16>
  return %q1, %k1 : tensor<100x16x256xf16>, tensor<100x4x256xf16>
}
