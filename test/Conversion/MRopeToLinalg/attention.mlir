// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg | FileCheck %s
// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg=attention-tiles=false | FileCheck %s --check-prefix=ROWWISE
// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg=avx512-bf16 | FileCheck %s --check-prefix=BFDOT

// Decode-sized queries (fewer than 16 rows per KV head; here 2 heads x 6
// tokens) take the decode form: one scf.forall over (batch, GQA head group,
// query token). A task takes the group's query heads (2g, 2g + 1: both read
// KV head 2g / 2) at one token and walks its keys 16 at a time; each key and
// value row is loaded (and widened) once and used by both rows. Per row a
// loop-carried running max, running sum and f32 accumulator row. Causal,
// bottom-right aligned: row i sees keys [0, min(i + Skv - Sq + 1, Skv));
// block slots past the end re-read the last key and get score -inf (one
// mask per block). The weights' exp is arithmetic on a vector<16xf32> (no
// math.exp left).
// CHECK-LABEL: func.func @gqa_causal
// CHECK: scf.forall (%[[B:.*]], %[[G:.*]], %[[I:.*]]) in (1, 2, 6)
// CHECK-DAG: %[[LOWEST:.*]] = arith.constant -3.40282347E+38 : f32
// CHECK: %[[H0:.*]] = arith.muli %[[G]], %c2
// CHECK: %[[KVH:.*]] = arith.divui %[[H0]], %c2
// CHECK: %[[QROW:.*]] = vector.transfer_read %arg0[%[[B]], %[[H0]], %[[I]], %{{[a-z0-9_]+}}]{{.*}}: tensor<1x4x6x8xbf16>, vector<8xbf16>
// CHECK: %[[Q:.*]] = arith.extf %[[QROW]] : vector<8xbf16> to vector<8xf32>
// CHECK: %[[H1:.*]] = arith.addi %[[H0]], %{{.*}}
// CHECK: %[[QROW1:.*]] = vector.transfer_read %arg0[%[[B]], %[[H1]], %[[I]], %{{[a-z0-9_]+}}]
// CHECK: %[[Q1:.*]] = arith.extf %[[QROW1]] : vector<8xbf16> to vector<8xf32>
// CHECK: %[[R:.*]]:6 = scf.for %[[J:.*]] = %{{.*}} to %[[END:.*]] step %c16 iter_args(%[[M:.*]] = %[[LOWEST]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %[[M1:.*]] = %[[LOWEST]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (f32, f32, vector<8xf32>, f32, f32, vector<8xf32>)
// CHECK: %[[KEY:.*]] = arith.addi %[[J]]
// CHECK: %[[AT:.*]] = arith.minsi %[[KEY]]
// CHECK: %[[VALID:.*]] = vector.create_mask %{{.*}} : vector<16xi1>
// CHECK-DAG: %[[NEGINF:.*]] = arith.constant dense<0xFF800000> : vector<16xf32>
// CHECK-DAG: %[[SCALE:.*]] = arith.constant dense<0.353553385> : vector<16xf32>
// Each key row is read once and multiplied with both rows' q; the products
// are summed by one transpose-reduction per row (even + odd lanes of
// adjacent vectors): no horizontal sum per key.
// CHECK: %[[KROW:.*]] = vector.transfer_read %arg1[%[[B]], %[[KVH]], %[[AT]], %{{.*}}]
// CHECK: %[[K:.*]] = arith.extf %[[KROW]]
// CHECK: %[[P0:.*]] = arith.mulf %[[Q]], %[[K]] : vector<8xf32>
// CHECK: arith.mulf %[[Q1]], %[[K]] : vector<8xf32>
// CHECK: vector.transfer_read %arg1
// CHECK: %[[P1:.*]] = arith.mulf %[[Q]], %{{.*}} : vector<8xf32>
// CHECK: %[[E01:.*]] = vector.shuffle %[[P0]], %[[P1]] [0, 2, 4, 6, 8, 10, 12, 14]
// CHECK: %[[O01:.*]] = vector.shuffle %[[P0]], %[[P1]] [1, 3, 5, 7, 9, 11, 13, 15]
// CHECK: arith.addf %[[E01]], %[[O01]] : vector<8xf32>
// CHECK-COUNT-14: vector.transfer_read %arg1
// CHECK-NOT: vector.transfer_read %arg1
// CHECK-NOT: vector.reduction <add>
// CHECK: %[[DOTS:.*]] = vector.from_elements {{.*}} : vector<16xf32>
// CHECK: %[[S:.*]] = arith.mulf %[[DOTS]], %[[SCALE]] : vector<16xf32>
// CHECK: %[[BLOCK:.*]] = arith.select %[[VALID]], %[[S]], %[[NEGINF]] : vector<16xi1>, vector<16xf32>
// CHECK: %[[BMAX:.*]] = vector.reduction <maximumf>, %[[BLOCK]]
// CHECK: %[[MNEW:.*]] = arith.maximumf %[[M]], %[[BMAX]] : f32
// CHECK-NOT: math.exp
// The second row: the same keys, no new reads.
// CHECK-NOT: vector.transfer_read
// CHECK: %[[MNEW1:.*]] = arith.maximumf %[[M1]], %{{.*}} : f32
// Each value row is read once and added to both accumulators.
// CHECK: vector.transfer_read %arg2[%[[B]], %[[KVH]], %[[AT]], %{{.*}}]
// CHECK-NEXT: arith.extf
// CHECK-NEXT: vector.extract
// CHECK-NEXT: vector.broadcast
// CHECK-NEXT: vector.fma
// CHECK-NEXT: vector.extract
// CHECK-NEXT: vector.broadcast
// CHECK-NEXT: vector.fma
// CHECK-COUNT-15: vector.transfer_read %arg2
// CHECK-NOT: vector.transfer_read
// CHECK: scf.yield %[[MNEW]], %{{.*}}, %{{.*}}, %[[MNEW1]]
// CHECK: arith.divf %[[R]]#2
// CHECK: arith.truncf {{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: arith.divf %[[R]]#5
// CHECK: tensor.parallel_insert_slice {{.*}} into %{{.*}}[%[[B]], %[[H0]], %[[I]], 0] [1, 1, 1, 8]
// CHECK: tensor.parallel_insert_slice {{.*}} into %{{.*}}[%[[B]], %[[H1]], %[[I]], 0] [1, 1, 1, 8]
// attention-tiles=false: the row-by-row form, one query row per task and 8
// keys per step, in every case.
// ROWWISE-LABEL: func.func @gqa_causal
// ROWWISE: scf.forall (%[[B:.*]], %[[H:.*]], %[[I:.*]]) in (1, 4, 6)
// ROWWISE: vector.transfer_read %arg0[%[[B]], %[[H]], %[[I]], %{{[a-z0-9_]+}}]
// ROWWISE: %[[KVH:.*]] = arith.divui %[[H]], %c2
// ROWWISE: scf.for {{.*}} step %c8 iter_args({{.*}}) -> (f32, f32, vector<8xf32>)
// ROWWISE: vector.transfer_read %arg1[%[[B]], %[[KVH]],
// ROWWISE: tensor.parallel_insert_slice {{.*}} into %{{.*}}[%[[B]], %[[H]], %[[I]], 0] [1, 1, 1, 8]
func.func @gqa_causal(%q: tensor<1x4x6x8xbf16>, %k: tensor<1x2x6x8xbf16>, %v: tensor<1x2x6x8xbf16>) -> tensor<1x4x6x8xbf16> {
  %0 = mrope.attention %q, %k, %v layout bhsd causal : tensor<1x4x6x8xbf16>, tensor<1x2x6x8xbf16>, tensor<1x2x6x8xbf16> -> tensor<1x4x6x8xbf16>
  return %0 : tensor<1x4x6x8xbf16>
}

// -----

// Packed varlen: the row's sequence [cu[n], cu[n+1]) is found by a loop
// over cu_seqlens, each boundary clamped to [0, T] (the second to at least
// the first); an explicit scale replaces 1/sqrt(D). (Two KV heads in thd:
// a task takes both head groups of its token, as in @decode_strided_keys.)
// CHECK-LABEL: func.func @varlen
// CHECK: scf.forall (%[[T:.*]]) in (7)
// CHECK: %[[SEQ:.*]]:3 = scf.for {{.*}} iter_args
// CHECK: %[[C0:.*]] = tensor.extract %arg3
// CHECK: %[[LO0:.*]] = arith.maxsi %{{.*}}, %[[ZERO:.*]] : index
// CHECK: %[[FIRST:.*]] = arith.minsi %[[LO0]], %c7{{.*}} : index
// CHECK: tensor.extract %arg3
// CHECK: %[[LO1:.*]] = arith.maxsi %{{.*}}, %[[FIRST]] : index
// CHECK: %[[LAST:.*]] = arith.minsi %[[LO1]], %c7{{.*}} : index
// CHECK: arith.cmpi sle, %[[FIRST]], %[[T]]
// CHECK: arith.cmpi slt, %[[T]], %[[LAST]]
// CHECK: scf.for %{{.*}} = %[[SEQ]]#0 to %[[SEQ]]#1
// CHECK: arith.constant dense<2.500000e-01> : vector<16xf32>
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

// Prefill (at least 16 query rows per KV head, here 2 heads x 12 tokens):
// tiles of query rows in the lanes of vector<16xf32> -- the GQA group's 2
// heads (outer, as bhsd stores them) x 8 tokens -- and a task per block of
// tiles (here both tiles: one block) over (batch, KV head, head tile,
// block). Keys and values are widened to f32 chunk by chunk (below). Lanes
// know their token (the second tile is half outside q) and their causal end
// (token + 1, at most Skv).
// CHECK-LABEL: func.func @row_tiles
// With attention-tiles=false, prefill is lowered row by row like decode.
// ROWWISE-LABEL: func.func @row_tiles
// ROWWISE: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (1, 4, 12)
// ROWWISE-NOT: vector.gather
// ROWWISE: vector.reduction <maximumf>
// ROWWISE-LABEL: func.func @row_tiles_bshd_mask
// With avx512-bf16, bf16 tiles of 16 rows take q . k as vdpbf16ps: keys stay
// bf16 (only values are widened), qT holds the rows' channel pairs
// interleaved and unscaled, each key's pair is one 32-bit broadcast, and the
// scale multiplies the scores.
// BFDOT-LABEL: func.func @row_tiles
// BFDOT: scf.for {{.*}} -> (tensor<2x16x32xbf16>, tensor<2x2x16xi32>, index, index)
// BFDOT: vector.interleave %{{.*}}, %{{.*}} : vector<16xbf16> -> vector<32xbf16>
// Only values are staged per chunk (one scratch); keys are read as bf16.
// BFDOT: bufferization.alloc_tensor() : tensor<1024x32xf32>
// BFDOT-NOT: bufferization.alloc_tensor
// BFDOT: scf.for {{.*}} step %c1024 {{.*}} -> ({{.*}}, tensor<1024x32xf32>)
// BFDOT-NOT: transfer_read %arg1
// BFDOT: vector.transfer_read %arg2[{{.*}}]{{.*}} : tensor<1x2x12x32xbf16>, vector<32xbf16>
// BFDOT: %[[S:.*]]:16 = scf.for %[[P:.*]] = %{{.*}} to %c16{{.*}} -> (vector<16xf32>,
// BFDOT: %[[QP:.*]] = vector.transfer_read %{{.*}}[%{{.*}}, %[[P]], %{{.*}}]{{.*}} : tensor<2x16x32xbf16>, vector<32xbf16>
// BFDOT: %[[KP:.*]] = vector.transfer_read %arg1[{{.*}}]{{.*}} : tensor<1x2x12x32xbf16>, vector<2xbf16>
// BFDOT: %[[KW:.*]] = vector.bitcast %[[KP]] : vector<2xbf16> to vector<1xi32>
// BFDOT: %[[KB:.*]] = vector.broadcast %[[KW]] : vector<1xi32> to vector<16xi32>
// BFDOT: %[[KB16:.*]] = vector.bitcast %[[KB]] : vector<16xi32> to vector<32xbf16>
// BFDOT: x86vector.avx512.dot %{{.*}}, %[[QP]], %[[KB16]] : vector<32xbf16> -> vector<16xf32>
// BFDOT-COUNT-15: x86vector.avx512.dot
// BFDOT-NOT: vector.fma
// BFDOT: arith.mulf %[[S]]#0, %{{.*}} : vector<16xf32>
// f32 activations keep the f32 FMAs.
// BFDOT-LABEL: func.func @row_tiles_bshd_mask
// BFDOT-NOT: x86vector.avx512.dot
// BFDOT: vector.fma
// CHECK: %[[QFLAT:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1, 2, 3]] : tensor<1x4x12x32xbf16> into tensor<1536xbf16>
// CHECK: scf.forall (%[[B:.*]], %[[KVH:.*]], %[[HT:.*]], %[[BLK:.*]]) in (1, 2, 1, 1)
// Per tile, once: the lanes' bounds (kept in [tiles, 2, rows]), qT (channel c of the 16 rows gathered
// -- head stride 384, token stride 32 -- and scaled by 1/sqrt(32)), and the
// block's union of keys.
// CHECK: %[[PREP:.*]]:4 = scf.for %{{.*}} = %c0 to %c2{{.*}} iter_args({{.*}}) -> (tensor<2x32x16xf32>, tensor<2x2x16xi32>, index, index)
// CHECK: %[[LANETOK:.*]] = arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7]> : vector<16xi32>
// CHECK: %[[TOK:.*]] = arith.addi %{{.*}}, %[[LANETOK]] : vector<16xi32>
// CHECK: %[[ISROW:.*]] = arith.cmpi slt, %[[TOK]], %{{.*}} : vector<16xi32>
// CHECK: %[[LIMIT:.*]] = arith.addi %[[TOK]], %{{.*}} : vector<16xi32>
// CHECK: %[[CAP:.*]] = arith.minsi %{{.*}}, %[[LIMIT]] : vector<16xi32>
// CHECK: arith.maxsi %[[CAP]], %{{.*}} : vector<16xi32>
// CHECK: vector.reduction <minsi>
// CHECK: vector.reduction <maxsi>
// CHECK: %[[QOFF:.*]] = arith.constant dense<[0, 32, 64, 96, 128, 160, 192, 224, 384, 416, 448, 480, 512, 544, 576, 608]> : vector<16xi32>
// CHECK: scf.for {{.*}} -> (tensor<2x32x16xf32>)
// CHECK: vector.gather %[[QFLAT]][%{{.*}}] [%[[QOFF]]], %[[ISROW]], %{{.*}} : tensor<1536xbf16>, vector<16xi32>, vector<16xi1>, vector<16xbf16> into vector<16xbf16>
// CHECK: arith.extf
// CHECK: arith.mulf %{{.*}}, %{{.*}} : vector<16xf32>
// CHECK: vector.transfer_write
// Chunks of keys (1024 at head_dim 32: K and V in 256 KiB), each run by
// every tile of the block; each tile's m, l and oT are resumed from the
// block's state. Each chunk's keys and values are first widened into the
// task's f32 scratches [1024, 32] (carried across chunks), rows from the
// chunk's first key on.
// CHECK: %[[KS:.*]] = bufferization.alloc_tensor() : tensor<1024x32xf32>
// CHECK: %[[VS:.*]] = bufferization.alloc_tensor() : tensor<1024x32xf32>
// CHECK: %[[CHUNKS:.*]]:5 = scf.for %[[CHUNK:.*]] = %[[PREP]]#2 to %{{.*}} step %c1024 iter_args({{.*}}, %[[KIN:.*]] = %[[KS]], %[[VIN:.*]] = %[[VS]]) -> (tensor<2x1x16xf32>, tensor<2x1x16xf32>, tensor<2x32x16xf32>, tensor<1024x32xf32>, tensor<1024x32xf32>)
// CHECK: %[[KW:.*]] = scf.for %[[I:[a-z0-9_]+]] = %{{.*}} to %{{.*}} step %c1{{.*}} iter_args(%{{.*}} = %[[KIN]]) -> (tensor<1024x32xf32>)
// CHECK: %[[KROW:.*]] = arith.addi %[[CHUNK]], %[[I]]
// CHECK: vector.transfer_read %arg1[%{{.*}}, %{{.*}}, %[[KROW]], %{{.*}}]{{.*}} : tensor<1x2x12x32xbf16>, vector<32xbf16>
// CHECK: arith.extf %{{.*}} : vector<32xbf16> to vector<32xf32>
// CHECK: vector.transfer_write %{{.*}}, %{{.*}}[%[[I]], %{{.*}}]
// CHECK: %[[VW:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %[[VIN]]) -> (tensor<1024x32xf32>)
// CHECK: vector.transfer_read %arg2
// CHECK: scf.for %[[T:.*]] = %{{.*}} iter_args(%[[MS:.*]] = %{{.*}}, %[[LS:.*]] = %{{.*}}, %[[OTS:.*]] = %{{.*}}) -> (tensor<2x1x16xf32>, tensor<2x1x16xf32>, tensor<2x32x16xf32>)
// The lanes' [begin, end) as computed once per tile (slots 0 and 1).
// CHECK: vector.transfer_read %[[PREP]]#1[%[[T]], %c0{{.*}}]{{.*}} : tensor<2x2x16xi32>, vector<16xi32>
// CHECK: %[[END:.*]] = vector.transfer_read %[[PREP]]#1[%[[T]], %c1{{.*}}]{{.*}} : tensor<2x2x16xi32>, vector<16xi32>
// CHECK: %[[M0:.*]] = vector.transfer_read %[[MS]][%[[T]], %{{.*}}, %{{.*}}]
// Full blocks of 16 keys.
// CHECK: %[[FULL:.*]]:3 = scf.for %[[FIRST:.*]] = %{{.*}} to %{{.*}} step %c16{{.*}} iter_args(%[[M:.*]] = %[[M0]], %[[L:.*]] = %{{.*}}, %[[OT:.*]] = %[[OTS]]) -> (vector<16xf32>, vector<16xf32>, tensor<2x32x16xf32>)
// CHECK: %[[KEY0:.*]] = arith.addi %[[FIRST]], %{{.*}} : index
// CHECK: %[[KEY0I:.*]] = arith.index_cast %[[KEY0]] : index to i32
// CHECK: %[[KEY0V:.*]] = vector.broadcast %[[KEY0I]] : i32 to vector<16xi32>
// CHECK: arith.cmpi slt, %[[KEY0V]], %[[END]] : vector<16xi32>
// Scores: 16 independent FMA chains, each key channel broadcast.
// CHECK: %[[S:.*]]:16 = scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>,
// CHECK: %[[QC:.*]] = vector.transfer_read %[[PREP]]#0[%[[T]],
// CHECK: %[[K0ROW:.*]] = arith.subi %[[KEY0]], %[[CHUNK]]
// CHECK: %[[K0:.*]] = tensor.extract %[[KW]][%[[K0ROW]], %{{.*}}] : tensor<1024x32xf32>
// CHECK: %[[K0V:.*]] = vector.broadcast %[[K0]] : f32 to vector<16xf32>
// CHECK: vector.fma %[[QC]], %[[K0V]], %{{.*}} : vector<16xf32>
// CHECK-COUNT-15: vector.fma %[[QC]]
// CHECK: arith.select %{{.*}}, %[[S]]#0, %{{.*}} : vector<16xi1>, vector<16xf32>
// Lanewise max: no horizontal reduction per block.
// CHECK-NOT: vector.reduction
// CHECK: %[[MNEW:.*]] = arith.maximumf %[[M]], %{{.*}} : vector<16xf32>
// CHECK-NOT: math.exp
// oT[c] = oT[c] * corr + sum_j p_j v_j[c], four channels per iteration.
// CHECK: scf.for %{{.*}} step %c4{{.*}} iter_args(%{{.*}} = %[[OT]]) -> (tensor<2x32x16xf32>)
// CHECK: tensor.extract %[[VW]]
// CHECK: scf.yield %[[MNEW]]
// At most one partial block: slots past the chunk's last key are clamped to
// it and masked.
// CHECK: %[[TAIL:.*]]:3 = scf.for %{{.*}} step %c16{{.*}} iter_args(%{{.*}} = %[[FULL]]#0, %{{.*}} = %[[FULL]]#1, %{{.*}} = %[[FULL]]#2)
// CHECK: arith.cmpi sle, %{{.*}} : index
// CHECK: arith.minsi %{{.*}} : index
// CHECK: vector.transfer_write %[[TAIL]]#0, %[[MS]][%[[T]],
// Each tile's rows gathered back from its oT (lane stride 16), divided by
// their sum, bf16, into the block's [2 heads, 16 tokens, 32] result.
// CHECK: scf.for %{{.*}} -> (tensor<2x16x32xbf16>)
// CHECK: %[[TILEOT:.*]] = tensor.extract_slice %[[CHUNKS]]#2[%{{.*}}, 0, 0] [1, 32, 16] [1, 1, 1] : tensor<2x32x16xf32> to tensor<32x16xf32>
// CHECK: %[[OFLAT:.*]] = tensor.collapse_shape %[[TILEOT]]
// CHECK: vector.gather %[[OFLAT]]{{.*}} : tensor<512xf32>, vector<32xi32>, vector<32xi1>, vector<32xf32> into vector<32xf32>
// CHECK: arith.divf
// CHECK: arith.truncf {{.*}} : vector<32xf32> to vector<32xbf16>
// The rows of q in the block: 2 heads x min(16, 12 - first token).
// CHECK: %[[COUNT:.*]] = arith.minsi
// CHECK: %[[ROWS:.*]] = tensor.extract_slice %{{.*}}[0, 0, 0] [2, %[[COUNT]], 32] [1, 1, 1] : tensor<2x16x32xbf16> to tensor<2x?x32xbf16>
// CHECK: tensor.parallel_insert_slice %[[ROWS]] into %{{.*}}[%[[B]], %{{.*}}, %{{.*}}, %{{.*}}] [1, 2, %[[COUNT]], 32]
func.func @row_tiles(%q: tensor<1x4x12x32xbf16>, %k: tensor<1x2x12x32xbf16>, %v: tensor<1x2x12x32xbf16>) -> tensor<1x4x12x32xbf16> {
  %0 = mrope.attention %q, %k, %v layout bhsd causal : tensor<1x4x12x32xbf16>, tensor<1x2x12x32xbf16>, tensor<1x2x12x32xbf16> -> tensor<1x4x12x32xbf16>
  return %0 : tensor<1x4x12x32xbf16>
}

// -----

// bshd puts tokens before heads: lanes are tokens outer (3 heads of a
// group of 3 x 5 tokens = 15 rows), the tile [5, 3, D]; an additive mask
// [1, 1, Sq, Skv] broadcast over batch and heads is gathered per key.
// CHECK-LABEL: func.func @row_tiles_bshd_mask
// CHECK: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) in (2, 1, 1, 1)
// CHECK: arith.constant dense<[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]> : vector<15xi32>
// CHECK: arith.constant dense<[0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112]> : vector<15xi32>
// CHECK: %[[MOFF:.*]] = arith.constant dense<[0, 0, 0, 20, 20, 20, 40, 40, 40, 60, 60, 60, 80, 80, 80]> : vector<15xi32>
// CHECK: scf.for
// CHECK: vector.gather %{{.*}}[%{{.*}}] [%[[MOFF]]], %{{.*}}, %{{.*}} : tensor<400xf32>, vector<15xi32>, vector<15xi1>, vector<15xf32> into vector<15xf32>
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0] [%{{.*}}, 3, 8] [1, 1, 1] : tensor<20x3x8xf32> to tensor<?x3x8xf32>
func.func @row_tiles_bshd_mask(%q: tensor<2x20x3x8xf32>, %k: tensor<2x20x1x8xf32>, %v: tensor<2x20x1x8xf32>, %m: tensor<1x1x20x20xf32>) -> tensor<2x20x3x8xf32> {
  %0 = mrope.attention %q, %k, %v mask(%m : tensor<1x1x20x20xf32>) layout bshd : tensor<2x20x3x8xf32>, tensor<2x20x1x8xf32>, tensor<2x20x1x8xf32> -> tensor<2x20x3x8xf32>
  return %0 : tensor<2x20x3x8xf32>
}

// -----

// Decode with avx512-bf16: q . k as vdpbf16ps on the bf16 rows -- q's row
// split into two vectors of 32 channels, each key row read once as bf16 (not
// widened) and dotted with all 4 rows of the task (4 heads of a group of 4,
// two tasks).
// BFDOT-LABEL: func.func @decode_bf16_dot
// BFDOT: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (1, 2, 1)
// BFDOT: %[[Q0:.*]] = vector.extract_strided_slice %{{.*}} {offsets = [0], sizes = [32], strides = [1]} : vector<64xbf16> to vector<32xbf16>
// BFDOT: %[[Q1:.*]] = vector.extract_strided_slice %{{.*}} {offsets = [32], sizes = [32], strides = [1]} : vector<64xbf16> to vector<32xbf16>
// BFDOT: scf.for {{.*}} step %c16
// BFDOT: %[[KROW:.*]] = vector.transfer_read %arg1{{.*}} : tensor<1x2x40x64xbf16>, vector<64xbf16>
// BFDOT-NOT: arith.extf %[[KROW]]
// BFDOT: %[[K0:.*]] = vector.extract_strided_slice %[[KROW]] {offsets = [0]
// BFDOT: %[[K1:.*]] = vector.extract_strided_slice %[[KROW]] {offsets = [32]
// BFDOT: %[[D0:.*]] = x86vector.avx512.dot %{{.*}}, %[[Q0]], %[[K0]] : vector<32xbf16> -> vector<16xf32>
// BFDOT: x86vector.avx512.dot %[[D0]], %[[Q1]], %[[K1]] : vector<32xbf16> -> vector<16xf32>
// BFDOT-COUNT-6: x86vector.avx512.dot
// BFDOT: vector.transfer_read %arg1
// BFDOT: vector.transfer_read %arg2
// BFDOT: arith.extf {{.*}} : vector<64xbf16> to vector<64xf32>
func.func @decode_bf16_dot(%q: tensor<1x8x1x64xbf16>, %k: tensor<1x2x40x64xbf16>, %v: tensor<1x2x40x64xbf16>) -> tensor<1x8x1x64xbf16> {
  %0 = mrope.attention %q, %k, %v layout bhsd causal : tensor<1x8x1x64xbf16>, tensor<1x2x40x64xbf16>, tensor<1x2x40x64xbf16> -> tensor<1x8x1x64xbf16>
  return %0 : tensor<1x8x1x64xbf16>
}

// -----

// Split-KV decode: the 2100 cached keys a query row sees are cut into 2
// ranges of whole 16-key blocks (66 blocks = 1056 keys each, computed from
// the row's own [begin, end), so a packed sequence splits its own keys),
// each a task of its own that writes its rows' acc (16 channels), m and l
// to [batch, group, token, split, heads, 16 + 2]; a second loop, one
// iteration per query row, combines the ranges (m = max m_s, weights
// exp(m_s - m)) and normalizes.
// CHECK-LABEL: func.func @decode_split_kv
// CHECK: %[[PARTIAL:.*]] = tensor.empty() : tensor<1x2x1x2x4x18xf32>
// CHECK: %[[STATE:.*]] = scf.forall (%[[B:.*]], %[[G:.*]], %[[I:.*]], %[[S:.*]]) in (1, 2, 1, 2) shared_outs(%[[OUT:.*]] = %[[PARTIAL]])
// CHECK: %[[END:.*]] = arith.maxsi %{{.*}}, %[[BEGIN:.*]] : index
// CHECK: %[[SPAN:.*]] = arith.subi %[[END]], %[[BEGIN]]
// CHECK: %[[BLOCKS:.*]] = arith.ceildivsi %[[SPAN]], %c16
// CHECK: %[[PER:.*]] = arith.ceildivsi %[[BLOCKS]], %c2
// CHECK: %[[KEYS:.*]] = arith.muli %[[PER]], %c16
// CHECK: %[[OFF:.*]] = arith.muli %[[S]], %[[KEYS]]
// CHECK: %[[FIRST:.*]] = arith.addi %[[BEGIN]], %[[OFF]]
// CHECK: %[[LO:.*]] = arith.minsi %[[FIRST]], %[[END]]
// CHECK: %[[NEXT:.*]] = arith.addi %[[LO]], %[[KEYS]]
// CHECK: %[[HI:.*]] = arith.minsi %[[END]], %[[NEXT]]
// CHECK: scf.for %{{.*}} = %[[LO]] to %[[HI]] step %c16
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%[[B]], %[[G]], %[[I]], %[[S]], 0, 0] [1, 1, 1, 1, 4, 18]
// CHECK: scf.forall (%[[CB:.*]], %[[H:.*]], %[[CI:.*]]) in (1, 8, 1)
// CHECK: %[[CG:.*]] = arith.divui %[[H]], %c4
// CHECK: %[[ROW:.*]] = arith.remui %[[H]], %c4
// CHECK: %[[M0:.*]] = tensor.extract %[[STATE]][%[[CB]], %[[CG]], %[[CI]], %{{.*}}, %[[ROW]], %c16{{.*}}]
// CHECK: %[[M1:.*]] = tensor.extract %[[STATE]][%[[CB]], %[[CG]], %[[CI]], %{{.*}}, %[[ROW]], %c16{{.*}}]
// CHECK: arith.maximumf %[[M0]], %[[M1]] : f32
// CHECK-COUNT-2: vector.transfer_read %[[STATE]]
// CHECK: tensor.parallel_insert_slice %{{.*}} into %{{.*}}[%[[CB]], %[[H]], %[[CI]], 0] [1, 1, 1, 16]
func.func @decode_split_kv(%q: tensor<1x8x1x16xf32>, %k: tensor<1x2x2100x16xf32>, %v: tensor<1x2x2100x16xf32>) -> tensor<1x8x1x16xf32> {
  %0 = mrope.attention %q, %k, %v layout bhsd causal : tensor<1x8x1x16xf32>, tensor<1x2x2100x16xf32>, tensor<1x2x2100x16xf32> -> tensor<1x8x1x16xf32>
  return %0 : tensor<1x8x1x16xf32>
}

// -----

// Decode with strided key rows (bshd with 4 KV heads: one head's rows are
// 4 x 32 elements apart). A task takes every head group of its token (no
// head dimension in the forall), walks its keys in ranges of 64, stages each
// range's K and V rows -- all heads of a key row, read in order -- head-major
// into a scratch of its own (one allocation each for K and V, carried
// across ranges), the last range shifted back to stay inside the 100 keys
// (first key at most 36), and runs the 4 head groups (2 heads each) over
// the staged rows, their m, l and acc kept in [groups, heads, ...] tensors.
// CHECK-LABEL: func.func @decode_strided_keys
// CHECK: scf.forall (%[[B:.*]], %[[T:.*]]) in (1, 1)
// CHECK: %[[KBUF:.*]] = bufferization.to_buffer %arg1 read_only
// CHECK: %[[VBUF:.*]] = bufferization.to_buffer %arg2 read_only
// CHECK: %[[KS:.*]] = bufferization.alloc_tensor() : tensor<4x64x32xbf16>
// CHECK: %[[VS:.*]] = bufferization.alloc_tensor() : tensor<4x64x32xbf16>
// CHECK: scf.for %[[FIRST:.*]] = %{{.*}} to %{{.*}} step %c64 iter_args(%[[ACC:.*]] = %{{.*}}, %[[ML:.*]] = %{{.*}}, %[[KIN:.*]] = %[[KS]], %[[VIN:.*]] = %[[VS]]) -> (tensor<4x2x32xf32>, tensor<4x2x2xf32>, tensor<4x64x32xbf16>, tensor<4x64x32xbf16>)
// CHECK: %[[STAGED:.*]] = arith.minsi %[[FIRST]], %c36
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %c64{{.*}} step %c1{{.*}} iter_args(%{{.*}} = %[[KIN]])
// CHECK: %[[KEY:.*]] = arith.addi %[[STAGED]], %[[I]]
// CHECK-COUNT-4: vector.transfer_read %arg1[%[[B]], %[[KEY]], %{{.*}}, %{{.*}}]
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[VIN]])
// CHECK: %[[NEXT:.*]] = arith.addi %[[FIRST]], %c64
// CHECK: arith.minsi %{{.*}}, %[[NEXT]]
// CHECK: scf.for %[[G:.*]] = %{{.*}} to %c4{{.*}} step %c1{{.*}} iter_args(%{{.*}} = %[[ACC]], %{{.*}} = %[[ML]])
// CHECK: scf.for %[[BLOCK:.*]] = %[[FIRST]] to %{{.*}} step %c16
// While the range is computed, each block of each group prefetches (into
// L2) its share of the next range's K and V rows: 64 keys / 4 groups / 4
// blocks = 4 keys, slice 4 g + (block - first) / 16, clamped to the keys.
// CHECK: %[[J:.*]] = arith.divui %{{.*}}, %c16
// CHECK: %[[G4:.*]] = arith.muli %[[G]], %c4
// CHECK: %[[SLICE:.*]] = arith.addi %[[G4]], %[[J]]
// CHECK: %[[OFF:.*]] = arith.muli %[[SLICE]], %c4
// CHECK: %[[START:.*]] = arith.addi %[[NEXT]], %[[OFF]]
// CHECK: %[[ROW0:.*]] = arith.minsi %{{.*}}, %c99
// CHECK-COUNT-4: memref.prefetch %[[KBUF]][%[[B]], %[[ROW0]], %{{.*}}, %{{.*}}], read, locality<2>, data
// CHECK-COUNT-4: memref.prefetch %[[VBUF]][%[[B]], %[[ROW0]], %{{.*}}, %{{.*}}], read, locality<2>, data
// CHECK-COUNT-24: memref.prefetch
// CHECK-NOT: memref.prefetch
// CHECK: tensor.parallel_insert_slice
func.func @decode_strided_keys(%q: tensor<1x1x8x32xbf16>, %k: tensor<1x100x4x32xbf16>, %v: tensor<1x100x4x32xbf16>) -> tensor<1x1x8x32xbf16> {
  %0 = mrope.attention %q, %k, %v layout bshd causal : tensor<1x1x8x32xbf16>, tensor<1x100x4x32xbf16>, tensor<1x100x4x32xbf16> -> tensor<1x1x8x32xbf16>
  return %0 : tensor<1x1x8x32xbf16>
}

// -----

// A paged KV cache (block_table, page_size 8; 3 sequences of up to 5 pages
// in a pool of 5 pages): sequence n's keys are rows [n * 40, n * 40 +
// length) of the key space, its length kv_cu_seqlens[n + 1] -
// kv_cu_seqlens[n] clamped to [0, 40]; key row r reads pool row
// table[r / 40, r % 40 / 8] * 8 + r % 8, the page id clamped to [0, 4].
// CHECK-LABEL: func.func @paged_decode
// CHECK: scf.forall (%[[T:.*]], %{{.*}}) in (3, 1)
// CHECK: %[[SEQ:.*]]:3 = scf.for %[[N:.*]] = {{.*}} iter_args
// CHECK: %[[NEXT:.*]] = arith.addi %[[N]], %c1
// CHECK: %[[HI:.*]] = tensor.extract %arg4[%[[NEXT]]]
// CHECK: %[[HII:.*]] = arith.index_cast %[[HI]]
// CHECK: %[[LO:.*]] = tensor.extract %arg4[%[[N]]]
// CHECK: %[[LOI:.*]] = arith.index_cast %[[LO]]
// CHECK: %[[LEN:.*]] = arith.subi %[[HII]], %[[LOI]]
// CHECK: %[[FIRST:.*]] = arith.muli %[[N]], %c40
// CHECK: %[[POS:.*]] = arith.maxsi %[[LEN]], %{{.*}}
// CHECK: %[[CLAMPED:.*]] = arith.minsi %[[POS]], %c40
// CHECK: %[[LAST:.*]] = arith.addi %[[FIRST]], %[[CLAMPED]]
// CHECK: scf.for %[[KEY0:.*]] = %[[SEQ]]#0 to
// CHECK: %[[KEY:.*]] = arith.minsi
// CHECK: %[[S:.*]] = arith.divui %[[KEY]], %c40
// CHECK: %[[SLOT:.*]] = arith.remui %[[KEY]], %c40
// CHECK: %[[P:.*]] = arith.divui %[[SLOT]], %c8
// CHECK: %[[PAGE:.*]] = tensor.extract %arg5[%[[S]], %[[P]]] : tensor<3x5xi32>
// CHECK: %[[PAGEI:.*]] = arith.index_cast %[[PAGE]]
// CHECK: %[[PAGE0:.*]] = arith.maxsi %[[PAGEI]], %c0
// CHECK: %[[PAGE1:.*]] = arith.minsi %[[PAGE0]], %c4
// CHECK: %[[BASE:.*]] = arith.muli %[[PAGE1]], %c8
// CHECK: %[[IN:.*]] = arith.remui %[[KEY]], %c8
// CHECK: %[[ROW:.*]] = arith.addi %[[BASE]], %[[IN]]
// CHECK: vector.transfer_read %arg1[%[[ROW]], %{{.*}}, %{{.*}}]
// ROWWISE-LABEL: func.func @paged_decode
// ROWWISE: tensor.extract %arg5
// ROWWISE: vector.transfer_read %arg1
func.func @paged_decode(%q: tensor<3x4x16xf32>, %k: tensor<40x1x16xf32>, %v: tensor<40x1x16xf32>, %cu: tensor<4xi32>, %kcu: tensor<4xi32>, %t: tensor<3x5xi32>) -> tensor<3x4x16xf32> {
  %0 = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<4xi32>) kv_cu_seqlens(%kcu : tensor<4xi32>) block_table(%t : tensor<3x5xi32>) page_size 8 layout thd causal : tensor<3x4x16xf32>, tensor<40x1x16xf32>, tensor<40x1x16xf32> -> tensor<3x4x16xf32>
  return %0 : tensor<3x4x16xf32>
}

// -----

// Prefill from a paged cache: no copy of the pool (which may hold far more
// than these sequences' pages); each chunk's key and value rows are staged
// through the table -- key row r at pool row table[r / 24, r % 24 / 8] * 8 +
// r % 8, the page clamped to [0, 7] -- and a tile whose rows span two
// sequences (whose key slots are 24 apart) skips the key blocks no row sees.
// CHECK-LABEL: func.func @paged_prefill
// CHECK-NOT: linalg.generic
// CHECK: scf.forall
// CHECK: scf.for %[[CHUNK:.*]] = {{.*}} step %c4096
// CHECK: scf.for %[[I:[a-z0-9_]+]] = {{.*}} -> (tensor<4096x8xf32>)
// CHECK: %[[KEY:.*]] = arith.addi %[[CHUNK]], %[[I]]
// CHECK: arith.divui %[[KEY]], %c24
// CHECK: tensor.extract %arg5[%{{.*}}, %{{.*}}] : tensor<2x3xi32>
// CHECK: arith.minsi %{{.*}}, %c7
// CHECK: %[[ROW:.*]] = arith.addi
// CHECK: vector.transfer_read %arg1[%[[ROW]], %{{.*}}, %{{.*}}]{{.*}} : tensor<64x1x8xbf16>, vector<8xbf16>
// CHECK: arith.extf %{{.*}} : vector<8xbf16> to vector<8xf32>
// CHECK: vector.transfer_read %arg2
// CHECK: scf.for {{.*}} step %c16
// CHECK: vector.reduction <or>, %{{.*}} : vector<16xi1> into i1
// CHECK-NEXT: scf.if %{{.*}} -> (vector<16xf32>, vector<16xf32>, tensor<5x8x16xf32>)
// CHECK: } else {
// CHECK-NEXT: scf.yield
func.func @paged_prefill(%q: tensor<40x2x8xbf16>, %k: tensor<64x1x8xbf16>, %v: tensor<64x1x8xbf16>, %cu: tensor<3xi32>, %kcu: tensor<3xi32>, %t: tensor<2x3xi32>) -> tensor<40x2x8xbf16> {
  %0 = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi32>) kv_cu_seqlens(%kcu : tensor<3xi32>) block_table(%t : tensor<2x3xi32>) page_size 8 layout thd causal : tensor<40x2x8xbf16>, tensor<64x1x8xbf16>, tensor<64x1x8xbf16> -> tensor<40x2x8xbf16>
  return %0 : tensor<40x2x8xbf16>
}

// -----

// Prefill over strided rows (bshd, 2 KV heads): the tiles stage each
// chunk's rows of their KV head (source row (b, key, h)) into contiguous f32
// scratches; the row-by-row form widens keys and values once into
// head-major copies [B, H, S, D] (copy row r = (b, h, s) reads source row
// (b, s, h)), so that a KV head's rows are contiguous.
// CHECK-LABEL: func.func @row_tiles_bshd_head_major
// CHECK: scf.for %[[CHUNK:.*]] = {{.*}} step %c1024
// CHECK: scf.for %[[I:[a-z0-9_]+]] = {{.*}} -> (tensor<1024x32xf32>)
// CHECK: %[[KEY:.*]] = arith.addi %[[CHUNK]], %[[I]]
// CHECK: vector.transfer_read %arg1[%{{.*}}, %[[KEY]], %{{.*}}, %{{.*}}]{{.*}} : tensor<1x24x2x32xbf16>, vector<32xbf16>
// ROWWISE-LABEL: func.func @row_tiles_bshd_head_major
// ROWWISE: scf.forall (%{{.*}}) in (1) shared_outs(%{{.*}}) -> (tensor<48x32xf32>)
// ROWWISE: %[[S:.*]] = arith.remui %[[R:.*]], %c24
// ROWWISE: %[[R1:.*]] = arith.divui %[[R]], %c24
// ROWWISE: %[[H:.*]] = arith.remui %[[R1]], %c2
// ROWWISE: %[[R2:.*]] = arith.divui %[[R1]], %c2
// ROWWISE: %[[B:.*]] = arith.remui %[[R2]], %c1
// ROWWISE: vector.transfer_read %arg1[%[[B]], %[[S]], %[[H]], %{{.*}}]{{.*}} : tensor<1x24x2x32xbf16>, vector<32xbf16>
// ROWWISE: tensor.expand_shape %{{.*}} output_shape [1, 2, 24, 32] : tensor<48x32xf32> into tensor<1x2x24x32xf32>
// ROWWISE: vector.transfer_read %arg2
// ROWWISE: tensor.expand_shape %{{.*}} output_shape [1, 2, 24, 32] : tensor<48x32xf32> into tensor<1x2x24x32xf32>
// ROWWISE: scf.forall
func.func @row_tiles_bshd_head_major(%q: tensor<1x24x4x32xbf16>, %k: tensor<1x24x2x32xbf16>, %v: tensor<1x24x2x32xbf16>) -> tensor<1x24x4x32xbf16> {
  %0 = mrope.attention %q, %k, %v layout bshd causal : tensor<1x24x4x32xbf16>, tensor<1x24x2x32xbf16>, tensor<1x24x2x32xbf16> -> tensor<1x24x4x32xbf16>
  return %0 : tensor<1x24x4x32xbf16>
}
