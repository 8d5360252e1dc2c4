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
