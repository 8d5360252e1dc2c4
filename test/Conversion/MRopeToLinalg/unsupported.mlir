// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg -verify-diagnostics

// Ops without a lowering yet are reported, not left behind silently.

func.func @attention(%q: tensor<1x4x2x16xf32>, %k: tensor<1x4x2x16xf32>) -> tensor<1x4x2x16xf32> {
  // expected-error @+1 {{'mrope.attention' has no lowering to linalg yet}}
  %0 = mrope.attention %q, %k, %k layout bhsd : tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32> -> tensor<1x4x2x16xf32>
  return %0 : tensor<1x4x2x16xf32>
}

// -----

func.func @rope_index(%ids: tensor<1x8xi64>) -> tensor<3x1x8xf32> {
  // expected-error @+1 {{'mrope.rope_index' has no runtime lowering for the circlerope design yet (the static mrope.position_ids folds it)}}
  %p, %d, %n, %st0 = mrope.rope_index %ids design <circlerope> : tensor<1x8xi64> -> tensor<3x1x8xf32>, tensor<1x1xf32>, tensor<1xf32>, tensor<4xi64>
  return %p : tensor<3x1x8xf32>
}
