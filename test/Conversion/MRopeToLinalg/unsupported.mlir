// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg -verify-diagnostics

// Ops without a lowering yet are reported, not left behind silently.

func.func @attention(%q: tensor<1x4x?x16xf32>, %k: tensor<1x4x?x16xf32>) -> tensor<1x4x?x16xf32> {
  // expected-error @+1 {{'mrope.attention' has no lowering for dynamic shapes yet}}
  %0 = mrope.attention %q, %k, %k layout bhsd : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32> -> tensor<1x4x?x16xf32>
  return %0 : tensor<1x4x?x16xf32>
}
