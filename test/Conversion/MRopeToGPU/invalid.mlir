// RUN: mrope-opt %s -split-input-file --convert-mrope-to-gpu -verify-diagnostics
// RUN: not mrope-opt %s --convert-mrope-to-gpu=block-size=0 2>&1 | FileCheck %s --check-prefix=BLOCK
// RUN: not mrope-opt %s --convert-mrope-to-gpu=block-size=2048 2>&1 | FileCheck %s --check-prefix=BLOCK
// RUN: not mrope-opt %s --convert-mrope-to-gpu=head-slices=-1 2>&1 | FileCheck %s --check-prefix=SLICES

// BLOCK: block-size must be in [1, 1024]
// SLICES: head-slices must be >= 0, got -1
// RUN: not mrope-opt %s --convert-mrope-to-gpu=attention-stages=3 2>&1 | FileCheck %s --check-prefix=STAGES
// STAGES: attention-stages must be 1 or 2, got 3

// What the GPU lowering rejects, with the reason.

func.func @dynamic(%q: tensor<1x2x?x8xf32>, %k: tensor<1x2x?x8xf32>, %pos: tensor<3x1x?xi64>,
                   %f: tensor<4xf32>) -> (tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  // expected-error @+1 {{the GPU lowering needs static shapes (operand 'tensor<1x2x?x8xf32>')}}
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x1x?xi64>) freqs(%f : tensor<4xf32>) layout bhsd
      rotary <alloc = <vanilla>, rotary_dim = 8> : tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
  return %q1, %k1 : tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// Device buffers cannot be read by host code: the scan of rope_index has no
// GPU form yet (the data-parallel position ops run as GPU loops,
// sequence_length as a reduction kernel).
func.func @rope_index(%ids: tensor<1x8xi64>) -> tensor<3x1x8xi64> {
  // expected-error @+1 {{'mrope.rope_index' op has no GPU lowering yet (the GPU pipeline lowers mrope.apply, mrope.attention and the data-parallel ops decode_positions, cos_sin, rotate, inv_freq and sequence_length; use mrope-cpu-pipeline or host-buffers=true for the others)}}
  %p, %d, %n, %s = mrope.rope_index %ids design <mrope>
      : tensor<1x8xi64> -> tensor<3x1x8xi64>, tensor<1x1xi64>, tensor<1xi64>, tensor<4xi64>
  return %p : tensor<3x1x8xi64>
}
