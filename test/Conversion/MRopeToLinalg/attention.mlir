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
// CHECK: %[[DOT:.*]] = vector.reduction <add>, %{{.*}} fastmath<reassoc>
// CHECK: %[[S:.*]] = arith.mulf %[[DOT]], %[[SCALE]] : f32
// CHECK: arith.select %[[VALID]], %[[S]], %[[NEGINF]] : f32
// CHECK: vector.transfer_read %arg2[%[[B]], %[[KVH]], %[[AT]], %{{.*}}]
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
