// The flash-attention kernel for Qwen2-VL-shaped prefill (bf16, 4 q / 2 kv
// heads, D 128, causal, rotary fused: q rotated in registers, k by the rotary
// kernel first): tensor cores through mma.sync m16n8k16 with bf16 operands,
// ldmatrix (K as is, V transposed), xor shuffles for the row max/sum, ex2 --
// no calls, no local memory. By default key/value blocks arrive by cp.async
// (16 bytes, L1 bypassed) into two stages of dynamic shared memory, the next
// block's group in flight while one is computed (wait_group 1); with
// attention-stages=1 they are staged by 16-byte loads and stores into
// 16-byte aligned static tiles. Assembled for sm_90a and sm_80.
// REQUIRES: ptxas
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa" -o %t.mlir
// RUN: %python %S/../Tools/Inputs/extract_ptx.py mrope_attention < %t.mlir > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: %ptxas -arch=sm_90a %t.ptx -o %t.cubin
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa chip=sm_80 features=+ptx70" | %python %S/../Tools/Inputs/extract_ptx.py mrope_attention > %t80.ptx
// RUN: %ptxas -arch=sm_80 %t80.ptx -o %t80.cubin
// RUN: FileCheck %s --check-prefix=KEYS < %t.mlir
// RUN: mrope-opt %s --mrope-gpu-pipeline="format=isa attention-stages=1" | %python %S/../Tools/Inputs/extract_ptx.py mrope_attention > %t1.ptx
// RUN: FileCheck %s --check-prefix=ONE < %t1.ptx
// RUN: %ptxas -arch=sm_90a %t1.ptx -o %t1.cubin

// CHECK: .visible .entry mrope_attention(
// CHECK-NOT: .local
// CHECK: .shared .align 16 .b8 __dynamic_shmem__0;
// CHECK: ld.global.b32
// CHECK-NOT: call
// CHECK: cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16;
// CHECK: cp.async.commit_group;
// CHECK: cp.async.commit_group;
// CHECK: cp.async.wait_group 1;
// CHECK: bar.sync 0;
// CHECK: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK: shfl.sync.bfly.b32 {{.*}}, 1, 31, -1;
// CHECK: shfl.sync.bfly.b32 {{.*}}, 2, 31, -1;
// CHECK: ex2.approx.f32
// CHECK: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK: bar.sync 0;
// CHECK-NOT: call
// CHECK: ret;

// ONE-DAG: .shared .align 16 .b8 __mrope_attention_keys[17408];
// ONE-DAG: .shared .align 16 .b8 __mrope_attention_values[17408];
// ONE-NOT: cp.async
// ONE: ld.global.v4.b32
// ONE: st.shared.v4.b32
// ONE: bar.sync 0;
// ONE: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// ONE: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32

// The keys are rotated once, by their own kernel, before the attention.
// KEYS: %[[SHARED:.*]] = llvm.mlir.constant(69632 : i32) : i32
// KEYS: gpu.launch_func @mrope_rotate_keys_contiguous_module::@mrope_rotate_keys_contiguous
// Two stages of K and V tiles (64 keys x (128 + 8) bf16 each): 69632 bytes
// of dynamic shared memory, more than the 48 KB a kernel gets without
// opting in (the runtime opts in above 48 KB).
// KEYS: gpu.launch_func @mrope_attention_module::@mrope_attention blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) : i64 dynamic_shared_memory_size %[[SHARED]]

func.func @prefill(%q: tensor<1x4x1024x128xbf16>, %k: tensor<1x2x1024x128xbf16>,
                   %v: tensor<1x2x1024x128xbf16>, %pos: tensor<3x1x1024xi64>) -> tensor<1x4x1024x128xbf16> {
  %f = mrope.inv_freq theta = 1.0e6 : tensor<64xf32>
  %0 = mrope.attention %q, %k, %v q_positions(%pos : tensor<3x1x1024xi64>) k_positions(%pos : tensor<3x1x1024xi64>)
      freqs(%f : tensor<64xf32>) layout bhsd
      rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> causal
      : tensor<1x4x1024x128xbf16>, tensor<1x2x1024x128xbf16>, tensor<1x2x1024x128xbf16> -> tensor<1x4x1024x128xbf16>
  return %0 : tensor<1x4x1024x128xbf16>
}
