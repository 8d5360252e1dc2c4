// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg=portable-attention=true | FileCheck %s
// RUN: mrope-opt %s -split-input-file --mrope-to-linalg-pipeline | FileCheck %s --check-prefix=PIPE

// Packed (thd) sequences in the portable form (values checked through the
// CPU pipeline in python/tests/test_attention.py and through IREE in
// test/Integration/IREE/attention.test). Each query token's key range comes
// from a reduction over the sequences (cu_seqlens without its last
// boundary as the loop dimension): an argmax of the sequences that hold the
// token (sle/slt against the clamped boundaries, sgt against the kept
// sequence: the last one wins in any reduction order), carrying its keys and
// the end of its queries; causal masking then cuts each range's end. q, k, v
// become one bshd sequence [1, T, H, D]; the logits keep the keys in the
// token's range and set the others to -inf.
// CHECK-LABEL: func.func @varlen_causal
// CHECK: %[[STARTS:.*]] = tensor.extract_slice %arg2[0] [2] [1] : tensor<3xi32> to tensor<2xi32>
// CHECK: %[[R:.*]]:4 = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[STARTS]] : tensor<2xi32>) outs({{.*}} : tensor<8xi64>, tensor<8xi64>, tensor<8xi64>, tensor<8xi64>)
// CHECK: arith.cmpi sle
// CHECK: arith.cmpi slt
// CHECK: arith.cmpi sgt
// CHECK-COUNT-4: arith.select
// CHECK: linalg.yield
// CHECK: %[[END:.*]] = linalg.generic {{.*}} iterator_types = ["parallel"]} ins(%[[R]]#1, %[[R]]#2, %[[R]]#3 : tensor<8xi64>, tensor<8xi64>, tensor<8xi64>)
// CHECK: arith.minsi
// CHECK: arith.maxsi
// CHECK: tensor.expand_shape %arg0 {{\[\[}}0, 1], [2], [3]] output_shape [1, 8, 4, 16] : tensor<8x4x16xf32> into tensor<1x8x4x16xf32>
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[R]]#1, %[[END]] : tensor<1x2x2x8x8xf32>, tensor<8xi64>, tensor<8xi64>)
// CHECK: %[[T:.*]] = linalg.index 4 : index
// CHECK: %[[T64:.*]] = arith.index_cast %[[T]] : index to i64
// CHECK: %[[FROM:.*]] = arith.cmpi sle, %{{.*}}, %[[T64]] : i64
// CHECK: %[[BELOW:.*]] = arith.cmpi slt, %[[T64]], %{{.*}} : i64
// CHECK: %[[VISIBLE:.*]] = arith.andi %[[FROM]], %[[BELOW]] : i1
// CHECK: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: arith.select %[[VISIBLE]], %{{.*}}, %[[NEGINF]] : f32
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2], [3]] : tensor<1x8x4x16xf32> into tensor<8x4x16xf32>
// PIPE-LABEL: func.func @varlen_causal
// PIPE-NOT: mrope.
// PIPE-NOT: scf.
// PIPE-NOT: vector.
// PIPE: return
func.func @varlen_causal(%q: tensor<8x4x16xf32>, %k: tensor<8x2x16xf32>, %cu: tensor<3xi32>) -> tensor<8x4x16xf32> {
  %o = mrope.attention %q, %k, %k cu_seqlens(%cu : tensor<3xi32>) layout thd causal : tensor<8x4x16xf32>, tensor<8x2x16xf32>, tensor<8x2x16xf32> -> tensor<8x4x16xf32>
  return %o : tensor<8x4x16xf32>
}

// -----

// Without causal masking the reduction's key range is used as it is; with
// kv_cu_seqlens the keys are their own tokens (clamped to k's 20 rows).
// CHECK-LABEL: func.func @own_keys
// CHECK: %[[KEYS:.*]] = arith.constant 20 : i64
// CHECK: %[[R:.*]]:4 = linalg.generic
// CHECK: arith.minsi %{{.*}}, %[[KEYS]] : i64
// CHECK: linalg.yield
// CHECK-NOT: iterator_types = ["parallel"]}
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[R]]#1, %[[R]]#2 : tensor<1x1x4x3x20xf32>, tensor<3xi64>, tensor<3xi64>)
func.func @own_keys(%q: tensor<3x4x16xf32>, %k: tensor<20x1x16xf32>, %cu: tensor<4xi32>, %kcu: tensor<4xi64>) -> tensor<3x4x16xf32> {
  %o = mrope.attention %q, %k, %k cu_seqlens(%cu : tensor<4xi32>) kv_cu_seqlens(%kcu : tensor<4xi64>) layout thd : tensor<3x4x16xf32>, tensor<20x1x16xf32>, tensor<20x1x16xf32> -> tensor<3x4x16xf32>
  return %o : tensor<3x4x16xf32>
}

// -----

// Dynamic token and sequence counts: the sequences are cu_seqlens' size - 1,
// the clamping bounds k's and q's token counts.
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[CU:.*]] = tensor.dim %arg2, %{{.*}} : tensor<?xi32>
// CHECK: %[[N:.*]] = affine.apply #{{.*}}()[%[[CU]]]
// CHECK: tensor.extract_slice %arg2[0] [%[[N]]] [1] : tensor<?xi32> to tensor<?xi32>
// CHECK: tensor.collapse_shape %{{.*}} : tensor<1x?x4x16xf32> into tensor<?x4x16xf32>
// PIPE-LABEL: func.func @dynamic
// PIPE-NOT: mrope.
// PIPE-NOT: scf.
// PIPE: return
func.func @dynamic(%q: tensor<?x4x16xf32>, %k: tensor<?x2x16xf32>, %cu: tensor<?xi32>, %kcu: tensor<?xi32>) -> tensor<?x4x16xf32> {
  %o = mrope.attention %q, %k, %k cu_seqlens(%cu : tensor<?xi32>) kv_cu_seqlens(%kcu : tensor<?xi32>) layout thd causal : tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32> -> tensor<?x4x16xf32>
  return %o : tensor<?x4x16xf32>
}

// -----

// A paged cache: k and v gathered into the key space's rows (2 sequences x
// 2 pages x 4 keys = 16) through block_table, the page ids clamped to the
// pool's 3 pages; sequence n's keys start at row n * 8.
// CHECK-LABEL: func.func @paged
// CHECK: %[[KG:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<16x2x16xf32>)
// CHECK: tensor.extract %arg5[%{{.*}}, %{{.*}}] : tensor<2x2xi32>
// CHECK: %[[LAST:.*]] = arith.constant 2 : index
// CHECK: arith.minsi %{{.*}}, %[[LAST]] : index
// CHECK: tensor.extract %arg1[%{{.*}}, %{{.*}}, %{{.*}}] : tensor<12x2x16xf32>
// CHECK: %[[VG:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<16x2x16xf32>)
// CHECK: tensor.extract %arg2[%{{.*}}, %{{.*}}, %{{.*}}] : tensor<12x2x16xf32>
// CHECK: %[[R:.*]]:4 = linalg.generic
// CHECK: arith.muli %{{.*}}, %c8 : index
// CHECK: tensor.expand_shape %[[KG]] {{\[\[}}0, 1], [2], [3]] output_shape [1, 16, 2, 16]
// CHECK: tensor.expand_shape %[[VG]] {{\[\[}}0, 1], [2], [3]] output_shape [1, 16, 2, 16]
func.func @paged(%q: tensor<2x4x16xf32>, %k: tensor<12x2x16xf32>, %v: tensor<12x2x16xf32>, %cu: tensor<3xi32>, %kcu: tensor<3xi32>, %t: tensor<2x2xi32>) -> tensor<2x4x16xf32> {
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi32>) kv_cu_seqlens(%kcu : tensor<3xi32>) block_table(%t : tensor<2x2xi32>) page_size 4 layout thd causal : tensor<2x4x16xf32>, tensor<12x2x16xf32>, tensor<12x2x16xf32> -> tensor<2x4x16xf32>
  return %o : tensor<2x4x16xf32>
}
