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
