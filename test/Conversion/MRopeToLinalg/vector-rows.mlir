// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg=vector-rows=true --cse | FileCheck %s
// RUN: mrope-opt %s -split-input-file '--convert-mrope-to-linalg=vector-rows=true vector-bits=64' --cse | FileCheck %s --check-prefix=CHUNK
// RUN: mrope-opt %s -split-input-file '--convert-mrope-to-linalg=vector-rows=true fast-sin-cos=true' --cse | FileCheck %s --check-prefix=FAST
// RUN: mrope-opt %s -split-input-file '--convert-mrope-to-linalg=vector-rows=true vector-bits=32' --cse | FileCheck %s --check-prefix=ONEPAIR
// RUN: mrope-opt %s -split-input-file '--convert-mrope-to-linalg=vector-rows=true vector-bits=256 avx512-bf16=true' --cse | FileCheck %s --check-prefix=AVX

// fast-sin-cos: one reduction by pi/2 (k = roundeven(angle * 2/pi), three
// FMAs with the words of pi/2), two polynomials, the quadrant as selects --
// none of SLEEF's constants or branches.
// FAST-LABEL: func.func @contiguous
// FAST: %[[A:.+]] = arith.mulf %{{.+}}, %{{.+}} : vector<4xf32>
// FAST-NOT: scf.if
// FAST-NOT: 1.250000e+02
// FAST: %[[K:.+]] = math.roundeven %{{.+}} : vector<4xf32>
// FAST: %[[NK:.+]] = arith.negf %[[K]] : vector<4xf32>
// FAST: %[[R1:.+]] = math.fma %[[NK]], %{{.+}}, %[[A]] : vector<4xf32>
// FAST-NOT: scf.if
// FAST: arith.truncf %{{.+}} : vector<4xf32> to vector<4xbf16>

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
// rounded to bf16 once and stored in the slot. bf16 rows are rotated as
// word pairs: the 8 pairs form one group of two sets, the even pairs
// (0, 2, 4, 6) and the odd ones (1, 3, 5, 7), whose cos/sin are assembled
// from the sources by constant shuffles; a NeoX half's 8 words are the two
// sets' lanes. Pieces are as wide as a set (4 lanes). No angle table.
// CHECK-LABEL: func.func @contiguous
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x2x5x16xbf16>, %[[K:[a-z0-9]+]]: tensor<1x1x5x16xbf16>, %[[POS:[a-z0-9]+]]: tensor<3x1x5xi64>, %[[F:[a-z0-9]+]]: tensor<8xf32>
// CHECK-NOT: linalg.
// CHECK: %[[FREQ:.+]] = vector.transfer_read %[[F]]{{.*}} : tensor<8xf32>, vector<8xf32>
// CHECK: %[[FT:.+]] = vector.shuffle %[[FREQ]], %[[NOFREQ:.+]] [0, 1, 8, 8]
// CHECK: %[[FH:.+]] = vector.shuffle %[[FREQ]], %[[NOFREQ]] [2, 3, 4, 8]
// CHECK: %[[FW:.+]] = vector.shuffle %[[FREQ]], %[[NOFREQ]] [5, 6, 7, 8]
// CHECK: %[[TILES:.+]] = arith.ceildivui %{{.+}}, %c256 : index
// CHECK: scf.forall (%[[B:.+]], %[[TILE:.+]]) in (1, %[[TILES]]) shared_outs(%[[QO:.+]] = %[[Q]], %[[KO:.+]] = %[[K]])
// CHECK: %[[START:.+]] = arith.muli %[[TILE]], %c256 : index
// CHECK: %[[N:.+]] = arith.minsi %c256, %{{.+}} : index
// CHECK: %[[QTILE:.+]] = tensor.extract_slice %[[QO]][%[[B]], 0, %[[START]], 0] [1, 2, %[[N]], 16] [1, 1, 1, 1]
// CHECK: %[[KTILE:.+]] = tensor.extract_slice %[[KO]][%[[B]], 0, %[[START]], 0] [1, 1, %[[N]], 16] [1, 1, 1, 1]
// An empty slot cache: slot 0's tag does not hash to slot 0, the others' (0) neither.
// CHECK: %[[TAGS0:.+]] = arith.constant dense<"0x01000000{{(0{8})+}}01000000{{(0{8})+}}01000000{{(0{8})+}}"> : tensor<3x64xi32>
// CHECK: %[[SLOTS0:.+]] = tensor.empty() : tensor<3x64x2x4xf32>
// CHECK: scf.for %[[T:[a-z0-9_]+]] = %c0 to %[[N]] step %c1 iter_args(%[[QT:[a-z0-9_]+]] = %[[QTILE]], %[[KT:[a-z0-9_]+]] = %[[KTILE]], %[[BITS:[a-z0-9_]+]] = %c0_i32, %[[CPREV:[a-z0-9_]+]] = %{{[a-z0-9_]+}}, %[[SPREV:[a-z0-9_]+]] = %{{[a-z0-9_]+}}, {{.*}}, %[[TAGS:[a-z0-9_]+]] = %[[TAGS0]], %[[SLOTS:[a-z0-9_]+]] = %[[SLOTS0]]) -> (tensor<1x2x?x16xbf16>, tensor<1x1x?x16xbf16>, i32, vector<4xf32>, vector<4xf32>, i32, vector<4xf32>, vector<4xf32>, i32, vector<4xf32>, vector<4xf32>, tensor<3x64xi32>, tensor<3x64x2x4xf32>)
// CHECK: %[[SEQ:.+]] = arith.addi %[[START]], %[[T]] : index
// CHECK: %[[NOTFIRST:.+]] = arith.cmpi ne, %[[T]], %c0 : index
// The token's rows of q and k:
// CHECK: %[[QROWS:.+]] = tensor.extract_slice %[[QT]][0, 0, %[[T]], 0] [1, 2, 1, 16] [1, 1, 1, 1] : tensor<1x2x?x16xbf16> to tensor<2x16xbf16>
// CHECK: %[[KROWS:.+]] = tensor.extract_slice %[[KT]][0, 0, %[[T]], 0] [1, 1, 1, 16] [1, 1, 1, 1] : tensor<1x1x?x16xbf16> to tensor<1x16xbf16>
// CHECK: %[[PT:.+]] = tensor.extract %[[POS]][%c0, %[[B]], %[[SEQ]]] : tensor<3x1x5xi64>
// CHECK: %[[PTF:.+]] = arith.sitofp %[[PT]] : i64 to f32
// CHECK: %[[PTBITS:.+]] = arith.bitcast %[[PTF]] : f32 to i32
// CHECK: %[[SAME:.+]] = arith.cmpi eq, %[[PTBITS]], %[[BITS]] : i32
// CHECK: %[[REUSE:.+]] = arith.andi %[[NOTFIRST]], %[[SAME]] : i1
// CHECK: %[[CST:.+]]:4 = scf.if %[[REUSE]] -> (vector<4xf32>, vector<4xf32>, tensor<3x64xi32>, tensor<3x64x2x4xf32>)
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
// CHECK: %[[PB:.+]] = vector.broadcast %[[PTF]] : f32 to vector<4xf32>
// CHECK: %[[A:.+]] = arith.mulf %[[PB]], %[[FT]] : vector<4xf32>
// Cody-Waite reduction for every lane; the Payne-Hanek one (1/(2 pi) in
// four words, 0.159154892 first) only when some lane is at 125 rad or more:
// CHECK: %[[RANGE:.+]] = arith.constant dense<1.250000e+02> : vector<4xf32>
// CHECK: %[[SMALL:.+]] = arith.cmpf olt, %{{.+}}, %[[RANGE]] : vector<4xf32>
// CHECK: math.roundeven
// CHECK: %[[ALLSMALL:.+]] = vector.reduction <and>, %[[SMALL]] : vector<4xi1> into i1
// CHECK: scf.if %[[ALLSMALL]] -> (vector<4xf32>, vector<4xf32>, vector<4xi32>, vector<4xf32>, vector<4xf32>, vector<4xi32>)
// CHECK: } else {
// CHECK: arith.constant dense<0.159154892> : vector<4xf32>
// and the short polynomial only past 2^26 rad:
// CHECK: %[[ABS:.+]] = math.absf %[[A]] : vector<4xf32>
// CHECK: %[[LIMIT:.+]] = arith.constant dense<0x4C800000> : vector<4xf32>
// CHECK: %[[INRANGE:.+]] = arith.cmpf olt, %[[ABS]], %[[LIMIT]] : vector<4xf32>
// CHECK: %[[ALLIN:.+]] = vector.reduction <and>, %[[INRANGE]] : vector<4xi1> into i1
// CHECK: %[[CS:.+]]:2 = scf.if %[[ALLIN]] -> (vector<4xf32>, vector<4xf32>)
// CHECK: } else {
// CHECK: arith.select %[[INRANGE]]
// CHECK-NOT: math.sincos
// CHECK-NOT: math.sin
// CHECK-NOT: math.cos
// Rounded to bf16 once when computed and widened again (the rotation's f32
// lanes), then stored in the slot with its tag:
// CHECK: %[[CB:.+]] = arith.truncf %[[CS]]#0 : vector<4xf32> to vector<4xbf16>
// CHECK: %[[SB:.+]] = arith.truncf %[[CS]]#1 : vector<4xf32> to vector<4xbf16>
// CHECK: %[[CW:.+]] = arith.extf %[[CB]] : vector<4xbf16> to vector<4xf32>
// CHECK: %[[SW:.+]] = arith.extf %[[SB]] : vector<4xbf16> to vector<4xf32>
// CHECK: %[[NEWTAGS:.+]] = tensor.insert %[[PTBITS]] into %[[TAGS]][%c0, %[[SLOT]]]
// CHECK: %[[W0:.+]] = vector.transfer_write %[[CW]], %[[SLOTS]][%c0, %[[SLOT]], %c0, %c0]
// CHECK: %[[W1:.+]] = vector.transfer_write %[[SW]], %[[W0]][%c0, %[[SLOT]], %c1, %c0]
// CHECK: scf.yield %[[CW]], %[[SW]], %[[NEWTAGS]], %[[W1]]
// The H and W sources the same way, with their own rows of the cache:
// CHECK: %[[CSH:.+]]:4 = scf.if
// CHECK: tensor.extract %{{.+}}[%c1, %{{.+}}] : tensor<3x64xi32>
// CHECK: arith.mulf %{{.+}}, %[[FH]] : vector<4xf32>
// CHECK: %[[CSW:.+]]:4 = scf.if
// CHECK: tensor.extract %{{.+}}[%c2, %{{.+}}] : tensor<3x64xi32>
// CHECK: arith.mulf %{{.+}}, %[[FW]] : vector<4xf32>
// The sets' cos/sin: even pairs 0 (T lane 0), 2 and 4 (H lanes 0, 2), 6
// (W lane 1); odd pairs 1 (T lane 1), 3 (H lane 1), 5 and 7 (W lanes 0, 2).
// CHECK: %[[CE01:.+]] = vector.shuffle %[[CST]]#0, %[[CSH]]#0 [0, 4, 6, 0]
// CHECK: %[[CEVEN:.+]] = vector.shuffle %[[CE01]], %[[CSW]]#0 [0, 1, 2, 5]
// CHECK: %[[SE01:.+]] = vector.shuffle %[[CST]]#1, %[[CSH]]#1 [0, 4, 6, 0]
// CHECK: %[[SEVEN:.+]] = vector.shuffle %[[SE01]], %[[CSW]]#1 [0, 1, 2, 5]
// CHECK: %[[CO01:.+]] = vector.shuffle %[[CST]]#0, %[[CSH]]#0 [1, 5, 0, 0]
// CHECK: %[[CODD:.+]] = vector.shuffle %[[CO01]], %[[CSW]]#0 [0, 1, 4, 6]
// CHECK: %[[SO01:.+]] = vector.shuffle %[[CST]]#1, %[[CSH]]#1 [1, 5, 0, 0]
// CHECK: %[[SODD:.+]] = vector.shuffle %[[SO01]], %[[CSW]]#1 [0, 1, 4, 6]
// CHECK: %[[QR:.+]] = scf.for %[[H:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[ROWS:.+]] = %[[QROWS]])
// Each NeoX half is one vector read of 8 words; as 4 i32 lanes, a shift
// gives the even words (x1 of the even pairs) and a mask the odd words, as
// f32 -- no widening conversion, no shuffle.
// CHECK: %[[X1W:.+]] = vector.transfer_read %[[ROWS]][%[[H]], %[[C0:[a-z0-9_]+]]]{{.*}} : tensor<2x16xbf16>, vector<8xbf16>
// CHECK: %[[X2W:.+]] = vector.transfer_read %[[ROWS]][%[[H]], %[[C8:[a-z0-9_]+]]]{{.*}} : tensor<2x16xbf16>, vector<8xbf16>
// CHECK: %[[X1I:.+]] = vector.bitcast %[[X1W]] : vector<8xbf16> to vector<4xi32>
// CHECK: %[[X1EI:.+]] = arith.shli %[[X1I]], %[[SIXTEEN:.+]] : vector<4xi32>
// CHECK: %[[X1OI:.+]] = arith.andi %[[X1I]], %[[HIGH:.+]] : vector<4xi32>
// CHECK: %[[X1E:.+]] = arith.bitcast %[[X1EI]] : vector<4xi32> to vector<4xf32>
// CHECK: %[[X1O:.+]] = arith.bitcast %[[X1OI]] : vector<4xi32> to vector<4xf32>
// CHECK: %[[X2I:.+]] = vector.bitcast %[[X2W]] : vector<8xbf16> to vector<4xi32>
// CHECK: %[[X2E:.+]] = arith.bitcast %{{.+}} : vector<4xi32> to vector<4xf32>
// CHECK: %[[X2O:.+]] = arith.bitcast %{{.+}} : vector<4xi32> to vector<4xf32>
// CHECK-NOT: arith.negf
// bf16 arithmetic written as f32 ops, each rounded to bf16 precision in the
// f32 lanes by round-to-nearest-even on the bits (+0x7fff + lsb, keep the
// high half): the reference's bits, with no bf16 arithmetic left for LLVM to
// legalize and no narrowing between the ops. Even pairs first.
// CHECK: %[[X1C:.+]] = arith.mulf %[[X1E]], %[[CEVEN]] : vector<4xf32>
// CHECK: %[[X1CB:.+]] = arith.bitcast %[[X1C]] : vector<4xf32> to vector<4xi32>
// CHECK: %[[SHIFTED:.+]] = arith.shrui %[[X1CB]], %{{.+}} : vector<4xi32>
// CHECK: %[[LSB:.+]] = arith.andi %[[SHIFTED]], %{{.+}} : vector<4xi32>
// CHECK: %[[HALFUP:.+]] = arith.addi %[[X1CB]], %{{.+}} : vector<4xi32>
// CHECK: %[[BIASED:.+]] = arith.addi %[[HALFUP]], %[[LSB]] : vector<4xi32>
// CHECK: %[[KEPT:.+]] = arith.andi %[[BIASED]], %{{.+}} : vector<4xi32>
// CHECK: arith.bitcast %[[KEPT]] : vector<4xi32> to vector<4xf32>
// CHECK-NOT: arith.truncf {{.*}} to vector<4xbf16>
// CHECK: arith.mulf %[[X2E]], %[[SEVEN]] : vector<4xf32>
// CHECK: %[[Y1E:.+]] = arith.subf %{{.+}}, %{{.+}} : vector<4xf32>
// CHECK: arith.mulf %[[X2E]], %[[CEVEN]] : vector<4xf32>
// CHECK: arith.mulf %[[X1E]], %[[SEVEN]] : vector<4xf32>
// CHECK: %[[Y2E:.+]] = arith.addf %{{.+}}, %{{.+}} : vector<4xf32>
// CHECK: arith.mulf %[[X1O]], %[[CODD]] : vector<4xf32>
// CHECK: arith.mulf %[[X2O]], %[[SODD]] : vector<4xf32>
// CHECK: %[[Y1O:.+]] = arith.subf %{{.+}}, %{{.+}} : vector<4xf32>
// CHECK: arith.mulf %[[X2O]], %[[CODD]] : vector<4xf32>
// CHECK: arith.mulf %[[X1O]], %[[SODD]] : vector<4xf32>
// CHECK: %[[Y2O:.+]] = arith.addf %{{.+}}, %{{.+}} : vector<4xf32>
// CHECK-NOT: arith.mulf {{.*}} : vector<4xbf16>
// CHECK: arith.andi %{{.+}}, %[[HIGH]] : vector<4xi32>
// The results hold bf16 values in f32: each half's words joined without a
// second rounding -- the odd lanes' bits or-ed with the even lanes' high
// halves -- and written back to the half they came from.
// CHECK: %[[Y1LOW:.+]] = arith.shrui %{{.+}}, %[[SIXTEEN]] : vector<4xi32>
// CHECK-NEXT: %[[Y1OB:.+]] = arith.bitcast %{{.+}} : vector<4xf32> to vector<4xi32>
// CHECK-NEXT: %[[Y1I:.+]] = arith.ori %[[Y1OB]], %[[Y1LOW]] : vector<4xi32>
// CHECK-NEXT: %[[OUT1:.+]] = vector.bitcast %[[Y1I]] : vector<4xi32> to vector<8xbf16>
// CHECK: %[[OUT2:.+]] = vector.bitcast %{{.+}} : vector<4xi32> to vector<8xbf16>
// CHECK: %[[W1:.+]] = vector.transfer_write %[[OUT1]], %[[ROWS]][%[[H]], %[[C0]]] {in_bounds = [true]} : vector<8xbf16>, tensor<2x16xbf16>
// CHECK: vector.transfer_write %[[OUT2]], %[[W1]][%[[H]], %[[C8]]] {in_bounds = [true]} : vector<8xbf16>, tensor<2x16xbf16>
// k's heads with the same cos/sin, then both rows put back.
// CHECK: %[[KR:.+]] = scf.for %{{.+}} = %c0 to %c1 step %c1 iter_args(%{{.+}} = %[[KROWS]])
// CHECK-NOT: math.sincos
// CHECK: %[[QNEXT:.+]] = tensor.insert_slice %[[QR]] into %[[QT]][0, 0, %[[T]], 0] [1, 2, 1, 16] [1, 1, 1, 1]
// CHECK: %[[KNEXT:.+]] = tensor.insert_slice %[[KR]] into %[[KT]][0, 0, %[[T]], 0] [1, 1, 1, 16] [1, 1, 1, 1]
// CHECK: scf.yield %[[QNEXT]], %[[KNEXT]], %[[PTBITS]], %[[CST]]#0, %[[CST]]#1, {{.*}}, %[[CSW]]#2, %[[CSW]]#3
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %{{.+}}#0 into %[[QO]][%[[B]], 0, %[[START]], 0] [1, 2, %[[N]], 16] [1, 1, 1, 1]
// CHECK-NEXT: tensor.parallel_insert_slice %{{.+}}#1 into %[[KO]][%[[B]], 0, %[[START]], 0] [1, 1, %[[N]], 16] [1, 1, 1, 1]
// With vector-bits=64 (2 f32 lanes) the pairs form two groups of 4, each
// of two sets of 2 lanes: group 0 the pairs 0, 2 (even) and 1, 3 (odd),
// group 1 the pairs 4, 6 and 5, 7; each source computes its pairs in pieces
// of 2 lanes (T 0-1: one piece, H 2-4 and W 5-7: two each). All four sets'
// cos/sin fit in registers, so one loop over the heads rotates both groups,
// each reading 4 words of both halves.
// CHUNK-LABEL: func.func @contiguous
// CHUNK: vector.extract_strided_slice %{{.+}} {offsets = [0], sizes = [2], strides = [1]} : vector<8xf32> to vector<2xf32>
// CHUNK: vector.extract_strided_slice %{{.+}} {offsets = [2], sizes = [2], strides = [1]} : vector<8xf32> to vector<2xf32>
// CHUNK: vector.shuffle %{{.+}}, %{{.+}} [4, 8] : vector<8xf32>, vector<8xf32>
// CHUNK: math.roundeven %{{.+}} : vector<2xf32>
// CHUNK: %[[C0E:.+]] = vector.shuffle %[[T:[0-9]+]]#0, %[[H:[0-9]+]]#0 [0, 2] : vector<2xf32>, vector<2xf32>
// CHUNK: vector.shuffle %[[T]]#1, %[[H]]#2 [0, 2]
// CHUNK: %[[C0O:.+]] = vector.shuffle %[[T]]#0, %[[H]]#0 [1, 3] : vector<2xf32>, vector<2xf32>
// CHUNK: vector.shuffle %[[T]]#1, %[[H]]#2 [1, 3]
// CHUNK: %[[C1E:.+]] = vector.shuffle %[[H]]#1, %[[W:[0-9]+]]#0 [0, 3] : vector<2xf32>, vector<2xf32>
// CHUNK: vector.shuffle %[[H]]#3, %[[W]]#2 [0, 3]
// CHUNK: %[[C1O:.+]] = vector.shuffle %[[W]]#0, %[[W]]#1 [0, 2] : vector<2xf32>, vector<2xf32>
// CHUNK: vector.shuffle %[[W]]#2, %[[W]]#3 [0, 2]
// CHUNK: scf.for
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c0]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c8]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: arith.mulf %{{.+}}, %[[C0E]] : vector<2xf32>
// CHUNK: arith.mulf %{{.+}}, %[[C0O]] : vector<2xf32>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c0] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c8] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
// CHUNK-NOT: scf.for
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c4]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: vector.transfer_read %{{.+}}[%{{.+}}, %c12]{{.*}} : tensor<2x16xbf16>, vector<4xbf16>
// CHUNK: arith.mulf %{{.+}}, %[[C1E]] : vector<2xf32>
// CHUNK: arith.mulf %{{.+}}, %[[C1O]] : vector<2xf32>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c4] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
// CHUNK: vector.transfer_write %{{.+}}[%{{.+}}, %c12] {{.*}} : vector<4xbf16>, tensor<2x16xbf16>
// CHUNK: scf.yield
// With one pair per set (vector-bits=32), the 8 sets' cos/sin would not
// fit in registers: one loop over the heads per group of 2 pairs instead.
// ONEPAIR-LABEL: func.func @contiguous
// ONEPAIR-COUNT-4: scf.for %{{.+}} = %c0 to %c2 step
// ONEPAIR-COUNT-4: scf.for %{{.+}} = %c0 to %c1 step
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
// Block by block, q's heads then k's, each source computed right before
// its block's loops (so later sources are not live in earlier loops).
// CHECK: %[[TBITS:.+]] = arith.bitcast %{{.+}} : f32 to i32
// CHECK: tensor.extract %{{.+}}[%c0, %{{.+}}] : tensor<4x64xi32>
// CHECK-NOT: vector.shuffle
// CHECK: scf.for %{{.+}} = %c0 to %c2 step
// CHECK: scf.for %{{.+}} = %c0 to %c1 step
// CHECK: %[[HBITS:.+]] = arith.bitcast %{{.+}} : f32 to i32
// CHECK: arith.cmpi eq, %[[HBITS]], %[[TBITS]] : i32
// CHECK: tensor.extract %{{.+}}[%c1, %{{.+}}] : tensor<4x64xi32>
// CHECK: scf.for %{{.+}} = %c2 to %c4 step
// CHECK: scf.for %{{.+}} = %c1 to %c2 step
// CHECK: %[[WBITS:.+]] = arith.bitcast %{{.+}} : f32 to i32
// CHECK: arith.cmpi eq, %[[WBITS]], %[[TBITS]] : i32
// CHECK: arith.cmpi eq, %[[WBITS]], %[[HBITS]] : i32
// CHECK: tensor.extract %{{.+}}[%c2, %{{.+}}] : tensor<4x64xi32>
// CHECK: scf.for %{{.+}} = %c4 to %c6 step
// CHECK: scf.for %{{.+}} = %c2 to %c3 step
// CHECK: scf.for %{{.+}} = %c6 to %c8 step
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

// -----

// avx512-bf16: 16 pairs in one group of two sets of 8 lanes (even and odd
// pairs). With attention scaling 1 every pair's larger of |cos|, |sin| is
// far above 2^-37, so cos/sin need no check at run time.
// AVX-LABEL: func.func @word_pairs_avx512
// AVX-NOT: dense<2.77555756E-17>
// AVX: scf.for %[[H:.+]] = %c0 to %c2 step %c1 iter_args(%[[ROWS:.+]] = %{{.+}}) -> (tensor<2x32xbf16>)
// AVX: %[[X1:.+]] = vector.transfer_read %[[ROWS]][%[[H]], %c0]{{.*}} : tensor<2x32xbf16>, vector<16xbf16>
// AVX: %[[X2:.+]] = vector.transfer_read %[[ROWS]][%[[H]], %c16]{{.*}} : tensor<2x32xbf16>, vector<16xbf16>
// Per row, whether its words allow it: each word's exponent field >= 64
// (bit 13 or 14 set, 0x6000 = 24576): magnitude >= 2^-63, not zero.
// AVX: %[[X1BITS:.+]] = vector.bitcast %[[X1]] : vector<16xbf16> to vector<16xi16>
// AVX: %[[EXP:.+]] = arith.constant dense<24576> : vector<16xi16>
// AVX: %[[X1EXP:.+]] = arith.andi %[[X1BITS]], %[[EXP]] : vector<16xi16>
// AVX: %[[X1OK:.+]] = arith.cmpi ne, %[[X1EXP]], %{{.+}} : vector<16xi16>
// AVX: %[[X2OK:.+]] = arith.cmpi ne, %{{.+}}, %{{.+}} : vector<16xi16>
// AVX: %[[ROWOK:.+]] = arith.andi %[[X1OK]], %[[X2OK]] : vector<16xi1>
// AVX: %[[WORDSOK:.+]] = vector.reduction <and>, %[[ROWOK]] : vector<16xi1> into i1
// AVX-NEXT: %[[Y:.+]]:2 = scf.if %[[WORDSOK]] -> (vector<16xbf16>, vector<16xbf16>)
// Both sets' products rounded two vectors at a time (set 1 in the low
// words): x1 c, x2 s, x2 c, x1 s, then the differences and sums.
// AVX-COUNT-4: x86vector.avx512.cvt.packed.f32_to_bf16 %{{.+}} : vector<8xf32> -> vector<8xbf16>
// AVX: arith.subf %{{.+}}, %{{.+}} : vector<8xf32>
// AVX: arith.subf %{{.+}}, %{{.+}} : vector<8xf32>
// AVX: %[[LO:.+]] = x86vector.avx512.cvt.packed.f32_to_bf16 %{{.+}} : vector<8xf32> -> vector<8xbf16>
// AVX: %[[HI:.+]] = x86vector.avx512.cvt.packed.f32_to_bf16 %{{.+}} : vector<8xf32> -> vector<8xbf16>
// AVX: %[[Y1:.+]] = vector.shuffle %[[LO]], %[[HI]] [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] : vector<8xbf16>, vector<8xbf16>
// AVX: arith.addf %{{.+}}, %{{.+}} : vector<8xf32>
// AVX: arith.addf %{{.+}}, %{{.+}} : vector<8xf32>
// AVX: %[[Y2:.+]] = vector.shuffle %{{.+}}, %{{.+}} [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] : vector<8xbf16>, vector<8xbf16>
// The words put back in pair order: word j of a half is (set j % 2, lane
// j / 2); lane 0 of set 0 came out as word 12 (the even part's lane 4 of
// the result pack), of set 1 as word 8.
// AVX: %[[Y1W:.+]] = vector.bitcast %[[Y1]] : vector<16xbf16> to vector<16xi16>
// AVX: %[[Y2W:.+]] = vector.bitcast %[[Y2]] : vector<16xbf16> to vector<16xi16>
// AVX: vector.shuffle %[[Y1W]], %[[Y2W]] [12, 8, 4, 0, 13, 9, 5, 1, 14, 10, 6, 2, 15, 11, 7, 3] : vector<16xi16>, vector<16xi16>
// AVX: vector.shuffle %[[Y1W]], %[[Y2W]] [28, 24, 20, 16, 29, 25, 21, 17, 30, 26, 22, 18, 31, 27, 23, 19] : vector<16xi16>, vector<16xi16>
// Otherwise the integer rounding, no conversion instruction.
// AVX: } else {
// AVX-NOT: x86vector
// AVX: arith.addi
// AVX-NOT: x86vector
// AVX: scf.yield
// AVX: vector.transfer_write %[[Y]]#0, %[[ROWS]][%[[H]], %c0]
// AVX: vector.transfer_write %[[Y]]#1, %{{.+}}[%[[H]], %c16]
func.func @word_pairs_avx512(%q: tensor<1x2x3x32xbf16>, %k: tensor<1x1x3x32xbf16>, %pos: tensor<3x1x3xi64>, %f: tensor<16xf32>) -> (tensor<1x2x3x32xbf16>, tensor<1x1x3x32xbf16>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x3xi64>) freqs(%f : tensor<16xf32>) layout bhsd rotary <alloc = <contiguous, section = [4, 6, 6]>, rotary_dim = 32> : tensor<1x2x3x32xbf16>, tensor<1x1x3x32xbf16>
  return %a, %b : tensor<1x2x3x32xbf16>, tensor<1x1x3x32xbf16>
}

// -----

// GPT-J pairs as word pairs: set 0 is pairs 0-7 (the first 16 words: x1 in
// the even words, x2 in the odd), set 1 pairs 8-15 (the next 16), so cos/sin
// are in pair order; each vector's words interleave y1 and y2 of its set.
// AVX-LABEL: func.func @word_pairs_gptj
// AVX: vector.transfer_read %{{.+}}[%{{.+}}, %c0]{{.*}} : tensor<2x32xbf16>, vector<16xbf16>
// AVX: vector.transfer_read %{{.+}}[%{{.+}}, %c16]{{.*}} : tensor<2x32xbf16>, vector<16xbf16>
// AVX: scf.if
// AVX: vector.shuffle %{{.+}}, %{{.+}} [12, 28, 4, 20, 13, 29, 5, 21, 14, 30, 6, 22, 15, 31, 7, 23] : vector<16xi16>, vector<16xi16>
// AVX: vector.shuffle %{{.+}}, %{{.+}} [8, 24, 0, 16, 9, 25, 1, 17, 10, 26, 2, 18, 11, 27, 3, 19] : vector<16xi16>, vector<16xi16>
func.func @word_pairs_gptj(%q: tensor<3x2x32xbf16>, %k: tensor<3x1x32xbf16>, %pos: tensor<3x3xi64>, %f: tensor<16xf32>) -> (tensor<3x2x32xbf16>, tensor<3x1x32xbf16>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x3xi64>) freqs(%f : tensor<16xf32>) layout thd rotary <alloc = <interleaved, section = [6, 5, 5]>, pairs = gptj, rotary_dim = 32> : tensor<3x2x32xbf16>, tensor<3x1x32xbf16>
  return %a, %b : tensor<3x2x32xbf16>, tensor<3x1x32xbf16>
}

// -----

// A tiny attention scaling (1e-12) could make both cos and sin small: then
// per token, whether every cos/sin lane is 0 or at least 2^-55
// (2.77555756E-17), and-ed with each row's word check.
// AVX-LABEL: func.func @word_pairs_tiny_scaling
// AVX: %[[MIN:.+]] = arith.constant dense<2.77555756E-17> : vector<8xf32>
// AVX: %[[ABS:.+]] = math.absf %{{.+}} : vector<8xf32>
// AVX: %[[LARGE:.+]] = arith.cmpf oge, %[[ABS]], %[[MIN]] : vector<8xf32>
// AVX: %[[ZERO:.+]] = arith.cmpf oeq, %{{.+}}, %{{.+}} : vector<8xf32>
// AVX: %[[EITHER:.+]] = arith.ori %[[LARGE]], %[[ZERO]] : vector<8xi1>
// AVX: vector.reduction <and>, %[[EITHER]] : vector<8xi1> into i1
// The same for the other three vectors (c odd, s even, s odd), and-ed:
// AVX-COUNT-2: arith.andi %{{.+}}, %{{.+}} : i1
// AVX: %[[CSOK:.+]] = arith.andi %{{.+}}, %{{.+}} : i1
// AVX: scf.for
// AVX: %[[WORDSOK:.+]] = vector.reduction <and>, %{{.+}} : vector<16xi1> into i1
// AVX-NEXT: %[[SAFE:.+]] = arith.andi %[[CSOK]], %[[WORDSOK]] : i1
// AVX-NEXT: scf.if %[[SAFE]] -> (vector<16xbf16>, vector<16xbf16>)
func.func @word_pairs_tiny_scaling(%q: tensor<1x2x3x32xbf16>, %k: tensor<1x1x3x32xbf16>, %pos: tensor<3x1x3xi64>, %f: tensor<16xf32>) -> (tensor<1x2x3x32xbf16>, tensor<1x1x3x32xbf16>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x3xi64>) freqs(%f : tensor<16xf32>) layout bhsd rotary <alloc = <contiguous, section = [4, 6, 6]>, rotary_dim = 32, attention_scaling = 1.0e-12> : tensor<1x2x3x32xbf16>, tensor<1x1x3x32xbf16>
  return %a, %b : tensor<1x2x3x32xbf16>, tensor<1x1x3x32xbf16>
}
