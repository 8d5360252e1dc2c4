// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg --canonicalize \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   --canonicalize | FileCheck %s

// In place: q and k are not used after the rotation and their buffers are
// writable, so the rotated values land in them (the function returns its
// argument buffers; no full-size output buffer is allocated; only a half-size
// scratch for the second channel of each pair).
// CHECK-LABEL: func.func @in_place
// CHECK-SAME: (%[[Q:.+]]: memref<1x4x6x16xbf16>, %[[K:.+]]: memref<1x2x6x16xbf16>
// CHECK-NOT: memref.alloc() {{.*}} : memref<1x4x6x16xbf16>
// CHECK-NOT: memref.alloc() {{.*}} : memref<1x2x6x16xbf16>
// CHECK: return %[[Q]], %[[K]] : memref<1x4x6x16xbf16>, memref<1x2x6x16xbf16>
func.func @in_place(%q: tensor<1x4x6x16xbf16> {bufferization.writable = true}, %k: tensor<1x2x6x16xbf16> {bufferization.writable = true}, %pos: tensor<3x1x6xi64>, %f: tensor<8xf32>) -> (tensor<1x4x6x16xbf16>, tensor<1x2x6x16xbf16>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x6xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <interleaved, section = [3, 3, 2]>, rotary_dim = 16> : tensor<1x4x6x16xbf16>, tensor<1x2x6x16xbf16>
  return %a, %b : tensor<1x4x6x16xbf16>, tensor<1x2x6x16xbf16>
}

// -----

// Out of place: the original q is still returned, so the rotation goes to a
// new buffer and q is left intact.
// CHECK-LABEL: func.func @out_of_place
// CHECK-SAME: (%[[Q:.+]]: memref<1x4x6x16xf32>
// CHECK: %[[NEW:.+]] = memref.alloc() {{.*}} : memref<1x4x6x16xf32>
// CHECK: memref.copy %[[Q]], %[[NEW]]
// CHECK: return %[[NEW]], %{{.*}}, %[[Q]]
func.func @out_of_place(%q: tensor<1x4x6x16xf32> {bufferization.writable = true}, %k: tensor<1x2x6x16xf32> {bufferization.writable = true}, %pos: tensor<3x1x6xi64>, %f: tensor<8xf32>) -> (tensor<1x4x6x16xf32>, tensor<1x2x6x16xf32>, tensor<1x4x6x16xf32>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x6xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <contiguous, section = [2, 3, 3]>, rotary_dim = 16> : tensor<1x4x6x16xf32>, tensor<1x2x6x16xf32>
  return %a, %b, %q : tensor<1x4x6x16xf32>, tensor<1x2x6x16xf32>, tensor<1x4x6x16xf32>
}
