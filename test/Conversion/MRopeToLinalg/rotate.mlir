// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg | FileCheck %s
// RUN: mrope-opt %s -split-input-file --mrope-cpu-pipeline -o /dev/null

// mrope.rotate with per-axis tables: the allocation's pair map is split into
// strided runs, each a slice copy of one fixed table row (no per-element
// axis lookup), for both channels of each pair; then one generic rotates the
// pairs, every op in the activation type, and writes them back in place.
// A row is sliced with its unit axis dimension, which collapse_shape then
// drops: the rank-reducing slice [1, 1, 3, 1] -> [1, 3, 1] would leave
// memref.subview to guess which unit dimension went, and MLIR 22 crashes
// doing so (expand-strided-metadata, in the CPU pipeline run above).
// contiguous [1, 2, 1] over 4 pairs: t = pair 0, h = pairs 1-2, w = pair 3.
// CHECK-LABEL: func.func @contiguous_tables
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x3x8xbf16>, %[[C:.*]]: tensor<3x1x3x8xbf16>, %[[S:.*]]: tensor<3x1x3x8xbf16>)
// CHECK: %[[E:.*]] = tensor.empty() : tensor<1x3x8xbf16>
// CHECK: %[[T0:.*]] = tensor.extract_slice %[[C]][0, 0, 0, 0] [1, 1, 3, 1] [1, 1, 1, 1] : tensor<3x1x3x8xbf16> to tensor<1x1x3x1xbf16>
// CHECK: %[[R0:.*]] = tensor.collapse_shape %[[T0]] {{\[\[}}0, 1], [2], [3]] : tensor<1x1x3x1xbf16> into tensor<1x3x1xbf16>
// CHECK: tensor.insert_slice %[[R0]] into %[[E]][0, 0, 0] [1, 3, 1] [1, 1, 1]
// CHECK: tensor.extract_slice %[[C]][0, 0, 0, 4] [1, 1, 3, 1] [1, 1, 1, 1]
// CHECK: tensor.extract_slice %[[C]][1, 0, 0, 1] [1, 1, 3, 2] [1, 1, 1, 1]
// CHECK: tensor.extract_slice %[[C]][1, 0, 0, 5] [1, 1, 3, 2] [1, 1, 1, 1]
// CHECK: tensor.extract_slice %[[C]][2, 0, 0, 3] [1, 1, 3, 1] [1, 1, 1, 1]
// CHECK: tensor.extract_slice %[[C]][2, 0, 0, 7] [1, 1, 3, 1] [1, 1, 1, 1]
// CHECK: %[[X1:.*]] = tensor.extract_slice %[[X]][0, 0, 0, 0] [1, 2, 3, 4] [1, 1, 1, 1]
// CHECK: %[[X2:.*]] = tensor.extract_slice %[[X]][0, 0, 0, 4] [1, 2, 3, 4] [1, 1, 1, 1]
// CHECK: %[[R:.*]]:2 = linalg.generic
// CHECK-SAME: ins(%[[X1]], %[[X2]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<1x2x3x4xbf16>, tensor<1x2x3x4xbf16>, tensor<1x3x4xbf16>, tensor<1x3x4xbf16>, tensor<1x3x4xbf16>, tensor<1x3x4xbf16>)
// CHECK-NEXT: ^bb0(%[[A1:[a-z0-9_]+]]: bf16, %[[A2:[a-z0-9_]+]]: bf16, %[[C1:[a-z0-9_]+]]: bf16, %[[C2:[a-z0-9_]+]]: bf16, %[[S1:[a-z0-9_]+]]: bf16, %[[S2:[a-z0-9_]+]]: bf16,
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[A1]], %[[C1]] : bf16
// CHECK-NEXT: %[[Q:.*]] = arith.mulf %[[A2]], %[[S1]] : bf16
// CHECK-NEXT: %[[Y1:.*]] = arith.subf %[[P]], %[[Q]] : bf16
// CHECK-NEXT: %[[U:.*]] = arith.mulf %[[A2]], %[[C2]] : bf16
// CHECK-NEXT: %[[V:.*]] = arith.mulf %[[A1]], %[[S2]] : bf16
// CHECK-NEXT: %[[Y2:.*]] = arith.addf %[[U]], %[[V]] : bf16
// CHECK-NEXT: linalg.yield %[[Y1]], %[[Y2]]
// CHECK: %[[W:.*]] = tensor.insert_slice %[[R]]#0 into %[[X]][0, 0, 0, 0] [1, 2, 3, 4] [1, 1, 1, 1]
// CHECK: tensor.insert_slice %[[R]]#1 into %[[W]][0, 0, 0, 4] [1, 2, 3, 4] [1, 1, 1, 1]
func.func @contiguous_tables(%x: tensor<1x2x3x8xbf16>, %cos: tensor<3x1x3x8xbf16>, %sin: tensor<3x1x3x8xbf16>) -> tensor<1x2x3x8xbf16> {
  %0 = mrope.rotate %x, %cos, %sin layout bhsd pairs neox alloc <contiguous, section = [1, 2, 1]> : tensor<1x2x3x8xbf16>, tensor<3x1x3x8xbf16>
  return %0 : tensor<1x2x3x8xbf16>
}

// -----

// GPT-J pairs, partial rotary (4 of 8 channels), packed: the pairs are the
// even and odd channels below R = 4; channels 4-7 are never touched.
// CHECK-LABEL: func.func @gptj_partial
// CHECK: %[[X1:.*]] = tensor.extract_slice %arg0[0, 0, 0] [5, 2, 2] [1, 1, 2]
// CHECK: %[[X2:.*]] = tensor.extract_slice %arg0[0, 0, 1] [5, 2, 2] [1, 1, 2]
// CHECK: %[[C1:.*]] = tensor.extract_slice %arg1[0, 0] [5, 2] [1, 2]
// CHECK: %[[C2:.*]] = tensor.extract_slice %arg1[0, 1] [5, 2] [1, 2]
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}, #[[TAB:.*]], #[[TAB]], #[[TAB]], #[[TAB]], #{{.*}}, #{{.*}}]
// CHECK: tensor.insert_slice %{{.*}} into %arg0[0, 0, 0] [5, 2, 2] [1, 1, 2]
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 1] [5, 2, 2] [1, 1, 2]
func.func @gptj_partial(%x: tensor<5x2x8xf32>, %cos: tensor<5x4xf32>, %sin: tensor<5x4xf32>) -> tensor<5x2x8xf32> {
  %0 = mrope.rotate %x, %cos, %sin layout thd pairs gptj : tensor<5x2x8xf32>, tensor<5x4xf32>
  return %0 : tensor<5x2x8xf32>
}
