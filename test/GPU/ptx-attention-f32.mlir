// The flash-attention kernel for f32 activations (Qwen2-VL-shaped prefill:
// 4 q / 2 kv heads, D 128, causal, rotary fused): 3xTF32 on tensor cores --
// every operand split into a tf32 big part (rounded: + 0x1000, masked) and
// the rest truncated to tf32, three mma.sync m16n8k8 .tf32 per tile, the
// small products first. No ldmatrix (its 16-bit rows do not fit tf32
// fragments): Q arrives as float2 pairs from global memory, K as float2
// from shared memory, V as scalars; P stays in registers. Blocks of 32 keys:
// two stages of K (32 x (128 + 8) floats) and V (32 x (128 + 4) floats) are
// 68608 bytes of dynamic shared memory; one stage fits the 48 KB of static
// shared memory. Assembled for sm_90a and sm_80.
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" -o %t.mlir
// RUN: %python %S/../Tools/Inputs/extract_ptx.py mrope_attention < %t.mlir > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa chip=sm_80 features=+ptx70" | %python %S/../Tools/Inputs/extract_ptx.py mrope_attention > %t80.ptx
// RUN: %ptxas -arch=sm_80 %t80.ptx -o %t80.cubin
// RUN: FileCheck %s --check-prefix=LAUNCH < %t.mlir
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa attention-stages=1" | %python %S/../Tools/Inputs/extract_ptx.py mrope_attention > %t1.ptx
// RUN: FileCheck %s --check-prefix=ONE < %t1.ptx
// RUN: %ptxas -arch=sm_90a %t1.ptx -o %t1.cubin

// CHECK: .visible .entry mrope_attention(
// CHECK-NOT: ldmatrix
// CHECK: ld.global.v2.b32
// CHECK: and.b32 {{.*}}, -8192;
// CHECK: cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16;
// CHECK: cp.async.wait_group 1;
// CHECK: bar.sync 0;
// CHECK: ld.shared.v2.b32
// CHECK: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// CHECK: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// CHECK: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// CHECK: ex2.approx.f32
// CHECK: ld.shared.b32
// CHECK: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// CHECK-NOT: ldmatrix
// CHECK-NOT: mma.sync.aligned.m16n8k16
// CHECK: ret;

// ONE-DAG: .shared .align 16 .b8 __mrope_attention_keys[17408];
// ONE-DAG: .shared .align 16 .b8 __mrope_attention_values[16896];
// ONE-NOT: cp.async
// ONE: ld.global.v4.b32
// ONE: st.shared.v4.b32
// ONE: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32

// LAUNCH: %[[SHARED:.*]] = llvm.mlir.constant(68608 : i32) : i32
// LAUNCH: gpu.launch_func @mrope_rotate_keys_contiguous_module::@mrope_rotate_keys_contiguous
// LAUNCH: gpu.launch_func @mrope_attention_module::@mrope_attention blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) : i64 dynamic_shared_memory_size %[[SHARED]]

func.func @prefill(%q: tensor<1x4x1024x128xf32>, %k: tensor<1x2x1024x128xf32>,
                   %v: tensor<1x2x1024x128xf32>, %pos: tensor<3x1x1024xi64>) -> tensor<1x4x1024x128xf32> {
  %f = mrope.inv_freq theta = 1.0e6 : tensor<64xf32>
  %0 = mrope.attention %q, %k, %v q_positions(%pos : tensor<3x1x1024xi64>) k_positions(%pos : tensor<3x1x1024xi64>)
      freqs(%f : tensor<64xf32>) layout bhsd
      rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> causal
      : tensor<1x4x1024x128xf32>, tensor<1x2x1024x128xf32>, tensor<1x2x1024x128xf32> -> tensor<1x4x1024x128xf32>
  return %0 : tensor<1x4x1024x128xf32>
}
