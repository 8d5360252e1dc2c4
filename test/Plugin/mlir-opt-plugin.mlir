// Debian's upstream mlir-opt loads the mrope dialect and passes from the
// plugin and runs them: parsing, verification, folding and the fusion pass
// (the lowering: mlir-opt-plugin-pipeline.mlir).
// (Plugin passes are named in --pass-pipeline: mlir-opt parses its flags
// before it loads the plugins.)
// UNSUPPORTED: sanitizers
// RUN: mlir-opt %s --load-dialect-plugin=%mrope_plugin --load-pass-plugin=%mrope_plugin \
// RUN:   --pass-pipeline="builtin.module(canonicalize,mrope-fuse-rotary-into-attention)" | FileCheck %s
// RUN: not mlir-opt %s --load-dialect-plugin=%mrope_plugin \
// RUN:   --pass-pipeline="builtin.module(mrope-print-allocation)" 2>&1 | FileCheck %s --check-prefix=NOPASSES
// RUN: not mlir-opt %s 2>&1 | FileCheck %s --check-prefix=NODIALECT

// CHECK-LABEL: func.func @f
// CHECK: arith.constant dense<{{.*}}> : tensor<3x1x3xi64>
// CHECK: mrope.attention {{.*}} q_positions
// NOPASSES: 'mrope-print-allocation' does not refer to a registered pass
// NODIALECT: Dialect `mrope' not found for custom op 'mrope.position_ids'
func.func @f(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>, %v: tensor<1x2x3x8xf32>) -> (tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>) {
  %p, %d, %n = mrope.position_ids <mrope> [[text 1, image 1x1x2]] : tensor<3x1x3xi64>, tensor<1x1xi64>, tensor<1xi64>
  %f = mrope.inv_freq theta = 1.000000e+04 : tensor<4xf32>
  %a, %b = mrope.apply %q, %k positions(%p : tensor<3x1x3xi64>) freqs(%f : tensor<4xf32>) layout bhsd rotary <alloc = <contiguous, section = [2, 1, 1]>, rotary_dim = 8> : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>
  %o = mrope.attention %a, %b, %v layout bhsd : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf32>
  %r:2 = mrope.apply %q, %k positions(%p : tensor<3x1x3xi64>) freqs(%f : tensor<4xf32>) layout bhsd rotary <alloc = <contiguous, section = [2, 1, 1]>, rotary_dim = 8> : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>
  return %o, %r#0 : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>
}
