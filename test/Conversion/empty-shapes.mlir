// Zero-sized dimensions through the CPU and GPU pipelines: every function
// compiles (before, the lowerings built zero-sized tensor.extract_slice that
// the upstream verifier rejects, and the GPU rotary kernel divided by a
// zero thread count). Ops without result elements fold to tensor.empty
// (static or reified sizes); a static length of 0 takes rope_index's closed
// form; sequence_length of no positions folds to the lowering's value.
// Results at run time: python/tests/test_positions.py (empty rows),
// python/tests/test_attention.py (no keys: rows of 0).
// RUN: mrope-opt %s -split-input-file --mrope-cpu-pipeline -o /dev/null
// RUN: not mrope-opt %s -split-input-file --mrope-gpu-pipeline="format=isa" -o /dev/null 2>&1 | FileCheck %s --check-prefix=GPU
// RUN: mrope-opt %s -split-input-file --convert-mrope-to-linalg | FileCheck %s

// CHECK-LABEL: func.func @apply_no_batch
// CHECK-NOT: mrope.apply
// CHECK: tensor.empty() : tensor<0x8x64x64xf32>
func.func @apply_no_batch(%q: tensor<0x8x64x64xf32>, %k: tensor<0x8x64x64xf32>,
                          %pos: tensor<3x0x64xi32>, %f: tensor<32xf32>)
    -> (tensor<0x8x64x64xf32>, tensor<0x8x64x64xf32>) {
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x0x64xi32>) freqs(%f : tensor<32xf32>) layout bhsd
      rotary <alloc = <vanilla>, pairs = gptj, rotary_dim = 64> : tensor<0x8x64x64xf32>, tensor<0x8x64x64xf32>
  return %q1, %k1 : tensor<0x8x64x64xf32>, tensor<0x8x64x64xf32>
}

// A dynamic batch next to a static zero token count: sizes from %x.
// CHECK-LABEL: func.func @rotate_no_tokens
// CHECK: %[[B:.*]] = tensor.dim %{{.*}}, %c0
// CHECK: tensor.empty(%[[B]]) : tensor<?x4x0x8xf32>
func.func @rotate_no_tokens(%x: tensor<?x4x0x8xf32>, %t: tensor<?x0x8xf32>) -> tensor<?x4x0x8xf32> {
  %x1 = mrope.rotate %x, %t, %t layout bhsd pairs neox : tensor<?x4x0x8xf32>, tensor<?x0x8xf32>
  return %x1 : tensor<?x4x0x8xf32>
}

// CHECK-LABEL: func.func @decode_no_head_dim
// CHECK-NOT: mrope.attention
func.func @decode_no_head_dim(%q: tensor<1x32x1x0xbf16>, %k: tensor<1x8x4096x0xbf16>,
                              %v: tensor<1x8x4096x0xbf16>) -> tensor<1x32x1x0xbf16> {
  %0 = mrope.attention %q, %k, %v layout bhsd causal
      : tensor<1x32x1x0xbf16>, tensor<1x8x4096x0xbf16>, tensor<1x8x4096x0xbf16> -> tensor<1x32x1x0xbf16>
  return %0 : tensor<1x32x1x0xbf16>
}

// CHECK-LABEL: func.func @cos_sin_no_tokens
func.func @cos_sin_no_tokens(%pos: tensor<3x2x0xi64>, %f: tensor<8xf32>) -> (tensor<2x0x16xf32>, tensor<2x0x16xf32>) {
  %c, %s = mrope.cos_sin %pos, %f rotary <alloc = <interleaved, section = [3, 3, 2]>, rotary_dim = 16> : tensor<3x2x0xi64>, tensor<8xf32> -> tensor<2x0x16xf32>, tensor<2x0x16xf32>
  return %c, %s : tensor<2x0x16xf32>, tensor<2x0x16xf32>
}

// CHECK-LABEL: func.func @rope_index_no_rows
func.func @rope_index_no_rows(%ids: tensor<0x5xi64>, %m: tensor<0x5xi64>) -> (tensor<3x0x5xi64>, tensor<4xi64>) {
  %p, %d, %n, %s = mrope.rope_index %ids mask(%m : tensor<0x5xi64>) design <qwen3vl> : tensor<0x5xi64> -> tensor<3x0x5xi64>, tensor<0x1xi64>, tensor<0xi64>, tensor<4xi64>
  return %p, %s : tensor<3x0x5xi64>, tensor<4xi64>
}

// CHECK-LABEL: func.func @rope_index_no_tokens
// CHECK-NOT: scf.for
func.func @rope_index_no_tokens(%ids: tensor<2x0xi64>, %m: tensor<2x0xi64>, %img: tensor<1x3xi64>) -> (tensor<3x2x0xi64>, tensor<4xi64>) {
  %p, %d, %n, %s = mrope.rope_index %ids mask(%m : tensor<2x0xi64>) images(%img : tensor<1x3xi64>) design <mrope> : tensor<2x0xi64> -> tensor<3x2x0xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  return %p, %s : tensor<3x2x0xi64>, tensor<4xi64>
}

// max over no positions + 1: INT32_MIN + 1 for i32 positions.
// CHECK-LABEL: func.func @sequence_length_no_rows
// CHECK: %[[C:.*]] = arith.constant -2147483647 : i64
// CHECK: return %[[C]]
func.func @sequence_length_no_rows(%pos: tensor<3x0x5xi32>) -> i64 {
  %n = mrope.sequence_length %pos : tensor<3x0x5xi32>
  return %n : i64
}

// -----

// Attention with no keys runs on the CPU (rows of 0, as for an empty
// cache); the GPU kernel says it needs keys -- the only error here.
// GPU-NOT: error
// GPU: error: 'mrope.attention' op the GPU attention kernel needs at least one query, key, sequence and head
// GPU-NOT: error
// CHECK-LABEL: func.func @attention_no_keys
func.func @attention_no_keys(%q: tensor<1x8x16x64xbf16>, %k: tensor<1x2x0x64xbf16>) -> tensor<1x8x16x64xbf16> {
  %o = mrope.attention %q, %k, %k layout bhsd
      : tensor<1x8x16x64xbf16>, tensor<1x2x0x64xbf16>, tensor<1x2x0x64xbf16> -> tensor<1x8x16x64xbf16>
  return %o : tensor<1x8x16x64xbf16>
}
