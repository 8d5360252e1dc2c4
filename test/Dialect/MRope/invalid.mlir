// RUN: mrope-opt %s -split-input-file -verify-diagnostics

// Every op verifier rule.

func.func @f() {
  // expected-error @+1 {{row 1 has 30 tokens, but row 0 has 33 (pad rows to the same length)}}
  %p, %d, %n = mrope.position_ids <mrope> [[text 4, image 1x4x6, text 5], [text 30]] : tensor<3x2x33xi64>, tensor<2x1xi64>, tensor<2xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{positions must be [3, 1, 33], got 'tensor<3x1x32xi64>'}}
  %p, %d, %n = mrope.position_ids <mrope> [[text 4, image 1x4x6, text 5]] : tensor<3x1x32xi64>, tensor<1x1xi64>, tensor<1xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{rope_deltas must be [1, 1], got 'tensor<1xi64>'}}
  %p, %d, %n = mrope.position_ids <mrope> [[text 4]] : tensor<3x1x4xi64>, tensor<1xi64>, tensor<1xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{next_positions must be [1], got 'tensor<1x1xi64>'}}
  %p, %d, %n = mrope.position_ids <mrope> [[text 4]] : tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<1x1xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{positions, rope_deltas and next_positions must share an element type}}
  %p, %d, %n = mrope.position_ids <mrope> [[text 4]] : tensor<3x1x4xi64>, tensor<1x1xi32>, tensor<1xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{design 'videorope' produces fractional positions: results must be f32, got 'i64'}}
  %p, %d, %n = mrope.position_ids <videorope> [[text 4]] : tensor<3x1x4xi64>, tensor<1x1xi64>, tensor<1xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{design 'qwen3vl' produces integer positions: results must be i64 or i32, got 'f32'}}
  %p, %d, %n = mrope.position_ids <qwen3vl> [[text 4]] : tensor<3x1x4xf32>, tensor<1x1xf32>, tensor<1xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{row 0, visual block 1: design 'qwen3vl' positions each video frame as its own block; split the t = 3 video into per-frame segments separated by timestamp text}}
  %p, %d, %n = mrope.position_ids <qwen3vl> [[text 2, image 1x1x1, text 1, video 3x1x2, text 2]] : tensor<3x1x12xi64>, tensor<1x1xi64>, tensor<1xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{row 0, visual block 0: spatial_reset positions the token after each visual block as <vision_end>, so the block must be followed by text}}
  %p, %d, %n = mrope.position_ids <spatial_reset> [[text 2, image 1x2x2]] : tensor<3x1x6xi64>, tensor<1x1xi64>, tensor<1xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{row 0, visual block 0: second_per_grid is read only by the absolute_time design}}
  %p, %d, %n = mrope.position_ids <mrope> [[text 2, video 2x1x1 (second_per_grid = 0.5), text 1]] : tensor<3x1x5xi64>, tensor<1x1xi64>, tensor<1xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{row 1 has no unpadded tokens}}
  %p, %d, %n = mrope.position_ids <mrope> [[text 3], [pad 3]] : tensor<3x2x3xi64>, tensor<2x1xi64>, tensor<2xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{needs at least one row}}
  %p, %d, %n = mrope.position_ids <mrope> [] : tensor<3x0x0xi64>, tensor<0x1xi64>, tensor<0xi64>
  return
}

// -----

func.func @f(%ids: tensor<2x10xi64>, %mask: tensor<2x9xi64>) {
  // expected-error @+1 {{attention_mask must have the shape of input_ids 'tensor<2x10xi64>', got 'tensor<2x9xi64>'}}
  %p, %d, %n, %st0 = mrope.rope_index %ids mask(%mask : tensor<2x9xi64>) design <mrope> : tensor<2x10xi64> -> tensor<3x2x10xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  return
}

// -----

func.func @f(%ids: tensor<2x10xi64>, %img: tensor<1x2xi64>) {
  // expected-error @+1 {{image_grid_thw must be [num_grids, 3] (t, h, w), got 'tensor<1x2xi64>'}}
  %p, %d, %n, %st1 = mrope.rope_index %ids images(%img : tensor<1x2xi64>) design <mrope> : tensor<2x10xi64> -> tensor<3x2x10xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  return
}

// -----

func.func @f(%ids: tensor<2x10xi64>, %spg: tensor<1xf32>) {
  // expected-error @+1 {{second_per_grid_ts needs video_grid_thw}}
  %p, %d, %n, %st2 = mrope.rope_index %ids second_per_grid(%spg : tensor<1xf32>) design <absolute_time> : tensor<2x10xi64> -> tensor<3x2x10xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  return
}

// -----

func.func @f(%ids: tensor<2x10xi64>, %vid: tensor<2x3xi64>, %spg: tensor<3xf32>) {
  // expected-error @+1 {{second_per_grid_ts must have one entry per video grid, got 'tensor<3xf32>'}}
  %p, %d, %n, %st3 = mrope.rope_index %ids videos(%vid : tensor<2x3xi64>) second_per_grid(%spg : tensor<3xf32>) design <absolute_time> : tensor<2x10xi64> -> tensor<3x2x10xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  return
}

// -----

func.func @f(%ids: tensor<2x10xi64>, %vid: tensor<2x3xi64>, %spg: tensor<2xf32>) {
  // expected-error @+1 {{second_per_grid_ts is read only by the absolute_time design}}
  %p, %d, %n, %st4 = mrope.rope_index %ids videos(%vid : tensor<2x3xi64>) second_per_grid(%spg : tensor<2xf32>) design <qwen3vl> : tensor<2x10xi64> -> tensor<3x2x10xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  return
}

// -----

func.func @f(%ids: tensor<2x10xi64>) {
  // expected-error @+1 {{spatial_merge_size 0 must be positive}}
  %p, %d, %n, %st5 = mrope.rope_index %ids design <mrope> {spatial_merge_size = 0 : i64} : tensor<2x10xi64> -> tensor<3x2x10xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  return
}

// -----

func.func @f(%ids: tensor<10xi64>) {
  // expected-error @+1 {{input_ids must be [B, N], got 'tensor<10xi64>'}}
  %p, %d, %n, %st6 = mrope.rope_index %ids design <mrope> : tensor<10xi64> -> tensor<3x1x10xi64>, tensor<1x1xi64>, tensor<1xi64>, tensor<4xi64>
  return
}

// -----

func.func @f(%ids: tensor<2x10xi64>) {
  // expected-error @+1 {{positions must be [3, 2, 10], got 'tensor<3x2x11xi64>'}}
  %p, %d, %n, %st7 = mrope.rope_index %ids design <mrope> : tensor<2x10xi64> -> tensor<3x2x11xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<4xi64>
  return
}

// -----

func.func @f(%next: tensor<2xi64>) {
  // expected-error @+1 {{result must be [3, 2, K], got 'tensor<3x3x1xi64>'}}
  %d = mrope.decode_positions %next : tensor<2xi64> -> tensor<3x3x1xi64>
  return
}

// -----

func.func @f(%next: tensor<2xi64>) {
  // expected-error @+1 {{result and next_positions must share an element type}}
  %d = mrope.decode_positions %next : tensor<2xi64> -> tensor<3x2x1xf32>
  return
}

// -----

func.func @f(%next: tensor<2x1xi64>) {
  // expected-error @+1 {{next_positions must be [B], got 'tensor<2x1xi64>'}}
  %d = mrope.decode_positions %next : tensor<2x1xi64> -> tensor<3x2x1xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{theta 1.0 must be finite and greater than 1}}
  %f = mrope.inv_freq theta = 1.0 : tensor<64xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{result must have a static, positive number of pairs (rotary_dim / 2), got 'tensor<?xf32>'}}
  %f = mrope.inv_freq theta = 1.0e4 : tensor<?xf32>
  return
}

// -----

func.func @f(%len: i64) {
  // expected-error @+1 {{at_init selects how dynamic NTK rescales its base for a seq_len; it needs 'dynamic' scaling and a seq_len}}
  %f = mrope.inv_freq theta = 1.0e4 scaling <kind = dynamic, factor = 2.0, max_position_embeddings = 64> at_init : tensor<64xf32>
  return
}

// -----

func.func @f(%len: i64) {
  // expected-error @+1 {{at_init selects how dynamic NTK rescales its base}}
  %f = mrope.inv_freq theta = 1.0e4 scaling <kind = longrope, short_factor = [1.0, 1.5], long_factor = [2.0, 3.25], original_max_position_embeddings = 4096, max_position_embeddings = 8192> seq_len(%len : i64) at_init : tensor<2xf32>
  return
}

// -----

func.func @f(%len: i64) {
  // expected-error @+1 {{seq_len is read only by 'dynamic' and 'longrope' scaling}}
  %f = mrope.inv_freq theta = 1.0e4 scaling <kind = linear, factor = 2.0> seq_len(%len : i64) : tensor<64xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{longrope factors have 2 entries, but rotary_dim 16 has 8 pairs}}
  %f = mrope.inv_freq theta = 1.0e4 scaling <kind = longrope, short_factor = [1.0, 1.0], long_factor = [1.0, 2.0], original_max_position_embeddings = 4096> : tensor<8xf32>
  return
}

// -----

func.func @f(%pos: tensor<3x2x10xi64>, %f: tensor<8xf32>) {
  // expected-error @+1 {{tables must be [B, KV, N, D] for a head-partitioned allocation, got 'tensor<2x10x16xf32>'}}
  %c, %s = mrope.cos_sin %pos, %f rotary <alloc = <head_partitioned, section = [1, 1, 1]>, rotary_dim = 16> : tensor<3x2x10xi64>, tensor<8xf32> -> tensor<2x10x16xf32>, tensor<2x10x16xf32>
  return
}

// -----

func.func @f(%pos: tensor<3x2x10xi64>, %f: tensor<8xf32>) {
  // expected-error @+1 {{tables have 32 channels, but rotary_dim is 16}}
  %c, %s = mrope.cos_sin %pos, %f rotary <alloc = <vanilla>, rotary_dim = 16> : tensor<3x2x10xi64>, tensor<8xf32> -> tensor<2x10x32xf32>, tensor<2x10x32xf32>
  return
}

// -----

func.func @f(%pos: tensor<3x2x10xi64>, %f: tensor<8xf32>) {
  // expected-error @+1 {{cos and sin must have the same type}}
  %c, %s = mrope.cos_sin %pos, %f rotary <alloc = <vanilla>, rotary_dim = 16> : tensor<3x2x10xi64>, tensor<8xf32> -> tensor<2x10x16xf32>, tensor<2x10x16xbf16>
  return
}

// -----

func.func @f(%pos: tensor<3x2x10xi64>, %f: tensor<8xf32>) {
  // expected-error @+1 {{head-partitioned sections [2, 3, 3] assign 8 KV heads, but there are only 4 (the NoPE head count 4 - 8 would be negative)}}
  %c, %s = mrope.cos_sin %pos, %f rotary <alloc = <head_partitioned, section = [2, 3, 3]>, rotary_dim = 16> : tensor<3x2x10xi64>, tensor<8xf32> -> tensor<2x4x10x16xf32>, tensor<2x4x10x16xf32>
  return
}

// -----

func.func @f(%q: tensor<1x12x8x64xf32>, %k: tensor<1x5x8x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{query heads (12) are not a positive multiple of KV heads (5): GQA cannot group them}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<32xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<1x12x8x64xf32>, tensor<1x5x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<64xf32>) {
  // expected-error @+1 {{rotary_dim 128 exceeds head_dim 64}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<64xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 128> : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<16xf32>) {
  // expected-error @+1 {{inv_freq has 16 entries, but rotary_dim 64 needs 32 (one per pair)}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<16xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x32xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<16xf32>) {
  // expected-error @+1 {{q head_dim 64 does not match k head_dim 32}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<16xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 32> : tensor<1x8x8x64xf32>, tensor<1x4x8x32xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x9x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{q and k must have the same batch and sequence length, got 'tensor<1x8x8x64xf32>' and 'tensor<1x4x9x64xf32>'}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<32xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<1x8x8x64xf32>, tensor<1x4x9x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xbf16>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{q and k must have the same element type}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<32xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<1x8x8x64xf32>, tensor<1x4x8x64xbf16>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %pos: tensor<3x1x7xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{positions has 7 tokens, but the activation has 8}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x7xi64>) freqs(%f : tensor<32xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %pos: tensor<2x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{positions must have 3 rows (t, h, w), got 2}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<2x1x8xi64>) freqs(%f : tensor<32xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x8x64xf32>, %k: tensor<2x4x8x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{positions batch 1 does not match the activation batch 2}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<32xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<2x8x8x64xf32>, tensor<2x4x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<8x8x64xf32>, %k: tensor<8x4x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{q must be a rank-4 tensor for layout bshd, got 'tensor<8x8x64xf32>'}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<32xf32>) layout bshd rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<8x8x64xf32>, tensor<8x4x64xf32>
  return
}

// -----

func.func @f(%q: tensor<8x8x64xf32>, %k: tensor<8x4x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{positions must be a rank-2 tensor ([3, T]) for layout thd, got 'tensor<3x1x8xi64>'}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<32xf32>) layout thd rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<8x8x64xf32>, tensor<8x4x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{head-partitioned sections [2, 2, 1] assign 5 KV heads, but there are only 4}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<32xf32>) layout bhsd rotary <alloc = <head_partitioned, section = [2, 2, 1]>, rotary_dim = 64> : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{'contiguous' sections [16, 24, 24] sum to 64 pairs, but rotary_dim 64 has 32 pairs}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<32xf32>) layout bhsd rotary <alloc = <contiguous, section = [16, 24, 24]>, rotary_dim = 64> : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{unknown layout 'nhwc' (expected bhsd, bshd or thd)}}
  %a, %b = mrope.apply %q, %k positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<32xf32>) layout nhwc rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf32>) {
  // expected-error @+1 {{result must have q's shape with v's head_dim, got 'tensor<1x8x8x32xf32>'}}
  %o = mrope.attention %q, %k, %v layout bhsd : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<1x8x8x32xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x3x8x64xf32>, %v: tensor<1x3x8x64xf32>) {
  // expected-error @+1 {{query heads (8) are not a positive multiple of KV heads (3): GQA cannot group them}}
  %o = mrope.attention %q, %k, %v layout bhsd : tensor<1x8x8x64xf32>, tensor<1x3x8x64xf32>, tensor<1x3x8x64xf32> -> tensor<1x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x9x64xf32>) {
  // expected-error @+1 {{k and v must have the same heads and sequence length, got 'tensor<1x4x8x64xf32>' and 'tensor<1x4x9x64xf32>'}}
  %o = mrope.attention %q, %k, %v layout bhsd : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x9x64xf32> -> tensor<1x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf16>) {
  // expected-error @+1 {{q, k, v and the result must share an element type}}
  %o = mrope.attention %q, %k, %v layout bhsd : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf16> -> tensor<1x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf32>, %m: tensor<1x1x8x9xf32>) {
  // expected-error @+1 {{mask must be [B or 1, Hq or 1, Sq, Skv] = [1, 8, 8, 8], got 'tensor<1x1x8x9xf32>'}}
  %o = mrope.attention %q, %k, %v mask(%m : tensor<1x1x8x9xf32>) layout bhsd : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<1x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<16x4x64xf32>, %v: tensor<16x4x64xf32>) {
  // expected-error @+1 {{packed (thd) attention needs cu_seqlens}}
  %o = mrope.attention %q, %k, %v layout thd causal : tensor<16x8x64xf32>, tensor<16x4x64xf32>, tensor<16x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf32>, %cu: tensor<2xi32>) {
  // expected-error @+1 {{cu_seqlens applies only to the packed (thd) layout}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<2xi32>) layout bhsd : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<1x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf32>) {
  // expected-error @+1 {{scale -1.0 must be finite and positive}}
  %o = mrope.attention %q, %k, %v layout bhsd scale -1.0 : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<1x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf32>, %pos: tensor<3x1x8xi64>) {
  // expected-error @+1 {{q_positions, k_positions and freqs need a rotary configuration (rotary <...>)}}
  %o = mrope.attention %q, %k, %v q_positions(%pos : tensor<3x1x8xi64>) layout bhsd : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<1x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf32>, %pos: tensor<3x1x8xi64>) {
  // expected-error @+1 {{a rotary prologue needs freqs and q_positions and/or k_positions}}
  %o = mrope.attention %q, %k, %v q_positions(%pos : tensor<3x1x8xi64>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<1x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x1x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{q_positions has 8 tokens, but the activation has 1}}
  %o = mrope.attention %q, %k, %v q_positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<32xf32>) layout bhsd rotary <alloc = <vanilla>, rotary_dim = 64> : tensor<1x8x1x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<1x8x1x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf32>, %pos: tensor<3x1x8xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{head-partitioned sections [2, 2, 2] assign 6 KV heads, but there are only 4}}
  %o = mrope.attention %q, %k, %v q_positions(%pos : tensor<3x1x8xi64>) k_positions(%pos : tensor<3x1x8xi64>) freqs(%f : tensor<32xf32>) layout bhsd rotary <alloc = <head_partitioned, section = [2, 2, 2]>, rotary_dim = 64> : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<1x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf32>) {
  // expected-error @+1 {{q, k and v must have the same batch size}}
  %o = mrope.attention %q, %k, %v layout bhsd : tensor<2x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<2x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<12x4x64xf32>, %v: tensor<12x4x64xf32>, %cu: tensor<2xi32>) {
  // expected-error @+1 {{packed (thd) attention without kv_cu_seqlens needs q and k over the same tokens}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<2xi32>) layout thd causal : tensor<16x8x64xf32>, tensor<12x4x64xf32>, tensor<12x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<12x4x64xf32>, %v: tensor<12x4x64xf32>, %cu: tensor<3xi32>, %kcu: tensor<2xi32>) {
  // expected-error @+1 {{kv_cu_seqlens must be a 1-D tensor [B + 1] like cu_seqlens 'tensor<3xi32>', got 'tensor<2xi32>'}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi32>) kv_cu_seqlens(%kcu : tensor<2xi32>) layout thd causal : tensor<16x8x64xf32>, tensor<12x4x64xf32>, tensor<12x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf32>, %kcu: tensor<2xi32>) {
  // expected-error @+1 {{kv_cu_seqlens applies only to the packed (thd) layout}}
  %o = mrope.attention %q, %k, %v kv_cu_seqlens(%kcu : tensor<2xi32>) layout bhsd : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<1x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<12x4x64xf32>, %v: tensor<12x4x64xf32>, %kcu: tensor<2xi32>) {
  // expected-error @+1 {{packed (thd) attention needs cu_seqlens}}
  %o = mrope.attention %q, %k, %v kv_cu_seqlens(%kcu : tensor<2xi32>) layout thd : tensor<16x8x64xf32>, tensor<12x4x64xf32>, tensor<12x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<16x4x64xf32>, %v: tensor<16x4x64xf32>, %cu: tensor<0xi32>) {
  // expected-error @+1 {{cu_seqlens must be a 1-D tensor [B + 1]}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<0xi32>) layout thd : tensor<16x8x64xf32>, tensor<16x4x64xf32>, tensor<16x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<16x4x64xf32>, %v: tensor<16x4x64xf32>, %cu: tensor<2x2xi32>) {
  // expected-error @+1 {{cu_seqlens must be a 1-D tensor [B + 1]}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<2x2xi32>) layout thd causal : tensor<16x8x64xf32>, tensor<16x4x64xf32>, tensor<16x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<16x4x64xf32>, %v: tensor<16x4x64xf32>, %cu: tensor<2xi32>, %m: tensor<16x16xf32>) {
  // expected-error @+1 {{an explicit mask is not supported with thd; use cu_seqlens and causal}}
  %o = mrope.attention %q, %k, %v mask(%m : tensor<16x16xf32>) cu_seqlens(%cu : tensor<2xi32>) layout thd : tensor<16x8x64xf32>, tensor<16x4x64xf32>, tensor<16x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%ids: tensor<2x10xi64>) {
  // expected-error @+1 {{status must be tensor<4xi64> ([code, sequence, block, detail]), got 'tensor<3xi64>'}}
  %p, %d, %n, %st = mrope.rope_index %ids design <mrope> : tensor<2x10xi64> -> tensor<3x2x10xi64>, tensor<2x1xi64>, tensor<2xi64>, tensor<3xi64>
  return
}

// -----

func.func @rotate_table_type(%x: tensor<1x2x4x8xbf16>, %t: tensor<1x4x8xf32>) -> tensor<1x2x4x8xbf16> {
  // expected-error @+1 {{cos/sin element type 'f32' must match the activation's 'bf16'}}
  %0 = mrope.rotate %x, %t, %t layout bhsd pairs neox : tensor<1x2x4x8xbf16>, tensor<1x4x8xf32>
  return %0 : tensor<1x2x4x8xbf16>
}

// -----

func.func @rotate_table_rank(%x: tensor<1x2x4x8xf32>, %t: tensor<1x4x8xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @+1 {{cos/sin must be [3, B, S, R] tables for layout bhsd with an allocation, got 'tensor<1x4x8xf32>'}}
  %0 = mrope.rotate %x, %t, %t layout bhsd pairs neox alloc <contiguous, section = [2, 1, 1]> : tensor<1x2x4x8xf32>, tensor<1x4x8xf32>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

func.func @rotate_table_tokens(%x: tensor<1x4x2x8xf32>, %t: tensor<1x2x8xf32>) -> tensor<1x4x2x8xf32> {
  // expected-error @+1 {{cos/sin dim 1 is 2, expected 4 ([B, S, R])}}
  %0 = mrope.rotate %x, %t, %t layout bshd pairs neox : tensor<1x4x2x8xf32>, tensor<1x2x8xf32>
  return %0 : tensor<1x4x2x8xf32>
}

// -----

func.func @rotate_odd_channels(%x: tensor<6x2x8xf32>, %t: tensor<6x5xf32>) -> tensor<6x2x8xf32> {
  // expected-error @+1 {{the tables' channel count R must be static, positive and even, got 5}}
  %0 = mrope.rotate %x, %t, %t layout thd pairs gptj : tensor<6x2x8xf32>, tensor<6x5xf32>
  return %0 : tensor<6x2x8xf32>
}

// -----

func.func @rotate_too_many_channels(%x: tensor<6x2x8xf32>, %t: tensor<6x10xf32>) -> tensor<6x2x8xf32> {
  // expected-error @+1 {{the tables have 10 channels, more than head_dim 8}}
  %0 = mrope.rotate %x, %t, %t layout thd pairs neox : tensor<6x2x8xf32>, tensor<6x10xf32>
  return %0 : tensor<6x2x8xf32>
}

// -----

func.func @rotate_head_partitioned(%x: tensor<6x2x8xf32>, %t: tensor<3x6x8xf32>) -> tensor<6x2x8xf32> {
  // expected-error @+1 {{head_partitioned allocations assign heads, not table rows}}
  %0 = mrope.rotate %x, %t, %t layout thd pairs neox alloc <head_partitioned, section = [1, 1, 0]> : tensor<6x2x8xf32>, tensor<3x6x8xf32>
  return %0 : tensor<6x2x8xf32>
}

// -----

func.func @rotate_nope(%x: tensor<6x2x8xf32>, %t: tensor<3x6x8xf32>) -> tensor<6x2x8xf32> {
  // expected-error @+1 {{the allocation has NoPE pairs}}
  %0 = mrope.rotate %x, %t, %t layout thd pairs neox alloc <explicit, map = "TH-W"> : tensor<6x2x8xf32>, tensor<3x6x8xf32>
  return %0 : tensor<6x2x8xf32>
}

// -----

func.func @rotate_section_sum(%x: tensor<6x2x8xf32>, %t: tensor<3x6x8xf32>) -> tensor<6x2x8xf32> {
  // expected-error @+1 {{'contiguous' sections [2, 2, 2] sum to 6 pairs, but rotary_dim 8 has 4 pairs}}
  %0 = mrope.rotate %x, %t, %t layout thd pairs neox alloc <contiguous, section = [2, 2, 2]> : tensor<6x2x8xf32>, tensor<3x6x8xf32>
  return %0 : tensor<6x2x8xf32>
}

// -----

func.func @rotate_pairs_keyword(%x: tensor<6x2x8xf32>, %t: tensor<6x8xf32>) -> tensor<6x2x8xf32> {
  // expected-error @+1 {{unknown pair layout 'halves' (expected neox or gptj)}}
  %0 = mrope.rotate %x, %t, %t layout thd pairs halves : tensor<6x2x8xf32>, tensor<6x8xf32>
  return %0 : tensor<6x2x8xf32>
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<12x4x64xf32>, %v: tensor<12x4x64xf32>, %cu: tensor<3xi32>, %t: tensor<2x4xi32>) {
  // expected-error @+1 {{block_table needs kv_cu_seqlens (each sequence's number of cached keys as the difference of two entries)}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi32>) block_table(%t : tensor<2x4xi32>) page_size 4 layout thd causal : tensor<16x8x64xf32>, tensor<12x4x64xf32>, tensor<12x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<12x4x64xf32>, %v: tensor<12x4x64xf32>, %cu: tensor<3xi32>, %t: tensor<2x4xi32>) {
  // expected-error @+1 {{block_table needs page_size (keys per page)}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi32>) kv_cu_seqlens(%cu : tensor<3xi32>) block_table(%t : tensor<2x4xi32>) layout thd causal : tensor<16x8x64xf32>, tensor<12x4x64xf32>, tensor<12x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<12x4x64xf32>, %v: tensor<12x4x64xf32>, %cu: tensor<3xi32>, %t: tensor<2x4xi32>) {
  // expected-error @+1 {{page_size must be at least 1, got 0}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi32>) kv_cu_seqlens(%cu : tensor<3xi32>) block_table(%t : tensor<2x4xi32>) page_size 0 layout thd causal : tensor<16x8x64xf32>, tensor<12x4x64xf32>, tensor<12x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<12x4x64xf32>, %v: tensor<12x4x64xf32>, %cu: tensor<3xi32>, %t: tensor<2x4xi32>) {
  // expected-error @+1 {{k and v must hold whole pages: 12 rows is not a multiple of page_size 8}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi32>) kv_cu_seqlens(%cu : tensor<3xi32>) block_table(%t : tensor<2x4xi32>) page_size 8 layout thd causal : tensor<16x8x64xf32>, tensor<12x4x64xf32>, tensor<12x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<12x4x64xf32>, %v: tensor<12x4x64xf32>, %cu: tensor<3xi32>, %t: tensor<2x4xi32>) {
  // expected-error @+1 {{page_size needs a block_table}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi32>) kv_cu_seqlens(%cu : tensor<3xi32>) page_size 4 layout thd causal : tensor<16x8x64xf32>, tensor<12x4x64xf32>, tensor<12x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x8x64xf32>, %k: tensor<12x4x64xf32>, %v: tensor<12x4x64xf32>, %cu: tensor<3xi32>, %t: tensor<3x4xi32>) {
  // expected-error @+1 {{block_table must be [B, pages per sequence] with B = 2 sequences, got 'tensor<3x4xi32>'}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi32>) kv_cu_seqlens(%cu : tensor<3xi32>) block_table(%t : tensor<3x4xi32>) page_size 4 layout thd : tensor<16x8x64xf32>, tensor<12x4x64xf32>, tensor<12x4x64xf32> -> tensor<16x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x8x8x64xf32>, %k: tensor<1x4x8x64xf32>, %v: tensor<1x4x8x64xf32>, %t: tensor<1x2xi32>) {
  // expected-error @+1 {{block_table applies only to the packed (thd) layout}}
  %o = mrope.attention %q, %k, %v block_table(%t : tensor<1x2xi32>) page_size 4 layout bhsd : tensor<1x8x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<1x8x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<2x8x64xf32>, %k: tensor<12x4x64xf32>, %v: tensor<12x4x64xf32>, %cu: tensor<3xi32>, %t: tensor<2x4xi32>, %qp: tensor<3x2xi64>, %kp: tensor<3x12xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{k_positions cannot rotate a paged cache: its keys are rotated when written (mrope.apply before the cache write)}}
  %o = mrope.attention %q, %k, %v cu_seqlens(%cu : tensor<3xi32>) kv_cu_seqlens(%cu : tensor<3xi32>) block_table(%t : tensor<2x4xi32>) page_size 4 q_positions(%qp : tensor<3x2xi64>) k_positions(%kp : tensor<3x12xi64>) freqs(%f : tensor<32xf32>) layout thd rotary <alloc = <contiguous, section = [16, 8, 8]>, rotary_dim = 64> : tensor<2x8x64xf32>, tensor<12x4x64xf32>, tensor<12x4x64xf32> -> tensor<2x8x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x0x4x64xf32>, %k: tensor<1x2x4x64xf32>, %p: tensor<3x1x4xi64>, %f: tensor<32xf32>) {
  // expected-error @+1 {{query heads (0) are not a positive multiple of KV heads (2): GQA cannot group them}}
  %q1, %k1 = mrope.apply %q, %k positions(%p : tensor<3x1x4xi64>) freqs(%f : tensor<32xf32>) layout bhsd rotary <alloc = <contiguous, section = [16, 8, 8]>, rotary_dim = 64> : tensor<1x0x4x64xf32>, tensor<1x2x4x64xf32>
  return
}

// -----

func.func @f(%q: tensor<1x0x4x64xf32>, %k: tensor<1x2x4x64xf32>) {
  // expected-error @+1 {{query heads (0) are not a positive multiple of KV heads (2): GQA cannot group them}}
  %o = mrope.attention %q, %k, %k layout bhsd : tensor<1x0x4x64xf32>, tensor<1x2x4x64xf32>, tensor<1x2x4x64xf32> -> tensor<1x0x4x64xf32>
  return
}

// -----

func.func @f(%n: tensor<4xi64>) {
  // expected-error @+1 {{result must have a static number of new tokens K (nothing else gives it), got 'tensor<3x4x?xi64>'}}
  %p = mrope.decode_positions %n : tensor<4xi64> -> tensor<3x4x?xi64>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{results must be statically shaped (the rows give them), got 'tensor<1x?xi64>'}}
  %p, %d, %n = mrope.position_ids <mrope> [[text 3]] : tensor<3x1x3xi64>, tensor<1x?xi64>, tensor<1xi64>
  return
}
