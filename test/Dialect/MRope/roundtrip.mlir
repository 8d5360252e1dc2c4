// RUN: mrope-opt %s | mrope-opt | FileCheck %s
// RUN: mrope-opt %s --mlir-print-op-generic | mrope-opt | FileCheck %s

// Every op in its custom form, printed, parsed back and printed again (and
// through the generic form) must give the same IR.

// CHECK-LABEL: func.func @positions
func.func @positions() -> (tensor<3x2x33xi64>, tensor<3x1x20xf32>) {
  // CHECK: mrope.position_ids <mrope> {{\[\[}}text 4, image 1x4x6, text 5], [pad 3, text 1, video 2x2x3, text 17]] : tensor<3x2x33xi64>, tensor<2x1xi64>, tensor<2xi64>
  %p, %d, %n = mrope.position_ids <mrope> [[text 4, image 1x4x6, text 5], [pad 3, text 1, video 2x2x3, text 17]] : tensor<3x2x33xi64>, tensor<2x1xi64>, tensor<2xi64>
  // CHECK: mrope.position_ids <absolute_time, compat = hf457, tokens_per_second = 4.0> {{\[\[}}text 2, video 3x1x2 (second_per_grid = 0.5), text 12]] : tensor<3x1x20xi64>, tensor<1x1xi64>, tensor<1xi64>
  %p2, %d2, %n2 = mrope.position_ids <absolute_time, compat = hf457, tokens_per_second = 4.0> [[text 2, video 3x1x2 (second_per_grid = 0.5), text 12]] : tensor<3x1x20xi64>, tensor<1x1xi64>, tensor<1xi64>
  // CHECK: mrope.position_ids <v2pe, visual_stride = 16.0> {{\[\[}}text 2, image 1x2x3, text 12]] : tensor<3x1x20xf32>, tensor<1x1xf32>, tensor<1xf32>
  %p3, %d3, %n3 = mrope.position_ids <v2pe, visual_stride = 16.0> [[text 2, image 1x2x3, text 12]] : tensor<3x1x20xf32>, tensor<1x1xf32>, tensor<1xf32>
  // CHECK: mrope.position_ids <mmrope, position_scale = [4.0, 8.0, 8.0]>
  %p4, %d4, %n4 = mrope.position_ids <mmrope, position_scale = [4.0, 8.0, 8.0]> [[text 2, image 1x2x3, text 12]] : tensor<3x1x20xf32>, tensor<1x1xf32>, tensor<1xf32>
  // CHECK: mrope.position_ids <spatial_reset> {{\[\[}}text 4, video 1x2x3, text 3, video 1x2x3, text 4]]
  %p5, %d5, %n5 = mrope.position_ids <spatial_reset> [[text 4, video 1x2x3, text 3, video 1x2x3, text 4]] : tensor<3x1x23xi32>, tensor<1x1xi32>, tensor<1xi32>
  return %p, %p3 : tensor<3x2x33xi64>, tensor<3x1x20xf32>
}

// CHECK-LABEL: func.func @rope_index
func.func @rope_index(%ids: tensor<2x?xi64>, %mask: tensor<2x?xi64>, %img: tensor<?x3xi64>, %vid: tensor<?x3xi64>, %spg: tensor<?xf32>) -> tensor<3x2x?xi64> {
  // CHECK: mrope.rope_index %{{.*}} design <qwen3vl> : tensor<2x?xi64> -> tensor<3x2x?xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  %p0, %d0, %n0, %st0 = mrope.rope_index %ids design <qwen3vl> : tensor<2x?xi64> -> tensor<3x2x?xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  // CHECK: mrope.rope_index %{{.*}} mask(%{{.*}} : tensor<2x?xi64>) images(%{{.*}} : tensor<?x3xi64>) videos(%{{.*}} : tensor<?x3xi64>) second_per_grid(%{{.*}} : tensor<?xf32>) design <absolute_time> tokens <vision_start = 7, video_pad = 9> {spatial_merge_size = 4 : i64} : tensor<2x?xi64> -> tensor<3x2x?xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  %p1, %d1, %n1, %st1 = mrope.rope_index %ids mask(%mask : tensor<2x?xi64>) images(%img : tensor<?x3xi64>) videos(%vid : tensor<?x3xi64>) second_per_grid(%spg : tensor<?xf32>) design <absolute_time> tokens <vision_start = 7, video_pad = 9> {spatial_merge_size = 4 : i64} : tensor<2x?xi64> -> tensor<3x2x?xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  return %p1 : tensor<3x2x?xi64>
}

// CHECK-LABEL: func.func @decode
func.func @decode(%next: tensor<4xi64>, %fnext: tensor<4xf32>) -> (tensor<3x4x1xi64>, tensor<3x4x2xf32>) {
  // CHECK: mrope.decode_positions %{{.*}} : tensor<4xi64> -> tensor<3x4x1xi64>
  %d = mrope.decode_positions %next : tensor<4xi64> -> tensor<3x4x1xi64>
  // CHECK: mrope.decode_positions %{{.*}} : tensor<4xf32> -> tensor<3x4x2xf32>
  %f = mrope.decode_positions %fnext : tensor<4xf32> -> tensor<3x4x2xf32>
  return %d, %f : tensor<3x4x1xi64>, tensor<3x4x2xf32>
}

// CHECK-LABEL: func.func @inv_freq
func.func @inv_freq(%len: i64, %pos: tensor<3x2x?xi32>) -> tensor<64xf32> {
  // CHECK: mrope.sequence_length %{{.*}} : tensor<3x2x?xi32>
  %n = mrope.sequence_length %pos : tensor<3x2x?xi32>
  // CHECK: mrope.inv_freq theta = 1.000000e+06 : tensor<64xf32>
  %a = mrope.inv_freq theta = 1.000000e+06 : tensor<64xf32>
  // CHECK: mrope.inv_freq theta = 1.000000e+04 scaling <kind = linear, factor = 4.0> : tensor<8xf32>
  %b = mrope.inv_freq theta = 1.000000e+04 scaling <kind = linear, factor = 4.0> : tensor<8xf32>
  // CHECK: mrope.inv_freq theta = 1.000000e+04 scaling <kind = dynamic, factor = 4.0, max_position_embeddings = 4096> seq_len(%{{.*}} : i64) : tensor<64xf32>
  %c = mrope.inv_freq theta = 1.000000e+04 scaling <kind = dynamic, factor = 4.0, max_position_embeddings = 4096> seq_len(%len : i64) : tensor<64xf32>
  // CHECK: mrope.inv_freq theta = 1.000000e+04 scaling <kind = dynamic, factor = 4.0, max_position_embeddings = 4096> seq_len(%{{.*}} : i64) at_init : tensor<64xf32>
  %c2 = mrope.inv_freq theta = 1.000000e+04 scaling <kind = dynamic, factor = 4.0, max_position_embeddings = 4096> seq_len(%len : i64) at_init : tensor<64xf32>
  // CHECK: mrope.inv_freq theta = 1.000000e+04 scaling <kind = yarn, convention = hf449, factor = 4.0, max_position_embeddings = 4096, beta_fast = 16.0, beta_slow = 2.0, truncate = false> : tensor<64xf32>
  %d = mrope.inv_freq theta = 1.000000e+04 scaling <kind = yarn, factor = 4.0, max_position_embeddings = 4096, beta_fast = 16.0, beta_slow = 2.0, truncate = false, convention = hf449> : tensor<64xf32>
  // CHECK: mrope.inv_freq theta = 1.000000e+04 scaling <kind = longrope, max_position_embeddings = 8192, original_max_position_embeddings = 4096, short_factor = [1.0, 1.5], long_factor = [2.0, 3.25]> seq_len(%{{.*}} : i64) : tensor<2xf32>
  %e = mrope.inv_freq theta = 1.000000e+04 scaling <kind = longrope, short_factor = [1.0, 1.5], long_factor = [2.0, 3.25], original_max_position_embeddings = 4096, max_position_embeddings = 8192> seq_len(%len : i64) : tensor<2xf32>
  // CHECK: mrope.inv_freq theta = 5.000000e+05 scaling <kind = llama3, factor = 8.0, original_max_position_embeddings = 8192, low_freq_factor = 1.0, high_freq_factor = 4.0> : tensor<64xf32>
  %f = mrope.inv_freq theta = 5.000000e+05 scaling <kind = llama3, factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position_embeddings = 8192> : tensor<64xf32>
  // CHECK: mrope.attention_scaling <kind = yarn, factor = 4.0, original_max_position_embeddings = 4096, mscale = 1.0, mscale_all_dim = 0.707> : f32
  %g = mrope.attention_scaling <kind = yarn, factor = 4.0, original_max_position_embeddings = 4096, mscale = 1.0, mscale_all_dim = 0.707> : f32
  return %a : tensor<64xf32>
}

// CHECK-LABEL: func.func @cos_sin
func.func @cos_sin(%pos: tensor<3x2x10xi64>, %f: tensor<8xf32>) -> (tensor<2x10x16xf32>, tensor<2x4x10x16xbf16>) {
  // CHECK: mrope.cos_sin %{{.*}}, %{{.*}} rotary <alloc = <interleaved, section = [3, 3, 2]>, rotary_dim = 16> : tensor<3x2x10xi64>, tensor<8xf32> -> tensor<2x10x16xf32>, tensor<2x10x16xf32>
  %c, %s = mrope.cos_sin %pos, %f rotary <alloc = <interleaved, section = [3, 3, 2]>, rotary_dim = 16> : tensor<3x2x10xi64>, tensor<8xf32> -> tensor<2x10x16xf32>, tensor<2x10x16xf32>
  // CHECK: mrope.cos_sin %{{.*}}, %{{.*}} rotary <alloc = <head_partitioned, section = [1, 1, 1]>, pairs = gptj, rotary_dim = 16, attention_scaling = 1.1386> : tensor<3x2x10xi64>, tensor<8xf32> -> tensor<2x4x10x16xbf16>, tensor<2x4x10x16xbf16>
  %c2, %s2 = mrope.cos_sin %pos, %f rotary <alloc = <head_partitioned, section = [1, 1, 1]>, pairs = gptj, rotary_dim = 16, attention_scaling = 1.1386> : tensor<3x2x10xi64>, tensor<8xf32> -> tensor<2x4x10x16xbf16>, tensor<2x4x10x16xbf16>
  return %c, %c2 : tensor<2x10x16xf32>, tensor<2x4x10x16xbf16>
}

// CHECK-LABEL: func.func @apply
func.func @apply(%q: tensor<1x32x33x128xbf16>, %k: tensor<1x8x33x128xbf16>, %pos: tensor<3x1x33xi64>, %f: tensor<64xf32>,
                 %qs: tensor<2x?x16x256xf16>, %ks: tensor<2x?x4x256xf16>, %pos2: tensor<3x2x?xf32>, %f32: tensor<32xf32>,
                 %qt: tensor<100x8x16xf32>, %kt: tensor<100x4x16xf32>, %pt: tensor<3x100xi32>, %f8: tensor<8xf32>) {
  // CHECK: mrope.apply %{{.*}}, %{{.*}} positions(%{{.*}} : tensor<3x1x33xi64>) freqs(%{{.*}} : tensor<64xf32>) layout bhsd rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> : tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>
  %q1, %k1 = mrope.apply %q, %k positions(%pos : tensor<3x1x33xi64>) freqs(%f : tensor<64xf32>) layout bhsd rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> : tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>
  // CHECK: mrope.apply %{{.*}}, %{{.*}} positions(%{{.*}} : tensor<3x2x?xf32>) freqs(%{{.*}} : tensor<32xf32>) layout bshd rotary <alloc = <interleaved, section = [11, 11, 10]>, pairs = gptj, rotary_dim = 64> inverse : tensor<2x?x16x256xf16>, tensor<2x?x4x256xf16>
  %q2, %k2 = mrope.apply %qs, %ks positions(%pos2 : tensor<3x2x?xf32>) freqs(%f32 : tensor<32xf32>) layout bshd rotary <alloc = <interleaved, section = [11, 11, 10]>, pairs = gptj, rotary_dim = 64> inverse : tensor<2x?x16x256xf16>, tensor<2x?x4x256xf16>
  // CHECK: mrope.apply %{{.*}}, %{{.*}} positions(%{{.*}} : tensor<3x100xi32>) freqs(%{{.*}} : tensor<8xf32>) layout thd rotary <alloc = <head_partitioned, section = [1, 1, 1]>, rotary_dim = 16> : tensor<100x8x16xf32>, tensor<100x4x16xf32>
  %q3, %k3 = mrope.apply %qt, %kt positions(%pt : tensor<3x100xi32>) freqs(%f8 : tensor<8xf32>) layout thd rotary <alloc = <head_partitioned, section = [1, 1, 1]>, rotary_dim = 16> : tensor<100x8x16xf32>, tensor<100x4x16xf32>
  // CHECK: rotary <alloc = <videorope, section = [2, 3, 3]>, rotary_dim = 16>
  %q4, %k4 = mrope.apply %qt, %kt positions(%pt : tensor<3x100xi32>) freqs(%f8 : tensor<8xf32>) layout thd rotary <alloc = <videorope, section = [2, 3, 3]>, rotary_dim = 16> : tensor<100x8x16xf32>, tensor<100x4x16xf32>
  // CHECK: rotary <alloc = <explicit, map = "-HWH-H--">, rotary_dim = 16>
  %q5, %k5 = mrope.apply %qt, %kt positions(%pt : tensor<3x100xi32>) freqs(%f8 : tensor<8xf32>) layout thd rotary <alloc = <explicit, map = "-HWH-H--">, rotary_dim = 16> : tensor<100x8x16xf32>, tensor<100x4x16xf32>
  return
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<1x32x33x128xbf16>, %k: tensor<1x8x33x128xbf16>, %v: tensor<1x8x33x128xbf16>, %pos: tensor<3x1x33xi64>, %f: tensor<64xf32>,
                     %mask: tensor<1x1x33x33xbf16>, %qd: tensor<1x32x1x128xbf16>, %dpos: tensor<3x1x1xi64>,
                     %qt: tensor<50x8x64xf16>, %kt: tensor<50x2x64xf16>, %vt: tensor<50x2x32xf16>, %cu: tensor<3xi32>) {
  // CHECK: mrope.attention %{{.*}}, %{{.*}}, %{{.*}} layout bhsd causal : tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>, tensor<1x8x33x128xbf16> -> tensor<1x32x33x128xbf16>
  %0 = mrope.attention %q, %k, %v layout bhsd causal : tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>, tensor<1x8x33x128xbf16> -> tensor<1x32x33x128xbf16>
  // CHECK: mrope.attention %{{.*}}, %{{.*}}, %{{.*}} mask(%{{.*}} : tensor<1x1x33x33xbf16>) q_positions(%{{.*}} : tensor<3x1x33xi64>) k_positions(%{{.*}} : tensor<3x1x33xi64>) freqs(%{{.*}} : tensor<64xf32>) layout bhsd rotary <alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128> scale 1.250000e-01 : tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>, tensor<1x8x33x128xbf16> -> tensor<1x32x33x128xbf16>
  %1 = mrope.attention %q, %k, %v mask(%mask : tensor<1x1x33x33xbf16>) q_positions(%pos : tensor<3x1x33xi64>) k_positions(%pos : tensor<3x1x33xi64>) freqs(%f : tensor<64xf32>) layout bhsd rotary <alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128> scale 1.250000e-01 : tensor<1x32x33x128xbf16>, tensor<1x8x33x128xbf16>, tensor<1x8x33x128xbf16> -> tensor<1x32x33x128xbf16>
  // Decode: one query token against keys rotated when they were cached.
  // CHECK: mrope.attention %{{.*}}, %{{.*}}, %{{.*}} q_positions(%{{.*}} : tensor<3x1x1xi64>) freqs(%{{.*}} : tensor<64xf32>) layout bhsd rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> causal : tensor<1x32x1x128xbf16>, tensor<1x8x33x128xbf16>, tensor<1x8x33x128xbf16> -> tensor<1x32x1x128xbf16>
  %2 = mrope.attention %qd, %k, %v q_positions(%dpos : tensor<3x1x1xi64>) freqs(%f : tensor<64xf32>) layout bhsd rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 128> causal : tensor<1x32x1x128xbf16>, tensor<1x8x33x128xbf16>, tensor<1x8x33x128xbf16> -> tensor<1x32x1x128xbf16>
  // Packed variable-length sequences, v with its own head dim.
  // CHECK: mrope.attention %{{.*}}, %{{.*}}, %{{.*}} cu_seqlens(%{{.*}} : tensor<3xi32>) layout thd causal : tensor<50x8x64xf16>, tensor<50x2x64xf16>, tensor<50x2x32xf16> -> tensor<50x8x32xf16>
  %3 = mrope.attention %qt, %kt, %vt cu_seqlens(%cu : tensor<3xi32>) layout thd causal : tensor<50x8x64xf16>, tensor<50x2x64xf16>, tensor<50x2x32xf16> -> tensor<50x8x32xf16>
  return
}

// Batched decode: one query token per packed sequence against its own
// cached keys (kv_cu_seqlens), q rotated by its positions.
// CHECK-LABEL: func.func @attention_own_keys
// CHECK: mrope.attention %{{.*}}, %{{.*}}, %{{.*}} cu_seqlens(%{{.*}} : tensor<5xi32>) kv_cu_seqlens(%{{.*}} : tensor<5xi32>) q_positions(%{{.*}} : tensor<3x4xi64>) freqs(%{{.*}} : tensor<32xf32>) layout thd rotary <alloc = <interleaved, section = [12, 10, 10]>, rotary_dim = 64> causal : tensor<4x8x64xbf16>, tensor<300x2x64xbf16>, tensor<300x2x64xbf16> -> tensor<4x8x64xbf16>
func.func @attention_own_keys(%q: tensor<4x8x64xbf16>, %k: tensor<300x2x64xbf16>, %v: tensor<300x2x64xbf16>, %cu: tensor<5xi32>, %kcu: tensor<5xi32>, %pos: tensor<3x4xi64>, %f: tensor<32xf32>) -> tensor<4x8x64xbf16> {
  %0 = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<5xi32>) kv_cu_seqlens(%kcu : tensor<5xi32>) q_positions(%pos : tensor<3x4xi64>) freqs(%f : tensor<32xf32>) layout thd rotary <alloc = <interleaved, section = [12, 10, 10]>, rotary_dim = 64> causal : tensor<4x8x64xbf16>, tensor<300x2x64xbf16>, tensor<300x2x64xbf16> -> tensor<4x8x64xbf16>
  return %0 : tensor<4x8x64xbf16>
}

// Batched decode against a paged KV cache: 4 sequences of up to 3 pages of
// 16 keys in a pool of 20 pages.
// CHECK-LABEL: func.func @attention_paged
// CHECK: mrope.attention %{{.*}}, %{{.*}}, %{{.*}} cu_seqlens(%{{.*}} : tensor<5xi32>) kv_cu_seqlens(%{{.*}} : tensor<5xi32>) block_table(%{{.*}} : tensor<4x3xi32>) page_size 16 layout thd causal : tensor<4x8x64xbf16>, tensor<320x2x64xbf16>, tensor<320x2x64xbf16> -> tensor<4x8x64xbf16>
func.func @attention_paged(%q: tensor<4x8x64xbf16>, %k: tensor<320x2x64xbf16>, %v: tensor<320x2x64xbf16>, %cu: tensor<5xi32>, %kcu: tensor<5xi32>, %table: tensor<4x3xi32>) -> tensor<4x8x64xbf16> {
  %0 = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<5xi32>) kv_cu_seqlens(%kcu : tensor<5xi32>) block_table(%table : tensor<4x3xi32>) page_size 16 layout thd causal : tensor<4x8x64xbf16>, tensor<320x2x64xbf16>, tensor<320x2x64xbf16> -> tensor<4x8x64xbf16>
  return %0 : tensor<4x8x64xbf16>
}

// CHECK-LABEL: func.func @rotate_with_tables
func.func @rotate_with_tables(%x: tensor<1x4x6x8xbf16>, %t: tensor<1x6x8xbf16>, %t3: tensor<3x1x6x8xbf16>, %p: tensor<6x2x8xf32>, %pt: tensor<6x4xf32>) -> (tensor<1x4x6x8xbf16>, tensor<1x4x6x8xbf16>, tensor<6x2x8xf32>) {
  // CHECK: mrope.rotate %{{.*}}, %{{.*}}, %{{.*}} layout bhsd pairs neox : tensor<1x4x6x8xbf16>, tensor<1x6x8xbf16>
  %0 = mrope.rotate %x, %t, %t layout bhsd pairs neox : tensor<1x4x6x8xbf16>, tensor<1x6x8xbf16>
  // CHECK: mrope.rotate %{{.*}}, %{{.*}}, %{{.*}} layout bhsd pairs gptj alloc <interleaved, section = [2, 1, 1]> : tensor<1x4x6x8xbf16>, tensor<3x1x6x8xbf16>
  %1 = mrope.rotate %x, %t3, %t3 layout bhsd pairs gptj alloc <interleaved, section = [2, 1, 1]> : tensor<1x4x6x8xbf16>, tensor<3x1x6x8xbf16>
  // CHECK: mrope.rotate %{{.*}}, %{{.*}}, %{{.*}} layout thd pairs neox : tensor<6x2x8xf32>, tensor<6x4xf32>
  %2 = mrope.rotate %p, %pt, %pt layout thd pairs neox : tensor<6x2x8xf32>, tensor<6x4xf32>
  return %0, %1, %2 : tensor<1x4x6x8xbf16>, tensor<1x4x6x8xbf16>, tensor<6x2x8xf32>
}
