// RUN: mrope-opt %s -split-input-file '--convert-mrope-to-linalg=vector-rows=true vector-bits=128' --cse | FileCheck %s

// The CPU form of mrope.cos_sin: an scf.forall over [B, tiles of tokens],
// an scf.for over a tile's tokens; per token, each axis's cos/sin for its
// own pairs as vectors of the target's width (contiguous [2, 3, 3]: pairs
// 0-1 T, 2-4 H, 5-7 W, each axis one vector<4xf32> of inv_freq, padded with
// 0), then every 4-channel chunk of the NeoX row cat(angle, angle) as a
// constant shuffle of them, inserted into the row's vector, and one
// transfer_write per row and table.
// CHECK-LABEL: func.func @contiguous
// CHECK: %[[F:.+]] = vector.transfer_read %{{.+}} {in_bounds = [true]} : tensor<8xf32>, vector<8xf32>
// CHECK: %[[FT:.+]] = vector.shuffle %[[F]], %[[PAD:.+]] [0, 1, 8, 8] : vector<8xf32>, vector<8xf32>
// CHECK: %[[FH:.+]] = vector.shuffle %[[F]], %[[PAD]] [2, 3, 4, 8]
// CHECK: %[[FW:.+]] = vector.shuffle %[[F]], %[[PAD]] [5, 6, 7, 8]
// CHECK: scf.forall (%[[B:.+]], %{{.+}}) in (2, %{{.+}}) shared_outs(
// Carried from token to token, per axis: the bits of the previous token's
// position and its cos and sin vectors, reused when the bits are the same
// (not for a tile's first token).
// CHECK: scf.for %[[T:[a-z0-9_]+]] = %{{.+}} iter_args(%[[COS:[a-z0-9_]+]] = %{{[a-z0-9_]+}}, %[[SIN:[a-z0-9_]+]] = %{{[a-z0-9_]+}}, %[[PREV:[a-z0-9_]+]] = %{{[a-z0-9_]+}}, %[[PREVC:[a-z0-9_]+]] = %{{[a-z0-9_]+}}, %[[PREVS:[a-z0-9_]+]] = %{{[a-z0-9_]+}}, {{.+}}) -> (tensor<1x?x16xf32>, tensor<1x?x16xf32>, i32, vector<4xf32>, vector<4xf32>, i32, vector<4xf32>, vector<4xf32>, i32, vector<4xf32>, vector<4xf32>)
// CHECK: %[[NOTFIRST:.+]] = arith.cmpi ugt, %[[T]], %c0 : index
// CHECK: %[[PT:.+]] = tensor.extract %{{.+}}[%c0, %[[B]], %[[SEQ:.+]]] : tensor<3x2x5xi64>
// CHECK: %[[PTF:.+]] = arith.sitofp %[[PT]] : i64 to f32
// CHECK: %[[BITS:.+]] = arith.bitcast %[[PTF]] : f32 to i32
// CHECK: %[[SAME:.+]] = arith.cmpi eq, %[[BITS]], %[[PREV]] : i32
// CHECK: %[[REUSE:.+]] = arith.andi %[[NOTFIRST]], %[[SAME]] : i1
// CHECK: scf.if %[[REUSE]] -> (vector<4xf32>, vector<4xf32>) {
// CHECK-NEXT: scf.yield %[[PREVC]], %[[PREVS]]
// CHECK: } else {
// CHECK: arith.mulf %{{.+}}, %[[FT]] : vector<4xf32>
// CHECK: tensor.extract %{{.+}}[%c1, %[[B]], %[[SEQ]]]
// CHECK: arith.mulf %{{.+}}, %[[FH]] : vector<4xf32>
// CHECK: tensor.extract %{{.+}}[%c2, %[[B]], %[[SEQ]]]
// CHECK: arith.mulf %{{.+}}, %[[FW]] : vector<4xf32>
// Channels 0-3: pairs 0, 1 (T's lanes 0, 1) and 2, 3 (H's lanes 0, 1);
// channels 4-7: pair 4 (H's lane 2) and 5-7 (W's lanes 0-2); 8-15 repeat
// them (the second half of each pair).
// CHECK: %[[C0:.+]] = vector.shuffle %[[CT:.+]], %[[CH:.+]] [0, 1, 4, 5] : vector<4xf32>, vector<4xf32>
// CHECK: %[[R0:.+]] = vector.insert_strided_slice %[[C0]], %{{.+}} {offsets = [0], strides = [1]} : vector<4xf32> into vector<16xf32>
// CHECK: vector.shuffle %{{.+}}, %{{.+}} [0, 1, 4, 5]
// CHECK: %[[C4:.+]] = vector.shuffle %[[CH]], %[[CW:.+]] [2, 4, 5, 6]
// CHECK: %[[R4:.+]] = vector.insert_strided_slice %[[C4]], %[[R0]] {offsets = [4], strides = [1]}
// CHECK: %[[R8:.+]] = vector.insert_strided_slice %[[C0]], %[[R4]] {offsets = [8], strides = [1]}
// CHECK: %[[R12:.+]] = vector.insert_strided_slice %[[C4]], %[[R8]] {offsets = [12], strides = [1]}
// CHECK: %[[SROW:.+]] = vector.insert_strided_slice %{{.+}} {offsets = [12], strides = [1]}
// CHECK: vector.transfer_write %[[R12]], %[[COS]][%c0, %[[T]], %c0] {in_bounds = [true]} : vector<16xf32>, tensor<1x?x16xf32>
// CHECK: vector.transfer_write %[[SROW]], %[[SIN]][%c0, %[[T]], %c0] {in_bounds = [true]} : vector<16xf32>, tensor<1x?x16xf32>
// CHECK-NOT: vector.transfer_write
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice
func.func @contiguous(%pos: tensor<3x2x5xi64>, %f: tensor<8xf32>) -> (tensor<2x5x16xf32>, tensor<2x5x16xf32>) {
  %c, %s = mrope.cos_sin %pos, %f rotary <alloc = <contiguous, section = [2, 3, 3]>, rotary_dim = 16> : tensor<3x2x5xi64>, tensor<8xf32> -> tensor<2x5x16xf32>, tensor<2x5x16xf32>
  return %c, %s : tensor<2x5x16xf32>, tensor<2x5x16xf32>
}

// -----

// Head-partitioned tables [B, KV, S, D]: KV head 0 takes T, head 1 H, each
// with every pair (one vector of inv_freq, no shuffle); GPT-J repeats each
// angle twice ([0, 0, 1, 1]); bf16 tables are rounded per chunk. Each head's
// row is written at its head index from its axis's vectors.
// CHECK-LABEL: func.func @gptj_per_head
// CHECK: %[[F:.+]] = vector.transfer_read %{{.+}} : tensor<4xf32>, vector<4xf32>
// CHECK-NOT: vector.shuffle %[[F]]
// CHECK: scf.for %[[T:[a-z0-9_]+]] = %{{.+}} iter_args(%[[COS:[a-z0-9_]+]] = %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} = %{{[a-z0-9_]+}}, {{.+}}) -> (tensor<1x2x?x8xbf16>, tensor<1x2x?x8xbf16>, i32, vector<4xf32>, vector<4xf32>, i32, vector<4xf32>, vector<4xf32>)
// CHECK: tensor.extract %{{.+}}[%c0,
// CHECK: arith.mulf %{{.+}}, %[[F]] : vector<4xf32>
// CHECK: tensor.extract %{{.+}}[%c1,
// CHECK: arith.mulf %{{.+}}, %[[F]] : vector<4xf32>
// CHECK-NOT: tensor.extract
// CHECK: %[[T0:.+]] = vector.shuffle %[[CT:.+]], %[[CT]] [0, 0, 1, 1] : vector<4xf32>, vector<4xf32>
// CHECK: %[[B0:.+]] = arith.truncf %[[T0]] : vector<4xf32> to vector<4xbf16>
// CHECK: %[[R0:.+]] = vector.insert_strided_slice %[[B0]], %{{.+}} {offsets = [0], strides = [1]} : vector<4xbf16> into vector<8xbf16>
// CHECK: %[[T4:.+]] = vector.shuffle %[[CT]], %[[CT]] [2, 2, 3, 3]
// CHECK: %[[B4:.+]] = arith.truncf %[[T4]]
// CHECK: %[[ROW0:.+]] = vector.insert_strided_slice %[[B4]], %[[R0]] {offsets = [4], strides = [1]}
// CHECK: %[[W0:.+]] = vector.transfer_write %[[ROW0]], %[[COS]][%c0, %c0, %[[T]], %c0] {in_bounds = [true]} : vector<8xbf16>
// CHECK: vector.shuffle %[[CH:.+]], %[[CH]] [0, 0, 1, 1]
// CHECK: %[[ROW1:.+]] = vector.insert_strided_slice %{{.+}} {offsets = [4], strides = [1]}
// CHECK: vector.transfer_write %[[ROW1]], %[[W0]][%c0, %c1, %[[T]], %c0]
func.func @gptj_per_head(%pos: tensor<3x1x5xi64>, %f: tensor<4xf32>) -> (tensor<1x2x5x8xbf16>, tensor<1x2x5x8xbf16>) {
  %c, %s = mrope.cos_sin %pos, %f rotary <alloc = <head_partitioned, section = [1, 1, 0]>, pairs = gptj, rotary_dim = 8> : tensor<3x1x5xi64>, tensor<4xf32> -> tensor<1x2x5x8xbf16>, tensor<1x2x5x8xbf16>
  return %c, %s : tensor<1x2x5x8xbf16>, tensor<1x2x5x8xbf16>
}

// -----

// Pairs with no position (HoPE [2, 1, 1] over 4 pairs: 0, 2, 3 NoPE, 1 H):
// their cos/sin (angle 0) are computed once, before the loops; per token only
// H's position is read.
// CHECK-LABEL: func.func @nope
// CHECK: %[[F:.+]] = vector.transfer_read
// CHECK: vector.shuffle %[[F]], %{{.+}} [0, 2, 3, 4]
// CHECK: vector.shuffle %[[F]], %{{.+}} [1, 4, 4, 4]
// CHECK: scf.forall
// CHECK-NOT: tensor.extract %{{.+}}[%c0,
// CHECK-NOT: tensor.extract %{{.+}}[%c2,
// CHECK: tensor.extract %{{.+}}[%c1,
// CHECK-NOT: tensor.extract
// CHECK: vector.shuffle %{{.+}}, %{{.+}} [0, 4, 1, 2]
// CHECK: scf.yield
func.func @nope(%pos: tensor<3x1x7xi64>, %f: tensor<4xf32>) -> (tensor<1x7x8xf32>, tensor<1x7x8xf32>) {
  %c, %s = mrope.cos_sin %pos, %f rotary <alloc = <hope, section = [2, 1, 1]>, rotary_dim = 8> : tensor<3x1x7xi64>, tensor<4xf32> -> tensor<1x7x8xf32>, tensor<1x7x8xf32>
  return %c, %s : tensor<1x7x8xf32>, tensor<1x7x8xf32>
}
