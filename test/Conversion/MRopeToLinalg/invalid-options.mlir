// A token tile below 1 is refused with a message naming the option.
// RUN: not mrope-opt %s '--convert-mrope-to-linalg=vector-rows=true token-tile=0' 2>&1 | FileCheck %s
// RUN: not mrope-opt %s '--mrope-cpu-pipeline=token-tile=-2' 2>&1 | FileCheck %s --check-prefix=PIPELINE
// CHECK: error: convert-mrope-to-linalg: token-tile must be at least 1, got 0
// PIPELINE: error: convert-mrope-to-linalg: token-tile must be at least 1, got -2
// CHECK-NOT: Stack dump
// PIPELINE-NOT: Stack dump
func.func @f(%q: tensor<4x1x8xf32>, %k: tensor<4x1x8xf32>, %p: tensor<3x4xi64>, %f: tensor<4xf32>) -> (tensor<4x1x8xf32>, tensor<4x1x8xf32>) {
  %qr, %kr = mrope.apply %q, %k positions(%p : tensor<3x4xi64>) freqs(%f : tensor<4xf32>) layout thd rotary <alloc = <vanilla>, rotary_dim = 8> : tensor<4x1x8xf32>, tensor<4x1x8xf32>
  return %qr, %kr : tensor<4x1x8xf32>, tensor<4x1x8xf32>
}
