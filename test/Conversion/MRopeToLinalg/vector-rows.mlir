// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg=vector-rows=true --cse | FileCheck %s
// RUN: mrope-opt %s -split-input-file '--convert-mrope-to-linalg=vector-rows=true vector-bits=128' --cse | FileCheck %s --check-prefix=CHUNK
// RUN: mrope-opt %s -split-input-file '--convert-mrope-to-linalg=vector-rows=true fast-sin-cos=true' --cse | FileCheck %s --check-prefix=FAST

// fast-sin-cos: one reduction by pi/2 (k = roundeven(angle * 2/pi), three
// FMAs with the words of pi/2), two polynomials, the quadrant as selects --
// none of SLEEF's constants or branches.
// FAST-LABEL: func.func @contiguous
// FAST: %[[A:.+]] = arith.mulf %{{.+}}, %{{.+}} : vector<8xf32>
// FAST-NOT: scf.if
// FAST-NOT: 1.250000e+02
// FAST: %[[K:.+]] = math.roundeven %{{.+}} : vector<8xf32>
// FAST: %[[NK:.+]] = arith.negf %[[K]] : vector<8xf32>
// FAST: %[[R1:.+]] = math.fma %[[NK]], %{{.+}}, %[[A]] : vector<8xf32>
// FAST-NOT: scf.if
// FAST: arith.truncf %{{.+}} : vector<8xf32> to vector<8xbf16>

// The CPU form of mrope.apply: one scf.forall over tokens with q and k as
// shared outputs. Per token, the angles of all pairs are one vector: the T, H
// and W positions broadcast and chosen per pair by constant masks of the
// allocation (contiguous [2, 3, 3]: pairs 0-1 T, 2-4 H, 5-7 W), times
// inv_freq; cos/sin are taken once, in arithmetic only (SLEEF's sin/cos as
// PyTorch computes them -- Cody-Waite below 125 rad, Payne-Hanek above --
// and a short polynomial for angles past 2^26; no libm call), and rounded
// to bf16 once, then every head is rotated from one vector read of its row.
// No angle table is built.
// CHECK-LABEL: func.func @contiguous
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x2x5x16xbf16>, %[[K:[a-z0-9]+]]: tensor<1x1x5x16xbf16>, %[[POS:[a-z0-9]+]]: tensor<3x1x5xi64>, %[[F:[a-z0-9]+]]: tensor<8xf32>
// CHECK-NOT: tensor.empty
// CHECK-NOT: linalg.
// CHECK: %[[FREQ:.+]] = vector.transfer_read %[[F]]{{.*}} : tensor<8xf32>, vector<8xf32>
// CHECK: scf.forall (%[[B:.+]], %[[S:.+]]) in (1, 5) shared_outs(%[[QO:.+]] = %[[Q]], %[[KO:.+]] = %[[K]])
// CHECK: tensor.extract %[[POS]][%{{.+}}, %[[B]], %[[S]]] : tensor<3x1x5xi64>
// CHECK: arith.constant dense<[false, false, false, false, false, true, true, true]> : vector<8xi1>
// CHECK: arith.constant dense<[false, false, true, true, true, false, false, false]> : vector<8xi1>
// CHECK: arith.constant dense<[true, true, false, false, false, false, false, false]> : vector<8xi1>
// CHECK: %[[P:.+]] = arith.select
// CHECK: %[[A:.+]] = arith.mulf %[[P]], %[[FREQ]] : vector<8xf32>
// Cody-Waite reduction for every lane; the Payne-Hanek one (1/(2 pi) in
// four words, 0.159154892 first) only when some lane is at 125 rad or more:
// CHECK: %[[RANGE:.+]] = arith.constant dense<1.250000e+02> : vector<8xf32>
// CHECK: %[[SMALL:.+]] = arith.cmpf olt, %{{.+}}, %[[RANGE]] : vector<8xf32>
// CHECK: math.roundeven
// CHECK: %[[ALLSMALL:.+]] = vector.reduction <and>, %[[SMALL]] : vector<8xi1> into i1
// CHECK: scf.if %[[ALLSMALL]] -> (vector<8xf32>, vector<8xf32>, vector<8xi32>, vector<8xf32>, vector<8xf32>, vector<8xi32>)
// CHECK: } else {
// CHECK: arith.constant dense<0.159154892> : vector<8xf32>
// and the short polynomial only past 2^26 rad:
// CHECK: %[[ABS:.+]] = math.absf %[[A]] : vector<8xf32>
// CHECK: %[[LIMIT:.+]] = arith.constant dense<0x4C800000> : vector<8xf32>
// CHECK: %[[INRANGE:.+]] = arith.cmpf olt, %[[ABS]], %[[LIMIT]] : vector<8xf32>
// CHECK: %[[ALLIN:.+]] = vector.reduction <and>, %[[INRANGE]] : vector<8xi1> into i1
// CHECK: %[[CS:.+]]:2 = scf.if %[[ALLIN]] -> (vector<8xf32>, vector<8xf32>)
// CHECK: } else {
// CHECK: arith.select %[[INRANGE]]
// CHECK-NOT: math.sincos
// CHECK-NOT: math.sin
// CHECK-NOT: math.cos
// CHECK: %[[QROWS:.+]] = tensor.extract_slice %[[QO]][%[[B]], 0, %[[S]], 0] [1, 2, 1, 16] [1, 1, 1, 1] : tensor<1x2x5x16xbf16> to tensor<2x16xbf16>
// CHECK: %[[C:.+]] = arith.truncf %[[CS]]#0 : vector<8xf32> to vector<8xbf16>
// CHECK: %[[SN:.+]] = arith.truncf %[[CS]]#1 : vector<8xf32> to vector<8xbf16>
// The rounded cos/sin are widened once per token, outside the loop over heads.
// CHECK: %[[CW:.+]] = arith.extf %[[C]] : vector<8xbf16> to vector<8xf32>
// CHECK: arith.extf %[[SN]] : vector<8xbf16> to vector<8xf32>
// CHECK: %[[QR:.+]] = scf.for %[[H:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[ROWS:.+]] = %[[QROWS]])
// The two NeoX halves are read as vectors and widened right after the load
// (so the only bf16 vectors are loaded and stored, never split or shuffled).
// CHECK: %[[X1B:.+]] = vector.transfer_read %[[ROWS]][%[[H]], %[[C0:[a-z0-9_]+]]]{{.*}} : tensor<2x16xbf16>, vector<8xbf16>
// CHECK: %[[X1:.+]] = arith.extf %[[X1B]] : vector<8xbf16> to vector<8xf32>
// CHECK: %[[X2B:.+]] = vector.transfer_read %[[ROWS]][%[[H]], %[[C8:[a-z0-9_]+]]]{{.*}} : tensor<2x16xbf16>, vector<8xbf16>
// CHECK: %[[X2:.+]] = arith.extf %[[X2B]] : vector<8xbf16> to vector<8xf32>
// CHECK-NOT: arith.negf
// bf16 arithmetic written as f32 ops, each rounded to bf16 precision in the
// f32 lanes by round-to-nearest-even on the bits (+0x7fff + lsb, keep the
// high half): the reference's bits, with no bf16 arithmetic left for LLVM to
// legalize and no narrowing between the ops.
// CHECK-NOT: arith.extf %[[C]]
// CHECK: %[[X1C:.+]] = arith.mulf %[[X1]], %[[CW]] : vector<8xf32>
// CHECK: %[[X1CB:.+]] = arith.bitcast %[[X1C]] : vector<8xf32> to vector<8xi32>
// CHECK: %[[SHIFTED:.+]] = arith.shrui %[[X1CB]], %{{.+}} : vector<8xi32>
// CHECK: %[[LSB:.+]] = arith.andi %[[SHIFTED]], %{{.+}} : vector<8xi32>
// CHECK: %[[HALFUP:.+]] = arith.addi %[[X1CB]], %{{.+}} : vector<8xi32>
// CHECK: %[[BIASED:.+]] = arith.addi %[[HALFUP]], %[[LSB]] : vector<8xi32>
// CHECK: %[[KEPT:.+]] = arith.andi %[[BIASED]], %{{.+}} : vector<8xi32>
// CHECK: arith.bitcast %[[KEPT]] : vector<8xi32> to vector<8xf32>
// CHECK-NOT: arith.truncf {{.*}} to vector<8xbf16>
// CHECK: %[[Y1:.+]] = arith.subf %{{.+}}, %{{.+}} : vector<8xf32>
// CHECK: arith.bitcast %[[Y1]] : vector<8xf32> to vector<8xi32>
// CHECK: %[[Y2:.+]] = arith.addf %{{.+}}, %{{.+}} : vector<8xf32>
// CHECK: arith.bitcast %[[Y2]] : vector<8xf32> to vector<8xi32>
// CHECK-NOT: arith.mulf {{.*}} : vector<8xbf16>
// The results hold bf16 values in f32: narrowed by keeping the high halves,
// without a second rounding, and written back to the halves they came from.
// CHECK: %[[BITS:.+]] = arith.bitcast %{{.+}} : vector<8xf32> to vector<8xi32>
// CHECK: %[[HIGH:.+]] = arith.shrui %[[BITS]], %{{.+}} : vector<8xi32>
// CHECK: %[[HALF:.+]] = arith.trunci %[[HIGH]] : vector<8xi32> to vector<8xi16>
// CHECK: %[[OUT1:.+]] = arith.bitcast %[[HALF]] : vector<8xi16> to vector<8xbf16>
// CHECK: %[[W1:.+]] = vector.transfer_write %[[OUT1]], %[[ROWS]][%[[H]], %[[C0]]] {in_bounds = [true]} : vector<8xbf16>, tensor<2x16xbf16>
// CHECK: vector.transfer_write %{{.+}}, %[[W1]][%[[H]], %[[C8]]] {in_bounds = [true]} : vector<8xbf16>, tensor<2x16xbf16>
// CHECK: %[[KR:.+]] = scf.for
// CHECK-NOT: math.sincos
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %[[QR]] into %[[QO]][%[[B]], 0, %[[S]], 0] [1, 2, 1, 16] [1, 1, 1, 1]
// CHECK-NEXT: tensor.parallel_insert_slice %[[KR]] into %[[KO]][%[[B]], 0, %[[S]], 0] [1, 1, 1, 16] [1, 1, 1, 1]
// With vector-bits=128 (4 f32 lanes) a row's 8 pairs are rotated in two
// chunks of 4, one loop over the heads per chunk, each reading its chunk's
// cos/sin and the matching channels of both halves.
// CHUNK-LABEL: func.func @contiguous
// CHUNK: math.roundeven %{{.+}} : vector<8xf32>
// CHUNK: %[[CW:.+]] = arith.extf %{{.+}} : vector<8xbf16> to vector<8xf32>
// CHUNK: %[[SW:.+]] = arith.extf %{{.+}} : vector<8xbf16> to vector<8xf32>
// CHUNK: %[[C0:.+]] = vector.extract_strided_slice %[[CW]] {offsets = [0], sizes = [4], strides = [1]} : vector<8xf32> to vector<4xf32>
// CHUNK: scf.for
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c0]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c8]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: arith.mulf %{{.+}}, %[[C0]] : vector<4xf32>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c0] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c8] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
// CHUNK: %[[C4:.+]] = vector.extract_strided_slice %[[CW]] {offsets = [4], sizes = [4], strides = [1]} : vector<8xf32> to vector<4xf32>
// CHUNK: scf.for
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c4]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c12]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: arith.mulf %{{.+}}, %[[C4]] : vector<4xf32>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c4] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c12] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
func.func @contiguous(%q: tensor<1x2x5x16xbf16>, %k: tensor<1x1x5x16xbf16>, %pos: tensor<3x1x5xi64>, %f: tensor<8xf32>) -> (tensor<1x2x5x16xbf16>, tensor<1x1x5x16xbf16>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x5xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <contiguous, section = [2, 3, 3]>, rotary_dim = 16> : tensor<1x2x5x16xbf16>, tensor<1x1x5x16xbf16>
  return %a, %b : tensor<1x2x5x16xbf16>, tensor<1x1x5x16xbf16>
}

// -----

// Vanilla: every pair on T, so no select; packed thd; GPT-J pairs split by
// deinterleave and joined by interleave; partial rotary reads and writes only
// the first 8 of 16 channels; f32 positions need no conversion; the
// attention scaling multiplies cos and sin; inverse negates sin.
// CHECK-LABEL: func.func @vanilla_gptj_partial
// CHECK: scf.forall (%[[T:.+]]) in (7)
// CHECK: %[[P:.+]] = tensor.extract %{{.+}}[%{{.+}}, %[[T]]] : tensor<3x7xf32>
// CHECK-NOT: arith.sitofp
// CHECK-NOT: arith.select
// CHECK: vector.broadcast %[[P]] : f32 to vector<4xf32>
// CHECK: math.roundeven
// CHECK: arith.constant dense<1.500000e+00> : vector<4xf32>
// The inverse negates sin once per token, outside the loop over heads.
// CHECK: arith.negf {{.*}} : vector<4xf32>
// CHECK: scf.for
// CHECK: vector.transfer_read {{.*}} : tensor<4x16xf32>, vector<8xf32>
// CHECK: vector.deinterleave {{.*}} : vector<8xf32> -> vector<4xf32>
// CHECK-NOT: arith.negf
// CHECK: vector.interleave {{.*}} : vector<4xf32> -> vector<8xf32>
// CHECK: vector.transfer_write {{.*}} : vector<8xf32>, tensor<4x16xf32>
func.func @vanilla_gptj_partial(%q: tensor<7x4x16xf32>, %k: tensor<7x2x16xf32>, %pos: tensor<3x7xf32>, %f: tensor<4xf32>) -> (tensor<7x4x16xf32>, tensor<7x2x16xf32>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x7xf32>) freqs(%f : tensor<4xf32>) layout thd rotary <alloc = <vanilla>, pairs = gptj, rotary_dim = 8, attention_scaling = 1.5> inverse : tensor<7x4x16xf32>, tensor<7x2x16xf32>
  return %a, %b : tensor<7x4x16xf32>, tensor<7x2x16xf32>
}

// -----

// MHRoPE [1, 1, 1] on 4 KV heads, 8 query heads: one cos/sin per head block
// (T, H, W, and angle 0 for the NoPE head 3), each rotating its own range of
// heads: query heads 2b..2b+1, key head b.
// CHECK-LABEL: func.func @mhrope
// CHECK: scf.forall (%{{.+}}, %{{.+}}) in (1, 5)
// CHECK: %[[LIMIT:.+]] = arith.constant dense<0x4C800000> : vector<8xf32>
// CHECK-COUNT-4: arith.cmpf olt, %{{.+}}, %[[LIMIT]] : vector<8xf32>
// CHECK-NOT: arith.cmpf olt, %{{.+}}, %[[LIMIT]] : vector<8xf32>
// CHECK: scf.for %{{.+}} = %c0 to %c2 step
// CHECK: scf.for %{{.+}} = %c2 to %c4 step
// CHECK: scf.for %{{.+}} = %c4 to %c6 step
// CHECK: scf.for %{{.+}} = %c6 to %c8 step
// CHECK: scf.for %{{.+}} = %c0 to %c1 step
// CHECK: scf.for %{{.+}} = %c1 to %c2 step
// CHECK: scf.for %{{.+}} = %c2 to %c3 step
// CHECK: scf.for %{{.+}} = %c3 to %c4 step
// CHECK-NOT: scf.for %
func.func @mhrope(%q: tensor<1x5x8x16xf32>, %k: tensor<1x5x4x16xf32>, %pos: tensor<3x1x5xi64>, %f: tensor<8xf32>) -> (tensor<1x5x8x16xf32>, tensor<1x5x4x16xf32>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x5xi64>) freqs(%f : tensor<8xf32>) layout bshd rotary <alloc = <head_partitioned, section = [1, 1, 1]>, rotary_dim = 16> : tensor<1x5x8x16xf32>, tensor<1x5x4x16xf32>
  return %a, %b : tensor<1x5x8x16xf32>, tensor<1x5x4x16xf32>
}

// -----

// Dynamic batch, sequence and heads: the loops take their bounds from
// tensor.dim.
// CHECK-LABEL: func.func @dynamic
// CHECK: tensor.dim
// CHECK: scf.forall
// CHECK: scf.for
// CHECK-NOT: mrope.apply
func.func @dynamic(%q: tensor<?x?x?x16xf16>, %k: tensor<?x?x?x16xf16>, %pos: tensor<3x?x?xi32>, %f: tensor<8xf32>) -> (tensor<?x?x?x16xf16>, tensor<?x?x?x16xf16>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x?x?xi32>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 16> : tensor<?x?x?x16xf16>, tensor<?x?x?x16xf16>
  return %a, %b : tensor<?x?x?x16xf16>, tensor<?x?x?x16xf16>
}

// -----

// angles = exact on the vector form: the same reduction on the token's whole
// angle vector, then cos/sin of the reduced angle (the same SLEEF
// arithmetic) and the tail correction.
// CHECK-LABEL: func.func @exact_angles
// CHECK: scf.forall
// CHECK: %[[HI:.+]] = arith.mulf %{{.+}}, %{{.+}} : vector<8xf32>
// CHECK: math.fma %{{.+}}, %{{.+}}, %{{.+}} : vector<8xf32>
// CHECK: math.roundeven %{{.+}} : vector<8xf32>
// CHECK: %[[LIMIT:.+]] = arith.constant dense<0x4C800000> : vector<8xf32>
// CHECK: %[[INRANGE:.+]] = arith.cmpf olt, %{{.+}}, %[[LIMIT]] : vector<8xf32>
// CHECK: %[[CS:.+]]:2 = scf.if %{{.+}} -> (vector<8xf32>, vector<8xf32>)
// CHECK: math.fma %{{.+}}, %[[CS]]#1, %[[CS]]#0 : vector<8xf32>
// CHECK: math.fma %{{.+}}, %[[CS]]#0, %[[CS]]#1 : vector<8xf32>
// CHECK: scf.for
func.func @exact_angles(%q: tensor<1x2x5x16xf32>, %k: tensor<1x1x5x16xf32>, %pos: tensor<3x1x5xi64>, %f: tensor<8xf32>) -> (tensor<1x2x5x16xf32>, tensor<1x1x5x16xf32>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x5xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <contiguous, section = [2, 3, 3]>, rotary_dim = 16, angles = exact> : tensor<1x2x5x16xf32>, tensor<1x1x5x16xf32>
  return %a, %b : tensor<1x2x5x16xf32>, tensor<1x1x5x16xf32>
}
