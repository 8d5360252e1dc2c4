// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg | FileCheck %s

// HF layout: cat(angle, angle) for NeoX, each angle twice for GPT-J; constant
// positions and inv_freq are folded before lowering.
// CHECK-DAG: #[[NEOX:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2 mod 4)>
// CHECK-LABEL: func.func @neox
// CHECK-NOT: mrope.inv_freq
// CHECK: %[[CS:.+]]:2 = linalg.generic
// CHECK-NOT: math.cos
// CHECK: arith.constant 1.250000e+02
// CHECK: linalg.generic {indexing_maps = [#[[NEOX]], #[[NEOX]], #{{.+}}, #{{.+}}]{{.*}} ins(%[[CS]]#0, %[[CS]]#1 : tensor<1x3x4xf32>, tensor<1x3x4xf32>) outs({{.*}} : tensor<1x3x8xf16>, tensor<1x3x8xf16>)
// CHECK: arith.truncf %{{.+}} : f32 to f16
func.func @neox() -> (tensor<1x3x8xf16>, tensor<1x3x8xf16>) {
  %p, %d, %n = mrope.position_ids <mrope> [[text 1, image 1x1x2]] : tensor<3x1x3xi64>, tensor<1x1xi64>, tensor<1xi64>
  %f = mrope.inv_freq theta = 1.000000e+04 : tensor<4xf32>
  %c, %s = mrope.cos_sin %p, %f rotary <alloc = <contiguous, section = [2, 1, 1]>, rotary_dim = 8> : tensor<3x1x3xi64>, tensor<4xf32> -> tensor<1x3x8xf16>, tensor<1x3x8xf16>
  return %c, %s : tensor<1x3x8xf16>, tensor<1x3x8xf16>
}

// -----

// CHECK-DAG: #[[GPTJ:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3 floordiv 2)>
// CHECK-LABEL: func.func @gptj_per_head
// CHECK: linalg.generic {indexing_maps = [#[[GPTJ]], #[[GPTJ]], #{{.+}}, #{{.+}}]{{.*}} outs({{.*}} : tensor<2x3x5x8xf32>, tensor<2x3x5x8xf32>)
func.func @gptj_per_head(%pos: tensor<3x2x5xi64>, %f: tensor<4xf32>) -> (tensor<2x3x5x8xf32>, tensor<2x3x5x8xf32>) {
  %c, %s = mrope.cos_sin %pos, %f rotary <alloc = <head_partitioned, section = [1, 1, 0]>, pairs = gptj, rotary_dim = 8> : tensor<3x2x5xi64>, tensor<4xf32> -> tensor<2x3x5x8xf32>, tensor<2x3x5x8xf32>
  return %c, %s : tensor<2x3x5x8xf32>, tensor<2x3x5x8xf32>
}

// -----

// Runtime positions: one generic over the pairs [.., P] reads each pair's
// axis from a constant table (MRoPE-I: T, H, W, T) and the token's three
// positions, then one expands to [.., D]. No per-axis position table, no
// insert_slice (on the GPU: two kernels).
// CHECK-DAG: #[[PAIR:.+]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @interleaved_runtime
// CHECK: %[[AXES:.+]] = arith.constant dense<[0, 1, 2, 0]> : tensor<4xi32>
// CHECK: %[[CS:.+]]:2 = linalg.generic {indexing_maps = [#[[PAIR]], #[[PAIR]], {{.*}}ins(%arg1, %[[AXES]] : tensor<4xf32>, tensor<4xi32>) outs({{.*}} : tensor<1x5x4xf32>, tensor<1x5x4xf32>)
// CHECK: ^bb0(%{{.*}}: f32, %[[AXIS:.+]]: i32,
// CHECK: tensor.extract %arg0[%c0
// CHECK: arith.cmpi eq, %[[AXIS]], %c0_i32
// CHECK: tensor.extract %arg0[%c1
// CHECK: tensor.extract %arg0[%c2
// CHECK: linalg.generic {{.*}} ins(%[[CS]]#0, %[[CS]]#1 : tensor<1x5x4xf32>, tensor<1x5x4xf32>) outs({{.*}} : tensor<1x5x8xf32>, tensor<1x5x8xf32>)
// CHECK-NOT: tensor.insert_slice
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @interleaved_runtime(%pos: tensor<3x1x5xi64>, %f: tensor<4xf32>) -> (tensor<1x5x8xf32>, tensor<1x5x8xf32>) {
  %c, %s = mrope.cos_sin %pos, %f rotary <alloc = <interleaved, section = [2, 1, 1]>, rotary_dim = 8> : tensor<3x1x5xi64>, tensor<4xf32> -> tensor<1x5x8xf32>, tensor<1x5x8xf32>
  return %c, %s : tensor<1x5x8xf32>, tensor<1x5x8xf32>
}
