// RUN: mrope-opt %s -split-input-file -mrope-fuse-rotary-into-attention | FileCheck %s
// RUN: mrope-opt %s -split-input-file -mrope-fuse-rotary-into-attention=allow-recompute=true | FileCheck %s --check-prefix=RECOMPUTE

// CHECK-LABEL: func.func @fuse
// CHECK-SAME: (%[[Q:.+]]: tensor<1x32x33x128xbf16>, %[[K:.+]]: tensor<1x8x33x128xbf16>, %[[V:.+]]: tensor<1x8x33x128xbf16>, %[[P:.+]]: tensor<3x1x33xi64>, %[[F:.+]]: tensor<64xf32>)
// CHECK-NOT: mrope.apply
// CHECK: %[[O:.+]] = mrope.attention %[[Q]], %[[K]], %[[V]] q_positions(%[[P]] : tensor<3x1x33xi64>) k_positions(%[[P]] : tensor<3x1x33xi64>) freqs(%[[F]] : tensor<64xf32>) layout bhsd rotary <alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128> causal
// CHECK: return %[[O]]
func.func @fuse(%q: tensor<1x32x33x128xbf16>, %k: tensor<1x8x33x128xbf16>, %v: tensor<1x8x33x128xbf16>, %pos: tensor<3x1x33xi64>, %f: tensor<64xf32>) -> tensor<1x32x33x128xbf16> {
  %qr, %kr = mrope.apply %q, %k positions(%pos : tensor<3x1x33xi64>) freqs(%f : tensor<64xf32>) layout bhsd rotary <alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128> : tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>
  %o = mrope.attention %qr, %kr, %v layout bhsd causal : tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>, tensor<1x8x33x128xbf16> -> tensor<1x32x33x128xbf16>
  return %o : tensor<1x32x33x128xbf16>
}

// -----

// MHRoPE (per-KV-head axes) fuses the same way; the rotary config moves over.
// CHECK-LABEL: func.func @fuse_mhrope
// CHECK-NOT: mrope.apply
// CHECK: mrope.attention {{.*}} rotary <alloc = <head_partitioned, section = [2, 3, 3]>, rotary_dim = 16> scale 2.500000e-01
func.func @fuse_mhrope(%q: tensor<2x16x10x16xf32>, %k: tensor<2x8x10x16xf32>, %v: tensor<2x8x10x16xf32>, %pos: tensor<3x2x10xi64>, %f: tensor<8xf32>) -> tensor<2x16x10x16xf32> {
  %qr, %kr = mrope.apply %q, %k positions(%pos : tensor<3x2x10xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <head_partitioned, section = [2, 3, 3]>, rotary_dim = 16> : tensor<2x16x10x16xf32>, tensor<2x8x10x16xf32>
  %o = mrope.attention %qr, %kr, %v layout bhsd scale 0.25 : tensor<2x16x10x16xf32>, tensor<2x8x10x16xf32>, tensor<2x8x10x16xf32> -> tensor<2x16x10x16xf32>
  return %o : tensor<2x16x10x16xf32>
}

// -----

// The rotated k is also returned (e.g. written to a KV cache): fusing would
// rotate it twice, so by default the IR is left alone.
// CHECK-LABEL: func.func @k_has_other_user
// CHECK: mrope.apply
// CHECK: mrope.attention %{{.*}}, %{{.*}}, %{{.*}} layout bhsd :
// RECOMPUTE-LABEL: func.func @k_has_other_user
// RECOMPUTE: %[[QR:.+]], %[[KR:.+]] = mrope.apply
// RECOMPUTE: mrope.attention {{.*}} q_positions
// RECOMPUTE: return %{{.*}}, %[[KR]]
func.func @k_has_other_user(%q: tensor<1x8x4x16xf32>, %k: tensor<1x8x4x16xf32>, %v: tensor<1x8x4x16xf32>, %pos: tensor<3x1x4xi64>, %f: tensor<8xf32>) -> (tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>) {
  %qr, %kr = mrope.apply %q, %k positions(%pos : tensor<3x1x4xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 16> : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>
  %o = mrope.attention %qr, %kr, %v layout bhsd : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32> -> tensor<1x8x4x16xf32>
  return %o, %kr : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>
}

// -----

// q and k rotated by different applies: not one rotary prologue.
// CHECK-LABEL: func.func @different_applies
// CHECK-COUNT-2: mrope.apply
// CHECK: mrope.attention %{{.*}}, %{{.*}}, %{{.*}} layout bhsd :
func.func @different_applies(%q: tensor<1x8x4x16xf32>, %k: tensor<1x8x4x16xf32>, %v: tensor<1x8x4x16xf32>, %pos: tensor<3x1x4xi64>, %f: tensor<8xf32>) -> tensor<1x8x4x16xf32> {
  %qr, %unused = mrope.apply %q, %k positions(%pos : tensor<3x1x4xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 16> : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>
  %unused2, %kr = mrope.apply %q, %k positions(%pos : tensor<3x1x4xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <grape_interleaved>, rotary_dim = 16> : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>
  %o = mrope.attention %qr, %kr, %v layout bhsd : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32> -> tensor<1x8x4x16xf32>
  return %o : tensor<1x8x4x16xf32>
}

// -----

// The inverse rotation (training backward) is never fused into attention.
// CHECK-LABEL: func.func @inverse
// CHECK: mrope.apply {{.*}} inverse
// CHECK: mrope.attention %{{.*}}, %{{.*}}, %{{.*}} layout bhsd :
func.func @inverse(%q: tensor<1x8x4x16xf32>, %k: tensor<1x8x4x16xf32>, %v: tensor<1x8x4x16xf32>, %pos: tensor<3x1x4xi64>, %f: tensor<8xf32>) -> tensor<1x8x4x16xf32> {
  %qr, %kr = mrope.apply %q, %k positions(%pos : tensor<3x1x4xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 16> inverse : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>
  %o = mrope.attention %qr, %kr, %v layout bhsd : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32> -> tensor<1x8x4x16xf32>
  return %o : tensor<1x8x4x16xf32>
}

// -----

// Attention that already has a rotary prologue is not fused again.
// CHECK-LABEL: func.func @already_fused
// CHECK: mrope.apply
// CHECK: mrope.attention {{.*}} q_positions
func.func @already_fused(%q: tensor<1x8x4x16xf32>, %k: tensor<1x8x4x16xf32>, %v: tensor<1x8x4x16xf32>, %pos: tensor<3x1x4xi64>, %f: tensor<8xf32>) -> tensor<1x8x4x16xf32> {
  %qr, %kr = mrope.apply %q, %k positions(%pos : tensor<3x1x4xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 16> : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>
  %o = mrope.attention %qr, %kr, %v q_positions(%pos : tensor<3x1x4xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 16> : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32> -> tensor<1x8x4x16xf32>
  return %o : tensor<1x8x4x16xf32>
}
