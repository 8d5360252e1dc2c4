// RUN: mrope-opt %s -split-input-file --convert-mrope-to-gpu \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   --mrope-gpu-device-allocations \
// RUN:   | FileCheck %s

// S0 of design/PERF.md: T=16384 packed tokens, 32 q + 8 kv heads, D=128,
// bf16, contiguous [16, 24, 24]. One thread per (token, head slice, group of
// 8 pairs = one 16-byte vector per half): 8 groups x 4 head slices x 16384
// tokens = 524288 threads in 2048 blocks of 256. Each thread rotates heads
// slice, slice + 4, ... of q (8 of them) and k (2), with its pairs' cos/sin
// computed once. q and k are function arguments: rotated in place.

// CHECK-LABEL: func.func @s0_contiguous(
// CHECK-SAME:      %[[Q:.*]]: memref<16384x32x128xbf16>, %[[K:.*]]: memref<16384x8x128xbf16>, %[[POS:.*]]: memref<3x16384xi64>
// CHECK-NOT:     alloc
// CHECK-DAG:     %[[GRID:.*]] = arith.constant 2048 : index
// CHECK-DAG:     %[[BLOCK:.*]] = arith.constant 256 : index
// CHECK:         gpu.launch blocks({{.*}}) in ({{.*}} = %[[GRID]], {{.*}}) threads({{.*}}) in ({{.*}} = %[[BLOCK]], {{.*}}) module(@mrope_apply_contiguous_module) function(@mrope_apply_contiguous)
// CHECK:           %[[FREQ:.*]] = memref.get_global @{{.*}} : memref<64xf32>
// CHECK:           vector.load %[[FREQ]][%{{.*}}] {alignment = 16 : i64} : memref<64xf32>, vector<8xf32>
// The pair -> axis map as three compile-time runs [0, 16), [16, 40), [40, 64).
// CHECK:           arith.cmpi slt, %{{.*}}, %{{.*}} : vector<8xi32>
// CHECK:           memref.load %[[POS]][%c0{{.*}}, %{{.*}}] : memref<3x16384xi64>
// CHECK:           memref.load %[[POS]][%c1{{.*}}, %{{.*}}] : memref<3x16384xi64>
// CHECK:           memref.load %[[POS]][%c2{{.*}}, %{{.*}}] : memref<3x16384xi64>
// CHECK-NOT:       math.cos
// CHECK:           scf.for %[[H:.*]] = %{{.*}} to %c32{{.*}} step %c4{{.*}} {
// CHECK:             vector.load %[[Q]][%{{.*}}, %[[H]], %{{.*}}] {alignment = 16 : i64} : memref<16384x32x128xbf16>, vector<8xbf16>
// CHECK:             vector.load %[[Q]][%{{.*}}, %[[H]], %{{.*}}] {alignment = 16 : i64} : memref<16384x32x128xbf16>, vector<8xbf16>
// CHECK:             vector.store %{{.*}}, %[[Q]][%{{.*}}, %[[H]], %{{.*}}] {alignment = 16 : i64}
// CHECK:             vector.store %{{.*}}, %[[Q]][%{{.*}}, %[[H]], %{{.*}}] {alignment = 16 : i64}
// CHECK:           scf.for %[[HK:.*]] = %{{.*}} to %c8{{.*}} step %c4{{.*}} {
// CHECK:             vector.load %[[K]][%{{.*}}, %[[HK]], %{{.*}}]
// CHECK:           gpu.terminator
// CHECK:         return %[[Q]], %[[K]]
func.func @s0_contiguous(%q: tensor<16384x32x128xbf16>, %k: tensor<16384x8x128xbf16>,
                         %pos: tensor<3x16384xi64>) -> (tensor<16384x32x128xbf16>, tensor<16384x8x128xbf16>) {
  %f = mrope.inv_freq theta = 1.0e6 : tensor<64xf32>
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x16384xi64>) freqs(%f : tensor<64xf32>) layout thd
      rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128>
      : tensor<16384x32x128xbf16>, tensor<16384x8x128xbf16>
  return %q1, %k1 : tensor<16384x32x128xbf16>, tensor<16384x8x128xbf16>
}

// -----

// Decode (one token, bshd): too few tokens to share cos/sin across heads
// profitably, so every head gets its own threads: 8 groups x 32 head slices.
// Head-partitioned (MHRoPE [2, 3, 3] over 8 KV heads, GQA group 4): cos/sin
// once per axis, chosen per head by the head's KV head (h / 4).

// CHECK-LABEL: func.func @decode_mhrope(
// CHECK-DAG:     %[[GRID:.*]] = arith.constant 1 : index
// CHECK-DAG:     %[[BLOCK:.*]] = arith.constant 256 : index
// CHECK:         gpu.launch blocks({{.*}}) in ({{.*}} = %[[GRID]], {{.*}}) threads({{.*}}) in ({{.*}} = %[[BLOCK]], {{.*}}) module(@mrope_apply_head_partitioned_module) function(@mrope_apply_head_partitioned)
// CHECK:           scf.for %[[H:.*]] = %{{.*}} to %c32{{.*}} step %c32{{.*}} {
// CHECK:             %[[KV:.*]] = arith.divui %[[H]], %c4{{.*}} : index
// CHECK:             arith.cmpi uge, %[[KV]], %c2{{.*}} : index
// CHECK:             arith.select
// CHECK:             arith.cmpi uge, %[[KV]], %c5{{.*}} : index
// CHECK:             arith.select
func.func @decode_mhrope(%q: tensor<1x1x32x128xbf16>, %k: tensor<1x1x8x128xbf16>,
                         %pos: tensor<3x1x1xi64>) -> (tensor<1x1x32x128xbf16>, tensor<1x1x8x128xbf16>) {
  %f = mrope.inv_freq theta = 1.0e6 : tensor<64xf32>
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x1x1xi64>) freqs(%f : tensor<64xf32>) layout bshd
      rotary <alloc = <head_partitioned, section = [2, 3, 3]>, rotary_dim = 128>
      : tensor<1x1x32x128xbf16>, tensor<1x1x8x128xbf16>
  return %q1, %k1 : tensor<1x1x32x128xbf16>, tensor<1x1x8x128xbf16>
}

// -----

// q is read again after the rotation: bufferization rotates a copy (the
// analysis sees the kernel's write like any other op's), so the returned
// original is intact; the copy is made on the device.

// CHECK-LABEL: func.func @q_read_later(
// CHECK-SAME:      %[[Q:[a-z0-9]+]]: memref<1x2x4x8xf32>
// CHECK:         %[[W0:.*]] = gpu.wait async
// CHECK:         %[[COPY:.*]], %[[T0:.*]] = gpu.alloc async [%[[W0]]] () : memref<1x2x4x8xf32>
// CHECK:         gpu.wait [%[[T0]]]
// CHECK:         %[[W1:.*]] = gpu.wait async
// CHECK:         %[[T1:.*]] = gpu.memcpy async [%[[W1]]] %[[COPY]], %[[Q]]
// CHECK:         gpu.wait [%[[T1]]]
// CHECK-NOT:     memref.alloc
// CHECK:         gpu.launch
// CHECK:           vector.load %[[COPY]]
// CHECK:         return %[[COPY]], %{{.*}}, %[[Q]]
func.func @q_read_later(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %pos: tensor<3x1x4xi64>,
                        %f: tensor<4xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) {
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x1x4xi64>) freqs(%f : tensor<4xf32>) layout bhsd
      rotary <alloc = <vanilla>, rotary_dim = 8> : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
  return %q1, %k1, %q : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
}

// -----

// A function on memrefs (how benchmarks and C callers use the GPU path):
// the rotated tensors materialized back into q and k are the same buffers,
// so the pipeline leaves no copy at all.

// CHECK-LABEL: func.func @on_memrefs(
// CHECK-NOT:     memref.copy
// CHECK:         gpu.launch
// CHECK-NOT:     memref.copy
// CHECK:         return
func.func @on_memrefs(%q: memref<4x2x8xf32>, %k: memref<4x2x8xf32>, %pos: memref<3x4xi64>) {
  %tq = bufferization.to_tensor %q restrict writable : memref<4x2x8xf32> to tensor<4x2x8xf32>
  %tk = bufferization.to_tensor %k restrict writable : memref<4x2x8xf32> to tensor<4x2x8xf32>
  %tp = bufferization.to_tensor %pos restrict : memref<3x4xi64> to tensor<3x4xi64>
  %f = mrope.inv_freq theta = 1.0e4 : tensor<4xf32>
  %rq, %rk = mrope.apply %tq, %tk positions(%tp : tensor<3x4xi64>) freqs(%f : tensor<4xf32>) layout thd
      rotary <alloc = <vanilla>, rotary_dim = 8> : tensor<4x2x8xf32>, tensor<4x2x8xf32>
  bufferization.materialize_in_destination %rq in restrict writable %q : (tensor<4x2x8xf32>, memref<4x2x8xf32>) -> ()
  bufferization.materialize_in_destination %rk in restrict writable %k : (tensor<4x2x8xf32>, memref<4x2x8xf32>) -> ()
  return
}
