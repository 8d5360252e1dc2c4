// RUN: mrope-opt %s --convert-mrope-to-gpu --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --mrope-gpu-device-allocations --gpu-kernel-outlining --symbol-dce | FileCheck %s

// A fused attention on device buffers: the keys are rotated once, by the
// rotary kernel reading k and writing a temporary (no copy first), read by
// the attention kernel, and freed (stream-ordered on the device); the
// attention kernel writes the materialization target directly (no output
// temporary, no copy). The grid is row tiles x KV heads x batch, a KV
// head's rows being its group's (query head, token) pairs: 2 heads x 100
// tokens = 200 rows in tiles of 64 -> 4, 2 KV heads, 1 batch entry; 128
// threads (4 warps).

// CHECK-LABEL: func.func @fused(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: memref<1x4x100x64xbf16>, %[[K:[a-z0-9]+]]: memref<1x2x100x64xbf16>, %[[V:[a-z0-9]+]]: memref<1x2x100x64xbf16>, %[[POS:[a-z0-9]+]]: memref<3x1x100xi64>, %[[OUT:[a-z0-9]+]]: memref<1x4x100x64xbf16>)
// CHECK: %[[KROT:.*]], %{{.*}} = gpu.alloc async {{.*}} : memref<1x2x100x64xbf16>
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch_func @mrope_rotate_keys_interleaved_module::@mrope_rotate_keys_interleaved {{.*}} args(%[[POS]] : memref<3x1x100xi64>, %[[K]] : memref<1x2x100x64xbf16>, %[[KROT]] : memref<1x2x100x64xbf16>)
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// Two stages of K and V tiles, 64 keys x (64 + 8) bf16 each.
// CHECK-DAG: %[[SMEM:.*]] = arith.constant 36864 : i32
// CHECK: gpu.launch_func @mrope_attention_module::@mrope_attention blocks in (%[[C4]], %[[C2]], %{{.*}}) threads in (%[[C128]], %{{.*}}, %{{.*}}) dynamic_shared_memory_size %[[SMEM]] args(%[[Q]] : {{.*}}, %[[POS]] : {{.*}}, %[[KROT]] : {{.*}}, %[[V]] : {{.*}}, %[[OUT]] : memref<1x4x100x64xbf16>)
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.dealloc async {{.*}} %[[KROT]]
// CHECK-NOT: gpu.memcpy
// CHECK: return
func.func @fused(%q: memref<1x4x100x64xbf16>, %k: memref<1x2x100x64xbf16>, %v: memref<1x2x100x64xbf16>, %pos: memref<3x1x100xi64>, %out: memref<1x4x100x64xbf16>) attributes {llvm.emit_c_interface} {
  %tq = bufferization.to_tensor %q restrict : memref<1x4x100x64xbf16> to tensor<1x4x100x64xbf16>
  %tk = bufferization.to_tensor %k restrict : memref<1x2x100x64xbf16> to tensor<1x2x100x64xbf16>
  %tv = bufferization.to_tensor %v restrict : memref<1x2x100x64xbf16> to tensor<1x2x100x64xbf16>
  %tp = bufferization.to_tensor %pos restrict : memref<3x1x100xi64> to tensor<3x1x100xi64>
  %f = mrope.inv_freq theta = 1.0e4 : tensor<32xf32>
  %0 = mrope.attention %tq, %tk, %tv q_positions(%tp : tensor<3x1x100xi64>) k_positions(%tp : tensor<3x1x100xi64>) freqs(%f : tensor<32xf32>) layout bhsd
      rotary <alloc = <interleaved, section = [12, 10, 10]>, rotary_dim = 64> causal
      : tensor<1x4x100x64xbf16>, tensor<1x2x100x64xbf16>, tensor<1x2x100x64xbf16> -> tensor<1x4x100x64xbf16>
  bufferization.materialize_in_destination %0 in restrict writable %out : (tensor<1x4x100x64xbf16>, memref<1x4x100x64xbf16>) -> ()
  return
}

// Partial rotary: the pass-through channels of the temporary come from a
// copy of k, which the rotary kernel then rotates in place.
// CHECK-LABEL: func.func @partial(
// CHECK-SAME: %[[PK:[a-z0-9]+]]: memref<1x2x100x64xbf16>, %{{[a-z0-9]+}}: memref<1x2x100x64xbf16>, %[[PPOS:[a-z0-9]+]]: memref<3x1x100xi64>
// CHECK: %[[PROT:.*]], %{{.*}} = gpu.alloc async {{.*}} : memref<1x2x100x64xbf16>
// CHECK: gpu.memcpy async {{.*}} %[[PROT]], %[[PK]]
// CHECK: gpu.launch_func @mrope_rotate_keys_contiguous_module::@mrope_rotate_keys_contiguous {{.*}} args(%[[PPOS]] : memref<3x1x100xi64>, %[[PROT]] : memref<1x2x100x64xbf16>)
// CHECK: gpu.launch_func @mrope_attention_module::@mrope_attention
// CHECK: gpu.dealloc async {{.*}} %[[PROT]]
func.func @partial(%q: memref<1x4x100x64xbf16>, %k: memref<1x2x100x64xbf16>, %v: memref<1x2x100x64xbf16>, %pos: memref<3x1x100xi64>, %out: memref<1x4x100x64xbf16>) {
  %tq = bufferization.to_tensor %q restrict : memref<1x4x100x64xbf16> to tensor<1x4x100x64xbf16>
  %tk = bufferization.to_tensor %k restrict : memref<1x2x100x64xbf16> to tensor<1x2x100x64xbf16>
  %tv = bufferization.to_tensor %v restrict : memref<1x2x100x64xbf16> to tensor<1x2x100x64xbf16>
  %tp = bufferization.to_tensor %pos restrict : memref<3x1x100xi64> to tensor<3x1x100xi64>
  %f = mrope.inv_freq theta = 1.0e4 : tensor<16xf32>
  %0 = mrope.attention %tq, %tk, %tv q_positions(%tp : tensor<3x1x100xi64>) k_positions(%tp : tensor<3x1x100xi64>) freqs(%f : tensor<16xf32>) layout bhsd
      rotary <alloc = <contiguous, section = [4, 6, 6]>, rotary_dim = 32>
      : tensor<1x4x100x64xbf16>, tensor<1x2x100x64xbf16>, tensor<1x2x100x64xbf16> -> tensor<1x4x100x64xbf16>
  bufferization.materialize_in_destination %0 in restrict writable %out : (tensor<1x4x100x64xbf16>, memref<1x4x100x64xbf16>) -> ()
  return
}

// Split-KV (flash-decoding), chosen automatically when the grid would not
// fill the GPU: one new token of 32 query heads against a cache of 4096
// keys in 8 KV heads is 8 CTAs (the 4 heads of a group share one tile), so
// the 64 key blocks are cut into 8 ranges of 8 blocks -- 64 CTAs -- whose
// partial rows ([batch, split, KV head, row, Dv + 4] f32: acc, m, l, then
// padding to 16 bytes) a second kernel combines, one thread per 8 output
// channels of a row: 8 KV heads x 4 rows x 16 chunks = 512 threads in 2
// blocks of 256.
// CHECK-LABEL: func.func @decode(
// CHECK: %[[PART:.*]], %{{.*}} = gpu.alloc async {{.*}} : memref<1x8x8x4x132xf32>
// (Constants print as %c<value>, with a suffix when repeated.)
// CHECK: gpu.launch_func @mrope_attention_module::@mrope_attention{{(_[0-9]+)?}} blocks in ({{%c1(_[0-9]+)?}}, {{%c8(_[0-9]+)?}}, {{%c8(_[0-9]+)?}})
// CHECK-SAME: %[[PART]] : memref<1x8x8x4x132xf32>
// CHECK: gpu.launch_func @mrope_attention_combine_module::@mrope_attention_combine blocks in ({{%c2(_[0-9]+)?}}, %{{.*}}, %{{.*}}) threads in ({{%c256(_[0-9]+)?}}, %{{.*}}, %{{.*}}) args(%[[PART]] : memref<1x8x8x4x132xf32>, %{{.*}} : memref<1x32x1x128xbf16>)
// CHECK: gpu.dealloc async {{.*}} %[[PART]]
func.func @decode(%q: memref<1x32x1x128xbf16>, %k: memref<1x8x4096x128xbf16>, %v: memref<1x8x4096x128xbf16>, %out: memref<1x32x1x128xbf16>) {
  %tq = bufferization.to_tensor %q restrict : memref<1x32x1x128xbf16> to tensor<1x32x1x128xbf16>
  %tk = bufferization.to_tensor %k restrict : memref<1x8x4096x128xbf16> to tensor<1x8x4096x128xbf16>
  %tv = bufferization.to_tensor %v restrict : memref<1x8x4096x128xbf16> to tensor<1x8x4096x128xbf16>
  %0 = mrope.attention %tq, %tk, %tv layout bhsd causal
      : tensor<1x32x1x128xbf16>, tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16> -> tensor<1x32x1x128xbf16>
  bufferization.materialize_in_destination %0 in restrict writable %out : (tensor<1x32x1x128xbf16>, memref<1x32x1x128xbf16>) -> ()
  return
}

// Prefill fills the GPU: no split (1024 tokens x 4 heads per KV head = 64
// tiles x 8 KV heads = 512 CTAs).
// CHECK-LABEL: func.func @prefill(
// CHECK-NOT: mrope_attention_combine
// CHECK: gpu.launch_func @mrope_attention_module::@mrope_attention{{(_[0-9]+)?}} blocks in ({{%c64(_[0-9]+)?}}, {{%c8(_[0-9]+)?}}, {{%c1(_[0-9]+)?}})
// CHECK-NOT: mrope_attention_combine
// CHECK: return
func.func @prefill(%q: memref<1x32x1024x128xbf16>, %k: memref<1x8x1024x128xbf16>, %v: memref<1x8x1024x128xbf16>, %out: memref<1x32x1024x128xbf16>) {
  %tq = bufferization.to_tensor %q restrict : memref<1x32x1024x128xbf16> to tensor<1x32x1024x128xbf16>
  %tk = bufferization.to_tensor %k restrict : memref<1x8x1024x128xbf16> to tensor<1x8x1024x128xbf16>
  %tv = bufferization.to_tensor %v restrict : memref<1x8x1024x128xbf16> to tensor<1x8x1024x128xbf16>
  %0 = mrope.attention %tq, %tk, %tv layout bhsd causal
      : tensor<1x32x1024x128xbf16>, tensor<1x8x1024x128xbf16>, tensor<1x8x1024x128xbf16> -> tensor<1x32x1024x128xbf16>
  bufferization.materialize_in_destination %0 in restrict writable %out : (tensor<1x32x1024x128xbf16>, memref<1x32x1024x128xbf16>) -> ()
  return
}

// Batched decode over packed sequences with their own keys (kv_cu_seqlens):
// 4 tokens (3 sequences, one token each; 4 query heads per KV head) against
// 3300 cached keys in 2 KV heads. Few CTAs do work (2 KV heads x 3
// sequences) and a sequence has 1100 keys on average, so split-KV cuts each
// sequence's own keys in 2: the grid's z is sequence x range (3 x 2). The
// partials are indexed by the token in q ([1, range, KV head, 4 heads x 4
// tokens, 64 + 4]) and zeroed first, so that rows no CTA writes (a token in
// no sequence, a sequence without keys) combine to 0; the output is zeroed
// for the tokens in no sequence.
// CHECK-LABEL: func.func @batched_decode(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: memref<4x8x64xbf16>, %[[K:[a-z0-9]+]]: memref<3300x2x64xbf16>, %[[V:[a-z0-9]+]]: memref<3300x2x64xbf16>, %[[CU:[a-z0-9]+]]: memref<4xi32>, %[[KVCU:[a-z0-9]+]]: memref<4xi32>, %[[OUT:[a-z0-9]+]]: memref<4x8x64xbf16>)
// CHECK: %[[PART:.*]], %{{.*}} = gpu.alloc async {{.*}} : memref<1x2x2x16x68xf32>
// CHECK: gpu.memset async {{.*}} %[[PART]], %{{.*}} : memref<1x2x2x16x68xf32>, f32
// CHECK: gpu.memset async {{.*}} %[[OUT]], %{{.*}} : memref<4x8x64xbf16>, bf16
// CHECK: gpu.launch_func @mrope_attention_module::@mrope_attention{{(_[0-9]+)?}} blocks in ({{%c1(_[0-9]+)?}}, {{%c2(_[0-9]+)?}}, {{%c6(_[0-9]+)?}})
// CHECK-SAME: args(%[[CU]] : memref<4xi32>, %[[KVCU]] : memref<4xi32>, %[[Q]] : memref<4x8x64xbf16>, %[[K]] : memref<3300x2x64xbf16>, %[[V]] : memref<3300x2x64xbf16>, %[[PART]] : memref<1x2x2x16x68xf32>
// CHECK: gpu.launch_func @mrope_attention_combine_module{{(_[0-9]+)?}}::@mrope_attention_combine{{(_[0-9]+)?}} {{.*}} args(%[[PART]] : memref<1x2x2x16x68xf32>, %[[OUT]] : memref<4x8x64xbf16>)
// CHECK: gpu.dealloc async {{.*}} %[[PART]]
func.func @batched_decode(%q: memref<4x8x64xbf16>, %k: memref<3300x2x64xbf16>, %v: memref<3300x2x64xbf16>, %cu: memref<4xi32>, %kvcu: memref<4xi32>, %out: memref<4x8x64xbf16>) {
  %tq = bufferization.to_tensor %q restrict : memref<4x8x64xbf16> to tensor<4x8x64xbf16>
  %tk = bufferization.to_tensor %k restrict : memref<3300x2x64xbf16> to tensor<3300x2x64xbf16>
  %tv = bufferization.to_tensor %v restrict : memref<3300x2x64xbf16> to tensor<3300x2x64xbf16>
  %tc = bufferization.to_tensor %cu restrict : memref<4xi32> to tensor<4xi32>
  %tkc = bufferization.to_tensor %kvcu restrict : memref<4xi32> to tensor<4xi32>
  %0 = mrope.attention %tq, %tk, %tv cu_seqlens(%tc : tensor<4xi32>) kv_cu_seqlens(%tkc : tensor<4xi32>) layout thd causal
      : tensor<4x8x64xbf16>, tensor<3300x2x64xbf16>, tensor<3300x2x64xbf16> -> tensor<4x8x64xbf16>
  bufferization.materialize_in_destination %0 in restrict writable %out : (tensor<4x8x64xbf16>, memref<4x8x64xbf16>) -> ()
  return
}
