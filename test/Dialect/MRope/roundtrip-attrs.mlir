// RUN: mrope-opt %s | mrope-opt | FileCheck %s

// Every attribute in its standalone form. Defaults are elided when printed.

// CHECK-LABEL: func.func @allocations()
// CHECK-SAME: a0 = #mrope.alloc<vanilla>
// CHECK-SAME: a1 = #mrope.alloc<contiguous, section = [16, 24, 24]>
// CHECK-SAME: a2 = #mrope.alloc<interleaved, section = [24, 20, 20]>
// CHECK-SAME: a3 = #mrope.alloc<head_partitioned, section = [2, 3, 3]>
// CHECK-SAME: a4 = #mrope.alloc<videorope, section = [16, 24, 24]>
// CHECK-SAME: a5 = #mrope.alloc<hope, section = [2, 2, 2]>
// CHECK-SAME: a6 = #mrope.alloc<mmrope>
// CHECK-SAME: a7 = #mrope.alloc<grape_interleaved>
// CHECK-SAME: a8 = #mrope.alloc<explicit, map = "TTHW-">
// CHECK-SAME: a9 = #mrope.alloc<mmrope, section = [2, 3, 3]>
func.func @allocations() attributes {
  a0 = #mrope.alloc<vanilla>,
  a1 = #mrope.alloc<contiguous, section = [16, 24, 24]>,
  a2 = #mrope.alloc<interleaved, section = [24, 20, 20]>,
  a3 = #mrope.alloc<head_partitioned, section = [2, 3, 3]>,
  a4 = #mrope.alloc<videorope, section = [16, 24, 24]>,
  a5 = #mrope.alloc<hope, section = [2, 2, 2]>,
  a6 = #mrope.alloc<mmrope>,
  a7 = #mrope.alloc<grape_interleaved>,
  a8 = #mrope.alloc<explicit, map = "TTHW-">,
  a9 = #mrope.alloc<mmrope, section = [2, 3, 3]>
} { return }

// CHECK-LABEL: func.func @rotary()
// CHECK-SAME: r0 = #mrope.rotary<alloc = <contiguous, section = [2, 3, 3]>, rotary_dim = 16>
// CHECK-SAME: r1 = #mrope.rotary<alloc = <interleaved, section = [11, 11, 10]>, pairs = gptj, rotary_dim = 64, attention_scaling = 1.138629436111989>
// CHECK-SAME: r2 = #mrope.rotary<alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128, angles = exact>
// The default angle precision is not printed.
// CHECK-SAME: r3 = #mrope.rotary<alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128>}
func.func @rotary() attributes {
  r0 = #mrope.rotary<alloc = <contiguous, section = [2, 3, 3]>, pairs = neox, rotary_dim = 16, attention_scaling = 1.0>,
  r1 = #mrope.rotary<rotary_dim = 64, pairs = gptj, alloc = <interleaved, section = [11, 11, 10]>, attention_scaling = 1.1386294361119891>,
  r2 = #mrope.rotary<angles = exact, alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128>,
  r3 = #mrope.rotary<alloc = <interleaved, section = [24, 20, 20]>, rotary_dim = 128, angles = reference>
} { return }

// CHECK-LABEL: func.func @scaling()
// CHECK-SAME: s0 = #mrope.scaling<kind = default>
// CHECK-SAME: s1 = #mrope.scaling<kind = linear, factor = 4.0>
// CHECK-SAME: s2 = #mrope.scaling<kind = dynamic, factor = 4.0, max_position_embeddings = 4096>
// CHECK-SAME: s3 = #mrope.scaling<kind = yarn, factor = 4.0, original_max_position_embeddings = 4096, mscale = 0.707, mscale_all_dim = 1.0>
// CHECK-SAME: s4 = #mrope.scaling<kind = yarn, factor = 4.0, max_position_embeddings = 4096, attention_factor = 1.5>
// CHECK-SAME: s5 = #mrope.scaling<kind = llama3, factor = 8.0, original_max_position_embeddings = 8192, low_freq_factor = 1.0, high_freq_factor = 4.0>
// CHECK-SAME: s6 = #mrope.scaling<kind = longrope, original_max_position_embeddings = 4096, attention_factor = 1.2, short_factor = [1.0, 1.0], long_factor = [1.5, 2.0]>
func.func @scaling() attributes {
  s0 = #mrope.scaling<kind = default>,
  s1 = #mrope.scaling<kind = linear, factor = 4.0>,
  s2 = #mrope.scaling<kind = dynamic, factor = 4.0, max_position_embeddings = 4096>,
  s3 = #mrope.scaling<kind = yarn, factor = 4.0, original_max_position_embeddings = 4096, mscale = 0.707, mscale_all_dim = 1.0>,
  s4 = #mrope.scaling<kind = yarn, factor = 4, max_position_embeddings = 4096, attention_factor = 1.5, truncate = true>,
  s5 = #mrope.scaling<kind = llama3, factor = 8.0, original_max_position_embeddings = 8192, low_freq_factor = 1.0, high_freq_factor = 4.0>,
  s6 = #mrope.scaling<kind = longrope, short_factor = [1.0, 1.0], long_factor = [1.5, 2.0], original_max_position_embeddings = 4096, attention_factor = 1.2>
} { return }

// CHECK-LABEL: func.func @designs()
// CHECK-SAME: d0 = #mrope.design<vanilla>
// CHECK-SAME: d1 = #mrope.design<mrope, temporal_stride = 2.0>
// CHECK-SAME: d2 = #mrope.design<absolute_time, compat = hf5, tokens_per_second = 4.0>
// CHECK-SAME: d3 = #mrope.design<qwen3vl, compat = hf457>
// CHECK-SAME: d4 = #mrope.design<spatial_reset>
// CHECK-SAME: d5 = #mrope.design<videorope, temporal_stride = 2.0>
// CHECK-SAME: d6 = #mrope.design<hope>
// CHECK-SAME: d7 = #mrope.design<circlerope, radius = 10.0, alpha = 1.5e-07, circle = false, dff_rate = 1.0, move_to_origin = true, move_to_positive = 0.0>
// CHECK-SAME: d8 = #mrope.design<v2pe, visual_stride = 16.0>
// CHECK-SAME: d9 = #mrope.design<omnirope>
// CHECK-SAME: dz = #mrope.design<mmrope, position_scale = [4.0, 8.0, 8.0]>
func.func @designs() attributes {
  d0 = #mrope.design<vanilla>,
  d1 = #mrope.design<mrope, temporal_stride = 2.0>,
  d2 = #mrope.design<absolute_time, tokens_per_second = 4.0, compat = hf5>,
  d3 = #mrope.design<qwen3vl, compat = hf457>,
  d4 = #mrope.design<spatial_reset, compat = reference>,
  d5 = #mrope.design<videorope, temporal_stride = 2.0>,
  d6 = #mrope.design<hope>,
  d7 = #mrope.design<circlerope, radius = 10.0, alpha = 1.5e-07, circle = false, dff_rate = 1.0, move_to_origin = true, move_to_positive = 0.0>,
  d8 = #mrope.design<v2pe, visual_stride = 16.0>,
  d9 = #mrope.design<omnirope>,
  dz = #mrope.design<mmrope, position_scale = [4.0, 8.0, 8.0]>
} { return }

// CHECK-LABEL: func.func @misc()
// CHECK-SAME: g0 = #mrope.segment<text 5>
// CHECK-SAME: g1 = #mrope.segment<image 1x4x6>
// CHECK-SAME: g2 = #mrope.segment<video 3x2x3 (second_per_grid = 0.083)>
// CHECK-SAME: g3 = #mrope.segment<pad 2>
// CHECK-SAME: l0 = #mrope.layout<bhsd>
// CHECK-SAME: l1 = #mrope.layout<thd>
// CHECK-SAME: v0 = #mrope.vision_tokens<>
// CHECK-SAME: v1 = #mrope.vision_tokens<vision_start = 1, vision_end = 2, image_pad = 3, video_pad = 4>
func.func @misc() attributes {
  g0 = #mrope.segment<text 5>,
  g1 = #mrope.segment<image 1x4x6>,
  g2 = #mrope.segment<video 3x2x3 (second_per_grid = 0.083)>,
  g3 = #mrope.segment<pad 2>,
  l0 = #mrope.layout<bhsd>,
  l1 = #mrope.layout<thd>,
  v0 = #mrope.vision_tokens<>,
  v1 = #mrope.vision_tokens<vision_start = 1, vision_end = 2, image_pad = 3, video_pad = 4>
} { return }
