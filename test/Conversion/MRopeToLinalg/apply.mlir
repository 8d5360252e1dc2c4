// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg | FileCheck %s

// The allocation is specialized at compile time: each strided run of pairs
// reads one fixed row of the positions (no per-element axis lookup) into a
// table of per-pair positions; cos/sin of pos * inv_freq are computed once per
// (token, pair) and shared by q and k.

// Contiguous [2, 3, 3]: three unit-stride runs T (pairs 0-1), H (2-4), W (5-7).
// The rotation reads the two NeoX halves of q as slices and writes each pair
// back in the same generic (no gathers, no per-element index math); the
// table is broadcast over heads by its indexing map.
// CHECK-DAG: #[[ID:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[TABLE:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-DAG: #[[PAIR:.+]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @contiguous
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x2x5x16xf32>, %[[K:[a-z0-9]+]]: tensor<1x2x5x16xf32>, %[[POS:[a-z0-9]+]]: tensor<3x1x5xi64>, %[[F:[a-z0-9]+]]: tensor<8xf32>
// CHECK: %[[POSF:.+]] = linalg.generic {{.*}} ins(%[[POS]] : tensor<3x1x5xi64>)
// CHECK: arith.sitofp
// CHECK: tensor.extract_slice %[[POSF]][0, 0, 0] [1, 1, 5] [1, 1, 1] : tensor<3x1x5xf32> to tensor<1x5xf32>
// CHECK: tensor.insert_slice {{.*}}[0, 0, 0] [1, 5, 2] [1, 1, 1] : tensor<1x5x2xf32> into tensor<1x5x8xf32>
// CHECK: tensor.extract_slice %[[POSF]][1, 0, 0]
// CHECK: tensor.insert_slice {{.*}}[0, 0, 2] [1, 5, 3] [1, 1, 1]
// CHECK: tensor.extract_slice %[[POSF]][2, 0, 0]
// CHECK: %[[PP:.+]] = tensor.insert_slice {{.*}}[0, 0, 5] [1, 5, 3] [1, 1, 1]
// The reference angle: one f32 product, then cos and sin as PyTorch's CPU
// kernels compute them -- SLEEF's algorithm written as arithmetic (Cody-Waite
// below 125 rad, Payne-Hanek with 1/(2 pi) in four words above), no libm.
// CHECK: %[[CS:.+]]:2 = linalg.generic {indexing_maps = [#{{.+}}, #[[PAIR]], #{{.+}}, #{{.+}}]{{.*}} ins(%[[PP]], %[[F]] : tensor<1x5x8xf32>, tensor<8xf32>)
// CHECK-NEXT: ^bb0(%[[P:[a-z0-9_]+]]: f32, %[[FJ:[a-z0-9_]+]]: f32,
// CHECK-NEXT: %[[ANGLE:.+]] = arith.mulf %[[P]], %[[FJ]] : f32
// CHECK-NOT: math.{{cos|sin}}
// CHECK: arith.constant 1.250000e+02 : f32
// CHECK-NOT: math.{{cos|sin}}
// CHECK: arith.constant 0.159154892 : f32
// CHECK-NOT: math.{{cos|sin}}
// CHECK: math.roundeven
// CHECK-NOT: math.{{cos|sin}}
// CHECK: linalg.yield %{{.+}}, %{{.+}} : f32, f32
// CHECK: %[[Q1:.+]] = tensor.extract_slice %[[Q]][0, 0, 0, 0] [1, 2, 5, 8] [1, 1, 1, 1] : tensor<1x2x5x16xf32> to tensor<1x2x5x8xf32>
// CHECK: %[[Q2:.+]] = tensor.extract_slice %[[Q]][0, 0, 0, 8] [1, 2, 5, 8] [1, 1, 1, 1]
// CHECK: %[[R:.+]]:2 = linalg.generic {indexing_maps = [#[[ID]], #[[ID]], #[[TABLE]], #[[TABLE]], #[[ID]], #[[ID]]]{{.*}} ins(%[[Q1]], %[[Q2]], %[[CS]]#0, %[[CS]]#1 : {{.*}}) outs(%[[Q1]], %[[Q2]] :
// CHECK: ^bb0(%[[X1:[a-z0-9_]+]]: f32, %[[X2:[a-z0-9_]+]]: f32, %[[CC:[a-z0-9_]+]]: f32, %[[SS:[a-z0-9_]+]]: f32,
// CHECK: %[[X1C:.+]] = arith.mulf %[[X1]], %[[CC]] : f32
// CHECK: %[[X2S:.+]] = arith.mulf %[[X2]], %[[SS]] : f32
// CHECK: %[[Y1:.+]] = arith.subf %[[X1C]], %[[X2S]] : f32
// CHECK: %[[X2C:.+]] = arith.mulf %[[X2]], %[[CC]] : f32
// CHECK: %[[X1S:.+]] = arith.mulf %[[X1]], %[[SS]] : f32
// CHECK: %[[Y2:.+]] = arith.addf %[[X2C]], %[[X1S]] : f32
// CHECK: linalg.yield %[[Y1]], %[[Y2]]
// CHECK: %[[QA:.+]] = tensor.insert_slice %[[R]]#0 into %[[Q]][0, 0, 0, 0] [1, 2, 5, 8] [1, 1, 1, 1]
// CHECK: tensor.insert_slice %[[R]]#1 into %[[QA]][0, 0, 0, 8] [1, 2, 5, 8] [1, 1, 1, 1]
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}}, %[[CS]]#0, %[[CS]]#1
// CHECK-NOT: scf.forall
// CHECK-NOT: mrope.
func.func @contiguous(%q: tensor<1x2x5x16xf32>, %k: tensor<1x2x5x16xf32>, %pos: tensor<3x1x5xi64>, %f: tensor<8xf32>) -> (tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x5xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <contiguous, section = [2, 3, 3]>, rotary_dim = 16> : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
  return %a, %b : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
}

// -----

// Interleaved [3, 3, 2] on 8 pairs is T,H,W,T,H,W,T,H: stride-3 runs.
// CHECK-LABEL: func.func @interleaved
// CHECK: tensor.insert_slice {{.*}}[0, 0, 0] [1, 5, 3] [1, 1, 3] : tensor<1x5x3xf32> into tensor<1x5x8xf32>
// CHECK: tensor.insert_slice {{.*}}[0, 0, 1] [1, 5, 3] [1, 1, 3]
// CHECK: tensor.insert_slice {{.*}}[0, 0, 2] [1, 5, 2] [1, 1, 3] : tensor<1x5x2xf32> into tensor<1x5x8xf32>
func.func @interleaved(%q: tensor<1x2x5x16xf32>, %k: tensor<1x2x5x16xf32>, %pos: tensor<3x1x5xi64>, %f: tensor<8xf32>) -> (tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x5xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <interleaved, section = [3, 3, 2]>, rotary_dim = 16> : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
  return %a, %b : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
}

// -----

// HoPE [2, 2, 2] on 8 pairs: H on odd pairs < 4, W on even 0 < j < 4, the
// rest (T in VideoRoPE) NoPE: -,H,W,H,-,-,-,-. NoPE pairs keep angle 0 (the
// zero-filled table), so only the H run (1, 3) and the W pair 2 are written.
// CHECK-LABEL: func.func @hope
// CHECK: linalg.fill
// CHECK: tensor.insert_slice {{.*}}[0, 0, 1] [1, 5, 2] [1, 1, 2] : tensor<1x5x2xf32> into tensor<1x5x8xf32>
// CHECK: tensor.insert_slice {{.*}}[0, 0, 2] [1, 5, 1] [1, 1, 1] : tensor<1x5x1xf32> into tensor<1x5x8xf32>
// CHECK-NOT: tensor.insert_slice {{.*}} into tensor<1x5x8xf32>
func.func @hope(%q: tensor<1x2x5x16xf32>, %k: tensor<1x2x5x16xf32>, %pos: tensor<3x1x5xi64>, %f: tensor<8xf32>) -> (tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x5xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <hope, section = [2, 2, 2]>, rotary_dim = 16> : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
  return %a, %b : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
}

// -----

// Packed thd, GPT-J pairs, partial rotary (8 of 16 channels), bf16, inverse,
// attention scaling 1.5: cos/sin scaled in f32, rounded to bf16, sin negated;
// the channels past 8 are never touched.
// CHECK-DAG: #[[GPTJ_TABLE:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @gptj_partial_bf16_inverse
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<7x4x16xbf16>
// CHECK: tensor.extract_slice %{{.+}}[0, 0] [1, 7] [1, 1] : tensor<3x7xf32> to tensor<7xf32>
// CHECK: %[[SCALE:.+]] = arith.constant 1.500000e+00 : f32
// CHECK: arith.mulf %{{.+}}, %[[SCALE]] : f32
// GPT-J pairs are the even and odd channels of the first 8: stride-2 slices.
// CHECK: %[[EVEN:.+]] = tensor.extract_slice %[[Q]][0, 0, 0] [7, 4, 4] [1, 1, 2] : tensor<7x4x16xbf16> to tensor<7x4x4xbf16>
// CHECK: %[[ODD:.+]] = tensor.extract_slice %[[Q]][0, 0, 1] [7, 4, 4] [1, 1, 2] : tensor<7x4x16xbf16> to tensor<7x4x4xbf16>
// CHECK: %[[QR:.+]]:2 = linalg.generic {indexing_maps = [#{{.+}}, #{{.+}}, #[[GPTJ_TABLE]], #[[GPTJ_TABLE]], #{{.+}}, #{{.+}}]{{.*}} ins(%[[EVEN]], %[[ODD]]
// The inverse negates sin in f32, then rounds (exact: rounding is symmetric).
// CHECK: %[[NEG:.+]] = arith.negf %{{.+}} : f32
// CHECK: arith.truncf %{{.+}} : f32 to bf16
// CHECK: arith.truncf %[[NEG]] : f32 to bf16
// CHECK: %[[QE:.+]] = tensor.insert_slice %[[QR]]#0 into %[[Q]][0, 0, 0] [7, 4, 4] [1, 1, 2] : tensor<7x4x4xbf16> into tensor<7x4x16xbf16>
// CHECK: tensor.insert_slice %[[QR]]#1 into %[[QE]][0, 0, 1] [7, 4, 4] [1, 1, 2]
func.func @gptj_partial_bf16_inverse(%q: tensor<7x4x16xbf16>, %k: tensor<7x2x16xbf16>, %pos: tensor<3x7xf32>, %f: tensor<4xf32>) -> (tensor<7x4x16xbf16>, tensor<7x2x16xbf16>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x7xf32>) freqs(%f : tensor<4xf32>) layout thd rotary <alloc = <mmrope>, pairs = gptj, rotary_dim = 8, attention_scaling = 1.5> inverse : tensor<7x4x16xbf16>, tensor<7x2x16xbf16>
  return %a, %b : tensor<7x4x16xbf16>, tensor<7x2x16xbf16>
}

// -----

// MHRoPE [1, 1, 1] on 4 KV heads (bshd): heads on one axis share their
// positions, so the table has one slot per head block, [B, blocks, S, P] (here
// T, H, W and the NoPE head 3, whose slot stays 0), every head using all 8
// frequencies. Each block is rotated by its own generic over its query heads
// (2 per KV head) reading a slot fixed at compile time.
// CHECK-DAG: #[[BLOCK_TABLE:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-LABEL: func.func @mhrope
// CHECK: linalg.fill {{.*}} -> tensor<1x4x5x8xf32>
// CHECK: tensor.insert_slice {{.*}}[0, 0, 0, 0] [1, 1, 5, 8] [1, 1, 1, 1] : tensor<1x1x5x8xf32> into tensor<1x4x5x8xf32>
// CHECK: tensor.insert_slice {{.*}}[0, 1, 0, 0] [1, 1, 5, 8] [1, 1, 1, 1]
// CHECK: tensor.insert_slice {{.*}}[0, 2, 0, 0] [1, 1, 5, 8] [1, 1, 1, 1]
// CHECK-NOT: tensor.insert_slice {{.*}}[0, 3, 0, 0]
// CHECK: %[[CS:.+]]:2 = linalg.generic
// CHECK: %[[H0:.+]] = tensor.extract_slice %arg0[0, 0, 0, 0] [1, 5, 2, 8] [1, 1, 1, 1] : tensor<1x5x8x16xf32> to tensor<1x5x2x8xf32>
// CHECK: %[[C0:.+]] = tensor.extract_slice %[[CS]]#0[0, 0, 0, 0] [1, 1, 5, 8] [1, 1, 1, 1] : tensor<1x4x5x8xf32> to tensor<1x5x8xf32>
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #{{.+}}, #[[BLOCK_TABLE]], #[[BLOCK_TABLE]], #{{.+}}, #{{.+}}]{{.*}} ins(%[[H0]], %{{.+}}, %[[C0]],
// CHECK: tensor.extract_slice %{{.+}}[0, 0, 2, 0] [1, 5, 2, 8] [1, 1, 1, 1] : tensor<1x5x8x16xf32> to tensor<1x5x2x8xf32>
// CHECK: tensor.extract_slice %[[CS]]#0[0, 1, 0, 0] [1, 1, 5, 8]
// CHECK: tensor.extract_slice %{{.+}}[0, 0, 4, 0] [1, 5, 2, 8]
// CHECK: tensor.extract_slice %[[CS]]#0[0, 2, 0, 0] [1, 1, 5, 8]
// The NoPE head is still rotated (angle 0: cos 1, sin 0) for exact rounding.
// CHECK: tensor.extract_slice %{{.+}}[0, 0, 6, 0] [1, 5, 2, 8]
// CHECK: tensor.extract_slice %[[CS]]#0[0, 3, 0, 0] [1, 1, 5, 8]
// The key heads are the KV heads: one per block.
// CHECK: tensor.extract_slice %arg1[0, 0, 0, 0] [1, 5, 1, 8] [1, 1, 1, 1] : tensor<1x5x4x16xf32> to tensor<1x5x1x8xf32>
// CHECK-NOT: scf.forall
func.func @mhrope(%q: tensor<1x5x8x16xf32>, %k: tensor<1x5x4x16xf32>, %pos: tensor<3x1x5xi64>, %f: tensor<8xf32>) -> (tensor<1x5x8x16xf32>, tensor<1x5x4x16xf32>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x5xi64>) freqs(%f : tensor<8xf32>) layout bshd rotary <alloc = <head_partitioned, section = [1, 1, 1]>, rotary_dim = 16> : tensor<1x5x8x16xf32>, tensor<1x5x4x16xf32>
  return %a, %b : tensor<1x5x8x16xf32>, tensor<1x5x4x16xf32>
}

// -----

// MHRoPE [4, 2, 2] on 8 KV heads: three blocks, so a 3-slot table instead of
// 8 per-head tables (cos/sin computed once per axis), and three generics over
// query heads 0-3, 4-5 and 6-7 (GQA group 1).
// CHECK-LABEL: func.func @mhrope_blocks
// CHECK: linalg.fill {{.*}} -> tensor<4x3x6x8xf32>
// CHECK: } -> (tensor<4x3x6x8xf32>, tensor<4x3x6x8xf32>)
// CHECK-NOT: arith.constant 1.250000e+02
// CHECK: tensor.extract_slice %arg0[0, 0, 0, 0] [4, 4, 6, 8] [1, 1, 1, 1]
// CHECK: tensor.extract_slice %{{.+}}[0, 4, 0, 0] [4, 2, 6, 8] [1, 1, 1, 1]
// CHECK: tensor.extract_slice %{{.+}}[0, 6, 0, 0] [4, 2, 6, 8] [1, 1, 1, 1]
func.func @mhrope_blocks(%q: tensor<4x8x6x16xf32>, %k: tensor<4x8x6x16xf32>, %pos: tensor<3x4x6xi64>, %f: tensor<8xf32>) -> (tensor<4x8x6x16xf32>, tensor<4x8x6x16xf32>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x4x6xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <head_partitioned, section = [4, 2, 2]>, rotary_dim = 16> : tensor<4x8x6x16xf32>, tensor<4x8x6x16xf32>
  return %a, %b : tensor<4x8x6x16xf32>, tensor<4x8x6x16xf32>
}

// -----

// Dynamic batch and sequence: sizes come from tensor.dim.
// CHECK-LABEL: func.func @dynamic
// CHECK: tensor.dim
// CHECK: linalg.generic
// CHECK-NOT: mrope.apply
func.func @dynamic(%q: tensor<?x2x?x16xf16>, %k: tensor<?x2x?x16xf16>, %pos: tensor<3x?x?xi32>, %f: tensor<8xf32>) -> (tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x?x?xi32>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 16> : tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>
  return %a, %b : tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>
}

// -----

// angles = exact: the product pos * inv_freq is kept as two f32 words (an FMA
// recovers the rounding error), whole turns k = roundeven(hi / 2pi) are taken
// away with the three words of 2pi (products split exactly by FMAs, sums by
// TwoSum), and the remaining tail corrects cos/sin of the reduced angle.
// CHECK-LABEL: func.func @exact_angles
// CHECK: linalg.generic {{.*}} ins(%{{.+}}, %{{.+}} : tensor<1x5x8xf32>, tensor<8xf32>)
// CHECK-NEXT: ^bb0(%[[P:[a-z0-9_]+]]: f32, %[[FJ:[a-z0-9_]+]]: f32,
// CHECK-NEXT: %[[HI:.+]] = arith.mulf %[[P]], %[[FJ]] : f32
// CHECK-NEXT: %[[NHI:.+]] = arith.negf %[[HI]] : f32
// CHECK-NEXT: %[[LO:.+]] = math.fma %[[P]], %[[FJ]], %[[NHI]] : f32
// CHECK-NEXT: %[[INV:.+]] = arith.constant 0.159154937 : f32
// CHECK-NEXT: %[[TURNS:.+]] = arith.mulf %[[HI]], %[[INV]] : f32
// CHECK-NEXT: %[[K:.+]] = math.roundeven %[[TURNS]] : f32
// CHECK-NEXT: %[[C1:.+]] = arith.constant 6.28318548 : f32
// CHECK-NEXT: %[[P1:.+]] = arith.mulf %[[K]], %[[C1]] : f32
// CHECK: %[[R:.+]] = arith.subf %[[HI]], %[[P1]] : f32
// CHECK: arith.constant -6.86049804E-15 : f32
// CHECK-NEXT: %[[TAIL:.+]] = math.fma
// cos/sin of the reduced angle: SLEEF's arithmetic, the polynomial past 2^26
// (never taken here: |reduced| <= pi).
// CHECK: %[[LIMIT:.+]] = arith.constant 0x4C800000 : f32
// CHECK-NEXT: %[[INRANGE:.+]] = arith.cmpf olt, %{{.+}}, %[[LIMIT]] : f32
// CHECK: %[[C:.+]] = arith.select %[[INRANGE]], %{{.+}}, %{{.+}} : f32
// CHECK-NEXT: %[[S:.+]] = arith.select %[[INRANGE]], %{{.+}}, %{{.+}} : f32
// CHECK-NEXT: %[[NT:.+]] = arith.negf %[[TAIL]] : f32
// CHECK-NEXT: %[[COS:.+]] = math.fma %[[NT]], %[[S]], %[[C]] : f32
// CHECK-NEXT: %[[SIN:.+]] = math.fma %[[TAIL]], %[[C]], %[[S]] : f32
// CHECK-NEXT: linalg.yield %[[COS]], %[[SIN]] : f32, f32
func.func @exact_angles(%q: tensor<1x2x5x16xf32>, %k: tensor<1x2x5x16xf32>, %pos: tensor<3x1x5xi64>, %f: tensor<8xf32>) -> (tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>) {
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x5xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <interleaved, section = [3, 3, 2]>, rotary_dim = 16, angles = exact> : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
  return %a, %b : tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
}
