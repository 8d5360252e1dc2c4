// The GPU pipeline on Qwen2-VL's rotary (contiguous [16, 24, 24], bf16,
// 28 q + 4 kv heads, D=128): one kernel with 16-byte vector loads and stores
// of q and k, bf16 widened and rounded in registers, cos/sin as polynomial
// arithmetic (no libdevice call), no local memory; the PTX assembles with
// CUDA's ptxas for sm_90a and, built for it, sm_80.
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" | %python %S/../Tools/Inputs/extract_ptx.py > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin
// RUN: mrope-opt %s --mrope-gpu-pipeline="chip=sm_80 features=+ptx70 format=isa" | %python %S/../Tools/Inputs/extract_ptx.py > %t80.ptx
// RUN: %ptxas -arch=sm_80 %t80.ptx -o %t80.cubin
// RUN: mrope-opt %s --mrope-gpu-pipeline | FileCheck %s --check-prefix=HOST

// CHECK: .target sm_90a
// CHECK: .visible .entry mrope_apply_contiguous(
// CHECK-NOT: call
// CHECK-NOT: .local
// CHECK: ld.global.nc
// CHECK: cvt.rn.f32.s64
// q: two 16-byte loads (x1 and x2 of 8 pairs), rotated, two stores.
// CHECK: ld.global.v4.b32
// CHECK: ld.global.v4.b32
// CHECK: .rn.bf16x2
// CHECK: st.global.v4.b32
// CHECK: st.global.v4.b32
// k: the same.
// CHECK: ld.global.v4.b32
// CHECK: ld.global.v4.b32
// CHECK: st.global.v4.b32
// CHECK: st.global.v4.b32
// CHECK-NOT: call
// CHECK-NOT: .local
// CHECK: ret;

// The host function launches the fatbin's kernel: 33 tokens x 8 groups x
// 28 head slices = 7392 threads, 29 blocks of 256.
// HOST: llvm.func @qwen2vl_rotary(
// HOST-DAG: %[[GRID:.*]] = llvm.mlir.constant(29 : index) : i64
// HOST-DAG: %[[BLOCK:.*]] = llvm.mlir.constant(256 : index) : i64
// HOST: gpu.launch_func @mrope_apply_contiguous_module::@mrope_apply_contiguous blocks in (%[[GRID]], %{{.*}}, %{{.*}}) threads in (%[[BLOCK]], %{{.*}}, %{{.*}}) : i64
// HOST: gpu.binary @mrope_apply_contiguous_module [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">

module {
  func.func @qwen2vl_rotary(%q: tensor<1x28x33x128xbf16>, %k: tensor<1x4x33x128xbf16>) -> (tensor<1x28x33x128xbf16>, tensor<1x4x33x128xbf16>) {
    %positions, %rope_deltas, %next_positions = mrope.position_ids <mrope> [[text 4, image 1x4x6, text 5]] : tensor<3x1x33xi64>, tensor<1x1xi64>, tensor<1xi64>
    %0 = mrope.inv_freq theta = 1.000000e+06 : tensor<64xf32>
    %q_out, %k_out = mrope.apply %q, %k positions(%positions : tensor<3x1x33xi64>) freqs(%0 : tensor<64xf32>) layout bhsd rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> : tensor<1x28x33x128xbf16>, tensor<1x4x33x128xbf16>
    return %q_out, %k_out : tensor<1x28x33x128xbf16>, tensor<1x4x33x128xbf16>
  }
}
