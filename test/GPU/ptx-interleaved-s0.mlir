// S0 of design/PERF.md through the GPU pipeline: packed T=16384, 32 q + 8 kv
// heads, D=128, bf16, Qwen3-VL's interleaved [24, 20, 20]: 2048 blocks of 256
// threads; each thread loads its 8 inv_freq once (two 16-byte loads) and
// rotates 8 q heads and 2 k heads with 16-byte accesses.
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" | %python %S/../Tools/Inputs/extract_ptx.py > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin
// RUN: mrope-opt %s --mrope-gpu-pipeline | FileCheck %s --check-prefix=HOST

// CHECK: .visible .entry mrope_apply_interleaved(
// CHECK-NOT: call
// CHECK-NOT: .local
// CHECK: ld.global.v4.b32
// CHECK: .rn.bf16x2
// CHECK: st.global.v4.b32
// CHECK-NOT: call
// CHECK-NOT: .local
// CHECK: ret;

// HOST-DAG: llvm.mlir.constant(2048 : index) : i64
// HOST-DAG: llvm.mlir.constant(256 : index) : i64
// HOST: gpu.launch_func @mrope_apply_interleaved_module::@mrope_apply_interleaved

func.func @s0_interleaved(%q: tensor<16384x32x128xbf16>, %k: tensor<16384x8x128xbf16>,
                          %pos: tensor<3x16384xi64>) -> (tensor<16384x32x128xbf16>, tensor<16384x8x128xbf16>) {
  %f = mrope.inv_freq theta = 5.0e6 : tensor<64xf32>
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x16384xi64>) freqs(%f : tensor<64xf32>) layout thd
      rotary <alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128>
      : tensor<16384x32x128xbf16>, tensor<16384x8x128xbf16>
  return %q1, %k1 : tensor<16384x32x128xbf16>, tensor<16384x8x128xbf16>
}
