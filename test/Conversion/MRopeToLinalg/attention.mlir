// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg | FileCheck %s

// Online softmax: one scf.forall over (batch, query head, query token); per
// row a loop over its keys, 8 at a time, carrying the running max, the
// running sum and the f32 accumulator row. GQA: query head h reads KV head
// h / 2. Causal, bottom-right aligned: row i sees keys [0, min(i + Skv - Sq
// + 1, Skv)); block slots past the end re-read the last key with score
// -inf. bf16 rows are widened after the load; the result is narrowed once.
// The weights' exp is arithmetic on a vector<8xf32> (no math.exp left).
// CHECK-LABEL: func.func @gqa_causal
// CHECK: scf.forall (%[[B:.*]], %[[H:.*]], %[[I:.*]]) in (1, 4, 6)
// CHECK: %[[QROW:.*]] = vector.transfer_read %arg0[%[[B]], %[[H]], %[[I]], %{{[a-z0-9_]+}}]{{.*}}: tensor<1x4x6x8xbf16>, vector<8xbf16>
// CHECK: %[[Q:.*]] = arith.extf %[[QROW]] : vector<8xbf16> to vector<8xf32>
// CHECK: %[[KVH:.*]] = arith.divui %[[H]], %c2
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 0.353553385 : f32
// CHECK-DAG: %[[LOWEST:.*]] = arith.constant -3.40282347E+38 : f32
// CHECK-DAG: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: %[[R:.*]]:3 = scf.for %[[J:.*]] = %{{.*}} to %[[END:.*]] step %c8 iter_args(%[[M:.*]] = %[[LOWEST]], %[[L:.*]] = %{{.*}}, %[[ACC:.*]] = %{{.*}}) -> (f32, f32, vector<8xf32>)
// CHECK: %[[KEY:.*]] = arith.addi %[[J]]
// CHECK: %[[VALID:.*]] = arith.cmpi slt, %[[KEY]], %[[END]]
// CHECK: %[[AT:.*]] = arith.minsi %[[KEY]]
// CHECK: vector.transfer_read %arg1[%[[B]], %[[KVH]], %[[AT]], %{{.*}}]
// CHECK: %[[P0:.*]] = arith.mulf %[[Q]], %{{.*}} : vector<8xf32>
// CHECK: vector.transfer_read %arg2[%[[B]], %[[KVH]], %[[AT]], %{{.*}}]
// CHECK: %[[P1:.*]] = arith.mulf %[[Q]], %{{.*}} : vector<8xf32>
// The 8 keys' products summed by one transpose-reduction (even + odd lanes
// of adjacent vectors, three times): no horizontal sum per key.
// CHECK: %[[E01:.*]] = vector.shuffle %[[P0]], %[[P1]] [0, 2, 4, 6, 8, 10, 12, 14]
// CHECK: %[[O01:.*]] = vector.shuffle %[[P0]], %[[P1]] [1, 3, 5, 7, 9, 11, 13, 15]
// CHECK: arith.addf %[[E01]], %[[O01]] : vector<8xf32>
// CHECK-NOT: vector.reduction <add>
// CHECK-COUNT-6: arith.addf {{.*}} : vector<8xf32>
// CHECK-NOT: vector.reduction <add>
// CHECK: %[[DOT:.*]] = vector.extract %{{.*}}[0] : f32 from vector<8xf32>
// CHECK: %[[S:.*]] = arith.mulf %[[DOT]], %[[SCALE]] : f32
// CHECK: arith.select %[[VALID]], %[[S]], %[[NEGINF]] : f32
// CHECK: %[[BLOCK:.*]] = vector.from_elements {{.*}} : vector<8xf32>
// CHECK: %[[BMAX:.*]] = vector.reduction <maximumf>, %[[BLOCK]]
// CHECK: %[[MNEW:.*]] = arith.maximumf %[[M]], %[[BMAX]] : f32
// CHECK-NOT: math.exp
// CHECK: vector.fma
// CHECK: scf.yield %[[MNEW]]
// CHECK: arith.divf %[[R]]#2
// CHECK: arith.truncf {{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: tensor.parallel_insert_slice {{.*}} into %{{.*}}[%[[B]], %[[H]], %[[I]], %{{.*}}] [1, 1, 1, 8]
func.func @gqa_causal(%q: tensor<1x4x6x8xbf16>, %k: tensor<1x2x6x8xbf16>, %v: tensor<1x2x6x8xbf16>) -> tensor<1x4x6x8xbf16> {
  %0 = mrope.attention %q, %k, %v layout bhsd causal : tensor<1x4x6x8xbf16>, tensor<1x2x6x8xbf16>, tensor<1x2x6x8xbf16> -> tensor<1x4x6x8xbf16>
  return %0 : tensor<1x4x6x8xbf16>
}

// -----

// Packed varlen: the row's sequence [cu[n], cu[n+1]) is found by a loop
// over cu_seqlens; an explicit scale replaces 1/sqrt(D).
// CHECK-LABEL: func.func @varlen
// CHECK: scf.forall (%[[T:.*]], %[[H:.*]]) in (7, 2)
// CHECK: %[[SEQ:.*]]:2 = scf.for {{.*}} iter_args
// CHECK: tensor.extract %arg3
// CHECK: arith.cmpi ule
// CHECK: arith.cmpi ult
// CHECK: arith.constant 2.500000e-01 : f32
// CHECK: scf.for %{{.*}} = %[[SEQ]]#0 to %[[SEQ]]#1
func.func @varlen(%q: tensor<7x2x8xf32>, %k: tensor<7x2x8xf32>, %v: tensor<7x2x8xf32>, %cu: tensor<3xi32>) -> tensor<7x2x8xf32> {
  %0 = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi32>) layout thd scale 2.500000e-01 : tensor<7x2x8xf32>, tensor<7x2x8xf32>, tensor<7x2x8xf32> -> tensor<7x2x8xf32>
  return %0 : tensor<7x2x8xf32>
}

// -----

// A rotary prologue is lowered as mrope.apply on q and k first (one pass
// that rotates every K row once), then the same loops read the rotated q/k.
// (1.25e2: SLEEF's Cody-Waite range in the cos/sin arithmetic.)
// CHECK-LABEL: func.func @prologue
// CHECK: arith.constant 1.250000e+02
// CHECK: scf.forall
// CHECK-NOT: arith.constant 1.250000e+02
// CHECK: return
func.func @prologue(%q: tensor<1x4x6x8xf32>, %k: tensor<1x2x6x8xf32>, %v: tensor<1x2x6x8xf32>, %p: tensor<3x1x6xi64>, %f: tensor<4xf32>) -> tensor<1x4x6x8xf32> {
  %0 = mrope.attention %q, %k, %v q_positions(%p : tensor<3x1x6xi64>) k_positions(%p : tensor<3x1x6xi64>) freqs(%f : tensor<4xf32>) layout bhsd rotary <alloc = <contiguous, section = [2, 1, 1]>, rotary_dim = 8> causal : tensor<1x4x6x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32> -> tensor<1x4x6x8xf32>
  return %0 : tensor<1x4x6x8xf32>
}

// -----

// Keys and values read by at least 16 query rows (here 2 x 8) are widened
// to f32 once, before the loops, and read as f32 rows; the queries stay
// bf16. head_dim 32: each key's products are two 16-lane chunks (an FMA).
// CHECK-LABEL: func.func @widened_keys
// CHECK: %[[KW:.*]] = linalg.generic {{.*}} ins(%arg1 : tensor<1x2x8x32xbf16>) outs(%{{.*}} : tensor<1x2x8x32xf32>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: %[[VW:.*]] = linalg.generic {{.*}} ins(%arg2 : tensor<1x2x8x32xbf16>) outs(%{{.*}} : tensor<1x2x8x32xf32>)
// CHECK: scf.forall
// CHECK: vector.transfer_read %arg0{{.*}} : tensor<1x4x8x32xbf16>, vector<32xbf16>
// CHECK: scf.for
// CHECK: %[[KROW:.*]] = vector.transfer_read %[[KW]]{{.*}} : tensor<1x2x8x32xf32>, vector<32xf32>
// CHECK: vector.extract_strided_slice %[[KROW]] {offsets = [16], sizes = [16], strides = [1]}
// CHECK: vector.fma {{.*}} : vector<16xf32>
// CHECK: vector.transfer_read %[[VW]]{{.*}} : tensor<1x2x8x32xf32>, vector<32xf32>
func.func @widened_keys(%q: tensor<1x4x8x32xbf16>, %k: tensor<1x2x8x32xbf16>, %v: tensor<1x2x8x32xbf16>) -> tensor<1x4x8x32xbf16> {
  %0 = mrope.attention %q, %k, %v layout bhsd : tensor<1x4x8x32xbf16>, tensor<1x2x8x32xbf16>, tensor<1x2x8x32xbf16> -> tensor<1x4x8x32xbf16>
  return %0 : tensor<1x4x8x32xbf16>
}
