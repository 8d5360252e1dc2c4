// The flash-attention kernel for Qwen2-VL-shaped prefill (bf16, 4 q / 2 kv
// heads, D 128, causal, rotary fused: q rotated in registers, k by the rotary
// kernel first): tensor cores through mma.sync m16n8k16 with bf16 operands,
// ldmatrix (K as is, V transposed) from 16-byte aligned shared tiles filled
// by 16-byte loads, xor shuffles for the row max/sum, ex2 -- no calls, no
// local memory. Assembled for sm_90a and sm_80 (mma.sync is sm_80+).
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" -o %t.mlir
// RUN: %python %S/../Tools/Inputs/extract_ptx.py mrope_attention < %t.mlir > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa chip=sm_80 features=+ptx70" | %python %S/../Tools/Inputs/extract_ptx.py mrope_attention > %t80.ptx
// RUN: %ptxas -arch=sm_80 %t80.ptx -o %t80.cubin
// RUN: FileCheck %s --check-prefix=KEYS < %t.mlir

// CHECK: .visible .entry mrope_attention(
// CHECK-NOT: .local
// CHECK-DAG: .shared .align 16 .b8 __mrope_attention_keys[17408];
// CHECK-DAG: .shared .align 16 .b8 __mrope_attention_values[17408];
// CHECK: ld.global.b32
// CHECK-NOT: call
// CHECK: ld.global.v4.b32
// CHECK: st.shared.v4.b32
// CHECK: bar.sync 0;
// CHECK: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK: shfl.sync.bfly.b32 {{.*}}, 1, 31, -1;
// CHECK: shfl.sync.bfly.b32 {{.*}}, 2, 31, -1;
// CHECK: ex2.approx.f32
// CHECK: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-NOT: call
// CHECK: ret;

// The keys are rotated once, by their own kernel, before the attention.
// KEYS: gpu.launch_func @mrope_rotate_keys_contiguous_module::@mrope_rotate_keys_contiguous
// KEYS: gpu.launch_func @mrope_attention_module::@mrope_attention blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}})

func.func @prefill(%q: tensor<1x4x1024x128xbf16>, %k: tensor<1x2x1024x128xbf16>,
                   %v: tensor<1x2x1024x128xbf16>, %pos: tensor<3x1x1024xi64>) -> tensor<1x4x1024x128xbf16> {
  %f = mrope.inv_freq theta = 1.0e6 : tensor<64xf32>
  %0 = mrope.attention %q, %k, %v q_positions(%pos : tensor<3x1x1024xi64>) k_positions(%pos : tensor<3x1x1024xi64>)
      freqs(%f : tensor<64xf32>) layout bhsd
      rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> causal
      : tensor<1x4x1024x128xbf16>, tensor<1x2x1024x128xbf16>, tensor<1x2x1024x128xbf16> -> tensor<1x4x1024x128xbf16>
  return %0 : tensor<1x4x1024x128xbf16>
}
