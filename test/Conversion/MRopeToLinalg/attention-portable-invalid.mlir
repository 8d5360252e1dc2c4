// RUN: mrope-opt %s --mrope-to-linalg-pipeline -verify-diagnostics -o /dev/null

// Packed sequences have no portable form yet: a diagnostic, not a crash.
func.func @packed(%q: tensor<8x4x16xf32>, %k: tensor<8x2x16xf32>, %cu: tensor<3xi32>) -> tensor<8x4x16xf32> {
  // expected-error @+1 {{'mrope.attention' with packed (thd) sequences has no portable lowering yet (mrope-cpu-pipeline lowers it)}}
  %o = mrope.attention %q, %k, %k cu_seqlens(%cu : tensor<3xi32>) layout thd causal : tensor<8x4x16xf32>, tensor<8x2x16xf32>, tensor<8x2x16xf32> -> tensor<8x4x16xf32>
  return %o : tensor<8x4x16xf32>
}
