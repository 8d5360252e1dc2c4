// RUN: mrope-opt %s -split-input-file -canonicalize | FileCheck %s

// Folding of the ops whose results are known at compile time. Expected values
// are worked out by hand from the rules in docs/IRDesign.md (golden-data
// folding tests for every Hugging Face case are in test/Conformance).

// Qwen2-VL, text(2) image(2x3) text(2): image at start 2, next text at
// 2 + max(0, 1, 2) + 1 = 5. i32 results fold too.
// CHECK-LABEL: func.func @mrope_i32
// CHECK-DAG: arith.constant dense<{{\[\[\[}}0, 1, 2, 2, 2, 2, 2, 2, 5, 6]], {{\[\[}}0, 1, 2, 2, 2, 3, 3, 3, 5, 6]], {{\[\[}}0, 1, 2, 3, 4, 2, 3, 4, 5, 6]]]> : tensor<3x1x10xi32>
// CHECK-DAG: arith.constant dense<-3> : tensor<1x1xi32>
// CHECK-DAG: arith.constant dense<7> : tensor<1xi32>
// CHECK-NOT: mrope.position_ids
func.func @mrope_i32() -> (tensor<3x1x10xi32>, tensor<1x1xi32>, tensor<1xi32>) {
  %p, %d, %n = mrope.position_ids <mrope> [[text 2, image 1x2x3, text 2]] : tensor<3x1x10xi32>, tensor<1x1xi32>, tensor<1xi32>
  return %p, %d, %n : tensor<3x1x10xi32>, tensor<1x1xi32>, tensor<1xi32>
}

// -----

// Vanilla: every token, visual or not, advances by one on all rows.
// CHECK-LABEL: func.func @vanilla
// CHECK-DAG: arith.constant dense<{{\[\[\[}}0, 1, 2, 3, 4]], {{\[\[}}0, 1, 2, 3, 4]], {{\[\[}}0, 1, 2, 3, 4]]]> : tensor<3x1x5xi64>
// CHECK-DAG: arith.constant dense<0> : tensor<1x1xi64>
// CHECK-DAG: arith.constant dense<5> : tensor<1xi64>
func.func @vanilla() -> (tensor<3x1x5xi64>, tensor<1x1xi64>, tensor<1xi64>) {
  %p, %d, %n = mrope.position_ids <vanilla> [[text 1, image 1x1x3, text 1]] : tensor<3x1x5xi64>, tensor<1x1xi64>, tensor<1xi64>
  return %p, %d, %n : tensor<3x1x5xi64>, tensor<1x1xi64>, tensor<1xi64>
}

// -----

// Spatial reset: h and w of the visual block restart at 0, t keeps the start;
// the text after it is unchanged (start 1 + max(0, 1, 1) + 1 = 3).
// CHECK-LABEL: func.func @spatial_reset
// CHECK-DAG: arith.constant dense<{{\[\[\[}}0, 1, 1, 1, 1, 3]], {{\[\[}}0, 0, 0, 1, 1, 3]], {{\[\[}}0, 0, 1, 0, 1, 3]]]> : tensor<3x1x6xi64>
func.func @spatial_reset() -> tensor<3x1x6xi64> {
  %p, %d, %n = mrope.position_ids <spatial_reset> [[text 1, video 1x2x2, text 1]] : tensor<3x1x6xi64>, tensor<1x1xi64>, tensor<1xi64>
  return %p : tensor<3x1x6xi64>
}

// -----

// Right padding: legacy fills 1 and takes deltas over the padded length,
// hf5 fills 0 and uses the unpadded length; the next position is the same.
// CHECK-LABEL: func.func @padding
// CHECK-DAG: arith.constant dense<{{\[\[\[}}0, 1, 1, 1]]{{.*}} : tensor<3x1x4xi64>
// CHECK-DAG: arith.constant dense<-2> : tensor<1x1xi64>
// CHECK-DAG: arith.constant dense<{{\[\[\[}}0, 1, 0, 0]]{{.*}} : tensor<3x1x4xi64>
// CHECK-DAG: arith.constant dense<0> : tensor<1x1xi64>
// CHECK-DAG: arith.constant dense<2> : tensor<1xi64>
func.func @padding() -> (tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<1xi64>) {
  %p, %d, %n = mrope.position_ids <mrope> [[text 2, pad 2]] : tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<1xi64>
  %p5, %d5, %n5 = mrope.position_ids <mrope, compat = hf5> [[text 2, pad 2]] : tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<1xi64>
  return %p, %d, %p5, %d5, %n5 : tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<1xi64>
}

// -----

// VideoRoPE (f32): the image at start 2 has t = 2, h = t + eta - (H-1)/2,
// w = t + omega - floor((W-1)/2); text resumes at the t-row max + 1 = 3 and
// the deltas come from the t row (3 + 1 - 9 = -5).
// CHECK-LABEL: func.func @videorope
// CHECK-DAG: arith.constant dense<{{\[\[\[}}0.000000e+00, 1.000000e+00, 2.000000e+00, 2.000000e+00, 2.000000e+00, 2.000000e+00, 2.000000e+00, 2.000000e+00, 3.000000e+00]], {{\[\[}}0.000000e+00, 1.000000e+00, 2.000000e+00, 2.000000e+00, 2.000000e+00, 3.000000e+00, 3.000000e+00, 3.000000e+00, 3.000000e+00]], {{\[\[}}0.000000e+00, 1.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00, 3.000000e+00]]]> : tensor<3x1x9xf32>
// CHECK-DAG: arith.constant dense<-5.000000e+00> : tensor<1x1xf32>
// CHECK-DAG: arith.constant dense<4.000000e+00> : tensor<1xf32>
func.func @videorope() -> (tensor<3x1x9xf32>, tensor<1x1xf32>, tensor<1xf32>) {
  %p, %d, %n = mrope.position_ids <videorope> [[text 2, image 1x2x3, text 1]] : tensor<3x1x9xf32>, tensor<1x1xf32>, tensor<1xf32>
  return %p, %d, %n : tensor<3x1x9xf32>, tensor<1x1xf32>, tensor<1xf32>
}

// -----

// -----

// Decode positions: next + k on all three rows, per sequence.
// CHECK-LABEL: func.func @decode
// CHECK-DAG: arith.constant dense<{{\[\[\[}}7, 8, 9], [20, 21, 22]], {{\[\[}}7, 8, 9], [20, 21, 22]], {{\[\[}}7, 8, 9], [20, 21, 22]]]> : tensor<3x2x3xi64>
// CHECK-DAG: arith.constant dense<{{\[\[\[}}2.500000e+00, 3.500000e+00]], {{\[\[}}2.500000e+00, 3.500000e+00]], {{\[\[}}2.500000e+00, 3.500000e+00]]]> : tensor<3x1x2xf32>
// CHECK-NOT: mrope.decode_positions
func.func @decode() -> (tensor<3x2x3xi64>, tensor<3x1x2xf32>) {
  %next = arith.constant dense<[7, 20]> : tensor<2xi64>
  %d = mrope.decode_positions %next : tensor<2xi64> -> tensor<3x2x3xi64>
  %fnext = arith.constant dense<[2.5]> : tensor<1xf32>
  %f = mrope.decode_positions %fnext : tensor<1xf32> -> tensor<3x1x2xf32>
  return %d, %f : tensor<3x2x3xi64>, tensor<3x1x2xf32>
}

// -----

// Decode positions of a runtime tensor are not folded.
// CHECK-LABEL: func.func @decode_runtime
// CHECK: mrope.decode_positions
func.func @decode_runtime(%next: tensor<2xi64>) -> tensor<3x2x1xi64> {
  %d = mrope.decode_positions %next : tensor<2xi64> -> tensor<3x2x1xi64>
  return %d : tensor<3x2x1xi64>
}

// -----

// Prefill positions feed decode: both fold through.
// CHECK-LABEL: func.func @prefill_then_decode
// CHECK: arith.constant dense<{{\[\[\[}}7, 8]], {{\[\[}}7, 8]], {{\[\[}}7, 8]]]> : tensor<3x1x2xi64>
func.func @prefill_then_decode() -> tensor<3x1x2xi64> {
  %p, %d, %n = mrope.position_ids <mrope> [[text 2, image 1x2x3, text 2]] : tensor<3x1x10xi64>, tensor<1x1xi64>, tensor<1xi64>
  %dec = mrope.decode_positions %n : tensor<1xi64> -> tensor<3x1x2xi64>
  return %dec : tensor<3x1x2xi64>
}

// -----

// inv_freq = 1 / theta^(2j/D): D = 4, theta = 100 gives [1, 0.1]; linear
// scaling divides by the factor.
// CHECK-LABEL: func.func @inv_freq
// CHECK-DAG: arith.constant dense<[1.000000e+00, 1.000000e-01]> : tensor<2xf32>
// CHECK-DAG: arith.constant dense<[5.000000e-01, 5.000000e-02]> : tensor<2xf32>
// CHECK-NOT: mrope.inv_freq
func.func @inv_freq() -> (tensor<2xf32>, tensor<2xf32>) {
  %a = mrope.inv_freq theta = 100.0 : tensor<2xf32>
  %b = mrope.inv_freq theta = 100.0 scaling <kind = linear, factor = 2.0> : tensor<2xf32>
  return %a, %b : tensor<2xf32>, tensor<2xf32>
}

// -----

// Dynamic NTK with a runtime length is computed at run time.
// CHECK-LABEL: func.func @inv_freq_runtime
// CHECK: mrope.inv_freq
func.func @inv_freq_runtime(%len: i64) -> tensor<2xf32> {
  %a = mrope.inv_freq theta = 100.0 scaling <kind = dynamic, factor = 2.0, max_position_embeddings = 64> seq_len(%len : i64) : tensor<2xf32>
  return %a : tensor<2xf32>
}

// -----

// Attention scaling: YaRN mscale 0.1 ln(4) + 1; the 4.49 convention ignores
// mscale/mscale_all_dim; LongRoPE sqrt(1 + ln(32) / ln(4096)) = sqrt(17/12)
// with the factor 131072 / 4096; Llama-3 leaves cos/sin unscaled.
// CHECK-LABEL: func.func @attention_scaling
// CHECK-DAG: arith.constant 1.1386294361119891 : f64
// CHECK-DAG: arith.constant 1.1902380714238083 : f64
// CHECK-DAG: arith.constant 1.000000e+00 : f64
// CHECK-NOT: mrope.attention_scaling
func.func @attention_scaling() -> (f64, f64, f64, f64) {
  %a = mrope.attention_scaling <kind = yarn, factor = 4.0, original_max_position_embeddings = 4096> : f64
  %b = mrope.attention_scaling <kind = yarn, convention = hf449, factor = 4.0, max_position_embeddings = 4096, mscale = 1.0, mscale_all_dim = 0.707> : f64
  %c = mrope.attention_scaling <kind = longrope, max_position_embeddings = 131072, original_max_position_embeddings = 4096, short_factor = [1.0], long_factor = [2.0]> : f64
  %d = mrope.attention_scaling <kind = llama3, factor = 8.0, original_max_position_embeddings = 8192, low_freq_factor = 1.0, high_freq_factor = 4.0> : f64
  return %a, %b, %c, %d : f64, f64, f64, f64
}

// -----

// The dynamic-scaling length is max(positions) + 1 over all rows and rows of
// the batch: 9 + 1 here.
// CHECK-LABEL: func.func @sequence_length
// CHECK: %[[C:.+]] = arith.constant 10 : i64
// CHECK: return %[[C]]
func.func @sequence_length() -> i64 {
  %p = arith.constant dense<[[[0, 1, 2]], [[0, 9, 2]], [[0, 1, 5]]]> : tensor<3x1x3xi64>
  %n = mrope.sequence_length %p : tensor<3x1x3xi64>
  return %n : i64
}

// -----

// Ops whose results have no elements (a zero batch, token count or head
// dim) are replaced by tensor.empty: nothing to compute, and the lowerings
// would otherwise slice zero-sized dimensions. Ops with a non-empty result
// (rope_index's status) are kept.
// CHECK-LABEL: func.func @empty_results
// CHECK-NOT: mrope.apply
// CHECK-NOT: mrope.rotate
// CHECK-NOT: mrope.attention
// CHECK-NOT: mrope.decode_positions
// CHECK-DAG: %[[Q:.*]] = tensor.empty() : tensor<0x8x16x64xbf16>
// CHECK-DAG: %[[K:.*]] = tensor.empty() : tensor<0x2x16x64xbf16>
// CHECK-DAG: %[[X:.*]] = tensor.empty() : tensor<0x4x6x8xf32>
// CHECK-DAG: %[[O:.*]] = tensor.empty() : tensor<1x8x16x0xbf16>
// CHECK-DAG: %[[D:.*]] = tensor.empty() : tensor<3x4x0xi64>
// CHECK: return %[[Q]], %[[K]], %[[X]], %[[O]], %[[D]]
func.func @empty_results(%q: tensor<0x8x16x64xbf16>, %k: tensor<0x2x16x64xbf16>,
                         %pos: tensor<3x0x16xi64>, %f: tensor<32xf32>,
                         %x: tensor<0x4x6x8xf32>, %t: tensor<0x6x8xf32>,
                         %aq: tensor<1x8x16x0xbf16>, %ak: tensor<1x2x16x0xbf16>,
                         %next: tensor<4xi64>)
    -> (tensor<0x8x16x64xbf16>, tensor<0x2x16x64xbf16>, tensor<0x4x6x8xf32>,
        tensor<1x8x16x0xbf16>, tensor<3x4x0xi64>) {
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x0x16xi64>) freqs(%f : tensor<32xf32>) layout bhsd
      rotary <alloc = <contiguous, section = [8, 12, 12]>, rotary_dim = 64>
      : tensor<0x8x16x64xbf16>, tensor<0x2x16x64xbf16>
  %x1 = mrope.rotate %x, %t, %t layout bhsd pairs neox : tensor<0x4x6x8xf32>, tensor<0x6x8xf32>
  %o = mrope.attention %aq, %ak, %ak layout bhsd causal
      : tensor<1x8x16x0xbf16>, tensor<1x2x16x0xbf16>, tensor<1x2x16x0xbf16> -> tensor<1x8x16x0xbf16>
  %d = mrope.decode_positions %next : tensor<4xi64> -> tensor<3x4x0xi64>
  return %q1, %k1, %x1, %o, %d : tensor<0x8x16x64xbf16>, tensor<0x2x16x64xbf16>, tensor<0x4x6x8xf32>, tensor<1x8x16x0xbf16>, tensor<3x4x0xi64>
}

// A dynamic size next to the zero one is reified from the operand.
// CHECK-LABEL: func.func @dynamic_batch
// CHECK: %[[B:.*]] = tensor.dim %{{.*}}, %c0 : tensor<?x4x0x8xf32>
// CHECK: %[[E:.*]] = tensor.empty(%[[B]]) : tensor<?x4x0x8xf32>
// CHECK: return %[[E]]
func.func @dynamic_batch(%x: tensor<?x4x0x8xf32>, %t: tensor<?x0x8xf32>) -> tensor<?x4x0x8xf32> {
  %x1 = mrope.rotate %x, %t, %t layout bhsd pairs neox : tensor<?x4x0x8xf32>, tensor<?x0x8xf32>
  return %x1 : tensor<?x4x0x8xf32>
}

// CHECK-LABEL: func.func @kept
// CHECK: mrope.rope_index
func.func @kept(%ids: tensor<0x5xi64>) -> tensor<4xi64> {
  %p, %d, %n, %s = mrope.rope_index %ids design <mrope> : tensor<0x5xi64> -> tensor<3x0x5xi64>, tensor<0x1xi64>, tensor<0xi64>, tensor<4xi64>
  return %s : tensor<4xi64>
}
