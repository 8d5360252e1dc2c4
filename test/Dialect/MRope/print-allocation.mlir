// RUN: mrope-opt %s -split-input-file --mrope-print-allocation -verify-diagnostics -o /dev/null

// One remark per rotating op; the map has one character per pair.
func.func @apply(%q: tensor<1x4x2x16xf32>, %k: tensor<1x4x2x16xf32>, %pos: tensor<3x1x2xi64>, %f: tensor<6xf32>) {
  // Partial rotary: 12 of 16 channels rotate, so 6 pairs are reported.
  // expected-remark @+1 {{pair axes: TTHHWW}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x2xi64>) freqs(%f : tensor<6xf32>) layout bhsd rotary <alloc = <contiguous, section = [2, 2, 2]>, rotary_dim = 12> : tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>
  return
}

// -----

// Interleaved ignores section[0]: with [0, 3, 3] on 6 pairs, T still takes
// the pairs H and W leave (j % 3 == 0).
func.func @saturate(%q: tensor<1x4x2x12xf32>, %k: tensor<1x4x2x12xf32>, %pos: tensor<3x1x2xi64>, %f: tensor<6xf32>) {
  // expected-remark @+1 {{pair axes: THWTHW}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x2xi64>) freqs(%f : tensor<6xf32>) layout bhsd rotary <alloc = <interleaved, section = [0, 3, 3]>, rotary_dim = 12> : tensor<1x4x2x12xf32>, tensor<1x4x2x12xf32>
  return
}

// -----

// Head-partitioned: per KV head, from k's head dimension in the bshd layout.
func.func @mhrope(%q: tensor<1x2x10x16xf32>, %k: tensor<1x2x5x16xf32>, %pos: tensor<3x1x2xi64>, %f: tensor<8xf32>) {
  // expected-remark @+1 {{KV head axes: THWW-}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x2xi64>) freqs(%f : tensor<8xf32>) layout bshd rotary <alloc = <head_partitioned, section = [1, 1, 2]>, rotary_dim = 16> : tensor<1x2x10x16xf32>, tensor<1x2x5x16xf32>
  return
}

// -----

func.func @dynamic_heads(%q: tensor<1x?x2x16xf32>, %k: tensor<1x?x2x16xf32>, %pos: tensor<3x1x2xi64>, %f: tensor<8xf32>) {
  // expected-remark @+1 {{KV head axes: unknown (dynamic KV head count)}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x2xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <head_partitioned, section = [1, 1, 1]>, rotary_dim = 16> : tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>
  return
}

// -----

// Attention reports its prologue; attention without one is silent.
func.func @attention(%q: tensor<1x4x2x16xf32>, %k: tensor<1x4x2x16xf32>, %pos: tensor<3x1x2xi64>, %f: tensor<8xf32>) {
  // expected-remark @+1 {{pair axes: TTHWHWHW}}
  %0 = mrope.attention %q, %k, %k q_positions(%pos : tensor<3x1x2xi64>) freqs(%f : tensor<8xf32>) layout bhsd rotary <alloc = <mmrope>, rotary_dim = 16> : tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32> -> tensor<1x4x2x16xf32>
  %1 = mrope.attention %q, %k, %k layout bhsd : tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32> -> tensor<1x4x2x16xf32>
  return
}
