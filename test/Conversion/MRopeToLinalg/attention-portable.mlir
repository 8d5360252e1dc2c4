// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg=portable-attention=true | FileCheck %s
// RUN: mrope-opt %s -split-input-file --mrope-to-linalg-pipeline | FileCheck %s --check-prefix=PIPE

// The portable form of mrope.attention: whole-tensor linalg on tensors (what
// IREE compiles; values checked there: test/Integration/IREE/attention.test).
// q [B, Hq, S, D] is grouped as [B, Hkv, G, S, D]; the scores are one f32
// contraction over d with k indexed by the KV head; causal masking by index
// (bottom-right aligned: key t visible from row s if t <= s + T - S); the
// softmax by a max and a sum over the keys; the values by a second
// contraction, divided by the sum (0 for a row without keys) and rounded
// to the activation type; the groups collapse back to Hq heads.
// CHECK-DAG: #[[Q:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d5)>
// CHECK-DAG: #[[K:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4, d5)>
// CHECK-DAG: #[[V:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d5, d4)>
// CHECK-LABEL: func.func @gqa_causal
// CHECK-NOT: scf.
// CHECK: %[[Q5:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2], [3], [4]] output_shape [1, 2, 2, 8, 16] : tensor<1x4x8x16xbf16> into tensor<1x2x2x8x16xbf16>
// CHECK: %[[S:.*]] = linalg.generic {indexing_maps = [#[[Q]], #[[K]], {{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[Q5]], %{{.*}} : tensor<1x2x2x8x16xbf16>, tensor<1x2x8x16xbf16>) outs(%{{.*}} : tensor<1x2x2x8x8xf32>)
// CHECK: arith.extf
// CHECK: linalg.index 3
// CHECK: linalg.index 4
// CHECK: arith.cmpi sle
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: linalg.generic {indexing_maps = [#[[Q]], #[[V]], {{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]}
// CHECK: arith.divf
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0], [1, 2], [3], [4]] : tensor<1x2x2x8x16xbf16> into tensor<1x4x8x16xbf16>
// CHECK-NOT: scf.
// CHECK-NOT: vector.
// PIPE-LABEL: func.func @gqa_causal
// PIPE-NOT: mrope.
// PIPE-NOT: scf.
// PIPE-NOT: vector.
// PIPE: return
func.func @gqa_causal(%q: tensor<1x4x8x16xbf16>, %k: tensor<1x2x8x16xbf16>, %v: tensor<1x2x8x16xbf16>) -> tensor<1x4x8x16xbf16> {
  %o = mrope.attention %q, %k, %v layout bhsd causal : tensor<1x4x8x16xbf16>, tensor<1x2x8x16xbf16>, tensor<1x2x8x16xbf16> -> tensor<1x4x8x16xbf16>
  return %o : tensor<1x4x8x16xbf16>
}

// -----

// bshd is transposed to bhsd and back; a rotary prologue is mrope.apply
// first (the portable rotary); a shared mask broadcasts over the heads.
// CHECK: #[[MASK:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (0, 0, d3, d4)>
// CHECK-LABEL: func.func @bshd_rotary_mask
// CHECK: linalg.transpose ins(%{{.*}} : tensor<1x6x4x16xf32>) outs(%{{.*}} : tensor<1x4x6x16xf32>) permutation = [0, 2, 1, 3]
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[MASK]], #{{.*}}]
// CHECK: linalg.transpose ins(%{{.*}} : tensor<1x4x6x16xf32>) outs(%{{.*}} : tensor<1x6x4x16xf32>) permutation = [0, 2, 1, 3]
// PIPE-LABEL: func.func @bshd_rotary_mask
// PIPE-NOT: mrope.
// PIPE-NOT: scf.
// PIPE: return
func.func @bshd_rotary_mask(%q: tensor<1x6x4x16xf32>, %k: tensor<1x6x2x16xf32>, %v: tensor<1x6x2x16xf32>,
                            %m: tensor<1x1x6x6xf32>, %p: tensor<3x1x6xi64>) -> tensor<1x6x4x16xf32> {
  %f = mrope.inv_freq theta = 1.0e4 : tensor<8xf32>
  %o = mrope.attention %q, %k, %v mask(%m : tensor<1x1x6x6xf32>) q_positions(%p : tensor<3x1x6xi64>)
      k_positions(%p : tensor<3x1x6xi64>) freqs(%f : tensor<8xf32>) layout bshd
      rotary <alloc = <contiguous, section = [2, 3, 3]>, rotary_dim = 16>
      : tensor<1x6x4x16xf32>, tensor<1x6x2x16xf32>, tensor<1x6x2x16xf32> -> tensor<1x6x4x16xf32>
  return %o : tensor<1x6x4x16xf32>
}

// -----

// Dynamic batch and token counts (heads and head dims static): sizes from
// tensor.dim, the causal shift keys - queries computed once outside the
// generics.
// CHECK-LABEL: func.func @dynamic_tokens
// CHECK: tensor.expand_shape {{.*}} : tensor<?x4x?x16xf32> into tensor<?x2x2x?x16xf32>
// PIPE-LABEL: func.func @dynamic_tokens
// PIPE-DAG: %[[B:.*]] = tensor.dim %arg0, %c0 : tensor<?x4x?x16xf32>
// PIPE-DAG: %[[S:.*]] = tensor.dim %arg0, %c2 : tensor<?x4x?x16xf32>
// PIPE-DAG: %[[T:.*]] = tensor.dim %arg1, %c2 : tensor<?x2x?x16xf32>
// PIPE: tensor.expand_shape %arg0 {{.*}} output_shape [%[[B]], 2, 2, %[[S]], 16] : tensor<?x4x?x16xf32> into tensor<?x2x2x?x16xf32>
// PIPE: %[[SHIFT:.*]] = affine.apply #{{.*}}()[%[[T]], %[[S]]]
// PIPE: linalg.index 3
// PIPE: arith.addi %{{.*}}, %[[SHIFT]] : index
// PIPE-NOT: mrope.
// PIPE-NOT: scf.
// PIPE: return
func.func @dynamic_tokens(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>, %v: tensor<?x2x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %o = mrope.attention %q, %k, %v layout bhsd causal : tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32> -> tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}
