// RUN: mrope-opt %s -split-input-file --mrope-to-linalg-pipeline -verify-diagnostics -o /dev/null

// A paged cache is gathered into the sequences' page slots, B x M x P
// rows: the block table's shape must be known.
func.func @paged_dynamic_table(%q: tensor<2x4x16xf32>, %k: tensor<12x2x16xf32>, %cu: tensor<3xi32>, %kcu: tensor<3xi32>, %t: tensor<2x?xi32>) -> tensor<2x4x16xf32> {
  // expected-error @+1 {{'mrope.attention' needs static head counts, head dims, mask batch/head sizes and block_table shape in the portable form}}
  %o = mrope.attention %q, %k, %k cu_seqlens(%cu : tensor<3xi32>) kv_cu_seqlens(%kcu : tensor<3xi32>) block_table(%t : tensor<2x?xi32>) page_size 4 layout thd causal : tensor<2x4x16xf32>, tensor<12x2x16xf32>, tensor<12x2x16xf32> -> tensor<2x4x16xf32>
  return %o : tensor<2x4x16xf32>
}

// -----

func.func @dynamic_heads(%q: tensor<1x?x8x16xf32>, %k: tensor<1x2x8x16xf32>) -> tensor<1x?x8x16xf32> {
  // expected-error @+1 {{'mrope.attention' needs static head counts, head dims, mask batch/head sizes and block_table shape in the portable form}}
  %o = mrope.attention %q, %k, %k layout bhsd : tensor<1x?x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x?x8x16xf32>
  return %o : tensor<1x?x8x16xf32>
}

// -----

// Whether a mask broadcasts over the heads is read from its type.
func.func @dynamic_mask_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %m: tensor<1x?x8x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'mrope.attention' needs static head counts, head dims, mask batch/head sizes and block_table shape in the portable form}}
  %o = mrope.attention %q, %k, %k mask(%m : tensor<1x?x8x8xf32>) layout bhsd : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x4x8x16xf32>
  return %o : tensor<1x4x8x16xf32>
}
