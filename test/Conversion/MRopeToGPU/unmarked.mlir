// RUN: mrope-opt %s --one-shot-bufferize -verify-diagnostics

// An mrope.apply reaching bufferization without being lowered (CPU) or
// selected for the GPU is reported by name, not as an unknown op.
func.func @f(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %pos: tensor<3x1x4xi64>,
             %f: tensor<4xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) {
  // expected-error @+2 {{'mrope.apply' op must be lowered before bufferization (convert-mrope-to-linalg) or selected for the GPU (convert-mrope-to-gpu)}}
  // expected-error @+1 {{failed to bufferize op}}
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x1x4xi64>) freqs(%f : tensor<4xf32>) layout bhsd
      rotary <alloc = <vanilla>, rotary_dim = 8> : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
  return %q1, %k1 : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
}
