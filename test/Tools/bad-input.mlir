// Malformed or inconsistent input makes mrope-opt exit non-zero with a
// diagnostic; `not` itself fails if mrope-opt crashes instead.
// RUN: not mrope-opt %s -split-input-file 2>&1 | FileCheck %s
// CHECK-NOT: Stack dump
// CHECK-NOT: PLEASE submit

// CHECK: error: expected '['
%p, %d, %n = mrope.position_ids <mrope> text 4 : tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<1xi64>

// -----

// CHECK: error: {{.*}}unknown segment kind 'audio'
%p, %d, %n = mrope.position_ids <mrope> [[audio 4]] : tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<1xi64>

// -----

// CHECK: error: {{.*}}expected ::mlir::mrope::PositionDesign to be one of
%p, %d, %n = mrope.position_ids <qwen9> [[text 4]] : tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<1xi64>

// -----

// CHECK: error: operation defines 1 results but was provided 3 to bind
%p, %d, %n = "mrope.position_ids"() <{design = #mrope.design<mrope>, rows = [[#mrope.segment<text 4>]]}> : () -> (tensor<3x1x4xi64>)

// -----

// An attribute of the wrong kind in the generic form.
// CHECK: error: invalid properties {{.*}} for op mrope.apply: Invalid attribute `rotary`
func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  %a:2 = "mrope.apply"(%q, %k, %pos, %f) <{layout = #mrope.layout<bhsd>, rotary = #mrope.alloc<vanilla>}> : (tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<3x1x8xi64>, tensor<32xf32>) -> (tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>)
  return
}

// -----

// Grid sizes whose product overflows are rejected, not wrapped around.
// CHECK: error: {{.*}}grid 1x4294967296x4294967296 has more than 1099511627776 tokens
%p, %d, %n = mrope.position_ids <mrope> [[text 1, image 1x4294967296x4294967296]] : tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<1xi64>

// -----

// CHECK: error: expected ')' to end operand list
%q = "mrope.decode_positions"(
