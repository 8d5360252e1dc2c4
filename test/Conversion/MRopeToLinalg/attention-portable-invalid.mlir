// RUN: mrope-opt %s -split-input-file --mrope-to-linalg-pipeline -verify-diagnostics -o /dev/null

// Packed sequences have no portable form yet: a diagnostic, not a crash.
func.func @packed(%q: tensor<8x4x16xf32>, %k: tensor<8x2x16xf32>, %cu: tensor<3xi32>) -> tensor<8x4x16xf32> {
  // expected-error @+1 {{'mrope.attention' with packed (thd) sequences has no portable lowering yet (mrope-cpu-pipeline lowers it)}}
  %o = mrope.attention %q, %k, %k cu_seqlens(%cu : tensor<3xi32>) layout thd causal : tensor<8x4x16xf32>, tensor<8x2x16xf32>, tensor<8x2x16xf32> -> tensor<8x4x16xf32>
  return %o : tensor<8x4x16xf32>
}

// -----

func.func @dynamic_heads(%q: tensor<1x?x8x16xf32>, %k: tensor<1x2x8x16xf32>) -> tensor<1x?x8x16xf32> {
  // expected-error @+1 {{'mrope.attention' needs static head counts, head dims and mask batch/head sizes in the portable form}}
  %o = mrope.attention %q, %k, %k layout bhsd : tensor<1x?x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x?x8x16xf32>
  return %o : tensor<1x?x8x16xf32>
}

// -----

// Whether a mask broadcasts over the heads is read from its type.
func.func @dynamic_mask_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %m: tensor<1x?x8x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'mrope.attention' needs static head counts, head dims and mask batch/head sizes in the portable form}}
  %o = mrope.attention %q, %k, %k mask(%m : tensor<1x?x8x8xf32>) layout bhsd : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x4x8x16xf32>
  return %o : tensor<1x4x8x16xf32>
}
