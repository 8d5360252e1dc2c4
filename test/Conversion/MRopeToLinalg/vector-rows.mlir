// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg=vector-rows=true --cse | FileCheck %s
// RUN: mrope-opt %s -split-input-file '--convert-mrope-to-linalg=vector-rows=true vector-bits=128' --cse | FileCheck %s --check-prefix=CHUNK
// RUN: mrope-opt %s -split-input-file '--convert-mrope-to-linalg=vector-rows=true fast-sin-cos=true' --cse | FileCheck %s --check-prefix=FAST
// RUN: mrope-opt %s -split-input-file '--convert-mrope-to-linalg=vector-rows=true vector-bits=32' --cse | FileCheck %s --check-prefix=ONEPAIR

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

// The CPU form of mrope.apply: one scf.forall over tiles of tokens (256 by
// default) with q and k as shared outputs, and in a tile an scf.for over
// its tokens. cos/sin come from three sources, one per axis, each computing
// only its own pairs (contiguous [2, 3, 3]: pairs 0-1 T, 2-4 H, 5-7 W), so
// their inv_freq are packed once into one vector each (padded with 0).
// Per token and source: the previous token's cos/sin if the position bits
// are the same (not for the tile's first token), else the tile's slot
// cache (64 slots by a multiplicative hash of the bits; W positions repeat
// along every image row), else computed -- in arithmetic only (SLEEF's
// sin/cos as PyTorch computes them: Cody-Waite below 125 rad, Payne-Hanek
// above, and a short polynomial for angles past 2^26; no libm call),
// rounded to bf16 once and stored in the slot. The pair order is restored
// by constant shuffles, then every head is rotated from one vector read of
// its row. No angle table is built.
// CHECK-LABEL: func.func @contiguous
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x2x5x16xbf16>, %[[K:[a-z0-9]+]]: tensor<1x1x5x16xbf16>, %[[POS:[a-z0-9]+]]: tensor<3x1x5xi64>, %[[F:[a-z0-9]+]]: tensor<8xf32>
// CHECK-NOT: linalg.
// CHECK: %[[FREQ:.+]] = vector.transfer_read %[[F]]{{.*}} : tensor<8xf32>, vector<8xf32>
// CHECK: %[[FT:.+]] = vector.shuffle %[[FREQ]], %[[NOFREQ:.+]] [0, 1, 8, 8, 8, 8, 8, 8]
// CHECK: %[[FH:.+]] = vector.shuffle %[[FREQ]], %[[NOFREQ]] [2, 3, 4, 8, 8, 8, 8, 8]
// CHECK: %[[FW:.+]] = vector.shuffle %[[FREQ]], %[[NOFREQ]] [5, 6, 7, 8, 8, 8, 8, 8]
// CHECK: %[[TILES:.+]] = arith.ceildivui %{{.+}}, %c256 : index
// CHECK: scf.forall (%[[B:.+]], %[[TILE:.+]]) in (1, %[[TILES]]) shared_outs(%[[QO:.+]] = %[[Q]], %[[KO:.+]] = %[[K]])
// CHECK: %[[START:.+]] = arith.muli %[[TILE]], %c256 : index
// CHECK: %[[N:.+]] = arith.minsi %c256, %{{.+}} : index
// CHECK: %[[QTILE:.+]] = tensor.extract_slice %[[QO]][%[[B]], 0, %[[START]], 0] [1, 2, %[[N]], 16] [1, 1, 1, 1]
// CHECK: %[[KTILE:.+]] = tensor.extract_slice %[[KO]][%[[B]], 0, %[[START]], 0] [1, 1, %[[N]], 16] [1, 1, 1, 1]
// An empty slot cache: slot 0's tag does not hash to slot 0, the others' (0) neither.
// CHECK: %[[TAGS0:.+]] = arith.constant dense<"0x01000000{{(0{8})+}}01000000{{(0{8})+}}01000000{{(0{8})+}}"> : tensor<3x64xi32>
// CHECK: %[[SLOTS0:.+]] = tensor.empty() : tensor<3x64x2x8xf32>
// CHECK: scf.for %[[T:[a-z0-9_]+]] = %c0 to %[[N]] step %c1 iter_args(%[[QT:[a-z0-9_]+]] = %[[QTILE]], %[[KT:[a-z0-9_]+]] = %[[KTILE]], %[[BITS:[a-z0-9_]+]] = %c0_i32, %[[CPREV:[a-z0-9_]+]] = %{{[a-z0-9_]+}}, %[[SPREV:[a-z0-9_]+]] = %{{[a-z0-9_]+}}, {{.*}}, %[[TAGS:[a-z0-9_]+]] = %[[TAGS0]], %[[SLOTS:[a-z0-9_]+]] = %[[SLOTS0]]) -> (tensor<1x2x?x16xbf16>, tensor<1x1x?x16xbf16>, i32, vector<8xf32>, vector<8xf32>, i32, vector<8xf32>, vector<8xf32>, i32, vector<8xf32>, vector<8xf32>, tensor<3x64xi32>, tensor<3x64x2x8xf32>)
// CHECK: %[[SEQ:.+]] = arith.addi %[[START]], %[[T]] : index
// CHECK: %[[NOTFIRST:.+]] = arith.cmpi ne, %[[T]], %c0 : index
// CHECK: %[[PT:.+]] = tensor.extract %[[POS]][%c0, %[[B]], %[[SEQ]]] : tensor<3x1x5xi64>
// CHECK: %[[PTF:.+]] = arith.sitofp %[[PT]] : i64 to f32
// CHECK: %[[PTBITS:.+]] = arith.bitcast %[[PTF]] : f32 to i32
// CHECK: %[[SAME:.+]] = arith.cmpi eq, %[[PTBITS]], %[[BITS]] : i32
// CHECK: %[[REUSE:.+]] = arith.andi %[[NOTFIRST]], %[[SAME]] : i1
// CHECK: %[[CST:.+]]:4 = scf.if %[[REUSE]] -> (vector<8xf32>, vector<8xf32>, tensor<3x64xi32>, tensor<3x64x2x8xf32>)
// CHECK-NEXT: scf.yield %[[CPREV]], %[[SPREV]], %[[TAGS]], %[[SLOTS]]
// CHECK: } else {
// CHECK: %[[HASH:.+]] = arith.muli %[[PTBITS]], %c-1640531535_i32 : i32
// CHECK: %[[SLOTI:.+]] = arith.shrui %[[HASH]], %c26_i32 : i32
// CHECK: %[[SLOT:.+]] = arith.index_castui %[[SLOTI]] : i32 to index
// CHECK: %[[TAG:.+]] = tensor.extract %[[TAGS]][%c0, %[[SLOT]]] : tensor<3x64xi32>
// CHECK: %[[HIT:.+]] = arith.cmpi eq, %[[TAG]], %[[PTBITS]] : i32
// CHECK: scf.if %[[HIT]]
// CHECK: vector.transfer_read %[[SLOTS]][%c0, %[[SLOT]], %c0, %c0]
// CHECK: vector.transfer_read %[[SLOTS]][%c0, %[[SLOT]], %c1, %c0]
// CHECK: } else {
// CHECK: %[[PB:.+]] = vector.broadcast %[[PTF]] : f32 to vector<8xf32>
// CHECK: %[[A:.+]] = arith.mulf %[[PB]], %[[FT]] : vector<8xf32>
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
// Rounded to bf16 once when computed and widened again (the rotation's f32
// lanes), then stored in the slot with its tag:
// CHECK: %[[CB:.+]] = arith.truncf %[[CS]]#0 : vector<8xf32> to vector<8xbf16>
// CHECK: %[[SB:.+]] = arith.truncf %[[CS]]#1 : vector<8xf32> to vector<8xbf16>
// CHECK: %[[CW:.+]] = arith.extf %[[CB]] : vector<8xbf16> to vector<8xf32>
// CHECK: %[[SW:.+]] = arith.extf %[[SB]] : vector<8xbf16> to vector<8xf32>
// CHECK: %[[NEWTAGS:.+]] = tensor.insert %[[PTBITS]] into %[[TAGS]][%c0, %[[SLOT]]]
// CHECK: %[[W0:.+]] = vector.transfer_write %[[CW]], %[[SLOTS]][%c0, %[[SLOT]], %c0, %c0]
// CHECK: %[[W1:.+]] = vector.transfer_write %[[SW]], %[[W0]][%c0, %[[SLOT]], %c1, %c0]
// CHECK: scf.yield %[[CW]], %[[SW]], %[[NEWTAGS]], %[[W1]]
// The H and W sources the same way, with their own rows of the cache:
// CHECK: %[[CSH:.+]]:4 = scf.if
// CHECK: tensor.extract %{{.+}}[%c1, %{{.+}}] : tensor<3x64xi32>
// CHECK: arith.mulf %{{.+}}, %[[FH]] : vector<8xf32>
// CHECK: %[[CSW:.+]]:4 = scf.if
// CHECK: tensor.extract %{{.+}}[%c2, %{{.+}}] : tensor<3x64xi32>
// CHECK: arith.mulf %{{.+}}, %[[FW]] : vector<8xf32>
// The pair order restored: lanes 0-1 from T, 2-4 from H, 5-7 from W.
// CHECK: %[[C01:.+]] = vector.shuffle %[[CST]]#0, %[[CSH]]#0 [0, 1, 8, 9, 10, 0, 0, 0]
// CHECK: %[[CWIDE:.+]] = vector.shuffle %[[C01]], %[[CSW]]#0 [0, 1, 2, 3, 4, 8, 9, 10]
// CHECK: %[[S01:.+]] = vector.shuffle %[[CST]]#1, %[[CSH]]#1 [0, 1, 8, 9, 10, 0, 0, 0]
// CHECK: %[[SWIDE:.+]] = vector.shuffle %[[S01]], %[[CSW]]#1 [0, 1, 2, 3, 4, 8, 9, 10]
// CHECK: %[[QROWS:.+]] = tensor.extract_slice %[[QT]][0, 0, %[[T]], 0] [1, 2, 1, 16] [1, 1, 1, 1] : tensor<1x2x?x16xbf16> to tensor<2x16xbf16>
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
// CHECK: %[[X1C:.+]] = arith.mulf %[[X1]], %[[CWIDE]] : vector<8xf32>
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
// CHECK: %[[QNEXT:.+]] = tensor.insert_slice %[[QR]] into %[[QT]][0, 0, %[[T]], 0] [1, 2, 1, 16] [1, 1, 1, 1]
// CHECK: %[[KR:.+]] = scf.for
// CHECK-NOT: math.sincos
// CHECK: %[[KNEXT:.+]] = tensor.insert_slice %[[KR]] into %[[KT]][0, 0, %[[T]], 0] [1, 1, 1, 16] [1, 1, 1, 1]
// CHECK: scf.yield %[[QNEXT]], %[[KNEXT]], %[[PTBITS]], %[[CST]]#0, %[[CST]]#1, {{.*}}, %[[CSW]]#2, %[[CSW]]#3
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %{{.+}}#0 into %[[QO]][%[[B]], 0, %[[START]], 0] [1, 2, %[[N]], 16] [1, 1, 1, 1]
// CHECK-NEXT: tensor.parallel_insert_slice %{{.+}}#1 into %[[KO]][%[[B]], 0, %[[START]], 0] [1, 1, %[[N]], 16] [1, 1, 1, 1]
// With vector-bits=128 (4 f32 lanes) each source computes its pairs in
// pieces of 4 lanes (T 0-1, H 2-4, W 5-7: one piece each), and a row's 8
// pairs are rotated in two chunks of 4 whose cos/sin are shuffled from the
// pieces: chunk 0 = T's two and H's first two, chunk 1 = H's last and W's
// three. Both chunks' cos/sin fit in registers, so one loop over the heads
// rotates both, each chunk reading its channels of both halves.
// CHUNK-LABEL: func.func @contiguous
// CHUNK: vector.shuffle %{{.+}}, %{{.+}} [0, 1, 8, 8] : vector<8xf32>, vector<8xf32>
// CHUNK: math.roundeven %{{.+}} : vector<4xf32>
// CHUNK: %[[C0:.+]] = vector.shuffle %[[T:[0-9]+]]#0, %[[H:[0-9]+]]#0 [0, 1, 4, 5] : vector<4xf32>, vector<4xf32>
// CHUNK: vector.shuffle %[[T]]#1, %[[H]]#1 [0, 1, 4, 5]
// CHUNK: %[[C1:.+]] = vector.shuffle %[[H]]#0, %[[W:[0-9]+]]#0 [2, 4, 5, 6] : vector<4xf32>, vector<4xf32>
// CHUNK: vector.shuffle %[[H]]#1, %[[W]]#1 [2, 4, 5, 6]
// CHUNK: scf.for
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c0]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c8]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: arith.mulf %{{.+}}, %[[C0]] : vector<4xf32>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c0] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c8] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
// CHUNK-NOT: scf.for
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c4]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c12]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: arith.mulf %{{.+}}, %[[C1]] : vector<4xf32>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c4] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c12] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
// CHUNK: scf.yield
// With one pair per chunk (vector-bits=32), the 8 chunks' cos/sin would not
// fit in registers: one loop over the heads per chunk instead.
// ONEPAIR-LABEL: func.func @contiguous
// ONEPAIR-COUNT-8: scf.for %{{.+}} = %c0 to %c2 step
// ONEPAIR-COUNT-8: scf.for %{{.+}} = %c0 to %c1 step
// ONEPAIR-NOT: scf.for %{{.+}} = %c0 to %c{{[12]}} step
func.func @contiguous(%q: tensor<1x2x5x16xbf16>, %k: tensor<1x1x5x16xbf16>, %pos: tensor<3x1x5xi64>, %f: tensor<8xf32>) -> (tensor<1x2x5x16xbf16>, tensor<1x1x5x16xbf16>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x5xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <contiguous, section = [2, 3, 3]>, rotary_dim = 16> : tensor<1x2x5x16xbf16>, tensor<1x1x5x16xbf16>
  return %a, %b : tensor<1x2x5x16xbf16>, tensor<1x1x5x16xbf16>
}

// -----

// Vanilla: every pair on T, so one source whose inv_freq is the vector
// read as it is and no shuffle; packed thd; GPT-J pairs split by
// deinterleave and joined by interleave; partial rotary reads and writes
// only the first 8 of 16 channels; f32 positions need no conversion; the
// attention scaling multiplies cos and sin; inverse negates sin.
// CHECK-LABEL: func.func @vanilla_gptj_partial
// ONEPAIR-LABEL: func.func @vanilla_gptj_partial
// CHECK-NOT: vector.shuffle
// CHECK: scf.forall (%[[TILE:.+]]) in (%{{.+}})
// CHECK: scf.for %[[T:.+]] = %c0 to
// CHECK: %[[P:.+]] = tensor.extract %{{.+}}[%{{.+}}, %{{.+}}] : tensor<3x7xf32>
// CHECK-NOT: arith.sitofp
// CHECK-NOT: arith.select
// CHECK: vector.broadcast %[[P]] : f32 to vector<4xf32>
// CHECK: math.roundeven
// CHECK: arith.constant dense<1.500000e+00> : vector<4xf32>
// The inverse negates sin once, when computed, outside the loop over heads.
// CHECK: arith.negf {{.*}} : vector<4xf32>
// CHECK-NOT: vector.shuffle
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

// MHRoPE [1, 1, 1] on 4 KV heads, 8 query heads: four sources with all 8
// pairs each -- T, H, W, and angle 0 for the NoPE head 3 (computed once,
// before the loop) -- each head block rotating its own range of heads: query
// heads 2b..2b+1, key head b. H takes T's cos/sin where its position is T's
// (text tokens), W T's or H's.
// CHECK-LABEL: func.func @mhrope
// CHECK: %[[LIMIT:.+]] = arith.constant dense<0x4C800000> : vector<8xf32>
// CHECK: scf.forall (%{{.+}}, %{{.+}}) in (1, %{{.+}})
// CHECK: tensor.empty() : tensor<4x64x2x8xf32>
// CHECK: %[[TBITS:.+]] = arith.bitcast %{{.+}} : f32 to i32
// CHECK: tensor.extract %{{.+}}[%c0, %{{.+}}] : tensor<4x64xi32>
// CHECK: %[[HBITS:.+]] = arith.bitcast %{{.+}} : f32 to i32
// CHECK: arith.cmpi eq, %[[HBITS]], %[[TBITS]] : i32
// CHECK: tensor.extract %{{.+}}[%c1, %{{.+}}] : tensor<4x64xi32>
// CHECK: %[[WBITS:.+]] = arith.bitcast %{{.+}} : f32 to i32
// CHECK: arith.cmpi eq, %[[WBITS]], %[[TBITS]] : i32
// CHECK: arith.cmpi eq, %[[WBITS]], %[[HBITS]] : i32
// CHECK: tensor.extract %{{.+}}[%c2, %{{.+}}] : tensor<4x64xi32>
// CHECK-NOT: vector.shuffle
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

// -----

// apply(%k, %k) -- the attention prologue's rotation of keys alone -- is one
// rotation of %k: one shared output, one loop over the heads per token, and
// both results are it.
// CHECK-LABEL: func.func @same_tensor
// CHECK: %[[R:.+]] = scf.forall (%{{.+}}) in (%{{.+}}) shared_outs(%{{.+}} = %arg0) -> (tensor<5x2x16xf32>)
// CHECK-COUNT-1: scf.for %{{.+}} = %c0 to %c2 step
// CHECK-NOT: scf.for %{{.+}} = %c0 to %c2 step
// CHECK: return %[[R]], %[[R]]
func.func @same_tensor(%k: tensor<5x2x16xf32>, %pos: tensor<3x5xi64>, %f: tensor<8xf32>) -> (tensor<5x2x16xf32>, tensor<5x2x16xf32>) {
  %a, %b = mrope.apply %k, %k positions(%pos : tensor<3x5xi64>) freqs(%f : tensor<8xf32>) layout thd rotary <alloc = <interleaved, section = [3, 3, 2]>, rotary_dim = 16> : tensor<5x2x16xf32>, tensor<5x2x16xf32>
  return %a, %b : tensor<5x2x16xf32>, tensor<5x2x16xf32>
}
